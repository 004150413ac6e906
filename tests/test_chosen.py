"""Chosen runs (--scenario/--param) on any kernel: the claims whose every run
was made are shown with their stored verdicts, the others that apply are
listed as not checked."""

from __future__ import annotations

from dataclasses import replace

from rsslab import claims as claims_mod
from rsslab.claims import Claim, Verdict, regimes
from rsslab.kernels import Kernel
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import chosen, matrix

SEED = RunSpec("seed").resolved()
SEED_64 = RunSpec("seed", {"input_kib": 64}).resolved()
TOUCH = RunSpec("touch", {"pages": 1000}).resolved()


def obs(spec: RunSpec, **kw: object) -> Observation:
    base = Observation(kernel="6.1", kernel_release="6.1.0-56-amd64", kernel_version="",
                       ncpus=2, scenario=spec.scenario, params=dict(spec.params),
                       page_size=4096, smaps_rss_kib=828, vmhwm_kib=828)
    return replace(base, **kw)  # type: ignore[arg-type]


def claim(cid: str, *runs: RunSpec, regimes_: tuple[str, ...] = ()) -> Claim:
    return Claim(id=cid, says="s", metric="vmhwm_kib", reference=("smaps_rss_kib",),
                 bound={"formula": "exact"}, runs=runs, regimes=regimes_)


def test_a_claim_is_covered_only_when_all_its_runs_were_made() -> None:
    runs = [obs(SEED)]
    assert chosen.covered(claim("a", SEED), runs)
    assert not chosen.covered(claim("b", SEED, TOUCH), runs)
    assert not chosen.covered(claim("c", SEED), [obs(SEED_64)])


def test_a_cgroup_run_needs_the_cgroup_peak() -> None:
    cg = replace(SEED, cgroup=True)
    assert not chosen.covered(claim("a", cg), [obs(SEED)])
    assert chosen.covered(claim("a", cg), [obs(SEED, cgroup_version=2, cgroup_peak_kib=900)])


def _coverage(label: str, runs: list[Observation], claims: list[Claim],
              features: frozenset[str]) -> chosen.Coverage:
    """The coverage of the runs, with the verdicts a saved result set of them gets."""
    stored = claims_mod.assess_all(claims, runs, features, label, 2)
    return chosen.coverage(label, runs, stored, claims, features, 2)


def test_coverage_splits_the_claims_that_apply() -> None:
    claims = [claim("whole", SEED), claim("part", SEED, TOUCH), claim("other", TOUCH),
              claim("elsewhere", SEED, regimes_=("percpu-rss",))]
    cov = _coverage("6.1-smp2", [obs(SEED)], claims, frozenset({"split-rss"}))
    assert [a.claim.id for a in cov.assessed] == ["whole"]
    assert all(a.holds for a in cov.assessed)
    assert [c.id for c in cov.not_checked] == ["part", "other"]
    line = chosen.not_checked_line(cov)
    assert line.startswith("6.1-smp2: not checked (2 claims") and line.endswith("part, other")


def test_a_covered_claim_can_be_contradicted() -> None:
    cov = _coverage("6.1-smp2", [obs(SEED, vmhwm_kib=4)], [claim("whole", SEED)], frozenset())
    assert cov.assessed[0].verdict is Verdict.CONTRADICTED


def test_a_guest_runs_the_chosen_specs_and_the_probe() -> None:
    target = matrix.Target(Kernel("6.1", None, "6.1.192"), 2)
    plan = chosen.planner([SEED_64])(target, [], [])
    assert {s.key() for s in plan} == {SEED_64.key(), regimes.PROBE_RUN.resolved().key()}


def test_the_probe_is_shown_only_when_chosen() -> None:
    probe = regimes.PROBE_RUN.resolved()
    runs = [obs(SEED_64), obs(probe)]
    assert chosen.only_chosen(runs, [SEED_64]) == (runs[0],)
    assert chosen.only_chosen(runs, [SEED_64, probe]) == tuple(runs)
