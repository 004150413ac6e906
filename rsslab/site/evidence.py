"""What was measured, on which kernels, and which claims it checked.

The site states nothing that is not here: every result file in
``build/results`` becomes a ``KernelRuns`` (the regimes its kernel had, as
the file records them, and the stored verdict of every claim that applies
to them), and every claim gets the worst verdict of the kernels that ran
it (``claims.Verdict``): it holds only where it held on every one.  A claim
no kernel ran is not decided, or not available here where the kernels of
its regimes cannot give its runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsslab import claims as claims_mod
from rsslab import kversion, results
from rsslab.claims import Assessment, Claim, Verdict, regimes, worst
from rsslab.claims.regimes import Regime
from rsslab.errors import UserError
from rsslab.results import ResultSet

@dataclass(frozen=True, slots=True)
class KernelRuns:
    """One result file: a kernel at a CPU count, its regimes and verdicts."""

    results: ResultSet
    features: frozenset[str]
    assessments: tuple[Assessment, ...]  # only claims that apply and were observed
    # Claims that apply but whose runs this kernel cannot give (no memory
    # cgroup peak before 5.19): each says why.
    unavailable: tuple[Assessment, ...] = ()

    @property
    def label(self) -> str:
        return self.results.label

    @property
    def ncpus(self) -> int:
        return self.results.ncpus

    def describe(self) -> str:
        return f"{self.results.kernel} (Linux {self.results.kernel_release}, {self.ncpus} CPUs)"


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    claim: Claim
    assessments: tuple[Assessment, ...]  # on the kernels that ran it
    unavailable: tuple[Assessment, ...] = ()  # on the kernels that cannot give its runs

    @property
    def verdict(self) -> Verdict:
        if self.assessments:
            return worst(a.verdict for a in self.assessments)
        return Verdict.UNAVAILABLE if self.unavailable else Verdict.UNDECIDED


@dataclass(frozen=True, slots=True)
class Evidence:
    claims: tuple[Claim, ...]
    regimes: tuple[Regime, ...]
    kernels: tuple[KernelRuns, ...]
    reproducers: frozenset[str] = frozenset()  # scenarios with a repro/*.c

    def claim(self, claim_id: str) -> Claim | None:
        return next((c for c in self.claims if c.id == claim_id), None)

    def status(self, claim: Claim) -> ClaimStatus:
        return ClaimStatus(claim,
                           tuple(a for k in self.kernels for a in k.assessments
                                 if a.claim.id == claim.id),
                           tuple(a for k in self.kernels for a in k.unavailable
                                 if a.claim.id == claim.id))

    def kernel(self, label: str) -> KernelRuns | None:
        return next((k for k in self.kernels if k.label == label), None)

    def with_feature(self, feature: str) -> list[KernelRuns]:
        return [k for k in self.kernels if feature in k.features]

    def regime(self, regime_id: str) -> Regime | None:
        return next((r for r in self.regimes if r.id == regime_id), None)


def _order(rs: ResultSet) -> tuple[tuple[int, int, int], str, int]:
    try:
        v = kversion.upstream(rs.kernel_release, rs.kernel_version)
    except UserError:
        v = (0, 0, 0)
    return v, rs.kernel, rs.ncpus


def _kernel_runs(rs: ResultSet, every: Sequence[Assessment]) -> KernelRuns:
    return KernelRuns(rs, rs.features, tuple(a for a in every if a.checks),
                      tuple(a for a in every if a.unavailable))


def _evidence(claim_list: Sequence[Claim], regs: Sequence[Regime],
              assessed: Iterable[tuple[ResultSet, Sequence[Assessment]]],
              reproducers: frozenset[str]) -> Evidence:
    kernels = [_kernel_runs(rs, every)
               for rs, every in sorted(assessed, key=lambda j: _order(j[0]))]
    return Evidence(tuple(claim_list), tuple(regs), tuple(kernels), reproducers)


def load(root: Path, results_dir: Path) -> Evidence:
    """Claims and regimes from ``claims/``, runs from ``results_dir`` with
    the verdicts kept beside them (``claims.store``)."""
    claim_list = claims_mod.load(root / "claims")
    files = results.files(results_dir) if results_dir.is_dir() else []
    return _evidence(claim_list, regimes.load(root / "claims"),
                     [claims_mod.verdicts_of(results_dir, claim_list, p) for p in files],
                     frozenset(p.stem for p in (root / "repro").glob("*.c")))


def regime_span(regime: Regime) -> str:
    """``Linux 2.6.34 to 6.1``-style text of a regime's version ranges."""
    if not regime.ranges:
        return "kernels built with an rsslab patch"
    parts = [f"Linux {lo} and later" if not hi else f"Linux {lo} up to (not including) {hi}"
             for lo, hi in regime.ranges]
    return "; ".join(parts)


def needs(ev: Evidence, claim: Claim) -> str:
    """What must be measured before a claim can be checked."""
    where = []
    for rid in claim.regimes:
        r = ev.regime(rid)
        where.append(f"{rid} ({regime_span(r)})" if r else rid)
    kernels = f"a kernel in {' and '.join(where)}" if where else "any kernel"
    runs = "; ".join(r.describe() for r in claim.runs)
    absent = sorted({r.scenario for r in claim.runs} - ev.reproducers)
    todo = f" (no reproducer in repro/ yet for {', '.join(absent)})" if absent else ""
    return f"needs {kernels}, measured with: {runs}{todo}"


def _assessment_json(a: Assessment) -> dict[str, Any]:
    largest = a.worst()
    return {
        "verdict": a.verdict.value,
        "runs": len(a.checks),
        "worst_err_pages": None if largest is None else largest.err_pages,
        "bound": None if largest is None else largest.interval.show(),
        "problems": list(a.problems[:5]),
    }


def to_json(ev: Evidence) -> dict[str, Any]:
    """Everything the Sphinx roles need, as plain data (a config value).  A
    claim's ``state`` is its verdict (``claims.Verdict`` values)."""
    claims_out: dict[str, Any] = {}
    for c in ev.claims:
        st = ev.status(c)
        claims_out[c.id] = {
            "state": st.verdict.value,
            "metric": c.metric,
            "needs": needs(ev, c),
            "verdicts": {a.label: _assessment_json(a) for a in st.assessments},
            "unavailable": {a.label: a.unavailable for a in st.unavailable},
        }
    kernels = [{"label": k.label, "kernel": k.results.kernel,
                "release": k.results.kernel_release, "ncpus": k.ncpus,
                "features": sorted(k.features)} for k in ev.kernels]
    runs: Mapping[str, list[dict[str, Any]]] = {
        k.label: [o.to_flat() for o in k.results.runs] for k in ev.kernels}
    return {"claims": claims_out, "kernels": kernels, "runs": dict(runs)}
