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

import guests
import pytest

from rsslab import claims, kversion, results
from rsslab.claims import Claim, regimes
from rsslab.results import Observation
from rsslab.run import host, matrix
from rsslab.run.host import host_regimes

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
    guest: bool = False  # False: the host


def host_target() -> Target:
    u = os.uname()
    ncpus = len(os.sched_getaffinity(0))
    return Target(results.label_for("host", ncpus), "host", ncpus,
                  regimes.by_version(REGIMES, kversion.upstream(u.release, u.version)))


def targets() -> list[Target]:
    """The host and every test guest, named from the settings alone (the
    guests' regimes are known once they have booted)."""
    out = [host_target()]
    for label, name, ncpus in guests.labels():
        out.append(Target(label, name, ncpus, frozenset(), guest=True))
    return out


def cases() -> list[object]:
    return [
        pytest.param(c, t, id=f"{c.id}-{t.label}")
        for t in targets()
        for c in CLAIMS
        if t.guest or c.applies(t.candidates, t.ncpus)
    ]


Measured = tuple[frozenset[str], list[Observation]]


def _measure_host(bin_dir: Path, target: Target) -> Measured:
    features = host_regimes(REGIMES, bin_dir)
    return features, host.run_specs(bin_dir, claims.plan(CLAIMS, features, target.ncpus))


@pytest.fixture(scope="session")
def measured(bin_dir: Path,
             guest_outcomes: Callable[[], dict[str, matrix.Outcome]]) -> Callable[[Target], Measured]:
    """Run each target's plan once per session, on first use; the guests all
    boot together (in parallel) the first time one of them is needed."""
    done: dict[str, Measured] = {}

    def get(target: Target) -> Measured:
        if not target.guest:
            if target.label not in done:
                done[target.label] = _measure_host(bin_dir, target)
            return done[target.label]
        out = guests.outcome(guest_outcomes(), target.label, target.kernel)
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
        pytest.skip(f"does not apply to {target.label} ({', '.join(sorted(features))}, "
                    f"{target.ncpus} CPUs)")
    assessed = claims.assess(claim, runs, features, target.label)
    if assessed.unavailable:
        pytest.skip(f"{target.label}: {assessed.unavailable}")
    assert assessed.holds, assessed.explain()
