"""Strict shapes for the project's TOML data (claims, regimes, kernel and
man-pages patches).

Every loader checks its document against a ``Table`` before reading it: an
unknown key, a value of the wrong type, a value outside its choices or
below its minimum, a value its key's own check refuses (a metric name the
catalogue lacks, a commit id that is not 40 hex digits) or a missing key is
refused with one line that names the file, the entry (claim id, patch or
series name) and the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rsslab.errors import UserError


class SchemaError(UserError):
    """A data file that does not have the documented shape."""


_TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
               dict: "a table", float: "a number"}


@dataclass(frozen=True)
class Key:
    """One key of a table: its type(s), whether it must be there, the values
    it may take (for a list, each item), the shape of a sub-table (for a
    list, of each item), the least an integer may be, and a check of each
    value (for a list, each item) that says what is wrong and what to write
    instead, or ""."""

    kind: type | tuple[type, ...]
    required: bool = False
    choices: Sequence[str] = ()
    table: Table | None = None
    minimum: int | None = None
    check: Callable[[Any], str] | None = None


@dataclass(frozen=True)
class Table:
    what: str  # what one entry is called: "claim", "patch", "edit"
    keys: Mapping[str, Key] = field(default_factory=dict)
    name_key: str = ""  # the key whose value names an entry in messages


def check(doc: Mapping[str, Any], table: Table, where: str) -> None:
    """Refuse ``doc`` (read from ``where``) unless it has ``table``'s shape."""
    here = _where(doc, table, where)
    for key in doc:
        if key not in table.keys:
            known = ", ".join(sorted(table.keys))
            raise SchemaError(f"{here}: unknown key '{key}' (known: {known}); fix or remove it")
    for key, spec in table.keys.items():
        if key not in doc:
            if spec.required:
                raise SchemaError(f"{here}: missing key '{key}'; add it")
            continue
        _value(doc[key], spec, f"{here}: key '{key}'", where)


def _where(doc: Mapping[str, Any], table: Table, where: str) -> str:
    name = doc.get(table.name_key) if table.name_key else None
    return f"{where}: {table.what} {name}" if isinstance(name, str) else where


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _value(value: Any, spec: Key, here: str, where: str) -> None:
    kinds = _types(spec.kind)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        want = " or ".join(_TYPE_WORDS.get(k, k.__name__) for k in kinds)
        raise SchemaError(f"{here} is {value!r}, not {want}")
    items = value if isinstance(value, list) else [value]
    for item in items:
        if spec.choices and isinstance(item, str) and item not in spec.choices:
            raise SchemaError(f"{here}: '{item}' is not one of {', '.join(spec.choices)}")
        if (spec.minimum is not None and isinstance(item, int) and not isinstance(item, bool)
                and item < spec.minimum):
            raise SchemaError(f"{here} is {item}; write a number of at least {spec.minimum}")
        problem = spec.check(item) if spec.check is not None else ""
        if problem:
            raise SchemaError(f"{here}: {problem}")
        if spec.table is not None:
            if not isinstance(item, dict):
                raise SchemaError(f"{here}: {item!r} is not a table")
            check(item, spec.table, where if spec.table.name_key else here)
