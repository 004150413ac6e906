"""The private apt configuration reads the mirror from the system's sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsslab.errors import KernelError
from rsslab.patches import apt


def test_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /k.gpg\n\nTypes: deb-src\nURIs: http://src.example/\n"
        "Suites: bookworm\nComponents: main\n")
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64 signed-by=/s.gpg] http://sec.example/debian-security "
        "bookworm-security main\n")
    found = apt.system_sources(tmp_path)
    assert [(s.uri, s.suites, s.signed_by) for s in found] == [
        ("http://sec.example/debian-security", ("bookworm-security",), "/s.gpg"),
        ("http://mirror.example/debian", ("bookworm", "bookworm-updates"), "/k.gpg")]
    mirror = apt.debian_mirror(found, "bookworm")
    assert mirror.uri == "http://mirror.example/debian"
    line = apt.source_line(mirror, "trixie-backports")
    assert line == "deb [signed-by=/k.gpg] http://mirror.example/debian trixie-backports main"


def test_no_source_for_the_codename_is_one_clear_error() -> None:
    with pytest.raises(KernelError) as excinfo:
        apt.debian_mirror([], "bookworm")
    assert "no apt source serves this system's suite 'bookworm'" in str(excinfo.value)
