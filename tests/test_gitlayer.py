"""The git layer both series share, on small repositories: no network.

The guarantee of both parts starts here: a series made in a temporary
worktree (full or sparse), formatted and checked with ``git am``, leaves the
user's repository byte-identical, runs none of its hooks and reads none of
its recipients.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gitstate import sh, snapshot

from rsslab.debian.tree_import import import_tree
from rsslab.errors import ToolMissing, UserError
from rsslab.repo.git import GitFailed, Ident, git, identity, run, user_commit
from rsslab.repo.worktree import temp_worktree
from rsslab.series import gitseries, template

DATE = "@1790000000 +0000"
# Not the repository's user.name/email: the series is signed as --from says.
IDENT = Ident("Sam Signer", "sam@example.org")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.fixture
def user(tmp_path: Path) -> Path:
    """A repository with a branch, a stash, staged, unstaged, untracked and
    ignored files, hooks that leave a mark, signing on and format.to set."""
    repo = tmp_path / "user"
    repo.mkdir()
    sh(repo, "init", "--quiet")
    for k, v in (("user.name", "Jane Doe"), ("user.email", "jane@example.org"),
                 ("commit.gpgsign", "true"), ("format.to", "configured@example.org")):
        sh(repo, "config", k, v)
    _write(repo, {"README": "top\n", ".gitignore": "*.o\n", "src/a.c": "int a;\n",
                  "doc/b.txt": "b\n"})
    sh(repo, "add", ".")
    sh(repo, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "base")
    sh(repo, "tag", "v-base")
    sh(repo, "switch", "--quiet", "-c", "work")
    (repo / "doc/b.txt").write_text("b\nstashed\n")
    sh(repo, "stash", "push", "--quiet", "-m", "wip")
    (repo / "src/a.c").write_text("int a; /* unstaged */\n")
    (repo / "README").write_text("top\nstaged\n")
    sh(repo, "add", "README")
    _write(repo, {"notes.txt": "untracked\n", "src/a.o": "ignored\n"})
    for hook in ("post-checkout", "pre-commit", "post-commit", "applypatch-msg",
                 "pre-applypatch", "post-applypatch"):
        path = repo / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} >> {tmp_path / 'hooks-ran'}\n")
        path.chmod(0o755)
    return repo


def _series(repo: Path, base: str, out: Path, sparse: tuple[str, ...] | None
            ) -> tuple[list[Path], str]:
    with temp_worktree(repo, base, sparse) as wt:
        if sparse is not None:
            assert (wt / "README").is_file() and (wt / "src/a.c").is_file()
            assert not (wt / "doc").exists()
        assert (wt / "src/a.c").read_text() == "int a;\n"  # the base, not the dirty file
        (wt / "src/a.c").write_text("int a = 1;\n")
        gitseries.commit(wt, ["src/a.c"], "src: set a\n\nBody.\n\nSigned-off-by: x <x@y>\n",
                         IDENT, DATE)
        _write(wt, {"src/new.o": "ignored by the user, added by the series\n"})
        gitseries.commit(wt, ["src/new.o"], "src: add new.o\n", IDENT, DATE)
        tip = gitseries.tree_of_head(wt)
        files = gitseries.format_patch(wt, base, out, "PATCH", IDENT, DATE, ["to@example.org"])
    return files, tip


@pytest.mark.parametrize("sparse", [None, ("src",)], ids=["full", "sparse"])
def test_a_series_leaves_the_users_repository_byte_identical(
        user: Path, tmp_path: Path, sparse: tuple[str, ...] | None) -> None:
    before = snapshot(user)
    base = git(user, ["rev-parse", "v-base"])
    files, tip = _series(user, base, tmp_path / "out", sparse)
    assert gitseries.am_check(user, base, files[1:], tip, sparse) == ""
    assert snapshot(user) == before
    assert not (tmp_path / "hooks-ran").exists()
    assert [f.name[:4] for f in files] == ["0000", "0001", "0002"]
    head = files[1].read_text().split("\n\n", 1)[0]
    assert "To: to@example.org" in head and "configured@example.org" not in head
    assert "From: Sam Signer <sam@example.org>" in head and "+0000" in head
    cover = files[0].read_text()
    assert f"base-commit: {base}" in cover
    cover_head = cover.split("\n\n", 1)[0]
    assert "From: Sam Signer <sam@example.org>" in cover_head and "jane" not in cover_head
    assert "Date: Mon, 21 Sep 2026 14:13:20 +0000" in cover_head  # DATE, not the time of the run


def test_a_failure_inside_removes_the_worktree(user: Path) -> None:
    before = snapshot(user)
    with pytest.raises(RuntimeError):
        with temp_worktree(user, "v-base") as wt:
            (wt / "README").write_text("changed\n")
            raise RuntimeError("stop")
    assert not wt.exists()
    assert snapshot(user) == before


def test_a_series_that_does_not_apply_is_reported(user: Path, tmp_path: Path) -> None:
    base = git(user, ["rev-parse", "v-base"])
    files, tip = _series(user, base, tmp_path / "out", None)
    with temp_worktree(user, base) as wt:
        (wt / "src/a.c").write_text("int b;\n")
        gitseries.commit(wt, ["src/a.c"], "other\n", IDENT, DATE)
        other = git(wt, ["rev-parse", "HEAD"])
    before = snapshot(user)
    problem = gitseries.am_check(user, other, files[1:], tip)
    assert problem.startswith(f"git am does not apply the series on {other[:12]}: ")
    assert "\n" not in problem
    assert snapshot(user) == before


def test_the_cover_letter_is_filled_or_refused(user: Path, tmp_path: Path) -> None:
    files, _ = _series(user, git(user, ["rev-parse", "v-base"]), tmp_path / "out", None)
    gitseries.fill_cover(files[0], "the subject", "the blurb")
    text = files[0].read_text()
    assert "the subject" in text and "the blurb" in text and "***" not in text
    with pytest.raises(GitFailed) as e:
        gitseries.fill_cover(files[0], "again", "again")
    assert "placeholders" in str(e.value)


# --- the import -------------------------------------------------------------

def test_an_import_is_reproducible_and_stacks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write(src, {"Makefile": "VERSION = 6\n", ".gitignore": "*.o\n", "lib/x.o": "kept\n"})
    one = import_tree(tmp_path / "one.git", src, "Import one\n\nBody.", "2000-01-01T00:00:00Z")
    two = import_tree(tmp_path / "two.git", src, "Import one\n\nBody.", "2000-01-01T00:00:00Z")
    assert one == two
    assert "lib/x.o" in git(tmp_path / "one.git", ["ls-tree", "-r", "--name-only", one])
    assert git(tmp_path / "one.git", ["symbolic-ref", "HEAD"]) == "refs/heads/debian"
    (src / "Makefile").write_text("VERSION = 7\n")
    three = import_tree(tmp_path / "one.git", src, "Import two", "@1790000000 +0000",
                        tags=["debian/7"])
    repo = tmp_path / "one.git"
    assert git(repo, ["rev-parse", f"{three}^"]) == one
    assert git(repo, ["rev-parse", "debian/7", "debian"]).split() == [three, three]
    assert git(repo, ["log", "-1", "--format=%an <%ae> %ad", "--date=unix", three]) == \
        "rsslab import <rsslab@localhost> 1790000000"


# --- identity, the runner, the user's repository ------------------------------

def test_identity_from_from_or_git_config(user: Path, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    assert identity(user, "  Ann Other <ann@example.org> ") == Ident("Ann Other",
                                                                      "ann@example.org")
    assert identity(user) == Ident("Jane Doe", "jane@example.org")  # its git config
    with pytest.raises(UserError) as e:
        identity(user, "nobody")
    assert str(e.value) == ("--from 'nobody' is not an identity like "
                            "'Jane Doe <jane@example.org>'")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    bare = tmp_path / "bare.git"
    bare.mkdir()
    git(bare, ["init", "--quiet", "--bare"])
    with pytest.raises(UserError) as e:
        identity(bare)
    assert "no git identity" in str(e.value) and str(e.value).endswith("or pass --from")


def test_failures_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(GitFailed) as e:
        git(tmp_path, ["rev-parse", "--verify", "no-such-ref"])
    assert "`git rev-parse --verify no-such-ref`" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(GitFailed) as e:
        git(tmp_path, ["-c", "alias.nap=!sleep 5", "nap"], timeout=0.2)
    assert "did not complete in 0.2 secs" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(GitFailed) as e:
        git(tmp_path / "none", ["status"])
    assert str(e.value) == f"`git status`: {tmp_path / 'none'} is not a directory"
    with pytest.raises(GitFailed) as e:
        run(["sleep", "5"], tmp_path, timeout=0.2)
    assert "ran over 0.2 s" in str(e.value)
    with pytest.raises(ToolMissing) as t:
        run(["rsslab-no-such-tool"], tmp_path)
    assert "is not installed" in str(t.value)


def test_a_users_tree_and_ref_are_checked(user: Path, tmp_path: Path) -> None:
    assert user_commit(user, "v-base", "--x-tree", "--x-base", "a tree") == \
        git(user, ["rev-parse", "v-base"])
    msgs = []
    for path, ref in ((tmp_path / "none", "HEAD"), (tmp_path, "HEAD"), (user, "nope")):
        with pytest.raises(UserError) as e:
            user_commit(path, ref, "--x-tree", "--x-base", "a tree")
        msgs.append(str(e.value))
    assert msgs == [f"--x-tree {tmp_path / 'none'} is not a directory",
                    f"--x-tree {tmp_path} is not a git repository; pass a tree",
                    f"--x-tree {user}: no commit 'nope'; pass an existing ref with --x-base"]


# --- message templates ----------------------------------------------------------

def test_reflow_fills_prose_and_keeps_blocks_lists_and_trailers() -> None:
    long = "word " * 20
    text = "\n\n".join([long.strip(), "  " + long.strip(), "- " + long.strip(),
                        "Link: https://example.org/" + "x" * 70, "Short line."])
    paras = template.reflow(text).split("\n\n")
    assert paras[0] == "\n".join(template.wrap(long)) and max(map(len, paras[0].split("\n"))) <= 72
    assert paras[1:] == text.split("\n\n")[1:]


def test_template_errors_name_the_file() -> None:
    with pytest.raises(UserError) as e:
        template.fill("a ${b}", {"c": "1"}, "x/message.txt")
    assert str(e.value) == "x/message.txt uses ${b}, which is not defined (known: c)"
    with pytest.raises(UserError) as e:
        template.fill("costs $5", {}, "x/message.txt")
    assert "write $$ for a dollar" in str(e.value)

