"""Sphinx roles and a directive that tie every factual sentence to a claim.

``:claim:`ID``` links a claim id to its entry on the metrics page and fails
the build (a warning under ``-W``) when the id is unknown or the claim does
not hold: not decided, not available here, broken or contradicted.

``.. claimed:: ID [ID...]`` holds prose that rests on those claims: the prose
appears only when every claim holds; otherwise the block says plainly which,
in the words of its verdict: not decided yet (which kernel and runs are
missing), not available here, broken, or what the kernel did instead.

``:obs:`SELECT SCENARIO [NAME=VALUE...] EXPR [pages]``` prints a measured
value: SELECT is a regime id (``split-rss``), a result label
(``host-smp2``) or ``any``, EXPR a flat metric name or a difference ``a_kib-b_kib``.
It prints the range over the repeated runs of one kernel and names that
kernel in a tooltip; with no such runs the build fails.

The data comes from the config value ``rsslab_evidence``
(``rsslab.site.evidence.to_json``), written by ``rsslab docs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

from rsslab.claims.verdict import Verdict, worst

log = logging.getLogger(__name__)

# Why a claim may not be cited as fact, by its verdict.
_WHY = {Verdict.UNDECIDED: "was not decided", Verdict.UNAVAILABLE: "is not available here",
        Verdict.BROKEN: "is broken", Verdict.CONTRADICTED: "was contradicted"}

# What a ``claimed`` block says instead of its prose, by the worst verdict of
# its claims (``literal`` in double back-quotes).
HEADINGS = {
    Verdict.UNDECIDED: "Not decided yet, so not stated here; run ``make repro`` (guest kernels) "
                       "or ``make docs`` (this machine's kernel).",
    Verdict.UNAVAILABLE: "Not available here: the measured kernels cannot give the runs of the "
                         "claims below, so this is not stated.",
    Verdict.BROKEN: "Not stated here: a claim below is broken (it names a value its runs do "
                    "not report); fix it in ``claims/``.",
    Verdict.CONTRADICTED: "Measured otherwise: the kernel disagreed with the claims below.",
}


def verdict_of(evidence: Mapping[str, Any], claim_id: str) -> Verdict | None:
    """A claim's verdict on the measured kernels; None for an unknown id."""
    info = evidence.get("claims", {}).get(claim_id)
    return None if info is None else Verdict(info["state"])


def claim_problem(evidence: Mapping[str, Any], claim_id: str) -> str:
    """Why a claim may not be cited as fact, or "" when it may."""
    verdict = verdict_of(evidence, claim_id)
    if verdict is None:
        return f"unknown claim id '{claim_id}' (see claims/*.toml)"
    if verdict is Verdict.HOLDS:
        return ""
    return f"claim '{claim_id}' {_state(evidence['claims'][claim_id], verdict)}"


def _state(info: Mapping[str, Any], verdict: Verdict) -> str:
    """What a claim that does not hold came to, and where: ``was not decided
    on 6.1-smp2: ...``."""
    if not info["verdicts"] and info.get("unavailable"):
        why = [f"{label}: {reason}" for label, reason in info["unavailable"].items()]
        return f"{_WHY[verdict]}: {' | '.join(why)}"
    if not info["verdicts"]:
        return f"was not checked on any measured kernel: {info['needs']}"
    seen = []
    for label, v in info["verdicts"].items():
        here = Verdict(v["verdict"])
        if here is not Verdict.HOLDS:
            words = "" if here is verdict else f" ({here.words})"
            seen.append(f"{label}{words}: {'; '.join(v['problems'][:2])}")
    return f"{_WHY[verdict]} on {' | '.join(seen)}"


def heading(verdict: Verdict) -> list[nodes.Node]:
    """What a ``claimed`` block says when its worst claim has ``verdict``."""
    parts = HEADINGS[verdict].split("``")
    return [nodes.literal(t, t) if i % 2 else nodes.Text(t) for i, t in enumerate(parts)]


def claim_xref(claim_id: str) -> addnodes.pending_xref:
    ref = addnodes.pending_xref("", refdomain="std", reftype="ref",
                                reftarget=f"claim-{claim_id}", refexplicit=True,
                                refwarn=True)
    ref += nodes.literal(claim_id, claim_id, classes=["claim-id"])
    return ref


class ClaimRole(SphinxRole):
    """``:claim:`ID```: a link to the claim, only if the matrix checked it."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        claim_id = self.text.strip()
        problem = claim_problem(self.config.rsslab_evidence, claim_id)
        if problem:
            log.warning("%s", problem, location=self.get_location())
        return [claim_xref(claim_id)], []


def _matches(run: Mapping[str, Any], scenario: str, params: Mapping[str, str]) -> bool:
    return (run.get("scenario") == scenario
            and all(str(run.get("params", {}).get(k)) == v for k, v in params.items()))


def _value(run: Mapping[str, Any], expr: str) -> int | None:
    total = 0
    for sign, name in zip([1] + [-1] * expr.count("-"), expr.split("-")):
        v = run.get(name)
        if not isinstance(v, int) or isinstance(v, bool):
            return None
        total += sign * v
    return total


def pick_runs(evidence: Mapping[str, Any], select: str, scenario: str,
              params: Mapping[str, str], expr: str = "") -> tuple[str, list[Mapping[str, Any]]]:
    """The kernel (2 CPUs preferred) whose runs answer an ``obs`` query:
    runs of the scenario that measured ``expr`` (a kernel without a
    metric, e.g. without a memory cgroup peak before 5.19, is passed over)."""
    kernels = [k for k in evidence.get("kernels", [])
               if select in ("any", k["label"]) or select in k["features"]]
    kernels.sort(key=lambda k: (k["ncpus"] != 2, k["ncpus"]))
    for k in kernels:
        runs = [r for r in evidence["runs"].get(k["label"], []) if _matches(r, scenario, params)
                and (not expr or _value(r, expr) is not None)]
        if runs:
            return k["label"], runs
    return "", []


def format_span(values: Sequence[float], unit: str) -> str:
    lo, hi = min(values), max(values)

    def show(x: float) -> str:
        return f"{x:g}" if unit == "pages" else f"{x:,.0f}"

    text = show(lo) if lo == hi else f"{show(lo)} to {show(hi)}"
    return f"{text} {'KiB' if unit == 'kib' else 'pages'}"


class ObsRole(SphinxRole):
    """``:obs:`split-rss seed vmhwm_kib```: a measured value, never typed."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        words = self.text.split()
        unit = "kib"
        if words and words[-1] in ("pages", "kib"):
            unit = words.pop()
        if len(words) < 3 or any("=" not in w for w in words[2:-1]):
            log.warning("obs needs 'SELECT SCENARIO [NAME=VALUE...] EXPR [pages]', got '%s'",
                        self.text, location=self.get_location())
            return [nodes.inline(self.text, "?")], []
        select, scenario, expr = words[0], words[1], words[-1]
        params = dict(w.split("=", 1) for w in words[2:-1])
        label, runs = pick_runs(self.config.rsslab_evidence, select, scenario, params, expr)
        values: list[float] = [v for v in (_value(r, expr) for r in runs) if v is not None]
        if not values:
            log.warning("no measured %s for '%s' (select %s): run `make repro` first",
                        expr, self.text, select, location=self.get_location())
            return [nodes.inline(self.text, "?")], []
        if unit == "pages":
            page_kib = int(runs[0]["page_size"]) // 1024
            values = [v / page_kib for v in values]
        text = format_span(values, unit)
        title = f"{scenario} on {label}: {len(values)} run(s)"
        return [nodes.abbreviation(text, text, explanation=title, classes=["obs"])], []


class ClaimedDirective(SphinxDirective):
    """Prose shown only when its claims hold; else what is missing or wrong."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        evidence = self.config.rsslab_evidence
        ids = self.arguments[0].split()
        problems = [(i, claim_problem(evidence, i)) for i in ids]
        unknown = [p for i, p in problems if i not in evidence.get("claims", {})]
        for p in unknown:
            log.warning("%s", p, location=self.get_location())
        open_ = [(i, p) for i, p in problems if p]
        if not open_:
            box = nodes.container(classes=["claimed"])
            self.state.nested_parse(self.content, self.content_offset, box)
            return [box]
        known = [v for i, _ in open_ if (v := verdict_of(evidence, i)) is not None]
        verdict = worst(known, Verdict.UNDECIDED)
        node: nodes.Element = (nodes.warning() if verdict in (Verdict.BROKEN, Verdict.CONTRADICTED)
                               else nodes.note())
        para = nodes.paragraph()
        para.extend(heading(verdict))
        node.append(para)
        items = nodes.bullet_list()
        for i, p in open_:
            v = verdict_of(evidence, i)
            text = p if v is None else _state(evidence["claims"][i], v)
            line = nodes.paragraph()
            line.extend([claim_xref(i), nodes.Text(": " + text)])
            items.append(nodes.list_item("", line))
        node.append(items)
        return [node]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("rsslab_evidence", {}, "env", types=frozenset({dict}))
    app.add_role("claim", ClaimRole())
    app.add_role("obs", ObsRole())
    app.add_directive("claimed", ClaimedDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
