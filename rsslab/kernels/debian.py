"""Debian kernels by name: find the newest package, fetch it once, keep the image.

``5.10``: bullseye's (or bullseye-security's)
``linux-image-5.10.0-N-amd64-unsigned`` (per-thread split counters, as
Debian 11 runs them); ``6.1``: bookworm's
``linux-image-6.1.0-N-amd64-unsigned`` (per-thread split counters); ``6.12``: ``linux-image-6.12.N+deb12-amd64-unsigned`` (per-CPU
counters, exact /proc status); ``7``: trixie-backports'
``linux-binary-7.X.Y+deb13-amd64`` (the image; its config is in
``linux-base-7.X.Y+deb13-amd64``).

The index comes from a private apt configuration on the system's own
mirrors (``rsslab.debian.apt``).  The chosen version is pinned in
``<cache>/kernels/<name>.json``; later runs read the pin and touch no
network until asked to refresh.  apt checks each download against the
signed index; rsslab checks size and SHA-256 again before it extracts, and
everything lands in the cache under a temporary name first.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rsslab import atomic, locks
from rsslab.debian import apt
from rsslab.debian.apt import Package, PrivateApt, sha256_file
from rsslab.errors import KernelError
from rsslab.kernels import image

log = logging.getLogger(__name__)

EXTRACT_TIMEOUT_S = 300
PIN_SCHEMA = 1
Progress = apt.Progress  # (package, percent)


@dataclass(frozen=True, slots=True)
class Flavour:
    """How to find one named Debian kernel."""

    name: str
    suite: str
    package: re.Pattern[str]  # group "abi": the directory/ABI name
    config_package: str = ""  # "{abi}" is filled in; "" = config in the image package
    suites: tuple[str, ...] = ()  # the private configuration's; () = SUITES

    def apt_suites(self) -> tuple[str, ...]:
        return self.suites or SUITES

    def apt_dir(self, kdir: Path) -> Path:
        """Where its private apt configuration lives: one per suite set."""
        return kdir / ("apt" if not self.suites else f"apt-{self.suite}")


# The suites in the default private configuration: bookworm's and
# trixie-backports' flavours, plus security.
SUITES = ("bookworm", "bookworm-security", "trixie-backports")

FLAVOURS: Mapping[str, Flavour] = {
    f.name: f for f in (
        Flavour("5.10", "bullseye",
                re.compile(r"linux-image-(?P<abi>5\.10\.0-\d+-amd64)-unsigned"),
                suites=("bullseye", "bullseye-security")),
        Flavour("6.1", "bookworm",
                re.compile(r"linux-image-(?P<abi>6\.1\.0-\d+-amd64)-unsigned")),
        Flavour("6.12", "bookworm",
                re.compile(r"linux-image-(?P<abi>6\.12\.\d+\+deb12-amd64)-unsigned")),
        Flavour("7", "trixie-backports",
                re.compile(r"linux-binary-(?P<abi>7\.\d+\.\d+\+deb\d+-amd64)"),
                config_package="linux-base-{abi}"),
    )
}


def upstream(version: str) -> str:
    """``6.1.192-2`` -> ``6.1.192``; ``7.3.4-1~bpo13+1`` -> ``7.3.4``."""
    return re.split(r"[-~+]", version.split(":")[-1], maxsplit=1)[0]


@dataclass(frozen=True, slots=True)
class Pin:
    """What the cache holds for one name (``<cache>/kernels/<name>.json``)."""

    name: str
    package: str
    version: str
    upstream: str
    sha256: str  # of the .deb, as the index gives it
    image: str  # relative to the cache
    image_sha256: str
    config: str


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def newest(private: PrivateApt, flavour: Flavour) -> Package:
    prefix = flavour.package.pattern.split("(", 1)[0].replace("\\", "")
    names = [n for n in private.names(prefix) if flavour.package.fullmatch(n)]
    if not names:
        raise KernelError(f"no Debian package for kernel {flavour.name} "
                          f"({flavour.package.pattern}) in {flavour.suite}; "
                          "check the apt sources, or pass --kernel PATH")
    return max(private.versions(*names), key=lambda p: _version_key(p.version))


def extract(deb: Path, wanted: Callable[[str], bool], dest: Path) -> list[Path]:
    """Members of the .deb's data that ``wanted(name)`` picks, flat into dest.

    ``dpkg-deb --fsys-tarfile`` streams the data; reading stops once every
    picked member is out (Debian puts boot/ first)."""
    argv = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    log.info("%s", shlex.join(argv))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=dest)
    assert proc.stdout is not None
    got: list[Path] = []
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile() and wanted(member.name):
                    src = tar.extractfile(member)
                    assert src is not None
                    out = dest / Path(member.name).name
                    with out.open("wb") as f:
                        shutil.copyfileobj(src, f)
                    got.append(out)
    except tarfile.TarError as e:
        raise KernelError(f"{deb.name} is not a readable Debian package ({e}); "
                          "delete it and rerun") from None
    finally:
        proc.kill()
        proc.wait(timeout=EXTRACT_TIMEOUT_S)
    return got


def read_pin(cache: Path, name: str) -> Pin | None:
    """The pinned kernel, if its files are all there and intact."""
    path = cache / "kernels" / f"{name}.json"
    try:
        doc = json.loads(path.read_text())
        if doc.pop("schema", None) != PIN_SCHEMA:
            return None
        pin = Pin(**doc)
    except (OSError, ValueError, TypeError):
        return None
    img = cache / pin.image
    if not img.is_file() or not (cache / pin.config).is_file() or sha256_file(img) != pin.image_sha256:
        return None
    return pin


def _write_json(path: Path, doc: Mapping[str, object]) -> None:
    atomic.write_text(path, json.dumps(doc, indent=1) + "\n")


def _wanted(abi: str) -> Callable[[str], bool]:
    names = {f"./boot/vmlinuz-{abi}", f"./boot/config-{abi}",
             f"./usr/lib/modules/{abi}/vmlinuz", f"./usr/lib/modules/{abi}/config"}
    return lambda n: n in names or f"./{n.lstrip('./')}" in names


def _fetch(private: PrivateApt, pkgs: Sequence[Package], abi: str, out: Path,
           progress: Progress | None) -> tuple[Path, Path]:
    """Download the packages, take the image and config out as out/vmlinuz, out/config."""
    found: dict[str, Path] = {}
    for pkg in pkgs:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".deb-") as tmp:
            deb = private.download(pkg, Path(tmp), progress)
            for f in extract(deb, _wanted(abi), out):
                kind = "vmlinuz" if "vmlinuz" in f.name else "config"
                found[kind] = f.rename(out / kind)
    missing = [k for k in ("vmlinuz", "config") if k not in found]
    if missing:
        raise KernelError(f"no {' or '.join(missing)} for {abi} in "
                          f"{', '.join(p.name for p in pkgs)}; the package layout changed, "
                          "pass --kernel PATH instead")
    return found["vmlinuz"], found["config"]


def _packages(private: PrivateApt, flavour: Flavour) -> tuple[str, list[Package]]:
    pkg = newest(private, flavour)
    m = flavour.package.fullmatch(pkg.name)
    assert m is not None
    abi = m["abi"]
    pkgs = [pkg]
    if flavour.config_package:
        name = flavour.config_package.format(abi=abi)
        same = [p for p in private.versions(name) if p.version == pkg.version]
        if not same:
            raise KernelError(f"no {name} {pkg.version} beside {pkg.name}; rerun later "
                              "(the mirror may be syncing)")
        pkgs.append(same[0])
    return abi, pkgs


def provision(name: str, cache: Path, refresh: bool = False,
              progress: Progress | None = None) -> Pin:
    """The pinned kernel ``name``; fetched only when absent or on refresh."""
    flavour = FLAVOURS[name]
    pin = None if refresh else read_pin(cache, name)
    if pin:
        return pin
    kdir = cache / "kernels"
    with locks.locked(kdir / ".lock"):
        pin = None if refresh else read_pin(cache, name)
        if pin:
            return pin
        private = apt.private_apt(flavour.apt_dir(kdir), flavour.apt_suites(),
                                  "pass --kernel PATH")
        private.update()
        abi, pkgs = _packages(private, flavour)
        old = read_pin(cache, name)
        if old and (old.package, old.version) == (pkgs[0].name, pkgs[0].version):
            return old
        final = kdir / name / pkgs[0].version
        with tempfile.TemporaryDirectory(dir=kdir, prefix=f".{name}-") as tmp:
            out = Path(tmp) / "out"
            out.mkdir()
            vmlinuz, config = _fetch(private, pkgs, abi, out, progress)
            image.inspect(vmlinuz)
            if final.exists():
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            out.rename(final)
        pin = Pin(name, pkgs[0].name, pkgs[0].version, upstream(pkgs[0].version), pkgs[0].sha256,
                  str((final / "vmlinuz").relative_to(cache)), sha256_file(final / "vmlinuz"),
                  str((final / "config").relative_to(cache)))
        _write_json(kdir / f"{name}.json", {"schema": PIN_SCHEMA, **asdict(pin)})
        return pin
