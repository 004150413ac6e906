"""The tree the man-pages series applies to.

Either the newest man-pages release Debian has (sid's ``manpages`` and
``manpages-dev`` carry the roff sources), imported once into a cached bare
git repository laid out as upstream is since man-pages 6.8
(``man/man2/getrusage.2``), or a user's man-pages clone at a given ref.

The import is deterministic: the same packages give the same commit on
every machine (fixed identity, the packages' own timestamp), and each
release is a commit on top of the previous one, tagged ``debian/<version>``.
A cache hit does no network; ``refresh`` asks Debian for a newer release.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rsslab.debian import apt
from rsslab.debian.tree_import import import_tree, unpack_deb
from rsslab.errors import UserError
from rsslab.repo.git import git, ok, user_commit

log = logging.getLogger(__name__)

SUITE = "sid"
PACKAGES = ("manpages", "manpages-dev")
PROBE_PAGE = "man/man2/getrusage.2"
_PAGE = re.compile(r"^(?P<name>.+)\.(?P<ext>[1-9][a-z]*)(?:\.gz)?$")


@dataclass(frozen=True, slots=True)
class Base:
    """A commit to build the series on, and where it comes from."""

    repo: Path
    commit: str
    describe: str
    user_tree: bool = False


def cache_root(cache: Path) -> Path:
    return cache / "man-pages"


def debian_tag(version: str) -> str:
    """A git tag name for a Debian version (DEP-14: ``~`` -> ``_``, ``:`` -> ``%``)."""
    return "debian/" + version.replace("~", "_").replace(":", "%")


def _tags(repo: Path) -> list[str]:
    if not (repo / "HEAD").exists():
        return []
    out = git(repo, ["for-each-ref", "--sort=-v:refname", "--format=%(refname:short)",
                     "refs/tags/debian/"])
    return [t for t in out.splitlines() if t]


def _base_for_tag(repo: Path, tag: str) -> Base:
    commit = git(repo, ["rev-parse", "--verify", f"{tag}^{{commit}}"]).strip()
    subject = git(repo, ["log", "-1", "--format=%s", commit]).strip()
    return Base(repo, commit, subject.removeprefix("Import ").strip())


def debian_base(cache: Path, refresh: bool = False) -> Base:
    """The newest imported Debian release; ask Debian only when asked or empty."""
    root = cache_root(cache)
    repo = root / "debian.git"
    tags = _tags(repo)
    if tags and not refresh:
        return _base_for_tag(repo, tags[0])
    root.mkdir(parents=True, exist_ok=True)
    private = apt.private_apt(root / "apt", [SUITE], "pass --man-tree with a man-pages clone")
    private.update()
    pkgs = [private.candidate(name) for name in PACKAGES]
    if len({p.version for p in pkgs}) != 1:
        raise UserError(f"Debian {SUITE} has {', '.join(f'{p.name} {p.version}' for p in pkgs)}"
                        "; they differ, retry later with --refresh-base")
    tag = debian_tag(pkgs[0].version)
    if tag not in tags:
        debs = [private.download(p, root / "debs") for p in pkgs]
        import_debs(repo, debs, pkgs, tag)
    return _base_for_tag(repo, tag)


def lay_out(man_dir: Path, tree: Path) -> int:
    """Copy ``usr/share/man/manN/*`` into ``tree/man/man<ext>/``; return the mtime.

    Pages are uncompressed; a symbolic link becomes the ``.so manX/page.X``
    file upstream has in its place.
    """
    newest = 0
    for path in sorted(man_dir.glob("man*/*")):
        m = _PAGE.match(path.name)
        if not m:
            continue
        out = tree / "man" / f"man{m['ext']}" / f"{m['name']}.{m['ext']}"
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            t = _PAGE.match(os.readlink(path).split("/")[-1])
            if not t:
                continue
            out.write_text(f".so man{t['ext']}/{t['name']}.{t['ext']}\n")
            continue
        data = path.read_bytes()
        out.write_bytes(gzip.decompress(data) if path.name.endswith(".gz") else data)
        newest = max(newest, int(path.lstat().st_mtime))
    return newest


def import_debs(repo: Path, debs: list[Path], pkgs: list[apt.Package], tag: str) -> None:
    """One commit holding the packages' pages, on top of the previous import,
    dated by the packages' newest page."""
    with tempfile.TemporaryDirectory(prefix="rsslab-man-import-") as tmp:
        unpacked, tree = Path(tmp) / "deb", Path(tmp) / "tree"
        unpacked.mkdir()
        for deb in debs:
            unpack_deb(deb, unpacked)
        mtime = lay_out(unpacked / "usr/share/man", tree)
        if not (tree / PROBE_PAGE).exists():
            raise UserError(f"{', '.join(d.name for d in debs)} hold no {PROBE_PAGE}; "
                            "Debian's packaging changed, pass --man-tree with a man-pages clone")
        version = pkgs[0].version
        upstream = version.split(":")[-1].rsplit("-", 1)[0]
        msg = (f"Import man-pages {upstream} from Debian {SUITE} "
               + " and ".join(f"{p.name} {p.version}" for p in pkgs)
               + "\n\nThe pages of the Debian packages, uncompressed, laid out as upstream is"
               "\nsince man-pages-6.8 (man/man2/getrusage.2); links are .so pages.\n")
        import_tree(repo, tree, msg, f"@{mtime} +0000", tags=[tag])


def user_base(tree: Path, ref: str) -> Base:
    """A user's man-pages clone at ``ref``; it must have the man/man2/ layout."""
    commit = user_commit(tree, ref, "--man-tree", "--man-base",
                         "a man-pages clone (git clone it there first)")
    if not ok(tree, ["cat-file", "-e", f"{commit}:{PROBE_PAGE}"]):
        old = ok(tree, ["cat-file", "-e", f"{commit}:man2/getrusage.2"])
        hint = ("it has the layout before man-pages-6.8 (man2/); update it to the newest "
                "release" if old else "is it a man-pages clone?")
        raise UserError(f"{tree} has no {PROBE_PAGE} at {ref}; {hint}")
    top = git(tree, ["rev-parse", "--show-toplevel"]).strip()
    desc = git(tree, ["describe", "--tags", "--always", commit], check=False).strip()
    return Base(Path(top), commit, f"man-pages {desc} ({ref} in {top})", user_tree=True)
