"""The documented behaviour of each kernel regime, as data, and its check.

A claim (``claims/*.toml``) says how one metric relates to an exact
reference on the kernels of some regimes, with a bound derived from the
mechanism.  Errors are counted in pages: ``err = (metric - reference) /
page``.  A check passes when ``lo <= err <= hi`` for every run; a claim that
says a metric lies (``inexact = true``) also needs one run with ``err != 0``.

The bounds are the named formulas below; each docstring gives the mechanism.
TOML files only name a formula and its arguments, never a bare tolerance.
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
from rsslab.errors import UserError
from rsslab.plan import RunSpec, merge
from rsslab.results import Observation, ResultSet


@dataclass(frozen=True, slots=True)
class Check:
    obs: Observation
    value: int | None
    reference: int | None
    err_pages: float | None
    interval: Interval
    ok: bool
    problem: str = ""
    # The run cannot decide the claim (its floor hides the low side); the
    # kernel did not contradict it.
    undecided: bool = False


HOLDS, CONTRADICTED, UNDECIDED = "holds", "contradicted", "undecided"


@dataclass(frozen=True, slots=True)
class Verdict:
    claim: Claim
    label: str
    checks: tuple[Check, ...]
    problems: tuple[str, ...] = field(default=())
    # Every run held, but none showed what the claim says must show (an
    # inexact run, an error beyond one CPU's residue).
    shortfall: bool = False
    # Not a failure: the kernel lacks what the claim's runs need (the
    # memory cgroup peak before Linux 5.19); says what.
    unavailable: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def contradicted(self) -> bool:
        """The kernel disagreed with the claim: a run outside the bound, or
        no run showing what the claim says must show.  A claim left
        undecided (no runs, a floor too high) is not contradicted."""
        return self.kind == CONTRADICTED

    @property
    def kind(self) -> str:
        if not self.problems:
            return HOLDS
        if any(not c.ok and not c.undecided for c in self.checks) or self.shortfall:
            return CONTRADICTED
        return UNDECIDED

    def worst(self) -> Check | None:
        errs = [c for c in self.checks if c.err_pages is not None]
        return max(errs, key=lambda c: abs(c.err_pages or 0), default=None)

    def explain(self) -> str:
        lines = [f"claim {self.claim.id} on {self.label}: {self.claim.says}"]
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
    if value is None or any(r is None for r in refs):
        missing = [n for n, v in zip((claim.metric, *claim.reference), (value, *refs)) if v is None]
        return Check(obs, value, None, None, iv, False,
                     f"{obs.scenario} {dict(obs.params)}: no {', '.join(missing)} on this kernel")
    ref = max(r for r in refs if r is not None)
    err = (value - ref) / obs.page_kib
    if iv.premise_failed:
        return Check(obs, value, ref, err, iv, False,
                     f"{obs.scenario} {dict(obs.params)}: {iv.show()}: this run cannot "
                     "decide the claim", undecided=True)
    if not iv.contains(err):
        return Check(obs, value, ref, err, iv, False,
                     f"{obs.scenario} {dict(obs.params)}: {claim.metric}={value} KiB, "
                     f"reference {ref} KiB, error {err:+g} pages outside {iv.show()}")
    hidden = _floor_hides(claim, obs, iv, ref)
    if hidden:
        return Check(obs, value, ref, err, iv, False, hidden, undecided=True)
    return Check(obs, value, ref, err, iv, True)


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
    worst = max(abs(c.err_pages or 0) for c in checks)
    limit, what = _exceeds_limit(claim, checks[0].obs)
    return [f"no run's {claim.metric} error passed {what} ({limit} pages); "
            f"the largest was {worst:g} pages in {len(checks)} runs"]


def evaluate(claim: Claim, runs: Iterable[Observation], features: frozenset[str],
             label: str) -> Verdict:
    """Check every matching observation; say what is wrong, if anything."""
    runs = tuple(runs)
    checks = tuple(_check(claim, o, features) for o in runs if claim.matches(o, features))
    problems = [c.problem for c in checks if c.problem]
    shortfall: list[str] = []
    if not checks and (why := claim.unavailable(runs, features)):
        return Verdict(claim, label, (), (), unavailable=f"not available here: {why}")
    if not checks:
        problems.append("no observations of its runs: "
                        + "; ".join(r.describe() for r in claim.runs))
    elif claim.inexact and not problems and all(c.err_pages == 0 for c in checks):
        shortfall.append(f"{claim.metric} was exact in all {len(checks)} runs, "
                         "but this claim says it is not exact here")
    elif claim.above and not problems and not any((c.err_pages or 0) > 0 for c in checks):
        worst = max(c.err_pages or 0 for c in checks)
        shortfall.append(f"{claim.metric} never read above {' / '.join(claim.reference)} in "
                         f"{len(checks)} runs (the highest error was {worst:+g} pages), but "
                         "this claim says it can")
    if claim.exceeds and not problems and not shortfall and checks:
        shortfall += _exceeds(claim, checks)
    return Verdict(claim, label, checks, tuple(problems + shortfall), bool(shortfall))


def unavailable_of(label: str, verdicts: Iterable[Verdict]) -> list[str]:
    """One line per thing a kernel or machine lacks: the claims it could not
    check, and why."""
    why: dict[str, list[str]] = {}
    for v in verdicts:
        if v.unavailable:
            why.setdefault(v.unavailable, []).append(v.claim.id)
    return [f"{label}: {', '.join(ids)}: {reason}" for reason, ids in why.items()]


def plan(claims: Iterable[Claim], features: frozenset[str], ncpus: int,
         page_size: int | None = None) -> list[RunSpec]:
    """The runs needed to check every claim that applies to a kernel with
    ``ncpus`` CPUs and pages of ``page_size`` bytes (default: this machine's)."""
    page_size = page_size or os.sysconf("SC_PAGE_SIZE")
    return merge(r for c in claims if c.applies(features, ncpus)
                 for r in c.runs_at(ncpus, page_size, features))


# --- every claim on one result set: the one place verdicts are computed -----

def judge_all(claims: Iterable[Claim], runs: Iterable[Observation], features: frozenset[str],
              label: str, ncpus: int) -> tuple[Verdict, ...]:
    """Every claim that applies to a kernel with ``features`` at ``ncpus``
    CPUs, judged on its runs.  The runners, doctor, the site and the series
    all judge through here."""
    runs = tuple(runs)
    return tuple(evaluate(c, runs, features, label) for c in claims if c.applies(features, ncpus))


def judge_results(claims: Iterable[Claim], rs: ResultSet) -> tuple[Verdict, ...]:
    """Every applicable claim on one stored result set."""
    return judge_all(claims, rs.runs, rs.features, rs.label, rs.ncpus)
