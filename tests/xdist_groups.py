"""How ``make test`` spreads the suite over xdist workers (``-n``,
``--dist loadgroup``): every guest test goes to one worker, which boots one
guest per core at a time as the matrix does and builds the kernels, so
guests never crowd each other or a kernel build; each module of the slow
tier goes whole to a worker, so its module and session fixtures (the
wheel, the site) are made once; a module that names its own group
(``XDIST_GROUP``, ``test_lifecycle``) goes whole to one, its guest tests
excepted; the unit tier spreads over them all.  ``make check`` runs with
the same groups.

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
        group = _group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def _group(item: pytest.Item) -> str | None:
    """The guest tier; else the group its module names (``XDIST_GROUP``:
    ``test_lifecycle``'s tests kill observers and look for what a killed
    one left, so they run one at a time); else a slow test's module."""
    if item.get_closest_marker("guest"):
        return GUESTS
    module = item.module if isinstance(item, pytest.Function) else None
    named = getattr(module, "XDIST_GROUP", None)
    if isinstance(named, str):
        return named
    if item.get_closest_marker("slow"):
        return module.__name__ if module is not None else item.nodeid
    return None
