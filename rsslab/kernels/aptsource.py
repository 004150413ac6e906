"""A private apt configuration for Debian suites the system may not list.

The mirror is never written down here: it is read at run time from the
system's own apt sources (``/etc/apt/sources.list`` one-line entries and
``/etc/apt/sources.list.d/*.sources`` deb822 stanzas).  The archive mirror
is the entry that lists a plain suite (``bookworm``), the security mirror
the one that lists a ``*-security`` suite.  apt keeps its lists and
downloads for this configuration under the rsslab cache, so the system's
apt state is never touched.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab.errors import KernelError, ToolMissing

log = logging.getLogger(__name__)

APT_TIMEOUT_S = 600
SYSTEM_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


@dataclass(frozen=True, slots=True)
class Source:
    uri: str
    suites: tuple[str, ...]
    signed_by: str = ""


def _deb822(text: str) -> list[Source]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        signed = fields.get("signed-by", "")
        signed = signed if signed.startswith("/") else ""
        out += [Source(u, tuple(fields.get("suites", "").split()), signed)
                for u in fields.get("uris", "").split()]
    return out


def _one_line(text: str) -> list[Source]:
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "deb":
            continue
        signed = ""
        if words[1].startswith("["):
            opts = []
            while words and not words[1].endswith("]"):
                opts.append(words.pop(1))
            opts.append(words.pop(1))
            m = re.search(r"signed-by=(\S+?)\]?$", " ".join(opts))
            signed = m[1] if m and m[1].startswith("/") else ""
        if len(words) >= 3:
            out.append(Source(words[1], (words[2],), signed))
    return out


def system_sources(paths: Sequence[Path] = SYSTEM_SOURCES) -> list[Source]:
    """Every enabled ``deb`` entry of the system's apt configuration."""
    out: list[Source] = []
    for p in paths:
        files = sorted(p.glob("*.list")) + sorted(p.glob("*.sources")) if p.is_dir() else [p]
        for f in files:
            try:
                text = f.read_text()
            except OSError:
                continue
            out += _deb822(text) if f.suffix == ".sources" else _one_line(text)
    return out


def _pick(sources: Iterable[Source], security: bool) -> Source | None:
    for s in sources:
        for suite in s.suites:
            if suite.endswith("-security") == security and re.fullmatch(r"[a-z]+(-[a-z]+)?", suite):
                return s
    return None


def mirrors(sources: Sequence[Source]) -> tuple[Source, Source | None]:
    """The archive mirror and the security mirror (if any) of the system."""
    main = _pick(sources, security=False)
    if main is None:
        raise KernelError("no Debian archive in the system's apt sources "
                          "(/etc/apt/sources.list, /etc/apt/sources.list.d/*.sources); "
                          "add the Debian mirror there and rerun")
    return main, _pick(sources, security=True)


def sources_list(suites: Iterable[str], sources: Sequence[Source]) -> str:
    """One-line entries for the suites, on the system's own mirrors."""
    main, security = mirrors(sources)
    lines = []
    for suite in suites:
        src = security if suite.endswith("-security") and security else main
        opt = f"[signed-by={src.signed_by}] " if src.signed_by else ""
        lines.append(f"deb {opt}{src.uri} {suite} main")
    return "".join(line + "\n" for line in lines)


@dataclass(frozen=True, slots=True)
class PrivateApt:
    """apt-get and apt-cache with their state under ``root``."""

    root: Path

    def options(self) -> list[str]:
        return ["-o", f"Dir::Etc::SourceList={self.root / 'sources.list'}",
                "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={self.root / 'lists'}",
                "-o", f"Dir::Cache={self.root / 'cache'}",
                "-o", "APT::Sandbox::User=root"]

    def configure(self, suites: Iterable[str], sources: Sequence[Source]) -> None:
        for d in ("lists/partial", "cache/archives/partial"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(sources_list(suites, sources))

    def run(self, tool: str, args: Sequence[str], cwd: Path | None = None) -> str:
        argv = [tool, "-q", *self.options(), *args]
        log.info("%s", shlex.join(argv))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=APT_TIMEOUT_S,
                                  cwd=cwd or self.root)
        except FileNotFoundError:
            raise ToolMissing(f"{tool} not found; rsslab fetches Debian kernels with apt, "
                              "run it on Debian or pass --kernel PATH") from None
        except subprocess.TimeoutExpired:
            raise KernelError(f"{tool} {' '.join(args[:2])} ran over {APT_TIMEOUT_S} s; "
                              "check the network and rerun") from None
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise KernelError(f"{tool} {' '.join(args[:2])} failed: {tail}; check the apt "
                              "sources and the network, then rerun")
        return proc.stdout

    def update(self) -> None:
        self.run("apt-get", ["update"])
