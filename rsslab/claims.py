"""The documented behaviour of each kernel regime, as data, and its check.

A claim (``claims/*.toml``) says how one metric relates to an exact
reference on the kernels of some regimes, with a bound derived from the
mechanism.  Errors are counted in pages: ``err = (metric - reference) /
page``.  A check passes when ``lo <= err <= hi`` for every run; a claim that
says a metric lies (``inexact = true``) also needs one run with ``err != 0``.

The bounds are the named formulas below; each docstring gives the mechanism.
TOML files only name a formula and its arguments, never a bare tolerance.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsslab import scenarios, sizing
from rsslab.errors import UserError
from rsslab.plan import RunSpec
from rsslab.results import Observation

# include/linux/mm_types_task.h / mm/memory.c (v2.6.34 .. v6.1).
TASK_RSS_EVENTS_THRESH = 64
# mm/memory.c:fault_around_bytes default, rounded down to a power of two.
FAULT_AROUND_BYTES = 65536
# lib/percpu_counter.c:compute_batch_value(): max(32, nr_online_cpus * 2).
PERCPU_MIN_BATCH = 32
# The counters get_mm_rss() adds up: MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES.
RSS_COUNTERS = 3

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
class Tag:
    """LTP-style citation: ``linux-git`` full hash, ``source`` file:function@version."""

    kind: str
    ref: str
    note: str = ""

    def show(self) -> str:
        return f"{self.kind} {self.ref}" + (f' ("{self.note}")' if self.note else "")


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
    raise UserError(f"unknown bound formula '{formula}'; see rsslab/claims.py")


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


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    says: str
    metric: str
    reference: tuple[str, ...]
    bound: Mapping[str, Any]
    runs: tuple[RunSpec, ...]
    regimes: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    min_cpus: int = 1
    inexact: bool = False
    # Some run must read above its reference (err > 0): the claim says the
    # metric can be too high.
    above: bool = False
    # A formula some run's |error| must exceed (e.g. one_cpu_residue).
    exceeds: Mapping[str, Any] = field(default_factory=dict)
    floor_below_reference: bool = False
    tags: tuple[Tag, ...] = ()
    source: str = ""

    def applies(self, features: frozenset[str], ncpus: int) -> bool:
        return (all(r in features for r in self.regimes)
                and not any(r in features for r in self.unless)
                and ncpus >= self.min_cpus)

    def runs_at(self, ncpus: int, page_size: int,
                features: frozenset[str] = frozenset()) -> tuple[RunSpec, ...]:
        """The claim's runs on a kernel with ``ncpus`` CPUs: sizes given as
        formulas (``rsslab.sizing``) evaluated there, defaults filled in."""
        if not any(_sized(r, k) for r in self.runs for k in r.params):
            return tuple(r.resolved() for r in self.runs)
        names = size_names(self.bound, ncpus, page_size, features)
        return tuple(
            RunSpec(r.scenario, {k: sizing.evaluate(str(v), names) if _sized(r, k) else v
                                 for k, v in r.params.items()}, r.cgroup, r.repeat).resolved()
            for r in self.runs)

    def matches(self, obs: Observation, features: frozenset[str] = frozenset()) -> bool:
        """Is obs one of the claim's runs at its CPU count?  A run that asks
        for the cgroup peak needs an observation that measured it; any other
        run is served by observations with or without it (QEMU guests always
        measure it)."""
        return any(_same_run(run, obs) and (not run.cgroup or obs.cgroup_version is not None)
                   for run in self.runs_at(obs.ncpus, obs.page_size, features))

    def unavailable(self, runs: Iterable[Observation],
                    features: frozenset[str] = frozenset()) -> str:
        """Why this kernel cannot give the claim's runs, or "": its cgroup
        runs ran, but the kernel has no memory cgroup peak to read."""
        return next((o.cgroup_unavailable for o in runs if o.cgroup_unavailable
                     and any(r.cgroup and _same_run(r, o)
                             for r in self.runs_at(o.ncpus, o.page_size, features))), "")


def _same_run(run: RunSpec, obs: Observation) -> bool:
    return (run.scenario == obs.scenario
            and all(str(obs.params.get(k)) == str(v) for k, v in run.params.items()))


def _sized(run: RunSpec, name: str) -> bool:
    """Is this parameter a size formula (a string for an integer parameter)?"""
    return (isinstance(run.params[name], str)
            and not scenarios.get(run.scenario).param(name).choices)


def _plan_point(ncpus: int, page_size: int) -> Observation:
    """A run not made yet: what a bound formula knows before the run."""
    return Observation(kernel="", kernel_release="", kernel_version="", ncpus=ncpus,
                       scenario="", params={}, page_size=page_size)


def size_names(bound: Mapping[str, Any], ncpus: int, page_size: int,
               features: frozenset[str]) -> dict[str, int]:
    """What a run size formula may use at ``ncpus`` (``rsslab.sizing``)."""
    try:
        lo = interval(bound, _plan_point(ncpus, page_size), features).lo
    except (UserError, KeyError):
        lo = 0  # a bound that needs the run's own parameters
    return {"ncpus": ncpus, "batch": percpu_batch(ncpus),
            "bound": int(-lo) if math.isfinite(lo) and lo < 0 else 0,
            "floor": floor_allowance_pages(page_size), "page_kib": page_size // 1024}


@dataclass(frozen=True, slots=True)
class Check:
    obs: Observation
    value: int | None
    reference: int | None
    err_pages: float | None
    interval: Interval
    ok: bool
    problem: str = ""
    # The run cannot decide the claim (its floor hides the low side); the
    # kernel did not contradict it.
    undecided: bool = False


HOLDS, CONTRADICTED, UNDECIDED = "holds", "contradicted", "undecided"


@dataclass(frozen=True, slots=True)
class Verdict:
    claim: Claim
    label: str
    checks: tuple[Check, ...]
    problems: tuple[str, ...] = field(default=())
    # Every run held, but none showed what the claim says must show (an
    # inexact run, an error beyond one CPU's residue).
    shortfall: bool = False
    # Not a failure: the kernel lacks what the claim's runs need (the
    # memory cgroup peak before Linux 5.19); says what.
    unavailable: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def contradicted(self) -> bool:
        """The kernel disagreed with the claim: a run outside the bound, or
        no run showing what the claim says must show.  A claim left
        undecided (no runs, a floor too high) is not contradicted."""
        return self.kind == CONTRADICTED

    @property
    def kind(self) -> str:
        if not self.problems:
            return HOLDS
        if any(not c.ok and not c.undecided for c in self.checks) or self.shortfall:
            return CONTRADICTED
        return UNDECIDED

    def worst(self) -> Check | None:
        errs = [c for c in self.checks if c.err_pages is not None]
        return max(errs, key=lambda c: abs(c.err_pages or 0), default=None)

    def explain(self) -> str:
        lines = [f"claim {self.claim.id} on {self.label}: {self.claim.says}"]
        lines += [f"  - {p}" for p in self.problems[:10]]
        lines += [f"  cites {t.show()}" for t in self.claim.tags]
        return "\n".join(lines)


def reference_value(obs: Observation, expr: str) -> int | None:
    """A reference: a metric name, or a sum ``a_kib + b_kib - c_kib`` of them."""
    total = 0
    for sign, name in re.findall(r"([+-]?)\s*([A-Za-z_]\w*)", expr):
        v = obs.value(name)
        if v is None:
            return None
        total += -v if sign == "-" else v
    return total


def _check(claim: Claim, obs: Observation, features: frozenset[str]) -> Check:
    value = obs.value(claim.metric)
    refs = [reference_value(obs, r) for r in claim.reference]
    iv = interval(claim.bound, obs, features)
    if value is None or any(r is None for r in refs):
        missing = [n for n, v in zip((claim.metric, *claim.reference), (value, *refs)) if v is None]
        return Check(obs, value, None, None, iv, False,
                     f"{obs.scenario} {dict(obs.params)}: no {', '.join(missing)} on this kernel")
    ref = max(r for r in refs if r is not None)
    err = (value - ref) / obs.page_kib
    if iv.premise_failed:
        return Check(obs, value, ref, err, iv, False,
                     f"{obs.scenario} {dict(obs.params)}: {iv.show()}: this run cannot "
                     "decide the claim", undecided=True)
    if not iv.contains(err):
        return Check(obs, value, ref, err, iv, False,
                     f"{obs.scenario} {dict(obs.params)}: {claim.metric}={value} KiB, "
                     f"reference {ref} KiB, error {err:+g} pages outside {iv.show()}")
    hidden = _floor_hides(claim, obs, iv, ref)
    if hidden:
        return Check(obs, value, ref, err, iv, False, hidden, undecided=True)
    return Check(obs, value, ref, err, iv, True)


def _floor_hides(claim: Claim, obs: Observation, iv: Interval, ref: int) -> str:
    """ru_maxrss is never below the peak execve() handed down (the
    observer's copy): a value below the claim's lower bound can only show
    when that floor lies below ``reference + lo``.  Otherwise the run
    cannot decide the claim, whatever the kernel does."""
    if not claim.floor_below_reference or obs.exec_floor_kib is None or not math.isfinite(iv.lo):
        return ""
    lowest = ref + iv.lo * obs.page_kib
    if obs.exec_floor_kib < lowest:
        return ""
    return (f"{obs.scenario} {dict(obs.params)}: the inherited floor {obs.exec_floor_kib} KiB "
            f"is not below the lowest value the bound allows, {lowest:g} KiB (reference "
            f"{ref} KiB {iv.lo * obs.page_kib:+g}): this run cannot decide the claim")


def _exceeds_limit(claim: Claim, obs: Observation) -> tuple[int, str]:
    """The ``exceeds`` formula for one run, in pages, and what it is."""
    formula = claim.exceeds.get("formula")
    if formula == "one_cpu_residue":
        counters = int(claim.exceeds.get("counters", RSS_COUNTERS))
        return one_cpu_residue(obs.ncpus, counters), "one CPU's residue"
    if formula == "thread_cache":
        threads = _int_arg(claim.exceeds, "threads", obs)
        return thread_cache(threads, _pages_per_fault(claim.exceeds, obs)), \
            f"{threads} thread's cache" if threads == 1 else f"{threads} threads' caches"
    raise UserError(f"claim {claim.id}: unknown exceeds formula '{formula}'; "
                    "see rsslab/claims.py")


def _exceeds(claim: Claim, checks: Sequence[Check]) -> list[str]:
    """Some run's |error| must pass the claim's ``exceeds`` formula."""
    over = [c for c in checks if c.err_pages is not None
            and abs(c.err_pages) > _exceeds_limit(claim, c.obs)[0]]
    if over:
        return []
    worst = max(abs(c.err_pages or 0) for c in checks)
    limit, what = _exceeds_limit(claim, checks[0].obs)
    return [f"no run's {claim.metric} error passed {what} ({limit} pages); "
            f"the largest was {worst:g} pages in {len(checks)} runs"]


def evaluate(claim: Claim, runs: Iterable[Observation], features: frozenset[str],
             label: str) -> Verdict:
    """Check every matching observation; say what is wrong, if anything."""
    runs = tuple(runs)
    checks = tuple(_check(claim, o, features) for o in runs if claim.matches(o, features))
    problems = [c.problem for c in checks if c.problem]
    shortfall: list[str] = []
    if not checks and (why := claim.unavailable(runs, features)):
        return Verdict(claim, label, (), (), unavailable=f"not available here: {why}")
    if not checks:
        problems.append("no observations of its runs: "
                        + "; ".join(r.describe() for r in claim.runs))
    elif claim.inexact and not problems and all(c.err_pages == 0 for c in checks):
        shortfall.append(f"{claim.metric} was exact in all {len(checks)} runs, "
                         "but this claim says it is not exact here")
    elif claim.above and not problems and not any((c.err_pages or 0) > 0 for c in checks):
        worst = max(c.err_pages or 0 for c in checks)
        shortfall.append(f"{claim.metric} never read above {' / '.join(claim.reference)} in "
                         f"{len(checks)} runs (the highest error was {worst:+g} pages), but "
                         "this claim says it can")
    if claim.exceeds and not problems and not shortfall and checks:
        shortfall += _exceeds(claim, checks)
    return Verdict(claim, label, checks, tuple(problems + shortfall), bool(shortfall))


def unavailable_of(label: str, verdicts: Iterable[Verdict]) -> list[str]:
    """One line per thing a kernel or machine lacks: the claims it could not
    check, and why."""
    why: dict[str, list[str]] = {}
    for v in verdicts:
        if v.unavailable:
            why.setdefault(v.unavailable, []).append(v.claim.id)
    return [f"{label}: {', '.join(ids)}: {reason}" for reason, ids in why.items()]


# --- loading ---------------------------------------------------------------

_SHORT = {
    "vmrss_kib": "vmrss", "vmhwm_kib": "vmhwm", "statm_rss_kib": "statm",
    "stat_rss_kib": "stat-rss", "rss_anon_kib": "rssanon", "wait4_maxrss_kib": "wait4",
    "children_maxrss_kib": "children", "smaps_rss_kib": "smaps", "cgroup_peak_kib": "cgroup-peak",
    "self_maxrss_kib": "self", "child_maxrss_kib": "child-maxrss",
}


def short_metric(metric: str) -> str:
    return _SHORT.get(metric, metric.removesuffix("_kib").replace("_", "-"))


def _tags(raw: Sequence[Sequence[str]]) -> tuple[Tag, ...]:
    return tuple(Tag(*t) for t in raw)


def _runs(raw: Sequence[Mapping[str, Any]], repeat: int, where: str) -> tuple[RunSpec, ...]:
    """The runs as written; sizes given as formulas are checked here and
    evaluated per kernel (``Claim.runs_at``)."""
    out = []
    for r in raw:
        spec = RunSpec(r["scenario"], dict(r.get("params", {})), bool(r.get("cgroup", False)),
                       repeat)
        try:
            sized = [k for k in spec.params if _sized(spec, k)]
            for name in sized:
                sizing.check(str(spec.params[name]))
            fixed = {k: v for k, v in spec.params.items() if k not in sized}
            RunSpec(spec.scenario, fixed, spec.cgroup).resolved()  # names and values checked
        except UserError as e:
            raise UserError(f"{where}: {e}") from None
        out.append(spec)
    return tuple(out)


def _expand(raw: Mapping[str, Any], source: str, default_repeat: int) -> list[Claim]:
    metrics = raw.get("metrics") or [raw["metric"]]
    if len(metrics) > 1 and "{metric}" not in raw["id"]:
        raise UserError(f"{source}: claim {raw['id']} lists several metrics, its id needs {{metric}}")
    runs = _runs(raw["runs"], int(raw.get("repeat", default_repeat)), f"{source}: {raw['id']}")
    refs = raw["reference"]
    return [
        Claim(
            id=raw["id"].replace("{metric}", short_metric(m)),
            says=" ".join(raw["says"].split()),
            metric=m,
            reference=tuple(refs if isinstance(refs, list) else [refs]),
            bound=dict(raw["bound"]),
            runs=runs,
            regimes=tuple(raw.get("regimes", ())),
            unless=tuple(raw.get("unless", ())),
            min_cpus=int(raw.get("min_cpus", 1)),
            inexact=bool(raw.get("inexact", False)),
            above=bool(raw.get("above", False)),
            exceeds=dict(raw.get("exceeds", {})),
            floor_below_reference=bool(raw.get("floor_below_reference", False)),
            tags=_tags(raw.get("tags", ())),
            source=source,
        )
        for m in metrics
    ]


def load(claims_dir: Path, default_repeat: int = 5) -> list[Claim]:
    """Every claim in ``claims/*.toml`` except the regimes file."""
    out: list[Claim] = []
    for path in sorted(claims_dir.glob("*.toml")):
        if path.name == "regimes.toml":
            continue
        try:
            doc = tomllib.loads(path.read_text())
            for raw in doc.get("claim", []):
                out.extend(_expand(raw, path.name, default_repeat))
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
            raise UserError(f"claims file {path} is invalid: {e}") from None
    ids = [c.id for c in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise UserError(f"duplicate claim ids: {', '.join(sorted(dup))}")
    return out


def plan(claims: Iterable[Claim], features: frozenset[str], ncpus: int,
         page_size: int | None = None) -> list[RunSpec]:
    """The runs needed to check every claim that applies to a kernel with
    ``ncpus`` CPUs and pages of ``page_size`` bytes (default: this machine's)."""
    from rsslab.plan import merge

    page_size = page_size or os.sysconf("SC_PAGE_SIZE")
    return merge(r for c in claims if c.applies(features, ncpus)
                 for r in c.runs_at(ncpus, page_size, features))
