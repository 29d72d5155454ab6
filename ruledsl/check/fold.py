"""Constant values: how the checker folds constant expressions.

A folded value is in the runtime representation of its type, the one the
compiled evaluator uses: ``int`` for int, a scaled ``int`` for decimal
(``SCALE`` units per 1), ``int`` milliseconds for timestamp and duration,
``float``, ``str`` (text and enum values), ``bool``.  A list literal folds
to a tuple of its items while expressions are checked (so ``len`` counts
repeated entries, as at run time) and is published as a ``frozenset`` of its
entries in the list's element type (``CheckResult.const_values_by_node``).

Arithmetic rounds as the evaluator does (``div_half_even``), so a value
folded here equals the value the compiled code would compute.
"""

from __future__ import annotations

from typing import Any, Final, Optional

from ruledsl.check.types import NUMERIC, Type, promote
from ruledsl.kernels.values import SCALE, div_half_even

NOTCONST: Final = object()
"""Marker: the expression has no compile-time value."""

I64 = 1 << 63
"""Folded numbers (and decimals once scaled) must lie in ``[-I64, I64)``."""


class FoldError(ValueError):
    """A numeric representation change that is not a widening (a bug in the caller)."""


def convert_value(value: Any, src_type: str, dst_type: str) -> Any:
    """Change the representation of a numeric value from type ``src_type`` to ``dst_type``.

    Widening only: ``int`` -> ``decimal`` (scaled), ``int``/``decimal`` ->
    ``float``.  Non-numeric types, equal types and a missing value (None)
    are returned unchanged; a narrowing raises ``FoldError``.
    """
    if value is None or src_type == dst_type or src_type not in NUMERIC or dst_type not in NUMERIC:
        return value
    if src_type == "int" and dst_type == "decimal":
        return value * SCALE
    if dst_type == "float":
        # as the generated code does it (``x / 10000.0``), so both give the same float
        return value / float(SCALE) if src_type == "decimal" else float(value)
    raise FoldError(f"cannot convert a {src_type} value to {dst_type}")


def numeric_pair(lt: Type, lv: Any, rt: Type, rv: Any) -> tuple[Any, Any]:
    """Two constant values made comparable: numbers in their common type (``2`` vs ``1.5`` at decimal scale)."""
    if lt.name in NUMERIC and rt.name in NUMERIC and lt.name != rt.name:
        common = promote(lt.name, rt.name)
        return convert_value(lv, lt.name, common), convert_value(rv, rt.name, common)
    return lv, rv


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def fold_compare(op: str, lt: Type, lv: Any, rt: Type, rv: Any) -> bool:
    """``lv op rv`` for two constants of (comparable) types ``lt`` and ``rt``."""
    a, b = numeric_pair(lt, lv, rt, rv)
    return bool(_COMPARE[op](a, b))


def fold_in(lt: Type, lv: Any, items: list[tuple[Type, Any]]) -> bool:
    """Whether constant ``lv`` equals one of the constant list entries ``items`` (type, value)."""
    for it, iv in items:
        a, b = numeric_pair(lt, lv, it, iv)
        if a == b:
            return True
    return False


def fold_numeric(op: str, ln: str, lv: int, rn: str, rv: int, result: str) -> int:
    """``lv op rv`` for int/decimal constants whose result type is ``result`` (``int`` or ``decimal``).

    The divisor is not zero (the checker reports that case instead).  The
    result is not range-checked.
    """
    if result == "int":
        if op == "+":
            return lv + rv
        if op == "-":
            return lv - rv
        if op == "*":
            return lv * rv
        return lv % rv
    a = convert_value(lv, ln, "decimal")
    b = convert_value(rv, rn, "decimal")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return div_half_even(a * b, SCALE)
    if op == "/":
        return div_half_even(a * SCALE, b)
    return a % b


def fold_time(op: str, lv: int, rv: int) -> int:
    """``lv op rv`` on timestamps and durations (milliseconds), for ``+``, ``-`` and ``*``."""
    if op == "+":
        return lv + rv
    if op == "-":
        return lv - rv
    return lv * rv


def fold_call(name: str, types: list[Type], args: list[Any], result: Type) -> Any:
    """The value of built-in ``name`` called with constant ``args``, or NOTCONST (e.g. time of day)."""
    if name == "lower":
        return args[0].lower()
    if name == "upper":
        return args[0].upper()
    if name == "len":
        return len(args[0])
    if name == "startswith":
        return args[0].startswith(args[1])
    if name == "endswith":
        return args[0].endswith(args[1])
    if name == "contains":
        return args[1] in args[0]
    if name == "abs":
        return abs(args[0])
    if name in ("min", "max"):
        a = convert_value(args[0], types[0].name, result.name)
        b = convert_value(args[1], types[1].name, result.name)
        return min(a, b) if name == "min" else max(a, b)
    if name == "present":
        return True
    return NOTCONST


def list_value(elem: Optional[Type], items: list[tuple[Type, Any]]) -> frozenset[Any]:
    """A constant list literal as published: its entries converted to the element type, as a set."""
    target = elem.name if elem is not None else "any"
    return frozenset(convert_value(v, t.name, target) for t, v in items)


def in_range(value: int) -> bool:
    """Whether a folded number fits the engine's 64-bit range."""
    return -I64 <= value < I64


def decimal_text(scaled: int) -> str:
    """A scaled decimal as text with 4 places: 10000 -> ``1.0000`` (for messages)."""
    sign = "-" if scaled < 0 else ""
    q, r = divmod(abs(scaled), SCALE)
    return f"{sign}{q}.{r:04d}"
