#!/usr/bin/env python3
"""Turnaround: `make test`, `make repro` and `make patches`, cold and warm.

Usage: .venv/bin/python bench/turnaround.py [--cold | --warm-only] [--cache DIR] TARGET...
       TARGET: test, repro or patches (the make targets)

Each target runs twice, one after the other: first on the cache as it
is (with --cold: on an empty cache and an empty build directory, as a
fresh clone on a new machine), then again, warm.  --warm-only runs it
once, on the cache as it is, and records that run as warm: the kernel
builds it counts show whether the cache really was.  --cache DIR uses
DIR as $XDG_CACHE_HOME (rsslab's cache is DIR/rsslab; with --cold the
default is build/bench/cold-cache, emptied first).

For each run it records the wall time, make's exit status, the kernel
builds (new entries in the cache's kbuild/, and make's time in them) and
the guest boots (every start of qemu-system-x86_64, counted by a wrapper
put first on PATH) in build/bench/turnaround.json (the newest run of each target and state),
keeps make's output in build/bench/turnaround-TARGET-STATE.log, and
prints every recorded run against its goals (GOALS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"
QEMU = "qemu-system-x86_64"
TARGETS = ("test", "repro", "patches")
# (target, state): the most seconds it should take on two cores.
GOALS = {("test", "cold"): 30 * 60, ("test", "warm"): 8 * 60, ("repro", "warm"): 60,
         ("patches", "warm"): 3 * 60}


@dataclass(frozen=True, slots=True)
class Run:
    target: str
    state: str            # cold, first (the cache as it was), warm
    seconds: float
    status: int           # make's exit status
    kernel_builds: int
    boots: int
    load_before: float    # the 1-minute load average when it started
    cores: int
    commit: str
    date: str
    build_seconds: float = 0.0  # make's time in those kernel builds


def built_kernels(cache: Path) -> set[str]:
    """The kernel builds in rsslab's cache: kbuild/<key>/ with an image."""
    return {p.parent.name for p in (cache / "kbuild").glob("*/bzImage")}


def build_seconds(cache: Path, keys: set[str]) -> float:
    """How long make ran for the builds ``keys`` (their meta.json)."""
    total = 0.0
    for key in keys:
        try:
            total += float(json.loads((cache / "kbuild" / key / "meta.json").read_text())
                           .get("seconds", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return round(total, 1)


def wrapper(where: Path, counter: Path) -> Path:
    """A directory with a qemu-system-x86_64 that notes each start in
    ``counter`` and runs the real one (found on PATH without it)."""
    where.mkdir(parents=True, exist_ok=True)
    script = where / QEMU
    script.write_text(f"#!/bin/sh\necho $$ >> '{counter}'\n"
                      f"PATH='{os.environ.get('PATH', '')}' exec {QEMU} \"$@\"\n")
    script.chmod(0o755)
    return where


def commit() -> str:
    proc = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def run_make(target: str, state: str, env: dict[str, str], cache: Path) -> Run:
    counter = OUT / "turnaround-boots"
    counter.write_text("")
    before = built_kernels(cache)
    load = os.getloadavg()[0]
    log = OUT / f"turnaround-{target}-{state}.log"
    print(f"turnaround: make {target} ({state}), output in {log}", file=sys.stderr)
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(["make", target], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - start
    boots = len(counter.read_text().split())
    built = built_kernels(cache) - before
    return Run(target, state, round(seconds, 1), proc.returncode, len(built), boots, load,
               len(os.sched_getaffinity(0)), commit(), time.strftime("%Y-%m-%d %H:%M"),
               build_seconds(cache, built))


def environment(cache_home: Path | None, build: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{wrapper(OUT / 'turnaround-bin', OUT / 'turnaround-boots')}:{env['PATH']}"
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = str(cache_home)
    if build is not None:
        env["RSSLAB_BUILD_DIR"] = str(build)
    return env


MARK = ".turnaround-cold"


def fresh(path: Path) -> Path:
    """``path`` emptied: only a directory this bench made (or an empty one)."""
    if path.is_dir() and any(path.iterdir()) and not (path / MARK).is_file():
        sys.exit(f"turnaround: {path} holds files this bench did not make; give --cold an "
                 "empty or new directory")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / MARK).write_text("made by bench/turnaround.py --cold; emptied by its next run\n")
    return path


def record(runs: list[Run]) -> list[dict[str, object]]:
    """turnaround.json with ``runs`` replacing earlier runs of the same target and state."""
    path = OUT / "turnaround.json"
    try:
        old = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError):
        old = []
    new = {(r.target, r.state): asdict(r) for r in runs}
    kept = [r for r in old if (r.get("target"), r.get("state")) not in new]
    every = sorted([*kept, *new.values()],
                   key=lambda r: (TARGETS.index(str(r["target"])), str(r["state"])))
    path.write_text(json.dumps({"goals_s": {f"{t} {s}": g for (t, s), g in GOALS.items()},
                                "runs": every}, indent=1) + "\n")
    return every


def minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def table(rows: list[dict[str, object]]) -> str:
    head = (f"{'make':<8} {'cache':<6} {'wall':>12} {'kernel builds':>13} {'boots':>6} "
            f"{'exit':>4}  {'goal':<18} {'load':>4}  {'when':<16} commit")
    lines = [head, "-" * len(head)]
    for r in rows:
        goal = GOALS.get((str(r["target"]), str(r["state"])))
        secs = float(str(r["seconds"]))
        verdict = "" if goal is None else (f"<= {minutes(goal)}: "
                                           f"{'met' if secs <= goal else 'missed'}")
        builds = f"{r['kernel_builds']}"
        if float(str(r.get("build_seconds") or 0)):
            builds += f" ({minutes(float(str(r['build_seconds'])))})"
        lines.append(f"{r['target']!s:<8} {r['state']!s:<6} {minutes(secs):>12} "
                     f"{builds:>13} {r['boots']!s:>6} {r['status']!s:>4}  "
                     f"{verdict:<18} {float(str(r['load_before'])):>4.1f}  {r['date']!s:<16} "
                     f"{r['commit']}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="+", choices=TARGETS, metavar="TARGET")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--cold", action="store_true",
                      help="start from an empty cache and build directory")
    mode.add_argument("--warm-only", action="store_true",
                      help="one run on the cache as it is, recorded as warm")
    ap.add_argument("--cache", type=Path, metavar="DIR",
                    help="$XDG_CACHE_HOME for the runs (with --cold: emptied first; default "
                         "build/bench/cold-cache)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    runs = []
    for target in args.targets:
        cache_home, build = args.cache, None
        if args.cold:
            cache_home = fresh(args.cache or OUT / "cold-cache")
            build = fresh(OUT / f"cold-build-{target}")
        home = cache_home or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        env = environment(cache_home, build)
        states = ["warm"] if args.warm_only else ["cold" if args.cold else "first", "warm"]
        for state in states:
            runs.append(run_make(target, state, env, home / "rsslab"))
            print(f"turnaround: make {target} ({state}): {minutes(runs[-1].seconds)}, "
                  f"{runs[-1].kernel_builds} kernel builds, {runs[-1].boots} boots",
                  file=sys.stderr)
    print(table(record(runs)))
    return max(r.status for r in runs)


if __name__ == "__main__":
    sys.exit(main())
