"""Small reStructuredText writers for the generated pages."""

from __future__ import annotations

from collections.abc import Sequence

from rsslab.claims import Tag

KERNEL_GIT = "https://git.kernel.org/torvalds/c/"
LORE = "https://lore.kernel.org/r/"


def esc(text: str) -> str:
    """Inline text with rst markup characters escaped."""
    out = text.replace("\\", "\\\\")
    for ch in "*`|_[]":
        out = out.replace(ch, "\\" + ch)
    return out


def lit(text: str) -> str:
    return f"``{text}``" if text else ""


def heading(text: str, char: str, over: bool = False) -> str:
    bar = char * max(len(text), 3)
    return f"{bar}\n{text}\n{bar}\n\n" if over else f"{text}\n{bar}\n\n"


def indent(text: str, n: int = 3) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def list_table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: str = "auto",
               title: str = "", classes: str = "") -> str:
    """A ``list-table``; cells are rst (may hold several lines)."""
    lines = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", f"   :widths: {widths}"]
    if classes:
        lines.append(f"   :class: {classes}")
    lines.append("")
    for row in (header, *rows):
        for i, cell in enumerate(row):
            body = cell.splitlines() or [""]
            first = "   * - " if i == 0 else "     - "
            lines.append(first + body[0])
            lines += ["       " + b if b.strip() else "" for b in body[1:]]
    return "\n".join(lines) + "\n\n"


def tag(t: Tag) -> str:
    """An LTP-style citation: commits link to the kernel's git, sources stay literal."""
    note = f' ("{esc(t.note)}")' if t.note else ""
    if t.kind == "linux-git":
        return f"linux.git `{t.ref[:12]} <{KERNEL_GIT}{t.ref}>`__{note}"
    if t.kind == "stable":
        return f"stable review `{esc(t.ref)} <{LORE}{t.ref}>`__{note}"
    return f"{esc(t.kind)} {lit(t.ref)}{note}"


def short_tag(t: Tag) -> str:
    """A compact citation for tables: the commit, or the function and version."""
    if t.kind == "linux-git":
        return f"`{t.ref[:12]} <{KERNEL_GIT}{t.ref}>`__"
    if t.kind == "source":
        return lit(t.ref.rsplit("/", 1)[-1])
    return tag(t)


def claim_ref(claim_id: str) -> str:
    """A link to a claim's entry that asserts nothing (tables, lists)."""
    return f":ref:`{claim_id} <claim-{claim_id}>`"


def note(text: str, kind: str = "note") -> str:
    return f".. {kind}::\n\n{indent(text)}\n\n"
