"""A private apt configuration that reaches Debian suites the system lacks.

The mirror is read at run time from the system's own apt sources (the entry
that serves this system's codename); nothing here names a registry host.
The private configuration lives in the cache and never touches the system's
lists, so ``apt-get update`` on it needs no lock of the system's state.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rsslab.errors import KernelError, ToolMissing

log = logging.getLogger(__name__)

APT_TIMEOUT_S = 900
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True, slots=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""


def _deb822(text: str) -> list[AptSource]:
    out: list[AptSource] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append(AptSource(uri, tuple(fields.get("suites", "").split()),
                                 tuple(fields.get("components", "").split()),
                                 fields.get("signed-by", "")))
    return out


def _one_line(text: str) -> list[AptSource]:
    out: list[AptSource] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        opts = ""
        if len(words) > 1 and words[1].startswith("["):
            end = next(i for i, w in enumerate(words) if w.endswith("]"))
            opts, words = " ".join(words[1:end + 1]), [words[0], *words[end + 1:]]
        m = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
        if len(words) >= 3:
            out.append(AptSource(words[1], (words[2],), tuple(words[3:]), m[1] if m else ""))
    return out


def system_sources(etc: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every enabled ``deb`` entry of the system's apt sources."""
    found: list[AptSource] = []
    main = etc / "sources.list"
    if main.is_file():
        found += _one_line(main.read_text())
    parts = etc / "sources.list.d"
    for path in sorted(parts.glob("*.list")) if parts.is_dir() else []:
        found += _one_line(path.read_text())
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        found += _deb822(path.read_text())
    return found


def codename(os_release: Path = Path("/etc/os-release")) -> str:
    for line in os_release.read_text().splitlines() if os_release.is_file() else []:
        if line.startswith("VERSION_CODENAME="):
            return line.partition("=")[2].strip().strip('"')
    return ""


def debian_mirror(sources: list[AptSource], system_codename: str) -> AptSource:
    """The system's entry that serves its own codename (the main archive)."""
    for s in sources:
        if system_codename and system_codename in s.suites:
            return s
    raise KernelError(
        f"no apt source serves this system's suite '{system_codename or '?'}'; "
        "add the Debian archive to /etc/apt/sources.list and rerun")


@dataclass(frozen=True, slots=True)
class PrivateApt:
    """apt-get/apt-cache with their own sources, lists and archive cache."""

    root: Path
    lines: tuple[str, ...]

    def _opts(self) -> list[str]:
        return ["-o", f"Dir::Etc::SourceList={self.root / 'sources.list'}",
                "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={self.root / 'lists'}",
                "-o", f"Dir::Cache={self.root / 'cache'}",
                "-o", "Acquire::Languages=none",
                "-o", "APT::Get::List-Cleanup=0"]

    def _run(self, tool: str, args: list[str], cwd: Path) -> str:
        exe = shutil.which(tool)
        if exe is None:
            raise ToolMissing(f"{tool} not found; rsslab needs Debian's apt to fetch kernel sources")
        argv = [exe, *self._opts(), *args]
        log.info("%s", shlex.join(argv))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                                  timeout=APT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise KernelError(f"{tool} {args[0]} ran over {APT_TIMEOUT_S} s; "
                              "check the network and rerun") from None
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise KernelError(f"{tool} {' '.join(args)} failed: {tail}")
        return proc.stdout

    def update(self) -> None:
        for d in ("lists/partial", "cache/archives/partial"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text("\n".join(self.lines) + "\n")
        self._run("apt-get", ["update", "-q"], self.root)

    def newest(self, prefix: str) -> str:
        """The highest-versioned package whose name starts with ``prefix``."""
        names = [n for n in self._run("apt-cache", ["pkgnames", prefix], self.root).split()
                 if re.fullmatch(re.escape(prefix) + r"[0-9.]+", n)]
        if not names:
            raise KernelError(f"no package {prefix}* in {', '.join(self.lines)}")
        return max(names, key=lambda n: tuple(int(x) for x in n[len(prefix):].split(".") if x))

    def candidate(self, package: str) -> str:
        out = self._run("apt-cache", ["policy", package], self.root)
        m = re.search(r"Candidate:\s*(\S+)", out)
        if not m or m[1] == "(none)":
            raise KernelError(f"apt has no candidate for {package}")
        return m[1]

    def download(self, package: str, dest: Path) -> Path:
        """``apt-get download`` (hash-checked by apt) into a scratch dir, then
        renamed into ``dest``: a failure leaves no half file behind."""
        dest.mkdir(parents=True, exist_ok=True)
        scratch = dest / ".partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        try:
            self._run("apt-get", ["download", "-q", package], scratch)
            debs = list(scratch.glob("*.deb"))
            if len(debs) != 1:
                raise KernelError(f"apt-get download {package} left {len(debs)} files")
            final = dest / debs[0].name
            debs[0].replace(final)
            return final
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def private_apt(root: Path, extra_suites: tuple[str, ...]) -> PrivateApt:
    """The system's Debian entries for its codename (and -updates, -security)
    plus ``extra_suites`` on the same mirror."""
    name = codename()
    sources = system_sources()
    mirror = debian_mirror(sources, name)
    lines = []
    for s in sources:
        ours = [x for x in s.suites if x == name or x.startswith(name + "-")]
        lines += [source_line(s, suite) for suite in ours]
    lines += [source_line(mirror, suite) for suite in extra_suites]
    return PrivateApt(root, tuple(lines))


def source_line(s: AptSource, suite: str) -> str:
    """One-line format: one suite per line."""
    key = s.signed_by or DEFAULT_KEYRING
    return f"deb [signed-by={key}] {s.uri} {suite} {' '.join(s.components or ('main',))}"
