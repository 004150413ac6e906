"""Kernel images: check that a file is a bootable x86 bzImage, and read the
version string its boot header carries.

The header (Documentation/arch/x86/boot.rst) has "HdrS" at 0x202, the
number of setup sectors at 0x1f1, the protected-mode size in 16-byte units
at 0x1f4, and at 0x20e the offset (minus 0x200) of a version string such as
``6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC
Debian 6.1.192-2 (2025-11-02)``.  A truncated file is shorter than the
sizes it declares.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from rsslab.errors import KernelError

SECTOR = 512
_HDR_MAGIC = b"HdrS"


class KernelImageError(KernelError):
    """The file is not a complete bzImage."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    path: Path
    size: int
    version_string: str

    @property
    def release(self) -> str:
        """``uname -r`` of the kernel: the first word of the version string."""
        return self.version_string.split(" ", 1)[0]


def _fail(path: Path, what: str) -> KernelImageError:
    return KernelImageError(f"{path} {what}; pass a bzImage (arch/x86/boot/bzImage or "
                            "boot/vmlinuz-*), or delete it from the cache and rerun")


def inspect(path: Path) -> ImageInfo:
    """Check the header and sizes of a bzImage; read its version string."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KernelImageError(f"kernel image {path} does not exist; build it or give "
                               "the path of a bzImage") from None
    except OSError as e:
        raise KernelImageError(f"cannot read kernel image {path}: {e.strerror}") from None
    if len(data) < 0x300 or data[0x202:0x206] != _HDR_MAGIC:
        raise _fail(path, "is not an x86 bzImage (no HdrS boot header)")
    setup_sects = data[0x1F1] or 4
    (syssize,) = struct.unpack_from("<I", data, 0x1F4)
    need = (setup_sects + 1) * SECTOR + syssize * 16
    if len(data) < need:
        raise _fail(path, f"is truncated ({len(data)} bytes, its header says {need})")
    (ver_off,) = struct.unpack_from("<H", data, 0x20E)
    start = ver_off + 0x200
    end = data.find(b"\0", start, start + 512) if ver_off else -1
    if end < 0:
        raise _fail(path, "has no kernel version string in its header")
    return ImageInfo(path, len(data), data[start:end].decode(errors="replace"))
