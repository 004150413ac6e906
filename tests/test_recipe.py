"""The judges' recipe (docs/recipe/exact_peak.c), built and run as a
program: it gives the exact peak a freed peak included, and the tree's."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from rsslab.run.build import find_compiler

ROOT = Path(__file__).resolve().parents[1]
TRACEFS = Path("/sys/kernel/tracing")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0 or not (TRACEFS / "events" / "kmem" / "rss_stat").exists():
        pytest.skip("needs root and tracefs (make check and make test mount it)")
    if tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2]) < (6, 2):
        pytest.skip("the event sums the per-CPU counters from Linux 6.2")
    out = tmp_path_factory.mktemp("recipe") / "exact_peak"
    subprocess.run([find_compiler(), "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out),
                    str(ROOT / "docs" / "recipe" / "exact_peak.c")], check=True)
    return out


def _run(recipe: Path, argv: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    proc = subprocess.run([str(recipe), *argv], capture_output=True, text=True, timeout=120,
                          check=True)
    report, result = proc.stdout.splitlines()
    words = result.split()
    return json.loads(report), {words[0]: int(words[1]), words[2]: int(words[3])}


def test_the_recipe_gives_a_freed_peak_exactly(recipe: Path, bin_dir: Path) -> None:
    report, got = _run(recipe, [str(bin_dir / "peak_then_free"), "5000"])
    assert got["peak_kib"] == report["peak_exact_kib"] > report["after_free_kib"] + 19000


def test_the_recipe_gives_the_tree(recipe: Path, bin_dir: Path) -> None:
    report, got = _run(recipe, [str(bin_dir / "tree_hold"), "5120", "12800"])
    assert got["tree_peak_kib"] >= report["tree_exact_kib"] >= 70 * 1024
    assert not list(TRACEFS.glob("instances/exact-peak"))
