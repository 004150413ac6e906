"""A user's repository as the series must leave it: byte for byte.

Both parts of ``rsslab patches`` (and the git layer under them) are tested
against the same snapshot: refs, HEAD, index, stash and its reflog,
config, what ``.git`` holds, worktrees, status, and every working file with
its mode.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def sh(repo: Path, *args: str) -> str:
    """``git ARGS`` that writes nothing in ``repo`` (no optional index refresh)."""
    return subprocess.run(["git", "--no-optional-locks", *args], cwd=repo, capture_output=True,
                          text=True, check=True, timeout=120).stdout


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "(none)"


def snapshot(repo: Path) -> dict[str, object]:
    """Everything of ``repo`` (a non-bare clone) that must not change."""
    gitdir = repo / ".git"
    files = {str(p.relative_to(repo)): (_digest(p), oct(p.stat().st_mode))
             for p in sorted(repo.rglob("*"))
             if ".git" not in p.relative_to(repo).parts and p.is_file()}
    return {
        "refs": sh(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "HEAD": (gitdir / "HEAD").read_bytes(),
        "index": _digest(gitdir / "index"),
        "stash": sh(repo, "stash", "list", "--format=%H %gs"),
        "stash-log": _digest(gitdir / "logs" / "refs" / "stash"),
        "config": (gitdir / "config").read_bytes(),
        "git-entries": sorted(p.name for p in gitdir.iterdir()),
        "worktrees": sh(repo, "worktree", "list", "--porcelain"),
        "status": sh(repo, "status", "--porcelain=v2", "--branch", "--ignored"),
        "files": files,
    }
