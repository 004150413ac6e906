"""The matrix kernels the tests boot, and one measurement of them per session.

``RSSLAB_TEST_KERNELS`` (default ``5.10 6.1 6.12 6.12-nosum 7``) and
``RSSLAB_TEST_CPUS`` (default ``1,2,4``) choose them, and
``RSSLAB_TEST_WIDE`` (default ``7:64``, ``KERNEL:N[,N...]`` separated by
spaces, empty for none) adds wide guests, where the counter error is
largest; ``make test`` boots them all.  ``5.10`` (Debian 11) is checked
here although ``make repro`` leaves it out of its default set for time; a
series' kernels can be named too (``linux-6.12.y``,
``linux-6.12.y-base``).  ``6.12-nosum`` is the fixture kernel of the
status-approx regime (Debian's 6.12 with 82241a83cd15 reverted, standing
for 6.2 to 6.6.98, 6.7 to 6.12.38 and 6.13 to 6.15.6), built once into the cache.  Each kernel and CPU count
boots once, all of
them in parallel on first use.

A guest whose inputs did not change since a session booted it (the
kernel, the CPU count, the plan, the binaries and QEMU's options:
``matrix.guest_key``) is not booted again: its results channel is kept in
the cache's kept store, as ``rsslab patches`` keeps its proofs, and read by
this session's code (parsing, regimes, claims).  ``RSSLAB_TEST_REMEASURE=1``
boots every guest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from rsslab import claims, kernels, paths
from rsslab.claims import regimes
from rsslab.errors import UserError
from rsslab.kernels import Kernel
from rsslab.run import kept, matrix

ROOT = Path(__file__).resolve().parents[1]
KERNEL_NAMES = os.environ.get(
    "RSSLAB_TEST_KERNELS", " ".join((*matrix.OPT_IN_KERNELS, *matrix.DEFAULT_KERNELS))).split()
CPU_COUNTS = [int(c) for c in os.environ.get(
    "RSSLAB_TEST_CPUS", ",".join(map(str, matrix.DEFAULT_CPUS))).split(",") if c]


def _wide(text: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for word in text.split():
        name, _, counts = word.partition(":")
        out[name] = [int(c) for c in counts.split(",") if c]
    return out


WIDE = _wide(os.environ.get("RSSLAB_TEST_WIDE", "7:64"))
REMEASURE = os.environ.get("RSSLAB_TEST_REMEASURE") == "1"


def store(remeasure: bool = REMEASURE) -> kept.Store:
    """The cache's kept store, as the tests use it."""
    return kept.Store(paths.cache_dir() / "kept", ROOT, remeasure,
                      "RSSLAB_TEST_REMEASURE=1 measures again")


@dataclass(frozen=True)
class Unavailable:
    name: str
    reason: str


def labels() -> list[tuple[str, str, int]]:
    """(label, kernel name, CPU count) of every test guest, from the
    settings alone: collecting tests resolves and downloads nothing."""
    out = [(n, c) for n in KERNEL_NAMES for c in CPU_COUNTS]
    out += [(n, c) for n, counts in WIDE.items() for c in counts if (n, c) not in out]
    return [(f"{n}-smp{c}", n, c) for n, c in out]


# Kernels that could not be had this session, with why (resolve_all fills it).
MISSING: dict[str, str] = {}


def resolve_all() -> tuple[list[Kernel], list[Unavailable]]:
    """The test kernels, fetched into the cache on first use."""
    found, missing = [], []
    for name in dict.fromkeys([*KERNEL_NAMES, *WIDE]):
        try:
            found.append(kernels.resolve(name, paths.cache_dir()))
        except UserError as e:
            missing.append(Unavailable(name, str(e)))
            MISSING[name] = str(e)
    return found, missing


def outcome(outs: dict[str, matrix.Outcome], label: str, name: str) -> matrix.Outcome:
    """The outcome of one test guest.  A kernel the tests were asked to
    check that could not be had fails the test: no guest booted is no pass."""
    if label not in outs:
        pytest.fail(f"kernel {name} could not be had: {MISSING.get(name, 'not resolved')}")
    return outs[label]


def guest_targets(found: list[Kernel]) -> list[matrix.Target]:
    """Each test kernel at the test CPU counts, and the wide ones at theirs."""
    out = matrix.targets([k for k in found if k.name in KERNEL_NAMES], CPU_COUNTS)
    for k in found:
        have = {t.ncpus for t in out if t.kernel.name == k.name}
        out += matrix.targets([k], [n for n in WIDE.get(k.name, []) if n not in have])
    return out


def measure(bin_dir: Path, targets: list[matrix.Target], all_claims: list[claims.Claim],
            out_dir: Path, kept_in: kept.Store) -> dict[str, matrix.Outcome]:
    """Boot every target once, or read it back from ``kept_in``; work files
    and results go under ``out_dir``."""
    settings = matrix.Settings(bin_dir, out_dir, out_dir / "results", store=kept_in)
    outs = matrix.run_all(targets, all_claims, regimes.load(ROOT / "claims"), settings,
                          lambda *_: None)
    return {o.target.label: o for o in outs}
