"""Fixture kernels: defined in kernelpatches/, never sent, built once.

``6.12-nosum`` is Debian's 6.12 source with 82241a83cd15 reverted in
task_mem() and task_statm(): the fixture kernel of the status-approx regime.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from rsslab import kernels, paths
from rsslab.claims import regimes
from rsslab.debian import apt, sources
from rsslab.errors import UserError
from rsslab.kernels import build as kbuild
from rsslab.kernels import debian
from rsslab.kernels import fixtures as fixture
from rsslab.kernels.edits import EditError, apply_edits
from rsslab.kernels.specs import load_fixtures, load_series
from rsslab.run import matrix

ROOT = Path(__file__).resolve().parents[1]
NOSUM = next(f for f in load_fixtures(ROOT) if f.name == "6.12-nosum")


def test_the_fixture_is_marked_and_never_in_a_series() -> None:
    assert NOSUM.patches and all(p.fixture for p in NOSUM.patches)
    assert (NOSUM.regimes, NOSUM.without) == (("status-approx",), ("status-sum",))
    sent = {p.name for s in load_series(ROOT) for p in s.patches}
    assert not sent & {p.name for p in NOSUM.patches}


def test_series_and_fixtures_do_not_mix(tmp_path: Path) -> None:
    kp = tmp_path / "kernelpatches"
    shutil.copytree(ROOT / "kernelpatches", kp)
    shutil.copytree(ROOT / "claims", tmp_path / "claims")
    text = (kp / "series.toml").read_text()
    (kp / "series.toml").write_text(text.replace('patches = ["exit-stop-synced"]',
                                                 'patches = ["revert-status-sum"]'))
    with pytest.raises(UserError) as e:
        load_series(tmp_path)
    assert "uses revert-status-sum: a test fixture, never sent" in str(e.value)
    text = (kp / "fixtures.toml").read_text()
    (kp / "fixtures.toml").write_text(text.replace('patches = ["revert-status-sum"]',
                                                   'patches = ["exit-stop-synced"]'))
    with pytest.raises(UserError) as e:
        load_fixtures(tmp_path)
    assert "kernel 6.12-nosum uses exit-stop-synced: not marked fixture = true" in str(e.value)


def _cached_tree(package: str) -> sources.Tree:
    """Debian's source import (downloaded and imported on first use)."""
    return sources.debian_tree(paths.cache_dir(), package, NOSUM.suites)


@pytest.mark.slow
def test_the_revert_changes_exactly_task_mem_and_task_statm() -> None:
    tree = _cached_tree("linux-source-6.12")
    with sources.kernel_worktree(tree, sparse=("fs/proc", "include/linux/mm.h")) as wt:
        before = (wt / "fs/proc/task_mmu.c").read_text()
        touched = apply_edits(wt, NOSUM.patches[0].edits, NOSUM.patches[0].requires)
        after = (wt / "fs/proc/task_mmu.c").read_text()
    assert touched == ["fs/proc/task_mmu.c"]
    # Seven calls summed the counters, four in task_mem() and three in task_statm().
    assert before.count("get_mm_counter_sum(") == 7 and "get_mm_counter_sum(" not in after
    assert after == before.replace("get_mm_counter_sum(", "get_mm_counter(")


@pytest.mark.slow
def test_the_revert_refuses_a_tree_without_the_commit() -> None:
    tree = _cached_tree("linux-source-6.1")
    with sources.kernel_worktree(tree, sparse=("fs/proc", "include/linux/mm.h")) as wt:
        with pytest.raises(EditError) as e:
            apply_edits(wt, NOSUM.patches[0].edits, NOSUM.patches[0].requires)
    assert "no get_mm_counter_sum()" in str(e.value)


@pytest.mark.slow
def test_a_warm_cache_builds_and_fetches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the fixture built once (here, if the cache lacks it), resolving
    it again runs neither apt nor make."""
    cache = paths.cache_dir()
    kernels.resolve("6.12-nosum", cache)
    pin = debian.read_pin(cache, NOSUM.version_of)
    assert pin is not None and (cache / "trees" / f"{NOSUM.debian}.json").is_file()

    def forbidden(*_a: object, **_k: object) -> None:
        raise AssertionError("a warm cache ran apt or make")

    monkeypatch.setattr(apt.PrivateApt, "_call", forbidden)
    monkeypatch.setattr(apt.PrivateApt, "_fetch", forbidden)
    monkeypatch.setattr(kbuild, "_make", forbidden)
    k = kernels.resolve("6.12-nosum", cache)
    assert k.name == "6.12-nosum" and k.image is not None
    assert k.upstream == pin.upstream  # the matrix kernel's version
    assert (k.extra_regimes, k.without_regimes) == (("status-approx",), ("status-sum",))
    assert re.search(r"Debian linux-source-6\.12 .* \+ revert-status-sum$", k.built_from)
    regs = regimes.load(ROOT / "claims")
    assert matrix.candidates(k, regs) == {"percpu-rss", "status-approx", "rss-stat-sum"}
    assert fixture.names(ROOT) == ("6.12-nosum",)
