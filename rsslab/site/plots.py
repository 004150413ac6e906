"""The site's figures, drawn with matplotlib from the stored runs.

Each function draws one figure into a PNG and returns a ``Figure`` record
(file name, caption, the kernels it shows), or ``None`` when the runs it
needs were not measured; the page then says what is missing.  Bounds are
drawn from the formulas in ``rsslab.claims``, never from constants here.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.axes import Axes  # noqa: E402

from rsslab import claims, metrics  # noqa: E402
from rsslab.results import Observation  # noqa: E402
from rsslab.site.evidence import Evidence, KernelRuns  # noqa: E402

# Metrics drawn against the exact RSS (smaps_rollup at the exit stop):
# (flat name, label from the catalogue, marker).
SWEEP_METRICS: tuple[tuple[str, str, str], ...] = tuple(
    (name, metrics.label(name), marker) for name, marker in (
        ("vmrss_kib", "o"), ("vmhwm_kib", "^"), ("stat_rss_kib", "s"),
        ("wait4_maxrss_kib", "x")))
MIN_SWEEP_POINTS = 10
DPI = 96


@dataclass(frozen=True, slots=True)
class Figure:
    file: str
    caption: str
    labels: tuple[str, ...]


def _err_pages(o: Observation, metric: str, ref: str = "smaps_rss_kib") -> float | None:
    v, r = o.value(metric), o.value(ref)
    return None if v is None or r is None else (v - r) / o.page_kib


def sweep_runs(k: KernelRuns) -> dict[int, list[Observation]]:
    """touch runs of one kernel by page count (the sweep, plus claim runs)."""
    by_pages: dict[int, list[Observation]] = {}
    for o in k.results.runs:
        pages = o.params.get("pages")
        if o.scenario == "touch" and isinstance(pages, int):
            by_pages.setdefault(pages, []).append(o)
    return by_pages


def _bounds(ax: Axes, k: KernelRuns) -> None:
    """The regime's bound on the exit-stop miss, from the claims' formulas."""
    if "split-rss" in k.features:
        b = claims.thread_cache(1, 1)
        ax.axhline(-b, color="grey", ls="--", lw=1, label=f"−{b}: one thread's cache of 1-page faults")
    if "percpu-rss" in k.features:
        b = claims.percpu_residue(k.ncpus, claims.RSS_COUNTERS)
        ax.axhspan(-b, b, color="grey", alpha=0.12,
                   label=f"±{b}: 3 counters × {k.ncpus} CPUs × (batch − 1)")


def touch_sweep(k: KernelRuns, out_dir: Path, sweep_max: int) -> Figure | None:
    """Reported and exact RSS, and the error in pages, over pages touched."""
    by_pages = {p: runs for p, runs in sweep_runs(k).items() if p <= sweep_max}
    if len(by_pages) < MIN_SWEEP_POINTS:
        return None
    xs = sorted(by_pages)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    exact = [statistics.median(o.smaps_rss_kib or 0 for o in by_pages[x]) for x in xs]
    top.plot(xs, exact, color="black", lw=2, label="exact (smaps_rollup Rss)")
    for metric, name, marker in SWEEP_METRICS:
        pts = [(x, statistics.median(vals)) for x in xs
               if (vals := [v for o in by_pages[x] if (v := o.value(metric)) is not None])]
        errs = [(x, statistics.median(e)) for x in xs
                if (e := [d for o in by_pages[x] if (d := _err_pages(o, metric)) is not None])]
        if not pts:
            continue
        top.plot(*zip(*pts), marker=marker, ms=3, lw=0.8, label=name)
        bottom.plot(*zip(*errs), marker=marker, ms=3, lw=0.8, label=name)
    _bounds(bottom, k)
    top.set_ylabel("KiB at the exit stop")
    top.set_title(f"{k.label}: Linux {k.results.kernel_release}, {k.ncpus} CPUs")
    top.legend(fontsize=8, loc="upper left")
    bottom.set_xlabel("pages touched by the touch reproducer")
    bottom.set_ylabel("reported − exact (pages)")
    bottom.axhline(0, color="black", lw=0.6)
    bottom.legend(fontsize=7, loc="lower left", ncol=2)
    name = f"touch-sweep-{k.label}.png"
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=DPI)
    plt.close(fig)
    return Figure(name, f"touch sweep on {k.describe()}: {len(xs)} page counts "
                  f"from {xs[0]} to {xs[-1]}", (k.label,))


# Scenarios whose peak lasts until exit: ru_maxrss is then to equal the
# exact RSS at the exit stop.
LASTING_PEAK = frozenset({"touch", "threads", "cpu_spread", "seed", "file_faultaround",
                          "getrusage_self"})


def _wait4_errors(k: KernelRuns) -> list[float]:
    """wait4 ru_maxrss against the exact RSS at the exit stop, in pages."""
    return [e for o in k.results.runs if o.scenario in LASTING_PEAK
            if (e := _err_pages(o, "wait4_maxrss_kib")) is not None]


def _kernel_key(k: KernelRuns) -> str:
    patched = " (patched: ru_maxrss summed)" if "maxrss-sum" in k.features else ""
    return f"{k.results.kernel}{patched}"


def wait4_vs_cpus(ev: Evidence, out_dir: Path) -> Figure | None:
    """wait4 ru_maxrss error against the CPU count, per-CPU kernels only:
    every run whose peak lasts until exit, base and patched kernels, and
    the bound 3 x N x (batch - 1) of ``claims.percpu_residue``."""
    kernels = [k for k in ev.with_feature("percpu-rss") if _wait4_errors(k)]
    if not kernels:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    names = sorted({_kernel_key(k) for k in kernels})
    for i, name in enumerate(names):
        mine = sorted((k for k in kernels if _kernel_key(k) == name), key=lambda k: k.ncpus)
        shift = 2 ** ((i - (len(names) - 1) / 2) * 0.06)
        xs = [k.ncpus * shift for k in mine for _ in _wait4_errors(k)]
        ys = [e for k in mine for e in _wait4_errors(k)]
        worst = [min(_wait4_errors(k)) for k in mine]
        dots = ax.scatter(xs, ys, s=12, alpha=0.6, label=name)
        ax.plot([k.ncpus * shift for k in mine], worst, lw=0.8, color=dots.get_facecolor()[0])
    top = max(8, max(k.ncpus for k in kernels))
    ns = list(range(1, top + 1))
    bound = [claims.percpu_residue(n, claims.RSS_COUNTERS) for n in ns]
    ax.fill_between(ns, [-b for b in bound], bound, color="grey", alpha=0.15,
                    label="bound ±3 × N × (max(32, 2N) − 1)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=100)
    cpus = sorted({k.ncpus for k in kernels})
    ax.set_xticks(cpus, [str(n) for n in cpus])
    ax.set_xlabel("online CPUs (N)")
    ax.set_ylabel("wait4 ru_maxrss − exact RSS at exit (pages)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(out_dir / "wait4-vs-cpus.png", dpi=DPI)
    plt.close(fig)
    return Figure("wait4-vs-cpus.png",
                  f"wait4 error by CPU count, base and patched kernels; measured at "
                  f"N = {', '.join(map(str, cpus))}",
                  tuple(k.label for k in kernels))


def _thread_runs(k: KernelRuns) -> list[Observation]:
    return [o for o in k.results.runs if o.scenario == "threads"
            and _err_pages(o, "vmrss_kib") is not None]


def threads_split(ev: Evidence, out_dir: Path) -> Figure | None:
    """6.1: the exit-stop miss after T threads each faulted P pages and exited."""
    kernels = [k for k in ev.with_feature("split-rss") if _thread_runs(k)]
    if not kernels:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    tmax = 1
    for k in kernels:
        for mode in ("serial", "parallel"):
            runs = [o for o in _thread_runs(k) if o.params.get("mode") == mode]
            errs = [e for o in runs if (e := _err_pages(o, "vmrss_kib")) is not None]
            if runs:
                ax.scatter([int(o.params["threads"]) for o in runs], errs, s=16, alpha=0.7,
                           label=f"{k.label} {mode}")
                tmax = max(tmax, *(int(o.params["threads"]) for o in runs))
    runs = [o for k in kernels for o in _thread_runs(k)]
    per = max(int(o.params.get("pages", 0)) for o in runs)
    ts = list(range(1, tmax + 1))
    ax.plot(ts, [-t * per for t in ts], color="red", ls=":",
            label=f"if exited threads kept their caches: −T × {per}")
    ax.axhline(-claims.thread_cache(1, 1), color="grey", ls="--",
               label=f"−{claims.thread_cache(1, 1)}: one thread's cache")
    ax.set_xlabel("threads (each faults its pages, then exits)")
    ax.set_ylabel("VmRSS − exact at the exit stop (pages)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "threads-split.png", dpi=DPI)
    plt.close(fig)
    return Figure("threads-split.png", "threads experiment on per-thread-cache kernels",
                  tuple(k.label for k in kernels))


def draw_all(ev: Evidence, out_dir: Path, sweep_max: int) -> tuple[list[Figure], list[str]]:
    """Every figure the runs allow, and a line for each one they do not."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figs: list[Figure] = []
    missing: list[str] = []
    swept = set()
    for k in ev.kernels:
        f = touch_sweep(k, out_dir, sweep_max)
        if f:
            figs.append(f)
            swept.add(k.results.kernel)
    for name in dict.fromkeys(k.results.kernel for k in ev.kernels):
        if name not in swept:
            missing.append(f"{name}: no touch sweep (0 to {sweep_max} pages) at any CPU count yet")
    for draw, what in ((wait4_vs_cpus, "no wait4 runs on a per-CPU-counter kernel (6.2+) yet"),
                       (threads_split, "no threads runs on a per-thread-cache kernel (6.1) yet")):
        f = draw(ev, out_dir)
        if f:
            figs.append(f)
        else:
            missing.append(what)
    return figs, missing
