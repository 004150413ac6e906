"""Long steps, one line when each starts and one when it ends.

A download, a kernel build or a guest boot can take minutes.  A terminal
shows them as progress bars; a log (``make repro | tee log``, CI) gets only
lines, so every such step also goes to the ``rsslab.steps`` logger at INFO:
``download linux-image-6.1.0-56-amd64-unsigned 6.1.192-2 (68.4 MB)`` when it
starts, ``...: done in 12.3 s`` or ``...: failed after 12.3 s`` when it ends.
The ``rsslab`` command shows them on stderr unless ``--quiet``; a program that
imports rsslab sees them only if it enables that logger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Step:
    """A step under way; ``note`` is added to its last line (e.g. "48 runs")."""

    what: str
    note: str = ""


def size(n_bytes: int) -> str:
    """``70123456`` -> ``70.1 MB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def elapsed(seconds: float) -> str:
    """``12.3 s``, ``4 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@contextmanager
def step(what: str) -> Iterator[Step]:
    """Log ``what`` now, and how it ended and after how long when the block ends."""
    current = Step(what)
    log.info("%s ...", what)
    start = time.monotonic()
    try:
        yield current
    except BaseException:
        log.info("%s: failed after %s", what, elapsed(time.monotonic() - start))
        raise
    note = f" ({current.note})" if current.note else ""
    log.info("%s: done in %s%s", what, elapsed(time.monotonic() - start), note)
