"""Shared fixtures: the project root and the built binaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsslab.build import build_all

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
