"""What following kmem:rss_stat costs page faults, in QEMU guests.

Usage: .venv/bin/python bench/tracecost.py [--kernel 7] [--cpus 1,8,64,128]
       [--remeasure] [--json FILE]

Boots the kernel (Debian's newest by default: it has the event and sums
in it) at each CPU count under -icount and runs bench/tracecost.c: the
page-fault loop with the event off, on for the faulting program itself
(as `rsslab measure` traces the program it measures), on for another
program only, and on with no pid filter.  Prints the time per fault with
the event on against off, and writes every sample to
build/bench/tracecost.json, which the site's cost page shows.  A CPU
count whose inputs did not change since it was measured is read back from
the cache and said so; --remeasure boots it again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from rsslab import kernels, paths
from rsslab.errors import UserError
from rsslab.run import build as repro_build
from rsslab.run import kept
from rsslab.series.kernel import tracecost


def compile_bench(root: Path, out: Path) -> Path:
    argv = [repro_build.find_compiler(), *repro_build.CFLAGS, "-o", str(out),
            str(root / "bench" / "tracecost.c")]
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=repro_build.COMPILE_TIMEOUT_S)
    if proc.returncode != 0:
        raise UserError(f"cannot compile bench/tracecost.c: {proc.stderr.strip()[-300:]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="7")
    ap.add_argument("--cpus", default=",".join(map(str, tracecost.CPUS)))
    ap.add_argument("--remeasure", action="store_true", help="boot even where the cache has it")
    ap.add_argument("--json", type=Path, help="also write the samples here")
    args = ap.parse_args()
    root = paths.project_root()
    note = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        kernel = kernels.resolve(args.kernel, paths.cache_dir())
        cpus = [int(x) for x in args.cpus.split(",") if x]
        bins = repro_build.build_all(root, paths.build_dir(root) / "bin")
        with tempfile.TemporaryDirectory(prefix="rsslab-tracecost-") as tmp:
            binaries = {"tracecost": compile_bench(root, Path(tmp) / "tracecost")}
            store = kept.Store(paths.cache_dir() / "kept", root, args.remeasure)
            samples = tracecost.measure(kernel, cpus, binaries, bins["init"], Path(tmp),
                                        store, note)
    except UserError as e:
        print(f"tracecost: {e}", file=sys.stderr)
        return e.exit_status
    doc = {"kernel": kernel.name, "upstream": kernel.upstream,
           "samples": [asdict(s) for s in samples]}
    out = paths.build_dir(root) / "bench" / "tracecost.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    lost = sum(s.lost for s in samples)
    print(f"kmem:rss_stat cost on Linux {kernel.upstream} ({kernel.name}), QEMU -icount, "
          f"median of {tracecost.REPEATS} loops of {int(tracecost.LOOP[0]) * int(tracecost.LOOP[1])}"
          f" faults; events lost: {lost}")
    print(tracecost.table(tracecost.rows(samples), samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
