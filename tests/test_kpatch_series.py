"""Kernel series: generation, checkpatch, git am, and a user's tree left alone.

These use the Debian source trees rsslab imports into the cache (the first
run downloads them through apt; later runs use the cache only).
"""

from __future__ import annotations

import email.utils

import re
import tarfile
from pathlib import Path

import git
import pytest
from gitstate import snapshot

from rsslab import paths
from rsslab.debian import sources
from rsslab.debian.sources import Tree
from rsslab.kernels import specs as spec
from rsslab.repo.git import Ident
from rsslab.series.kernel import run as kernel
from rsslab.series.kernel import series

# Every test here works on imported Debian kernel trees (downloaded once).
pytestmark = pytest.mark.slow

AUTHOR = Ident("Rsslab Tester", "tester@example.org")
DATE = "2026-01-01T00:00:00Z"


def _series(root: Path, name: str) -> spec.SeriesSpec:
    return {s.name: s for s in spec.load_series(root)}[name]


@pytest.fixture(scope="module")
def trees(root: Path) -> dict[str, Tree]:
    out = {}
    for s in spec.load_series(root):
        out[s.name] = sources.debian_tree(paths.cache_dir(), s.debian, s.suites)
    return out


@pytest.fixture(scope="module")
def mainline_fix_recipients(root: Path, trees: dict[str, Tree]) -> list[str]:
    """Whom the mainline fix goes to, on the mainline tree."""
    return series.patch_recipients(_series(root, "linux-mainline"), trees["linux-mainline"],
                                   "maxrss-sum", AUTHOR, DATE)


@pytest.fixture(scope="module")
def drafts(root: Path, trees: dict[str, Tree], mainline_fix_recipients: list[str],
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, series.SeriesOutput]:
    """Each series generated once, as a draft (no kernels booted); a
    stable series Cc's whom the mainline fix goes to, as `rsslab patches`
    does."""
    tmp = tmp_path_factory.mktemp("series")
    out = {}
    for name, t in trees.items():
        s = _series(root, name)
        cc = mainline_fix_recipients if s.cc_recipients_of == "maxrss-sum" else []
        out[name] = series.generate(s, t, tmp / name, {}, AUTHOR, DATE, draft=True, also_cc=cc)
    return out


@pytest.mark.parametrize("name", ["linux-mainline", "linux-6.12.y", "linux-6.1.y",
                                  "linux-5.10.y"])
def test_series_is_checkpatch_clean_and_applies(root: Path, trees: dict[str, Tree],
                                                drafts: dict[str, series.SeriesOutput],
                                                name: str) -> None:
    s = _series(root, name)
    out = drafts[name]
    assert [c.where for c in out.check.runs] == [series.IN_TREE, series.NO_GIT]
    for run in out.check.runs:
        assert (run.errors, run.warnings, run.checks) == (0, 0, 0), run.text
    report = (out.directory / "checkpatch.txt").read_text()
    assert f"# {series.IN_TREE}" in report and f"# {series.NO_GIT}" in report
    assert out.applies
    assert [f.name[:4] for f in out.files] == [f"{i:04d}" for i in range(len(s.patches) + 1)]
    cover = out.files[0].read_text()
    assert f"base-commit: {trees[name].base}" in cover
    assert "*** SUBJECT HERE ***" not in cover and "*** BLURB HERE ***" not in cover
    for f in out.files[1:]:
        text = f.read_text()
        assert "Signed-off-by: Rsslab Tester <tester@example.org>" in text
        body = text.split("\n\n", 1)[1].split("\n---\n")[0].splitlines()
        prose = [ln for ln in body if not re.match(r"^[A-Z][A-Za-z-]+: ", ln)]
        assert max(len(ln) for ln in prose) <= 75


def test_checkpatch_outside_git_flags_a_bare_commit_id(root: Path, trees: dict[str, Tree],
                                                       drafts: dict[str, series.SeriesOutput],
                                                       tmp_path: Path) -> None:
    """A commit id cited bare in prose passes in a tree without history
    (the lookup fails, so the style check is skipped) and is an error
    outside any git directory, as in a tree where the id resolves."""
    fix = drafts["linux-mainline"].files[1]
    text = fix.read_text()
    bare = re.sub(r"\n\n", "\n\nThis costs what f1a7941243c1 saved.\n\n", text, count=1)
    assert bare != text
    (tmp_path / "0001-bare.patch").write_text(bare)
    s = _series(root, "linux-mainline")
    with sources.kernel_worktree(trees["linux-mainline"], sparse=series.sparse_paths(s)) as wt:
        report = series.checkpatch(wt, [tmp_path / "0001-bare.patch"], history=False)
    in_tree, no_git = report.runs
    assert in_tree.errors == 0, in_tree.text
    assert no_git.errors == 1, no_git.text
    assert "Please use git commit description style" in no_git.text
    assert "This costs what f1a7941243c1 saved." in no_git.text


def test_mainline_fix_cites_and_goes_to_mm(drafts: dict[str, series.SeriesOutput]) -> None:
    out = drafts["linux-mainline"]
    fix = out.files[1].read_text()
    assert 'Fixes: f1a7941243c1 ("mm: convert mm\'s rss stats into percpu_counter")' in fix
    assert "82241a83cd15" in fix and "Cc: stable@vger.kernel.org" in fix
    assert "https://lore.kernel.org/r/20230608171256.17827-1-mkoutny@suse.com/" in fix
    assert "Andrew Morton <akpm@linux-foundation.org>" in out.to
    assert "linux-mm@kvack.org" in out.cc
    test = out.files[2].read_text()
    assert "+TEST_HARNESS_MAIN" in test and "tools/testing/selftests/mm/ksft_rss.sh" in test


@pytest.mark.parametrize("name", ["linux-6.12.y", "linux-6.1.y", "linux-5.10.y"])
def test_stable_series_go_to_stable_and_cc_the_mainline_recipients(
        drafts: dict[str, series.SeriesOutput], mainline_fix_recipients: list[str],
        name: str) -> None:
    out = drafts[name]
    assert out.to == ("stable@vger.kernel.org",)
    assert "Andrew Morton <akpm@linux-foundation.org>" in mainline_fix_recipients
    assert set(mainline_fix_recipients) <= set(out.cc)
    prefix = name.removeprefix("linux-")
    for f in out.files:
        subject = re.search(r"^Subject: (.*)$", f.read_text(), re.M)
        assert subject and subject[1].startswith(f"[PATCH {prefix} "), f.name


def test_backport_names_its_mainline_commit_and_how_it_differs(
        drafts: dict[str, series.SeriesOutput]) -> None:
    out = drafts["linux-6.12.y"]
    cover, fix, test = (f.read_text() for f in out.files)
    for patch in (fix, test):
        body = patch.split("\n\n", 1)[1]
        assert body.startswith("commit <mainline-sha1> upstream.\n\n")
        assert "[ Backport: " in body
    assert "How this differs from mainline:" in cover
    assert "+\treturn max(mm->hiwater_rss, get_mm_counter_sum(mm, MM_FILEPAGES) +" in fix
    assert "get_mm_rss_sum(mm)" not in fix.split("\n---\n", 1)[1]
    assert "+TEST_HARNESS_MAIN" in test and "ksft_rss.sh" not in test
    assert "+CATEGORY=\"rss\" run_test ./exit_maxrss" in test


def test_the_mainline_fix_does_not_fit_6_12(root: Path, trees: dict[str, Tree],
                                           tmp_path: Path) -> None:
    """Why 6.12.y needs a backport: 6.12 has no get_mm_rss_sum()."""
    with pytest.raises(sources.UserError) as excinfo:
        series.generate(_series(root, "linux-mainline"), trees["linux-6.12.y"],
                        tmp_path / "x", {}, AUTHOR, DATE, True)
    assert "include/linux/mm.h: no get_mm_rss_sum()" in str(excinfo.value)


def _header_addresses(patch: str, name: str) -> list[str]:
    head = patch.split("\n\n", 1)[0]
    return [a.strip() for _, a in email.utils.getaddresses(
        [m.group(1) for m in re.finditer(rf"^{name}: (.*(?:\n[ \t]+.*)*)", head, re.M)])]


def test_stable_patch_ccs_whom_the_mainline_fix_goes_to(
        drafts: dict[str, series.SeriesOutput], mainline_fix_recipients: list[str]) -> None:
    """The stable patch goes to stable@ and Cc's everyone get_maintainer.pl
    names for the mainline fix (get_maintainer.pl on the downloaded trees'
    MAINTAINERS; the golden, tests/test_kpatch_golden.py, is made on a
    fixture without the mainline tree)."""
    patch = drafts["linux-6.1.y"].files[1].read_text()
    wanted = {a for _, a in email.utils.getaddresses(mainline_fix_recipients)} - {
        "stable@vger.kernel.org"}
    assert _header_addresses(patch, "To") == ["stable@vger.kernel.org"]
    assert wanted and set(_header_addresses(patch, "Cc")) >= wanted


def test_edit_that_does_not_fit_names_file_and_function(root: Path, trees: dict[str, Tree],
                                                        tmp_path: Path) -> None:
    """The 6.1.y fix on the mainline tree: do_exit() has no sync_mm_rss()."""
    s = _series(root, "linux-6.1.y")
    with pytest.raises(sources.UserError) as excinfo:
        series.generate(s, trees["linux-mainline"], tmp_path / "x", {}, AUTHOR, DATE, True)
    assert "mm/memory.c: no sync_mm_rss()" in str(excinfo.value)


def test_messages_need_measurements_unless_draft(root: Path, trees: dict[str, Tree],
                                                 tmp_path: Path) -> None:
    with pytest.raises(series.SeriesError) as excinfo:
        series.generate(_series(root, "linux-6.1.y"), trees["linux-6.1.y"], tmp_path / "x",
                        {}, AUTHOR, DATE, draft=False)
    assert "needs measurements" in str(excinfo.value)
    assert not (tmp_path / "x").exists()


# --- a user's tree ---------------------------------------------------------


def _user_tree(tree: Tree, s: spec.SeriesSpec, where: Path) -> Path:
    """A small kernel git tree: what the series touches, from the import,
    with a branch, a stash, staged, unstaged and untracked changes."""
    repo = git.Repo(tree.git_dir)
    tops = [ln.split("\t", 1)[1] for ln in repo.git.ls_tree(tree.base).splitlines()
            if ln.split()[1] == "blob"]
    wanted = [*tops, "scripts", *series.sparse_paths(s),
              *(h for t in s.selftests() for h in t.headers)]
    present = repo.git.ls_tree("-r", "--name-only", tree.base, "--", *wanted).splitlines()
    tar = where.with_suffix(".tar")
    repo.git.archive("-o", str(tar), tree.base, "--", *present)
    with tarfile.open(tar) as tf:
        tf.extractall(where, filter="data")
    user = git.Repo.init(where)
    g = user.git
    g.add("-A", "-f")
    g.commit("-q", "-m", "Linux base")
    g.tag("v-base")
    g.checkout("-q", "-b", "feature")
    (where / "README").write_text((where / "README").read_text() + "feature\n")
    g.commit("-q", "-am", "feature work")
    (where / "MAINTAINERS").write_text((where / "MAINTAINERS").read_text() + "# stashed\n")
    g.stash("push", "-q", "-m", "wip")
    mm = where / "include" / "linux" / "mm.h"
    mm.write_text(mm.read_text() + "/* unstaged */\n")
    (where / "COPYING").write_text((where / "COPYING").read_text() + "staged\n")
    g.add("COPYING")
    (where / "notes.txt").write_text("untracked\n")
    return where


def _snapshot(path: Path) -> dict[str, object]:
    snap = snapshot(path)
    status = str(snap["status"])
    assert "1 M. N... " in status and "COPYING" in status  # staged
    assert "1 .M N... " in status and "include/linux/mm.h" in status  # unstaged
    assert "notes.txt" in status and "wip" in str(snap["stash"])  # untracked, ignored
    return snap


def test_user_tree_stays_byte_identical(root: Path, trees: dict[str, Tree],
                                        tmp_path: Path) -> None:
    s = _series(root, "linux-mainline")
    user = _user_tree(trees["linux-mainline"], s, tmp_path / "linux")
    before = _snapshot(user)
    opts = kernel.Options(root=root, cache=paths.cache_dir(), series=(s.name,), tree=user,
                          base="v-base", draft=True, author=AUTHOR.show(), date=DATE,
                          out_root=tmp_path / "out")
    reports = kernel.run(opts, lambda _msg: None)
    assert _snapshot(user) == before
    out = reports[0].output
    assert reports[0].tree.git_dir == (user / ".git").resolve()
    assert out.applies and out.check.errors == 0 and out.check.warnings == 0, out.check.text
    base = git.Repo(user).commit("v-base").hexsha
    assert f"base-commit: {base}" in out.files[0].read_text()
    # The messages name the tree by its ref and commit, never by where it lies.
    assert f"(v-base, {base[:12]})" in out.files[1].read_text()
    assert not any(str(tmp_path) in f.read_text() for f in out.files)


def test_bad_kernel_tree_is_one_line_and_status_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from rsslab.cli.commands import main
    assert main(["patches", "--only", "kernel", "--draft", "--kernel-tree",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a git repository" in err
    git.Repo.init(tmp_path)
    assert main(["patches", "--only", "kernel", "--draft", "--kernel-tree", str(tmp_path),
                 "--kernel-base", "no-such-ref"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no commit 'no-such-ref'" in err


def test_unknown_series_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from rsslab.cli.commands import main
    assert main(["patches", "--only", "kernel", "--draft", "--kernel-series", "linux-5.4"]) == 2
    assert "unknown series 'linux-5.4'" in capsys.readouterr().err
