"""rsslab.measure: the method it picks, the bound it states, the launcher floor.

The accuracy checks run the claims' scenarios through the observer on this
kernel and hand each observation to ``measurement.assess``, the function
``rsslab.measure`` uses: for a peak that lasts until exit the reported peak
must be the exact value, for a released peak the exact value must lie in
the range the report states.  The bounds come from the claims.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import guests
import pytest

import rsslab
from rsslab import claims
from rsslab.claims import limits
from rsslab.judges import measure as measurement
from rsslab.judges.measure import (
    METHOD_EXIT_RSS,
    METHOD_HWM,
    METHOD_RSS_STAT,
    TRACE_REFERENCE,
    Measurer,
    assess,
)
from rsslab.plan import RunSpec
from rsslab.results import Observation, from_observer
from rsslab.run import host, matrix
from rsslab.run.build import CFLAGS, find_compiler

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
CLAIMS = tuple(claims.load(ROOT / "claims"))
PERCPU = frozenset({"percpu-rss", "status-sum"})
SPLIT = frozenset({"split-rss"})
REPEAT = 5

# Scenarios whose peak lasts until exit, and ones that unmap it first.
UNTIL_EXIT = [
    RunSpec("touch", {"pages": 1000}),
    RunSpec("touch", {"pages": 0}),
    RunSpec("threads", {"threads": 16, "pages": 63, "mode": "serial"}),
    RunSpec("threads", {"threads": 16, "pages": 63, "mode": "parallel"}),
    RunSpec("cpu_spread", {"pages": 100}),
    RunSpec("file_faultaround", {"pages": 1024}),
    RunSpec("seed"),
]
# A freed peak is told apart from the exit RSS only when it clears it by
# more than the VmHWM bound's width: its runs are the claims' own, sized at
# the kernel's CPU count.
RELEASED_BY = ("percpu-vmhwm-brackets-peak", "split-vmhwm-brackets-peak")


def released(ncpus: int, page_size: int, features: frozenset[str]) -> list[RunSpec]:
    """The peak_then_free runs of the VmHWM claim that applies here."""
    return [r for c in CLAIMS if c.id in RELEASED_BY and c.applies(features, ncpus)
            for r in c.runs_at(ncpus, page_size, features) if r.scenario == "peak_then_free"]


def without_trace(obs: Observation) -> Observation:
    """The same run as an observer without kmem:rss_stat reads it."""
    return replace(obs, rss_stat_peak_kib=None, tree_peak_kib=None,
                   rss_stat_unavailable="switched off (--no-trace)")


def trace_expected(features: frozenset[str]) -> bool:
    """Does this host give the exact peak?  (make check and make test mount
    tracefs; a kernel that sums in kmem:rss_stat and root are the rest.)"""
    return ("rss-stat-sum" in features and os.geteuid() == 0
            and Path("/sys/kernel/tracing/events/kmem/rss_stat").exists())


def true_peak(obs: Observation) -> int:
    """The program's own peak or the RSS walked at its last exit stop."""
    refs = [obs.value(r) for r in TRACE_REFERENCE]
    return max(v for v in refs if v is not None)


def recorded(name: str) -> Observation:
    obj = json.loads((DATA / "observer" / name).read_text())
    return from_observer(obj, "host", "command", {})


def percpu_kib(obs: Observation) -> int:
    return claims.percpu_residue(obs.ncpus, claims.RSS_COUNTERS) * obs.page_kib


# --- the pure part, on recorded and made-up observations ---------------------

def test_recorded_run_reports_exit_rss_with_claim_bounds() -> None:
    obs = recorded("touch-linux-6.18.json")
    m = assess(obs, CLAIMS, PERCPU, ["touch", "100"])
    assert (m.peak_kib, m.method, m.exact_at_exit) == (obs.smaps_rss_kib, METHOD_EXIT_RSS, True)
    assert m.bound_kib == percpu_kib(obs)
    assert m.peak_max_kib == obs.smaps_rss_kib + percpu_kib(obs)
    ids = {b.metric: b.claim_id for b in m.bounds if b.reference == limits.AT_EXIT}
    assert ids["vmrss_kib"] == "percpu-status-vmrss-exact"
    assert ids["wait4_maxrss_kib"] == "percpu-wait4-approx"
    doc = m.to_json()
    for key in ("peak_kib", "method", "bound_kib", "smaps_rss_kib", "vmhwm_kib",
                "wait4_maxrss_kib", "children_maxrss_kib", "stat_rss_kib", "exit_code"):
        assert key in doc, key
    assert json.loads(json.dumps(doc)) == doc


def test_vmhwm_beyond_the_bound_proves_a_released_peak() -> None:
    obs = recorded("touch-linux-6.18.json")
    assert obs.smaps_rss_kib is not None
    e = percpu_kib(obs)
    inside = assess(replace(obs, vmhwm_kib=obs.smaps_rss_kib + e), CLAIMS, PERCPU, ["x"])
    assert inside.method == METHOD_EXIT_RSS and inside.peak_kib == obs.smaps_rss_kib
    hw = obs.smaps_rss_kib + e + 4
    beyond = assess(replace(obs, vmhwm_kib=hw), CLAIMS, PERCPU, ["x"])
    assert (beyond.method, beyond.peak_kib, beyond.exact_at_exit) == (METHOD_HWM, hw, False)
    assert (beyond.peak_min_kib, beyond.peak_max_kib, beyond.bound_kib) == (hw - e, hw + e, e)
    assert any("released before exit" in x for x in beyond.limits)


@pytest.mark.parametrize("ncpus", [1, 16, 64, 128, 256])
def test_bounds_and_method_at_any_cpu_count(ncpus: int) -> None:
    """The bound of each metric and the method follow the run's CPU count."""
    obs = replace(recorded("touch-linux-6.18.json"), ncpus=ncpus)
    assert obs.smaps_rss_kib is not None
    e = percpu_kib(obs)
    assert e == 3 * ncpus * (max(32, 2 * ncpus) - 1) * 4
    same = assess(replace(obs, vmhwm_kib=obs.smaps_rss_kib), CLAIMS, PERCPU, ["x"])
    assert (same.method, same.bound_kib) == (METHOD_EXIT_RSS, e)
    inside = assess(replace(obs, vmhwm_kib=obs.smaps_rss_kib + e), CLAIMS, PERCPU, ["x"])
    assert (inside.method, inside.peak_max_kib) == (METHOD_EXIT_RSS, obs.smaps_rss_kib + 2 * e)
    shown = {b.metric: (b.lo_kib, b.hi_kib) for b in inside.bounds if b.reference == limits.AT_EXIT}
    assert shown["wait4_maxrss_kib"] == (-e, e) and shown["vmrss_kib"] == (0, 0)
    beyond = assess(replace(obs, vmhwm_kib=obs.smaps_rss_kib + e + 4), CLAIMS, PERCPU, ["x"])
    assert beyond.method == METHOD_HWM and beyond.peak_min_kib == obs.smaps_rss_kib + 4


def test_split_regime_bound_is_one_sided() -> None:
    obs = replace(recorded("touch-linux-6.18.json"), kernel_release="6.1.0")
    assert obs.smaps_rss_kib is not None
    low = claims.thread_cache(1, claims.fault_around_pages(obs.page_size)) * obs.page_kib
    hw = obs.smaps_rss_kib + 40
    m = assess(replace(obs, vmhwm_kib=hw), CLAIMS, SPLIT, ["x"])
    assert (m.method, m.peak_min_kib, m.peak_max_kib) == (METHOD_HWM, hw, hw + low)
    assert any("66 faults" in x for x in m.limits)


def test_without_smaps_rollup_vmhwm_is_the_peak() -> None:
    obs = recorded("touch-no-smaps.json")
    assert obs.smaps_rss_kib is None and obs.vmhwm_kib is not None
    m = assess(obs, CLAIMS, PERCPU, ["x"])
    assert (m.method, m.peak_kib) == (METHOD_HWM, obs.vmhwm_kib)
    assert m.peak_min_kib == obs.vmhwm_kib - percpu_kib(obs)


def test_no_exit_stop_is_an_error() -> None:
    obs = replace(recorded("touch-no-smaps.json"), vmhwm_kib=None)
    with pytest.raises(measurement.MeasureError) as e:
        assess(obs, CLAIMS, PERCPU, ["x"])
    assert "/proc" in str(e.value)


def test_signal_status_is_shell_style() -> None:
    obs = replace(recorded("touch-linux-6.18.json"), exit_code=None, exit_signal=9)
    m = assess(obs, CLAIMS, PERCPU, ["x"])
    assert m.returncode == 137 and m.to_json()["exit_signal"] == 9


# --- on this kernel -----------------------------------------------------------

@pytest.fixture(scope="module")
def measurer() -> Measurer:
    return Measurer.here(ROOT)


def _runs(bin_dir: Path, spec: RunSpec) -> list[Observation]:
    return host.run_specs(bin_dir, [replace(spec.resolved(), repeat=REPEAT)])


@pytest.mark.host
@pytest.mark.parametrize("spec", UNTIL_EXIT, ids=RunSpec.describe)
def test_peak_until_exit_is_exact(spec: RunSpec, bin_dir: Path, measurer: Measurer) -> None:
    """Read at the exit stops, a peak that lasts until exit is exact."""
    for obs in map(without_trace, _runs(bin_dir, spec)):
        m = assess(obs, measurer.claims, measurer.features, [spec.scenario])
        assert obs.smaps_rss_kib is not None and obs.last_exit_rss_kib is not None
        exact = max(obs.last_exit_rss_kib, obs.peak_exact_kib or 0)
        assert (m.method, m.peak_kib) == (METHOD_EXIT_RSS, exact), (
            f"{spec.describe()}: reported {m.peak_kib} KiB by {m.method}, exact {exact} KiB "
            f"(VmHWM {obs.vmhwm_kib})")


@pytest.mark.host
@pytest.mark.parametrize("spec", UNTIL_EXIT, ids=RunSpec.describe)
def test_traced_peak_is_the_true_peak(spec: RunSpec, bin_dir: Path, measurer: Measurer) -> None:
    """From kmem:rss_stat, within the bound the report states (0 for one
    task at a time) of the true peak, and never below the exit RSS."""
    if not trace_expected(measurer.features):
        pytest.skip(f"no kmem:rss_stat sum here: regimes {sorted(measurer.features)}")
    for obs in _runs(bin_dir, spec):
        m = assess(obs, measurer.claims, measurer.features, [spec.scenario])
        assert m.method == METHOD_RSS_STAT, m.limits[0]
        assert m.bound_kib is not None and abs(m.peak_kib - true_peak(obs)) <= m.bound_kib
        assert m.peak_min_kib >= (obs.last_exit_rss_kib or 0)
        if obs.mm_tasks_max == 1:
            assert m.peak_kib == true_peak(obs) and m.bound_kib == 0


@pytest.mark.host
def test_released_peak_lies_in_the_stated_range(bin_dir: Path, measurer: Measurer) -> None:
    specs = released(os.sysconf("SC_NPROCESSORS_ONLN"), os.sysconf("SC_PAGE_SIZE"), measurer.features)
    assert specs, f"no VmHWM claim applies to {sorted(measurer.features)}"
    for traced in (o for spec in specs for o in _runs(bin_dir, spec)):
        obs = without_trace(traced)
        m = assess(obs, measurer.claims, measurer.features, [obs.scenario])
        exact = obs.peak_exact_kib
        assert exact is not None and m.peak_max_kib is not None
        assert m.method == METHOD_HWM, (
            f"a {exact} KiB peak freed before exit went unseen (VmHWM {obs.vmhwm_kib} KiB, "
            f"exit RSS {obs.smaps_rss_kib} KiB)")
        assert m.peak_min_kib <= exact <= m.peak_max_kib, (
            f"exact peak {exact} KiB outside {m.peak_min_kib}..{m.peak_max_kib} KiB")
        assert abs(m.peak_kib - exact) <= (m.bound_kib or 0)
        if trace_expected(measurer.features):
            m = assess(traced, measurer.claims, measurer.features, [obs.scenario])
            assert (m.method, m.peak_kib, m.bound_kib) == (METHOD_RSS_STAT, exact, 0), m.limits


@pytest.mark.host
def test_api_passes_streams_and_status(tmp_path: Path, bin_dir: Path,
                                       measurer: Measurer) -> None:
    out = tmp_path / "out"
    with (tmp_path / "in").open("wb+") as stdin, out.open("wb") as stdout:
        stdin.write(b"abc\n")
        stdin.seek(0)
        m = rsslab.measure(["sh", "-c", "cat; echo err >&2; exit 3"], stdin=stdin,
                           stdout=stdout, stderr=subprocess.DEVNULL)
    assert out.read_bytes() == b"abc\n"
    assert (m.exit_code, m.returncode) == (3, 3)
    assert m.peak_kib >= m.metrics["last_exit_rss_kib"] >= m.metrics["smaps_rss_kib"]


def _own_rss_kib() -> int:
    return int(Path("/proc/self/smaps_rollup").read_text().split("Rss:")[1].split()[0])


def _spawn_maxrss(argv: list[str]) -> int:
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, ru = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return int(ru.ru_maxrss)


@pytest.mark.host
def test_launcher_floor_is_not_the_callers_peak(bin_dir: Path, measurer: Measurer) -> None:
    """A tiny program measured from this process and from a child of it
    that first grew by 200 MiB gets the same ru_maxrss, within the wait4
    claim's counter error twice: what it inherits is the observer's copy,
    the same whoever calls.  A plain posix_spawn from the 200 MiB caller
    does inherit it (exec keeps the old mm's peak)."""
    tiny = [str(bin_dir / "touch"), "10"]
    small = measurer.observe(tiny, stdout=subprocess.DEVNULL)
    e = limits.widest(measurer.claims, "wait4_maxrss_kib", limits.AT_EXIT, measurer.features,
                      small)
    assert e is not None and small.wait4_maxrss_kib is not None
    slack = 2 * max(-e.lo_kib, e.hi_kib)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the big caller: grow, measure, report, leave
        os.close(read)
        ballast = b"\x01" * (200 << 20)
        big = measurer.observe(tiny, stdout=subprocess.DEVNULL).wait4_maxrss_kib
        os.write(write, json.dumps([_own_rss_kib(), big, _spawn_maxrss(tiny)]).encode())
        del ballast
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        own, big, plain = json.loads(f.read())
    os.waitpid(pid, 0)
    assert own >= 200 << 10
    assert abs(big - small.wait4_maxrss_kib) <= slack, (
        f"measured from a {own} KiB caller: {big} KiB, from this one: "
        f"{small.wait4_maxrss_kib} KiB ({e.claim_id} allows {slack} KiB between them)")
    assert plain >= own - slack, f"plain spawn from a {own} KiB caller reported {plain} KiB"


# --- on the matrix kernels, from the runs the matrix tests boot once ----------

def _check_guest_runs(out: object, wanted: list[RunSpec], until_exit: bool) -> int:
    from rsslab import results
    from rsslab.run import matrix
    assert isinstance(out, matrix.Outcome)
    assert not out.error, out.error
    keys = {s.resolved().key()[:2] for s in wanted}
    seen = 0
    for obs in out.runs:
        if results.run_key(obs)[:2] not in keys:
            continue
        seen += 1
        m = assess(obs, CLAIMS, out.features, [obs.scenario])
        what = f"{out.target.label} {obs.scenario} {dict(obs.params)}"
        # Guests mount tracefs (repro/init.c): where kmem:rss_stat sums, the
        # peak of these one-task programs is the traced one, exact.
        traced = "rss-stat-sum" in out.features
        if until_exit:
            exact = max(obs.smaps_rss_kib or 0, obs.peak_exact_kib or 0)
            method = METHOD_RSS_STAT if traced else METHOD_EXIT_RSS
            assert (m.method, m.peak_kib) == (method, exact), (
                f"{what}: reported {m.peak_kib} by {m.method}, exact {exact}")
        else:
            exact = obs.peak_exact_kib
            assert exact is not None and m.peak_max_kib is not None
            method = METHOD_RSS_STAT if traced else METHOD_HWM
            assert m.method == method, f"{what}: the released peak went unseen ({m.method})"
            assert m.peak_min_kib <= exact <= m.peak_max_kib, (
                f"{what}: exact {exact} outside {m.peak_min_kib}..{m.peak_max_kib}")
            assert not traced or m.peak_kib == exact, (what, m.peak_kib, exact)
    return seen


@pytest.mark.guest
@pytest.mark.parametrize(("label", "name"),
                         [pytest.param(lb, n, id=lb) for lb, n, _c in guests.labels()])
def test_guest_peaks(label: str, name: str,
                     guest_outcomes: Callable[[], dict[str, matrix.Outcome]]) -> None:
    out = guests.outcome(guest_outcomes(), label, name)
    assert _check_guest_runs(out, UNTIL_EXIT, True) > 0
    page_size = next(o.page_size for o in out.runs)
    wanted = released(out.target.ncpus, page_size, out.features)
    assert _check_guest_runs(out, wanted, False) > 0


# --- the whole program, the exact peak, the tree (host) ------------------------

@pytest.mark.host
@pytest.mark.parametrize("mode", ["thread", "clone_vm"])
@pytest.mark.parametrize("trace", [True, False], ids=["traced", "exit-stops"])
def test_memory_written_after_the_leader_exits_is_measured(bin_dir: Path, measurer: Measurer,
                                                          mode: str, trace: bool) -> None:
    """A main thread that exits first cannot hide what the others write:
    100 MiB or more, with a range that holds the program's own peak."""
    m0 = replace(measurer, trace=trace)
    obs = m0.observe([str(bin_dir / "leader_exits_first"), "25600", mode],
                     stdout=subprocess.DEVNULL)
    m = assess(obs, m0.claims, m0.features, ["leader_exits_first"])
    true = true_peak(obs)
    assert m.peak_kib >= 25600 * 4, (m.method, m.peak_kib, m.limits)
    assert m.peak_max_kib is not None and m.peak_min_kib <= true <= m.peak_max_kib
    assert obs.leader_early and obs.smaps_rss_kib is not None and obs.smaps_rss_kib < 25600
    assert not [b for b in m.bounds if b.metric in ("vmhwm_kib", "vmrss_kib")]
    assert any("main thread exited" in x for x in m.limits)


@pytest.mark.host
def test_a_freed_peak_is_measured_exactly(measurer: Measurer, tmp_path: Path) -> None:
    """Done when: 200 MiB written and freed, then 10 MiB: method rss-stat,
    within 8 pages of the peak the program read itself at that peak."""
    if not trace_expected(measurer.features):
        pytest.skip(f"no kmem:rss_stat sum here: regimes {sorted(measurer.features)}")
    prog = tmp_path / "peak_then_less"
    subprocess.run([find_compiler(), *CFLAGS, "-I", str(ROOT / "repro"), "-o", str(prog),
                    str(DATA / "peak_then_less.c")], check=True)
    out = tmp_path / "own"
    with out.open("w") as f:
        m = measurer.measure([str(prog), "200", "10"], stdout=f)
    own = int(out.read_text())
    assert m.method == METHOD_RSS_STAT and m.bound_kib == 0, m.limits
    assert abs(m.peak_kib - own) <= 8 * 4, (m.peak_kib, own)
    assert m.cpu_sys_s is not None and m.wall_s is not None and m.cpu_user_s is not None


@pytest.mark.host
def test_the_tree_peak_counts_parent_and_child_at_once(bin_dir: Path,
                                                       measurer: Measurer) -> None:
    if not trace_expected(measurer.features):
        pytest.skip(f"no kmem:rss_stat sum here: regimes {sorted(measurer.features)}")
    m = measurer.measure([str(bin_dir / "tree_hold"), "5120", "12800"],
                         stdout=subprocess.DEVNULL)
    assert m.tree_peak_kib is not None and m.tree_peak_kib >= 70 * 1024, m.limits
    assert m.peak_kib < m.tree_peak_kib  # the command's own mm is the parent's
