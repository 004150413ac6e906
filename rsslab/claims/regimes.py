"""Which regimes a kernel is in: its upstream version, then a probe.

The version decides the candidates (``claims/regimes.toml``).  A probe
corrects two of them, from one run of ``touch pages=16`` (a single thread
writes 16 fresh pages and exits):

- ``split-rss``: SPLIT_RSS_COUNTING is compiled in only when NR_CPUS >=
  CONFIG_SPLIT_PTLOCK_CPUS, so a pre-6.2 kernel may lack it.  With split
  counters and fewer than 66 faults since execve, none of the 16 pages has
  been folded into the mm yet at the exit stop (``check_sync_rss_stat()``),
  so VmRSS misses them.
- ``status-sum`` or ``status-approx``: a backport of 82241a83cd15 can reach
  any stable or distribution kernel, at any version.  On per-CPU kernels
  ``/proc/PID/stat``'s rss reads only the folded part of the counters
  (``get_mm_rss()``), and a CPU folds its share only once it reaches the
  batch (at least 32 pages), so the run's 16 pages are in no folded part
  unless earlier faults brought that CPU's share near the batch.  Where
  stat's rss falls short of smaps_rollup, VmRSS and statm either equal
  smaps_rollup (they sum) or equal stat's rss (they do not).  Where
  nothing was left unfolded, or the readings fit neither, the version
  decides.

A kernel may also declare regimes its version cannot tell: added by a
patch, or taken away by a revert (``rsslab.kernels``); a declared regime
is never overruled by the probe.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rsslab import kversion, schema
from rsslab.claims.formulas import TASK_RSS_EVENTS_THRESH
from rsslab.claims.model import Tag, tag_problem
from rsslab.errors import UserError
from rsslab.plan import RunSpec
from rsslab.results import Observation
from rsslab.schema import Key, Table

PROBE_PAGES = 16
PROBE_RUN = RunSpec("touch", {"pages": PROBE_PAGES})
# The regimes the status probe chooses between.
STATUS_SUM, STATUS_APPROX = "status-sum", "status-approx"


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
    "tags": Key(list, check=tag_problem), "requires": Key(list),
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


def status_sum_seen(probe: Observation) -> bool | None:
    """Do /proc/PID/status and statm sum the per-CPU counters?  None where
    the probe cannot tell: nothing was unfolded at the exit stop (stat's
    rss, the folded part, equals smaps_rollup), or the readings fit
    neither answer."""
    vmrss, statm = probe.vmrss_kib, probe.statm_rss_kib
    folded, exact = probe.stat_rss_kib, probe.smaps_rss_kib
    if vmrss is None or folded is None or exact is None or folded == exact:
        return None
    if vmrss == exact and statm in (None, exact):
        return True
    if vmrss == folded and statm in (None, folded):
        return False
    return None


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
    kernel.  On a per-CPU kernel the probe chooses between status-sum and
    status-approx unless the kernel declares either; where it cannot tell,
    the version's stays."""
    regs = tuple(regimes)
    found = set(candidates(regs, kversion.upstream(release, version), extra, without))
    vouched = {req for r in regs if r.id in set(extra) for req in r.requires}
    if ("split-rss" in found and "split-rss" not in vouched and probe is not None
            and not split_rss_seen(probe)):
        found.discard("split-rss")
    status = {STATUS_SUM, STATUS_APPROX}
    if "percpu-rss" in found and probe is not None and not status & {*extra, *without}:
        sums = status_sum_seen(probe)
        if sums is not None:
            found = (found - status) | {STATUS_SUM if sums else STATUS_APPROX}
    return frozenset(found)

