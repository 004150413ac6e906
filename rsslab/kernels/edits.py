"""Semantic edits: a change located by file and function, not by line number.

An edit names a file, optionally a C function in it, and an anchor: exact
text that must occur once in that function (``find``), or a regular
expression that must match exactly one line (``after_line``).  Anything
else raises ``EditError`` naming the file and the function, so a tree of
another regime fails with one clear line instead of a fuzzy patch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsslab.errors import UserError


class EditError(UserError):
    """An edit does not fit this tree (file, function or anchor not found)."""


@dataclass(frozen=True, slots=True)
class Edit:
    """One change.  ``kind``: replace, insert_before, insert_after (text
    anchors inside ``function``), after_line (a line regex), new_file."""

    file: str
    kind: str
    text: str
    function: str = ""
    find: str = ""
    after_line: str = ""
    mode: int = 0o644

    def where(self) -> str:
        return f"{self.file}: {self.function}()" if self.function else self.file


@dataclass(frozen=True, slots=True)
class Requirement:
    """A function the change relies on, e.g. a helper added upstream."""

    file: str
    function: str
    why: str = ""


KINDS = ("replace", "insert_before", "insert_after", "after_line", "new_file")


def edit_from_toml(raw: Mapping[str, Any], base: Path) -> Edit:
    kind = str(raw.get("kind", "replace"))
    if kind not in KINDS:
        raise UserError(f"{base}: edit of {raw.get('file')} has unknown kind '{kind}' "
                        f"(one of {', '.join(KINDS)})")
    text = raw.get("text")
    if "source" in raw:
        text = (base / str(raw["source"])).read_text()
    if not isinstance(text, str) or "file" not in raw:
        raise UserError(f"{base}: every edit needs 'file' and 'text' (or 'source')")
    return Edit(file=str(raw["file"]), kind=kind, text=text,
                function=str(raw.get("function", "")), find=str(raw.get("find", "")),
                after_line=str(raw.get("after_line", "")),
                mode=int(str(raw.get("mode", "644")), 8))


# --- locating a C function -------------------------------------------------

_SKIP = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def _blank_noise(src: str) -> str:
    """Comments, strings and char literals replaced by spaces, same offsets."""
    return _SKIP.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), src)


def _match_brace(code: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(code)):
        c = code[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def function_span(src: str, name: str) -> tuple[int, int] | None:
    """(start, end) of the definition of ``name``: from the start of its
    declarator line to its closing brace.  None when there is no single
    definition (a prototype alone does not count)."""
    code = _blank_noise(src)
    found: list[tuple[int, int]] = []
    for m in re.finditer(rf"^[A-Za-z_][^;{{}}\n]*\b{re.escape(name)}\s*\(", code, re.M):
        depth, i = 0, m.end() - 1
        while i < len(code):
            if code[i] == "(":
                depth += 1
            elif code[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        rest = re.match(r"[^;{]*", code[i + 1:])
        after = i + 1 + (rest.end() if rest else 0)
        if after < len(code) and code[after] == "{":
            end = _match_brace(code, after)
            if end > 0:
                found.append((m.start(), end + 1))
    return found[0] if len(found) == 1 else None


# --- applying --------------------------------------------------------------


def _anchor(body: str, find: str, where: str) -> tuple[int, int]:
    """The one place ``find`` occurs in ``body``; whitespace runs may differ."""
    hits = [m.span() for m in re.finditer(re.escape(find), body)]
    if not hits:
        flexible = r"\s+".join(re.escape(w) for w in find.split())
        hits = [m.span() for m in re.finditer(flexible, body)]
    if len(hits) != 1:
        first = find.strip().splitlines()[0] if find.strip() else "(empty anchor)"
        what = "cannot find" if not hits else f"{len(hits)} matches for"
        raise EditError(f"{where}: {what} '{first}'; this tree is not of the patch's "
                        "regime or the code moved; update the edit in kernelpatches/")
    return hits[0]


def _line_start(text: str, at: int) -> int:
    return text.rfind("\n", 0, at) + 1


def apply_text(src: str, edit: Edit) -> str:
    """``src`` with ``edit`` applied; raises ``EditError`` when it does not fit."""
    lo, hi = 0, len(src)
    if edit.function:
        span = function_span(src, edit.function)
        if span is None:
            raise EditError(f"{edit.where()}: no single definition of {edit.function}(); "
                            "this tree is not of the patch's regime")
        lo, hi = span
    body = src[lo:hi]
    if edit.kind == "after_line":
        hits = [m for m in re.finditer(edit.after_line, body, re.M)]
        if len(hits) != 1:
            raise EditError(f"{edit.where()}: {len(hits)} lines match /{edit.after_line}/, "
                            "expected exactly one; update the edit in kernelpatches/")
        nl = body.find("\n", hits[0].end())
        at = lo + (len(body) if nl < 0 else nl + 1)
        return src[:at] + edit.text + src[at:]
    a, b = _anchor(body, edit.find, edit.where())
    a, b = lo + a, lo + b
    if edit.kind == "replace":
        return src[:a] + edit.text + src[b:]
    if edit.kind == "insert_before":
        at = _line_start(src, a)
        return src[:at] + edit.text + src[at:]
    nl = src.find("\n", b)
    at = len(src) if nl < 0 else nl + 1
    return src[:at] + edit.text + src[at:]


def check_requirement(root: Path, req: Requirement) -> None:
    path = root / req.file
    if not path.is_file() or function_span(path.read_text(errors="replace"), req.function) is None:
        why = f" ({req.why})" if req.why else ""
        raise EditError(f"{req.file}: no {req.function}(){why}; this tree is older than "
                        "the patch's regime")


def apply_edits(root: Path, edits: Sequence[Edit], requires: Sequence[Requirement] = ()) -> list[str]:
    """Apply every edit under the checkout ``root``; return the touched paths.
    Nothing is written unless every edit fits."""
    for req in requires:
        check_requirement(root, req)
    new: dict[str, str] = {}
    modes: dict[str, int] = {}
    for e in edits:
        path = root / e.file
        if e.kind == "new_file":
            if path.exists() or e.file in new:
                raise EditError(f"{e.file}: already exists; the patch was applied already "
                                "or the tree has its own")
            new[e.file], modes[e.file] = e.text, e.mode
            continue
        if e.file not in new:
            if not path.is_file():
                raise EditError(f"{e.file}: no such file in this tree")
            new[e.file] = path.read_text()
        new[e.file] = apply_text(new[e.file], e)
    for name, text in new.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name in modes:
            path.chmod(modes[name])
    return list(new)
