"""``rsslab patches`` for man-pages: from ``manpatches/`` to a checked series.

1. Load the series (:mod:`man_spec`) and the base: the newest Debian
   man-pages release in the cache, or a user's clone (:mod:`man_base`).
2. Measure on the host whatever runs the series' claims and tables lack,
   and read every kernel's results (:mod:`man_evidence`).
3. Apply each patch's edits to the pages (:mod:`man_edit`); check its
   sidecar (:mod:`man_sidecar`) and lint the pages (:mod:`man_lint`).
4. Commit in a temporary worktree, ``git format-patch`` with a cover letter,
   then ``git am`` the series on the base (:mod:`man_series`).

Output goes to ``build/patches/man-pages/``: the series, ``rendered/`` (the
patched pages as a terminal shows them) and ``checks.txt``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rsslab import paths
from rsslab.claims import Verdict
from rsslab.repo.git import git, identity, ok
from rsslab.run import planner
from rsslab.run.session import Session
from rsslab.series import gitseries
from rsslab.series.manpages import base as man_base
from rsslab.series.manpages import evidence as man_evidence
from rsslab.series.manpages import lint as man_lint
from rsslab.series.manpages import message as man_message
from rsslab.series.manpages import series as man_series
from rsslab.series.manpages.base import Base
from rsslab.series.manpages.edit import EditFailed, apply_edits
from rsslab.series.manpages.evidence import ClaimCheck
from rsslab.series.manpages.lint import Finding
from rsslab.series.manpages.sidecar import Problem, check_patch
from rsslab.series.manpages.spec import ManPatch, Series, load_series

Notify = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Options:
    root: Path
    cache: Path
    man_tree: Path | None = None
    man_base: str = "HEAD"
    refresh_base: bool = False
    sign_as: str = ""
    only: tuple[str, ...] = ()
    measure: bool = True
    date: str = ""  # commit date (git's format); empty: now
    output: Path | None = None  # default: build/patches/man-pages

    @property
    def out_dir(self) -> Path:
        return self.output or paths.build_dir(self.root) / "patches" / "man-pages"


@dataclass(frozen=True, slots=True)
class Step:
    """One patch applied: the pages it changes, before and after."""

    patch: ManPatch
    before: Mapping[str, str]
    after: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Result:
    base: Base
    out_dir: Path
    files: tuple[Path, ...]
    subjects: tuple[str, ...]
    lint: tuple[Finding, ...]
    sidecar: tuple[Problem, ...]
    checks: tuple[ClaimCheck, ...]
    am_problem: str
    rendered: Mapping[str, Path] = field(default_factory=dict)
    not_measured: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        out = [f.show() for f in self.lint] + [p.show() for p in self.sidecar]
        out += [f"claim {c.claim} is {c.verdict.words} on {c.label}" for c in self.checks
                if c.runs and c.verdict is not Verdict.HOLDS]
        return out + ([self.am_problem] if self.am_problem else [])


def resolve_base(opts: Options) -> Base:
    if opts.man_tree is not None:
        return man_base.user_base(opts.man_tree, opts.man_base)
    return man_base.debian_base(opts.cache, opts.refresh_base)


def read_pages(base: Base, pages: Sequence[str]) -> dict[str, str]:
    out = {}
    for page in pages:
        if not ok(base.repo, ["cat-file", "-e", f"{base.commit}:{page}"]):
            raise EditFailed(f"{page}: the base ({base.describe}) has no such page; "
                             "man-pages 6.8 or later is needed")
        out[page] = git(base.repo, ["cat-file", "blob", f"{base.commit}:{page}"]) + "\n"
    return out


_FORMAT = re.compile(r"format\.(to|cc) '([^']+)'")


def _address(who: str) -> str:
    m = re.search(r"<([^<>]+)>", who)
    return (m[1] if m else who).strip().lower()


def recipients(base: Base, series: Series) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """To and Cc: the base tree's CONTRIBUTING.d/git (its ``format.to`` and
    ``format.cc``) when it has one, else series.toml's; the lists series.toml
    names are Cc'd in either case."""
    path = f"{base.commit}:CONTRIBUTING.d/git"
    text = git(base.repo, ["show", path]) if ok(base.repo, ["cat-file", "-e", path]) else ""
    found = _FORMAT.findall(text)
    to = tuple(v for k, v in found if k == "to") or series.to
    cc: dict[str, str] = {}
    for who in [*(v for k, v in found if k == "cc"), *series.cc]:
        if _address(who) not in {_address(t) for t in to}:
            cc.setdefault(_address(who), who.strip("<>") if who.startswith("<") else who)
    return to, tuple(cc.values())


def apply_series(series: Series, pages: Mapping[str, str]) -> list[Step]:
    steps, cur = [], dict(pages)
    for p in series.patches:
        new = apply_edits(cur, p.edits, p.name)
        steps.append(Step(p, {k: cur[k] for k in p.pages}, {k: new[k] for k in p.pages}))
        cur = new
    return steps


def all_claim_ids(series: Series) -> list[str]:
    return list(dict.fromkeys(c for p in series.patches for c in p.claim_ids()))


def measure_host(opts: Options, series: Series, notify: Notify) -> list[str]:
    """Run on the host what the series' claims and tables lack; return failures."""
    session = Session.here(opts.root)
    known = man_evidence.claim_map(session.root)
    features = session.host_features
    specs = man_evidence.needed_host_runs(all_claim_ids(series), known, features,
                                          session.ncpus,
                                          [m for p in series.patches for m in p.measures])
    _stored, todo = planner.host_todo(session.results_dir, specs, features)
    if not todo:
        return []
    notify(f"measuring {len(todo)} missing runs on the host")
    return man_evidence.measure_host(session, todo, features)


def _lint(steps: Sequence[Step]) -> list[Finding]:
    return [f for s in steps for page in s.patch.pages
            for f in man_lint.lint_page(page, s.before[page], s.after[page])]


def _render(steps: Sequence[Step], out_dir: Path) -> dict[str, Path]:
    final: dict[str, str] = {}
    for s in steps:
        final.update(s.after)
    rdir = out_dir / "rendered"
    rdir.mkdir(parents=True, exist_ok=True)
    for old in rdir.glob("*.txt"):
        old.unlink()
    out = {}
    for page, text in final.items():
        name = page.rsplit("/", 1)[-1]
        path = rdir / f"{name}.txt"
        path.write_text(man_lint.render(text, name))
        out[page] = path
    return out


def _cover_values(opts: Options, base: Base, series: Series, ctx: man_message.Context,
                  lint: Sequence[Finding]) -> dict[str, str]:
    ids = all_claim_ids(series)
    pages = sorted({p for s in series.patches for p in s.pages})
    names = ", ".join(p.rsplit("/", 1)[-1] for p in pages)
    lint_text = (f"mandoc -Tlint and groff -ww report nothing new on {names}; the pages "
                 "render within 80 columns, and no added source line breaks a sentence "
                 "in its middle." if not lint else f"{len(lint)} lint findings (checks.txt).")
    return {
        "base": f"{base.describe}, commit {base.commit[:12]}",
        "pages": ", ".join(pages),
        "checked": man_message.checked_block(ids, ctx),
        "lint": lint_text,
        "host": man_message.host_line(),
    }


def generate(opts: Options, notify: Notify = lambda _msg: None) -> Result:
    series = load_series(opts.root / "manpatches", opts.only)
    notify("resolving the man-pages base")
    base = resolve_base(opts)
    ident = identity(base.repo, opts.sign_as)
    failed = measure_host(opts, series, notify) if opts.measure else []
    known = man_evidence.claim_map(opts.root)
    kernels = man_evidence.kernels(opts.root)
    checks = man_evidence.checks(all_claim_ids(series), known, kernels)
    ctx = man_message.Context(tuple(kernels), known, tuple(checks))
    pages = read_pages(base, sorted({e.page for p in series.patches for e in p.edits}))
    steps = apply_series(series, pages)
    sidecar = [pr for s in steps for pr in check_patch(s.patch, s.before, s.after, set(known))]
    notify("linting the patched pages")
    lint = _lint(steps)
    notify("writing the commit messages")
    commits = [man_series.Commit(man_message.full_message(
        s.patch, man_message.render(s.patch, ctx), ident.show()), s.after) for s in steps]
    mail = man_series.Mail(*recipients(base, series), series.version)
    notify("committing and formatting the series")
    built = man_series.build(base, commits, ident, opts.date, mail, opts.out_dir)
    am_problem = man_series.am_check(base, built)
    if built.cover_letter is not None:
        blurb = man_message.cover(series.cover, _cover_values(opts, base, series, ctx, lint),
                                  series.directory / "cover.txt")
        gitseries.fill_cover(built.cover_letter, series.cover_subject, blurb)
    rendered = _render(steps, opts.out_dir)
    result = Result(base, opts.out_dir, built.files, tuple(p.subject for p in series.patches),
                    tuple(lint), tuple(sidecar), tuple(checks), am_problem, rendered,
                    tuple(failed))
    write_checks(result)
    return result


def write_checks(r: Result) -> Path:
    lines = [f"base: {r.base.describe} ({r.base.commit})", ""]
    lines += ["problems:", *(f"  {p}" for p in r.problems())] if r.problems() else ["problems: none"]
    lines += ["", "claims:"]
    lines += [f"  {c.claim} on {c.label}: {c.verdict.words}"
              + (f" ({c.detail.splitlines()[0]})" if c.detail else "") for c in r.checks]
    if r.not_measured:
        lines += ["", "not measured on the host:", *(f"  {m}" for m in r.not_measured)]
    path = r.out_dir / "checks.txt"
    path.write_text("\n".join(lines) + "\n")
    return path
