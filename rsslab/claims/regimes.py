"""Which regimes a kernel is in: its upstream version, then a probe.

The version decides the candidates (``claims/regimes.toml``).  For
``split-rss`` the probe decides: SPLIT_RSS_COUNTING is compiled in only when
NR_CPUS >= CONFIG_SPLIT_PTLOCK_CPUS, so a pre-6.2 kernel may lack it.  The
probe runs ``touch pages=16`` and looks at VmRSS at the exit stop: with
split counters and fewer than 64 faults since execve, none of the 16 pages
has been folded into the mm yet (``check_sync_rss_stat()``).  A kernel may
also declare regimes its version cannot tell: added by a patch, or taken
away by a revert (``rsslab.kernels``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rsslab import kversion, schema
from rsslab.claims.formulas import TASK_RSS_EVENTS_THRESH
from rsslab.claims.model import Tag
from rsslab.errors import UserError
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.schema import Key, Table

PROBE_PAGES = 16
PROBE_RUN = RunSpec("touch", {"pages": PROBE_PAGES})


@dataclass(frozen=True, slots=True)
class Regime:
    id: str
    says: str
    ranges: tuple[tuple[str, str], ...]
    probe: str
    tags: tuple[Tag, ...]
    requires: tuple[str, ...] = ()  # regimes a kernel with this one has too

    def contains(self, v: kversion.Version) -> bool:
        return any(kversion.in_range(v, lo, hi) for lo, hi in self.ranges)


_REGIME = Table("regime", {
    "id": Key(str, True), "says": Key(str, True), "ranges": Key(list), "probe": Key(str),
    "tags": Key(list), "requires": Key(list),
}, name_key="id")
_FILE = Table("regimes file", {"regime": Key(list, True, table=_REGIME)})


def load(claims_dir: Path) -> tuple[Regime, ...]:
    path = claims_dir / "regimes.toml"
    try:
        doc = tomllib.loads(path.read_text())
        schema.check(doc, _FILE, f"{claims_dir.name}/{path.name}")
        return tuple(
            Regime(r["id"], " ".join(r["says"].split()),
                   tuple((lo, hi) for lo, hi in r.get("ranges", ())), r.get("probe", ""),
                   tuple(Tag(*t) for t in r.get("tags", ())), tuple(r.get("requires", ())))
            for r in doc["regime"]
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"regimes file {path} is invalid: {e}") from None


def by_version(regimes: Iterable[Regime], v: kversion.Version) -> frozenset[str]:
    return frozenset(r.id for r in regimes if r.contains(v))


def split_rss_seen(probe: Observation) -> bool:
    """Did the probe's VmRSS miss all of its freshly faulted pages?"""
    if probe.vmrss_kib is None or probe.smaps_rss_kib is None:
        raise UserError(f"the regime probe on {probe.kernel_release} read no VmRSS or "
                        "smaps_rollup; this kernel is too old for rsslab (needs >= 4.14)")
    if probe.faults_since_exec is not None and probe.faults_since_exec >= TASK_RSS_EVENTS_THRESH:
        return probe.vmrss_kib < probe.smaps_rss_kib
    return probe.smaps_rss_kib - probe.vmrss_kib >= PROBE_PAGES * probe.page_kib


def candidates(regimes: Iterable[Regime], v: kversion.Version, extra: Iterable[str] = (),
               without: Iterable[str] = ()) -> frozenset[str]:
    """Regimes by version and by declaration, before the probe."""
    return (by_version(regimes, v) | frozenset(extra)) - frozenset(without)


def features(regimes: Iterable[Regime], release: str, version: str,
             probe: Observation | None, extra: Iterable[str] = (),
             without: Iterable[str] = ()) -> frozenset[str]:
    """The kernel's regimes: version ranges, corrected by the probe, plus
    ``extra`` (what a patch applied to the kernel provides), less
    ``without`` (what a change reverted in it took away).  The probe never
    removes a regime that a declared one requires: a patch that folds the
    caches before the exit stop hides them from the probe, not from the
    kernel."""
    regs = tuple(regimes)
    found = set(candidates(regs, kversion.upstream(release, version), extra, without))
    vouched = {req for r in regs if r.id in set(extra) for req in r.requires}
    if ("split-rss" in found and "split-rss" not in vouched and probe is not None
            and not split_rss_seen(probe)):
        found.discard("split-rss")
    return frozenset(found)

