"""The matrix as a whole: every guest finished its plan, the regime probe
agrees with each kernel's own build configuration, and results are kept
per kernel and CPU count."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import guests
import pytest

from rsslab import kversion, results
from rsslab.kernels import kconfig
from rsslab.run import matrix

pytestmark = pytest.mark.guest

GUESTS = [pytest.param(label, name, id=label) for label, name, _n in guests.labels()]

Outcomes = Callable[[], dict[str, matrix.Outcome]]


@pytest.mark.parametrize(("label", "name"), GUESTS)
def test_guest_ran_its_whole_plan(label: str, name: str, guest_outcomes: Outcomes) -> None:
    out = guests.outcome(guest_outcomes(), label, name)
    target = out.target
    assert not out.error, out.error
    assert not out.problems, "\n".join(out.problems)
    assert {o.ncpus for o in out.runs} == {target.ncpus}
    assert {o.kernel for o in out.runs} == {target.kernel.name}
    release = {kversion.show(kversion.upstream(o.kernel_release, o.kernel_version))
               for o in out.runs}
    assert release == {target.kernel.upstream}


@pytest.mark.parametrize(("label", "name"), GUESTS)
def test_probe_agrees_with_the_kernel_config(label: str, name: str,
                                             guest_outcomes: Outcomes) -> None:
    """Before 6.2, SPLIT_RSS_COUNTING is compiled in exactly when
    NR_CPUS >= SPLIT_PTLOCK_CPUS; the probe must see what the config says."""
    out = guests.outcome(guest_outcomes(), label, name)
    target = out.target
    if kversion.parse(target.kernel.upstream) >= (6, 2, 0):
        pytest.skip(f"{target.kernel.upstream}: no per-thread caches to configure since 6.2")
    assert target.kernel.config is not None
    predicted = kconfig.split_rss_counting(kconfig.read(target.kernel.config))
    assert predicted is not None, "the config lacks NR_CPUS or SPLIT_PTLOCK_CPUS"
    assert not out.error, out.error
    assert ("split-rss" in out.features) == predicted, (
        f"{target.kernel.config} predicts split-rss={predicted}, the probe saw "
        f"{sorted(out.features)}")


def test_results_are_kept_per_kernel_and_cpu_count(guest_outcomes: Outcomes,
                                                   guest_dir: Path) -> None:
    """Each file holds one kernel at one CPU count, with the regimes the
    matrix found for it and where the kernel came from."""
    outs = guest_outcomes()
    saved = {rs.label: rs for rs in results.load_all(guest_dir / "results")}
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
