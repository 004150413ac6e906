"""Verdicts are computed once per result set (``claims.assess_results``) and
kept beside the results (``<results>/verdicts/<label>.json``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from rsslab import claims, results
from rsslab.results import Origin, from_observer

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "observer"
PERCPU = frozenset({"percpu-rss", "status-sum"})


def _touch_runs() -> list[results.Observation]:
    obj = json.loads((DATA / "touch-linux-6.18.json").read_text())
    one = from_observer(obj, "host", "touch", {"pages": 1000})
    return [replace(one, params={"pages": 1000})]


def test_stored_verdicts_are_those_of_the_result_set(tmp_path: Path) -> None:
    all_claims = claims.load(ROOT / "claims")
    runs = _touch_runs()
    written = results.save(tmp_path, runs, PERCPU, Origin("host", "the running kernel"))
    claims.save_verdicts(tmp_path, all_claims, [p.stem for p in written])
    rs = results.load_file(written[0])
    expected = claims.assess_results(all_claims, rs)
    stored = json.loads((tmp_path / "verdicts" / f"{rs.label}.json").read_text())
    assert stored["label"] == rs.label and stored["regimes"] == sorted(PERCPU)
    assert [(v["claim"], v["verdict"]) for v in stored["verdicts"]] == [
        (a.claim.id, a.verdict.value) for a in expected]
    assert any(v["runs"] for v in stored["verdicts"]), "the touch run checks some claim"
    assert [p.name for p in tmp_path.glob("*.json")] == [written[0].name]
    assert results.load_all(tmp_path)[0].label == rs.label  # verdicts are not result sets


def _saved(tmp_path: Path) -> tuple[list[claims.Claim], Path]:
    all_claims = claims.load(ROOT / "claims")
    written = results.save(tmp_path, _touch_runs(), PERCPU, Origin("host", "the running kernel"))
    claims.save_verdicts(tmp_path, all_claims, [p.stem for p in written])
    return all_claims, written[0]


def test_readers_get_the_stored_verdicts_back(tmp_path: Path) -> None:
    """The site and the man-pages evidence read the kept verdicts: the same
    records the assessment gave, check by check, on the same runs."""
    all_claims, path = _saved(tmp_path)
    rs, back = claims.verdicts_of(tmp_path, all_claims, path)
    assert back == claims.assess_results(all_claims, rs)
    assert all(c.obs in rs.runs for v in back for c in v.checks)


def test_a_stored_verdict_is_not_recomputed(tmp_path: Path) -> None:
    """What is kept is what is read: an edit to the stored state shows."""
    all_claims, path = _saved(tmp_path)
    stored_path = tmp_path / "verdicts" / f"{path.stem}.json"
    doc = json.loads(stored_path.read_text())
    kept = next(v for v in doc["verdicts"] if v["checks"])
    kept["problems"] = ["kept, not recomputed"]
    stored_path.write_text(json.dumps(doc))
    _, back = claims.verdicts_of(tmp_path, all_claims, path)
    assert next(v for v in back if v.claim.id == kept["claim"]).problems == (
        "kept, not recomputed",)


def test_verdicts_of_other_runs_or_claims_are_assessed_again(tmp_path: Path) -> None:
    all_claims, path = _saved(tmp_path)
    stored_path = tmp_path / "verdicts" / f"{path.stem}.json"
    before = stored_path.read_text()
    fewer = [c for c in all_claims if c.id != json.loads(before)["verdicts"][0]["claim"]]
    rs, back = claims.verdicts_of(tmp_path, fewer, path)
    assert back == claims.assess_results(fewer, rs)
    assert stored_path.read_text() != before  # rewritten for these claims
    stored_path.write_text("{not json")
    assert claims.verdicts_of(tmp_path, all_claims, path)[1] == claims.assess_results(
        all_claims, rs)


def test_the_digest_is_the_same_in_every_process() -> None:
    """Stored verdicts stay valid from one command to the next (string hashing
    differs between processes)."""
    code = ("from pathlib import Path; from rsslab import claims; "
            "from rsslab.claims.store import digest; "
            f"print(digest('x', claims.load(Path({str(ROOT / 'claims')!r}))))")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
            for seed in ("1", "2")}
    assert len(seen) == 1 and len(seen.pop().strip()) == 64
