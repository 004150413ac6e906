"""Kernel builds of a base/patched pair: what ccache and the base's object tree save.

Usage: .venv/bin/python bench/kbuild_share.py [SERIES] [--json FILE]

Builds the series' base kernel and its patched kernel (tinyconfig + the
series' fragments, ``make bzImage`` at one job per core), nothing taken
from rsslab's kernel cache, and times each way of building the patched
one:

- scratch: a fresh worktree, configured and built in full (what a cold
  cache does today, once for each kernel);
- object tree: the patches applied to the base's worktree, then ``make``
  in the base's object tree (only what the patches change is rebuilt);
- ccache: a fresh worktree built with ``CC="ccache gcc"`` after the base
  was built the same way into an empty ccache directory (its cold cost is
  timed too, against the scratch base).

The worktree and the object tree of each build lie side by side in one
temporary directory, ccache's base_dir, so that ccache sees the same
relative paths in every build.  Prints a table and writes it to
build/bench/kbuild_share.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from rsslab import paths
from rsslab.errors import UserError
from rsslab.kernels import build as kbuild
from rsslab.kernels import series as series_kernels
from rsslab.kernels.edits import apply_edits
from rsslab.kernels.specs import load_series, pick
from rsslab.repo.worktree import temp_worktree
from rsslab.series.kernel import run as kernel


@dataclass(frozen=True, slots=True)
class Timing:
    build: str        # what was built, and how
    seconds: float    # checkout, configure and make
    make_s: float     # make bzImage alone
    note: str = ""


@contextmanager
def workdir(spec: kbuild.BuildSpec) -> Iterator[tuple[Path, Path]]:
    """A full worktree of the spec's tree and an object directory beside it."""
    with temp_worktree(spec.tree.git_dir, spec.tree.base, name="linux") as src:
        yield src, src.parent / "obj"


def make_image(src: Path, obj: Path, log: Path, make_vars: Sequence[str]) -> float:
    start = time.monotonic()
    kbuild._make(["make", f"O={obj}", *make_vars, f"-j{os.cpu_count() or 1}", "bzImage"], src,
                 log, kbuild.BUILD_TIMEOUT_S)
    return time.monotonic() - start


def fresh(spec: kbuild.BuildSpec, log: Path, make_vars: Sequence[str] = ()) -> Timing:
    """Checkout, edits, configure, make: a build from nothing."""
    start = time.monotonic()
    with workdir(spec) as (src, obj):
        for p in spec.patches:
            apply_edits(src, p.edits, p.requires)
        os.environ["CCACHE_BASEDIR"] = str(src.parent)
        kbuild._configure(src, obj, spec.config, log, make_vars)
        make_s = make_image(src, obj, log, make_vars)
    how = "ccache" if make_vars else "scratch"
    return Timing(f"{spec.label}, {how}", time.monotonic() - start, make_s)


def on_base(base: kbuild.BuildSpec, patched: kbuild.BuildSpec, log: Path) -> list[Timing]:
    """The base from scratch, then the patches applied to its worktree and
    ``make`` again in its object tree."""
    start = time.monotonic()
    with workdir(base) as (src, obj):
        kbuild._configure(src, obj, base.config, log)
        make_s = make_image(src, obj, log, ())
        first = Timing(f"{base.label}, scratch", time.monotonic() - start, make_s)
        start = time.monotonic()
        for p in patched.patches:
            apply_edits(src, p.edits, p.requires)
        if patched.config != base.config:
            kbuild._configure(src, obj, patched.config, log)
        make_s = make_image(src, obj, log, ())
        rebuilt = sum(1 for line in log.read_text().split("$ make")[-1].splitlines()
                      if line.lstrip().startswith("CC "))
    return [first, Timing(f"{patched.label}, on the base's object tree",
                          time.monotonic() - start, make_s, f"{rebuilt} files compiled")]


def ccache_stats(env_dir: Path) -> str:
    out = subprocess.run(["ccache", "--print-stats"], capture_output=True, text=True,
                         env={**os.environ, "CCACHE_DIR": str(env_dir)}, check=False).stdout
    stats = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    hits = int(stats.get("direct_cache_hit", 0)) + int(stats.get("preprocessed_cache_hit", 0))
    return f"{hits} hits, {stats.get('cache_miss', '?')} misses (cumulative)"


def note(t: Timing) -> None:
    print(f"{t.build}: {t.seconds:.0f} s", file=sys.stderr)


def measure(series: str, root: Path, scratch: bool) -> list[Timing]:
    cache = paths.cache_dir()
    s = pick(load_series(root), [series])[0]
    tree = kernel.tree_for(s, kernel.Options(root=root, cache=cache))
    base, patched = series_kernels.base_spec(s, tree), series_kernels.patched_spec(s, tree)
    out: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="rsslab-kshare-") as tmp:
        log = Path(tmp) / "build.log"
        for t in on_base(base, patched, log):
            note(t)
            out.append(t)
        if scratch:
            out.append(fresh(patched, log))
            note(out[-1])
        ccdir = Path(tmp) / "ccache"
        os.environ["CCACHE_DIR"] = str(ccdir)
        os.environ["CCACHE_NOHASHDIR"] = "1"
        for spec in (base, patched):
            t = fresh(spec, log, ("CC=ccache gcc",))
            out.append(Timing(t.build + (" (empty cache)" if spec is base else ""),
                              t.seconds, t.make_s, ccache_stats(ccdir)))
            note(out[-1])
    return out


def table(ts: Sequence[Timing]) -> str:
    lines = [f"{'build':<58} {'total':>8} {'make':>8}  note", "-" * 96]
    lines += [f"{t.build:<58} {t.seconds:>7.0f}s {t.make_s:>7.0f}s  {t.note}" for t in ts]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series", nargs="?", default="linux-6.12.y")
    ap.add_argument("--no-scratch", action="store_true",
                    help="skip the patched kernel's build from scratch")
    ap.add_argument("--json", type=Path, help="also write the timings here")
    args = ap.parse_args()
    root = paths.project_root()
    if shutil.which("ccache") is None:
        print("kbuild_share: no ccache; apt-get install ccache", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    try:
        ts = measure(args.series, root, not args.no_scratch)
    except UserError as e:
        print(f"kbuild_share: {e}", file=sys.stderr)
        return e.exit_status
    doc = {"series": args.series, "cpus": os.cpu_count(),
           "load_before": load, "timings": [asdict(t) for t in ts]}
    out = paths.build_dir(root) / "bench" / "kbuild_share.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in (out, *([args.json] if args.json else [])):
        path.write_text(json.dumps(doc, indent=1) + "\n")
    print(table(ts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
