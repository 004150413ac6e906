"""Nothing left behind, nothing lost: `rsslab measure` and the API under
timeouts, signals, SIGKILL, odd argv and closed streams.

After every case, no process of the measured tree runs, no observer is
left stopped, and no tracefs instance, memory cgroup or temporary file of
an observer that is gone remains.  The commands carry a unique tag in
their argv, so that processes of other tests running beside these are
never counted.  The fast cases run in `make check`; the sweeps (20 delays,
200 API timeouts) are in the slow tier.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rsslab.judges.measure import Measurer, TimedOut

# Every test here runs the observer, which ptraces, on this kernel.
pytestmark = pytest.mark.host
# One worker runs them all, one at a time (tests/xdist_groups.py): some kill
# an observer, which leaves its tracefs instance and cgroup to the next
# observer to remove, and the others check that nothing of the kind is left.
XDIST_GROUP = "lifecycle"

RSSLAB = [sys.executable, "-m", "rsslab.cli"]
TRACEFS = Path("/sys/kernel/tracing/instances")
CGROUP = Path("/sys/fs/cgroup")
DELAYS = [i / 19 for i in range(20)]  # 0 .. 1 s


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _owner_gone(name: str, prefix: str) -> bool:
    """Is the observer in a "<prefix><pid>-<start>" name gone?"""
    try:
        pid, start = name.removeprefix(prefix).split("-")[:2]
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ValueError, OSError):
        return True
    return stat.rsplit(")", 1)[1].split()[19] != start


def stale_instances() -> list[str]:
    if not TRACEFS.is_dir():
        return []
    return [p.name for p in TRACEFS.iterdir()
            if p.name.startswith("rsslab-") and _owner_gone(p.name, "rsslab-")]


def stale_cgroups() -> list[str]:
    out = []
    for parent in (CGROUP, *CGROUP.glob("*"), *CGROUP.glob("*/*")):
        if parent.is_dir():
            out += [str(p) for p in parent.glob("rsslab-observe-*")
                    if _owner_gone(p.name, "rsslab-observe-")]
    return out


def tagged(tag: str) -> list[str]:
    """Processes whose argv holds tag (the measured tree), with their state."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if tag.encode() in argv and int(proc.name) != os.getpid() and state != "Z":
            words = argv.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name} {state} {words}")
    return found


def assert_nothing_left(tag: str) -> None:
    deadline = time.monotonic() + 5
    while tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tagged(tag), tagged(tag)
    assert not stale_instances(), stale_instances()
    assert not stale_cgroups(), stale_cgroups()
    assert not list(Path("/tmp").glob("rsslab-measure-*"))


@pytest.fixture
def tag(tmp_path: Path) -> Iterator[str]:
    """A unique word in every argv of the measured tree: the shell's $0,
    and a link to sleep(1) named after it (tree_command)."""
    t = f"rsslab-test-{uuid.uuid4().hex[:12]}"
    SLEEPS[t] = tmp_path / f"{t}-sleep"
    SLEEPS[t].symlink_to(shutil.which("sleep") or "/bin/sleep")
    yield t
    for line in tagged(t):  # never leave them to the next test
        os.kill(int(line.split()[0]), signal.SIGKILL)


SLEEPS: dict[str, Path] = {}


def tree_command(tag: str, *, ignore_term: bool = False) -> list[str]:
    """A shell that starts two children and waits."""
    trap = "trap '' TERM; " if ignore_term else ""
    sleep = SLEEPS[tag]
    return ["sh", "-c", f"{trap}{sleep} 30 & {sleep} 30 & wait", tag]


def measure_cli(args: list[str], **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*RSSLAB, "measure", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def _timeout_case(tag: str, delay: float, ignore_term: bool = False) -> None:
    proc = measure_cli(["--json", "--timeout", f"{max(delay, 0.001):.3f}", "--",
                        *tree_command(tag, ignore_term=ignore_term)])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 124, err.decode()
    assert b"Traceback" not in err
    assert_nothing_left(tag)


def _sigterm_case(tag: str, delay: float, sig: int = signal.SIGTERM) -> None:
    proc = measure_cli(["--", *tree_command(tag)])
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    # Before the command started, rsslab may still end by the signal itself.
    assert proc.returncode in (128 + sig, -sig), (proc.returncode, err.decode())
    assert b"Traceback" not in err
    assert_nothing_left(tag)


@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_timeout_kills_the_whole_tree(bin_dir: Path, tag: str, delay: float) -> None:
    _timeout_case(tag, delay)


def test_timeout_kills_a_tree_that_ignores_sigterm(bin_dir: Path, tag: str) -> None:
    _timeout_case(tag, 0.3, ignore_term=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_rsslab_ends_the_tree(bin_dir: Path, tag: str, sig: int) -> None:
    _sigterm_case(tag, 1.0, sig)


@pytest.mark.slow
@pytest.mark.parametrize("delay", DELAYS)
def test_timeout_at_any_moment(bin_dir: Path, tag: str, delay: float) -> None:
    _timeout_case(tag, delay)


@pytest.mark.slow
@pytest.mark.parametrize("delay", DELAYS)
def test_sigterm_at_any_moment(bin_dir: Path, tag: str, delay: float) -> None:
    _sigterm_case(tag, delay)


@pytest.mark.slow
@pytest.mark.parametrize("delay", DELAYS)
def test_sigint_at_any_moment(bin_dir: Path, tag: str, delay: float) -> None:
    """Ctrl-C while rsslab loads its modules (the first few tenths of a
    second, longer on a busy machine) is one line too, never a traceback.
    Before the interpreter has started rsslab at all (its own start-up,
    "Could not import runpy module"), Python reports it."""
    proc = measure_cli(["--", *tree_command(tag)])
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert_nothing_left(tag)
    if b"Could not import runpy module" in err and b"/rsslab/" not in err:
        return  # the interpreter's start-up, before any of rsslab ran
    assert proc.returncode in (128 + signal.SIGINT, -signal.SIGINT), (proc.returncode,
                                                                      err.decode())
    assert b"Traceback" not in err, err.decode()


def test_timed_out_report_has_the_peak_so_far_and_times(bin_dir: Path) -> None:
    proc = measure_cli(["--json", "--timeout", "0.5", "--", "sh", "-c",
                        f"{bin_dir / 'touch'} 2560 && sleep 30"])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 124
    import json

    report = json.loads(err.decode().splitlines()[0])
    assert report["timed_out"] is True and report["status"] == 124
    assert report["wall_s"] >= 0.5 and report["cpu_sys_s"] is not None
    assert report["peak_kib"] > 0


def test_api_timeouts_leave_no_observer(bin_dir: Path, tag: str) -> None:
    measurer = Measurer.here()
    for timeout in (0, 1e-6, 1e-4, 5e-4):  # 200 of them in the slow tier
        with pytest.raises(TimedOut) as e:
            measurer.measure(tree_command(tag), timeout=timeout, stdout=subprocess.DEVNULL)
        assert e.value.measurement is not None and e.value.measurement.timed_out
    assert_nothing_left(tag)
    assert not [p for p in tagged("observe") if " T " in f" {p} "]


@pytest.mark.slow
def test_200_api_timeouts_leave_nothing(bin_dir: Path, tag: str) -> None:
    measurer = Measurer.here()
    for _ in range(200):
        with pytest.raises(TimedOut):
            measurer.measure(tree_command(tag), timeout=1e-4, stdout=subprocess.DEVNULL)
    assert_nothing_left(tag)


def test_a_killed_observer_leaves_nothing_the_next_start_does_not_clean(
        bin_dir: Path, tag: str) -> None:
    """SIGKILL to the observer: PTRACE_O_EXITKILL kills the traced tree;
    its tracefs instance and cgroup are removed by the next observer."""
    cgroup = ["--cgroup-if-available"] if os.geteuid() == 0 else []
    obs = subprocess.Popen([str(bin_dir / "observe"), *cgroup, "--", *tree_command(tag)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while len(tagged(tag)) < 4 and time.monotonic() < deadline:  # observer, sh, 2 sleeps
        time.sleep(0.02)
    obs.kill()
    obs.wait()
    deadline = time.monotonic() + 5
    while tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not tagged(tag), tagged(tag)
    subprocess.run([str(bin_dir / "observe"), *cgroup, "--", "true"], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)
    assert_nothing_left(tag)


@pytest.mark.slow
def test_eight_measures_at_once_on_an_empty_build_dir(tmp_path: Path) -> None:
    env = {**os.environ, "RSSLAB_BUILD_DIR": str(tmp_path / "build")}
    procs = [measure_cli(["--json", "--", "true"], env=env) for _ in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()


def test_a_200_kb_argv_is_measured(bin_dir: Path, tag: str) -> None:
    args = [f"{tag}-{i:06d}" + "x" * 1000 for i in range(200)]
    proc = measure_cli(["--json", "--", "sh", "-c", 'exit $(( $# == 200 ? 0 : 1 ))', "sh",
                        *args])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-500:]


def test_a_non_utf8_argv_passes_through_as_bytes(bin_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "args"
    proc = subprocess.run([*RSSLAB, "measure", "--json", "--", "sh", "-c",
                           f'printf %s "$1" > {out}', "sh", b"\xff\xfe-bytes"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert out.read_bytes() == b"\xff\xfe-bytes"
    assert b"Traceback" not in proc.stderr


def test_closed_stderr_is_no_failure(bin_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run(f"{' '.join(RSSLAB)} measure --json --out {out} -- true 2>&-",
                          shell=True, capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert out.exists()


def test_bad_out_is_refused_before_the_command_runs(bin_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    proc = subprocess.run([*RSSLAB, "measure", "--out", "/nonexistent/x", "--", "touch",
                           str(marker)], capture_output=True, timeout=60)
    lines = [x for x in proc.stderr.decode().splitlines() if x.startswith("rsslab:")]
    assert proc.returncode == 122 and len(lines) == 1 and "/nonexistent" in lines[0]
    assert not marker.exists()


def test_a_bad_interpreter_is_not_command_not_found(bin_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/nonexistent/interpreter\necho hi\n")
    script.chmod(0o755)
    proc = subprocess.run([*RSSLAB, "measure", "--", str(script)], capture_output=True,
                          timeout=60)
    lines = [x for x in proc.stderr.decode().splitlines() if x.startswith("rsslab:")]
    assert proc.returncode == 126 and len(lines) == 1, proc.stderr
    assert "interpreter /nonexistent/interpreter" in lines[0]


def test_scratch_of_an_owner_that_is_gone_is_removed(tmp_path: Path) -> None:
    from rsslab.scratch import scratch, start_time

    gone = tmp_path / "rsslab-x-999999999-1-abc"
    mine = tmp_path / f"rsslab-x-{os.getpid()}-{start_time(os.getpid())}-def"
    other = tmp_path / "rsslab-x-not-ours"
    for d in (gone, mine, other):
        d.mkdir()
    with scratch("rsslab-x-", tmp_path) as tmp:
        assert tmp.is_dir() and tmp.name.startswith(f"rsslab-x-{os.getpid()}-")
    assert not gone.exists() and mine.exists() and other.exists() and not tmp.exists()


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
def test_sigterm_to_run_ends_it_cleanly(tmp_path: Path) -> None:
    """SIGTERM reaches rsslab run's finally blocks: status 143, one line,
    and no scratch directory of its own left."""
    proc = subprocess.Popen([*RSSLAB, "--build-dir", str(tmp_path / "b"), "run",
                             "--scenario", "threads", "--repeat", "50"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    mine = f"rsslab-run-{proc.pid}-"
    while not list(Path("/tmp").glob(mine + "*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()
    assert b"Traceback" not in err and b"SIGTERM" in err
    assert not list(Path("/tmp").glob(mine + "*"))


def _qemus_under(path: Path) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in argv and str(path).encode() in argv:
            out.append(int(proc.name))
    return out


@pytest.mark.guest
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_to_run_leaves_no_qemu(tmp_path: Path, sig: int) -> None:
    """rsslab run --kernel 6.1, SIGTERM (its finally blocks) or SIGKILL (the
    guest's PR_SET_PDEATHSIG) while its guest runs: no QEMU left."""
    build = tmp_path / "b"
    proc = subprocess.Popen([*RSSLAB, "--build-dir", str(build), "run", "--kernel", "6.1",
                             "--cpus", "1", "--scenario", "threads", "--repeat", "20"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not _qemus_under(build) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert _qemus_under(build), "no guest started"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (128 + sig, -sig), err.decode()[-500:]
    deadline = time.monotonic() + 10
    while _qemus_under(build) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _qemus_under(build)
