"""Lint a patched page the way man-pages does, against the unpatched page.

- ``mandoc -Tlint`` and ``groff -t -man -ww -z``: the patched page may not
  report anything the unpatched page does not (messages are compared
  without their line numbers);
- the page rendered at man-pages' width (``-rLL=78n``) fits 80 columns;
- no added source line breaks a sentence or clause in its middle
  (man-pages(7), "Use semantic newlines").
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.scratch import scratch
from rsslab.errors import ToolMissing, UserError
from rsslab.series.manpages import roff as man_roff

log = logging.getLogger(__name__)

LINT_TIMEOUT_S = 60
RENDER_WIDTH = 80
_LOCATION = re.compile(r"^(?:[\w.-]+: )?(?:[^:\s]*|<standard input>):\d+(?::\d+)?: ")


@dataclass(frozen=True, slots=True)
class Finding:
    page: str
    check: str
    message: str

    def show(self) -> str:
        return f"{self.page}: {self.check}: {self.message}"


def _run(argv: list[str], page_text: str, name: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        pkg = {"mandoc": "mandoc", "groff": "groff"}.get(argv[0], argv[0])
        raise ToolMissing(f"{argv[0]} is not installed; run `make patches` or "
                          f"apt-get install {pkg}")
    with scratch("rsslab-lint-") as tmp:
        path = Path(tmp) / name
        path.write_text(page_text)
        full = [*argv, name]
        log.info("%s", shlex.join(full))
        try:
            return subprocess.run(full, cwd=tmp, capture_output=True, text=True,
                                  timeout=LINT_TIMEOUT_S, env={"LC_ALL": "C.UTF-8",
                                                               "PATH": "/usr/bin:/bin"})
        except subprocess.TimeoutExpired:
            raise UserError(f"{argv[0]} ran over {LINT_TIMEOUT_S} s on {name}") from None


def _messages(stderr: str) -> list[str]:
    return [_LOCATION.sub("", line.removeprefix("mandoc: ")).strip()
            for line in stderr.splitlines() if line.strip()]


def mandoc(text: str, name: str) -> list[str]:
    proc = _run(["mandoc", "-Tlint"], text, name)
    return _messages(proc.stderr + proc.stdout)


def groff_warnings(text: str, name: str) -> list[str]:
    return _messages(_run(["groff", "-t", "-man", "-ww", "-z"], text, name).stderr)


def render(text: str, name: str) -> str:
    """The page as a terminal shows it at man-pages' line length, plain text."""
    proc = _run(["groff", "-t", "-man", "-Tutf8", "-rLL=78n", "-P-cbou"], text, name)
    if proc.returncode != 0:
        raise UserError(f"groff cannot render {name}: {proc.stderr.strip()[-160:]}")
    return proc.stdout


def new_messages(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """Messages of ``after`` that ``before`` does not have (as a multiset)."""
    return list((Counter(after) - Counter(before)).elements())


def lint_page(page: str, old: str, new: str) -> list[Finding]:
    """Everything the patched page ``new`` reports that ``old`` does not."""
    name = page.rsplit("/", 1)[-1]
    out = [Finding(page, "mandoc -Tlint", m)
           for m in new_messages(mandoc(old, name), mandoc(new, name))]
    out += [Finding(page, "groff -ww", m)
            for m in new_messages(groff_warnings(old, name), groff_warnings(new, name))]
    for line in render(new, name).splitlines():
        if len(line) > RENDER_WIDTH:
            out.append(Finding(page, f"rendered width > {RENDER_WIDTH}", line.strip()))
    for no, line in man_roff.midline_breaks(man_roff.added_lines(old, new)):
        out.append(Finding(page, "sentence break in mid-line", f"line {no}: {line}"))
    return out
