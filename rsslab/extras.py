"""The optional parts of rsslab and what each needs installed.

``pip install rsslab`` is what a judge needs: ``rsslab measure``,
``rsslab doctor``, ``rsslab run`` on this machine and in Debian's kernels,
and the claims; it needs rich alone.  The rest comes with an extra
(``[project.optional-dependencies]`` in pyproject.toml, which a test
holds to ``EXTRAS``):

- ``site``: ``rsslab docs`` (Sphinx, matplotlib, and GitPython for the
  commit the site names and ``--publish``);
- ``series``: ``rsslab patches`` and the kernels rsslab builds from
  source (``6.12-nosum``, the series' kernels), through GitPython;
- ``all``: both, as ``make`` installs them.

A command that lacks its extra stops with one line that names it
(``pip install 'rsslab[site]'``), exit 2.
"""

from __future__ import annotations

import importlib.util

from rsslab.errors import UserError

# extra -> (module, distribution) it needs, beyond rsslab's own dependencies.
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "site": (("sphinx", "sphinx"), ("matplotlib", "matplotlib"), ("git", "gitpython")),
    "series": (("git", "gitpython"),),
}
# The extra that brings in every other one.
ALL = "all"


class MissingExtra(UserError):
    """A command needs packages of an extra this installation lacks."""


def missing_line(extra: str, what: str, missing: list[str] | tuple[str, ...]) -> str:
    return (f"{what} needs {', '.join(missing)}, which this installation lacks: "
            f"pip install 'rsslab[{extra}]'")


def importable(module: str) -> bool:
    """Whether ``module`` could be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(extra: str, what: str) -> None:
    """Refuse ``what`` (a command, in the user's words) in one line unless
    every module of ``extra`` can be imported; nothing is imported here."""
    missing = [dist for module, dist in EXTRAS[extra] if not importable(module)]
    if missing:
        raise MissingExtra(missing_line(extra, what, missing))
