"""b4's temporary worktree: where everything that writes happens.

``git worktree add --detach`` into a temporary directory, removed in
``finally`` whatever happens inside.  While it exists, only
``.git/worktrees/<name>`` is written in the repository; the user's
branches, index, working files and stashes are not touched, and none of
the repository's hooks run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rsslab.repo.git import QUIET, git

log = logging.getLogger(__name__)

# Checking out a whole kernel tree takes minutes; a sparse one, seconds.
CHECKOUT_TIMEOUT_S = 900.0


def _sparse_checkout(wt: Path, paths: Sequence[str]) -> None:
    """The full index, but on disk only the top-level files and ``paths``
    (those of them the commit has).  No sparse-checkout config: that would
    change the repository's shared config."""
    git(wt, [*QUIET, "read-tree", "HEAD"], timeout=CHECKOUT_TIMEOUT_S)
    top_files = [ln.split("\t", 1)[1] for ln in git(wt, ["ls-tree", "HEAD"]).splitlines()
                 if ln.split()[1] == "blob"]
    present = git(wt, ["ls-tree", "-r", "--name-only", "HEAD", "--", *paths]).splitlines()
    git(wt, [*QUIET, "checkout", "HEAD", "--", *top_files, *present],
        timeout=CHECKOUT_TIMEOUT_S)


@contextmanager
def temp_worktree(repo: Path, commitish: str, sparse: Sequence[str] | None = None,
                  name: str = "tree") -> Iterator[Path]:
    """A detached worktree of ``repo`` at ``commitish``, removed afterwards
    (its admin entry too).  With ``sparse`` (paths), only the top-level
    files and those paths are checked out."""
    with tempfile.TemporaryDirectory(prefix="rsslab-wt-") as tmp:
        wt = Path(tmp) / name
        add = [*QUIET, "worktree", "add", "--detach", "--quiet"]
        if sparse is not None:
            add.append("--no-checkout")
        git(repo, [*add, str(wt), commitish], timeout=CHECKOUT_TIMEOUT_S)
        try:
            if sparse is not None:
                _sparse_checkout(wt, sparse)
            yield wt
        finally:
            git(repo, ["worktree", "remove", "--force", str(wt)], check=False)
            if wt.exists():
                log.warning("git worktree remove left %s; run `git worktree prune` in %s",
                            wt, repo)
