"""``rsslab doctor``: which memory metrics are exact on this kernel.

A short battery: the runs of the claims that speak about the metrics judges
and tools read (VmHWM at the exit stop, VmRSS, stat rss, wait4 and
RUSAGE_CHILDREN ru_maxrss, RUSAGE_SELF, the memory cgroup peak), a few
repeats each, through the observer.  Each metric gets the verdicts of its
claims, the largest error seen, the widest bound the claims give it on this
kernel and CPU count, and what to read instead.  The verdicts come from
``rsslab.claims.assess_all``; doctor only groups them by metric.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import kernels, metrics, paths, results
from rsslab.claims import Assessment, Claim, Verdict, limits, regimes, worst
from rsslab.claims.limits import MetricBound, claim_bound, scenario_only
from rsslab.kernels import qemu
from rsslab.metrics import Metric
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import host, matrix
from rsslab.run.session import Session

DEFAULT_REPEAT = 2

# Exit statuses of `rsslab doctor` (2 is every rsslab command's usage error).
EXIT_EXACT = 0
EXIT_INACCURATE = 1
EXIT_CLAIM_BROKEN = 2
EXIT_CLAIM_FAILED = 3
EXIT_INCOMPLETE = 4
# What each says; `rsslab doctor --help` is made from them.
STATUSES: tuple[tuple[int, str], ...] = (
    (EXIT_EXACT, "every metric judges commonly read (VmHWM at the exit stop, wait4 and "
                 "RUSAGE_CHILDREN ru_maxrss) is exact on this kernel"),
    (EXIT_INACCURATE, "at least one of them is not"),
    (EXIT_CLAIM_BROKEN, "a claim is broken (it names a value its runs do not report: "
                        "rsslab's fault, not the kernel's), or rsslab could not run at all "
                        "(usage, compiler, ptrace, a guest that hung)"),
    (EXIT_CLAIM_FAILED, "the kernel contradicted a claim (rsslab's documentation is wrong "
                        "here)"),
    (EXIT_INCOMPLETE, "some case of the battery could not run or could not decide a claim, "
                      "and none showed an error"),
)


# The metrics doctor reports, in order; what each is comes from the catalogue.
DOCTOR_METRICS: tuple[str, ...] = (
    "vmhwm_kib", "vmrss_kib", "stat_rss_kib", "wait4_maxrss_kib", "children_maxrss_kib",
    "self_maxrss_kib", "cgroup_peak_kib",
)
METRICS: tuple[Metric, ...] = tuple(metrics.get(n) for n in DOCTOR_METRICS)


@dataclass(frozen=True, slots=True)
class MetricReport:
    info: Metric
    assessments: tuple[Assessment, ...]  # of its claims that had runs
    bound: MetricBound | None  # the widest bound of its claims here
    worst_kib: float | None  # the largest error seen, signed
    unavailable: str = ""  # why it could not be measured here, if so

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of its claims; not decided where none had runs."""
        if self.unavailable:
            return Verdict.UNAVAILABLE
        if not self.assessments:
            return Verdict.UNDECIDED
        return worst(a.verdict for a in self.assessments)

    @property
    def exact(self) -> bool:
        return (self.bound is not None and self.bound.exact and self.worst_kib in (None, 0)
                and self.verdict is Verdict.HOLDS)

    @property
    def state(self) -> str:
        """What the table says: exact or approximate where its claims hold,
        "not run" where none had runs, else the verdict's words."""
        if self.verdict is Verdict.HOLDS:
            return "exact" if self.exact else "approximate"
        if self.verdict is Verdict.UNDECIDED and not self.assessments:
            return "not run"
        return self.verdict.words


TRACEFS = Path("/sys/kernel/tracing")
EXACT_PEAK_CLAIM = "rssstat-peak-exact"


@dataclass(frozen=True, slots=True)
class ExactPeak:
    """Whether `rsslab measure` gets the exact peak here (method rss-stat),
    how, and what to do where it does not."""

    available: bool
    how: str  # the method, or why not
    advice: str = ""  # what to do, where it is not available


def exact_peak(features: frozenset[str], runs: Sequence[Observation],
               tracefs: Path = TRACEFS) -> ExactPeak:
    """From the kernel's regimes and what the battery's runs read."""
    if "rss-stat-sum" not in features:
        return ExactPeak(False, "this kernel's kmem:rss_stat does not sum the per-CPU "
                                "counters (rss-stat-sum needs Linux 6.2+)",
                         "rsslab measure reads at the exit stops: a peak that lasts until "
                         "exit is exact, a released one is bracketed by VmHWM (see above)")
    why = next((o.rss_stat_unavailable for o in runs if o.rss_stat_unavailable), "")
    traced = [o for o in runs if o.rss_stat_peak_kib is not None]
    if traced and not why:
        return ExactPeak(True, f"rss-stat: kmem:rss_stat through a tracefs instance at "
                               f"{tracefs} ({sum(o.rss_stat_events or 0 for o in traced)} "
                               f"events in {len(traced)} runs, none lost)"
                               if not any(o.rss_stat_lost for o in traced) else
                               "rss-stat, but some runs lost events")
    if not tracefs.joinpath("instances").is_dir():
        advice = f"as root: mount -t tracefs nodev {tracefs} (systemd mounts it at boot)"
    elif not os.access(tracefs / "instances", os.W_OK):
        advice = "run rsslab measure as root (tracefs instances need it)"
    else:
        advice = "see the reason"
    return ExactPeak(False, why or "no run read kmem:rss_stat", advice)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    kernel: str  # host, or the matrix kernel's name
    kernel_release: str
    ncpus: int
    features: frozenset[str]
    metrics: tuple[MetricReport, ...]
    runs: int
    seconds: float
    problems: tuple[str, ...] = ()  # battery cases that could not run
    exact_peak: ExactPeak | None = None

    @property
    def status(self) -> int:
        verdicts = {m.verdict for m in self.metrics}
        if Verdict.CONTRADICTED in verdicts:
            return EXIT_CLAIM_FAILED
        if Verdict.BROKEN in verdicts:
            return EXIT_CLAIM_BROKEN
        if any(m.info.common and m.state == "approximate" for m in self.metrics):
            return EXIT_INACCURATE
        if self.problems or any(m.info.common and m.state != "exact" for m in self.metrics):
            return EXIT_INCOMPLETE
        return EXIT_EXACT


# References that are the program's exact RSS (the catalogue's
# `program_rss`); a claim measured against anything else (file pages, the
# inherited floor) has its runs' errors taken against the exact RSS at the
# exit stop instead.
EXACT_REFERENCES = frozenset(m.name for m in metrics.CATALOGUE.values() if m.program_rss)


def _error_kib(a: Assessment, c: claims_mod.Check) -> float | None:
    if set(a.claim.reference) <= EXACT_REFERENCES:
        return None if c.err_pages is None else c.err_pages * c.obs.page_kib
    exact = c.obs.smaps_rss_kib
    return None if c.value is None or exact is None else c.value - exact


def _within(err_kib: float, bound: MetricBound | None) -> bool:
    return bound is not None and bound.lo_kib <= err_kib <= bound.hi_kib


def _worst(assessments: Sequence[Assessment], bound: MetricBound | None) -> float | None:
    """The largest error seen, against the exact value, in the runs of the
    claims that bound the metric for any program.  Claims about one
    scenario's own miss (the pages of a packet ring a root program mapped,
    threads held off their CPU) are assessed with the others, but their runs
    count here only where they stay within the bound shown (a spread whose
    anonymous pages no CPU folded does; a packet ring on 6.1 does not)."""
    errs = [e for a in assessments for c in a.checks if (e := _error_kib(a, c)) is not None
            and (not scenario_only(a.claim) or _within(e, bound))]
    return max(errs, key=abs, default=None)


def summarize(info: Metric, claims: Sequence[Claim], runs: Sequence[Observation],
              features: frozenset[str], label: str, unavailable: str = "") -> MetricReport:
    """One metric: its applicable claims assessed on the runs; a claim
    none of whose runs could be made is left out (the battery says why)."""
    if unavailable:
        return MetricReport(info, (), None, None, unavailable)
    mine = [c for c in claims if c.metric == info.name]
    ncpus = runs[0].ncpus if runs else 1
    assessed = tuple(a for a in claims_mod.assess_all(mine, runs, features, label, ncpus)
                     if a.checks)
    bound = (limits.loosest(claim_bound(a.claim, runs[0], features) for a in assessed)
             if runs else None)
    return MetricReport(info, assessed, bound, _worst(assessed, bound))


def battery(claims: Sequence[Claim], features: frozenset[str], ncpus: int,
            page_size: int | None = None) -> list[RunSpec]:
    """The runs of every claim doctor reports on, at this CPU count (cgroup
    runs too: where no memory cgroup can be made, they say why)."""
    wanted = {m.name for m in METRICS}
    mine = [c for c in claims if c.metric in wanted and c.applies(features, ncpus)]
    return claims_mod.plan(mine, features, ncpus, page_size)


def no_cgroup(runs: Sequence[Observation]) -> str:
    """Why the runs have no memory cgroup peak, or "" where they have one."""
    return next((o.cgroup_unavailable for o in runs if o.cgroup_unavailable), "")


def assess_battery(kernel: str, ncpus: int, features: frozenset[str], claims: Sequence[Claim],
                   runs: Sequence[Observation], seconds: float, problems: Sequence[str] = (),
                   no_cgroup: str = "") -> DoctorReport:
    """Group the verdicts of the battery's runs by metric."""
    if runs:
        ncpus = runs[0].ncpus
    label = results.label_for(kernel, ncpus)
    applicable = [c for c in claims if c.applies(features, ncpus)]
    reports = tuple(summarize(m, applicable, runs, features, label,
                              no_cgroup if m.name == "cgroup_peak_kib" else "")
                    for m in METRICS)
    release = runs[0].kernel_release if runs else ""
    return DoctorReport(kernel, release, ncpus, features, reports, len(runs), seconds,
                        tuple(problems), exact_peak(features, runs))


def run(repeat: int = DEFAULT_REPEAT, root: Path | None = None,
        progress: Callable[[RunSpec], None] | None = None,
        session: Session | None = None) -> DoctorReport:
    """The battery on the running kernel."""
    start = time.monotonic()
    session = session or Session.here(root)
    claims = session.data(repeat)
    bin_dir = session.binaries()
    features = session.host_features
    ncpus = session.ncpus
    specs = battery(claims, features, ncpus)
    missing = sorted({s.scenario for s in specs if not (bin_dir / s.scenario).is_file()})
    specs = [s for s in specs if s.scenario not in missing]
    runs = host.run_specs(bin_dir, specs, "host", progress)
    problems = [f"{m}: no binary build/bin/{m} (repro/{m}.c is missing)" for m in missing]
    report = assess_battery("host", ncpus, features, claims, runs, time.monotonic() - start,
                            problems, no_cgroup(runs))
    return report if runs else replace(report, kernel_release=os.uname().release)


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
        "problems": list(r.problems),
        "exact_peak": None if r.exact_peak is None else {
            "available": r.exact_peak.available, "how": r.exact_peak.how,
            "advice": r.exact_peak.advice or None},
        "metrics": [
            {
                "metric": m.info.name,
                "name": m.info.label,
                "read_by": m.info.read_by,
                "common": m.info.common,
                "state": m.state,
                "verdict": m.verdict.value,
                "exact": m.exact,
                "largest_error_kib": num(m.worst_kib),
                "bound": m.bound.to_json() if m.bound else None,
                "instead": "" if m.exact else m.info.instead,
                "unavailable": m.unavailable or None,
                "claims": [{"id": a.claim.id, "verdict": a.verdict.value, "holds": a.holds,
                            "runs": len(a.checks), "problems": list(a.problems)}
                           for a in m.assessments],
            }
            for m in r.metrics
        ],
    }


def run_guest(word: str, ncpus: int, repeat: int = DEFAULT_REPEAT, root: Path | None = None,
              progress: Callable[[str, str, int, int], None] | None = None,
              fetched: Callable[[str, float], None] | None = None,
              session: Session | None = None) -> DoctorReport:
    """The same battery in a QEMU guest booting a matrix kernel (6.1, 6.12,
    7, or an image path), through the matrix runner; the guest measures
    the memory cgroup where the kernel has a peak for it (5.19+)."""
    start = time.monotonic()
    session = session or Session.here(root)
    kernel = kernels.resolve(word, paths.cache_dir(), False, fetched)
    if kernel.is_host:
        return run(repeat, session=session)
    claims = session.data(repeat)
    regs = session.regimes
    bin_dir = session.binaries()
    matrix.check_regimes(kernel, regs)
    target = matrix.Target(kernel, ncpus)
    specs = [*battery(claims, matrix.candidates(kernel, regs), ncpus, qemu.PAGE_SIZE),
             regimes.PROBE_RUN]
    settings = matrix.Settings(bin_dir, session.build_dir, session.results_dir)
    out = matrix.run_guest(target, specs, settings, progress or (lambda *_: None))
    features = matrix.features_of(kernel, regs, out.runs)
    return assess_battery(kernel.name, ncpus, features, claims, out.runs,
                          time.monotonic() - start, out.problems, no_cgroup(out.runs))
