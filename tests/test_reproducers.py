"""The reproducers run on their own: one JSON report, sane values, clear usage errors.

Each program in ``repro/`` is built (static, as for the guests) into a
temporary directory and run without the observer, so its report goes to
standard output.  These tests check what the programs do (keys, echoed
parameters, pages they claim to have touched), never what the kernel
reports about them: that is the claims' job.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 120
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
SEED_BUFFER = 131072
# One read fault maps up to fault_around_bytes (64 KiB) of a file: the most
# a piece of the program's own code run for the first time can add.
FAULT_AROUND_KIB = 64
# linux/prctl.h, linux/capability.h
PR_CAPBSET_DROP = 24
CAP_NET_RAW = 13

Report = dict[str, Any]


@pytest.fixture(scope="session")
def bins(bin_dir: Path) -> dict[str, Path]:
    """The session's binaries (conftest's ``bin_dir``), by name."""
    return {p.stem: bin_dir / p.stem for p in (ROOT / "repro").glob("*.c")}


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    stdout: str
    stderr: str


def run(bins: Mapping[str, Path], name: str, args: Sequence[str], stdin: bytes = b"",
        cwd: Path | None = None, **kw: Any) -> Result:
    env = {k: v for k, v in os.environ.items() if k != "RSSLAB_REPORT_FD"}
    env.update(kw.pop("env", {}))
    proc = subprocess.run([str(bins[name]), *args], input=stdin, capture_output=True,
                          timeout=RUN_TIMEOUT_S, cwd=cwd or ROOT, env=env, check=False, **kw)
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def one_report(res: Result, scenario: str, extra_lines: int = 0) -> Report:
    """The run succeeded, said nothing on stderr and printed one JSON line."""
    assert res.code == 0, res.stderr
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    assert len(lines) == extra_lines + 1, res.stdout
    rep = json.loads(lines[-1])
    assert isinstance(rep, dict)
    assert rep["scenario"] == scenario
    assert rep["page_size"] == PAGE_KIB * 1024
    for key, value in rep.items():
        if key not in ("scenario", "mode", "answer"):
            assert isinstance(value, int) and value >= 0, (key, value)
    assert 0 < rep["peak_anon_kib"] <= rep["peak_exact_kib"]
    return rep


def keys(*names: str) -> set[str]:
    return {"scenario", "page_size", "peak_exact_kib", "peak_anon_kib", *names}


# --- each reproducer's report -------------------------------------------


@pytest.mark.parametrize("threads,pages,mode", [
    (4, 50, "serial"), (4, 50, "parallel"), (1, 0, "serial"), (16, 63, "parallel"),
])
def test_threads(bins: dict[str, Path], threads: int, pages: int, mode: str) -> None:
    rep = one_report(run(bins, "threads", [str(threads), str(pages), mode]), "threads")
    assert set(rep) == keys("threads", "pages", "mode")
    assert (rep["threads"], rep["pages"], rep["mode"]) == (threads, pages, mode)
    assert rep["peak_anon_kib"] >= threads * pages * PAGE_KIB


@pytest.mark.parametrize("pages", [0, 1, 300])
def test_peak_then_free(bins: dict[str, Path], pages: int) -> None:
    rep = one_report(run(bins, "peak_then_free", [str(pages)]), "peak_then_free")
    assert set(rep) == keys("pages", "after_free_kib")
    assert rep["pages"] == pages
    assert rep["peak_anon_kib"] >= pages * PAGE_KIB
    # The pages are gone; only code run for the first time after the peak
    # reading (munmap's wrapper) may have come in since.
    gone = rep["peak_exact_kib"] - rep["after_free_kib"]
    assert pages * PAGE_KIB - FAULT_AROUND_KIB <= gone <= max(pages, 1) * PAGE_KIB


@pytest.mark.parametrize("pages", [0, 1, 17, 256])
def test_file_faultaround(bins: dict[str, Path], tmp_path: Path, pages: int) -> None:
    res = run(bins, "file_faultaround", [str(pages)], env={"TMPDIR": str(tmp_path)})
    rep = one_report(res, "file_faultaround")
    assert set(rep) == keys("pages", "faults")
    assert rep["pages"] == pages
    # Every page read is a mapped file page: in Rss, not in Anonymous.
    assert rep["peak_exact_kib"] - rep["peak_anon_kib"] >= pages * PAGE_KIB
    assert (rep["faults"] >= 1) if pages else (rep["faults"] == 0)
    assert rep["faults"] <= pages
    assert list(tmp_path.iterdir()) == []  # the file was unlinked


def test_file_faultaround_bad_tmpdir(bins: dict[str, Path], tmp_path: Path) -> None:
    res = run(bins, "file_faultaround", ["4"], env={"TMPDIR": str(tmp_path / "missing")})
    assert res.code == 1
    assert res.stdout == ""
    assert "mkstemp" in res.stderr and "TMPDIR" in res.stderr
    assert len(res.stderr.splitlines()) == 1


def test_cpu_spread_uses_every_allowed_cpu(bins: dict[str, Path]) -> None:
    rep = one_report(run(bins, "cpu_spread", ["40"]), "cpu_spread")
    assert set(rep) == keys("pages", "cpus")
    assert rep["pages"] == 40
    assert rep["cpus"] == len(os.sched_getaffinity(0))
    assert rep["peak_anon_kib"] >= rep["cpus"] * 40 * PAGE_KIB


def test_cpu_spread_follows_affinity(bins: dict[str, Path]) -> None:
    cpu = max(os.sched_getaffinity(0))
    res = run(bins, "cpu_spread", ["10"], preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    rep = one_report(res, "cpu_spread")
    assert rep["cpus"] == 1


@pytest.mark.parametrize("pages", [0, 500])
def test_getrusage_self(bins: dict[str, Path], pages: int) -> None:
    rep = one_report(run(bins, "getrusage_self", [str(pages)]), "getrusage_self")
    assert set(rep) == keys("pages", "self_maxrss_kib", "self_exact_kib", "self_exact_after_kib")
    assert rep["pages"] == pages
    assert rep["self_exact_kib"] == rep["peak_exact_kib"]
    assert rep["self_exact_after_kib"] >= rep["self_exact_kib"]
    assert rep["self_maxrss_kib"] > 0
    assert rep["peak_anon_kib"] >= pages * PAGE_KIB


def _skip_unless_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (the QEMU guests run it as root); run as root")


@pytest.mark.parametrize("pages", [1, 300])
def test_packet_ring(bins: dict[str, Path], pages: int) -> None:
    _skip_unless_root("packet_ring")
    rep = one_report(run(bins, "packet_ring", [str(pages)]), "packet_ring")
    assert set(rep) == keys("pages", "faults")
    assert rep["pages"] == pages
    # The ring is mapped by mmap() itself: reading it takes no fault, and
    # every page of it is resident, not anonymous.
    assert rep["faults"] == 0
    assert rep["peak_exact_kib"] - rep["peak_anon_kib"] >= pages * PAGE_KIB


def _drop_net_raw() -> None:
    """In the child, before execve: CAP_NET_RAW out of the bounding set, so
    that even root execs the program without it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0):
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_NET_RAW)")


def test_packet_ring_skips_without_cap_net_raw(bins: dict[str, Path]) -> None:
    res = run(bins, "packet_ring", ["4"], preexec_fn=_drop_net_raw)
    assert res.code == 4
    assert res.stdout == ""
    assert res.stderr.startswith("skip: socket(AF_PACKET) needs CAP_NET_RAW")


@pytest.mark.parametrize("writers,pages", [(1, 1), (4, 60)])
def test_cow_other_unmaps(bins: dict[str, Path], writers: int, pages: int) -> None:
    rep = one_report(run(bins, "cow_other_unmaps", [str(writers), str(pages)]),
                     "cow_other_unmaps")
    assert set(rep) == keys("writers", "pages", "live_vmrss_kib", "live_rss_anon_kib",
                            "live_rss_file_kib", "live_rss_shmem_kib", "live_statm_kib",
                            "live_exact_kib", "live_exact_after_kib", "live_anon_kib",
                            "grown_vmhwm_kib", "grown_self_maxrss_kib", "grown_exact_kib")
    assert (rep["writers"], rep["pages"]) == (writers, pages)
    # At the first peak every written page was an anonymous copy; after the
    # munmap none of them is left; then twice as many file pages came in,
    # and that is the peak.
    assert rep["peak_anon_kib"] >= writers * pages * PAGE_KIB
    assert rep["live_exact_after_kib"] >= rep["live_exact_kib"]
    # (less the scratch page it unmapped to fold its cache)
    grew = rep["grown_exact_kib"] - rep["live_exact_after_kib"]
    assert grew >= (2 * writers * pages - 1) * PAGE_KIB
    assert rep["peak_exact_kib"] == rep["grown_exact_kib"]


def test_threads_exit_group(bins: dict[str, Path]) -> None:
    _skip_unless_root("threads_exit_group")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("threads_exit_group needs two CPUs")
    rep = one_report(run(bins, "threads_exit_group", ["4", "63"]), "threads_exit_group")
    assert set(rep) == keys("threads", "pages", "cpu_main", "cpu_threads")
    assert (rep["threads"], rep["pages"]) == (4, 63)
    assert rep["cpu_main"] != rep["cpu_threads"]
    assert {rep["cpu_main"], rep["cpu_threads"]} <= os.sched_getaffinity(0)
    assert rep["peak_anon_kib"] >= 4 * 63 * PAGE_KIB


def test_threads_exit_group_skips_on_one_cpu(bins: dict[str, Path]) -> None:
    cpu = max(os.sched_getaffinity(0))
    res = run(bins, "threads_exit_group", ["2", "4"],
              preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    assert res.code == 4
    assert res.stderr == "skip: needs two CPUs to keep the threads from running\n"


@pytest.mark.parametrize("pages", [1, 1000])
def test_vm_sizes(bins: dict[str, Path], pages: int) -> None:
    rep = one_report(run(bins, "vm_sizes", [str(pages)]), "vm_sizes")
    assert set(rep) == keys("pages", "vmdata_kib", "maps_data_kib", "vmstk_kib",
                            "maps_stack_kib", "vmexe_kib", "text_kib")
    assert rep["pages"] == pages
    # The untouched pages are data, not resident.
    assert rep["maps_data_kib"] >= pages * PAGE_KIB
    assert rep["peak_anon_kib"] < pages * PAGE_KIB or pages == 1
    assert rep["maps_stack_kib"] > 0 and rep["text_kib"] > 0


@pytest.mark.parametrize("pages", [1, 100])
def test_shmem_touch(bins: dict[str, Path], pages: int) -> None:
    rep = one_report(run(bins, "shmem_touch", [str(pages)]), "shmem_touch")
    assert set(rep) == keys("pages", "self_vmrss_kib", "self_rss_anon_kib", "self_rss_file_kib",
                            "self_rss_shmem_kib", "self_statm_resident_kib",
                            "self_statm_shared_kib", "self_exact_kib", "self_exact_after_kib",
                            "self_file_exact_kib", "self_shmem_exact_kib")
    assert rep["pages"] == pages
    assert rep["self_shmem_exact_kib"] >= pages * PAGE_KIB
    assert rep["self_file_exact_kib"] >= rep["self_shmem_exact_kib"]
    assert rep["self_exact_after_kib"] >= rep["self_exact_kib"] == rep["peak_exact_kib"]


@pytest.mark.parametrize("mode", ["fork_exec", "vfork", "posix_spawn", "launcher"])
def test_big_parent(bins: dict[str, Path], mode: str) -> None:
    mib = 32
    rep = one_report(run(bins, "big_parent", [str(mib), mode]), "big_parent")
    launcher = {"launcher_exact_kib", "launcher_maxrss_kib"} if mode == "launcher" else set()
    assert set(rep) == keys("parent_mib", "mode", "exe_kib", "parent_exact_kib", "parent_anon_kib",
                            "child_exact_kib", "child_maxrss_kib", *launcher)
    assert (rep["parent_mib"], rep["mode"]) == (mib, mode)
    assert rep["parent_anon_kib"] >= mib * 1024
    assert (rep["peak_exact_kib"], rep["peak_anon_kib"]) == (
        rep["parent_exact_kib"], rep["parent_anon_kib"])
    # The child (and the launcher) map nothing big of their own.
    for key in ("child_exact_kib", *sorted(launcher - {"launcher_maxrss_kib"})):
        assert 0 < rep[key] < mib * 1024, key
    assert rep["child_maxrss_kib"] > 0
    if launcher:
        assert rep["launcher_maxrss_kib"] > 0


def seed_answer(data: bytes) -> tuple[int, str]:
    used = data[:SEED_BUFFER]
    s = used.count(b"s") + used.count(b"S")
    t = used.count(b"t") + used.count(b"T")
    return len(used), "French" if s >= t else "English"


SEED_INPUTS = {
    "english": b"The red cat sat on the mat. Why are you so sad cat? Don't ask that.\n" * 2000,
    "french": b"Les chats sont assis sur les tapis.\n" * 4000,
    "tie": b"st" * 10,
    "empty": b"",
    "upper": b"SSS ttt\n",
    # Only the first 128 KiB is read: French there, English after.
    "over_128k": b"s" * SEED_BUFFER + b"t" * (2 * SEED_BUFFER),
}


@pytest.mark.parametrize("data", SEED_INPUTS.values(), ids=SEED_INPUTS.keys())
def test_seed(bins: dict[str, Path], data: bytes) -> None:
    res = run(bins, "seed", [], stdin=data)
    rep = one_report(res, "seed", extra_lines=1)
    size, answer = seed_answer(data)
    assert res.stdout.splitlines()[0] == answer
    assert set(rep) == keys("buffer_kib", "input_bytes", "answer")
    assert (rep["buffer_kib"], rep["input_bytes"], rep["answer"]) == (128, size, answer)
    touched = -(-size // (PAGE_KIB * 1024))
    assert rep["peak_anon_kib"] >= touched * PAGE_KIB


def test_seed_report_fd_keeps_stdout_for_the_answer(bins: dict[str, Path]) -> None:
    r, w = os.pipe()
    try:
        res = run(bins, "seed", [], stdin=b"sst", pass_fds=(w,),
                  env={"RSSLAB_REPORT_FD": str(w)})
        os.close(w)
        w = -1
        with os.fdopen(r, "rb") as f:
            r = -1
            report = f.read().decode()
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    assert res.code == 0, res.stderr
    assert res.stdout == "French\n"
    rep = json.loads(report)
    assert (rep["scenario"], rep["answer"], rep["input_bytes"]) == ("seed", "French", 3)


# --- bad arguments: exit 2, the argument named, then the usage line ------

BAD_ARGS: list[tuple[str, list[str], str]] = [
    ("seed", ["extra"], "takes no arguments"),
    ("threads", [], "missing THREADS"),
    ("threads", ["4"], "missing PAGES"),
    ("threads", ["4", "10"], "missing MODE"),
    ("threads", ["x", "10", "serial"], "bad THREADS 'x'"),
    ("threads", ["0", "10", "serial"], "bad THREADS '0'"),
    ("threads", ["1025", "10", "serial"], "bad THREADS '1025'"),
    ("threads", ["4", "-1", "serial"], "bad PAGES '-1'"),
    ("threads", ["4", "1e3", "serial"], "bad PAGES '1e3'"),
    ("threads", ["4", "", "serial"], "bad PAGES ''"),
    ("threads", ["4", "99999999999999999999", "serial"], "bad PAGES"),
    ("threads", ["4", "10", "both"], "bad MODE 'both'"),
    ("threads", ["4", "10", "serial", "more"], "unexpected argument 'more'"),
    ("peak_then_free", [], "missing PAGES"),
    ("peak_then_free", ["abc"], "bad PAGES 'abc'"),
    ("peak_then_free", [str((1 << 24) + 1)], "bad PAGES"),
    ("file_faultaround", ["12x"], "bad PAGES '12x'"),
    ("file_faultaround", [str((1 << 18) + 1)], "bad PAGES"),
    ("cpu_spread", ["1.5"], "bad PAGES '1.5'"),
    ("cpu_spread", ["1", "2"], "unexpected argument '2'"),
    ("getrusage_self", ["-3"], "bad PAGES '-3'"),
    ("packet_ring", ["0"], "bad PAGES '0'"),
    ("packet_ring", [], "missing PAGES"),
    ("cow_other_unmaps", ["4"], "missing PAGES"),
    ("cow_other_unmaps", ["0", "4"], "bad WRITERS '0'"),
    ("threads_exit_group", ["4"], "missing PAGES"),
    ("threads_exit_group", ["257", "4"], "bad THREADS '257'"),
    ("shmem_touch", ["0"], "bad PAGES '0'"),
    ("vm_sizes", ["x"], "bad PAGES 'x'"),
    ("big_parent", [], "missing PARENT_MIB"),
    ("big_parent", ["64"], "missing MODE"),
    ("big_parent", ["0", "vfork"], "bad PARENT_MIB '0'"),
    ("big_parent", ["4097", "vfork"], "bad PARENT_MIB '4097'"),
    ("big_parent", ["64", "spawn"], "bad MODE 'spawn'"),
    ("big_parent", ["--child"], "missing FD"),
    ("big_parent", ["--launcher", "x"], "bad FD 'x'"),
    ("big_parent", ["--child", "1"], "--child is only for the children big_parent starts"),
    ("big_parent", ["--launcher", "1", "2"], "unexpected argument '2'"),
]


@pytest.mark.parametrize("name,args,message", BAD_ARGS,
                         ids=[f"{n}-{'_'.join(a) or 'none'}" for n, a, _ in BAD_ARGS])
def test_bad_arguments(bins: dict[str, Path], name: str, args: list[str], message: str) -> None:
    res = run(bins, name, args)
    assert res.code == 2, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 2, res.stderr
    assert message in lines[0]
    assert lines[1].startswith(f"usage: {name} ")


def test_big_parent_child_mode_refuses_a_pipe_from_elsewhere(bins: dict[str, Path]) -> None:
    """A pipe is not enough: the hidden modes need big_parent as the parent."""
    r, w = os.pipe()
    try:
        res = run(bins, "big_parent", ["--child", str(w)], pass_fds=(w,))
    finally:
        os.close(r)
        os.close(w)
    assert res.code == 2
    assert res.stdout == ""
    assert "only for the children big_parent starts" in res.stderr.splitlines()[0]
