"""Peak RSS of any command, by the most accurate method the kernel allows.

``rsslab.measure(argv)`` runs a command the way a judge does (standard
input, output and error passed through, exit status kept) under the
observer (``repro/observe.c``), which traces every task the command starts.
The peak it reports:

* ``rss-stat``: where the kernel's kmem:rss_stat event sums the per-CPU
  counters (Linux 6.2+, regime ``rss-stat-sum``) and tracefs is writable,
  the largest RSS of the command's mm rebuilt from every change of its
  counters: exact, a peak freed before exit included (claim
  ``rssstat-peak-exact``), and the tree's peak beside it.
* ``exit-stop-smaps``: otherwise the exact RSS walked at the exit stop of
  the last task of the command's mm (threads that outlive the leader
  included).  A peak that lasts until exit is exactly this.
* ``exit-stop-vmhwm``: VmHWM at that stop, when it is further above that
  RSS than the claims allow for this kernel: a higher peak was unmapped
  before exit, and VmHWM is the only trace of it, as exact as the kernel's
  hiwater record.

Every raw metric comes with the bound the applicable claim gives it here
(``rsslab.claims.limits``).  The observer forks the program from its own small
process, so the program never inherits the Python interpreter's peak.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import IO, Any

from rsslab import children
from rsslab.claims import Claim, regimes
from rsslab.claims import formulas
from rsslab.claims import limits as bounds_mod
from rsslab.claims.limits import AT_EXIT, TRUE_PEAK, MetricBound
from rsslab.errors import UserError
from rsslab.results import Observation, from_observer
from rsslab.run.session import Session

log = logging.getLogger(__name__)

# What the peak was taken from.
METHOD_RSS_STAT = "rss-stat"
METHOD_EXIT_RSS = "exit-stop-smaps"
METHOD_HWM = "exit-stop-vmhwm"

# The raw metrics a Measurement carries, under the runner's flat names.
RAW_METRICS: tuple[str, ...] = (
    "rss_stat_peak_kib", "last_exit_rss_kib", "smaps_rss_kib", "vmhwm_kib", "vmrss_kib",
    "rss_anon_kib", "rss_file_kib", "rss_shmem_kib", "statm_rss_kib", "stat_rss_kib",
    "wait4_maxrss_kib", "children_maxrss_kib", "cgroup_peak_kib", "exec_floor_kib",
)
# The metrics whose bound is stated against the exact RSS at exit.
BOUNDED_AT_EXIT: tuple[str, ...] = (
    "vmhwm_kib", "vmrss_kib", "statm_rss_kib", "stat_rss_kib", "wait4_maxrss_kib",
    "children_maxrss_kib",
)
# Peaks: their claims against the RSS at exit hold only while the peak lasts
# until exit, so they are not shown for a released peak.
PEAK_METRICS = frozenset({"vmhwm_kib", "wait4_maxrss_kib", "children_maxrss_kib"})
# What the rss-stat peak is checked against: the program's own peak, or the
# RSS walked at its last exit stop, whichever is larger.
TRACE_REFERENCE: tuple[str, ...] = ("peak_exact_kib", "last_exit_rss_kib")
# The regime in which the event carries the summed counter; before it, the
# shared counter misses what the per-thread caches hold, so the exit stop
# (exact at exit) and VmHWM measure instead.
TRACE_REGIME = "rss-stat-sum"

# The observer is given this long past --timeout to kill the tree, reap it
# and report, before it is asked to stop and, 10 s later, killed.
OBSERVER_GRACE_S = 60.0
STOP_WAIT_S = 10.0

Stream = int | IO[Any] | None


class MeasureError(UserError):
    """rsslab could not measure the command (exit status 122)."""

    exit_status = 122
    says = "rsslab could not measure"


class CannotMeasureHere(MeasureError):
    """ptrace is not permitted here, or no memory cgroup for --cgroup."""

    exit_status = 123
    says = ("not permitted here (ptrace denied, e.g. under strace or gdb, or no memory "
            "cgroup for --cgroup)")


class TimedOut(MeasureError):
    """The command ran past --timeout and was killed; ``measurement`` holds
    its peak up to the kill, its times, and ``timed_out``."""

    exit_status = 124
    says = "--timeout expired (the report has the peak up to the kill)"

    def __init__(self, message: str, measurement: Measurement | None = None) -> None:
        super().__init__(message)
        self.measurement = measurement


class MeasureUsage(MeasureError):
    """No command, or a bad option of ``rsslab measure``."""

    exit_status = 125
    says = "bad usage (no command, unknown option)"


class NotExecutable(MeasureError):
    """The command exists but cannot be executed."""

    exit_status = 126
    says = "the command is not executable"


class CommandNotFound(MeasureError):
    """No such command."""

    exit_status = 127
    says = "command not found"


# rsslab measure's own exit statuses, in order (its --help is made from them).
STATUSES: tuple[type[MeasureError], ...] = (MeasureError, CannotMeasureHere, TimedOut,
                                            MeasureUsage, NotExecutable, CommandNotFound)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One command's peak RSS, the raw metrics and what bounds them here."""

    argv: tuple[str, ...]
    peak_kib: int
    method: str
    bound_kib: int | None  # the true peak is within this of peak_kib; None: unbounded
    peak_min_kib: int
    peak_max_kib: int | None
    exact_at_exit: bool  # peak_kib is the exact RSS at exit
    exit_code: int | None
    exit_signal: int | None
    metrics: Mapping[str, int]
    bounds: tuple[MetricBound, ...]
    limits: tuple[str, ...]
    kernel_release: str
    ncpus: int
    regimes: tuple[str, ...]
    # The largest RSS of the process tree alive at once (rss-stat only).
    tree_peak_kib: int | None = None
    # Why the peak is not from kmem:rss_stat here ("" when it is).
    trace_unavailable: str = ""
    cpu_user_s: float | None = None  # every task of the command, from wait4
    cpu_sys_s: float | None = None
    wall_s: float | None = None
    timed_out: bool = False
    interrupted: int | None = None  # the signal that stopped the measurement

    @property
    def returncode(self) -> int:
        """The command's status as a shell shows it: code, or 128 + signal."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.exit_code if self.exit_code is not None else 0

    @property
    def status(self) -> int:
        """What ``rsslab measure`` exits with: the command's status, 124 when
        it timed out, 128 + N when signal N stopped the measurement."""
        if self.timed_out:
            return TimedOut.exit_status
        if self.interrupted is not None:
            return 128 + self.interrupted
        return self.returncode

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "argv": list(self.argv),
            "peak_kib": self.peak_kib,
            "method": self.method,
            "bound_kib": self.bound_kib,
            "peak_min_kib": self.peak_min_kib,
            "peak_max_kib": self.peak_max_kib,
            "exact_at_exit": self.exact_at_exit,
            "tree_peak_kib": self.tree_peak_kib,
        }
        if self.trace_unavailable:
            out["trace_unavailable"] = self.trace_unavailable
        if self.exit_signal is not None:
            out["exit_signal"] = self.exit_signal
        else:
            out["exit_code"] = self.exit_code
        out.update(returncode=self.returncode, status=self.status, timed_out=self.timed_out,
                   cpu_user_s=self.cpu_user_s, cpu_sys_s=self.cpu_sys_s, wall_s=self.wall_s)
        if self.interrupted is not None:
            out["interrupted"] = self.interrupted
        out.update(self.metrics)
        out["bounds"] = [b.to_json() for b in self.bounds]
        out["limits"] = list(self.limits)
        out.update(kernel_release=self.kernel_release, ncpus=self.ncpus,
                   regimes=list(self.regimes))
        return out


# --- from observation to measurement ----------------------------------------

def _kib(x: float) -> int:
    return int(round(x))


@dataclass(frozen=True, slots=True)
class _Peak:
    kib: int
    method: str
    lo: int
    hi: int | None


def exit_rss(obs: Observation) -> int | None:
    """The exact RSS at the exit stop of the command's mm's last task (the
    leader's stop where the observer read nothing later)."""
    return obs.last_exit_rss_kib if obs.last_exit_rss_kib is not None else obs.smaps_rss_kib


def exit_vmhwm(obs: Observation) -> int | None:
    """VmHWM read with ``exit_rss``."""
    return obs.last_exit_vmhwm_kib if obs.last_exit_vmhwm_kib is not None else obs.vmhwm_kib


def _exit_stop_peak(obs: Observation, hwm: MetricBound | None) -> _Peak:
    """(peak, method, lowest and highest possible true peak) in KiB."""
    rss, hw = exit_rss(obs), exit_vmhwm(obs)
    if rss is None and (hw is None or hwm is None):
        raise MeasureError("the exit stop gave neither smaps_rollup nor a bounded VmHWM "
                           "(is /proc mounted? rsslab needs Linux >= 4.14)")
    if hw is None or hwm is None:
        assert rss is not None
        return _Peak(rss, METHOD_EXIT_RSS, rss, None)
    # VmHWM - true peak lies in [lo, hi], and the true peak is at least the exit RSS.
    lo = _kib(hw - hwm.hi_kib)
    hi = _kib(hw - hwm.lo_kib)
    if rss is None:
        return _Peak(hw, METHOD_HWM, lo, hi)
    if lo <= rss:
        return _Peak(rss, METHOD_EXIT_RSS, rss, max(rss, hi))
    return _Peak(hw, METHOD_HWM, lo, max(rss, hi))


def _trace_peak(obs: Observation, trace: MetricBound) -> _Peak:
    """The rss-stat peak, never below the RSS walked at the last exit stop."""
    assert obs.rss_stat_peak_kib is not None
    floor = exit_rss(obs) or 0
    peak = max(obs.rss_stat_peak_kib, floor)
    return _Peak(peak, METHOD_RSS_STAT, max(floor, _kib(peak - trace.hi_kib)),
                 _kib(peak - trace.lo_kib))


def trace_bound(obs: Observation, claims: Sequence[Claim],
                features: frozenset[str]) -> tuple[MetricBound | None, str]:
    """The claim bound of the rss-stat peak here, or why there is none."""
    if TRACE_REGIME not in features:
        return None, ("this kernel's kmem:rss_stat does not sum the per-CPU counters "
                      "(Linux before 6.2 traces the shared counter only)")
    if obs.rss_stat_unavailable:
        return None, obs.rss_stat_unavailable
    if obs.rss_stat_peak_kib is None:
        return None, "the observer read no kmem:rss_stat events"
    if obs.rss_stat_lost:
        return None, (f"the trace buffer lost {obs.rss_stat_lost} events (the command "
                      "changed its RSS faster than the observer read them)")
    bound = bounds_mod.widest([c for c in claims if TRACE_REGIME in c.regimes],
                              "rss_stat_peak_kib", TRACE_REFERENCE, features, obs)
    if bound is None:
        return None, f"no claim bounds the kmem:rss_stat peak in regime {TRACE_REGIME}"
    return bound, ""
def _trace_limits(obs: Observation, trace: MetricBound) -> list[str]:
    k = obs.mm_tasks_max or 1
    exact = ("exact: one task at a time ran in the mm" if trace.exact else
             f"within {trace.show()}: {k} tasks ran in the mm at once, and each other task's "
             "change can fall between a change and its sum")
    return [
        f"The peak is the largest RSS of the command's mm rebuilt from "
        f"{obs.rss_stat_events} kmem:rss_stat events, each the exact sum of the counter it "
        f"changed ({trace.claim_id}), whichever task made the change: {exact}.",
        "Pages that direct reclaim by a process outside the command's tree takes back "
        "(kswapd is traced) lower its counters unseen until its own next change of the "
        "same counter: under memory pressure the peak can read high, never low.",
    ]


def _exit_stop_limits(obs: Observation, peak: _Peak, hwm: MetricBound | None,
                      why: str) -> list[str]:
    rss = exit_rss(obs)
    out = [f"No exact peak from kmem:rss_stat here: {why}."]
    if peak.method == METHOD_EXIT_RSS and hwm is None:
        out.append("No claim bounds VmHWM on this kernel, so a peak released before exit "
                   "is not bounded: only the RSS at exit is known.")
    elif peak.method == METHOD_EXIT_RSS and hwm is not None and peak.hi is not None:
        out.append(f"A peak released before exit shows only in VmHWM, which is "
                   f"{hwm.show()} off the true peak here ({hwm.claim_id}): a released peak "
                   f"up to {peak.hi - (rss or 0)} KiB above the RSS at exit looks the "
                   "same as none.  The memory cgroup peak (--cgroup) keeps it, in charges.")
    elif peak.method == METHOD_HWM and hwm is not None:
        at_exit = f"; the exact RSS at exit was {rss} KiB" if rss is not None else ""
        out.append(f"The peak was released before exit: VmHWM is the kernel's record of it, "
                   f"{hwm.show()} off the true peak here ({hwm.claim_id}){at_exit}.")
    if obs.kcmp_missing:
        out.append("kcmp() is not available here: a clone(CLONE_VM) child was taken for "
                   "a process of its own, and what it wrote after the command's threads "
                   "exited is not in the peak.")
    return out


def _split_limits(features: frozenset[str], page_kib: int) -> list[str]:
    if "split-rss" not in features:
        return []
    return [f"On this kernel each thread keeps up to {formulas.events_per_sync()} faults' "
            f"pages out of the counters ({formulas.fault_around_pages(page_kib * 1024)} "
            "pages per file read fault), and any number of pages a "
            "driver maps with vm_insert_page(s): the VmHWM bound holds for one "
            "thread faulting at a time and no such driver; each further thread "
            "alive when memory is freed can hide as much again."]


def _tree_limits(obs: Observation, tree: MetricBound | None) -> list[str]:
    if obs.tree_peak_kib is not None and tree is not None:
        return [f"tree_peak_kib is the largest sum of the RSS of the processes the command "
                f"started, alive at the same time, each mm once ({tree.claim_id}, "
                f"{tree.show()})."]
    return ["Without kmem:rss_stat, memory of the processes the command starts is not in "
            "peak_kib and there is no tree peak: wait4 ru_maxrss includes only its "
            "largest reaped child; --cgroup gives the whole tree's peak, in charges."]


def _other_limits(obs: Observation) -> list[str]:
    out = []
    if obs.leader_early:
        out.append(f"The command's main thread exited while other tasks still ran in its "
                   f"memory: VmHWM, VmRSS, statm, stat and smaps_rollup Rss above were read "
                   f"at its exit stop ({obs.smaps_rss_kib} KiB then), where DMOJ reads, and miss "
                   "what came after (leader-exit-stop-misses-later-pages); the peak and "
                   "\"smaps_rollup at the last exit stop\" are of the whole program.")
    if obs.timed_out:
        out.append("The command ran past its timeout and was killed: every number is up "
                   "to the kill.")
    if obs.exec_floor_kib is not None:
        out.append(f"wait4 and RUSAGE_CHILDREN ru_maxrss include the RSS of the observer's "
                   f"forked copy when it called execve() ({obs.exec_floor_kib} KiB when read "
                   "just before), which execve() keeps; never the peak of the process that "
                   "called rsslab, which the fork leaves behind (exec-launcher-drops-parent-peak).")
    what = ("page cache and kernel memory the command caused and up to "
            f"{formulas.MEMCG_CHARGE_BATCH} pages per CPU of charges taken ahead "
            "(MEMCG_CHARGE_BATCH), and leaves out file pages first charged "
            "to another cgroup (cgroup-peak-covers-anon)")
    if obs.cgroup_peak_kib is not None:
        out.append(f"cgroup_peak_kib is memory charged to the command's cgroup, not RSS: it "
                   f"adds {what}.")
    else:
        out.append(f"--cgroup adds the peak of a fresh memory cgroup, which keeps a released "
                   f"peak, but counts charges, not RSS: it adds {what}.")
    return out


def _shown_bounds(obs: Observation, claims: Sequence[Claim], features: frozenset[str],
                  method: str, extra: Sequence[MetricBound | None]) -> tuple[MetricBound, ...]:
    """The bounds of the raw metrics; none for what was read at a leader's
    exit stop that came before the program's end: the claims bound them
    against the exact RSS and peak of a program that ended there."""
    if obs.leader_early:
        return tuple(b for b in extra if b is not None and b.metric not in BOUNDED_AT_EXIT)
    shown = [m for m in BOUNDED_AT_EXIT if method == METHOD_EXIT_RSS or m not in PEAK_METRICS]
    at_exit = [bounds_mod.widest(claims, m, AT_EXIT, features, obs) for m in shown]
    cgroup = (bounds_mod.widest(claims, "cgroup_peak_kib", ("peak_anon_kib",), features, obs)
              if obs.cgroup_peak_kib is not None else None)
    return tuple(b for b in (*at_exit, *extra, cgroup) if b is not None)


def assess(obs: Observation, claims: Sequence[Claim], features: frozenset[str],
           argv: Sequence[str]) -> Measurement:
    """The peak and the bounds of one observed run (pure: no I/O)."""
    hwm = bounds_mod.widest(claims, "vmhwm_kib", TRUE_PEAK, features, obs)
    trace, why = trace_bound(obs, claims, features)
    tree = (bounds_mod.widest(claims, "tree_peak_kib", ("tree_exact_kib",), features, obs)
            if trace is not None else None)
    if trace is not None:
        peak = _trace_peak(obs, trace)
        limits = _trace_limits(obs, trace)
    else:
        peak = _exit_stop_peak(obs, hwm)
        limits = _exit_stop_limits(obs, peak, hwm, why) + _split_limits(features, obs.page_kib)
    limits += _tree_limits(obs, tree) + _other_limits(obs)
    metrics = {m: v for m in RAW_METRICS if (v := obs.value(m)) is not None}
    return Measurement(
        argv=tuple(argv),
        peak_kib=peak.kib,
        method=peak.method,
        bound_kib=None if peak.hi is None else max(peak.kib - peak.lo, peak.hi - peak.kib),
        peak_min_kib=peak.lo,
        peak_max_kib=peak.hi,
        exact_at_exit=peak.method == METHOD_EXIT_RSS,
        exit_code=obs.exit_code,
        exit_signal=obs.exit_signal,
        metrics=MappingProxyType(metrics),
        bounds=_shown_bounds(obs, claims, features, peak.method, [hwm, trace, tree]),
        limits=tuple(limits),
        kernel_release=obs.kernel_release,
        ncpus=obs.ncpus,
        regimes=tuple(sorted(features)),
        tree_peak_kib=obs.tree_peak_kib if tree is not None else None,
        trace_unavailable=why,
        cpu_user_s=obs.cpu_user_s,
        cpu_sys_s=obs.cpu_sys_s,
        wall_s=obs.wall_s,
        timed_out=obs.timed_out,
        interrupted=obs.interrupted,
    )


# --- running a command -------------------------------------------------------

def resolve(command: str, env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """The file ``execvp`` would run, or a clear error (as the shell's 126/127)."""
    environ = os.environ if env is None else env
    if "/" in command:
        candidates = [command if cwd is None else os.path.join(cwd, command)]
    else:
        dirs = environ.get("PATH", os.defpath).split(os.pathsep)
        candidates = [os.path.join(d or ".", command) for d in dirs]
    refused = ""
    for path in candidates:
        if not os.path.exists(path):
            continue
        if os.path.isdir(path):
            refused = refused or f"{path} is a directory"
        elif not os.access(path, os.X_OK):
            refused = refused or f"{path} is not executable (chmod +x {shlex.quote(path)})"
        else:
            return path
    if refused:
        raise NotExecutable(f"cannot execute {command}: {refused}")
    where = "" if "/" in command else " in PATH"
    raise CommandNotFound(f"command not found{where}: {command}")


def _interpreter(path: str) -> str:
    """The interpreter a script's first line names, or ""."""
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return ""
    if not first.startswith(b"#!"):
        return ""
    words = first[2:].split()
    return os.fsdecode(words[0]) if words else ""


def _observer_failed(status: int, argv: Sequence[str], cgroup: bool, resolved: str,
                     bin_dir: Path) -> MeasureError:
    cmd = shlex.join(argv)
    if status == 4:
        why = ("ptrace is not permitted or no memory cgroup can be created" if cgroup
               else "ptrace is not permitted")
        return CannotMeasureHere(f"cannot measure {cmd} here: {why} (see the line above); "
                                 "run as root, outside strace/gdb, with "
                                 "kernel.yama.ptrace_scope <= 1")
    if status == 126:
        return NotExecutable(f"cannot execute {cmd} (see the line above)")
    if status == 127:
        interp = _interpreter(resolved)
        if interp:
            return NotExecutable(f"cannot execute {argv[0]}: its interpreter {interp} "
                                 "(its #! line) is not found")
        return NotExecutable(f"cannot execute {argv[0]}: the loader or a library it needs "
                             "is not found (see the line above)")
    if status < 0:
        name = signal.Signals(-status).name if -status in signal.valid_signals() else -status
        return MeasureError(f"the observer was killed by {name} while measuring {cmd}; "
                            "nothing was measured (out of memory? see the kernel log)")
    return MeasureError(f"the observer failed with status {status} measuring {cmd} "
                        f"(see the line above); delete {bin_dir} and run again to rebuild it")


# The signals rsslab measure passes on to the observer, which then ends the
# command's whole tree and reports what it measured so far.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextmanager
def _forwarding(proc: subprocess.Popen[bytes], got: list[int]) -> Iterator[None]:
    """In the main thread, SIGTERM, SIGINT and SIGHUP go to the observer."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(sig: int, _frame: FrameType | None) -> None:
        got.append(sig)
        if proc.poll() is None:
            proc.send_signal(sig)

    old = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _read_all(fd: int, proc: subprocess.Popen[bytes], deadline: float | None) -> bytes:
    """What the observer writes on fd until it closes it.  Past the
    deadline it is asked to stop (SIGTERM: it ends the tree and reports),
    and killed STOP_WAIT_S later."""
    chunks: list[bytes] = []
    asked = False
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if ready:
            data = os.read(fd, 1 << 16)
            if not data:
                return b"".join(chunks)
            chunks.append(data)
        elif not asked:
            proc.send_signal(signal.SIGTERM)
            asked, deadline = True, time.monotonic() + STOP_WAIT_S
        else:
            proc.kill()
            return b"".join(chunks)


def _observer_argv(observer: Path, out_fd: int, cgroup: bool, timeout: float | None,
                   trace: bool, argv: Sequence[str]) -> list[str]:
    cmd = [str(observer), "--out-fd", str(out_fd)]
    if cgroup:
        cmd.append("--cgroup")
    if not trace:
        cmd.append("--no-trace")
    if timeout is not None:
        cmd += ["--timeout", repr(float(timeout))]
    return [*cmd, "--", *argv]


@dataclass(frozen=True, slots=True)
class Measurer:
    """The observer, the claims and this kernel's regimes, loaded once."""

    observer: Path
    claims: tuple[Claim, ...]
    features: frozenset[str]
    # Follow kmem:rss_stat for the exact peak where the kernel allows it;
    # False reads at the exit stops only (and costs the command nothing).
    trace: bool = True

    @classmethod
    def here(cls, root: Path | None = None, trace: bool = True,
             session: Session | None = None) -> Measurer:
        """Build the observer if needed and learn this kernel's regimes."""
        session = session or Session.here(root)
        claims = tuple(session.data())
        return cls(session.binaries() / "observe", claims, session.host_features, trace)

    def observe(self, argv: Sequence[str], *, stdin: Stream = None, stdout: Stream = None,
                stderr: Stream = None, cgroup: bool = False, timeout: float | None = None,
                cwd: str | None = None, env: Mapping[str, str] | None = None,
                forward_signals: bool = False) -> Observation:
        """Run argv under the observer; its own output is passed through.
        The observer's JSON comes back on a pipe: nothing is left on disk.
        With ``forward_signals`` (``rsslab measure``), SIGTERM, SIGINT and
        SIGHUP to this process end the command's tree and are reported."""
        if not argv:
            raise MeasureUsage("no command to measure")
        if timeout is not None and not 0 <= timeout < 1e9:
            raise MeasureUsage(f"timeout {timeout!r} is not a number of seconds >= 0")
        resolved = resolve(argv[0], env, cwd)
        if timeout is not None and timeout <= 0:
            timeout = 1e-6  # killed at once, as subprocess.run would
        text, status = self._run(argv, stdin, stdout, stderr, cgroup, timeout, cwd, env,
                                 forward_signals)
        if status != 0:
            raise _observer_failed(status, argv, cgroup, resolved, self.observer.parent)
        try:
            obj = json.loads(text.decode("ascii", errors="replace"))
        except json.JSONDecodeError as e:
            raise MeasureError(f"the observer wrote no JSON ({e}); delete "
                               f"{self.observer.parent} and run again to rebuild it") from None
        return from_observer(obj, "host", "command", {})

    def _run(self, argv: Sequence[str], stdin: Stream, stdout: Stream, stderr: Stream,
             cgroup: bool, timeout: float | None, cwd: str | None,
             env: Mapping[str, str] | None, forward_signals: bool) -> tuple[bytes, int]:
        """The observer's JSON and exit status."""
        r, w = os.pipe()
        # Before the summed event, the trace is not used: it would only cost.
        trace = self.trace and TRACE_REGIME in self.features
        cmd = _observer_argv(self.observer, w, cgroup, timeout, trace, argv)
        log.info("%s", shlex.join(cmd))
        try:
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
                                    env=env, pass_fds=(w,))
        except OSError as e:
            os.close(r)
            raise MeasureError(f"cannot start the observer {self.observer}: {e.strerror}; "
                               f"delete {self.observer.parent} and run again to rebuild "
                               "it") from None
        finally:
            os.close(w)
        got: list[int] = []
        deadline = None if timeout is None else time.monotonic() + timeout + OBSERVER_GRACE_S
        try:
            with _forwarding(proc, got) if forward_signals else _nothing():
                text = _read_all(r, proc, deadline)
                status = proc.wait()
        finally:
            os.close(r)
            children.stop(proc, STOP_WAIT_S)
        return text, status

    def measure(self, argv: Sequence[str], *, stdin: Stream = None, stdout: Stream = None,
                stderr: Stream = None, cgroup: bool = False, timeout: float | None = None,
                cwd: str | None = None, env: Mapping[str, str] | None = None,
                forward_signals: bool = False) -> Measurement:
        """Run argv as a judge would and report its peak RSS.  Past
        ``timeout`` seconds the command's whole tree is killed and
        ``TimedOut`` raised, with the measurement up to the kill."""
        obs = self.observe(argv, stdin=stdin, stdout=stdout, stderr=stderr, cgroup=cgroup,
                           timeout=timeout, cwd=cwd, env=env, forward_signals=forward_signals)
        m = assess(obs, self.claims, self.features, argv)
        if m.timed_out:
            raise TimedOut(f"{shlex.join(argv)} ran over {timeout:g} s and was killed "
                           f"(peak so far {m.peak_kib} KiB)", m)
        return m


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def measure(argv: Sequence[str], *, stdin: Stream = None, stdout: Stream = None,
            stderr: Stream = None, cgroup: bool = False, timeout: float | None = None,
            cwd: str | None = None, env: Mapping[str, str] | None = None) -> Measurement:
    """Run ``argv`` the way a judge does and return its peak RSS.

    Standard streams are inherited unless given (file objects or
    descriptors, as for ``subprocess.run``).  Raises a ``MeasureError``
    subclass when the command cannot be run or measured; a command that
    fails or is killed is measured all the same (see ``returncode``).
    To measure many commands, make one ``Measurer.here()`` and reuse it.
    """
    return Measurer.here().measure(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                   cgroup=cgroup, timeout=timeout, cwd=cwd, env=env)
