"""Transcripts of `rsslab doctor` and `rsslab measure` on this machine, for the site.

Runs each command as a user would (its output piped, as in a log) and
writes what it printed and its exit status to build/bench/examples.json,
which the site's page on measure and doctor shows (so that no example
there is pasted by hand).  Usage:

    .venv/bin/python bench/examples.py [--kernel K] [--out build/bench/examples.json]

--kernel K adds `rsslab doctor --kernel K` (K booted in QEMU, e.g. 6.1).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from rsslab import paths, scenarios
from rsslab.run.build import build_all

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600
# A peak freed before exit: 200 MiB written, then dropped.
FREED = 'b = bytearray(200 << 20); b[::4096] = b"x" * (200 << 8); del b'


def transcript(title: str, args: list[str], stdin: bytes = b"",
               stdin_name: str = "") -> dict[str, object]:
    """One command, its output (stdout, then stderr) and its exit status."""
    argv = [sys.executable, "-m", "rsslab", *args]
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=TIMEOUT_S, cwd=ROOT)
    output = (proc.stdout + proc.stderr).decode(errors="replace")
    print(f"examples: rsslab {' '.join(args)}: exit {proc.returncode}", file=sys.stderr)
    return {"title": title, "argv": ["rsslab", *args], "stdin": stdin_name,
            "output": output, "status": proc.returncode}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernel", action="append", default=[], metavar="K")
    p.add_argument("--out", type=Path, default=paths.build_dir(ROOT) / "bench" / "examples.json")
    args = p.parse_args()
    bin_dir = paths.build_dir(ROOT) / "bin"
    build_all(ROOT, bin_dir)
    seed = scenarios.get("seed")
    seed_in = seed.stdin_bytes(seed.resolve({})) or b""
    # The commands run from the checkout: its build/bin/seed as a user types it.
    seed_bin = str((bin_dir / "seed").resolve())
    if (bin_dir / "seed").resolve().is_relative_to(ROOT):
        seed_bin = str((bin_dir / "seed").resolve().relative_to(ROOT))
    shown = [
        transcript("rsslab doctor on this machine", ["doctor"]),
        *(transcript(f"rsslab doctor on {k} in QEMU", ["doctor", "--kernel", k])
          for k in args.kernel),
        transcript("The judge's program (repro/seed.c)", ["measure", "--", seed_bin],
                   seed_in, "input.txt"),
        transcript("A peak freed before exit", ["measure", "--", "python3", "-c", FREED]),
        transcript("The same without the trace (--no-trace): the exit stops only",
                   ["measure", "--no-trace", "--", "python3", "-c", FREED]),
    ]
    u = os.uname()
    doc = {"kernel_release": u.release, "ncpus": len(os.sched_getaffinity(0)),
           "date": datetime.date.today().isoformat(), "transcripts": shown}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"examples: {len(shown)} transcripts in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
