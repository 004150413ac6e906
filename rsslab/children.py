"""Programs rsslab starts for long (QEMU, make) end with it.

Python's default SIGTERM ends rsslab at once, without its ``finally``
blocks, and SIGKILL never runs them: a guest would keep running.  So each
such program runs under ``setpriv --pdeathsig KILL`` (util-linux), which
sets PR_SET_PDEATHSIG: the kernel sends it SIGKILL when the rsslab thread
that started it ends, however it ends (kernel/exit.c:forget_original_parent()).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence


def dies_with_us(argv: Sequence[str]) -> list[str]:
    """argv under ``setpriv --pdeathsig KILL``; as it is where setpriv is missing."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else list(argv)
