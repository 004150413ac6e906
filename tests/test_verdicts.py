"""One verdict vocabulary (``claims.Verdict``), in kunit's order of severity,
said in the same words by the runners, doctor, the site and the man-pages
series: an undecided claim is "not decided", never a failure."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from rsslab import claims, results
from rsslab.claims import Claim, Verdict
from rsslab.cli import commands
from rsslab.plan import RunSpec
from rsslab.results import Observation, Origin
from rsslab.series.manpages import evidence as man_evidence
from rsslab.series.manpages import message as man_message
from rsslab.site import evidence, pages, sphinxext

ROOT = Path(__file__).resolve().parents[1]
PERCPU = frozenset({"percpu-rss", "status-sum"})
TOUCH = RunSpec("touch", {"pages": 1000})


def obs(**kw: object) -> Observation:
    base = Observation(kernel="host", kernel_release="6.18.0", kernel_version="", ncpus=2,
                       scenario="touch", params={"pages": 1000}, page_size=4096,
                       smaps_rss_kib=4000, wait4_maxrss_kib=4000, exec_floor_kib=400)
    return replace(base, **kw)  # type: ignore[arg-type]


def wait4_claim(cid: str = "wait4-exact") -> Claim:
    return Claim(id=cid, says="wait4 ru_maxrss is exact.", metric="wait4_maxrss_kib",
                 reference=("smaps_rss_kib",), bound={"formula": "exact"}, runs=(TOUCH,),
                 floor_below_reference=True, source="test.toml")


def test_the_order_is_kunits_severity() -> None:
    assert list(Verdict) == [Verdict.HOLDS, Verdict.UNDECIDED, Verdict.UNAVAILABLE,
                             Verdict.BROKEN, Verdict.CONTRADICTED]
    assert claims.worst([Verdict.UNAVAILABLE, Verdict.HOLDS]) is Verdict.UNAVAILABLE
    assert claims.worst([Verdict.CONTRADICTED, Verdict.BROKEN]) is Verdict.CONTRADICTED
    assert claims.worst([]) is Verdict.HOLDS
    assert Verdict.UNDECIDED.words == "not decided"
    assert Verdict.UNAVAILABLE.words == "not available here"


def test_rsslab_run_exits_by_the_worst_verdict_shown() -> None:
    held = claims.assess(wait4_claim(), [obs()], PERCPU, "k")
    undecided = claims.assess(wait4_claim(), [obs(exec_floor_kib=4000)], PERCPU, "k")
    broken = claims.assess(wait4_claim(), [obs(wait4_maxrss_kib=None)], PERCPU, "k")
    contradicted = claims.assess(wait4_claim(), [obs(wait4_maxrss_kib=3996)], PERCPU, "k")
    unavailable = replace(held, checks=(), unavailable="no memory cgroup")
    assert [a.verdict for a in (held, undecided, broken, contradicted, unavailable)] == [
        Verdict.HOLDS, Verdict.UNDECIDED, Verdict.BROKEN, Verdict.CONTRADICTED,
        Verdict.UNAVAILABLE]
    assert commands.run_status([held, unavailable]) == 0
    assert commands.run_status([held, undecided]) == 1
    assert commands.run_status([held, broken]) == 2
    assert commands.run_status([broken, contradicted]) == 1
    assert "2 a claim is broken" in " ".join(commands.RUN_EPILOG.split())


def _site(tmp_path: Path, claim: Claim, runs: list[Observation]) -> evidence.Evidence:
    """The site's evidence from a result set of ``runs`` (in a checkout that has
    only ``claim``), its verdicts stored as the runners store them."""
    root = tmp_path / "root"
    (root / "claims").mkdir(parents=True)
    shutil.copy(ROOT / "claims" / "regimes.toml", root / "claims")
    with (root / "claims" / "test.toml").open("w") as f:
        f.write(f'[[claim]]\nid = "{claim.id}"\nmetric = "{claim.metric}"\n'
                f'says = "{claim.says}"\nreference = "smaps_rss_kib"\n'
                'floor_below_reference = true\nbound = { formula = "exact" }\n'
                'runs = [{ scenario = "touch", params = { pages = 1000 } }]\n')
    written = results.save(tmp_path / "results", runs, PERCPU, Origin("host", "this kernel"))
    loaded = claims.load(root / "claims")
    claims.save_verdicts(tmp_path / "results", loaded, [p.stem for p in written])
    return evidence.load(root, tmp_path / "results")


def test_the_site_says_not_decided_where_no_run_decided(tmp_path: Path) -> None:
    """A result set whose run cannot decide a claim (its inherited floor
    hides the low side): the site's data, its roles and its ``claimed``
    blocks say "not decided", never that the kernel disagreed."""
    ev = _site(tmp_path, wait4_claim(), [obs(exec_floor_kib=4000)])
    [claim] = ev.claims
    assert ev.status(claim).verdict is Verdict.UNDECIDED
    data = evidence.to_json(ev)
    assert data["claims"][claim.id]["state"] == "undecided"
    problem = sphinxext.claim_problem(data, claim.id)
    assert problem.startswith(f"claim '{claim.id}' was not decided on host-smp2")
    assert "cannot decide" in problem
    text = "".join(n.astext() for n in sphinxext.heading(Verdict.UNDECIDED))
    assert text.startswith("Not decided yet") and "make repro" in text
    for said in (problem, text, pages.claim_entry(ev, claim), pages.status_include(ev, [])):
        assert "disagreed" not in said and "contradicted" not in said, said
        assert "fail" not in said.lower(), said
    assert "not decided" in pages.claim_entry(ev, claim)
    assert "0 hold on the measured kernels, 1 not decided" in pages.status_include(ev, [])


def test_the_site_says_disagreed_only_where_a_run_contradicted(tmp_path: Path) -> None:
    ev = _site(tmp_path, wait4_claim(), [obs(wait4_maxrss_kib=3996)])
    [claim] = ev.claims
    data = evidence.to_json(ev)
    assert data["claims"][claim.id]["state"] == "contradicted"
    assert sphinxext.claim_problem(data, claim.id).startswith(
        f"claim '{claim.id}' was contradicted on host-smp2: ")
    assert "disagreed" in "".join(n.astext() for n in sphinxext.heading(Verdict.CONTRADICTED))


def test_a_claim_no_kernel_could_run_is_not_available_here() -> None:
    data = {"claims": {"c": {"state": "unavailable", "needs": "x", "verdicts": {},
                             "unavailable": {"5.10-smp2": "no memory cgroup peak"}}}}
    assert sphinxext.claim_problem(data, "c") == (
        "claim 'c' is not available here: 5.10-smp2: no memory cgroup peak")


def test_the_man_pages_evidence_keeps_the_verdicts_apart(tmp_path: Path) -> None:
    claim = wait4_claim()
    runs = [obs(exec_floor_kib=4000)]
    rs = results.ResultSet("host-smp2", "host", "6.18.0", "", 2, PERCPU,
                           Origin("host", "this kernel"), tuple(runs))
    kernel = man_evidence.Kernel(rs)
    undecided = man_evidence.check(claim, kernel)
    assert undecided.verdict is Verdict.UNDECIDED and undecided.runs == 1
    elsewhere = man_evidence.check(replace(claim, regimes=("split-rss",)), kernel)
    assert elsewhere.verdict is Verdict.UNAVAILABLE and elsewhere.runs == 0
    ctx = man_message.Context((kernel,), {claim.id: claim}, (undecided,))
    block = " ".join(man_message.checked_block([claim.id], ctx).split())
    assert "0 of these claims hold, 1 NOT DECIDED (wait4-exact)" in block
    assert "FAIL" not in block and "CONTRADICTED" not in block
