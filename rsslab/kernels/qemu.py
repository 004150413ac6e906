"""Boot a kernel with an initramfs in QEMU (TCG) and collect what it sent.

The kernel console (ttyS0) goes to ``console.log`` in the guest's work
directory; the results come on a second serial port (ttyS1) written to
``results.bin``.  The guest powers itself off; QEMU runs with
``-no-reboot`` and the kernel with ``panic=-1``, so a panic also ends it.
At the timeout QEMU is killed and ``GuestHung`` shows the console's last
lines.  Two clocks decide that a guest hangs: a stall (no new result for
``stall_s``, the boot counting as the first wait) and an overall cap; a
guest that keeps sending results on a crowded host is not cut off.
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

from rsslab.children import dies_with_us
from rsslab.errors import KernelError, ToolMissing
from rsslab.kernels import console

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
PAGE_SIZE = 4096  # x86-64 guests
# The pc machine takes at most 255 vCPUs with the emulated (TCG) APIC; more
# need x2APIC with the kernel's irqchip, which only KVM provides ("current
# -smp configuration requires kernel irqchip and X2APIC API support").
MAX_VCPUS = 255
POLL_S = 0.25
# The longest wait for the first result (the boot) or the next.  One host
# thread runs every vCPU (TCG_THREAD), so a boot's work grows with the vCPU
# count: 64 vCPUs sent their first result after 16 to 40 s (41 boots, two at
# a time on two cores; none hung), but one `make test` gave up on a 64-vCPU
# guest after a fixed 180 s, and a 128-vCPU boot on a crowded host took
# 500 s (-icount, two cores shared).  The wait is STALL_PER_CPU_S a vCPU,
# and never under STALL_S.
STALL_S = 180.0
STALL_PER_CPU_S = 8.0
# One host thread runs every vCPU.  With a thread per vCPU (MTTCG), a 4-vCPU
# Debian 7.3 guest died in early boot on "Oops: int3" in sched_clock_cpu,
# a breakpoint the kernel had already taken out again after patching its
# own text (arch/x86/kernel/alternative.c patches through int3), seen by a
# vCPU thread that still ran the old code (tests/data/console/oops-int3.log).
# One thread makes every code change seen by all vCPUs at once, and with a
# guest per host core it costs no speed.
TCG_THREAD = "single"
# no_timer_check: under TCG on a busy host the IO-APIC timer test
# (arch/x86/kernel/apic/io_apic.c:check_timer) can miss its window and
# panic with "IO-APIC + timer doesn't work!"; the parameter skips the test
# (Documentation/admin-guide/kernel-parameters.txt).
# Not quiet: the whole boot log goes to console.log, so that a guest that
# hangs shows where (with quiet a hung boot showed only SeaBIOS's lines);
# 64 vCPUs sent their first result as soon with it as without (median 25 s
# over 20 boots, 24 s over 21).
KERNEL_ARGS = ("console=ttyS0", "rdinit=/init", "panic=-1", "no_timer_check")


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
    timeout_s: float = 1800.0  # the whole boot, at most
    stall_s: float = STALL_S  # the longest wait for the next result (or the first)
    extra: tuple[str, ...] = ()  # more QEMU options, e.g. -icount for timing runs


@dataclass(frozen=True, slots=True)
class Boot:
    console_log: Path
    results: bytes
    seconds: float


def stall_for(cpus: int) -> float:
    """How long a guest of ``cpus`` vCPUs may go without sending a result."""
    return max(STALL_S, STALL_PER_CPU_S * cpus)


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
        qemu, "-accel", f"tcg,thread={TCG_THREAD}", "-nodefaults", "-no-reboot", "-nographic",
        "-smp", str(machine.cpus), "-m", str(machine.memory_mib),
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", " ".join(KERNEL_ARGS),
        "-serial", "stdio",
        "-chardev", f"file,id=results,path={_chardev_path(results)}",
        "-serial", "chardev:results",
        *machine.extra,
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


def _wait(proc: subprocess.Popen[bytes], machine: Machine, results: Path,
          progress: Callable[[int], None] | None) -> tuple[int | None, str]:
    """QEMU's exit status; or None and why the guest counts as hung."""
    start = last = time.monotonic()
    seen = 0
    while True:
        now = time.monotonic()
        left = min(start + machine.timeout_s, last + machine.stall_s) - now
        try:
            return proc.wait(timeout=min(POLL_S, max(0.0, left))), ""
        except subprocess.TimeoutExpired:
            pass
        sent = _frames_sent(results)
        if sent != seen:
            seen, last = sent, time.monotonic()
            if progress:
                progress(sent)
        now = time.monotonic()
        if now >= start + machine.timeout_s:
            return None, f"ran over {machine.timeout_s:g} s ({seen} runs done)"
        if now >= last + machine.stall_s:
            return None, f"sent no result for {machine.stall_s:g} s ({seen} runs done)"


def run(label: str, kernel: Path, initrd: Path, machine: Machine, workdir: Path,
        qemu: str | None = None, progress: Callable[[int], None] | None = None) -> Boot:
    """Boot once; return the console and results, or raise a GuestError."""
    if machine.cpus > MAX_VCPUS:
        raise GuestError(f"{label}: QEMU boots at most {MAX_VCPUS} vCPUs without KVM (more "
                         "need the x2APIC of KVM's irqchip); use --cpus 255 or fewer")
    workdir.mkdir(parents=True, exist_ok=True)
    console_log, results, err_log = (workdir / n for n in ("console.log", "results.bin",
                                                          "qemu.err"))
    results.unlink(missing_ok=True)
    argv = qemu_argv(qemu or find_qemu(), kernel, initrd, machine, results)
    log.info("%s", shlex.join(argv))
    start = time.monotonic()
    with console_log.open("wb") as out, err_log.open("wb") as err:
        # Its own session: a Ctrl-C reaches rsslab, which kills it below.
        proc = subprocess.Popen(dies_with_us(argv), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, cwd=workdir, start_new_session=True)
        try:
            rc, why = _wait(proc, machine, results, progress)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if rc is None:
        report = console.parse(console_log.read_text(errors="replace"))
        raise GuestHung(f"{label}: the guest {why} and was killed; last console lines "
                        f"({console_log}):\n{report.show_tail()}")
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
