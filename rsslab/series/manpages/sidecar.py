"""Does every sentence a patch adds have its claims, and is every figure computed?

For each page a patch changes, the sentences of the patched page that the
page did not have before must be listed in the patch's ``claims.toml`` with
at least one claim id that exists in ``claims/``, unless the patch's
``wording`` pairs turn the sentence back into one the page already had (a
wording change states no new fact).  Each figure listed for a sentence must
appear in it and equal its formula from :mod:`rsslab.claims`.  Entries that
match no added sentence are reported too, so the sidecar cannot go stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rsslab import claims as claims_mod
from rsslab.series.manpages import roff as man_roff
from rsslab.series.manpages.spec import Figure, ManPatch, Sentence

# The formulas a figure may name, each with the mechanism in rsslab.claims.
FORMULAS: Mapping[str, Callable[..., int]] = {
    "task_rss_events_thresh": lambda: claims_mod.TASK_RSS_EVENTS_THRESH,
    "events_per_sync": claims_mod.events_per_sync,
    "fault_around_pages": claims_mod.fault_around_pages,
    "percpu_min_batch": lambda: claims_mod.PERCPU_MIN_BATCH,
    "percpu_batch": claims_mod.percpu_batch,
    "percpu_residue": claims_mod.percpu_residue,
}
_UNIT_KIB = {"pages": 0.0, "KiB": 1.0, "MiB": 1024.0, "GiB": 1024.0 * 1024}


@dataclass(frozen=True, slots=True)
class Problem:
    patch: str
    message: str

    def show(self) -> str:
        return f"{self.patch}: {self.message}"


def figure_value(f: Figure) -> float:
    """The figure as its formula computes it, in the figure's unit."""
    if f.formula not in FORMULAS:
        raise ValueError(f"unknown formula '{f.formula}' (known: {', '.join(FORMULAS)})")
    if f.unit not in _UNIT_KIB:
        raise ValueError(f"unknown unit '{f.unit}' (known: {', '.join(_UNIT_KIB)})")
    pages = FORMULAS[f.formula](**f.args)
    scale = _UNIT_KIB[f.unit]
    return float(pages) if not scale else pages * f.page_kib / scale


def _figure_problem(s: Sentence, f: Figure) -> str:
    if not re.search(rf"(?<![\w.]){re.escape(f.value)}(?![\w]|\.\d)", s.text):
        return f"figure {f.value} is not in the sentence \"{s.text[:60]}...\""
    try:
        want = figure_value(f)
    except (TypeError, ValueError) as e:
        return f"figure {f.value}: {e}"
    if abs(want - float(f.value)) > 1e-9:
        return f"figure {f.value} is wrong: {f.formula}({f.args}) gives {want:g} {f.unit}"
    return ""


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?![\w.]|\.\d)")
_VERSION_OR_SECTION = re.compile(r"(?:Linux|glibc|man-pages-?) $|\($")


def untyped_numbers(s: Sentence) -> list[str]:
    """Numbers in the sentence that are neither a version, a man section,
    a figure computed by a formula, nor a given."""
    known = {f.value for f in s.figures} | set(s.givens)
    out = []
    for m in _NUMBER.finditer(s.text):
        if _VERSION_OR_SECTION.search(s.text[max(0, m.start() - 10):m.start()]):
            continue
        if m[0] not in known:
            out.append(m[0])
    return out


def _is_wording(sentence: str, before: set[str], wording: tuple[tuple[str, str], ...]) -> bool:
    for old, new in wording:
        if new in sentence and sentence.replace(new, old) in before:
            return True
    return False


def check_patch(patch: ManPatch, before: Mapping[str, str], after: Mapping[str, str],
                known_claims: set[str]) -> list[Problem]:
    """Every problem with ``patch``'s sidecar, given its pages before and after."""
    listed = {s.text: s for s in patch.sentences}
    seen: set[str] = set()
    out: list[Problem] = []
    for page in patch.pages:
        old_sentences = set(man_roff.sentences(before[page]))
        for text in man_roff.added_sentences(before[page], after[page]):
            if text in listed:
                seen.add(text)
                continue
            if _is_wording(text, old_sentences, patch.wording):
                continue
            out.append(Problem(patch.name, f"{page}: sentence without claims in "
                                           f"claims.toml: \"{text}\""))
    for s in patch.sentences:
        if s.text not in seen:
            out.append(Problem(patch.name, f"claims.toml lists a sentence the patch does not "
                                           f"add: \"{s.text[:70]}...\""))
        if not s.claims:
            out.append(Problem(patch.name, f"no claim for \"{s.text[:70]}...\""))
        for cid in s.claims:
            if cid not in known_claims:
                out.append(Problem(patch.name, f"unknown claim id '{cid}' (not in claims/)"))
        for f in s.figures:
            msg = _figure_problem(s, f)
            if msg:
                out.append(Problem(patch.name, msg))
        for n in untyped_numbers(s):
            out.append(Problem(patch.name, f"number {n} in \"{s.text[:50]}...\" is neither "
                                           "a figure with its formula nor a given"))
    return out
