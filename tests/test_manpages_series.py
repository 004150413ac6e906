"""The man-pages series, generated on the newest Debian man-pages release.

One generation per session (into a temporary directory) serves the checks
of the issue: lint, sentences and their claims, git am on the base, and
the claims' verdicts on every kernel with results.  A user's clone is only
used through a temporary worktree: its refs, index, files and stash stay
byte-identical.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitstate import snapshot

from rsslab import paths
from rsslab.claims import Verdict, regimes
from rsslab.repo.git import git
from rsslab.run import matrix
from rsslab.series.manpages import base as man_base
from rsslab.series.manpages import evidence as man_evidence
from rsslab.series.manpages import roff as man_roff
from rsslab.series.manpages import run as manpages
from rsslab.series.manpages.edit import EditFailed
from rsslab.series.manpages.spec import load_series

# The series reads the claims' verdicts on the matrix kernels: every test here
# may boot them (once per session).
pytestmark = pytest.mark.guest

ROOT = Path(__file__).resolve().parents[1]
SERIES = load_series(ROOT / "manpatches")
SIGN = "Jane Doe <jane@example.org>"
DATE = "@1790000000 +0000"
RSSLAB = [sys.executable, "-m", "rsslab.cli"]


@pytest.fixture(scope="session")
def debian() -> man_base.Base:
    """The cached import of Debian's man-pages (downloaded on first use)."""
    return man_base.debian_base(paths.cache_dir())


@pytest.fixture(scope="session")
def result(debian: man_base.Base, tmp_path_factory: pytest.TempPathFactory,
           guest_outcomes: Callable[[], dict[str, matrix.Outcome]]) -> manpages.Result:
    """The series, generated once the test kernels' results are in build/results."""
    guest_outcomes()
    out = tmp_path_factory.mktemp("man-pages")
    opts = manpages.Options(root=ROOT, cache=paths.cache_dir(), sign_as=SIGN, date=DATE,
                            output=out)
    return manpages.generate(opts)


def test_series_files_subjects_and_recipients(result: manpages.Result) -> None:
    names = [f.name for f in result.files]
    assert len(names) == len(SERIES.patches) + 1 and names[0] == "0000-cover-letter.patch"
    for f, p in zip(result.files[1:], SERIES.patches):
        text = f.read_text()
        subject = " ".join(re.search(r"^Subject: (.*(?:\n .*)*)", text, re.M)[1].split())  # type: ignore[index]
        assert subject.startswith(f"[PATCH {result.files.index(f)}/{len(SERIES.patches)}] man/man")
        assert subject.endswith(p.subject)
        assert f"\nSigned-off-by: {SIGN}\n" in text
        assert "To: Alejandro Colomar <alx@kernel.org>" in text
        assert re.search(r"Cc: linux-man@vger\.kernel\.org,\s+linux-mm@kvack\.org", text)
    cover = result.files[0].read_text()
    assert "***" not in cover and f"base-commit: {result.base.commit}" in cover


def test_pages_lint_clean_against_the_unpatched_page(result: manpages.Result) -> None:
    assert [f.show() for f in result.lint] == []


def test_every_added_sentence_is_backed_by_claims(result: manpages.Result) -> None:
    assert [p.show() for p in result.sidecar] == []


def test_git_am_applies_the_series_on_the_base(result: manpages.Result) -> None:
    assert result.am_problem == ""


def test_messages_cite_claims_and_commits(result: manpages.Result) -> None:
    for f, p in zip(result.files[1:], SERIES.patches):
        body = f.read_text().split("\n---\n")[0].split("\n\n", 1)[1]
        for cid in p.claim_ids():
            assert re.search(rf"(?<![\w-]){re.escape(cid)}(?![\w-])", body), (p.name, cid)
        for line in body.splitlines():
            assert len(line) <= 80 or line.startswith(("Signed-off-by:", "    linux.git ")), line
        known = man_evidence.claim_map(ROOT)
        for cid in p.claim_ids():
            for tag in known[cid].tags:
                if tag.kind == "linux-git":
                    assert f'linux.git {tag.ref[:12]} ("{tag.note}")' in body, (p.name, tag)


def test_rendered_getrusage_fits_80_columns(result: manpages.Result) -> None:
    text = result.rendered["man/man2/getrusage.2"].read_text()
    assert "CAVEATS" in text and "BUGS" in text
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("claim_id", list(dict.fromkeys(c for p in SERIES.patches
                                                       for c in p.claim_ids())))
def test_claims_behind_the_series_hold(result: manpages.Result, claim_id: str,
                                       guest_outcomes: Callable[[], dict[str, matrix.Outcome]]
                                       ) -> None:
    mine = [c for c in result.checks if c.claim == claim_id]
    failed = [c for c in mine if c.runs and c.verdict is not Verdict.HOLDS]
    assert not failed, "\n".join(c.detail for c in failed)
    if not any(c.verdict is Verdict.HOLDS for c in mine):
        claim = man_evidence.claim_map(ROOT)[claim_id]
        booted = [o.target.label for o in guest_outcomes().values()
                  if not o.error and claim.applies(o.features, o.target.ncpus)]
        assert not booted, f"{claim_id} applies to the test kernels {booted}, but the " \
                           "series checked it nowhere: " + "; ".join(c.detail for c in mine)
        pytest.skip(f"{claim_id}: no kernel with results in build/results is in its range ("
                    + "; ".join(c.detail for c in mine) + "); run rsslab run --kernel K "
                    "with a kernel K of its range (the matrix: 6.1, 6.12, 6.12-nosum, 7)")


# --- robustness of the edits ------------------------------------------------

def test_getrusage_edits_apply_to_an_older_release() -> None:
    """Debian 12's man-pages 6.03 has the old layout and other wording, but the
    getrusage(2) text the patches look for; proc_pid_status(5) is not there."""
    local = Path("/usr/share/man/man2/getrusage.2.gz")
    if not local.exists():
        pytest.skip("no /usr/share/man/man2/getrusage.2.gz; apt-get install manpages-dev")
    pages = {"man/man2/getrusage.2": gzip.decompress(local.read_bytes()).decode()}
    getrusage = SERIES.patches[:3]
    assert all(p.pages == ("man/man2/getrusage.2",) for p in getrusage)
    steps = manpages.apply_series(load_series(ROOT / "manpatches", [p.name for p in getrusage]),
                                  pages)
    final = steps[-1].after["man/man2/getrusage.2"]
    assert ".SH CAVEATS" in final and ".SH BUGS" in final and "glibc 2.33" in final
    with pytest.raises(EditFailed) as exc:
        manpages.apply_series(SERIES, pages)
    assert "man/man5/" in str(exc.value) and "no such page" in str(exc.value)


def test_changed_text_fails_naming_page_and_text(debian: man_base.Base) -> None:
    pages = manpages.read_pages(debian, ["man/man2/getrusage.2", "man/man5/proc_pid_stat.5",
                                         "man/man5/proc_pid_statm.5",
                                         "man/man5/proc_pid_status.5"])
    pages["man/man5/proc_pid_statm.5"] = pages["man/man5/proc_pid_statm.5"].replace(
        ".\\\" Inaccuracy is bounded by TASK_RSS_EVENTS_THRESH.\n", "")
    with pytest.raises(EditFailed) as exc:
        manpages.apply_series(SERIES, pages)
    msg = str(exc.value)
    assert msg.startswith("man/man5/proc_pid_statm.5 (proc-pid-statm-accuracy): expected text")
    assert "Some of these values are inaccurate because" in msg


# --- a user's clone ---------------------------------------------------------

def sh(cwd: Path, *args: str) -> str:
    return git(cwd, list(args))


@pytest.fixture
def clone(debian: man_base.Base, tmp_path: Path) -> Iterator[Path]:
    """A man-pages clone with a branch, staged and unstaged edits, an
    untracked file and a stash."""
    repo = tmp_path / "man-pages"
    subprocess.run(["git", "clone", "--quiet", "--branch", "debian", str(debian.repo),
                    str(repo)], check=True, timeout=120)
    for k, v in (("user.name", "Jane Doe"), ("user.email", "jane@example.org")):
        sh(repo, "config", k, v)
    sh(repo, "switch", "--quiet", "-c", "work")
    page = repo / "man/man2/getrusage.2"
    page.write_text(page.read_text() + '.\\" stashed work\n')
    sh(repo, "stash", "push", "--quiet", "-m", "half-done")
    page.write_text(page.read_text().replace("get resource usage", "get resource usage (wip)"))
    status = repo / "man/man5/proc_pid_status.5"
    status.write_text(status.read_text() + '.\\" staged work\n')
    sh(repo, "add", str(status))
    (repo / "notes.txt").write_text("untracked\n")
    yield repo


def add_contributing(repo: Path) -> None:
    """Upstream's CONTRIBUTING.d/git names the addresses (here, made-up ones)."""
    (repo / "CONTRIBUTING.d").mkdir()
    (repo / "CONTRIBUTING.d/git").write_text(
        "\t\t$ git config --local format.to 'Maintainer <maint@example.org>';\n"
        "\t\t$ git config --local format.cc '<list@example.org>';\n")
    sh(repo, "add", "CONTRIBUTING.d/git")
    sh(repo, "commit", "--quiet", "-m", "CONTRIBUTING.d/git", "--", "CONTRIBUTING.d/git")


def test_user_tree_stays_byte_identical(clone: Path, tmp_path: Path) -> None:
    add_contributing(clone)
    before = snapshot(clone)
    opts = manpages.Options(root=ROOT, cache=paths.cache_dir(), man_tree=clone,
                            man_base="work", sign_as=SIGN, date=DATE, measure=False,
                            output=tmp_path / "out")
    r = manpages.generate(opts)
    assert snapshot(clone) == before
    assert r.base.commit == sh(clone, "rev-parse", "work")
    assert r.am_problem == "" and [f.show() for f in r.lint] == []
    # The series is made from the committed pages, not from the dirty tree.
    assert "(wip)" not in r.rendered["man/man2/getrusage.2"].read_text()
    # To and Cc as the tree's CONTRIBUTING.d/git says, and the series' lists.
    head = r.files[1].read_text().split("\n\n", 1)[0]
    assert "To: Maintainer <maint@example.org>" in head
    assert re.search(r"Cc: list@example\.org,\s+linux-man@vger\.kernel\.org,\s+"
                     r"linux-mm@kvack\.org", head), head


# --- bad input: one line, exit status 2 -------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RSSLAB, "patches", "--only", "manpages", "--no-measure",
                           "--from", SIGN, *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def one_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == 2, proc.stdout + err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def test_cli_old_layout_clone(tmp_path: Path) -> None:
    repo = tmp_path / "old"
    (repo / "man2").mkdir(parents=True)
    (repo / "man2/getrusage.2").write_text(".TH getrusage 2\n")
    sh(tmp_path, "init", "--quiet", str(repo))
    sh(repo, "add", ".")
    sh(repo, "-c", "user.name=J", "-c", "user.email=j@example.org", "commit", "--quiet", "-m", "x")
    one_line(run_cli("--man-tree", str(repo)), "man/man2/getrusage.2", "man-pages-6.8")


def test_cli_changed_page_in_clone(clone: Path) -> None:
    statm = clone / "man/man5/proc_pid_statm.5"
    sh(clone, "stash", "push", "--quiet", "--include-untracked")
    statm.write_text(statm.read_text().replace("Some of these values are inaccurate because",
                                               "Some values are inaccurate because"))
    sh(clone, "commit", "--quiet", "-am", "reword")
    one_line(run_cli("--man-tree", str(clone)), "man/man5/proc_pid_statm.5",
             "expected text not found")


@pytest.mark.parametrize(("args", "words"), [
    (["--man-tree", "/nonexistent/man-pages"], ["--man-tree", "not a directory"]),
    (["--man-patch", "nope"], ["no man-pages patch nope"]),
])
def test_cli_bad_input(args: list[str], words: list[str]) -> None:
    one_line(run_cli(*args), *words)


def test_cli_bad_identity(debian: man_base.Base) -> None:
    proc = subprocess.run([*RSSLAB, "patches", "--only", "manpages", "--no-measure",
                           "--from", "nobody"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    one_line(proc, "'nobody'", "Jane Doe")


def test_sentences_of_the_unpatched_pages_are_read(debian: man_base.Base) -> None:
    """The sentence reader sees the pages' prose (a guard for the sidecar check)."""
    text = manpages.read_pages(debian, ["man/man2/getrusage.2"])["man/man2/getrusage.2"]
    got = man_roff.sentences(text)
    assert "Resource usage metrics are preserved across an execve(2)." in got
    assert len(got) > 40


def test_kernels_with_results_behave_as_releases(result: manpages.Result) -> None:
    """Kernels built with rsslab's own patches are left out; the fixture that
    stands for an older release is in, judged by the regimes it recorded."""
    labels = {c.label for c in result.checks}
    assert labels, "no results at all; generate() measures the host"
    unreleased = {r.id for r in regimes.load(ROOT / "claims") if not r.ranges}
    kept = man_evidence.kernels(ROOT)
    assert not [k.label for k in kept if unreleased & set(k.results.origin.declared)]
    assert {k.label for k in kept} == labels
    for k in kept:
        assert k.features == k.results.features and k.features
