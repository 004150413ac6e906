"""The flat record, its JSON names, and the result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA

from rsslab import results
from rsslab.errors import ObserverError, UserError
from rsslab.results import METRICS, Observation, Origin, from_observer
from rsslab.run.host import require_exact_reference

REQUIRED = ("kernel_release", "ncpus", "scenario", "params", *METRICS)


def recorded(name: str, kernel: str = "host") -> Observation:
    obj = json.loads((DATA / "observer" / name).read_text())
    return from_observer(obj, kernel, "touch", {"pages": 100})


def test_flat_record_has_the_interface_names() -> None:
    flat = recorded("touch-linux-6.18.json").to_flat()
    missing = [k for k in REQUIRED if k not in flat and k != "cgroup_peak_kib"]
    assert not missing
    assert flat["params"] == {"pages": 100}
    assert flat["smaps_rss_kib"] == 1108 and flat["peak_exact_kib"] == 1104
    assert "cgroup_peak_kib" not in flat  # not measured: absent, not 0


def test_absent_fields_stay_absent() -> None:
    o = recorded("touch-no-smaps.json")
    assert o.rss_anon_kib is None and o.smaps_rss_kib is None
    flat = o.to_flat()
    assert "rss_anon_kib" not in flat and "smaps_rss_kib" not in flat
    with pytest.raises(ObserverError) as e:
        require_exact_reference(o)
    assert "smaps_rollup" in str(e.value)


HOST = Origin("host", "the running kernel")
PERCPU = frozenset({"percpu-rss", "status-sum"})


def test_round_trip_and_kernels_do_not_overwrite(tmp_path: Path) -> None:
    host = recorded("touch-linux-6.18.json", "host")
    guest = recorded("touch-linux-6.18.json", "6.1-synced")
    synced = Origin("6.1-synced", "/k/bzImage", ("exit-stop-synced",), ())
    results.save(tmp_path, [host], PERCPU, HOST)
    results.save(tmp_path, [guest], frozenset({"split-rss", "exit-stop-synced"}), synced)
    files = sorted(p.name for p in tmp_path.glob("*.json"))
    assert files == ["6.1-synced-smp2.json", "host-smp2.json"]
    back = results.load_file(tmp_path / "host-smp2.json")
    assert back.runs == (host,) and back.features == PERCPU and back.origin == HOST
    other = results.load_file(tmp_path / "6.1-synced-smp2.json")
    assert other.features == {"split-rss", "exit-stop-synced"} and other.origin == synced


def test_a_run_replaces_only_its_own_key(tmp_path: Path) -> None:
    a = recorded("touch-linux-6.18.json")
    b = Observation.from_flat({**a.to_flat(), "params": {"pages": 200}})
    results.save(tmp_path, [a, b], PERCPU, HOST)
    a2 = Observation.from_flat({**a.to_flat(), "vmrss_kib": 1})
    results.save(tmp_path, [a2], PERCPU, HOST)
    runs = results.load_file(tmp_path / "host-smp2.json").runs
    assert sorted(o.vmrss_kib or 0 for o in runs) == [1, b.vmrss_kib]


def test_runs_of_another_kernel_are_replaced_not_merged(tmp_path: Path) -> None:
    """Same label, other regimes (a rebuilt kernel): the old runs are not its."""
    a = recorded("touch-linux-6.18.json")
    b = Observation.from_flat({**a.to_flat(), "params": {"pages": 200}})
    results.save(tmp_path, [a, b], PERCPU, HOST)
    results.save(tmp_path, [a], frozenset({"percpu-rss", "status-approx"}), HOST)
    back = results.load_file(tmp_path / "host-smp2.json")
    assert back.runs == (a,) and back.features == {"percpu-rss", "status-approx"}


@pytest.mark.parametrize("doc", [
    {"schema": 999, "runs": []},
    {"schema": 1, "label": "host-smp2", "kernel": "host", "kernel_release": "6.18",
     "ncpus": 2, "runs": []},
    [1, 2],
])
def test_old_or_foreign_files_are_one_clear_error(tmp_path: Path, doc: object) -> None:
    p = tmp_path / "host-smp2.json"
    p.write_text(json.dumps(doc))
    for call in (lambda: results.load_file(p),
                 lambda: results.save(tmp_path, [recorded("touch-linux-6.18.json")],
                                      PERCPU, HOST)):
        with pytest.raises(UserError) as e:
            call()
        msg = str(e.value)
        assert "schema" in msg and "delete it and rerun" in msg and "\n" not in msg
