"""A series as git makes it: commits in a worktree, ``git format-patch``
with a cover letter, and ``git am`` on the base to prove it applies.

Both series use these steps inside a :func:`worktree.temp_worktree`; what
differs between them (the edits, the messages, the recipients) is theirs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from rsslab.repo.git import QUIET, GitFailed, Ident, commit_env, git
from rsslab.repo.worktree import temp_worktree

COVER_SUBJECT = "*** SUBJECT HERE ***"
COVER_BLURB = "*** BLURB HERE ***"
# git am's commits are only compared by tree: any committer will do.
AM_COMMITTER = {"GIT_COMMITTER_NAME": "rsslab", "GIT_COMMITTER_EMAIL": "rsslab@localhost"}


def commit(tree: Path, paths: Sequence[str], message: str, ident: Ident, date: str) -> str:
    """Commit ``paths`` (already written in the worktree) with ``message``
    verbatim, by ``ident`` at ``date`` (empty: now); the new commit's id."""
    git(tree, [*QUIET, "add", "-f", "--", *paths])
    with tempfile.NamedTemporaryFile("w", prefix="rsslab-msg-", suffix=".txt") as f:
        f.write(message)
        f.flush()
        git(tree, [*QUIET, "commit", "--quiet", "--no-verify", "--cleanup=verbatim", "-F",
                   f.name], env=commit_env(ident, date))
    return git(tree, ["rev-parse", "HEAD"]).strip()


def tree_of_head(tree: Path) -> str:
    return git(tree, ["rev-parse", "HEAD^{tree}"]).strip()


def format_patch(tree: Path, base: str, out_dir: Path, prefix: str, ident: Ident, date: str,
                 to: Sequence[str] = (), cc: Sequence[str] = (), version: int = 1) -> list[Path]:
    """``base..HEAD`` as a threaded series with a cover letter in ``out_dir``
    (its old patches removed); To and Cc only those given, not the
    repository's format.to/format.cc.  git takes the cover letter's From
    and Date, and the Message-Ids' domain, from the committer: ``ident``
    at ``date`` (empty: now), as for the commits."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.patch"):
        old.unlink()
    args = [*QUIET, "format-patch", "--cover-letter", "--thread=shallow", f"--base={base}",
            "--no-to", "--no-cc", f"--subject-prefix={prefix}", "-o", str(out_dir)]
    args += [f"--to={a}" for a in to] + [f"--cc={a}" for a in cc]
    if version > 1:
        args.append(f"-v{version}")
    out = git(tree, [*args, f"{base}..HEAD"], env=commit_env(ident, date))
    files = [out_dir / Path(line.strip()).name for line in out.splitlines() if line.strip()]
    if len(files) < 2:
        raise GitFailed(f"git format-patch wrote {len(files)} files for the series; "
                        "check the worktree of the base")
    return files


def fill_cover(path: Path, subject: str, blurb: str) -> None:
    """Put the subject and the blurb in place of git's placeholders."""
    text = path.read_text()
    if COVER_SUBJECT not in text or COVER_BLURB not in text:
        raise GitFailed(f"{path} lacks git's cover letter placeholders; "
                        "is format.coverLetter configured oddly?")
    path.write_text(text.replace(COVER_SUBJECT, subject).replace(COVER_BLURB, blurb))


def am_check(repo: Path, base: str, patches: Sequence[Path], expected_tree: str,
             sparse: Sequence[str] | None = None) -> str:
    """``git am`` the patches on ``base`` in a temporary worktree (``sparse``
    as :func:`temp_worktree`); '' when that gives ``expected_tree``, else
    what went wrong."""
    with temp_worktree(repo, base, sparse) as tree:
        try:
            git(tree, [*QUIET, "am", "--quiet", "--keep-cr", "--no-3way",
                       *[str(p) for p in patches]], env=AM_COMMITTER)
        except GitFailed as e:
            git(tree, ["am", "--abort"], check=False)
            return f"git am does not apply the series on {base[:12]}: {e}"
        got = tree_of_head(tree)
    if got != expected_tree:
        return f"git am gives tree {got[:12]}, the series was made as {expected_tree[:12]}"
    return ""
