"""The kernel part of ``rsslab patches``: its options and its report.

``rsslab.cli`` adds these options to the ``patches`` command, calls
:func:`run`, and prints what it returns (only the CLI prints).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich import box
from rich.console import RenderableType
from rich.table import Table

from rsslab import paths
from rsslab.kernels.qemu import MAX_VCPUS
from rsslab.series import options as patch_options
from rsslab.series.kernel import proof
from rsslab.series.kernel import run as kernel


def _cpus(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(",") if x)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list like 2,4") from None
    if not out or any(not 1 <= n <= MAX_VCPUS for n in out):
        raise argparse.ArgumentTypeError(f"'{text}': CPU counts must be in [1, {MAX_VCPUS}] "
                                         "(QEMU's pc machine under TCG)")
    return out


def _cpus_or_none(text: str) -> tuple[int, ...]:
    return () if text == "none" else _cpus(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("kernel series")
    g.add_argument("--kernel-series", action="append", default=[], metavar="NAME",
                   help="only this series of kernelpatches/series.toml (repeatable): "
                        "linux-mainline, linux-6.12.y, linux-6.1.y, linux-5.10.y")
    g.add_argument("--kernel-tree", type=Path, metavar="DIR",
                   help="a kernel git tree to base the series of its version on "
                        "(default: the Debian source package, imported into the cache)")
    g.add_argument("--kernel-base", default="HEAD", metavar="REF",
                   help="the commit of --kernel-tree to base the series on (default HEAD)")
    g.add_argument("--draft", action="store_true",
                   help="write the series without building or booting kernels; numbers "
                        "not measured yet are marked")
    g.add_argument("--refresh-kernel-source", action="store_true",
                   help="ask Debian for a newer kernel source than the cached one")
    g.add_argument("--proof-cpus", type=_cpus, default=kernel.PROOF_CPUS, metavar="LIST",
                   help="CPU counts the proof boots each kernel at (default 2,4)")
    g.add_argument("--wide-cpus", type=_cpus_or_none, default=kernel.WIDE_CPUS,
                   metavar="LIST", help="CPU counts the proof boots each kernel at with only "
                   "the patch's own claims (default 64,128; 'none' for none)")
    g.add_argument("--cost-cpus", type=_cpus, default=kernel.COST_CPUS, metavar="LIST",
                   help="CPU counts of the cost benchmark (default 1,8,64,128)")
    g.add_argument("--contend-cpus", type=_cpus_or_none, default=kernel.CONTEND_CPUS,
                   metavar="LIST", help="CPU counts of the contention benchmark, at least 2 "
                   "(default 64,128; 'none' for none)")
    g.add_argument("--no-cost", action="store_true", help="skip the cost benchmark")
    g.add_argument("--remeasure", action="store_true",
                   help="boot the proof, the selftests and the cost benchmark again, even "
                        "where the cache keeps them for the same kernels, sources, CPU "
                        "counts and QEMU options")


def options(args: argparse.Namespace) -> kernel.Options:
    return kernel.Options(
        root=paths.project_root(), cache=paths.cache_dir(), series=tuple(args.kernel_series),
        tree=patch_options.user_tree(args.kernel_tree), base=args.kernel_base,
        draft=args.draft, refresh=args.refresh_kernel_source, author=args.sign_as,
        date=patch_options.commit_date(), cpus=args.proof_cpus, wide_cpus=args.wide_cpus,
        cost_cpus=args.cost_cpus, contend_cpus=args.contend_cpus, cost=not args.no_cost,
        remeasure=args.remeasure)


def _proof_table(r: kernel.Report) -> Table:
    t = Table(title=f"{r.series.name}: before and after the patch (error in pages, "
                    "worst run; exact runs)")
    for col in ("metric", "CPUs", "base kernel", "patched kernel"):
        t.add_column(col)
    assert r.proof is not None
    for row in r.proof.rows:
        t.add_row(proof.title(row), str(row.ncpus),
                  proof.Row.show(row.before), proof.Row.show(row.after))
    return t


def proof_cell(r: kernel.Report) -> str:
    """``-24..-20 -> exact, 90 runs``: the error in pages of the patch's
    claims on the base kernel, then on the patched one."""
    if r.proof is None or not r.proof.rows:
        return "not measured (--draft)" if r.output.draft or r.proof is None else "no runs"

    def side(errs: list[float]) -> str:
        exact = sum(1 for e in errs if e == 0)
        if exact == len(errs):
            return "exact"
        lo, hi = (f"{x:+g}" if x else "0" for x in (min(errs), max(errs)))
        return (lo if lo == hi else f"{lo}..{hi}") + (f" ({exact} exact)" if exact else "")

    before = [e for row in r.proof.rows for e in row.before]
    after = [e for row in r.proof.rows for e in row.after]
    if not before or not after:
        return "no runs"
    return f"{side(before)} -> {side(after)}, {len(after)} runs"


def summary_table(reports: list[kernel.Report]) -> Table:
    """One row per tree: what was generated, checked and proven."""
    t = Table(title="Kernel series in build/patches/<tree>/; proof: the patch's claims' "
                    "error in pages, base kernel -> patched kernel",
              box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("tree", "base", "patches", "checkpatch", "git am", "proof"):
        t.add_column(col, no_wrap=col in ("tree", "patches", "checkpatch", "git am"))
    for r in reports:
        o = r.output
        counts = ((o.check.errors, "error"), (o.check.warnings, "warning"),
                  (o.check.checks, "check"))
        check = ", ".join(f"{n} {w}{'s' if n > 1 else ''}" for n, w in counts if n) or "clean"
        t.add_row(r.series.name, f"{r.tree.version} {r.tree.base[:12]}",  # wraps before the id
                  str(len(o.files) - 1), check if check == "clean" else f"[red]{check}[/]",
                  "applies" if o.applies else "[red]FAILS[/]", proof_cell(r))
    return t


def report(reports: list[kernel.Report]) -> list[RenderableType]:
    out: list[RenderableType] = []
    for r in reports:
        if r.proof is not None:
            out.append(_proof_table(r))
            out.append(proof.others_sentence(r.proof))
        for t in r.selftests:
            out.append(f"selftest on {t.kernel} at {t.ncpus} CPUs: {t.summary()}")
        for c in r.costs:
            out.append(f"cost {c.test} at {c.ncpus} CPUs: patched/base {c.ratio:.3f}")
        o = r.output
        out.append(f"[bold]{r.series.name}[/] on {r.tree.describe} ({r.tree.base[:12]}):")
        out += [f"  {f}" for f in o.files]
        out.append(f"  To: {', '.join(o.to)}")
        out.append(f"  Cc: {', '.join(o.cc)}")
        runs = "; ".join(f"{c.where}: {c.errors} errors, {c.warnings} warnings, "
                         f"{c.checks} checks" for c in o.check.runs)
        check = (f"checkpatch.pl --strict {runs or 'not run'}; git am on the base: "
                 f"{'applies' if o.applies else 'FAILS'}")
        out.append(f"  [{'green' if o.check.clean and o.applies else 'red'}]{check}[/]")
        if o.draft:
            out.append("  [yellow]draft: numbers not measured yet are marked \\[not measured][/]")
        out += [f"  [red]{p}[/]" for p in r.problems]
    if reports:
        out.append(summary_table(reports))
    return out


def run(args: argparse.Namespace,
        notify: Callable[[str], None]) -> tuple[int, list[RenderableType]]:
    reports = kernel.run(options(args), notify)
    bad = any(r.problems or not r.output.check.clean or not r.output.applies for r in reports)
    return (1 if bad else 0), report(reports)
