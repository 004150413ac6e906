"""The one catalogue of the memory metrics rsslab reads.

Every table, plot, page and message names a metric through this catalogue:
its flat name (the key in result files and ``--json``), a short label, where
and when it is read, what exact value it is compared with, and who reads it.
The values the reproducers report about themselves are here too; a name
the catalogue lacks is refused (``get``), so a misspelt claim is too.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import MappingProxyType

from rsslab.errors import UserError

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
    # The exact RSS of the measured program itself (not a size, a floor, a
    # child's or the tree's): doctor takes a claim's run errors against it.
    program_rss: bool = False
    narrow: str = ""  # the label where a table column is narrow (the label if empty)

    @property
    def column(self) -> str:
        return self.narrow or self.label

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
           short="smaps", exact=True, program_rss=True),
    Metric("smaps_anon_kib", "smaps_rollup Anonymous",
           "/proc/PID/smaps_rollup at the exit stop", reference="smaps_anon_kib",
           short="smaps-anon", exact=True, program_rss=True),
    Metric("peak_exact_kib", "exact peak", "the program's own smaps_rollup at its peak",
           reference="peak_exact_kib", short="peak", exact=True, program_rss=True),
    Metric("wait4_maxrss_kib", "wait4 ru_maxrss", "the parent's wait4() after exit",
           short="wait4", read_by="isolate max-rss, QingdaoU, GNU time", common=True,
           instead=INSTEAD_EXIT),
    Metric("children_maxrss_kib", "RUSAGE_CHILDREN ru_maxrss",
           "the parent's getrusage() after wait4()", short="children",
           read_by="hyperfine, cgmemtime", common=True, instead=INSTEAD_EXIT,
           narrow="RUSAGE_CHILDREN"),
    Metric("self_maxrss_kib", "RUSAGE_SELF ru_maxrss", "the program's own getrusage()",
           reference="self_exact_kib", short="self", read_by="pyperf",
           instead="/proc/self/smaps_rollup Rss", narrow="RUSAGE_SELF"),
    Metric("child_maxrss_kib", "child ru_maxrss", "a child started by a large parent",
           reference="child_exact_kib", short="child-maxrss"),
    Metric("cgroup_peak_kib", "memory cgroup peak",
           "memory.peak / max_usage_in_bytes of its cgroup", reference="peak_exact_kib",
           short="cgroup-peak", read_by="DOMjudge, go-judge, isolate cg-mem",
           instead="not RSS (charges): pair it with smaps_rollup"),
    Metric("last_exit_rss_kib", "smaps_rollup at the last exit stop",
           "/proc/TID/smaps_rollup at the exit stop of the last task of each of the "
           "program's mms", short="last-exit", exact=True),
    Metric("rss_stat_peak_kib", "kmem:rss_stat peak",
           "the largest sum of the kmem:rss_stat sizes of the program's own mm",
           reference="peak_exact_kib", short="rss-stat"),
    Metric("tree_peak_kib", "tree peak (kmem:rss_stat)",
           "the largest sum of the RSS of every mm of the process tree alive at once, "
           "from kmem:rss_stat", reference="tree_exact_kib", short="tree"),
    Metric("tree_exact_kib", "exact tree RSS",
           "the processes' own smaps_rollup, read while all of them held their pages",
           reference="tree_exact_kib", short="tree-exact", exact=True),
    Metric("exec_floor_kib", "observer copy before execve",
           "the observer's child just before execve()", short="floor", exact=True),
)


def _own(name: str, label: str, where: str, reference: str = "", exact: bool = False,
         program_rss: bool = False) -> Metric:
    """A value a reproducer reports about itself (its report's key ``name``);
    an exact one is its own reference.  Claim ids name it by its flat name."""
    return Metric(name, label, where, reference or (name if exact else AT_EXIT),
                  short=name.removesuffix("_kib").replace("_", "-"), exact=exact,
                  program_rss=program_rss)


# The values the reproducers report about themselves (their report's keys,
# repro/*.c "Output:"), as claims and pages name them.
_REPORTED: tuple[Metric, ...] = (
    _own("peak_anon_kib", "exact anonymous peak",
         "the program's own smaps_rollup Anonymous at its peak", exact=True, program_rss=True),
    _own("after_free_kib", "exact RSS after the unmap",
         "the program's own smaps_rollup after it unmapped its peak", exact=True),
    _own("buffer_kib", "seed's buffer", "the size of seed's input buffer", exact=True),
    _own("exe_kib", "size of the binary", "the reproducer's executable, in whole pages",
         exact=True),
    _own("parent_exact_kib", "exact parent RSS", "big_parent's own smaps_rollup before the "
         "child starts", exact=True),
    _own("parent_anon_kib", "exact parent anonymous RSS", "big_parent's own smaps_rollup "
         "Anonymous before the child starts", exact=True, program_rss=True),
    _own("child_exact_kib", "exact child RSS", "the child's own smaps_rollup, sent back to "
         "big_parent", exact=True),
    _own("launcher_exact_kib", "exact launcher RSS", "big_parent's launcher's own "
         "smaps_rollup", exact=True),
    _own("launcher_maxrss_kib", "launcher ru_maxrss", "big_parent's wait4() on its launcher",
         reference="launcher_exact_kib"),
    _own("live_vmrss_kib", "VmRSS while writers live", "cow_other_unmaps' own "
         "/proc/self/status after the munmap, its writers alive", reference="live_exact_kib"),
    _own("live_rss_anon_kib", "RssAnon while writers live", "cow_other_unmaps' own "
         "/proc/self/status after the munmap", reference="live_anon_kib"),
    _own("live_rss_file_kib", "RssFile while writers live", "cow_other_unmaps' own "
         "/proc/self/status after the munmap", reference="live_exact_kib"),
    _own("live_rss_shmem_kib", "RssShmem while writers live", "cow_other_unmaps' own "
         "/proc/self/status after the munmap", reference="live_exact_kib"),
    _own("live_statm_kib", "statm resident while writers live", "cow_other_unmaps' own "
         "/proc/self/statm after the munmap", reference="live_exact_kib"),
    _own("live_exact_kib", "exact RSS while writers live", "cow_other_unmaps' own "
         "smaps_rollup before reading status", exact=True),
    _own("live_exact_after_kib", "exact RSS while writers live, after", "cow_other_unmaps' "
         "own smaps_rollup after reading status", exact=True),
    _own("live_anon_kib", "exact anonymous RSS while writers live", "cow_other_unmaps' own "
         "smaps_rollup Anonymous before reading status", exact=True),
    _own("grown_vmhwm_kib", "VmHWM after growing", "cow_other_unmaps' own /proc/self/status "
         "once grown past its old peak", reference="peak_exact_kib"),
    _own("grown_self_maxrss_kib", "RUSAGE_SELF ru_maxrss after growing", "cow_other_unmaps' "
         "own getrusage() once grown past its old peak", reference="peak_exact_kib"),
    _own("grown_exact_kib", "exact RSS after growing", "cow_other_unmaps' own smaps_rollup "
         "once grown", exact=True),
    _own("self_exact_kib", "exact own RSS", "the program's own smaps_rollup just before it "
         "reads a counter", exact=True, program_rss=True),
    _own("self_exact_after_kib", "exact own RSS, after", "the program's own smaps_rollup "
         "just after it read a counter", exact=True),
    _own("self_vmrss_kib", "own VmRSS", "shmem_touch's own /proc/self/status",
         reference="self_exact_kib"),
    _own("self_rss_anon_kib", "own RssAnon", "shmem_touch's own /proc/self/status",
         reference="self_exact_kib"),
    _own("self_rss_file_kib", "own RssFile", "shmem_touch's own /proc/self/status",
         reference="self_file_exact_kib"),
    _own("self_rss_shmem_kib", "own RssShmem", "shmem_touch's own /proc/self/status",
         reference="self_shmem_exact_kib"),
    _own("self_statm_resident_kib", "own statm resident", "shmem_touch's own "
         "/proc/self/statm", reference="self_exact_kib"),
    _own("self_statm_shared_kib", "own statm shared", "shmem_touch's own /proc/self/statm",
         reference="self_file_exact_kib"),
    _own("self_file_exact_kib", "exact own file RSS", "shmem_touch's own smaps_rollup Rss "
         "less Anonymous", exact=True),
    _own("self_shmem_exact_kib", "exact own shmem RSS", "shmem_touch's own /proc/self/smaps: "
         "Rss less Anonymous of its shmem file mappings", exact=True),
    _own("vmdata_kib", "VmData", "vm_sizes' own /proc/self/status", reference="maps_data_kib"),
    _own("vmstk_kib", "VmStk", "vm_sizes' own /proc/self/status", reference="maps_stack_kib"),
    _own("vmexe_kib", "VmExe", "vm_sizes' own /proc/self/status", reference="text_kib"),
    _own("maps_data_kib", "private writable mappings", "vm_sizes' own /proc/self/maps",
         exact=True),
    _own("maps_stack_kib", "[stack] mapping", "vm_sizes' own /proc/self/maps", exact=True),
    _own("text_kib", "text segment", "vm_sizes' own /proc/self/stat startcode to endcode",
         exact=True),
)

CATALOGUE = MappingProxyType({m.name: m for m in (*_ALL, *_REPORTED)})


class UnknownMetric(UserError):
    """A metric name the catalogue does not hold (a typo in a claim or a page)."""


def unknown(name: object) -> str:
    """Why ``name`` is no metric, with the nearest one; "" when it is one."""
    if isinstance(name, str) and name in CATALOGUE:
        return ""
    near = difflib.get_close_matches(str(name), list(CATALOGUE), 1)
    hint = f"did you mean '{near[0]}'?" if near else "see rsslab/metrics.py for the names"
    return f"unknown metric '{name}' ({hint}); fix it"


def get(name: str) -> Metric:
    """A metric by flat name; a name the catalogue lacks is refused."""
    if name not in CATALOGUE:
        raise UnknownMetric(unknown(name))
    return CATALOGUE[name]


def label(name: str) -> str:
    return get(name).label


def short(name: str) -> str:
    """The word claim ids use for the metric: ``vmhwm``, ``stat-rss``."""
    return get(name).short
