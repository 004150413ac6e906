"""Scratch directories that do not outlive their owner for long.

``with scratch("rsslab-run-") as tmp`` is ``tempfile.TemporaryDirectory``
with the owner in the name (``rsslab-run-<pid>-<start time>-XXXX``): what a
SIGKILL leaves behind is removed by the next rsslab that makes a scratch
directory with the same prefix, once its owner is gone (another process
with the same pid has another start time).  SIGTERM and SIGHUP end rsslab
through its ``finally`` blocks (``cli.main``), so they leave nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (when the process started), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_gone(name: str, prefix: str) -> bool:
    try:
        pid, start = name.removeprefix(prefix).split("-")[:2]
        return start_time(int(pid)) != start
    except ValueError:
        return False  # not one of ours: leave it


def clean_stale(parent: Path, prefix: str) -> None:
    """Remove the scratch directories under parent whose owner is gone."""
    with contextlib.suppress(OSError):
        for p in parent.iterdir():
            if p.name.startswith(prefix) and p.is_dir() and _owner_gone(p.name, prefix):
                shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def scratch(prefix: str, dir: Path | None = None) -> Iterator[Path]:
    parent = Path(dir or tempfile.gettempdir())
    clean_stale(parent, prefix)
    tag = f"{prefix}{os.getpid()}-{start_time(os.getpid())}-"
    with tempfile.TemporaryDirectory(prefix=tag, dir=parent) as tmp:
        yield Path(tmp)
