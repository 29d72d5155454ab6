"""Value types of the language and the built-in function signatures.

The checker, the compiler and the reference interpreter all read the type
rules from here: the built-in table (``BUILTINS``), numeric promotion
(``promote``), the type of a window's value (``window_result_type``) and of a
scorecard's score (``scorecard_score_type``), so each rule is written once.
Type rules follow docs/semantics.md ("Values and types", "Numeric promotion",
"Time", "Windows").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import msgspec

from ruledsl.syntax.nodes import AGGREGATES, LEVELS


class Type(msgspec.Struct, frozen=True):
    """The static type of an expression, a field, a parameter or a list.

    ``name`` is one of ``int``, ``decimal``, ``float``, ``string``, ``bool``,
    ``timestamp``, ``duration``, ``enum``, ``list`` or ``any`` (an expression
    whose type could not be worked out because of an earlier error; it is
    accepted everywhere so one mistake gives one diagnostic).  A scorecard
    name has its score type (``int`` or ``decimal``).
    """

    name: str
    optional: bool = False
    enum_values: tuple[str, ...] = ()
    elem: Optional[Type] = None  # element type of a ``list``


INT = Type("int")
DECIMAL = Type("decimal")
FLOAT = Type("float")
STRING = Type("string")
BOOL = Type("bool")
TIMESTAMP = Type("timestamp")
DURATION = Type("duration")
ANY = Type("any")
LEVEL = Type("enum", enum_values=LEVELS)
"""The type of ``level(scorecard)``."""

SCALAR_TYPE_NAMES = ("int", "decimal", "float", "string", "bool", "timestamp", "duration")
"""Type names that may be written in a schema, a parameter or a list (plus ``enum(...)``)."""

NUMERIC: tuple[str, ...] = ("int", "decimal", "float")
"""Numeric type names, narrowest first: an ``int`` widens to ``decimal``, both to ``float``."""
ORDERED = frozenset({"int", "decimal", "float", "timestamp", "duration", "any"})
KEY_TYPES = frozenset({"int", "string", "enum", "bool", "timestamp", "any"})
"""Types a window or sequence key may have; floats and decimals are refused (rounding)."""
CONTROL_KEY_TYPES = frozenset({"int", "string", "enum", "any"})
"""Types a control key may have (``control`` clauses, ``controlled()``, ``control_kind()``): identities."""
CONTROL_FUNCTIONS = frozenset({"controlled", "control_kind"})
"""Built-ins that read the engine's controls: allowed in rules and scorecards, not in windows or sequences."""
LIST_FUNCTIONS = frozenset({"list_category", "list_source", "list_attr", "list_expires_at"})
"""Built-ins that read a declared list's entry attributes (argument 1: the list's name; 2: the value looked up)."""

_BY_NAME = {t.name: t for t in (INT, DECIMAL, FLOAT, STRING, BOOL, TIMESTAMP, DURATION, ANY)}


def scalar(name: str, optional: bool = False) -> Type:
    """The plain type called ``name``, optional or not."""
    t = _BY_NAME[name]
    return Type(name, True) if optional else t


def with_optional(t: Type, optional: bool) -> Type:
    """``t`` with its optional flag set to ``optional``."""
    if t.optional == optional:
        return t
    return Type(t.name, optional, t.enum_values, t.elem)


def list_of(elem: Type) -> Type:
    """The type of a list whose entries have type ``elem``."""
    return Type("list", elem=with_optional(elem, False))


def is_texty(t: Type) -> bool:
    """Strings and enums (an enum value is a string)."""
    return t.name in ("string", "enum", "any")


def is_numeric(t: Type) -> bool:
    """``int``, ``decimal``, ``float`` (or unknown)."""
    return t.name in NUMERIC or t.name == "any"


def promote(a: str, b: str) -> str:
    """The common numeric type of two numeric type names: ``float`` > ``decimal`` > ``int``.

    ``any`` (a type unknown after an earlier error) promotes to ``any``.
    """
    if a == "any" or b == "any":
        return "any"
    if a == "float" or b == "float":
        return "float"
    if a == "decimal" or b == "decimal":
        return "decimal"
    return "int"


def comparable(a: Type, b: Type) -> bool:
    """Whether ``a == b`` makes sense: numbers with numbers, text with text, same kind otherwise."""
    if a.name == "any" or b.name == "any":
        return True
    if a.name in NUMERIC and b.name in NUMERIC:
        return True
    if is_texty(a) and is_texty(b):
        return True
    if a.name == "list" and b.name == "list":
        return comparable(a.elem or ANY, b.elem or ANY)
    return a.name == b.name


def unify(a: Type, b: Type) -> Optional[Type]:
    """The common type of two values (list items, a field in several event types), or None."""
    if a.name == "any":
        return b
    if b.name == "any":
        return a
    optional = a.optional or b.optional
    if a.name in NUMERIC and b.name in NUMERIC:
        return scalar(promote(a.name, b.name), optional)
    if a.name == "enum" and b.name == "enum":
        values = a.enum_values + tuple(v for v in b.enum_values if v not in a.enum_values)
        return Type("enum", optional, values)
    if is_texty(a) and is_texty(b):
        return scalar("string", optional)
    if a.name == b.name == "list":
        elem = unify(a.elem or ANY, b.elem or ANY)
        return list_of(elem) if elem is not None else None
    if a.name == b.name:
        return with_optional(a, optional)
    return None


def assignable(value: Type, target: Type) -> bool:
    """Whether a value of type ``value`` may stand where ``target`` is declared.

    Whole numbers widen to decimal and float, decimals to float; a string is
    accepted for an enum (its membership is checked separately).
    """
    if value.name == "any" or target.name == "any":
        return True
    if target.name == "decimal":
        return value.name in ("int", "decimal")
    if target.name == "float":
        return value.name in NUMERIC
    if target.name == "enum":
        return value.name in ("string", "enum")
    if target.name == "string":
        return value.name in ("string", "enum")
    if target.name == "list":
        return value.name == "list" and assignable(value.elem or ANY, target.elem or ANY)
    return value.name == target.name


def display(t: Type) -> str:
    """A type as written in a message: ``decimal``, ``enum("atm", "pos")``, ``list of string``."""
    if t.name == "enum":
        shown = ", ".join(f'"{v}"' for v in t.enum_values[:5])
        if len(t.enum_values) > 5:
            shown += ", …"
        return f"enum({shown})"
    if t.name == "list":
        return f"list of {display(t.elem or ANY)}"
    if t.name == "any":
        return "unknown"
    return t.name


# ---------------------------------------------------------------- built-in functions


class Builtin(msgspec.Struct, frozen=True):
    """The signature of a built-in function.

    ``params`` lists what each argument must be:
    ``timestamp``, ``int``, ``string`` (a string or an enum), ``num``
    (``int``/``decimal``/``float``), ``string|list``, ``value`` (anything),
    ``pattern`` (a string literal, a RE2 regular expression), ``scorecard``
    (the name of a scorecard) and ``key`` (a text, enum or whole number: a
    control key).

    ``result`` is a type name, or ``same`` (the type of the first argument),
    ``promote`` (numeric promotion of the arguments) or ``level`` (the
    scorecard level enum); a name ending in ``?`` is that type, possibly
    missing.  ``missing`` is ``propagate`` when a missing argument makes the
    result missing, ``never`` for ``present`` and ``controlled``.
    """

    name: str
    params: tuple[str, ...]
    result: str
    doc: str
    missing: str = "propagate"


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("hour", ("timestamp",), "int", "hour of the day in the ruleset's time zone, 0-23"),
        Builtin("minute", ("timestamp",), "int", "minute of the hour, 0-59"),
        Builtin("weekday", ("timestamp",), "int", "day of the week, 1 = Monday ... 7 = Sunday"),
        Builtin("day", ("timestamp",), "int", "day of the month, 1-31"),
        Builtin(
            "between_hours",
            ("timestamp", "int", "int"),
            "bool",
            "true when a <= hour < b, wrapping past midnight when a > b",
        ),
        Builtin("lower", ("string",), "string", "the text in lower case"),
        Builtin("upper", ("string",), "string", "the text in upper case"),
        Builtin("len", ("string|list",), "int", "number of characters of a text, or entries of a list"),
        Builtin("startswith", ("string", "string"), "bool", "true when the text starts with the prefix"),
        Builtin("endswith", ("string", "string"), "bool", "true when the text ends with the suffix"),
        Builtin("contains", ("string", "string"), "bool", "true when the text contains the other text"),
        Builtin(
            "matches",
            ("string", "pattern"),
            "bool",
            "true when the RE2 regular expression (a string literal) matches somewhere in the text",
        ),
        Builtin("abs", ("num",), "same", "absolute value"),
        Builtin("min", ("num", "num"), "promote", "the smaller of two numbers"),
        Builtin("max", ("num", "num"), "promote", "the larger of two numbers"),
        Builtin("present", ("value",), "bool", "true when the value is not missing", missing="never"),
        Builtin("level", ("scorecard",), "level", "the level of a scorecard: high, elevated, medium, low or minimal"),
        Builtin(
            "controlled",
            ("key",),
            "bool",
            "true when the value (an account, card, customer...) has a live control; false when missing",
            missing="never",
        ),
        Builtin("control_kind", ("key",), "string?", "the kind of the value's live control; missing when none"),
        Builtin("list_category", ("list", "value"), "string?", "the category of x's list entry; missing if not listed"),
        Builtin("list_source", ("list", "value"), "string?", "the source of x's list entry; missing if not listed"),
        Builtin(
            "list_attr",
            ("list", "value", "string"),
            "string?",
            "the named attribute of x's list entry; missing if not listed or the entry has none",
        ),
        Builtin(
            "list_expires_at",
            ("list", "value"),
            "timestamp?",
            "when x's list entry expires; missing if never or not listed",
        ),
    )
}
"""Every built-in function, by name."""


def accepts(kind: str, t: Type) -> bool:
    """Whether an argument of type ``t`` fits the parameter kind ``kind`` of ``BUILTINS``."""
    if t.name == "any":
        return True
    if kind == "timestamp":
        return t.name == "timestamp"
    if kind == "int":
        return t.name == "int"
    if kind in ("string", "pattern"):
        return t.name in ("string", "enum")
    if kind == "num":
        return t.name in NUMERIC
    if kind == "string|list":
        return t.name in ("string", "enum", "list")
    if kind == "value":
        return t.name != "list"
    if kind == "scorecard":
        return t.name in ("int", "decimal")
    if kind == "key":
        return t.name in CONTROL_KEY_TYPES
    if kind == "list":
        return t.name == "list"
    return False


KIND_WORDS = {
    "timestamp": "a timestamp such as `ts`",
    "int": "a whole number",
    "string": "a text",
    "pattern": "a text",
    "num": "a number",
    "string|list": "a text or a list",
    "value": "a value",
    "scorecard": "a scorecard name",
    "key": "a text, an enum or a whole number (an account, card, customer...)",
    "list": "the name of a declared list",
}
"""How each parameter kind is described in a message."""


def builtin_result(b: Builtin, args: list[Type]) -> Type:
    """The result type of calling ``b`` with arguments of the given (already accepted) types."""
    if b.result == "same":
        t = args[0] if args else ANY
        return Type(t.name) if t.name != "any" else ANY
    if b.result == "promote":
        name = promote(args[0].name, args[1].name) if len(args) == 2 else "any"
        return scalar(name) if name != "any" else ANY
    if b.result == "level":
        return LEVEL
    if b.result.endswith("?"):  # missing when there is nothing to give (e.g. ``control_kind``)
        return scalar(b.result[:-1], True)
    return scalar(b.result)


# ---------------------------------------------------------------- window aggregates

_NO_ARGUMENT = frozenset({"count", "since"})
AGG_ARITY = {agg: 0 if agg in _NO_ARGUMENT else 1 for agg in AGGREGATES}
"""Number of arguments of each aggregate (``count`` and ``since`` take none)."""
OPTIONAL_AGGREGATES = frozenset({"avg", "min", "max", "last", "since"})
"""Aggregates whose value is missing for an empty window."""


def aggregate_accepts(agg: str, t: Type) -> bool:
    """Whether ``agg(x)`` is defined for ``x`` of type ``t``."""
    if t.name == "any":
        return True
    if agg in ("sum", "avg"):
        return t.name in NUMERIC
    if agg in ("min", "max"):
        return t.name in ("int", "decimal", "float", "timestamp", "duration")
    if agg in ("distinct", "last"):
        return t.name != "list"
    return True


AGG_ARG_WORDS = {
    "sum": "a number",
    "avg": "a number",
    "min": "a number, a timestamp or a duration",
    "max": "a number, a timestamp or a duration",
    "distinct": "a value",
    "last": "a value",
}


def window_result_type(agg: str, arg_type: Optional[str]) -> str:
    """The type name of the value of window ``agg(x)`` for ``x`` of type ``arg_type``.

    ``count`` and ``distinct`` count (``int``), ``since`` measures time
    (``duration``), ``avg`` is ``float`` over floats and ``decimal`` over
    whole and decimal numbers; ``sum``, ``min``, ``max`` and ``last`` have
    the type of their argument (``any`` when it is unknown).  See
    docs/semantics.md, "Windows".
    """
    if agg in ("count", "distinct"):
        return "int"
    if agg == "since":
        return "duration"
    if agg == "avg":
        return "float" if arg_type == "float" else "decimal"
    return arg_type or "any"


def aggregate_result(agg: str, arg: Optional[Type]) -> Type:
    """The full type of a window's value: ``window_result_type`` plus whether it may be missing.

    An unknown argument type (``any``, after an earlier error) gives ``any``.
    """
    t = arg or ANY
    if t.name == "any" and agg not in ("count", "distinct", "since"):
        return ANY
    name = window_result_type(agg, t.name)
    optional = agg in OPTIONAL_AGGREGATES
    if name == t.name:  # sum, min, max, last: the type of x, enum values and all
        return Type(t.name, optional, t.enum_values, t.elem)
    return scalar(name, optional)


def scorecard_score_type(item_types: Iterable[str]) -> str:
    """The type name of a scorecard's score: ``decimal`` if any item's score is, else ``int``."""
    return "decimal" if any(t == "decimal" for t in item_types) else "int"
