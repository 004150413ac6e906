"""How long `rsslab doctor` takes on the running kernel (goal: at most 5 s).

Times the whole command (interpreter start, build check, regime probe, the
battery, the report) and, separately, the battery alone in this process.
The binaries are built once before timing.  Usage:

    .venv/bin/python bench/doctor.py [--rounds N] [--out build/bench/doctor.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rsslab import paths
from rsslab.judges import doctor
from rsslab.run.build import build_all

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


def cli_once() -> tuple[float, int]:
    argv = [sys.executable, "-m", "rsslab.cli", "doctor", "--json"]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    took = time.perf_counter() - start
    if proc.returncode not in (doctor.EXIT_EXACT, doctor.EXIT_INACCURATE):
        raise SystemExit(f"bench: doctor exited {proc.returncode}: {proc.stderr.strip()}")
    return took, int(json.loads(proc.stdout)["runs"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "doctor.json")
    args = p.parse_args()
    build_all(ROOT, paths.build_dir(ROOT) / "bin")
    cli, inproc = [], []
    runs = 0
    for _ in range(args.rounds):
        took, runs = cli_once()
        cli.append(took)
        start = time.perf_counter()
        doctor.run(root=ROOT)
        inproc.append(time.perf_counter() - start)
    u = os.uname()
    doc = {"kernel_release": u.release, "ncpus": os.cpu_count(), "rounds": args.rounds,
           "runs": runs, "cli_s": cli, "in_process_s": inproc,
           "loadavg": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"Linux {u.release}, {os.cpu_count()} CPUs, {runs} observer runs per doctor, "
          f"{args.rounds} rounds (load average {os.getloadavg()[0]:.1f}):")
    for name, xs in (("rsslab doctor (whole command)", cli), ("doctor.run() in process", inproc)):
        print(f"  {name}: median {statistics.median(xs):.2f} s, max {max(xs):.2f} s")


if __name__ == "__main__":
    main()
