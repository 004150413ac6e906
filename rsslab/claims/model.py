"""A claim: what one metric does against an exact reference on the kernels
of some regimes, with its bound and the runs that check it."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rsslab import scenarios
from rsslab.claims import sizing
from rsslab.claims.formulas import (
    floor_allowance_pages,
    interval,
    percpu_batch,
)
from rsslab.errors import UserError
from rsslab.plan import RunSpec
from rsslab.results import Observation


@dataclass(frozen=True, slots=True)
class Tag:
    """LTP-style citation: ``linux-git`` full hash, ``source`` file:function@version."""

    kind: str
    ref: str
    note: str = ""

    def show(self) -> str:
        return f"{self.kind} {self.ref}" + (f' ("{self.note}")' if self.note else "")


# Each kind of tag, the shape of its ref and how to write it.
TAG_SHAPES: Mapping[str, tuple[str, str]] = {
    "linux-git": (r"[0-9a-f]{40}", "the full 40-hex commit id"),
    "source": (r"[\w.+/-]+:\w+@v\d+\.\d+(\.\d+)?",
               "file:function@vX.Y, e.g. mm/memory.c:do_set_pte@v6.1"),
    "stable": (r"[^@\s]+@[^@\s]+", "the message id of the stable review, e.g. "
               "20250715130818.946232866@linuxfoundation.org"),
}


def tag_problem(raw: Any) -> str:
    """What is wrong with a tag as written, ``[kind, ref]`` or ``[kind, ref,
    note]``, and how to write it; "" when nothing is."""
    if (not isinstance(raw, list) or not 2 <= len(raw) <= 3
            or not all(isinstance(x, str) for x in raw)):
        return f"tag {raw!r} is not [kind, ref] or [kind, ref, note], all strings"
    kind, ref = raw[0], raw[1]
    if kind not in TAG_SHAPES:
        return f"tag kind '{kind}' is not one of {', '.join(TAG_SHAPES)}"
    pattern, how = TAG_SHAPES[kind]
    if not re.fullmatch(pattern, ref):
        return f"{kind} tag '{ref}' is not {how}; write that"
    return ""


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
        formulas (``rsslab.claims.sizing``) evaluated there, defaults filled in."""
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
        measure it).  A claim on what the trace reads needs a run whose
        observer could read it."""
        if self.metric in TRACE_METRICS and obs.rss_stat_unavailable:
            return False
        return any(_same_run(run, obs) and (not run.cgroup or obs.cgroup_version is not None)
                   for run in self.runs_at(obs.ncpus, obs.page_size, features))

    def unavailable(self, runs: Iterable[Observation],
                    features: frozenset[str] = frozenset()) -> str:
        """Why this kernel or machine cannot give the claim's runs, or "":
        its cgroup runs ran, but the kernel has no memory cgroup peak to
        read; or its runs ran, but the observer could not read the trace."""
        def mine(o: Observation, cgroup: bool) -> bool:
            return any((r.cgroup or not cgroup) and _same_run(r, o)
                       for r in self.runs_at(o.ncpus, o.page_size, features))

        runs = tuple(runs)
        if self.metric in TRACE_METRICS:
            why = next((o.rss_stat_unavailable for o in runs
                        if o.rss_stat_unavailable and mine(o, False)), "")
            if why:
                return f"no kmem:rss_stat reading: {why}"
        return next((o.cgroup_unavailable for o in runs
                     if o.cgroup_unavailable and mine(o, True)), "")


# What the observer reads from kmem:rss_stat; where it could not, a claim on
# them is not available, not broken.
TRACE_METRICS = frozenset({"rss_stat_peak_kib", "tree_peak_kib"})


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
    """What a run size formula may use at ``ncpus`` (``rsslab.claims.sizing``)."""
    try:
        lo = interval(bound, _plan_point(ncpus, page_size), features).lo
    except (UserError, KeyError):
        lo = 0  # a bound that needs the run's own parameters
    return {"ncpus": ncpus, "batch": percpu_batch(ncpus),
            "bound": int(-lo) if math.isfinite(lo) and lo < 0 else 0,
            "floor": floor_allowance_pages(page_size), "page_kib": page_size // 1024}


