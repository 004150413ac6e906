"""Reports as plain text, for logs and files.

A terminal gets rich's tables at its own width, in colour.  A pipe, a file
or a CI log (``make repro | tee log``) gets them as plain aligned text: no
colour, no box but a rule under the header, the title on its own line, each
column as wide as its content, up to ``LOG_WIDTH`` characters a line.  A row
too wide for that wraps the cells that hold words; an identifier or a number
is never cut.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

# The wide mode of terminals and line printers.
LOG_WIDTH = 132


def text(renderable: object, width: int = LOG_WIDTH) -> str:
    """``renderable`` as text without colour codes or trailing blanks."""
    console = Console(width=width, highlight=False, color_system=None, file=io.StringIO())
    with console.capture() as cap:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in cap.get().splitlines()) + "\n"


def _plain(cell: object) -> str | None:
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return cell.plain if isinstance(cell, Text) else None


def _words(column: Column) -> bool:
    """Does any cell of the column hold words (that may wrap at a space)?"""
    for cell in column.cells:
        text_ = _plain(cell)
        if text_ is None or any(" " in line.strip() for line in text_.splitlines()):
            return True
    return False


def _log_table(table: Table) -> Table:
    """The table restyled in place for a log: plain; a row too wide for the
    line wraps the columns that hold words, never an identifier or a number."""
    table.box = box.SIMPLE_HEAD
    table.show_edge = False
    table.pad_edge = False
    table.expand = False
    table.collapse_padding = False
    table.padding = (0, 1, 0, 0)
    for column in table.columns:
        column.no_wrap = not _words(column)
        column.overflow = "fold"
    return table


def for_log(renderable: RenderableType, width: int = LOG_WIDTH) -> str:
    """A report for a log: each table after a blank line, its title on a line
    of its own, then its rows."""
    if isinstance(renderable, Group):
        return "".join(for_log(r, width) for r in renderable.renderables)
    if not isinstance(renderable, Table):
        return text(renderable, width)
    title = renderable.title
    renderable.title = None
    head = "\n"
    if title:
        head += text(title if isinstance(title, Text) else Text.from_markup(str(title)), width)
    return head + text(_log_table(renderable), width)


def rows_in_lines(table: Table, width: int = LOG_WIDTH) -> list[int]:
    """How many lines each row of ``table`` takes in ``for_log`` (for tests)."""
    table.show_lines = True
    table.title = None
    body = text(_log_table(table), width).splitlines()
    if table.show_header:
        rule = next(i for i, line in enumerate(body) if line.strip() and not line.strip("─ "))
        body = body[rule + 1:]
    counts, n = [], 0
    for line in body:
        if line.strip():
            n += 1
        elif n:
            counts.append(n)
            n = 0
    return [*counts, n] if n else counts
