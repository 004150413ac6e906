"""A guest that fails does not take the others with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsslab import claims, kernels, paths, results
from rsslab.claims import regimes
from rsslab.errors import UserError
from rsslab.kernels import qemu
from rsslab.plan import RunSpec
from rsslab.run import matrix

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.guest
def test_a_hung_guest_fails_alone_and_the_host_is_saved(bin_dir: Path, tmp_path: Path) -> None:
    try:
        seven = kernels.resolve("7", paths.cache_dir())
    except UserError as e:
        pytest.fail(f"no Debian kernel: {e}")
    few = [c for c in claims.load(ROOT / "claims", 1) if c.id == "seed-exit-stop-smaps-sees-buffer"]
    targets = matrix.targets([seven, kernels.host()], [1])
    # One second cannot even boot a kernel under TCG: the guest is killed.
    settings = matrix.Settings(bin_dir, tmp_path / "build", tmp_path / "results", timeout_s=1)
    states: list[tuple[str, str]] = []
    guest, host = matrix.run_all(targets, few, regimes.load(ROOT / "claims"), settings,
                                 lambda label, state, *_: states.append((label, state)))
    assert guest.error.startswith("7-smp1: the guest ran over 1 s (0 runs done) and was "
                                  "killed; last console lines")
    assert not guest.runs and ("7-smp1", "FAILED") in states
    assert host.runs and not host.error and all(a.holds for a in host.assessments)
    saved = [rs.label for rs in results.load_all(tmp_path / "results")]
    assert saved == [host.target.label]


def test_two_kernels_with_one_label_are_refused(tmp_path: Path) -> None:
    k = kernels.Kernel("6.1", tmp_path / "a", "6.1.0")
    with pytest.raises(UserError) as e:
        matrix.targets([k, k], [2])
    assert "share the label 6.1-smp2" in str(e.value)


def test_an_unknown_declared_regime_is_refused(tmp_path: Path) -> None:
    k = kernels.Kernel("mine", tmp_path / "bzImage", "6.1.0", extra_regimes=("no-such",))
    with pytest.raises(UserError) as e:
        matrix.check_regimes(k, regimes.load(ROOT / "claims"))
    assert "unknown regimes no-such" in str(e.value)


@pytest.mark.guest
def test_a_kernel_image_path_runs_under_its_own_name(bin_dir: Path, tmp_path: Path) -> None:
    """A kernel given by path (as a patched build is) boots through the same
    code, under the name and with the regimes its sidecar declares."""
    try:
        seven = kernels.resolve("7", paths.cache_dir())
    except UserError as e:
        pytest.fail(f"no Debian kernel: {e}")
    assert seven.image is not None
    img = tmp_path / "bzImage"
    img.write_bytes(seven.image.read_bytes())
    (tmp_path / "bzImage.rsslab.json").write_text('{"name": "7-mine", "regimes": ["maxrss-sum"]}')
    mine = kernels.resolve(str(img), paths.cache_dir())
    few = [c for c in claims.load(ROOT / "claims", 1)
           if c.id in ("seed-exit-stop-smaps-sees-buffer", "percpu-wait4-approx")]
    settings = matrix.Settings(bin_dir, tmp_path / "build", tmp_path / "results")
    [out] = matrix.run_all(matrix.targets([mine], [1]), few, regimes.load(ROOT / "claims"),
                           settings, lambda *_: None)
    assert not out.error, out.error
    assert out.features == {"percpu-rss", "status-sum", "maxrss-sum", "rss-stat-sum"}
    # The declared regime takes percpu-wait4-approx off this kernel.
    assert [a.claim.id for a in out.assessments] == ["seed-exit-stop-smaps-sees-buffer"]
    assert all(a.holds for a in out.assessments)
    assert [rs.label for rs in results.load_all(tmp_path / "results")] == ["7-mine-smp1"]
    assert (tmp_path / "build" / "7-mine-smp1" / "console.log").exists()


@pytest.mark.parametrize("ncpus", [1, 64, 128])
def test_a_wide_guest_gets_a_boot_wait_for_its_vcpus(ncpus: int, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The matrix waits for a guest's first result as long as its vCPU
    count needs (qemu.stall_for), not a fixed 180 s."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("init", "touch", "observe"):
        (bin_dir / name).write_bytes(b"\x7fELF")
    seen: list[qemu.Machine] = []

    def fake_run(label: str, kernel: Path, initrd: Path, machine: qemu.Machine,
                 *_: object, **__: object) -> qemu.Boot:
        seen.append(machine)
        raise qemu.GuestHung(f"{label}: stopped here")

    monkeypatch.setattr(qemu, "run", fake_run)
    target = matrix.Target(kernels.Kernel("7", tmp_path / "bzImage", "7.3.4"), ncpus)
    settings = matrix.Settings(bin_dir, tmp_path / "build", tmp_path / "results")
    with pytest.raises(qemu.GuestHung):
        matrix.run_guest(target, [RunSpec("touch", {"pages": 10})], settings,
                         lambda *_: None)
    assert seen[0].stall_s == qemu.stall_for(ncpus)
