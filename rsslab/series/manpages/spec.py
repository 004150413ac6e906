"""The man-pages series as data: ``manpatches/``.

``manpatches/series.toml`` gives the order of the patches, the recipients
and the cover letter.  Each ``manpatches/<name>/`` holds one patch:

- ``patch.toml``: the subject, the edits to the pages (see
  :mod:`rsslab.series.manpages.edit`), the wording changes it may make without a
  claim, and the measurements its message quotes;
- ``message.txt``: the commit message body, a ``string.Template``;
- ``claims.toml``: every sentence the patch adds to a page, as rendered
  text, with the claim ids (``claims/*.toml``) that back it and the
  figures in it, each computed by a formula of :mod:`rsslab.claims`;
- optionally a short test program (``demo``) that the message shows with
  its output on this machine.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsslab import claims as claims_mod
from rsslab import metrics, schema
from rsslab.errors import UserError
from rsslab.schema import Key, Table

OPS = ("replace", "add_section", "see_also")


@dataclass(frozen=True, slots=True)
class Edit:
    """One change to one page.

    ``replace``: the lines ``old`` (inside the list entry whose tag line is
    ``entry``, if given) become ``new``.  ``add_section``: ``text`` becomes
    section ``section``, placed in the order of man-pages(7).  ``see_also``:
    ``refs`` (``name(section)``) join SEE ALSO in order.
    """

    page: str
    op: str
    old: str = ""
    new: str = ""
    entry: str = ""
    section: str = ""
    refs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Figure:
    """A number written in a sentence and the formula that gives it."""

    value: str
    formula: str
    args: Mapping[str, int]
    unit: str = "pages"
    page_kib: int = 4


@dataclass(frozen=True, slots=True)
class Sentence:
    """An added sentence, its claims, the numbers it computes (``figures``)
    and the numbers it takes as given (``givens``: a CPU count, a page size)."""

    text: str
    claims: tuple[str, ...]
    figures: tuple[Figure, ...] = ()
    givens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Measure:
    """A table for the message: these runs' metrics, from every results file."""

    name: str
    title: str
    scenario: str
    params: Mapping[str, int | str]
    columns: tuple[tuple[str, str], ...]  # (heading, flat metric name)
    reference: str  # the exact column the errors are counted against
    absolute: tuple[str, ...] = ()  # metrics shown in KiB besides the reference
    merge_cpus: bool = False  # one row per kernel for all its CPU counts

    def shows_error(self, metric: str) -> bool:
        return metric != self.reference and metric not in self.absolute

    @property
    def reference_name(self) -> str:
        return next((h for h, metric in self.columns if metric == self.reference),
                    self.reference)


@dataclass(frozen=True, slots=True)
class Command:
    """A command the message shows with its output (``{libc}``: the C library)."""

    name: str
    argv: tuple[str, ...]
    grep: str = ""


@dataclass(frozen=True, slots=True)
class ManPatch:
    name: str
    directory: Path
    subject: str
    edits: tuple[Edit, ...]
    message: str
    sentences: tuple[Sentence, ...]
    wording: tuple[tuple[str, str], ...] = ()
    measures: tuple[Measure, ...] = ()
    demo: Path | None = None
    demo_args: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()
    trailers: tuple[str, ...] = ()

    @property
    def pages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.page for e in self.edits))

    def claim_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for s in self.sentences for c in s.claims))


@dataclass(frozen=True, slots=True)
class Series:
    directory: Path
    patches: tuple[ManPatch, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    cover_subject: str
    cover: str
    version: int = 1


def _column_problem(column: Any) -> str:
    """What is wrong with a measure's column, ``[header, metric]``, or ""."""
    if not (isinstance(column, list) and len(column) == 2
            and all(isinstance(x, str) for x in column)):
        return f"column {column!r} is not [header, metric]; write that"
    return metrics.unknown(column[1])


_PATCH = Table("man-pages patch", {
    "subject": Key(str, True), "message": Key(str), "claims": Key(str), "demo": Key(str),
    "demo_args": Key(list), "trailers": Key(list), "wording": Key(list),
    "edit": Key(list, True, table=Table("edit", {
        "page": Key(str, True), "op": Key(str, True, OPS), "old": Key(str), "new": Key(str),
        "text": Key(str), "entry": Key(str), "section": Key(str), "refs": Key(list)})),
    "measure": Key(list, table=Table("measure", {
        "name": Key(str, True), "title": Key(str, True), "scenario": Key(str, True),
        "params": Key(dict), "columns": Key(list, True, check=_column_problem),
        "reference": Key(str, True, check=metrics.unknown),
        "absolute": Key(list, check=metrics.unknown), "merge_cpus": Key(bool)},
        name_key="name")),
    "command": Key(list, table=Table("command", {
        "name": Key(str, True), "argv": Key(list, True), "grep": Key(str)}, name_key="name")),
})
_SENTENCES = Table("claims file", {"sentence": Key(list, table=Table("sentence", {
    "text": Key(str, True), "claims": Key(list), "givens": Key(list),
    "figures": Key(list, table=Table("figure", {
        "value": Key(str, True), "formula": Key(str, True), "args": Key(dict),
        "unit": Key(str), "page_kib": Key(int)}))}))})
_SERIES = Table("series file", {
    "patches": Key(list, True), "version": Key(int),
    "mail": Key(dict, True, table=Table("mail", {"to": Key(list, True), "cc": Key(list, True)})),
    "cover": Key(dict, True, table=Table("cover", {
        "subject": Key(str, True), "template": Key(str, True)})),
})


def _check_claim_ids(directory: Path, patches: Sequence[ManPatch]) -> None:
    """Every claim a sentence names is one of claims/*.toml (beside ``directory``)."""
    named = [(p, s, cid) for p in patches for s in p.sentences for cid in s.claims]
    if not named:
        return
    known = {c.id for c in claims_mod.load(directory.parent / "claims")}
    for p, s, cid in named:
        if cid not in known:
            raise schema.SchemaError(
                f"{directory.name}/{p.name}: sentence \"{s.text[:40]}...\": unknown claim "
                f"id '{cid}' (not in claims/*.toml); fix or remove it")


def _where(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}/{path.name}"


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path} is not valid TOML: {e}") from None


def _edit(raw: Mapping[str, Any], where: str) -> Edit:
    op = raw.get("op", "")
    if op not in OPS:
        raise UserError(f"{where}: edit op '{op}' is not one of {', '.join(OPS)}")
    page = raw.get("page", "")
    if not page.startswith("man/man"):
        raise UserError(f"{where}: edit page '{page}' must be a path like man/man2/getrusage.2")
    need = {"replace": ("old", "new"), "add_section": ("section", "text"),
            "see_also": ("refs",)}[op]
    missing = [k for k in need if not raw.get(k)]
    if missing:
        raise UserError(f"{where}: {op} edit of {page} needs {', '.join(missing)}")
    return Edit(page=page, op=op, old=raw.get("old", ""),
                new=raw.get("new", raw.get("text", "")), entry=raw.get("entry", ""),
                section=raw.get("section", ""), refs=tuple(raw.get("refs", ())))


def _figure(raw: Mapping[str, Any]) -> Figure:
    return Figure(str(raw["value"]), str(raw["formula"]), dict(raw.get("args", {})),
                  str(raw.get("unit", "pages")), int(raw.get("page_kib", 4)))


def _sentences(path: Path) -> tuple[Sentence, ...]:
    doc = _toml(path)
    schema.check(doc, _SENTENCES, _where(path))
    try:
        return tuple(Sentence(" ".join(str(s["text"]).split()), tuple(s.get("claims", ())),
                              tuple(_figure(f) for f in s.get("figures", ())),
                              tuple(str(g) for g in s.get("givens", ())))
                     for s in doc.get("sentence", ()))
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: a sentence entry is invalid ({e})") from None


def _measure(raw: Mapping[str, Any]) -> Measure:
    return Measure(raw["name"], raw["title"], raw["scenario"], dict(raw.get("params", {})),
                   tuple((str(h), str(m)) for h, m in raw["columns"]), raw["reference"],
                   tuple(raw.get("absolute", ())), bool(raw.get("merge_cpus", False)))


def load_patch(directory: Path) -> ManPatch:
    spec_path = directory / "patch.toml"
    doc = _toml(spec_path)
    where = str(spec_path)
    schema.check(doc, _PATCH, _where(spec_path))
    try:
        edits = tuple(_edit(e, where) for e in doc["edit"])
        message = (directory / doc.get("message", "message.txt")).read_text()
        demo = directory / doc["demo"] if doc.get("demo") else None
        patch = ManPatch(
            name=directory.name, directory=directory, subject=doc["subject"], edits=edits,
            message=message, sentences=_sentences(directory / doc.get("claims", "claims.toml")),
            wording=tuple((str(a), str(b)) for a, b in doc.get("wording", ())),
            measures=tuple(_measure(m) for m in doc.get("measure", ())),
            demo=demo, demo_args=tuple(str(a) for a in doc.get("demo_args", ())),
            commands=tuple(Command(c["name"], tuple(c["argv"]), c.get("grep", ""))
                           for c in doc.get("command", ())),
            trailers=tuple(str(t) for t in doc.get("trailers", ())))
    except KeyError as e:
        raise UserError(f"{where} lacks {e}") from None
    except OSError as e:
        raise UserError(f"{where}: cannot read {e.filename}: {e.strerror}") from None
    if demo is not None and not demo.is_file():
        raise UserError(f"{where}: demo {demo} does not exist")
    return patch


def load_series(directory: Path, only: Sequence[str] = ()) -> Series:
    """``manpatches/series.toml`` and its patches (``only``: a subset, in order)."""
    doc = _toml(directory / "series.toml")
    schema.check(doc, _SERIES, f"{directory.name}/series.toml")
    names = list(doc.get("patches", ()))
    unknown = [n for n in only if n not in names]
    if unknown:
        raise UserError(f"no man-pages patch {', '.join(unknown)}; "
                        f"the series has {', '.join(names)}")
    patches = tuple(load_patch(directory / n) for n in names if not only or n in only)
    _check_claim_ids(directory, patches)
    try:
        mail, cover = doc["mail"], doc["cover"]
        return Series(
            directory=directory,
            patches=patches,
            to=tuple(mail["to"]), cc=tuple(mail["cc"]), cover_subject=cover["subject"],
            cover=(directory / cover["template"]).read_text(), version=int(doc.get("version", 1)))
    except KeyError as e:
        raise UserError(f"{directory / 'series.toml'} lacks {e}") from None
    except OSError as e:
        raise UserError(f"cannot read {e.filename}: {e.strerror}") from None
