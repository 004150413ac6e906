"""A private apt configuration for Debian suites the system may not list.

Kernels, kernel sources and man-pages come from Debian suites this system
may not list (trixie-backports, sid, bookworm on a newer system).  The
mirrors are never written down here: they are read at run time from the
system's own apt sources (``/etc/apt/sources.list`` one-line entries and
``sources.list.d/*.sources`` deb822 stanzas).  The archive mirror is the
entry that lists the system's own suite (``VERSION_CODENAME`` of
``/etc/os-release``), the security mirror the one that lists its
``-security`` suite.

apt keeps the lists, its caches and the downloads of each private
configuration under a directory of the rsslab cache, and reads neither the
system's sources, preferences nor dpkg status, so the system's apt state is
never touched.  A download lands in a temporary directory first and is
renamed into place only once its size and SHA-256 match the signed index;
a file already in place with the right checksum is used without network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rsslab import steps
from rsslab.errors import AptError, ToolMissing

log = logging.getLogger(__name__)

UPDATE_TIMEOUT_S = 600
QUERY_TIMEOUT_S = 120
DOWNLOAD_TIMEOUT_S = 1800
SYSTEM_ETC = Path("/etc/apt")
OS_RELEASE = Path("/etc/os-release")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
Progress = Callable[[str, float], None]  # (package, percent)


# --- the system's sources ----------------------------------------------------

@dataclass(frozen=True, slots=True)
class Source:
    """One enabled ``deb`` entry of the system's apt sources."""

    uri: str
    suites: tuple[str, ...]
    signed_by: str = ""  # a keyring path; an inline key is not kept


def _keyring(value: str) -> str:
    return value if value.startswith("/") else ""


def parse_deb822(text: str) -> list[Source]:
    """The ``Types: deb`` stanzas of a ``.sources`` file."""
    out: list[Source] = []
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
        out += [Source(u, tuple(fields.get("suites", "").split()),
                       _keyring(fields.get("signed-by", "")))
                for u in fields.get("uris", "").split()]
    return out


def parse_one_line(text: str) -> list[Source]:
    """The ``deb [options] URI SUITE COMPONENT...`` lines of a ``.list`` file."""
    out: list[Source] = []
    for line in text.splitlines():
        m = re.match(r"\s*deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)",
                     line.split("#", 1)[0])
        if not m:
            continue
        signed = re.search(r"(?:^|\s)signed-by=(\S+)", m["opts"] or "")
        out.append(Source(m["uri"], (m["suite"],), _keyring(signed[1]) if signed else ""))
    return out


def system_sources(etc: Path = SYSTEM_ETC) -> list[Source]:
    """Every enabled ``deb`` entry of the system's apt configuration."""
    parts = etc / "sources.list.d"
    files = [etc / "sources.list"]
    if parts.is_dir():
        files += sorted(parts.glob("*.list")) + sorted(parts.glob("*.sources"))
    out: list[Source] = []
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        out += parse_deb822(text) if f.suffix == ".sources" else parse_one_line(text)
    return out


def codename(os_release: Path = OS_RELEASE) -> str:
    """The system's suite (``VERSION_CODENAME``), or "" when it has none."""
    try:
        text = os_release.read_text()
    except OSError:
        return ""
    m = re.search(r"^VERSION_CODENAME=\"?([^\"\n]*)\"?$", text, re.M)
    return m[1].strip() if m else ""


@dataclass(frozen=True, slots=True)
class Mirrors:
    archive: Source
    security: Source | None


def mirrors(sources: Sequence[Source], system_suite: str) -> Mirrors:
    """The system's Debian archive and security mirrors.

    The archive is the entry that lists ``system_suite``; without a suite
    to go by, the first entry with a plain suite name (``bookworm``)."""
    if system_suite:
        archive = next((s for s in sources if system_suite in s.suites), None)
        security = next((s for s in sources if f"{system_suite}-security" in s.suites), None)
    else:
        archive = next((s for s in sources if any(re.fullmatch(r"[a-z]+", x)
                                                  for x in s.suites)), None)
        security = next((s for s in sources if any(x.endswith("-security")
                                                    for x in s.suites)), None)
    if archive is None:
        raise AptError(f"no Debian archive for this system's suite '{system_suite or '?'}' in "
                       f"its apt sources ({SYSTEM_ETC}/sources.list, "
                       f"{SYSTEM_ETC}/sources.list.d/); add the Debian mirror there and rerun")
    return Mirrors(archive, security)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a private ``sources.list``: a suite on a mirror."""

    uri: str
    suite: str
    signed_by: str = ""


def sources_list(lines: Iterable[Entry]) -> str:
    """The one-line format apt reads, one suite a line."""
    return "".join(f"deb {f'[signed-by={e.signed_by}] ' if e.signed_by else ''}"
                   f"{e.uri} {e.suite} main\n" for e in lines)


def entries(suites: Iterable[str], found: Mirrors) -> tuple[Entry, ...]:
    """The suites on the system's mirrors: ``*-security`` on the security
    mirror, everything else on the archive.  An entry without a keyring
    of its own is checked against Debian's archive keyring."""
    default = str(KEYRING) if KEYRING.exists() else ""
    out = []
    for suite in suites:
        src = found.security if suite.endswith("-security") else found.archive
        if src is None:
            log.info("no security mirror in the system's apt sources: skipping %s", suite)
            continue
        out.append(Entry(src.uri, suite, src.signed_by or default))
    return tuple(out)


# --- packages --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Package:
    """One version of a package, as the signed index describes it."""

    name: str
    version: str
    architecture: str
    size: int
    sha256: str

    @property
    def deb_name(self) -> str:
        """The file name ``apt-get download`` gives it (an epoch's ':' as %3a)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"


def parse_show(text: str) -> list[Package]:
    """``apt-cache show`` stanzas -> packages (stanzas without a hash are skipped)."""
    out = []
    for stanza in re.split(r"\n\s*\n", text.strip()):
        f = {m[1]: m[2].strip() for m in re.finditer(r"^([A-Za-z0-9-]+):(.*)$", stanza, re.M)}
        if {"Package", "Version", "Size", "SHA256"} <= f.keys():
            out.append(Package(f["Package"], f["Version"], f.get("Architecture", "all"),
                               int(f["Size"]), f["SHA256"]))
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tail(text: str, lines: int = 2) -> str:
    problems = [x for x in text.splitlines() if x.startswith(("E:", "W:"))]
    return " | ".join(problems[:lines] or text.strip().splitlines()[-lines:])


# --- apt-get and apt-cache on a private configuration ---------------------

@dataclass(frozen=True, slots=True)
class PrivateApt:
    """``apt-get``/``apt-cache`` with their state under ``root``.

    ``instead`` ends every error: what the user can do without apt (e.g.
    "pass --kernel PATH")."""

    root: Path
    entries: tuple[Entry, ...]
    instead: str = ""

    def options(self) -> list[str]:
        opts = {
            "Dir::Etc::SourceList": str(self.root / "sources.list"),
            "Dir::Etc::SourceParts": "/dev/null",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": "/dev/null",
            "Dir::State::Lists": str(self.root / "lists"),
            "Dir::State::status": "/dev/null",
            "Dir::Cache": str(self.root / "cache"),
            "Acquire::Languages": "none",
            "Acquire::Retries": "0",
        }
        if os.geteuid() == 0:  # _apt could not write into root's cache
            opts["APT::Sandbox::User"] = "root"
        return [x for k, v in opts.items() for x in ("-o", f"{k}={v}")]

    def _fail(self, what: str) -> AptError:
        hint = f", or {self.instead}" if self.instead else ""
        return AptError(f"{what}; check the apt sources and the network{hint}")

    def _argv(self, tool: str, args: Sequence[str]) -> list[str]:
        if shutil.which(tool) is None:
            hint = f", or {self.instead}" if self.instead else ""
            raise ToolMissing(f"{tool} not found: rsslab fetches from Debian with apt{hint}")
        argv = [tool, "-q", *self.options(), *args]
        log.info("%s", shlex.join(argv))
        return argv

    def _call(self, tool: str, args: Sequence[str],
              timeout: int) -> subprocess.CompletedProcess[str]:
        argv = self._argv(tool, args)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  cwd=self.root)
        except subprocess.TimeoutExpired:
            raise self._fail(f"{tool} {' '.join(args[:2])} ran over {timeout} s") from None

    def run(self, tool: str, args: Sequence[str], timeout: int = QUERY_TIMEOUT_S) -> str:
        """Run apt-get or apt-cache; its stdout, or one line on failure."""
        proc = self._call(tool, args, timeout)
        if proc.returncode != 0:
            raise self._fail(f"{tool} {' '.join(args[:2])} failed: {_tail(proc.stderr)}")
        return proc.stdout

    def describe(self) -> str:
        return ", ".join(f"{e.suite} from {e.uri}" for e in self.entries)

    def update(self) -> None:
        """Write the private sources.list and fetch its indexes."""
        for d in ("lists/partial", "cache/archives/partial"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(sources_list(self.entries))
        with steps.step(f"update the package index of Debian {self.describe()}"):
            proc = self._call("apt-get", ["update"], UPDATE_TIMEOUT_S)
            lists = self.root / "lists"
            empty = [e.suite for e in self.entries
                     if not list(lists.glob(f"*_dists_{e.suite}_*Packages*"))]
            if proc.returncode != 0 or "\nE:" in "\n" + proc.stderr or empty:
                why = _tail(proc.stderr) or f"no package index for {', '.join(empty)}"
                raise self._fail(f"apt-get update of Debian {self.describe()} failed: {why}")

    def names(self, prefix: str) -> list[str]:
        """Package names that start with ``prefix``."""
        return self.run("apt-cache", ["pkgnames", prefix]).split()

    def versions(self, *names: str) -> list[Package]:
        """Every version of each name (``name=version`` for one version)."""
        return parse_show(self.run("apt-cache", ["show", *names]))

    def candidate(self, name: str) -> Package:
        """The version apt would install of ``name``."""
        found = parse_show(self.run("apt-cache", ["show", "--no-all-versions", name]))
        if not found:
            raise self._fail(f"Debian {self.describe()} has no package {name}")
        return found[0]

    def download(self, pkg: Package, dest: Path, progress: Progress | None = None) -> Path:
        """``pkg`` as ``dest/<deb_name>``, checked against the index's size and
        SHA-256.  Present and intact: no network.  A failed or damaged
        download leaves nothing in ``dest``."""
        dest.mkdir(parents=True, exist_ok=True)
        final = dest / pkg.deb_name
        if final.is_file() and final.stat().st_size == pkg.size \
                and sha256_file(final) == pkg.sha256:
            return final
        with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp, \
                steps.step(f"download {pkg.name} {pkg.version} ({steps.size(pkg.size)})"):
            got = self._fetch(pkg, Path(tmp), progress)
            size = got.stat().st_size
            if size != pkg.size or sha256_file(got) != pkg.sha256:
                raise AptError(f"{got.name}: {size} bytes, the index says {pkg.size} with "
                               f"SHA-256 {pkg.sha256[:16]}...; the download is damaged, rerun")
            os.replace(got, final)
        return final

    def _fetch(self, pkg: Package, tmp: Path, progress: Progress | None) -> Path:
        """``apt-get download`` into ``tmp``, reporting its progress."""
        argv = self._argv("apt-get", ["-o", "APT::Status-Fd=1", "download",
                                      f"{pkg.name}={pkg.version}"])
        proc = subprocess.Popen(argv, cwd=tmp, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(DOWNLOAD_TIMEOUT_S, kill)
        timer.start()
        lines: list[str] = []
        try:
            for line in proc.stdout:
                m = re.match(r"dlstatus:\d+:([\d.]+):", line)
                if m and progress:
                    progress(pkg.name, float(m[1]))
                elif not m:
                    lines = [*lines[-20:], line.rstrip()]
            proc.wait()
        finally:
            timer.cancel()
        if expired.is_set():
            raise self._fail(f"downloading {pkg.name} ran over {DOWNLOAD_TIMEOUT_S} s")
        if proc.returncode != 0:
            raise self._fail(f"apt-get download {pkg.name}={pkg.version} failed: "
                             f"{_tail(chr(10).join(lines))}")
        debs = list(tmp.glob("*.deb"))
        if len(debs) != 1:
            raise self._fail(f"apt-get download {pkg.name} left {len(debs)} .deb files")
        return debs[0]


def private_apt(root: Path, suites: Iterable[str], instead: str = "",
                etc: Path = SYSTEM_ETC, os_release: Path = OS_RELEASE) -> PrivateApt:
    """A private configuration at ``root`` for ``suites`` on the system's mirrors."""
    found = mirrors(system_sources(etc), codename(os_release))
    return PrivateApt(root, entries(suites, found), instead)
