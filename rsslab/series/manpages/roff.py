"""Read man(7) roff as prose: the sentences a page says, line by line.

This is not a formatter.  It turns the running text of a page (not its
examples, tables or comments) into plain sentences, so that each sentence a
patch adds can be looked up in the patch's claims sidecar, and it finds
source lines that break a sentence in the middle (man-pages(7), "Use
semantic newlines").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence

_FONT_ALT = {"BR", "RB", "IR", "RI", "BI", "IB"}
_FONT_ONE = {"B", "I", "SM", "SB"}
_BREAK = {"P", "PP", "LP", "IP", "TP", "TQ", "SH", "SS", "RS", "RE", "in", "sp", "br",
          "HP", "UR", "UE", "MT", "ME", "EX", "EE", "nf", "fi", "TS", "TE", "TH"}
_NOFILL_START = {"EX": "EE", "nf": "fi", "TS": "TE"}
_GLYPHS = {"em": "\u2014", "en": "\u2013", "aq": "'", "dq": '"', "lq": "\u201c",
           "rq": "\u201d", "ti": "~", "ha": "^", "mu": "\u00d7", "bu": "\u2022",
           "rs": "\\", "at": "@", "sh": "#", "Fo": "\u00ab", "Fc": "\u00bb", "dg": "\u2020"}
_ESCAPE = re.compile(r"""\\(?:
      (?P<font>f(?:\[[^\]]*\]|\(..|.))
    | \[(?P<glyph>[^\]]+)\]
    | \((?P<glyph2>..)
    | \*(?:\[(?P<str>[^\]]*)\]|\((?P<str2>..)|(?P<str1>.))
    | (?P<space>[~ 0|^])
    | (?P<gone>[&%c:/,)])
    | (?P<minus>-)
    | (?P<e>e)
    | (?P<other>.)
)""", re.VERBOSE)
_SENTENCE_END = re.compile(r"([.!?][)\]\"'\u201d]*)\s+(?=[A-Z(\[/\u201c])")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|cf|vs|a\.k\.a)\.$")
_MIDLINE_BREAK = re.compile(r"[.!?;:][)\]\"']*\s+\S")


def unescape(text: str) -> str:
    """roff escapes to the characters a terminal would show."""

    def sub(m: re.Match[str]) -> str:
        g = m.groupdict()
        if g["font"] or g["gone"]:
            return ""
        if g["glyph"] or g["glyph2"]:
            return _GLYPHS.get(g["glyph"] or g["glyph2"], "")
        if g["str"] is not None or g["str2"] or g["str1"]:
            name = g["str"] or g["str2"] or g["str1"]
            return {"lq": "\u201c", "rq": "\u201d", "R": "\u00ae", "Tm": "\u2122"}.get(name, "")
        if g["space"]:
            return " "
        if g["minus"]:
            return "-"
        if g["e"]:
            return "\\"
        return g["other"] or ""

    return _ESCAPE.sub(sub, text)


def split_args(text: str) -> list[str]:
    """A macro's arguments, with roff's double-quote rules."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            i += 1
            buf = []
            while i < n:
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(text[i])
                i += 1
            args.append("".join(buf))
        else:
            j = i
            while j < n and text[j] != " ":
                j += 1
            args.append(text[i:j])
            i = j
    return args


def _strip_comment(line: str) -> str:
    m = re.search(r'(?<!\\)\\"', line)
    return line[:m.start()] if m else line


def _units(lines: Sequence[str]) -> Iterator[str]:
    """Runs of prose between paragraph breaks, and list tags on their own.

    Section headings and the reference list of SEE ALSO are not prose.
    """
    buf: list[str] = []
    nofill = ""
    tag_next = False
    section = ""
    for raw in lines:
        line = _strip_comment(raw)
        if raw.startswith(('.\\"', "'\\\"")) or (not line.strip() and raw.strip()):
            continue
        name, rest = "", line
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            name, rest = (parts[0] if parts else ""), (parts[1] if len(parts) > 1 else "")
        if nofill:
            if name == nofill:
                nofill = ""
            continue
        if name in _NOFILL_START:
            nofill = _NOFILL_START[name]
        if name == "SH":
            section = " ".join(split_args(rest)).upper()
        if name in _BREAK or (name and name not in _FONT_ALT | _FONT_ONE):
            if buf:
                yield " ".join(buf)
            buf = []
            tag_next = name in ("TP", "TQ")
            if name == "IP" and rest:
                yield unescape(" ".join(split_args(rest)))
            continue
        if section == "SEE ALSO":
            continue
        if name in _FONT_ALT:
            text = "".join(split_args(rest))
        elif name in _FONT_ONE:
            text = " ".join(split_args(rest))
        else:
            text = line
        text = unescape(text).strip()
        if tag_next:
            yield text
            tag_next = False
            continue
        if text:
            buf.append(text)
    if buf:
        yield " ".join(buf)


def sentences(text: str) -> list[str]:
    """The sentences of a page's running text, white space normalized."""
    out: list[str] = []
    for unit in _units(text.split("\n")):
        unit = " ".join(unit.split())
        start = 0
        for m in _SENTENCE_END.finditer(unit):
            if _ABBREV.search(unit[start:m.start() + 1]):
                continue
            out.append(unit[start:m.end(1)].strip())
            start = m.end()
        if unit[start:].strip():
            out.append(unit[start:].strip())
    return out


def added_sentences(old: str, new: str) -> list[str]:
    """Sentences of ``new`` that ``old`` does not have, in page order, once each."""
    before = set(sentences(old))
    return list(dict.fromkeys(s for s in sentences(new) if s not in before))


def added_lines(old: str, new: str) -> list[tuple[int, str]]:
    """(1-based line number in ``new``, line) of every line the change adds."""
    a, b = old.split("\n"), new.split("\n")
    out: list[tuple[int, str]] = []
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("insert", "replace"):
            out.extend((j + 1, b[j]) for j in range(j1, j2))
    return out


def midline_breaks(lines: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines among ``lines`` where a sentence or clause ends and text goes on."""
    bad = []
    for no, line in lines:
        if line.startswith(('.\\"', "'\\\"")) or not line.strip():
            continue
        body = _strip_comment(line)
        if body.startswith("."):
            body = " ".join(split_args(body.split(None, 1)[1])) if " " in body else ""
        body = unescape(body)
        for m in _MIDLINE_BREAK.finditer(body):
            if not _ABBREV.search(body[:m.start() + 1]):
                bad.append((no, line))
                break
    return bad
