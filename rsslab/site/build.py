"""Build the site: sources from ``docs/`` plus generated pages, then Sphinx.

``docs/`` holds the hand-written pages and ``conf.py``; everything that
depends on measurements is generated into a copy of it under
``build/docs/src`` on every build (metrics, plots, patches, the status
lists, the evidence the roles check citations against), and
``sphinx-build -W`` turns it into static HTML in ``build/docs/html``.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab import paths
from rsslab.errors import ToolMissing, UserError
from rsslab.site import evidence, measured, pages, patchpages, plots, sweeps

log = logging.getLogger(__name__)

SPHINX_TIMEOUT_S = 600


class DocsError(UserError):
    """The site could not be built (Sphinx warnings are errors)."""


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path
    results: Path
    patches: Path
    src: Path
    html: Path

    @classmethod
    def of(cls, root: Path) -> Layout:
        build = paths.build_dir(root)
        return cls(root, build / "results", build / "patches", build / "docs" / "src",
                   build / "docs" / "html")


@dataclass(frozen=True, slots=True)
class Built:
    html: Path
    kernels: tuple[str, ...]
    figures: tuple[str, ...]
    missing: tuple[str, ...]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _seed_include(root: Path) -> str:
    if (root / "repro" / "seed.c").is_file():
        return (".. literalinclude:: /_repro/seed.c\n   :language: c\n"
                "   :caption: repro/seed.c\n\n")
    return (".. note::\n\n   ``repro/seed.c`` is not in this checkout yet, so the "
            "judge's program cannot be shown or measured here.\n\n")


def generate(lay: Layout, notes: Sequence[str]) -> tuple[evidence.Evidence, list[plots.Figure],
                                                        list[str]]:
    """Fresh sources in ``lay.src``: docs/ plus every generated page."""
    if lay.src.exists():
        shutil.rmtree(lay.src)
    shutil.copytree(lay.root / "docs", lay.src)
    ev = evidence.load(lay.root, lay.results)
    figs, missing = plots.draw_all(ev, lay.src / "plots", sweeps.SWEEP_MAX)
    have = sorted(p.stem for p in (lay.root / "repro").glob("*.c"))
    (lay.src / "_repro").mkdir()
    for stem in have:
        shutil.copy2(lay.root / "repro" / f"{stem}.c", lay.src / "_repro")
    gen = lay.src / "_generated"
    _write(lay.src / "metrics.rst", pages.metrics_page(ev))
    _write(lay.src / "plots.rst", pages.plots_page(figs, missing))
    _write(lay.src / "patches.rst",
           patchpages.patches_page(lay.patches, lay.src / "_patches", lay.root))
    _write(gen / "status.rst", pages.status_include(ev, notes))
    _write(gen / "overview.rst", pages.overview_table(ev))
    _write(gen / "scenarios.rst", pages.scenarios_table(have))
    _write(gen / "seed.rst", _seed_include(lay.root))
    _write(gen / "tracecost.rst", pages.tracecost_include(
        paths.build_dir(lay.root) / "bench" / "tracecost.json"))
    bench = paths.build_dir(lay.root) / "bench"
    _write(gen / "seed_kernels.rst", measured.seed_table(ev))
    _write(gen / "wide.rst", measured.wide_table(ev))
    _write(gen / "overhead.rst", measured.overhead_include(bench / "overhead.json"))
    _write(gen / "doctor_time.rst", measured.doctor_include(bench / "doctor.json"))
    _write(gen / "matrix_bench.rst", measured.matrix_include(bench / "matrix.json"))
    _write(gen / "examples.rst", measured.examples_include(bench / "examples.json"))
    _write(gen / "turnaround.rst", measured.turnaround_include(bench / "turnaround.json"))
    _write(lay.src / "_data" / "evidence.json", json.dumps(evidence.to_json(ev)) + "\n")
    return ev, figs, missing


def sphinx_argv(src: Path, out: Path) -> list[str]:
    exe = Path(sys.executable).with_name("sphinx-build")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "sphinx"]
    return [*head, "-W", "--keep-going", "-E", "-q", "-b", "html", str(src), str(out)]


def run_sphinx(src: Path, out: Path) -> None:
    argv = sphinx_argv(src, out)
    log.info("%s", shlex.join(argv))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=SPHINX_TIMEOUT_S,
                              cwd=src)
    except FileNotFoundError:
        raise ToolMissing("sphinx-build is not installed; run `make docs` to set up .venv") from None
    except subprocess.TimeoutExpired:
        raise DocsError(f"sphinx-build ran over {SPHINX_TIMEOUT_S} s; see {src}") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise DocsError("sphinx-build -W failed: " + " | ".join(lines[-6:]))


def build(lay: Layout, notes: Sequence[str] = ()) -> Built:
    """Generate, build with ``-W`` and make the output publishable as is."""
    ev, figs, missing = generate(lay, notes)
    if lay.html.exists():
        shutil.rmtree(lay.html)
    run_sphinx(lay.src, lay.html)
    (lay.html / ".nojekyll").write_text("")
    return Built(lay.html, tuple(k.label for k in ev.kernels), tuple(f.file for f in figs),
                 tuple([*pages.missing_kernels(ev), *missing]))
