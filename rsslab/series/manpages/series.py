"""Turn patched pages into a ``git format-patch`` series, and prove it applies.

Commits are made in a temporary detached worktree of the base repository
(the cached Debian import, or the user's clone).  The series gets a cover
letter, threading, ``base-commit:`` and the recipients the man-pages
CONTRIBUTING files ask for.  The check applies the series with ``git am``
on the base, in another temporary worktree, and compares trees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.repo.git import Ident
from rsslab.repo.worktree import temp_worktree
from rsslab.series import gitseries
from rsslab.series.manpages.base import Base


@dataclass(frozen=True, slots=True)
class Commit:
    """One patch: its full message and the pages as they are after it."""

    message: str
    pages: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Mail:
    to: tuple[str, ...]
    cc: tuple[str, ...]
    version: int = 1


@dataclass(frozen=True, slots=True)
class Built:
    files: tuple[Path, ...]
    tip_tree: str

    @property
    def patches(self) -> tuple[Path, ...]:
        return tuple(f for f in self.files if not f.name.startswith("0000-"))

    @property
    def cover_letter(self) -> Path | None:
        return next((f for f in self.files if f.name.startswith("0000-")), None)


def _commit(tree: Path, c: Commit, ident: Ident, date: str) -> None:
    for page, text in c.pages.items():
        path = tree / page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    gitseries.commit(tree, list(c.pages), c.message, ident, date)


def build(base: Base, commits: Sequence[Commit], ident: Ident, date: str, mail: Mail,
          out_dir: Path) -> Built:
    """Commit each patch on the base and write the series to ``out_dir``."""
    with temp_worktree(base.repo, base.commit) as tree:
        for c in commits:
            _commit(tree, c, ident, date)
        files = gitseries.format_patch(tree, base.commit, out_dir, "PATCH", ident, date,
                                       mail.to, mail.cc, mail.version)
        tip_tree = gitseries.tree_of_head(tree)
    return Built(tuple(files), tip_tree)


def am_check(base: Base, built: Built) -> str:
    """Apply the series with ``git am`` on the base; '' when the tree matches."""
    return gitseries.am_check(base.repo, base.commit, built.patches, built.tip_tree)
