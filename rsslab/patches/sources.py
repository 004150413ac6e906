"""Kernel source trees for the patches: a Debian tarball or a user's git tree.

A Debian ``linux-source-*`` package is imported once into a cached bare git
repository as one baseline commit (``refs/heads/debian``) and a manifest
beside it; later runs read the manifest and touch no network.  A user's tree
is only read: everything that writes happens in a temporary worktree
(``temp_worktree``, b4's ``git_temp_worktree`` pattern), so the user's
branches, index, files and stashes stay as they were.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import git

from rsslab import apt
from rsslab.errors import KernelError, UserError

log = logging.getLogger(__name__)

IMPORT_TIMEOUT_S = 1800
GIT_TIMEOUT_S = 900
# A fixed identity and date make the imported baseline commit reproducible.
IMPORT_IDENT = {"GIT_AUTHOR_NAME": "rsslab import", "GIT_AUTHOR_EMAIL": "rsslab@localhost",
                "GIT_COMMITTER_NAME": "rsslab import", "GIT_COMMITTER_EMAIL": "rsslab@localhost",
                "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
                "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


@dataclass(frozen=True, slots=True)
class Tree:
    """A kernel tree at a base commit, usable only through worktrees."""

    git_dir: Path
    base: str            # full commit id
    version: str         # upstream kernel version, e.g. 7.3.4
    describe: str        # e.g. "Linux 7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1)"
    debian: bool = False  # a Debian import: base-commit is not an upstream commit
    history: bool = False  # the base has ancestors: cited commits can be looked up


def _run(argv: list[str], cwd: Path, timeout: int = IMPORT_TIMEOUT_S) -> None:
    log.info("%s", shlex.join(argv))
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KernelError(f"{argv[0]} ran over {timeout} s in {cwd}") from None
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise KernelError(f"{shlex.join(argv[:3])} failed: {tail}")


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
        _run(["tar", "-xf", str(tarball), "-C", str(t)], t)
        tops = [p for p in t.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise KernelError(f"{tarball.name} holds {len(tops)} top directories, expected one")
        src, repo_dir = tops[0], t / "repo.git"
        version = _version_of(src)
        repo = git.Repo.init(repo_dir, bare=True)
        g = repo.git
        env = {"GIT_WORK_TREE": str(src), **IMPORT_IDENT}
        g.execute(["git", "add", "-A", "-f", "."], env=env, kill_after_timeout=GIT_TIMEOUT_S)
        tree = g.execute(["git", "write-tree"], env=env)
        commit = g.execute(["git", "commit-tree", tree, "-m", f"Import {label}\n\nLinux {version}"
                            f" as shipped in {label}, unmodified."], env=env)
        g.update_ref("refs/heads/debian", commit)
        g.symbolic_ref("HEAD", "refs/heads/debian")
        shutil.rmtree(git_dir, ignore_errors=True)
        repo_dir.rename(git_dir)
    return commit, version


def extract_tarball(deb: Path, dest: Path) -> Path:
    """The ``usr/src/linux-source-*.tar.*`` inside a linux-source .deb."""
    _run(["dpkg-deb", "-x", str(deb), str(dest)], dest)
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
    if manifest.is_file() and not refresh:
        t = _from_manifest(manifest)
        if t is not None and (not version or t.describe.endswith(f" {version})")):
            return t
    private = apt.private_apt(cache / "apt", suites,
                              "pass --kernel-tree DIR --kernel-base REF")
    private.update()
    pkg = _pick(private, package, version)
    deb = private.download(pkg, cache / "debs")
    label = f"Debian {pkg.name} {pkg.version}"
    git_dir = cache / "trees" / f"{pkg.name}_{pkg.version.replace(':', '%3a')}.git"
    with tempfile.TemporaryDirectory(prefix=".deb-", dir=cache) as tmp:
        commit, kver = import_tarball(extract_tarball(deb, Path(tmp)), git_dir, label)
    tree = Tree(git_dir, commit, kver, f"Linux {kver} ({label})", debian=True)
    doc = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(tree).items()}
    tmp_manifest = manifest.with_suffix(".tmp")
    tmp_manifest.write_text(json.dumps(doc, indent=1) + "\n")
    tmp_manifest.replace(manifest)
    return tree


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
    try:
        d = json.loads(path.read_text())
        tree = Tree(Path(d["git_dir"]), d["base"], d["version"], d["describe"], d["debian"])
    except (OSError, ValueError, KeyError):
        return None
    try:
        git.Repo(tree.git_dir).commit(tree.base)
    except (git.exc.GitError, ValueError, OSError):
        return None
    return tree


def _sparse_checkout(wt: Path, paths: tuple[str, ...]) -> None:
    """The full index, but on disk only the top-level files, scripts/ and
    ``paths``.  No sparse-checkout config: that would change the
    repository's shared config."""
    g = git.Repo(wt).git
    g.execute(["git", "read-tree", "HEAD"], kill_after_timeout=GIT_TIMEOUT_S)
    top_files = [ln.split("\t", 1)[1] for ln in g.execute(["git", "ls-tree", "HEAD"]).splitlines()
                 if ln.split()[1] == "blob"]
    present = g.execute(["git", "ls-tree", "-r", "--name-only", "HEAD", "--", *paths]).splitlines()
    g.execute(["git", "checkout", "HEAD", "--", *top_files, "scripts", *present],
              kill_after_timeout=GIT_TIMEOUT_S)
    for d in TOP_DIRS:
        (wt / d).mkdir(exist_ok=True)


def user_tree(path: Path, base: str) -> Tree:
    """A user's kernel git tree at ``base``: only read, never written."""
    try:
        repo = git.Repo(path, search_parent_directories=False)
    except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError):
        raise UserError(f"{path} is not a git repository; pass a kernel git tree with --tree")
    try:
        commit = repo.commit(base)
    except (git.exc.BadName, ValueError):
        raise UserError(f"{path}: no commit '{base}'; pass an existing ref with --base") from None
    try:
        mk = commit.tree / "Makefile"
        text = mk.data_stream.read().decode(errors="replace")
    except KeyError:
        raise UserError(f"{path} at {base} has no top-level Makefile; not a kernel tree") from None
    vals = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)", text, re.M))
    version = ".".join(vals.get(k) or "0" for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
    shallow = (Path(repo.common_dir) / "shallow").exists()
    return Tree(Path(repo.common_dir).resolve(), commit.hexsha, version,
                f"Linux {version} ({path} at {base}, {commit.hexsha[:12]})",
                history=bool(commit.parents) and not shallow)


# What checkpatch.pl and get_maintainer.pl need to see a kernel tree: the
# top-level files, scripts/, and these directories (top_of_kernel_tree()).
TOP_DIRS = ("Documentation", "arch", "drivers", "fs", "include", "init", "ipc", "kernel",
            "lib", "scripts")


@contextmanager
def temp_worktree(tree: Tree, commitish: str | None = None,
                  sparse: tuple[str, ...] | None = None) -> Iterator[Path]:
    """A detached worktree of ``tree`` in a temporary directory, removed in
    ``finally`` (its admin entry too), whatever happens inside.  With
    ``sparse`` (paths), only the top-level files, scripts/ and those paths
    are checked out: enough to edit, commit, check and apply a series."""
    repo = git.Repo(tree.git_dir)
    with tempfile.TemporaryDirectory(prefix="rsslab-wt-") as tmp:
        wt = Path(tmp) / "linux"
        add = ["git", "worktree", "add", "--detach", "--quiet"]
        if sparse is not None:
            add.append("--no-checkout")
        repo.git.execute([*add, str(wt), commitish or tree.base],
                         kill_after_timeout=GIT_TIMEOUT_S)
        try:
            if sparse is not None:
                _sparse_checkout(wt, sparse)
            yield wt
        finally:
            repo.git.execute(["git", "worktree", "remove", "--force", str(wt)])
            repo.git.execute(["git", "worktree", "prune"])
