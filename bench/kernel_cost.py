"""Cost of the kernel patches: base against patched kernel, same run.

Usage: .venv/bin/python bench/kernel_cost.py [SERIES] [--cpus 1,8]

Builds (or takes from the cache) the series' base and patched kernels,
then boots them alternately in QEMU running bench/kcost.c: a
fork+exit+wait loop and a page-fault loop.  Prints the median time per
operation of each kernel and the ratio patched/base.  Goal for the
mainline series: <= 1.02 for exit, 1.00 within noise for faults.
`rsslab patches` runs the same measurement for the cover letter.
"""

from __future__ import annotations

import argparse
import sys

from rsslab import kernels, paths
from rsslab.errors import UserError
from rsslab.kernels import specs as spec
from rsslab.run import build as repro_build
from rsslab.series.kernel import cost
from rsslab.series.kernel import run as kernel


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series", nargs="?", default="linux-mainline")
    ap.add_argument("--cpus", default="1,8")
    args = ap.parse_args()
    root = paths.project_root()
    try:
        opts = kernel.Options(root=root, cache=paths.cache_dir(), series=(args.series,))
        s = spec.pick(spec.load_series(root), [args.series])[0]
        tree = kernel.tree_for(s, opts)
        b, p = kernel.build_pair(s, tree, opts, lambda m: print(m, file=sys.stderr))
        bin_dir = paths.build_dir(root) / "bin"
        repro_build.build_all(root, bin_dir)
        ratios = cost.measure(kernels.resolve_path(b.image), kernels.resolve_path(p.image),
                              [int(x) for x in args.cpus.split(",")], kernel.guest_helpers(root),
                              bin_dir / "init", paths.build_dir(root) / "bench" / "kcost",
                              lambda m: print(m, file=sys.stderr))
    except UserError as e:
        print(f"kernel_cost: {e}", file=sys.stderr)
        return 2
    print(cost.table(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
