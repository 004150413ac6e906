"""Strict data: a claims, regimes, kernel-patch or man-pages-patch file with
an unknown key, a bad enum value, a bad value (a metric name the catalogue
lacks, a number written as a string, a value out of range, a malformed tag,
an unknown claim id) or a missing key is refused with one line naming the
file, the entry and the key (exit 2 from the command line)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rsslab import claims, metrics
from rsslab.claims import regimes
from rsslab.errors import UserError
from rsslab.kernels import specs
from rsslab.schema import SchemaError
from rsslab.series.manpages import spec as man_spec

ROOT = Path(__file__).resolve().parents[1]


def _copy(tmp_path: Path, *dirs: str) -> Path:
    for d in dirs:
        shutil.copytree(ROOT / d, tmp_path / d)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _refused(load: Callable[[], object], *words: str) -> str:
    with pytest.raises(SchemaError) as e:
        load()
    msg = str(e.value)
    assert "\n" not in msg and e.value.exit_status == 2
    for w in words:
        assert w in msg, msg
    return msg


CLAIM_CASES = [
    # (old text in claims/percpu.toml, new text, words the message must hold)
    ('regimes = ["percpu-rss"]', 'unles = ["status-sum"]\nregimes = ["percpu-rss"]',
     ("claims/percpu.toml", "claim percpu-", "unknown key 'unles'")),
    ('direction = "either"', 'direction = "eiter"',
     ("claims/percpu.toml", "claim percpu-", "key 'direction'", "'eiter' is not one of")),
    ('regimes = ["percpu-rss"]', 'regimes = ["percpu-rs"]',
     ("claims/percpu.toml", "key 'regimes'", "'percpu-rs'")),
    ('formula = "percpu_residue"', 'formula = "percpu_residu"',
     ("claims/percpu.toml", "key 'formula'", "'percpu_residu'")),
    ("says = ", "sayz = ", ("claims/percpu.toml", "unknown key 'sayz'")),
]


@pytest.mark.parametrize(("old", "new", "words"), CLAIM_CASES,
                         ids=["misspelt-key", "bad-direction", "unknown-regime", "bad-formula",
                              "missing-says"])
def test_a_bad_claims_file_is_refused(tmp_path: Path, old: str, new: str,
                                      words: tuple[str, ...]) -> None:
    root = _copy(tmp_path, "claims")
    _edit(root / "claims" / "percpu.toml", old, new)
    _refused(lambda: claims.load(root / "claims"), *words)


VALUE_CASES = [
    # (claims file, old text, new text, words the message must hold)
    ("cgroup.toml", 'metric = "cgroup_peak_kib"', 'metric = "cgroup_peek_kib"',
     ("claims/cgroup.toml", "claim cgroup-", "key 'metric'", "unknown metric 'cgroup_peek_kib'",
      "did you mean 'cgroup_peak_kib'?")),
    ("split.toml", 'metric = "rss_anon_kib"', 'metric = "rss_anom_kib"',
     ("claims/split.toml", "claim split-", "key 'metric'", "unknown metric 'rss_anom_kib'",
      "did you mean 'rss_anon_kib'?")),
    ("percpu.toml", 'metrics = ["vmrss_kib"', 'metrics = ["vmrs_kib"',
     ("key 'metrics'", "unknown metric 'vmrs_kib'")),
    ("percpu.toml", 'reference = "smaps_rss_kib"', 'reference = "smaps_rss_kb"',
     ("key 'reference'", "unknown metric 'smaps_rss_kb'")),
    ("percpu.toml", 'reference = "smaps_rss_kib"', 'reference = "smaps_rss_kib +"',
     ("key 'reference'", "neither a metric nor a sum of metrics")),
    ("percpu.toml", "pages = 1000", 'pages = "1000"',
     ("claims/percpu.toml", "key 'runs'", 'pages = "1000" is a string',
      "write a number: pages = 1000")),
    ("percpu.toml", "pages = 1000", "pages = true", ("pages = true is not an integer",)),
    ("percpu.toml", "counters = 3", "counters = 0",
     ("key 'bound'", "counters = 0; write a number of at least 1")),
    ("percpu.toml", "counters = 3", 'counters = "three"', ("counters = 'three' is not a number",)),
    ("split.toml", 'threads = "writers"', 'threads = "writer"',
     ("threads = 'writer'", "integer parameter of cow_other_unmaps")),
    ("patched.toml", "min_cpus = 2", "min_cpus = 0", ("key 'min_cpus' is 0",)),
    ("hiwater.toml", "34e55232e59f7b19050267a05ff1226e5cd122a5", "34e55232e59f",
     ("key 'tags'", "linux-git tag '34e55232e59f' is not the full 40-hex commit id")),
    ("percpu.toml", '"fs/proc/task_mmu.c:task_mem@v6.18"', '"fs/proc/task_mmu.c task_mem"',
     ("key 'tags'", "is not file:function@vX.Y")),
    ("percpu.toml", '["source", "fs/proc/task_mmu.c:task_mem@v6.18"]', '["sauce", "x"]',
     ("tag kind 'sauce' is not one of linux-git, source, stable",)),
]


@pytest.mark.parametrize(("file", "old", "new", "words"), VALUE_CASES,
                         ids=["metric-cgroup-peek", "metric-rss-anom", "metrics-list",
                              "reference-name", "reference-sum", "pages-string", "pages-bool",
                              "counters-zero", "counters-string", "threads-param",
                              "min-cpus-zero", "short-commit", "source-shape", "tag-kind"])
def test_a_bad_value_in_a_claims_file_is_refused(tmp_path: Path, file: str, old: str,
                                                 new: str, words: tuple[str, ...]) -> None:
    root = _copy(tmp_path, "claims")
    _edit(root / "claims" / file, old, new)
    _refused(lambda: claims.load(root / "claims"), *words)


def test_a_size_formula_is_still_a_string() -> None:
    """A string run parameter is a size formula; only a plain number in quotes is refused."""
    sized = [c for c in claims.load(ROOT / "claims") for r in c.runs
             for v in r.params.values() if isinstance(v, str) and "bound" in v]
    assert sized


def test_a_bad_regime_tag_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path, "claims")
    _edit(root / "claims" / "regimes.toml", "82241a83cd15aaaf28200a40ad1a8b480012edaf",
          "82241a83cd15")
    _refused(lambda: regimes.load(root / "claims"), "claims/regimes.toml", "key 'tags'",
             "not the full 40-hex commit id")


def test_the_catalogue_refuses_unknown_names_and_holds_each_name_once() -> None:
    with pytest.raises(UserError) as e:
        metrics.get("cgroup_peek_kib")
    assert "unknown metric 'cgroup_peek_kib' (did you mean 'cgroup_peak_kib'?)" in str(e.value)
    names = [m.name for m in (*metrics._ALL, *metrics._REPORTED)]
    assert len(names) == len(set(names)) == len(metrics.CATALOGUE)
    assert metrics.get("self_exact_kib").exact and metrics.get("vmdata_kib").reference == (
        "maps_data_kib")


def test_a_formula_argument_it_does_not_read_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path, "claims")
    _edit(root / "claims" / "percpu.toml", 'direction = "either"',
          'direction = "either", threads = 2')
    _refused(lambda: claims.load(root / "claims"), "formula percpu_residue takes no 'threads'")


def test_a_bad_regimes_file_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path, "claims")
    _edit(root / "claims" / "regimes.toml", "ranges = ", "range = ")
    _refused(lambda: regimes.load(root / "claims"), "claims/regimes.toml", "regime split-rss",
             "unknown key 'range'")


KERNEL_CASES = [
    ("maxrss-sum/patch.toml", 'subject = ', 'subjet = ',
     ("kernelpatches/maxrss-sum/patch.toml", "patch maxrss-sum", "unknown key 'subjet'")),
    ("maxrss-sum/patch.toml", 'kind = "', 'kind = "x', ("key 'kind'", "is not one of")),
    ("series.toml", 'regime = "', 'regime = "no-',
     ("kernelpatches/series.toml", "series linux-mainline", "key 'regime'")),
    ("fixtures.toml", "version_of = ", "versionof = ",
     ("kernelpatches/fixtures.toml", "kernel 6.12-nosum", "unknown key 'versionof'")),
    ("maxrss-sum/patch.toml", '"maxrss-sum-self-exact"', '"maxrss-sum-self-exakt"',
     ("kernelpatches/maxrss-sum/patch.toml", "patch maxrss-sum", "key 'claims'",
      "unknown claim id 'maxrss-sum-self-exakt'")),
]


@pytest.mark.parametrize(("file", "old", "new", "words"), KERNEL_CASES,
                         ids=["patch-key", "edit-kind", "series-regime", "fixture-key",
                              "claim-id"])
def test_a_bad_kernel_patch_file_is_refused(tmp_path: Path, file: str, old: str, new: str,
                                            words: tuple[str, ...]) -> None:
    root = _copy(tmp_path, "claims", "kernelpatches")
    _edit(root / "kernelpatches" / file, old, new)
    load = specs.load_fixtures if file == "fixtures.toml" else specs.load_series
    _refused(lambda: load(root), *words)


MAN_CASES = [
    ("proc-pid-status-accuracy/patch.toml", "subject = ", "subjekt = ",
     ("manpatches/proc-pid-status-accuracy/patch.toml", "unknown key 'subjekt'")),
    ("proc-pid-status-accuracy/patch.toml", 'op = "', 'op = "x',
     ("key 'op'", "is not one of")),
    ("series.toml", "[mail]", "[mail]\nbcc = []", ("manpatches/series.toml", "unknown key 'bcc'")),
    ("proc-pid-status-accuracy/claims.toml", '"percpu-vmhwm-exit-stop"',
     '"percpu-vmhwm-exit-stopp"',
     ("manpatches/proc-pid-status-accuracy", "unknown claim id 'percpu-vmhwm-exit-stopp'")),
    ("proc-pid-status-accuracy/patch.toml", '["VmRSS", "vmrss_kib"]', '["VmRSS", "vmrs_kib"]',
     ("key 'columns'", "unknown metric 'vmrs_kib'")),
]


@pytest.mark.parametrize(("file", "old", "new", "words"), MAN_CASES,
                         ids=["patch-key", "edit-op", "series-key", "claim-id", "column"])
def test_a_bad_man_pages_patch_file_is_refused(tmp_path: Path, file: str, old: str, new: str,
                                               words: tuple[str, ...]) -> None:
    root = _copy(tmp_path, "manpatches", "claims")
    _edit(root / "manpatches" / file, old, new)
    _refused(lambda: man_spec.load_series(root / "manpatches"), *words)


def test_the_project_data_passes() -> None:
    assert claims.load(ROOT / "claims") and regimes.load(ROOT / "claims")
    assert specs.load_series(ROOT) and specs.load_fixtures(ROOT)
    assert man_spec.load_series(ROOT / "manpatches").patches


@pytest.mark.parametrize(("file", "old", "new", "words"), [
    ("percpu.toml", 'regimes = ["percpu-rss"]', 'unles = ["status-sum"]\nregimes = ["percpu-rss"]',
     ("claims/percpu.toml: claim percpu-", "unknown key 'unles'")),
    ("cgroup.toml", 'metric = "cgroup_peak_kib"', 'metric = "cgroup_peek_kib"',
     ("claims/cgroup.toml: claim cgroup-", "key 'metric'", "unknown metric 'cgroup_peek_kib'")),
], ids=["key", "metric"])
def test_the_command_line_refuses_a_misspelt_claim_in_one_line(
        tmp_path: Path, file: str, old: str, new: str, words: tuple[str, ...]) -> None:
    """A copy of the checkout whose claims file has a misspelt key or metric:
    `rsslab run` prints one line naming file, claim and key, and exits 2."""
    copy = tmp_path / "rsslab-copy"
    for d in ("claims", "repro", "rsslab", "kernelpatches", "manpatches"):
        shutil.copytree(ROOT / d, copy / d, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    _edit(copy / "claims" / file, old, new)
    env = {**os.environ, "PYTHONPATH": str(copy), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "rsslab", "run", "--scenario", "touch",
                           "--build-dir", str(tmp_path / "build")], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=120)
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err


def test_user_error_is_the_base() -> None:
    assert issubclass(SchemaError, UserError)
