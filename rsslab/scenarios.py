"""The reproducers as data: their parameters, argv and standard input.

A scenario's name is the stem of its C file in ``repro/``; each parameter has
a type, a range and a default, so bad values are refused before anything
runs.  Sweeps (``pages=0:300:10`` or ``pages=1,2,3``) expand to one run per
value.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from rsslab import paths
from rsslab.errors import BadInput, UserError

Value = int | str
Params = Mapping[str, Value]

MAX_SWEEP_POINTS = 10_000
MIB_PAGES_4K = 256


def _int(values: Params, name: str) -> int:
    v = values.get(name, 0)
    return v if isinstance(v, int) else 0


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    help: str
    default: Value
    minimum: int = 0
    maximum: int = 0
    choices: tuple[str, ...] = ()

    def parse(self, text: str, scenario: str) -> Value:
        """One value from the command line, checked against range or choices."""
        if self.choices:
            if text not in self.choices:
                raise BadInput(
                    f"{scenario}: {self.name} must be one of {', '.join(self.choices)}, "
                    f"not '{text}'"
                )
            return text
        try:
            value = int(text, 10)
        except ValueError:
            raise BadInput(
                f"{scenario}: {self.name} must be an integer in "
                f"[{self.minimum}, {self.maximum}], not '{text}'"
            ) from None
        self.check(value, scenario)
        return value

    def check(self, value: Value, scenario: str) -> None:
        if self.choices:
            if value not in self.choices:
                raise BadInput(f"{scenario}: {self.name} must be one of {', '.join(self.choices)}")
            return
        if not isinstance(value, int) or not self.minimum <= value <= self.maximum:
            raise BadInput(
                f"{scenario}: {self.name}={value} is out of range "
                f"[{self.minimum}, {self.maximum}]"
            )


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    params: tuple[Param, ...]
    stdin_kib_param: str = ""  # the parameter giving the size of generated stdin
    needs_report: bool = True
    defaults_note: str = field(default="")
    # The most memory one run takes, in pages, from its parameters and the
    # CPUs it runs on (a QEMU guest is given room for it).
    footprint: Callable[[Params, int], int] = field(default=lambda _p, _n: 0)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise BadInput(f"{self.name} has no parameter '{name}' (its parameters: {known})")

    def resolve(self, given: Params) -> dict[str, Value]:
        """Defaults filled in, every value checked, in declaration order."""
        for name in given:
            self.param(name)
        values: dict[str, Value] = {}
        for p in self.params:
            value = given.get(p.name, p.default)
            p.check(value, self.name)
            values[p.name] = value
        return values

    def pages(self, values: Params, ncpus: int) -> int:
        """The most pages one run with these values faults (or its parent holds)."""
        return int(self.footprint(values, ncpus))

    def argv(self, binary: str, values: Params) -> list[str]:
        return [binary, *(str(values[p.name]) for p in self.params if p.name != self.stdin_kib_param)]

    def stdin_bytes(self, values: Params) -> bytes | None:
        """The judge's input for ``seed``: English text of the given size."""
        if not self.stdin_kib_param:
            return None
        size = int(values[self.stdin_kib_param]) * 1024
        line = b"The red cat sat on the mat. Why are you so sad cat? Don't ask that.\n"
        return (line * (size // len(line) + 1))[:size]


_PARAM_LINE = re.compile(r"^RSSLAB_PARAM\((\w+), (\w+), (\d+), (\d+), (\d+)\)$", re.M)


@functools.cache
def ranges() -> Mapping[tuple[str, str], tuple[int, int, int]]:
    """(scenario, parameter) -> (minimum, maximum, default), from
    ``repro/params.h``, the one place the reproducers' ranges are written."""
    path = paths.project_root() / "repro" / "params.h"
    try:
        text = path.read_text()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}; reinstall rsslab") from None
    return {(m[1], m[2]): (int(m[3]), int(m[4]), int(m[5]))
            for m in _PARAM_LINE.finditer(text)}


def _num(scenario: str, name: str, help: str) -> Param:
    """An integer parameter with its range and default from params.h."""
    try:
        lo, hi, default = ranges()[(scenario, name)]
    except KeyError:
        raise UserError(f"repro/params.h has no RSSLAB_PARAM({scenario}, {name}, ...)") from None
    return Param(name, help, default, lo, hi)


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        s.name: s
        for s in (
            Scenario(
                "seed",
                "the judge's program: reads stdin into a 128 KiB heap buffer, counts s/t",
                (_num("seed", "input_kib", "size of the input on stdin, KiB"),),
                stdin_kib_param="input_kib",
            ),
            Scenario("touch", "writes one byte into each of PAGES anonymous pages", (_num("touch", "pages", "fresh pages to fault"),),
                     footprint=lambda v, _n: _int(v, "pages")),
            Scenario(
                "threads",
                "THREADS threads each write PAGES fresh pages and exit",
                (
                    _num("threads", "threads", "threads to start"),
                    _num("threads", "pages", "pages each thread faults"),
                    Param("mode", "one after another, or all at once", "serial",
                          choices=("serial", "parallel")),
                ),
                footprint=lambda v, _n: _int(v, "threads") * (_int(v, "pages") + 16),
            ),
            Scenario("peak_then_free", "touches PAGES pages, unmaps them, exits",
                     (_num("peak_then_free", "pages", "fresh pages to fault"),),
                     footprint=lambda v, _n: _int(v, "pages")),
            Scenario(
                "file_faultaround",
                "read-faults every page of a PAGES-page file mapping",
                (_num("file_faultaround", "pages", "pages of the file to read"),),
                footprint=lambda v, _n: _int(v, "pages"),
            ),
            Scenario(
                "cpu_spread",
                "one thread pinned to each online CPU faults PAGES pages",
                (_num("cpu_spread", "pages", "pages each CPU's thread faults"),),
                footprint=lambda v, n: n * (_int(v, "pages") + 16),
            ),
            Scenario(
                "big_parent",
                "a PARENT_MIB parent starts a tiny child (fork+exec, vfork, posix_spawn, launcher)",
                (
                    _num("big_parent", "parent_mib", "the parent's resident size, MiB"),
                    Param("mode", "how the child is started", "fork_exec",
                          choices=("fork_exec", "vfork", "posix_spawn", "launcher")),
                ),
                footprint=lambda v, _n: _int(v, "parent_mib") * MIB_PAGES_4K,
            ),
            Scenario(
                "getrusage_self",
                "touches PAGES pages and reads its own getrusage(RUSAGE_SELF)",
                (_num("getrusage_self", "pages", "fresh pages to fault"),),
                footprint=lambda v, _n: _int(v, "pages"),
            ),
            Scenario(
                "packet_ring",
                "maps a PAGES-page AF_PACKET receive ring: vm_insert_page(), no fault "
                "(needs root)",
                (_num("packet_ring", "pages", "pages of the ring"),),
            ),
            Scenario(
                "cow_other_unmaps",
                "WRITERS threads copy-on-write PAGES file pages each and stay alive; "
                "the main thread unmaps them and reads its own status",
                (
                    _num("cow_other_unmaps", "writers", "threads that write and stay alive"),
                    _num("cow_other_unmaps", "pages", "file pages each writer writes"),
                ),
            ),
            Scenario(
                "threads_exit_group",
                "THREADS threads fault PAGES pages each and are still alive, held off "
                "their CPU, at exit_group() (needs 2 CPUs and root)",
                (
                    _num("threads_exit_group", "threads", "threads alive at exit_group()"),
                    _num("threads_exit_group", "pages", "pages each thread faults"),
                ),
            ),
            Scenario(
                "vm_sizes",
                "maps PAGES untouched pages and reads VmData, VmStk and VmExe next to "
                "the same sizes from its mappings",
                (_num("vm_sizes", "pages", "private writable pages to map"),),
            ),
            Scenario(
                "shmem_touch",
                "writes one byte into each of PAGES shared shmem pages and reads its own "
                "status and statm",
                (_num("shmem_touch", "pages", "shmem pages to write"),),
            ),
            Scenario(
                "live_writers_free",
                "WRITERS threads write PAGES pages each and stay alive while the main "
                "thread writes FREE pages and unmaps them (a freed peak)",
                (
                    _num("live_writers_free", "writers", "threads that write and stay alive"),
                    _num("live_writers_free", "pages", "pages each writer writes"),
                    _num("live_writers_free", "free", "pages the main thread writes and unmaps"),
                ),
            ),
            Scenario(
                "leader_exits_first",
                "the main thread exits first; then a thread (or a clone(CLONE_VM) child) "
                "writes PAGES pages",
                (
                    _num("leader_exits_first", "pages", "pages written after the leader exits"),
                    Param("mode", "who writes: a thread, or a clone(CLONE_VM) child",
                          "thread", choices=("thread", "clone_vm")),
                ),
                footprint=lambda v, _n: _int(v, "pages"),
            ),
            Scenario(
                "tree_hold",
                "a parent holds PARENT_PAGES pages while its child (fork+exec) holds "
                "CHILD_PAGES",
                (
                    _num("tree_hold", "parent_pages", "pages the parent writes"),
                    _num("tree_hold", "child_pages", "pages the child writes"),
                ),
                footprint=lambda v, _n: _int(v, "parent_pages") + _int(v, "child_pages"),
            ),
        )
    }
)


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise BadInput(
            f"unknown scenario '{name}'; choose from: {', '.join(SCENARIOS)}"
        ) from None


def _expand(text: str, param: Param, scenario: str) -> list[Value]:
    """``a:b:step`` (inclusive), ``a,b,c`` or a single value."""
    if ":" in text and not param.choices:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise BadInput(f"{scenario}: sweep '{text}' must be START:STOP[:STEP]")
        start, stop = (param.parse(p, scenario) for p in parts[:2])
        step = int(param.parse(parts[2], scenario)) if len(parts) == 3 else 1
        assert isinstance(start, int) and isinstance(stop, int)
        if step <= 0 or stop < start:
            raise BadInput(f"{scenario}: sweep '{text}' needs START <= STOP and STEP > 0")
        if (stop - start) // step + 1 > MAX_SWEEP_POINTS:
            raise BadInput(f"{scenario}: sweep '{text}' has over {MAX_SWEEP_POINTS} points")
        return list(range(start, stop + 1, step))
    return [param.parse(v, scenario) for v in text.split(",") if v] or [
        param.parse(text, scenario)
    ]


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings from ``--param``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise BadInput(f"--param '{item}' must look like NAME=VALUE (e.g. pages=100)")
        out[name.strip()] = value.strip()
    return out


def expand(scenario: Scenario, assignments: Mapping[str, str]) -> list[dict[str, Value]]:
    """Every combination of the swept values, defaults for the rest."""
    names = [p.name for p in scenario.params]
    choices = [
        _expand(assignments[n], scenario.param(n), scenario.name)
        if n in assignments
        else [scenario.param(n).default]
        for n in names
    ]
    return [scenario.resolve(dict(zip(names, combo))) for combo in itertools.product(*choices)]
