"""``engine.explain(event)``: every rule of the event's type, why it fired or not, with margins.

Computed off the hot path, on the reference interpreter's expression
semantics (``ReferenceEngine._eval``: the same ``and``/``or``/``not``,
missing values, decimal arithmetic and list membership the differential tests
hold the engine to), over the values the engine itself uses for this event:

* ``decision`` is ``peek(event)``; it and the probe run under one acquisition
  of the engine's lock (``Engine._explain_view``), so nothing changes state
  and no other event falls between them;
* windows, sequences and parameters come from the probe (``explain_probe``:
  the engine's generated code, reading its own kernels or store with
  ``commit=False``), scorecards' scores and levels from the decision;
* fields are decoded by the reference interpreter; lists are the engine's
  current tables, controls its live control table, as of this call.

A rule *fired* when its condition holds and no exemption applied (the
decision lists the exemptions); that is exactly ``peek``'s answer, which the
tests check on generated rulesets and streams.

Counterfactuals (fired rules only): for each input a condition compares
directly with something (``amount > limit``: ``amount`` and ``limit``), the
value just across each such comparison's boundary is tried, plus the
opposite for a boolean input and "missing" for an optional field; the
change is kept when the rule then no longer fires: re-evaluated with
``peek`` on the changed event for a field, with the reference interpreter
with the value substituted for a window, sequence, scorecard or parameter.
An input's counterfactual is its smallest such change; the rule's is the one
with the smallest relative change.

The implementation is registered with the runtime on import
(``register_explainer``); the package facade imports this module.
"""

from __future__ import annotations

import decimal
import math
import threading
import weakref
from typing import Any, Optional

import msgspec

from ruledsl.kernels.last import NEVER
from ruledsl.kernels.values import EventError
from ruledsl.oracle import explain_model as m
from ruledsl.oracle.explain_model import Comparison, Condition, Counterfactual, Explanation, RuleExplanation
from ruledsl.oracle.explain_probe import probe_for
from ruledsl.oracle.reference import ReferenceEngine, _Ctx, _equal
from ruledsl.runtime.decision import Decision
from ruledsl.runtime.engine_explain import register_explainer
from ruledsl.syntax import nodes as n
from ruledsl.syntax.formatter import format_expr

_COMPARE = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_INPUT_KINDS = ("field", "window", "sequence", "param", "scorecard")
_REFS: weakref.WeakKeyDictionary[Any, tuple[Any, ReferenceEngine, dict[str, Any]]] = weakref.WeakKeyDictionary()
_REFS_LOCK = threading.Lock()


def explain(engine: Any, event: Any) -> Explanation:
    """Explain ``engine.peek(event)`` (see the module docstring); raises ``EventError`` for a malformed event."""
    probe = probe_for(engine)
    decision, features = engine._explain_view(event, probe.features)
    if not isinstance(event, dict):
        event = engine._coerce(event)
    return _Explainer(engine, _reference_for(engine), event, decision, features).run()


register_explainer(explain)


# ---------------------------------------------------------------- the reference interpreter, as the engine is now


def _reference_for(engine: Any) -> ReferenceEngine:
    """A ReferenceEngine over the engine's current parameters, lists and controls (its state is not used)."""
    with _REFS_LOCK:
        cached = _REFS.get(engine)
        names = engine.compiled.lists
        tables = dict(zip(names, engine._lists, strict=True))
        if cached is None or cached[0] is not engine.result:
            ref = ReferenceEngine(engine.result, lists=tables, timezone=engine.timezone)
            cached = (engine.result, ref, dict(tables))
            _REFS[engine] = cached
        _result, ref, seen = cached
        for name, table in tables.items():  # a list replaced since: converted again (tables are replaced, not edited)
            if seen.get(name) is not table:
                ref.lists[name] = ref._ref_list_from_runtime(engine.result.symbols.lists[name].type.name, table)
                seen[name] = table
        for name in engine.compiled.params:
            ref.params[name] = engine.get_param(name)
        clk = engine._clock_state
        ref.max_ts = None if clk[0] == NEVER else clk[0]
        store = ref._control_store()
        store.clear()
        store.update(engine._control_table.live)
        return ref


# ---------------------------------------------------------------- one explanation


class _Explainer:
    def __init__(
        self,
        engine: Any,
        ref: ReferenceEngine,
        event: dict[str, Any],
        decision: Decision,
        features: dict[str, dict[str, Any]],
    ):
        self.engine, self.ref, self.event, self.decision = engine, ref, event, decision
        etype, ts, fields = ref.decode(event)  # the engine accepted it: the reference decodes it alike
        self.ctx = _Ctx(etype, ts, fields, decision.late)
        self.sym = ref.sym
        for feats in features.values():
            self._fill(self.ctx, feats)
        for score in decision.scores:
            self.ctx.cache[("scorecard", score.name)] = (score.score, score.level)
        for name in self.sym.scorecards:
            self.ctx.cache.setdefault(("scorecard", name), (None, None))
        self.fired = {r.id for r in decision.rules}
        self.exempted = {x.rule for x in decision.exemptions} if decision.exemptions else set()

    def _fill(self, ctx: _Ctx, feats: dict[str, Any]) -> None:
        for name, value in feats.items():
            if name in self.sym.windows:
                ctx.cache[("window", name)] = value
            elif name in self.sym.sequences:
                ctx.cache[("sequence", name)] = value

    def run(self) -> Explanation:
        etype = self.ctx.type
        rules = [self._rule(name, decl) for name, decl in self.sym.rules.items() if etype in self.sym.rule_events[name]]
        note = (
            "a late event sees no window or sequence state: windows are missing, sequences false"
            if self.ctx.late
            else ""
        )
        return Explanation(
            event_type=etype,
            ts=self.ctx.ts,
            time=m.value_text(self.ctx.ts, "timestamp", self.ref.zone),
            late=self.ctx.late,
            action=self.decision.action,
            decision=self.decision,
            rules=rules,
            note=note,
        )

    # ------------------------------------------------------------ a rule
    def _rule(self, name: str, decl: n.RuleDecl) -> RuleExplanation:
        when = decl.when
        holds = when is None or self.ref._eval(when, self.ctx) is True
        exempted = holds and name in self.exempted
        fired = holds and not exempted
        out = RuleExplanation(
            rule=name,
            action=decl.action.name if decl.action is not None else "",
            reason=decl.reason or "",
            code=decl.code,
            shadow=decl.shadow,
            fired=fired,
            condition_holds=holds,
            exempted=exempted,
            condition=self._condition(when) if when is not None else None,
        )
        if fired and when is not None:
            found = _Counterfactuals(self, name, when).find()
            out.counterfactuals = found
            out.counterfactual = min(found, key=lambda c: c.relative) if found else None
        return out

    # ------------------------------------------------------------ conditions
    def _type(self, e: n.Expr) -> str:
        t = self.ref.types.get(id(e))
        return t.name if t is not None else "any"

    def _value(self, e: n.Expr, ctx: Optional[_Ctx] = None) -> Any:
        return self.ref._eval(e, ctx or self.ctx)

    def _condition(self, e: n.Expr) -> Condition:
        text = format_expr(e)
        if isinstance(e, n.Binary) and e.op in ("and", "or"):
            children = [self._condition(c) for c in _flatten(e, e.op)]
            return Condition(kind=e.op, text=text, holds=self._value(e) is True, children=children)
        if isinstance(e, n.Unary) and e.op == "not":
            return Condition(kind="not", text=text, holds=self._value(e) is True, children=[self._condition(e.operand)])
        if isinstance(e, n.Binary) and e.op in _COMPARE:
            comp = self._comparison(e)
            return Condition(kind="comparison", text=text, holds=comp.holds, comparison=comp, detail=comp.margin_text)
        value = self._value(e)
        return Condition(kind="test", text=text, holds=value is True, detail=self._test_detail(e, value))

    def _label(self, e: n.Expr, value: Any, ty: str = "") -> str:
        """``name value`` for a name, the value alone for a literal, ``text value`` otherwise."""
        vt = self._show(e, value, ty)
        if isinstance(e, n.Literal) or (isinstance(e, n.Unary) and isinstance(e.operand, n.Literal)):
            return vt
        return f"{format_expr(e)} {vt}"

    def _show(self, e: n.Expr, value: Any, ty: str = "") -> str:
        """A value as people read it; ``ty`` "decimal": an int compared with a decimal shows as one."""
        if ty == "decimal" and type(value) is int:
            return m.value_text(decimal.Decimal(value), "decimal")
        if isinstance(value, dict):  # a declared list
            return format_expr(e)
        if isinstance(value, list) and isinstance(e, n.ListLit):
            return "[" + ", ".join(m.value_text(v, self._type(i)) for v, i in zip(value, e.items, strict=True)) + "]"
        return m.value_text(value, self._type(e), self.ref.zone)

    def _comparison(self, e: n.Binary) -> Comparison:
        a, b = self._value(e.left), self._value(e.right)
        holds = self._value(e) is True
        lt, rt = format_expr(e.left), format_expr(e.right)
        missing = [t for t, v in ((lt, a), (rt, b)) if v is None]
        comp = Comparison(
            text=format_expr(e),
            op=e.op,
            left=lt,
            right=rt,
            left_value=a,
            right_value=None if isinstance(b, dict) else b,
            holds=holds,
            margin_text="",
            missing=missing,
        )
        if missing:
            what = " and ".join(missing)
            comp.margin_text = f"{what} missing: the comparison is false"
            return comp
        if e.op in ("in", "not in"):
            inside = (e.op == "in") == holds
            comp.margin_text = f"{self._label(e.left, a)} {'in' if inside else 'not in'} {self._show(e.right, b)}"
            return comp
        ty = self._type(e.left) if self._type(e.left) not in ("any",) else self._type(e.right)
        if "decimal" in (self._type(e.left), self._type(e.right)) and "float" not in (ty, self._type(e.right)):
            ty = "decimal"  # an int side of a decimal comparison reads as a decimal
        if m.is_number(a) and m.is_number(b):
            comp.margin = m.difference(a, b)
        comp.margin_text = self._margin_text(e, a, b, holds, comp.margin, ty)
        return comp

    def _margin_text(self, e: n.Binary, a: Any, b: Any, holds: bool, margin: Any, ty: str) -> str:
        left, op = self._label(e.left, a, ty), e.op
        rv = self._show(e.right, b, ty)
        right = self._label(e.right, b, ty)
        need = rv if isinstance(e.right, n.Literal) else f"{rv} ({format_expr(e.right)})"
        if margin is None:  # strings, enums, booleans
            if holds:
                return f"{left} {op} {right}"
            return f"{left}, needed {'other than ' if op == '!=' else ''}{need}"
        gap = abs(margin)
        by = m.amount_text(gap, ty)
        if holds:
            if op in ("==",):
                return f"{left} == {right}"
            if op == "!=":
                return f"{left} != {right} by {by}"
            if gap == 0:
                return f"{left} {op} {right} (equal)"
            return f"{left} {op} {right} by {by}"
        unit = m.step(ty, a)
        if op == ">=":
            return f"{left}, needed {need}: {by} short"
        if op == ">":
            if unit is not None and ty != "decimal":
                return f"{left}, needed more than {need}: {m.amount_text(gap + unit, ty)} short"
            return f"{left}, needed more than {need}: {by} short"
        if op == "<=":
            return f"{left}, needed at most {need}: {by} over"
        if op == "<":
            if unit is not None and ty != "decimal":
                return f"{left}, needed less than {need}: {m.amount_text(gap + unit, ty)} over"
            return f"{left}, needed less than {need}: {by} over"
        if op == "==":
            return f"{left}, needed {need}: off by {by}"
        return f"{left}, needed other than {need}"  # != on equal numbers

    def _test_detail(self, e: n.Expr, value: Any) -> str:
        if isinstance(e, n.Name):
            kind, target = self.ref.refs[id(e)]
            if kind == "sequence":
                return f"{target} {'completed' if value else 'not completed'}"
            return f"{target} {self._show(e, value)}"
        if isinstance(e, n.Call) and e.func == "present" and e.args:
            arg = format_expr(e.args[0])
            return f"{arg} {'present' if value else 'missing'}"
        parts = [self._label(a, self._value(a)) for a in _names_in(e)]
        shown = "true" if value is True else "false" if value is False else self._show(e, value)
        return f"{format_expr(e)} is {shown}" + (f" ({', '.join(parts)})" if parts else "")


def _flatten(e: n.Expr, op: str) -> list[n.Expr]:
    if isinstance(e, n.Binary) and e.op == op:
        return [*_flatten(e.left, op), *_flatten(e.right, op)]
    return [e]


def _names_in(e: n.Expr) -> list[n.Name]:
    seen: dict[str, n.Name] = {}
    for sub in n.walk(e):
        if isinstance(sub, n.Name):
            seen.setdefault(sub.name, sub)
    return list(seen.values())


# ---------------------------------------------------------------- counterfactuals


class _Counterfactuals:
    """The smallest change of each input that stops a fired rule (see the module docstring)."""

    def __init__(self, ex: _Explainer, rule: str, when: n.Expr):
        self.ex, self.rule, self.when = ex, rule, when
        self.ref = ex.ref

    def find(self) -> list[Counterfactual]:
        best: dict[str, Counterfactual] = {}
        order: list[str] = []
        for name, kind, candidates in self._candidates():
            for value, text in candidates:
                cf = self._try(name, kind, value, text)
                if cf is None:
                    continue
                if name not in best:
                    order.append(name)
                    best[name] = cf
                elif _size(cf) < _size(best[name]):
                    best[name] = cf
        return [best[name] for name in order]

    # ------------------------------------------------------------ what to try
    def _candidates(self) -> list[tuple[str, str, list[tuple[Any, str]]]]:
        out: dict[tuple[str, str], list[tuple[Any, str]]] = {}
        ctx = self.ex.ctx
        for sub in n.walk(self.when):
            if isinstance(sub, n.Name):
                kind, target = self.ref.refs[id(sub)]
                if kind in _INPUT_KINDS:
                    out.setdefault((target, kind), [])
                    if self.ex._type(sub) == "bool" and kind in ("field", "sequence"):
                        cur = self.ex._value(sub)
                        out[(target, kind)].append((not cur if cur is not None else True, ""))
                    if kind == "field" and target != "ts" and self._optional(target):
                        out[(target, kind)].append((None, f"{target} missing"))
            if not (isinstance(sub, n.Binary) and sub.op in _COMPARE):
                continue
            for this, other, op in ((sub.left, sub.right, sub.op), (sub.right, sub.left, _MIRROR.get(sub.op))):
                if not isinstance(this, n.Name) or op is None:
                    continue
                kind, target = self.ref.refs[id(this)]
                if kind not in _INPUT_KINDS:
                    continue
                cur, v = self.ex._value(this, ctx), self.ex._value(other, ctx)
                out.setdefault((target, kind), []).extend(self._across(target, self.ex._type(this), op, cur, v))
        self._fed_fields(out)
        return [(name, kind, cands) for (name, kind), cands in out.items() if cands]

    def _fed_fields(self, out: dict[tuple[str, str], list[tuple[Any, str]]]) -> None:
        """A ``sum`` window the event feeds with a field moves with it: the field's change that moves the window."""
        ctx, sym = self.ex.ctx, self.ex.sym
        for (name, kind), cands in list(out.items()):
            decl = sym.windows.get(name) if kind == "window" else None
            if decl is None or decl.agg.name != "sum" or decl.exclude_current or not isinstance(decl.arg, n.Name):
                continue
            fref = self.ref.refs[id(decl.arg)]
            current = ctx.cache.get(("window", name))
            value = ctx.field(fref[1])
            if fref[0] != "field" or ctx.type not in sym.window_events[name] or not m.is_number(current):
                continue
            if not m.is_number(value):
                continue
            ty = self.ex._type(decl.arg)
            for wanted, _text in cands:
                if m.is_number(wanted):
                    new = value + m.difference(wanted, current)  # type: ignore[arg-type]
                    text = f"{fref[1]} at most {m.value_text(new, ty)} ({name} {m.value_text(wanted, ty)})"
                    out.setdefault((fref[1], "field"), []).append((new, text))

    def _optional(self, field: str) -> bool:
        t = self.ex.sym.fields[self.ex.ctx.type].get(field)
        return bool(t is not None and t.optional)

    def _across(self, name: str, ty: str, op: str, cur: Any, v: Any) -> list[tuple[Any, str]]:
        """Values of ``name`` just across the boundary of ``name op v`` (both ways: the check decides)."""
        if v is None:
            return []
        if op in ("in", "not in"):
            if isinstance(v, dict):
                entries = list(v)
            elif isinstance(v, list):
                entries = v
            else:
                return []
            lst = "the list"
            out: list[tuple[Any, str]] = []
            if cur is not None and any(_same(cur, x) for x in entries):
                other = self._outside(ty, entries, cur)
                if other is not None:
                    out.append((other, f"{name} not in {lst} (e.g. {m.value_text(other, ty)})"))
            elif entries:
                out.append((entries[0], f"{name} in {lst} (e.g. {m.value_text(entries[0], ty)})"))
            return out
        if not m.is_number(v) or ty not in ("int", "decimal", "float", "duration", "timestamp"):
            if op == "==":
                other = self._outside(ty, [v], cur)
                return [(other, f"{name} other than {m.value_text(v, ty)}")] if other is not None else []
            if op == "!=":
                return [(v, f"{name} equal to {m.value_text(v, ty)}")]
            return []
        v = _as(ty, v)
        unit = m.step(ty, v)
        shown = m.value_text(v, ty, self.ref.zone)
        below = v - unit if unit is not None else _nextafter(v, -1)
        above = v + unit if unit is not None else _nextafter(v, 1)
        at_most, at_least = (f"{name} at most {shown}", f"{name} at least {shown}")
        below_text = (
            f"{name} below {shown}"
            if ty in ("decimal", "float")
            else f"{name} at most {m.value_text(below, ty, self.ref.zone)}"
        )
        above_text = (
            f"{name} above {shown}"
            if ty in ("decimal", "float")
            else f"{name} at least {m.value_text(above, ty, self.ref.zone)}"
        )
        if op in (">", "<="):
            return [(v, at_most), (above, above_text)]
        if op in ("<", ">="):
            return [(v, at_least), (below, below_text)]
        if op == "==":
            return [
                (below, f"{name} other than {shown} ({m.value_text(below, ty, self.ref.zone)})"),
                (above, f"{name} other than {shown} ({m.value_text(above, ty, self.ref.zone)})"),
            ]
        return [(v, f"{name} equal to {shown}")]  # !=

    def _outside(self, ty: str, entries: list[Any], cur: Any) -> Any:
        """A value of type ``ty`` equal to none of ``entries`` (an enum's other value, a marked string, a number)."""
        if ty == "enum":
            for t in self._enum_values():
                if not any(_same(t, x) for x in entries):
                    return t
            return None
        if ty == "string":
            base = cur if isinstance(cur, str) else "other"
            cand = base + "~"
            while any(_same(cand, x) for x in entries):
                cand += "~"
            return cand
        if ty == "bool":
            return None
        if m.is_number(cur):
            step = m.step(ty, cur) or 1.0
            cand = cur
            while any(_same(cand, x) for x in entries):
                cand = cand + step
            return cand
        return None

    def _enum_values(self) -> tuple[str, ...]:
        for t in self.ex.sym.fields[self.ex.ctx.type].values():
            if t.name == "enum":
                return t.enum_values
        return ()

    # ------------------------------------------------------------ trying a change
    def _try(self, name: str, kind: str, value: Any, text: str) -> Optional[Counterfactual]:
        ctx = self.ex.ctx
        if kind == "field":
            current = ctx.field(name)
            if _same_or_none(current, value) or not self._field_stops(name, value):
                return None
        elif kind == "param":
            current = self.ref.params[name]
            if _same_or_none(current, value) or not self._ref_stops(lambda: self._with_param(name, value)):
                return None
        else:
            key = (kind, name)
            current = ctx.cache.get(key)
            if kind == "scorecard":
                current = current[0] if current is not None else None
            if _same_or_none(current, value) or not self._ref_stops(lambda: self._with_cached(key, kind, value)):
                return None
        if not text:
            text = f"{name} {m.value_text(value, 'bool')}" if kind != "sequence" else f"{name} not completed"
        change = m.difference(value, current) if m.is_number(value) and m.is_number(current) else None
        if value is None:
            rel = 2.0
        elif change is not None:
            rel = float(abs(change)) / max(float(abs(current)), 1.0)  # type: ignore[arg-type]
        else:
            rel = 1.0
        return Counterfactual(
            input=name, kind=kind, current=current, value=value, text=text, change=change, relative=rel
        )

    def _field_stops(self, name: str, value: Any) -> bool:
        """Peek with the event changed: the engine's own answer, windows fed by the changed value included."""
        event = dict(self.ex.event)
        if name == "ts":
            event["ts"] = value
        elif value is None:
            event.pop(name, None)
        else:
            event[name] = _json_value(value)
        try:
            decision = self.ex.engine.peek(event)
        except EventError:
            return False
        return all(r.id != self.rule for r in decision.rules)

    def _ref_stops(self, apply: Any) -> bool:
        with apply() as ctx:
            return self.ref._eval(self.when, ctx) is not True

    def _with_param(self, name: str, value: Any) -> Any:
        return _Swap(self.ref.params, name, value, self.ex.ctx)

    def _with_cached(self, key: tuple[str, str], kind: str, value: Any) -> Any:
        cache = self.ex.ctx.cache
        if kind == "scorecard":
            old = cache.get(key, (None, None))
            return _Swap(cache, key, (value, old[1]), self.ex.ctx)
        return _Swap(cache, key, value, self.ex.ctx)


class _Swap:
    """``mapping[key] = value`` for the duration of a ``with``, the old value back afterwards."""

    def __init__(self, mapping: dict[Any, Any], key: Any, value: Any, ctx: _Ctx):
        self.mapping, self.key, self.value, self.ctx = mapping, key, value, ctx

    def __enter__(self) -> _Ctx:
        self.old = self.mapping.get(self.key, _ABSENT)
        self.mapping[self.key] = self.value
        return self.ctx

    def __exit__(self, *exc: Any) -> None:
        if self.old is _ABSENT:
            del self.mapping[self.key]
        else:
            self.mapping[self.key] = self.old


_ABSENT = object()


def _size(cf: Counterfactual) -> float:
    return cf.relative


def _same(a: Any, b: Any) -> bool:
    # the language's == (numbers across types); values of different kinds are simply unequal
    try:
        return a is not None and _equal(a, b)
    except TypeError:
        return False


def _same_or_none(a: Any, b: Any) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and type(a) is type(b) and a == b)


def _as(ty: str, v: Any) -> Any:
    if ty == "decimal" and not isinstance(v, decimal.Decimal):
        return decimal.Decimal(v) if not isinstance(v, float) else v
    if ty in ("int", "duration", "timestamp") and isinstance(v, decimal.Decimal):
        return v  # an int compared with a decimal: the boundary is the decimal
    return v


def _nextafter(v: Any, direction: int) -> float:
    return math.nextafter(float(v), math.inf if direction > 0 else -math.inf)


def _json_value(v: Any) -> Any:
    """A runtime value as an event carries it (a decimal as its text)."""
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


def explanation_json(ex: Explanation) -> bytes:
    """An explanation as JSON (decimals as their text, every digit kept)."""
    return msgspec.json.encode(ex)
