"""Measurements kept under the cache (rsslab/run/kept.py): the
store, and the proof, selftests and cost boots of `rsslab patches` read
back while their inputs do not change, measured again when one does or
with --remeasure.  Guests are fakes: nothing boots or builds here."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rsslab.debian.sources import Tree
from rsslab.errors import UserError
from rsslab.kernels import Kernel
from rsslab.kernels import build as kbuild
from rsslab.kernels import specs as spec
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.run import matrix
from rsslab.run import kept
from rsslab.series.kernel import cost, guestrun, proof, tracecost
from rsslab.series.kernel import run as kernel

ROOT = Path(__file__).resolve().parents[1]
SERIES = {s.name: s for s in spec.load_series(ROOT)}


def _kernel(tmp: Path, name: str, content: bytes = b"image") -> Kernel:
    img = tmp / f"{name}.bzImage"
    img.write_bytes(content)
    return Kernel(name, img, "7.3.4", sha256=kept.digest((content,)))


class FakeGuests:
    """guestrun.run_commands without QEMU: kcost, kcontend and tracecost
    write made-up figures, a selftest prints TAP; every boot is counted."""

    def __init__(self) -> None:
        self.boots: list[tuple[str, int]] = []

    def __call__(self, label: str, image: Path, cpus: int,
                 commands: Sequence[guestrun.Command], binaries: Any, init: Path,
                 workdir: Path, run_allowance_s: float,
                 extra: tuple[str, ...] = ()) -> list[guestrun.CommandResult]:
        self.boots.append((label, cpus))
        return [guestrun.CommandResult(c, 0, self.output(c, image, cpus, i), "")
                for i, c in enumerate(commands)]

    def output(self, c: guestrun.Command, image: Path, cpus: int, i: int) -> str:
        prog, args = c.argv[0], c.argv[2:]
        x = 1000.0 + cpus + i + len(self.boots)  # differs from boot to boot
        if prog == "/bin/kcost":
            return json.dumps({"test": args[0], "ns_per_op": x})
        if prog == "/bin/kcontend":
            return json.dumps({"test": "contend", "reader": args[0], "ns_per_fault": x,
                               "ns_per_call": x / 2})
        if prog == "/bin/tracecost":
            return json.dumps({"test": f"trace_{args[0]}", "ns_per_op": x,
                               "sys_ns_per_op": x / 3, "lost": 0})
        ok = "not ok" if "-base" in image.name else "ok"
        return f"TAP version 13\n1..1\n{ok} 1 exit_maxrss\n"


@pytest.fixture
def guests(monkeypatch: pytest.MonkeyPatch) -> FakeGuests:
    fake = FakeGuests()
    monkeypatch.setattr(guestrun, "run_commands", fake)
    return fake


@pytest.fixture
def src_root(tmp_path: Path) -> Path:
    """A copy of the sources the kept measurements digest, to edit."""
    out = tmp_path / "root"
    for d in ("repro", "bench", "claims", "kernelpatches/guest"):
        shutil.copytree(ROOT / d, out / d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return out


# --- the store ----------------------------------------------------------------


def test_a_store_gives_back_what_it_kept_and_nothing_with_remeasure(tmp_path: Path) -> None:
    store = kept.Store(tmp_path / "kept", tmp_path)
    assert store.get("proof", "abc") is None
    path = store.put("proof", "abc", {"rows": [1, 2]})
    assert path == tmp_path / "kept" / "proof-abc.json"
    assert store.get("proof", "abc") == {"rows": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["proof-abc.json"]  # no temporary left
    assert kept.Store(tmp_path / "kept", tmp_path, remeasure=True).get("proof", "abc") is None
    path.write_text('{"rows": [1, ')  # cut short: measured again, not an error
    assert store.get("proof", "abc") is None


def test_a_key_changes_with_each_input(src_root: Path) -> None:
    store = kept.Store(src_root / "kept", src_root)
    first = store.key((1, "a"), ("bench/kcost.c", "repro/*.h"))
    assert store.key((1, "a"), ("bench/kcost.c", "repro/*.h")) == first
    assert store.key((1, "b"), ("bench/kcost.c", "repro/*.h")) != first
    header = src_root / "repro" / "common.h"
    header.write_text(header.read_text() + "\n")
    assert store.key((1, "a"), ("bench/kcost.c", "repro/*.h")) != first


def test_a_missing_source_is_one_line(tmp_path: Path) -> None:
    store = kept.Store(tmp_path / "kept", tmp_path)
    with pytest.raises(UserError, match=r"bench/kcost.c is missing; it is an input") as e:
        store.key((), ("bench/kcost.c",))
    assert "\n" not in str(e.value)


def test_qemu_options_name_the_icount_clock() -> None:
    plain, timed = kept.qemu_options(512), kept.qemu_options(512, cost.ICOUNT)
    assert "-icount" not in plain and timed[-2:] == cost.ICOUNT and plain != timed


# --- the cost boots ----------------------------------------------------------------


def _measure(tmp: Path, store: kept.Store | None, kernels: Sequence[Kernel]) -> list[cost.Sample]:
    return cost.measure_kernels(kernels, (1, 8), {}, tmp / "init", tmp / "work",
                                lambda _m: None, rounds=2, contend_cpus=(8,), jobs=1,
                                store=store)


def test_cost_boots_are_read_back_while_their_inputs_stay(
        tmp_path: Path, src_root: Path, guests: FakeGuests,
        caplog: pytest.LogCaptureFixture) -> None:
    ks = [_kernel(tmp_path, "m-base"), _kernel(tmp_path, "m-patched", b"other")]
    store = kept.Store(tmp_path / "kept", src_root)
    first = _measure(tmp_path, store, ks)
    assert len(guests.boots) == 8  # 2 kernels x 2 CPU counts x 2 rounds
    with caplog.at_level(logging.INFO, logger="rsslab.steps"):
        again = _measure(tmp_path, store, ks)
    assert len(guests.boots) == 8 and again == first
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "8 of 8 boots: read back from" in lines[0]
    assert kept.AGAIN in lines[0]
    assert {s.test for s in first} >= {"fork_exit", "fault", "contend_self", "call_status"}


def test_cost_boots_again_what_changed(tmp_path: Path, src_root: Path,
                                       guests: FakeGuests) -> None:
    base, patched = _kernel(tmp_path, "m-base"), _kernel(tmp_path, "m-patched", b"other")
    store = kept.Store(tmp_path / "kept", src_root)
    _measure(tmp_path, store, [base, patched])
    rebuilt = _kernel(tmp_path, "m-patched", b"rebuilt")
    _measure(tmp_path, store, [base, rebuilt])
    assert len(guests.boots) == 12  # the new image's 4 boots
    assert all("m-patched" in label for label, _n in guests.boots[8:])
    bench = src_root / "bench" / "kcost.c"
    bench.write_text(bench.read_text() + "\n")
    _measure(tmp_path, store, [base, rebuilt])
    assert len(guests.boots) == 20
    _measure(tmp_path, kept.Store(tmp_path / "kept", src_root, remeasure=True), [base, rebuilt])
    assert len(guests.boots) == 28


def test_kept_cost_samples_of_another_shape_are_measured_again() -> None:
    assert cost.samples_of([{"kernel": "k", "ncpus": 1, "test": "fault"}]) is None
    assert cost.samples_of({"not": "a list"}) is None
    assert cost.samples_of([]) == []


# --- tracecost (bench/tracecost.py) --------------------------------------------------


def test_tracecost_reads_back_each_cpu_count(tmp_path: Path, src_root: Path,
                                             guests: FakeGuests) -> None:
    k = _kernel(tmp_path, "7")
    store = kept.Store(tmp_path / "kept", src_root)
    said: list[str] = []
    first = tracecost.measure(k, (1, 8), {}, tmp_path / "init", tmp_path, store, said.append)
    assert len(guests.boots) == 2
    again = tracecost.measure(k, (1, 8, 64), {}, tmp_path / "init", tmp_path, store,
                              said.append)
    assert len(guests.boots) == 3 and guests.boots[-1][1] == 64
    assert [s for s in again if s.ncpus != 64] == first
    assert sum("read back from" in m for m in said) == 2


# --- the proof -----------------------------------------------------------------------


def _obs(kernel: str, wait4: int) -> Observation:
    return Observation(kernel=kernel, kernel_release="7.3.4", kernel_version="#1", ncpus=2,
                       scenario="seed", params={"input_kib": 128, "mode": "x"},
                       page_size=4096, vmhwm_kib=824, smaps_rss_kib=828,
                       wait4_maxrss_kib=wait4, report={"letters": 3}, leader_early=True)


def _proof(errors: tuple[str, ...] = ()) -> proof.Proof:
    rows = (proof.Row("maxrss-sum-wait4-exact", "wait4_maxrss_kib", 2, (-41.0, 0.0), (0.0, 0.0)),)
    return proof.Proof(rows, ("percpu-status-vmrss-exact",), (), errors,
                       (_obs("b", 664),), (_obs("p", 828),))


def test_a_proof_round_trips_through_its_record() -> None:
    pr = _proof()
    assert proof.from_doc(json.loads(json.dumps(proof.to_doc(pr)))) == pr
    assert proof.from_doc({"rows": []}) is None and proof.from_doc(None) is None


class FakeProofs:
    def __init__(self, result: proof.Proof) -> None:
        self.result, self.calls = result, 0

    def __call__(self, *args: Any, **kwargs: Any) -> proof.Proof:
        self.calls += 1
        return self.result


def _run_kept(store: kept.Store, base: Kernel, patched: Kernel,
              cpus: Sequence[int] = (2, 4)) -> proof.Proof:
    settings = matrix.Settings(Path("bin"), Path("work"), Path("results"))
    return proof.run_kept(store, base, patched, cpus, settings, ("maxrss-sum-wait4-exact",),
                          "maxrss-sum", lambda *a: None, (64,))


def test_a_proof_is_read_back_for_the_same_kernels_claims_and_cpus(
        tmp_path: Path, src_root: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeProofs(_proof())
    monkeypatch.setattr(proof, "run", fake)
    store = kept.Store(tmp_path / "kept", src_root)
    base, patched = _kernel(tmp_path, "m-base"), _kernel(tmp_path, "m-patched", b"p")
    assert _run_kept(store, base, patched) == fake.result and fake.calls == 1
    with caplog.at_level(logging.INFO, logger="rsslab.steps"):
        assert _run_kept(store, base, patched) == fake.result
    assert fake.calls == 1
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("proof of m-patched against m-base: read back from ")
    _run_kept(store, base, patched, cpus=(2,))
    assert fake.calls == 2
    claims = src_root / "claims" / "regimes.toml"
    claims.write_text(claims.read_text() + "\n")
    _run_kept(store, base, patched)
    assert fake.calls == 3
    observer = src_root / "repro" / "observe.c"
    observer.write_text(observer.read_text() + "\n")
    _run_kept(store, base, patched)
    _run_kept(kept.Store(tmp_path / "kept", src_root, remeasure=True), base, patched)
    assert fake.calls == 5


def test_a_proof_whose_guest_failed_is_not_kept(tmp_path: Path, src_root: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProofs(_proof(errors=("m-base-smp4: the guest sent no result",)))
    monkeypatch.setattr(proof, "run", fake)
    store = kept.Store(tmp_path / "kept", src_root)
    base, patched = _kernel(tmp_path, "m-base"), _kernel(tmp_path, "m-patched", b"p")
    _run_kept(store, base, patched)
    _run_kept(store, base, patched)
    assert fake.calls == 2 and not (tmp_path / "kept").exists()


# --- a whole series: the second run boots nothing and gives the same values --------


class Builds:
    """kbuild.build_all without make: images written to tmp, labels noted."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.asked: list[list[str]] = []
        self.proofs = FakeProofs(_proof())

    def __call__(self, specs: Sequence[kbuild.BuildSpec], *_a: Any) -> list[kbuild.Built]:
        self.asked.append([s.label for s in specs])
        out = []
        for s in specs:
            img = self.tmp / f"{s.label}.bzImage"
            img.write_bytes(s.label.encode())
            out.append(kbuild.Built(s.label, img, img, img, True))
        return out


@pytest.fixture
def series_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guests: FakeGuests) -> Builds:
    builds = Builds(tmp_path)
    monkeypatch.setattr(kbuild, "build_all", builds)
    monkeypatch.setattr(kernel.repro_build, "build_all", lambda *a: {})
    monkeypatch.setattr(kernel, "guest_helpers", lambda root: {})
    test = tmp_path / "exit_maxrss"
    test.write_bytes(b"selftest binary")
    monkeypatch.setattr(kernel, "build_selftest", lambda *a: test)

    def resolve(path: Path) -> Kernel:
        label = path.name.removesuffix(".bzImage")
        return Kernel(label, path, "7.3.4", sha256=kept.digest((path.read_bytes(),)))

    monkeypatch.setattr(kernel.kernels, "resolve_path", resolve)
    builds.proofs = FakeProofs(_proof())
    monkeypatch.setattr(proof, "run", builds.proofs)
    return builds


def _prove(tmp_path: Path, **kw: Any) -> tuple[dict[str, str], kernel.Report]:
    opts = kernel.Options(root=ROOT, cache=tmp_path / "cache", cpus=(2,), wide_cpus=(),
                          cost_cpus=(1, 8), contend_cpus=(8,), selftest_cpus=(2,),
                          kept_dir=tmp_path / "kept", **kw)
    tree = Tree(tmp_path, "0" * 40, "7.3.4", "Linux 7.3.4")
    return kernel.prove_series(SERIES["linux-mainline"], tree, opts, lambda _m: None)


def test_a_second_run_of_a_series_boots_nothing_and_gives_the_same_values(
        tmp_path: Path, series_fakes: Builds, guests: FakeGuests) -> None:
    values, rep = _prove(tmp_path)
    booted = len(guests.boots)
    # 2 selftest boots; cost: 3 kernels at 1 CPU (2 rounds) and 8 CPUs (2 rounds)
    assert booted == 2 + 3 * 4
    assert {t.passed for t in rep.selftests} == {True, False}
    again, rep2 = _prove(tmp_path)
    assert len(guests.boots) == booted and again == values and series_fakes.proofs.calls == 1
    assert rep2.selftests == rep.selftests and rep2.samples == rep.samples
    _prove(tmp_path, remeasure=True)
    assert len(guests.boots) == 2 * booted


def test_variants_are_built_only_when_the_cost_is_measured(
        tmp_path: Path, series_fakes: Builds) -> None:
    """`make test` proves the series without the cost (cost=False): no variant
    kernel is built; `make patches` builds them for the cost tables."""
    _prove(tmp_path, cost=False)
    _prove(tmp_path)
    assert series_fakes.asked == [
        ["linux-mainline-base", "linux-mainline-maxrss-sum"],
        ["linux-mainline-base", "linux-mainline-maxrss-sum", "linux-mainline-threepass"]]


def test_remeasure_is_an_option_of_rsslab_patches() -> None:
    from rsslab.cli.commands import build_parser
    from rsslab.series.kernel import cli as kernel_cli

    parser = build_parser()
    assert kernel_cli.options(parser.parse_args(["patches", "--remeasure"])).remeasure
    assert not kernel_cli.options(parser.parse_args(["patches"])).remeasure


def test_a_guest_helper_is_built_again_when_a_header_beside_it_changes(tmp_path: Path) -> None:
    """kcost.c includes bench/fault_loop.h: a new loop must not run in an old binary."""
    import os
    import subprocess

    header, src = tmp_path / "loop.h", tmp_path / "helper.c"
    header.write_text("#define N 1\n")
    src.write_text('#include "loop.h"\nint main(void) { return N; }\n')
    out = kernel._compile(src, tmp_path / "bin" / "helper")
    built = out.stat().st_mtime
    assert kernel._compile(src, out).stat().st_mtime == built
    header.write_text("#define N 2\n")
    os.utime(header, (built + 5, built + 5))
    assert subprocess.run([kernel._compile(src, out)], check=False).returncode == 2
    assert [p.name for p in out.parent.iterdir()] == ["helper"]


# --- the test guests (matrix.Settings.store) ------------------------------------------

# One run's record as a 7.3.4 guest's observer sent it (trimmed).
FRAME = {"observer": 2, "kernel_release": "7.3.4+deb13-amd64", "kernel_version": "#1 SMP",
         "ncpus": 2, "page_size": 4096, "argv": ["/bin/touch", "10"], "exec_floor_kib": 844,
         "exit_stop": {"status": {"VmRSS": 900, "VmHWM": 900, "RssAnon": 200, "RssFile": 4,
                                  "RssShmem": 648, "VmSwap": 0},
                       "statm_resident_kib": 900, "stat_rss_kib": 880,
                       "smaps_rollup": {"Rss": 900, "Anonymous": 200}},
         "exit_code": 0, "wait4_maxrss_kib": 880, "children_maxrss_kib": 880,
         "times": {"user_s": 0.01, "sys_s": 0.01, "wall_s": 0.02},
         "report": {"scenario": "touch", "page_size": 4096, "pages": 10,
                    "peak_exact_kib": 900, "peak_anon_kib": 200}}


class FakeBoots:
    """qemu.run without QEMU: each boot sends ``runs`` frames whose VmHWM
    tells the boots apart; ``status`` is each frame's observer status."""

    def __init__(self, runs: int, status: int = 0) -> None:
        self.runs, self.status, self.count = runs, status, 0

    def __call__(self, label: str, image: Path, initrd: Path, machine: Any, work: Path,
                 **_: object) -> Any:
        from rsslab.kernels import qemu
        self.count += 1
        out = b""
        for i in range(self.runs):
            doc = json.loads(json.dumps(FRAME))
            doc["exit_stop"]["status"]["VmHWM"] = 1000 + self.count
            body = json.dumps(doc).encode()
            out += f"@run {i} {self.status} {len(body)} 0\n".encode() + body + b"\n"
        return qemu.Boot(work / "console.log", out + f"@done {self.runs}\n".encode(), 1.5)


def _guest(tmp: Path, store: kept.Store | None,
           image: bytes = b"image") -> matrix.Outcome:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("init", "touch", "observe"):
        if not (bin_dir / name).exists():
            (bin_dir / name).write_bytes(b"\x7fELF " + name.encode())
    target = matrix.Target(_kernel(tmp, "7", image), 2)
    settings = matrix.Settings(bin_dir, tmp / "build", tmp / "results", store=store)
    return matrix.run_guest(target, [RunSpec("touch", {"pages": 10}, repeat=2)], settings,
                            lambda *_: None)


@pytest.fixture
def boots(monkeypatch: pytest.MonkeyPatch) -> FakeBoots:
    from rsslab.kernels import qemu
    fake = FakeBoots(2)
    monkeypatch.setattr(qemu, "run", fake)
    return fake


def test_a_test_guest_boots_once_per_input(tmp_path: Path, boots: FakeBoots,
                                           caplog: pytest.LogCaptureFixture) -> None:
    store = kept.Store(tmp_path / "kept", tmp_path, again="X=1 measures again")
    first = _guest(tmp_path, store)
    assert boots.count == 1 and not first.read_back and len(first.runs) == 2
    with caplog.at_level(logging.INFO, logger="rsslab.steps"):
        caplog.clear()
        again = _guest(tmp_path, store)
    assert boots.count == 1 and again.read_back and again.runs == first.runs
    assert again.seconds == first.seconds
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "7-smp2: 2 runs: read back from" in lines[0]
    assert "X=1 measures again" in lines[0]
    assert not _guest(tmp_path, None).read_back and boots.count == 2  # no store: it boots


@pytest.mark.parametrize("change", ["kernel", "binary", "remeasure"])
def test_a_test_guest_boots_again_when_an_input_changes(tmp_path: Path, boots: FakeBoots,
                                                        change: str) -> None:
    store = kept.Store(tmp_path / "kept", tmp_path)
    first = _guest(tmp_path, store)
    image = b"image"
    if change == "kernel":
        image = b"rebuilt"
    elif change == "binary":
        (tmp_path / "bin" / "observe").write_bytes(b"\x7fELF observe, rebuilt")
    else:
        store = kept.Store(tmp_path / "kept", tmp_path, remeasure=True)
    again = _guest(tmp_path, store, image)
    assert boots.count == 2 and not again.read_back
    assert again.runs[0].vmhwm_kib == first.runs[0].vmhwm_kib + 1  # measured anew


def test_a_test_guest_with_a_failed_run_is_not_kept(tmp_path: Path, boots: FakeBoots) -> None:
    store = kept.Store(tmp_path / "kept", tmp_path)
    boots.status = 3
    assert _guest(tmp_path, store).problems
    boots.status = 0
    assert not _guest(tmp_path, store).read_back and boots.count == 2


def test_a_kept_channel_of_another_shape_boots_again() -> None:
    assert matrix.Sent.from_doc({"channel": "not base64!", "seconds": 1}) is None
    assert matrix.Sent.from_doc({"seconds": 1}) is None
    assert matrix.Sent.from_doc([]) is None
    sent = matrix.Sent(b"@done 0\n", 2.0)
    assert matrix.Sent.from_doc(sent.to_doc()) == matrix.Sent(b"@done 0\n", 2.0, True)
