"""Kernel versions: what upstream release a running kernel really is.

``uname -r`` is not enough: Debian's bookworm kernels say ``6.1.0-53-amd64``
(an ABI name) while ``uname -v`` says ``... Debian 6.1.187-1 (...)``, the
upstream sublevel that decides which fixes are in.  Distro strings are read
first, then the release.
"""

from __future__ import annotations

import re

from rsslab.errors import BadInput

Version = tuple[int, int, int]

_DEBIAN = re.compile(r"Debian (\d+)\.(\d+)(?:\.(\d+))?")
_RELEASE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse(text: str) -> Version:
    """``"6.12.39"`` -> (6, 12, 39); ``"2.6.34"`` -> (2, 6, 34)."""
    m = _RELEASE.match(text.strip())
    if not m:
        raise BadInput(f"'{text}' is not a kernel version like 6.12.39")
    return int(m[1]), int(m[2]), int(m[3] or 0)


def upstream(release: str, version: str = "") -> Version:
    """The upstream version of a kernel from its ``uname -r`` and ``uname -v``."""
    m = _DEBIAN.search(version)
    if m:
        return int(m[1]), int(m[2]), int(m[3] or 0)
    return parse(release)


def show(v: Version) -> str:
    return ".".join(str(x) for x in v)


def in_range(v: Version, since: str, until: str) -> bool:
    """since <= v < until; an empty ``until`` means no upper end."""
    return parse(since) <= v and (not until or v < parse(until))
