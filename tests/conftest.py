"""Shared fixtures: the project root and the built binaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rsslab.build import build_all

if TYPE_CHECKING:
    from rsslab.docs.site import Built, Layout

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
    from rsslab.docs.site import Layout

    return Layout.of(root)


@pytest.fixture(scope="session")
def built(layout: "Layout", bin_dir: Path) -> "Built":
    """The site, built as `make docs` builds it (host runs it lacks first)."""
    from rsslab.docs import site, sweeps

    plan = sweeps.plan_host(layout.root, layout.results, bin_dir)
    skipped = sweeps.run_host(plan, layout.results, bin_dir)
    return site.build(layout, [*plan.notes, *skipped])
