"""Everything generated code may call, and nothing else.

The emitter (``emit.py``) writes calls only to the names in ``EXPORTED`` and
to the per-ruleset names it binds itself (kernels, constants, patterns: see
``Compiled.bound_names``); a test compiles every shipped ruleset and checks
that the generated code loads no other global.  The generated module's
``__builtins__`` is empty, so a name missing here is a ``NameError``, never a
silent fallback to a Python builtin.

Runtime representation (see docs/semantics.md): decimals are ints scaled by
``SCALE``, timestamps and durations int milliseconds, missing values ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ruledsl.kernels import listtable as _listtable
from ruledsl.kernels import state as _state
from ruledsl.kernels.values import (
    DECIMAL_LIMIT,
    INT_MAX,
    INT_MIN,
    SCALE,
    EventError,
    LocalClock,
    between_hours,
    decimal_to_python,
    div_half_even,
    matches_text,
    parse_timestamp,
    to_decimal,
)

# ---------------------------------------------------------------- arithmetic


def _ddiv(a: int, b: int) -> Optional[int]:
    # decimal / decimal: a missing value when dividing by zero, as the reference does
    return None if b == 0 else div_half_even(a * SCALE, b)


def _dmul(a: int, b: int) -> int:
    return div_half_even(a * b, SCALE)


def _imod(a: int, b: int) -> Optional[int]:
    return None if b == 0 else a % b


def _fdiv(a: float, b: float) -> Optional[float]:
    return None if b == 0 else a / b


def _fmod(a: float, b: float) -> Optional[float]:
    return None if b == 0 else a % b


# ---------------------------------------------------------------- membership across numeric types


def _dec_in_int(x: int, entries: Any, ts: int) -> bool:
    # a scaled decimal is in a list of ints only when it has no fraction
    return x % SCALE == 0 and x // SCALE in entries and _listed(entries, x // SCALE, ts)


def _flt_in_int(x: float, entries: Any, ts: int) -> bool:
    return x.is_integer() and int(x) in entries and _listed(entries, int(x), ts)


def _flt_in_dec(x: float, entries: Any, ts: int) -> bool:
    # the one 4-place decimal that could equal x when compared as a float
    if not -DECIMAL_LIMIT < x < DECIMAL_LIMIT:  # NaN and infinities fail too; no list entry is that large
        return False
    d = to_decimal(x)
    return d / SCALE == x and d in entries and _listed(entries, d, ts)


def _listed(entries: Any, x: Any, ts: int) -> bool:
    # after `x in entries`: not expired at the event's time (listtable.live), skipped when nothing can have expired
    return entries.first_exp > ts or _listtable.live(entries, x, ts)


# ---------------------------------------------------------------- controls (compile/controlcode.py)


def _ctl_on(table: dict[Any, Any], key: Any, ts: int, clk: list[int]) -> bool:
    # controlled(key): a live control (ts < until; a late event also needs the watermark before until,
    # so controls the watermark has passed can be dropped without changing any decision)
    c = table.get(key)
    return c is not None and ts < c.until and clk[1] < c.until


def _ctl_kind(table: dict[Any, Any], key: Any, ts: int, clk: list[int]) -> Optional[str]:
    # control_kind(key): the live control's kind, else missing
    c = table.get(key)
    return c.kind if c is not None and ts < c.until and clk[1] < c.until else None


# ---------------------------------------------------------------- window results


def _avg_d(pair: Optional[tuple[int, int]]) -> Optional[int]:
    if pair is None:
        return None
    total, count = pair
    return div_half_even(total, count)


def _avg_i(pair: Optional[tuple[int, int]]) -> Optional[int]:
    if pair is None:
        return None
    total, count = pair
    return div_half_even(total * SCALE, count)


def _avg_f(pair: Optional[tuple[float, int]]) -> Optional[float]:
    if pair is None:
        return None
    total, count = pair
    return total / count


def _a64(value: Optional[int]) -> Optional[int]:
    # a computed window argument outside the 64-bit range is missing: it feeds nothing
    # (docs/semantics.md, "Limits"), so no kernel call can fail after an event was decoded
    return value if value is not None and INT_MIN <= value <= INT_MAX else None


def _D(value: Optional[int]) -> Any:
    # a decimal feature value as the caller sees it (decimal.Decimal)
    return None if value is None else decimal_to_python(value)


# ---------------------------------------------------------------- event decoding


def make_converters(zone: Any) -> dict[str, Callable[..., Any]]:
    """Event value validators used by generated code when the fast type test fails."""

    def missing(event: str, field: str) -> EventError:
        return EventError(f"event `{event}`: missing required field `{field}`", field=field, event_type=event)

    def wrong(event: str, field: str, value: Any, expected: str) -> EventError:
        got = type(value).__name__
        return EventError(
            f"event `{event}`: field `{field}` must be {expected}, got {got} {value!r:.40}",
            field=field,
            event_type=event,
        )

    def refuse(expected: str) -> Callable[[str, str, Any], Any]:
        # the fast type test already failed: the value is missing or of the wrong type
        def convert(event: str, field: str, value: Any) -> Any:
            if value is None:
                raise missing(event, field)
            raise wrong(event, field, value, expected)

        return convert

    cv_str, cv_bool = refuse("a string"), refuse("true or false")

    def out_of_range(event: str, field: str, value: Any, limit: str) -> EventError:
        return EventError(
            f"event `{event}`: field `{field}` is out of range: {value!r:.40} ({limit})", field=field, event_type=event
        )

    def cv_int(event: str, field: str, value: Any) -> int:
        if value is None:
            raise missing(event, field)
        if type(value) is int:  # the fast test failed on the range
            raise out_of_range(event, field, value, "integers are 64-bit")
        raise wrong(event, field, value, "an integer")

    def cv_float(event: str, field: str, value: Any) -> float:
        if value is None:
            raise missing(event, field)
        if type(value) is int:
            try:
                return float(value)
            except OverflowError:
                raise out_of_range(event, field, value, "floats are finite") from None
        if type(value) is float:  # the fast test failed: NaN or an infinity
            raise wrong(event, field, value, "a finite number")
        raise wrong(event, field, value, "a number")

    def cv_dec(event: str, field: str, value: Any) -> int:
        if value is None:
            raise missing(event, field)
        if type(value) is bool:
            raise wrong(event, field, value, "a decimal number")
        try:
            return to_decimal(value)
        except ValueError as err:
            if "out of range" in str(err):
                raise out_of_range(event, field, value, "decimals are below 10^14 in magnitude") from None
            raise wrong(event, field, value, "a decimal number") from None
        except (TypeError, ArithmeticError):
            raise wrong(event, field, value, "a decimal number") from None

    def cv_ts(event: str, field: str, value: Any) -> int:
        if value is None:
            raise missing(event, field)
        if type(value) is bool:
            raise wrong(event, field, value, "a timestamp (epoch ms or ISO 8601)")
        try:
            return parse_timestamp(value, zone)
        except ValueError as err:
            if "out of range" in str(err):
                raise out_of_range(event, field, value, "epoch milliseconds from 1900 to 2200") from None
            raise wrong(event, field, value, "a timestamp (epoch ms or ISO 8601)") from None
        except (TypeError, OverflowError):
            raise wrong(event, field, value, "a timestamp (epoch ms or ISO 8601)") from None

    def cv_enum(event: str, field: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value is None:
            raise missing(event, field)
        if type(value) is not str:
            raise wrong(event, field, value, "a string")
        raise EventError(
            f"event `{event}`: field `{field}` is {value!r}, not one of {', '.join(allowed)}",
            field=field,
            event_type=event,
        )

    return {
        "_cv_str": cv_str,
        "_cv_int": cv_int,
        "_cv_float": cv_float,
        "_cv_bool": cv_bool,
        "_cv_dec": cv_dec,
        "_cv_ts": cv_ts,
        "_cv_enum": cv_enum,
    }


# ---------------------------------------------------------------- the namespace

_STATIC: dict[str, Any] = {
    "_ddiv": _ddiv,
    "_dmul": _dmul,
    "_imod": _imod,
    "_fdiv": _fdiv,
    "_fmod": _fmod,
    "_dec_in_int": _dec_in_int,
    "_live": _listtable.live,  # list membership: an expiring entry is listed until its expires_at (event time)
    "_lcat": _listtable.category,
    "_lsrc": _listtable.source,
    "_lexp": _listtable.expires_at,
    "_lattr": _listtable.attr,
    "_flt_in_int": _flt_in_int,
    "_flt_in_dec": _flt_in_dec,
    "_ctl_on": _ctl_on,
    "_ctl_kind": _ctl_kind,
    "_between": between_hours,
    "_avg_d": _avg_d,
    "_avg_i": _avg_i,
    "_avg_f": _avg_f,
    "_a64": _a64,
    "_matches": matches_text,
    "_D": _D,
    "_hash": _state.stable_hash,
    "min": min,
    "max": max,
    "abs": abs,
    "len": len,
    "type": type,
    "int": int,
    "str": str,
    "float": float,
    "bool": bool,
}

CLOCK_HELPERS = ("_hour", "_minute", "_weekday", "_day", "_local")
"""Local-time helpers bound to the ruleset's time zone."""

CONVERTERS = ("_cv_str", "_cv_int", "_cv_float", "_cv_bool", "_cv_dec", "_cv_ts", "_cv_enum")
"""Slow-path field validators (``make_converters``)."""

ENGINE_BINDINGS = (
    "FUT",  # [the latest timestamp accepted without reading the clock again] (the clock guard)
    "_future",  # read the clock; reject an event dated beyond it plus the allowed skew
    "P",  # parameter values, by index (set_param replaces an item)
    "LS",  # list values, by index (update_list replaces an item)
    "CLK",  # [max ts, watermark, committed events, late events]
    "LATENESS",
    "ADVANCE_EVERY",
    "PASS",  # the shared pass decision per event type
    "_advance",  # the periodic eviction sweep
    "_decide",  # hits -> Decision
    "_run",  # one round trip to an external store (batched code only)
    "DEG",  # [degraded since the last decision] (batched code only)
    "_degraded",  # mark a decision degraded (batched code only)
    "_SR",  # ScoreResult (a runtime type: the compile stage does not import the runtime)
    "CT",  # the live controls: key -> Control (runtime/controls.py; read by controlled()/control_kind())
    "EXM",  # [any exemption granted] (rulesets with `exempt by` only; engine_exemptions)
    "_exempt",  # hits -> (hits left, exemptions applied) (rulesets with `exempt by` only)
)
"""Names the engine binds per instance."""

EXPORTED: frozenset[str] = (
    frozenset(_STATIC) | frozenset(CLOCK_HELPERS) | frozenset(CONVERTERS) | frozenset(ENGINE_BINDINGS)
)
"""Every fixed global name generated code may load (besides ``Compiled.bound_names``)."""


def namespace(zone: Any, clock: Optional[LocalClock] = None) -> dict[str, Any]:
    """A fresh module namespace for generated code: the helpers, converters and clock of ``zone``.

    The engine adds its own bindings (``ENGINE_BINDINGS``) and the ruleset's
    kernels and constants before executing the generated source.
    """
    clock = clock if clock is not None else LocalClock(zone)
    ns: dict[str, Any] = dict(_STATIC)
    ns.update(make_converters(zone))
    ns.update(
        _hour=clock.hour,
        _minute=clock.minute,
        _weekday=clock.weekday,
        _day=clock.day,
        _local=clock.local_ms,
    )
    ns["__builtins__"] = {}
    return ns
