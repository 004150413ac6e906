"""The git layer of both series: one runner, and who signs the patches.

Every git command goes through :func:`git` (GitPython's ``Git.execute``),
every other tool run on a tree (``perl scripts/...``, ``tar``,
``dpkg-deb``) through :func:`run`: an argv list, the tree as the working
directory, a timeout, the command logged with ``shlex.join``, and a
failure raised as one line quoting the command and the last lines of its
stderr.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab import extras
from rsslab.errors import ToolMissing, UserError

# GitPython looks for git when it is imported and raises ImportError if it
# is missing; rsslab says so itself, in one line, when a command needs git.
# It is imported on the first git command, not with this module: the judges'
# commands never load it, and it is an extra (``rsslab[series]``).
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

log = logging.getLogger(__name__)

TIMEOUT_S = 300.0
# For commands run in a worktree of somebody else's repository: none of its
# hooks, no signing prompt, no automatic gc.
QUIET = ("-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", "-c", "gc.auto=0")


class GitFailed(UserError):
    """A git command (or a tool run on a tree) failed; the message quotes
    it and its last stderr lines."""


def _failed(argv: Sequence[str], cwd: Path, status: int, stderr: str) -> GitFailed:
    tail = " | ".join(stderr.strip().splitlines()[-3:]) or f"exit status {status}"
    return GitFailed(f"`{shlex.join(argv)}` in {cwd} failed: {tail}")


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None,
        timeout: float = TIMEOUT_S, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run the tool ``argv`` in ``cwd`` with ``env`` added to the
    environment; a status outside ``ok`` raises :class:`GitFailed`."""
    log.info("(cd %s && %s)", cwd, shlex.join(argv))
    try:
        proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True,
                              encoding="utf-8", errors="surrogateescape", timeout=timeout,
                              env={**os.environ, **env} if env else None,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        if not cwd.is_dir():
            raise GitFailed(f"`{shlex.join(argv)}`: {cwd} is not a directory") from None
        raise ToolMissing(f"{argv[0]} is not installed; run `make patches` (it installs the "
                          "tools the series use) or apt-get install it") from None
    except subprocess.TimeoutExpired:
        raise GitFailed(f"`{shlex.join(argv)}` in {cwd} ran over {timeout:g} s") from None
    if proc.returncode not in ok:
        raise _failed(argv, cwd, proc.returncode, proc.stderr)
    return proc


def _execute(cwd: Path, args: Sequence[str], env: Mapping[str, str] | None,
             timeout: float) -> tuple[int, str, str]:
    """``git ARGS`` in ``cwd`` through GitPython: status, stdout, stderr."""
    argv = ["git", *args]
    log.info("(cd %s && %s)", cwd, shlex.join(argv))
    if not cwd.is_dir():  # GitPython would fall back to the current directory
        raise GitFailed(f"`{shlex.join(argv)}`: {cwd} is not a directory")
    try:
        import git as gitpython
    except ImportError:
        raise extras.MissingExtra(extras.missing_line(
            "series", "building a kernel from source or a patch series", ["gitpython"])) from None
    try:
        status, out, err = gitpython.Git(cwd).execute(
            argv, env=dict(env) if env else None, kill_after_timeout=timeout,
            with_extended_output=True, with_exceptions=False, strip_newline_in_stdout=False)
    except gitpython.exc.GitCommandNotFound:
        raise ToolMissing("git is not installed; run `make patches` (it installs git, "
                          "perl and dpkg) or apt-get install git") from None
    return status, str(out), err


def git(cwd: Path, args: Sequence[str], env: Mapping[str, str] | None = None,
        timeout: float = TIMEOUT_S, check: bool = True) -> str:
    """``git ARGS`` in ``cwd``; its stdout without the last newline."""
    status, out, err = _execute(cwd, args, env, timeout)
    if check and status != 0:
        raise _failed(["git", *args], cwd, status, err)
    return out[:-1] if out.endswith("\n") else out


def ok(cwd: Path, args: Sequence[str]) -> bool:
    """Whether ``git ARGS`` succeeds (for questions such as rev-parse --verify)."""
    return _execute(cwd, args, None, TIMEOUT_S)[0] == 0


@dataclass(frozen=True, slots=True)
class Ident:
    """Who signs the patches: ``Name <email>``."""

    name: str
    email: str

    def show(self) -> str:
        return f"{self.name} <{self.email}>"


_IDENT = re.compile(r"^\s*([^<>]+?)\s*<([^<>@\s]+@[^<>\s]+)>\s*$")


def parse_ident(text: str) -> Ident:
    m = _IDENT.match(text)
    if not m:
        raise UserError(f"--from '{text}' is not an identity like 'Jane Doe <jane@example.org>'")
    return Ident(m[1], m[2])


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


def commit_env(ident: Ident, date: str = "") -> dict[str, str]:
    """Author and committer for ``git commit``, at a fixed date if given
    (git's date formats); without one, git takes the time of the commit."""
    env = {"GIT_AUTHOR_NAME": ident.name, "GIT_AUTHOR_EMAIL": ident.email,
           "GIT_COMMITTER_NAME": ident.name, "GIT_COMMITTER_EMAIL": ident.email}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    return env


def user_commit(path: Path, ref: str, tree_option: str, base_option: str, what: str) -> str:
    """The full id of commit ``ref`` in the user's repository at ``path``
    (``--x-tree``/``--x-base`` name the options; ``what`` the kind of tree)."""
    if not path.is_dir():
        raise UserError(f"{tree_option} {path} is not a directory")
    if not ok(path, ["rev-parse", "--git-dir"]):
        raise UserError(f"{tree_option} {path} is not a git repository; pass {what}")
    if not ok(path, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]):
        raise UserError(f"{tree_option} {path}: no commit '{ref}'; pass an existing ref "
                        f"with {base_option}")
    return git(path, ["rev-parse", "--verify", f"{ref}^{{commit}}"]).strip()
