"""Kernel source trees for the patches: a Debian tarball or a user's git tree.

A Debian ``linux-source-*`` package is imported once into a cached bare git
repository as one baseline commit (``refs/heads/debian``) and a manifest
beside it; later runs read the manifest and touch no network.  A user's tree
is only read: everything that writes happens in a temporary worktree
(:func:`kernel_worktree`, b4's ``git_temp_worktree`` pattern), so the user's
branches, index, files and stashes stay as they were.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from rsslab import atomic, locks, steps
from rsslab.debian import apt
from rsslab.debian.tree_import import UNPACK_TIMEOUT_S, import_tree, unpack_deb
from rsslab.errors import KernelError, UserError
from rsslab.repo.git import git, ok, run, user_commit
from rsslab.repo.worktree import temp_worktree

log = logging.getLogger(__name__)

# A fixed date makes the imported baseline commit reproducible.
IMPORT_DATE = "2000-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Tree:
    """A kernel tree at a base commit, usable only through worktrees."""

    git_dir: Path
    base: str            # full commit id
    version: str         # upstream kernel version, e.g. 7.3.4
    describe: str        # e.g. "Linux 7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1)"
    debian: bool = False  # a Debian import: base-commit is not an upstream commit
    history: bool = False  # the base has ancestors: cited commits can be looked up


def _version_of(src: Path) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` from the top-level Makefile."""
    text = (src / "Makefile").read_text(errors="replace")
    parts = [re.search(rf"^{k}\s*=\s*(\d*)", text, re.M) for k in ("VERSION", "PATCHLEVEL",
                                                                    "SUBLEVEL")]
    if any(p is None or not p[1] for p in parts[:2]):
        raise KernelError(f"{src}/Makefile has no VERSION/PATCHLEVEL; not a kernel tree")
    return ".".join(p[1] if p and p[1] else "0" for p in parts)


def import_tarball(tarball: Path, git_dir: Path, label: str) -> tuple[str, str]:
    """Extract a kernel tarball and commit it, whole, as one baseline commit.
    Returns (commit, version).  Built in a scratch dir, renamed at the end."""
    git_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=git_dir.parent) as tmp:
        t = Path(tmp)
        run(["tar", "-xf", str(tarball), "-C", str(t)], t, timeout=UNPACK_TIMEOUT_S)
        tops = [p for p in t.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise KernelError(f"{tarball.name} holds {len(tops)} top directories, expected one")
        src, repo_dir = tops[0], t / "repo.git"
        version = _version_of(src)
        commit = import_tree(repo_dir, src, f"Import {label}\n\nLinux {version} as shipped in "
                             f"{label}, unmodified.", IMPORT_DATE)
        shutil.rmtree(git_dir, ignore_errors=True)
        repo_dir.rename(git_dir)
    return commit, version


def extract_tarball(deb: Path, dest: Path) -> Path:
    """The ``usr/src/linux-source-*.tar.*`` inside a linux-source .deb."""
    unpack_deb(deb, dest)
    found = sorted((dest / "usr" / "src").glob("linux-source-*.tar.*"))
    if not found:
        raise KernelError(f"{deb.name} has no usr/src/linux-source-*.tar.*; "
                          f"delete it from the cache and rerun")
    return found[0]


def debian_tree(cache: Path, package: str, suites: tuple[str, ...],
                refresh: bool = False, version: str = "") -> Tree:
    """The Debian ``package`` (or the newest ``linux-source-7.*`` when it
    ends in ``*``) from ``suites``, imported into ``cache/trees``; exactly
    Debian version ``version`` when given.  A cached import is used without
    network unless ``refresh``."""
    manifest = cache / "trees" / f"{package.rstrip('*.')}.json"
    # One import at a time per cache: the private apt root and the trees are
    # shared, and a second rsslab waiting here then finds the tree imported.
    with locks.locked(cache / "trees" / ".lock"):
        t = _from_manifest(manifest) if manifest.is_file() and not refresh else None
        if t is not None and (not version or t.describe.endswith(f" {version})")):
            return t
        tree = _import(cache, package, suites, version)
        _write_manifest(manifest, tree)
        return tree


def _import(cache: Path, package: str, suites: tuple[str, ...], version: str) -> Tree:
    private = apt.private_apt(cache / "apt", suites,
                              "pass --kernel-tree DIR --kernel-base REF")
    private.update()
    pkg = _pick(private, package, version)
    deb = private.download(pkg, cache / "debs")
    label = f"Debian {pkg.name} {pkg.version}"
    git_dir = cache / "trees" / f"{pkg.name}_{pkg.version.replace(':', '%3a')}.git"
    with steps.step(f"import {label} into {git_dir.name}"), \
            tempfile.TemporaryDirectory(prefix=".deb-", dir=cache) as tmp:
        commit, kver = import_tarball(extract_tarball(deb, Path(tmp)), git_dir, label)
    return Tree(git_dir, commit, kver, f"Linux {kver} ({label})", debian=True)


def _write_manifest(manifest: Path, tree: Tree) -> None:
    doc = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(tree).items()}
    atomic.write_text(manifest, json.dumps(doc, indent=1) + "\n")


def _pick(private: apt.PrivateApt, package: str, version: str) -> apt.Package:
    """The package to import: ``name=version``, the candidate of ``name``, or
    for ``prefix*`` the candidate of the highest-numbered name."""
    name = package
    if package.endswith("*"):
        prefix = package.rstrip("*")
        names = [n for n in private.names(prefix)
                 if re.fullmatch(re.escape(prefix) + r"[0-9.]+", n)]
        if not names:
            raise KernelError(f"no package {package} in Debian {private.describe()}")
        name = max(names, key=lambda n: [int(x) for x in n[len(prefix):].split(".") if x])
    if not version:
        return private.candidate(name)
    found = [p for p in private.versions(f"{name}={version}") if p.version == version]
    if not found:
        raise KernelError(f"Debian {private.describe()} has no {name} {version}; "
                          "rerun with --refresh-kernels to take the newest kernels")
    return found[0]


def _from_manifest(path: Path) -> Tree | None:
    """The import a manifest describes; its repository is looked up beside
    the manifest, so a cache copied or moved elsewhere still works (and
    never writes into the one it was copied from)."""
    try:
        d = json.loads(path.read_text())
        tree = Tree(path.parent / Path(d["git_dir"]).name, d["base"], d["version"],
                    d["describe"], d["debian"])
    except (OSError, ValueError, KeyError):
        return None
    if not (tree.git_dir / "HEAD").is_file():
        return None
    return tree if ok(tree.git_dir, ["cat-file", "-e", f"{tree.base}^{{commit}}"]) else None


def user_tree(path: Path, base: str) -> Tree:
    """A user's kernel git tree at ``base``: only read, never written."""
    commit = user_commit(path, base, "--kernel-tree", "--kernel-base", "a kernel git tree")
    if not ok(path, ["cat-file", "-e", f"{commit}:Makefile"]):
        raise UserError(f"{path} at {base} has no top-level Makefile; not a kernel tree")
    text = git(path, ["cat-file", "blob", f"{commit}:Makefile"])
    vals = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)", text, re.M))
    version = ".".join(vals.get(k) or "0" for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
    common = git(path, ["rev-parse", "--path-format=absolute", "--git-common-dir"]).strip()
    shallow = git(path, ["rev-parse", "--is-shallow-repository"]).strip() == "true"
    parents = git(path, ["rev-list", "--parents", "-n", "1", commit]).split()[1:]
    # Said in the series' messages: the ref and the commit, never the local path.
    return Tree(Path(common).resolve(), commit, version,
                f"Linux {version} ({base}, {commit[:12]})",
                history=bool(parents) and not shallow)


# What checkpatch.pl and get_maintainer.pl need to see a kernel tree: the
# top-level files, scripts/, and these directories (top_of_kernel_tree()).
TOP_DIRS = ("Documentation", "arch", "drivers", "fs", "include", "init", "ipc", "kernel",
            "lib", "scripts")


@contextmanager
def kernel_worktree(tree: Tree, sparse: tuple[str, ...] | None = None) -> Iterator[Path]:
    """A temporary worktree of ``tree`` at its base.  With ``sparse``
    (paths), only the top-level files, scripts/ and those paths are checked
    out: enough to edit, commit, check and apply a series."""
    with temp_worktree(tree.git_dir, tree.base, None if sparse is None else ("scripts", *sparse),
                       name="linux") as wt:
        if sparse is not None:
            for d in TOP_DIRS:
                (wt / d).mkdir(exist_ok=True)
        yield wt
