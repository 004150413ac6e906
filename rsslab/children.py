"""Programs rsslab starts for long (QEMU, make) end with it.

Python's default SIGTERM ends rsslab at once, without its ``finally``
blocks, and SIGKILL never runs them: a guest would keep running.  So each
such program runs under ``setpriv --pdeathsig KILL`` (util-linux), which
sets PR_SET_PDEATHSIG: the kernel sends it SIGKILL when the rsslab thread
that started it ends, however it ends (kernel/exit.c:forget_original_parent()).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Sequence


def dies_with_us(argv: Sequence[str]) -> list[str]:
    """argv under ``setpriv --pdeathsig KILL``; as it is where setpriv is missing."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else list(argv)


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], wait_s: float) -> None:
    """Ask a child that cleans up after itself (the observer: it kills and
    reaps its tree, removes its tracefs instance and cgroup) to end with
    SIGTERM, and SIGKILL it only after ``wait_s``.  subprocess.run's own
    SIGKILL on an exception would leave what it made behind."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
