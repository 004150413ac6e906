"""Every claim, checked against fresh observations on each kernel where it applies.

One test per (claim, kernel, CPU count): ``test_claim[<claim id>-<label>]``.
The bound of each check comes from the observation itself (its CPU count,
page size and the kernel's regimes), never from a constant here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import guests
from rsslab import claims, kversion, results
from rsslab.run import matrix
from rsslab.run import host as observe
from rsslab.claims import regimes
from rsslab.claims import Claim
from rsslab.results import Observation
ROOT = Path(__file__).resolve().parents[1]
CLAIMS = claims.load(ROOT / "claims")
REGIMES = regimes.load(ROOT / "claims")


@dataclass(frozen=True)
class Target:
    """A kernel at a CPU count, with the regimes its version suggests."""

    label: str
    kernel: str
    ncpus: int
    candidates: frozenset[str]
    guest: matrix.Target | None = None  # None: the host


def host_target() -> Target:
    u = os.uname()
    ncpus = len(os.sched_getaffinity(0))
    return Target(results.label_for("host", ncpus), "host", ncpus,
                  regimes.by_version(REGIMES, kversion.upstream(u.release, u.version)))


FOUND, UNAVAILABLE = guests.resolve_all()


def targets() -> list[Target]:
    out = [host_target()]
    for t in guests.guest_targets(FOUND):
        out.append(Target(t.label, t.kernel.name, t.ncpus,
                          matrix.candidates(t.kernel, REGIMES), t))
    return out


def cases() -> list[object]:
    params: list[object] = [
        pytest.param(c, t, id=f"{c.id}-{t.label}")
        for t in targets()
        for c in CLAIMS
        if c.applies(t.candidates, t.ncpus)
    ]
    params += [pytest.param(None, None, id=f"kernel-{u.name}", marks=pytest.mark.skip(
        reason=f"kernel {u.name} unavailable: {u.reason}")) for u in UNAVAILABLE]
    return params


Measured = tuple[frozenset[str], list[Observation]]


def _measure_host(bin_dir: Path, target: Target) -> Measured:
    features = regimes.of_host(REGIMES, bin_dir)
    runs = observe.run_specs(bin_dir, claims.plan(CLAIMS, features, target.ncpus))
    observe.save_host(ROOT / "build" / "results", runs, features)
    return features, runs


@pytest.fixture(scope="session")
def measured(bin_dir: Path,
             guest_outcomes: Callable[[], dict[str, matrix.Outcome]]) -> Callable[[Target], Measured]:
    """Run each target's plan once per session, on first use; the guests all
    boot together (in parallel) the first time one of them is needed."""
    done: dict[str, Measured] = {}

    def get(target: Target) -> Measured:
        if target.guest is None:
            if target.label not in done:
                done[target.label] = _measure_host(bin_dir, target)
            return done[target.label]
        out = guest_outcomes()[target.label]
        if out.error:
            pytest.fail(out.error, pytrace=False)
        if not out.runs:
            pytest.fail(f"{target.label}: no run succeeded: " + "; ".join(out.problems[:3]),
                        pytrace=False)
        return out.features, list(out.runs)

    return get


@pytest.mark.guest
@pytest.mark.parametrize(("claim", "target"), cases())
def test_claim(claim: Claim, target: Target, measured: Callable[[Target], Measured]) -> None:
    features, runs = measured(target)
    if not claim.applies(features, target.ncpus):
        pytest.skip(f"the regime probe shows {target.label} is not in "
                    f"{', '.join(claim.regimes)}")
    verdict = claims.evaluate(claim, runs, features, target.label)
    if verdict.unavailable:
        pytest.skip(f"{target.label}: {verdict.unavailable}")
    assert verdict.ok, verdict.explain()
