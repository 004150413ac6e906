"""The proof: base and patched kernels booted through the matrix.

Both kernels run every claim that may apply to them, at each CPU count;
the patch's own claims (``claims`` in its ``patch.toml``) are then assessed
on both, so the table shows the metric before (as the unpatched claims
describe it) and after (exact).  Every other claim that applies to both
kernels must hold on both: that is "nothing else changed".  The numbers
become the ``${values}`` of the commit messages and cover letters.

A proof is kept under the cache (``kept``), keyed by both kernel images,
the sources of everything the guests run (``repro/``: /init, the
observer, the reproducers), the claims, the CPU counts, QEMU's options and
``PROTOCOL``; :func:`run_kept` reads it back while they do not change.  A
proof in which a guest failed is not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rsslab import claims as claims_mod
from rsslab import metrics
from rsslab.claims import Claim, Verdict, regimes
from rsslab.errors import KernelError, UserError
from rsslab.kernels import Kernel
from rsslab.results import Observation
from rsslab.run import matrix
from rsslab.run import kept

Progress = Callable[[str, str, int, int], None]
PROTOCOL = 1  # bump when the plan, the comparison or the kept record changes
# What the guests run and what judges them: /init, the observer, the
# reproducers and their headers; the claims and the regimes.
SOURCES = ("repro/*.c", "repro/*.h", "claims/*.toml")


@dataclass(frozen=True, slots=True)
class Row:
    """One focus claim at one CPU count, assessed on both kernels."""

    claim: str
    metric: str
    ncpus: int
    before: tuple[float, ...]   # error in pages, per run
    after: tuple[float, ...]

    @staticmethod
    def show(errs: Sequence[float]) -> str:
        if not errs:
            return "no runs"
        exact = sum(1 for e in errs if e == 0)
        worst = max(errs, key=abs)
        return f"{worst:+g} ({exact}/{len(errs)} exact)" if worst else f"0 ({exact}/{len(errs)})"


@dataclass(frozen=True, slots=True)
class Proof:
    rows: tuple[Row, ...]
    others_held: tuple[str, ...]      # claims that held on both kernels
    others_failed: tuple[str, ...]    # "claim on label: problem"
    errors: tuple[str, ...]           # guests that failed
    base_runs: tuple[Observation, ...]
    patched_runs: tuple[Observation, ...]

    @property
    def after_exact(self) -> bool:
        return all(e == 0 for r in self.rows for e in r.after) and all(r.after for r in self.rows)

    @property
    def before_inexact(self) -> bool:
        return any(e != 0 for r in self.rows for e in r.before)


def _errors(claim: Claim, runs: Sequence[Observation], feats: frozenset[str]) -> tuple[float, ...]:
    a = claims_mod.assess(claim, runs, feats, "")
    return tuple(c.err_pages for c in a.checks if c.err_pages is not None)


def compare(focus: Sequence[Claim], all_claims: Sequence[Claim],
            base: Sequence[matrix.Outcome], patched: Sequence[matrix.Outcome]) -> Proof:
    """The focus claims assessed on both kernels; the rest's stored verdicts on each
    (a claim a kernel cannot give the runs of counts neither way)."""
    errors = tuple(o.error for o in (*base, *patched) if o.error)
    rows: list[Row] = []
    held: set[str] = set()
    failed: list[str] = []
    focus_ids = {c.id for c in focus}
    for b, p in zip(base, patched):
        n = p.target.ncpus
        for c in focus:
            rows.append(Row(c.id, c.metric, n, _errors(c, b.runs, p.features),
                            _errors(c, p.runs, p.features)))
        for out in (b, p):
            for a in out.assessments:
                if a.claim.id in focus_ids or a.verdict is Verdict.UNAVAILABLE:
                    continue
                if a.holds:
                    held.add(a.claim.id)
                else:
                    failed.append(f"{a.claim.id} on {out.target.label}: {a.verdict.words}: "
                                  f"{a.problems[0]}")
    both = set().union(*({a.claim.id for a in b.assessments}
                         & {a.claim.id for a in p.assessments}
                         for b, p in zip(base, patched)))
    return Proof(tuple(rows), tuple(sorted(held & both - focus_ids)), tuple(failed), errors,
                 tuple(o for out in base for o in out.runs),
                 tuple(o for out in patched for o in out.runs))


def unlocked(claims: Sequence[Claim], focus_ids: Sequence[str], regime: str) -> list[Claim]:
    """The claims with the focus ones planned on the base kernel too: their
    runs are what the table compares, before and after."""
    return [replace(c, regimes=tuple(r for r in c.regimes if r != regime))
            if c.id in focus_ids else c for c in claims]


def run(base: Kernel, patched: Kernel, cpus: Sequence[int], root: Path,
        settings: matrix.Settings, focus_ids: Sequence[str], regime: str,
        progress: Progress, wide_cpus: Sequence[int] = ()) -> Proof:
    """Boot both kernels at every CPU count through the matrix: with every
    claim at ``cpus``, with the focus claims only at ``wide_cpus``."""
    all_claims = claims_mod.load(root / "claims")
    regs = regimes.load(root / "claims")
    known = {c.id: c for c in all_claims}
    missing = [i for i in focus_ids if i not in known]
    if missing:
        raise KernelError(f"kernelpatches/ names claims that claims/ lacks: {', '.join(missing)}")
    focus = [known[i] for i in focus_ids]
    claims = unlocked(all_claims, focus_ids, regime)
    outcomes = matrix.run_all(matrix.targets([base, patched], cpus), claims, regs,
                              settings, progress)
    wide = [n for n in dict.fromkeys(wide_cpus) if n not in cpus]
    if wide:
        outcomes += matrix.run_all(matrix.targets([base, patched], wide),
                                   [c for c in claims if c.id in focus_ids], regs,
                                   settings, progress)
    by_kernel: dict[str, list[matrix.Outcome]] = {}
    for o in outcomes:
        by_kernel.setdefault(o.target.kernel.name, []).append(o)
    return compare(focus, all_claims, by_kernel.get(base.name, []),
                   by_kernel.get(patched.name, []))


def key(store: kept.Store, base: Kernel, patched: Kernel, cpus: Sequence[int],
        focus_ids: Sequence[str], regime: str, wide_cpus: Sequence[int] = ()) -> str:
    """The digest of everything a proof depends on."""
    guest = (matrix.GUEST_MEMORY_MIB, matrix.GUEST_BASE_MIB, matrix.GUEST_PER_CPU_MIB)
    return store.key((PROTOCOL, kept.kernel_inputs(base), kept.kernel_inputs(patched),
                      tuple(cpus), tuple(wide_cpus), tuple(focus_ids), regime, guest,
                      kept.qemu_options(matrix.GUEST_MEMORY_MIB)), SOURCES)


def to_doc(pr: Proof) -> dict[str, Any]:
    return {"rows": [asdict(r) for r in pr.rows], "others_held": list(pr.others_held),
            "others_failed": list(pr.others_failed), "errors": list(pr.errors),
            "base_runs": [o.to_flat() for o in pr.base_runs],
            "patched_runs": [o.to_flat() for o in pr.patched_runs]}


def from_doc(doc: Any) -> Proof | None:
    """The kept proof, or None when the document is not one."""
    try:
        rows = tuple(Row(str(r["claim"]), str(r["metric"]), int(r["ncpus"]),
                         tuple(float(x) for x in r["before"]),
                         tuple(float(x) for x in r["after"])) for r in doc["rows"])
        return Proof(rows, tuple(map(str, doc["others_held"])),
                     tuple(map(str, doc["others_failed"])), tuple(map(str, doc["errors"])),
                     tuple(Observation.from_flat(o) for o in doc["base_runs"]),
                     tuple(Observation.from_flat(o) for o in doc["patched_runs"]))
    except (KeyError, TypeError, ValueError, UserError):
        return None


def run_kept(store: kept.Store, base: Kernel, patched: Kernel, cpus: Sequence[int],
             settings: matrix.Settings, focus_ids: Sequence[str], regime: str,
             progress: Progress, wide_cpus: Sequence[int] = ()) -> Proof:
    """:func:`run`, or the proof kept for the same inputs; a new proof is
    kept unless a guest failed."""
    k = key(store, base, patched, cpus, focus_ids, regime, wide_cpus)
    pr = from_doc(store.get("proof", k))
    if pr is not None:
        kept.said(f"proof of {patched.name} against {base.name}", store.path("proof", k),
                  "kernels, guest sources, claims, CPU counts and QEMU options", store.again)
        return pr
    pr = run(base, patched, cpus, store.root, settings, focus_ids, regime, progress, wide_cpus)
    if not pr.errors:
        store.put("proof", k, to_doc(pr))
    return pr


def title(row: Row) -> str:
    """A row's name: its metric's label in the catalogue, and the case where
    the claim's id names one (``...-with-threads``)."""
    case = row.claim.partition("-exact-with-")[2]
    return metrics.label(row.metric) + (f", {case}" if case else "")


def table(proof: Proof) -> str:
    """The before/after table for a commit message (indented, < 72 cols)."""
    head = f"  {'metric':<26} {'CPUs':>4}  {'before':<18} {'after':<14}".rstrip()
    lines = [head, "  " + "-" * (len(head) - 2)]
    for r in proof.rows:
        name = title(r)
        lines.append(f"  {name:<26} {r.ncpus:>4}  {Row.show(r.before):<18} "
                     f"{Row.show(r.after):<14}".rstrip())
    return "\n".join(lines)


def others_sentence(proof: Proof) -> str:
    if proof.others_failed:
        return (f"{len(proof.others_failed)} other claim checks failed: "
                + "; ".join(proof.others_failed[:3]))
    return (f"Nothing else changed: the {len(proof.others_held)} other documented "
            "behaviours that apply to both kernels held on both.")


def scenario_value(runs: Sequence[Observation], scenario: str, metric: str,
                   reference: str) -> str:
    """e.g. "4 KiB against 700 KiB exact" for the first run of a scenario."""
    for o in runs:
        if o.scenario == scenario and o.value(metric) is not None and o.value(reference):
            return f"{o.value(metric)} KiB against {o.value(reference)} KiB exact"
    return "not measured"
