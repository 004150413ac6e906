"""Shared fixtures (the project root, the built binaries, the booted
guests) and the test tiers.

Tiers: unmarked tests are the unit tier (`make check`): offline, no QEMU,
no kernel builds, no downloads.  A test that boots a guest must be marked
``guest``; one that builds kernels or downloads must be marked ``slow`` (or
``guest``): the guard below fails any other test that tries.  Tests write
only under their tmp_path (the session's binaries and guests included).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import guests
import pytest

from rsslab import claims, paths
from rsslab.debian import apt
from rsslab.kernels import build as kbuild
from rsslab.kernels import qemu
from rsslab.run import matrix
from rsslab.run.build import build_all

if TYPE_CHECKING:
    from rsslab.site.build import Built, Layout
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def bin_dir(build_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """repro/*.c built statically into the session's build/bin, where
    `rsslab` commands the tests start find them built."""
    out = build_dir / "bin"
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        build_all(ROOT, out)
        return out
    # Under xdist the workers share one build (their base temp dirs share a
    # parent) and each links the binaries into its own build/bin.
    shared = tmp_path_factory.getbasetemp().parent / "bin-shared"
    shared.mkdir(exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = build_all(ROOT, shared)
    out.mkdir(exist_ok=True)
    for name, path in built.items():
        os.link(path, out / name)
    return out


def pytest_configure(config: pytest.Config) -> None:
    """Matplotlib keeps its font cache under $XDG_CACHE_HOME: the tests give
    it a temporary one, so that a run leaves the user's cache as it was."""
    if "MPLCONFIGDIR" not in os.environ:
        mpl = tempfile.mkdtemp(prefix="rsslab-tests-mpl-")
        os.environ["MPLCONFIGDIR"] = mpl
        atexit.register(shutil.rmtree, mpl, True)


# make test's workers: the guest tier on one, each slow module on one.
from xdist_groups import pytest_collection_modifyitems  # noqa: E402,F401


# --- the tier guard -----------------------------------------------------------

_MARKS: set[str] = set()
NEEDS_MARK = "guest or slow"


def pytest_runtest_setup(item: pytest.Item) -> None:
    _MARKS.clear()
    _MARKS.update(m.name for m in item.iter_markers())


def pytest_runtest_teardown(item: pytest.Item) -> None:
    _MARKS.clear()


def _guarded(what: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if not _MARKS & {"guest", "slow"}:
            pytest.fail(f"this test {what} but is not marked {NEEDS_MARK}", pytrace=False)
        return real(*args, **kwargs)
    return call


@pytest.fixture(scope="session", autouse=True)
def _tier_guard() -> Iterator[None]:
    """Booting, kernel builds and Debian downloads only in marked tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(qemu, "run", _guarded("boots a guest", qemu.run))
        mp.setattr(kbuild, "build", _guarded("builds a kernel", kbuild.build))
        # Every kernel build runs make through kbuild._make (build_all too).
        mp.setattr(kbuild, "_make", _guarded("builds a kernel", kbuild._make))
        for name in ("_call", "_fetch"):
            mp.setattr(apt.PrivateApt, name, _apt_guarded(getattr(apt.PrivateApt, name)))
        yield


LOCAL = ("127.0.0.1", "localhost", ".invalid")


def _apt_guarded(real: Callable[..., Any]) -> Callable[..., Any]:
    """apt may run in the unit tier only as a stand-in on PATH, or against
    mirrors that cannot be on the network."""
    def call(self: apt.PrivateApt, *args: Any, **kwargs: Any) -> Any:
        real_apt = shutil.which("apt-get") in ("/usr/bin/apt-get", "/bin/apt-get")
        offline = all(any(w in e.uri for w in LOCAL) for e in self.entries)
        if real_apt and not offline and not _MARKS & {"guest", "slow"}:
            pytest.fail(f"this test runs apt against {self.describe()} but is not marked "
                        f"{NEEDS_MARK}", pytrace=False)
        return real(self, *args, **kwargs)
    return call


@pytest.fixture(scope="session")
def layout(root: Path) -> "Layout":
    from rsslab.site.build import Layout
    return Layout.of(root)


@pytest.fixture(scope="session")
def built(layout: "Layout", bin_dir: Path) -> "Built":
    """The site, built as `make docs` builds it (host runs it lacks first)."""
    from rsslab.site import build as site
    from rsslab.site import sweeps
    from rsslab.run.session import Session
    plan = sweeps.plan_host(Session.here(layout.root, bin_dir), layout.results)
    skipped = sweeps.run_host(plan, layout.results, bin_dir)
    return site.build(layout, [*plan.notes, *skipped])


@pytest.fixture(scope="session", autouse=True)
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's build directory (``RSSLAB_BUILD_DIR``): results, guests'
    work, the site and the series go there, never into the checkout."""
    out = tmp_path_factory.mktemp("build")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(paths.BUILD_DIR_ENV, str(out))
        yield out


@pytest.fixture(scope="session")
def guest_dir(build_dir: Path) -> Path:
    """Where the test guests work and keep their results (``results/``, read
    by the site and the series as ``build/results`` is)."""
    return build_dir


@pytest.fixture(scope="session")
def guest_outcomes(bin_dir: Path, guest_dir: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Callable[[], dict[str, matrix.Outcome]]:
    """Every test kernel at every test CPU count, booted once per session
    (all together, in parallel) the first time a test needs one.  Under
    xdist, one worker at a time measures them (a lock in the workers'
    shared directory); a later worker reads back what the first kept, even
    with RSSLAB_TEST_REMEASURE=1."""
    booted: dict[str, matrix.Outcome] = {}

    def measure(remeasure: bool) -> dict[str, matrix.Outcome]:
        found, _ = guests.resolve_all()
        return guests.measure(bin_dir, guests.guest_targets(found), claims.load(ROOT / "claims"),
                              guest_dir, guests.store(remeasure))

    def get() -> dict[str, matrix.Outcome]:
        if booted:
            return booted
        if not os.environ.get("PYTEST_XDIST_WORKER"):
            booted.update(measure(guests.REMEASURE))
            return booted
        shared = tmp_path_factory.getbasetemp().parent  # this session's workers'
        with (shared / "guests.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = shared / "guests.measured"
            booted.update(measure(guests.REMEASURE and not done.exists()))
            done.touch()
        return booted

    return get
