"""The 6.1.y series, generated as a draft on a frozen fixture tree
(tests/kfixture.py), matches its golden: the cover letter and the patch,
headers, recipients and hunks.  Offline, in the unit tier.

After a deliberate change to the series, ``RSSLAB_UPDATE_GOLDEN=1`` writes
the golden again; review its diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import kfixture
import pytest

from rsslab.kernels import specs
from rsslab.repo.git import Ident
from rsslab.series.kernel import series

AUTHOR = Ident("Rsslab Tester", "tester@example.org")
DATE = "2026-01-01T00:00:00Z"
SERIES = "linux-6.1.y"


def _strip_volatile(text: str) -> str:
    """Message-Id and threading headers hold the time of generation, the
    signature git's version; nothing else depends on where it runs."""
    text = re.sub(r"^(Message-Id|In-Reply-To|References): .*\n", "", text, flags=re.M)
    return text.rsplit("\n-- \n", 1)[0] + "\n"


@pytest.fixture(scope="module")
def output(root: Path, tmp_path_factory: pytest.TempPathFactory) -> series.SeriesOutput:
    tmp = tmp_path_factory.mktemp("golden")
    tree = kfixture.load(SERIES, tmp)
    spec = {s.name: s for s in specs.load_series(root)}[SERIES]
    return series.generate(spec, tree, tmp / "out", {}, AUTHOR, DATE, draft=True)


@pytest.mark.parametrize("index", [0, 1], ids=["cover", "patch"])
def test_series_matches_golden(output: series.SeriesOutput, index: int) -> None:
    got = _strip_volatile(output.files[index].read_text())
    golden = kfixture.DATA / f"{SERIES}-{index:04d}.golden"
    if os.environ.get("RSSLAB_UPDATE_GOLDEN"):
        golden.write_text(got)
    assert got == golden.read_text()


def test_fixture_series_is_checkpatch_clean_and_applies(output: series.SeriesOutput) -> None:
    assert output.check.clean, output.check.text
    assert output.applies
