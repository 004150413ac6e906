"""Verdicts kept beside the results: ``<results>/verdicts/<label>.json``.

A result set is assessed once (``assess.assess_results``) when its runs
are saved, and the assessments are written with the digest of what they
were made from: the result file's text and the claims.  The runners show
what ``save_verdicts`` returns, and readers (the site, the man-pages
evidence) take the stored assessments back on the same runs; a file that
is missing, unreadable or made from other runs or other claims is assessed
again and rewritten, so a reader never shows a stale verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rsslab import atomic
from rsslab.claims.formulas import Interval
from rsslab.claims.assess import Assessment, Check, assess_results
from rsslab.claims.model import Claim
from rsslab.claims.verdict import Verdict
from rsslab.results import ResultSet, read_file

VERDICTS_DIR = "verdicts"
FORMAT = 2


def path_of(results_dir: Path, label: str) -> Path:
    return results_dir / VERDICTS_DIR / f"{label}.json"


def digest(results_text: str, claims: Sequence[Claim]) -> str:
    """What stored assessments were made from: the result file and the claims."""
    h = hashlib.sha256(results_text.encode())
    for c in sorted(claims, key=lambda c: c.id):
        h.update(repr(c).encode())
    return h.hexdigest()


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _check_json(c: Check, index: dict[int, int]) -> dict[str, Any]:
    return {"run": index[id(c.obs)], "value": c.value, "reference": c.reference,
            "err_pages": c.err_pages, "lo": _num(c.interval.lo), "hi": _num(c.interval.hi),
            "premise_failed": c.interval.premise_failed, "verdict": c.verdict.value,
            "problem": c.problem}


def _assessment_json(a: Assessment, index: dict[int, int]) -> dict[str, Any]:
    worst = a.worst()
    return {"claim": a.claim.id, "metric": a.claim.metric, "verdict": a.verdict.value,
            "runs": len(a.checks), "unavailable": a.unavailable,
            "worst_err_pages": None if worst is None else worst.err_pages,
            "explain": "" if a.holds else a.explain(),
            "problems": list(a.problems), "shortfall": a.shortfall,
            "checks": [_check_json(c, index) for c in a.checks]}


def to_json(rs: ResultSet, assessments: Sequence[Assessment], key: str) -> dict[str, Any]:
    """A result set's assessments: a summary per claim for tools that read
    results, and every check, so that a reader gets the assessments back."""
    index = {id(o): i for i, o in enumerate(rs.runs)}
    return {"format": FORMAT, "digest": key, "label": rs.label, "kernel": rs.kernel,
            "release": rs.kernel_release, "ncpus": rs.ncpus, "regimes": sorted(rs.features),
            "verdicts": [_assessment_json(a, index) for a in assessments]}


def _write(path: Path, doc: dict[str, Any]) -> None:
    atomic.write_text(path, json.dumps(doc, indent=1) + "\n")


def _assess_and_keep(results_dir: Path, rs: ResultSet, text: str,
                     claims: Sequence[Claim]) -> tuple[Assessment, ...]:
    assessments = assess_results(claims, rs)
    _write(path_of(results_dir, rs.label), to_json(rs, assessments, digest(text, claims)))
    return assessments


def save_verdicts(results_dir: Path, claims: Sequence[Claim],
                  labels: Iterable[str]) -> dict[str, tuple[Assessment, ...]]:
    """Assess the stored result sets ``labels`` once, keep the assessments
    beside them and return them (what the runners show), by label."""
    kept = {}
    for label in labels:
        text, rs = read_file(results_dir / f"{label}.json")
        kept[label] = _assess_and_keep(results_dir, rs, text, claims)
    return kept


def _from_json(doc: dict[str, Any], rs: ResultSet,
               claims: Sequence[Claim]) -> tuple[Assessment, ...]:
    by_id = {c.id: c for c in claims}
    out = []
    for a in doc["verdicts"]:
        checks = tuple(Check(rs.runs[c["run"]], c["value"], c["reference"], c["err_pages"],
                             Interval(float(c["lo"]), float(c["hi"]), c["premise_failed"]),
                             Verdict(c["verdict"]), c["problem"]) for c in a["checks"])
        out.append(Assessment(by_id[a["claim"]], rs.label, checks, tuple(a["problems"]),
                              a["shortfall"], a["unavailable"]))
    return tuple(out)


def verdicts_of(results_dir: Path, claims: Sequence[Claim], rs_path: Path) -> tuple[
        ResultSet, tuple[Assessment, ...]]:
    """A stored result set and its assessments, as kept beside it; assessed
    (and kept) again when they were made from other runs or other claims."""
    text, rs = read_file(rs_path)
    key = digest(text, claims)
    try:
        doc = json.loads(path_of(results_dir, rs.label).read_text())
        if doc.get("format") == FORMAT and doc.get("digest") == key:
            return rs, _from_json(doc, rs, claims)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    return rs, _assess_and_keep(results_dir, rs, text, claims)
