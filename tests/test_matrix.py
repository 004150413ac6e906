"""The matrix as a whole: every guest finished its plan, the regime probe
agrees with each kernel's own build configuration, and results are kept
per kernel and CPU count."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import guests
from rsslab import kversion, results
from rsslab.run import matrix
from rsslab.kernels import kconfig
pytestmark = pytest.mark.guest

FOUND, _ = guests.resolve_all()
TARGETS = guests.guest_targets(FOUND)
IDS = [t.label for t in TARGETS]
# Before 6.2 the counters depend on the build configuration; after, not.
SPLIT_CANDIDATES = [t for t in TARGETS if kversion.parse(t.kernel.upstream) < (6, 2, 0)]

Outcomes = Callable[[], dict[str, matrix.Outcome]]


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_guest_ran_its_whole_plan(target: matrix.Target, guest_outcomes: Outcomes) -> None:
    out = guest_outcomes()[target.label]
    assert not out.error, out.error
    assert not out.problems, "\n".join(out.problems)
    assert {o.ncpus for o in out.runs} == {target.ncpus}
    assert {o.kernel for o in out.runs} == {target.kernel.name}
    release = {kversion.show(kversion.upstream(o.kernel_release, o.kernel_version))
               for o in out.runs}
    assert release == {target.kernel.upstream}


@pytest.mark.parametrize("target", SPLIT_CANDIDATES, ids=[t.label for t in SPLIT_CANDIDATES])
def test_probe_agrees_with_the_kernel_config(target: matrix.Target,
                                             guest_outcomes: Outcomes) -> None:
    """Before 6.2, SPLIT_RSS_COUNTING is compiled in exactly when
    NR_CPUS >= SPLIT_PTLOCK_CPUS; the probe must see what the config says."""
    assert target.kernel.config is not None
    predicted = kconfig.split_rss_counting(kconfig.read(target.kernel.config))
    assert predicted is not None, "the config lacks NR_CPUS or SPLIT_PTLOCK_CPUS"
    out = guest_outcomes()[target.label]
    assert not out.error, out.error
    assert ("split-rss" in out.features) == predicted, (
        f"{target.kernel.config} predicts split-rss={predicted}, the probe saw "
        f"{sorted(out.features)}")


def test_results_are_kept_per_kernel_and_cpu_count(guest_outcomes: Outcomes) -> None:
    """Each file holds one kernel at one CPU count, with the regimes the
    matrix found for it and where the kernel came from."""
    outs = guest_outcomes()
    saved = {rs.label: rs for rs in results.load_all(guests.ROOT / "build" / "results")}
    for label, out in outs.items():
        if out.error:
            continue
        assert label in saved
        assert {(o.kernel, o.ncpus) for o in saved[label].runs} == {
            (out.target.kernel.name, out.target.ncpus)}
        assert saved[label].features == out.features and out.features
        assert saved[label].origin == out.target.kernel.origin()
    nosum = [o for o in outs.values() if o.target.kernel.name == "6.12-nosum"]
    for out in nosum:
        assert {"percpu-rss", "status-approx"} <= out.features
        assert "status-sum" not in out.features
