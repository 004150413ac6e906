"""Turn a series spec into ``git format-patch`` output ready to send.

Everything that writes happens in a temporary worktree of the tree: the
edits, the commits, ``format-patch``.  Recipients come from the tree's own
``scripts/get_maintainer.pl`` (b4's flags), the check from its
``scripts/checkpatch.pl --strict``, and ``git am`` on a second worktree at
the base proves the series applies.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.debian.sources import Tree, kernel_worktree
from rsslab.errors import UserError
from rsslab.kernels.edits import apply_edits
from rsslab.kernels.specs import PatchSpec, SeriesSpec
from rsslab.repo.git import Ident, run
from rsslab.series import gitseries, template

log = logging.getLogger(__name__)

NOT_MEASURED = "[not measured]"
# b4 ez.py: the tree's get_maintainer.pl with flags that stop it guessing.
GETMAINT = ("--nogit", "--nogit-fallback", "--nogit-chief-penguins", "--norolestats")


class SeriesError(UserError):
    """The series cannot be generated, checked or applied."""


@dataclass(frozen=True, slots=True)
class CheckRun:
    """One ``checkpatch.pl`` pass over the series, run from ``where``."""

    where: str
    errors: int
    warnings: int
    checks: int
    text: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Both passes: in the tree, and from a directory outside any git tree."""

    runs: tuple[CheckRun, ...]

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def warnings(self) -> int:
        return sum(r.warnings for r in self.runs)

    @property
    def checks(self) -> int:
        return sum(r.checks for r in self.runs)

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.runs)

    @property
    def clean(self) -> bool:
        return self.errors == 0 and self.warnings == 0


@dataclass(frozen=True, slots=True)
class SeriesOutput:
    name: str
    directory: Path
    files: tuple[Path, ...]       # cover letter first
    to: tuple[str, ...]
    cc: tuple[str, ...]
    check: CheckReport
    applies: bool
    draft: bool


def render(text: str, values: Mapping[str, str], draft: bool, what: str) -> str:
    """Fill ``${names}`` from measured values; a draft marks the gaps."""
    missing = sorted(template.names(text) - set(values))
    if missing and not draft:
        raise SeriesError(f"{what} needs measurements {', '.join(missing)}; run `rsslab patches` "
                          "to build and boot the kernels, or pass --draft")
    filled = template.fill(text, {**{n: NOT_MEASURED for n in missing}, **values}, what)
    return template.reflow(filled.strip("\n")) + "\n"


def with_signoff(body: str, author: Ident) -> str:
    """The body with Signed-off-by: joined to its trailer block, if any."""
    paras = body.strip().split("\n\n")
    sob = f"Signed-off-by: {author.show()}"
    if all(template.is_trailer(ln) for ln in paras[-1].splitlines()):
        paras[-1] += "\n" + sob
    else:
        paras.append(sob)
    return "\n\n".join(paras) + "\n"


def _commit(wt: Path, patch: PatchSpec, body: str, author: Ident, date: str) -> str:
    touched = apply_edits(wt, patch.edits, patch.requires)
    msg = f"{patch.subject}\n\n{with_signoff(body, author)}"
    return gitseries.commit(wt, touched, msg, author, date)


def _addresses(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if "@" in ln]


def recipients(wt: Path, patches: Sequence[Path], extra_to: Sequence[str],
               also_files: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """To: maintainers (``--nol``); Cc: reviewers and lists (``--nom``), for
    the patches and for ``also_files`` (code the patch relies on)."""
    script = wt / "scripts" / "get_maintainer.pl"
    if not script.is_file():
        raise SeriesError(f"{wt.name} has no scripts/get_maintainer.pl; not a kernel tree")
    to: list[str] = list(extra_to)
    cc: list[str] = []
    # A whole file matches K: keywords by accident; only its F: entries count.
    targets = [[str(p)] for p in patches] + [["--nokeywords", "-f", f] for f in also_files]
    for target in targets:
        for flag, dest in (("--nol", to), ("--nom", cc)):
            out = run(["perl", str(script), *GETMAINT, flag, *target], wt).stdout
            dest += [a for a in _addresses(out) if a not in dest]
    if extra_to:  # a stable submission: the maintainers go to Cc
        cc = [a for a in to if a not in extra_to] + cc
        to = list(extra_to)
    cc = [a for a in cc if a not in to]
    return to, cc


_TOTAL = re.compile(r"total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?\d+ lines")


# checkpatch.pl looks cited commit ids up with `git log` when its working
# directory has a .git.  In a tree without upstream history (a Debian
# import, a one-commit or shallow tree) every lookup fails: that warning
# (NO_HISTORY_IGNORE) is skipped, and so, silently, is the GIT_COMMIT_ID
# check of how an id is cited.  Outside any git directory checkpatch takes
# every id as known for GIT_COMMIT_ID (commit <id> ("<title>")), as a
# maintainer's run in a tree with the history does, while its lookup
# warning fires for every id, since nothing can be looked up there: that
# run skips the lookup warning and keeps the citation check.
NO_HISTORY_IGNORE = "UNKNOWN_COMMIT_ID"
IN_TREE = "in the tree"
NO_GIT = "outside any git directory (ids taken as known: citations checked, lookups skipped)"


def _checkpatch_run(script: Path, cwd: Path, files: Sequence[Path], ignore: Sequence[str],
                    where: str) -> CheckRun:
    argv = ["perl", str(script), "--strict", "--showfile"]
    argv += [a for i in ignore for a in ("--ignore", i)]
    errors = warnings = checks = 0
    texts = [f"# {where}\n$ {shlex.join(['scripts/checkpatch.pl', *argv[2:]])} PATCH\n"]
    for f in files:
        proc = run([*argv, str(f)], cwd, ok=(0, 1))
        m = _TOTAL.search(proc.stdout)
        if not m:
            raise SeriesError(f"checkpatch.pl printed no summary for {f.name} ({where}): "
                              f"{proc.stdout.strip()[-200:]}")
        errors, warnings = errors + int(m[1]), warnings + int(m[2])
        checks += int(m[3] or 0)
        texts.append(f"== {f.name}\n{proc.stdout.strip()}\n")
    return CheckRun(where, errors, warnings, checks, "\n".join(texts))


def checkpatch(wt: Path, files: Sequence[Path], history: bool) -> CheckReport:
    """The tree's ``checkpatch.pl --strict`` over each patch, twice: in the
    tree (all checks; on a tree without upstream history, all but
    ``NO_HISTORY_IGNORE``), and from an empty directory outside any git
    tree, where the citation of every commit id is checked (all checks but
    ``NO_HISTORY_IGNORE``, which cannot look anything up there)."""
    script = wt / "scripts" / "checkpatch.pl"
    first = _checkpatch_run(script, wt, files, () if history else (NO_HISTORY_IGNORE,),
                            IN_TREE)
    with tempfile.TemporaryDirectory(prefix="rsslab-nogit-") as tmp:
        second = _checkpatch_run(script, Path(tmp), files, (NO_HISTORY_IGNORE,), NO_GIT)
    return CheckReport((first, second))


def sparse_paths(series: SeriesSpec) -> tuple[str, ...]:
    """The files a series touches or asks about: all a sparse worktree needs."""
    paths = {e.file for p in series.patches for e in p.edits}
    paths |= {r.file for p in series.patches for r in p.requires}
    return tuple(sorted(paths | set(series.also_maintainers_of)))


def patch_recipients(series: SeriesSpec, tree: Tree, patch: str, author: Ident,
                     date: str) -> list[str]:
    """Everyone ``patch`` of ``series`` goes to (To, then Cc), as
    :func:`generate` addresses it on ``tree``; its message as a draft (the
    numbers do not change who maintains the files it touches)."""
    names = [p.name for p in series.patches]
    upto = series.patches[:names.index(patch) + 1]
    with kernel_worktree(tree, sparse=sparse_paths(series)) as wt:
        for p in upto:
            _commit(wt, p, render(p.message, {}, True, f"{p.name}/message.txt"), author, date)
        with tempfile.TemporaryDirectory(prefix="rsslab-fp-") as tmp:
            files = gitseries.format_patch(wt, tree.base, Path(tmp), series.subject_prefix,
                                           author, date)
            to, cc = recipients(wt, files[-1:], series.to, series.also_maintainers_of)
    return to + cc


def generate(series: SeriesSpec, tree: Tree, out: Path, values: Mapping[str, str],
             author: Ident, date: str, draft: bool = False,
             also_cc: Sequence[str] = ()) -> SeriesOutput:
    """Build the series in a temporary worktree and write it to ``out``;
    ``also_cc`` are added to the Cc the tree's get_maintainer.pl gives (a
    stable series: whom the mainline patch goes to)."""
    vals = {**values, "base_describe": tree.describe, "base_version": tree.version}
    bodies = [render(p.message, vals, draft, f"{p.name}/message.txt") for p in series.patches]
    cover = render(series.cover, vals, draft, f"{series.name} cover letter")
    cover_subject, _, cover_blurb = cover.strip().partition("\n\n")
    sparse = sparse_paths(series)
    with kernel_worktree(tree, sparse=sparse) as wt:
        for p, body in zip(series.patches, bodies):
            _commit(wt, p, body, author, date)
        head_tree = gitseries.tree_of_head(wt)
        with tempfile.TemporaryDirectory(prefix="rsslab-fp-") as tmp:
            plain = gitseries.format_patch(wt, tree.base, Path(tmp), series.subject_prefix,
                                           author, date)[1:]
            to, cc = recipients(wt, plain, series.to, series.also_maintainers_of)
        cc += [a for a in also_cc if a not in cc and a not in to]
        staging = out.with_name(out.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        files = gitseries.format_patch(wt, tree.base, staging, series.subject_prefix, author,
                                       date, to, cc)
        gitseries.fill_cover(files[0], cover_subject, cover_blurb.strip())
        report = checkpatch(wt, files[1:], history=tree.history)
    problem = gitseries.am_check(tree.git_dir, tree.base, files[1:], head_tree, sparse)
    if problem:
        log.warning("%s", problem)
    (staging / "checkpatch.txt").write_text(report.text)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    final = tuple(out / f.name for f in files)
    marked = any(NOT_MEASURED in text for text in (*bodies, cover))
    return SeriesOutput(series.name, out, final, tuple(to), tuple(cc), report, not problem,
                        marked)
