"""One run's numbers as a flat record, and the versioned result files.

The flat names (KiB unless said) are an interface: the CLI's ``--json``, the
docs, ``doctor`` and ``measure`` all use them.  A metric the kernel lacks is
``None`` (absent in JSON), never 0.

Result files live in ``build/results/<label>.json``, one per kernel and CPU
count, so a kernel's results never overwrite another's.  Each file records
the regimes its kernel had when it was measured (its version's, corrected
by the probe, plus and minus what it declared) and where the kernel came
from, so readers judge it by those regimes and never guess them again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rsslab import atomic, locks
from rsslab.errors import ObserverError, UserError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

# The metric names every consumer relies on, in the order tables show them.
METRICS: tuple[str, ...] = (
    "vmrss_kib",
    "vmhwm_kib",
    "rss_anon_kib",
    "rss_file_kib",
    "rss_shmem_kib",
    "statm_rss_kib",
    "stat_rss_kib",
    "smaps_rss_kib",
    "peak_exact_kib",
    "wait4_maxrss_kib",
    "children_maxrss_kib",
    "cgroup_peak_kib",
)

_STATUS_FIELDS = {
    "vmrss_kib": "VmRSS",
    "vmhwm_kib": "VmHWM",
    "rss_anon_kib": "RssAnon",
    "rss_file_kib": "RssFile",
    "rss_shmem_kib": "RssShmem",
}


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything measured in one run of one scenario."""

    kernel: str  # label: host, 6.1, 6.12, 7, or a user kernel's name
    kernel_release: str
    kernel_version: str
    ncpus: int
    scenario: str
    params: Mapping[str, int | str]
    page_size: int
    vmrss_kib: int | None = None
    vmhwm_kib: int | None = None
    rss_anon_kib: int | None = None
    rss_file_kib: int | None = None
    rss_shmem_kib: int | None = None
    statm_rss_kib: int | None = None
    stat_rss_kib: int | None = None
    smaps_rss_kib: int | None = None
    smaps_anon_kib: int | None = None
    peak_exact_kib: int | None = None
    wait4_maxrss_kib: int | None = None
    children_maxrss_kib: int | None = None
    cgroup_peak_kib: int | None = None
    cgroup_version: int | None = None
    # Why a run that asked for the cgroup peak if available has none: the
    # kernel offers no memory cgroup peak (v2 memory.peak is Linux 5.19+).
    cgroup_unavailable: str | None = None
    exec_floor_kib: int | None = None
    faults_since_exec: int | None = None  # stat minflt + majflt at exit, less pre-exec
    # The largest exact RSS walked at the exit stop of the last task of each
    # mm the program's own pid ran in (threads that outlive the leader,
    # clone(CLONE_VM) children), and VmHWM read with it.
    last_exit_rss_kib: int | None = None
    last_exit_vmhwm_kib: int | None = None
    # From kmem:rss_stat (repro/rss_trace.h): the largest RSS of the
    # program's own mms and the largest sum over the tree's mms alive at
    # once; or why the trace could not be read here.
    rss_stat_peak_kib: int | None = None
    tree_peak_kib: int | None = None
    rss_stat_events: int | None = None
    rss_stat_lost: int | None = None
    rss_stat_unavailable: str | None = None
    # The program's CPU time (every task, from RUSAGE_CHILDREN) and wall time.
    cpu_user_s: float | None = None
    cpu_sys_s: float | None = None
    wall_s: float | None = None
    timed_out: bool = False
    interrupted: int | None = None  # the signal that ended the observer's run
    tasks: int | None = None  # tasks traced (threads included)
    processes: int | None = None
    mm_tasks_max: int | None = None  # most tasks in the program's own mms at once
    kcmp_missing: bool = False  # no kcmp(): CLONE_VM children taken for processes
    # The program's own pid exited while other tasks still ran in its mm:
    # the exit-stop metrics (status, statm, stat, smaps_rollup) are of then.
    leader_early: bool = False
    tree_tasks_max: int | None = None  # most tasks of the tree alive at once
    exit_code: int | None = None
    exit_signal: int | None = None
    # The scenario's own report, minus the keys already above.
    report: Mapping[str, Any] = field(default_factory=dict)

    @property
    def page_kib(self) -> int:
        return self.page_size // 1024

    def value(self, name: str) -> int | None:
        """A metric by flat name, including the scenario's own report keys."""
        if name in _FIELD_NAMES:
            v = getattr(self, name)
        else:
            v = self.report.get(name)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def to_flat(self) -> dict[str, Any]:
        """One flat JSON object; absent metrics are left out."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            if k == "report":
                continue
            if v is not None and v is not False:
                out[k] = dict(v) if k == "params" else v
        for k, v in self.report.items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_flat(cls, d: Mapping[str, Any]) -> Observation:
        known = {f.name for f in fields(cls)} - {"report"}
        missing = [k for k in ("kernel", "kernel_release", "kernel_version", "ncpus", "scenario",
                               "params", "page_size")
                   if k not in d]
        if missing:
            raise UserError(f"result record lacks {', '.join(missing)}; rerun `rsslab run`")
        kw = {k: v for k, v in d.items() if k in known}
        report = {k: v for k, v in d.items() if k not in known}
        return cls(**kw, report=report)


_FIELD_NAMES = frozenset(f.name for f in fields(Observation)) - {"report", "params", "kernel",
                                                                 "kernel_release", "kernel_version",
                                                                 "scenario"}


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _faults_since_exec(obj: Mapping[str, Any], stop: Mapping[str, Any]) -> int | None:
    """Faults the program took after execve: the task's count at the exit
    stop (stat minflt + majflt) less what the observer's child took before
    it called execve.  The few faults execve itself takes on the new stack
    before exec_mmap() count here too, so this never undercounts."""
    minflt, majflt = _int(stop.get("stat_minflt")), _int(stop.get("stat_majflt"))
    before = _int(obj.get("preexec_faults"))
    if minflt is None or majflt is None or before is None:
        return None
    return minflt + majflt - before


def _status_fields(status: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _int(status.get(key)) for name, key in _STATUS_FIELDS.items()}


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _trace_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the observer read at the last exit stops, from the trace, and
    the times (observer JSON 2; absent from older files)."""
    whole = obj.get("whole") or {}
    trace = obj.get("rss_stat") or {}
    times = obj.get("times") or {}
    why = trace.get("unavailable")
    return {
        "last_exit_rss_kib": _int(whole.get("Rss")),
        "last_exit_vmhwm_kib": _int(whole.get("VmHWM")),
        "rss_stat_peak_kib": _int(trace.get("peak_kib")),
        "tree_peak_kib": _int(trace.get("tree_peak_kib")),
        "rss_stat_events": _int(trace.get("events")),
        "rss_stat_lost": _int(trace.get("lost")),
        "rss_stat_unavailable": str(why) if why else None,
        "cpu_user_s": _float(times.get("user_s")),
        "cpu_sys_s": _float(times.get("sys_s")),
        "wall_s": _float(times.get("wall_s")),
        "timed_out": obj.get("timed_out") is True,
        "interrupted": _int(obj.get("interrupted")),
        "tasks": _int(obj.get("tasks")),
        "processes": _int(obj.get("processes")),
        "mm_tasks_max": _int(obj.get("mm_tasks_max")),
        "tree_tasks_max": _int(obj.get("tree_tasks_max")),
        "kcmp_missing": obj.get("kcmp") is False,
        "leader_early": obj.get("leader_early") is True,
    }


def from_observer(
    obj: Mapping[str, Any], kernel: str, scenario: str, params: Mapping[str, int | str]
) -> Observation:
    """Turn the observer's JSON (repro/observe.c) into an Observation."""
    try:
        release = str(obj["kernel_release"])
        ncpus = int(obj["ncpus"])
        page_size = int(obj["page_size"])
    except (KeyError, TypeError, ValueError) as e:
        raise ObserverError(f"observer output lacks {e}; delete the build directory's bin/ "
                            "and run again to rebuild the observer") from None
    stop = obj.get("exit_stop") or {}
    status = stop.get("status") or {}
    smaps = stop.get("smaps_rollup") or {}
    cg = obj.get("cgroup") or {}
    report = dict(obj.get("report") or {})
    for k in ("scenario", "page_size", *params.keys()):
        report.pop(k, None)
    peak = _int(report.pop("peak_exact_kib", None))
    return Observation(
        kernel=kernel,
        kernel_release=release,
        kernel_version=str(obj.get("kernel_version", "")),
        ncpus=ncpus,
        scenario=scenario,
        params=dict(params),
        page_size=page_size,
        **_status_fields(status),
        statm_rss_kib=_int(stop.get("statm_resident_kib")),
        stat_rss_kib=_int(stop.get("stat_rss_kib")),
        smaps_rss_kib=_int(smaps.get("Rss")),
        smaps_anon_kib=_int(smaps.get("Anonymous")),
        peak_exact_kib=peak,
        wait4_maxrss_kib=_int(obj.get("wait4_maxrss_kib")),
        children_maxrss_kib=_int(obj.get("children_maxrss_kib")),
        cgroup_peak_kib=_int(cg.get("peak_kib")),
        cgroup_version=_int(cg.get("version")),
        cgroup_unavailable=str(cg["unavailable"]) if cg.get("unavailable") else None,
        exec_floor_kib=_int(obj.get("exec_floor_kib")),
        faults_since_exec=_faults_since_exec(obj, stop),
        **_trace_fields(obj),
        exit_code=_int(obj.get("exit_code")),
        exit_signal=_int(obj.get("exit_signal")),
        report=report,
    )


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a kernel came from and what it declared about itself."""

    name: str  # host, 6.1, 6.12-nosum, or a user kernel's name
    source: str  # a Debian package and version, an image path, or the running kernel
    declared: tuple[str, ...] = ()  # regimes added to its version's (a patch)
    without: tuple[str, ...] = ()  # regimes taken from its version's (a revert)


@dataclass(frozen=True, slots=True)
class ResultSet:
    """All runs of one kernel at one CPU count, and the regimes it had."""

    label: str  # e.g. host-smp2, 6.1-smp4
    kernel: str
    kernel_release: str
    kernel_version: str
    ncpus: int
    features: frozenset[str]
    origin: Origin
    runs: tuple[Observation, ...]


def label_for(kernel: str, ncpus: int) -> str:
    return f"{kernel}-smp{ncpus}"


def run_key(o: Observation) -> tuple[str, tuple[tuple[str, str], ...], bool]:
    """The same key as ``plan.RunSpec.key``: scenario, parameters, cgroup."""
    params = tuple(sorted((k, str(v)) for k, v in o.params.items()))
    return o.scenario, params, o.cgroup_version is not None


LOCK_NAME = ".lock"


def locked(directory: Path) -> AbstractContextManager[None]:
    """The results directory's lock: whoever reads a result file, merges
    into it and writes it back holds it, so that rsslab processes sharing a
    build directory never lose each other's runs."""
    return locks.locked(directory / LOCK_NAME)


def save(directory: Path, runs: Iterable[Observation], features: frozenset[str],
         origin: Origin) -> list[Path]:
    """Merge one kernel's runs into its files (one per CPU count): a
    (scenario, params) run replaces the stored runs of the same key, other
    keys are kept, unless the stored ones came from another kernel (another
    release, origin or set of regimes), which are dropped.  The read, merge
    and write happen under the directory's lock."""
    by_label: dict[str, list[Observation]] = {}
    for o in runs:
        if o.kernel != origin.name:
            raise ValueError(f"a run of kernel {o.kernel} saved as {origin.name}")
        by_label.setdefault(label_for(o.kernel, o.ncpus), []).append(o)
    with locked(directory):
        return [_merge(directory / f"{label}.json", new, features, origin)
                for label, new in by_label.items()]


def _merge(path: Path, new: list[Observation], features: frozenset[str],
           origin: Origin) -> Path:
    fresh = ResultSet(path.stem, new[0].kernel, new[0].kernel_release, new[0].kernel_version,
                      new[0].ncpus, features, origin, ())
    old = load_file(path) if path.exists() else None
    kept: list[Observation] = []
    if old is not None and _same_kernel(old, fresh):
        keys = {run_key(o) for o in new}
        kept = [o for o in old.runs if run_key(o) not in keys]
    elif old is not None:
        log.info("%s: the stored runs came from another kernel; replacing them", path)
    atomic.write_text(path, _to_json(fresh, (*kept, *new)))
    return path


def _same_kernel(a: ResultSet, b: ResultSet) -> bool:
    return ((a.kernel_release, a.kernel_version, a.features, a.origin)
            == (b.kernel_release, b.kernel_version, b.features, b.origin))


def _to_json(rs: ResultSet, runs: Iterable[Observation]) -> str:
    doc = {
        "schema": SCHEMA_VERSION,
        "label": rs.label,
        "kernel": rs.kernel,
        "kernel_release": rs.kernel_release,
        "kernel_version": rs.kernel_version,
        "ncpus": rs.ncpus,
        "features": sorted(rs.features),
        "origin": {"name": rs.origin.name, "source": rs.origin.source,
                   "declared": list(rs.origin.declared), "without": list(rs.origin.without)},
        "runs": [o.to_flat() for o in runs],
    }
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def load_file(path: Path) -> ResultSet:
    return read_file(path)[1]


def read_file(path: Path) -> tuple[str, ResultSet]:
    """A result file's text (what stored verdicts are keyed by) and its runs."""
    fix = "delete it and rerun `rsslab run`"
    try:
        text = path.read_bytes().decode("utf-8")
        doc = json.loads(text)
    except OSError as e:
        raise UserError(f"cannot read results {path}: {e.strerror}; {fix}") from None
    except UnicodeDecodeError:
        raise UserError(f"results {path} is not UTF-8 text; {fix}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"results {path} is not JSON ({e.msg} at line {e.lineno}); "
                        f"{fix}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        schema = doc.get("schema") if isinstance(doc, dict) else None
        raise UserError(f"{path} has schema {schema}, this rsslab reads {SCHEMA_VERSION} "
                        f"(which records each kernel's regimes); {fix}")
    wrong = _wrong_shape(doc)
    if wrong:
        raise UserError(f"results {path}: {wrong}; {fix}")
    try:
        o = doc["origin"]
        origin = Origin(str(o["name"]), str(o["source"]), tuple(o.get("declared", ())),
                        tuple(o.get("without", ())))
        runs = tuple(Observation.from_flat(r) for r in doc["runs"])
        return text, ResultSet(doc["label"], doc["kernel"], doc["kernel_release"],
                               doc.get("kernel_version", ""), doc["ncpus"],
                               frozenset(doc["features"]), origin, runs)
    except (KeyError, TypeError) as e:
        raise UserError(f"{path} lacks {e}; {fix}") from None
    except UserError as e:
        raise UserError(f"results {path}: {e}") from None


# The top-level keys of a result file and the type each must have.
_SHAPE: dict[str, type] = {"label": str, "kernel": str, "kernel_release": str, "ncpus": int,
                           "features": list, "origin": dict, "runs": list}


def _wrong_shape(doc: Mapping[str, Any]) -> str | None:
    """What is wrong with a parsed result file's shape, or None."""
    for key, kind in _SHAPE.items():
        if key in doc and not isinstance(doc[key], kind):
            return f"'{key}' is not a {kind.__name__}"
    if not all(isinstance(f, str) for f in doc.get("features", ())):
        return "'features' holds a non-string"
    for i, run in enumerate(doc.get("runs", ())):
        if not isinstance(run, dict) or not isinstance(run.get("params", {}), dict):
            return f"run {i} is not an object with a 'params' object"
    return None


def files(directory: Path) -> list[Path]:
    """The result files in ``directory`` (one per kernel and CPU count)."""
    return sorted(directory.glob("*.json"))


def load_all(directory: Path) -> list[ResultSet]:
    return [load_file(p) for p in files(directory)]
