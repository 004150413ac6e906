"""The guests' initramfs: a gzip'd newc cpio written in pure Python.

``CpioWriter`` only knows the archive format; ``build`` lays out what a
guest needs: the static ``/init`` (``repro/init.c``), ``/bin/observe`` and
the scenario binaries, ``/plan`` and the scenarios' inputs under ``/in``.
Every entry has uid 0, gid 0 and mtime 0, inode numbers count up from 1 and
gzip's header carries no name or time, so the same inputs give the same
bytes.
"""

from __future__ import annotations

import gzip
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from rsslab.errors import KernelError

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"
# include/uapi/linux/major.h: TTYAUX_MAJOR 5, /dev/console is (5, 1).
CONSOLE_DEV = (5, 1)


class Sink(Protocol):
    """Where the archive goes: a file, a gzip stream, a BytesIO."""

    def write(self, data: bytes, /) -> object: ...


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


class CpioWriter:
    """Appends newc entries (``cpio -H newc``) to a binary stream."""

    def __init__(self, out: Sink) -> None:
        self._out = out
        self._ino = 0
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", nlink: int = 1,
               rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.lstrip("/")
        if name in self._names:
            raise ValueError(f"cpio entry {name!r} added twice")
        self._names.add(name)
        self._ino += 1
        raw = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(raw), 0)
        header = NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)
        self._out.write(header + raw + _pad4(len(header) + len(raw)))
        self._out.write(data + _pad4(len(data)))

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode, nlink=2)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def add_char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def add_symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> None:
        """The trailer entry that ends the archive."""
        self._ino = -1
        self._out.write(NEWC_MAGIC + b"".join(b"%08X" % f for f in
                                              (0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                                               len(TRAILER) + 1, 0)))
        raw = TRAILER.encode() + b"\0"
        self._out.write(raw + _pad4(110 + len(raw)))


def _read_binary(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KernelError(f"cannot read {path} for the initramfs: {e.strerror}; "
                          "run again (rsslab builds it)") from None
    if data[:4] != b"\x7fELF":
        raise KernelError(f"{path} is not an ELF binary; delete it and run again (rsslab rebuilds it)")
    return data


def write_archive(out: Sink, init: Path, binaries: Mapping[str, Path], plan: str,
                  inputs: Mapping[str, bytes]) -> None:
    """The uncompressed cpio: the layout /init expects."""
    cw = CpioWriter(out)
    for d in ("bin", "dev", "in", "proc", "sys", "tmp"):
        cw.add_dir(d)
    cw.add_char_device("dev/console", *CONSOLE_DEV)
    cw.add_file("init", _read_binary(init), 0o755)
    for name in sorted(binaries):
        cw.add_file(f"bin/{name}", _read_binary(binaries[name]), 0o755)
    cw.add_file("plan", plan.encode())
    for name in sorted(inputs):
        cw.add_file(f"in/{name}", inputs[name])
    cw.finish()


def build(path: Path, init: Path, binaries: Mapping[str, Path], plan: str,
          inputs: Mapping[str, bytes]) -> Path:
    """Write ``path`` (gzip'd newc cpio) atomically; return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                       mtime=0, compresslevel=6) as gz:
            write_archive(gz, init, binaries, plan, inputs)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
