"""Loading ``claims/*.toml`` into claims.

Values are checked, not only keys: metric and reference names against the
catalogue (``rsslab.metrics``), run parameters against their scenario
(a number is written as a number; a string is a size formula, see
``sizing``), formula arguments against their ranges and the runs'
parameters, and tags against their shapes (``model.TAG_SHAPES``).  Each
mistake stops the load with one line naming the file, the claim and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rsslab import metrics, scenarios, schema
from rsslab.claims import regimes as regimes_mod
from rsslab.claims import sizing
from rsslab.claims.formulas import DIRECTIONS, FORMULA_ARGS
from rsslab.claims.model import Claim, Tag, _sized, tag_problem
from rsslab.errors import UserError
from rsslab.plan import RunSpec
from rsslab.schema import Key, Table

_RUN = Table("run", {"scenario": Key(str, True), "params": Key(dict), "cgroup": Key(bool)})
_ARG = (int, str)
# Formula arguments that must be at least 1 (any other integer, at least 0).
_ARG_MINIMUM = {"counters": 1, "threads": 1}
# What a string may give for a formula argument: whether the name of an
# integer parameter of every run, and the formula's own words.  The
# arguments not listed here take a number or any string.
_ARG_STRINGS: Mapping[str, tuple[bool, tuple[str, ...]]] = {
    "counters": (False, ()), "plus_threads": (False, ()), "threads": (True, ()),
    "inserted": (True, ()), "faulted": (True, ("seed_buffer",)),
    "pages_per_fault": (False, ("fault_around",)),
}
# A reference: a metric, or a sum of metrics ``a_kib + b_kib - c_kib``.
_REFERENCE = re.compile(r"\s*[A-Za-z_]\w*(\s*[+-]\s*[A-Za-z_]\w*)*\s*")


def _reference_problem(expr: Any) -> str:
    """What is wrong with a reference (a metric or a sum of them), or ""."""
    if not _REFERENCE.fullmatch(str(expr)):
        return (f"'{expr}' is neither a metric nor a sum of metrics like "
                "'smaps_rss_kib - smaps_anon_kib'; fix it")
    return next((p for n in re.findall(r"[A-Za-z_]\w*", str(expr))
                 if (p := metrics.unknown(n))), "")


def _bound(what: str) -> Table:
    """A bound (or ``exceeds``) table: a formula and the union of the formulas'
    arguments; ``_check_formula`` then refuses arguments the formula does not read."""
    args = {a for names in FORMULA_ARGS.values() for a in names}
    keys = {a: Key(_ARG) for a in args}
    keys.update(formula=Key(str, True, tuple(FORMULA_ARGS)), direction=Key(str, False, DIRECTIONS))
    return Table(what, keys)


def claim_table(regime_ids: tuple[str, ...]) -> Table:
    """The shape of one ``[[claim]]``; regimes must be ones regimes.toml names."""
    text_or_list = (str, list)
    return Table("claim", {
        "id": Key(str, True), "metric": Key(str, check=metrics.unknown),
        "metrics": Key(list, check=metrics.unknown),
        "says": Key(str, True), "reference": Key(text_or_list, True, check=_reference_problem),
        "bound": Key(dict, True, table=_bound("bound")),
        "exceeds": Key(dict, table=_bound("exceeds")),
        "runs": Key(list, True, table=_RUN),
        "regimes": Key(list, choices=regime_ids), "unless": Key(list, choices=regime_ids),
        "min_cpus": Key(int, minimum=1), "inexact": Key(bool), "above": Key(bool),
        "floor_below_reference": Key(bool), "tags": Key(list, check=tag_problem),
        "repeat": Key(int, minimum=1),
    }, name_key="id")


_FILE = Table("claims file", {"claim": Key(list)})


def _check(raw: Mapping[str, Any], table: Table, where: str) -> None:
    schema.check(raw, table, where)
    here = f"{where}: claim {raw['id']}"
    if "metric" not in raw and "metrics" not in raw:
        raise schema.SchemaError(f"{here}: missing key 'metric' (or 'metrics'); add it")
    known = set(scenarios.SCENARIOS)
    for run in raw["runs"]:
        if run["scenario"] not in known:
            raise schema.SchemaError(f"{here}: key 'runs': unknown scenario "
                                     f"'{run['scenario']}' (known: {', '.join(sorted(known))})")
        for name, value in run.get("params", {}).items():
            problem = _param_problem(run["scenario"], name, value)
            if problem:
                raise schema.SchemaError(f"{here}: key 'runs': {run['scenario']}: {problem}")
    for key in ("bound", "exceeds"):
        if key in raw:
            _check_formula(raw[key], raw["runs"], f"{here}: key '{key}'")


def _param_problem(scenario: str, name: str, value: Any) -> str:
    """What is wrong with the type of a run parameter, or "": a number is
    written as a number, a string only as a size formula (``sizing``)."""
    try:
        param = scenarios.get(scenario).param(name)
    except UserError as e:
        return str(e)
    if param.choices:
        return "" if isinstance(value, str) else (
            f"{name} = {_toml(value)} is not one of {', '.join(param.choices)}; write one "
            "in quotes")
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return f'{name} = "{value}" is a string; write a number: {name} = {value.strip()}'
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return (f"{name} = {_toml(value)} is not an integer; write one, e.g. "
                f"{name} = {param.default}")
    return ""


def _toml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _check_formula(bound: Mapping[str, Any], runs: Sequence[Mapping[str, Any]],
                   here: str) -> None:
    takes = FORMULA_ARGS[bound["formula"]]
    for arg, value in bound.items():
        if arg in ("formula", "direction"):
            continue
        if arg not in takes:
            raise schema.SchemaError(
                f"{here}: formula {bound['formula']} takes no '{arg}' "
                f"(it takes: {', '.join(takes) or 'nothing'})")
        problem = _arg_problem(arg, value, runs)
        if problem:
            raise schema.SchemaError(f"{here}: {problem}")


def _arg_problem(arg: str, value: Any, runs: Sequence[Mapping[str, Any]]) -> str:
    """What is wrong with a formula argument's value, or ""."""
    if isinstance(value, int):
        least = _ARG_MINIMUM.get(arg, 0)
        return "" if value >= least else f"{arg} = {value}; write a number of at least {least}"
    if arg not in _ARG_STRINGS:
        return ""
    param, words = _ARG_STRINGS[arg]
    if value in words or (param and all(_int_param(r["scenario"], value) for r in runs)):
        return ""
    could = ["a number", *(f"'{w}'" for w in words)]
    if param:
        could.append(f"the name of an integer parameter of {_scenarios(runs)}")
    return f"{arg} = '{value}' is not {' or '.join(could)}; write one"


def _scenarios(runs: Sequence[Mapping[str, Any]]) -> str:
    return " and ".join(dict.fromkeys(str(r["scenario"]) for r in runs))


def _int_param(scenario: str, name: str) -> bool:
    return any(p.name == name and not p.choices for p in scenarios.get(scenario).params)


def short_metric(metric: str) -> str:
    """The word a claim id uses for the metric (the catalogue's)."""
    return metrics.short(metric)


def _tags(raw: Sequence[Sequence[str]]) -> tuple[Tag, ...]:
    return tuple(Tag(*t) for t in raw)


def _runs(raw: Sequence[Mapping[str, Any]], repeat: int, where: str) -> tuple[RunSpec, ...]:
    """The runs as written; sizes given as formulas are checked here and
    evaluated per kernel (``Claim.runs_at``)."""
    out = []
    for r in raw:
        spec = RunSpec(r["scenario"], dict(r.get("params", {})), bool(r.get("cgroup", False)),
                       repeat)
        try:
            sized = [k for k in spec.params if _sized(spec, k)]
            for name in sized:
                sizing.check(str(spec.params[name]))
            fixed = {k: v for k, v in spec.params.items() if k not in sized}
            RunSpec(spec.scenario, fixed, spec.cgroup).resolved()  # names and values checked
        except UserError as e:
            raise UserError(f"{where}: {e}") from None
        out.append(spec)
    return tuple(out)


def _expand(raw: Mapping[str, Any], source: str, default_repeat: int) -> list[Claim]:
    metrics = raw.get("metrics") or [raw["metric"]]
    if len(metrics) > 1 and "{metric}" not in raw["id"]:
        raise UserError(f"{source}: claim {raw['id']} lists several metrics, its id needs {{metric}}")
    runs = _runs(raw["runs"], int(raw.get("repeat", default_repeat)), f"{source}: {raw['id']}")
    refs = raw["reference"]
    return [
        Claim(
            id=raw["id"].replace("{metric}", short_metric(m)),
            says=" ".join(raw["says"].split()),
            metric=m,
            reference=tuple(refs if isinstance(refs, list) else [refs]),
            bound=dict(raw["bound"]),
            runs=runs,
            regimes=tuple(raw.get("regimes", ())),
            unless=tuple(raw.get("unless", ())),
            min_cpus=int(raw.get("min_cpus", 1)),
            inexact=bool(raw.get("inexact", False)),
            above=bool(raw.get("above", False)),
            exceeds=dict(raw.get("exceeds", {})),
            floor_below_reference=bool(raw.get("floor_below_reference", False)),
            tags=_tags(raw.get("tags", ())),
            source=source,
        )
        for m in metrics
    ]


def load(claims_dir: Path, default_repeat: int = 5) -> list[Claim]:
    """Every claim in ``claims/*.toml`` except the regimes file."""
    out: list[Claim] = []
    table = claim_table(tuple(r.id for r in regimes_mod.load(claims_dir)))
    for path in sorted(claims_dir.glob("*.toml")):
        if path.name == "regimes.toml":
            continue
        where = f"{claims_dir.name}/{path.name}"
        try:
            doc = tomllib.loads(path.read_text())
            schema.check(doc, _FILE, where)
            for raw in doc.get("claim", []):
                _check(raw, table, where)
                out.extend(_expand(raw, path.name, default_repeat))
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
            raise UserError(f"claims file {path} is invalid: {e}") from None
    ids = [c.id for c in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise UserError(f"duplicate claim ids: {', '.join(sorted(dup))}")
    return out


