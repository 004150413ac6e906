"""Where rsslab keeps its sources, its build output and its download cache.

The sources rsslab reads at run time (``claims/``, ``repro/``,
``kernelpatches/``, ``manpatches/``, ``docs/``, ``bench/kcost.c`` and
``pyproject.toml``) have one layout in two places: the checkout, when the
package runs from one (``pip install -e .``, ``make``), else the copy the
wheel installs beside the package, ``rsslab/_data/``.  ``project_root()``
returns whichever it is.

Build output and results (``bin/``, ``results/``, ``docs/``, ``patches/``)
go to ``$RSSLAB_BUILD_DIR`` (``rsslab --build-dir DIR``) when set, else to
``build/`` in the checkout, else to ``${XDG_STATE_HOME:-~/.local/state}/rsslab``.
Downloads and kernel builds are cached in ``${XDG_CACHE_HOME:-~/.cache}/rsslab``.
"""

from __future__ import annotations

import os
from pathlib import Path

from rsslab.errors import UserError

BUILD_DIR_ENV = "RSSLAB_BUILD_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent
# Where the wheel puts the sources (pyproject.toml, [tool.hatch...force-include]).
INSTALLED_DATA = PACKAGE_DIR / "_data"


def _holds_sources(d: Path) -> bool:
    return (d / "repro").is_dir() and (d / "claims").is_dir()


def checkout() -> Path | None:
    """The checkout the package runs from, or None when it is installed."""
    root = PACKAGE_DIR.parent
    return root if _holds_sources(root) and (root / "pyproject.toml").is_file() else None


def project_root() -> Path:
    """The directory holding ``repro/``, ``claims/`` and the other sources:
    the checkout, or the installed copy."""
    root = checkout()
    if root is not None:
        return root
    if _holds_sources(INSTALLED_DATA):
        return INSTALLED_DATA
    raise UserError(
        f"no repro/ and claims/ beside the rsslab package in {PACKAGE_DIR.parent}, nor in "
        f"{INSTALLED_DATA}; reinstall rsslab from its wheel, or run it from its checkout "
        "(`make repro`)"
    )


def state_dir() -> Path:
    """The default build directory of an installed rsslab."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rsslab"


def build_dir(root: Path) -> Path:
    """Generated output: binaries, results, patches, docs (never committed)."""
    chosen = os.environ.get(BUILD_DIR_ENV)
    if chosen:
        return Path(chosen)
    if root == INSTALLED_DATA:
        return state_dir()
    return root / "build"


def results_dir(root: Path) -> Path:
    return build_dir(root) / "results"


def cache_dir() -> Path:
    """Downloads and kernel builds: ``${XDG_CACHE_HOME:-~/.cache}/rsslab``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rsslab"


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
