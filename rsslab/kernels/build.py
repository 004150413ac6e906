"""Verification kernels: ``make tinyconfig`` + fragments, built once, cached.

A build is keyed by the tree's base commit, the patches' edits (none for
the base kernel), the config fragments and the compiler, so a warm run
finds its ``bzImage`` in ``cache/kbuild/<key>/`` and builds nothing.  The
build runs in a temporary full worktree with ``O=`` in a temporary
directory; only the image, its config and the log are kept.  Each image
gets the sidecar the matrix reads (``<image>.rsslab.json``: its name, what
it was built from, the regimes it provides and those it lacks).

Kernels of one tree (a series' base, its patched kernel and its variants)
are built by :func:`build_all` in one worktree and object tree, one after
another: the first in full, each next one with its own edits in place of
the previous one's, so that make rebuilds only what the edits change.  For
the linux-6.12.y pair on two cores (``bench/kbuild_share.py``) the patched
kernel took 179 s on the base's objects against 327 s from scratch (594
of 1157 files compiled again: include/linux/mm.h is in half the kernel);
ccache saved less (271 s) and made the first build 112 s slower.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rsslab.children import dies_with_us
from rsslab import atomic, locks, steps
from rsslab.debian.sources import Tree, kernel_worktree
from rsslab.errors import KernelError, ToolMissing
from rsslab.kernels.edits import apply_edits
from rsslab.kernels.specs import PatchSpec
from rsslab.repo.git import QUIET, git

log = logging.getLogger(__name__)

BUILD_TIMEOUT_S = 3600
CONFIG_TIMEOUT_S = 300
SIDECAR_SUFFIX = ".rsslab.json"
BUILD_TOOLS = ("make", "gcc", "flex", "bison", "bc", "perl")
# Progress: (lines of make output so far, lines of the last build or 0)
Progress = Callable[[int, int], None]
# build_all's progress: (label, lines so far, lines of the last full build or 0)
LabelledProgress = Callable[[str, int, int], None]
# The build number in the image's version string (``#1``), whatever the
# object tree built before: an image reads the same built on another's objects.
BUILD_VERSION = "KBUILD_BUILD_VERSION=1"


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """What to build: a tree at its base, with some patches, one config."""

    label: str                      # e.g. linux-mainline-base
    tree: Tree
    patches: tuple[PatchSpec, ...]  # () for the base kernel
    config: str                     # the fragments, concatenated
    regimes: tuple[str, ...] = ()   # what the image provides (sidecar)
    without: tuple[str, ...] = ()   # regimes of its version it lacks (sidecar)

    def key(self, compiler: str) -> str:
        h = hashlib.sha256()
        for part in (self.tree.base, self.config, compiler,
                     *(p.fingerprint() for p in self.patches)):
            h.update(part.encode() + b"\0")
        return h.hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Built:
    label: str
    image: Path
    config: Path
    log: Path
    cached: bool


def compiler_version() -> str:
    for tool in BUILD_TOOLS:
        if shutil.which(tool) is None:
            raise ToolMissing(f"{tool} not found; kernel builds need flex bison bc libelf-dev "
                              "libssl-dev perl: apt-get install them (make repro and make patches do)")
    out = subprocess.run(["gcc", "--version"], capture_output=True, text=True, timeout=30,
                         cwd="/").stdout
    return out.splitlines()[0] if out else "gcc"


def fragment_options(fragment: str) -> dict[str, str]:
    """``CONFIG_X=v`` and ``# CONFIG_X is not set`` lines of a fragment."""
    out: dict[str, str] = {}
    for line in fragment.splitlines():
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line.strip())
        n = re.match(r"^# (CONFIG_\w+) is not set$", line.strip())
        if m:
            out[m[1]] = m[2]
        elif n:
            out[n[1]] = "n"
    return out


def missing_options(fragment: str, final: str,
                    defined: frozenset[str] | None = None) -> list[str]:
    """Options the fragment asks for that the final .config does not have;
    with ``defined`` (the tree's Kconfig symbols), only those the tree
    knows: an older tree lacks some symbols (DEBUG_INFO_NONE is v5.18+)."""
    have = fragment_options(final)
    return [f"{k}={v}" for k, v in fragment_options(fragment).items()
            if have.get(k, "n") != v
            and (defined is None or k.removeprefix("CONFIG_") in defined)]


_KCONFIG_SYMBOL = re.compile(r"^\s*(?:menu)?config\s+(\w+)", re.M)


def kconfig_symbols(src: Path) -> frozenset[str]:
    """Every symbol the tree's Kconfig files define (without CONFIG_)."""
    out: set[str] = set()
    for f in src.rglob("Kconfig*"):
        if f.is_file():
            out.update(_KCONFIG_SYMBOL.findall(f.read_text(errors="replace")))
    return frozenset(out)


def _make(argv: Sequence[str], src: Path, log_path: Path, timeout: int,
          progress: Progress | None = None, expected: int = 0) -> int:
    """Run make, log everything, report progress by output lines."""
    log.info("%s", shlex.join(argv))
    lines = 0
    with log_path.open("a") as logf:
        logf.write(f"$ {shlex.join(argv)}\n")
        logf.flush()
        proc = subprocess.Popen(dies_with_us(argv), cwd=src, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                logf.write(line)
                lines += 1
                if progress:
                    progress(lines, expected)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise KernelError(f"{argv[0]} ran over {timeout} s; see {log_path}") from None
    if proc.returncode != 0:
        tail = " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-4:])
        raise KernelError(f"{shlex.join(argv[:4])} failed: {tail} (log: {log_path})")
    return lines


def _configure(src: Path, obj: Path, fragment: str, log_path: Path,
               make_vars: Sequence[str] = ()) -> str:
    frag = obj / "rsslab.config"
    obj.mkdir(parents=True, exist_ok=True)
    frag.write_text(fragment)
    _make(["make", f"O={obj}", *make_vars, "tinyconfig"], src, log_path, CONFIG_TIMEOUT_S)
    _make(["sh", "scripts/kconfig/merge_config.sh", "-m", "-O", str(obj), str(obj / ".config"),
           str(frag)], src, log_path, CONFIG_TIMEOUT_S)
    _make(["make", f"O={obj}", *make_vars, "olddefconfig"], src, log_path, CONFIG_TIMEOUT_S)
    final = (obj / ".config").read_text()
    defined = kconfig_symbols(src)
    unknown = [k for k in fragment_options(fragment) if k.removeprefix("CONFIG_") not in defined]
    if unknown:
        with log_path.open("a") as logf:
            logf.write(f"# not in this tree's Kconfig, skipped: {' '.join(unknown)}\n")
    missing = missing_options(fragment, final, defined)
    if missing:
        raise KernelError(f"the kernel config lacks {', '.join(missing[:5])} after olddefconfig "
                          f"(unmet dependencies); fix kernelpatches/ fragments (log: {log_path})")
    return final


@dataclass(slots=True)
class Workspace:
    """One worktree and object tree, and what was built in them last."""

    src: Path
    obj: Path
    tmp: Path
    edited: bool = False     # the worktree holds the last kernel's edits
    config: str | None = None  # the fragment the object tree is configured with
    final: str = ""          # the .config that gave
    last: str = ""           # the label of the kernel built last


@contextmanager
def _workspace(tree: Tree, cache: Path) -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="rsslab-kbuild-", dir=cache) as tmp, \
            kernel_worktree(tree) as src:
        yield Workspace(src, Path(tmp) / "obj", Path(tmp))


def build(spec: BuildSpec, cache: Path, progress: Progress | None = None,
          jobs: int = 0) -> Built:
    """The cached image of ``spec``, building it first if needed."""
    def labelled(_label: str, lines: int, expected: int) -> None:
        if progress:
            progress(lines, expected)
    return build_all([spec], cache, labelled, jobs)[0]


def build_all(specs: Sequence[BuildSpec], cache: Path,
              progress: LabelledProgress | None = None, jobs: int = 0) -> list[Built]:
    """The cached images of ``specs``, kernels of one tree; those not cached
    yet are built one after another in one worktree and object tree."""
    if len({(s.tree.git_dir, s.tree.base) for s in specs}) > 1:
        raise KernelError("build_all builds kernels of one tree at a time")
    compiler = compiler_version()
    out = []
    with ExitStack() as stack:
        ws: Workspace | None = None
        for spec in specs:
            key = spec.key(compiler)
            home = cache / "kbuild" / key
            # One build of a key at a time: a second rsslab waits and finds it cached.
            with locks.locked(cache / "kbuild" / f"{key}.lock"):
                cached = (home / "bzImage").is_file() and (home / "meta.json").is_file()
                if not cached:
                    ws = ws or stack.enter_context(_workspace(spec.tree, cache))
                    _build_into(home, spec, ws, cache, progress, jobs)
                _sidecar(home / "bzImage", spec)
            out.append(Built(spec.label, home / "bzImage", home / "config", home / "build.log",
                             cached))
    return out


def _switch(ws: Workspace, spec: BuildSpec) -> None:
    """The worktree at its base with ``spec``'s edits: the last kernel's
    edits undone first (the files git rewrites are newer than their objects,
    so make rebuilds what depends on them)."""
    if ws.edited:
        git(ws.src, [*QUIET, "checkout", "-q", "--", "."], timeout=BUILD_TIMEOUT_S)
        # -x: Debian's trees ignore new files (their .gitignore has "/*"); the
        # objects are outside the worktree (O=), so nothing else is ignored there.
        git(ws.src, [*QUIET, "clean", "-fdqx"], timeout=BUILD_TIMEOUT_S)
    for p in spec.patches:
        apply_edits(ws.src, p.edits, p.requires)
    ws.edited = bool(spec.patches)


def _build_into(home: Path, spec: BuildSpec, ws: Workspace, cache: Path,
                progress: LabelledProgress | None, jobs: int) -> None:
    """Build ``spec`` in the workspace, then rename what is kept to ``home``."""
    expected = 0 if ws.last else _expected_lines(cache)
    on = f" on the objects of {ws.last}" if ws.last else ""
    work_log = ws.tmp / f"{spec.label}.log"
    work_log.unlink(missing_ok=True)

    def step(lines: int, total: int) -> None:
        if progress:
            progress(spec.label, lines, total)

    with steps.step(f"build kernel {spec.label} from {spec.tree.describe}{on}"):
        _switch(ws, spec)
        if ws.config != spec.config:
            ws.final = _configure(ws.src, ws.obj, spec.config, work_log, (BUILD_VERSION,))
            ws.config = spec.config
        start = time.monotonic()
        n = _make(["make", f"O={ws.obj}", BUILD_VERSION, f"-j{jobs or os.cpu_count() or 1}",
                   "bzImage"], ws.src, work_log, BUILD_TIMEOUT_S, step, expected)
        seconds = round(time.monotonic() - start, 1)
        staging = Path(tempfile.mkdtemp(prefix="out-", dir=ws.tmp))
        shutil.copy2(ws.obj / "arch" / "x86" / "boot" / "bzImage", staging / "bzImage")
        (staging / "config").write_text(ws.final)
        shutil.copy2(work_log, staging / "build.log")
        (staging / "meta.json").write_text(json.dumps(
            {"label": spec.label, "describe": spec.tree.describe, "base": spec.tree.base,
             "patches": [p.name for p in spec.patches], "lines": n,
             "on_objects_of": ws.last, "seconds": seconds}, indent=1) + "\n")
        shutil.rmtree(home, ignore_errors=True)
        home.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(home)
        ws.last = spec.label


def _sidecar(image: Path, spec: BuildSpec) -> None:
    side = image.with_name(image.name + SIDECAR_SUFFIX)
    built_from = " + ".join([spec.tree.describe, *(p.name for p in spec.patches)])
    doc = {"name": spec.label, "built_from": built_from, "regimes": list(spec.regimes),
           "without": list(spec.without)}
    if _read_json(side) != doc:
        # Renamed into place: a reader of the cache never sees half of it.
        atomic.write_text(side, json.dumps(doc) + "\n")


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _expected_lines(cache: Path) -> int:
    """Lines of make output of the last cold build, for a progress total."""
    counts = []
    for meta in (cache / "kbuild").glob("*/meta.json"):
        try:
            counts.append(int(json.loads(meta.read_text()).get("lines", 0)))
        except (OSError, ValueError):
            continue
    return max(counts, default=0)
