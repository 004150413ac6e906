"""What one guest runs, and what it sent back.

The plan is the host's run specs, each repetition one line of ``/plan``
(``repro/init.c`` documents the format): the same
``rsslab.plan.observer_argv`` as on the host, with ``/bin`` as the binary
directory, always measuring the memory cgroup where the kernel has a
peak for it (``--cgroup-if-available``: Linux 5.19+ for memory.peak).  The results come back on
the guest's second serial port as frames, each the observer's JSON (parsed
by ``rsslab.observer.parse_output``, as on the host) or the reason a
run failed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rsslab import observer, scenarios
from rsslab.errors import KernelError, UserError
from rsslab.plan import RunSpec, observer_argv
from rsslab.results import Observation

GUEST_BIN = "/bin"
GUEST_OUT = "/tmp/observe.json"
# Every guest run measures the cgroup peak, where the kernel has one.
CGROUP_FLAG = "--cgroup-if-available"

_FRAME = re.compile(rb"@run (\d+) (\d+) (\d+) (\d+)\n")
_DONE = re.compile(rb"@done (\d+)\n")


@dataclass(frozen=True, slots=True)
class GuestPlan:
    """The lines of ``/plan``, the files under ``/in``, and which spec each
    line runs (line i runs ``specs[i]``)."""

    text: str
    inputs: dict[str, bytes]
    specs: tuple[RunSpec, ...]

    @property
    def binaries(self) -> frozenset[str]:
        return frozenset({"observe"} | {s.scenario for s in self.specs})


def guest_specs(specs: Sequence[RunSpec]) -> list[RunSpec]:
    """One spec per (scenario, params), always with the cgroup measured,
    with the largest repeat count asked for; order kept."""
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], RunSpec] = {}
    for s in specs:
        s = s.resolved()
        key = s.key()[:2]
        old = merged.get(key)
        repeat = max(s.repeat, old.repeat if old else 0)
        merged[key] = RunSpec(s.scenario, s.params, True, repeat)
    return list(merged.values())


def make_plan(specs: Sequence[RunSpec]) -> GuestPlan:
    lines: list[str] = []
    inputs: dict[str, bytes] = {}
    flat: list[RunSpec] = []
    for spec in guest_specs(specs):
        data = scenarios.get(spec.scenario).stdin_bytes(spec.params)
        stdin = "-"
        if data is not None:
            name = str(len(inputs))
            inputs[name] = data
            stdin = f"/in/{name}"
        argv = observer_argv(spec, GUEST_BIN, GUEST_OUT, CGROUP_FLAG)
        if any("\t" in a or "\n" in a for a in argv):
            raise UserError(f"{spec.describe()}: a parameter holds a tab or newline")
        for _ in range(spec.repeat):
            lines.append("\t".join([str(len(flat)), stdin, GUEST_OUT, *argv]))
            flat.append(spec)
    return GuestPlan("".join(line + "\n" for line in lines), inputs, tuple(flat))


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    status: int
    json: bytes
    stderr: bytes


@dataclass(frozen=True, slots=True)
class GuestResults:
    frames: tuple[Frame, ...]
    done: int | None  # the count in "@done N", None when the guest never got there
    garbage: bytes = field(default=b"")


def parse_channel(data: bytes) -> GuestResults:
    """Split the results channel into frames; stop at anything else."""
    frames: list[Frame] = []
    pos = 0
    while True:
        m = _FRAME.match(data, pos)
        if not m:
            break
        start = m.end()
        jlen, elen = int(m[3]), int(m[4])
        end = start + jlen + elen
        if end + 1 > len(data) or data[end:end + 1] != b"\n":
            break  # cut off: the guest died while sending
        frames.append(Frame(int(m[1]), int(m[2]), data[start:start + jlen],
                            data[start + jlen:end]))
        pos = end + 1
    done = _DONE.match(data, pos)
    if done:
        return GuestResults(tuple(frames), int(done[1]))
    return GuestResults(tuple(frames), None, data[pos:pos + 200])



def observations(plan: GuestPlan, results: GuestResults,
                 kernel: str) -> tuple[list[Observation], list[str]]:
    """Every good frame as an Observation, and one line per run that failed."""
    out: list[Observation] = []
    problems: list[str] = []
    for f in results.frames:
        if not 0 <= f.index < len(plan.specs):
            raise KernelError(f"{kernel}: the guest reported run {f.index}, "
                              f"its plan has {len(plan.specs)}; rerun")
        spec = plan.specs[f.index]
        err = " | ".join(f.stderr.decode(errors="replace").strip().splitlines()[-3:])
        if f.status != 0:
            what = observer.exit_meaning(f.status, "guest")
            problems.append(f"{spec.describe()}: {what}: {err or 'no message'}")
            continue
        try:
            obs = observer.parse_output(f.json.decode(errors="replace"), kernel, spec)
        except UserError as e:
            problems.append(f"{spec.describe()}: {e}")
            continue
        if obs.exit_code != 0:
            problems.append(f"{spec.describe()} failed in the guest (exit {obs.exit_code}, "
                            f"signal {obs.exit_signal}): {err or 'no message'}")
            continue
        out.append(obs)
    return out, problems
