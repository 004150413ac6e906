"""A private apt configuration for one Debian suite the system does not list.

The mirror is read at run time from the system's own apt sources (through
``apt-cache policy``, so apt parses both source formats); nothing here names
a host.  Lists and downloads live in a directory of our cache, and the
system's sources, preferences and dpkg status are left out, so the system's
apt state is neither read for candidates nor written.
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
from dataclasses import dataclass
from pathlib import Path

from rsslab.errors import ToolMissing, UserError

log = logging.getLogger(__name__)

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
UPDATE_TIMEOUT_S = 300
DOWNLOAD_TIMEOUT_S = 600

_POLICY_SOURCE = re.compile(r"^\s*-?\d+\s+(\S+)\s+(\S+?)/(\S+)\s+\S+\s+Packages\s*$")


class AptFailed(UserError):
    """apt-get could not reach or read the suite."""


@dataclass(frozen=True, slots=True)
class DebPackage:
    name: str
    version: str
    filename: str
    sha256: str
    size: int

    @property
    def deb_name(self) -> str:
        return Path(self.filename).name


def _run(argv: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    log.info("%s", shlex.join(argv))
    if shutil.which(argv[0]) is None:
        raise ToolMissing(f"{argv[0]} is not installed; the Debian base needs apt "
                          "(or pass --man-tree with a man-pages clone)")
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AptFailed(f"`{shlex.join(argv[:2])} ...` ran over {timeout} s; "
                        "check the network, or pass --man-tree") from None


def parse_policy_mirror(policy: str) -> str:
    """The URI of the first plain Debian archive in ``apt-cache policy`` output.

    A source line (``500 URI SUITE/COMPONENT ARCH Packages``) is followed by
    its ``release`` line; the archive is Debian's own when it says
    ``o=Debian`` and ``l=Debian`` (the security archive says
    ``l=Debian-Security`` and has no sid).
    """
    lines = policy.splitlines()
    for i, line in enumerate(lines[:-1]):
        m = _POLICY_SOURCE.match(line)
        if not m:
            continue
        release = dict(kv.split("=", 1) for kv in lines[i + 1].strip().removeprefix("release ")
                       .split(",") if "=" in kv)
        if release.get("o") == "Debian" and release.get("l") == "Debian":
            return m[1].rstrip("/")
    raise UserError("the system's apt sources list no Debian archive to take a mirror from; "
                    "add one to /etc/apt/sources.list.d/, or pass --man-tree with a "
                    "man-pages clone")


def system_mirror(workdir: Path) -> str:
    proc = _run(["apt-cache", "policy"], workdir, 60)
    if proc.returncode != 0:
        raise AptFailed(f"apt-cache policy failed: {proc.stderr.strip()[-200:]}")
    return parse_policy_mirror(proc.stdout)


def parse_stanza(text: str) -> dict[str, str]:
    """The first ``Key: value`` stanza of ``apt-cache show`` output."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        if line[0] in " \t" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True, slots=True)
class PrivateApt:
    """``apt-get``/``apt-cache`` confined to ``root`` and one suite."""

    root: Path
    mirror: str
    suite: str

    def _options(self) -> list[str]:
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
        if os.geteuid() == 0:
            opts["APT::Sandbox::User"] = "root"
        return [x for k, v in opts.items() for x in ("-o", f"{k}={v}")]

    def update(self) -> None:
        if not KEYRING.exists():
            raise ToolMissing(f"{KEYRING} is missing; apt-get install debian-archive-keyring")
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(
            f"deb [signed-by={KEYRING}] {self.mirror} {self.suite} main\n")
        proc = _run(["apt-get", *self._options(), "-q", "update"], self.root, UPDATE_TIMEOUT_S)
        lists = list((self.root / "lists").glob(f"*_dists_{self.suite}_*Packages*"))
        if proc.returncode != 0 or "\nE:" in "\n" + proc.stderr or not lists:
            problems = [x for x in proc.stderr.splitlines() if x.startswith(("E:", "W:"))]
            tail = " | ".join(problems[:2] or proc.stderr.strip().splitlines()[-2:])
            raise AptFailed(f"apt-get update of Debian {self.suite} from {self.mirror} failed: "
                            f"{tail}; check the network, or pass --man-tree")

    def show(self, name: str) -> DebPackage:
        """The candidate version of ``name`` in the suite."""
        proc = _run(["apt-cache", *self._options(), "show", "--no-all-versions", name],
                    self.root, 60)
        fields = parse_stanza(proc.stdout)
        try:
            return DebPackage(name, fields["Version"], fields["Filename"], fields["SHA256"],
                              int(fields["Size"]))
        except (KeyError, ValueError):
            raise AptFailed(f"Debian {self.suite} has no package {name} "
                            f"({proc.stderr.strip()[-120:] or 'no record'})") from None

    def download(self, pkg: DebPackage, dest: Path) -> Path:
        """``pkg`` into ``dest``, checked against the index's size and SHA-256.

        A failed or corrupt download leaves nothing behind in ``dest``.
        """
        dest.mkdir(parents=True, exist_ok=True)
        final = dest / pkg.deb_name
        if final.exists() and _sha256(final) == pkg.sha256:
            return final
        with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
            proc = _run(["apt-get", *self._options(), "-q", "download",
                         f"{pkg.name}={pkg.version}"], Path(tmp), DOWNLOAD_TIMEOUT_S)
            got = Path(tmp) / pkg.deb_name
            if proc.returncode != 0 or not got.exists():
                tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
                raise AptFailed(f"apt-get download {pkg.name}={pkg.version} failed: {tail}")
            if got.stat().st_size != pkg.size or _sha256(got) != pkg.sha256:
                raise AptFailed(f"{pkg.deb_name} does not match the size and SHA-256 of the "
                                "Debian index; rerun to download it again")
            os.replace(got, final)
        return final


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
