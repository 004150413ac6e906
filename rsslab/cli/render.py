"""``rsslab measure`` and ``rsslab doctor`` reports as rich renderables.

Nothing here prints: ``cli.py`` sends the renderables to stderr or a file,
never to the measured program's standard output.
"""

from __future__ import annotations

import math
import shlex
import signal
from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from rsslab import metrics
from rsslab.claims import Verdict
from rsslab.cli.report import needs_explaining
from rsslab.judges.doctor import DoctorReport, MetricReport
from rsslab.judges.measure import METHOD_EXIT_RSS, METHOD_HWM, METHOD_RSS_STAT, Measurement

# The rows of the text report, in order (JSON carries every raw metric);
# their names come from the catalogue.
REPORT_ROWS: tuple[str, ...] = (
    "rss_stat_peak_kib", "last_exit_rss_kib", "smaps_rss_kib", "vmhwm_kib", "vmrss_kib",
    "statm_rss_kib", "stat_rss_kib", "wait4_maxrss_kib", "children_maxrss_kib",
    "cgroup_peak_kib", "exec_floor_kib",
)
LABELS = {name: metrics.label(name) for name in REPORT_ROWS}

REFERENCE_WORDS = {
    ("smaps_rss_kib",): "vs exit RSS",
    ("smaps_rss_kib", "peak_exact_kib"): "vs true peak",
    ("exec_floor_kib", "smaps_rss_kib"): "vs max(copy, exit RSS)",
    ("peak_anon_kib",): "vs anon peak",
    ("peak_exact_kib", "last_exit_rss_kib"): "vs true peak",
}


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def outcome(m: Measurement) -> str:
    cmd = shlex.join(m.argv)
    if m.exit_signal is not None:
        return f"{cmd} was killed by signal {m.exit_signal} ({signal_name(m.exit_signal)})"
    return f"{cmd} exited {m.exit_code}"


def _peak_line(m: Measurement) -> str:
    if m.method == METHOD_RSS_STAT:
        how = "the largest RSS of its mm, from every kmem:rss_stat event"
        how += "; exact" if not m.bound_kib else f"; within {m.bound_kib} KiB"
        if m.tree_peak_kib is not None:
            how += f";\n  with every process it started: {m.tree_peak_kib} KiB"
        return f"peak RSS {m.peak_kib} KiB ({m.method}): {how}"
    if m.method == METHOD_EXIT_RSS:
        how = "the exact RSS at the exit stop (smaps_rollup page walk)"
        if m.bound_kib:
            how += (f";\n  exact if the peak lasted until exit, else the true peak is at most "
                    f"{m.peak_max_kib} KiB (+{m.bound_kib})")
        elif m.bound_kib is None:
            how += ";\n  a peak released before exit is not bounded on this kernel"
    elif m.method == METHOD_HWM:
        how = (f"VmHWM at the exit stop: a higher peak was released before exit;\n  the true "
               f"peak is {m.peak_min_kib}..{m.peak_max_kib} KiB")
    else:
        how = m.method
    return f"peak RSS {m.peak_kib} KiB ({m.method}): {how}"


def _times(m: Measurement) -> str:
    if m.wall_s is None:
        return ""
    cpu = ""
    if m.cpu_user_s is not None and m.cpu_sys_s is not None:
        cpu = f", CPU {m.cpu_user_s:.3f} s user + {m.cpu_sys_s:.3f} s system"
    over = " (killed at the timeout)" if m.timed_out else ""
    return f"wall {m.wall_s:.3f} s{cpu}{over}\n"


def measurement(m: Measurement) -> RenderableType:
    """The human-readable report of one measured command."""
    head = Text(f"rsslab measure: {outcome(m)}\n{_peak_line(m)}\n{_times(m)}"
                f"Linux {m.kernel_release}, {m.ncpus} CPUs, regimes "
                f"{', '.join(m.regimes) or 'none'}\n")
    table = Table(box=None, pad_edge=False)
    for col in ("KiB", "metric", "bound here", "claim"):
        table.add_column(col, justify="right" if col == "KiB" else "left", no_wrap=True)
    for metric, label in LABELS.items():
        value = m.metrics.get(metric)
        if value is None:
            continue
        mine = [b for b in m.bounds if b.metric == metric]
        shown = [f"{b.show()} {REFERENCE_WORDS.get(b.reference, '')}".strip() for b in mine]
        if metric == "smaps_rss_kib":
            shown = ["exact (page walk)"]
        table.add_row(str(value), label, "\n".join(shown), "\n".join(b.claim_id for b in mine))
    return Group(head, table, Text("\nlimits:"), bullets(m.limits))


def bullets(items: Sequence[str]) -> Table:
    """A list whose wrapped lines stay indented under their item."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for item in items:
        grid.add_row("  -", item)
    return grid


def _kib(x: float | None) -> str:
    if x is None:
        return ""
    if math.isinf(x):
        return "inf"
    return f"{x:+g} KiB"


DOCTOR_VERDICT = {
    0: "Every metric judges commonly read (VmHWM at the exit stop, wait4 and RUSAGE_CHILDREN "
       "ru_maxrss) is exact on this kernel.",
    1: "Metrics judges commonly read are inaccurate on this kernel: measure with `rsslab "
       "measure` (the exact peak where the line above says so, else smaps_rollup at the exit "
       "stop).",
    2: "A claim is broken: it names a value its runs do not report. That is rsslab's fault, "
       "not the kernel's; please report it.",
    3: "The kernel contradicted a claim: rsslab's documentation is wrong here.",
    4: "Some cases could not run or could not decide a claim here (see above); no metric "
       "showed an error.",
}


def _state_color(m: MetricReport) -> str:
    if m.verdict is Verdict.HOLDS:
        return "green" if m.exact else "yellow"
    return "dim" if m.state == "not run" else m.verdict.colour


def doctor(r: DoctorReport) -> RenderableType:
    """Per metric: exact here?, largest error, bound with claim, instead."""
    where = "" if r.kernel == "host" else f"{r.kernel} guest: "
    table = Table(title=f"rsslab doctor: {where}Linux {r.kernel_release}, {r.ncpus} CPUs, "
                        f"regimes {', '.join(sorted(r.features)) or 'none'} "
                        f"({r.runs} runs, {r.seconds:.1f} s)",
                  box=box.SIMPLE_HEAD)
    for col in ("metric (read by)", "here", "worst seen", "bound here (claim)", "use instead"):
        table.add_column(col, justify="right" if col == "worst seen" else "left")
    for m in r.metrics:
        color = _state_color(m)
        instead = m.unavailable or ("" if m.exact else m.info.instead)
        name = m.info.label + (f"\n[dim]({m.info.read_by})[/]" if m.info.read_by else "")
        bound = f"{m.bound.show()}\n[dim]{m.bound.claim_id}[/]" if m.bound else ""
        table.add_row(name, f"[{color}]{m.state}[/]", _kib(m.worst_kib), bound, instead)
    failed = [a.explain() for m in r.metrics for a in m.assessments if needs_explaining(a)]
    return Group(table, Text("\n".join([*_exact_peak(r), *failed,
                                        f"exit {r.status}: {DOCTOR_VERDICT[r.status]}"])))


def _exact_peak(r: DoctorReport) -> list[str]:
    """Whether `rsslab measure` gets the exact peak (a released one too) here."""
    e = r.exact_peak
    if e is None:
        return []
    if e.available:
        return [f"Exact peak: available ({e.how})."]
    return [f"Exact peak: not available: {e.how}; {e.advice}."]
