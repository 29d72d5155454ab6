"""Values in rule tests: durations, times, expected values as written vs as the engine reports them.

``canonical_value`` turns a value written in YAML into the form the engine
reports; ``values_equal`` compares the two by the feature's type;
``format_value`` shows either in a report.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import json
import math
from typing import Any, Optional

from ruledsl.kernels.values import parse_timestamp
from ruledsl.syntax.durations import format_duration_compound, parse_duration

# ---------------------------------------------------------------- durations and times

# one duration syntax for rulesets and rule tests (ruledsl.syntax.durations); a report shows compound units
format_duration = format_duration_compound


def hold_timeout_text(ms: int) -> str:
    """A hold timeout as shown: whole hours as hours (``24h``, as the ruleset writes it), else ``1h30m``."""
    if ms > 0 and ms % 3_600_000 == 0:
        return f"{ms // 3_600_000}h"
    return format_duration(ms)


def iso_local(ts: int, zone: _dt.tzinfo) -> str:
    """Epoch ms -> ``2026-01-05 09:00:00+08:00`` in ``zone`` (milliseconds only when there are some)."""
    stamp = _dt.datetime.fromtimestamp(ts / 1000, _dt.timezone.utc).astimezone(zone)
    text = stamp.isoformat(sep=" ", timespec="milliseconds" if ts % 1000 else "seconds")
    return text


def clock_time(ts: int, zone: _dt.tzinfo) -> str:
    """Epoch ms -> ``2026-01-05 09:00:00`` local time, for timelines."""
    stamp = _dt.datetime.fromtimestamp(ts / 1000, _dt.timezone.utc).astimezone(zone)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + (f".{ts % 1000:03d}" if ts % 1000 else "")


# ---------------------------------------------------------------- expected values


def canonical_value(value: Any, type_name: str, zone: _dt.tzinfo) -> Any:
    """An expected value (as written in YAML) in the form the engine reports it."""
    if value is None:
        return None
    if type_name == "decimal":
        if type(value) is bool or not isinstance(value, (int, float, str)):
            raise TypeError(f"expected a number, got {describe_value(value)}")
        try:
            return _decimal.Decimal(str(value).strip())
        except _decimal.InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    if type_name == "int":
        if type(value) is int:
            return value
        if type(value) in (float, str):
            try:
                d = _decimal.Decimal(str(value).strip())
            except _decimal.InvalidOperation:
                d = None
            if d is not None and d.is_finite() and d == d.to_integral_value():
                return int(d)
        raise TypeError(f"expected an integer, got {describe_value(value)}")
    if type_name == "float":
        if type(value) is bool or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {describe_value(value)}")
        return float(value)
    if type_name == "bool":
        if type(value) is not bool:
            raise TypeError(f"expected true or false, got {describe_value(value)}")
        return value
    if type_name == "duration":
        if type(value) is int:
            return value
        return parse_duration(value)
    if type_name == "timestamp":
        if type(value) is bool:
            raise TypeError("expected a timestamp")
        return parse_timestamp(value, zone)
    if type_name in ("string", "enum"):
        if type(value) is not str:
            raise TypeError(f"expected a string, got {describe_value(value)}{quote_hint(value)}")
        return value
    return value


def values_equal(want: Any, got: Any, type_name: str) -> bool:
    """Compare an expected (canonical) value with a reported one, by the feature's type."""
    if want is None or got is None:
        return want is None and got is None
    if type_name == "float" or type(got) is float or type(want) is float:
        try:
            return math.isclose(float(want), float(got), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    if type_name in ("decimal", "int") or isinstance(got, _decimal.Decimal):
        if type(want) is bool or type(got) is bool:
            return want is got
        try:
            return _decimal.Decimal(str(want)) == _decimal.Decimal(str(got))
        except _decimal.InvalidOperation:
            return False
    return want == got and type(want) is type(got)


# ---------------------------------------------------------------- showing values


def format_value(value: Any, type_name: Optional[str], zone: Optional[_dt.tzinfo] = None) -> str:
    """A value as shown in reports: strings quoted, decimals plain, times local, durations with units."""
    if value is None:
        return "missing"
    if type(value) is bool:
        return yaml_bool(value)
    if type_name == "timestamp" and type(value) is int and zone is not None:
        return iso_local(value, zone)
    if type_name == "duration" and type(value) is int:
        return format_duration(value)
    if isinstance(value, _decimal.Decimal):
        return format_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def format_number(value: Any) -> str:
    """A score or decimal as shown: plain notation, at least two decimals when it has a fraction."""
    if isinstance(value, _decimal.Decimal):
        text = format(value, "f")
        if "." in text:
            whole, frac = text.split(".")
            frac = frac.rstrip("0")
            frac = frac + "0" * (2 - len(frac)) if frac or whole else frac
            return f"{whole}.{frac}" if frac else whole
        return text
    return str(value)


def yaml_bool(value: bool) -> str:
    """``true`` / ``false``, as written in YAML."""
    return "true" if value else "false"


def describe_value(value: Any) -> str:
    """What a YAML value is, for messages: ``the integer 5``, ``a list``."""
    if value is None:
        return "nothing (null)"
    if type(value) is bool:
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def quote_hint(value: Any) -> str:
    """A hint to quote a value that YAML read as a number, or ``""``."""
    if type(value) in (int, float):
        return ' (YAML read it as a number: quote it, e.g. "6222000000001001")'
    return ""
