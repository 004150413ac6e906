"""What each install of rsslab loads and needs (rsslab/extras.py).

A judge's ``pip install rsslab`` has no Sphinx, matplotlib, numpy or
GitPython: importing rsslab and running ``measure`` and ``doctor`` load
none of them, and a command whose extra is missing says so in one line.
Each check runs in a fresh interpreter, whose ``sys.modules`` is its own.
(tests/test_wheel.py installs the wheel alone in a fresh environment.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from rsslab import extras

ROOT = Path(__file__).resolve().parents[1]
# The top-level modules of the extras, and numpy, which matplotlib brings.
HEAVY = ("git", "sphinx", "matplotlib", "numpy", "docutils")

# Runs ``rsslab`` in process, then prints which of HEAVY it loaded on stdout's
# last line.  BLOCK names modules to make unimportable, as if not installed.
DRIVER = textwrap.dedent("""\
    import importlib.abc, json, sys
    BLOCK = set(json.loads(sys.argv[1]))

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCK:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    from rsslab.cli import main
    try:
        status = main(sys.argv[2:])
    finally:
        heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
        print("loaded: " + json.dumps(heavy), flush=True)
    sys.exit(status)
    """ % (HEAVY,))


def rsslab(tmp_path: Path, *args: str, block: tuple[str, ...] = (),
           stdin: str = "") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    # The session's build directory (RSSLAB_BUILD_DIR), binaries built once.
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(block), *args],
                          capture_output=True, text=True, timeout=300, input=stdin,
                          cwd=tmp_path)
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("loaded: "), proc.stdout + proc.stderr
    return proc, json.loads(last.removeprefix("loaded: "))


def test_importing_rsslab_and_its_api_loads_no_extra() -> None:
    code = ("import rsslab, sys; rsslab.Measurer; rsslab.measure; rsslab.Measurement; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout
    # The issue's own check, word for word.
    subprocess.run([sys.executable, "-c", 'import rsslab, sys; rsslab.Measurer; '
                    'assert "git" not in sys.modules'], check=True, timeout=60)


@pytest.mark.slow  # the whole host battery, or every reproducer compiled anew
@pytest.mark.host
def test_measure_and_doctor_load_no_extra(tmp_path: Path, bin_dir: Path) -> None:
    """Neither loads an extra, so neither needs one (and measure runs with
    them made unimportable)."""
    measured, loaded = rsslab(tmp_path, "measure", "--json", "--", "true")
    assert measured.returncode == 0, measured.stderr
    assert loaded == []
    doctor, loaded = rsslab(tmp_path, "doctor", "--json", "--repeat", "1")
    assert doctor.returncode in (0, 1), doctor.stderr
    assert loaded == []
    measured, _ = rsslab(tmp_path, "measure", "--json", "--", "true", block=HEAVY)
    assert measured.returncode == 0, measured.stderr


@pytest.mark.parametrize(("args", "extra"), [
    (("docs", "--no-measure"), "site"),
    (("patches", "--only", "manpages"), "series"),
    (("patches", "--only", "kernel", "--draft"), "series"),
])
def test_a_missing_extra_is_one_line_naming_it(tmp_path: Path, args: tuple[str, ...],
                                               extra: str) -> None:
    proc, _ = rsslab(tmp_path, *args, block=("git", "sphinx", "matplotlib"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith("rsslab: ") and f"pip install 'rsslab[{extra}]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_git_without_gitpython_names_the_series_extra(tmp_path: Path) -> None:
    code = textwrap.dedent("""\
        import sys
        sys.modules["git"] = None  # as if GitPython were not installed
        from pathlib import Path
        from rsslab.extras import MissingExtra
        from rsslab.repo.git import git
        try:
            git(Path("."), ["--version"])
        except MissingExtra as e:
            print(e)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "gitpython" in proc.stdout and "pip install 'rsslab[series]'" in proc.stdout


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_extras_are_those_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    assert not _names(project["dependencies"]) & {"sphinx", "matplotlib", "numpy", "gitpython",
                                                  "docutils"}
    for extra, needs in extras.EXTRAS.items():
        assert _names(optional[extra]) == {dist for _module, dist in needs}, extra
    (everything,) = optional[extras.ALL]
    assert re.fullmatch(r"rsslab\[([a-z,]+)\]", everything)
    assert set(everything[7:-1].split(",")) == set(extras.EXTRAS)
    make = (ROOT / "Makefile").read_text()
    assert f"pip install -q -e '.[{extras.ALL},dev]'" in make
