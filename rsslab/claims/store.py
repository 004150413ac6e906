"""Verdicts kept beside the results: ``<results>/verdicts/<label>.json``.

A result set is judged once (``judge.judge_results``) when its runs are
saved, and the verdicts are written with the digest of what they were
judged from: the result file's text and the claims.  Readers (the site)
take the stored verdicts back as ``Verdict`` records on the same runs; a
file that is missing, unreadable or judged from other runs or other claims
is judged again and rewritten, so a reader never shows a stale verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rsslab.claims.formulas import Interval
from rsslab.claims.judge import Check, Verdict, judge_results
from rsslab.claims.model import Claim
from rsslab.results import ResultSet, read_file

VERDICTS_DIR = "verdicts"
FORMAT = 1


def path_of(results_dir: Path, label: str) -> Path:
    return results_dir / VERDICTS_DIR / f"{label}.json"


def digest(results_text: str, claims: Sequence[Claim]) -> str:
    """What a stored verdict was judged from: the result file and the claims."""
    h = hashlib.sha256(results_text.encode())
    for c in sorted(claims, key=lambda c: c.id):
        h.update(repr(c).encode())
    return h.hexdigest()


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _check_json(c: Check, index: dict[int, int]) -> dict[str, Any]:
    return {"run": index[id(c.obs)], "value": c.value, "reference": c.reference,
            "err_pages": c.err_pages, "lo": _num(c.interval.lo), "hi": _num(c.interval.hi),
            "premise_failed": c.interval.premise_failed, "ok": c.ok, "problem": c.problem,
            "undecided": c.undecided}


def _verdict_json(v: Verdict, index: dict[int, int]) -> dict[str, Any]:
    worst = v.worst()
    return {"claim": v.claim.id, "metric": v.claim.metric, "state": v.kind,
            "runs": len(v.checks), "unavailable": v.unavailable,
            "worst_err_pages": None if worst is None else worst.err_pages,
            "explain": "" if v.ok else v.explain(),
            "problems": list(v.problems), "shortfall": v.shortfall,
            "checks": [_check_json(c, index) for c in v.checks]}


def to_json(rs: ResultSet, verdicts: Sequence[Verdict], key: str) -> dict[str, Any]:
    """A result set's verdicts: a summary per claim for tools that read
    results, and every check, so that a reader gets the verdicts back."""
    index = {id(o): i for i, o in enumerate(rs.runs)}
    return {"format": FORMAT, "digest": key, "label": rs.label, "kernel": rs.kernel,
            "release": rs.kernel_release, "ncpus": rs.ncpus, "regimes": sorted(rs.features),
            "verdicts": [_verdict_json(v, index) for v in verdicts]}


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def _judge_and_keep(results_dir: Path, rs: ResultSet, text: str,
                    claims: Sequence[Claim]) -> tuple[Verdict, ...]:
    verdicts = judge_results(claims, rs)
    _write(path_of(results_dir, rs.label), to_json(rs, verdicts, digest(text, claims)))
    return verdicts


def save_verdicts(results_dir: Path, claims: Sequence[Claim], labels: Iterable[str]) -> list[Path]:
    """Judge the stored result sets ``labels`` once and keep their verdicts
    beside them."""
    written = []
    for label in labels:
        text, rs = read_file(results_dir / f"{label}.json")
        _judge_and_keep(results_dir, rs, text, claims)
        written.append(path_of(results_dir, label))
    return written


def _from_json(doc: dict[str, Any], rs: ResultSet, claims: Sequence[Claim]) -> tuple[Verdict, ...]:
    by_id = {c.id: c for c in claims}
    out = []
    for v in doc["verdicts"]:
        checks = tuple(Check(rs.runs[c["run"]], c["value"], c["reference"], c["err_pages"],
                             Interval(float(c["lo"]), float(c["hi"]), c["premise_failed"]),
                             c["ok"], c["problem"], c["undecided"]) for c in v["checks"])
        out.append(Verdict(by_id[v["claim"]], rs.label, checks, tuple(v["problems"]),
                           v["shortfall"], v["unavailable"]))
    return tuple(out)


def verdicts_of(results_dir: Path, claims: Sequence[Claim], rs_path: Path) -> tuple[
        ResultSet, tuple[Verdict, ...]]:
    """A stored result set and its verdicts, as kept beside it; judged (and
    kept) again when they were judged from other runs or other claims."""
    text, rs = read_file(rs_path)
    key = digest(text, claims)
    try:
        doc = json.loads(path_of(results_dir, rs.label).read_text())
        if doc.get("format") == FORMAT and doc.get("digest") == key:
            return rs, _from_json(doc, rs, claims)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    return rs, _judge_and_keep(results_dir, rs, text, claims)
