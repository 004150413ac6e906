#!/usr/bin/env python3
"""Benchmark: the default matrix with a warm cache against its floor.

The floor is the sum of the bare boot times of the same guests: each
kernel at each CPU count booted with an empty plan (/init powers off at
once).  The matrix is ``rsslab run`` with every default kernel and CPU
count, timed from the command line, kernels already in the cache.  Goal:
the matrix in <= 90 s on 2 cores.  The figures go to
build/bench/matrix.json and the table to stdout.

Usage: bench/matrix.py [--kernels "6.1 6.12 7"] [--cpus 1,2,4] [--rounds N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rsslab import kernels, paths
from rsslab.kernels import initramfs, qemu
from rsslab.run.build import build_all

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 90.0


def bare_boot(kernel: kernels.Kernel, cpus: int, init: Path, work: Path) -> float:
    """Seconds for one boot that runs nothing and powers off."""
    assert kernel.image is not None
    initrd = initramfs.build(work / "initrd.gz", init, {}, "", {})
    start = time.monotonic()
    qemu.run(f"{kernel.name}-smp{cpus}", kernel.image, initrd, qemu.Machine(cpus, 512, 120),
             work)
    return time.monotonic() - start


def matrix_time(names: list[str], cpus: str, repeat: int) -> float:
    argv = [str(ROOT / ".venv" / "bin" / "rsslab"), "run",
            *[a for n in [*names, "host"] for a in ("--kernel", n)], "--cpus", cpus,
            "--repeat", str(repeat)]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"bench: {' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", default="6.1 6.12 7")
    ap.add_argument("--cpus", default="1,2,4")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="as `make repro` (REPEAT=3)")
    args = ap.parse_args()
    names = args.kernels.split()
    counts = [int(c) for c in args.cpus.split(",")]
    chosen = [kernels.resolve(n, paths.cache_dir()) for n in names]  # warms the cache
    bins = build_all(ROOT, ROOT / "build" / "bin")
    rows = []
    for r in range(args.rounds):
        floor = 0.0
        with tempfile.TemporaryDirectory(prefix="rsslab-bench-") as tmp:
            for k in chosen:
                for n in counts:
                    floor += bare_boot(k, n, bins["init"], Path(tmp) / f"{k.name}-{n}")
        rows.append({"round": r + 1, "floor_s": round(floor, 1),
                     "matrix_s": round(matrix_time(names, args.cpus, args.repeat), 1),
                     "load_avg": os.getloadavg()[0]})
    doc = {"kernels": [k.describe() for k in chosen], "cpus": counts,
           "host_cpus": len(os.sched_getaffinity(0)), "goal_s": GOAL_S, "rounds": rows}
    out = ROOT / "build" / "bench" / "matrix.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    table = Table(title=f"default matrix ({', '.join(names)}, host; CPUs {args.cpus}), "
                        f"warm cache, {doc['host_cpus']} host cores")
    for col in ("round", "floor: sum of bare boots (s)", "matrix (s)", f"goal <= {GOAL_S:g} s",
                "host load"):
        table.add_column(col, justify="right")
    for row in rows:
        ok = row["matrix_s"] <= GOAL_S
        table.add_row(str(row["round"]), f"{row['floor_s']:.1f}", f"{row['matrix_s']:.1f}",
                      "[green]met[/]" if ok else "[red]missed[/]", f"{row['load_avg']:.1f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
