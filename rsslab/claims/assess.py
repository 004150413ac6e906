"""Each claim assessed on observed runs: its verdict and the checks behind it.

A claim (``claims/*.toml``) says how one metric relates to an exact
reference on the kernels of some regimes, with a bound derived from the
mechanism.  Errors are counted in pages: ``err = (metric - reference) /
page``.  A run holds when ``lo <= err <= hi``; a claim that says a metric
lies (``inexact = true``) also needs one run with ``err != 0``.  The verdict
of a claim on a result set is the worst of its runs' (``verdict.Verdict``).

The bounds are the named formulas of ``formulas``; each docstring gives the
mechanism.  TOML files only name a formula and its arguments, never a bare
tolerance.
"""


from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rsslab.claims.formulas import (
    RSS_COUNTERS,
    Interval,
    _int_arg,
    _pages_per_fault,
    interval,
    one_cpu_residue,
    thread_cache,
)
from rsslab.claims.model import Claim
from rsslab.claims.verdict import Verdict, worst
from rsslab.errors import UserError
from rsslab.plan import RunSpec, merge
from rsslab.results import Observation, ResultSet


@dataclass(frozen=True, slots=True)
class Check:
    """One run against the claim: its verdict and, unless it holds, why."""

    obs: Observation
    value: int | None
    reference: int | None
    err_pages: float | None
    interval: Interval
    verdict: Verdict
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Assessment:
    """A claim on the runs of one result set (``label``): its checks and verdict."""

    claim: Claim
    label: str
    checks: tuple[Check, ...]
    problems: tuple[str, ...] = field(default=())
    # Every run held, but none showed what the claim says must show (an
    # inexact run, an error beyond one CPU's residue).
    shortfall: bool = False
    # Why the kernel cannot give the claim's runs (no memory cgroup peak
    # before Linux 5.19), or "".
    unavailable: str = ""

    @property
    def verdict(self) -> Verdict:
        if self.unavailable:
            return Verdict.UNAVAILABLE
        if not self.checks:
            return Verdict.UNDECIDED
        if self.shortfall:
            return Verdict.CONTRADICTED
        return worst(c.verdict for c in self.checks)

    @property
    def holds(self) -> bool:
        return self.verdict is Verdict.HOLDS

    def worst(self) -> Check | None:
        errs = [c for c in self.checks if c.err_pages is not None]
        return max(errs, key=lambda c: abs(c.err_pages or 0), default=None)

    def explain(self) -> str:
        lines = [f"claim {self.claim.id} on {self.label}: {self.verdict.words}: {self.claim.says}"]
        lines += [f"  - {p}" for p in self.problems[:10]]
        lines += [f"  cites {t.show()}" for t in self.claim.tags]
        return "\n".join(lines)


def reference_value(obs: Observation, expr: str) -> int | None:
    """A reference: a metric name, or a sum ``a_kib + b_kib - c_kib`` of them."""
    total = 0
    for sign, name in re.findall(r"([+-]?)\s*([A-Za-z_]\w*)", expr):
        v = obs.value(name)
        if v is None:
            return None
        total += -v if sign == "-" else v
    return total


def _check(claim: Claim, obs: Observation, features: frozenset[str]) -> Check:
    value = obs.value(claim.metric)
    refs = [reference_value(obs, r) for r in claim.reference]
    iv = interval(claim.bound, obs, features)
    run = f"{obs.scenario} {dict(obs.params)}"
    if value is None or any(r is None for r in refs):
        missing = [n for n, v in zip((claim.metric, *claim.reference), (value, *refs)) if v is None]
        return Check(obs, value, None, None, iv, Verdict.BROKEN,
                     f"{run}: the run reports no {', '.join(missing)}: the claim names a value "
                     "its runs do not give on this kernel; fix the claim")
    ref = max(r for r in refs if r is not None)
    err = (value - ref) / obs.page_kib
    if iv.premise_failed:
        return Check(obs, value, ref, err, iv, Verdict.UNDECIDED,
                     f"{run}: {iv.show()}: this run cannot decide the claim")
    if not iv.contains(err):
        return Check(obs, value, ref, err, iv, Verdict.CONTRADICTED,
                     f"{run}: {claim.metric}={value} KiB, reference {ref} KiB, "
                     f"error {err:+g} pages outside {iv.show()}")
    hidden = _floor_hides(claim, obs, iv, ref)
    if hidden:
        return Check(obs, value, ref, err, iv, Verdict.UNDECIDED, hidden)
    return Check(obs, value, ref, err, iv, Verdict.HOLDS)


def _floor_hides(claim: Claim, obs: Observation, iv: Interval, ref: int) -> str:
    """ru_maxrss is never below the peak execve() handed down (the
    observer's copy): a value below the claim's lower bound can only show
    when that floor lies below ``reference + lo``.  Otherwise the run
    cannot decide the claim, whatever the kernel does."""
    if not claim.floor_below_reference or obs.exec_floor_kib is None or not math.isfinite(iv.lo):
        return ""
    lowest = ref + iv.lo * obs.page_kib
    if obs.exec_floor_kib < lowest:
        return ""
    return (f"{obs.scenario} {dict(obs.params)}: the inherited floor {obs.exec_floor_kib} KiB "
            f"is not below the lowest value the bound allows, {lowest:g} KiB (reference "
            f"{ref} KiB {iv.lo * obs.page_kib:+g}): this run cannot decide the claim")


def _exceeds_limit(claim: Claim, obs: Observation) -> tuple[int, str]:
    """The ``exceeds`` formula for one run, in pages, and what it is."""
    formula = claim.exceeds.get("formula")
    if formula == "one_cpu_residue":
        counters = int(claim.exceeds.get("counters", RSS_COUNTERS))
        return one_cpu_residue(obs.ncpus, counters), "one CPU's residue"
    if formula == "thread_cache":
        threads = _int_arg(claim.exceeds, "threads", obs)
        return thread_cache(threads, _pages_per_fault(claim.exceeds, obs)), \
            f"{threads} thread's cache" if threads == 1 else f"{threads} threads' caches"
    raise UserError(f"claim {claim.id}: unknown exceeds formula '{formula}'; "
                    "see rsslab/claims/formulas.py")


def _exceeds(claim: Claim, checks: Sequence[Check]) -> list[str]:
    """Some run's |error| must pass the claim's ``exceeds`` formula."""
    over = [c for c in checks if c.err_pages is not None
            and abs(c.err_pages) > _exceeds_limit(claim, c.obs)[0]]
    if over:
        return []
    largest = max(abs(c.err_pages or 0) for c in checks)
    limit, what = _exceeds_limit(claim, checks[0].obs)
    return [f"no run's {claim.metric} error passed {what} ({limit} pages); "
            f"the largest was {largest:g} pages in {len(checks)} runs"]


def _shortfall(claim: Claim, checks: Sequence[Check]) -> list[str]:
    """What the claim says some run must show and none showed, where every run held."""
    if not checks or any(c.verdict is not Verdict.HOLDS for c in checks):
        return []
    if claim.inexact and all(c.err_pages == 0 for c in checks):
        return [f"{claim.metric} was exact in all {len(checks)} runs, "
                "but this claim says it is not exact here"]
    if claim.above and not any((c.err_pages or 0) > 0 for c in checks):
        highest = max(c.err_pages or 0 for c in checks)
        return [f"{claim.metric} never read above {' / '.join(claim.reference)} in "
                f"{len(checks)} runs (the highest error was {highest:+g} pages), but "
                "this claim says it can"]
    return _exceeds(claim, checks) if claim.exceeds else []


def assess(claim: Claim, runs: Iterable[Observation], features: frozenset[str],
           label: str) -> Assessment:
    """Check every matching observation; say what is wrong, if anything."""
    runs = tuple(runs)
    checks = tuple(_check(claim, o, features) for o in runs if claim.matches(o, features))
    if not checks and (why := claim.unavailable(runs, features)):
        return Assessment(claim, label, (), (), unavailable=why)
    if not checks:
        return Assessment(claim, label, (), ("no observations of its runs: "
                                             + "; ".join(r.describe() for r in claim.runs),))
    problems = [c.problem for c in checks if c.problem]
    shortfall = _shortfall(claim, checks)
    return Assessment(claim, label, checks, tuple(problems + shortfall), bool(shortfall))


def unavailable_of(label: str, assessments: Iterable[Assessment]) -> list[str]:
    """One line per thing a kernel or machine lacks: the claims it could not
    check, and why."""
    why: dict[str, list[str]] = {}
    for a in assessments:
        if a.unavailable:
            why.setdefault(a.unavailable, []).append(a.claim.id)
    return [f"{label}: {', '.join(ids)}: {Verdict.UNAVAILABLE.words}: {reason}"
            for reason, ids in why.items()]


def plan(claims: Iterable[Claim], features: frozenset[str], ncpus: int,
         page_size: int | None = None) -> list[RunSpec]:
    """The runs needed to check every claim that applies to a kernel with
    ``ncpus`` CPUs and pages of ``page_size`` bytes (default: this machine's)."""
    page_size = page_size or os.sysconf("SC_PAGE_SIZE")
    return merge(r for c in claims if c.applies(features, ncpus)
                 for r in c.runs_at(ncpus, page_size, features))


# --- every claim on one result set: the one place verdicts are computed -----

def assess_all(claims: Iterable[Claim], runs: Iterable[Observation], features: frozenset[str],
               label: str, ncpus: int) -> tuple[Assessment, ...]:
    """Every claim that applies to a kernel with ``features`` at ``ncpus``
    CPUs, assessed on its runs.  A saved result set is assessed once, by
    ``store`` (``assess_results``); doctor, which saves nothing, assesses
    its battery here."""
    runs = tuple(runs)
    return tuple(assess(c, runs, features, label) for c in claims if c.applies(features, ncpus))


def assess_results(claims: Iterable[Claim], rs: ResultSet) -> tuple[Assessment, ...]:
    """Every applicable claim on one stored result set."""
    return assess_all(claims, rs.runs, rs.features, rs.label, rs.ncpus)
