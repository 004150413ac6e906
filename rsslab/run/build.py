"""Compile the C reproducers, the observer and the guest init, statically.

Every ``repro/*.c`` becomes ``build/bin/<stem>``, built with
``cc -static -O2 -Wall -Wextra -Werror -pthread``.  A binary is rebuilt when
its source or any header in ``repro/`` is newer; the same binaries run on the
host and inside the QEMU guests.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rsslab.errors import ToolMissing, UserError

log = logging.getLogger(__name__)

CFLAGS = ("-static", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread")
COMPILE_TIMEOUT_S = 120


def find_compiler() -> str:
    for name in (os.environ.get("CC", ""), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    raise ToolMissing(
        "no C compiler found (cc or gcc); run `make repro` to install gcc and "
        "libc6-dev, or apt-get install gcc libc6-dev"
    )


def _stale(src: Path, headers: list[Path], out: Path) -> bool:
    if not out.exists():
        return True
    built = out.stat().st_mtime
    return any(p.stat().st_mtime > built for p in (src, *headers))


def _compile(cc: str, src: Path, out: Path) -> None:
    tmp = out.with_name(out.name + ".tmp")
    argv = [cc, *CFLAGS, "-o", str(tmp), str(src)]
    log.info("%s", shlex.join(argv))
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as e:
        raise UserError(f"compiling {src.name} took over {COMPILE_TIMEOUT_S} s") from e
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        hint = ""
        if "cannot find -lc" in proc.stderr or "cannot find -lpthread" in proc.stderr:
            hint = "; install the static C library: apt-get install libc6-dev"
        raise UserError(f"cannot compile {src.name}: {tail}{hint}")
    tmp.replace(out)


def build_all(root: Path, out_dir: Path) -> dict[str, Path]:
    """Build every ``repro/*.c``; return {stem: binary path}."""
    repro = root / "repro"
    headers = sorted(repro.glob("*.h"))
    sources = sorted(repro.glob("*.c"))
    out_dir.mkdir(parents=True, exist_ok=True)
    binaries = {src.stem: out_dir / src.stem for src in sources}
    stale = [src for src in sources if _stale(src, headers, binaries[src.stem])]
    if stale:
        cc = find_compiler()
        # One compiler per core: each static link takes a core for a while.
        with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
            for f in [pool.submit(_compile, cc, src, binaries[src.stem]) for src in stale]:
                f.result()
    return binaries
