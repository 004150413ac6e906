"""Readable tables of runs and claim verdicts (rich)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

from rsslab import metrics
from rsslab.claims import Assessment, Verdict, worst
from rsslab.results import Observation, run_key

# The metrics shown, in order: each one's label (its narrow one) and the
# exact value it is compared with come from the catalogue.
ROWS: tuple[metrics.Metric, ...] = tuple(map(metrics.get, (
    "vmrss_kib", "vmhwm_kib", "statm_rss_kib", "stat_rss_kib", "wait4_maxrss_kib",
    "children_maxrss_kib", "self_maxrss_kib", "child_maxrss_kib", "cgroup_peak_kib")))


def needs_explaining(a: Assessment) -> bool:
    """Is the verdict one a report spells out (the unavailable get one line each)?"""
    return a.verdict not in (Verdict.HOLDS, Verdict.UNAVAILABLE)


def _span(values: Sequence[float]) -> str:
    """Signed errors: ``-3`` or ``-5..+2``."""
    lo, hi = min(values), max(values)
    return f"{lo:+g}" if lo == hi else f"{lo:+g}..{hi:+g}"


def _plain_span(values: Sequence[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}..{hi}"


def _verdicts_for(metric: str, runs: Sequence[Observation],
                  assessments: Iterable[Assessment]) -> str:
    """The claims on ``metric`` that checked these runs, coloured by their
    verdict on these runs (the claim's where every run held: a shortfall)."""
    keys = {run_key(o) for o in runs}
    out = []
    for a in assessments:
        if a.claim.metric != metric:
            continue
        mine = [c.verdict for c in a.checks if run_key(c.obs) in keys]
        if mine:
            here = worst(mine)
            if all(c.verdict is Verdict.HOLDS for c in a.checks):
                here = a.verdict
            out.append(f"[{here.colour}]{a.claim.id}[/]")
    return "\n".join(out)


def runs_table(label: str, runs: Sequence[Observation],
               assessments: Sequence[Assessment]) -> Table:
    """Per scenario and metric: reported, exact, error in pages, claims."""
    first = runs[0]
    table = Table(title=f"{label}: Linux {first.kernel_release}, {first.ncpus} CPUs "
                        f"(KiB; error in {first.page_kib} KiB pages; ranges over repeats)")
    for col in ("scenario", "metric", "reported", "exact", "error", "claims"):
        table.add_column(col, justify="right" if col in ("reported", "exact", "error") else "left")
    groups: dict[object, list[Observation]] = {}
    for o in runs:
        groups.setdefault(run_key(o), []).append(o)
    for group in groups.values():
        o = group[0]
        name = o.scenario + "".join(f" {k}={v}" for k, v in o.params.items())
        if o.cgroup_version is not None:
            name += " [cgroup]"
        for row in ROWS:
            metric, ref, label_ = row.name, row.reference, row.column
            pairs = [(g.value(metric), g.value(ref)) for g in group]
            pairs_ok = [(m, r) for m, r in pairs if m is not None and r is not None]
            if not pairs_ok:
                continue
            errs = [(m - r) / o.page_kib for m, r in pairs_ok]
            table.add_row(name, label_, _plain_span([m for m, _ in pairs_ok]),
                          _plain_span([r for _, r in pairs_ok]), _span(errs),
                          _verdicts_for(metric, group, assessments))
            name = ""
        table.add_section()
    return table


def verdict_table(label: str, assessments: Sequence[Assessment]) -> Table:
    table = Table(title=f"{label}: claims")
    for col in ("claim", "verdict", "runs", "worst error", "bound"):
        table.add_column(col)
    for a in assessments:
        largest = a.worst()
        table.add_row(
            a.claim.id,
            f"[{a.verdict.colour}]{a.verdict.words}[/]",
            str(len(a.checks)),
            "" if largest is None or largest.err_pages is None else f"{largest.err_pages:+g} pages",
            "" if largest is None else largest.interval.show(),
        )
    return table


def print_report(console: Console, label: str, runs: Sequence[Observation],
                 assessments: Sequence[Assessment]) -> None:
    if runs:
        console.print(runs_table(label, runs, assessments))
    if assessments:
        console.print(verdict_table(label, assessments))
        for a in assessments:
            if needs_explaining(a):
                console.print(f"[{a.verdict.colour}]{a.explain()}[/]", highlight=False)
