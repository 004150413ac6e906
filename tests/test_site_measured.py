"""The site's generated numbers (rsslab/site/measured.py, the patches
summary): every figure comes from a results or benchmark file, and a page
whose file is missing says which command measures it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rsslab import claims
from rsslab.results import Observation, Origin, ResultSet
from rsslab.site import measured, patchpages
from rsslab.site.evidence import Evidence, KernelRuns

ROOT = Path(__file__).resolve().parents[1]


def obs(ncpus: int, scenario: str, params: dict[str, int | str], **kw: object) -> Observation:
    base = Observation(kernel="7", kernel_release="7.3.4", kernel_version="", ncpus=ncpus,
                       scenario=scenario, params=params, page_size=4096)
    return replace(base, **kw)  # type: ignore[arg-type]


def kernel(ncpus: int, runs: list[Observation]) -> KernelRuns:
    rs = ResultSet(f"7-smp{ncpus}", "7", "7.3.4", "", ncpus, frozenset({"percpu-rss"}),
                   Origin("7", "linux-image-7"), tuple(runs))
    return KernelRuns(rs, frozenset({"percpu-rss"}), ())


def evidence(*kernels: KernelRuns) -> Evidence:
    return Evidence(tuple(claims.load(ROOT / "claims")), (), kernels)


SEED = {"input_kib": 128}


def test_the_seed_table_shows_each_kernel_s_range() -> None:
    ev = evidence(kernel(2, [
        obs(2, "seed", SEED, vmhwm_kib=4, vmrss_kib=4, smaps_rss_kib=824, wait4_maxrss_kib=840),
        obs(2, "seed", SEED, vmhwm_kib=4, vmrss_kib=4, smaps_rss_kib=832, wait4_maxrss_kib=840),
        obs(2, "seed", {"input_kib": 64}, vmhwm_kib=999),
    ]))
    table = measured.seed_table(ev)
    assert "``7-smp2``" in table and "824 to 832" in table and "999" not in table
    assert "VmHWM (KiB)" in table and "wait4 ru_maxrss (KiB)" in table


def test_without_runs_the_pages_say_how_to_measure() -> None:
    ev = evidence(kernel(2, []))
    assert "make repro" in measured.seed_table(ev)
    assert "make repro-wide" in measured.wide_table(ev)


def test_the_wide_table_gives_each_error_and_its_bound() -> None:
    ev = evidence(kernel(2, []), kernel(64, [
        obs(64, "cpu_spread", {"pages": 100}, smaps_rss_kib=26352, wait4_maxrss_kib=568),
        obs(64, "touch", {"pages": 100}, smaps_rss_kib=1, wait4_maxrss_kib=1),
    ]))
    table = measured.wide_table(ev)
    assert "``7-smp64``" in table and "``7-smp2``" not in table and "touch" not in table
    assert "-6446" in table  # (568 - 26352) / 4
    assert "±24384" in table  # 3 counters x 64 CPUs x 127 pages


def test_the_benchmarks_render_from_their_files(tmp_path: Path) -> None:
    times = {"seed": {"plain": [0.001, 0.001], "observer": [0.003, 0.003]}}
    (tmp_path / "overhead.json").write_text(json.dumps(
        {"kernel_release": "6.18.4", "ncpus": 2, "rounds": 2, "loadavg": [1.0, 2.0],
         "wall_s": times, "cpu_s": times}))
    out = measured.overhead_include(tmp_path / "overhead.json")
    assert "``6.18.4``" in out and "3.00 ms (3.00x)" in out and "observer +2.00 ms" in out
    assert "1.0 before, 2.0 after" in out
    (tmp_path / "doctor.json").write_text(json.dumps(
        {"kernel_release": "6.18.4", "ncpus": 2, "rounds": 3, "runs": 32,
         "cli_s": [0.5, 0.7, 0.6], "in_process_s": [0.4, 0.4, 0.4], "loadavg": [3.0, 2, 1]}))
    out = measured.doctor_include(tmp_path / "doctor.json")
    assert "median of 0.60 s" in out and "at most 0.70 s" in out and "load average 3.0)" in out
    (tmp_path / "matrix.json").write_text(json.dumps(
        {"kernels": ["6.1: Linux 6.1.1"], "cpus": [1, 2], "host_cpus": 2, "goal_s": 90,
         "rounds": [{"round": 1, "floor_s": 30.0, "matrix_s": 55.5, "load_avg": 1.5}]}))
    assert "55.5 s" in measured.matrix_include(tmp_path / "matrix.json")
    (tmp_path / "examples.json").write_text(json.dumps(
        {"kernel_release": "6.18.4", "ncpus": 2, "date": "2025-01-01", "transcripts": [
            {"title": "seed", "argv": ["rsslab", "measure", "--", "build/bin/seed"],
             "stdin": "input.txt", "output": "peak RSS 828 KiB\n", "status": 0}]}))
    out = measured.examples_include(tmp_path / "examples.json")
    assert "   $ rsslab measure -- build/bin/seed < input.txt\n   peak RSS 828 KiB" in out
    (tmp_path / "turnaround.json").write_text(json.dumps(
        {"goals_s": {"test warm": 480}, "runs": [
            {"target": "test", "state": "warm", "seconds": 412.4, "status": 0,
             "kernel_builds": 0, "boots": 31, "load_before": 0.2, "cores": 2,
             "commit": "abc1234", "date": "2026-12-06 20:00"},
            {"target": "test", "state": "cold", "seconds": 3725, "status": 0,
             "kernel_builds": 9, "boots": 60, "load_before": 0.1, "cores": 2,
             "commit": "abc1234", "date": "2026-12-06 19:00", "build_seconds": 1830.4}]}))
    out = measured.turnaround_include(tmp_path / "turnaround.json")
    assert "6 min 52 s" in out and "8 min 00 s: met" in out and "62 min 05 s" in out
    assert "9 (30 min 30 s)" in out  # make's time in the builds, where recorded


def test_a_missing_or_damaged_benchmark_says_how_to_measure_it(tmp_path: Path) -> None:
    (tmp_path / "overhead.json").write_text("{not json")
    for render, how in ((measured.overhead_include, "make bench-tools"),
                        (measured.doctor_include, "make bench-tools"),
                        (measured.matrix_include, "make bench-matrix"),
                        (measured.examples_include, "bench/examples.py"),
                        (measured.turnaround_include, "bench/turnaround.py")):
        out = render(tmp_path / "overhead.json")
        assert "Not measured for this build" in out and how in out, render


def test_the_patches_summary_says_what_each_series_is(tmp_path: Path) -> None:
    tree = tmp_path / "linux-6.1.y"
    tree.mkdir()
    (tree / "0000-cover-letter.patch").write_text("Subject: [PATCH 0/1] cover\n\n")
    (tree / "0001-fold.patch").write_text("Subject: [PATCH 1/1] fold\n\nbefore: [not measured]\n")
    (tree / "checkpatch.txt").write_text("total: 0 errors, 1 warnings, 0 checks, 9 lines\n")
    (tree / "proof.json").write_text(json.dumps({"tree": "Debian linux-source-6.1 6.1.192"}))
    table = patchpages.summary_table(tmp_path, ["linux-6.1.y", "linux-mainline"])
    assert ":ref:`linux-6.1.y <series-linux-6.1.y>`" in table
    assert "Debian linux-source-6.1 6.1.192" in table
    assert "0 errors, 1 warnings, 0 checks" in table and "draft: 1 marked" in table
    assert "not generated yet" in table


def test_the_proof_shows_each_measured_table_as_text(tmp_path: Path) -> None:
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps({"tree": "t", "base": "b", "problems": ["guest hung"],
                                 "values": {"runs": "90", "claims_table": "a  b\n1  2"}}))
    out = patchpages._proof_values("/_patches/t/proof.json", proof)
    assert "* ``runs``: 90" in out
    assert ".. code-block:: none\n   :caption: claims_table\n\n   a  b\n   1  2" in out
    assert "guest hung" in out
    proof.write_text(json.dumps({"tree": "t", "values": {}}))
    assert "no measured values (a draft)" in patchpages._proof_values("/p.json", proof)
