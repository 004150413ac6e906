"""Kernels of one tree built one on the objects of the other
(kbuild.build_all), on a small git tree with make faked: each image is
built with its own edits and none of the previous kernel's, the tree is
configured once, and cached kernels are not built again."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rsslab.debian.sources import Tree
from rsslab.kernels import build as kbuild
from rsslab.kernels.edits import Edit
from rsslab.kernels.specs import PatchSpec

MM_H = "static inline int hiwater(void)\n{\n\treturn 1;\n}\n"


def _patch(name: str, *edits: Edit) -> PatchSpec:
    return PatchSpec(name, f"subject {name}", "", edits, (), "", "", (), Path("."))


# Both add the same new file, as the mainline fix and its variant share the selftest.
TEST = Edit("selftest.c", "new_file", "int main(void) { return 0; }\n")
SUM = _patch("sum", Edit("mm.h", "replace", "return 2;", "hiwater", "return 1;"), TEST)
THREE = _patch("three", Edit("mm.h", "replace", "return 3;", "hiwater", "return 1;"), TEST,
               Edit("new.c", "new_file", "int three;\n"))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    repo = tmp_path / "linux"
    repo.mkdir()
    (repo / "mm.h").write_text(MM_H)
    (repo / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 3\n")
    (repo / ".gitignore").write_text("/*\n!/mm.h\n!/Makefile\n")  # as Debian's trees
    for argv in (["init", "-q"], ["add", "-f", "."],
                 ["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "b"]):
        subprocess.run(["git", *argv], cwd=repo, check=True)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()
    return Tree(repo / ".git", base, "7.3.4", "Linux 7.3.4")


class FakeMake:
    """_configure and _make without a kernel: the 'image' is the tree's
    mm.h and the names of its C files, as make would see them."""

    def __init__(self) -> None:
        self.configured: list[str] = []
        self.made: list[str] = []

    def configure(self, src: Path, obj: Path, fragment: str, log: Path,
                  make_vars: Sequence[str] = ()) -> str:
        self.configured.append(fragment)
        obj.mkdir(parents=True, exist_ok=True)
        return f"# from {fragment}\n"

    def make(self, argv: Sequence[str], src: Path, log: Path, timeout: int,
             progress: Any = None, expected: int = 0) -> int:
        obj = Path(next(a for a in argv if a.startswith("O="))[2:])
        image = obj / "arch" / "x86" / "boot" / "bzImage"
        image.parent.mkdir(parents=True, exist_ok=True)
        files = sorted(p.name for p in src.glob("*.c"))
        image.write_text((src / "mm.h").read_text() + " ".join(files))
        self.made.append(" ".join(argv))
        log.write_text("$ make\n")
        return 1


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMake:
    f = FakeMake()
    monkeypatch.setattr(kbuild, "_configure", f.configure)
    monkeypatch.setattr(kbuild, "_make", f.make)
    monkeypatch.setattr(kbuild, "compiler_version", lambda: "gcc (test) 12")
    return f


def _specs(tree: Tree, config: str = "CONFIG_SMP=y") -> list[kbuild.BuildSpec]:
    return [kbuild.BuildSpec("m-base", tree, (), config),
            kbuild.BuildSpec("m-sum", tree, (SUM,), config, ("maxrss-sum",)),
            kbuild.BuildSpec("m-three", tree, (THREE,), config, ("maxrss-sum",))]


def test_each_kernel_is_built_with_its_own_edits_on_the_objects_of_the_last(
        tree: Tree, fake: FakeMake, tmp_path: Path) -> None:
    built = kbuild.build_all(_specs(tree), tmp_path / "cache")
    images = [b.image.read_text() for b in built]
    assert images == [MM_H, MM_H.replace("1;", "2;") + "selftest.c",
                      MM_H.replace("1;", "3;") + "new.c selftest.c"]
    assert fake.configured == ["CONFIG_SMP=y"] and len(fake.made) == 3
    assert all(kbuild.BUILD_VERSION in m for m in fake.made)
    metas = [json.loads((b.image.parent / "meta.json").read_text()) for b in built]
    assert [m["on_objects_of"] for m in metas] == ["", "m-base", "m-sum"]
    side = json.loads(built[1].image.with_name("bzImage.rsslab.json").read_text())
    assert side["name"] == "m-sum" and side["regimes"] == ["maxrss-sum"]
    assert not any(b.cached for b in built)


def test_cached_kernels_are_not_built_again(tree: Tree, fake: FakeMake, tmp_path: Path) -> None:
    first = kbuild.build_all(_specs(tree)[:2], tmp_path / "cache")
    again = kbuild.build_all(_specs(tree), tmp_path / "cache")
    assert [b.cached for b in again] == [True, True, False]
    assert [b.image for b in again[:2]] == [b.image for b in first]
    assert len(fake.made) == 3
    assert again[2].image.read_text() == MM_H.replace("1;", "3;") + "new.c selftest.c"


def test_another_config_is_configured_again(tree: Tree, fake: FakeMake, tmp_path: Path) -> None:
    specs = _specs(tree)
    specs[2] = kbuild.BuildSpec("m-three", tree, (THREE,), "CONFIG_SMP=y\nCONFIG_NR_CPUS=8")
    built = kbuild.build_all(specs, tmp_path / "cache")
    assert fake.configured == ["CONFIG_SMP=y", "CONFIG_SMP=y\nCONFIG_NR_CPUS=8"]
    assert built[2].config.read_text() == "# from CONFIG_SMP=y\nCONFIG_NR_CPUS=8\n"


def test_kernels_of_two_trees_are_refused(tree: Tree, fake: FakeMake, tmp_path: Path) -> None:
    other = Tree(tree.git_dir, "1" * 40, "7.3.4", "Linux 7.3.4")
    with pytest.raises(kbuild.KernelError, match="one tree at a time"):
        kbuild.build_all([_specs(tree)[0], kbuild.BuildSpec("o", other, (), "")],
                         tmp_path / "cache")
