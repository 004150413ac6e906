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
import tempfile
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


# The parts of a build directory the commands write into: measure builds
# binaries only; the others also keep results and their verdicts.
BINARIES = (".", "bin")
EVERY_PART = (*BINARIES, "results", "results/verdicts")


def check_writable(build: Path, parts: tuple[str, ...] = EVERY_PART) -> None:
    """Make ``build`` if absent and write a file in each of its ``parts``
    that exists, so that a read-only or foreign build directory is refused
    before anything is compiled or run (a probe, not a permission check:
    root ignores modes, not a read-only mount)."""
    d = build
    try:
        build.mkdir(parents=True, exist_ok=True)
        for d in (build / part for part in parts):
            if d.is_dir():
                fd, probe = tempfile.mkstemp(dir=d, prefix=".rsslab-probe-")
                os.close(fd)
                os.unlink(probe)
    except OSError as e:
        where = "" if d == build else f" ({d})"
        raise UserError(f"cannot write in the build directory {build}: {e.strerror}{where}; "
                        "choose one rsslab can write with --build-dir DIR "
                        f"(${BUILD_DIR_ENV}), or make this one writable") from None


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
