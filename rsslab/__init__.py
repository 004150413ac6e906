"""rsslab: reproduce, measure and fix Linux's approximate RSS counters."""

__version__ = "0.1.0"
