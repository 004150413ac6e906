"""Commit messages and the cover letter of the man-pages series.

A patch's ``message.txt`` is a ``string.Template``.  What it can use:

- ``${demo}``: the patch's test program, how to build it, and its output
  on this machine, naming the kernel;
- ``${table_<measure>}``: each measurement of ``patch.toml`` on every
  kernel that has results, one row per kernel;
- ``${command_<name>}``: a command of ``patch.toml`` and its output here;
- ``${claims}``: each added sentence with the claim ids that back it;
- ``${checked}``: on which kernels those claims were checked, and how;
- ``${sources}``: the kernel commits and source the claims cite, in the
  man-pages form ``linux.git <12 hex> ("subject")``.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.scratch import scratch
from rsslab.claims import Claim, Verdict
from rsslab.errors import ToolMissing
from rsslab.repo.git import run
from rsslab.series.manpages import evidence as man_evidence
from rsslab.series.manpages.evidence import ClaimCheck, Kernel
from rsslab.series.manpages.spec import Command, ManPatch
from rsslab.series.template import fill, reflow, wrap

log = logging.getLogger(__name__)

DEMO_RUNS = 5
RUN_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a message can quote: kernels with results, claims, checks."""

    kernels: tuple[Kernel, ...]
    claims: Mapping[str, Claim]
    checks: tuple[ClaimCheck, ...]


def _indent(text: str, n: int = 4) -> str:
    return "\n".join((" " * n + line).rstrip() for line in text.rstrip("\n").split("\n"))


def _run(argv: list[str], cwd: Path) -> str:
    return run(argv, cwd, timeout=RUN_TIMEOUT_S).stdout


def _cc() -> str:
    for name in (os.environ.get("CC", ""), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    raise ToolMissing("no C compiler (cc) for the test programs; apt-get install gcc libc6-dev "
                      "(make patches installs it)")


def host_line() -> str:
    u = os.uname()
    return f"Linux {u.release}, {len(os.sched_getaffinity(0))} CPUs, {platform.machine()}"


def demo(patch: ManPatch) -> str:
    """The test program, its build command, and its output here."""
    if patch.demo is None:
        return ""
    src = patch.demo.read_text()
    stem = patch.demo.stem
    with scratch("rsslab-demo-") as tmp:
        work = Path(tmp)
        (work / patch.demo.name).write_text(src)
        _run([_cc(), "-Wall", "-Wextra", "-Werror", "-o", stem, patch.demo.name], work)
        runs = [_run([f"./{stem}", *patch.demo_args], work) for _ in range(DEMO_RUNS)]
    cmd = shlex.join([f"./{stem}", *patch.demo_args])
    shown = [f"$ cat {patch.demo.name}", src.rstrip("\n"),
             f"$ cc -Wall -o {stem} {patch.demo.name}", "$ uname -r; nproc",
             os.uname().release, str(len(os.sched_getaffinity(0)))]
    for out in runs:
        shown += [f"$ {cmd}", out.rstrip("\n")]
    return _indent("\n".join(shown))


def command(c: Command) -> str:
    argv = list(c.argv)
    if any("{libc}" in a for a in argv):
        libc = _run([_cc(), "-print-file-name=libc.so.6"], Path("/")).strip()
        libc = os.path.realpath(libc)
        argv = [a.replace("{libc}", libc) for a in argv]
    out = _run(argv, Path("/"))
    lines = [x for x in out.splitlines() if not c.grep or re.search(c.grep, x)]
    shown = shlex.join(argv) + (f" | grep {shlex.quote(c.grep)}" if c.grep else "")
    return _indent("\n".join([f"$ {shown}", *lines]))


def claims_block(patch: ManPatch) -> str:
    if not patch.sentences:
        return "No sentence in this patch states a new fact, so it cites no claim."
    out = ["Each sentence added is backed by these rsslab claims (claims/*.toml),",
           "checked against measurements on every kernel where they apply:", ""]
    for s in patch.sentences:
        quote = s.text if len(s.text) <= 64 else s.text[:61].rstrip() + "..."
        out.append(f'  "{quote}"')
        out += wrap(", ".join(s.claims), "      ", "      ")
    return "\n".join(out)


def sources_block(ids: Sequence[str], claims: Mapping[str, Claim]) -> str:
    """The commits the claims cite, then the kernel functions they read."""
    commits: dict[str, str] = {}
    code: dict[str, dict[str, None]] = {}
    versions: dict[str, None] = {}
    for cid in ids:
        for tag in claims[cid].tags if cid in claims else ():
            if tag.kind == "linux-git":
                commits.setdefault(tag.ref[:12], tag.note)
            elif tag.kind == "source" and ":" in tag.ref:
                path, _, rest = tag.ref.partition(":")
                func, _, version = rest.partition("@")
                code.setdefault(path, {})[f"{func}()"] = None
                versions[version.removeprefix("v")] = None
    lines = [f'    linux.git {h} ("{note}")' if note else f"    linux.git {h}"
             for h, note in commits.items()]
    if code:
        read = "; ".join(f"{path}: {', '.join(funcs)}" for path, funcs in code.items())
        vs = ", ".join(sorted(versions, key=lambda v: [int(x) for x in v.split(".") if x.isdigit()]))
        lines += ["", *wrap(f"Kernel source read ({vs}): {read}.", "    ", "    ")]
    return "\n".join(lines)


def checked_block(ids: Sequence[str], ctx: Context) -> str:
    """Per kernel with results: which of the claims hold, which did not, and
    which apply to none of them."""
    if not ctx.kernels:
        return "No measurements were found (build/results/ is empty)."
    out = []
    for k in ctx.kernels:
        mine = [c for c in ctx.checks if c.label == k.label and c.claim in ids]
        held = [c.claim for c in mine if c.verdict is Verdict.HOLDS]
        line = f"{k.describe()}: {len(held)} of these claims hold"
        for v in (Verdict.CONTRADICTED, Verdict.BROKEN, Verdict.UNDECIDED):
            named = [c.claim for c in mine if c.verdict is v and c.runs]
            if named:
                line += f", {len(named)} {v.words.upper()} ({', '.join(named)})"
        out += wrap(line + ".", "  - ", "    ")
    ran = {c.claim for c in ctx.checks if c.claim in ids and c.runs}
    untested = sorted({c.claim for c in ctx.checks if c.claim in ids} - ran)
    if untested:
        out += wrap("Not checked on the kernels above (they apply to other kernel "
                    "versions or lack runs): " + ", ".join(untested) + ".", "  - ", "    ")
    return "\n".join(out)


def render(patch: ManPatch, ctx: Context) -> str:
    """The body of ``patch``'s commit message (without subject and trailers)."""
    ids = patch.claim_ids()
    values: dict[str, str] = {
        "demo": demo(patch) if "${demo}" in patch.message else "",
        "claims": claims_block(patch),
        "checked": checked_block(ids, ctx),
        "sources": sources_block(ids, ctx.claims),
        "host": host_line(),
    }
    for m in patch.measures:
        values[f"table_{m.name}"] = man_evidence.table(m, ctx.kernels)
    for c in patch.commands:
        values[f"command_{c.name}"] = command(c)
    return fill(patch.message, values, patch.directory / "message.txt").strip("\n")


def full_message(patch: ManPatch, body: str, signoff: str) -> str:
    trailers = [*patch.trailers, f"Signed-off-by: {signoff}"]
    return f"{patch.subject}\n\n{body}\n\n" + "\n".join(trailers) + "\n"


def cover(text: str, values: Mapping[str, str], where: Path) -> str:
    return reflow(fill(text, values, where).strip("\n"))
