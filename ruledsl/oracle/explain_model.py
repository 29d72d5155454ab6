"""The explanation's structs and the analyst's wording of values and margins (docs/explain.md).

Values keep the reference interpreter's representation: ``decimal.Decimal``
with 4 places, int, float, str, bool, int milliseconds for timestamps and
durations, ``None`` for a missing value.  Margins are exact: ``left - right``
in ``Decimal`` when either side is a decimal (an int side is exact in it), in
int for ints, timestamps and durations, in float only when a side is a float
(the language compares a decimal with a float as floats).  msgspec writes a
``Decimal`` as its text, so the JSON keeps every digit.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any, Optional, Union

import msgspec

from ruledsl.runtime.decision import Decision
from ruledsl.syntax.durations import format_duration_compound

Number = Union[int, float, decimal.Decimal]
_CENT = decimal.Decimal("0.01")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class Comparison(msgspec.Struct, kw_only=True):
    """One comparison of a condition: its operands' values, whether it holds, by how much."""

    text: str  # the DSL text, e.g. ``amount > limit``
    op: str  # ==, !=, <, <=, >, >=, in, not in
    left: str
    right: str
    left_value: Any = None
    right_value: Any = None
    holds: bool
    margin: Optional[Number] = None  # left - right for numbers (exact); None otherwise or when missing
    margin_text: str  # for an analyst: "amount 53,000.00 > limit 50,000.00 by 3,000.00"
    missing: list[str] = []  # operands with no value (a comparison with a missing side is false)


class Condition(msgspec.Struct, kw_only=True):
    """A node of a rule's condition: ``and``/``or``/``not``, a comparison, or another test."""

    kind: str  # "and" | "or" | "not" | "comparison" | "test"
    text: str
    holds: bool
    children: list[Condition] = []
    comparison: Optional[Comparison] = None
    detail: str = ""  # for a test: the values it read, e.g. "takeover_chain completed"


class Counterfactual(msgspec.Struct, kw_only=True):
    """The smallest change of one input after which the rule would not have fired."""

    input: str  # the name as the rule writes it
    kind: str  # field | window | sequence | param | scorecard
    current: Any = None
    value: Any = None  # the changed value (None: the value missing)
    text: str  # "amount at most 50,000.00"
    change: Optional[Number] = None  # value - current for numbers (exact)
    relative: float  # |change| / max(|current|, 1); 1.0 for a non-numeric change, 2.0 for "missing"


class RuleExplanation(msgspec.Struct, kw_only=True):
    """Why one rule of the event's type fired or did not."""

    rule: str
    action: str
    reason: str = ""
    code: Optional[str] = None
    shadow: bool = False
    fired: bool  # as in peek(event): the condition holds and no exemption applies
    condition_holds: bool
    exempted: bool = False
    condition: Optional[Condition] = None
    counterfactual: Optional[Counterfactual] = None  # for a fired rule: the smallest of ``counterfactuals``
    counterfactuals: list[Counterfactual] = []  # per input, its smallest change that stops the rule


class Explanation(msgspec.Struct, kw_only=True):
    """``engine.explain(event)``: the decision ``peek`` gives and every rule of the event's type explained."""

    event_type: str
    ts: int
    time: str = ""  # ts in the engine's time zone, ISO 8601
    late: bool
    action: str
    decision: Decision
    rules: list[RuleExplanation]
    note: str = ""  # e.g. a late event sees no window state


# ---------------------------------------------------------------- wording


def number_text(v: Number) -> str:
    """A number for people: thousands separators, decimals with 2 places unless more are needed."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, decimal.Decimal):
        if v == v.quantize(_CENT):
            return format(v.quantize(_CENT), ",f")
        return format(v.normalize(), ",f")
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return format(int(v), ",") + ".0"
        return format(v, ",")
    return format(v, ",")


def value_text(v: Any, type_name: str, zone: Any = dt.timezone.utc) -> str:
    """A runtime value of ``type_name`` for people (a timestamp in the engine's zone)."""
    if v is None:
        return "missing"
    if type_name == "duration" and type(v) is int:
        return format_duration_compound(v)
    if type_name == "timestamp" and type(v) is int:
        return (_EPOCH + dt.timedelta(milliseconds=v)).astimezone(zone).isoformat(timespec="milliseconds")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, decimal.Decimal)):
        return number_text(v)
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def amount_text(v: Number, type_name: str) -> str:
    """A margin (a difference) for people: durations as durations, timestamps' differences too."""
    if type_name in ("duration", "timestamp") and type(v) is int:
        return format_duration_compound(v)
    return number_text(v)


def is_number(v: Any) -> bool:
    """An int, float or Decimal (not a bool)."""
    return isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)


def difference(a: Number, b: Number) -> Number:
    """``a - b`` exactly: float only when a side is a float, else Decimal when a side is a decimal, else int."""
    if isinstance(a, float) or isinstance(b, float):
        return float(a) - float(b)
    if isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
        with decimal.localcontext() as ctx:
            ctx.prec = 60  # 64-bit ints and decimals below 10^14: exact
            return decimal.Decimal(a) - decimal.Decimal(b)
    return a - b


def step(type_name: str, v: Number) -> Optional[Number]:
    """The smallest positive step of a type's values: 1 (int, ms), 0.0001 (decimal); None for floats."""
    if isinstance(v, float):  # a decimal compared with a float is compared as a float: no exact step
        return None
    if type_name in ("int", "duration", "timestamp") and type(v) is int:
        return 1
    if type_name == "decimal" or isinstance(v, decimal.Decimal):
        return decimal.Decimal("0.0001")
    return None
