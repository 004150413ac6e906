"""How ``make test`` spreads the suite over xdist workers (``-n``,
``--dist loadgroup``): every guest test goes to one worker, which boots one
guest per core at a time as the matrix does and builds the kernels, so
guests never crowd each other or a kernel build; each module of the slow
tier goes whole to a worker, so its module and session fixtures (the
wheel, the site) are made once; the unit tier spreads over them all.

xdist groups a test by the ``@group`` it appends to the test's node id;
pytest 9.2 computes node ids afresh and drops it, and every test is then
spread alone (pytest-dev/pytest-xdist#1386): pyproject.toml keeps pytest
below 9.2 until xdist carries the groups another way, and
``tests/test_xdist_groups.py`` fails if they are lost.
"""

from __future__ import annotations

import pytest

GUESTS = "guests"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("guest"):
            item.add_marker(pytest.mark.xdist_group(GUESTS))
        elif item.get_closest_marker("slow"):
            module = item.module.__name__ if isinstance(item, pytest.Function) else item.nodeid
            item.add_marker(pytest.mark.xdist_group(module))
