"""Commit messages and cover letters from ``string.Template`` files.

Both series write their messages as templates whose ``${names}`` are
filled from measurements, and wrap prose at 72 columns the way a mail
client shows it: plain paragraphs are filled again after substitution,
while indented blocks (tables, quoted commands), lists and trailer lines
stay as they are.
"""

from __future__ import annotations

import re
import string
import textwrap
from collections.abc import Mapping
from pathlib import Path

from rsslab.errors import UserError

WIDTH = 72
_TRAILER = re.compile(r"^(Signed-off-by|Fixes|Link|Cc|Closes|Reported-by|Suggested-by|"
                      r"Reviewed-by|Acked-by|Tested-by|Co-developed-by): \S")


def is_trailer(line: str) -> bool:
    return bool(_TRAILER.match(line))


def wrap(text: str, first: str = "", rest: str = "") -> list[str]:
    """Lines of at most WIDTH columns, never breaking a word or claim id."""
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=False)


def names(template: str) -> set[str]:
    """The ``${names}`` a template uses (a bad one is :func:`fill`'s error)."""
    return set(string.Template(template).get_identifiers())


def fill(template: str, values: Mapping[str, str], where: str | Path) -> str:
    """The template with its ``${names}`` replaced; one line naming the
    file when a name is not defined."""
    try:
        return string.Template(template).substitute(values)
    except KeyError as e:
        raise UserError(f"{where} uses ${{{e.args[0]}}}, which is not defined "
                        f"(known: {', '.join(sorted(values))})") from None
    except ValueError as e:
        raise UserError(f"{where}: {e}; write $$ for a dollar") from None


def reflow(text: str) -> str:
    """Prose paragraphs with a line wider than WIDTH filled again."""
    out = []
    for para in text.split("\n\n"):
        lines = para.split("\n")
        plain = all(ln and not ln.startswith((" ", "\t", "-")) and not is_trailer(ln)
                    for ln in lines)
        if plain and any(len(ln) > WIDTH for ln in lines):
            para = "\n".join(wrap(" ".join(lines)))
        out.append(para)
    return "\n\n".join(out)
