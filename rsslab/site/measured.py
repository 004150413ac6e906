"""The numbers a reader looks for first, generated from results files.

The judge's program on every kernel and the wide lane's runs come from the
stored results (``Evidence``); what measuring costs, how long doctor takes,
the matrix against its floor and the transcripts of ``rsslab doctor`` and
``rsslab measure`` come from the files the benchmarks write under
``build/bench/``.  A number with no file behind it is never typed here: the
page says which command measures it.
"""

from __future__ import annotations

import json
import shlex
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rsslab import metrics, scenarios
from rsslab.claims import formulas
from rsslab.results import Observation
from rsslab.run import matrix
from rsslab.site import rst
from rsslab.site.evidence import Evidence, KernelRuns

# What the judge's program is read as (the README's first table), in order.
SEED_METRICS = ("vmhwm_kib", "vmrss_kib", "smaps_rss_kib", "wait4_maxrss_kib")
# The claim whose bound the wide lane's table shows next to each error.
WIDE_CLAIM = "percpu-wait4-approx"
WIDE_SCENARIOS = ("cpu_spread", "seed")


def _span(values: Sequence[float], fmt: Callable[[float], str] = lambda x: f"{x:g}") -> str:
    if not values:
        return "—"
    lo, hi = min(values), max(values)
    return fmt(lo) if lo == hi else f"{fmt(lo)} to {fmt(hi)}"


def _values(runs: Sequence[Observation], name: str) -> list[float]:
    return [v for r in runs if (v := r.value(name)) is not None]


def _read(path: Path) -> Any:
    """A benchmark's JSON, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _not_measured(what: str, how: str) -> str:
    return rst.note(f"Not measured for this build: {how} measures {what} and writes it here "
                    "on the next ``make docs``.")


def _params(params: Mapping[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


# --- from the stored results --------------------------------------------------

def seed_runs(k: KernelRuns) -> list[Observation]:
    """The judge's program with its default input on one kernel."""
    default = dict(scenarios.get("seed").resolve({}))
    return [r for r in k.results.runs if r.scenario == "seed" and dict(r.params) == default]


def seed_table(ev: Evidence) -> str:
    """Each metric of ``repro/seed.c`` on each measured kernel, in KiB."""
    rows = []
    for k in ev.kernels:
        runs = seed_runs(k)
        if runs:
            rows.append([rst.lit(k.label), rst.lit(k.results.kernel_release), str(len(runs)),
                         *(_span(_values(runs, m)) for m in SEED_METRICS)])
    if not rows:
        return rst.note("No runs of ``seed`` yet: ``make repro`` measures every kernel of the "
                        "matrix, ``rsslab run`` this machine's.")
    header = ["result set", "Linux", "runs",
              *(f"{metrics.get(m).label} (KiB)" for m in SEED_METRICS)]
    return rst.list_table(header, rows, classes="seed")


def wide_kernels(ev: Evidence) -> list[KernelRuns]:
    """The result sets above the default matrix's CPU counts."""
    return sorted((k for k in ev.kernels if k.ncpus > max(matrix.DEFAULT_CPUS)),
                  key=lambda k: (k.results.kernel, k.ncpus))


def _bound(ev: Evidence, k: KernelRuns, run: Observation) -> str:
    claim = ev.claim(WIDE_CLAIM)
    if claim is None:
        return "—"
    iv = formulas.interval(claim.bound, run, k.features)
    return "—" if iv.premise_failed else f"±{iv.hi:g}"


def wide_table(ev: Evidence) -> str:
    """``wait4`` against the exact RSS at many CPUs (the wide lane)."""
    wide = wide_kernels(ev)
    if not wide:
        return rst.note(f"No results above {max(matrix.DEFAULT_CPUS)} CPUs yet: ``make "
                        "repro-wide`` (``rsslab run --wide``) boots the wide lane, then "
                        "``make docs`` shows it here.")
    wait4, exact = "wait4_maxrss_kib", "smaps_rss_kib"
    rows = []
    for k in wide:
        groups: dict[str, list[Observation]] = {}
        for r in k.results.runs:
            if r.scenario in WIDE_SCENARIOS and r.value(wait4) is not None \
                    and r.value(exact) is not None:
                groups.setdefault(f"{r.scenario} {_params(r.params)}".strip(), []).append(r)
        for what, runs in sorted(groups.items(), key=lambda g: (g[1][0].scenario, _order(g[1]))):
            errs = [(int(r.value(wait4) or 0) - int(r.value(exact) or 0)) / r.page_kib
                    for r in runs]
            rows.append([rst.lit(k.label), str(k.ncpus), rst.lit(what), str(len(runs)),
                         _span(_values(runs, exact)), _span(_values(runs, wait4)),
                         _span(errs, lambda x: f"{x:+g}"), _bound(ev, k, runs[0])])
    header = ["result set", "CPUs", "program", "runs", f"{metrics.get(exact).label} (KiB)",
              f"{metrics.get(wait4).label} (KiB)", "error (pages)",
              f"bound (pages, {rst.claim_ref(WIDE_CLAIM)})"]
    return rst.list_table(header, rows, classes="wide")


def _order(runs: Sequence[Observation]) -> int:
    pages = runs[0].params.get("pages", 0)
    return pages if isinstance(pages, int) else 0


# --- from build/bench ---------------------------------------------------------

def _rubric(title: str) -> str:
    """A caption that is not a section, so that an include fits under any heading."""
    return f".. rubric:: {title}\n\n"


def _machine(doc: Mapping[str, Any]) -> str:
    return f"Linux ``{doc.get('kernel_release', '?')}``, {doc.get('ncpus', '?')} CPUs"


def _load(doc: Mapping[str, Any], before_after: bool = False) -> str:
    """The load average recorded: (before, after) the run, or getloadavg()'s."""
    load = doc.get("loadavg")
    if not isinstance(load, list) or not load:
        return "load average not recorded"
    if before_after and len(load) > 1:
        return f"load average {float(load[0]):.1f} before, {float(load[1]):.1f} after"
    return f"load average {float(load[0]):.1f}"


def _ratio_table(times: Mapping[str, Mapping[str, list[float]]]) -> str:
    names = list(next(iter(times.values())))
    rows = []
    for workload, by in times.items():
        base = statistics.median(by["plain"])
        cells = []
        for name in names:
            med = statistics.median(by[name])
            cells.append(f"{med * 1e3:.2f} ms" + ("" if name == "plain" else
                                                  f" ({med / base:.2f}x)"))
        rows.append([rst.esc(workload), *cells])
    return rst.list_table(["program", *(rst.esc(n) for n in names)], rows, classes="cost")


def overhead_include(path: Path) -> str:
    """bench/overhead.py's medians: a program plainly and through each measurer."""
    doc = _read(path)
    try:
        cpu, wall = doc["cpu_s"], doc["wall_s"]
        seed = next(iter(cpu))
        fixed = {n: statistics.median(cpu[seed][n]) - statistics.median(cpu[seed]["plain"])
                 for n in cpu[seed]}
    except (TypeError, KeyError, StopIteration, statistics.StatisticsError):
        return _not_measured("what measuring costs", "``make bench-tools`` "
                             "(``bench/overhead.py``)")
    out = (f"Measured by ``bench/overhead.py`` on {_machine(doc)}, medians of "
           f"{doc.get('rounds', '?')} rounds in shuffled order ({_load(doc, True)}); the ratio is "
           "to the plain run.  CPU time is the caller's and its children's, user + system: "
           "the steadier figure on a busy machine, where wall time mostly measures the wait "
           "for a CPU.\n\n")
    out += _rubric("CPU time") + _ratio_table(cpu)
    out += _rubric("Wall time") + _ratio_table(wall)
    shown = [n for n in fixed if n != "plain"]
    out += (f"For the smallest program, {rst.esc(seed)}, each way of measuring added this "
            "much CPU time to the plain run: " +
            ", ".join(f"{rst.esc(n)} {fixed[n] * 1e3:+.2f} ms" for n in shown) + ".\n\n")
    return out


def doctor_include(path: Path) -> str:
    """bench/doctor.py: how long ``rsslab doctor`` takes."""
    doc = _read(path)
    try:
        cli, inproc = doc["cli_s"], doc["in_process_s"]
        line = (f"``rsslab doctor`` took a median of {statistics.median(cli):.2f} s as a "
                f"command (at most {max(cli):.2f} s) and {statistics.median(inproc):.2f} s "
                f"for its battery in process, over {doc['rounds']} rounds of "
                f"{doc['runs']} observer runs, on {_machine(doc)} ({_load(doc)}), measured by "
                "``bench/doctor.py``.\n\n")
    except (TypeError, KeyError, ValueError, statistics.StatisticsError):
        return _not_measured("how long doctor takes", "``make bench-tools`` "
                             "(``bench/doctor.py``)")
    return line


def matrix_include(path: Path) -> str:
    """bench/matrix.py: the default matrix, warm, against the sum of its bare boots."""
    doc = _read(path)
    try:
        rows = [[str(r["round"]), f"{float(r['floor_s']):.1f} s", f"{float(r['matrix_s']):.1f} s",
                 f"{float(r['load_avg']):.1f}"] for r in doc["rounds"]]
        kernels = ", ".join(rst.esc(k) for k in doc["kernels"])
        head = (f"Measured by ``bench/matrix.py`` (``make bench-matrix``) on a host with "
                f"{doc['host_cpus']} cores: {kernels}, at "
                f"{', '.join(map(str, doc['cpus']))} CPUs, and the host; kernels already in "
                f"the cache.  The goal is at most {float(doc['goal_s']):g} s.\n\n")
    except (TypeError, KeyError, ValueError):
        return _not_measured("the matrix against its floor", "``make bench-matrix`` "
                             "(``bench/matrix.py``)")
    return head + rst.list_table(["round", "floor: sum of bare boots", "matrix", "host load"],
                                 rows)


def _minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def _builds(run: dict[str, Any]) -> str:
    """A run's kernel builds, with make's time in them where it was recorded."""
    n, secs = int(run["kernel_builds"]), float(run.get("build_seconds") or 0)
    return f"{n} ({_minutes(secs)})" if secs else str(n)


def turnaround_include(path: Path) -> str:
    """bench/turnaround.py: how long ``make test``, ``repro`` and ``patches``
    took, cold and warm, with the kernel builds and guest boots of each."""
    doc = _read(path)
    missing = _not_measured("how long the make targets take",
                            "``.venv/bin/python bench/turnaround.py --cold test patches``")
    try:
        goals = {str(k): float(v) for k, v in doc["goals_s"].items()}
        rows = []
        for r in doc["runs"]:
            goal = goals.get(f"{r['target']} {r['state']}")
            secs = float(r["seconds"])
            verdict = "—" if goal is None else (
                f"{_minutes(goal)}: {'met' if secs <= goal else 'missed'}")
            rows.append([f"``make {rst.esc(str(r['target']))}``", rst.esc(str(r["state"])),
                         _minutes(secs), _builds(r), str(int(r["boots"])),
                         str(int(r["status"])), verdict, f"{float(r['load_before']):.1f}",
                         str(int(r["cores"])), rst.lit(str(r["commit"])), rst.esc(str(r["date"]))])
    except (TypeError, KeyError, ValueError, AttributeError):
        return missing
    if not rows:
        return missing
    head = ("Measured by ``bench/turnaround.py``: each target run twice from one clone, "
            "first on the cache as it was (``cold``: an empty cache and build directory, "
            "as on a new machine), then again (``warm``).  Kernel builds are the new "
            "images in the cache's ``kbuild/``, with the time make took for them; boots "
            "count every start of QEMU.\n\n")
    return head + rst.list_table(["target", "cache", "wall", "kernel builds", "boots", "exit",
                                  "goal", "load before", "cores", "commit", "when"], rows)


def examples_include(path: Path) -> str:
    """bench/examples.py: ``rsslab doctor`` and ``rsslab measure`` as they printed."""
    doc = _read(path)
    try:
        shown = doc["transcripts"]
        head = (f"Run by ``bench/examples.py`` on {_machine(doc)}, on {doc['date']}; "
                "``rsslab doctor`` and ``rsslab measure`` print the same on your machine.\n\n")
    except (TypeError, KeyError):
        return _not_measured("these examples", "``.venv/bin/python bench/examples.py``")
    out = head
    for t in shown:
        command = "$ " + shlex.join(t["argv"]) + (f" < {t['stdin']}" if t.get("stdin") else "")
        text = "\n".join([command, *t["output"].rstrip("\n").splitlines(),
                          f"$ echo $?\n{t['status']}"])
        out += _rubric(rst.esc(t["title"]))
        out += f".. code-block:: console\n\n{rst.indent(text)}\n\n"
    return out
