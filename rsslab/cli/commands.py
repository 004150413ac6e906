"""The ``rsslab`` command: argparse, then dispatch.

Only this module prints to the user or exits.  A ``UserError`` becomes one
line on stderr (``rsslab: ...``) and its exit status; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import textwrap
import threading
import typing
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import Progress, TaskID, TimeElapsedColumn
from rich.text import Text

from rsslab import claims as claims_mod
from rsslab import extras, paths, results, scenarios, steps
from rsslab.claims import Verdict
from rsslab.cli import INTERRUPTED, INTERRUPTED_STATUS, plain, render
from rsslab.cli.report import needs_explaining, print_report, runs_table, verdict_table
from rsslab.errors import BadInput, UserError
from rsslab.judges import doctor as doctor_mod
from rsslab.judges import measure as measure_mod
from rsslab.judges.measure import MeasureError, Measurer, MeasureUsage, TimedOut
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import chosen, host
from rsslab.run.session import Session
from rsslab.series import options as patch_options

DEFAULT_REPEAT = 5
MAX_CPUS = 256
# `rsslab run`'s exit status by the worst verdict it shows (RUN_EPILOG);
# 2 is also every rsslab command's usage error.
RUN_EXIT = {Verdict.HOLDS: 0, Verdict.UNAVAILABLE: 0, Verdict.UNDECIDED: 1,
            Verdict.BROKEN: 2, Verdict.CONTRADICTED: 1}
# The parts of `rsslab patches`: rsslab/series/<part>/cli.py.
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
    if not cpus or any(not 1 <= c <= MAX_CPUS for c in cpus):
        raise argparse.ArgumentTypeError(f"'{text}': CPU counts must be in [1, {MAX_CPUS}]")
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


def show(renderable: RenderableType) -> None:
    """A report on stdout: rich's tables on a terminal, plain text in a log."""
    if sys.stdout.isatty():
        Console(highlight=False).print(renderable)
    else:
        sys.stdout.write(plain.for_log(renderable))
        sys.stdout.flush()


def _chosen_specs(args: argparse.Namespace) -> list[RunSpec]:
    """``--scenario``/``--param`` as specs; [] without --scenario."""
    if not args.scenario:
        if args.param:
            raise BadInput("--param needs --scenario")
        return []
    return explicit_specs(args.scenario, args.param, args.repeat or 1, args.cgroup)


def cmd_run(args: argparse.Namespace) -> int:
    if args.wide:
        from rsslab.run import matrix
        if args.kernel or args.cpus:
            raise BadInput("--wide chooses its kernels and CPU counts; drop --kernel and --cpus")
        return cmd_run_matrix(args, [name for name, _ in matrix.WIDE_LANE], _chosen_specs(args))
    kernels = args.kernel or ["host"]
    chosen_specs = _chosen_specs(args)
    if kernels != ["host"]:
        return cmd_run_matrix(args, kernels, chosen_specs)
    session: Session = args.session
    # The data first: a bad claims file is refused before anything is built.
    all_claims = session.data(args.repeat or DEFAULT_REPEAT)
    bin_dir = session.binaries()
    features = session.host_features
    ncpus = session.ncpus
    specs = chosen_specs or claims_mod.plan(all_claims, features, ncpus)
    if args.repeat and not chosen_specs:
        specs = [RunSpec(s.scenario, s.params, s.cgroup, args.repeat) for s in specs]
    err = Console(stderr=True, quiet=args.quiet)
    total = sum(s.repeat for s in specs)
    with Progress(console=err, transient=True,
                  disable=args.json or args.quiet or not err.is_terminal) as bar:
        task = bar.add_task("host: running scenarios", total=total)
        runs = host.run_specs(bin_dir, specs, "host", lambda _s: bar.advance(task),
                                 host.REQUIRED if chosen_specs else host.IF_AVAILABLE)
    stored = host.save_host(session.results_dir, runs, features)
    if args.json:
        for o in runs:
            print(json.dumps(o.to_flat(), sort_keys=False))
        return 0
    label = results.label_for("host", runs[0].ncpus) if runs else "host"
    if chosen_specs:
        cov = chosen.coverage(label, runs, stored.get(label, ()), all_claims, features, ncpus)
        _chosen_report(cov)
        return run_status(cov.assessed)
    checked = [a for a in stored.get(label, ()) if a.checks]
    _print_report(label, runs, checked)
    for line in claims_mod.unavailable_of(label, stored.get(label, ())):
        print(f"rsslab: {line}", file=sys.stderr)
    return run_status(checked)


def run_status(assessments: Iterable[claims_mod.Assessment]) -> int:
    """``rsslab run``'s exit status: that of the worst verdict shown."""
    return RUN_EXIT[claims_mod.worst(a.verdict for a in assessments)]


def _print_report(label: str, runs: Sequence[Observation],
                  assessments: Sequence[claims_mod.Assessment]) -> None:
    if sys.stdout.isatty():
        print_report(Console(), label, runs, assessments)
        return
    if runs:
        show(runs_table(label, runs, assessments))
    if assessments:
        show(verdict_table(label, assessments))
        for a in assessments:
            if needs_explaining(a):
                show(Text(a.explain()))


def _chosen_report(cov: chosen.Coverage) -> None:
    _print_report(cov.label, cov.runs, cov.assessed)
    show(Text(chosen.not_checked_line(cov)))


def cmd_docs(args: argparse.Namespace) -> int:
    """Measure what the site lacks on the host, then build it with sphinx-build -W."""
    extras.require("site", "rsslab docs")
    from rsslab.site import build as site
    from rsslab.site import pages, sweeps
    session: Session = args.session
    root = session.root
    lay = site.Layout.of(root)
    err = Console(stderr=True, quiet=args.quiet)
    notes: list[str] = []
    if not args.no_measure:
        plan = sweeps.plan_host(session, lay.results)
        for line in plan.notes:
            err.print(f"rsslab docs: {line}", highlight=False)
        with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("host: measuring for the site", total=plan.total)
            skipped = sweeps.run_host(plan, lay.results, session.binaries(),
                                      lambda _s: bar.advance(task))
        for line in skipped:
            err.print(f"rsslab docs: {line}", highlight=False)
        notes = [*plan.notes, *skipped]
    if not args.no_measure and not args.no_guests:
        from rsslab.run import matrix
        gplan = sweeps.plan_guests(lay.results, pages.MATRIX_KERNELS, matrix.WIDE_LANE)
        for line in gplan.notes:
            err.print(f"rsslab docs: {line}", highlight=False)
        with err.status("guests: measuring the touch sweep"):
            failed = sweeps.run_guests(gplan, session, lay.results)
        for line in failed:
            err.print(f"rsslab docs: {line}", highlight=False)
        notes += [*gplan.notes, *failed]
    built = site.build(lay, notes)
    for line in built.missing:
        err.print(f"rsslab docs: {line}", highlight=False)
    print(f"site: {built.html / 'index.html'} ({len(built.kernels)} kernel result sets, "
          f"{len(built.figures)} plots)")
    if args.publish:
        from rsslab.site import publish
        done = publish.publish(built.html, args.publish, _source(root))
        what = "updated" if done.changed else "unchanged, already published"
        print(f"published: {done.remote} {publish.BRANCH} {done.commit[:12]} ({what})")
    return 0


def _source(root: Path) -> str:
    """What the site is built from: the checkout's commit, or the installed version."""
    from rsslab.repo.git import git, ok
    if paths.checkout() == root and ok(root, ["rev-parse", "--verify", "--quiet", "HEAD"]):
        head = git(root, ["--no-optional-locks", "rev-parse", "HEAD"]).strip()
        dirty = git(root, ["--no-optional-locks", "status", "--porcelain",
                           "--untracked-files=no"]).strip()
        return f"commit {head}" + (" with local changes" if dirty else "")
    return ""


def cmd_run_matrix(args: argparse.Namespace, words: Sequence[str],
                   chosen_specs: Sequence[RunSpec] = ()) -> int:
    """``run --kernel K ... --cpus LIST``: every kernel at every CPU count,
    running the claims' plan, or the chosen specs (``--scenario``)."""
    from rsslab import kernels
    from rsslab.cli import summary
    from rsslab.run import matrix
    session: Session = args.session
    err = Console(stderr=True, quiet=args.quiet)
    with Progress(console=err, transient=True,
                  disable=args.quiet or not err.is_terminal) as bar:
        tasks: dict[str, TaskID] = {}

        def fetched(name: str, pct: float) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"download {name}", total=100)
            bar.update(tasks[name], completed=pct)

        chosen_kernels = [kernels.resolve(w, paths.cache_dir(), args.refresh_kernels, fetched)
                          for w in dict.fromkeys(words)]
    per_kernel = dict(matrix.WIDE_LANE) if args.wide else {}
    bin_dir = session.binaries()
    all_claims = session.claims(args.repeat or DEFAULT_REPEAT)
    settings = matrix.Settings(bin_dir, session.build_dir, session.results_dir)
    targets = matrix.targets(chosen_kernels, args.cpus or [1, 2, 4], per_kernel)
    planner = chosen.planner(chosen_specs) if chosen_specs else None
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=err,
                  transient=True,
                  disable=args.json or args.quiet or not err.is_terminal) as bar:
        ids = {t.label: bar.add_task(f"{t.label}: waiting", total=None) for t in targets}

        def progress(label: str, state: str, done: int, total: int) -> None:
            bar.update(ids[label], description=f"{label}: {state}", completed=done,
                       total=total or None)

        outcomes = matrix.run_all(targets, all_claims, session.regimes, settings, progress,
                                  planner)
    if not args.json:
        show(summary.kernels_table(chosen_kernels))
    if chosen_specs:
        return _chosen_matrix_report(outcomes, chosen_specs, all_claims, args.json)
    return _matrix_report(outcomes, args.json, summary, settings.results_dir)


def _problems(outcomes: Sequence[Any]) -> bool:
    """Say what went wrong in each target on stderr; was anything wrong?"""
    bad = False
    for o in outcomes:
        for p in o.problems:
            print(f"rsslab: {o.target.label}: {p}", file=sys.stderr)
        if o.error:
            print(f"rsslab: {o.error}", file=sys.stderr)
        bad = bad or bool(o.error or o.problems)
    return bad


def _chosen_matrix_report(outcomes: Sequence[Any], specs: Sequence[RunSpec],
                          all_claims: Sequence[Any], as_json: bool) -> int:
    """The chosen runs of each target, the claims they cover, the rest not checked."""
    covs = [chosen.coverage(o.target.label, chosen.only_chosen(o.runs, specs), o.assessments,
                            all_claims, o.features,
                            o.runs[0].ncpus if o.runs else o.target.ncpus)
            for o in outcomes if not o.error]
    for cov in covs:
        if as_json:
            for r in cov.runs:
                print(json.dumps(r.to_flat(), sort_keys=False))
        else:
            _chosen_report(cov)
    status = run_status(a for c in covs for a in c.assessed)
    return max(status, 1) if _problems(outcomes) else status


def _matrix_report(outcomes: Sequence[Any], as_json: bool, summary: Any,
                   results_dir: Path) -> int:
    if as_json:
        for o in outcomes:
            for r in o.runs:
                print(json.dumps(r.to_flat(), sort_keys=False))
    else:
        tty = sys.stdout.isatty()
        show(summary.metrics_table(outcomes) if tty else summary.metrics_grid(outcomes))
        show(summary.seed_table(outcomes))
        for o in outcomes:
            for a in o.assessments:
                if needs_explaining(a):
                    show(Text(a.explain(), style=a.verdict.colour))
        for line in summary.unavailable_lines(outcomes):
            show(Text(line))
        show(Text(f"Every run is in {paths.shown(results_dir)}/<kernel>-smp<N>.json."))
    status = run_status(a for o in outcomes for a in o.assessments)
    return max(status, 1) if _problems(outcomes) else status


def _patch_part(part: str) -> Any:
    """The module of one part of ``rsslab patches`` (each loads git and its
    tree handling only when ``rsslab patches`` runs)."""
    if part == "manpages":
        from rsslab.series.manpages import cli as manpages_cli

        return manpages_cli
    from rsslab.series.kernel import cli as kernel_cli

    return kernel_cli


def cmd_patches(args: argparse.Namespace) -> int:
    """Every series part present (or those --only names), one after another."""
    extras.require("series", "rsslab patches")
    err = Console(stderr=True, quiet=args.quiet)
    status = 0
    for part in args.only or PATCH_PARTS:
        module = _patch_part(part)
        with err.status(f"{part}: starting") as spinner:
            code, shown = module.run(args, lambda msg: spinner.update(f"{part}: {msg}"))
        for item in shown:
            show(item)
        status = max(status, code)
    return status


def _build_dir(text: str) -> Path:
    path = Path(text).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is not a directory")
    return path


def _common_options(parser: argparse.ArgumentParser, default: object) -> None:
    """Options every command takes, before or after its name."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log every command run")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress bars or step lines on stderr (for scripts)")
    parser.add_argument("--build-dir", type=_build_dir, default=default, metavar="DIR",
                        help="where binaries, results, the site and the patches go "
                             f"(${paths.BUILD_DIR_ENV}; default: build/ in a checkout, "
                             "else ${XDG_STATE_HOME:-~/.local/state}/rsslab)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rsslab", description="Reproduce and measure Linux's approximate "
                    "RSS counters the way judges read them.")
    _common_options(parser, None)
    # The subcommands take them too; SUPPRESS keeps a value given before the name.
    common = Parser(add_help=False)
    _common_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common],
                         help="run scenarios through the observer and check the claims",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    run.add_argument("--wide", action="store_true",
                     help="the wide lane: Debian's 7 at 16, 64, 128 CPUs and the patched "
                          "mainline kernel at 1 to 128")
    run.add_argument("--cgroup", action="store_true",
                     help="also measure each run's memory cgroup peak")
    run.add_argument("--refresh-kernels", action="store_true",
                     help="look for newer Debian kernels than the ones pinned in the cache")
    run.add_argument("--json", action="store_true", help="JSON lines on stdout, one per run")
    run.set_defaults(func=cmd_run)
    add_tool_parsers(sub, common)
    docs = sub.add_parser("docs", parents=[common],
                          help="build the site from the results into build/docs/html")
    docs.add_argument("--no-measure", action="store_true",
                      help="use only stored results; measure nothing")
    docs.add_argument("--no-guests", action="store_true",
                      help="measure what is missing on the host only, boot no guest")
    docs.add_argument("--publish", metavar="REMOTE",
                      help="then commit the site to the gh-pages branch of REMOTE (a URL, a "
                           "path, or a remote of the repository here) and push it; no "
                           "local branch or file changes")
    docs.set_defaults(func=cmd_docs)
    pat = sub.add_parser("patches", parents=[common],
                         help="prepare the patch series (man-pages, kernel)")
    pat.add_argument("--only", action="append", choices=PATCH_PARTS,
                     help="only this part (repeatable; default: every part present)")
    patch_options.add_arguments(pat)
    for part in PATCH_PARTS:
        _patch_part(part).add_arguments(pat)
    pat.set_defaults(func=cmd_patches)
    return parser


# --- rsslab measure and rsslab doctor ----------------------------------------


def _statuses(rows: Sequence[tuple[int | None, str]], after: str = "") -> str:
    """An epilog's "exit status:" paragraph, made from where the statuses
    are defined: "N what it means" (or the words alone), wrapped."""
    said = "; ".join(text if status is None else f"{status} {text}" for status, text in rows)
    return textwrap.fill(f"exit status: {said}" + (f"; {after}" if after else "") + ".",
                         width=76)


MEASURE_USAGE = ("rsslab measure [--json] [--out FILE] [--cgroup] [--timeout S] [--no-trace] "
                 "[--] CMD [ARGS...]")
MEASURE_EPILOG = _statuses(
    [(None, "the command's own status"),
     (None, "128+N when signal N killed it (its peak is still reported)"),
     *((c.exit_status, c.says) for c in measure_mod.STATUSES),
     (None, "128+N rsslab got signal N (SIGTERM, SIGINT, SIGHUP) and killed the command's "
            "tree")],
    'and --json carries both: "status" (rsslab\'s) and "returncode" (the command\'s)') + """

the command and everything it starts are traced (ptrace) and killed with
it: on --timeout, on a signal to rsslab, and when the command's own
process ends, what it left running.

the exact peak (method rss-stat, Linux 6.2+, as root with tracefs at
/sys/kernel/tracing) follows the kmem:rss_stat trace event: each change of
the command's RSS then also sums one counter over every CPU and writes an
event, in the kernel, charged to the command's system time, and grows with
the CPU count (its page faults: about +30% system time at 2 CPUs, several
times more at 64 and 128).  Other programs' faults are filtered out before
the sum (a few percent at most).  With many CPUs and a judge that times
submissions by CPU, weigh that against --no-trace, which reads at the exit
stops only.  `rsslab doctor` says whether the exact peak is available here;
the measured cost at 1 to 128 CPUs is on the site's advice page."""
DOCTOR_EPILOG = _statuses(doctor_mod.STATUSES)
RUN_EPILOG = _statuses(
    [(RUN_EXIT[Verdict.HOLDS], "every claim shown holds, or is not available on this kernel"),
     (RUN_EXIT[Verdict.CONTRADICTED], "a claim was contradicted or not decided, or a run or "
                                      "guest failed"),
     (RUN_EXIT[Verdict.BROKEN], "a claim is broken (it names a value its runs do not report: "
                                "fix the claim), or rsslab could not run at all (usage, "
                                "compiler, ptrace)")])


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
                   help="kill CMD and everything it started after S seconds (exit 124)")
    p.add_argument("--no-trace", action="store_true",
                   help="do not follow kmem:rss_stat (no exact peak of a released peak, no "
                        "tree peak): read at the exit stops only, at no cost to CMD")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


# Text reports of measure (to stderr or --out) and doctor (when piped).
MEASURE_WIDTH = 110
DOCTOR_WIDTH = 120


def _write_report(renderable: object, as_json: bool, out: str | None) -> None:
    text = json.dumps(renderable) + "\n" if as_json else None
    if out is None:
        if text is None and sys.stderr.isatty():
            Console(stderr=True, highlight=False).print(renderable)
        else:
            sys.stderr.write(text or plain.text(renderable, MEASURE_WIDTH))
        return
    try:
        with open(out, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text or plain.text(renderable, MEASURE_WIDTH))
    except OSError as e:
        raise MeasureError(f"cannot write the report to {out}: {e.strerror}") from None


def _check_out(out: str | None) -> None:
    """--out is checked before the command runs, so that its report is
    never lost after the run (and the run's side effects done)."""
    if out is None:
        return
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise MeasureError(f"cannot write the report to {out}: {parent} is not a directory")
    if os.path.isdir(out) or not os.access(out if os.path.exists(out) else parent, os.W_OK):
        raise MeasureError(f"cannot write the report to {out}: not writable; give another "
                           "--out")


def cmd_measure(args: argparse.Namespace) -> int:
    opts = measure_parser().parse_args(args.rest)
    command = opts.command[1:] if opts.command[:1] == ["--"] else opts.command
    if not command:
        raise MeasureUsage(f"no command to measure; usage: {MEASURE_USAGE}")
    _check_out(opts.out)
    try:
        measurer = Measurer.here(trace=not opts.no_trace, session=args.session)
    except MeasureError:
        raise
    except UserError as e:
        raise MeasureError(str(e)) from None
    try:
        m = measurer.measure(command, cgroup=opts.cgroup, timeout=opts.timeout,
                             forward_signals=True)
    except TimedOut as e:
        if e.measurement is None:
            raise
        m = e.measurement
    _write_report(m.to_json() if opts.json else render.measurement(m), opts.json, opts.out)
    if m.timed_out:
        print(f"rsslab: {shlex.join(command)} ran over {opts.timeout:g} s and was killed, "
              f"with everything it started; peak so far {m.peak_kib} KiB", file=sys.stderr)
    elif m.interrupted is not None:
        print(f"rsslab: {render.signal_name(m.interrupted)}: {shlex.join(command)} was "
              "killed, with everything it started; the report is up to then", file=sys.stderr)
    elif m.exit_signal is not None:
        print(f"rsslab: {render.outcome(m)}; exit status {m.returncode}", file=sys.stderr)
    return m.status


def cmd_doctor(args: argparse.Namespace) -> int:
    err = Console(stderr=True, quiet=args.quiet)
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=err,
                  transient=True,
                  disable=args.json or args.quiet or not err.is_terminal) as bar:
        task = bar.add_task(f"doctor: {args.kernel}", total=None)
        if args.kernel == "host":
            report = doctor_mod.run(args.repeat, progress=lambda _s: bar.advance(task),
                                    session=args.session)
        else:
            def show(label: str, state: str, done: int, total: int) -> None:
                bar.update(task, description=f"doctor: {label} {state}", completed=done,
                           total=total or None)

            def fetched(name: str, pct: float) -> None:
                bar.update(task, description=f"doctor: download {name}", completed=pct,
                           total=100)

            report = doctor_mod.run_guest(args.kernel, args.cpus, args.repeat, progress=show,
                                          fetched=fetched, session=args.session)
    if args.json:
        print(json.dumps(doctor_mod.to_json(report)))
    else:
        if sys.stdout.isatty():
            Console(highlight=False).print(render.doctor(report))
        else:
            sys.stdout.write(plain.text(render.doctor(report), DOCTOR_WIDTH))
    for p in report.problems:
        print(f"rsslab: {report.kernel}: {p}", file=sys.stderr)
    return report.status


def add_tool_parsers(sub: argparse._SubParsersAction[Parser],
                     common: Parser) -> None:
    """``measure`` and ``doctor``."""
    # Everything after `measure` goes to measure_parser() (no string holds NUL,
    # so nothing here is an option), so that its usage errors exit 125.
    m = sub.add_parser("measure", help="run a command and report its peak RSS",
                       add_help=False, prefix_chars="\0")
    m.add_argument("rest", nargs=argparse.REMAINDER)
    m.set_defaults(func=cmd_measure)
    d = sub.add_parser("doctor", parents=[common],
                       help="which memory metrics are exact on this kernel",
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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is now, so that a progress bar showing on
    the terminal prints the line above itself."""

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stderr)
        super().emit(record)


def setup_logging(verbose: bool, quiet: bool) -> None:
    """``rsslab: ...`` lines on stderr: warnings, the steps unless quiet, and
    every command run with --verbose.  Where logging is set up already (a
    program calling ``main``), only the steps' level is set."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="rsslab: %(message)s", handlers=[_StderrHandler()])
    logging.getLogger(steps.__name__).setLevel(logging.WARNING if quiet else logging.INFO)


def _standard_fds() -> None:
    """A closed standard descriptor (``2>&-``) is opened on /dev/null, so
    that neither rsslab nor the programs it runs write into a file that
    happens to get its number."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if getattr(sys, name) is None:
                setattr(sys, name, open(fd, mode, closefd=False))


def _check_build_dir(args: argparse.Namespace) -> None:
    """Every command writes in the build directory: an unwritable one is
    refused before anything is built or run (by measure, which writes only
    binaries there, with its own status 122)."""
    measure = args.func is cmd_measure
    try:
        paths.check_writable(args.session.build_dir,
                             paths.BINARIES if measure else paths.EVERY_PART)
    except UserError as e:
        if measure:
            raise MeasureError(str(e)) from None
        raise


def main(argv: Sequence[str] | None = None, session: Session | None = None) -> int:
    """rsslab's command line; ``session`` (a test's, in process) instead
    of the one made here from the checkout and ``--build-dir``."""
    _standard_fds()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose, args.quiet = bool(args.verbose), bool(args.quiet)
    setup_logging(args.verbose, args.quiet)
    if args.build_dir is not None:
        os.environ[paths.BUILD_DIR_ENV] = str(args.build_dir)
    with _terminated_on_signals():
        args.session = session or _session()
        return _run(args)


def _session() -> Session:
    try:
        return Session.here()
    except UserError as e:
        print(f"rsslab: {e}", file=sys.stderr)
        raise SystemExit(e.exit_status) from None


def _run(args: argparse.Namespace) -> int:
    try:
        _check_build_dir(args)
        status: int = args.func(args)
    except UserError as e:
        print(f"rsslab: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return INTERRUPTED_STATUS
    except Terminated as e:
        print(f"rsslab: {signal.Signals(e.signum).name}: stopped; what was running was "
              "ended and cleaned up", file=sys.stderr)
        return 128 + e.signum
    return status


@contextlib.contextmanager
def _terminated_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated while a command runs (in the main
    thread); the handlers before are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where rsslab is, so that every ``finally``
    and ``with`` on the way out runs: guests are killed, scratch directories
    and locks released (not an Exception: nothing catches it by accident)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)
