"""The mechanism, as bound formulas: what each kernel regime can miss.

Errors are counted in pages: ``err = (metric - reference) / page``.  Every
bound is a named formula here, and each docstring gives the mechanism;
claims (``claims/*.toml``) only name a formula and its arguments, never a
bare tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rsslab.errors import UserError
from rsslab.results import Observation

# include/linux/mm_types_task.h / mm/memory.c (v2.6.34 .. v6.1).
TASK_RSS_EVENTS_THRESH = 64
# mm/memory.c:fault_around_bytes default, rounded down to a power of two.
FAULT_AROUND_BYTES = 65536
# lib/percpu_counter.c:compute_batch_value(): max(32, nr_online_cpus * 2).
PERCPU_MIN_BATCH = 32
# The counters get_mm_rss() adds up: MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES.
RSS_COUNTERS = 3
# include/linux/memcontrol.h: pages a CPU's stock charges ahead (64 since
# 6.0, 32 before), so memory.peak can count them before they are used.
MEMCG_CHARGE_BATCH = 64

INF = math.inf


def events_per_sync() -> int:
    """Faults a thread can hold in its 6.1 RSS cache: 66.

    ``check_sync_rss_stat()`` runs at the start of ``handle_mm_fault()`` and
    folds when ``task->rss_stat.events++ > TASK_RSS_EVENTS_THRESH``, i.e. on
    the 66th call after the previous fold; that call's own page is added
    after the fold.  So up to 64 + 2 calls' pages can sit in the cache.
    """
    return TASK_RSS_EVENTS_THRESH + 2


def fault_around_pages(page_size: int) -> int:
    """Pages one read fault can map on 6.1 (``do_fault_around()``): 16 at 4 KiB."""
    return max(1, FAULT_AROUND_BYTES // page_size)


def thread_cache(threads: int, pages_per_fault: int) -> int:
    """6.1: pages that ``threads`` unsynced per-thread caches can hide."""
    return threads * events_per_sync() * pages_per_fault


def percpu_batch(ncpus: int) -> int:
    """``percpu_counter_batch = max(32, 2 * num_online_cpus())``."""
    return max(PERCPU_MIN_BATCH, 2 * ncpus)


def percpu_residue(ncpus: int, counters: int) -> int:
    """>= 6.2: pages the per-CPU parts of ``counters`` counters can hold.

    ``percpu_counter_add_batch()`` folds a CPU's part into the global count
    once its magnitude would reach the batch, so each CPU keeps at most
    batch - 1 pages per counter, of either sign, and nothing folds them at
    thread or process exit.
    """
    return counters * ncpus * (percpu_batch(ncpus) - 1)


def one_cpu_residue(ncpus: int, counters: int) -> int:
    """>= 6.2: the most one CPU can hold of ``counters`` counters, with the
    batch of ``ncpus`` online CPUs: counters x (batch - 1).

    An error larger than this needs residues on at least two CPUs, so it
    shows the bound growing with the number of CPUs that ran the process.
    """
    return counters * (percpu_batch(ncpus) - 1)


# What the observer's forked copy may still hold when it calls execve(): the
# resident set of one small static binary (repro/observe.c), which execve()
# keeps as the new program's ru_maxrss floor (fs/exec.c).  Runs that must
# stand clear of that floor are sized with this allowance on top of their
# claim's bound (``floor`` in a run's size formula); every run still checks
# its measured floor (``exec_floor_kib``) against its reference.
FLOOR_ALLOWANCE_KIB = 1024


def floor_allowance_pages(page_size: int) -> int:
    return -(-FLOOR_ALLOWANCE_KIB * 1024 // page_size)


@dataclass(frozen=True, slots=True)
class Interval:
    lo: float
    hi: float
    premise_failed: str = ""

    def contains(self, err: float) -> bool:
        return not self.premise_failed and self.lo <= err <= self.hi

    def show(self) -> str:
        if self.premise_failed:
            return f"premise failed: {self.premise_failed}"

        def side(x: float) -> str:
            return "inf" if x == INF else "-inf" if x == -INF else f"{x:+g}"

        return f"[{side(self.lo)}, {side(self.hi)}] pages"


def _int_arg(args: Mapping[str, Any], name: str, obs: Observation) -> int:
    """An argument that is a number or the name of a run parameter."""
    v = args.get(name)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and isinstance(obs.params.get(v), int):
        return int(obs.params[v])
    raise UserError(f"bound argument {name}={v!r} is neither a number nor an integer parameter")


def _pages_per_fault(args: Mapping[str, Any], obs: Observation) -> int:
    v = args.get("pages_per_fault", 1)
    return fault_around_pages(obs.page_size) if v == "fault_around" else int(v)


def _regime_error(args: Mapping[str, Any], obs: Observation, features: frozenset[str]) -> int:
    """The counter error of this kernel's regime, in pages: one thread's
    cache of 66 faults of up to a fault-around's pages each (split), or the
    per-CPU residue of the counters (per-CPU)."""
    if "split-rss" in features:
        ppf = _pages_per_fault({"pages_per_fault": "fault_around", **args}, obs)
        return thread_cache(int(args.get("threads", 1)), ppf)
    if "percpu-rss" in features:
        return percpu_residue(obs.ncpus, int(args.get("counters", RSS_COUNTERS)))
    return 0


def _faulted_pages(args: Mapping[str, Any], obs: Observation) -> int:
    what = args.get("faulted")
    if what == "seed_buffer":
        # repro/seed.c reads stdin into a 128 KiB buffer: min(input, 128 KiB).
        return min(int(obs.params["input_kib"]), 128) // obs.page_kib
    return _int_arg(args, "faulted", obs)


# Each bound formula and the arguments it reads (``interval``); a claim's
# ``exceeds`` uses the same formulas, ``one_cpu_residue`` only there.
FORMULA_ARGS: Mapping[str, tuple[str, ...]] = {
    "exact": (),
    "at_least": (),
    "percpu_residue": ("counters", "direction"),
    "regime_error": ("counters", "threads", "pages_per_fault", "direction"),
    "thread_cache": ("threads", "plus_threads", "pages_per_fault"),
    "clamped_caches": ("threads", "pages_per_fault"),
    "unsynced_faults": ("faulted", "inserted", "pages_per_fault"),
    "spread_unfolded": (),
    "one_cpu_residue": ("counters",),
    "concurrent_changes": ("tasks",),
    "misses_after": ("pages", "pages_per_fault"),
}
DIRECTIONS = ("either", "under", "over", "not_below", "not_above")


def interval(bound: Mapping[str, Any], obs: Observation, features: frozenset[str]) -> Interval:
    """The allowed error, in pages, of one observation under a bound."""
    formula = bound["formula"]
    direction = bound.get("direction", "either")
    if formula == "exact":
        return Interval(0, 0)
    if formula == "at_least":
        return Interval(0, INF)
    if formula in ("percpu_residue", "regime_error"):
        e = (percpu_residue(obs.ncpus, int(bound.get("counters", RSS_COUNTERS)))
             if formula == "percpu_residue" else _regime_error(bound, obs, features))
        return {"either": Interval(-e, e), "under": Interval(-e, 0), "over": Interval(0, e),
                "not_below": Interval(-e, INF), "not_above": Interval(-INF, e)}[direction]
    if formula == "thread_cache":
        threads = _int_arg(bound, "threads", obs) + int(bound.get("plus_threads", 0))
        return Interval(-thread_cache(threads, _pages_per_fault(bound, obs)), 0)
    if formula == "clamped_caches":
        # 6.1: get_mm_counter() reads a negative counter as 0.  A counter
        # goes below zero when pages that live threads' caches still count
        # are unmapped and subtracted from the mm at once; the read is then
        # too high by at most what those caches subtract (wp_page_copy():
        # one file page per copy-on-write fault, 66 faults a cache), and
        # too low by at most what the caches, the reader's included, add.
        threads = _int_arg(bound, "threads", obs)
        return Interval(-thread_cache(threads + 1, _pages_per_fault(bound, obs)),
                        thread_cache(threads, 1))
    if formula == "unsynced_faults":
        # 6.1: exec_mmap() folds the cache and zeroes its event count; the
        # next fold comes on the events_per_sync()-th (66th) fault.  With
        # fewer faults since execve (the count includes execve's own, so it
        # errs high), no fold has happened, and every page faulted through
        # the per-thread cache is missing from the mm's counters, and so is
        # every page a driver put there with vm_insert_page(s) (``inserted``:
        # counted in the cache without a fault, so without an event).
        faults = obs.faults_since_exec
        if faults is None:
            return Interval(0, 0, "no count of faults since execve at the exit stop")
        if faults >= events_per_sync():
            return Interval(0, 0, f"{faults} faults since execve, needs < {events_per_sync()}")
        inserted = _int_arg(bound, "inserted", obs) if "inserted" in bound else 0
        return Interval(-thread_cache(1, _pages_per_fault(bound, obs)) - inserted,
                        -_faulted_pages(bound, obs) - inserted)
    if formula == "spread_unfolded":
        return _spread_unfolded(obs)
    if formula == "concurrent_changes":
        return _concurrent_changes(bound, obs)
    if formula == "misses_after":
        return _misses_after(bound, obs, features)
    raise UserError(f"unknown bound formula '{formula}'; see rsslab/claims/formulas.py")


def _spread_unfolded(obs: Observation) -> Interval:
    """>= 6.2, ``cpu_spread``: no CPU's anonymous counter reached the batch.

    Every counter of a new mm starts at zero on every CPU
    (``percpu_counter_init_many()``), and ``percpu_counter_add_batch()``
    folds a CPU's part only when it would reach the batch.  cpu_spread
    unmaps nothing, so a CPU's anonymous part only grows: with at most
    PAGES of the thread pinned there plus every anonymous page outside the
    slices (stacks, data, heap: the exact anonymous RSS less CPUS x PAGES)
    below the batch, no CPU folds any, and the mm's anonymous counter reads
    zero.  The metric then holds no anonymous page at all: it is at most
    its reference (the file pages, or the floor execve handed down).
    """
    pages, cpus = obs.params.get("pages"), obs.value("cpus")
    anon = obs.smaps_anon_kib
    if not isinstance(pages, int) or cpus is None or anon is None:
        return Interval(0, 0, "no pages, cpus or anonymous RSS to bound one CPU's share")
    others = max(0, anon // obs.page_kib - cpus * pages)
    batch = percpu_batch(obs.ncpus)
    if pages + others >= batch:
        return Interval(0, 0, f"one CPU may count {pages} + {others} anonymous pages, "
                              f"not below the batch {batch}")
    return Interval(-INF, 0)




def pmd_pages(page_size: int) -> int:
    """Pages one page table maps (PTRS_PER_PTE, 8-byte entries): 512 at 4
    KiB.  The largest change one RSS counter update makes outside DAX: a
    transparent huge page (add_mm_counter(..., HPAGE_PMD_NR)) or one page
    table's zap (mm/memory.c:zap_pte_range() -> add_mm_rss_vec())."""
    return page_size // 8


def _concurrent_changes(args: Mapping[str, Any], obs: Observation) -> Interval:
    """>= 6.2, kmem:rss_stat: each event's size is the counter's exact sum,
    taken after its own change (include/linux/mm.h:add_mm_counter() adds,
    then traces), but the trace orders events by when they reserved their
    slot, and another task's change can land between a change and its sum.
    With one task in the mm at a time the running sum of the last sizes is
    the exact RSS after every change.  With K tasks alive at once, each of
    the K - 1 others can have one change in flight, of at most a page
    table's worth: the peak read is within (K - 1) x PTRS_PER_PTE pages.
    """
    tasks = obs.value(str(args.get("tasks", "mm_tasks_max")))
    if tasks is None:
        return Interval(0, 0, "no count of the tasks alive at once")
    e = (max(1, tasks) - 1) * pmd_pages(obs.page_size)
    return Interval(-e, e)


def _misses_after(args: Mapping[str, Any], obs: Observation,
                  features: frozenset[str]) -> Interval:
    """A reading taken before PAGES pages were written misses them: its
    error against the program's peak is at most -PAGES, plus what the
    regime's counters can over-read, which is never more than the pages
    that passed through them before the reading (the faults since execve,
    each up to a fault-around's pages) (``regime_error`` caps it too)."""
    pages = _int_arg(args, "pages", obs)
    faults = obs.faults_since_exec
    if faults is None:
        return Interval(0, 0, "no count of faults since execve at the exit stop")
    over = min(_regime_error({"pages_per_fault": args.get("pages_per_fault", 1)}, obs,
                             features) if features else 0,
               faults * _pages_per_fault(args, obs))
    return Interval(-INF, -pages + over)
