"""The private apt configuration: the system's sources, the mirror choice,
the private sources.list, and downloads that are atomic and verified."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from rsslab.debian import apt
from rsslab.errors import AptError

DEB822 = """\
Types: deb
# a comment inside the stanza
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://off.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://inline.invalid/debian
Suites: trixie
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
"""

ONE_LINE = """\
# comment
deb-src http://src.invalid/d sid main
deb [arch=amd64 signed-by=/k.gpg] http://third.invalid/apt nodistro main # x
deb http://other.invalid/d bookworm main contrib
"""


def etc_with(tmp_path: Path, one_line: str = "", deb822: str = "") -> Path:
    etc = tmp_path / "etc"
    (etc / "sources.list.d").mkdir(parents=True)
    if one_line:
        (etc / "sources.list").write_text(one_line)
    if deb822:
        (etc / "sources.list.d" / "debian.sources").write_text(deb822)
    (etc / "sources.list.d" / "old.list.disabled").write_text("deb http://no.invalid/ x main\n")
    return etc


def test_both_source_formats_are_read(tmp_path: Path) -> None:
    found = apt.system_sources(etc_with(tmp_path, ONE_LINE, DEB822))
    assert found == [
        apt.Source("http://third.invalid/apt", ("nodistro",), "/k.gpg"),
        apt.Source("http://other.invalid/d", ("bookworm",)),
        apt.Source("http://mirror.invalid/debian", ("bookworm", "bookworm-updates"),
                   "/usr/share/keyrings/debian-archive-keyring.gpg"),
        apt.Source("http://mirror.invalid/debian-security", ("bookworm-security",)),
        apt.Source("http://inline.invalid/debian", ("trixie",)),  # inline key: not kept
    ]


def test_the_archive_is_the_entry_of_the_system_suite(tmp_path: Path) -> None:
    found = apt.system_sources(etc_with(tmp_path, deb822=DEB822))
    m = apt.mirrors(found, "bookworm")
    assert m.archive.uri == "http://mirror.invalid/debian"
    assert m.security is not None and m.security.uri == "http://mirror.invalid/debian-security"
    # A third-party entry listed first is never taken for Debian's archive.
    third = apt.system_sources(etc_with(tmp_path / "b", ONE_LINE))
    assert apt.mirrors(third, "bookworm").archive.uri == "http://other.invalid/d"
    # Without a system suite to go by: the first entry with a plain suite name.
    assert apt.mirrors(found, "").archive.uri == "http://mirror.invalid/debian"


def test_no_archive_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(AptError) as e:
        apt.mirrors(apt.system_sources(etc_with(tmp_path)), "bookworm")
    msg = str(e.value)
    assert "no Debian archive for this system's suite 'bookworm'" in msg and "\n" not in msg


def test_private_sources_list_uses_the_system_mirrors(tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text('PRETTY_NAME="Debian GNU/Linux 12"\nVERSION_CODENAME=bookworm\n')
    assert apt.codename(os_release) == "bookworm"
    assert apt.codename(tmp_path / "absent") == ""
    private = apt.private_apt(tmp_path / "apt", ["bookworm-security", "trixie-backports", "sid"],
                              etc=etc_with(tmp_path, deb822=DEB822), os_release=os_release)
    key = apt.KEYRING if apt.KEYRING.exists() else None
    opt = f"[signed-by={key}] " if key else ""
    assert apt.sources_list(private.entries).splitlines() == [
        f"deb {opt}http://mirror.invalid/debian-security bookworm-security main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.invalid/debian trixie-backports main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.invalid/debian sid main",
    ]


def test_show_records_and_file_names() -> None:
    pkgs = apt.parse_show(
        "Package: a\nVersion: 1:6.12.117-1~deb12u1\nArchitecture: amd64\nSize: 3\n"
        "SHA256: ab\nDescription: x\n more\n\nPackage: b\nVersion: 7.3.4-1~bpo13+1\n"
        "Architecture: all\nSize: 4\nSHA256: cd\n\nPackage: c\nVersion: 1\n")
    assert [(p.name, p.size, p.sha256) for p in pkgs] == [("a", 3, "ab"), ("b", 4, "cd")]
    assert [p.deb_name for p in pkgs] == ["a_1%3a6.12.117-1~deb12u1_amd64.deb",
                                          "b_7.3.4-1~bpo13+1_all.deb"]


def test_unreachable_mirror_is_one_clear_line(tmp_path: Path) -> None:
    private = apt.PrivateApt(tmp_path / "apt", (apt.Entry("http://127.0.0.1:9/debian", "sid"),),
                             "pass --man-tree")
    with pytest.raises(AptError) as e:
        private.update()
    msg = str(e.value)
    assert msg.startswith("apt-get update of Debian sid from http://127.0.0.1:9/debian failed")
    assert msg.endswith("or pass --man-tree") and "\n" not in msg


# --- downloads -------------------------------------------------------------

FAKE_APT = """#!/bin/sh
# apt-get download NAME=VERSION: writes FAKE_APT_BYTES, then exits FAKE_APT_EXIT.
for a in "$@"; do last="$a"; done
name="${last%%=*}"; version="${last#*=}"
echo "dlstatus:1:50.0:Retrieving file 1 of 1"
printf %s "$FAKE_APT_BYTES" > "${name}_${version}_all.deb"
exit "${FAKE_APT_EXIT:-0}"
"""
CONTENT = "x" * 1000


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> apt.PrivateApt:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text(FAKE_APT)
    (fake / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    return apt.PrivateApt(tmp_path / "apt", (apt.Entry("http://mirror.invalid/debian", "sid"),))


PKG = apt.Package("linux-source-9.9", "9.9.1-1", "all", len(CONTENT),
                  hashlib.sha256(CONTENT.encode()).hexdigest())


@pytest.mark.parametrize(("written", "status", "words"), [
    (CONTENT[:500], "0", "the download is damaged"),
    (CONTENT[:-1] + "y", "0", "the download is damaged"),
    (CONTENT[:500], "100", "apt-get download linux-source-9.9=9.9.1-1 failed"),
])
def test_a_failed_download_leaves_no_file(fake_apt: apt.PrivateApt, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, written: str,
                                          status: str, words: str) -> None:
    monkeypatch.setenv("FAKE_APT_BYTES", written)
    monkeypatch.setenv("FAKE_APT_EXIT", status)
    seen: list[float] = []
    with pytest.raises(AptError) as e:
        fake_apt.download(PKG, tmp_path / "debs", lambda _name, pct: seen.append(pct))
    assert words in str(e.value) and "\n" not in str(e.value)
    assert list((tmp_path / "debs").iterdir()) == []
    assert seen == [50.0]


def test_a_download_is_kept_and_a_cache_hit_runs_nothing(
        fake_apt: apt.PrivateApt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_APT_BYTES", CONTENT)
    got = fake_apt.download(PKG, tmp_path / "debs")
    assert got == tmp_path / "debs" / PKG.deb_name and got.read_text() == CONTENT
    assert [p.name for p in (tmp_path / "debs").iterdir()] == [PKG.deb_name]
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(subprocess, "Popen", None)
    assert fake_apt.download(PKG, tmp_path / "debs") == got
