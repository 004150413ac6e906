"""Where rsslab keeps its sources, its build output and its download cache."""

from __future__ import annotations

import os
from pathlib import Path

from rsslab.errors import UserError


def project_root() -> Path:
    """The checkout holding ``repro/`` and ``claims/`` (rsslab runs from it)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "repro").is_dir() or not (root / "claims").is_dir():
        raise UserError(
            f"no repro/ and claims/ beside the rsslab package in {root}; "
            "install rsslab from its checkout with `make repro` (pip install -e .)"
        )
    return root


def build_dir(root: Path) -> Path:
    """Generated output: binaries, results, patches, docs (never committed)."""
    return root / "build"


def results_dir(root: Path) -> Path:
    return build_dir(root) / "results"


def cache_dir() -> Path:
    """Downloads and kernel builds: ``${XDG_CACHE_HOME:-~/.cache}/rsslab``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rsslab"
