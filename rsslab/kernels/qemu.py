"""Boot a kernel with an initramfs in QEMU (TCG) and collect what it sent.

The kernel console (ttyS0) goes to ``console.log`` in the guest's work
directory; the results come on a second serial port (ttyS1) written to
``results.bin``.  The guest powers itself off; QEMU runs with
``-no-reboot`` and the kernel with ``panic=-1``, so a panic also ends it.
At the timeout QEMU is killed and ``GuestHung`` shows the console's last
lines.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rsslab.errors import KernelError, ToolMissing
from rsslab.kernels import console

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
POLL_S = 0.25
KERNEL_ARGS = ("console=ttyS0", "rdinit=/init", "panic=-1", "quiet")


class GuestError(KernelError):
    """A guest did not finish its plan."""


class GuestHung(GuestError):
    """A guest ran past its timeout and was killed."""


class GuestPanicked(GuestError):
    """The guest kernel panicked (or /init failed) before the plan was done."""


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int
    memory_mib: int = 512
    timeout_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Boot:
    console_log: Path
    results: bytes
    seconds: float


def find_qemu() -> str:
    path = shutil.which(QEMU)
    if not path:
        raise ToolMissing(f"{QEMU} not found; run `make repro` (it installs qemu-system-x86) "
                          "or apt-get install qemu-system-x86")
    return path


def _chardev_path(path: Path) -> str:
    """QEMU option values escape a comma by doubling it."""
    return str(path).replace(",", ",,")


def qemu_argv(qemu: str, kernel: Path, initrd: Path, machine: Machine,
              results: Path) -> list[str]:
    """The QEMU command line; the console is QEMU's stdout."""
    return [
        qemu, "-accel", "tcg", "-nodefaults", "-no-reboot", "-nographic",
        "-smp", str(machine.cpus), "-m", str(machine.memory_mib),
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", " ".join(KERNEL_ARGS),
        "-serial", "stdio",
        "-chardev", f"file,id=results,path={_chardev_path(results)}",
        "-serial", "chardev:results",
    ]


def _qemu_failed(label: str, err: str, rc: int) -> GuestError:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    msg = lines[-1].removeprefix("qemu-system-x86_64: ") if lines else f"exit status {rc}"
    return GuestError(f"{label}: QEMU refused to boot: {msg}; check the kernel image "
                      "(a bzImage such as boot/vmlinuz-*) and rerun")


def _frames_sent(results: Path) -> int:
    try:
        return results.read_bytes().count(b"@run ")
    except OSError:
        return 0


def _wait(proc: subprocess.Popen[bytes], timeout_s: float, results: Path,
          progress: Callable[[int], None] | None) -> int | None:
    """QEMU's exit status, or None at the timeout; reports frames as they come."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return proc.wait(timeout=min(POLL_S, max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                return None
            if progress:
                progress(_frames_sent(results))


def run(label: str, kernel: Path, initrd: Path, machine: Machine, workdir: Path,
        qemu: str | None = None, progress: Callable[[int], None] | None = None) -> Boot:
    """Boot once; return the console and results, or raise a GuestError."""
    workdir.mkdir(parents=True, exist_ok=True)
    console_log, results, err_log = (workdir / n for n in ("console.log", "results.bin",
                                                          "qemu.err"))
    results.unlink(missing_ok=True)
    argv = qemu_argv(qemu or find_qemu(), kernel, initrd, machine, results)
    log.info("%s", shlex.join(argv))
    start = time.monotonic()
    with console_log.open("wb") as out, err_log.open("wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                cwd=workdir)
        try:
            rc = _wait(proc, machine.timeout_s, results, progress)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if rc is None:
        report = console.parse(console_log.read_text(errors="replace"))
        raise GuestHung(f"{label}: the guest ran over {machine.timeout_s:g} s and was "
                        f"killed; last console lines ({console_log}):\n{report.show_tail()}")
    if rc != 0:
        raise _qemu_failed(label, err_log.read_text(errors="replace"), rc)
    return Boot(console_log, results.read_bytes() if results.exists() else b"",
                time.monotonic() - start)


def unfinished(label: str, boot: Boot, why: str) -> GuestError:
    """The error for a guest that stopped before ``@done``: the console says why."""
    report = console.parse(boot.console_log.read_text(errors="replace"))
    if report.state in (console.State.PANIC, console.State.INIT_FAILED):
        return GuestPanicked(f"{label}: {report.state.value}: {report.reason}; last console "
                             f"lines ({boot.console_log}):\n{report.show_tail()}")
    return GuestError(f"{label}: {why} ({report.state.value}); last console lines "
                      f"({boot.console_log}):\n{report.show_tail()}")
