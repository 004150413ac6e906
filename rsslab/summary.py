"""The matrix at a glance: per kernel and CPU count, which metrics were
exact and the largest error seen next to the claim's bound; and the
judge's seed case on each kernel."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from rsslab.claims import Check, short_metric
from rsslab.matrix import Outcome

# The metrics a judge reads, in the order of the summary's columns.
COLUMNS = ("vmhwm_kib", "vmrss_kib", "stat_rss_kib", "wait4_maxrss_kib",
           "self_maxrss_kib", "cgroup_peak_kib")


def _side(x: float) -> str:
    return "inf" if x == float("inf") else "-inf" if x == float("-inf") else f"{x:g}"


def _cell(outcome: Outcome, metric: str) -> str:
    verdicts = [v for v in outcome.verdicts if v.claim.metric == metric and v.checks]
    checks: list[Check] = [c for v in verdicts for c in v.checks if c.err_pages is not None]
    if not checks:
        return ""
    ok = all(v.ok for v in verdicts)
    colour = "green" if ok else "red"
    worst = max(checks, key=lambda c: abs(c.err_pages or 0))
    if all(c.err_pages == 0 for c in checks):
        return f"[{colour}]exact[/] ({len(checks)})"
    iv = worst.interval
    return f"[{colour}]{worst.err_pages:+g}[/] [{_side(iv.lo)},{_side(iv.hi)}]"


def metrics_table(outcomes: Sequence[Outcome]) -> Table:
    table = Table(title="Largest error seen, in pages, next to the claim's bound "
                        "(exact: every run matched the page-table walk)")
    table.add_column("kernel", no_wrap=True)
    for m in COLUMNS:
        table.add_column(short_metric(m), no_wrap=True)
    table.add_column("claims", no_wrap=True)
    for o in outcomes:
        if o.error:
            table.add_row(o.target.label, "[red]guest failed[/]")
            continue
        held = sum(v.ok for v in o.verdicts)
        colour = "green" if held == len(o.verdicts) else "red"
        table.add_row(o.target.label, *(_cell(o, m) for m in COLUMNS),
                      f"[{colour}]{held}/{len(o.verdicts)} hold[/]")
    return table


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
