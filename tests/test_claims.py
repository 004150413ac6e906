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

from rsslab import claims, kversion, observe, regimes, results
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


def host_target() -> Target:
    u = os.uname()
    ncpus = len(os.sched_getaffinity(0))
    return Target(results.label_for("host", ncpus), "host", ncpus,
                  regimes.by_version(REGIMES, kversion.upstream(u.release, u.version)))


def targets() -> list[Target]:
    return [host_target()]


def cases() -> list[object]:
    return [
        pytest.param(c, t, id=f"{c.id}-{t.label}")
        for t in targets()
        for c in CLAIMS
        if c.applies(t.candidates, t.ncpus)
    ]


Measured = tuple[frozenset[str], list[Observation]]


def _measure_host(bin_dir: Path, target: Target) -> Measured:
    probe = None
    if any(r.probe for r in REGIMES if r.id in target.candidates):
        probe = observe.run_specs(bin_dir, [regimes.PROBE_RUN])[0]
    u = os.uname()
    features = regimes.features(REGIMES, u.release, u.version, probe)
    runs = observe.run_specs(bin_dir, claims.plan(CLAIMS, features, target.ncpus))
    results.save(ROOT / "build" / "results", runs)
    return features, runs


@pytest.fixture(scope="session")
def measured(bin_dir: Path) -> Callable[[Target], Measured]:
    """Run each target's plan once per session, on first use."""
    done: dict[str, Measured] = {}

    def get(target: Target) -> Measured:
        if target.label not in done:
            done[target.label] = _measure_host(bin_dir, target)
        return done[target.label]

    return get


@pytest.mark.parametrize(("claim", "target"), cases())
def test_claim(claim: Claim, target: Target, measured: Callable[[Target], Measured]) -> None:
    features, runs = measured(target)
    if not claim.applies(features, target.ncpus):
        pytest.skip(f"the regime probe shows {target.label} is not in "
                    f"{', '.join(claim.regimes)}")
    verdict = claims.evaluate(claim, runs, features, target.label)
    assert verdict.ok, verdict.explain()
