"""Read a guest's kernel console: did it panic, did /init fail, what came last.

The console (ttyS0) carries only the kernel's messages and /init's progress
lines (``rsslab-init: ...``); results travel on another port.  This parser
never decides that a run passed: a guest that sent no ``@done`` failed,
and the console only says why.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

TAIL_LINES = 20

# ANSI escapes SeaBIOS prints, and carriage returns.
_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|c)|\r")

# First match wins; each maps to what it means.
_PANIC = (
    re.compile(r"Kernel panic - not syncing: (.*)"),
    re.compile(r"(Initramfs unpacking failed: .*)"),
    re.compile(r"(BUG: .*)"),
    re.compile(r"(Oops: .*)"),
    re.compile(r"(general protection fault.*)"),
)
_INIT_FAILED = re.compile(r"rsslab-init: FAILED: (.*)")
_POWER_DOWN = re.compile(r"reboot: Power down")
_BIOS_DONE = "Booting from ROM.."


class State(enum.Enum):
    POWERED_OFF = "powered off"
    PANIC = "kernel panic"
    INIT_FAILED = "/init failed"
    SILENT = "no kernel output"
    STOPPED = "stopped without powering off"


@dataclass(frozen=True, slots=True)
class ConsoleReport:
    state: State
    reason: str
    tail: tuple[str, ...]

    def show_tail(self) -> str:
        return "\n".join(f"    {line}" for line in self.tail) or "    (the console is empty)"


def clean_lines(text: str) -> list[str]:
    return [line for line in _ESCAPES.sub("", text).splitlines() if line.strip()]


def _first(patterns: Sequence[re.Pattern[str]], lines: Sequence[str]) -> str:
    for line in lines:
        for pat in patterns:
            m = pat.search(line)
            if m:
                return m[1].strip()
    return ""


def parse(text: str, tail_lines: int = TAIL_LINES) -> ConsoleReport:
    """What the console says happened to the guest."""
    lines = clean_lines(text)
    tail = tuple(lines[-tail_lines:])
    panic = _first(_PANIC, lines)
    if panic:
        return ConsoleReport(State.PANIC, panic, tail)
    init = _INIT_FAILED.search("\n".join(lines))
    if init:
        return ConsoleReport(State.INIT_FAILED, init[1].strip(), tail)
    if any(_POWER_DOWN.search(line) for line in lines):
        return ConsoleReport(State.POWERED_OFF, "", tail)
    after_bios = "".join(lines).rsplit(_BIOS_DONE, 1)[-1]
    if not after_bios.strip() or all(line.startswith("SeaBIOS") for line in lines):
        return ConsoleReport(State.SILENT, "neither the kernel nor /init printed anything", tail)
    return ConsoleReport(State.STOPPED, "", tail)
