"""Every maintained tree, offline: the series definitions, the 5.10 kernel's
name, the claims a kernel without a memory cgroup peak cannot check, and
the summary table of `rsslab patches`.  Nothing here downloads, builds or
boots; tests/test_kpatch_series.py and test_kpatch_proof.py do."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from rsslab import claims, kernels
from rsslab.claims import Claim
from rsslab.cli import summary
from rsslab.debian import sources
from rsslab.errors import UserError
from rsslab.kernels import Kernel, debian
from rsslab.kernels import build as kbuild
from rsslab.kernels import series as series_kernels
from rsslab.kernels import specs as spec
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run.matrix import Outcome, Target
from rsslab.series.kernel import cli as kernel_cli
from rsslab.series.kernel import run as kernel
from rsslab.series.kernel import series

ROOT = Path(__file__).resolve().parents[1]
SERIES = {s.name: s for s in spec.load_series(ROOT)}
NO_PEAK = "no memory cgroup with a peak to create"


# --- the series --------------------------------------------------------------

def test_every_maintained_tree_has_a_series_with_stable_headers() -> None:
    assert list(SERIES) == ["linux-mainline", "linux-6.12.y", "linux-6.1.y", "linux-5.10.y"]
    for name in ("linux-6.12.y", "linux-6.1.y", "linux-5.10.y"):
        s = SERIES[name]
        assert s.subject_prefix == f"PATCH {name.removeprefix('linux-')}"
        assert s.to == ("stable@vger.kernel.org",)
        assert s.cc_recipients_of == "maxrss-sum"
    assert SERIES["linux-mainline"].to == ()


def test_a_user_tree_goes_to_the_series_of_its_version() -> None:
    picks = {v: [s.name for s in SERIES.values() if kernel.for_version(s, v)]
             for v in ("5.10.262", "6.1.192", "6.12.117", "6.18.44", "7.3.4", "5.15.1")}
    assert picks == {"5.10.262": ["linux-5.10.y"], "6.1.192": ["linux-6.1.y"],
                     "6.12.117": ["linux-6.12.y"], "6.18.44": ["linux-mainline"],
                     "7.3.4": ["linux-mainline"], "5.15.1": []}


def test_backports_take_what_they_do_not_say_from_the_mainline_patch() -> None:
    fix, test = SERIES["linux-6.12.y"].patches
    main_fix, main_test = SERIES["linux-mainline"].patches
    assert fix.subject == main_fix.subject and fix.claims == main_fix.claims
    assert test.subject == main_test.subject and test.selftest is not None
    assert main_test.selftest is not None and test.selftest.cflags == ("-Wall", "-Werror")
    assert test.selftest.source == main_test.selftest.source
    # Patch 1: the same sum, from the helper 6.12 has.
    assert [r.function for r in fix.requires] == ["get_mm_counter_sum"]
    assert "get_mm_rss_sum" not in fix.edits[0].text
    assert fix.edits[0].text.count("get_mm_counter_sum(mm, MM_") == 3
    # Patch 2: mainline's test program, byte for byte; no ksft wrapper in 6.12.
    new = {e.file: e.text for e in test.edits if e.kind == "new_file"}
    assert new == {e.file: e.text for e in main_test.edits
                   if e.kind == "new_file" and e.file.endswith(".c")}
    for p in (fix, test):
        assert p.message.startswith("commit <mainline-sha1> upstream.\n\n")
        assert "[ Backport: " in p.message


def test_5_10_y_is_the_6_1_y_change() -> None:
    (p510,), (p61,) = SERIES["linux-5.10.y"].patches, SERIES["linux-6.1.y"].patches
    assert (p510.edits, p510.requires, p510.config, p510.claims, p510.subject) == (
        p61.edits, p61.requires, p61.config, p61.claims, p61.subject)
    assert p510.message != p61.message and "5.10" in p510.message
    assert p510.fingerprint() == p61.fingerprint()


def test_like_must_name_a_plain_patch(tmp_path: Path) -> None:
    kp = tmp_path / "kernelpatches"
    shutil.copytree(ROOT / "kernelpatches", kp)
    shutil.copytree(ROOT / "claims", tmp_path / "claims")
    toml = kp / "maxrss-sum-6.12" / "patch.toml"
    toml.write_text(toml.read_text().replace('like = "maxrss-sum"', 'like = "revert-status-sum"'))
    with pytest.raises(UserError) as e:
        spec.load_series(tmp_path)
    assert "must name a patch that is neither a fixture nor like another" in str(e.value)


def test_cc_recipients_of_must_be_another_series_patch(tmp_path: Path) -> None:
    kp = tmp_path / "kernelpatches"
    shutil.copytree(ROOT / "kernelpatches", kp)
    shutil.copytree(ROOT / "claims", tmp_path / "claims")
    text = (kp / "series.toml").read_text()
    (kp / "series.toml").write_text(text.replace('cc_recipients_of = "maxrss-sum"',
                                                 'cc_recipients_of = "no-such-patch"', 1))
    with pytest.raises(UserError) as e:
        spec.load_series(tmp_path)
    assert "cc_recipients_of = 'no-such-patch' is no patch of another series" in str(e.value)


def test_each_series_names_its_kernels_for_the_matrix() -> None:
    names = series_kernels.names(ROOT)
    assert "linux-6.12.y" in names and "linux-5.10.y-base" in names
    s = SERIES["linux-6.12.y"]
    tree = sources.Tree(Path("/nonexistent"), "0" * 40, "6.12.117", "Linux 6.12.117")
    patched, base = series_kernels.patched_spec(s, tree), series_kernels.base_spec(s, tree)
    assert (patched.label, patched.regimes, patched.patches) == (
        "linux-6.12.y-maxrss-sum", ("maxrss-sum",), s.patches)
    assert (base.label, base.regimes, base.patches) == ("linux-6.12.y-base", (), ())


def test_an_unknown_kernel_lists_the_series_kernels(tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        kernels.resolve("linux-4.19.y", tmp_path)
    assert "linux-5.10.y" in str(e.value) and "5.10" in str(e.value)


# --- 5.10 from Debian ------------------------------------------------------------

def test_5_10_is_bullseyes_plain_amd64_image() -> None:
    f = debian.FLAVOURS["5.10"]
    assert f.apt_suites() == ("bullseye", "bullseye-security")
    assert f.apt_dir(Path("/c")) == Path("/c/apt-bullseye")
    assert debian.FLAVOURS["6.1"].apt_dir(Path("/c")) == Path("/c/apt")
    names = ["linux-image-5.10.0-46-amd64-unsigned", "linux-image-5.10.0-46-cloud-amd64-unsigned",
             "linux-image-5.10.0-46-rt-amd64-unsigned", "linux-image-6.1.0-56-amd64-unsigned"]
    assert [n for n in names if f.package.fullmatch(n)] == names[:1]


def test_a_fragment_option_an_older_tree_lacks_is_not_missing() -> None:
    frag = "CONFIG_SMP=y\nCONFIG_DEBUG_INFO_NONE=y\n"
    final = "CONFIG_SMP=y\n"
    assert kbuild.missing_options(frag, final) == ["CONFIG_DEBUG_INFO_NONE=y"]
    assert kbuild.missing_options(frag, final, frozenset({"SMP"})) == []
    assert kbuild.missing_options(frag, "", frozenset({"SMP"})) == ["CONFIG_SMP=y"]


def test_kconfig_symbols(tmp_path: Path) -> None:
    (tmp_path / "mm").mkdir()
    (tmp_path / "Kconfig").write_text("config SMP\n\tbool\nmenuconfig EXPERT\n")
    (tmp_path / "mm" / "Kconfig.debug").write_text("  config PAGE_OWNER\n# config NOT_ME\n")
    assert kbuild.kconfig_symbols(tmp_path) == {"SMP", "EXPERT", "PAGE_OWNER"}


# --- a kernel without a memory cgroup peak ---------------------------------------

def _obs(**kw: object) -> Observation:
    base = Observation(kernel="5.10", kernel_release="5.10.0-46-amd64", kernel_version="",
                       ncpus=2, scenario="touch", params={"pages": 1000}, page_size=4096,
                       smaps_rss_kib=4000, smaps_anon_kib=3800, report={"peak_anon_kib": 3900})
    return replace(base, **kw)  # type: ignore[arg-type]


CGROUP_CLAIM = Claim(id="cgroup-peak-covers-anon", says="s", metric="cgroup_peak_kib",
                     reference=("peak_anon_kib",), bound={"formula": "at_least"},
                     runs=(RunSpec("touch", {"pages": 1000}, cgroup=True),))


def test_a_cgroup_claim_is_not_available_without_a_peak_and_undecided_without_runs() -> None:
    gone = _obs(cgroup_unavailable=NO_PEAK)
    v = claims.assess(CGROUP_CLAIM, [gone] * 3, frozenset({"split-rss"}), "5.10-smp2")
    assert v.verdict is claims.Verdict.UNAVAILABLE and not v.checks and v.unavailable == NO_PEAK
    # A run that never happened leaves it undecided; a wrong peak contradicts it.
    v = claims.assess(CGROUP_CLAIM, [_obs(params={"pages": 5}, cgroup_unavailable=NO_PEAK)],
                      frozenset(), "k")
    assert v.verdict is claims.Verdict.UNDECIDED and not v.unavailable
    assert "no observations" in v.explain()
    low = _obs(cgroup_version=2, cgroup_peak_kib=3000)
    assert claims.assess(CGROUP_CLAIM, [low, gone], frozenset(), "k").verdict \
        is claims.Verdict.CONTRADICTED


def test_the_matrix_summary_counts_claims_not_available_apart() -> None:
    k = Kernel("5.10", Path("/k"), "5.10.262")
    gone = _obs(cgroup_unavailable=NO_PEAK)
    assessed = (claims.assess(CGROUP_CLAIM, [gone], frozenset(), "5.10-smp2"),)
    out = Outcome(Target(k, 2), frozenset(), (gone,), assessments=assessed)
    assert summary.unavailable_lines([out]) == [
        f"5.10-smp2: cgroup-peak-covers-anon: not available here: {NO_PEAK}"]


# --- the summary of `rsslab patches` ---------------------------------------------

def _report(name: str, before: tuple[float, ...], after: tuple[float, ...]) -> kernel.Report:
    from rsslab.series.kernel import proof
    s = SERIES[name]
    tree = sources.Tree(Path("/t"), "ab" * 20, "6.12.117", "Linux 6.12.117 (Debian x)", True)
    out = series.SeriesOutput(name, Path("/o"), (Path("0000"), Path("0001"), Path("0002")),
                              (), (), series.CheckReport((series.CheckRun("the tree", 0, 0, 0, ""),)),
                              True, False)
    rows = (proof.Row("maxrss-sum-wait4-exact", "wait4_maxrss_kib", 2, before, after),)
    return kernel.Report(s, tree, out, proof.Proof(rows, (), (), (), (), ()))


def test_the_summary_table_has_one_row_per_tree() -> None:
    from rich.console import Console

    reps = [_report("linux-6.12.y", (-53.0, 0.0, -20.0), (0.0, 0.0, 0.0)),
            replace(_report("linux-mainline", (-4.0,), (-1.0,)), proof=None)]
    assert kernel_cli.proof_cell(reps[0]) == "-53..0 (1 exact) -> exact, 3 runs"
    assert kernel_cli.proof_cell(reps[1]) == "not measured (--draft)"
    console = Console(width=200, record=True)
    console.print(kernel_cli.summary_table(reps))
    text = console.export_text()
    assert "linux-6.12.y" in text and "clean" in text and "applies" in text
    assert "6.12.117 abababababab" in text
