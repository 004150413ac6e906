"""The matrix at a glance: per kernel and CPU count, which metrics were
exact and the largest error seen next to the claim's bound; and the
judge's seed case on each kernel."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from rsslab.claims import Check, short_metric
from rsslab.kernels import Kernel
from rsslab.matrix import Outcome

# The metrics a judge reads, in the order of the summary's columns.
COLUMNS = ("vmhwm_kib", "vmrss_kib", "rss_anon_kib", "statm_rss_kib", "stat_rss_kib",
           "wait4_maxrss_kib", "children_maxrss_kib", "self_maxrss_kib", "child_maxrss_kib",
           "cgroup_peak_kib")


def _side(x: float) -> str:
    return "inf" if x == float("inf") else "-inf" if x == float("-inf") else f"{x:g}"


def _bound(lo: float, hi: float) -> str:
    return f"+-{_side(hi)}" if lo == -hi else f"[{_side(lo)},{_side(hi)}]"


def _metric_checks(outcome: Outcome, metric: str) -> tuple[list[Check], bool]:
    verdicts = [v for v in outcome.verdicts if v.claim.metric == metric and v.checks]
    checks = [c for v in verdicts for c in v.checks if c.err_pages is not None]
    return checks, all(v.ok for v in verdicts)


def _row(outcome: Outcome) -> tuple[str, str]:
    """Which metrics were exact; the others' largest error and bound."""
    exact, off = [], []
    for m in COLUMNS:
        checks, ok = _metric_checks(outcome, m)
        if not checks:
            continue
        name = short_metric(m) if ok else f"[red]{short_metric(m)}[/]"
        if all(c.err_pages == 0 for c in checks):
            exact.append(name)
            continue
        worst = max(checks, key=lambda c: abs(c.err_pages or 0))
        off.append(f"{name} {worst.err_pages:+g} of {_bound(worst.interval.lo, worst.interval.hi)}")
    return ", ".join(exact), "; ".join(off)


def metrics_table(outcomes: Sequence[Outcome]) -> Table:
    table = Table(title="Each kernel: metrics exact in every run, and the others' largest "
                        "error in pages next to the claim's bound")
    table.add_column("kernel", no_wrap=True)
    table.add_column("Linux", no_wrap=True)
    table.add_column("exact")
    table.add_column("off by (largest error of bound)")
    table.add_column("claims", no_wrap=True)
    for o in outcomes:
        if o.error:
            table.add_row(o.target.label, o.target.kernel.upstream, "",
                          "[red]the guest failed[/]", "")
            continue
        checked = [v for v in o.verdicts if not v.unavailable]
        held = sum(v.ok for v in checked)
        colour = "green" if held == len(checked) else "red"
        na = len(o.verdicts) - len(checked)
        table.add_row(o.target.label, o.target.kernel.upstream, *_row(o),
                      f"[{colour}]{held}/{len(checked)} hold[/]"
                      + (f", {na} not available" if na else ""))
    return table


def unavailable_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per kernel: the claims it could not check, and why."""
    out = []
    for o in outcomes:
        why: dict[str, list[str]] = {}
        for v in o.verdicts:
            if v.unavailable:
                why.setdefault(v.unavailable, []).append(v.claim.id)
        out += [f"{o.target.label}: {', '.join(ids)}: {reason}" for reason, ids in why.items()]
    return out


def seed_table(outcomes: Sequence[Outcome]) -> Table:
    """The judge's program at its exit stop: what a judge reads, what is true."""
    table = Table(title="The seed program (128 KiB input) at its exit stop, KiB")
    for col in ("kernel", "VmHWM", "VmRSS", "smaps_rollup (exact)", "wait4 ru_maxrss"):
        table.add_column(col, justify="left" if col == "kernel" else "right")
    for o in outcomes:
        seeds = [r for r in o.runs if r.scenario == "seed"]
        if not seeds:
            continue

        def span(name: str) -> str:
            vals = [v for r in seeds if (v := r.value(name)) is not None]
            if not vals:
                return ""
            return str(vals[0]) if min(vals) == max(vals) else f"{min(vals)}..{max(vals)}"

        table.add_row(o.target.label, span("vmhwm_kib"), span("vmrss_kib"),
                      span("smaps_rss_kib"), span("wait4_maxrss_kib"))
    return table


def kernels_table(kernels: Sequence[Kernel]) -> Table:
    """Where each kernel came from: upstream version, package, checksum."""
    table = Table(title="Kernels")
    for col in ("kernel", "Linux", "package", "version", "sha256"):
        table.add_column(col, no_wrap=col != "package")
    for k in kernels:
        what = k.package or (str(k.image) if k.image else "the running kernel")
        declared = [f"+{r}" for r in k.extra_regimes] + [f"-{r}" for r in k.without_regimes]
        extra = f" ({', '.join(declared)})" if declared else ""
        table.add_row(k.name, k.upstream + extra, what, k.version, k.sha256[:16])
    return table
