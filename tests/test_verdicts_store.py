"""Verdicts are computed once per result set (``claims.judge_results``) and
kept beside the results (``<results>/verdicts/<label>.json``)."""

from __future__ import annotations

import json
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
    expected = claims.judge_results(all_claims, rs)
    stored = json.loads((tmp_path / "verdicts" / f"{rs.label}.json").read_text())
    assert stored["label"] == rs.label and stored["regimes"] == sorted(PERCPU)
    assert [(v["claim"], v["state"]) for v in stored["verdicts"]] == [
        (v.claim.id, v.kind) for v in expected]
    assert any(v["runs"] for v in stored["verdicts"]), "the touch run checks some claim"
    assert [p.name for p in tmp_path.glob("*.json")] == [written[0].name]
    assert results.load_all(tmp_path)[0].label == rs.label  # verdicts are not result sets
