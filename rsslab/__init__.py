"""rsslab: reproduce, measure and fix Linux's approximate RSS counters."""

from __future__ import annotations

# Nothing is imported here at run time (typing neither): a SIGINT that comes
# while the interpreter loads this package finds no module of rsslab's half
# loaded (rsslab.cli.main says it in one line from then on).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rsslab.judges.measure import Measurement, Measurer, measure
__version__ = "0.1.0"
__all__ = ["Measurement", "Measurer", "__version__", "measure"]

# The judges' API, ``rsslab.measure(argv) -> Measurement``, is loaded on
# first use so that ``import rsslab`` stays cheap.
_API = frozenset({"Measurement", "Measurer", "measure"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from rsslab.judges import measure as measurement
        return getattr(measurement, name)
    raise AttributeError(f"module 'rsslab' has no attribute {name!r}")
