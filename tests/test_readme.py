"""The front door: README.md is short, points at the site and HACKING.md,
and pastes no measurement (the site generates every number from results)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BASEURL = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["rsslab"]["docs"]["baseurl"]


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) <= 150


def test_the_readme_links_the_site_hacking_and_the_recipe() -> None:
    assert BASEURL.startswith("https://") and BASEURL in README
    for target in ("HACKING.md", "docs/recipe/exact_peak.c", "docs/advice.rst",
                   f"{BASEURL}advice.html"):
        assert f"({target})" in README, target
    for path in re.findall(r"\]\((?!https?:)([^)#]+)\)", README):
        assert (ROOT / path).exists(), path
    pages = re.findall(re.escape(BASEURL) + r"([a-z]+)\.html", README)
    for page in pages:
        assert (ROOT / "docs" / f"{page}.rst").is_file() or page in ("metrics", "plots",
                                                                      "patches"), page


def test_the_readme_gives_a_judges_recipe() -> None:
    for words in ("rsslab measure", "rsslab doctor", "rsslab.Measurer.here()", "TimedOut",
                  "kmem:rss_stat", "make repro", "make test", "make check"):
        assert words in README, words


def test_the_readme_pastes_no_measurement() -> None:
    """No table, no transcript, no size or time: those are on the site."""
    assert not [ln for ln in README.splitlines() if ln.startswith("|")]
    assert "$ rsslab" not in README
    assert not re.findall(r"\b\d[\d.,]* ?(?:KiB|MiB|ms)\b", README)
