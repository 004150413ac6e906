"""The cost of a kernel patch: base against patched, booted in the same run.

Each boot runs ``bench/kcost.c`` (a fork+exit+wait loop and a page-fault
loop) once to warm up, then ``REPEATS`` times; each kernel boots
``ROUNDS`` times per CPU count, in turn (base, patched, variants; then
starting one later), once from ``WIDE_FROM`` CPUs (a 128-vCPU boot takes
minutes under -icount: single-threaded TCG brings each vCPU up slowly).  QEMU runs with ``-icount``: the
guest's clock advances with the instructions it executes, not with the
host's time, so a busy shared host does not make one kernel look slower
(under plain TCG, 8 vCPUs on 2 host cores varied by 30% from run to run;
with -icount by 1-2%).  The figure is the median time per operation of the
patched kernel over the base kernel's, per test and CPU count: a ratio of
instructions executed, not of cache or lock behaviour on real hardware.

At the CPU counts given for contention, each boot also runs
``bench/kcontend.c``: the fault loop while a second thread of the same
process reads in a loop, getrusage(RUSAGE_SELF) (which sums the mm's
counters under their locks on a patched kernel), /proc/self/status (which
sums them since v6.16) or getrusage(RUSAGE_CHILDREN) (which reads no mm:
the control).  Under -icount the two busy vCPUs share the guest's clock,
so only the comparison with the control means anything; and one thread
runs every vCPU in turn, so a vCPU can be switched out while it holds the
lock and a waiter then spins for its whole turn: the slowdown measured
is an upper bound of what real CPUs, which run both threads at once, see.

Each boot's samples are kept under the cache (``kept``), keyed by the
kernel image, the boot's CPU count, round and plan, the benchmarks' and
/init's sources, QEMU's options and ``PROTOCOL``, and read back while
they do not change.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rsslab.errors import KernelError
from rsslab.kernels import Kernel
from rsslab.run import kept
from rsslab.series.kernel import guestrun
from rsslab.series.kernel.guestrun import Command

# (test, argv after "kcost OUT"): enough operations to dwarf the timer,
# few enough for TCG.
TESTS = (("fork_exit", ("fork_exit", "400")), ("fault", ("fault", "40", "256")))
# The same fault loop under contention: (argv after "kcontend OUT READER").
CONTEND_ARGS = ("40", "256")
READERS = ("children", "self", "status")
ROUNDS = 2          # boots per kernel and CPU count
WIDE_FROM = 32      # from this many CPUs, WIDE_ROUNDS boots per kernel
WIDE_ROUNDS = 1
REPEATS = 5         # runs of each test per boot, after one warm-up run
RUN_ALLOWANCE_S = 30.0
# Guest time from instruction counts: 1 ns per instruction, idle skipped.
ICOUNT = ("-icount", "shift=0,sleep=off")
WARMUP = "/tmp/warmup.json"
PROTOCOL = 1  # bump when the plan, the parsing or the kept record changes
SOURCES = ("bench/kcost.c", "bench/kcontend.c", "bench/fault_loop.h", "repro/init.c",
           "repro/common.h")


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
    base_spread: float = 0.0     # (max - min) / median of the kernel's runs
    patched_spread: float = 0.0

    @property
    def ratio(self) -> float:
        return self.patched_ns / self.base_ns


def spread(xs: Sequence[float]) -> float:
    """(max - min) / median: how far apart one kernel's runs lie."""
    return (max(xs) - min(xs)) / statistics.median(xs) if xs else 0.0


def commands(contend: bool = False) -> list[Command]:
    """The plan of one boot; ``contend``: kcontend's runs too (2+ CPUs)."""
    out = [Command(("/bin/kcost", WARMUP, *args), WARMUP) for _name, args in TESTS]
    for _ in range(REPEATS):
        for i, (_name, args) in enumerate(TESTS):
            path = f"/tmp/kcost{i}.json"
            out.append(Command(("/bin/kcost", path, *args), path))
        for reader in READERS if contend else ():
            path = f"/tmp/kcontend-{reader}.json"
            out.append(Command(("/bin/kcontend", path, reader, *CONTEND_ARGS), path))
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
        if doc["test"] == "contend":
            samples.append(Sample(kernel, ncpus, f"contend_{doc['reader']}",
                                  float(doc["ns_per_fault"])))
            samples.append(Sample(kernel, ncpus, f"call_{doc['reader']}",
                                  float(doc["ns_per_call"])))
        else:
            samples.append(Sample(kernel, ncpus, str(doc["test"]), float(doc["ns_per_op"])))
    return samples


def measure(base: Kernel, patched: Kernel, cpus: Sequence[int], binaries: dict[str, Path],
            init: Path, workdir: Path, notify: Callable[[str], None]) -> list[Ratio]:
    """Alternating boots; the median ratio per test and CPU count."""
    samples = measure_kernels((base, patched), cpus, binaries, init, workdir, notify)
    return ratios(samples, base.name, patched.name)


def boot_order(kernels: Sequence[Kernel], rnd: int) -> list[Kernel]:
    """Round ``rnd``'s order: each round starts one kernel later, so no
    kernel always boots first (base, patched; patched, base; ...)."""
    k = list(kernels)
    i = rnd % len(k) if k else 0
    return k[i:] + k[:i]


def rounds_for(ncpus: int, rounds: int = ROUNDS) -> int:
    """Boots per kernel at ``ncpus``: one from WIDE_FROM CPUs, where a boot
    takes minutes under -icount; its repeats still give the spread."""
    return rounds if ncpus < WIDE_FROM else min(rounds, WIDE_ROUNDS)


Boot = tuple[int, int, Kernel]  # CPU count, round, kernel


def boots_of(kernels: Sequence[Kernel], cpus: Sequence[int], rounds: int = ROUNDS,
             contend_cpus: Sequence[int] = ()) -> list[Boot]:
    """Every boot, per CPU count and round in turn (``boot_order``)."""
    return [(n, rnd, k) for n in sorted({*cpus, *contend_cpus})
            for rnd in range(rounds_for(n, rounds)) for k in boot_order(kernels, rnd)]


def boot_key(store: kept.Store, boot: Boot, contend: bool) -> str:
    """The digest of everything one boot's samples depend on."""
    n, rnd, k = boot
    return store.key((PROTOCOL, kept.kernel_inputs(k), n, rnd,
                      guestrun.plan_text(commands(contend)),
                      kept.qemu_options(guestrun.MEMORY_MIB, ICOUNT)), SOURCES)


def samples_of(doc: Any) -> list[Sample] | None:
    """The kept samples of one boot, or None when the document is not them."""
    try:
        return [Sample(str(d["kernel"]), int(d["ncpus"]), str(d["test"]),
                       float(d["ns_per_op"])) for d in doc]
    except (KeyError, TypeError, ValueError):
        return None


def measure_kernels(kernels: Sequence[Kernel], cpus: Sequence[int], binaries: dict[str, Path],
                    init: Path, workdir: Path, notify: Callable[[str], None],
                    rounds: int = ROUNDS, contend_cpus: Sequence[int] = (),
                    jobs: int = 0, store: kept.Store | None = None) -> list[Sample]:
    """Every kernel booted per CPU count (``rounds_for``), in turn; the
    samples.  At ``contend_cpus`` (2 or more) the boots run kcontend too.
    Guests run ``jobs`` at a time (default: one per host core): under
    -icount a guest's clock counts its own instructions, so guests beside
    it change no figure.  With ``store``, a boot whose inputs are kept is
    read back, and a new one is kept."""
    boots = boots_of(kernels, cpus, rounds, contend_cpus)

    def contend(n: int) -> bool:
        return n in contend_cpus and n >= 2

    keys = [boot_key(store, b, contend(b[0])) if store else "" for b in boots]
    found = {i: samples_of(store.get("cost", keys[i])) if store else None
             for i in range(len(boots))}
    reused = sum(1 for x in found.values() if x is not None)
    if store and reused:
        names = ", ".join(k.name for k in kernels)
        kept.said(f"cost of {names}: {reused} of {len(boots)} boots",
                  store.directory, "kernels, benchmarks, CPU counts and QEMU options", store.again)

    def one(i: int) -> list[Sample]:
        n, rnd, k = boots[i]
        assert k.image is not None
        notify(f"cost: {k.name} at {n} CPUs, round {rnd + 1} of {rounds_for(n, rounds)}")
        res = guestrun.run_commands(f"{k.name}-smp{n}-cost", k.image, n, commands(contend(n)),
                                    binaries, init, workdir / f"{k.name}-smp{n}-{rnd}",
                                    RUN_ALLOWANCE_S, ICOUNT)
        samples = parse(k.name, n, res)
        if store:
            store.put("cost", keys[i], [asdict(x) for x in samples])
        return samples

    with ThreadPoolExecutor(max_workers=jobs or len(os.sched_getaffinity(0))) as pool:
        futures = {i: pool.submit(one, i) for i in range(len(boots)) if found[i] is None}
        return [x for i in range(len(boots))
                for x in (futures[i].result() if i in futures else found[i] or [])]


def ratios(samples: Sequence[Sample], base: str, patched: str) -> list[Ratio]:
    out = []
    for n in sorted({s.ncpus for s in samples}):
        for test, _ in TESTS:
            b = [s.ns_per_op for s in samples if (s.kernel, s.ncpus, s.test) == (base, n, test)]
            p = [s.ns_per_op for s in samples if (s.kernel, s.ncpus, s.test) == (patched, n, test)]
            if b and p:
                out.append(Ratio(test, n, statistics.median(b), statistics.median(p),
                                 min(len(b), len(p)), spread(b), spread(p)))
    return out


TITLES = {"fork_exit": "fork+exit+wait", "fault": "page fault (+munmap)"}


def table(rs: Sequence[Ratio]) -> str:
    """Base against patched per loop and CPU count, with each kernel's spread."""
    head = (f"  {'loop':<20} {'CPUs':>4} {'base':>11} {'spread':>6} {'patched':>11} "
            f"{'spread':>6} {'ratio':>6}")
    lines = [head, "  " + "-" * (len(head) - 2)]
    for r in rs:
        lines.append(f"  {TITLES.get(r.test, r.test):<20} {r.ncpus:>4} "
                     f"{r.base_ns / 1000:>8.2f} us {r.base_spread * 100:>5.1f}% "
                     f"{r.patched_ns / 1000:>8.2f} us {r.patched_spread * 100:>5.1f}% "
                     f"{r.ratio:>6.3f}")
    return "\n".join(lines)


def _median(samples: Sequence[Sample], kernel: str, ncpus: int, test: str) -> float | None:
    xs = [s.ns_per_op for s in samples if (s.kernel, s.ncpus, s.test) == (kernel, ncpus, test)]
    return statistics.median(xs) if xs else None


def repeats(cpus: Sequence[int]) -> str:
    """How many runs each median is of, e.g. "10 runs per kernel (2 boots)
    at 1 and 8 CPUs, 5 (1 boot) at 64 and 128"."""
    groups: dict[int, list[int]] = {}
    for n in sorted(cpus):
        groups.setdefault(rounds_for(n), []).append(n)
    parts = [f"{r * REPEATS} runs per kernel ({r} boot{'s' if r > 1 else ''}) at "
             f"{_and(ns)} CPUs" for r, ns in sorted(groups.items(), reverse=True)]
    return ", ".join(parts)


def _and(ns: Sequence[int]) -> str:
    items = [str(n) for n in ns]
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def max_spread(samples: Sequence[Sample], tests: Sequence[str]) -> float:
    """The largest spread of one kernel's runs of one of ``tests`` at one CPU count."""
    groups: dict[tuple[str, int, str], list[float]] = {}
    for s in samples:
        if s.test in tests:
            groups.setdefault((s.kernel, s.ncpus, s.test), []).append(s.ns_per_op)
    return max((spread(xs) for xs in groups.values()), default=0.0)


def design_table(samples: Sequence[Sample], base: str,
                 designs: Sequence[tuple[str, str]], test: str = "fork_exit") -> str:
    """What each design (kernel name, title) adds to ``test`` over the base
    kernel, per CPU count: the difference of the medians, and in percent."""
    head = f"  {'CPUs':>4} {'base':>11}" + "".join(f" {t:>18}" for _k, t in designs)
    lines = [head, "  " + "-" * (len(head) - 2)]
    for n in sorted({s.ncpus for s in samples if s.test == test}):
        b = _median(samples, base, n, test)
        if b is None:
            continue
        row = f"  {n:>4} {b / 1000:>8.2f} us"
        for k, _t in designs:
            d = _median(samples, k, n, test)
            row += (f" {'-':>18}" if d is None else
                    f" {(d - b) / 1000:>+8.2f} us {(d - b) / b * 100:>+5.1f}%")
        lines.append(row)
    return "\n".join(lines)


CONTEND_ROWS = (("contend_children", "fault; getrusage(CHLD)"),
                ("contend_self", "fault; getrusage(SELF)"),
                ("contend_status", "fault; status read"),
                ("call_self", "getrusage(SELF) call"))


def contention_table(samples: Sequence[Sample], kernels: Sequence[tuple[str, str]]) -> str:
    """Per CPU count: the fault loop's time per fault beside each reader,
    and one getrusage(RUSAGE_SELF) call; the first kernel's time, then
    each other's over it."""
    (first, first_title), rest = kernels[0], kernels[1:]
    head = (f"  {'CPUs':>4} {'':<22} {first_title:>9}"
            + "".join(f" {t:>12}" for _k, t in rest))
    lines = [head, "  " + "-" * (len(head) - 2)]
    for n in sorted({s.ncpus for s in samples if s.test.startswith("contend_")}):
        for test, title in CONTEND_ROWS:
            b = _median(samples, first, n, test)
            if b is None:
                continue
            row = f"  {n:>4} {title:<22} {b / 1000:>6.2f} us"
            for k, _t in rest:
                v = _median(samples, k, n, test)
                row += f" {'-':>12}" if v is None else f" {v / b:>12.3f}"
            lines.append(row)
    return "\n".join(lines)
