"""A kernel's build configuration (``boot/config-*``), and what it implies
for RSS counting before the probe has run."""

from __future__ import annotations

import re
from pathlib import Path

from rsslab.errors import KernelError

_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$", re.M)


def read(path: Path) -> dict[str, str]:
    """``CONFIG_X=value`` lines; options that are not set are absent."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise KernelError(f"cannot read kernel config {path}: {e.strerror}") from None
    return {m[1]: m[2].strip('"') for m in _LINE.finditer(text)}


def split_rss_counting(config: dict[str, str]) -> bool | None:
    """Would a pre-6.2 kernel with this config count RSS per thread?

    include/linux/mm_types_task.h (v6.1): SPLIT_RSS_COUNTING is defined when
    USE_SPLIT_PTE_PTLOCKS and CONFIG_MMU; USE_SPLIT_PTE_PTLOCKS is
    ``NR_CPUS >= CONFIG_SPLIT_PTLOCK_CPUS``.  None when the config lacks
    the options.
    """
    try:
        nr_cpus = int(config["CONFIG_NR_CPUS"])
        threshold = int(config["CONFIG_SPLIT_PTLOCK_CPUS"])
    except (KeyError, ValueError):
        return None
    return config.get("CONFIG_MMU") == "y" and nr_cpus >= threshold
