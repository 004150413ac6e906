"""The ``rsslab`` command: argparse, then dispatch.

Only this module prints to the user or exits.  A ``UserError`` becomes one
line on stderr (``rsslab: ...``) and its exit status; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import io
import importlib
import importlib.util
import json
import logging
import os
import sys
import typing
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID, TimeElapsedColumn

from rsslab import claims as claims_mod
from rsslab import doctor as doctor_mod
from rsslab import observe, paths, regimes, render, results, scenarios
from rsslab.build import build_all
from rsslab.errors import BadInput, UserError
from rsslab.measurement import MeasureError, Measurer, MeasureUsage
from rsslab.patches import options as patch_options
from rsslab.plan import RunSpec
from rsslab.report import print_report

DEFAULT_REPEAT = 5
# The parts of `rsslab patches`, each in rsslab/patches/<part>_cli.py.
PATCH_PARTS = ("manpages", "kernel")


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (what is wrong, where to look), exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        print(f"rsslab: {self.prog}: {message}; see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if not 1 <= v <= 1000:
        raise argparse.ArgumentTypeError(f"{v} is out of range [1, 1000]")
    return v


def _cpu_list(text: str) -> list[int]:
    try:
        cpus = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list like 1,2,4") from None
    if not cpus or any(not 1 <= c <= 64 for c in cpus):
        raise argparse.ArgumentTypeError(f"'{text}': CPU counts must be in [1, 64]")
    return cpus


def explicit_specs(names: Sequence[str], assignments: Sequence[str], repeat: int,
                   cgroup: bool) -> list[RunSpec]:
    """``--scenario``/``--param`` on the command line as run specs."""
    chosen = [scenarios.get(n) for n in names]
    given = scenarios.parse_assignments(assignments)
    for name in given:
        if not any(name in {p.name for p in s.params} for s in chosen):
            raise BadInput(f"no chosen scenario has a parameter '{name}' "
                           f"({', '.join(s.name for s in chosen)})")
    specs = []
    for s in chosen:
        mine = {k: v for k, v in given.items() if k in {p.name for p in s.params}}
        specs += [RunSpec(s.name, values, cgroup, repeat) for values in scenarios.expand(s, mine)]
    return specs


def cmd_run(args: argparse.Namespace) -> int:
    kernels = args.kernel or ["host"]
    if kernels != ["host"]:
        return cmd_run_matrix(args, kernels)
    root = paths.project_root()
    bin_dir = paths.build_dir(root) / "bin"
    build_all(root, bin_dir)
    all_claims = claims_mod.load(root / "claims", args.repeat or DEFAULT_REPEAT)
    features = regimes.of_host(regimes.load(root / "claims"), bin_dir)
    ncpus = os.cpu_count() or 1
    if args.scenario:
        specs = explicit_specs(args.scenario, args.param, args.repeat or 1, args.cgroup)
    else:
        if args.param:
            raise BadInput("--param needs --scenario")
        specs = claims_mod.plan(all_claims, features, ncpus)
        if args.repeat:
            specs = [RunSpec(s.scenario, s.params, s.cgroup, args.repeat) for s in specs]
    err = Console(stderr=True)
    total = sum(s.repeat for s in specs)
    with Progress(console=err, transient=True, disable=args.json) as bar:
        task = bar.add_task("host: running scenarios", total=total)
        runs = observe.run_specs(bin_dir, specs, "host", lambda _s: bar.advance(task))
    observe.save_host(paths.results_dir(root), runs, features)
    if args.json:
        for o in runs:
            print(json.dumps(o.to_flat(), sort_keys=False))
        return 0
    label = results.label_for("host", runs[0].ncpus) if runs else "host"
    applicable = [c for c in all_claims if c.applies(features, ncpus)]
    verdicts = [claims_mod.evaluate(c, runs, features, label) for c in applicable]
    verdicts = [v for v in verdicts if v.checks]
    print_report(Console(), label, runs, verdicts)
    return 0 if all(v.ok for v in verdicts) else 1


def cmd_docs(args: argparse.Namespace) -> int:
    """Measure what the site lacks on the host, then build it with sphinx-build -W."""
    from rsslab.docs import pages, site, sweeps

    root = paths.project_root()
    lay = site.Layout.of(root)
    bin_dir = paths.build_dir(root) / "bin"
    err = Console(stderr=True)
    notes: list[str] = []
    if not args.no_measure:
        build_all(root, bin_dir)
        plan = sweeps.plan_host(root, lay.results, bin_dir)
        for line in plan.notes:
            err.print(f"rsslab docs: {line}", highlight=False)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("host: measuring for the site", total=plan.total)
            skipped = sweeps.run_host(plan, lay.results, bin_dir, lambda _s: bar.advance(task))
        for line in skipped:
            err.print(f"rsslab docs: {line}", highlight=False)
        notes = [*plan.notes, *skipped]
    if not args.no_measure and not args.no_guests:
        gplan = sweeps.plan_guests(lay.results, pages.MATRIX_KERNELS)
        for line in gplan.notes:
            err.print(f"rsslab docs: {line}", highlight=False)
        with err.status("guests: measuring the touch sweep"):
            failed = sweeps.run_guests(gplan, root, lay.results, bin_dir)
        for line in failed:
            err.print(f"rsslab docs: {line}", highlight=False)
        notes += [*gplan.notes, *failed]
    built = site.build(lay, notes)
    for line in built.missing:
        err.print(f"rsslab docs: {line}", highlight=False)
    print(f"site: {built.html / 'index.html'} ({len(built.kernels)} kernel result sets, "
          f"{len(built.figures)} plots)")
    return 0


def cmd_run_matrix(args: argparse.Namespace, words: Sequence[str]) -> int:
    """``run --kernel K ... --cpus LIST``: every kernel at every CPU count."""
    from rsslab import kernels, matrix, summary

    if args.scenario or args.param:
        raise BadInput("--scenario/--param run on the host only; the matrix runs the "
                       "claims' plan (drop --kernel, or drop --scenario)")
    root = paths.project_root()
    err = Console(stderr=True)
    with Progress(console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def fetched(name: str, pct: float) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"download {name}", total=100)
            bar.update(tasks[name], completed=pct)

        chosen = [kernels.resolve(w, paths.cache_dir(), args.refresh_kernels, fetched)
                  for w in dict.fromkeys(words)]
    bin_dir = paths.build_dir(root) / "bin"
    build_all(root, bin_dir)
    all_claims = claims_mod.load(root / "claims", args.repeat or DEFAULT_REPEAT)
    settings = matrix.Settings(bin_dir, paths.build_dir(root), paths.results_dir(root))
    targets = matrix.targets(chosen, args.cpus or [1, 2, 4])
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=err,
                  transient=True, disable=args.json) as bar:
        ids = {t.label: bar.add_task(f"{t.label}: waiting", total=None) for t in targets}

        def show(label: str, state: str, done: int, total: int) -> None:
            bar.update(ids[label], description=f"{label}: {state}", completed=done,
                       total=total or None)

        outcomes = matrix.run_all(targets, all_claims, regimes.load(root / "claims"),
                                  settings, show)
    if not args.json:
        Console().print(summary.kernels_table(chosen))
    return _matrix_report(outcomes, args.json, summary)


def _matrix_report(outcomes: Sequence[Any], as_json: bool, summary: Any) -> int:
    out = Console()
    if as_json:
        for o in outcomes:
            for r in o.runs:
                print(json.dumps(r.to_flat(), sort_keys=False))
    else:
        out.print(summary.metrics_table(outcomes))
        out.print(summary.seed_table(outcomes))
        for o in outcomes:
            for v in o.verdicts:
                if not v.ok:
                    out.print(f"[red]{v.explain()}[/]", highlight=False)
        for line in summary.unavailable_lines(outcomes):
            out.print(line, highlight=False)
        out.print("Every run is in build/results/<kernel>-smp<N>.json.")
    bad = False
    for o in outcomes:
        for p in o.problems:
            print(f"rsslab: {o.target.label}: {p}", file=sys.stderr)
        if o.error:
            print(f"rsslab: {o.error}", file=sys.stderr)
        bad = bad or bool(o.error or o.problems) or not all(v.ok for v in o.verdicts)
    return 1 if bad else 0


def _patch_part(part: str) -> Any:
    name = f"rsslab.patches.{part}_cli"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def cmd_patches(args: argparse.Namespace) -> int:
    """Every series part present (or those --only names), one after another."""
    err = Console(stderr=True)
    status = 0
    for part in args.only or PATCH_PARTS:
        module = _patch_part(part)
        if module is None:
            if args.only:
                raise BadInput(f"the {part} part of `rsslab patches` is not in this checkout")
            continue
        with err.status(f"{part}: starting") as spinner:
            code, shown = module.run(args, lambda msg: spinner.update(f"{part}: {msg}"))
        for item in shown:
            Console().print(item, highlight=False)
        status = max(status, code)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rsslab", description="Reproduce and measure Linux's approximate "
                    "RSS counters the way judges read them.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command run")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenarios through the observer and check the claims")
    run.add_argument("--scenario", action="append", default=[], metavar="NAME",
                     help=f"scenario to run (repeatable): {', '.join(scenarios.SCENARIOS)}")
    run.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                     help="scenario parameter; VALUE may be a list a,b,c or a sweep START:STOP[:STEP]")
    run.add_argument("--repeat", type=_positive_int, metavar="R", help="runs of each scenario")
    run.add_argument("--kernel", action="append", metavar="K",
                     help="host (default), 6.1, 6.12, 7, or a kernel image path (repeatable)")
    run.add_argument("--cpus", type=_cpu_list, default=None, metavar="LIST",
                     help="CPU counts for QEMU guests, e.g. 1,2,4 (default); the host "
                          "runs at its own")
    run.add_argument("--cgroup", action="store_true",
                     help="also measure each run's memory cgroup peak")
    run.add_argument("--refresh-kernels", action="store_true",
                     help="look for newer Debian kernels than the ones pinned in the cache")
    run.add_argument("--json", action="store_true", help="JSON lines on stdout, one per run")
    run.set_defaults(func=cmd_run)
    add_tool_parsers(sub)
    docs = sub.add_parser("docs", help="build the site from build/results into build/docs/html")
    docs.add_argument("--no-measure", action="store_true",
                      help="use only stored results; measure nothing")
    docs.add_argument("--no-guests", action="store_true",
                      help="measure what is missing on the host only, boot no guest")
    docs.set_defaults(func=cmd_docs)
    pat = sub.add_parser("patches", help="prepare the patch series (man-pages, kernel)")
    pat.add_argument("--only", action="append", choices=PATCH_PARTS,
                     help="only this part (repeatable; default: every part present)")
    patch_options.add_arguments(pat)
    for part in PATCH_PARTS:
        module = _patch_part(part)
        if module is not None:
            module.add_arguments(pat)
    pat.set_defaults(func=cmd_patches)
    return parser


# --- rsslab measure and rsslab doctor ----------------------------------------

MEASURE_USAGE = "rsslab measure [--json] [--out FILE] [--cgroup] [--timeout S] [--] CMD [ARGS...]"
MEASURE_EPILOG = """\
exit status: the command's own status; 128+N when signal N killed it (its
peak is still reported); 122 rsslab could not measure; 123 not permitted
here (ptrace denied, e.g. under strace or gdb, or no memory cgroup for
--cgroup); 124 --timeout expired; 125 bad usage (no command, unknown
option); 126 the command is not executable; 127 command not found."""
DOCTOR_EPILOG = """\
exit status: 0 every metric judges commonly read (VmHWM at the exit stop,
wait4 and RUSAGE_CHILDREN ru_maxrss) is exact on this kernel; 1 at least
one of them is not; 3 the kernel disagreed with a claim (rsslab's
documentation is wrong here); 4 some case of the battery could not run
and none showed an error; 2 rsslab could not run at all (usage, compiler,
ptrace, a guest that hung)."""


class _MeasureParser(argparse.ArgumentParser):
    """measure's options; its usage errors exit 125, not the command's 2."""

    def error(self, message: str) -> typing.NoReturn:
        raise MeasureUsage(f"{message}; usage: {MEASURE_USAGE}")


def _cpu_count(text: str) -> int:
    counts = _cpu_list(text)
    if len(counts) != 1:
        raise argparse.ArgumentTypeError(f"'{text}': give one CPU count")
    return counts[0]


def _positive_seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 < v < 1e9:
        raise argparse.ArgumentTypeError(f"{text} seconds is out of range")
    return v


def measure_parser() -> argparse.ArgumentParser:
    p = _MeasureParser(prog="rsslab measure", usage=MEASURE_USAGE, epilog=MEASURE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run CMD as a judge would (stdin, stdout and exit "
                                   "status kept) and report its peak RSS by the most "
                                   "accurate method this kernel allows.")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.add_argument("--out", metavar="FILE", help="write the report to FILE instead of stderr")
    p.add_argument("--cgroup", action="store_true",
                   help="also record the peak of a fresh memory cgroup around CMD")
    p.add_argument("--timeout", type=_positive_seconds, metavar="S",
                   help="kill CMD after S seconds (exit 124)")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def _plain_text(renderable: object, width: int = 110) -> str:
    """A rich renderable as text without colour codes or trailing blanks."""
    console = Console(width=width, highlight=False, color_system=None, file=io.StringIO())
    with console.capture() as cap:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in cap.get().splitlines()) + "\n"


def _write_report(renderable: object, as_json: bool, out: str | None) -> None:
    text = json.dumps(renderable) + "\n" if as_json else None
    if out is None:
        if text is None and sys.stderr.isatty():
            Console(stderr=True, highlight=False).print(renderable)
        else:
            sys.stderr.write(text or _plain_text(renderable))
        return
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text or _plain_text(renderable))
    except OSError as e:
        raise MeasureError(f"cannot write the report to {out}: {e.strerror}") from None


def cmd_measure(args: argparse.Namespace) -> int:
    opts = measure_parser().parse_args(args.rest)
    command = opts.command[1:] if opts.command[:1] == ["--"] else opts.command
    if not command:
        raise MeasureUsage(f"no command to measure; usage: {MEASURE_USAGE}")
    try:
        measurer = Measurer.here()
    except MeasureError:
        raise
    except UserError as e:
        raise MeasureError(str(e)) from None
    m = measurer.measure(command, cgroup=opts.cgroup, timeout=opts.timeout)
    _write_report(m.to_json() if opts.json else render.measurement(m), opts.json, opts.out)
    if m.exit_signal is not None:
        print(f"rsslab: {render.outcome(m)}; exit status {m.returncode}", file=sys.stderr)
    return m.returncode


def cmd_doctor(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=err,
                  transient=True, disable=args.json) as bar:
        task = bar.add_task(f"doctor: {args.kernel}", total=None)
        if args.kernel == "host":
            report = doctor_mod.run(args.repeat, progress=lambda _s: bar.advance(task))
        else:
            def show(label: str, state: str, done: int, total: int) -> None:
                bar.update(task, description=f"doctor: {label} {state}", completed=done,
                           total=total or None)

            def fetched(name: str, pct: float) -> None:
                bar.update(task, description=f"doctor: download {name}", completed=pct,
                           total=100)

            report = doctor_mod.run_guest(args.kernel, args.cpus, args.repeat, progress=show,
                                          fetched=fetched)
    if args.json:
        print(json.dumps(doctor_mod.to_json(report)))
    else:
        if sys.stdout.isatty():
            Console(highlight=False).print(render.doctor(report))
        else:
            sys.stdout.write(_plain_text(render.doctor(report), 120))
    for p in report.problems:
        print(f"rsslab: {report.kernel}: {p}", file=sys.stderr)
    return report.status


def add_tool_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    """``measure`` and ``doctor``."""
    # Everything after `measure` goes to measure_parser() (no string holds NUL,
    # so nothing here is an option), so that its usage errors exit 125.
    m = sub.add_parser("measure", help="run a command and report its peak RSS",
                       add_help=False, prefix_chars="\0")
    m.add_argument("rest", nargs=argparse.REMAINDER)
    m.set_defaults(func=cmd_measure)
    d = sub.add_parser("doctor", help="which memory metrics are exact on this kernel",
                       epilog=DOCTOR_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--json", action="store_true", help="one JSON object on stdout")
    d.add_argument("--repeat", type=_positive_int, default=doctor_mod.DEFAULT_REPEAT,
                   metavar="R", help="runs of each battery case")
    d.add_argument("--kernel", default="host", metavar="K",
                   help="host (default), or a kernel booted in QEMU: 6.1, 6.12, 7, or an image")
    d.add_argument("--cpus", type=_cpu_count, default=len(os.sched_getaffinity(0)),
                   metavar="N", help="CPUs of the QEMU guest (default: this machine's)")
    d.set_defaults(func=cmd_doctor)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="rsslab: %(message)s")
    try:
        status: int = args.func(args)
    except UserError as e:
        print(f"rsslab: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("rsslab: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
