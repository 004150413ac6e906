"""Loading ``claims/*.toml`` into claims."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rsslab import metrics, scenarios, schema
from rsslab.claims import regimes as regimes_mod
from rsslab.claims import sizing
from rsslab.claims.formulas import DIRECTIONS, FORMULA_ARGS
from rsslab.claims.model import Claim, Tag, _sized
from rsslab.errors import UserError
from rsslab.plan import RunSpec
from rsslab.schema import Key, Table

_RUN = Table("run", {"scenario": Key(str, True), "params": Key(dict), "cgroup": Key(bool)})
_ARG = (int, str)


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
        "id": Key(str, True), "metric": Key(str), "metrics": Key(list),
        "says": Key(str, True), "reference": Key(text_or_list, True),
        "bound": Key(dict, True, table=_bound("bound")),
        "exceeds": Key(dict, table=_bound("exceeds")),
        "runs": Key(list, True, table=_RUN),
        "regimes": Key(list, choices=regime_ids), "unless": Key(list, choices=regime_ids),
        "min_cpus": Key(int), "inexact": Key(bool), "above": Key(bool),
        "floor_below_reference": Key(bool), "tags": Key(list), "repeat": Key(int),
    }, name_key="id")


_FILE = Table("claims file", {"claim": Key(list)})


def _check(raw: Mapping[str, Any], table: Table, where: str) -> None:
    schema.check(raw, table, where)
    here = f"{where}: claim {raw['id']}"
    if "metric" not in raw and "metrics" not in raw:
        raise schema.SchemaError(f"{here}: missing key 'metric' (or 'metrics'); add it")
    for key in ("bound", "exceeds"):
        if key in raw:
            _check_formula(raw[key], f"{here}: key '{key}'")
    known = set(scenarios.SCENARIOS)
    for run in raw["runs"]:
        if run["scenario"] not in known:
            raise schema.SchemaError(f"{here}: key 'runs': unknown scenario "
                                     f"'{run['scenario']}' (known: {', '.join(sorted(known))})")


def _check_formula(bound: Mapping[str, Any], here: str) -> None:
    takes = FORMULA_ARGS[bound["formula"]]
    for arg in bound:
        if arg != "formula" and arg not in takes:
            raise schema.SchemaError(
                f"{here}: formula {bound['formula']} takes no '{arg}' "
                f"(it takes: {', '.join(takes) or 'nothing'})")

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


