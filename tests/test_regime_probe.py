"""The status probe: status-sum or status-approx by behaviour, the version
as the fallback.

82241a83cd15 reached 6.6.99, 6.12.39 and 6.15.7, and a backport can reach
any distribution kernel, so ``regimes.features`` reads the regime probe's
run (``touch pages=16``): /proc/PID/stat's rss is the folded part of the
per-CPU counters; where it falls short of smaps_rollup, a summing status
equals smaps_rollup and a non-summing one equals stat's rss.

``data/runs/doctor-linux-6.18.json`` holds ``rsslab doctor``'s battery for
both status regimes and the probe, recorded as flat records on a 2-CPU
Linux 6.18.44 host (a summing kernel).  Claims added since are left out of
the doctor test until it is recorded again, on a summing host::

    .venv/bin/python -c 'import sys; sys.path.insert(0, "tests"); \
        import test_regime_probe as t; t.record()'
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from rsslab import claims as claims_mod
from rsslab.claims import regimes
from rsslab.judges import doctor
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import host

ROOT = Path(__file__).resolve().parents[1]
RECORDED = Path(__file__).resolve().parent / "data" / "runs" / "doctor-linux-6.18.json"
SUM = frozenset({"percpu-rss", "status-sum", "rss-stat-sum"})
APPROX = frozenset({"percpu-rss", "status-approx", "rss-stat-sum"})


def recorded() -> list[Observation]:
    return [Observation.from_flat(d) for d in json.loads(RECORDED.read_text())]


def record(out: Path = RECORDED) -> None:  # pragma: no cover - by hand, on a host
    """Record the doctor battery of both status regimes and the probe on
    this host (see above)."""
    from rsslab import paths
    from rsslab.plan import merge
    from rsslab.run import planner
    from rsslab.run.build import build_all
    bin_dir = paths.build_dir(ROOT) / "bin"
    build_all(ROOT, bin_dir)
    cs = claims_mod.load(ROOT / "claims", doctor.DEFAULT_REPEAT)
    n = planner.host_cpus()
    specs = merge([*doctor.battery(cs, SUM, n), *doctor.battery(cs, APPROX, n),
                   regimes.PROBE_RUN])
    runs = host.run_specs(bin_dir, specs, "host")
    out.write_text("[" + ",\n ".join(json.dumps(r.to_flat()) for r in runs) + "]\n")


def the_probe(runs: Iterable[Observation]) -> Observation:
    key = regimes.PROBE_RUN.resolved().key()[:2]
    return next(r for r in runs if (r.scenario, tuple(sorted((k, str(v)) for k, v in
                                                            r.params.items()))) == key)


def as_unsummed(o: Observation) -> Observation:
    """The same run as a kernel without 82241a83cd15 shows it: task_mem()
    and task_statm() read get_mm_counter(), the folded part, which is what
    /proc/PID/stat's rss (get_mm_rss()) read in this very run."""
    assert o.stat_rss_kib is not None
    return replace(o, vmrss_kib=o.stat_rss_kib, statm_rss_kib=o.stat_rss_kib)


def with_release(runs: Iterable[Observation], release: str) -> list[Observation]:
    return [replace(r, kernel_release=release, kernel_version="") for r in runs]


def test_the_recorded_probe_left_pages_unfolded() -> None:
    """Otherwise the recording could not test the probe at all."""
    p = the_probe(recorded())
    assert p.stat_rss_kib is not None and p.smaps_rss_kib is not None
    assert p.stat_rss_kib < p.smaps_rss_kib == p.vmrss_kib == p.statm_rss_kib


@pytest.mark.parametrize("release", ["6.6.99", "6.6.98", "6.12.20", "6.15.6", "6.18.44"])
def test_the_probe_decides_status_at_any_version(root: Path, release: str) -> None:
    regs = regimes.load(root / "claims")
    p = the_probe(recorded())
    assert regimes.features(regs, release, "", p) == SUM
    assert regimes.features(regs, release, "", as_unsummed(p)) == APPROX


@pytest.mark.parametrize(("release", "expected"), [
    ("6.6.98", APPROX), ("6.6.99", SUM), ("6.7.0", APPROX), ("6.12.38", APPROX),
    ("6.12.39", SUM), ("6.13.0", APPROX), ("6.15.6", APPROX), ("6.15.7", SUM),
    ("6.16.0", SUM), ("7.3.4", SUM)])
def test_the_version_decides_where_the_probe_cannot(root: Path, release: str,
                                                     expected: frozenset[str]) -> None:
    regs = regimes.load(root / "claims")
    p = the_probe(recorded())
    nothing_unfolded = replace(p, stat_rss_kib=p.smaps_rss_kib)
    neither = replace(p, vmrss_kib=(p.smaps_rss_kib or 0) - 4)
    for probe in (None, nothing_unfolded, neither):
        assert regimes.features(regs, release, "", probe) == expected


def test_a_declared_status_regime_is_not_overruled(root: Path) -> None:
    """6.12-nosum declares status-approx (82241a83cd15 reverted): the
    declaration stands whatever the probe reads."""
    regs = regimes.load(root / "claims")
    p = the_probe(recorded())
    assert regimes.features(regs, "6.12.118", "", p, ("status-approx",),
                            ("status-sum",)) == APPROX


def test_the_split_kernels_are_left_to_their_own_probe(root: Path) -> None:
    regs = regimes.load(root / "claims")
    p = the_probe(recorded())
    assert regimes.features(regs, "6.1.0-57-amd64", "", p) == {"rss-stat-shared"}


def _replay(runs: list[Observation]):  # type: ignore[no-untyped-def]
    def run_specs(bin_dir: Path, specs: Iterable[RunSpec], kernel: str = "host",
                  progress: object = None, cgroup_flag: str = "") -> list[Observation]:
        out = []
        for spec in specs:
            key = spec.resolved().key()[:2]
            out += [r for r in runs
                    if (r.scenario, tuple(sorted((k, str(v)) for k, v in r.params.items())))
                    == key][:spec.repeat]
        return out
    return run_specs


@pytest.mark.parametrize("release", ["6.6.99", "6.6.98"])
def test_doctor_on_a_summing_6_6_host(root: Path, release: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A 6.6 host that sums: host_regimes runs the probe and classes it
    status-sum, and doctor's claims hold (exit 0 or 1).  Classed by its
    version alone, 6.6.98 would be status-approx, and its status-approx
    claims would come out contradicted (exit 3)."""
    runs = with_release(recorded(), release)
    fake = os.uname_result(("Linux", "host", release, "#1 SMP", "x86_64"))
    monkeypatch.setattr(host.os, "uname", lambda: fake)
    monkeypatch.setattr(host, "run_specs", _replay(runs))
    regs = regimes.load(root / "claims")
    feats = host.host_regimes(regs, Path("/nonexistent"))
    assert feats == SUM
    # The claims doctor judges whose runs the recording holds (a claim
    # added since it was recorded is left out until it is recorded again).
    ncpus = runs[0].ncpus
    have = {(r.scenario, tuple(sorted((k, str(v)) for k, v in r.params.items()))) for r in runs}
    cs = claims_mod.load(root / "claims", doctor.DEFAULT_REPEAT)

    def covered(features: frozenset[str]) -> list[claims_mod.Claim]:
        out = []
        for c in cs:
            specs = doctor.battery([c], features, ncpus, runs[0].page_size)
            if specs and all(s.resolved().key()[:2] in have for s in specs):
                out.append(c)
        assert len(out) >= 10
        return out

    report = doctor.assess_battery("host", ncpus, feats, covered(feats), runs, 0.1)
    assert report.status in (doctor.EXIT_EXACT, doctor.EXIT_INACCURATE), report.problems
    by_version = regimes.features(regs, release, "", None)
    if by_version == APPROX:
        wrong = doctor.assess_battery("host", ncpus, APPROX, covered(APPROX), runs, 0.1)
        assert wrong.status == doctor.EXIT_CLAIM_FAILED
