"""Bound formulas and claim evaluation on made-up observations."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from rsslab import claims
from rsslab.claims import Claim, interval, regimes
from rsslab.plan import RunSpec
from rsslab.results import Observation

PERCPU = frozenset({"percpu-rss", "status-sum"})
SPLIT = frozenset({"split-rss"})


def obs(**kw: object) -> Observation:
    base = Observation(kernel="k", kernel_release="6.18.0", kernel_version="", ncpus=2,
                       scenario="touch", params={"pages": 1000}, page_size=4096,
                       smaps_rss_kib=4000, exec_floor_kib=400)
    return replace(base, **kw)  # type: ignore[arg-type]


def claim(**kw: object) -> Claim:
    base = Claim(id="c", says="s", metric="vmrss_kib", reference=("smaps_rss_kib",),
                 bound={"formula": "exact"}, runs=(RunSpec("touch", {"pages": 1000}),))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_mechanism_constants() -> None:
    assert claims.events_per_sync() == 66
    assert claims.fault_around_pages(4096) == 16 and claims.fault_around_pages(65536) == 1
    assert [claims.percpu_batch(n) for n in (1, 2, 16, 17, 64)] == [32, 32, 32, 34, 128]
    assert claims.percpu_residue(2, 3) == 186 and claims.percpu_residue(64, 1) == 8128


def test_intervals_follow_the_observation() -> None:
    b = {"formula": "percpu_residue", "counters": 3, "direction": "either"}
    assert interval(b, obs(ncpus=2), PERCPU).lo == -186
    assert interval(b, obs(ncpus=8), PERCPU).hi == 3 * 8 * 31
    tc = {"formula": "thread_cache", "threads": 1, "pages_per_fault": "fault_around"}
    assert interval(tc, obs(), SPLIT).lo == -66 * 16
    re = {"formula": "regime_error", "direction": "not_below"}
    assert interval(re, obs(), SPLIT).lo == -66 * 16 and interval(re, obs(), PERCPU).lo == -186


def test_unsynced_faults_needs_its_premise() -> None:
    b = {"formula": "unsynced_faults", "faulted": "seed_buffer", "pages_per_fault": 1}
    seed = obs(scenario="seed", params={"input_kib": 128}, faults_since_exec=40)
    iv = interval(b, seed, SPLIT)
    assert (iv.lo, iv.hi) == (-66, -32)
    # The first fold after execve comes on the 66th fault (events_per_sync()).
    assert not interval(b, replace(seed, faults_since_exec=65), SPLIT).premise_failed
    assert interval(b, replace(seed, faults_since_exec=66), SPLIT).premise_failed


def test_exceeds_one_cpu_needs_an_error_beyond_one_cpu() -> None:
    c = claim(metric="stat_rss_kib", bound={"formula": "percpu_residue", "counters": 3},
              exceeds={"formula": "one_cpu_residue", "counters": 3})
    four = obs(ncpus=4, smaps_rss_kib=4000)
    # One CPU holds at most 3 x (32 - 1) = 93 pages with 4 CPUs online.
    assert not claims.assess(c, [replace(four, stat_rss_kib=4000 - 93 * 4)], PERCPU, "k").holds
    assert claims.assess(c, [replace(four, stat_rss_kib=4000 - 94 * 4)], PERCPU, "k").holds


def test_unsynced_faults_with_pages_a_driver_inserted() -> None:
    """Pages put in the cache without a fault move both ends of the bound."""
    b = {"formula": "unsynced_faults", "faulted": 0, "inserted": "pages",
         "pages_per_fault": "fault_around"}
    ring = obs(scenario="packet_ring", params={"pages": 2112}, faults_since_exec=40)
    iv = interval(b, ring, SPLIT)
    assert (iv.lo, iv.hi) == (-66 * 16 - 2112, -2112)
    assert interval(b, replace(ring, faults_since_exec=66), SPLIT).premise_failed


def test_thread_cache_plus_threads_and_clamped_caches() -> None:
    live = obs(scenario="threads_exit_group", params={"threads": 4, "pages": 63})
    tc = {"formula": "thread_cache", "threads": "threads", "plus_threads": 1, "pages_per_fault": 1}
    assert interval(tc, live, SPLIT).lo == -5 * 66
    cow = obs(scenario="cow_other_unmaps", params={"writers": 4, "pages": 60})
    cc = {"formula": "clamped_caches", "threads": "writers", "pages_per_fault": "fault_around"}
    iv = interval(cc, cow, SPLIT)
    assert (iv.lo, iv.hi) == (-5 * 66 * 16, 4 * 66)


def test_above_claim_needs_one_run_above_its_reference() -> None:
    c = claim(metric="stat_rss_kib", above=True,
              bound={"formula": "percpu_residue", "counters": 3, "direction": "either"})
    below = claims.assess(c, [obs(stat_rss_kib=4000), obs(stat_rss_kib=3996)], PERCPU, "k")
    assert not below.holds and "never read above" in below.explain()
    assert claims.assess(c, [obs(stat_rss_kib=3996), obs(stat_rss_kib=4004)], PERCPU, "k").holds


def test_exceeds_one_thread_cache() -> None:
    c = claim(metric="rss_anon_kib", reference=("smaps_anon_kib",),
              bound={"formula": "thread_cache", "threads": 5, "pages_per_fault": 1},
              exceeds={"formula": "thread_cache", "threads": 1, "pages_per_fault": 1})
    one = obs(smaps_anon_kib=2000, rss_anon_kib=2000 - 66 * 4)
    bad = claims.assess(c, [one], SPLIT, "k")
    assert not bad.holds and "1 thread's cache (66 pages)" in bad.explain()
    assert claims.assess(c, [replace(one, rss_anon_kib=2000 - 67 * 4)], SPLIT, "k").holds


def test_exact_claim_passes_and_fails_on_one_page() -> None:
    c = claim()
    assert claims.assess(c, [obs(vmrss_kib=4000)], PERCPU, "k").holds
    bad = claims.assess(c, [obs(vmrss_kib=4004)], PERCPU, "k")
    assert not bad.holds and "+1 pages" in bad.explain()


def test_inexact_claim_needs_one_inexact_run() -> None:
    c = claim(metric="stat_rss_kib", inexact=True,
              bound={"formula": "percpu_residue", "counters": 3, "direction": "either"})
    assert not claims.assess(c, [obs(stat_rss_kib=4000)] * 3, PERCPU, "k").holds
    assert claims.assess(c, [obs(stat_rss_kib=4000), obs(stat_rss_kib=3900)], PERCPU, "k").holds


def test_a_value_the_runs_do_not_report_is_broken_and_no_runs_undecided() -> None:
    """A run without the claim's metric is the claim's fault (TBROK), never
    the kernel's (TFAIL); a claim none of whose runs was made is not decided."""
    v = claims.assess(claim(), [obs()], PERCPU, "k")
    assert v.verdict is claims.Verdict.BROKEN and "no vmrss_kib" in v.explain()
    assert "broken" in v.explain() and "contradicted" not in v.explain()
    v = claims.assess(claim(), [obs(params={"pages": 5})], PERCPU, "k")
    assert v.verdict is claims.Verdict.UNDECIDED and "no observations" in v.explain()
    # A run outside the bound on one run and a missing value on another: the worse wins.
    both = claims.assess(claim(), [obs(), obs(vmrss_kib=4004)], PERCPU, "k")
    assert both.verdict is claims.Verdict.CONTRADICTED


def test_summed_reference_and_floor_premise() -> None:
    o = obs(report={"a_kib": 100, "b_kib": 50}, vmrss_kib=150)
    assert claims.reference_value(o, "a_kib + b_kib") == 150
    c = claim(reference=("a_kib + b_kib",))
    assert claims.assess(c, [o], PERCPU, "k").holds



def test_the_floor_check_uses_the_claims_own_bound() -> None:
    """ru_maxrss is max(floor, counters): a run decides a claim only when a
    value just below the claim's lower bound would show above the floor."""
    exact = claim(metric="wait4_maxrss_kib", floor_below_reference=True)
    # An exact claim needs only a floor below the reference ...
    assert claims.assess(exact, [obs(wait4_maxrss_kib=4000, exec_floor_kib=3996)],
                           PERCPU, "k").holds
    v = claims.assess(exact, [obs(wait4_maxrss_kib=4000, exec_floor_kib=4000)], PERCPU, "k")
    assert v.verdict is claims.Verdict.UNDECIDED and "cannot decide" in v.explain()
    # ... a bound of +-186 pages (2 CPUs) a floor below reference - 744 KiB.
    approx = replace(exact, bound={"formula": "percpu_residue", "counters": 3})
    assert claims.assess(approx, [obs(wait4_maxrss_kib=3900, exec_floor_kib=4000 - 745)],
                           PERCPU, "k").holds
    v = claims.assess(approx, [obs(wait4_maxrss_kib=3900, exec_floor_kib=4000 - 744)],
                        PERCPU, "k")
    assert v.verdict is claims.Verdict.UNDECIDED
    # A value outside the bound contradicts the claim, whatever the floor.
    v = claims.assess(approx, [obs(wait4_maxrss_kib=4000 - 748, exec_floor_kib=3900)],
                        PERCPU, "k")
    assert v.verdict is claims.Verdict.CONTRADICTED


def test_no_inexact_run_contradicts_an_inexact_claim() -> None:
    c = claim(metric="stat_rss_kib", inexact=True,
              bound={"formula": "percpu_residue", "counters": 3, "direction": "either"})
    assert claims.assess(c, [obs(stat_rss_kib=4000)], PERCPU, "k").verdict \
        is claims.Verdict.CONTRADICTED
    assert claims.assess(claim(), [], PERCPU, "k").verdict is claims.Verdict.UNDECIDED


@pytest.mark.parametrize("ncpus", [1, 2, 3, 16, 17, 64, 100, 128, 255, 256])
def test_sized_runs_clear_the_bound_and_floor_at_any_cpu_count(root: Path, ncpus: int) -> None:
    """Every run of a claim with a floor is sized so that its faulted pages
    pass the claim's own lower bound plus the floor allowance."""
    allowance = claims.floor_allowance_pages(4096)
    for c in claims.load(root / "claims"):
        if not c.floor_below_reference:
            continue
        feats = PERCPU if "percpu-rss" in c.regimes else SPLIT
        lo = interval(c.bound, replace(obs(), ncpus=ncpus), feats).lo
        for run in c.runs_at(ncpus, 4096, feats):
            faulted = scenario_pages(run, ncpus)
            assert faulted >= -lo + allowance, (c.id, ncpus, run.describe())


def scenario_pages(run: RunSpec, ncpus: int) -> int:
    from rsslab import scenarios
    return scenarios.get(run.scenario).pages(run.params, ncpus) - (
        16 * (int(run.params.get("threads", 0)) if run.scenario == "threads" else 0)
        + (16 * ncpus if run.scenario == "cpu_spread" else 0))


def test_size_formulas() -> None:
    from rsslab.claims import sizing
    names = {"ncpus": 64, "batch": 128, "bound": 24384, "floor": 256, "page_kib": 4}
    assert sizing.evaluate("bound + floor + 1", names) == 24641
    assert sizing.evaluate("(bound + floor) // 16 + 1", names) == 1541
    assert sizing.evaluate("max(63, batch // 2)", names) == 64
    for bad in ("bound ** 2", "__import__('os')", "pages + 1", "1 +"):
        with pytest.raises(claims.UserError):
            sizing.evaluate(bad, names)


def test_a_size_formula_is_checked_when_claims_load(tmp_path: Path, root: Path) -> None:
    text = (root / "claims" / "percpu.toml").read_text().replace(
        '"bound + floor + 1"', '"bound + flor"', 1)
    (tmp_path / "percpu.toml").write_text(text)
    shutil.copy(root / "claims" / "regimes.toml", tmp_path)
    with pytest.raises(claims.UserError, match="percpu.toml: percpu-"):
        claims.load(tmp_path)


def test_a_spread_below_the_batch_folds_no_anonymous_page() -> None:
    b = {"formula": "spread_unfolded"}
    spread = obs(scenario="cpu_spread", ncpus=64, params={"pages": 64},
                 report={"cpus": 64}, smaps_anon_kib=(64 * 64 + 40) * 4)
    iv = interval(b, spread, PERCPU)
    assert (iv.lo, iv.hi) == (-claims.INF, 0) and not iv.premise_failed
    # 64 + 64 other anonymous pages reach the batch of 128: no claim then.
    crowded = replace(spread, smaps_anon_kib=(64 * 64 + 64) * 4)
    assert interval(b, crowded, PERCPU).premise_failed
    assert interval(b, replace(spread, ncpus=16, report={"cpus": 16},
                               smaps_anon_kib=(16 * 64 + 40) * 4), PERCPU).premise_failed


def test_applicability() -> None:
    c = claim(regimes=("percpu-rss",), unless=("maxrss-sum",), min_cpus=2)
    assert c.applies(PERCPU, 2) and not c.applies(PERCPU, 1)
    assert not c.applies(PERCPU | {"maxrss-sum"}, 2) and not c.applies(SPLIT, 2)


def test_claim_files_load_and_cite(root: Path) -> None:
    loaded = claims.load(root / "claims")
    assert loaded
    for c in loaded:
        assert c.tags, f"{c.id} cites nothing"
        for t in c.tags:
            if t.kind == "linux-git":
                assert len(t.ref) == 40, f"{c.id}: use full hashes"
            if t.kind == "source":
                assert ":" in t.ref and "@v" in t.ref, f"{c.id}: file:function@version"
        assert c.bound["formula"], c.id


def test_unknown_formula_is_a_user_error() -> None:
    with pytest.raises(claims.UserError):
        interval({"formula": "fitted"}, obs(), PERCPU)


def _probe(vmrss_kib: int) -> Observation:
    """The regime probe's run: 16 pages touched, smaps_rollup saw them all."""
    return Observation("k", "6.1.0-56-amd64", "", 2, "touch", {"pages": 16}, 4096,
                       vmrss_kib=vmrss_kib, smaps_rss_kib=800, faults_since_exec=40)


def test_the_probe_decides_split_rss_unless_a_declared_regime_vouches(root: Path) -> None:
    regs = regimes.load(root / "claims")
    missed, seen = _probe(800 - 64), _probe(800)
    shared = {"rss-stat-shared"}  # by version alone: 5.5 .. 6.2
    assert regimes.features(regs, "6.1.0-56-amd64", "", missed) == {"split-rss"} | shared
    assert regimes.features(regs, "6.1.0-56-amd64", "", seen) == shared
    # The patch folds the caches before the exit stop, where the probe looks.
    assert regimes.features(regs, "6.1.0-56-amd64", "", seen, ("exit-stop-synced",)) == {
        "split-rss", "exit-stop-synced"} | shared
    # A revert declared absent is taken away, a regime declared is added.
    assert regimes.features(regs, "6.12.117", "", None, ("status-approx",),
                            ("status-sum",)) == {"percpu-rss", "status-approx", "rss-stat-sum"}
