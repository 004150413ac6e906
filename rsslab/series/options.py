"""What both parts of ``rsslab patches`` read from the command line alike.

``rsslab.cli`` adds :func:`add_arguments` to the ``patches`` command once;
each part's ``<part>_cli`` module adds its own options and turns them into
its ``Options`` with the helpers here.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("both series")
    g.add_argument("--from", dest="sign_as", default="", metavar="'NAME <EMAIL>'",
                   help="author and Signed-off-by (default: git config user.name/email)")


def commit_date() -> str:
    """The commits' date in git's format: ``SOURCE_DATE_EPOCH`` if set (a
    reproducible series), else '' (the time of the commit)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    return f"@{epoch} +0000" if epoch.isdigit() else ""


def user_tree(path: Path | None) -> Path | None:
    """A ``--*-tree`` argument as an absolute path (checked when it is used)."""
    return path.resolve() if path is not None else None
