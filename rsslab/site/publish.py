"""Publish the site: ``build/docs/html`` as a commit on a remote's ``gh-pages``.

Everything is done in a temporary bare repository: the remote's
``gh-pages`` tip is fetched into it (so the new commit follows the old
ones), the html directory is committed through a temporary index (its files
are only read), and the commit is pushed to ``refs/heads/gh-pages``.  No
repository of the user's is written to: its branches, remote-tracking refs,
index, files and config stay as they were.  A GitHub repository serves the
branch once its Pages source is set to "Deploy from a branch", ``gh-pages``
(the site carries ``.nojekyll``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rsslab.scratch import scratch as scratch_dir
from rsslab import __version__
from rsslab.errors import UserError
from rsslab.repo.git import QUIET, GitFailed, Ident, git, ok

BRANCH = "gh-pages"
REF = f"refs/heads/{BRANCH}"
# Commits carry the user's git identity when there is one, else this one.
FALLBACK_IDENT = Ident("rsslab", "rsslab@localhost")


class PublishError(UserError):
    """The site could not be published."""


@dataclass(frozen=True, slots=True)
class Published:
    remote: str  # the URL or path pushed to
    commit: str  # the tip of gh-pages now
    previous: str  # its tip before, or ""
    changed: bool  # False: the site was already there as it is


def resolve_remote(remote: str, cwd: Path) -> str:
    """An existing path (made absolute) or a URL (``https://...``,
    ``git@host:path``) as given; the name of a remote of the repository at
    ``cwd`` as that remote's URL (read, never written)."""
    if (cwd / remote).exists():
        return str((cwd / remote).absolute())
    if ":" in remote:
        return remote
    if "/" not in remote and ok(cwd, ["rev-parse", "--git-dir"]):
        url = git(cwd, ["--no-optional-locks", "remote", "get-url", remote], check=False)
        if url.strip():
            return url.strip()
    raise PublishError(f"--publish {remote}: not a URL, an existing path, nor a remote of the "
                       "repository here; pass a URL such as git@github.com:you/rsslab.git")


def _identity(scratch: Path) -> Ident:
    name = git(scratch, ["config", "user.name"], check=False).strip()
    email = git(scratch, ["config", "user.email"], check=False).strip()
    return Ident(name, email) if name and email else FALLBACK_IDENT


def _remote_tip(scratch: Path, url: str) -> str:
    """The remote's gh-pages commit, fetched into ``scratch``; "" if it has none."""
    try:
        listed = git(scratch, ["ls-remote", url, REF])
    except GitFailed as e:
        raise PublishError(f"cannot reach {url}: {e}; check the address and your access "
                           "to it") from None
    if not listed.strip():
        return ""
    git(scratch, ["fetch", "--quiet", "--depth=1", "--no-tags", url, REF])
    return git(scratch, ["rev-parse", "FETCH_HEAD"]).strip()


def _commit(scratch: Path, html: Path, parent: str, message: str) -> str:
    """Every file of ``html`` as one commit on top of ``parent``."""
    ident = _identity(scratch)
    env = {"GIT_INDEX_FILE": str(scratch / "publish-index"),
           "GIT_AUTHOR_NAME": ident.name, "GIT_AUTHOR_EMAIL": ident.email,
           "GIT_COMMITTER_NAME": ident.name, "GIT_COMMITTER_EMAIL": ident.email}
    git(scratch, [*QUIET, "--work-tree", str(html), "add", "--all", "--force", "."], env=env)
    tree = git(scratch, ["write-tree"], env=env).strip()
    if parent and git(scratch, ["rev-parse", f"{parent}^{{tree}}"]).strip() == tree:
        return parent
    parents = ["-p", parent] if parent else []
    return git(scratch, [*QUIET, "commit-tree", tree, *parents, "-m", message], env=env).strip()


def publish(html: Path, remote: str, source: str = "", cwd: Path | None = None) -> Published:
    """Push ``html`` (a built site) to ``gh-pages`` of ``remote``.  ``source``
    says what the site was built from (e.g. a commit), in the commit message."""
    if not (html / "index.html").is_file():
        raise PublishError(f"no site in {html} (no index.html); build it with `rsslab docs`")
    url = resolve_remote(remote, cwd or Path.cwd())
    message = f"Publish the rsslab site\n\nBuilt by rsslab {__version__}" + (
        f" from {source}." if source else ".")
    with scratch_dir("rsslab-publish-") as tmp:
        scratch = Path(tmp) / "repo.git"
        scratch.mkdir()
        git(scratch, ["init", "--quiet", "--bare"])
        previous = _remote_tip(scratch, url)
        commit = _commit(scratch, html, previous, message)
        if commit != previous:
            try:
                git(scratch, [*QUIET, "push", "--quiet", url, f"{commit}:{REF}"])
            except GitFailed as e:
                raise PublishError(f"cannot push {BRANCH} to {url}: {e}") from None
    return Published(url, commit, previous, commit != previous)
