"""Where rsslab finds its sources and writes its output, in a checkout and
installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsslab import paths
from rsslab.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_reads_its_own_sources_and_builds_into_build() -> None:
    assert paths.checkout() == ROOT
    assert paths.project_root() == ROOT


def test_build_dir_in_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.BUILD_DIR_ENV, raising=False)
    assert paths.build_dir(ROOT) == ROOT / "build"
    assert paths.results_dir(ROOT) == ROOT / "build" / "results"


def test_build_dir_installed_defaults_to_the_state_dir(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.delenv(paths.BUILD_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.build_dir(paths.INSTALLED_DATA) == tmp_path / "state" / "rsslab"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.build_dir(paths.INSTALLED_DATA) == tmp_path / "home/.local/state/rsslab"


def test_build_dir_chosen_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(paths.BUILD_DIR_ENV, str(tmp_path / "out"))
    assert paths.build_dir(ROOT) == tmp_path / "out"
    assert paths.build_dir(paths.INSTALLED_DATA) == tmp_path / "out"


def test_no_sources_anywhere_is_one_clear_error(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "rsslab")
    monkeypatch.setattr(paths, "INSTALLED_DATA", tmp_path / "site-packages" / "rsslab" / "_data")
    with pytest.raises(UserError) as e:
        paths.project_root()
    assert "reinstall rsslab" in str(e.value)


def test_shown_is_relative_below_the_working_directory(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert paths.shown(tmp_path / "build" / "results") == "build/results"
    assert paths.shown(Path("/usr/lib")) == "/usr/lib"
