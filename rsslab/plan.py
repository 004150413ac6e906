"""What to run: one observer invocation per RunSpec, the same on host and guest.

``observer_argv`` is the single place that turns a run into a command line,
so the host runner and the guest's /init run exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rsslab import scenarios
from rsslab.scenarios import Value


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One scenario with its parameters, measured through the observer."""

    scenario: str
    params: Mapping[str, Value] = field(default_factory=dict)
    cgroup: bool = False
    repeat: int = 1

    def key(self) -> tuple[str, tuple[tuple[str, str], ...], bool]:
        return self.scenario, tuple(sorted((k, str(v)) for k, v in self.params.items())), self.cgroup

    def resolved(self) -> RunSpec:
        """Defaults filled in and every value checked."""
        values = scenarios.get(self.scenario).resolve(self.params)
        return RunSpec(self.scenario, values, self.cgroup, self.repeat)

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.scenario} {args}".strip() + (" [cgroup]" if self.cgroup else "")


def observer_argv(spec: RunSpec, bin_dir: str, out: str,
                  cgroup_flag: str = "--cgroup") -> list[str]:
    """``observe [--cgroup] --report --out OUT -- BIN/scenario ARGS``; a
    cgroup run passes ``cgroup_flag`` (``--cgroup-if-available``: a kernel
    without a memory cgroup peak still runs the scenario)."""
    scenario = scenarios.get(spec.scenario)
    argv = [f"{bin_dir}/observe", "--report", "--out", out]
    if spec.cgroup:
        argv.append(cgroup_flag)
    return [*argv, "--", *scenario.argv(f"{bin_dir}/{spec.scenario}", spec.params)]


def merge(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """One spec per (scenario, params, cgroup), with the largest repeat count."""
    by_key: dict[tuple[str, tuple[tuple[str, str], ...], bool], RunSpec] = {}
    for s in specs:
        s = s.resolved()
        old = by_key.get(s.key())
        if old is None or s.repeat > old.repeat:
            by_key[s.key()] = s
    return list(by_key.values())
