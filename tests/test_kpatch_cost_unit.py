"""The cost and contention benchmark's plan, parsing and tables, and the
series' variants, on made-up samples (no kernel booted)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rsslab.errors import UserError
from rsslab.kernels import Kernel
from rsslab.kernels import specs as spec
from rsslab.series.kernel import cli as kernel_cli
from rsslab.series.kernel import cost, guestrun
from rsslab.series.kernel import run as kernel


def _k(name: str) -> Kernel:
    return Kernel(name, Path(f"/x/{name}"), "7.3.4")


def test_boot_order_rotates_so_no_kernel_always_boots_first() -> None:
    ks = [_k("b"), _k("p"), _k("v")]
    firsts = [cost.boot_order(ks, r)[0].name for r in range(3)]
    assert firsts == ["b", "p", "v"]
    assert [k.name for k in cost.boot_order(ks[:2], 1)] == ["p", "b"]


def test_the_plan_runs_kcontend_only_when_asked() -> None:
    plain = cost.commands()
    both = cost.commands(contend=True)
    assert not any(c.argv[0] == "/bin/kcontend" for c in plain)
    readers = [c.argv[2] for c in both if c.argv[0] == "/bin/kcontend"]
    assert readers == list(cost.READERS) * cost.REPEATS


def _result(argv: tuple[str, ...], output: str) -> guestrun.CommandResult:
    return guestrun.CommandResult(guestrun.Command(argv, "/tmp/o"), 0, output, "")


def test_a_contention_run_gives_the_fault_and_the_call_time() -> None:
    out = ('{"test":"contend","reader":"self","faults":10240,"ns_per_fault":3000.5,'
           '"reader_calls":100,"ns_per_call":2500.0}')
    samples = cost.parse("k", 64, [_result(("/bin/kcontend", "/tmp/o", "self"), out)])
    assert [(s.test, s.ns_per_op) for s in samples] == [("contend_self", 3000.5),
                                                         ("call_self", 2500.0)]


def _samples() -> list[cost.Sample]:
    out = []
    for k, extra in (("b", 0.0), ("p", 2000.0), ("v", 6000.0)):
        for n in (1, 64):
            for x in (0.0, 1000.0, 2000.0):
                out.append(cost.Sample(k, n, "fork_exit", 200_000 + x + extra * n / 64))
            if n == 64:
                out.append(cost.Sample(k, n, "contend_children", 3000.0))
                out.append(cost.Sample(k, n, "contend_self", 3000.0 + extra / 100))
                out.append(cost.Sample(k, n, "call_self", 500.0 + extra))
    return out


def test_spread_is_the_range_over_the_median() -> None:
    assert cost.spread([100.0, 101.0, 103.0]) == pytest.approx(0.0297, abs=1e-4)
    assert cost.max_spread(_samples(), ("fork_exit",)) == pytest.approx(2000 / 201_000)


def test_design_table_shows_what_each_design_adds() -> None:
    t = cost.design_table(_samples(), "b", [("p", "one pass"), ("v", "three passes")])
    row64 = next(ln for ln in t.splitlines() if ln.split()[0] == "64")
    assert "+2.00 us  +1.0%" in row64 and "+6.00 us  +3.0%" in row64
    assert max(len(ln) for ln in t.splitlines()) <= 72


def test_contention_table_is_relative_to_the_first_kernel() -> None:
    t = cost.contention_table(_samples(), [("b", "base"), ("p", "one pass"),
                                           ("v", "three passes")])
    lines = t.splitlines()
    chld = next(ln for ln in lines if "getrusage(CHLD)" in ln).split()
    assert chld[-4:] == ["3.00", "us", "1.000", "1.000"]
    self_ = next(ln for ln in lines if "fault; getrusage(SELF)" in ln).split()
    assert self_[-2:] == [f"{3020 / 3000:.3f}", f"{3060 / 3000:.3f}"]
    call = next(ln for ln in lines if "call" in ln).split()
    assert call[-4:] == ["0.50", "us", "5.000", "13.000"]
    assert max(len(ln) for ln in lines) <= 72


def test_ratios_carry_each_kernels_spread() -> None:
    r = cost.ratios(_samples(), "b", "p")[0]
    assert (r.test, r.ncpus) == ("fork_exit", 1)
    assert r.base_spread == pytest.approx(2000 / 201_000)
    assert "1.0%" in cost.table([r])


def test_mainline_series_measures_its_first_design_as_a_variant(root: Path) -> None:
    s = {x.name: x for x in spec.load_series(root)}["linux-mainline"]
    assert [v.name for v in s.variants] == ["threepass"]
    v = s.variants[0]
    assert all(p.fixture for p in v.patches if p.name not in {q.name for q in s.patches})
    assert {p.name for p in s.patches} - {p.name for p in v.patches} == {"maxrss-sum"}


def test_a_variant_may_not_add_a_patch_that_could_be_sent(tmp_path: Path, root: Path) -> None:
    kp = tmp_path / "kernelpatches"
    kp.mkdir()
    for f in ("guest.config", "cover-mainline.txt"):
        (kp / f).write_text((root / "kernelpatches" / f).read_text())
    for d in ("maxrss-sum", "maxrss-selftest", "exit-stop-synced"):
        (kp / d).symlink_to(root / "kernelpatches" / d)
    (tmp_path / "claims").symlink_to(root / "claims")
    (kp / "series.toml").write_text(
        '[[series]]\nname = "m"\ndescribe = "d"\ndebian = "x"\npatches = ["maxrss-sum"]\n'
        'cover = "cover-mainline.txt"\nsubject_prefix = "PATCH"\nregime = "maxrss-sum"\n'
        '[[series.variant]]\nname = "other"\npatches = ["exit-stop-synced"]\n')
    with pytest.raises(UserError, match="exit-stop-synced: a variant adds only patches"):
        spec.load_series(tmp_path)


def test_cpu_lists_go_up_to_what_qemu_boots() -> None:
    assert kernel_cli._cpus("1,8,64,128") == (1, 8, 64, 128)
    assert kernel_cli._cpus_or_none("none") == ()
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[1, 255\]"):
        kernel_cli._cpus("256")


def test_bench_values_name_the_gap_when_nothing_was_measured(root: Path) -> None:
    s = {x.name: x for x in spec.load_series(root)}["linux-mainline"]
    v = kernel.bench_values(s, [])
    assert "not measured" in v["design_table"] and "not measured" in v["contention_table"]
    assert kernel.words([1, 8, 64, 128]) == "1, 8, 64 and 128"


def test_others_held_counts_the_full_guests_when_wide_ones_judge_only_the_focus() -> None:
    from dataclasses import replace

    from rsslab.claims import Claim, assess
    from rsslab.plan import RunSpec
    from rsslab.results import Observation
    from rsslab.run import matrix
    from rsslab.series.kernel import proof

    focus = Claim(id="maxrss-sum-wait4-exact", says="s", metric="wait4_maxrss_kib",
                  reference=("smaps_rss_kib",), bound={"formula": "exact"},
                  runs=(RunSpec("touch", {"pages": 1000}),), regimes=("percpu-rss",))
    other = Claim(id="percpu-status-vmrss-exact", says="s", metric="vmrss_kib",
                  reference=("smaps_rss_kib",), bound={"formula": "exact"},
                  runs=(RunSpec("touch", {"pages": 1000}),), regimes=("percpu-rss",))

    def outcome(name: str, n: int, wait4: int, claims: tuple[Claim, ...]) -> matrix.Outcome:
        runs = (Observation(kernel=name, kernel_release="7.3.4", kernel_version="", ncpus=n,
                            scenario="touch", params={"pages": 1000}, page_size=4096,
                            vmrss_kib=4700, smaps_rss_kib=4700, wait4_maxrss_kib=wait4,
                            exec_floor_kib=400),)
        feats = frozenset({"percpu-rss", "status-sum"})
        out = matrix.Outcome(matrix.Target(Kernel(name, Path("/x"), "7.3.4"), n), feats, runs)
        return replace(out, assessments=tuple(assess(c, runs, feats, "") for c in claims))

    base = [outcome("b", 2, 4600, (focus, other)), outcome("b", 128, 0, (focus,))]
    patched = [outcome("p", 2, 4700, (focus, other)), outcome("p", 128, 4700, (focus,))]
    pr = proof.compare([focus], [focus, other], base, patched)
    assert [r.ncpus for r in pr.rows] == [2, 128]
    assert pr.others_held == ("percpu-status-vmrss-exact",)
    assert pr.after_exact and pr.before_inexact


def test_wide_counts_only_for_kernels_built_for_them(root: Path) -> None:
    series = {x.name: x for x in spec.load_series(root)}
    assert kernel.nr_cpus(series["linux-mainline"]) >= 128
    assert kernel.fits(series["linux-mainline"], kernel.WIDE_CPUS) == kernel.WIDE_CPUS
    assert kernel.fits(series["linux-6.1.y"], (2, 4, 64, 128)) == (2, 4, 64)


def test_mainline_messages_use_only_names_a_measured_run_fills(root: Path) -> None:
    """Every ${name} of the mainline cover letter and messages is filled by
    what a run with the cost benchmark produces (plus the tree's names)."""
    from rsslab.series import template
    from rsslab.series.kernel import proof

    s = {x.name: x for x in spec.load_series(root)}["linux-mainline"]
    names = {f"{s.name}-base": 0.0, f"{s.name}-{s.regime}": 1000.0,
             **{f"{s.name}-{v.name}": 3000.0 for v in s.variants}}
    samples = [cost.Sample(k, n, t, 200_000.0 + extra * n)
               for k, extra in names.items() for n in (1, 64)
               for t in ("fork_exit", "fault", "contend_children", "contend_self",
                         "contend_status", "call_self")]
    pr = proof.Proof((), (), (), (), (), ())
    tests = [kernel.SelftestRun(k, 2, 0, "ok 1\n", "") for k in list(names)[:2]]
    costs = cost.ratios(samples, f"{s.name}-base", f"{s.name}-{s.regime}")
    v = kernel.values_for(s, pr, tests, costs, (2, 64), samples)
    used = template.names(s.cover).union(*(template.names(p.message) for p in s.patches))
    assert used - {"base_describe", "base_version"} <= set(v), sorted(used - set(v))
    assert {"claims_table", "bench_table", "design_table", "contention_table"} <= used
    assert "three passes" in v["design_table"] and "64" in v["contention_table"]
