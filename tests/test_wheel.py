"""rsslab as a user installs it: the wheel, built from this checkout and
installed in a fresh virtual environment, runs from another directory and
writes only under its state directory there.

The package comes only from the wheel; its dependencies are this
environment's (a ``.pth`` file puts them on the fresh environment's path
after its own site-packages), so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import gitstate
import pytest

from rsslab import kernels, paths
from rsslab.errors import UserError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Everything rsslab reads at run time, as the wheel must carry it.
SOURCES = ("claims", "repro", "kernelpatches", "manpatches", "docs", "bench/kcost.c",
           "bench/kcontend.c", "bench/fault_loop.h", "bench/tracecost.c", "pyproject.toml")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    package: Path  # site-packages/rsslab of the fresh environment
    elsewhere: Path  # the working directory of every command
    env: dict[str, str]
    seconds: float  # building and installing the wheel

    def run(self, *args: str, stdin: str = "", cwd: Path | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=cwd or self.elsewhere, env=self.env, text=True,
                              input=stdin, capture_output=True, timeout=timeout)


def _sh(*argv: str | Path, cwd: Path) -> None:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{argv}: {proc.stderr[-2000:]}"


def _digest(tree: Path) -> dict[str, str]:
    return {str(p.relative_to(tree)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tree.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    start = time.monotonic()
    _sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", tmp / "dist", ROOT, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("rsslab-*.whl")
    venv = tmp / "venv"
    _sh(sys.executable, "-m", "venv", venv, cwd=tmp)
    _sh(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
        wheel, cwd=tmp)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_rsslab_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    seconds = time.monotonic() - start
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in (paths.BUILD_DIR_ENV, "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
               XDG_STATE_HOME=str(tmp / "state"), XDG_CACHE_HOME=str(paths.cache_dir().parent))
    return Installed(wheel, venv, site / "rsslab", elsewhere, env, seconds)


def test_the_wheel_carries_the_sources(installed: Installed) -> None:
    tracked = subprocess.run(["git", "ls-files", "--", *SOURCES], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.split()
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        meta = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    missing = [f for f in tracked if f"rsslab/_data/{f}" not in names]
    assert not missing, missing
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "License-Expression: GPL-2.0-only" in meta.splitlines()


def test_installed_rsslab_runs_from_elsewhere(installed: Installed) -> None:
    before = _digest(installed.package)
    where = installed.run("python", "-c", "import rsslab.paths as p; print(p.project_root())")
    assert where.stdout.strip() == str(installed.package / "_data"), where.stderr
    doctor = installed.run("rsslab", "doctor", "--json")
    report = json.loads(doctor.stdout)
    assert doctor.returncode == report["status"] and report["status"] in (0, 1), doctor.stderr
    assert report["kernel"] == "host" and report["runs"] > 0
    state = Path(installed.env["XDG_STATE_HOME"]) / "rsslab"
    seed = state / "bin" / "seed"
    assert seed.is_file()
    measured = installed.run("python", "-m", "rsslab", "measure", "--json", "--out", "m.json",
                             "--", str(seed), stdin="the judge's input\n" * 100)
    assert measured.returncode == 0, measured.stderr
    assert json.loads(measured.stdout.splitlines()[-1])["scenario"] == "seed"
    m = json.loads((installed.elsewhere / "m.json").read_text())
    assert m["peak_kib"] >= m["smaps_rss_kib"] > 0 and m["exit_code"] == 0
    assert sorted(p.name for p in installed.elsewhere.iterdir()) == ["m.json"]
    assert _digest(installed.package) == before, "rsslab wrote into its installed package"
    print(f"wheel built and installed in {installed.seconds:.1f} s")


def test_installed_rsslab_publishes_its_site(installed: Installed, tmp_path: Path) -> None:
    """From a clone of the remote, ``--publish origin`` fills the remote's
    gh-pages; the clone stays as it was, byte for byte."""
    bare, clone = tmp_path / "site.git", tmp_path / "clone"
    _sh("git", "init", "--quiet", "--bare", bare, cwd=tmp_path)
    _sh("git", "clone", "--quiet", bare, clone, cwd=tmp_path)
    before = gitstate.snapshot(clone)
    proc = installed.run("rsslab", "docs", "--no-measure", "--publish", "origin", cwd=clone)
    assert proc.returncode == 0, proc.stderr
    assert f"published: {bare} gh-pages " in proc.stdout
    listed = subprocess.run(["git", "ls-tree", "--name-only", "gh-pages"], cwd=bare,
                            capture_output=True, text=True, check=True).stdout.split()
    assert {"index.html", ".nojekyll", "metrics.html"} <= set(listed)
    assert gitstate.snapshot(clone) == before


@pytest.mark.guest
def test_installed_rsslab_runs_one_scenario_on_6_1(installed: Installed) -> None:
    try:
        kernels.resolve("6.1", paths.cache_dir())
    except UserError as e:
        pytest.fail(f"no 6.1 kernel: {e}")
    before = _digest(installed.package)
    text = installed.run("rsslab", "run", "--kernel", "6.1", "--scenario", "seed",
                         "--cpus", "2")
    assert text.returncode == 0, text.stdout + text.stderr
    assert "6.1-smp2: boot Linux 6.1." in text.stderr and ": done in " in text.stderr
    assert "6.1-smp2: not checked (" in text.stdout
    assert "split-seed-vmhwm-misses-buffer" in text.stdout.split("not checked")[0]
    runs = installed.run("python", "-m", "rsslab", "run", "--kernel", "6.1", "--scenario",
                         "seed", "--param", "input_kib=64", "--json", "--cpus", "2", "--quiet")
    assert runs.returncode == 0, runs.stderr
    assert runs.stderr == ""
    lines = [json.loads(line) for line in runs.stdout.splitlines()]
    assert lines and all(r["kernel"] == "6.1" and r["kernel_release"].startswith("6.1.")
                         and r["ncpus"] == 2 and r["scenario"] == "seed"
                         and r["params"] == {"input_kib": 64} for r in lines), lines
    saved = Path(installed.env["XDG_STATE_HOME"]) / "rsslab" / "results" / "6.1-smp2.json"
    assert saved.is_file()
    assert _digest(installed.package) == before


# --- a judge's install: the wheel without extras -----------------------------

# What no judge needs to install (rsslab/extras.py).
EXTRA_DISTS = {"sphinx", "matplotlib", "numpy", "gitpython", "docutils"}


def _requirements(wheel: Path) -> tuple[set[str], set[str]]:
    """The wheel's Requires-Dist: (always, only with an extra), as names."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as whl:
        meta = whl.read(next(n for n in whl.namelist()
                             if n.endswith(".dist-info/METADATA"))).decode()
    always, extra = set(), set()
    for line in meta.splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1].strip())
            (extra if req.marker and "extra" in str(req.marker) else always).add(
                req.name.lower())
    return always, extra


def _closure(names: set[str]) -> set[str]:
    """``names`` and what they require, as this environment has them."""
    import importlib.metadata

    from packaging.requirements import Requirement

    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.distribution(name).requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name.lower())
    return seen


def _copy_distribution(name: str, site: Path) -> None:
    """Install one distribution of this environment into ``site`` (offline):
    its package files and its dist-info, as its RECORD lists them."""
    import importlib.metadata

    dist = importlib.metadata.distribution(name)
    for f in dist.files or ():
        if ".." in f.parts or f.suffix == ".pyc":
            continue  # its console scripts, its byte code
        src, dest = Path(str(dist.locate_file(f))), site / f
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())


@pytest.fixture(scope="module")
def judge(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel alone in a fresh environment (no system site packages),
    with only what its Requires-Dist names, copied from this environment
    since nothing may be downloaded; ``pip check`` proves it complete."""
    tmp = tmp_path_factory.mktemp("judge")
    venv = tmp / "venv"
    _sh(sys.executable, "-m", "venv", venv, cwd=tmp)
    python = venv / "bin" / "python"
    _sh(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", installed.wheel,
        cwd=tmp)
    site = Path(subprocess.run([str(python), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    always, _ = _requirements(installed.wheel)
    for name in _closure(always):
        _copy_distribution(name, site)
    _sh(python, "-m", "pip", "check", cwd=tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {**installed.env, "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "XDG_STATE_HOME": str(tmp / "state")}
    return Installed(installed.wheel, venv, site / "rsslab", elsewhere, env, installed.seconds)


def test_the_wheel_requires_no_extra_of_a_judge(installed: Installed) -> None:
    always, extra = _requirements(installed.wheel)
    assert always == {"rich"}
    assert EXTRA_DISTS - {"numpy", "docutils"} <= extra


def test_a_judge_installs_no_sphinx_matplotlib_numpy_or_git(judge: Installed) -> None:
    listed = judge.run("python", "-m", "pip", "list", "--format", "json")
    names = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert "rsslab" in names and not names & EXTRA_DISTS, names
    for module in ("git", "sphinx", "matplotlib", "numpy"):
        assert judge.run("python", "-c", f"import {module}").returncode == 1, module


def test_measure_and_doctor_work_in_a_judges_install(judge: Installed) -> None:
    doctor = judge.run("rsslab", "doctor", "--json", "--repeat", "1")
    assert doctor.returncode in (0, 1), doctor.stderr
    assert json.loads(doctor.stdout)["runs"] > 0
    seed = Path(judge.env["XDG_STATE_HOME"]) / "rsslab" / "bin" / "seed"
    measured = judge.run("rsslab", "measure", "--json", "--", str(seed),
                         stdin="the judge's input\n" * 100)
    assert measured.returncode == 0, measured.stderr
    report = json.loads(measured.stderr.splitlines()[-1])
    assert report["peak_kib"] > 0 and report["returncode"] == 0
    api = judge.run("python", "-c", "import rsslab, sys; m = rsslab.Measurer.here(); "
                    "r = m.measure(['true']); assert 'git' not in sys.modules; "
                    "print(r.peak_kib, r.method)")
    assert api.returncode == 0 and int(api.stdout.split()[0]) > 0, api.stderr


@pytest.mark.parametrize(("args", "extra"), [(("docs",), "site"),
                                             (("patches", "--only", "manpages"), "series")])
def test_a_judges_install_names_the_missing_extra(judge: Installed, args: tuple[str, ...],
                                                  extra: str) -> None:
    proc = judge.run("rsslab", *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert f"pip install 'rsslab[{extra}]'" in proc.stderr
