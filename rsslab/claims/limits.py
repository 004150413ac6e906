"""Per metric, the claim that bounds its error on one kernel, in KiB.

``rsslab measure`` and ``rsslab doctor`` print, next to every raw metric,
how far it can be from the exact value on the running kernel and which
claim says so.  They take the bound from the claims in ``claims/*.toml``
that apply to the kernel's regimes and CPU count, evaluated by
``rsslab.claims.interval``: the bound formulas exist only there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rsslab import metrics
from rsslab.claims import Claim, interval
from rsslab.errors import UserError
from rsslab.results import Observation

# The exact RSS at the exit stop (a page-table walk of the intact mm), as
# a claim's reference.
AT_EXIT: tuple[str, ...] = (metrics.AT_EXIT,)
# The program's true peak: the exact RSS at exit, or the exact peak the
# program measured itself before it unmapped memory, whichever is larger.
TRUE_PEAK: tuple[str, ...] = (metrics.AT_EXIT, "peak_exact_kib")

# Formulas that describe one scenario's miss (they need its parameters or
# fault count) rather than bound a metric for any program.
_SCENARIO_ONLY = frozenset({"unsynced_faults", "spread_unfolded"})
# Argument values that name a quantity of the mechanism, or one the
# observer counts for any program (the tasks alive at once), not a
# scenario's parameter.
_MECHANISM_WORDS = frozenset({"fault_around", "mm_tasks_max", "tree_tasks_max"})


def scenario_only(claim: Claim) -> bool:
    """Does the claim's bound describe its own scenario (its formula, or an
    argument naming one of the scenario's parameters, such as the threads
    it holds alive) rather than bound the metric for any program?"""
    bound = claim.bound
    if bound.get("formula") in _SCENARIO_ONLY:
        return True
    return any(isinstance(v, str) and v not in _MECHANISM_WORDS
               for k, v in bound.items() if k not in ("formula", "direction"))


@dataclass(frozen=True, slots=True)
class MetricBound:
    """``metric - reference`` lies in [lo_kib, hi_kib] here, says ``claim_id``."""

    metric: str
    reference: tuple[str, ...]
    claim_id: str
    lo_kib: float
    hi_kib: float

    @property
    def exact(self) -> bool:
        return self.lo_kib == 0 and self.hi_kib == 0

    @property
    def width_kib(self) -> float:
        return self.hi_kib - self.lo_kib

    def show(self) -> str:
        """``exact``, ``±744 KiB``, ``-264..+0 KiB``, ``<= +744 KiB`` or ``>= +0 KiB``."""
        if self.exact:
            return "exact"
        if math.isinf(self.lo_kib) and not math.isinf(self.hi_kib):
            return f"<= {_signed(self.hi_kib)} KiB"
        if math.isinf(self.hi_kib) and not math.isinf(self.lo_kib):
            return f">= {_signed(self.lo_kib)} KiB"
        if self.lo_kib == -self.hi_kib:
            return f"±{_num(self.hi_kib)} KiB"
        return f"{_signed(self.lo_kib)}..{_signed(self.hi_kib)} KiB"

    def to_json(self) -> dict[str, object]:
        ref = self.reference[0] if len(self.reference) == 1 else f"max({', '.join(self.reference)})"
        return {
            "metric": self.metric,
            "reference": ref,
            "claim": self.claim_id,
            "lo_kib": _json_num(self.lo_kib),
            "hi_kib": _json_num(self.hi_kib),
        }


def _num(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:g}"


def _signed(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:+g}"


def _json_num(x: float) -> float | int | None:
    """KiB as an int; an unbounded side as null."""
    if math.isinf(x):
        return None
    return int(x) if x == int(x) else x


def claim_bound(claim: Claim, obs: Observation, features: frozenset[str]) -> MetricBound | None:
    """The claim's bound for this observation, or None when it needs a
    scenario's own parameters or its premise does not hold here."""
    if scenario_only(claim):
        return None
    try:
        iv = interval(claim.bound, obs, features)
    except (UserError, KeyError):
        return None
    if iv.premise_failed:
        return None
    return MetricBound(claim.metric, claim.reference, claim.id,
                       iv.lo * obs.page_kib, iv.hi * obs.page_kib)


def applicable(claims: Iterable[Claim], features: frozenset[str], ncpus: int,
               metric: str) -> list[Claim]:
    return [c for c in claims if c.metric == metric and c.applies(features, ncpus)]


def loosest(found: Iterable[MetricBound | None]) -> MetricBound | None:
    """The one rule for "the widest bound": the loosest two-sided bound, a
    one-sided one (such as the observer floor's) only when there is no other."""
    return max((b for b in found if b is not None),
               key=lambda b: (math.isfinite(b.width_kib), b.width_kib), default=None)


def widest(claims: Iterable[Claim], metric: str, reference: Sequence[str],
           features: frozenset[str], obs: Observation) -> MetricBound | None:
    """The loosest bound any applicable claim gives ``metric`` against
    ``reference``: the one that holds for every program the claims cover."""
    return loosest(claim_bound(c, obs, features)
                   for c in applicable(claims, features, obs.ncpus, metric)
                   if c.reference == tuple(reference))
