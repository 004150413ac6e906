"""The package's layers import one way (HACKING.md): a module imports only
its own layer and the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rsslab"
# Top to bottom; a layer may import itself and anything after it.
LAYERS = [
    {"cli", "__main__", "__init__"},
    {"site", "judges", "series"},
    {"run"},
    {"kernels"},
    {"claims"},
    {"results", "plan", "scenarios", "metrics", "observer", "schema", "debian", "repo",
     "errors", "paths", "steps", "kversion", "locks", "children", "extras",
     "scratch", "atomic"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rsslab"):
            if node.module == "rsslab":
                out += [(node.lineno, f"rsslab.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("rsslab.")]
    return out


def test_every_module_has_a_layer() -> None:
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert parts <= set(RANK), f"no layer for {sorted(parts - set(RANK))}"


def test_imports_go_down_the_layers() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for line, module in _imports(path):
            there = _part(module)
            if there in RANK and RANK[there] < RANK[here]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {here} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_runners_kernels_and_claims_never_import_the_series() -> None:
    for sub in ("kernels", "claims", "run"):
        for path in (PACKAGE / sub).rglob("*.py"):
            bad = [m for _line, m in _imports(path) if _part(m) == "series"]
            assert not bad, f"{path}: {bad}"


def test_the_makefile_runs_the_matrix_kernels_the_code_names() -> None:
    """One list of matrix kernels (run.matrix); the Makefile's default agrees."""
    from rsslab.run import matrix

    make = (PACKAGE.parent / "Makefile").read_text()
    kernels = next(ln for ln in make.splitlines() if ln.startswith("KERNELS ?="))
    cpus = next(ln for ln in make.splitlines() if ln.startswith("CPUS ?="))
    assert kernels.split("?=")[1].split() == [*matrix.DEFAULT_KERNELS, "host"]
    assert cpus.split("?=")[1].strip() == ",".join(map(str, matrix.DEFAULT_CPUS))


def test_the_wheel_carries_every_source_the_series_compiles() -> None:
    """The guest helpers `rsslab patches` compiles travel in the wheel."""
    import tomllib

    from rsslab.series.kernel.run import GUEST_HELPERS

    doc = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    carried = doc["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    for _name, src in GUEST_HELPERS:
        assert any(src == k or src.startswith(k.rstrip("/") + "/") for k in carried), src
