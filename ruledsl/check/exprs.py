"""Typing and constant folding of expressions.

One pass per expression, without recursion (rules may hold very long
``a or b or c ...`` chains): the nodes are listed depth first and visited in
reverse, so every child is typed before its parent.  Types go to
``ctx.types`` and resolved names to ``ctx.refs``, keyed by ``id(node)``.

Constant values are folded on the way (literals, ``const`` names and
everything computed from them only), in the runtime representation of each
node's type (see ``ruledsl.check.fold``); every folded node's value goes to
``ctx.node_values``, keyed like ``ctx.types``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import re2

from ruledsl.check import messages as m
from ruledsl.check.fold import (
    NOTCONST,
    decimal_text,
    fold_call,
    fold_compare,
    fold_in,
    fold_numeric,
    fold_time,
    in_range,
    list_value,
)
from ruledsl.check.symbols import VALUE_KINDS, Context, FieldEntry
from ruledsl.check.types import (
    ANY,
    BOOL,
    BUILTINS,
    CONTROL_FUNCTIONS,
    DECIMAL,
    DURATION,
    INT,
    NUMERIC,
    ORDERED,
    STRING,
    Type,
    accepts,
    builtin_result,
    comparable,
    is_texty,
    list_of,
    promote,
    scalar,
    unify,
    with_optional,
)
from ruledsl.kernels.values import decimal_literal
from ruledsl.syntax import nodes as n
from ruledsl.syntax.diagnostics import suggest

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False

_LITERAL_TYPES = {"int": INT, "decimal": DECIMAL, "string": STRING, "bool": BOOL, "duration": DURATION}
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})

Folded = tuple[Type, Any]
"""The type of an expression and its constant value (``NOTCONST`` when it has none)."""
Values = dict[int, Any]
"""Constant values of the sub-expressions checked so far, by ``id(node)``."""


_NO_CONTROLS = frozenset({"window", "sequence", "step", "control"})
"""Scopes that cannot read controls: windows and sequences are fed, and control keys computed, before any decision."""


class Scope:
    """Where an expression stands: which fields and which kinds of declarations it may read."""

    __slots__ = ("allowed", "const", "events", "events_set", "fields", "lenient", "memo", "owner", "path", "what")

    def __init__(
        self,
        path: str,
        events: Iterable[str] = (),
        what: str = "",
        allowed: Iterable[str] = VALUE_KINDS,
        const: Optional[str] = None,
        owner: str = "",
        lenient: bool = False,
    ):
        self.path = path
        self.events = tuple(events)
        self.events_set = frozenset(self.events)
        self.what = what  # "rule", "window", ... for "applies to" messages
        self.allowed = frozenset(allowed)
        self.const = const  # set: a constant is required here; this says what, e.g. "a list entry"
        self.owner = owner  # e.g. "window `w1`", for RD309
        # an event type of the clause was unknown (already reported): accept any field silently
        self.lenient = lenient
        self.fields: Optional[dict[str, FieldEntry]] = None  # the field table of ``events``, filled on first use
        # name -> (type, value, ref) for names resolved here without a diagnostic.  A scope
        # may be shared by many expressions (all rules on the same event types) once every
        # declaration they can read has been checked.
        self.memo: dict[str, tuple[Type, Any, Optional[tuple[str, str]]]] = {}


def literal_decimal(text: str) -> tuple[Optional[int], bool]:
    """Decimal literal text -> (scaled value or None if out of range, more than 4 fractional digits?).

    The value comes from ``decimal_literal`` (rounded half to even); the flag
    is about the text as written, for RD212.
    """
    try:
        value: Optional[int] = decimal_literal(text)
    except ValueError:
        value = None
    return value, len(text.partition(".")[2]) > 4


def preorder(root: n.Expr) -> list[n.Expr]:
    """``root`` and its sub-expressions, every node before its children; no recursion."""
    order: list[n.Expr] = []
    stack = [root]
    pop, push, add = stack.pop, stack.append, order.append
    while stack:
        node = pop()
        add(node)
        if isinstance(node, n.Binary):
            push(node.right)
            push(node.left)
        elif isinstance(node, n.Unary):
            push(node.operand)
        elif isinstance(node, n.Call):
            stack.extend(reversed(node.args))
        elif isinstance(node, n.ListLit):
            stack.extend(reversed(node.items))
    return order


class ExprChecker:
    """Types and folds expressions of one program."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.types = ctx.types
        self.refs = ctx.refs
        self.window_events = ctx.sym.window_events
        self._event_sets: dict[str, frozenset[str]] = {}  # window/scorecard -> the event types it is for
        self.last_order: list[n.Expr] = []  # the nodes of the last checked expression, parents first

    # ------------------------------------------------------------ entry point

    def check(self, root: n.Expr, scope: Scope) -> Folded:
        """Type ``root`` and every sub-expression; return its type and constant value (or NOTCONST)."""
        ctx = self.ctx
        before = len(ctx.diags)
        types = self.types
        refs = self.refs
        memo = scope.memo
        diags = ctx.diags
        values: Values = {}
        published = ctx.node_values
        order = self.last_order = preorder(root)
        Literal, Name, Binary, Unary, Call = n.Literal, n.Name, n.Binary, n.Unary, n.Call
        t: Type
        v: Any
        for node in reversed(order):
            if isinstance(node, Name):
                hit = memo.get(node.name)
                if hit is None:
                    count = len(diags)
                    t, v = self._name(node, scope)
                    if len(diags) == count:
                        memo[node.name] = (t, v, refs.get(id(node)))
                else:
                    t, v, ref = hit
                    if ref is not None:
                        refs[id(node)] = ref
            elif isinstance(node, Literal):
                t, v = self._literal(node, scope)
            elif isinstance(node, Binary):
                op = node.op
                if (
                    (op == "and" or op == "or")
                    and types[id(node.left)] is BOOL
                    and types[id(node.right)] is BOOL
                    and id(node.left) not in values
                    and id(node.right) not in values
                ):
                    t, v = BOOL, NOTCONST  # the common case, without the general path
                else:
                    t, v = self._binary(node, scope, values)
            elif isinstance(node, Unary):
                t, v = self._unary(node, scope, values)
            elif isinstance(node, Call):
                t, v = self._call(node, scope, values)
            else:
                t, v = self._list(node, scope, values)
            types[id(node)] = t
            if v is not NOTCONST:
                values[id(node)] = v
                published[id(node)] = self._list_value(node, t, values) if isinstance(node, n.ListLit) else v
        value = values.get(id(root), NOTCONST)
        t = types[id(root)]
        if scope.const is not None and value is NOTCONST and len(ctx.diags) == before and t.name != "any":
            ctx.report(scope.path, root.span, m.not_constant_expr(scope.const))
        return t, value

    # ------------------------------------------------------------ leaves

    def _literal(self, node: n.Literal, scope: Scope) -> Folded:
        kind = node.kind
        value = node.value
        if kind == "string" or kind == "bool":
            return _LITERAL_TYPES[kind], value
        if kind == "decimal":
            text = str(value)  # a decimal literal keeps its source text
            scaled, inexact = literal_decimal(text)
            if inexact:
                self.ctx.report(scope.path, node.span, m.too_many_digits(text))
            if scaled is None:  # too long to be read: out of range
                self.ctx.report(scope.path, node.span, m.out_of_range(text))
                return DECIMAL, NOTCONST
            value = scaled
        if isinstance(value, int) and not in_range(value):  # int, decimal, duration
            self.ctx.report(scope.path, node.span, m.out_of_range(str(node.value)))
            return _LITERAL_TYPES[kind], NOTCONST
        return _LITERAL_TYPES[kind], value

    def _name(self, node: n.Name, scope: Scope) -> Folded:
        ctx = self.ctx
        name = node.name
        glob = ctx.globals.get(name)
        if scope.events:
            fields = scope.fields
            if fields is None:
                fields = scope.fields = ctx.field_table(scope.events)
            entry = fields.get(name)
            if entry is not None:
                t, missing, conflict = entry
                if glob is not None:
                    ctx.used.add(name)  # one message (RD110) is enough, not also RD307
                    ctx.report(scope.path, node.span, m.ambiguous_name(name, glob[0], ctx.field_owners.get(name, [])))
                if conflict is not None:
                    ctx.report(scope.path, node.span, conflict)
                elif missing and not scope.lenient:
                    ctx.report(scope.path, node.span, m.field_missing_in_some(name, scope.what, list(missing)))
                self.refs[id(node)] = ("field", name)
                return t, NOTCONST
        if glob is not None:
            kind = glob[0]
            ctx.used.add(name)
            if scope.const is not None and kind != "const":
                ctx.report(scope.path, node.span, m.not_constant(name, kind, scope.const))
                return ANY, NOTCONST
            if kind not in scope.allowed:
                ctx.report(scope.path, node.span, m.not_allowed_in(name, kind, scope.owner))
                return ANY, NOTCONST
            self.refs[id(node)] = (kind, name)
            t = ctx.sym.value_types.get(name, ANY)
            if kind == "const":
                return t, ctx.const_values.get(name, NOTCONST)
            if (kind == "window" or kind == "scorecard") and not t.optional and t.name != "any":
                wset = self._event_sets.get(name)
                if wset is None:
                    table = self.window_events if kind == "window" else ctx.sym.scorecard_events
                    wset = self._event_sets[name] = frozenset(table.get(name, ()))
                if not scope.events_set <= wset:
                    # a window's key, or the scorecard itself, is missing for the other event types
                    t = with_optional(t, True)
            return t, NOTCONST
        # not found: say why as precisely as possible
        owners = ctx.field_owners.get(name)
        if scope.lenient and scope.const is None:
            self.refs[id(node)] = ("field", name)
            return ANY, NOTCONST
        if owners and scope.const is not None:
            ctx.report(scope.path, node.span, m.not_constant(name, "field", scope.const))
        elif owners and scope.events:
            fields = ctx.field_table(scope.events)
            ctx.report(scope.path, node.span, m.not_a_field(name, list(scope.events), suggest(name, fields), owners))
        else:
            other = None
            if name in ctx.sym.events:
                other = "event"
            elif name in ctx.sym.rules:
                other = "rule"
            elif name in n.AGGREGATES:
                other = "aggregate"
            candidates = [
                g
                for g, (k, _d, _p) in ctx.globals.items()
                if k in scope.allowed and (scope.const is None or k == "const")
            ]
            fields = ctx.field_table(scope.events) if scope.events else {}
            hint = suggest(name, candidates + list(fields))
            if hint is not None and other is None and hint.split("`")[1] in fields:
                # a misspelt field: say so, as the schema is what the author has in mind
                ctx.report(scope.path, node.span, m.not_a_field(name, list(scope.events), hint, []))
            else:
                ctx.report(scope.path, node.span, m.unknown_name(name, hint, other))
        return ANY, NOTCONST

    # ------------------------------------------------------------ operators

    def _unary(self, node: n.Unary, scope: Scope, values: Values) -> Folded:
        t = self.types[id(node.operand)]
        v = values.get(id(node.operand), NOTCONST)
        if node.op == "not":
            if t.name not in ("bool", "any"):
                self.ctx.report(scope.path, node.span, m.bad_operator("not", t))
                return BOOL, NOTCONST
            return BOOL, (not v) if v is not NOTCONST else NOTCONST
        if t.name == "any":
            return ANY, NOTCONST
        if t.name not in NUMERIC and t.name != "duration":
            self.ctx.report(scope.path, node.span, m.bad_operator("-", t))
            return ANY, NOTCONST
        return with_optional(Type(t.name), t.optional), (-v if v is not NOTCONST else NOTCONST)

    def _binary(self, node: n.Binary, scope: Scope, values: Values) -> Folded:
        op = node.op
        lt = self.types[id(node.left)]
        rt = self.types[id(node.right)]
        lv = values.get(id(node.left), NOTCONST)
        rv = values.get(id(node.right), NOTCONST)
        if op == "and" or op == "or":
            if lt.name not in ("bool", "any") or rt.name not in ("bool", "any"):
                self.ctx.report(scope.path, node.span, m.bad_operator(op, lt, rt))
                return BOOL, NOTCONST
            if op == "and":
                if lv is False or rv is False:
                    return BOOL, False
                return BOOL, (True if lv is True and rv is True else NOTCONST)
            if lv is True or rv is True:
                return BOOL, True
            return BOOL, (False if lv is False and rv is False else NOTCONST)
        if op in _COMPARISONS:
            return self._compare(node, op, lt, rt, lv, rv, scope)
        if op == "in" or op == "not in":
            return self._in(node, op, lt, rt, lv, values, scope)
        return self._arith(node, op, lt, rt, lv, rv, scope)

    def _compare(self, node: n.Binary, op: str, lt: Type, rt: Type, lv: Any, rv: Any, scope: Scope) -> Folded:
        if lt.name == "any" or rt.name == "any":
            return BOOL, NOTCONST
        if not comparable(lt, rt):
            self.ctx.report(scope.path, node.span, m.cannot_compare(op, lt, rt))
            return BOOL, NOTCONST
        if op not in ("==", "!=") and not (lt.name in ORDERED and rt.name in ORDERED):
            self.ctx.report(scope.path, node.span, m.bad_operator(op, lt, rt))
            return BOOL, NOTCONST
        if lt.name == "list":
            self.ctx.report(scope.path, node.span, m.bad_operator(op, lt, rt))
            return BOOL, NOTCONST
        self._enum_member(lt, node.right, rv, scope)
        self._enum_member(rt, node.left, lv, scope)
        if lv is NOTCONST or rv is NOTCONST:
            return BOOL, NOTCONST
        return BOOL, fold_compare(op, lt, lv, rt, rv)

    def _enum_member(self, t: Type, other: n.Expr, value: Any, scope: Scope) -> None:
        """RD210: an enum compared with a constant text not among its values."""
        if t.name == "enum" and isinstance(value, str) and value not in t.enum_values:
            self.ctx.report(scope.path, other.span, m.not_in_enum(value, t, suggest(value, t.enum_values)))

    def _in(self, node: n.Binary, op: str, lt: Type, rt: Type, lv: Any, values: Values, scope: Scope) -> Folded:
        right = node.right
        if rt.name == "any":
            return BOOL, NOTCONST
        if rt.name != "list":
            self.ctx.report(scope.path, right.span, m.in_needs_list(op, rt))
            return BOOL, NOTCONST
        elem = rt.elem or ANY
        if lt.name == "any" or elem.name == "any":
            return BOOL, NOTCONST
        if not comparable(lt, elem) or lt.name == "list":
            self.ctx.report(scope.path, node.span, m.in_elem_mismatch(lt, elem))
            return BOOL, NOTCONST
        if isinstance(right, n.ListLit):
            items = [values.get(id(item), NOTCONST) for item in right.items]
            for item, v in zip(right.items, items, strict=True):
                self._enum_member(lt, item, v, scope)
            if lv is not NOTCONST and NOTCONST not in items:
                found = fold_in(lt, lv, [(self.types[id(item)], v) for item, v in zip(right.items, items, strict=True)])
                return BOOL, found if op == "in" else not found
        return BOOL, NOTCONST

    def _arith(self, node: n.Binary, op: str, lt: Type, rt: Type, lv: Any, rv: Any, scope: Scope) -> Folded:
        ln, rn = lt.name, rt.name
        if ln == "any" or rn == "any":
            return ANY, NOTCONST
        optional = lt.optional or rt.optional
        if (op == "/" or op == "%") and rv is not NOTCONST and rv == 0 and rn in NUMERIC:
            self.ctx.report(scope.path, node.right.span, m.division_by_zero())
            return Type("decimal" if op == "/" else promote(ln, rn), True), NOTCONST
        if ln in NUMERIC and rn in NUMERIC:
            if op == "%" and (ln == "float" or rn == "float"):
                self.ctx.report(scope.path, node.span, m.bad_operator(op, lt, rt))
                return ANY, NOTCONST
            name = promote(ln, rn)
            if op == "/" and name == "int":
                name = "decimal"
            if op in ("/", "%") and rv is NOTCONST:
                optional = True  # division by zero gives a missing value
            t = scalar(name, optional)
            if lv is NOTCONST or rv is NOTCONST or name == "float":
                return t, NOTCONST
            return t, self._in_range(fold_numeric(op, ln, lv, rn, rv, name), node, scope, name)
        result = _time_result(op, ln, rn)
        if result is None:
            self.ctx.report(scope.path, node.span, m.bad_operator(op, lt, rt))
            return ANY, NOTCONST
        t = scalar(result, optional)
        if lv is NOTCONST or rv is NOTCONST:
            return t, NOTCONST
        return t, self._in_range(fold_time(op, lv, rv), node, scope, "duration")

    def _in_range(self, value: int, node: n.Expr, scope: Scope, kind: str) -> Any:
        if in_range(value):
            return value
        shown = decimal_text(value) if kind == "decimal" else str(value)
        self.ctx.report(scope.path, node.span, m.out_of_range(shown[:30]))
        return NOTCONST

    # ------------------------------------------------------------ calls and lists

    def _call(self, node: n.Call, scope: Scope, values: Values) -> Folded:
        ctx = self.ctx
        b = BUILTINS.get(node.func)
        if b is None:
            ctx.report(scope.path, node.func_span, m.unknown_function(node.func, suggest(node.func, BUILTINS)))
            return ANY, NOTCONST
        if b.name in CONTROL_FUNCTIONS and scope.what in _NO_CONTROLS:
            ctx.report(scope.path, node.func_span, m.control_function_in(b.name, scope.owner or f"a {scope.what}"))
        args = node.args
        types = [self.types[id(a)] for a in args]
        if len(args) != len(b.params):
            ctx.report(scope.path, node.span, m.wrong_arity(b, len(args)))
            return (ANY if b.result in ("same", "promote") else builtin_result(b, [])), NOTCONST
        ok = True
        for i, (kind, arg, t) in enumerate(zip(b.params, args, types, strict=True)):
            if not accepts(kind, t):
                ctx.report(scope.path, arg.span, m.wrong_arg(b, i, t))
                ok = False
            elif kind == "pattern":
                if not (isinstance(arg, n.Literal) and arg.kind == "string"):
                    ctx.report(scope.path, arg.span, m.pattern_not_literal())
                else:
                    try:
                        re2.compile(arg.value, options=_RE2_OPTIONS)
                    except re2.error as err:
                        reason = err.args[0] if err.args else "invalid"
                        if isinstance(reason, bytes):
                            reason = reason.decode("utf-8", "replace")
                        ctx.report(scope.path, arg.span, m.bad_regex(str(reason)))
            elif kind == "list":
                ref = self.refs.get(id(arg))
                if not (isinstance(arg, n.Name) and ref is not None and ref[0] == "list") and t.name != "any":
                    ctx.report(scope.path, arg.span, m.list_function_needs_list(b.name))
                    ok = False
                elif not list_lookup_ok(t.elem or ANY, types[1]):
                    ctx.report(scope.path, args[1].span, m.list_lookup_mismatch(b.name, types[1], t.elem or ANY))
                    ok = False
            elif kind == "scorecard":
                ref = self.refs.get(id(arg))
                if not (isinstance(arg, n.Name) and ref is not None and ref[0] == "scorecard") and t.name != "any":
                    ctx.report(scope.path, arg.span, m.level_needs_scorecard())
                    ok = False
        if b.name == "between_hours":
            for arg in args[1:]:
                v = values.get(id(arg), NOTCONST)
                if isinstance(v, int) and not isinstance(v, bool) and not 0 <= v <= 24:
                    ctx.report(scope.path, arg.span, m.hour_out_of_range(b, v))
        if not ok:
            return (ANY if b.result in ("same", "promote") else builtin_result(b, [])), NOTCONST
        t = builtin_result(b, types)
        if b.missing == "propagate" and any(a.optional for a in types):
            t = with_optional(t, True)
        argv = [values.get(id(a), NOTCONST) for a in args]
        if NOTCONST in argv or t.name == "any":
            return t, NOTCONST
        return t, fold_call(b.name, types, argv, t)

    def _list_value(self, node: n.ListLit, t: Type, values: Values) -> frozenset[Any]:
        """The published value of a constant list literal (a set, in the element type)."""
        return list_value(t.elem, [(self.types[id(i)], values[id(i)]) for i in node.items])

    def _list(self, node: n.ListLit, scope: Scope, values: Values) -> Folded:
        elem: Optional[Type] = None
        for item in node.items:
            t = self.types[id(item)]
            if t.name == "list":
                self.ctx.report(scope.path, item.span, m.list_mixed(elem or t, t))
                continue
            if elem is None:
                elem = t
                continue
            u = unify(elem, t)
            if u is None:
                self.ctx.report(scope.path, item.span, m.list_mixed(elem, t))
            else:
                elem = u
        items = [values.get(id(i), NOTCONST) for i in node.items]
        value = tuple(items) if NOTCONST not in items else NOTCONST
        return list_of(elem or ANY), value


# ---------------------------------------------------------------- folding helpers


def list_lookup_ok(elem: Type, t: Type) -> bool:
    """Whether ``list_category(L, x)`` & co. may look up ``x`` of type ``t`` among entries of type ``elem``.

    Texts in text lists; a whole number in an int or decimal list; a decimal
    in a decimal list (a decimal in an int list would need rounding: refused).
    """
    if t.name == "any" or elem.name == "any":
        return True
    if is_texty(elem):
        return is_texty(t)
    if elem.name == "decimal":
        return t.name in ("int", "decimal")
    return t.name == elem.name


def _time_result(op: str, ln: str, rn: str) -> Optional[str]:
    """Result type of arithmetic on timestamps and durations, or None if not defined."""
    if op == "-" and ln == rn == "timestamp":
        return "duration"
    if op in ("+", "-") and ln == "timestamp" and rn == "duration":
        return "timestamp"
    if op == "+" and ln == "duration" and rn == "timestamp":
        return "timestamp"
    if op in ("+", "-") and ln == rn == "duration":
        return "duration"
    if op == "*" and {ln, rn} == {"duration", "int"}:
        return "duration"
    return None


# ---------------------------------------------------------------- structural identity


_OP_CODES = {
    op: i
    for i, op in enumerate(
        ("or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%", "not")
    )
}


def structure_key(order: list[n.Expr]) -> tuple[Any, ...]:
    """A hashable key equal for two expressions exactly when they have the same structure (RD404).

    ``order`` is ``preorder(expr)``.  A preorder listing of labels is
    unambiguous because every label fixes its number of children; labels
    are of distinct Python types (names ``str``, operators ``int``, others
    ``tuple``), and spans are left out.  The key is flat, so hashing and
    comparing it never recurses however deep the expression.
    """
    out: list[Any] = []
    add = out.append
    for node in order:
        if isinstance(node, n.Name):
            add(node.name)
        elif isinstance(node, n.Binary):
            add(_OP_CODES.get(node.op, -1))
        elif isinstance(node, n.Literal):
            add((node.kind, literal_decimal(str(node.value))[0] if node.kind == "decimal" else node.value))
        elif isinstance(node, n.Unary):
            add(100 + _OP_CODES.get(node.op, -1))
        elif isinstance(node, n.Call):
            add(("call", node.func, len(node.args)))
        else:
            add(("list", len(node.items)))
    return tuple(out)
