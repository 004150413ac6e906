"""rsslab docs --publish: the site lands on gh-pages of the remote, and no
repository of the user's changes (its branches, remote-tracking refs, index,
files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gitstate
import pytest

from rsslab.site import publish

ENV = {"GIT_AUTHOR_NAME": "U", "GIT_AUTHOR_EMAIL": "u@example.org",
       "GIT_COMMITTER_NAME": "U", "GIT_COMMITTER_EMAIL": "u@example.org"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          timeout=60, env={**ENV, "PATH": "/usr/bin:/bin",
                                           "HOME": str(cwd)}).stdout


def site(where: Path, text: str) -> Path:
    html = where / "html"
    (html / "_static").mkdir(parents=True)
    (html / "index.html").write_text(f"<html>{text}</html>\n")
    (html / "_static" / "rsslab.css").write_text("body {}\n")
    (html / ".nojekyll").write_text("")
    return html


@pytest.fixture()
def remote_and_clone(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote with main, and the user's clone of it, with work in progress."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    user = tmp_path / "user"
    git(tmp_path, "clone", "--quiet", str(bare), str(user))
    (user / "README").write_text("mine\n")
    git(user, "add", "README")
    git(user, "commit", "--quiet", "-m", "first")
    git(user, "push", "--quiet", "origin", "main")
    (user / "README").write_text("mine, edited\n")
    (user / "untracked").write_text("new\n")
    return bare, user


def files_on(bare: Path, ref: str) -> set[str]:
    return set(git(bare, "ls-tree", "-r", "--name-only", ref).split())


def test_publish_to_a_bare_repository(remote_and_clone: tuple[Path, Path],
                                      tmp_path: Path) -> None:
    bare, user = remote_and_clone
    before = gitstate.snapshot(user)
    main_before = git(bare, "rev-parse", "main")
    done = publish.publish(site(tmp_path / "v1", "one"), str(bare), "commit abc", cwd=user)
    assert done.changed and not done.previous
    assert files_on(bare, "gh-pages") == {"index.html", ".nojekyll", "_static/rsslab.css"}
    assert git(bare, "show", "gh-pages:index.html") == "<html>one</html>\n"
    assert "from commit abc" in git(bare, "log", "-1", "--format=%B", "gh-pages")
    assert git(bare, "rev-parse", "main") == main_before
    assert gitstate.snapshot(user) == before


def test_a_new_site_follows_the_old_one(remote_and_clone: tuple[Path, Path],
                                        tmp_path: Path) -> None:
    bare, user = remote_and_clone
    first = publish.publish(site(tmp_path / "v1", "one"), str(bare), cwd=user)
    again = publish.publish(site(tmp_path / "v1b", "one"), str(bare), cwd=user)
    assert not again.changed and again.commit == first.commit
    second = publish.publish(site(tmp_path / "v2", "two"), str(bare), cwd=user)
    assert second.changed and second.previous == first.commit
    assert git(bare, "rev-parse", "gh-pages^").strip() == first.commit
    assert git(bare, "show", "gh-pages:index.html") == "<html>two</html>\n"


def test_a_remote_name_is_read_from_the_repository_here(
        remote_and_clone: tuple[Path, Path], tmp_path: Path) -> None:
    """``origin``: its URL is used; the clone's refs/remotes stay as they were."""
    bare, user = remote_and_clone
    before = gitstate.snapshot(user)
    done = publish.publish(site(tmp_path / "v1", "one"), "origin", cwd=user)
    assert done.remote == str(bare)
    assert ".nojekyll" in files_on(bare, "gh-pages")
    assert gitstate.snapshot(user) == before


@pytest.mark.parametrize(("remote", "words"), [
    ("nosuchremote", ["not a URL", "remote of the repository here"]),
    ("{tmp}/missing/repo.git", ["not a URL"]),
    ("{tmp}/plain-dir", ["cannot reach"]),
])
def test_bad_remote_is_one_line(tmp_path: Path, remote: str, words: list[str]) -> None:
    (tmp_path / "plain-dir").mkdir()
    html = site(tmp_path, "x")
    proc = subprocess.run([sys.executable, "-c", (
        "import sys; from pathlib import Path; from rsslab.site import publish; "
        "from rsslab.errors import UserError\n"
        "try: publish.publish(Path(sys.argv[1]), sys.argv[2], cwd=Path(sys.argv[3]))\n"
        "except UserError as e: print(e); sys.exit(2)"),
        str(html), remote.format(tmp=tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1
    for w in words:
        assert w in proc.stdout


def test_no_site_to_publish(tmp_path: Path) -> None:
    with pytest.raises(publish.PublishError) as e:
        publish.publish(tmp_path, str(tmp_path))
    assert "rsslab docs" in str(e.value)
