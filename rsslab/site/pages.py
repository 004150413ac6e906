"""The generated pages: metrics, plots, site status and the scenario list.

Every number here comes from ``Evidence`` (the stored runs and the claim
verdicts stored with them); kernels or runs that are missing are named,
with the command that measures them.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import metrics, scenarios
from rsslab.claims import Assessment, Claim, Verdict, worst
from rsslab.run import matrix
from rsslab.site import rst
from rsslab.site.evidence import ClaimStatus, Evidence, KernelRuns, needs, regime_span
from rsslab.site.plots import Figure
from rsslab.series.kernel import tracecost

# The metrics as judges and tools read them, in the overview's order:
# (flat name, name, where it is read), from the catalogue.
METRIC_ROWS: tuple[tuple[str, str, str], ...] = tuple(
    (m.name, m.label, m.where) for m in map(metrics.get, (
        "vmrss_kib", "vmhwm_kib", "statm_rss_kib", "stat_rss_kib", "smaps_rss_kib",
        "wait4_maxrss_kib", "children_maxrss_kib", "self_maxrss_kib", "child_maxrss_kib",
        "cgroup_peak_kib")))

# The kernels of the default matrix (``make repro``), named in "missing" notes.
MATRIX_KERNELS = matrix.DEFAULT_KERNELS
MATRIX_CPUS = matrix.DEFAULT_CPUS


def _pages(x: float) -> str:
    return f"{x:+g}" if x else "0"


def metric_assessments(k: KernelRuns, metric: str) -> list[Assessment]:
    return [a for a in k.assessments if a.claim.metric == metric]


def _verdict(a: Assessment) -> str:
    """A verdict in a table: ``holds``, else its words in bold and the first problem."""
    if a.holds:
        return a.verdict.words
    return f"**{a.verdict.words}**: {rst.esc('; '.join(a.problems[:2]))}"


def overview_cell(k: KernelRuns, metric: str) -> str:
    """``exact`` or the error range in pages, and whether the claims hold."""
    mine = metric_assessments(k, metric)
    errs = [c.err_pages for a in mine for c in a.checks if c.err_pages is not None]
    if not errs:
        return "—"
    verdict = worst(a.verdict for a in mine)
    lo, hi = min(errs), max(errs)
    text = "exact" if lo == hi == 0 else (_pages(lo) if lo == hi else f"{_pages(lo)} to {_pages(hi)}")
    return text if verdict is Verdict.HOLDS else f"{text} (**claim {verdict.words}**)"


def overview_table(ev: Evidence) -> str:
    """Metrics against kernels: exact, or the error range seen, in pages."""
    if not ev.kernels:
        return rst.note("No results at all yet: run ``make repro`` (or ``rsslab docs``, "
                        "which measures the host first).")
    header = ["metric", *(f"{k.label}\n\n{k.results.kernel_release}" for k in ev.kernels)]
    rows = [[name, *(overview_cell(k, m) for k in ev.kernels)]
            for m, name, _ in METRIC_ROWS
            if any(metric_assessments(k, m) for k in ev.kernels)]
    return rst.list_table(header, rows, classes="overview")


def _bound_text(claim: Claim) -> str:
    b = dict(claim.bound)
    formula = str(b.pop("formula"))
    fn = getattr(claims_mod, formula, None)
    doc = (inspect.getdoc(fn) or "").split("\n", 1)[0] if callable(fn) else ""
    args = ", ".join(f"{k}={v}" for k, v in b.items())
    return f"{rst.lit(f'{formula}({args})')}" + (f": {rst.esc(doc)}" if doc else "")


def _cites(claim: Claim, short: bool = False) -> str:
    show = rst.short_tag if short else rst.tag
    return "\n".join(f"| {show(t)}" for t in claim.tags)


def kernel_table(k: KernelRuns) -> str:
    rows = []
    for metric, name, _ in METRIC_ROWS:
        for a in metric_assessments(k, metric):
            largest = a.worst()
            errs = [c.err_pages for c in a.checks if c.err_pages is not None]
            exact = bool(errs) and all(e == 0 for e in errs)
            rows.append([
                name, rst.claim_ref(a.claim.id), str(len(a.checks)),
                f"exact in all {len(errs)}" if exact else "no",
                "" if largest is None or largest.err_pages is None else
                f"{_pages(largest.err_pages)} "
                f"({largest.err_pages * k.results.runs[0].page_kib:+g} KiB)",
                "" if largest is None else rst.esc(largest.interval.show()),
                _verdict(a),
                _cites(a.claim, short=True),
            ])
    return rst.list_table(["metric", "claim", "runs", "exact?", "largest error (pages)",
                           "bound (pages)", "verdict", "cites"], rows,
                          widths="10 17 5 8 11 10 9 30", classes="kernel")


def kernel_section(ev: Evidence, k: KernelRuns) -> str:
    out = rst.heading(k.label, "-")
    feats = ", ".join(rst.lit(f) for f in sorted(k.features)) or "none"
    origin = k.results.origin
    declared = [f"+{r}" for r in origin.declared] + [f"-{r}" for r in origin.without]
    said = f" (declared: {', '.join(rst.lit(d) for d in declared)})" if declared else ""
    out += (f"Linux {rst.lit(k.results.kernel_release)}, {k.ncpus} CPUs, "
            f"{len(k.results.runs)} stored runs; regimes: {feats}{said}.  "
            f"Kernel: {origin.source.replace(str(Path.home()), '~')}.\n\n")
    out += (kernel_table(k) if k.assessments
            else rst.note("No claim could be checked with these runs."))
    unchecked = [name for m, name, _ in METRIC_ROWS if not metric_assessments(k, m)]
    if unchecked:
        out += f"Not checked on {k.label}: {', '.join(unchecked)}.\n\n"
    for why in dict.fromkeys(a.unavailable for a in k.unavailable):
        ids = ", ".join(rst.claim_ref(a.claim.id) for a in k.unavailable if a.unavailable == why)
        out += f"{ids}: {Verdict.UNAVAILABLE.words}: {rst.esc(why)}.\n\n"
    return out


def missing_kernels(ev: Evidence) -> list[str]:
    have = {(k.results.kernel, k.ncpus) for k in ev.kernels}
    out = []
    for name in MATRIX_KERNELS:
        cpus = [n for n in MATRIX_CPUS if (name, n) not in have]
        if len(cpus) == len(MATRIX_CPUS):
            out.append(f"no results for {name} yet: run make repro")
        elif cpus:
            out.append(f"no results for {name} at {', '.join(map(str, cpus))} CPUs yet: "
                       "run make repro")
    return out


def claim_entry(ev: Evidence, claim: Claim) -> str:
    st = ev.status(claim)
    checked = []
    for a in st.assessments:
        largest = a.worst()
        w = "" if largest is None or largest.err_pages is None else (
            f", worst {_pages(largest.err_pages)} pages in {rst.esc(largest.interval.show())}")
        checked.append(f"{a.label}: {_verdict(a)} ({len(a.checks)} runs{w})")
    regs = ", ".join(f"{rst.lit(r)} ({regime_span(g)})" if (g := ev.regime(r)) else rst.lit(r)
                     for r in claim.regimes) or "every kernel"
    if claim.unless:
        regs += "; not with " + ", ".join(rst.lit(r) for r in claim.unless)
    fields = [
        ("Metric", f"{rst.lit(claim.metric)} against {' / '.join(map(rst.lit, claim.reference))}"),
        ("Kernels", regs),
        ("Bound", _bound_text(claim)),
        ("Runs", "; ".join(rst.esc(r.describe()) for r in claim.runs)),
        ("State", _state(ev, st)),
        ("Checked on", "\n".join(f"| {c}" for c in checked) or "—"),
        ("Cites", _cites(claim) or "—"),
        ("Defined in", rst.lit(f"claims/{claim.source}")),
    ]
    body = rst.esc(claim.says) + "\n\n" + "".join(
        f":{name}:\n{rst.indent(text, 4)}\n" for name, text in fields)
    return f".. _claim-{claim.id}:\n\n.. rubric:: {claim.id}\n   :class: claim\n\n{body}\n"


def _state(ev: Evidence, st: ClaimStatus) -> str:
    """A claim's verdict on the measured kernels, and what it lacks where none ran it."""
    verdict = st.verdict
    if verdict is Verdict.HOLDS:
        return verdict.words
    if st.assessments:
        return f"**{verdict.words}**"
    if verdict is Verdict.UNAVAILABLE:
        why = "; ".join(f"{a.label}: {a.unavailable}" for a in st.unavailable)
        return f"{verdict.words}: {rst.esc(why)}"
    return f"{verdict.words} yet: {rst.esc(needs(ev, st.claim))}"


def claims_section(ev: Evidence) -> str:
    out = rst.heading("Claims", "=")
    out += ("Each claim is a sentence about one metric with a bound from the mechanism, "
            "checked against every stored run of every kernel it applies to. "
            "The prose of this site cites these ids.\n\n")
    for source, group in groupby(sorted(ev.claims, key=lambda c: c.source), lambda c: c.source):
        out += rst.heading(f"claims/{source}", "-")
        out += "".join(claim_entry(ev, c) for c in group)
    return out


def metrics_page(ev: Evidence) -> str:
    out = rst.heading("What each metric reports", "=", over=True)
    out += (
        "Each program runs under the observer, which reads every metric at the "
        "``PTRACE_EVENT_EXIT`` stop (where judges read VmHWM) and after ``wait4()``. "
        "Errors are *reported − exact* in pages; the exact value is the page-table walk "
        "of smaps_rollup at the same stop, or the program's own exact peak. "
        "Bounds come from the claims' formulas, with this kernel's CPU count.\n\n")
    for line in missing_kernels(ev):
        out += f"* {rst.esc(line)}\n"
    out += "\n" + rst.heading("Overview", "=")
    out += overview_table(ev)
    out += rst.heading("Per kernel", "=")
    out += "".join(kernel_section(ev, k) for k in ev.kernels) or "No kernel measured yet.\n\n"
    return out + claims_section(ev)


def plots_page(figs: Sequence[Figure], missing: Sequence[str]) -> str:
    out = rst.heading("Plots", "=", over=True)
    out += ("Drawn by matplotlib from the stored runs on every ``make docs``. "
            "Dashed lines and grey bands are the claims' bounds for that kernel.\n\n")
    sections = (("Reported against exact RSS over pages touched", "touch-sweep-"),
                ("wait4 error against the CPU count", "wait4-"),
                ("The 6.1 thread experiment", "threads-"))
    for title, prefix in sections:
        out += rst.heading(title, "=")
        mine = [f for f in figs if f.file.startswith(prefix)]
        for f in mine:
            out += (f".. figure:: plots/{f.file}\n   :alt: {f.caption}\n"
                    f"   :width: 100%\n\n   {rst.esc(f.caption)}\n\n")
        if not mine:
            out += "Not drawn yet.\n\n"
    if missing:
        out += rst.heading("Missing", "=")
        out += "".join(f"* {rst.esc(m)}\n" for m in missing) + "\n"
        out += "Run ``make repro`` to measure the guest kernels, then ``make docs``.\n\n"
    return out


def status_include(ev: Evidence, notes: Sequence[str]) -> str:
    """The index's list of what this build was made from."""
    out = ""
    for k in ev.kernels:
        out += (f"* {k.label}: Linux {rst.lit(k.results.kernel_release)}, {k.ncpus} CPUs, "
                f"{len(k.results.runs)} runs, {len(k.assessments)} claims checked\n")
    for line in missing_kernels(ev):
        out += f"* {rst.esc(line)}\n"
    out += f"\n{_tally(ev)} (see :doc:`metrics`).\n\n"
    if notes:
        out += "This build:\n\n" + "".join(f"* {rst.esc(n)}\n" for n in notes) + "\n"
    return out


def _tally(ev: Evidence) -> str:
    """``Of 80 claims, 70 hold on the measured kernels, 2 not decided, ...``."""
    verdicts = [ev.status(c).verdict for c in ev.claims]
    counts = [f"{verdicts.count(v)} {v.words}" for v in Verdict
              if v is not Verdict.HOLDS and verdicts.count(v)]
    return (f"Of {len(verdicts)} claims, {verdicts.count(Verdict.HOLDS)} hold on the measured "
            "kernels" + "".join(f", {c}" for c in counts))


def scenarios_table(have_source: Sequence[str]) -> str:
    rows = []
    for s in scenarios.SCENARIOS.values():
        params = ", ".join(f"{rst.lit(p.name)} (default {p.default})" for p in s.params)
        src = rst.lit(f"repro/{s.name}.c") if s.name in have_source else "not written yet"
        rows.append([rst.lit(s.name), rst.esc(s.summary), params or "—", src])
    return rst.list_table(["scenario", "what it does", "parameters", "source"], rows)


def tracecost_include(path: Path) -> str:
    """The table bench/tracecost.py measured, or how to measure it."""
    try:
        doc = json.loads(path.read_text())
        samples = [tracecost.Sample(**x) for x in doc["samples"]]
    except (OSError, ValueError, KeyError, TypeError):
        return (".. note::\n\n   Not measured for this build: ``python bench/tracecost.py`` "
                "boots the kernel at 1, 8, 64 and 128 CPUs and writes the table here.\n")
    lost = sum(x.lost for x in samples)
    head = (f"Measured with ``bench/tracecost.c`` on Linux {doc['upstream']} in QEMU with "
            "``-icount`` (instructions the guest executed, not cache or lock behaviour on "
            f"real CPUs), median of {tracecost.REPEATS} loops of "
            f"{int(tracecost.LOOP[0]) * int(tracecost.LOOP[1])} page faults each (map, "
            f"write one byte a page, unmap); events lost: {lost}.  *time* is the loop's time "
            "per fault with the event on against off, *system* the faulting program's own "
            "system time.\n\n")
    rows = [[tracecost.TITLES[r.mode], str(r.ncpus), f"{r.ns_per_fault / 1000:.2f} us",
             tracecost.pct(r.ratio), tracecost.pct(r.sys_ratio), f"{r.spread * 100:.1f}%"]
            for r in tracecost.rows(samples)]
    table = [".. list-table::", "   :header-rows: 1", ""]
    for row in [["kmem:rss_stat on, for", "CPUs", "per fault", "time", "system", "spread"],
                *rows]:
        table += [f"   * - {row[0]}", *(f"     - {c}" for c in row[1:])]
    return head + "\n".join(table) + "\n"
