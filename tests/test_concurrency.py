"""Any number of rsslab processes share one build directory: the binaries
they build, the result files they merge into, and the checks made before
anything is built or run.  Every concurrent case runs separate processes."""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from rsslab import paths, results
from rsslab.errors import UserError
from rsslab.plan import RunSpec, observer_argv
from rsslab.results import Observation, Origin, from_observer
from rsslab.run.build import build_all
from rsslab.run.planner import host_cpus

RSSLAB = [sys.executable, "-m", "rsslab.cli"]
HOST = Origin("host", "the running kernel")
PERCPU = frozenset({"percpu-rss", "status-sum"})
# Enough processes that, without a lock or unique names, two of them collide.
PROCESSES = 8


def at_once(setup: str, acts: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """One Python process per act: each runs ``setup``, says it is ready and
    waits; once all are ready they are released together."""
    procs = [subprocess.Popen([sys.executable, "-c", f"{setup}\nimport sys\n"
                               "print('ready', flush=True)\nsys.stdin.readline()\n" + act],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for act in acts]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n", p.communicate()[1]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def small_root(tmp_path: Path) -> Path:
    """A project root with the observer, one scenario and the headers: a
    whole build in a few compiles."""
    root = tmp_path / "root"
    (root / "repro").mkdir(parents=True)
    for src in [*(ROOT / "repro").glob("*.h"), ROOT / "repro" / "observe.c",
                ROOT / "repro" / "touch.c"]:
        shutil.copy2(src, root / "repro")
    return root


def observe_touch(bin_dir: Path, tmp_path: Path) -> dict[str, object]:
    """Run the built touch under the built observer: both binaries are whole."""
    out = tmp_path / "observe.json"
    argv = observer_argv(RunSpec("touch", {"pages": 10}, False, 1), str(bin_dir), str(out),
                         "--cgroup-if-available")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, object] = json.loads(out.read_text())
    return doc


def executable(path: Path) -> bool:
    st = path.stat()
    return stat.S_ISREG(st.st_mode) and st.st_size > 0 and bool(st.st_mode & stat.S_IXUSR)


# --- building ---------------------------------------------------------------------


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
def test_builds_at_once_into_one_empty_directory_all_succeed(tmp_path: Path) -> None:
    root, out = small_root(tmp_path), tmp_path / "build" / "bin"
    done = at_once("from pathlib import Path\nfrom rsslab.run.build import build_all",
                   [f"build_all(Path({str(root)!r}), Path({str(out)!r}))"] * PROCESSES)
    failed = [p.stderr.strip().splitlines()[-1:] for p in done if p.returncode != 0]
    assert not failed, failed
    names = sorted(p.name for p in out.iterdir())
    assert names == ["observe", "touch"]  # whole binaries and no temporaries left
    assert all(executable(out / n) for n in names)
    assert observe_touch(out, tmp_path)["exit_code"] == 0


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
@pytest.mark.parametrize("damage", ["not executable", "empty"])
def test_a_binary_left_unusable_is_rebuilt(tmp_path: Path, damage: str) -> None:
    """What a killed or older rsslab left is rebuilt, even when it is newer
    than its source, and never run."""
    root, out = small_root(tmp_path), tmp_path / "bin"
    touch = build_all(root, out)["touch"]
    if damage == "empty":
        touch.write_bytes(b"")
    else:
        touch.chmod(0o644)
    later = touch.stat().st_mtime + 3600
    os.utime(touch, (later, later))
    before = touch.stat().st_ino
    build_all(root, out)
    assert executable(touch) and touch.stat().st_ino != before
    assert observe_touch(out, tmp_path)["exit_code"] == 0


# --- result files -----------------------------------------------------------------


def test_saves_at_once_into_one_result_file_keep_every_run(tmp_path: Path) -> None:
    setup = (f"import json\nfrom pathlib import Path\nfrom rsslab import results\n"
             f"obj = json.loads(Path({str(DATA / 'observer' / 'touch-linux-6.18.json')!r})"
             ".read_text())")
    acts = [f"results.save(Path({str(tmp_path)!r}), "
            f"[results.from_observer(obj, 'host', 'touch', {{'pages': {n}}})], "
            f"frozenset({sorted(PERCPU)!r}), results.Origin('host', 'the running kernel'))"
            for n in range(1, PROCESSES + 1)]
    done = at_once(setup, acts)
    assert all(p.returncode == 0 for p in done), [p.stderr for p in done]
    kept = results.load_file(tmp_path / "host-smp2.json").runs
    assert sorted(int(o.params["pages"]) for o in kept) == list(range(1, PROCESSES + 1))


def stored_elsewhere(path: Path, runs: int) -> None:
    """A large result file of another kernel: reading it takes a while, as a
    real one of many sweeps does, so the two runs' saves overlap."""
    obs = from_observer(json.loads((DATA / "observer" / "touch-linux-6.18.json").read_text()),
                        "host", "touch", {"pages": 1})
    flat = obs.to_flat()
    results.save(path.parent, [Observation.from_flat({**flat, "params": {"pages": 10**6 + n}})
                               for n in range(runs)],
                 frozenset({"elsewhere"}), Origin("host", "another kernel"))


def test_writers_at_once_each_rename_a_whole_file(tmp_path: Path) -> None:
    """The stored verdicts of two runs on one result set are one file: each
    writer renames its own temporary file, none finds another's gone."""
    target = tmp_path / "verdicts" / "host.json"
    acts = [f"for _ in range(200): atomic.write_text(Path({str(target)!r}), {str(n) * 5000!r})"
            for n in range(PROCESSES)]
    done = at_once("from pathlib import Path\nfrom rsslab import atomic", acts)
    assert [d.returncode for d in done] == [0] * PROCESSES, [d.stderr for d in done]
    text = target.read_text()
    assert text in {str(n) * 5000 for n in range(PROCESSES)}
    assert [p.name for p in target.parent.iterdir()] == ["host.json"]


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
def test_two_runs_at_once_on_one_empty_build_dir_keep_both(tmp_path: Path) -> None:
    build = tmp_path / "build"
    label = results.label_for("host", host_cpus())
    stored_elsewhere(build / "results" / f"{label}.json", 20000)
    procs = [subprocess.Popen([*RSSLAB, "--build-dir", str(build), "run", "--scenario",
                               "touch", "-p", f"pages={n}", "--repeat", "1", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in (16, 32)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _out, err in outs]
    kept = results.load_file(build / "results" / f"{label}.json").runs
    assert sorted(int(o.params["pages"]) for o in kept) == [16, 32]


# --- input checked before anything runs ----------------------------------------


def _can_mount_read_only(tmp_path: Path) -> bool:
    d = tmp_path / "probe"
    d.mkdir()
    proc = subprocess.run(["unshare", "-m", "mount", "--bind", "-o", "ro", str(d), str(d)],
                          capture_output=True, timeout=30)
    return proc.returncode == 0


def read_only(argv: list[str], d: Path) -> list[str]:
    """``argv`` run where ``d`` cannot be written: a read-only bind mount in
    a mount namespace of its own for root (whom modes do not stop), else
    mode 0555."""
    if os.geteuid() != 0:
        d.chmod(0o555)
        return argv
    return ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$1" "$1" && shift && exec "$@"',
            "sh", str(d), *argv]


def test_a_build_dir_not_there_yet_is_made_and_the_probe_leaves_nothing(tmp_path: Path) -> None:
    build = tmp_path / "a" / "build"
    (tmp_path / "a").mkdir()
    paths.check_writable(build)
    assert build.is_dir() and not list(build.iterdir())
    (build / "results").mkdir()
    paths.check_writable(build)
    assert [p.name for p in build.rglob("*")] == ["results"]


COMMANDS = {
    "run": ["run", "--scenario", "touch", "--repeat", "1"],
    "doctor": ["doctor", "--repeat", "1"],
    "measure": ["measure", "--", "touch", "{marker}"],
}
# The read-only part of the build directory, and each command's status:
# measure uses 122 for its own failures, and writes no results.
CASES = [
    ("run", ".", 2), ("run", "results", 2), ("run", "bin", 2),
    ("doctor", ".", 2), ("doctor", "results", 2),
    ("measure", ".", 122), ("measure", "bin", 122), ("measure", "results", 0),
]


@pytest.mark.host
@pytest.mark.parametrize(("command", "part", "status"), CASES)
def test_an_unwritable_build_dir_is_one_line_before_anything_runs(
        tmp_path: Path, bin_dir: Path, command: str, part: str, status: int) -> None:
    if os.geteuid() == 0 and not _can_mount_read_only(tmp_path):
        pytest.skip("root here cannot make a read-only bind mount (unshare -m)")
    build, marker = tmp_path / "build", tmp_path / "ran"
    (build / part).mkdir(parents=True)
    if status == 0:  # it measures: with the session's binaries, as built
        shutil.copytree(bin_dir, build / "bin", copy_function=os.link)
    argv = [*RSSLAB, "--build-dir", str(build),
            *(a.format(marker=marker) for a in COMMANDS[command])]
    proc = subprocess.run(read_only(argv, build / part), capture_output=True, text=True,
                          timeout=120)
    (build / part).chmod(0o755)
    err = proc.stderr.strip()
    assert proc.returncode == status, err
    if status == 0:  # measured: the part it cannot write is one it never writes
        assert marker.exists()
        return
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("rsslab: cannot write in the build directory") and str(build) in err
    assert "--build-dir" in err
    assert not list((build / "bin").glob("*")) and not marker.exists()


# --- result files that are not result files ---------------------------------------


def _garbage(seed: int) -> bytes:
    rng = random.Random(seed)
    return b"\xff" + bytes(rng.randrange(256) for _ in range(4096))


GOOD = {"schema": results.SCHEMA_VERSION, "label": "host-smp2", "kernel": "host",
        "kernel_release": "6.18", "kernel_version": "", "ncpus": 2,
        "features": sorted(PERCPU), "origin": {"name": "host", "source": "x"}, "runs": []}
BAD_FILES = {
    "random bytes": _garbage(19),
    "not JSON": b"{\"schema\": 2, ",
    "runs not a list": json.dumps({**GOOD, "runs": 5}).encode(),
    "a run not an object": json.dumps({**GOOD, "runs": ["touch"]}).encode(),
    "params not an object": json.dumps({**GOOD, "runs": [{"params": 3}]}).encode(),
    "features a string": json.dumps({**GOOD, "features": "percpu-rss"}).encode(),
    "ncpus a string": json.dumps({**GOOD, "ncpus": "2"}).encode(),
    "origin a list": json.dumps({**GOOD, "origin": []}).encode(),
}


@pytest.mark.parametrize("what", sorted(BAD_FILES))
def test_a_damaged_result_file_is_one_line_naming_it(tmp_path: Path, what: str) -> None:
    path = tmp_path / "host-smp2.json"
    path.write_bytes(BAD_FILES[what])
    obs = from_observer(json.loads((DATA / "observer" / "touch-linux-6.18.json").read_text()),
                        "host", "touch", {"pages": 1})
    for call in (lambda: results.load_file(path),
                 lambda: results.save(tmp_path, [obs], PERCPU, HOST)):
        with pytest.raises(UserError) as e:
            call()
        msg = str(e.value)
        assert str(path) in msg and "delete it and rerun" in msg and "\n" not in msg, msg
    assert path.read_bytes() == BAD_FILES[what]  # never overwritten


@pytest.mark.host
def test_rsslab_run_on_a_random_bytes_result_file_is_one_line(tmp_path: Path,
                                                              bin_dir: Path) -> None:
    build = tmp_path / "build"
    (build / "bin").mkdir(parents=True)
    for b in bin_dir.iterdir():
        os.link(b, build / "bin" / b.name)
    path = build / "results" / f"{results.label_for('host', host_cpus())}.json"
    path.parent.mkdir()
    path.write_bytes(_garbage(1))
    proc = subprocess.run([*RSSLAB, "--build-dir", str(build), "run", "--scenario", "touch",
                           "-p", "pages=8", "--repeat", "1"],
                          capture_output=True, text=True, timeout=120)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err
    assert str(path) in err and "not UTF-8" in err and "delete it" in err
