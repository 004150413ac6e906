"""Fixture kernels: built for the matrix where no Debian archive has one.

``kernelpatches/fixtures.toml`` defines each (e.g. ``6.12-nosum``): a
Debian source package at the Debian version of a matrix kernel, with
fixture edits from ``kernelpatches/``, and the regimes that makes.  It is
built like the verification kernels (``kbuild``: tinyconfig + guest.config,
cached by tree, edits, config and compiler), so with a warm cache nothing
is built and nothing is fetched: the matrix kernel's pin, the source
import and the image are all read from the cache.
"""

from __future__ import annotations

from pathlib import Path

from rsslab.debian import sources
from rsslab.errors import BadInput
from rsslab.kernels import build as kbuild
from rsslab.kernels import debian
from rsslab.kernels.specs import FixtureSpec, load_fixtures


def names(root: Path) -> tuple[str, ...]:
    return tuple(f.name for f in load_fixtures(root))


def spec(root: Path, name: str) -> FixtureSpec:
    found = {f.name: f for f in load_fixtures(root)}
    if name not in found:
        raise BadInput(f"no fixture kernel '{name}' in kernelpatches/fixtures.toml; "
                       f"known: {', '.join(found) or 'none'}")
    return found[name]


def build(name: str, root: Path, cache: Path, refresh: bool = False,
          progress: kbuild.Progress | None = None) -> Path:
    """The image of fixture kernel ``name`` (its sidecar beside it), built once."""
    f = spec(root, name)
    pin = debian.provision(f.version_of, cache, refresh)
    tree = sources.debian_tree(cache, f.debian, f.suites, refresh, version=pin.version)
    built = kbuild.build(kbuild.BuildSpec(f.name, tree, f.patches, f.config_fragment(),
                                          f.regimes, f.without), cache, progress)
    return built.image
