"""Kernels rsslab can run on: the host's, Debian's by name, a fixture, or an image path.

``resolve`` turns a ``--kernel`` word into a ``Kernel``: ``host`` (no
QEMU), ``5.10``, ``6.1``, ``6.12`` or ``7`` (Debian packages, see
``debian``), a fixture kernel of ``kernelpatches/fixtures.toml`` such as
``6.12-nosum`` (built once, see ``rsslab.kernels.fixtures``), a series'
patched kernel such as ``linux-6.12.y`` or its base ``linux-6.12.y-base``
(built once, see ``rsslab.kernels.series``), or the path of a
bzImage.  An image may declare what it is in a sidecar
``<image>.rsslab.json``::

    {"name": "6.12-nosum", "regimes": ["status-approx"], "without": ["status-sum"]}

``regimes`` adds regimes of ``claims/regimes.toml`` that the version alone
cannot tell (a patch applied to the kernel), ``without`` removes regimes
its version would have (a change reverted); the same can be passed to
``resolve_path`` directly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rsslab import kversion, paths
from rsslab.debian.apt import sha256_file
from rsslab.errors import BadInput, KernelError
from rsslab.kernels import debian, fixtures, image, series
from rsslab.results import Origin

SIDECAR_SUFFIX = ".rsslab.json"
NAMES = ("host", *debian.FLAVOURS)
# kbuild's progress callback: (lines of make output, lines of the last build).
BuildProgress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernel to run the plan on, and where it came from."""

    name: str  # the label's kernel part: host, 6.1, 6.12, 7, or a user name
    image: Path | None  # None: the running kernel, no QEMU
    upstream: str  # e.g. 6.1.192
    package: str = ""  # Debian package, or "" for a path
    version: str = ""  # Debian package version
    sha256: str = ""  # of the .deb (Debian) or of the image (path)
    config: Path | None = None
    extra_regimes: tuple[str, ...] = ()  # declared: added to the version's
    without_regimes: tuple[str, ...] = ()  # declared: taken from the version's
    built_from: str = ""  # the sidecar's account of a build

    @property
    def is_host(self) -> bool:
        return self.image is None

    def source(self) -> str:
        """A Debian package, an image (and what it was built from), or the running kernel."""
        if self.package:
            return f"{self.package} {self.version}"
        if self.image is None:
            return "the running kernel"
        return f"{self.image}" + (f", built from {self.built_from}" if self.built_from else "")

    def describe(self) -> str:
        return f"{self.name}: Linux {self.upstream} ({self.source()})"

    def origin(self) -> Origin:
        """What a result file records about where its kernel came from."""
        return Origin(self.name, self.source(), self.extra_regimes, self.without_regimes)


def host() -> Kernel:
    u = os.uname()
    return Kernel("host", None, kversion.show(kversion.upstream(u.release, u.version)))


def _label(text: str) -> str:
    label = re.sub(r"[^A-Za-z0-9._+-]", "_", text)
    if not label or label in NAMES:
        raise BadInput(f"'{text}' cannot name a user kernel; choose a name in its "
                       f"sidecar other than {', '.join(NAMES)}")
    return label


def _sidecar(path: Path) -> dict[str, object]:
    side = path.with_name(path.name + SIDECAR_SUFFIX)
    if not side.exists():
        return {}
    try:
        doc = json.loads(side.read_text())
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise BadInput(f"{side}: {e}; it must be a JSON object like "
                       '{"name": "6.1-synced", "regimes": ["exit-stop-synced"]}') from None
    return doc


def _ids(path: Path, side: dict[str, object], key: str) -> list[str]:
    ids = side.get(key, [])
    if not isinstance(ids, list) or not all(isinstance(r, str) for r in ids):
        raise BadInput(f"{path}{SIDECAR_SUFFIX}: {key} must be a list of regime ids")
    return ids


def resolve_path(path: Path, name: str = "", regimes: Sequence[str] = ()) -> Kernel:
    """A bzImage, with its sidecar's name and regimes, plus ``regimes``."""
    info = image.inspect(path)
    side = _sidecar(path)
    extra, without = _ids(path, side, "regimes"), _ids(path, side, "without")
    rest = info.version_string.split(" ", 1)[1] if " " in info.version_string else ""
    upstream = kversion.show(kversion.upstream(info.release, rest))
    label = _label(name or str(side.get("name") or info.release))
    return Kernel(label, path.resolve(), upstream, sha256=sha256_file(path),
                  extra_regimes=tuple(dict.fromkeys([*extra, *regimes])),
                  without_regimes=tuple(without), built_from=str(side.get("built_from", "")))


def fixture_names() -> tuple[str, ...]:
    """The fixture kernels' names (``kernelpatches/fixtures.toml``)."""
    return fixtures.names(paths.project_root())


def series_names() -> tuple[str, ...]:
    """The series' kernels: ``linux-6.12.y`` and ``linux-6.12.y-base``, ..."""
    return series.names(paths.project_root())


def resolve(word: str, cache: Path, refresh: bool = False,
            progress: debian.Progress | None = None) -> Kernel:
    """``--kernel WORD``: a name rsslab knows, or the path of an image."""
    if word == "host":
        return host()
    if word in debian.FLAVOURS:
        pin = debian.provision(word, cache, refresh, progress)
        return Kernel(word, cache / pin.image, pin.upstream, pin.package, pin.version,
                      pin.sha256, cache / pin.config)
    if "/" in word or Path(word).exists():
        return resolve_path(Path(word))
    if word in fixture_names():
        return _built(fixtures.build(word, paths.project_root(), cache, refresh,
                                     _build_progress(word, progress)))
    if word in series_names():
        return _built(series.build(word, paths.project_root(), cache, refresh,
                                   _build_progress(word, progress)))
    patched = [s for s in series_names() if not s.endswith("-base")]
    raise BadInput(f"unknown kernel '{word}'; use {', '.join([*NAMES, *fixture_names(), *patched])}"
                   " (a series name, or that name with -base), or the path of a kernel image "
                   "(e.g. ./bzImage)")


def _built(image_path: Path) -> Kernel:
    """A kernel rsslab built (``rsslab.kernels.build``): its .config is
    kept beside the image as ``config``."""
    k = resolve_path(image_path)
    config = image_path.with_name("config")
    return replace(k, config=config) if config.is_file() else k


def _build_progress(word: str, progress: debian.Progress | None) -> BuildProgress:
    def built(lines: int, expected: int) -> None:
        if progress and expected:
            progress(f"build {word}", min(99.0, 100.0 * lines / expected))

    return built


__all__ = ["Kernel", "KernelError", "NAMES", "fixture_names", "host", "resolve", "resolve_path",
           "series_names"]
