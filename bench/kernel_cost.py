"""Cost of the kernel patches: base against patched kernel, same run.

Usage: .venv/bin/python bench/kernel_cost.py [SERIES] [--cpus 1,8,64,128]
       [--contend-cpus 64,128] [--rounds 2] [--json FILE]

Builds (or takes from the cache) the series' base and patched kernels and
its variants (other designs of the fix, ``[[series.variant]]``), then
boots them in turn in QEMU with -icount running bench/kcost.c (a
fork+exit+wait loop and a page-fault loop) and, at the contention CPU
counts, bench/kcontend.c (the fault loop beside a thread reading
getrusage(RUSAGE_SELF), /proc/self/status or, as the control,
getrusage(RUSAGE_CHILDREN) in a loop).  Prints the median time per
operation of each kernel with its spread, the ratio patched/base, what
each design adds to fork+exit+wait, and the contention table.  Goal for
the mainline series: <= 1.02 for exit at every CPU count, 1.00 within
noise for faults.  `rsslab patches` runs the same measurement for the
cover letter.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from rsslab import kernels, paths
from rsslab.errors import UserError
from rsslab.kernels import specs as spec
from rsslab.run import build as repro_build
from rsslab.series.kernel import cost
from rsslab.series.kernel import run as kernel


def _cpus(text: str) -> list[int]:
    return [] if text == "none" else [int(x) for x in text.split(",") if x]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series", nargs="?", default="linux-mainline")
    ap.add_argument("--cpus", default=",".join(map(str, kernel.COST_CPUS)))
    ap.add_argument("--contend-cpus", default=",".join(map(str, kernel.CONTEND_CPUS)),
                    help="CPU counts that also run the contention loops ('none': none)")
    ap.add_argument("--rounds", type=int, default=cost.ROUNDS, help="boots per kernel and count")
    ap.add_argument("--no-variants", action="store_true", help="base and patched only")
    ap.add_argument("--json", type=Path, help="also write every sample to this file")
    args = ap.parse_args()
    root = paths.project_root()
    try:
        cpus, contend = _cpus(args.cpus), _cpus(args.contend_cpus)
        opts = kernel.Options(root=root, cache=paths.cache_dir(), series=(args.series,))
        s = spec.pick(spec.load_series(root), [args.series])[0]
        if args.no_variants:
            s = dataclasses.replace(s, variants=())
        tree = kernel.tree_for(s, opts)
        note = lambda m: print(m, file=sys.stderr)  # noqa: E731
        built = kernel.build_kernels(s, tree, opts, note, variants=True)
        bin_dir = paths.build_dir(root) / "bin"
        repro_build.build_all(root, bin_dir)
        ks = [kernels.resolve_path(x.image) for x in built]
        samples = cost.measure_kernels(ks, cpus, kernel.guest_helpers(root), bin_dir / "init",
                                       paths.build_dir(root) / "bench" / "kcost", note,
                                       args.rounds, contend)
    except (UserError, ValueError) as e:
        print(f"kernel_cost: {e}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(x) for x in samples], indent=0))
    print(cost.table(cost.ratios(samples, ks[0].name, ks[1].name)))
    values = kernel.bench_values(s, samples)
    print(f"\nAdded to fork+exit+wait, per design:\n{values['design_table']}")
    if contend:
        print(f"\nFaults beside a reader (over the control), and one getrusage(SELF):\n"
              f"{values['contention_table']}")
    print(f"\n{values['bench_spread']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
