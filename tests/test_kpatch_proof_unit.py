"""The proof's comparison, tables and cost ratios, on made-up outcomes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rsslab.claims import Claim, assess
from rsslab.kernels import Kernel
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import matrix
from rsslab.series.kernel import cost, proof

FOCUS = Claim(id="maxrss-sum-wait4-exact", says="s", metric="wait4_maxrss_kib",
              reference=("smaps_rss_kib",), bound={"formula": "exact"},
              runs=(RunSpec("touch", {"pages": 1000}),), regimes=("percpu-rss",))
OTHER = Claim(id="percpu-status-vmrss-exact", says="s", metric="vmrss_kib",
              reference=("smaps_rss_kib",), bound={"formula": "exact"},
              runs=(RunSpec("touch", {"pages": 1000}),), regimes=("percpu-rss",))


def obs(kernel: str, wait4: int) -> Observation:
    return Observation(kernel=kernel, kernel_release="7.3.4", kernel_version="", ncpus=2,
                       scenario="touch", params={"pages": 1000}, page_size=4096,
                       vmrss_kib=4700, smaps_rss_kib=4700, wait4_maxrss_kib=wait4,
                       exec_floor_kib=400)


def outcome(name: str, regimes: frozenset[str], waits: list[int]) -> matrix.Outcome:
    k = Kernel(name, Path("/x/bzImage"), "7.3.4")
    runs = tuple(obs(name, w) for w in waits)
    feats = frozenset({"percpu-rss", "status-sum"}) | regimes
    out = matrix.Outcome(matrix.Target(k, 2), feats, runs)
    return replace(out, assessments=(assess(OTHER, runs, feats, out.target.label),))


def test_compare_shows_before_after_and_the_rest() -> None:
    base = outcome("m-base", frozenset(), [4700 - 4 * 41, 4700, 4700 - 4 * 7])
    patched = outcome("m-maxrss-sum", frozenset({"maxrss-sum"}), [4700, 4700, 4700])
    pr = proof.compare([FOCUS], [FOCUS, OTHER], [base], [patched])
    assert [(r.before, r.after) for r in pr.rows] == [((-41, 0, -7), (0, 0, 0))]
    assert pr.before_inexact and pr.after_exact and not pr.others_failed
    assert pr.others_held == ("percpu-status-vmrss-exact",)
    table = proof.table(pr)
    assert "wait4 ru_maxrss" in table and "-41 (1/3 exact)" in table and "0 (3/3)" in table
    assert max(len(line) for line in table.splitlines()) <= 72


def test_a_patched_kernel_that_is_not_exact_is_seen() -> None:
    base = outcome("m-base", frozenset(), [4600])
    patched = outcome("m-maxrss-sum", frozenset({"maxrss-sum"}), [4696])
    pr = proof.compare([FOCUS], [FOCUS, OTHER], [base], [patched])
    assert not pr.after_exact


def test_cost_ratios_are_medians_per_test_and_cpu_count() -> None:
    s = [cost.Sample("b", 1, "fork_exit", x) for x in (100.0, 300.0, 110.0)]
    s += [cost.Sample("p", 1, "fork_exit", x) for x in (101.0, 99.0, 111.0)]
    s += [cost.Sample("b", 8, "fault", 10.0), cost.Sample("p", 8, "fault", 10.0)]
    rs = cost.ratios(s, "b", "p")
    assert [(r.test, r.ncpus, r.base_ns, r.patched_ns) for r in rs] == [
        ("fork_exit", 1, 110.0, 101.0), ("fault", 8, 10.0, 10.0)]
    assert rs[1].ratio == 1.0
    table = cost.table(rs)
    assert "fork+exit+wait" in table and "1.000" in table
