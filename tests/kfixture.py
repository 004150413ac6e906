"""A small kernel tree for the series goldens, as a git bundle (b4's
fixtures): the files one series touches, whole, with the tree's checkers
(checkpatch.pl and its data, get_maintainer.pl), the top-level Makefile's
version lines and the MAINTAINERS sections that name those files.

The bundle is frozen: its version and hunk offsets do not move when Debian
ships a point release, so the golden of a series generated on it changes
only when rsslab's series do.  ``python tests/kfixture.py SERIES`` makes it
again from the imported Debian tree (review the diff of the golden after).
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from rsslab.debian.sources import Tree

DATA = Path(__file__).resolve().parent / "data" / "kpatches"
# The checkers' own files (checkpatch.pl reads its word lists when present).
CHECKERS = ("scripts/checkpatch.pl", "scripts/get_maintainer.pl", "scripts/spelling.txt",
            "scripts/const_structs.checkpatch")
# Top-level files get_maintainer.pl and checkpatch.pl look for to know a
# kernel tree (top_of_kernel_tree()); their contents are never read.
STUBS = ("COPYING", "CREDITS", "Kbuild", "README")
IDENT = {"GIT_AUTHOR_NAME": "rsslab", "GIT_AUTHOR_EMAIL": "fixture@example.org",
         "GIT_COMMITTER_NAME": "rsslab", "GIT_COMMITTER_EMAIL": "fixture@example.org",
         "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


def bundle_path(series: str) -> Path:
    return DATA / f"{series}.bundle"


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          timeout=120, env=env).stdout


def load(series: str, into: Path) -> Tree:
    """The fixture tree of ``series``, cloned bare from its bundle into ``into``."""
    git_dir = into / f"{series}.git"
    _git(into, "clone", "--quiet", "--bare", str(bundle_path(series)), str(git_dir))
    base = _git(git_dir, "rev-parse", "refs/heads/base").strip()
    head = _git(git_dir, "show", f"{base}:Makefile")
    v = [re.search(rf"^{k} = (\d+)", head, re.M) for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL")]
    version = ".".join(m.group(1) for m in v if m)
    return Tree(git_dir, base, version, f"Linux {version} (rsslab fixture)", debian=True)


def _matches(pattern: str, path: str) -> bool:
    """get_maintainer.pl's F: rule: a directory matches what is under it."""
    if pattern.endswith("/"):
        return path.startswith(pattern)
    return fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")


def _sections(text: str, paths: tuple[str, ...]) -> str:
    """The MAINTAINERS header and the sections whose F: or N: name ``paths``."""
    head, sep, body = text.partition("\nMaintainers List\n----------------\n")
    keep = []
    for section in re.split(r"\n\n+", body):
        lines = section.splitlines()
        f = [ln[3:].strip() for ln in lines if ln.startswith("F:")]
        n = [ln[3:].strip() for ln in lines if ln.startswith("N:")]
        if (lines and lines[0] == "THE REST" or any(_matches(p, x) for p in f for x in paths)
                or any(re.search(r, x) for r in n for x in paths)):
            keep.append(section)
    return head + sep + "\n" + "\n\n".join(keep) + "\n"


def make(series: str, tree: Tree, paths: tuple[str, ...]) -> Path:
    """Write the bundle of ``series`` from ``tree`` (the imported Debian tree)."""
    with tempfile.TemporaryDirectory(prefix="rsslab-fixture-") as tmp:
        wt = Path(tmp) / "linux"
        wt.mkdir()
        _git(wt, "init", "--quiet", "-b", "base")
        for p in (*CHECKERS, *paths):
            data = _git(tree.git_dir, "show", f"{tree.base}:{p}")
            (wt / p).parent.mkdir(parents=True, exist_ok=True)
            (wt / p).write_text(data)
        (wt / "scripts" / "checkpatch.pl").chmod(0o755)
        (wt / "scripts" / "get_maintainer.pl").chmod(0o755)
        top = _git(tree.git_dir, "show", f"{tree.base}:Makefile").split("\n")
        (wt / "Makefile").write_text("\n".join(top[:6]) + "\n")
        for name in STUBS:
            (wt / name).write_text("Not in this fixture: only checked to be there.\n")
        maint = _git(tree.git_dir, "show", f"{tree.base}:MAINTAINERS")
        (wt / "MAINTAINERS").write_text(_sections(maint, paths))
        _git(wt, "add", "-A")
        _git(wt, "commit", "--quiet", "-m", f"{series} fixture: {tree.describe}",
             env={**os.environ, **IDENT})
        _git(wt, "bundle", "create", "--quiet", str(bundle_path(series)), "base")
    return bundle_path(series)


def main(argv: list[str]) -> int:
    from rsslab import paths as rpaths
    from rsslab.debian import sources
    from rsslab.kernels import specs
    from rsslab.series.kernel import series as kseries
    root = Path(__file__).resolve().parents[1]
    s = {x.name: x for x in specs.load_series(root)}[argv[0]]
    tree = sources.debian_tree(rpaths.cache_dir(), s.debian, s.suites)
    print(make(s.name, tree, kseries.sparse_paths(s)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
