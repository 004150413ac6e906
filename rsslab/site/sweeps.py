"""The measurements the site needs, and running the missing ones on the host.

The site needs, per kernel, the runs of every claim that applies to it and
the ``touch`` sweep behind the plots (0 to ``SWEEP_MAX`` pages).  Guest
kernels get them from the matrix (``make repro``); on the host, ``rsslab
docs`` runs whatever is missing before it builds, and says so.  Scenarios
whose reproducer is not in ``repro/`` yet are skipped with a note.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rsslab import claims as claims_mod
from rsslab import kernels, paths, results
from rsslab.errors import ObserverError, UserError
from rsslab.plan import RunSpec, merge
from rsslab.results import Observation
from rsslab.run import host, matrix, planner
from rsslab.run.session import Session

SWEEP_START, SWEEP_MAX, SWEEP_STEP = 0, 320, 2
CLAIM_REPEAT = 5


@dataclass(frozen=True, slots=True)
class HostPlan:
    label: str
    features: frozenset[str]  # the running kernel's regimes
    todo: tuple[RunSpec, ...]
    notes: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(s.repeat for s in self.todo)


def sweep_specs() -> list[RunSpec]:
    """The touch sweep the plots draw: one run per page count."""
    return [RunSpec("touch", {"pages": p}).resolved()
            for p in range(SWEEP_START, SWEEP_MAX + 1, SWEEP_STEP)]


def site_specs(claim_list: Sequence[claims_mod.Claim], features: frozenset[str],
               ncpus: int) -> list[RunSpec]:
    """Every run the pages of one kernel need."""
    return merge([*claims_mod.plan(claim_list, features, ncpus), *sweep_specs()])


def has_reproducer(root: Path, scenario: str) -> bool:
    return (root / "repro" / f"{scenario}.c").is_file()


def plan_host(session: Session, results_dir: Path) -> HostPlan:
    """What the host's result file lacks for the site."""
    root = session.root
    claim_list = session.data(CLAIM_REPEAT)
    ncpus = session.ncpus
    label = results.label_for("host", ncpus)
    features = session.host_features
    stored, specs = planner.host_todo(results_dir, site_specs(claim_list, features, ncpus),
                                      features)
    absent = sorted({s.scenario for s in specs if not has_reproducer(root, s.scenario)})
    notes = [f"{label}: no results yet" if stored is None else ""]
    if absent:
        notes.append(f"{label}: skipping {', '.join(absent)}: no reproducer in repro/ yet")
    todo = tuple(s for s in specs if has_reproducer(root, s.scenario))
    if todo:
        notes.append(f"{label}: running {sum(s.repeat for s in todo)} missing host runs "
                     f"({len(todo)} run specs) before building the site")
    return HostPlan(label, features, todo, tuple(n for n in notes if n))


def run_host(plan: HostPlan, results_dir: Path, bin_dir: Path,
             progress: Callable[[RunSpec], None] | None = None) -> list[str]:
    """Run the plan, spec by spec; a spec the host cannot run is noted and skipped."""
    notes: list[str] = []
    done: list[Observation] = []
    for spec in plan.todo:
        try:
            done += host.run_specs(bin_dir, [spec], "host", progress)
        except ObserverError as e:
            notes.append(f"{plan.label}: skipped {spec.describe()}: {e}")
    if done:
        host.save_host(results_dir, done, plan.features)
    return notes


# --- guests (through the matrix) ------------------------------------------

GUEST_SWEEP_CPUS = 2


@dataclass(frozen=True, slots=True)
class GuestPlan:
    sweeps: tuple[str, ...]  # matrix kernel names whose sweep is missing
    wide: tuple[tuple[str, int], ...]  # wide-lane targets with no results yet
    notes: tuple[str, ...]


def plan_guests(results_dir: Path, names: Sequence[str],
                wide_lane: Sequence[tuple[str, Sequence[int]]] = ()) -> GuestPlan:
    """Matrix kernels lacking the sweep, and wide-lane targets (the wait4
    plot from 1 to 128 CPUs) lacking results."""
    sweeps, wide, notes = [], [], []
    for name in names:
        label = results.label_for(name, GUEST_SWEEP_CPUS)
        path = results_dir / f"{label}.json"
        stored = results.load_file(path) if path.exists() else None
        if planner.missing(sweep_specs(), stored.runs if stored else ()):
            sweeps.append(name)
            notes.append(f"{label}: booting it for the touch sweep the plots need")
    for name, counts in wide_lane:
        for n in counts:
            label = results.label_for(name, n)
            if not (results_dir / f"{label}.json").exists():
                wide.append((name, n))
                notes.append(f"{label}: booting it for the claims' runs the wait4 plot needs")
    return GuestPlan(tuple(sweeps), tuple(wide), tuple(notes))


def run_guests(plan: GuestPlan, session: Session, results_dir: Path) -> list[str]:
    """The sweep in each guest, in parallel; a kernel that fails is noted, not fatal."""
    settings = matrix.Settings(session.binaries(), session.build_dir, results_dir)
    all_claims = session.data(CLAIM_REPEAT)
    regs = session.regimes

    def one(job: tuple[str, int, bool]) -> str:
        name, ncpus, sweep = job
        try:
            target = matrix.Target(kernels.resolve(name, paths.cache_dir()), ncpus)
            if sweep:
                out = matrix.with_features(
                    matrix.run_guest(target, sweep_specs(), settings, lambda *_: None), regs)
            else:
                out = matrix.run_target(target, all_claims, regs, settings, lambda *_: None)
        except UserError as e:
            return f"{name}: {e}"
        if out.error:
            return f"{target.label}: {out.error}"
        matrix.save(results_dir, out)
        return "; ".join(out.problems)

    jobs = ([(n, GUEST_SWEEP_CPUS, True) for n in plan.sweeps]
            + [(n, c, False) for n, c in plan.wide])
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return [n for n in pool.map(one, jobs) if n]
