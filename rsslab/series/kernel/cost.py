"""The cost of a kernel patch: base against patched, booted in the same run.

Each boot runs ``bench/kcost.c`` (a fork+exit+wait loop and a page-fault
loop) once to warm up, then ``REPEATS`` times; boots alternate between the
two kernels (base, patched, base, ...).  QEMU runs with ``-icount``: the
guest's clock advances with the instructions it executes, not with the
host's time, so a busy shared host does not make one kernel look slower
(under plain TCG, 8 vCPUs on 2 host cores varied by 30% from run to run;
with -icount by 1-2%).  The figure is the median time per operation of the
patched kernel over the base kernel's, per test and CPU count: a ratio of
instructions executed, not of cache or lock behaviour on real hardware.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.errors import KernelError
from rsslab.kernels import Kernel
from rsslab.series.kernel import guestrun
from rsslab.series.kernel.guestrun import Command

# (test, argv after "kcost OUT"): enough operations to dwarf the timer,
# few enough for TCG.
TESTS = (("fork_exit", ("fork_exit", "400")), ("fault", ("fault", "40", "256")))
ROUNDS = 2          # boots per kernel and CPU count
REPEATS = 5         # runs of each test per boot, after one warm-up run
RUN_ALLOWANCE_S = 30.0
# Guest time from instruction counts: 1 ns per instruction, idle skipped.
ICOUNT = ("-icount", "shift=0,sleep=off")
WARMUP = "/tmp/warmup.json"


@dataclass(frozen=True, slots=True)
class Sample:
    kernel: str
    ncpus: int
    test: str
    ns_per_op: float


@dataclass(frozen=True, slots=True)
class Ratio:
    test: str
    ncpus: int
    base_ns: float
    patched_ns: float
    samples: int

    @property
    def ratio(self) -> float:
        return self.patched_ns / self.base_ns


def commands() -> list[Command]:
    out = [Command(("/bin/kcost", WARMUP, *args), WARMUP) for _name, args in TESTS]
    for _ in range(REPEATS):
        for i, (_name, args) in enumerate(TESTS):
            path = f"/tmp/kcost{i}.json"
            out.append(Command(("/bin/kcost", path, *args), path))
    return out


def parse(kernel: str, ncpus: int, results: Sequence[guestrun.CommandResult]) -> list[Sample]:
    samples = []
    for r in results:
        if r.command.out == WARMUP:
            continue
        if r.status != 0:
            raise KernelError(f"{kernel}: kcost {' '.join(r.command.argv[2:])} exited "
                              f"{r.status}: {r.stderr.strip()[-200:]}")
        doc = json.loads(r.output)
        samples.append(Sample(kernel, ncpus, str(doc["test"]), float(doc["ns_per_op"])))
    return samples


def measure(base: Kernel, patched: Kernel, cpus: Sequence[int], binaries: dict[str, Path],
            init: Path, workdir: Path, notify: Callable[[str], None]) -> list[Ratio]:
    """Alternating boots; the median ratio per test and CPU count."""
    samples: list[Sample] = []
    for n in cpus:
        for rnd in range(ROUNDS):
            for k in (base, patched) if rnd % 2 == 0 else (patched, base):
                assert k.image is not None
                notify(f"cost: {k.name} at {n} CPUs, round {rnd + 1} of {ROUNDS}")
                res = guestrun.run_commands(f"{k.name}-smp{n}-cost", k.image, n, commands(),
                                            binaries, init, workdir / f"{k.name}-smp{n}",
                                            RUN_ALLOWANCE_S, ICOUNT)
                samples += parse(k.name, n, res)
    return ratios(samples, base.name, patched.name)


def ratios(samples: Sequence[Sample], base: str, patched: str) -> list[Ratio]:
    out = []
    for n in sorted({s.ncpus for s in samples}):
        for test, _ in TESTS:
            b = [s.ns_per_op for s in samples if (s.kernel, s.ncpus, s.test) == (base, n, test)]
            p = [s.ns_per_op for s in samples if (s.kernel, s.ncpus, s.test) == (patched, n, test)]
            if b and p:
                out.append(Ratio(test, n, statistics.median(b), statistics.median(p),
                                 min(len(b), len(p))))
    return out


TITLES = {"fork_exit": "fork+exit+wait", "fault": "page fault (+munmap)"}


def table(rs: Sequence[Ratio]) -> str:
    head = f"  {'loop':<22} {'CPUs':>4} {'base':>11} {'patched':>11} {'ratio':>6}".rstrip()
    lines = [head, "  " + "-" * (len(head) - 2)]
    for r in rs:
        lines.append(f"  {TITLES.get(r.test, r.test):<22} {r.ncpus:>4} "
                     f"{r.base_ns / 1000:>8.2f} us {r.patched_ns / 1000:>8.2f} us {r.ratio:>6.3f}")
    return "\n".join(lines)
