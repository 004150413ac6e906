"""Strict data: a claims, regimes, kernel-patch or man-pages-patch file with
an unknown key, a bad enum value or a missing key is refused with one line
naming the file, the entry and the key (exit 2 from the command line)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rsslab import claims
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
]


@pytest.mark.parametrize(("file", "old", "new", "words"), KERNEL_CASES,
                         ids=["patch-key", "edit-kind", "series-regime", "fixture-key"])
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
]


@pytest.mark.parametrize(("file", "old", "new", "words"), MAN_CASES,
                         ids=["patch-key", "edit-op", "series-key"])
def test_a_bad_man_pages_patch_file_is_refused(tmp_path: Path, file: str, old: str, new: str,
                                               words: tuple[str, ...]) -> None:
    root = _copy(tmp_path, "manpatches")
    _edit(root / "manpatches" / file, old, new)
    _refused(lambda: man_spec.load_series(root / "manpatches"), *words)


def test_the_project_data_passes() -> None:
    assert claims.load(ROOT / "claims") and regimes.load(ROOT / "claims")
    assert specs.load_series(ROOT) and specs.load_fixtures(ROOT)
    assert man_spec.load_series(ROOT / "manpatches").patches


def test_the_command_line_refuses_a_misspelt_claim_key_in_one_line(tmp_path: Path) -> None:
    """A copy of the checkout whose claims file has a misspelt key: `rsslab
    run` prints one line naming file, claim and key, and exits 2."""
    copy = tmp_path / "rsslab-copy"
    for d in ("claims", "repro", "rsslab", "kernelpatches", "manpatches"):
        shutil.copytree(ROOT / d, copy / d, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    _edit(copy / "claims" / "percpu.toml", 'regimes = ["percpu-rss"]',
          'unles = ["status-sum"]\nregimes = ["percpu-rss"]')
    env = {**os.environ, "PYTHONPATH": str(copy), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "rsslab", "run", "--scenario", "touch",
                           "--build-dir", str(tmp_path / "build")], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=120)
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "claims/percpu.toml: claim percpu-" in err and "unknown key 'unles'" in err, err


def test_user_error_is_the_base() -> None:
    assert issubclass(SchemaError, UserError)
