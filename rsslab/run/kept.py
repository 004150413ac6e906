"""Measurements kept under the cache, keyed by the digest of their inputs.

A proof, a selftest run, a cost boot or a test guest's boot takes minutes
of QEMU; its result depends only on what went into it: the kernel images,
what runs in the guest (its sources, or the binaries themselves), the
claims it judges, the guest's CPU count and QEMU options, and the plan
(each module's ``PROTOCOL``, bumped when its plan, parsing or record
changes).  :meth:`Store.key` and :func:`digest` digest those; a
:class:`Store` keeps one JSON document per kind and key in
``<cache>/kept/`` and gives it back while the key stays the same, unless
told to measure again (``rsslab patches --remeasure``; the tests'
``RSSLAB_TEST_REMEASURE=1``).  QEMU's version is not an input, nor the
compiler where the sources stand for the binaries: the figures are of the
guest's kernel.
Files are written under a unique name and renamed into place, so any
number of rsslab processes may share the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsslab import atomic, paths, steps
from rsslab.errors import UserError
from rsslab.kernels import Kernel, qemu

DIGEST_CHARS = 20
# Said after "read back": what did not change, and how to measure again.
AGAIN = "--remeasure measures again"


def digest(parts: Iterable[object], files: Iterable[Path] = ()) -> str:
    """The digest of ``parts`` (by ``repr``) and of each file's name and bytes."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode() + b"\0")
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as e:
            raise UserError(f"cannot read {f}: {e.strerror}; it is an input of a kept "
                            "measurement") from None
        h.update(f.name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()[:DIGEST_CHARS]


def sources(root: Path, patterns: Sequence[str]) -> list[Path]:
    """The files under ``root`` that ``patterns`` name (paths or globs),
    sorted; a plain path that is not there is an error."""
    found: set[Path] = set()
    for pat in patterns:
        if any(c in pat for c in "*?["):
            found.update(p for p in root.glob(pat) if p.is_file())
        elif (root / pat).is_file():
            found.add(root / pat)
        else:
            raise UserError(f"{root / pat} is missing; it is an input of a kept measurement")
    return sorted(found)


def kernel_inputs(k: Kernel) -> tuple[object, ...]:
    """What a kernel brings to a measurement: its image's digest, its name
    (the records carry it) and the regimes its sidecar declares."""
    return (k.name, k.sha256, k.upstream, k.extra_regimes, k.without_regimes)


def qemu_options(memory_mib: int, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """QEMU's command line for a guest, less its paths and CPU count."""
    argv = qemu.qemu_argv("qemu", Path("bzImage"), Path("initrd"),
                          qemu.Machine(1, memory_mib, extra=extra), Path("results"))
    return tuple(argv)


@dataclass(frozen=True, slots=True)
class Store:
    """One JSON document per (kind, key) under ``directory``."""

    directory: Path
    root: Path               # where the sources a key names are read
    remeasure: bool = False  # get() finds nothing: everything is measured again
    again: str = AGAIN       # how its user measures again, said with each reuse

    def key(self, parts: Iterable[object], patterns: Sequence[str] = ()) -> str:
        return digest(parts, sources(self.root, patterns))

    def path(self, kind: str, key: str) -> Path:
        return self.directory / f"{kind}-{key}.json"

    def get(self, kind: str, key: str) -> Any:
        """The kept document, or None (absent, unreadable, or remeasure)."""
        if self.remeasure:
            return None
        try:
            return json.loads(self.path(kind, key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, kind: str, key: str, doc: Any) -> Path:
        """Keep ``doc``: written to a unique name, then renamed into place."""
        out = self.path(kind, key)
        try:
            atomic.write_text(out, json.dumps(doc) + "\n")
        except OSError as e:
            raise UserError(f"cannot keep a measurement in {out.parent}: {e.strerror}") from None
        return out


def said(what: str, where: Path, same: str, again: str = AGAIN) -> None:
    """The one line a reuse is told in: ``what`` read back from ``where``."""
    steps.log.info("%s: read back from %s (same %s; %s)", what, paths.shown(where), same, again)
