"""The documented behaviour of each kernel regime, as data, and its check.

A claim (``claims/*.toml``) says how one metric relates to an exact
reference on the kernels of some regimes, with a bound derived from the
mechanism.  ``formulas`` holds the mechanism's bounds, ``model`` the claim,
``load`` reads the TOML files (strictly), ``verdict`` names the outcomes
(holds, undecided, unavailable, broken, contradicted), ``assess`` checks
observed runs against a claim, ``sizing`` sizes its runs per CPU count,
``regimes`` says which kernels a claim speaks of, ``limits`` gives each
metric's bound on one kernel for ``measure`` and ``doctor``, and ``store``
keeps each result set's verdicts beside it.
"""

from rsslab.claims.formulas import (
                                    FAULT_AROUND_BYTES,
                                    FLOOR_ALLOWANCE_KIB,
                                    INF,
                                    PERCPU_MIN_BATCH,
                                    RSS_COUNTERS,
                                    TASK_RSS_EVENTS_THRESH,
                                    Interval,
                                    events_per_sync,
                                    fault_around_pages,
                                    floor_allowance_pages,
                                    interval,
                                    one_cpu_residue,
                                    percpu_batch,
                                    percpu_residue,
                                    thread_cache,
)
from rsslab.claims.assess import (
                                    Assessment,
                                    Check,
                                    assess,
                                    assess_all,
                                    assess_results,
                                    plan,
                                    reference_value,
                                    unavailable_of,
)
from rsslab.claims.load import load, short_metric
from rsslab.claims.store import save_verdicts, verdicts_of
from rsslab.claims.model import Claim, Tag, size_names
from rsslab.claims.verdict import Verdict, worst
from rsslab.errors import UserError

__all__ = [
    "FAULT_AROUND_BYTES", "FLOOR_ALLOWANCE_KIB", "INF", "PERCPU_MIN_BATCH", "RSS_COUNTERS",
    "TASK_RSS_EVENTS_THRESH", "Assessment", "Check", "Claim", "Interval", "Tag", "UserError",
    "Verdict", "assess", "assess_all", "assess_results", "events_per_sync",
    "fault_around_pages", "floor_allowance_pages", "interval", "load", "one_cpu_residue",
    "percpu_batch", "percpu_residue", "plan", "reference_value", "save_verdicts",
    "short_metric", "size_names", "thread_cache", "unavailable_of", "verdicts_of", "worst",
]
