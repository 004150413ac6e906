"""What following kmem:rss_stat costs page faults (``bench/tracecost.c``).

Each boot of a kernel that has the event runs the page-fault loop of
kcost with the event off, on for the faulting process itself (what
``rsslab measure`` does to the program it measures, the trace read by
another process as the observer reads it), on for another process only
(what every other program on the machine pays: the pid filter drops its
faults before the sum), on with no pid filter, and on for the program with
an event filter that drops every event: the least a filter can cost, as
it runs after the sum.  QEMU runs with
``-icount`` as for the patches' cost (``cost.ICOUNT``): the figures are
instructions the guest executed, not cache or lock behaviour on real
CPUs.  A measurement is kept under the cache (``kept``), keyed by the
digest of what it depends on (the kernel image, the sources of the
benchmark and of the guest's /init, the CPU count, the loop and the
rounds, QEMU's options), and read back while they do not change.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rsslab.errors import KernelError
from rsslab.kernels import Kernel
from rsslab.run import kept
from rsslab.series.kernel import cost, guestrun
from rsslab.series.kernel.guestrun import Command

MODES = ("off", "own", "filtered", "other", "all")
LOOP = ("40", "256")  # iterations, pages: as kcost's fault loop
REPEATS = 5
CPUS = (1, 8, 64, 128)
PROTOCOL = 2  # bump when the plan, the parsing or the kept record changes
SOURCES = ("bench/tracecost.c", "bench/fault_loop.h", "repro/rss_trace.h", "repro/common.h",
           "repro/init.c")
WARMUP = "/tmp/warmup.json"
TITLES = {
    "own": "the traced program's faults",
    "filtered": "the same, every event filtered out",
    "other": "another program's faults",
    "all": "any fault, no pid filter",
}


@dataclass(frozen=True, slots=True)
class Sample:
    ncpus: int
    mode: str
    ns_per_fault: float
    sys_ns_per_fault: float
    lost: int


@dataclass(frozen=True, slots=True)
class Row:
    ncpus: int
    mode: str
    ns_per_fault: float
    ratio: float        # against "off" at the same CPU count
    sys_ratio: float
    spread: float


def commands() -> list[Command]:
    out = [Command(("/bin/tracecost", WARMUP, "off", *LOOP), WARMUP)]
    for _ in range(REPEATS):
        for mode in MODES:
            path = f"/tmp/trace-{mode}.json"
            out.append(Command(("/bin/tracecost", path, mode, *LOOP), path))
    return out


def parse(ncpus: int, results: Sequence[guestrun.CommandResult]) -> list[Sample]:
    out = []
    for r in results:
        if r.command.out == WARMUP:
            continue
        if r.status != 0:
            raise KernelError(f"tracecost {' '.join(r.command.argv[2:])} at {ncpus} CPUs "
                              f"exited {r.status}: {r.stderr.strip()[-200:]}")
        doc = json.loads(r.output)
        out.append(Sample(ncpus, str(doc["test"]).removeprefix("trace_"),
                          float(doc["ns_per_op"]), float(doc["sys_ns_per_op"]),
                          int(doc["lost"])))
    return out


def key(store: kept.Store, kernel: Kernel, ncpus: int) -> str:
    """The digest of everything one boot's figures depend on."""
    return store.key((PROTOCOL, kept.kernel_inputs(kernel), ncpus, LOOP, REPEATS, MODES,
                      kept.qemu_options(guestrun.MEMORY_MIB, cost.ICOUNT)), SOURCES)


def samples_of(doc: Any) -> list[Sample] | None:
    """The kept samples of one boot, or None when the document is not them."""
    try:
        return [Sample(**s) for s in doc]
    except (TypeError, ValueError):
        return None


def measure(kernel: Kernel, cpus: Sequence[int], binaries: dict[str, Path], init: Path,
            workdir: Path, store: kept.Store, notify: Callable[[str], None],
            jobs: int = 2) -> list[Sample]:
    """Every CPU count's samples: from the store where its inputs are the
    same, else booted (``jobs`` guests at a time) and kept there."""
    def one(n: int) -> list[Sample]:
        k = key(store, kernel, n)
        samples = samples_of(store.get("tracecost", k))
        if samples is not None:
            notify(f"tracecost: {kernel.name} at {n} CPUs: read back from "
                   f"{store.path('tracecost', k)} (same kernel, benchmark, CPU count and "
                   f"QEMU options; {store.again})")
            return samples
        notify(f"tracecost: {kernel.name} at {n} CPUs: booting")
        assert kernel.image is not None
        res = guestrun.run_commands(f"{kernel.name}-smp{n}-tracecost", kernel.image, n,
                                    commands(), binaries, init, workdir / f"smp{n}",
                                    cost.RUN_ALLOWANCE_S, cost.ICOUNT)
        samples = parse(n, res)
        store.put("tracecost", k, [asdict(s) for s in samples])
        return samples

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return [s for part in pool.map(one, sorted(cpus)) for s in part]


def rows(samples: Sequence[Sample]) -> list[Row]:
    out = []
    for n in sorted({s.ncpus for s in samples}):
        def med(mode: str, what: str) -> float:
            return float(statistics.median(float(getattr(s, what)) for s in samples
                                           if (s.ncpus, s.mode) == (n, mode)))
        off, off_sys = med("off", "ns_per_fault"), med("off", "sys_ns_per_fault")
        for mode in MODES[1:]:
            xs = [s.ns_per_fault for s in samples if (s.ncpus, s.mode) == (n, mode)]
            out.append(Row(n, mode, med(mode, "ns_per_fault"), med(mode, "ns_per_fault") / off,
                           med(mode, "sys_ns_per_fault") / off_sys, cost.spread(xs)))
    return out


def table(rs: Sequence[Row], samples: Sequence[Sample]) -> str:
    offs = {n: statistics.median(s.ns_per_fault for s in samples
                                 if (s.ncpus, s.mode) == (n, "off"))
            for n in {s.ncpus for s in samples}}
    head = (f"  {'kmem:rss_stat on, for':<30} {'CPUs':>4} {'off':>9} {'on':>9} "
            f"{'time':>7} {'system':>7} {'spread':>6}")
    lines = [head, "  " + "-" * (len(head) - 2)]
    for r in rs:
        lines.append(f"  {TITLES[r.mode]:<30} {r.ncpus:>4} {offs[r.ncpus] / 1000:>6.2f} us "
                     f"{r.ns_per_fault / 1000:>6.2f} us {pct(r.ratio):>7} "
                     f"{pct(r.sys_ratio):>7} {r.spread * 100:>5.1f}%")
    return "\n".join(lines)


def pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.0f}%"
