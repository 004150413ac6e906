"""Errors meant for the user: one line that says what is wrong and what to do.

Only ``cli.main`` prints them (``rsslab: <message>``) and exits with
``exit_status``.  Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message names the fix."""

    exit_status: int = 2


class BadInput(UserError):
    """An unknown scenario, a bad parameter or option value."""


class ToolMissing(UserError):
    """A program rsslab needs (cc, qemu, apt-get...) is not installed."""


class ObserverError(UserError):
    """The observer could not measure (ptrace denied, /proc field missing...)."""


class KernelError(UserError):
    """A kernel could not be fetched, built or booted."""


class AptError(UserError):
    """apt could not reach, read or download from a Debian suite."""
