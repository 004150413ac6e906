"""The ``rsslab`` command: ``main`` parses the command line and dispatches;
``render``, ``report``, ``summary`` and ``plain`` turn results into tables
for a terminal or a log."""

from rsslab.cli.commands import main

__all__ = ["main"]
