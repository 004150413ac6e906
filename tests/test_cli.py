"""Bad input: one line that says what is wrong, exit status 2, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rsslab import paths
from rsslab.cli import commands as cli

RSSLAB = [sys.executable, "-m", "rsslab.cli"]


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RSSLAB, *args], capture_output=True, text=True, timeout=120,
                          **kw)  # type: ignore[call-overload]


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--scenario", "nope"], ["unknown scenario 'nope'", "touch"]),
        (["run", "--scenario", "touch", "-p", "pages=abc"], ["pages", "integer", "abc"]),
        (["run", "--scenario", "touch", "-p", "pages=-5"], ["pages", "out of range"]),
        (["run", "--scenario", "touch", "-p", "pages=99999999999"], ["out of range"]),
        (["run", "--scenario", "touch", "-p", "pages=10:5"], ["START <= STOP"]),
        (["run", "--scenario", "touch", "-p", "pages"], ["NAME=VALUE"]),
        (["run", "--scenario", "touch", "-p", "threads=3"], ["no chosen scenario", "threads"]),
        (["run", "--scenario", "threads", "-p", "mode=sideways"], ["mode", "serial"]),
        (["run", "-p", "pages=3"], ["--param needs --scenario"]),
        (["run", "--repeat", "0"], ["--repeat", "out of range"]),
        (["run", "--repeat", "x"], ["--repeat", "not an integer"]),
        (["run", "--cpus", "1,x"], ["--cpus"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_input(args: list[str], words: list[str]) -> None:
    one_line_error(run(args), *words)


def test_missing_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(paths, "build_dir", lambda root: tmp_path / "build")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    assert cli.main(["run", "--scenario", "touch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rsslab: no C compiler") and "apt-get install gcc" in err
    assert len(err.splitlines()) == 1


@pytest.mark.host
def test_main_runs_in_process_with_a_given_session(bin_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """main(argv, session): the command uses the session's binaries and build
    directory, and the claims it read once."""
    import json

    from rsslab.run.session import Session
    session = Session(paths.project_root(), tmp_path / "build", bin_dir)
    argv = ["run", "--scenario", "touch", "-p", "pages=10", "--repeat", "1", "--json"]
    assert cli.main(argv, session) == 0
    runs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["params"]["pages"] for r in runs] == [10]
    assert (session.results_dir / "verdicts").is_dir()
    assert not (tmp_path / "build" / "bin").exists(), "the session's binaries were used"
    assert set(session._claims) == {1}


@pytest.mark.host
@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace: apt-get install strace")
def test_ptrace_denied(bin_dir: Path) -> None:
    """Under `strace -f` the observer's child is already traced, so its
    PTRACE_TRACEME fails with EPERM, as with yama ptrace_scope=3."""
    proc = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, *RSSLAB,
                           "run", "--scenario", "touch", "--repeat", "1"],
                          capture_output=True, text=True, timeout=300)
    one_line_error(proc, "ptrace denied", "run as root")


@pytest.mark.host
def test_observer_exec_failures(bin_dir: Path, tmp_path: Path) -> None:
    missing = subprocess.run([str(bin_dir / "observe"), "--", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=10)
    assert missing.returncode == 127 and "No such file" in missing.stderr
    script = tmp_path / "noexec"
    script.write_text("data")
    denied = subprocess.run([str(bin_dir / "observe"), "--", str(script)],
                            capture_output=True, text=True, timeout=10)
    assert denied.returncode == 126 and "Permission denied" in denied.stderr


def test_observer_usage(bin_dir: Path) -> None:
    for args in ([], ["--cpu", "x", "true"], ["--bogus", "true"]):
        proc = subprocess.run([str(bin_dir / "observe"), *args], capture_output=True,
                              text=True, timeout=10)
        assert proc.returncode == 2 and "usage:" in proc.stderr


NO_CGROUP = {
    # Nothing mounted where cgroups live: no memory controller to find.
    "hidden": "mount -t tmpfs none /sys/fs/cgroup",
    # Every cgroup mount read-only: nothing can be created.
    "read-only": "for m in $(awk '$3 ~ /cgroup/ {print $2}' /proc/mounts); do "
                 "mount -o remount,ro,bind \"$m\"; done",
}


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare(1) to hide the cgroup mounts")
@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
@pytest.mark.parametrize("how", sorted(NO_CGROUP))
def test_without_a_memory_cgroup_run_and_doctor_skip_it(bin_dir: Path, how: str,
                                                        tmp_path: Path) -> None:
    """On a host whose memory cgroup cannot be created (a container, a
    read-only cgroup mount), run and doctor check everything else and say
    in one line that the cgroup part is not available.  In a build
    directory of its own: runs with a cgroup peak saved there before would
    be judged with these."""
    build = tmp_path / "build"
    shutil.copytree(bin_dir, build / "bin", copy_function=os.link)
    env = {**os.environ, paths.BUILD_DIR_ENV: str(build)}

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        inner = f"{NO_CGROUP[how]} && exec {' '.join(RSSLAB)} {' '.join(args)}"
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               inner], capture_output=True, text=True, timeout=600, env=env)

    proc = sh("run", "--repeat", "1")
    assert proc.returncode in (0, 1), proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "memory cgroup" in x]
    assert len(lines) == 1 and "not available here" in lines[0], proc.stderr
    assert "cgroup-peak-covers-anon" in lines[0]
    proc = sh("doctor", "--json", "--repeat", "1")
    assert proc.returncode in (0, 1), proc.stderr
    import json

    doc = json.loads(proc.stdout)
    cg = next(m for m in doc["metrics"] if m["metric"] == "cgroup_peak_kib")
    assert cg["state"] == "not available here" and cg["verdict"] == "unavailable"
    assert cg["unavailable"]


def test_exit_statuses_are_documented_from_where_they_are_defined() -> None:
    """measure's and doctor's --help list every status their code can exit
    with, in the words defined beside it; no status class is left out."""
    from rsslab.judges import doctor, measure

    def flat(text: str) -> str:
        return " ".join(text.split())

    mine = {c for c in vars(measure).values()
            if isinstance(c, type) and issubclass(c, measure.MeasureError)}
    assert mine == set(measure.STATUSES)
    shown = flat(cli.measure_parser().format_help())
    for c in measure.STATUSES:
        assert f"{c.exit_status} {flat(c.says)}" in shown, c
    assert {s for s, _ in doctor.STATUSES} == {doctor.EXIT_EXACT, doctor.EXIT_INACCURATE,
                                                doctor.EXIT_CLAIM_BROKEN,
                                                doctor.EXIT_CLAIM_FAILED, doctor.EXIT_INCOMPLETE}
    for status, says in doctor.STATUSES:
        assert f"{status} {flat(says)}" in flat(cli.DOCTOR_EPILOG)
