"""bench/turnaround.py's counting: every QEMU start through its wrapper,
new kernel builds in the cache, and the record kept per target and state."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("turnaround", ROOT / "bench" / "turnaround.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_the_wrapper_counts_each_qemu_start_and_runs_the_real_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    real = tmp_path / "real"
    real.mkdir()
    (real / bench.QEMU).write_text("#!/bin/sh\necho \"$@\" > \"$0.args\"\nexit 7\n")
    (real / bench.QEMU).chmod(0o755)
    monkeypatch.setenv("PATH", f"{real}:/usr/bin:/bin")
    counter = tmp_path / "boots"
    wrap = bench.wrapper(tmp_path / "wrap", counter)
    for _ in range(2):
        proc = subprocess.run([wrap / bench.QEMU, "-smp", "2"], check=False)
        assert proc.returncode == 7
    assert len(counter.read_text().split()) == 2
    assert (real / f"{bench.QEMU}.args").read_text() == "-smp 2\n"


def test_kernel_builds_are_new_images_in_the_cache(tmp_path: Path) -> None:
    bench = _bench()
    (tmp_path / "kbuild" / "aaa").mkdir(parents=True)
    (tmp_path / "kbuild" / "aaa" / "bzImage").write_bytes(b"x")
    (tmp_path / "kbuild" / "half").mkdir()  # a build that did not finish
    assert bench.built_kernels(tmp_path) == {"aaa"}
    (tmp_path / "kbuild" / "aaa" / "meta.json").write_text('{"seconds": 312.5}')
    (tmp_path / "kbuild" / "bbb").mkdir()
    (tmp_path / "kbuild" / "bbb" / "meta.json").write_text('{"seconds": 20}')
    (tmp_path / "kbuild" / "old").mkdir()  # built before make kept its time
    (tmp_path / "kbuild" / "old" / "meta.json").write_text('{"lines": 9}')
    assert bench.build_seconds(tmp_path, {"aaa", "bbb", "old", "half"}) == 332.5


def test_a_run_replaces_the_record_of_the_same_target_and_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    monkeypatch.setattr(bench, "OUT", tmp_path)

    def run(target: str, state: str, seconds: float) -> object:
        return bench.Run(target, state, seconds, 0, 2, 3, 0.5, 2, "abc", "2026-01-01 00:00",
                         seconds / 2)

    bench.record([run("patches", "first", 3000.0), run("patches", "warm", 150.0)])
    rows = bench.record([run("patches", "warm", 140.0), run("repro", "warm", 50.0)])
    assert [(r["target"], r["state"], r["seconds"]) for r in rows] == [
        ("repro", "warm", 50.0), ("patches", "first", 3000.0), ("patches", "warm", 140.0)]
    assert json.loads((tmp_path / "turnaround.json").read_text())["runs"] == rows
    table = bench.table(rows)
    assert "<= 3 min 00 s: met" in table and "<= 1 min 00 s: met" in table
    assert "2 (1 min 10 s)" in table  # the warm patches run's two builds, 70 s of make
