"""``kernelpatches/`` as records: each patch defined once, the series, the fixtures.

A patch directory holds ``patch.toml`` (subject, edits, requirements,
targets, the claims it changes), ``message.txt`` (a ``string.Template``
whose ``${names}`` are filled from measured results) and, for code patches,
``config.fragment`` for the verification build.  ``series.toml`` groups
patches per kind of tree.  A patch marked ``fixture = true`` is a test
fixture (it has no message and no series may send it); ``fixtures.toml``
builds kernels with such patches for the matrix.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rsslab.errors import BadInput, UserError
from rsslab.patches.edit import Edit, Requirement, edit_from_toml

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SelftestSpec:
    """A kselftest the patch adds: built static for the guests."""

    source: str
    headers: tuple[str, ...]
    includes: tuple[str, ...]

    @property
    def name(self) -> str:
        return Path(self.source).stem


@dataclass(frozen=True, slots=True)
class PatchSpec:
    name: str
    subject: str
    message: str          # template text
    edits: tuple[Edit, ...]
    requires: tuple[Requirement, ...]
    targets: str
    config: str           # fragment text ("" for none)
    claims: tuple[str, ...]
    directory: Path
    selftest: SelftestSpec | None = None
    fixture: bool = False  # a test fixture: built for the matrix, never sent

    def fingerprint(self) -> str:
        """Hash of what changes the kernel: the edits and the config."""
        h = hashlib.sha256()
        for e in self.edits:
            h.update(repr((e.file, e.kind, e.function, e.find, e.after_line, e.text)).encode())
        h.update(self.config.encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """Another design of a series' fix, built and measured against it (cost,
    contention) in the same run; never sent: the patches it adds to the
    series' are fixtures."""

    name: str
    title: str                      # a few words for table headers
    patches: tuple[PatchSpec, ...]


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    name: str
    describe: str
    debian: str
    suites: tuple[str, ...]
    patches: tuple[PatchSpec, ...]
    cover: str
    subject_prefix: str
    to: tuple[str, ...]
    regime: str
    guest_config: str
    also_maintainers_of: tuple[str, ...] = ()
    cost: bool = False
    title: str = "patched"          # the series' design, in tables beside its variants
    variants: tuple[VariantSpec, ...] = ()

    def focus_claims(self) -> tuple[str, ...]:
        return tuple(c for p in self.patches for c in p.claims)

    def selftests(self) -> tuple[SelftestSpec, ...]:
        return tuple(p.selftest for p in self.patches if p.selftest)

    def config_fragment(self) -> str:
        return config_fragment(self.guest_config, self.patches)

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.guest_config.encode())
        for p in self.patches:
            h.update(p.fingerprint().encode())
        return h.hexdigest()[:16]


def config_fragment(guest_config: str, patches: tuple[PatchSpec, ...]) -> str:
    """What a verification build adds to tinyconfig: guest.config, then each
    patch's own fragment."""
    return "\n".join([guest_config] + [p.config for p in patches if p.config])


@dataclass(frozen=True, slots=True)
class FixtureSpec:
    """A kernel the matrix boots that no Debian archive carries any more."""

    name: str
    describe: str
    debian: str                     # the source package
    suites: tuple[str, ...]
    version_of: str                 # build the Debian version of this matrix kernel
    patches: tuple[PatchSpec, ...]  # fixture patches only
    regimes: tuple[str, ...]        # added to the version's regimes
    without: tuple[str, ...]        # taken from them
    guest_config: str

    def config_fragment(self) -> str:
        return config_fragment(self.guest_config, self.patches)


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None


def _selftest(raw: Any) -> SelftestSpec | None:
    if raw is None:
        return None
    return SelftestSpec(str(raw["source"]), tuple(raw.get("headers", ())),
                        tuple(raw.get("includes", ())))


def load_patch(directory: Path) -> PatchSpec:
    raw = _toml(directory / "patch.toml")
    try:
        fixture = bool(raw.get("fixture", False))
        msg = "" if fixture else (directory / raw["message"]).read_text()
        cfg = (directory / raw["config"]).read_text() if raw.get("config") else ""
        return PatchSpec(
            name=raw["name"], subject=raw["subject"], message=msg,
            edits=tuple(edit_from_toml(e, directory) for e in raw["edit"]),
            requires=tuple(Requirement(r["file"], r["function"], r.get("why", ""))
                           for r in raw.get("require", ())),
            targets=raw.get("targets", ""), config=cfg,
            claims=tuple(raw.get("claims", ())), directory=directory,
            selftest=_selftest(raw.get("selftest")), fixture=fixture)
    except (KeyError, OSError) as e:
        raise UserError(f"{directory}/patch.toml is incomplete: {e}") from None


def _patches(kp: Path, names: list[str], where: str, fixtures: bool) -> tuple[PatchSpec, ...]:
    """The patches a series (``fixtures`` False) or a fixture kernel names."""
    patches = tuple(load_patch(kp / p) for p in names)
    wrong = [p.name for p in patches if p.fixture != fixtures]
    if wrong:
        why = "not marked fixture = true" if fixtures else "a test fixture, never sent"
        raise UserError(f"{where} uses {', '.join(wrong)}: {why}")
    return patches


def _variant(kp: Path, series: str, own: tuple[str, ...], v: dict[str, Any]) -> VariantSpec:
    where = f"{kp}/series.toml: series {series}, variant {v['name']}"
    patches = tuple(load_patch(kp / p) for p in v["patches"])
    sendable = [p.name for p in patches if p.name not in own and not p.fixture]
    if sendable:
        raise UserError(f"{where} uses {', '.join(sendable)}: a variant adds only patches "
                        "marked fixture = true (never sent) to the series' own")
    return VariantSpec(v["name"], str(v.get("title", v["name"])), patches)


def _series(kp: Path, guest: str, s: dict[str, Any]) -> SeriesSpec:
    patches = _patches(kp, s["patches"], f"{kp}/series.toml: series {s['name']}", False)
    own = tuple(p.name for p in patches)
    return SeriesSpec(
        name=s["name"], describe=s["describe"], debian=s["debian"],
        suites=tuple(s.get("suites", ())),
        patches=patches,
        cover=(kp / s["cover"]).read_text(), subject_prefix=s["subject_prefix"],
        to=tuple(s.get("to", ())), regime=s["regime"], guest_config=guest,
        also_maintainers_of=tuple(s.get("also_maintainers_of", ())),
        cost=bool(s.get("cost", False)), title=str(s.get("title", "patched")),
        variants=tuple(_variant(kp, s["name"], own, v) for v in s.get("variant", ())))


def _fixture(kp: Path, guest: str, k: dict[str, Any]) -> FixtureSpec:
    return FixtureSpec(
        name=k["name"], describe=" ".join(k["describe"].split()), debian=k["debian"],
        suites=tuple(k["suites"]), version_of=k["version_of"],
        patches=_patches(kp, k["patches"], f"{kp}/fixtures.toml: kernel {k['name']}", True),
        regimes=tuple(k.get("regimes", ())), without=tuple(k.get("without", ())),
        guest_config=guest)


def _load(root: Path, file: str, key: str, make: Callable[[Path, str, dict[str, Any]], T]
          ) -> list[T]:
    kp = root / "kernelpatches"
    doc = _toml(kp / file)
    guest = (kp / "guest.config").read_text()
    out = []
    for raw in doc.get(key, []):
        try:
            out.append(make(kp, guest, raw))
        except (KeyError, OSError) as e:
            raise UserError(f"{kp}/{file}: {key} {raw.get('name', '?')} is incomplete: "
                            f"{e}") from None
    return out


def load_series(root: Path) -> list[SeriesSpec]:
    """Every series in ``kernelpatches/series.toml``."""
    return _load(root, "series.toml", "series", _series)


def load_fixtures(root: Path) -> list[FixtureSpec]:
    """Every kernel in ``kernelpatches/fixtures.toml``."""
    return _load(root, "fixtures.toml", "kernel", _fixture)


def pick(series: list[SeriesSpec], names: list[str]) -> list[SeriesSpec]:
    if not names:
        return series
    known = {s.name: s for s in series}
    for n in names:
        if n not in known:
            raise BadInput(f"unknown series '{n}'; choose from: {', '.join(known)}")
    return [known[n] for n in names]
