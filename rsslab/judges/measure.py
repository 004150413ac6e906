"""Peak RSS of any command, by the most accurate method the kernel allows.

``rsslab.measure(argv)`` runs a command the way a judge does (standard
input, output and error passed through, exit status kept) under the
observer, which stops it at ``PTRACE_EVENT_EXIT`` and reads every metric.
The peak it reports:

* the exact RSS at the exit stop, a page-table walk of the still intact mm
  (``smaps_rollup``).  A peak that lasts until exit is exactly this.
* VmHWM at the exit stop, when it is further above that RSS than the claims
  allow for this kernel: a higher peak was unmapped before exit, and VmHWM
  is the only trace of it, as exact as the kernel's hiwater record.

Every raw metric comes with the bound the applicable claim gives it here
(``rsslab.claims.limits``).  The observer forks the program from its own small
process, so the program never inherits the Python interpreter's peak.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from rsslab import claims as claims_mod
from rsslab import paths
from rsslab.claims import Claim, regimes
from rsslab.claims import limits as bounds_mod
from rsslab.claims.limits import AT_EXIT, TRUE_PEAK, MetricBound
from rsslab.errors import UserError
from rsslab.results import Observation, from_observer
from rsslab.run.build import build_all
from rsslab.run.host import host_regimes

log = logging.getLogger(__name__)

# What the peak was taken from.
METHOD_EXIT_RSS = "exit-stop-smaps"
METHOD_HWM = "exit-stop-vmhwm"

# The raw metrics a Measurement carries, under the runner's flat names.
RAW_METRICS: tuple[str, ...] = (
    "smaps_rss_kib", "vmhwm_kib", "vmrss_kib", "rss_anon_kib", "rss_file_kib",
    "rss_shmem_kib", "statm_rss_kib", "stat_rss_kib", "wait4_maxrss_kib",
    "children_maxrss_kib", "cgroup_peak_kib", "exec_floor_kib",
)
# The metrics whose bound is stated against the exact RSS at exit.
BOUNDED_AT_EXIT: tuple[str, ...] = (
    "vmhwm_kib", "vmrss_kib", "statm_rss_kib", "stat_rss_kib", "wait4_maxrss_kib",
    "children_maxrss_kib",
)
# Peaks: their claims against the RSS at exit hold only while the peak lasts
# until exit, so they are not shown for a released peak.
PEAK_METRICS = frozenset({"vmhwm_kib", "wait4_maxrss_kib", "children_maxrss_kib"})

Stream = int | IO[Any] | None


class MeasureError(UserError):
    """rsslab could not measure the command (exit status 122)."""

    exit_status = 122


class CannotMeasureHere(MeasureError):
    """ptrace is not permitted here, or no memory cgroup for --cgroup."""

    exit_status = 123


class TimedOut(MeasureError):
    """The command ran past --timeout and was killed."""

    exit_status = 124


class MeasureUsage(MeasureError):
    """No command, or a bad option of ``rsslab measure``."""

    exit_status = 125


class NotExecutable(MeasureError):
    """The command exists but cannot be executed."""

    exit_status = 126


class CommandNotFound(MeasureError):
    """No such command."""

    exit_status = 127


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

    @property
    def returncode(self) -> int:
        """The command's status as a shell shows it: code, or 128 + signal."""
        if self.exit_signal is not None:
            return 128 + self.exit_signal
        return self.exit_code if self.exit_code is not None else 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "argv": list(self.argv),
            "peak_kib": self.peak_kib,
            "method": self.method,
            "bound_kib": self.bound_kib,
            "peak_min_kib": self.peak_min_kib,
            "peak_max_kib": self.peak_max_kib,
            "exact_at_exit": self.exact_at_exit,
        }
        if self.exit_signal is not None:
            out["exit_signal"] = self.exit_signal
        else:
            out["exit_code"] = self.exit_code
        out.update(self.metrics)
        out["bounds"] = [b.to_json() for b in self.bounds]
        out["limits"] = list(self.limits)
        out.update(kernel_release=self.kernel_release, ncpus=self.ncpus,
                   regimes=list(self.regimes))
        return out


# --- from observation to measurement ----------------------------------------

def _kib(x: float) -> int:
    return int(round(x))


def _peak(obs: Observation, hwm: MetricBound | None) -> tuple[int, str, int, int | None]:
    """(peak, method, lowest and highest possible true peak) in KiB."""
    exit_rss, hw = obs.smaps_rss_kib, obs.vmhwm_kib
    if exit_rss is None and (hw is None or hwm is None):
        raise MeasureError("the exit stop gave neither smaps_rollup nor a bounded VmHWM "
                           "(is /proc mounted? rsslab needs Linux >= 4.14)")
    if hw is None or hwm is None:
        assert exit_rss is not None
        return exit_rss, METHOD_EXIT_RSS, exit_rss, None
    # VmHWM - true peak lies in [lo, hi], and the true peak is at least the exit RSS.
    lo = _kib(hw - hwm.hi_kib)
    hi = _kib(hw - hwm.lo_kib)
    if exit_rss is None:
        return hw, METHOD_HWM, lo, hi
    if lo <= exit_rss:
        return exit_rss, METHOD_EXIT_RSS, exit_rss, max(exit_rss, hi)
    return hw, METHOD_HWM, lo, max(exit_rss, hi)


def _limits(obs: Observation, method: str, peak_max: int | None, hwm: MetricBound | None,
            features: frozenset[str]) -> tuple[str, ...]:
    exit_rss = obs.smaps_rss_kib
    out = []
    if method == METHOD_EXIT_RSS and hwm is None:
        out.append("No claim bounds VmHWM on this kernel, so a peak released before exit "
                   "is not bounded: only the RSS at exit is known.")
    elif method == METHOD_EXIT_RSS and hwm is not None and peak_max is not None:
        out.append(f"A peak released before exit shows only in VmHWM, which is "
                   f"{hwm.show()} off the true peak here ({hwm.claim_id}): a released peak "
                   f"up to {peak_max - (exit_rss or 0)} KiB above the RSS at exit looks the "
                   "same as none.  Only sampling the exact RSS while the program runs, or the "
                   "memory cgroup peak (--cgroup), could see it.")
    elif method == METHOD_HWM and hwm is not None:
        at_exit = f"; the exact RSS at exit was {exit_rss} KiB" if exit_rss is not None else ""
        out.append(f"The peak was released before exit: VmHWM is the kernel's record of it, "
                   f"{hwm.show()} off the true peak here ({hwm.claim_id}){at_exit}.")
    if "split-rss" in features:
        out.append("On this kernel each thread keeps up to 66 faults' pages out of the "
                   "counters (16 pages per file read fault), and any number of pages a "
                   "driver maps with vm_insert_page(s): the VmHWM bound holds for one "
                   "thread faulting at a time and no such driver; each further thread "
                   "alive when memory is freed can hide as much again.")
    if obs.exec_floor_kib is not None:
        out.append(f"wait4 and RUSAGE_CHILDREN ru_maxrss include the RSS of the observer's "
                   f"forked copy when it called execve() ({obs.exec_floor_kib} KiB when read "
                   "just before), which execve() keeps; never the peak of the process that "
                   "called rsslab, which the fork leaves behind (exec-launcher-drops-parent-peak).")
    out.append("Only the command's own process is walked at its exit stop: memory of "
               "processes it starts is not in peak_kib (wait4 ru_maxrss includes its largest "
               "reaped child; the cgroup peak includes all of them).")
    what = ("page cache and kernel memory the command caused and up to 64 pages per CPU of "
            "charges taken ahead (MEMCG_CHARGE_BATCH), and leaves out file pages first charged "
            "to another cgroup (cgroup-peak-covers-anon)")
    if obs.cgroup_peak_kib is not None:
        out.append(f"cgroup_peak_kib is memory charged to the command's cgroup, not RSS: it "
                   f"adds {what}.")
    else:
        out.append(f"--cgroup adds the peak of a fresh memory cgroup, which keeps a released "
                   f"peak, but counts charges, not RSS: it adds {what}.")
    return tuple(out)


def assess(obs: Observation, claims: Sequence[Claim], features: frozenset[str],
           argv: Sequence[str]) -> Measurement:
    """The peak and the bounds of one observed run (pure: no I/O)."""
    hwm = bounds_mod.widest(claims, "vmhwm_kib", TRUE_PEAK, features, obs)
    peak, method, lo, hi = _peak(obs, hwm)
    shown = [m for m in BOUNDED_AT_EXIT if method == METHOD_EXIT_RSS or m not in PEAK_METRICS]
    at_exit = [bounds_mod.widest(claims, m, AT_EXIT, features, obs) for m in shown]
    cgroup = bounds_mod.widest(claims, "cgroup_peak_kib", ("peak_anon_kib",), features, obs)
    extra = [hwm] + ([cgroup] if obs.cgroup_peak_kib is not None else [])
    found = tuple(b for b in (*at_exit, *extra) if b is not None)
    metrics = {m: v for m in RAW_METRICS if (v := obs.value(m)) is not None}
    return Measurement(
        argv=tuple(argv),
        peak_kib=peak,
        method=method,
        bound_kib=None if hi is None else max(peak - lo, hi - peak),
        peak_min_kib=lo,
        peak_max_kib=hi,
        exact_at_exit=method == METHOD_EXIT_RSS,
        exit_code=obs.exit_code,
        exit_signal=obs.exit_signal,
        metrics=MappingProxyType(metrics),
        bounds=found,
        limits=_limits(obs, method, hi, hwm, features),
        kernel_release=obs.kernel_release,
        ncpus=obs.ncpus,
        regimes=tuple(sorted(features)),
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


def _observer_failed(status: int, argv: Sequence[str], cgroup: bool) -> MeasureError:
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
        return CommandNotFound(f"command not found: {argv[0]}")
    return MeasureError(f"the observer failed with status {status} measuring {cmd} "
                        "(see the line above); rebuild it with `make repro`")


@dataclass(frozen=True, slots=True)
class Measurer:
    """The observer, the claims and this kernel's regimes, loaded once."""

    observer: Path
    claims: tuple[Claim, ...]
    features: frozenset[str]

    @classmethod
    def here(cls, root: Path | None = None) -> Measurer:
        """Build the observer if needed and learn this kernel's regimes."""
        root = root or paths.project_root()
        bin_dir = paths.build_dir(root) / "bin"
        build_all(root, bin_dir)
        claims = tuple(claims_mod.load(root / "claims"))
        return cls(bin_dir / "observe", claims,
                   host_regimes(regimes.load(root / "claims"), bin_dir))

    def observe(self, argv: Sequence[str], *, stdin: Stream = None, stdout: Stream = None,
                stderr: Stream = None, cgroup: bool = False, timeout: float | None = None,
                cwd: str | None = None, env: Mapping[str, str] | None = None) -> Observation:
        """Run argv under the observer; its own output is passed through."""
        if not argv:
            raise MeasureUsage("no command to measure")
        resolve(argv[0], env, cwd)
        fd, out = tempfile.mkstemp(prefix="rsslab-measure-", suffix=".json")
        os.close(fd)
        cmd = [str(self.observer), "--out", out, *(["--cgroup"] if cgroup else []), "--", *argv]
        log.info("%s", shlex.join(cmd))
        try:
            proc = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=stderr,
                                  timeout=timeout, cwd=cwd, env=env, check=False)
            if proc.returncode != 0:
                raise _observer_failed(proc.returncode, argv, cgroup)
            text = Path(out).read_text()
        except subprocess.TimeoutExpired:
            raise TimedOut(f"{shlex.join(argv)} ran over {timeout:g} s and was killed") from None
        finally:
            os.unlink(out)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise MeasureError(f"the observer wrote no JSON ({e}); rebuild it with "
                               "`make repro`") from None
        return from_observer(obj, "host", "command", {})

    def measure(self, argv: Sequence[str], *, stdin: Stream = None, stdout: Stream = None,
                stderr: Stream = None, cgroup: bool = False, timeout: float | None = None,
                cwd: str | None = None, env: Mapping[str, str] | None = None) -> Measurement:
        """Run argv as a judge would and report its peak RSS."""
        obs = self.observe(argv, stdin=stdin, stdout=stdout, stderr=stderr, cgroup=cgroup,
                           timeout=timeout, cwd=cwd, env=env)
        return assess(obs, self.claims, self.features, argv)


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
