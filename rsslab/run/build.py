"""Compile the C reproducers, the observer and the guest init, statically.

Every ``repro/*.c`` becomes ``build/bin/<stem>``, built with
``cc -static -O2 -Wall -Wextra -Werror -pthread``.  A binary is rebuilt when
its source or any header in ``repro/`` is newer, and when it is not a
non-empty executable file; the same binaries run on the host and inside the
QEMU guests.

Any number of rsslab processes may build into one directory at once: each
compiles to a name of its own there and renames the binary into place, so a
binary is either absent, the old one or a whole new one, never half-written.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rsslab.errors import ToolMissing, UserError

log = logging.getLogger(__name__)

CFLAGS = ("-static", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread")
COMPILE_TIMEOUT_S = 120
# A compiler's temporary output older than this was left by a killed rsslab
# (no compile runs longer than COMPILE_TIMEOUT_S).
ABANDONED_S = 4 * COMPILE_TIMEOUT_S
TMP_SUFFIX = ".tmp"


def find_compiler() -> str:
    for name in (os.environ.get("CC", ""), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    raise ToolMissing(
        "no C compiler found (cc or gcc); run `make repro` to install gcc and "
        "libc6-dev, or apt-get install gcc libc6-dev"
    )


def _usable(out: Path) -> bool:
    """A non-empty regular file with its execute bit: what a killed copy or
    an old rsslab may have left without it is rebuilt, never run."""
    try:
        st = out.stat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0 and bool(st.st_mode & stat.S_IXUSR)


def _stale(src: Path, headers: list[Path], out: Path) -> bool:
    if not _usable(out):
        return True
    built = out.stat().st_mtime
    return any(p.stat().st_mtime > built for p in (src, *headers))


def _compile(cc: str, src: Path, out: Path) -> None:
    """Compile to a temporary name beside ``out``, then rename it into place:
    concurrent builds of one binary each rename a whole file."""
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        _run_compiler([cc, *CFLAGS, "-o", str(tmp), str(src)], src)
        tmp.chmod(0o755)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _run_compiler(argv: list[str], src: Path) -> None:
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


def _remove_abandoned(out_dir: Path) -> None:
    """Temporary outputs of compilers that a SIGKILL stopped long ago."""
    now = time.time()
    for tmp in out_dir.glob(f".*{TMP_SUFFIX}"):
        try:
            if now - tmp.stat().st_mtime > ABANDONED_S:
                tmp.unlink()
        except FileNotFoundError:
            pass  # another rsslab removed or renamed it first


def build_all(root: Path, out_dir: Path) -> dict[str, Path]:
    """Build every ``repro/*.c``; return {stem: binary path}."""
    repro = root / "repro"
    headers = sorted(repro.glob("*.h"))
    sources = sorted(repro.glob("*.c"))
    out_dir.mkdir(parents=True, exist_ok=True)
    binaries = {src.stem: out_dir / src.stem for src in sources}
    _remove_abandoned(out_dir)
    stale = [src for src in sources if _stale(src, headers, binaries[src.stem])]
    if stale:
        cc = find_compiler()
        # One compiler per core: each static link takes a core for a while.
        with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
            for f in [pool.submit(_compile, cc, src, binaries[src.stem]) for src in stale]:
                f.result()
    return binaries
