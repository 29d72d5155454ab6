"""DSL expressions -> Python expression text, for one event type's function.

Each ``expr()`` returns ``(code, may_be_none)``; numbers come out in the
runtime representation of the node's checked type (decimals scaled ints,
timestamps and durations ms).  A missing operand makes an arithmetic result
missing and a test false, and a guard is written only where the checker's
types say a value can be missing.  User values enter the text only as
``repr()`` of Python literals or as named constants bound by the engine.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, Optional

from ruledsl.check.checker import CheckResult
from ruledsl.check.fold import convert_value
from ruledsl.check.types import NUMERIC, promote
from ruledsl.compile import controlcode
from ruledsl.compile.plan import Constants, Names
from ruledsl.kernels.values import SCALE
from ruledsl.syntax import nodes as n

Code = tuple[str, bool]  # (Python expression, may be None)

_LOCAL_TIME = {
    "hour": "(lt // 3600000 % 24)",
    "minute": "(lt // 60000 % 60)",
    "weekday": "((lt // 86400000 + 3) % 7 + 1)",
}

_CALLS: dict[str, Callable[..., str]] = {
    "hour": lambda t: f"_hour({t})",
    "minute": lambda t: f"_minute({t})",
    "weekday": lambda t: f"_weekday({t})",
    "day": lambda t: f"_day({t})",
    "between_hours": lambda t, a, b: f"_between(_hour({t}), {a}, {b})",
    "lower": lambda s: f"{s}.lower()",
    "upper": lambda s: f"{s}.upper()",
    "len": lambda s: f"len({s})",
    "startswith": lambda s, p: f"{s}.startswith({p})",
    "endswith": lambda s, p: f"{s}.endswith({p})",
    "contains": lambda s, p: f"({p} in {s})",
}

_LIST_CALLS = {"list_category": "_lcat", "list_source": "_lsrc", "list_attr": "_lattr", "list_expires_at": "_lexp"}
"""List attribute functions -> their runtime helper (``kernels/listtable.py``), called with the event's ``ts``."""

_MEMBERSHIP_HELPERS = {
    ("decimal", "int"): "_dec_in_int",
    ("float", "int"): "_flt_in_int",
    ("float", "decimal"): "_flt_in_dec",
}


class ConstantTable:
    """Values that cannot be written as a literal, bound to named globals (``K_...``)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._by_value: dict[tuple[str, Any], str] = {}

    def ref(self, value: Any, hint: str) -> str:
        """Python text for ``value``: its literal when it has one, else the name of a bound constant."""
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        key = (type(value).__name__, value)
        try:
            found = self._by_value.get(key)
        except TypeError:  # an unhashable value: always its own constant
            found = None
        if found is not None:
            return found
        base = f"K_{hint}" if f"K_{hint}".isidentifier() else "K"
        name = base
        i = 1
        while name in self.values:
            i += 1
            name = f"{base}_{i}"
        self.values[name] = value
        with contextlib.suppress(TypeError):  # unhashable: not shared
            self._by_value[key] = name
        return name


class ExprEmitter:
    """Expression code for one event type's function (``event`` None: constant expressions only)."""

    def __init__(
        self,
        result: CheckResult,
        names: Names,
        consts: Constants,
        table: ConstantTable,
        regexes: list[str],
        event: Optional[str],
    ):
        self.result = result
        self.names = names
        self.consts = consts
        self.table = table
        self.regexes = regexes
        self.event = event
        self.tmp = 0
        self.used_params: set[str] = set()
        self.used_lists: set[str] = set()
        self.uses_local_time = False
        self.scored_here: set[str] = set()  # scorecards scored on this event: never missing here

    def fresh(self) -> str:
        """A new temporary for a value tested for None and then used."""
        self.tmp += 1
        return f"_t{self.tmp}"

    def ty(self, node: n.Expr) -> str:
        """The checked type name of a node."""
        return self.result.types[id(node)].name

    def convert(self, code: str, src: str, dst: str) -> str:
        """Change a number's representation (int -> decimal -> float)."""
        if src == dst or dst not in NUMERIC or src not in NUMERIC:
            return code
        if dst == "decimal" and src == "int":
            if code.lstrip("-").isdigit():  # a literal: fold the scaling
                return repr(int(code) * SCALE)
            return f"({code} * {SCALE})"
        if dst == "float":
            return f"({code} / {float(SCALE)!r})" if src == "decimal" else f"float({code})"
        raise ValueError(f"cannot convert {src} to {dst}")

    # ---------------------------------------------------------------- entry points

    def expr(self, node: n.Expr) -> Code:
        """Code for a value."""
        if id(node) in self.consts.by_node and not isinstance(node, (n.Literal, n.Name)):
            value = self.consts.by_node[id(node)]
            return self.table.ref(value, "const"), value is None
        method = getattr(self, "e_" + type(node).__name__)
        return method(node)

    def test(self, node: n.Expr) -> str:
        """Code for a condition that is exactly True or False (missing counts as False)."""
        code, nullable = self.expr(node)
        return f"({code} is True)" if nullable else code

    # ---------------------------------------------------------------- guards

    def guard(
        self, parts: list[Code], build: Callable[..., str], convs: Optional[list[Optional[tuple[str, str]]]] = None
    ) -> Code:
        """Evaluate operands once; if any may be None, the result is None.

        ``convs`` gives a (source type, target type) per operand: the numeric
        conversion is applied after the None test, never to a None.
        """
        names, checks = [], []
        for i, (code, nullable) in enumerate(parts):
            if nullable and code.isidentifier():  # a variable: test it, no temporary needed
                checks.append(f"{code} is None")
                name = code
            elif nullable:
                t = self.fresh()
                checks.append(f"({t} := {code}) is None")
                name = t
            else:
                name = code
            if convs is not None and convs[i] is not None:
                name = self.convert(name, *convs[i])  # type: ignore[misc]
            names.append(name)
        body = build(*names)
        if not checks:
            return body, False
        return f"(None if {' or '.join(checks)} else {body})", True

    def guard_test(
        self, parts: list[Code], build: Callable[..., str], convs: Optional[list[Optional[tuple[str, str]]]] = None
    ) -> str:
        """Like ``guard`` for a comparison: False (not None) when an operand is missing.

        ``x is not None and x > 2`` is cheaper than building a None and testing it.
        """
        names, checks = [], []
        for i, (code, nullable) in enumerate(parts):
            name = code
            if nullable:
                if code.isidentifier():
                    checks.append(f"{code} is not None")
                else:
                    name = self.fresh()
                    checks.append(f"({name} := {code}) is not None")
            if convs is not None and convs[i] is not None:
                name = self.convert(name, *convs[i])  # type: ignore[misc]
            names.append(name)
        body = build(*names)
        return f"({' and '.join(checks)} and {body})" if checks else body

    # ---------------------------------------------------------------- nodes

    def e_Literal(self, node: n.Literal) -> Code:
        """A literal: its folded value."""
        value = self.consts.value(node)
        return self.table.ref(value, "literal"), False

    def e_Name(self, node: n.Name) -> Code:
        """A reference, by kind: a decoded field, a constant, a parameter, a list, a window, a sequence, a scorecard."""
        kind, name = self.result.refs[id(node)]
        names = self.names
        if kind == "field":
            if self.event is None:
                raise ValueError(f"field `{name}` in a constant expression")
            optional = self.result.symbols.fields[self.event][name].optional
            return names.field(self.event, name), optional
        if kind == "const":
            value = self.result.const_values[name]
            return self.table.ref(value, name), value is None
        if kind == "param":
            self.used_params.add(name)
            return names.param(name), False
        if kind == "list":
            self.used_lists.add(name)
            return names.list(name), False
        if kind == "window":
            # a late event reads every window as missing, as does any event when an
            # external store is unavailable: window values are always nullable
            return names.window(name), True
        if kind == "sequence":
            return names.sequence(name), False
        if kind == "scorecard":
            return names.scorecard(name), name not in self.scored_here
        raise ValueError(f"unknown reference kind {kind!r}")

    def e_Unary(self, node: n.Unary) -> Code:
        """``not x`` and ``-x``."""
        if node.op == "not":
            return f"(not {self.test(node.operand)})", False
        return self.guard([self.expr(node.operand)], lambda a: f"(-{a})")

    def e_Binary(self, node: n.Binary) -> Code:
        """Logic, membership, comparisons (in the operands' common numeric type) and arithmetic."""
        op = node.op
        if op in ("and", "or"):
            return f"({self.test(node.left)} {op} {self.test(node.right)})", False
        if op in ("in", "not in"):
            return self.membership(node), False
        lt, rt, out = self.ty(node.left), self.ty(node.right), self.ty(node)
        left, right = self.expr(node.left), self.expr(node.right)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            common = promote(lt, rt) if lt in NUMERIC and rt in NUMERIC else None
            convs: Optional[list[Optional[tuple[str, str]]]] = [(lt, common), (rt, common)] if common else None
            return self.guard_test([left, right], lambda a, b: f"({a} {op} {b})", convs), False
        return self.arith(op, lt, rt, out, left, right)

    def arith(self, op: str, lt: str, rt: str, out: str, left: Code, right: Code) -> Code:
        """Arithmetic in the result's representation; division and modulo by zero give a missing value."""
        if out in ("duration", "timestamp") or lt not in NUMERIC or rt not in NUMERIC:
            pyop = "//" if op == "/" else op
            return self.guard([left, right], lambda a, b: f"({a} {pyop} {b})")
        if out == "float":
            convs: list[Optional[tuple[str, str]]] = [(lt, "float"), (rt, "float")]
            if op in ("/", "%"):
                fn = "_fdiv" if op == "/" else "_fmod"
                return self.guard([left, right], lambda a, b: f"{fn}({a}, {b})", convs)[0], True
            return self.guard([left, right], lambda a, b: f"({a} {op} {b})", convs)
        if out == "int":
            if op == "%":
                return self.guard([left, right], lambda a, b: f"_imod({a}, {b})")[0], True
            return self.guard([left, right], lambda a, b: f"({a} {op} {b})")
        # a decimal result
        if op == "*":
            if lt == "int" or rt == "int":  # an unscaled int times a scaled decimal stays exact
                return self.guard([left, right], lambda a, b: f"({a} * {b})")
            return self.guard([left, right], lambda a, b: f"_dmul({a}, {b})")
        dconvs: list[Optional[tuple[str, str]]] = [(lt, "decimal"), (rt, "decimal")]
        if op == "/":
            return self.guard([left, right], lambda a, b: f"_ddiv({a}, {b})", dconvs)[0], True
        if op == "%":
            return self.guard([left, right], lambda a, b: f"_imod({a}, {b})", dconvs)[0], True
        return self.guard([left, right], lambda a, b: f"({a} {op} {b})", dconvs)

    def membership(self, node: n.Binary) -> str:
        """``x in [...]`` / ``x in some_list``, compared in the widest numeric type of both sides."""
        lt = self.ty(node.left)
        left = self.expr(node.left)
        op = node.op
        if isinstance(node.right, n.ListLit):
            items = node.right.items
            ct = lt
            if lt in NUMERIC:
                for i in items:
                    if self.ty(i) in NUMERIC:
                        ct = promote(ct, self.ty(i))
            if all(self.consts.is_constant(i) for i in items):
                target = ct if ct in NUMERIC else None
                values = frozenset(
                    convert_value(self.consts.value(i), self.ty(i), target) if target else self.consts.value(i)
                    for i in items
                )
                seq = self.table.ref(values, "in")
            else:
                codes = []
                for i in items:
                    c, _nullable = self.expr(i)
                    codes.append(self.convert(c, self.ty(i), ct) if ct in NUMERIC else c)
                seq = "(" + ", ".join(codes) + ",)"
            convs: Optional[list[Optional[tuple[str, str]]]] = [(lt, ct)] if lt in NUMERIC else None
            return self.guard_test([left], lambda a: f"({a} {op} {seq})", convs)
        seq, _ = self.expr(node.right)
        elem = self.result.types[id(node.right)].elem
        elem_t = elem.name if elem is not None else lt
        neg = "not " if op == "not in" else ""
        if lt in NUMERIC and elem_t in NUMERIC and promote(lt, elem_t) != elem_t:
            # the left side is wider than the list's entries: test exact representability
            fn = _MEMBERSHIP_HELPERS[(lt, elem_t)]
            return self.guard_test([left], lambda a: f"({neg}{fn}({a}, {seq}, ts))")
        convs = [(lt, elem_t)] if lt in NUMERIC and elem_t in NUMERIC else None
        return self.guard_test([left], lambda a: self.listed(a, seq, neg), convs)

    def listed(self, a: str, seq: str, neg: str) -> str:
        """``a in list``: a dict lookup; on a hit, a list whose entries may have expired by ``ts`` asks ``_live``."""
        if a.isidentifier():
            first = key = a
        else:  # evaluated once
            key = self.fresh()
            first = f"({key} := {a})"
        test = f"{first} in {seq} and ({seq}.first_exp > ts or _live({seq}, {key}, ts))"
        return f"(not ({test}))" if neg else f"({test})"

    def e_ListLit(self, node: n.ListLit) -> Code:
        """An inline list as a tuple."""
        codes = [self.expr(i)[0] for i in node.items]
        return "(" + ", ".join(codes) + ",)", False

    def e_Call(self, node: n.Call) -> Code:
        """A builtin function; the event's own local time is computed once per event."""
        f = node.func
        args = node.args
        if f == "present":
            code, nullable = self.expr(args[0])
            return (f"({code} is not None)" if nullable else "True"), False
        if f == "level":
            _kind, name = self.result.refs[id(args[0])]
            return self.names.scorecard(name, "lv"), name not in self.scored_here
        if f in ("controlled", "control_kind"):  # the engine's control table, in event time
            return controlcode.lookup(f, self.expr(args[0])[0])
        if f == "matches":
            pattern = args[1].value  # type: ignore[union-attr]
            if pattern not in self.regexes:
                self.regexes.append(pattern)  # type: ignore[arg-type]
            rx = f"RX{self.regexes.index(pattern)}"  # type: ignore[arg-type]
            return self.guard([self.expr(args[0])], lambda s: f"_matches({rx}, {s})")
        if f in _LIST_CALLS:
            return self.list_call(node)
        parts = [self.expr(a) for a in args]
        out = self.ty(node)
        if f in ("hour", "minute", "weekday", "between_hours") and parts[0][0] == "ts":
            # the event's own time: its local time is computed once per event (``lt``)
            self.uses_local_time = True
            if f == "between_hours":
                return self.guard(parts[1:], lambda a, b: f"_between((lt // 3600000 % 24), {a}, {b})")
            return _LOCAL_TIME[f], False
        if f in ("min", "max", "abs"):
            convs: list[Optional[tuple[str, str]]] = [(self.ty(a), out) for a in args]
            return self.guard(parts, lambda *xs: f"{f}({', '.join(xs)})", convs)
        return self.guard(parts, _CALLS[f])

    def list_call(self, node: n.Call) -> Code:
        """``list_category(L, x)`` & co.: the live entry's attribute at the event's time, or None."""
        table, _ = self.expr(node.args[0])
        elem = self.result.types[id(node.args[0])].elem
        xt = self.ty(node.args[1])
        conv = (xt, elem.name) if elem is not None and xt in NUMERIC and elem.name in NUMERIC else None
        parts = [self.expr(a) for a in node.args[1:]]
        helper = _LIST_CALLS[node.func]
        code, _ = self.guard(
            parts, lambda x, *name: f"{helper}({table}, {', '.join((x, 'ts', *name))})", [conv, None][: len(parts)]
        )
        return code, True
