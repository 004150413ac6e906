"""`rsslab measure` from the command line: output kept apart, statuses.

Each bad input gets one line from rsslab and its own exit status (see
`rsslab measure --help`); the measured program's output stays untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RSSLAB = [sys.executable, "-m", "rsslab.cli"]


def run(args: list[str], *, stdin: bytes = b"", timeout: float = 120,
        prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*prefix, *RSSLAB, *args], input=stdin, capture_output=True,
                          timeout=timeout)


def rsslab_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("rsslab:")]


@pytest.mark.host
def test_output_and_status_pass_through(bin_dir: Path) -> None:
    proc = run(["measure", "--json", "--", "sh", "-c", "cat; exit 7"], stdin=b"in\nput\n")
    assert proc.returncode == 7
    assert proc.stdout == b"in\nput\n"
    report = json.loads(proc.stderr.decode().strip().splitlines()[-1])
    for key in ("peak_kib", "method", "bound_kib", "vmhwm_kib", "wait4_maxrss_kib",
                "smaps_rss_kib", "limits", "bounds"):
        assert key in report, key
    assert report["exit_code"] == 7 and report["argv"] == ["sh", "-c", "cat; exit 7"]


@pytest.mark.host
def test_report_to_file_leaves_both_streams_alone(tmp_path: Path, bin_dir: Path) -> None:
    out = tmp_path / "report.json"
    proc = run(["measure", "--json", "--out", str(out), "--", "sh", "-c",
                "echo out; echo err >&2"])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"out\n", b"err\n")
    assert json.loads(out.read_text())["exit_code"] == 0


@pytest.mark.host
def test_text_report_names_peak_method_and_claims(bin_dir: Path) -> None:
    proc = run(["measure", "--no-trace", "--", str(bin_dir / "touch"), "100"])
    assert proc.returncode == 0
    err = proc.stderr.decode()
    assert "peak RSS" in err and "exit-stop-smaps" in err and "limits:" in err
    assert b"peak" not in proc.stdout.replace(b"peak_exact_kib", b"").replace(b"peak_anon", b"")


@pytest.mark.host
def test_killed_by_signal_is_measured_and_told(bin_dir: Path) -> None:
    proc = run(["measure", "--json", "--", "sh", "-c", "kill -KILL $$"])
    assert proc.returncode == 128 + 9
    lines = rsslab_lines(proc)
    assert len(lines) == 1 and "killed by signal 9 (SIGKILL)" in lines[0]
    report = json.loads(proc.stderr.decode().splitlines()[0])
    assert report["exit_signal"] == 9 and report["peak_kib"] > 0


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (["measure"], 125, ["no command"]),
        (["measure", "--"], 125, ["no command"]),
        (["measure", "--bogus", "--", "true"], 125, ["unrecognized", "--bogus"]),
        (["measure", "--timeout", "x", "--", "true"], 125, ["--timeout"]),
        (["measure", "--", "rsslab-no-such-command"], 127, ["not found", "in PATH"]),
        (["measure", "--", "./no/such/file"], 127, ["not found", "./no/such/file"]),
        (["measure", "--", "/"], 126, ["is a directory"]),
        (["measure", "--timeout", "0.3", "--", "sleep", "30"], 124, ["ran over 0.3 s"]),
    ],
)
@pytest.mark.host
def test_bad_input(args: list[str], status: int, words: list[str], bin_dir: Path) -> None:
    proc = run(args)
    lines = rsslab_lines(proc)
    assert proc.returncode == status, proc.stderr
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert proc.stdout == b""


def test_not_executable(tmp_path: Path, bin_dir: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("not a program\n")
    data.chmod(0o644)
    proc = run(["measure", "--", str(data)])
    lines = rsslab_lines(proc)
    assert proc.returncode == 126 and len(lines) == 1, proc.stderr
    assert "not executable" in lines[0] and "chmod +x" in lines[0]


@pytest.mark.host
def test_timeout_leaves_no_process(bin_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "alive"
    proc = run(["measure", "--timeout", "0.3", "--", "sh", "-c",
                f"sleep 2; touch {marker}"])
    assert proc.returncode == 124
    subprocess.run(["sleep", "2.5"], timeout=10)
    assert not marker.exists(), "the command survived the timeout"


@pytest.mark.host
@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace: apt-get install strace")
def test_ptrace_denied(bin_dir: Path) -> None:
    """Under `strace -f` the observer's child is already traced, so its
    PTRACE_TRACEME fails with EPERM, as with yama ptrace_scope=3."""
    proc = run(["measure", "--", "true"], prefix=("strace", "-f", "-qq", "-o", os.devnull),
               timeout=300)
    assert proc.returncode == 123, proc.stderr
    lines = rsslab_lines(proc)
    assert len(lines) == 1 and "ptrace is not permitted" in lines[0], proc.stderr
