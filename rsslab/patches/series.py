"""Turn a series spec into ``git format-patch`` output ready to send.

Everything that writes happens in a temporary worktree of the tree: the
edits, the commits, ``format-patch``.  Recipients come from the tree's own
``scripts/get_maintainer.pl`` (b4's flags), the check from its
``scripts/checkpatch.pl --strict``, and ``git am`` on a second worktree at
the base proves the series applies.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import string
import subprocess
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import git

from rsslab.errors import ToolMissing, UserError
from rsslab.patches.edit import apply_edits
from rsslab.patches.sources import Tree, temp_worktree
from rsslab.patches.spec import PatchSpec, SeriesSpec

log = logging.getLogger(__name__)

TOOL_TIMEOUT_S = 300
NOT_MEASURED = "[not measured]"
# b4 ez.py: the tree's get_maintainer.pl with flags that stop it guessing.
GETMAINT = ("--nogit", "--nogit-fallback", "--nogit-chief-penguins", "--norolestats")


class SeriesError(UserError):
    """The series cannot be generated, checked or applied."""


@dataclass(frozen=True, slots=True)
class Ident:
    name: str
    email: str

    def show(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True, slots=True)
class CheckReport:
    errors: int
    warnings: int
    checks: int
    text: str

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


def author_ident(git_dir: Path, override: str = "") -> Ident:
    """``--author "Name <email>"``, else git config user.name/user.email."""
    if override:
        m = re.fullmatch(r"\s*(.+?)\s*<([^<>@\s]+@[^<>\s]+)>\s*", override)
        if not m:
            raise SeriesError(f"--author '{override}' must look like 'Name <name@example.org>'")
        return Ident(m[1], m[2])
    reader = git.Repo(git_dir).config_reader()
    name = reader.get_value("user", "name", "")
    email = reader.get_value("user", "email", "")
    if not name or not email:
        raise SeriesError("no author for Signed-off-by: set git config --global user.name "
                          "and user.email, or pass --author 'Name <email>'")
    return Ident(str(name), str(email))


WRAP = 72
_TRAILER = re.compile(r"^(Signed-off-by|Fixes|Link|Cc|Closes|Reported-by|Suggested-by|"
                      r"Reviewed-by|Acked-by|Tested-by|Co-developed-by): \S")


def _reflow(text: str) -> str:
    """Re-wrap plain paragraphs to ``WRAP`` columns after substitution;
    indented blocks (tables) and trailer lines are left as they are."""
    out = []
    for para in text.strip("\n").split("\n\n"):
        lines = para.split("\n")
        plain = all(ln and not ln[0].isspace() and not _TRAILER.match(ln) for ln in lines)
        if plain and any(len(ln) > WRAP for ln in lines):
            para = textwrap.fill(" ".join(lines), WRAP, break_long_words=False,
                                 break_on_hyphens=False)
        out.append(para)
    return "\n\n".join(out) + "\n"


def render(template: str, values: Mapping[str, str], draft: bool, what: str) -> str:
    """Fill ``${names}`` from measured values; a draft marks the gaps."""
    t = string.Template(template)
    names = {m.group("named") or m.group("braced") for m in t.pattern.finditer(template)} - {None}
    missing = sorted(n for n in names if n and n not in values)
    if missing and not draft:
        raise SeriesError(f"{what} needs measurements {', '.join(missing)}; run `rsslab patches` "
                          "to build and boot the kernels, or pass --draft")
    return _reflow(t.substitute({**{n: NOT_MEASURED for n in missing}, **values}))


def with_signoff(body: str, author: Ident) -> str:
    """The body with Signed-off-by: joined to its trailer block, if any."""
    paras = body.strip().split("\n\n")
    sob = f"Signed-off-by: {author.show()}"
    if all(_TRAILER.match(ln) for ln in paras[-1].splitlines()):
        paras[-1] += "\n" + sob
    else:
        paras.append(sob)
    return "\n\n".join(paras) + "\n"


def _run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None,
         ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    log.info("%s", shlex.join(argv))
    try:
        proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT_S, env=None if env is None else dict(env))
    except FileNotFoundError:
        raise ToolMissing(f"{argv[0]} not found; run `make patches` to install perl and git")
    except subprocess.TimeoutExpired:
        raise SeriesError(f"{argv[0]} ran over {TOOL_TIMEOUT_S} s") from None
    if proc.returncode not in ok:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise SeriesError(f"{shlex.join(argv[:3])} failed ({proc.returncode}): {tail}")
    return proc


def _commit(wt: Path, patch: PatchSpec, body: str, author: Ident, date: str) -> str:
    touched = apply_edits(wt, patch.edits, patch.requires)
    repo = git.Repo(wt)
    repo.git.add("-f", "--", *touched)
    msg = f"{patch.subject}\n\n{with_signoff(body, author)}"
    env = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
           "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email,
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    with tempfile.NamedTemporaryFile("w", suffix=".msg", delete=False) as f:
        f.write(msg)
    try:
        repo.git.execute(["git", "commit", "-q", "--no-verify", "--cleanup=verbatim",
                          "-F", f.name], env=env)
    finally:
        os.unlink(f.name)
    return repo.head.commit.hexsha


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
            out = _run(["perl", str(script), *GETMAINT, flag, *target], wt).stdout
            dest += [a for a in _addresses(out) if a not in dest]
    if extra_to:  # a stable submission: the maintainers go to Cc
        cc = [a for a in to if a not in extra_to] + cc
        to = list(extra_to)
    cc = [a for a in cc if a not in to]
    return to, cc


_TOTAL = re.compile(r"total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?\d+ lines")


# checkpatch.pl looks cited commit ids up with `git log`; a tree without
# upstream history (a Debian import, a one-commit or shallow tree) has
# nothing to find them in, so that one lookup is skipped there.
NO_HISTORY_IGNORE = "UNKNOWN_COMMIT_ID"


def checkpatch(wt: Path, files: Sequence[Path], history: bool) -> CheckReport:
    """The tree's ``checkpatch.pl --strict`` over each patch (all checks;
    on a tree without upstream history, all but ``NO_HISTORY_IGNORE``)."""
    script = wt / "scripts" / "checkpatch.pl"
    argv = ["perl", str(script), "--strict", "--showfile"]
    if not history:
        argv += ["--ignore", NO_HISTORY_IGNORE]
    errors = warnings = checks = 0
    texts = [f"$ {shlex.join(argv[1:])} PATCH\n"]
    for f in files:
        proc = _run([*argv, str(f)], wt, None, ok=(0, 1))
        m = _TOTAL.search(proc.stdout)
        if not m:
            raise SeriesError(f"checkpatch.pl printed no summary for {f.name}: "
                              f"{proc.stdout.strip()[-200:]}")
        errors, warnings = errors + int(m[1]), warnings + int(m[2])
        checks += int(m[3] or 0)
        texts.append(f"== {f.name}\n{proc.stdout.strip()}\n")
    return CheckReport(errors, warnings, checks, "\n".join(texts))


def sparse_paths(series: SeriesSpec) -> tuple[str, ...]:
    """The files a series touches or asks about: all a sparse worktree needs."""
    paths = {e.file for p in series.patches for e in p.edits}
    paths |= {r.file for p in series.patches for r in p.requires}
    return tuple(sorted(paths | set(series.also_maintainers_of)))


def applies_on_base(tree: Tree, files: Sequence[Path], expected_tree: str,
                    sparse: tuple[str, ...]) -> bool:
    """``git am`` of the patches on the base gives the generated tree."""
    with temp_worktree(tree, sparse=sparse) as wt:
        env = {**os.environ, "GIT_COMMITTER_NAME": "rsslab", "GIT_COMMITTER_EMAIL": "rsslab@localhost"}
        proc = _run(["git", "am", "-q", "--keep-cr", *map(str, files)], wt, env, ok=(0, 128, 1))
        if proc.returncode != 0:
            _run(["git", "am", "--abort"], wt, env, ok=(0, 128, 1))
            log.warning("git am failed: %s", proc.stderr.strip()[-300:])
            return False
        return git.Repo(wt).head.commit.tree.hexsha == expected_tree


def _fill_cover(path: Path, subject: str, blurb: str) -> None:
    text = path.read_text()
    if "*** SUBJECT HERE ***" not in text or "*** BLURB HERE ***" not in text:
        raise SeriesError(f"{path.name}: git format-patch wrote no cover markers")
    path.write_text(text.replace("*** SUBJECT HERE ***", subject)
                    .replace("*** BLURB HERE ***", blurb.strip()))


def _format(wt: Path, base: str, out: Path, prefix: str, to: Sequence[str],
            cc: Sequence[str]) -> list[Path]:
    argv = ["git", "format-patch", "-q", "--cover-letter", "--thread=shallow",
            f"--base={base}", f"--subject-prefix={prefix}", "-o", str(out)]
    argv += [f"--to={a}" for a in to] + [f"--cc={a}" for a in cc]
    _run([*argv, f"{base}..HEAD"], wt)
    return sorted(out.glob("*.patch"))


def generate(series: SeriesSpec, tree: Tree, out: Path, values: Mapping[str, str],
             author: Ident, date: str, draft: bool = False) -> SeriesOutput:
    """Build the series in a temporary worktree and write it to ``out``."""
    vals = {**values, "base_describe": tree.describe, "base_version": tree.version}
    bodies = [render(p.message, vals, draft, f"{p.name}/message.txt") for p in series.patches]
    cover = render(series.cover, vals, draft, f"{series.name} cover letter")
    cover_subject, _, cover_blurb = cover.strip().partition("\n\n")
    sparse = sparse_paths(series)
    with temp_worktree(tree, sparse=sparse) as wt:
        for p, body in zip(series.patches, bodies):
            _commit(wt, p, body, author, date)
        head_tree = git.Repo(wt).head.commit.tree.hexsha
        with tempfile.TemporaryDirectory(prefix="rsslab-fp-") as tmp:
            plain = [f for f in _format(wt, tree.base, Path(tmp), series.subject_prefix, (), ())
                     if not f.name.startswith("0000-")]
            to, cc = recipients(wt, plain, series.to, series.also_maintainers_of)
        staging = out.with_name(out.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        files = _format(wt, tree.base, staging, series.subject_prefix, to, cc)
        _fill_cover(files[0], cover_subject, cover_blurb)
        report = checkpatch(wt, files[1:], history=tree.history)
    ok = applies_on_base(tree, files[1:], head_tree, sparse)
    (staging / "checkpatch.txt").write_text(report.text)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    final = tuple(out / f.name for f in files)
    marked = any(NOT_MEASURED in text for text in (*bodies, cover))
    return SeriesOutput(series.name, out, final, tuple(to), tuple(cc), report, ok, marked)
