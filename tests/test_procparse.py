"""The observer's /proc parsers, on recorded snapshots (``observe --parse``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import DATA


def parse(bin_dir: Path, name: str) -> dict[str, Any]:
    out = subprocess.run([str(bin_dir / "observe"), "--parse", str(DATA / "proc" / name)],
                         capture_output=True, text=True, timeout=10, check=True)
    stop: dict[str, Any] = json.loads(out.stdout)["exit_stop"]
    return stop


def test_every_metric_of_a_6_18_snapshot(bin_dir: Path) -> None:
    stop = parse(bin_dir, "linux-6.18-sleep")
    status = (DATA / "proc" / "linux-6.18-sleep" / "status").read_text()
    for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
        line = next(ln for ln in status.splitlines() if ln.startswith(key + ":"))
        assert stop["status"][key] == int(line.split()[1])
    statm = (DATA / "proc" / "linux-6.18-sleep" / "statm").read_text().split()
    assert stop["statm_resident_kib"] == int(statm[1]) * 4
    stat = (DATA / "proc" / "linux-6.18-sleep" / "stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    assert stop["stat_rss_kib"] == int(fields[24 - 3]) * 4
    assert stop["stat_minflt"] == int(fields[10 - 3])
    rollup = (DATA / "proc" / "linux-6.18-sleep" / "smaps_rollup").read_text()
    rss = next(ln for ln in rollup.splitlines() if ln.startswith("Rss:"))
    assert stop["smaps_rollup"]["Rss"] == int(rss.split()[1])


def test_comm_with_spaces_and_parens(bin_dir: Path) -> None:
    assert parse(bin_dir, "linux-6.18-oddcomm") == parse(bin_dir, "linux-6.18-sleep")


def test_fields_a_kernel_lacks_are_absent_not_zero(bin_dir: Path) -> None:
    stop = parse(bin_dir, "linux-4.4-like")
    assert "RssAnon" not in stop["status"] and "RssFile" not in stop["status"]
    assert stop["smaps_rollup"] == {}
    assert stop["status"]["VmRSS"] > 0


def test_missing_snapshot_is_an_error(bin_dir: Path, tmp_path: Path) -> None:
    proc = subprocess.run([str(bin_dir / "observe"), "--parse", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "not a directory" in proc.stderr
