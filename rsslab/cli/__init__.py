"""The ``rsslab`` command: ``main`` parses the command line and dispatches
(``commands``); ``render``, ``report``, ``summary`` and ``plain`` turn
results into tables for a terminal or a log."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not loaded before main() runs
if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsslab.run.session import Session

__all__ = ["main"]

# A SIGINT while rsslab loads or parses its command line is said as one
# while a command runs (commands._run): this line and this status.
INTERRUPTED = "rsslab: interrupted"
INTERRUPTED_STATUS = 130


def main(argv: Sequence[str] | None = None, session: Session | None = None) -> int:
    """rsslab's command line (``commands.main``), loaded here so that a
    SIGINT that comes while it loads ends rsslab with one line, never a
    traceback of whatever module was loading."""
    try:
        from rsslab.cli import commands

        return commands.main(argv, session)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return INTERRUPTED_STATUS
