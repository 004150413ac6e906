"""rsslab doctor: metrics grouped from the claims' verdicts, and its status.

The state of each metric must follow from the runs themselves: "exact"
only when every claim bounds it at zero and no run showed an error,
"approximate" when a claim allows an error here or one was seen.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from rsslab import claims
from rsslab.claims import Claim, Verdict
from rsslab.cli import plain, render
from rsslab.judges import doctor
from rsslab.kernels import qemu
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import matrix

ROOT = Path(__file__).resolve().parents[1]
PERCPU = frozenset({"percpu-rss", "status-sum"})
RUN = RunSpec("touch", {"pages": 1000})


def obs(**kw: object) -> Observation:
    base = Observation(kernel="host", kernel_release="6.18.0", kernel_version="", ncpus=2,
                       scenario="touch", params={"pages": 1000}, page_size=4096,
                       smaps_rss_kib=4000, vmhwm_kib=4000, vmrss_kib=4000,
                       wait4_maxrss_kib=4000, children_maxrss_kib=4000, exec_floor_kib=400)
    return replace(base, **kw)  # type: ignore[arg-type]


def exact_claim(metric: str) -> Claim:
    return Claim(id=f"{metric}-exact", says="s", metric=metric, reference=("smaps_rss_kib",),
                 bound={"formula": "exact"}, runs=(RUN,))


def residue_claim(metric: str) -> Claim:
    return replace(exact_claim(metric), id=f"{metric}-approx",
                   bound={"formula": "percpu_residue", "counters": 3, "direction": "either"})


COMMON = ("vmhwm_kib", "wait4_maxrss_kib", "children_maxrss_kib")


def test_all_common_metrics_exact_gives_0() -> None:
    r = doctor.assess_battery("host", 2, PERCPU, [exact_claim(m) for m in COMMON], [obs()],
                              0.1)
    assert r.status == doctor.EXIT_EXACT
    assert {m.info.name: m.state for m in r.metrics if m.info.common} == {
        m: "exact" for m in COMMON}


def test_an_allowed_error_makes_it_approximate() -> None:
    cs = [exact_claim("vmhwm_kib"), exact_claim("children_maxrss_kib"),
          residue_claim("wait4_maxrss_kib")]
    r = doctor.assess_battery("host", 2, PERCPU, cs, [obs()], 0.1)
    wait4 = next(m for m in r.metrics if m.info.name == "wait4_maxrss_kib")
    assert wait4.state == "approximate" and wait4.bound is not None
    assert wait4.bound.hi_kib == claims.percpu_residue(2, 3) * 4
    assert r.status == doctor.EXIT_INACCURATE


def test_a_contradicted_claim_gives_3_and_names_it() -> None:
    r = doctor.assess_battery("host", 2, PERCPU, [exact_claim(m) for m in COMMON],
                              [obs(wait4_maxrss_kib=3996)], 0.1)
    assert r.status == doctor.EXIT_CLAIM_FAILED
    wait4 = next(m for m in r.metrics if m.info.name == "wait4_maxrss_kib")
    assert wait4.state == "contradicted" and wait4.worst_kib == -4
    assert wait4.verdict is Verdict.CONTRADICTED


def test_a_claim_on_a_value_its_runs_lack_is_broken_and_gives_2() -> None:
    """A claim whose metric the runs do not report is the claim's fault
    (TBROK, exit 2), never the kernel's (TFAIL, exit 3)."""
    r = doctor.assess_battery("host", 2, PERCPU, [exact_claim(m) for m in COMMON],
                              [obs(children_maxrss_kib=None)], 0.1)
    children = next(m for m in r.metrics if m.info.name == "children_maxrss_kib")
    assert children.verdict is Verdict.BROKEN and children.state == "broken"
    assert r.status == doctor.EXIT_CLAIM_BROKEN == 2
    assert doctor.to_json(r)["status"] == 2
    text = plain.text(render.doctor(r), 120)
    assert "exit 2: A claim is broken" in text and "contradicted" not in text


@pytest.mark.parametrize("ncpus", [1, 16, 64, 128, 256])
def test_bounds_and_states_at_any_cpu_count(ncpus: int) -> None:
    """The bound doctor shows is the claim's at the run's CPU count."""
    cs = [exact_claim("vmhwm_kib"), exact_claim("children_maxrss_kib"),
          residue_claim("wait4_maxrss_kib")]
    miss = claims.percpu_residue(ncpus, 3)
    runs = [obs(ncpus=ncpus, wait4_maxrss_kib=4000 + 4 * miss, smaps_rss_kib=4000)]
    r = doctor.assess_battery("host", 2, PERCPU, cs, runs, 0.1)
    wait4 = next(m for m in r.metrics if m.info.name == "wait4_maxrss_kib")
    assert r.ncpus == ncpus and wait4.bound is not None
    assert (wait4.bound.lo_kib, wait4.bound.hi_kib) == (-4 * miss, 4 * miss)
    assert wait4.state == "approximate" and r.status == doctor.EXIT_INACCURATE
    # One page beyond the bound at this CPU count is a contradiction.
    runs = [obs(ncpus=ncpus, wait4_maxrss_kib=4000 + 4 * (miss + 1))]
    r = doctor.assess_battery("host", 2, PERCPU, cs, runs, 0.1)
    assert r.status == doctor.EXIT_CLAIM_FAILED


def test_a_run_that_cannot_decide_is_not_a_failed_claim() -> None:
    """An inherited floor above the claim's lowest value leaves the claim
    undecided: exit 4 (incomplete) where nothing else is inexact, never 3."""
    cs = [replace(exact_claim(m), floor_below_reference=True) for m in COMMON]
    r = doctor.assess_battery("host", 2, PERCPU, cs, [obs(exec_floor_kib=4000)], 0.1)
    states = {m.info.name: m.state for m in r.metrics if m.info.common}
    assert states["wait4_maxrss_kib"] == "not decided" and r.status == doctor.EXIT_INCOMPLETE
    cs[1] = replace(residue_claim("wait4_maxrss_kib"), floor_below_reference=True)
    r = doctor.assess_battery("host", 2, PERCPU, cs, [obs(exec_floor_kib=4000)], 0.1)
    assert r.status == doctor.EXIT_INCOMPLETE


def test_no_memory_cgroup_is_not_available_not_failed() -> None:
    cs = [exact_claim(m) for m in COMMON]
    r = doctor.assess_battery("host", 2, PERCPU, cs, [obs()], 0.1,
                              no_cgroup="no memory cgroup to create")
    cg = next(m for m in r.metrics if m.info.name == "cgroup_peak_kib")
    assert cg.state == "not available here" and r.status == doctor.EXIT_EXACT
    assert cg.verdict is Verdict.UNAVAILABLE and cg.unavailable == "no memory cgroup to create"


def test_missing_cases_give_4_not_exact() -> None:
    cs = [exact_claim("vmhwm_kib"), exact_claim("wait4_maxrss_kib")]
    r = doctor.assess_battery("host", 2, PERCPU, cs, [obs()], 0.1,
                              problems=["seed: no binary"])
    assert r.status == doctor.EXIT_INCOMPLETE
    assert {m.info.name: m.state for m in r.metrics}["children_maxrss_kib"] == "not run"


def test_a_scenario_own_miss_is_judged_but_not_the_worst_here() -> None:
    """A claim whose bound names its scenario's parameters (threads held
    alive) gives no bound for any program and no worst error; it is still
    judged."""
    split = frozenset({"split-rss"})
    general = replace(exact_claim("vmrss_kib"), id="general",
                      bound={"formula": "thread_cache", "threads": 1, "pages_per_fault": 1})
    live = replace(general, id="live", runs=(RunSpec("threads", {"threads": 4}),),
                   bound={"formula": "thread_cache", "threads": "threads", "plus_threads": 1,
                          "pages_per_fault": 1})
    runs = [obs(vmrss_kib=4000 - 10 * 4),
            obs(scenario="threads", params={"threads": 4, "pages": 63, "mode": "serial"},
                vmrss_kib=4000 - 300 * 4)]
    r = doctor.assess_battery("6.1", 2, split, [general, live], runs, 0.1)
    vmrss = next(m for m in r.metrics if m.info.name == "vmrss_kib")
    assert vmrss.verdict is Verdict.HOLDS and len(vmrss.assessments) == 2
    assert vmrss.worst_kib == -40 and vmrss.bound is not None
    assert vmrss.bound.claim_id == "general"
    bad = doctor.assess_battery("6.1", 2, split, [general, live],
                                [runs[0], replace(runs[1], vmrss_kib=4000 - 400 * 4)], 0.1)
    assert bad.status == doctor.EXIT_CLAIM_FAILED


def test_battery_keeps_only_the_metrics_doctor_reports() -> None:
    all_claims = claims.load(ROOT / "claims")
    specs = doctor.battery(all_claims, PERCPU, 2, 4096)
    assert specs and any(s.cgroup for s in specs)
    wanted = {m.name for m in doctor.METRICS}
    needed = {s.key() for c in all_claims if c.metric in wanted and c.applies(PERCPU, 2)
              for s in c.runs_at(2, 4096, PERCPU)}
    assert {s.key() for s in specs} == needed


# --- on this kernel -----------------------------------------------------------

@pytest.fixture(scope="module")
def report(bin_dir: Path) -> doctor.DoctorReport:
    return doctor.run(repeat=2, root=ROOT)


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
def test_host_states_follow_the_runs(report: doctor.DoctorReport) -> None:
    check_states(report)


def check_states(report: doctor.DoctorReport) -> None:
    assert not report.problems, report.problems
    for m in report.metrics:
        if m.state in ("not available here", "not run"):
            assert not m.info.common or m.unavailable, f"{m.info.name}: {m.state}"
            continue
        assert m.verdict not in (Verdict.BROKEN, Verdict.CONTRADICTED), "\n".join(
            a.explain() for a in m.assessments)
        errors = [c.err_pages for a in m.assessments for c in a.checks]
        assert errors, m.info.name
        allowed_zero = m.bound is not None and m.bound.exact
        if m.state == "exact":
            assert allowed_zero and all(e == 0 for e in errors), m.info.name
        else:
            assert not allowed_zero or any(e != 0 for e in errors), m.info.name
    common_inexact = any(m.info.common and m.state == "approximate" for m in report.metrics)
    assert report.status == (doctor.EXIT_INACCURATE if common_inexact else doctor.EXIT_EXACT)


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
def test_cli_json_status_is_the_exit_status(bin_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "rsslab.cli", "doctor", "--json",
                           "--repeat", "1"], capture_output=True, text=True, timeout=300)
    doc = json.loads(proc.stdout)
    assert proc.returncode == doc["status"], proc.stderr
    assert {m["metric"] for m in doc["metrics"]} == {m.name for m in doctor.METRICS}
    known = {c.id for c in claims.load(ROOT / "claims")}
    for m in doc["metrics"]:
        if m["bound"]:
            assert m["bound"]["claim"] in known
        assert m["exact"] == (m["state"] == "exact")


def _run_guest_kernel() -> list[object]:
    import guests

    return [pytest.param(n, id=n, marks=pytest.mark.guest) for n in guests.KERNEL_NAMES[-1:]]


@pytest.mark.parametrize("name", _run_guest_kernel())
def test_doctor_in_a_guest(name: str, bin_dir: Path) -> None:
    """`rsslab doctor --kernel NAME`: the same battery through the matrix
    runner, in a guest of its own (the newest test kernel; the others are
    assessed on the session's shared guests below)."""
    from rsslab import kernels, kversion, paths
    kernel = kernels.resolve(name, paths.cache_dir())
    report = doctor.run_guest(name, 2, repeat=1, root=ROOT)
    assert report.kernel == name and report.ncpus == 2 and report.runs > 0
    assert kversion.parse(report.kernel_release)[:2] == kversion.parse(kernel.upstream)[:2]
    check_states(report)


def _test_guests() -> list[object]:
    import guests

    return [pytest.param(lb, n, c, id=lb, marks=pytest.mark.guest)
            for lb, n, c in guests.labels()]


@pytest.mark.parametrize(("label", "name", "ncpus"), _test_guests())
def test_doctor_on_each_test_guest(label: str, name: str, ncpus: int,
                                   guest_outcomes: Callable[[], dict[str, matrix.Outcome]]
                                   ) -> None:
    """Doctor's assessment of its battery on the runs of each test guest
    (booted once per session, for every test that reads it): the battery is
    the plan of the claims on doctor's metrics, which the matrix's plan holds.
    At the wide CPU counts every claim is decided and holds, with the bounds
    of that many CPUs."""
    import guests

    out = guests.outcome(guest_outcomes(), label, name)
    assert not out.error, out.error
    all_claims = claims.load(ROOT / "claims")
    specs = doctor.battery(all_claims, out.features, ncpus, qemu.PAGE_SIZE)
    have = {RunSpec(r.scenario, dict(r.params)).key()[:2] for r in out.runs}
    assert {s.resolved().key()[:2] for s in specs} <= have, "the matrix ran less than doctor"
    report = doctor.assess_battery(name, ncpus, out.features, all_claims, out.runs,
                                   out.seconds, out.problems, doctor.no_cgroup(out.runs))
    assert report.ncpus == ncpus and report.runs > 0
    check_states(report)
    if ncpus not in guests.WIDE.get(name, []):
        return
    assert all(a.holds for m in report.metrics for a in m.assessments), "\n".join(
        a.explain() for m in report.metrics for a in m.assessments if not a.holds)
    for m in report.metrics:
        if m.bound is not None and m.bound.claim_id.startswith("percpu-") and not m.bound.exact:
            assert m.bound.width_kib >= claims.percpu_residue(ncpus, 1) * 4, m.info.name


@pytest.mark.skipif(not shutil.which("strace"),
                    reason="needs strace: apt-get install strace")
@pytest.mark.host
def test_doctor_without_ptrace_says_so_in_one_line(bin_dir: Path) -> None:
    proc = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", sys.executable, "-m",
                           "rsslab.cli", "doctor"], capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err
    assert "ptrace denied" in err and "Traceback" not in err


def _traced(**kw: object) -> Observation:
    return replace(Observation("host", "6.18.0", "", 2, "touch", {"pages": 100}, 4096), **kw)


def test_exact_peak_says_whether_measure_gets_it_and_what_to_do(tmp_path: Path) -> None:
    """Available where the kernel sums in kmem:rss_stat and the runs read it;
    otherwise the reason, and what to do."""
    summing = frozenset({"percpu-rss", "rss-stat-sum"})
    read = _traced(rss_stat_peak_kib=1104, rss_stat_events=120, rss_stat_lost=0)
    e = doctor.exact_peak(summing, [read], tmp_path)
    assert e.available and "rss-stat" in e.how
    old = doctor.exact_peak(frozenset({"split-rss", "rss-stat-shared"}), [read], tmp_path)
    assert not old.available and "6.2" in old.how and "exit stops" in old.advice
    why = "tracefs is not mounted at /sys/kernel/tracing"
    e = doctor.exact_peak(summing, [_traced(rss_stat_unavailable=why)], tmp_path)
    assert not e.available and e.how == why and "mount -t tracefs" in e.advice
    (tmp_path / "instances").mkdir()
    e = doctor.exact_peak(summing, [_traced(rss_stat_unavailable="no root")], tmp_path)
    assert not e.available and "mount" not in e.advice
