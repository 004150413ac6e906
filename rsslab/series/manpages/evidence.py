"""What the measurements say about the claims behind the series.

Results come from ``build/results/<label>.json`` (``rsslab run`` on the
host, the QEMU matrix for the other kernels), each with the regimes its
kernel had.  For each kernel that behaves as some upstream release this
module reads the stored verdicts of the claims a patch cites, and formats the
measured numbers the commit messages quote, each row naming the kernel it
comes from.  Runs the host is missing can be measured on the spot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import kversion, paths, results
from rsslab.claims import Assessment, Claim, Verdict, regimes
from rsslab.errors import UserError
from rsslab.plan import RunSpec, merge
from rsslab.results import Observation, ResultSet
from rsslab.run import host
from rsslab.run.session import Session
from rsslab.series.manpages.spec import Measure
from rsslab.series.template import wrap

log = logging.getLogger(__name__)

MEASURE_REPEAT = 3


@dataclass(frozen=True, slots=True)
class Kernel:
    """One results file, with the regimes its kernel had, and the verdicts
    kept beside it (``None``: assess here)."""

    results: ResultSet
    assessments: tuple[Assessment, ...] | None = None

    @property
    def features(self) -> frozenset[str]:
        return self.results.features

    @property
    def label(self) -> str:
        return self.results.label

    @property
    def version(self) -> str:
        """How a table names the kernel: its upstream version (Debian's
        6.1.0-56-amd64 is 6.1.192), or its name when it declared regimes its
        version does not tell (6.12-nosum: 6.12.117 with a change reverted)."""
        rs = self.results
        if rs.origin.declared or rs.origin.without:
            return rs.kernel
        return kversion.show(kversion.upstream(rs.kernel_release, rs.kernel_version))

    def describe(self) -> str:
        rs = self.results
        return f"Linux {rs.kernel_release} ({rs.kernel}, {rs.ncpus} CPUs)"


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """A claim on one kernel: its verdict, and what it rests on or why.  A
    claim that does not apply to the kernel is not available there (LTP's
    TCONF); one whose runs the kernel has no results of is not decided."""

    claim: str
    label: str
    verdict: Verdict
    detail: str = ""
    runs: int = 0  # the kernel's runs of the claim


def as_released(rs: ResultSet, regs: Sequence[regimes.Regime]) -> bool:
    """Does the kernel behave as some upstream release?  Not when it declared
    a regime no release has (one of rsslab's own kernel patches): the man
    pages document releases."""
    unreleased = {r.id for r in regs if not r.ranges}
    return not unreleased & set(rs.origin.declared)


def kernels(root: Path) -> list[Kernel]:
    """Every kernel with results that behaves as a release, oldest first."""
    regs = regimes.load(root / "claims")
    claim_list = claims_mod.load(root / "claims")
    where = paths.results_dir(root)
    stored = [claims_mod.verdicts_of(where, claim_list, p) for p in results.files(where)]
    kept = [Kernel(rs, saved) for rs, saved in stored if rs.runs and as_released(rs, regs)]
    kept.sort(key=lambda k: (kversion.upstream(k.results.kernel_release,
                                               k.results.kernel_version),
                             k.results.kernel, k.results.ncpus))
    return kept


def _assessment(claim: Claim, kernel: Kernel) -> Assessment:
    stored = next((a for a in kernel.assessments or () if a.claim.id == claim.id), None)
    if stored is not None:
        return stored
    rs = kernel.results
    return claims_mod.assess(claim, rs.runs, kernel.features, kernel.label)


def claim_map(root: Path) -> dict[str, Claim]:
    return {c.id: c for c in claims_mod.load(root / "claims")}


def check(claim: Claim, kernel: Kernel) -> ClaimCheck:
    rs = kernel.results
    if not claim.applies(kernel.features, rs.ncpus):
        return ClaimCheck(claim.id, kernel.label, Verdict.UNAVAILABLE,
                          f"does not apply to {kernel.describe()}")
    if not any(claim.matches(o, rs.features) for o in rs.runs):
        return ClaimCheck(claim.id, kernel.label, Verdict.UNDECIDED,
                          f"no runs of {', '.join(r.describe() for r in claim.runs)} "
                          f"on {kernel.describe()}")
    a = _assessment(claim, kernel)
    if a.holds:
        largest = a.worst()
        seen = ("" if largest is None or largest.err_pages is None
                else f", worst {largest.err_pages:+g} pages")
        return ClaimCheck(claim.id, kernel.label, a.verdict, f"{len(a.checks)} runs{seen}",
                          len(a.checks))
    return ClaimCheck(claim.id, kernel.label, a.verdict, a.explain(), len(a.checks))


def checks(ids: Iterable[str], known: Mapping[str, Claim],
           kernels_: Sequence[Kernel]) -> list[ClaimCheck]:
    return [check(known[i], k) for i in dict.fromkeys(ids) if i in known for k in kernels_]


# --- host runs the series needs ---------------------------------------------

def needed_host_runs(ids: Iterable[str], known: Mapping[str, Claim], features: frozenset[str],
                     ncpus: int, measures: Iterable[Measure]) -> list[RunSpec]:
    specs = claims_mod.plan([known[i] for i in dict.fromkeys(ids) if i in known], features,
                            ncpus)
    specs += [RunSpec(m.scenario, dict(m.params), False, MEASURE_REPEAT) for m in measures]
    return merge(specs)


def measure_host(session: Session, specs: Sequence[RunSpec], features: frozenset[str],
                 progress: Callable[[RunSpec], None] | None = None) -> list[str]:
    """Run ``specs`` on the host (whose regimes are ``features``) and save
    them; return what could not run."""
    bin_dir = session.binaries()
    failed: list[str] = []
    runs: list[Observation] = []
    broken: set[str] = set()
    for spec in specs:
        if spec.scenario in broken:
            continue
        try:
            runs += host.run_specs(bin_dir, [spec], "host", progress)
        except UserError as e:
            broken.add(spec.scenario)
            failed.append(str(e))
    if runs:
        host.save_host(session.results_dir, runs, features)
    return failed


# --- tables for the messages --------------------------------------------------

def _span(values: Sequence[float], signed: bool = False) -> str:
    lo, hi = min(values), max(values)
    f = "{:+g}" if signed else "{:g}"
    return f.format(lo) if lo == hi else f"{f.format(lo)}..{f.format(hi)}"


def _rows(m: Measure, kernels_: Sequence[Kernel], extra_keys: Sequence[str]
          ) -> list[list[str | int]]:
    """One row per kernel (and CPU count, unless merged) and open parameter."""
    groups: dict[tuple[str, ...], list[Observation]] = {}
    for k in kernels_:
        cpus = "" if m.merge_cpus else str(k.results.ncpus)
        for o in k.results.runs:
            if o.scenario == m.scenario and all(str(o.params.get(p)) == str(v)
                                                for p, v in m.params.items()):
                key = (k.version, cpus,
                       *(str(o.params.get(p, "")) for p in extra_keys))
                groups.setdefault(key, []).append(o)
    rows: list[list[str | int]] = []
    for key, group in groups.items():
        refs = [g.value(m.reference) for g in group]
        cells = []
        for _, metric in m.columns:
            vals = [g.value(metric) for g in group]
            if any(v is None for v in vals) or any(r is None for r in refs):
                break
            if m.shows_error(metric):
                errs = [((v or 0) - (r or 0)) / group[0].page_kib for v, r in zip(vals, refs)]
                cells.append(_span(errs, signed=True))
            else:
                cells.append(_span([float(v or 0) for v in vals]))
        else:
            cpus = key[1] or _cpu_counts({g.ncpus for g in group})
            rows.append([key[0], cpus, *key[2:], *cells, len(group)])
    return rows


def _cpu_counts(counts: set[int]) -> str:
    """``1,2,4``; a longer list as its range, ``1..128``, to keep rows short."""
    ordered = sorted(counts)
    if len(ordered) <= 3:
        return ",".join(map(str, ordered))
    return f"{ordered[0]}..{ordered[-1]}"


def _extra_keys(m: Measure, kernels_: Sequence[Kernel]) -> list[str]:
    """Parameters the measure leaves open (e.g. big_parent's mode), in order."""
    keys: dict[str, None] = {}
    for k in kernels_:
        for o in k.results.runs:
            if o.scenario == m.scenario:
                keys.update((p, None) for p in o.params if p not in m.params)
    return list(keys)


def table(m: Measure, kernels_: Sequence[Kernel]) -> str:
    """A plain-text table of one measurement on every kernel with results."""
    extra = _extra_keys(m, kernels_)
    head = ["kernel", "CPUs", *extra, *(h for h, _ in m.columns)]
    counted = _rows(m, kernels_, extra)
    if not counted:
        return f"    ({m.title}: no results yet; run `rsslab run`)"
    runs = _span([float(r[-1]) for r in counted])
    rows = [[str(c) for c in r[:-1]] for r in counted]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(("{:<%d}" if i == 0 or 1 < i <= 1 + len(extra) else "{:>%d}") % w
                    for i, w in enumerate(widths))
    errs = [h for h, metric in m.columns if m.shows_error(metric)]
    unit = f"KiB, {runs} runs a row" + (
        f"; {', '.join(errs)}: error in pages against {m.reference_name}" if errs else "")
    lines = [*wrap(f"{m.title} ({unit}):", "    ", "    "), "", "    " + fmt.format(*head)]
    lines += ["    " + fmt.format(*r) for r in rows]
    lines += ["", f"    $ {command(m)}"]
    return "\n".join(line.rstrip() for line in lines)


def command(m: Measure) -> str:
    """The rsslab command that measures ``m`` on the running kernel."""
    params = [f"{k}={v}" for k, v in m.params.items()]
    return " ".join(["rsslab run --scenario", m.scenario, *(f"-p {p}" for p in params)])
