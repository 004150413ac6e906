"""The one catalogue of the memory metrics rsslab reads.

Every table, plot, page and message names a metric through this catalogue:
its flat name (the key in result files and ``--json``), a short label, where
and when it is read, what exact value it is compared with, and who reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

# Exact values a metric is compared with.
AT_EXIT = "smaps_rss_kib"  # the page-table walk at the PTRACE_EVENT_EXIT stop


@dataclass(frozen=True, slots=True)
class Metric:
    name: str  # flat name, e.g. vmhwm_kib
    label: str  # short, e.g. "VmHWM"
    where: str  # where it is read, e.g. "/proc/PID/status at the exit stop"
    reference: str = AT_EXIT  # the exact value it is compared with
    short: str = ""  # the word claim ids use, e.g. "vmhwm"
    read_by: str = ""  # judges and tools that read it
    common: bool = False  # read by the judges doctor's exit status speaks for
    instead: str = ""  # what to read where it is not exact
    exact: bool = False  # an exact value itself (a page walk, or the program's own)

    @property
    def at_exit_stop(self) -> bool:
        return self.where.endswith("at the exit stop")


INSTEAD_EXIT = "smaps_rollup at the exit stop (rsslab measure)"

_ALL: tuple[Metric, ...] = (
    Metric("vmrss_kib", "VmRSS", "/proc/PID/status at the exit stop", short="vmrss",
           instead=INSTEAD_EXIT),
    Metric("vmhwm_kib", "VmHWM", "/proc/PID/status at the exit stop", short="vmhwm",
           read_by="DMOJ", common=True, instead=INSTEAD_EXIT),
    Metric("rss_anon_kib", "RssAnon", "/proc/PID/status at the exit stop",
           reference="smaps_anon_kib", short="rssanon"),
    Metric("rss_file_kib", "RssFile", "/proc/PID/status at the exit stop", short="rssfile"),
    Metric("rss_shmem_kib", "RssShmem", "/proc/PID/status at the exit stop", short="rssshmem"),
    Metric("statm_rss_kib", "statm resident", "/proc/PID/statm at the exit stop",
           short="statm"),
    Metric("stat_rss_kib", "stat rss", "/proc/PID/stat field 24 at the exit stop",
           short="stat-rss", instead="VmRSS where exact, else smaps_rollup"),
    Metric("smaps_rss_kib", "smaps_rollup Rss", "/proc/PID/smaps_rollup at the exit stop",
           short="smaps", exact=True),
    Metric("smaps_anon_kib", "smaps_rollup Anonymous",
           "/proc/PID/smaps_rollup at the exit stop", reference="smaps_anon_kib",
           short="smaps-anon", exact=True),
    Metric("peak_exact_kib", "exact peak", "the program's own smaps_rollup at its peak",
           reference="peak_exact_kib", short="peak", exact=True),
    Metric("wait4_maxrss_kib", "wait4 ru_maxrss", "the parent's wait4() after exit",
           short="wait4", read_by="isolate max-rss, QingdaoU, GNU time", common=True,
           instead=INSTEAD_EXIT),
    Metric("children_maxrss_kib", "RUSAGE_CHILDREN ru_maxrss",
           "the parent's getrusage() after wait4()", short="children",
           read_by="hyperfine, cgmemtime", common=True, instead=INSTEAD_EXIT),
    Metric("self_maxrss_kib", "RUSAGE_SELF ru_maxrss", "the program's own getrusage()",
           reference="self_exact_kib", short="self", read_by="pyperf",
           instead="/proc/self/smaps_rollup Rss"),
    Metric("child_maxrss_kib", "child ru_maxrss", "a child started by a large parent",
           reference="child_exact_kib", short="child-maxrss"),
    Metric("cgroup_peak_kib", "memory cgroup peak",
           "memory.peak / max_usage_in_bytes of its cgroup", reference="peak_exact_kib",
           short="cgroup-peak", read_by="DOMjudge, go-judge, isolate cg-mem",
           instead="not RSS (charges): pair it with smaps_rollup"),
    Metric("exec_floor_kib", "observer copy before execve",
           "the observer's child just before execve()", short="floor", exact=True),
)

CATALOGUE = MappingProxyType({m.name: m for m in _ALL})


def get(name: str) -> Metric:
    """A metric by flat name; a scenario's own report key gets a plain entry."""
    return CATALOGUE.get(name) or Metric(name, name.removesuffix("_kib").replace("_", " "),
                                         "the scenario's own report",
                                         short=name.removesuffix("_kib").replace("_", "-"))


def label(name: str) -> str:
    return get(name).label


def short(name: str) -> str:
    """The word claim ids use for the metric: ``vmhwm``, ``stat-rss``."""
    return get(name).short
