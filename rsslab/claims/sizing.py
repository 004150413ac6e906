"""Run sizes as formulas of the mechanism, evaluated per kernel and CPU count.

A claim's run may give an integer parameter as a formula instead of a
number, e.g. ``pages = "bound + floor"``: the run must fault more pages than
the claim's own bound allows the metric to miss, plus what the observer's
copy hands down through execve(), so that a metric below the bound could be
told apart from that floor at any CPU count.  The names a formula may use:

- ``ncpus``: online CPUs of the kernel under test;
- ``batch``: ``percpu_counter_batch`` there, max(32, 2 * ncpus);
- ``bound``: the claim's bound on the low side, in pages, at ``ncpus``;
- ``floor``: ``claims.FLOOR_ALLOWANCE_KIB`` in pages;
- ``page_kib``: the page size in KiB (for sizes given in MiB).

Formulas use integers, ``+ - * //``, parentheses, ``max()`` and ``min()``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping

from rsslab.errors import UserError

NAMES = ("ncpus", "batch", "bound", "floor", "page_kib")

_BINOPS: Mapping[type, Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
}
_CALLS: Mapping[str, Callable[..., int]] = {"max": max, "min": min}


def check(text: str) -> None:
    """Refuse a formula that uses anything but the names and operators above."""
    evaluate(text, dict.fromkeys(NAMES, 1))


def evaluate(text: str, names: Mapping[str, int]) -> int:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise UserError(f"run size '{text}' is not a formula; use integers, + - * //, "
                        f"max(), min() and {', '.join(NAMES)}") from None
    return _eval(tree.body, text, names)


def _eval(node: ast.AST, text: str, names: Mapping[str, int]) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return int(names[node.id])
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left, text, names),
                                      _eval(node.right, text, names))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _CALLS and node.args and not node.keywords):
        return _CALLS[node.func.id](*(_eval(a, text, names) for a in node.args))
    raise UserError(f"run size '{text}': '{ast.unparse(node)}' is not allowed; use integers, "
                    f"+ - * //, max(), min() and {', '.join(NAMES)}")
