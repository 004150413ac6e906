"""The one vocabulary for what runs say about a claim.

Five verdicts, in kunit's order of severity (each worse than the one
before), with LTP's outcome where it has one:

- ``HOLDS``: every run lies within the claim's bound (TPASS);
- ``UNDECIDED``: no run could decide the claim: none was made, or the
  inherited floor hides the low side of the bound;
- ``UNAVAILABLE``: the kernel lacks what the claim's runs need, e.g. a
  memory cgroup peak before Linux 5.19 (TCONF);
- ``BROKEN``: a run does not report a value the claim names: the claim's
  fault, not the kernel's (TBROK);
- ``CONTRADICTED``: the kernel disagreed: a run outside the bound, or no
  run showing what the claim says must show (TFAIL).

Every reader (the runners, doctor, the site, the man-pages series) says a
verdict in the words of ``Verdict.words`` (and colour), so "not decided" is
never shown as a failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Verdict(Enum):
    HOLDS = "holds"
    UNDECIDED = "undecided"
    UNAVAILABLE = "unavailable"
    BROKEN = "broken"
    CONTRADICTED = "contradicted"

    @property
    def severity(self) -> int:
        """0 for HOLDS, higher for worse: the order of the members."""
        return list(Verdict).index(self)

    @property
    def words(self) -> str:
        """The verdict as a reader sees it: "holds", "not decided", ..."""
        return _SHOWN[self][0]

    @property
    def colour(self) -> str:
        """The colour a terminal shows it in (a rich style)."""
        return _SHOWN[self][1]


_SHOWN = {
    Verdict.HOLDS: ("holds", "green"),
    Verdict.UNDECIDED: ("not decided", "magenta"),
    Verdict.UNAVAILABLE: ("not available here", "dim"),
    Verdict.BROKEN: ("broken", "red"),
    Verdict.CONTRADICTED: ("contradicted", "red"),
}


def worst(verdicts: Iterable[Verdict], default: Verdict = Verdict.HOLDS) -> Verdict:
    """The most severe of ``verdicts``; ``default`` when there are none."""
    return max(verdicts, key=lambda v: v.severity, default=default)
