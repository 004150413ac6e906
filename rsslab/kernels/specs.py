"""``kernelpatches/`` as records: each patch defined once, the series, the fixtures.

A patch directory holds ``patch.toml`` (subject, edits, requirements,
targets, the claims it changes), ``message.txt`` (a ``string.Template``
whose ``${names}`` are filled from measured results) and, for code patches,
``config.fragment`` for the verification build.  A patch may be ``like``
another: the same change for another tree (a stable backport), which takes
every part it does not define itself (subject, edits, requirements,
config, claims, selftest) from that patch.  ``series.toml`` groups patches
per kind of tree.  A patch marked ``fixture = true`` is a test
fixture (it has no message and no series may send it); ``fixtures.toml``
builds kernels with such patches for the matrix.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rsslab import claims as claims_mod
from rsslab import schema
from rsslab.claims import regimes as regimes_mod
from rsslab.errors import BadInput, UserError
from rsslab.kernels.edits import KINDS, Edit, Requirement, edit_from_toml
from rsslab.schema import Key, Table

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SelftestSpec:
    """A kselftest the patch adds: built static for the guests."""

    source: str
    headers: tuple[str, ...]
    includes: tuple[str, ...]
    # Warning flags as the tree's selftests Makefile has them; () = rsslab's
    # own (-Wall -Wextra -Werror).  The build is static either way.
    cflags: tuple[str, ...] = ()

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
    # The kernel versions [since, until) whose trees the series is for: a
    # user's --kernel-tree of such a version is used instead of Debian's.
    versions: tuple[str, str] = ("0", "")
    # A stable series: Cc whom this patch (of another series) goes to.
    cc_recipients_of: str = ""
    # The most CPUs its kernels boot with under QEMU -icount (0: no limit).
    cost_max_cpus: int = 0

    def cost_cpus(self, wanted: Sequence[int]) -> tuple[int, ...]:
        """The CPU counts of ``wanted`` the cost benchmark can boot."""
        return tuple(n for n in wanted if not self.cost_max_cpus or n <= self.cost_max_cpus)

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


_EDIT = Table("edit", {
    "file": Key(str, True), "kind": Key(str, False, KINDS), "function": Key(str),
    "find": Key(str), "after_line": Key(str), "text": Key(str), "source": Key(str),
    "mode": Key(str),
})
_PATCH = Table("patch", {
    "name": Key(str, True), "subject": Key(str), "message": Key(str), "like": Key(str),
    "fixture": Key(bool), "targets": Key(str), "config": Key(str), "claims": Key(list),
    "edit": Key(list, table=_EDIT),
    "require": Key(list, table=Table("require", {
        "file": Key(str, True), "function": Key(str, True), "why": Key(str)})),
    "selftest": Key(dict, table=Table("selftest", {
        "source": Key(str, True), "headers": Key(list), "includes": Key(list),
        "cflags": Key(list)})),
}, name_key="name")


def _series_table(regimes: tuple[str, ...]) -> Table:
    return Table("series", {
        "name": Key(str, True), "describe": Key(str, True), "debian": Key(str, True),
        "suites": Key(list), "patches": Key(list, True), "cover": Key(str, True),
        "subject_prefix": Key(str, True), "to": Key(list), "regime": Key(str, True, regimes),
        "also_maintainers_of": Key(list), "cost": Key(bool), "versions": Key(list),
        "cc_recipients_of": Key(str), "cost_max_cpus": Key(int), "title": Key(str),
        "variant": Key(list, table=Table("variant", {
            "name": Key(str, True), "title": Key(str), "patches": Key(list, True)},
            name_key="name")),
    }, name_key="name")


def _fixture_table(regimes: tuple[str, ...]) -> Table:
    return Table("kernel", {
        "name": Key(str, True), "describe": Key(str, True), "debian": Key(str, True),
        "suites": Key(list, True), "version_of": Key(str, True), "patches": Key(list, True),
        "regimes": Key(list, choices=regimes), "without": Key(list, choices=regimes),
    }, name_key="name")


_FILES = {"series.toml": ("series", _series_table), "fixtures.toml": ("kernel", _fixture_table)}


def _selftest(raw: Any) -> SelftestSpec | None:
    if raw is None:
        return None
    return SelftestSpec(str(raw["source"]), tuple(raw.get("headers", ())),
                        tuple(raw.get("includes", ())), tuple(raw.get("cflags", ())))


# What a patch that is ``like`` another takes from it unless it says itself.
INHERITED = ("subject", "edit", "require", "config", "claims", "selftest")


def _with_like(directory: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Path]]:
    """The patch's table with what it inherits, and the directory each
    inherited file-naming key (``edit``, ``config``) is relative to."""
    where = {k: directory for k in INHERITED}
    like = raw.get("like")
    if not like:
        return raw, where
    other_dir = directory.parent / str(like)
    other = _toml(other_dir / "patch.toml")
    if other.get("like") or other.get("fixture"):
        raise UserError(f"{directory}/patch.toml: like = {like!r} must name a patch that "
                        "is neither a fixture nor like another")
    merged = dict(raw)
    for key in INHERITED:
        if key not in raw and key in other:
            merged[key], where[key] = other[key], other_dir
    return merged, where


def load_patch(directory: Path) -> PatchSpec:
    own = _toml(directory / "patch.toml")
    schema.check(own, _PATCH, f"{directory.parent.name}/{directory.name}/patch.toml")
    raw, where = _with_like(directory, own)
    try:
        fixture = bool(raw.get("fixture", False))
        msg = "" if fixture else (directory / raw["message"]).read_text()
        cfg = (where["config"] / raw["config"]).read_text() if raw.get("config") else ""
        return PatchSpec(
            name=raw["name"], subject=raw["subject"], message=msg,
            edits=tuple(edit_from_toml(e, where["edit"]) for e in raw["edit"]),
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
        cost=bool(s.get("cost", False)), versions=_versions(s),
        cc_recipients_of=str(s.get("cc_recipients_of", "")),
        cost_max_cpus=int(s.get("cost_max_cpus", 0)), title=str(s.get("title", "patched")),
        variants=tuple(_variant(kp, s["name"], own, v) for v in s.get("variant", ())))


def _versions(s: dict[str, Any]) -> tuple[str, str]:
    v = s.get("versions", ["0", ""])
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
        raise UserError(f"series {s.get('name', '?')}: versions must be [since, until], "
                        'e.g. ["6.12", "6.13"]')
    return v[0], v[1]


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
    regimes = tuple(r.id for r in regimes_mod.load(root / "claims"))
    entry, table = _FILES[file]
    schema.check(doc, Table(file, {entry: Key(list, table=table(regimes))}),
                 f"{kp.name}/{file}")
    guest = (kp / "guest.config").read_text()
    out = []
    for raw in doc.get(key, []):
        try:
            out.append(make(kp, guest, raw))
        except (KeyError, OSError) as e:
            raise UserError(f"{kp}/{file}: {key} {raw.get('name', '?')} is incomplete: "
                            f"{e}") from None
    return out


def _check_claim_ids(root: Path, patches: Iterable[PatchSpec]) -> None:
    """Every claim a patch names (``claims`` in its patch.toml) is one of claims/*.toml."""
    named = [(p, cid) for p in patches for cid in p.claims]
    if not named:
        return
    known = {c.id for c in claims_mod.load(root / "claims")}
    for p, cid in named:
        if cid not in known:
            raise schema.SchemaError(
                f"kernelpatches/{p.directory.name}/patch.toml: patch {p.name}: key 'claims': "
                f"unknown claim id '{cid}' (not in claims/*.toml); fix or remove it")


def load_series(root: Path) -> list[SeriesSpec]:
    """Every series in ``kernelpatches/series.toml``."""
    out = _load(root, "series.toml", "series", _series)
    _check_claim_ids(root, (p for s in out
                            for p in (*s.patches, *(q for v in s.variants for q in v.patches))))
    for s in out:
        if s.cc_recipients_of and not any(p.name == s.cc_recipients_of for o in out
                                          if o is not s for p in o.patches):
            raise UserError(f"{root}/kernelpatches/series.toml: series {s.name}: "
                            f"cc_recipients_of = {s.cc_recipients_of!r} is no patch of "
                            "another series")
    return out


def series_of_patch(series: list[SeriesSpec], patch: str) -> SeriesSpec:
    """The series that sends ``patch``."""
    return next(s for s in series if any(p.name == patch for p in s.patches))


def load_fixtures(root: Path) -> list[FixtureSpec]:
    """Every kernel in ``kernelpatches/fixtures.toml``."""
    out = _load(root, "fixtures.toml", "kernel", _fixture)
    _check_claim_ids(root, (p for k in out for p in k.patches))
    return out


def pick(series: list[SeriesSpec], names: list[str]) -> list[SeriesSpec]:
    if not names:
        return series
    known = {s.name: s for s in series}
    for n in names:
        if n not in known:
            raise BadInput(f"unknown series '{n}'; choose from: {', '.join(known)}")
    return [known[n] for n in names]
