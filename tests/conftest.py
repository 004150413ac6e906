"""Shared fixtures: the project root and the built binaries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import guests
from rsslab import claims
from rsslab.run import matrix
from rsslab.run.build import build_all
if TYPE_CHECKING:
    from rsslab.site.build import Built, Layout
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def bin_dir() -> Path:
    """repro/*.c built statically into build/bin (as `rsslab run` does)."""
    out = ROOT / "build" / "bin"
    build_all(ROOT, out)
    return out


@pytest.fixture(scope="session")
def layout(root: Path) -> "Layout":
    from rsslab.site.build import Layout
    return Layout.of(root)


@pytest.fixture(scope="session")
def built(layout: "Layout", bin_dir: Path) -> "Built":
    """The site, built as `make docs` builds it (host runs it lacks first)."""
    from rsslab.site import build as site
    from rsslab.site import sweeps
    plan = sweeps.plan_host(layout.root, layout.results, bin_dir)
    skipped = sweeps.run_host(plan, layout.results, bin_dir)
    return site.build(layout, [*plan.notes, *skipped])


@pytest.fixture(scope="session")
def guest_outcomes(bin_dir: Path) -> Callable[[], dict[str, matrix.Outcome]]:
    """Every test kernel at every test CPU count, booted once per session
    (all together, in parallel) the first time a test needs one."""
    booted: dict[str, matrix.Outcome] = {}

    def get() -> dict[str, matrix.Outcome]:
        if not booted:
            found, _ = guests.resolve_all()
            booted.update(guests.measure(bin_dir, guests.guest_targets(found),
                                         claims.load(ROOT / "claims")))
        return booted

    return get
