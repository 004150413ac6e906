"""git for the man-pages series: one runner, and b4's temporary worktree.

Every git command goes through :func:`git` (gitpython's ``Git.execute``):
an argv list, the repository as the working directory, a timeout, and the
command logged with ``shlex.join``.  A user's tree is only ever touched
through :func:`temp_worktree`: ``git worktree add --detach`` into a
temporary directory, removed in ``finally``, so the user's branches, index,
working files and stashes stay as they were.
"""

from __future__ import annotations

import logging
import re
import shlex
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git as gitpython

from rsslab.errors import ToolMissing, UserError

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 300.0


class GitFailed(UserError):
    """A git command failed; the message quotes it and its last stderr lines."""


@dataclass(frozen=True, slots=True)
class Ident:
    """Who signs the patches: ``Name <email>``."""

    name: str
    email: str

    def show(self) -> str:
        return f"{self.name} <{self.email}>"


_IDENT = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$")


def parse_ident(text: str) -> Ident:
    m = _IDENT.match(text)
    if not m:
        raise UserError(f"'{text}' is not an identity like 'Jane Doe <jane@example.org>'")
    return Ident(m[1], m[2])


def git(cwd: Path, args: Sequence[str], env: Mapping[str, str] | None = None,
        timeout: float = GIT_TIMEOUT_S, check: bool = True) -> str:
    """Run ``git ARGS`` in ``cwd``; return stdout (stripped of its last newline)."""
    argv = ["git", *args]
    log.info("(cd %s && %s)", cwd, shlex.join(argv))
    runner = gitpython.Git(str(cwd))
    try:
        status, out, err = runner.execute(argv, with_extended_output=True, with_exceptions=False,
                                          kill_after_timeout=timeout, env=dict(env or {}))
    except gitpython.GitCommandNotFound:
        raise ToolMissing("git is not installed; run `make patches` (it installs git) "
                          "or apt-get install git") from None
    if check and status != 0:
        tail = " | ".join(str(err).strip().splitlines()[-3:]) or f"exit status {status}"
        raise GitFailed(f"`{shlex.join(argv)}` in {cwd} failed: {tail}")
    return str(out)


def ok(cwd: Path, args: Sequence[str]) -> bool:
    """Whether ``git ARGS`` succeeds (for questions such as rev-parse --verify)."""
    argv = ["git", *args]
    log.info("(cd %s && %s)", cwd, shlex.join(argv))
    status, _out, _err = gitpython.Git(str(cwd)).execute(
        argv, with_extended_output=True, with_exceptions=False, kill_after_timeout=GIT_TIMEOUT_S)
    return status == 0


def identity(repo: Path, override: str = "") -> Ident:
    """``--from`` if given, else the repository's (or global) user.name/email."""
    if override:
        return parse_ident(override)
    name = git(repo, ["config", "user.name"], check=False).strip()
    email = git(repo, ["config", "user.email"], check=False).strip()
    if not name or not email:
        raise UserError("no git identity to sign the patches with; run "
                        "git config --global user.name 'Jane Doe' and "
                        "git config --global user.email jane@example.org, or pass --from")
    return Ident(name, email)


def commit_env(ident: Ident, date: str) -> dict[str, str]:
    """Author and committer for ``git commit``, at a fixed date if given."""
    env = {"GIT_AUTHOR_NAME": ident.name, "GIT_AUTHOR_EMAIL": ident.email,
           "GIT_COMMITTER_NAME": ident.name, "GIT_COMMITTER_EMAIL": ident.email}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    return env


@contextmanager
def temp_worktree(repo: Path, commitish: str, checkout: bool = True) -> Iterator[Path]:
    """A detached worktree of ``repo`` at ``commitish``, removed afterwards.

    Only ``.git/worktrees/<name>`` is written in the user's repository while
    it exists; branches, index, working files and stashes are not touched.
    """
    with tempfile.TemporaryDirectory(prefix="rsslab-man-") as tmp:
        path = Path(tmp) / "tree"
        args = ["worktree", "add", "--detach", "--quiet"]
        if not checkout:
            args.append("--no-checkout")
        git(repo, [*args, str(path), commitish])
        try:
            yield path
        finally:
            git(repo, ["worktree", "remove", "--force", str(path)], check=False)
