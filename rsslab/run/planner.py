"""The one planner of missing runs.

`rsslab run` and `rsslab doctor` measure their whole plan afresh; the site
(`rsslab docs`) and the man-pages evidence (`rsslab patches`) first look at
what the host's stored results already hold and run only the rest.  All of
them plan through ``claims.plan`` and decide "missing" here, by one rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from rsslab import results
from rsslab.plan import RunSpec
from rsslab.results import Observation, ResultSet


def host_cpus() -> int:
    """The CPUs this process may run on: the host's CPU count everywhere."""
    return len(os.sched_getaffinity(0))


def missing(specs: Iterable[RunSpec], runs: Sequence[Observation]) -> list[RunSpec]:
    """Specs with no stored run of the same scenario and parameters; a run
    that measured the cgroup peak also serves a spec without one (guests
    always measure it), but not the other way round."""
    keys = [results.run_key(o) for o in runs]
    have = {k[:2] for k in keys}
    have_cgroup = {k[:2] for k in keys if k[2]}
    return [s for s in specs if s.key()[:2] not in (have_cgroup if s.cgroup else have)]


def host_results(results_dir: Path, features: frozenset[str]) -> ResultSet | None:
    """The host's stored result set at its CPU count, if the running kernel
    (same release, same regimes) made it; saving replaces another's."""
    path = results_dir / f"{results.label_for('host', host_cpus())}.json"
    stored = results.load_file(path) if path.exists() else None
    if stored is None or (stored.kernel_release, stored.features) != (
            os.uname().release, features):
        return None
    return stored


def host_todo(results_dir: Path, specs: Sequence[RunSpec],
              features: frozenset[str]) -> tuple[ResultSet | None, list[RunSpec]]:
    """The host's stored results, and which of ``specs`` they lack."""
    stored = host_results(results_dir, features)
    return stored, missing(specs, stored.runs if stored else ())
