"""What measuring costs: one program run plainly and through each measurer.

For each workload the same program runs, in shuffled order each round:

  plain         posix_spawn + wait4 from this process (fork/exec/wait4)
  time -v       GNU time (/usr/bin/time -v), which reads wait4's rusage
  observer      build/bin/observe --out FILE (ptrace exit stop, /proc reads)
  Measurer      rsslab.Measurer.measure(): the observer, plus the claims'
                bounds, from a judge's process that loaded rsslab once
  measure()     rsslab.measure(): the same, loading claims and regimes per call
  rsslab CLI    `python -m rsslab.cli measure --json --out FILE -- PROG`

Wall time from spawn to reaped child, and CPU time (this process's and its
reaped children's, user + system), medians over the rounds; the ratio is
the median over plain's median.  CPU time is what to compare on a busy
machine, where waiting for a CPU inflates every wall time.  Usage:

    .venv/bin/python bench/overhead.py [--rounds N] [--out build/bench/overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import rsslab
from rsslab import paths, scenarios
from rsslab.run.build import build_all

ROOT = Path(__file__).resolve().parents[1]
GNU_TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Workload:
    name: str
    argv: list[str]
    stdin: str  # a file, or /dev/null


def spawn_wait(argv: list[str], stdin: str) -> None:
    actions = [(os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")


def methods(bin_dir: Path, tmp: Path) -> dict[str, Callable[[Workload], None]]:
    measurer = rsslab.Measurer.here(ROOT)
    out = str(tmp / "report.json")
    python = sys.executable

    def api(w: Workload, once: bool) -> None:
        with open(w.stdin, "rb") as i, open(os.devnull, "wb") as o:
            m = (rsslab.measure(w.argv, stdin=i, stdout=o) if once
                 else measurer.measure(w.argv, stdin=i, stdout=o))
        assert m.exit_code == 0

    return {
        "plain": lambda w: spawn_wait(w.argv, w.stdin),
        "time -v": lambda w: spawn_wait([GNU_TIME, "-v", "-o", out, *w.argv], w.stdin),
        "observer": lambda w: spawn_wait([str(bin_dir / "observe"), "--out", out, "--",
                                          *w.argv], w.stdin),
        "Measurer": lambda w: api(w, False),
        "measure()": lambda w: api(w, True),
        "rsslab CLI": lambda w: spawn_wait([python, "-m", "rsslab.cli", "measure", "--json",
                                            "--out", out, "--", *w.argv], w.stdin),
    }


def workloads(bin_dir: Path, tmp: Path) -> list[Workload]:
    seed_in = tmp / "seed.in"
    seed = scenarios.get("seed")
    seed_in.write_bytes(seed.stdin_bytes(seed.resolve({})) or b"")
    touch = str(bin_dir / "touch")
    return [
        Workload("seed (128 KiB input)", [str(bin_dir / "seed")], str(seed_in)),
        Workload("touch 10 MiB", [touch, str(2560)], os.devnull),
        Workload("touch 100 MiB", [touch, str(25600)], os.devnull),
        Workload("touch 1 GiB", [touch, str(262144)], os.devnull),
    ]


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


Times = dict[str, dict[str, list[float]]]


def bench(rounds: int) -> tuple[Times, Times]:
    bin_dir = paths.build_dir(ROOT) / "bin"
    build_all(ROOT, bin_dir)
    times: Times = {}
    cpu: Times = {}
    with tempfile.TemporaryDirectory(prefix="rsslab-bench-") as t:
        tmp = Path(t)
        runners = methods(bin_dir, tmp)
        for w in workloads(bin_dir, tmp):
            mine = times.setdefault(w.name, {name: [] for name in runners})
            mine_cpu = cpu.setdefault(w.name, {name: [] for name in runners})
            for name, fn in runners.items():  # warm caches once
                fn(w)
            for _ in range(rounds):
                order = list(runners.items())
                random.shuffle(order)
                for name, fn in order:
                    start, start_cpu = time.perf_counter(), cpu_seconds()
                    fn(w)
                    mine[name].append(time.perf_counter() - start)
                    mine_cpu[name].append(cpu_seconds() - start_cpu)
    return times, cpu


def table(times: Times) -> str:
    names = list(next(iter(times.values())))
    lines = ["| program | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for workload, by in times.items():
        base = statistics.median(by["plain"])
        cells = []
        for name in names:
            med = statistics.median(by[name])
            cells.append(f"{med * 1e3:.2f} ms" + ("" if name == "plain" else f" ({med / base:.2f}x)"))
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "overhead.json")
    args = p.parse_args()
    load_before = os.getloadavg()[0]
    times, cpu = bench(args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    u = os.uname()
    load = (load_before, os.getloadavg()[0])
    args.out.write_text(json.dumps({"kernel_release": u.release, "ncpus": os.cpu_count(),
                                    "rounds": args.rounds, "loadavg": load,
                                    "wall_s": times, "cpu_s": cpu}, indent=1) + "\n")
    print(f"Linux {u.release}, {os.cpu_count()} CPUs, medians of {args.rounds} rounds, "
          f"load average {load[0]:.1f} before, {load[1]:.1f} after (ratio to plain).\n")
    print("Wall time:\n")
    print(table(times))
    print("\nCPU time (user + system, the caller and its children):\n")
    print(table(cpu))


if __name__ == "__main__":
    main()
