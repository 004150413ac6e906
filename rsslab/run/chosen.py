"""Runs a user chose (``--scenario``/``--param``), on any kernel, and the
claims those runs cover.

On the host the chosen specs run as they are.  On a guest they are its whole
plan, with the regime probe (``regimes.PROBE_RUN``) added so that the
kernel's regimes are known from the same boot; the probe's runs are kept in
the result files but not shown unless chosen.

A claim is shown only when every run it names was made: assessed on part
of them it could fail for want of the rest (a claim that some run shows an
error).  Its verdict is the one stored with the saved result set
(``claims.store``).  The claims that apply to the kernel but were not all
run are listed as not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rsslab.claims import Assessment, Claim, regimes
from rsslab.plan import RunSpec, merge
from rsslab.results import Observation, run_key
from rsslab.run.matrix import Planner, Target


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the chosen runs of one kernel and CPU count say about the claims."""

    label: str
    runs: tuple[Observation, ...]  # the chosen runs (without an unchosen probe)
    assessed: tuple[Assessment, ...]  # claims whose every run was made, as stored
    not_checked: tuple[Claim, ...]  # claims that apply here, some run of theirs not made


def covered(claim: Claim, runs: Sequence[Observation],
            features: frozenset[str] = frozenset()) -> bool:
    """Was every run the claim names made (with the cgroup peak it asks for)?"""
    return all(any(replace(claim, runs=(r,)).matches(o, features) for o in runs)
               for r in claim.runs)


def _key(spec: RunSpec) -> tuple[str, tuple[tuple[str, str], ...]]:
    return spec.resolved().key()[:2]


def only_chosen(runs: Sequence[Observation], specs: Sequence[RunSpec]) -> tuple[Observation, ...]:
    """The runs of ``specs`` (the probe a guest adds is left out unless chosen)."""
    keys = {_key(s) for s in specs}
    return tuple(o for o in runs if run_key(o)[:2] in keys)


def coverage(label: str, runs: Sequence[Observation], stored: Sequence[Assessment],
             claims: Sequence[Claim], features: frozenset[str], ncpus: int) -> Coverage:
    """The stored verdicts (``stored``, of the saved result set) of each claim
    that applies here and whose runs were all made; the other claims that apply."""
    applicable = [c for c in claims if c.applies(features, ncpus)]
    done = {c.id for c in applicable if covered(c, runs, features)}
    assessed = tuple(a for a in stored if a.claim.id in done)
    rest = tuple(c for c in applicable if c.id not in done)
    return Coverage(label, tuple(runs), assessed, rest)


def planner(specs: Sequence[RunSpec]) -> Planner:
    """A guest's plan: the chosen specs and the regime probe."""
    plan = merge([*specs, regimes.PROBE_RUN])

    def plan_for(_target: Target, _claims: Sequence[Claim],
                 _regs: Sequence[regimes.Regime]) -> list[RunSpec]:
        return list(plan)

    return plan_for


def not_checked_line(cov: Coverage) -> str:
    """One line for the claims that were not checked."""
    if not cov.not_checked:
        return f"{cov.label}: every claim that applies here was checked"
    ids = ", ".join(c.id for c in cov.not_checked)
    return (f"{cov.label}: not checked ({len(cov.not_checked)} claims that apply here name "
            f"runs that were not chosen): {ids}")
