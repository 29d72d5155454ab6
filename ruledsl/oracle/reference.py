"""The reference interpreter: a small, obviously-correct oracle for the compiled engine.

It reads docs/semantics.md literally and shares as little as possible with
the compiled path (``compiler``, ``engine``, ``state``, ``values``):

* a tree walk over the checked AST (``result.types`` says when a number is a
  decimal, ``result.refs`` what a name means);
* decimals are ``decimal.Decimal``; products, quotients and averages are
  computed exactly with ``fractions.Fraction`` and rounded half-to-even to 4
  places (the engine uses scaled integers: the independence is the point);
* every accepted on-time event is kept, and each window value is recomputed
  from scratch with the exact interval rule ``e.ts - D < x.ts <= e.ts``;
* sequences are found by brute force over the arrival-ordered history;
* local time comes from ``datetime`` arithmetic in the zone, not ``LocalClock``;
* events are decoded here, not with ``values.parse_timestamp``/``to_decimal``.

It is slow (quadratic in the history) and meant for tests only.

Where docs/semantics.md is silent it decides (and the engine agrees):
an event whose aggregated value is missing feeds nothing to that window; a
sequence whose key is missing is false; ``%`` is floored (the result has the
sign of the divisor, as Python's); a float event value is read as the decimal
it prints as (``repr``, its JSON text) before rounding.

Runtime values: int, ``Decimal``, float, str (strings and enums), bool, int
milliseconds (timestamps, durations); a missing value is ``None``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Optional
from zoneinfo import ZoneInfo

import msgspec
import re2

from ruledsl.check.types import LIST_FUNCTIONS
from ruledsl.kernels.values import EventError, decimal_literal, decimal_to_python, matches_text
from ruledsl.oracle.ref_controls import RefControlsMixin
from ruledsl.oracle.ref_exemptions import RefExemptionsMixin
from ruledsl.oracle.ref_lists import RefEntry, RefListsMixin
from ruledsl.runtime.decision import Decision, MatchedRule, ScoreResult, final_action, rule_order_key
from ruledsl.syntax import nodes as n

HOLD_TIMEOUT_MS = 24 * 3600 * 1000
MAX_FUTURE_SKEW_MS = 5 * 60 * 1000

# docs/semantics.md, "Limits", read literally
_INT64 = (-(2**63), 2**63 - 1)
_DECIMAL_BOUND = decimal.Decimal(10) ** 14  # |decimal| < 10^14
_TEXT_MAX = 64  # characters of decimal or timestamp text
_TS_RANGE = (
    (dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
    // dt.timedelta(milliseconds=1),
    (dt.datetime(2200, 1, 1, tzinfo=dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
    // dt.timedelta(milliseconds=1),
)  # [from, to)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_FOUR_PLACES = decimal.Decimal("0.0001")
_FEATURE_KINDS = ("field", "window", "sequence", "param", "scorecard")


# ---------------------------------------------------------------- small helpers


def round4(x: Fraction | int | decimal.Decimal) -> decimal.Decimal:
    """An exact number rounded half-to-even to 4 places, as a Decimal."""
    scaled = round(Fraction(x) * 10_000)  # round() on a Fraction is half-to-even
    return decimal.Decimal(scaled).scaleb(-4)


def parse_decimal_text(text: str) -> decimal.Decimal:
    """Decimal text (an event value, a literal) -> Decimal with 4 places; ValueError if not a number.

    Read by the language's one decimal parser (``decimal_literal``): what the
    interpreter checks independently is evaluation, not number syntax.
    """
    return decimal_to_python(decimal_literal(text))


def _fits_64_bits(value: Any) -> bool:
    if type(value) is int:
        return _INT64[0] <= value <= _INT64[1]
    if isinstance(value, decimal.Decimal):
        return _INT64[0] <= value * 10_000 <= _INT64[1]
    return True


def _is_int(v: Any) -> bool:
    return type(v) is int  # bool is not a number here


class _Ctx:
    """One event being evaluated: its decoded fields and per-event caches."""

    def __init__(self, etype: str, ts: int, fields: dict[str, Any], late: bool):
        self.type = etype
        self.ts = ts
        self.fields = fields
        self.late = late
        self.cache: dict[tuple[str, str], Any] = {}

    def field(self, name: str) -> Any:
        if name == "ts":
            return self.ts
        return self.fields.get(name)


# ---------------------------------------------------------------- the interpreter


class ReferenceEngine(RefExemptionsMixin, RefListsMixin, RefControlsMixin):
    """Tree-walking evaluator with brute-force state; same decisions as ``Engine``."""

    def __init__(
        self,
        result,
        *,
        params: Optional[dict] = None,
        lists: Optional[dict[str, Any]] = None,
        timezone: Optional[str] = None,
        clock: Optional[Any] = None,
        max_future_skew_ms: Optional[int] = None,
    ):
        self.result = result
        # the clock guard (semantics.md, "Clock guard"); no clock: no guard
        self.clock = clock
        header_skew = getattr(result.symbols.header, "max_future_skew_ms", None) if result.symbols.header else None
        self.max_future_skew_ms = (
            max_future_skew_ms if max_future_skew_ms is not None else header_skew or MAX_FUTURE_SKEW_MS
        )
        self.sym = result.symbols
        self.types = result.types
        self.refs = result.refs
        header = self.sym.header
        tz = timezone or (header.timezone if header is not None and header.timezone else None) or "UTC"
        self.timezone = tz
        self.zone = dt.timezone.utc if tz.upper() == "UTC" else ZoneInfo(tz)
        self.lateness_ms = header.lateness_ms if header is not None and header.lateness_ms else 0
        self.hold_timeout_ms = (
            header.hold_timeout_ms if header is not None and header.hold_timeout_ms else HOLD_TIMEOUT_MS
        )
        self.rule_index = {name: i for i, name in enumerate(self.sym.rules)}

        self._consts: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        for name, decl in self.sym.params.items():
            self.params[name] = self._coerce(decl.type.name, self._const_eval(decl.default))
        for name, value in (params or {}).items():
            self.set_param(name, value)
        self.lists: dict[str, dict[Any, RefEntry]] = {}  # value -> its attributes (ref_lists)
        for name, decl in self.sym.lists.items():
            if lists is not None and name in lists:
                self.lists[name] = self._ref_list_from_runtime(decl.type.name, lists[name])
            elif decl.items is not None:
                items = (self._coerce(decl.type.name, self._const_eval(e)) for e in decl.items)
                self.lists[name] = self._ref_list_plain(items)
            else:
                self.lists[name] = self._ref_read_list_file(name, decl.type.name)

        # what on-time events fed, in arrival order:
        # window -> key -> [(ts, arrival, value of the argument)], sequence -> key -> [(ts, steps matched)]
        self.fed: dict[str, dict[tuple, list[tuple[int, int, Any]]]] = {w: {} for w in self.sym.windows}
        self.chains: dict[str, dict[tuple, list[tuple[int, frozenset]]]] = {s: {} for s in self.sym.sequences}
        self.max_ts: Optional[int] = None
        self.late_events = 0
        self._arrivals = 0
        self._regex: dict[str, Any] = {}

    # ------------------------------------------------------------ run-time changes
    def set_param(self, name: str, value: Any) -> None:
        """Override a parameter with an application value (decimals as text, int or float)."""
        decl = self.sym.params[name]
        self.params[name] = self._app_value(decl.type.name, value)

    def _app_value(self, type_name: str, value: Any) -> Any:
        if type_name == "decimal":
            if _is_int(value):
                return round4(value)
            if type(value) is float:
                return parse_decimal_text(repr(value))
            if isinstance(value, decimal.Decimal):
                return round4(value)
            return parse_decimal_text(value)
        if type_name == "int" and type(value) is str:
            return int(value.strip())
        if type_name == "float":
            return float(value)
        return value

    def _ref_equal(self, a: Any, b: Any) -> bool:
        return _equal(a, b)  # ref_lists: a looked-up value against a list entry

    # ------------------------------------------------------------ public evaluation
    def evaluate(self, event: Any) -> Decision:
        """Evaluate one event and record it; raises EventError (state unchanged) if malformed."""
        return self._run(event, commit=True)

    def peek(self, event: Any) -> Decision:
        """Evaluate one event without changing any state."""
        return self._run(event, commit=False)

    def _run(self, event: Any, commit: bool) -> Decision:
        etype, ts, fields = self.decode(event)
        watermark = None if self.max_ts is None else self.max_ts - self.lateness_ms
        late = watermark is not None and ts < watermark
        ctx = _Ctx(etype, ts, fields, late)

        matched: list[tuple[MatchedRule, int]] = []
        for name, decl in self.sym.rules.items():
            if etype not in self.sym.rule_events[name]:
                continue
            if decl.when is None or self._eval(decl.when, ctx) is not True:
                continue
            rule = MatchedRule(
                id=name,
                action=decl.action.name,
                reason=decl.reason or "",
                code=decl.code,
                shadow=decl.shadow,
                priority=decl.priority,
                features=self._features(decl.when, ctx),
            )
            matched.append((rule, self.rule_index[name]))
        matched, exempted = self._apply_exemptions(etype, ts, fields, matched)  # ref_exemptions
        matched.sort(key=lambda pair: rule_order_key(pair[0], pair[1]))
        rules = [r for r, _i in matched]
        scores = [
            ScoreResult(name=name, score=score, level=level)
            for name, decl in self.sym.scorecards.items()
            if self._scorecard_applies(decl, etype)
            for score, level in [self._score(decl, ctx)]
        ]
        action = final_action(rules)
        decision = Decision(
            action=action,
            event_type=etype,
            rules=rules,
            scores=scores,
            late=late,
            hold_timeout_ms=self.hold_timeout_ms if action == "hold" else None,
            exemptions=exempted,
        )
        if action == "hold":
            # the hold's fields as docs/semantics.md ("Holds") defines them; its id is random (a fresh uuid4),
            # so comparisons require one exactly when the event is committed and ignore its value
            held = {f: fields[f] for f in self._held_fields(etype) if fields.get(f) is not None}
            decision = msgspec.structs.replace(
                decision,
                hold_id=uuid.uuid4().hex if commit else None,
                held_keys=held,
                hold_expires_at=ts + self.hold_timeout_ms,
            )
        decision = self._ref_apply_controls(decision, ctx, commit)  # ref_controls: the controls its rules set
        if commit:
            self._commit(ctx)
        return decision

    def _held_fields(self, etype: str) -> list[str]:
        """The fields a hold of ``etype`` holds: plain fields in the ``by`` of a window or sequence it feeds."""
        keyed: set[str] = set()
        for name, w in self.sym.windows.items():
            if etype in self.sym.window_events[name]:
                keyed.update(e.name for e in w.by if isinstance(e, n.Name) and self.refs[id(e)][0] == "field")
        for sq in self.sym.sequences.values():
            if any(step.event.name == etype for step in sq.steps):
                keyed.update(e.name for e in sq.by if isinstance(e, n.Name) and self.refs[id(e)][0] == "field")
        return [f.name.name for f in self.sym.events[etype].fields if f.name.name in keyed and f.name.name != "ts"]

    def _commit(self, ctx: _Ctx) -> None:
        self._arrivals += 1
        if ctx.late:
            self.late_events += 1
            return
        for name, decl in self.sym.windows.items():
            fed = self._feeds(decl, ctx)
            if fed is not None:
                key, value = fed
                self.fed[name].setdefault(key, []).append((ctx.ts, self._arrivals, value))
        for name, decl in self.sym.sequences.items():
            chain_key = self._key(decl.by, ctx)
            if chain_key is not None:
                self.chains[name].setdefault(chain_key, []).append((ctx.ts, self._steps_matched(decl, ctx)))
        self.max_ts = ctx.ts if self.max_ts is None else max(self.max_ts, ctx.ts)

    def _features(self, when: n.Expr, ctx: _Ctx) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node in n.walk(when):
            if isinstance(node, n.Name):
                kind, target = self.refs[id(node)]
                if kind in _FEATURE_KINDS and target not in out:
                    out[target] = self._eval(node, ctx)
        return out

    # ------------------------------------------------------------ events
    def decode(self, event: Any) -> tuple[str, int, dict[str, Any]]:
        """An event mapping -> (type, ts in ms, {field: runtime value or None})."""
        if not isinstance(event, Mapping):
            raise EventError("an event must be a mapping")
        etype = event.get("type")
        if type(etype) is not str or etype not in self.sym.events:
            raise EventError(f"unknown event type {etype!r}", field="type")
        ts = self._timestamp(event.get("ts"), "ts", etype)
        if self.clock is not None and ts > self.clock() + self.max_future_skew_ms:
            raise EventError(f"`ts` is ahead of the clock by more than {self.max_future_skew_ms} ms", field="ts")
        fields: dict[str, Any] = {}
        for fdecl in self.sym.events[etype].fields:
            fname, tref = fdecl.name.name, fdecl.type
            if fname == "ts":
                continue
            raw = event.get(fname)
            if raw is None:
                if tref.optional:
                    fields[fname] = None
                    continue
                raise EventError(f"missing required field `{fname}`", field=fname, event_type=etype)
            fields[fname] = self._field_value(tref, raw, fname, etype)
        return etype, ts, fields

    def _field_value(self, tref: n.TypeRef, raw: Any, fname: str, etype: str) -> Any:
        def bad():
            return EventError(f"field `{fname}` has a wrong value {raw!r}", field=fname, event_type=etype)

        t = tref.name
        if t == "string":
            if type(raw) is not str:
                raise bad()
            return raw
        if t == "enum":
            if type(raw) is not str or raw not in tref.enum_values:
                raise bad()
            return raw
        if t == "bool":
            if type(raw) is not bool:
                raise bad()
            return raw
        if t in ("int", "duration"):
            if not _is_int(raw) or not _INT64[0] <= raw <= _INT64[1]:
                raise bad()
            return raw
        if t == "float":
            if not (_is_int(raw) or type(raw) is float):
                raise bad()
            try:
                value = float(raw)
            except OverflowError:
                raise bad() from None
            if not math.isfinite(value):
                raise bad()
            return value
        if t == "decimal":
            if _is_int(raw):
                if abs(raw) >= _DECIMAL_BOUND:
                    raise bad()
                return decimal.Decimal(raw).quantize(_FOUR_PLACES)
            if type(raw) is float:
                # a float is taken as the decimal it prints as (its JSON text), then rounded
                text = repr(raw)
            elif type(raw) is str:
                text = raw
            else:
                raise bad()
            if len(text) > _TEXT_MAX:
                raise bad()
            try:
                number = parse_decimal_text(text)
            except ValueError:
                raise bad() from None
            if abs(number) >= _DECIMAL_BOUND:
                raise bad()
            return number
        if t == "timestamp":
            return self._timestamp(raw, fname, etype)
        raise bad()

    def _timestamp(self, raw: Any, fname: str, etype: str) -> int:
        ms = self._timestamp_ms(raw, fname, etype)
        if not _TS_RANGE[0] <= ms < _TS_RANGE[1]:
            raise EventError(f"field `{fname}` is out of range: {raw!r}", field=fname, event_type=etype)
        return ms

    def _timestamp_ms(self, raw: Any, fname: str, etype: str) -> int:
        if _is_int(raw):
            return raw
        if type(raw) is str and len(raw) <= _TEXT_MAX:
            try:
                stamp = dt.datetime.fromisoformat(raw)
            except ValueError:
                stamp = None
            if stamp is not None:
                if stamp.tzinfo is None:
                    stamp = stamp.replace(tzinfo=self.zone)
                return (stamp - _EPOCH) // dt.timedelta(milliseconds=1)
        raise EventError(f"field `{fname}` is not a timestamp: {raw!r}", field=fname, event_type=etype)

    # ------------------------------------------------------------ constants
    def _const_eval(self, expr: n.Expr) -> Any:
        return self._eval(expr, None)

    def _const(self, name: str) -> Any:
        if name not in self._consts:
            decl = self.sym.consts[name]
            self._consts[name] = self._const_eval(decl.value)
        return self._consts[name]

    def _coerce(self, type_name: str, value: Any) -> Any:
        """A value of a declared type (an int literal for a decimal parameter becomes a Decimal)."""
        if value is None:
            return None
        if type_name == "decimal" and not isinstance(value, decimal.Decimal):
            return round4(value)
        if type_name == "float":
            return float(value)
        return value

    # ------------------------------------------------------------ expressions
    def _type(self, expr: n.Expr) -> str:
        return self.types[id(expr)].name

    def _eval(self, e: n.Expr, ctx: Optional[_Ctx]) -> Any:
        if isinstance(e, n.Literal):
            if e.kind == "decimal":
                return parse_decimal_text(str(e.value))  # the literal's text: the parser keeps decimals exact
            return e.value
        if isinstance(e, n.Name):
            return self._name(e, ctx)
        if isinstance(e, n.Unary):
            v = self._eval(e.operand, ctx)
            if e.op == "not":
                return v is not True
            return None if v is None else -v
        if isinstance(e, n.Binary):
            return self._binary(e, ctx)
        if isinstance(e, n.Call):
            return self._call(e, ctx)
        if isinstance(e, n.ListLit):
            return [self._eval(item, ctx) for item in e.items]
        raise TypeError(f"not an expression: {e!r}")

    def _name(self, e: n.Name, ctx: Optional[_Ctx]) -> Any:
        kind, target = self.refs[id(e)]
        if kind == "field":
            return ctx.field(target) if ctx is not None else None
        if kind == "const":
            return self._const(target)
        if kind == "param":
            return self.params[target]
        if kind == "list":
            return self.lists[target]
        if kind == "window":
            return self._cached(ctx, "window", target, self._window)
        if kind == "sequence":
            return self._cached(ctx, "sequence", target, self._sequence)
        if kind == "scorecard":
            return self._cached(ctx, "scorecard", target, self._scorecard)[0]
        raise ValueError(f"unknown name kind {kind!r} for `{target}`")

    def _cached(self, ctx: Optional[_Ctx], kind: str, name: str, fn):
        if ctx is None:  # the checker allows windows, sequences and scorecards only where there is an event
            raise ValueError(f"{kind} `{name}` has no value outside an event")
        key = (kind, name)
        if key not in ctx.cache:
            ctx.cache[key] = fn(name, ctx)
        return ctx.cache[key]

    def _binary(self, e: n.Binary, ctx: Optional[_Ctx]) -> Any:
        op = e.op
        if op == "and":
            return self._eval(e.left, ctx) is True and self._eval(e.right, ctx) is True
        if op == "or":
            return self._eval(e.left, ctx) is True or self._eval(e.right, ctx) is True
        a = self._eval(e.left, ctx)
        b = self._eval(e.right, ctx)
        if op in ("in", "not in"):
            if a is None or b is None:
                return False
            if isinstance(b, dict):  # a declared list: its live entries at the event's time (ref_lists)
                found = self._ref_lookup(b, a, ctx.ts if ctx is not None else 0) is not None
            else:
                found = any(_equal(a, item) for item in b)
            return found if op == "in" else not found
        if op in ("==", "!=", "<", "<=", ">", ">="):
            if a is None or b is None:
                return False
            return _compare(op, a, b)
        if a is None or b is None:
            return None
        return _arith(op, a, b, self._type(e))

    def _call(self, e: n.Call, ctx: Optional[_Ctx]) -> Any:
        f = e.func
        if f == "level":
            (arg,) = e.args
            kind, target = self.refs[id(arg)]
            if kind != "scorecard":
                raise ValueError(f"level() of {kind} `{target}`; the checker admits only a scorecard")
            return self._cached(ctx, "scorecard", target, self._scorecard)[1]
        if f in LIST_FUNCTIONS:  # ref_lists: the entry's attribute at the event's time
            table = self._eval(e.args[0], ctx)
            rest = [self._eval(a, ctx) for a in e.args[1:]]
            return self._ref_list_call(f, table, rest, ctx.ts if ctx is not None else 0)
        if f in ("controlled", "control_kind"):  # ref_controls: the controls in place, in event time
            return self._ref_control_call(f, self._eval(e.args[0], ctx), ctx.ts if ctx is not None else 0)
        args = [self._eval(a, ctx) for a in e.args]
        if f == "present":
            return args[0] is not None
        if any(a is None for a in args):
            return None
        if f in ("hour", "minute", "weekday", "day"):
            local = self._local(args[0])
            return {"hour": local.hour, "minute": local.minute, "weekday": local.isoweekday(), "day": local.day}[f]
        if f == "between_hours":
            h, a, b = self._local(args[0]).hour, args[1], args[2]
            return a <= h < b if a <= b else (h >= a or h < b)
        if f == "lower":
            return args[0].lower()
        if f == "upper":
            return args[0].upper()
        if f == "len":
            return len(args[0])
        if f == "startswith":
            return args[0].startswith(args[1])
        if f == "endswith":
            return args[0].endswith(args[1])
        if f == "contains":
            return args[1] in args[0]
        if f == "matches":
            rx = self._regex.get(args[1])
            if rx is None:
                rx = self._regex[args[1]] = re2.compile(args[1])
            return matches_text(rx, args[0])
        if f == "abs":
            return abs(args[0])
        if f in ("min", "max"):
            t = self._type(e)
            a, b = (_as_type(t, x) for x in args)
            return min(a, b) if f == "min" else max(a, b)
        raise ValueError(f"unknown function {f!r}")

    def _local(self, ts: int) -> dt.datetime:
        return (_EPOCH + dt.timedelta(milliseconds=ts)).astimezone(self.zone)

    # ------------------------------------------------------------ windows
    def _key(self, exprs: list[n.Expr], ctx: _Ctx) -> Optional[tuple]:
        key = tuple(self._eval(k, ctx) for k in exprs)
        return None if any(v is None for v in key) else key

    def _feeds(self, decl: n.WindowDecl, ctx: _Ctx) -> Optional[tuple[tuple, Any]]:
        """(key, value of the argument) when the event feeds the window, else None."""
        if ctx.type not in self.sym.window_events[decl.name.name]:
            return None
        if decl.where is not None and self._eval(decl.where, ctx) is not True:
            return None
        key = self._key(decl.by, ctx)
        if key is None:
            return None
        if decl.arg is None:
            return key, None
        value = self._eval(decl.arg, ctx)
        # an event whose argument is missing adds nothing (a missing value has nothing to count),
        # nor does one whose number is beyond 64 bits (a decimal counted in units of 1/10000)
        if value is None or not _fits_64_bits(value):
            return None
        return key, value

    def _window(self, name: str, ctx: _Ctx) -> Any:
        if ctx.late:  # a late event sees no window state (semantics.md, "Order and lateness")
            return None
        decl = self.sym.windows[name]
        agg = decl.agg.name
        key = self._key(decl.by, ctx)
        if key is None:
            return None
        lo, hi = ctx.ts - decl.over_ms, ctx.ts
        # entries fed by earlier events with the same key inside (lo, hi], in time order
        entries = sorted(x for x in self.fed[name].get(key, ()) if lo < x[0] <= hi)  # by (ts, arrival)
        if agg in ("last", "since"):
            if not entries:
                return None
            newest_ts, _arrival, newest_value = entries[-1]  # greatest ts, later arrival on ties
            return newest_value if agg == "last" else ctx.ts - newest_ts
        values = [value for _ts, _arrival, value in entries]
        if not decl.exclude_current and not ctx.late:
            current = self._feeds(decl, ctx)
            if current is not None:
                values.append(current[1])
        arg_type = self._type(decl.arg) if decl.arg is not None else None
        return _aggregate(agg, values, arg_type)

    # ------------------------------------------------------------ sequences
    def _steps_matched(self, decl: n.SequenceDecl, ctx: _Ctx) -> frozenset[int]:
        return frozenset(
            i
            for i, step in enumerate(decl.steps)
            if step.event.name == ctx.type and (step.where is None or self._eval(step.where, ctx) is True)
        )

    def _sequence(self, name: str, ctx: _Ctx) -> bool:
        if ctx.late:
            return False
        decl = self.sym.sequences[name]
        key = self._key(decl.by, ctx)
        last = len(decl.steps) - 1
        if key is None or last not in self._steps_matched(decl, ctx):
            return False
        # earlier on-time events with this key, in arrival order, with the steps each matched
        chain = self.chains[name].get(key, [])
        for i, (first_ts, first_steps) in enumerate(chain):
            if 0 not in first_steps or ctx.ts - first_ts > decl.within_ms:
                continue
            # greedy: the earliest later event for each following step (one step per event)
            want = 1
            for _ts, steps in chain[i + 1 :]:
                if want == last:
                    break
                if want in steps:
                    want += 1
            if want == last:
                return True
        return False

    # ------------------------------------------------------------ scorecards
    def _scorecard_applies(self, decl: n.ScorecardDecl, etype: str) -> bool:
        return etype in self.sym.scorecard_events[decl.name.name]

    def _scorecard(self, name: str, ctx: _Ctx) -> tuple[Any, Optional[str]]:
        decl = self.sym.scorecards[name]
        if not self._scorecard_applies(decl, ctx.type):
            return None, None
        return self._score(decl, ctx)

    def _score(self, decl: n.ScorecardDecl, ctx: _Ctx) -> tuple[Any, str]:
        """Score and level of a scorecard that applies to the event."""
        is_decimal = any(self._type(item.score) == "decimal" for item in decl.items)
        total: Any = decimal.Decimal(0) if is_decimal else 0
        for item in decl.items:
            if self._eval(item.when, ctx) is True:
                total = total + self._eval(item.score, ctx)
        for lvl in decl.levels:
            threshold = self._eval(lvl.threshold, ctx)
            if threshold is not None and _compare(lvl.op, total, threshold):
                return total, lvl.name.name
        return total, "minimal"


# ---------------------------------------------------------------- value operations


def _as_type(type_name: str, v: Any) -> Any:
    if type_name == "decimal":
        return v if isinstance(v, decimal.Decimal) else round4(v)
    if type_name == "float":
        return float(v)
    return v


def _equal(a: Any, b: Any) -> bool:
    return b is not None and _compare("==", a, b)


def _compare(op: str, a: Any, b: Any) -> bool:
    # decimal vs float compares as float; int vs float and int vs decimal compare exactly
    if isinstance(a, decimal.Decimal) and type(b) is float:
        a = float(a)
    elif type(a) is float and isinstance(b, decimal.Decimal):
        b = float(b)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise ValueError(op)


def _arith(op: str, a: Any, b: Any, type_name: str) -> Any:
    if type_name == "float":
        a, b = float(a), float(b)
        if op == "/":
            return None if b == 0 else a / b
        if op == "%":
            return None if b == 0 else a % b
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    if type_name == "decimal":
        fa, fb = Fraction(a), Fraction(b)
        if op in ("/", "%") and fb == 0:
            return None
        exact = {
            "+": lambda: fa + fb,
            "-": lambda: fa - fb,
            "*": lambda: fa * fb,
            "/": lambda: fa / fb,
            "%": lambda: fa % fb,
        }[op]()
        return round4(exact)
    # int, timestamp, duration: whole numbers
    if op in ("/", "%") and b == 0:
        return None
    if op == "/":
        return round4(Fraction(a, b))
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "%": lambda: a % b}[op]()


def _aggregate(agg: str, values: list[Any], arg_type: Optional[str]) -> Any:
    if agg == "count":
        return len(values)
    if agg == "distinct":
        return len(set(values))
    if agg == "sum":
        if arg_type == "float":
            total = 0.0
            for v in values:
                total += v
            return total
        exact = sum(values, decimal.Decimal(0) if arg_type == "decimal" else 0)
        return round4(exact) if arg_type == "decimal" else exact
    if not values:
        return None
    if agg == "avg":
        if arg_type == "float":
            total = 0.0
            for v in values:
                total += v
            return total / len(values)
        return round4(Fraction(sum(Fraction(v) for v in values), len(values)))
    if agg == "min":
        return min(values)
    if agg == "max":
        return max(values)
    raise ValueError(f"unknown aggregate {agg!r}")
