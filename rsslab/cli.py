"""The ``rsslab`` command: argparse, then dispatch.

Only this module prints to the user or exits.  A ``UserError`` becomes one
line on stderr (``rsslab: ...``) and its exit status; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from rsslab import claims as claims_mod
from rsslab import kversion, observe, paths, regimes, results, scenarios
from rsslab.build import build_all
from rsslab.errors import BadInput, UserError
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


def host_features(root: Path, bin_dir: Path) -> frozenset[str]:
    regs = regimes.load(root / "claims")
    u = os.uname()
    candidates = regimes.by_version(regs, kversion.upstream(u.release, u.version))
    probe = None
    if "split-rss" in candidates:
        probe = observe.run_specs(bin_dir, [regimes.PROBE_RUN])[0]
    return regimes.features(regs, u.release, u.version, probe)


def cmd_run(args: argparse.Namespace) -> int:
    kernels = args.kernel or ["host"]
    if kernels != ["host"]:
        raise BadInput(f"kernel {', '.join(k for k in kernels if k != 'host')}: "
                       "only the host kernel is wired in so far")
    root = paths.project_root()
    bin_dir = paths.build_dir(root) / "bin"
    build_all(root, bin_dir)
    all_claims = claims_mod.load(root / "claims", args.repeat or DEFAULT_REPEAT)
    features = host_features(root, bin_dir)
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
    results.save(paths.results_dir(root), runs)
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
                     help="CPU counts for QEMU guests, e.g. 1,2,4")
    run.add_argument("--cgroup", action="store_true",
                     help="also measure each run's memory cgroup peak")
    run.add_argument("--json", action="store_true", help="JSON lines on stdout, one per run")
    run.set_defaults(func=cmd_run)
    pat = sub.add_parser("patches", help="prepare the patch series (man-pages, kernel)")
    pat.add_argument("--only", action="append", choices=PATCH_PARTS,
                     help="only this part (repeatable; default: every part present)")
    for part in PATCH_PARTS:
        module = _patch_part(part)
        if module is not None:
            module.add_arguments(pat)
    pat.set_defaults(func=cmd_patches)
    return parser


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
