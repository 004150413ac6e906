"""make test's workers: the guest tier runs on one xdist worker, whatever
pytest and xdist do to node ids (tests/xdist_groups.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SUITE = """
import time
import pytest

@pytest.mark.guest
@pytest.mark.parametrize("i", range(6))
def test_boots(i):
    time.sleep(0.05)

@pytest.mark.slow
@pytest.mark.parametrize("i", range(4))
def test_builds(i):
    time.sleep(0.05)

@pytest.mark.parametrize("i", range(8))
def test_unit(i):
    time.sleep(0.05)
"""


GROUPED = """
import time
import pytest

XDIST_GROUP = "mine"

@pytest.mark.parametrize("i", range(6))
def test_mine(i):
    time.sleep(0.05)

@pytest.mark.guest
def test_boots():
    time.sleep(0.05)
"""


def test_the_guest_tier_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from xdist_groups import pytest_collection_modifyitems"
                                          "  # noqa: F401\n")
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    guest\n    slow\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v",
                           "-n", "3", "--dist", "loadgroup", str(tmp_path)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ran = re.findall(r"\[(gw\d+)\].* PASSED \S*::test_(\w+)", proc.stdout)
    workers: dict[str, set[str]] = {}
    for worker, name in ran:
        workers.setdefault(name, set()).add(worker)
    assert len(ran) == 25, proc.stdout[-2000:]
    assert len(workers["boots"]) == 1, workers  # both modules' guest tests
    assert len(workers["builds"]) == 1, workers
    assert len(workers["mine"]) == 1, workers
    assert len(workers["unit"]) > 1, workers
