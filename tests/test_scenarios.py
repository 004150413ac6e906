"""Scenario parameters, sweeps and the argv the host and guests run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rsslab import kversion, scenarios
from rsslab.errors import BadInput
from rsslab.plan import RunSpec, merge, observer_argv


def test_sweeps_expand_in_order() -> None:
    touch = scenarios.get("touch")
    assert [v["pages"] for v in scenarios.expand(touch, {"pages": "0:300:100"})] == [0, 100, 200, 300]
    assert [v["pages"] for v in scenarios.expand(touch, {"pages": "5,1"})] == [5, 1]
    threads = scenarios.get("threads")
    combos = scenarios.expand(threads, {"threads": "1,2", "mode": "serial,parallel"})
    assert len(combos) == 4 and combos[0] == {"threads": 1, "pages": 63, "mode": "serial"}


def test_sweep_size_is_capped() -> None:
    with pytest.raises(BadInput):
        scenarios.expand(scenarios.get("touch"), {"pages": "0:1000000"})


def test_observer_argv_is_one_list() -> None:
    spec = RunSpec("threads", {"threads": 4, "pages": 10, "mode": "parallel"}, cgroup=True)
    argv = observer_argv(spec, "/bin", "/tmp/o.json")
    assert argv == ["/bin/observe", "--report", "--out", "/tmp/o.json", "--cgroup", "--",
                    "/bin/threads", "4", "10", "parallel"]


def test_seed_input_is_generated_not_passed() -> None:
    seed = scenarios.get("seed")
    values = seed.resolve({})
    assert seed.argv("/bin/seed", values) == ["/bin/seed"]
    data = seed.stdin_bytes(values)
    assert data is not None and len(data) == 128 * 1024
    assert data.lower().count(b"t") > data.lower().count(b"s")  # an English text


def test_merge_keeps_the_largest_repeat() -> None:
    specs = merge([RunSpec("touch", {"pages": 5}, repeat=2), RunSpec("touch", {"pages": 5}, repeat=7),
                   RunSpec("touch", {}, repeat=1)])
    assert sorted((s.params["pages"], s.repeat) for s in specs) == [(5, 7), (100, 1)]


@pytest.mark.parametrize(
    ("release", "version", "expected"),
    [
        ("6.1.0-53-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.187-1 (2025-11-01)", (6, 1, 187)),
        ("6.12.113+deb12-amd64", "#1 SMP Debian 6.12.113-1~deb12u1", (6, 12, 113)),
        ("6.18.44-fc-v769", "#1 SMP PREEMPT_DYNAMIC @0", (6, 18, 44)),
        ("7.0", "", (7, 0, 0)),
    ],
)
def test_upstream_version(release: str, version: str, expected: tuple[int, int, int]) -> None:
    assert kversion.upstream(release, version) == expected


def test_integer_ranges_come_from_params_h(bin_dir: Path) -> None:
    """repro/params.h is the one source of the integer ranges: every entry
    names a scenario's parameter, every integer parameter has one, and the
    reproducer refuses a value just outside it with a usage error."""
    table = scenarios.ranges()
    ints = {(s.name, p.name) for s in scenarios.SCENARIOS.values() for p in s.params
            if not p.choices}
    assert set(table) == ints
    for (name, param), (lo, hi, default) in table.items():
        p = scenarios.get(name).param(param)
        assert (p.minimum, p.maximum, p.default) == (lo, hi, default)
        if name == "seed":
            continue  # the size of the input rsslab writes, not an argument
        s = scenarios.get(name)
        for bad in (lo - 1, hi + 1):
            values = {q.name: (bad if q.name == param else q.default) for q in s.params}
            proc = subprocess.run(s.argv(str(bin_dir / name), values), capture_output=True,
                                  text=True, timeout=30)
            assert proc.returncode == 2, (name, param, bad, proc.stderr)
            assert f"[{lo}, {hi}]" in proc.stderr, proc.stderr
