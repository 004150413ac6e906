"""Run arbitrary commands in one QEMU guest, through the matrix's guest.

The matrix's ``/init`` runs plan lines ``ID <TAB> STDIN <TAB> OUT <TAB>
ARGV...`` and sends back, per line, the exit status, the file OUT and the
stderr (``repro/init.c``).  The selftest and the cost benchmark use it
with their own binaries: a kselftest through ``stdout_to`` (its TAP output
becomes OUT), the benchmark writing OUT itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.errors import KernelError, UserError
from rsslab.kernels import guest, initramfs, qemu

MEMORY_MIB = 512
BOOT_ALLOWANCE_S = 90.0


@dataclass(frozen=True, slots=True)
class Command:
    argv: tuple[str, ...]  # guest paths: /bin/<binary> ...
    out: str               # the guest file sent back


@dataclass(frozen=True, slots=True)
class CommandResult:
    command: Command
    status: int
    output: str
    stderr: str


def plan_text(commands: Sequence[Command]) -> str:
    lines = []
    for i, c in enumerate(commands):
        fields = [str(i), "-", c.out, *c.argv]
        if any("\t" in f or "\n" in f for f in fields):
            raise UserError(f"guest command {' '.join(c.argv)} holds a tab or newline")
        lines.append("\t".join(fields) + "\n")
    return "".join(lines)


def run_commands(label: str, image: Path, cpus: int, commands: Sequence[Command],
                 binaries: Mapping[str, Path], init: Path, workdir: Path,
                 run_allowance_s: float, extra: tuple[str, ...] = ()) -> list[CommandResult]:
    """Boot ``image`` once at ``cpus`` vCPUs and run ``commands`` in order;
    ``extra`` QEMU options (e.g. ``cost.ICOUNT``)."""
    initrd = initramfs.build(workdir / "initrd.gz", init, binaries, plan_text(commands), {})
    slowdown = max(1.0, cpus / 2)
    timeout = BOOT_ALLOWANCE_S + run_allowance_s * len(commands) * slowdown
    machine = qemu.Machine(cpus, MEMORY_MIB, timeout_s=timeout,
                           stall_s=min(qemu.stall_for(cpus), timeout),
                           extra=extra)
    boot = qemu.run(label, image, initrd, machine, workdir)
    sent = guest.parse_channel(boot.results)
    if sent.done is None:
        raise qemu.unfinished(label, boot, f"the guest stopped after {len(sent.frames)} of "
                                           f"{len(commands)} commands")
    out = []
    for f in sent.frames:
        if not 0 <= f.index < len(commands):
            raise KernelError(f"{label}: the guest reported command {f.index} of "
                              f"{len(commands)}; rerun")
        out.append(CommandResult(commands[f.index], f.status,
                                 f.json.decode(errors="replace"),
                                 f.stderr.decode(errors="replace")))
    return out
