"""A source tree from a Debian package, committed into a cached bare repository.

The kernel series imports ``linux-source-*`` (one repository per version),
the man-pages series ``manpages`` and ``manpages-dev`` (one repository, a
commit per release).  Either way the files of a directory become one
commit, made by a fixed identity at a date the caller fixes, so the same
packages give the same commit on every machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from rsslab.scratch import scratch
from rsslab.errors import ToolMissing, UserError
from rsslab.repo.git import git, ok, run

BRANCH = "refs/heads/debian"
IMPORT_IDENT = {"GIT_AUTHOR_NAME": "rsslab import", "GIT_AUTHOR_EMAIL": "rsslab@localhost",
                "GIT_COMMITTER_NAME": "rsslab import", "GIT_COMMITTER_EMAIL": "rsslab@localhost"}
UNPACK_TIMEOUT_S = 1800.0


def unpack_deb(deb: Path, dest: Path) -> None:
    """``dpkg-deb -x`` of a downloaded package into ``dest``."""
    if shutil.which("dpkg-deb") is None:
        raise ToolMissing("dpkg-deb is not installed; it comes with dpkg on Debian")
    proc = run(["dpkg-deb", "-x", str(deb), str(dest)], dest, timeout=UNPACK_TIMEOUT_S,
               ok=range(256))
    if proc.returncode != 0:
        raise UserError(f"{deb.name} does not unpack ({proc.stderr.strip()[-160:]}); "
                        f"delete {deb} and rerun")


def import_tree(repo: Path, src: Path, message: str, date: str,
                tags: Sequence[str] = (), timeout: float = UNPACK_TIMEOUT_S) -> str:
    """Commit every file under ``src`` (ignore files too) as one commit on
    ``refs/heads/debian`` of the bare ``repo``, on top of its tip if it has
    one; ``tags`` point at it too.  ``repo`` is created if missing.
    Returns the commit id."""
    if not (repo / "HEAD").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, ["init", "--quiet", "--bare"])
        git(repo, ["symbolic-ref", "HEAD", BRANCH])
    with scratch("rsslab-import-") as tmp:
        env = {**IMPORT_IDENT, "GIT_INDEX_FILE": str(Path(tmp) / "index"),
               "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        git(repo, ["--work-tree", str(src), "add", "--all", "--force", "."], env=env,
            timeout=timeout)
        tree_id = git(repo, ["write-tree"], env=env, timeout=timeout).strip()
    parents: list[str] = []
    if ok(repo, ["rev-parse", "--verify", "--quiet", BRANCH]):
        parents = ["-p", git(repo, ["rev-parse", BRANCH]).strip()]
    commit = git(repo, ["commit-tree", tree_id, *parents, "-m", message],
                 env={**IMPORT_IDENT, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}).strip()
    for tag in tags:
        git(repo, ["update-ref", f"refs/tags/{tag}", commit])
    git(repo, ["update-ref", BRANCH, commit])
    return commit
