"""Turn patched pages into a ``git format-patch`` series, and prove it applies.

Commits are made in a temporary detached worktree of the base repository
(the cached Debian import, or the user's clone), with the repository's
hooks, signing and automatic gc switched off for those commands only.  The
series gets a cover letter, threading, ``base-commit:`` and the recipients
the man-pages CONTRIBUTING files ask for.  The check applies the series with
``git am`` on the base, in another temporary worktree, and compares trees.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.patches.man_base import Base
from rsslab.patches.man_git import GitFailed, Ident, commit_env, git, temp_worktree

# For commands run in a worktree of somebody else's repository.
QUIET = ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", "-c", "gc.auto=0"]
COVER_SUBJECT = "*** SUBJECT HERE ***"
COVER_BLURB = "*** BLURB HERE ***"


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
    git(tree, [*QUIET, "add", "--", *c.pages])
    with tempfile.NamedTemporaryFile("w", suffix=".msg", delete=False) as f:
        f.write(c.message)
        msg = Path(f.name)
    try:
        git(tree, [*QUIET, "commit", "--quiet", "--no-verify", "--cleanup=verbatim",
                   "-F", str(msg)], env=commit_env(ident, date))
    finally:
        msg.unlink()


def _format_patch(tree: Path, base: Base, mail: Mail, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.patch"):
        old.unlink()
    args = [*QUIET, "format-patch", "--cover-letter", "--thread=shallow",
            f"--base={base.commit}", "--no-to", "--no-cc", "--subject-prefix=PATCH",
            "-o", str(out_dir)]
    args += [f"--to={t}" for t in mail.to] + [f"--cc={c}" for c in mail.cc]
    if mail.version > 1:
        args.append(f"-v{mail.version}")
    out = git(tree, [*args, f"{base.commit}..HEAD"])
    files = [Path(line.strip()) for line in out.splitlines() if line.strip()]
    if len(files) < 2:
        raise GitFailed(f"git format-patch wrote {len(files)} files for the series; "
                        "check the worktree of the base")
    return files


def build(base: Base, commits: Sequence[Commit], ident: Ident, date: str, mail: Mail,
          out_dir: Path) -> Built:
    """Commit each patch on the base and write the series to ``out_dir``."""
    with temp_worktree(base.repo, base.commit) as tree:
        for c in commits:
            _commit(tree, c, ident, date)
        files = _format_patch(tree, base, mail, out_dir)
        tip_tree = git(tree, ["rev-parse", "HEAD^{tree}"]).strip()
    files = [f if f.is_absolute() else out_dir / f.name for f in files]
    return Built(tuple(files), tip_tree)


def fill_cover(path: Path, subject: str, blurb: str) -> None:
    text = path.read_text()
    if COVER_SUBJECT not in text or COVER_BLURB not in text:
        raise GitFailed(f"{path} lacks git's cover letter placeholders; "
                        "is format.coverLetter configured oddly?")
    path.write_text(text.replace(COVER_SUBJECT, subject).replace(COVER_BLURB, blurb))


def am_check(base: Base, built: Built, ident: Ident) -> str:
    """Apply the series with ``git am`` on the base; '' when the tree matches."""
    with temp_worktree(base.repo, base.commit) as tree:
        try:
            git(tree, [*QUIET, "am", "--quiet", "--no-3way",
                       *[str(p) for p in built.patches]], env=commit_env(ident, ""))
        except GitFailed as e:
            git(tree, ["am", "--abort"], check=False)
            return f"git am does not apply the series on {base.commit[:12]}: {e}"
        got = git(tree, ["rev-parse", "HEAD^{tree}"]).strip()
    if got != built.tip_tree:
        return f"git am gives tree {got[:12]}, the series was made as {built.tip_tree[:12]}"
    return ""
