"""``rsslab doctor``: which memory metrics are exact on this kernel.

A short battery: the runs of the claims that speak about the metrics judges
and tools read (VmHWM at the exit stop, VmRSS, stat rss, wait4 and
RUSAGE_CHILDREN ru_maxrss, RUSAGE_SELF, the memory cgroup peak), a few
repeats each, through the observer.  Each metric gets the verdicts of its
claims, the largest error seen, the widest bound the claims give it on this
kernel and CPU count, and what to read instead.  The verdicts come from
``rsslab.claims.evaluate``; doctor only groups them by metric.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import observe, paths
from rsslab.bounds import MetricBound, claim_bound
from rsslab.build import build_all
from rsslab.claims import Claim, Verdict
from rsslab.errors import ObserverError
from rsslab.measurement import host_features
from rsslab.plan import RunSpec
from rsslab.results import Observation

DEFAULT_REPEAT = 2

# Exit statuses of `rsslab doctor` (2 is every rsslab command's usage error).
EXIT_EXACT = 0  # every metric judges commonly read is exact here
EXIT_INACCURATE = 1  # at least one of them is not
EXIT_CLAIM_FAILED = 3  # the kernel disagreed with a claim: rsslab's documentation is wrong here


@dataclass(frozen=True, slots=True)
class MetricInfo:
    metric: str
    name: str
    read_by: str  # who reads it (peers), empty if no judge does
    common: bool  # counts for the exit status
    instead: str


INSTEAD_EXIT = "smaps_rollup at the exit stop (rsslab measure)"

METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("vmhwm_kib", "VmHWM at the exit stop", "DMOJ", True, INSTEAD_EXIT),
    MetricInfo("vmrss_kib", "VmRSS at the exit stop", "", False, INSTEAD_EXIT),
    MetricInfo("stat_rss_kib", "/proc/PID/stat rss", "", False,
               "VmRSS where exact, else smaps_rollup"),
    MetricInfo("wait4_maxrss_kib", "wait4 ru_maxrss", "isolate max-rss, QingdaoU, GNU time",
               True, INSTEAD_EXIT),
    MetricInfo("children_maxrss_kib", "RUSAGE_CHILDREN ru_maxrss", "hyperfine, cgmemtime",
               True, INSTEAD_EXIT),
    MetricInfo("self_maxrss_kib", "RUSAGE_SELF ru_maxrss", "pyperf", False,
               "/proc/self/smaps_rollup Rss"),
    MetricInfo("cgroup_peak_kib", "memory cgroup peak", "DOMjudge, go-judge, isolate cg-mem",
               False, "not RSS (charges): pair it with smaps_rollup"),
)


@dataclass(frozen=True, slots=True)
class MetricReport:
    info: MetricInfo
    verdicts: tuple[Verdict, ...]
    bound: MetricBound | None  # the widest bound of its claims here
    worst_kib: float | None  # the largest error seen, signed
    available: str = ""  # why it could not be measured here, if so

    @property
    def exact(self) -> bool:
        return (self.bound is not None and self.bound.exact and self.worst_kib in (None, 0)
                and self.holds)

    @property
    def holds(self) -> bool:
        return all(v.ok for v in self.verdicts)

    @property
    def state(self) -> str:
        if self.available:
            return "not available"
        if not self.verdicts:
            return "no claim"
        if not self.holds:
            return "CLAIM FAILED"
        return "exact" if self.exact else "approximate"


@dataclass(frozen=True, slots=True)
class DoctorReport:
    kernel: str
    kernel_release: str
    ncpus: int
    features: frozenset[str]
    metrics: tuple[MetricReport, ...]
    runs: int
    seconds: float

    @property
    def status(self) -> int:
        if any(not m.holds for m in self.metrics):
            return EXIT_CLAIM_FAILED
        if any(m.info.common and not m.available and not m.exact for m in self.metrics):
            return EXIT_INACCURATE
        return EXIT_EXACT


def _widest(verdicts: Sequence[Verdict], features: frozenset[str],
            obs: Observation) -> MetricBound | None:
    """The loosest two-sided bound of the metric's claims; a one-sided one
    (such as the observer floor's) only when there is no other."""
    found = [b for v in verdicts if (b := claim_bound(v.claim, obs, features)) is not None]
    return max(found, key=lambda b: (math.isfinite(b.width_kib), b.width_kib), default=None)


def _worst(verdicts: Sequence[Verdict]) -> float | None:
    errs = [c.err_pages * c.obs.page_kib for v in verdicts for c in v.checks
            if c.err_pages is not None]
    return max(errs, key=abs, default=None)


def summarize(info: MetricInfo, claims: Sequence[Claim], runs: Sequence[Observation],
              features: frozenset[str], label: str, unavailable: str = "") -> MetricReport:
    """One metric: its applicable claims evaluated on the runs."""
    if unavailable:
        return MetricReport(info, (), None, None, unavailable)
    mine = [c for c in claims if c.metric == info.metric]
    verdicts = tuple(claims_mod.evaluate(c, runs, features, label) for c in mine)
    bound = _widest(verdicts, features, runs[0]) if runs else None
    return MetricReport(info, verdicts, bound, _worst(verdicts))


def _cgroup_unavailable(bin_dir: Path) -> str:
    """Empty when the observer can make a memory cgroup here, else why not."""
    try:
        observe.run_specs(bin_dir, [RunSpec("touch", {"pages": 0}, cgroup=True)])
    except ObserverError as e:
        return str(e)
    return ""


def battery(claims: Sequence[Claim], features: frozenset[str], ncpus: int,
            cgroup: bool) -> list[RunSpec]:
    """The runs of every claim doctor reports on, without cgroup runs if
    no cgroup can be made here."""
    wanted = {m.metric for m in METRICS}
    mine = [c for c in claims if c.metric in wanted and c.applies(features, ncpus)]
    return [s for s in claims_mod.plan(mine, features, ncpus) if cgroup or not s.cgroup]


def run(repeat: int = DEFAULT_REPEAT, root: Path | None = None,
        progress: Callable[[RunSpec], None] | None = None) -> DoctorReport:
    """The battery on the running kernel."""
    start = time.monotonic()
    root = root or paths.project_root()
    bin_dir = paths.build_dir(root) / "bin"
    build_all(root, bin_dir)
    claims = claims_mod.load(root / "claims", repeat)
    features = host_features(root, bin_dir)
    ncpus = os.cpu_count() or 1
    no_cgroup = _cgroup_unavailable(bin_dir)
    specs = battery(claims, features, ncpus, not no_cgroup)
    runs = observe.run_specs(bin_dir, specs, "host", progress)
    applicable = [c for c in claims if c.applies(features, ncpus)]
    label = f"host-smp{runs[0].ncpus}" if runs else "host"
    reports = tuple(
        summarize(m, applicable, runs, features, label,
                  no_cgroup if m.metric == "cgroup_peak_kib" else "")
        for m in METRICS)
    first = runs[0] if runs else None
    return DoctorReport("host", first.kernel_release if first else os.uname().release,
                        first.ncpus if first else ncpus, features, reports, len(runs),
                        time.monotonic() - start)


def to_json(r: DoctorReport) -> dict[str, object]:
    def num(x: float | None) -> float | int | None:
        if x is None or math.isinf(x):
            return None
        return int(x) if x == int(x) else x

    return {
        "kernel": r.kernel,
        "kernel_release": r.kernel_release,
        "ncpus": r.ncpus,
        "regimes": sorted(r.features),
        "runs": r.runs,
        "seconds": round(r.seconds, 3),
        "status": r.status,
        "metrics": [
            {
                "metric": m.info.metric,
                "name": m.info.name,
                "read_by": m.info.read_by,
                "common": m.info.common,
                "state": m.state,
                "exact": m.exact,
                "largest_error_kib": num(m.worst_kib),
                "bound": m.bound.to_json() if m.bound else None,
                "instead": "" if m.exact else m.info.instead,
                "unavailable": m.available or None,
                "claims": [{"id": v.claim.id, "holds": v.ok, "runs": len(v.checks),
                            "problems": list(v.problems)} for v in m.verdicts],
            }
            for m in r.metrics
        ],
    }
