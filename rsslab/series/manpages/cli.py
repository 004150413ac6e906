"""The man-pages part of ``rsslab patches``: its options and its report.

``rsslab.cli`` adds these options to the ``patches`` command, calls
:func:`run`, and prints what it returns (only the CLI prints).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import RenderableType
from rich.table import Table

from rsslab import paths
from rsslab.series import options as patch_options
from rsslab.series.manpages import run as manpages

RENDER_PAGE = "man/man2/getrusage.2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("man-pages series")
    g.add_argument("--man-tree", type=Path, metavar="DIR",
                   help="a man-pages clone to base the series on (default: the newest "
                        "Debian man-pages release, imported into the cache)")
    g.add_argument("--man-base", default="HEAD", metavar="REF",
                   help="the commit of --man-tree to base the series on (default HEAD)")
    g.add_argument("--refresh-base", action="store_true",
                   help="ask Debian for a newer man-pages release than the cached one")
    g.add_argument("--man-patch", action="append", default=[], metavar="NAME",
                   help="only this patch of manpatches/ (repeatable)")
    g.add_argument("--no-measure", action="store_true",
                   help="do not run missing host measurements; use build/results as is")
    g.add_argument("--no-render", action="store_true",
                   help="do not print the rendered getrusage(2)")


def options(args: argparse.Namespace) -> manpages.Options:
    return manpages.Options(
        root=paths.project_root(), cache=paths.cache_dir(),
        man_tree=patch_options.user_tree(args.man_tree), man_base=args.man_base,
        refresh_base=args.refresh_base, sign_as=args.sign_as, only=tuple(args.man_patch),
        measure=not args.no_measure, date=patch_options.commit_date())


def _claims_table(r: manpages.Result) -> Table:
    labels = list(dict.fromkeys(c.label for c in r.checks))
    table = Table(title="claims behind the added sentences, per kernel with results")
    table.add_column("claim")
    for label in labels:
        table.add_column(label)
    for claim in dict.fromkeys(c.claim for c in r.checks):
        row = {c.label: f"[{c.verdict.colour}]{c.verdict.words}[/]" for c in r.checks
               if c.claim == claim}
        table.add_row(claim, *(row.get(label, "") for label in labels))
    return table


def report(r: manpages.Result, show_render: bool) -> list[RenderableType]:
    out: list[RenderableType] = []
    if show_render and RENDER_PAGE in r.rendered:
        out += [f"[bold]{RENDER_PAGE}, patched ({r.rendered[RENDER_PAGE]}):[/]",
                r.rendered[RENDER_PAGE].read_text()]
    out.append(_claims_table(r))
    out.append(f"[bold]man-pages series[/] on {r.base.describe} ({r.base.commit[:12]}):")
    out += [f"  {f}" for f in r.files]
    for m in r.not_measured:
        out.append(f"[yellow]not measured on the host: {m}[/]")
    problems = r.problems()
    if problems:
        out.append(f"[red]{len(problems)} problems (also in {r.out_dir / 'checks.txt'}):[/]")
        out += [f"[red]  {p}[/]" for p in problems]
    else:
        out.append("[green]checks: lint clean, every added sentence backed by claims, "
                   "every claim with runs holds, git am applies the series on the base[/]")
    return out


def run(args: argparse.Namespace,
        notify: Callable[[str], None]) -> tuple[int, list[RenderableType]]:
    result = manpages.generate(options(args), notify)
    return (1 if result.problems() else 0), report(result, not args.no_render)
