"""The guest machinery without the claims: cpio, console, results channel,
kernel images, Debian kernels, and guests that hang or break."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rsslab import paths, results
from rsslab.claims import regimes
from rsslab.debian import apt
from rsslab.errors import BadInput, KernelError, UserError
from rsslab.kernels import console, debian, guest, image, initramfs, qemu
from rsslab.kernels.initramfs import CpioWriter
from rsslab.plan import RunSpec
from rsslab.run import matrix

DATA = Path(__file__).resolve().parent / "data"


# --- cpio -------------------------------------------------------------------

def _archive(bin_dir: Path) -> bytes:
    buf = io.BytesIO()
    initramfs.write_archive(buf, bin_dir / "init", {"observe": bin_dir / "observe"},
                            "0\t-\t/tmp/o\t/bin/observe\n", {"0": b"hello\n"})
    return buf.getvalue()


def test_cpio_lists_and_extracts_with_gnu_cpio(bin_dir: Path, tmp_path: Path) -> None:
    data = _archive(bin_dir)
    listed = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True,
                            timeout=30, check=True).stdout.decode().split()
    assert listed == ["bin", "dev", "in", "proc", "sys", "tmp", "dev/console", "init",
                      "bin/observe", "plan", "in/0"]
    subprocess.run(["cpio", "-i", "-d", "--quiet", "--no-absolute-filenames"], input=data,
                   cwd=tmp_path, timeout=30, check=True, capture_output=True)
    assert (tmp_path / "init").read_bytes() == (bin_dir / "init").read_bytes()
    assert os.access(tmp_path / "bin" / "observe", os.X_OK)
    assert (tmp_path / "in" / "0").read_bytes() == b"hello\n"
    assert (tmp_path / "plan").read_text() == "0\t-\t/tmp/o\t/bin/observe\n"


def test_cpio_is_deterministic(bin_dir: Path, tmp_path: Path) -> None:
    a = initramfs.build(tmp_path / "a.gz", bin_dir / "init", {}, "x\n", {})
    b = initramfs.build(tmp_path / "b.gz", bin_dir / "init", {}, "x\n", {})
    assert a.read_bytes() == b.read_bytes()
    verbose = subprocess.run(["cpio", "-tv", "--quiet"], input=gzip.decompress(a.read_bytes()),
                             capture_output=True, timeout=30, check=True).stdout.decode()
    for line in verbose.splitlines():
        assert " root     root " in line and "1970" in line, line


def test_cpio_refuses_a_name_twice() -> None:
    cw = CpioWriter(io.BytesIO())
    cw.add_dir("bin")
    with pytest.raises(ValueError, match="twice"):
        cw.add_dir("/bin")


def test_initramfs_refuses_a_non_elf_binary(bin_dir: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "observe"
    bogus.write_text("#!/bin/sh\n")
    with pytest.raises(KernelError) as e:
        initramfs.build(tmp_path / "i.gz", bin_dir / "init", {"observe": bogus}, "", {})
    assert "not an ELF binary" in str(e.value)
    assert not list(tmp_path.glob("i.gz*"))


# --- console ----------------------------------------------------------------

def _console(name: str) -> console.ConsoleReport:
    return console.parse((DATA / "console" / name).read_text(errors="replace"))


def test_console_good_boot_powered_off() -> None:
    r = _console("good.log")
    assert r.state is console.State.POWERED_OFF
    assert any("plan done" in line for line in r.tail)


def test_console_panic_names_the_cause() -> None:
    r = _console("panic.log")
    assert r.state is console.State.PANIC
    assert r.reason.startswith("Attempted to kill init!")
    assert len(r.tail) == console.TAIL_LINES


def test_console_hung_is_neither_panic_nor_power_off() -> None:
    r = _console("hung.log")
    assert r.state is console.State.STOPPED
    assert r.tail[-1].endswith("test-init: waiting forever")


def test_console_damaged_initramfs() -> None:
    r = _console("initramfs-damaged.log")
    assert r.state is console.State.PANIC
    assert r.reason == "Initramfs unpacking failed: read error"


def test_console_oops_in_early_boot() -> None:
    r = _console("oops-int3.log")
    assert r.state is console.State.PANIC
    assert r.reason == "Oops: int3: 0000 [#1] SMP NOPTI"


def test_guests_run_single_threaded_tcg(tmp_path: Path) -> None:
    argv = qemu.qemu_argv("qemu", tmp_path / "k", tmp_path / "i", qemu.Machine(4), tmp_path / "r")
    assert argv[1:3] == ["-accel", "tcg,thread=single"]
    append = argv[argv.index("-append") + 1].split()
    assert append[:3] == ["console=ttyS0", "rdinit=/init", "panic=-1"]
    assert "quiet" not in append  # a hung boot's console shows where it stopped


def test_the_boot_wait_grows_with_the_vcpus() -> None:
    """One host thread runs every vCPU: a wide guest gets longer to send
    its first result, a narrow one never less than the floor."""
    assert qemu.stall_for(1) == qemu.stall_for(4) == qemu.STALL_S
    assert qemu.stall_for(64) == 64 * qemu.STALL_PER_CPU_S > qemu.STALL_S
    assert qemu.stall_for(128) == 2 * qemu.stall_for(64)


def test_console_empty_is_silent() -> None:
    assert console.parse("").state is console.State.SILENT


# --- plan and results channel ------------------------------------------------

def test_plan_measures_the_cgroup_where_available_and_merges_repeats() -> None:
    plan = guest.make_plan([RunSpec("touch", {"pages": 10}, False, 2),
                            RunSpec("touch", {"pages": 10}, True, 3),
                            RunSpec("seed", {}, False, 1)])
    lines = plan.text.splitlines()
    assert len(lines) == 4 and [s.scenario for s in plan.specs] == ["touch"] * 3 + ["seed"]
    assert all("--cgroup-if-available" in line.split("\t") for line in lines)
    seed = lines[3].split("\t")
    assert seed[1] == "/in/0" and len(plan.inputs["0"]) == 128 * 1024
    assert lines[0].split("\t")[:3] == ["0", "-", guest.GUEST_OUT]


def test_channel_frames_and_done() -> None:
    data = b'@run 0 0 2 3\n{}err\n@run 1 4 0 5\nskip!\n@done 2\n'
    r = guest.parse_channel(data)
    assert r.done == 2
    assert [(f.index, f.status, f.json, f.stderr) for f in r.frames] == [
        (0, 0, b"{}", b"err"), (1, 4, b"", b"skip!")]


def test_channel_cut_off_frame_is_not_done() -> None:
    r = guest.parse_channel(b'@run 0 0 2 0\n{}\n@run 1 0 100 0\n{"kernel')
    assert r.done is None and len(r.frames) == 1


def test_failed_guest_run_is_reported_not_parsed() -> None:
    plan = guest.make_plan([RunSpec("touch", {"pages": 1})])
    runs, problems = guest.observations(plan, guest.parse_channel(
        b"@run 0 127 0 17\nno such file here\n@done 1\n"), "6.1")
    assert runs == [] and "missing from the initramfs" in problems[0]


# --- Debian kernels ----------------------------------------------------------------

def test_upstream_versions() -> None:
    assert [debian.upstream(v) for v in ("6.12.117-1~deb12u1", "7.3.4-1~bpo13+1",
                                         "1:6.1.192-2")] == ["6.12.117", "7.3.4", "6.1.192"]


# --- kernel images -------------------------------------------------------------

@pytest.fixture(scope="session")
def cached_kernel() -> Path:
    """A real Debian image from the cache (fetched on first use)."""
    from rsslab import kernels
    try:
        k = kernels.resolve("7", paths.cache_dir())
    except UserError as e:
        pytest.fail(f"no Debian kernel: {e}")
    assert k.image is not None
    return k.image


@pytest.mark.slow  # a real Debian image, downloaded once
def test_a_cache_hit_runs_no_apt(cached_kernel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the kernel pinned in the cache, nothing is run: no apt, no network."""
    from rsslab import kernels
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(subprocess, "Popen", None)
    k = kernels.resolve("7", paths.cache_dir())
    assert k.image == cached_kernel and k.package.startswith("linux-binary-7.")
    assert k.upstream.startswith("7.") and len(k.sha256) == 64


@pytest.mark.slow  # a real Debian image, downloaded once
def test_image_header_gives_the_release(cached_kernel: Path) -> None:
    info = image.inspect(cached_kernel)
    assert info.release.startswith("7.") and "Debian 7." in info.version_string


@pytest.mark.slow  # a real Debian image, downloaded once
def test_truncated_image_is_one_clear_line(cached_kernel: Path, tmp_path: Path) -> None:
    cut = tmp_path / "vmlinuz"
    cut.write_bytes(cached_kernel.read_bytes()[:1_000_000])
    with pytest.raises(image.KernelImageError) as e:
        image.inspect(cut)
    msg = str(e.value)
    assert "is truncated" in msg and "\n" not in msg


def test_not_an_image_via_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rsslab.cli.commands import main
    junk = tmp_path / "bzImage"
    junk.write_bytes(os.urandom(4096))
    assert main(["run", "--kernel", str(junk), "--cpus", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rsslab: ") and "not an x86 bzImage" in err and "\n" not in err


@pytest.mark.slow  # a real Debian image, downloaded once
def test_sidecar_declares_name_and_regimes(cached_kernel: Path, tmp_path: Path) -> None:
    from rsslab import kernels
    img = tmp_path / "bzImage"
    shutil.copy(cached_kernel, img)
    (tmp_path / "bzImage.rsslab.json").write_text(
        '{"name": "7-summed", "regimes": ["maxrss-sum"], "without": ["status-sum"]}')
    k = kernels.resolve(str(img), paths.cache_dir())
    assert (k.name, k.extra_regimes, k.without_regimes) == ("7-summed", ("maxrss-sum",),
                                                            ("status-sum",))
    assert k.upstream.startswith("7.")
    assert k.origin() == results.Origin("7-summed", str(img.resolve()), ("maxrss-sum",),
                                        ("status-sum",))
    regs = regimes.load(paths.project_root() / "claims")
    assert matrix.candidates(k, regs) == {"percpu-rss", "maxrss-sum", "rss-stat-sum"}
    (tmp_path / "bzImage.rsslab.json").write_text('{"without": "status-sum"}')
    with pytest.raises(BadInput) as e:
        kernels.resolve(str(img), paths.cache_dir())
    assert "without must be a list of regime ids" in str(e.value)


# --- downloads -------------------------------------------------------------------

FAKE_APT = """#!/bin/sh
# Pretends to download: writes half of the promised bytes, then fails or not.
for a in "$@"; do last="$a"; done
name="${last%%=*}"
echo "dlstatus:1:50.0:Retrieving file 1 of 1"
head -c 500 /dev/zero > "${name}_1_amd64.deb"
exit "${FAKE_APT_EXIT:-0}"
"""


@pytest.mark.parametrize("apt_exit", ["0", "100"])
def test_failed_download_leaves_no_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          apt_exit: str) -> None:
    """The download itself is tested in test_apt.py; here: no pin, no image."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text(FAKE_APT)
    (fake / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_APT_EXIT", apt_exit)
    pkg = apt.Package("linux-binary-7.9.9+deb13-amd64", "7.9.9-1", "amd64", 1000, "00" * 32)
    monkeypatch.setattr(apt.PrivateApt, "update", lambda self: None)
    monkeypatch.setattr(apt, "system_sources",
                        lambda etc: [apt.Source("http://mirror.invalid/debian", ("bookworm",))])
    monkeypatch.setattr(debian, "_packages", lambda private, f: ("7.9.9+deb13-amd64", [pkg]))
    cache = tmp_path / "cache"
    seen: list[float] = []
    with pytest.raises(UserError) as e:
        debian.provision("7", cache, progress=lambda name, pct: seen.append(pct))
    assert ("damaged" if apt_exit == "0" else "failed") in str(e.value)
    left = sorted(p.name for p in (cache / "kernels").iterdir())
    assert set(left) <= {".lock", "apt"}, left
    assert not list(cache.rglob("*.deb")) and debian.read_pin(cache, "7") is None
    assert seen == [50.0]


# --- guests that do not finish ----------------------------------------------------

@pytest.mark.guest
def test_hanging_guest_is_killed_with_its_console(cached_kernel: Path, tmp_path: Path) -> None:
    init = tmp_path / "init"
    subprocess.run(["cc", "-static", "-O2", "-o", str(init), str(DATA / "init" / "hang.c")],
                   check=True, timeout=120, capture_output=True)
    initrd = initramfs.build(tmp_path / "initrd.gz", init, {}, "", {})
    with pytest.raises(qemu.GuestHung) as e:
        qemu.run("7-hang", cached_kernel, initrd, qemu.Machine(1, 256, 60, 8), tmp_path / "w")
    msg = str(e.value)
    assert msg.startswith("7-hang: the guest sent no result for 8 s (0 runs done) and was "
                          "killed; last console lines")
    # The console's last lines, as far as the guest got in 8 s (on a busy
    # host maybe not to /init): SeaBIOS's at least.
    last = console.clean_lines((tmp_path / "w" / "console.log").read_text(errors="replace"))
    assert last and msg.splitlines()[1:] == [f"    {line}" for line in last[-console.TAIL_LINES:]]


@pytest.mark.guest
def test_damaged_initramfs_is_a_panic_with_the_reason(cached_kernel: Path, bin_dir: Path,
                                                       tmp_path: Path) -> None:
    good = initramfs.build(tmp_path / "good.gz", bin_dir / "init", {}, "", {})
    bad = tmp_path / "bad.gz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    boot = qemu.run("7-bad", cached_kernel, bad, qemu.Machine(1, 256, 60), tmp_path / "w")
    sent = guest.parse_channel(boot.results)
    assert sent.done is None
    err = qemu.unfinished("7-bad", boot, "no results")
    assert isinstance(err, qemu.GuestPanicked)
    assert str(err).splitlines()[0].startswith("7-bad: kernel panic: Initramfs unpacking failed")
