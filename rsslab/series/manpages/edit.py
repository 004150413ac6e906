"""Apply a patch's edits to the roff source of a page.

Edits find their place by content, not by line number, so they apply to any
release whose text is the same up to white space; when the expected text is
not there (or is there twice), the error names the page, the patch and the
first line it looked for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rsslab.errors import UserError
from rsslab.series.manpages.spec import Edit

# man-pages(7), "Sections within a manual page", in order.
SECTION_ORDER = ("NAME", "LIBRARY", "SYNOPSIS", "CONFIGURATION", "DESCRIPTION", "OPTIONS",
                 "EXIT STATUS", "RETURN VALUE", "ERRORS", "ENVIRONMENT", "FILES", "ATTRIBUTES",
                 "VERSIONS", "STANDARDS", "HISTORY", "NOTES", "CAVEATS", "BUGS", "EXAMPLES",
                 "AUTHORS", "REPORTING BUGS", "COPYRIGHT", "SEE ALSO")
_ENTRY_END = re.compile(r"^\.(TP|SH|SS)\b")
_TAG_START = re.compile(r"^\.(TP|TQ)\b")
_XREF = re.compile(r"^\.BR\s+(\S+)\s+\((\d\w*)\),?\s*$")


class EditFailed(UserError):
    """The page does not hold the text an edit expects."""


def _norm(line: str) -> str:
    return " ".join(line.split())


def _lines(text: str) -> list[str]:
    return text.strip("\n").split("\n")


def _quote(line: str) -> str:
    return line if len(line) <= 60 else line[:57] + "..."


def _find(lines: Sequence[str], want: Sequence[str], lo: int, hi: int) -> list[int]:
    n = len(want)
    key = [_norm(w) for w in want]
    return [i for i in range(lo, hi - n + 1)
            if [_norm(x) for x in lines[i:i + n]] == key]


def _entry_span(lines: Sequence[str], edit: Edit, where: str) -> tuple[int, int]:
    if not edit.entry:
        return 0, len(lines)
    tags = [i for i, x in enumerate(lines) if _norm(x) == _norm(edit.entry)
            and i > 0 and _TAG_START.match(lines[i - 1])]
    if len(tags) != 1:
        how = "no list entry" if not tags else f"{len(tags)} list entries"
        raise EditFailed(f"{where}: {how} '{edit.entry}' (after .TP) in the page; "
                         "update the edit's entry to the page's text")
    end = next((j for j in range(tags[0] + 1, len(lines)) if _ENTRY_END.match(lines[j])),
               len(lines))
    return tags[0], end


def _replace(lines: list[str], edit: Edit, where: str) -> list[str]:
    old = _lines(edit.old)
    lo, hi = _entry_span(lines, edit, where)
    hits = _find(lines, old, lo, hi)
    scope = f" in entry '{edit.entry}'" if edit.entry else ""
    if len(hits) != 1:
        first = next((x for x in old if not x.startswith(".")), old[0])
        what = "not found" if not hits else f"found {len(hits)} times"
        raise EditFailed(f"{where}: expected text {what}{scope}: \"{_quote(first)}\"; "
                         "the page changed, update the edit's old text")
    i = hits[0]
    return lines[:i] + _lines(edit.new) + lines[i + len(old):]


def section_names(lines: Sequence[str]) -> list[tuple[int, str]]:
    out = []
    for i, line in enumerate(lines):
        if line.startswith(".SH"):
            out.append((i, _norm(line[3:].replace('"', ""))))
    return out


def _add_section(lines: list[str], edit: Edit, where: str) -> list[str]:
    name = edit.section.upper()
    if name not in SECTION_ORDER:
        raise EditFailed(f"{where}: '{edit.section}' is not a section of man-pages(7)")
    sections = section_names(lines)
    if any(s == name for _, s in sections):
        raise EditFailed(f"{where}: the page already has a {name} section; "
                         "merge the new text into it by hand and update the edit")
    rank = SECTION_ORDER.index(name)
    later = [i for i, s in sections if s in SECTION_ORDER and SECTION_ORDER.index(s) > rank]
    at = later[0] if later else len(lines)
    head = f'.SH "{name}"' if " " in name else f".SH {name}"
    return lines[:at] + [head, *_lines(edit.new)] + lines[at:]


def _ref_key(name: str, section: str) -> tuple[int, str, str]:
    m = re.match(r"(\d+)(\w*)", section)
    return (int(m[1]) if m else 99, m[2] if m else section, name)


def _see_also(lines: list[str], edit: Edit, where: str) -> list[str]:
    sections = section_names(lines)
    starts = [i for i, s in sections if s == "SEE ALSO"]
    if not starts:
        raise EditFailed(f"{where}: the page has no SEE ALSO section")
    lo = starts[0] + 1
    hi = next((i for i, _ in sections if i > lo), len(lines))
    refs: list[tuple[str, str]] = []
    for line in lines[lo:hi]:
        m = _XREF.match(line)
        if not m:
            raise EditFailed(f"{where}: SEE ALSO has a line that is not '.BR page (N),': "
                             f"\"{_quote(line)}\"; add the references by hand")
        refs.append((m[1], m[2]))
    for ref in edit.refs:
        m = re.fullmatch(r"(\S+)\((\d\w*)\)", ref)
        if not m:
            raise EditFailed(f"{where}: SEE ALSO reference '{ref}' is not like page(5)")
        new = (m[1], m[2])
        if new in refs:
            continue
        key = _ref_key(*new)
        at = next((k for k, r in enumerate(refs) if _ref_key(*r) > key), len(refs))
        refs.insert(at, new)
    body = [f".BR {n} ({s})," for n, s in refs]
    body[-1] = body[-1].rstrip(",")
    return lines[:lo] + body + lines[hi:]


def apply_edit(text: str, edit: Edit, patch: str) -> str:
    """The page ``text`` with one edit made; ``patch`` names it in errors."""
    where = f"{edit.page} ({patch})"
    lines = text.split("\n")
    trailing = lines and lines[-1] == ""
    if trailing:
        lines = lines[:-1]
    if edit.op == "replace":
        lines = _replace(lines, edit, where)
    elif edit.op == "add_section":
        lines = _add_section(lines, edit, where)
    else:
        lines = _see_also(lines, edit, where)
    return "\n".join(lines) + ("\n" if trailing else "")


def apply_edits(pages: dict[str, str], edits: Sequence[Edit], patch: str) -> dict[str, str]:
    """Every edit of one patch over ``pages`` ({path: text}); a new dict."""
    out = dict(pages)
    for edit in edits:
        if edit.page not in out:
            raise EditFailed(f"{edit.page} ({patch}): the base has no such page; "
                             "man-pages 6.8 or later is needed (proc_pid_*.5 since 6.06)")
        out[edit.page] = apply_edit(out[edit.page], edit, patch)
    return out
