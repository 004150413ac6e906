"""Each series' verification kernels, by name, for the matrix.

``make patches`` builds two kernels per series of ``kernelpatches/series.toml``
(``make tinyconfig`` + the fragments, cached by ``kbuild``): its tree at
the base, and with the series applied.  The matrix boots them by name:
``--kernel linux-6.12.y`` is the patched kernel of the linux-6.12.y series
(its sidecar declares the regime the series provides), ``--kernel
linux-6.12.y-base`` the same tree unpatched.  A warm cache builds and
fetches nothing.
"""

from __future__ import annotations

from pathlib import Path

from rsslab.debian import sources
from rsslab.errors import BadInput
from rsslab.kernels import build as kbuild
from rsslab.kernels.specs import SeriesSpec, load_series

BASE_SUFFIX = "-base"


def base_spec(s: SeriesSpec, tree: sources.Tree) -> kbuild.BuildSpec:
    return kbuild.BuildSpec(f"{s.name}{BASE_SUFFIX}", tree, (), s.config_fragment())


def patched_spec(s: SeriesSpec, tree: sources.Tree) -> kbuild.BuildSpec:
    return kbuild.BuildSpec(f"{s.name}-{s.regime}", tree, s.patches, s.config_fragment(),
                            (s.regime,))


def names(root: Path) -> tuple[str, ...]:
    """``linux-6.12.y`` (patched) and ``linux-6.12.y-base`` for every series."""
    return tuple(n for s in load_series(root) for n in (s.name, f"{s.name}{BASE_SUFFIX}"))


def build(name: str, root: Path, cache: Path, refresh: bool = False,
          progress: kbuild.Progress | None = None) -> Path:
    """The image of the series kernel ``name`` (its sidecar beside it), on
    the series' Debian tree, built once."""
    found = {s.name: s for s in load_series(root)}
    series_name = name.removesuffix(BASE_SUFFIX)
    s = found.get(series_name)
    if s is None:
        raise BadInput(f"no series '{series_name}' in kernelpatches/series.toml; "
                       f"known: {', '.join(found)}")
    tree = sources.debian_tree(cache, s.debian, s.suites, refresh)
    spec = base_spec(s, tree) if name.endswith(BASE_SUFFIX) else patched_spec(s, tree)
    return kbuild.build(spec, cache, progress).image
