"""The matrix at a glance: per kernel and CPU count, which metrics were
exact and the largest error seen next to the claim's bound; and the
judge's seed case on each kernel."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from rsslab import metrics
from rsslab.claims import Check, Verdict, short_metric, unavailable_of, worst
from rsslab.kernels import Kernel
from rsslab.run.matrix import Outcome

# A metric's grid cell is marked where a claim on it did not hold.
MARK = {Verdict.UNDECIDED: "?", Verdict.BROKEN: "!", Verdict.CONTRADICTED: "!"}

# The metrics a judge reads, in the order of the summary's columns.
COLUMNS = ("vmhwm_kib", "vmrss_kib", "rss_anon_kib", "statm_rss_kib", "stat_rss_kib",
           "wait4_maxrss_kib", "children_maxrss_kib", "self_maxrss_kib", "child_maxrss_kib",
           "cgroup_peak_kib")


def _side(x: float) -> str:
    return "inf" if x == float("inf") else "-inf" if x == float("-inf") else f"{x:g}"


def _bound(lo: float, hi: float) -> str:
    return f"+-{_side(hi)}" if lo == -hi else f"[{_side(lo)},{_side(hi)}]"


def _metric_checks(outcome: Outcome, metric: str) -> tuple[list[Check], Verdict]:
    """The runs of the claims on ``metric`` with an error, and their worst verdict."""
    assessed = [a for a in outcome.assessments if a.claim.metric == metric and a.checks]
    checks = [c for a in assessed for c in a.checks if c.err_pages is not None]
    return checks, worst(a.verdict for a in assessed)


def _row(outcome: Outcome) -> tuple[str, str]:
    """Which metrics were exact; the others' largest error and bound."""
    exact, off = [], []
    for m in COLUMNS:
        checks, verdict = _metric_checks(outcome, m)
        if not checks:
            continue
        name = short_metric(m)
        if verdict is not Verdict.HOLDS:
            name = f"[{verdict.colour}]{name}[/]"
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
        table.add_row(o.target.label, o.target.kernel.upstream, *_row(o), _claims_cell(o))
    return table


def _claims_cell(o: Outcome) -> str:
    """``12/12 hold``, coloured by the worst verdict, then how many got each other one."""
    counts = {v: sum(a.verdict is v for a in o.assessments) for v in Verdict}
    checked = len(o.assessments) - counts[Verdict.UNAVAILABLE]
    colour = worst(a.verdict for a in o.assessments
                                 if a.verdict is not Verdict.UNAVAILABLE).colour
    others = [f", {n} {v.words}" for v, n in counts.items() if n and v is not Verdict.HOLDS]
    return f"[{colour}]{counts[Verdict.HOLDS]}/{checked} hold[/]" + "".join(others)


def _span(lo: float, hi: float) -> str:
    """A bound in few characters: ``±186``, ``-1056..0``, ``≥0``, ``≤1056``."""
    if lo == -hi:
        return f"±{_side(hi)}"
    if hi == float("inf"):
        return f"≥{_side(lo)}"
    if lo == float("-inf"):
        return f"≤{_side(hi)}"
    return f"{_side(lo)}..{_side(hi)}"


def _cell(outcome: Outcome, metric: str) -> str:
    """``exact``, or the largest error over the bound; ``!`` where a claim on it
    was contradicted or broken, ``?`` where one was not decided."""
    checks, verdict = _metric_checks(outcome, metric)
    if not checks:
        return ""
    mark = MARK.get(verdict, "")
    if all(c.err_pages == 0 for c in checks):
        return f"exact{mark}"
    worst = max(checks, key=lambda c: abs(c.err_pages or 0))
    return f"{worst.err_pages:+g}{mark}\n{_span(worst.interval.lo, worst.interval.hi)}"


def metrics_grid(outcomes: Sequence[Outcome]) -> Table:
    """``metrics_table`` with a column per metric, for logs: each row two
    lines at most, whatever the number of metrics off."""
    table = Table(title="Each kernel: each metric exact in every run, or its largest error in "
                        "pages over the claim's bound (!: a claim on it was contradicted or "
                        "broken, ?: not decided)")
    table.add_column("kernel", no_wrap=True)
    shown = [m for m in COLUMNS if any(_metric_checks(o, m)[0] for o in outcomes)]
    for m in shown:
        table.add_column(short_metric(m), justify="right")
    table.add_column("claims", justify="right")
    for o in outcomes:
        if o.error:
            table.add_row(o.target.label, *([""] * len(shown)), "guest failed")
            continue
        held = sum(a.verdict is Verdict.HOLDS for a in o.assessments)
        checked = sum(a.verdict is not Verdict.UNAVAILABLE for a in o.assessments)
        table.add_row(o.target.label, *(_cell(o, m) for m in shown), f"{held}/{checked}")
    return table


def unavailable_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """``claims.unavailable_of`` for every kernel and CPU count."""
    return [line for o in outcomes for line in unavailable_of(o.target.label, o.assessments)]


# What a judge reads of the seed program, beside the exact value.
SEED_COLUMNS = ("vmhwm_kib", "vmrss_kib", "smaps_rss_kib", "wait4_maxrss_kib")


def seed_table(outcomes: Sequence[Outcome]) -> Table:
    """The judge's program at its exit stop: what a judge reads, what is true."""
    table = Table(title="The seed program (128 KiB input) at its exit stop, KiB")
    table.add_column("kernel")
    for name in SEED_COLUMNS:
        m = metrics.get(name)
        table.add_column(f"{m.column} (exact)" if m.exact else m.column, justify="right")
    for o in outcomes:
        seeds = [r for r in o.runs if r.scenario == "seed"]
        if not seeds:
            continue

        def span(name: str) -> str:
            vals = [v for r in seeds if (v := r.value(name)) is not None]
            if not vals:
                return ""
            return str(vals[0]) if min(vals) == max(vals) else f"{min(vals)}..{max(vals)}"

        table.add_row(o.target.label, *(span(name) for name in SEED_COLUMNS))
    return table


def _origin(k: Kernel) -> str:
    """A Debian package and its version, what an image was built from, or its path."""
    if k.package:
        return f"{k.package} {k.version}"
    if k.image is None:
        return "the running kernel"
    return f"built from {k.built_from}" if k.built_from else str(k.image)


def kernels_table(kernels: Sequence[Kernel]) -> Table:
    """Where each kernel came from: upstream version, package or build, checksum."""
    table = Table(title="Kernels")
    table.add_column("kernel", no_wrap=True)
    table.add_column("Linux")
    table.add_column("from", min_width=20, overflow="fold")
    table.add_column("sha256", no_wrap=True)
    for k in kernels:
        declared = [f"+{r}" for r in k.extra_regimes] + [f"-{r}" for r in k.without_regimes]
        extra = f" ({', '.join(declared)})" if declared else ""
        table.add_row(k.name, k.upstream + extra, _origin(k), k.sha256[:16])
    return table
