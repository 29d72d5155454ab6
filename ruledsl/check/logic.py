"""Rule logic the folding of constants cannot see: contradictions, tautologies, shared reason codes.

RD407/RD408: a condition (or a part of one) that is never / always true
because of comparisons of the same value with constants, e.g.
``amount > 10 and amount < 5`` or ``x > 10 or x <= 10``, or because of the
values an enum field can take (``channel != "atm" or channel != "web"``,
``channel not in [every value]``).

How: the comparison atoms of a condition are grouped by their operand (the
expression compared with a constant, identified by its structure).  Any
other boolean sub-expression is an opaque variable, free to be true or
false.  Each operand's domain is cut into the finitely many regions where
no atom changes its value: for numbers the grid points around every
constant (int, decimal at 4 places and durations are all integers at their
scale, so this is exact, with no float rounding), for texts and enums the
constants plus "any other value"; plus *missing* for an operand that may be
missing (a comparison with a missing value is false, docs/semantics.md).
The condition is then evaluated on every combination of regions.  Treating
distinct operands and opaque parts as independent only adds combinations
that cannot happen, so "never true" and "always true" are never claimed
wrongly; a combination count above ``MAX_COMBINATIONS`` is skipped.

RD409: two non-shadow rules with the same reason ``code``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import product
from typing import Any, Optional, Union

from ruledsl.check import messages as m
from ruledsl.check.exprs import preorder, structure_key
from ruledsl.check.fold import convert_value
from ruledsl.check.symbols import Context
from ruledsl.check.types import Type
from ruledsl.syntax import nodes as n

MAX_COMBINATIONS = 4096
"""Largest number of region combinations evaluated for one group of operands."""

_ORDERED = {"int": 10_000, "decimal": 1, "duration": 1}
"""Numeric operand types analysed, with their grid step at decimal scale (ints are whole numbers)."""
_SETS = frozenset({"string", "enum"})
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_MISSING = object()
_OTHER = object()  # a text equal to none of the constants

# A formula: ("and"|"or", [formulas], [their nodes]) | ("not", formula, its node) | ("atom", var, op, constant) | ("var", var)
# | ("const", bool).  ``var`` indexes the operand table.
Formula = tuple[Any, ...]


class _Operand:
    __slots__ = ("constants", "kind", "optional", "step", "text", "values")

    def __init__(self, kind: str, t: Optional[Type], text: str):
        self.kind = kind  # "num", "set" or "bool" (opaque)
        self.optional = bool(t is not None and t.optional)
        self.step = _ORDERED.get(t.name, 1) if t is not None else 1
        self.values: tuple[str, ...] = t.enum_values if t is not None and t.name == "enum" else ()
        self.constants: set[Any] = set()
        self.text = text

    def domain(self) -> list[Any]:
        if self.kind == "bool":
            return [False, True]
        out: list[Any] = [_MISSING] if self.optional else []
        if self.kind == "set":
            out.extend(self.values or sorted(self.constants))
            if not self.values:
                out.append(_OTHER)
            return out
        s = self.step
        points: set[int] = set()
        for c in self.constants:
            lo = (c // s) * s  # the grid point at or below c
            hi = -((-c) // s) * s  # at or above
            points.update((lo - s, lo, hi, hi + s))
        return out + sorted(points)


class _Builder:
    """Turns a condition into a ``Formula`` over a shared operand table."""

    def __init__(self, ctx: Context, source: str):
        self.ctx = ctx
        self.source = source
        self.operands: list[_Operand] = []
        self.index: dict[tuple[Any, ...], int] = {}
        self.bad = False  # an enum compared with a text not among its values (RD210 already)

    def var(self, node: n.Expr, kind: str, t: Optional[Type]) -> int:
        key = (kind, *structure_key(preorder(node)))
        i = self.index.get(key)
        if i is None:
            text = self.source[node.span.start : node.span.end] or "?"
            i = self.index[key] = len(self.operands)
            self.operands.append(_Operand(kind, t, text))
        return i

    def build(self, node: n.Expr) -> Formula:
        values = self.ctx.node_values
        if id(node) in values and isinstance(values[id(node)], bool):
            return ("const", values[id(node)])
        if isinstance(node, n.Binary) and node.op in ("and", "or"):
            parts: list[Formula] = []
            nodes: list[n.Expr] = []
            stack: list[n.Expr] = [node]
            while stack:  # flatten a chain without recursion; nested other operators recurse
                cur = stack.pop()
                if isinstance(cur, n.Binary) and cur.op == node.op and id(cur) not in values:
                    stack.append(cur.right)
                    stack.append(cur.left)
                else:
                    parts.append(self.build(cur))
                    nodes.append(cur)
            return (node.op, parts, nodes)
        if isinstance(node, n.Unary) and node.op == "not":
            return ("not", self.build(node.operand), node.operand)
        atom = self._atom(node) if isinstance(node, n.Binary) else None
        return atom if atom is not None else ("var", self.var(node, "bool", None))

    def _atom(self, node: n.Binary) -> Optional[Formula]:
        values, types = self.ctx.node_values, self.ctx.types
        op = node.op
        if op in ("in", "not in"):
            if id(node.left) in values or not isinstance(node.right, n.ListLit):
                return None
            items = node.right.items
            if not items or any(id(i) not in values for i in items):
                return None
            operand, consts = node.left, [(types.get(id(i)), values[id(i)]) for i in items]
        elif op in _FLIP:
            if id(node.right) in values and id(node.left) not in values:
                operand, consts = node.left, [(types.get(id(node.right)), values[id(node.right)])]
            elif id(node.left) in values and id(node.right) not in values:
                operand, consts, op = node.right, [(types.get(id(node.left)), values[id(node.left)])], _FLIP[op]
            else:
                return None
        else:
            return None
        t = types.get(id(operand))
        if t is None:
            return None
        if t.name in _ORDERED:
            scaled = [_scaled(ct, v) for ct, v in consts]
            if any(v is None for v in scaled):
                return None
            i = self.var(operand, "num", t)
            self.operands[i].constants.update(scaled)
            return ("atom", i, op, frozenset(scaled) if op in ("in", "not in") else scaled[0])
        if t.name in _SETS and op in ("==", "!=", "in", "not in"):
            texts = [v for _ct, v in consts]
            if not all(isinstance(v, str) for v in texts):
                return None
            if t.name == "enum" and any(v not in t.enum_values for v in texts):
                self.bad = True
            i = self.var(operand, "set", t)
            self.operands[i].constants.update(texts)
            return ("atom", i, op, frozenset(texts) if op in ("in", "not in") else texts[0])
        return None


def _scaled(t: Optional[Type], v: Any) -> Optional[int]:
    if t is None or isinstance(v, bool) or not isinstance(v, int) or t.name not in _ORDERED:
        return None
    return convert_value(v, t.name, "decimal") if t.name == "int" else v


def _eval(f: Formula, env: list[Any]) -> bool:
    tag = f[0]
    if tag == "atom":
        x = env[f[1]]
        if x is _MISSING:
            return False  # every comparison with a missing value is false
        op, c = f[2], f[3]
        if op == "in":
            return x in c
        if op == "not in":
            return x not in c
        if op == "==":
            return x == c
        if op == "!=":
            return x != c
        if x is _OTHER or isinstance(x, str):  # ordering is not applied to texts here
            return False
        return bool(x < c if op == "<" else x <= c if op == "<=" else x > c if op == ">" else x >= c)
    if tag == "var":
        return bool(env[f[1]])
    if tag == "const":
        return bool(f[1])
    if tag == "not":
        return not _eval(f[1], env)
    if tag == "and":
        return all(_eval(p, env) for p in f[1])
    return any(_eval(p, env) for p in f[1])


def _vars(f: Formula, out: set[int]) -> set[int]:
    tag = f[0]
    if tag in ("atom", "var"):
        out.add(f[1])
    elif tag == "not":
        _vars(f[1], out)
    elif tag in ("and", "or"):
        for p in f[1]:
            _vars(p, out)
    return out


def _constant(f: Formula, operands: list[_Operand], want: bool) -> bool:
    """True when ``f`` evaluates to ``want`` for every combination of regions (capped)."""
    used = sorted(_vars(f, set()))
    domains = [operands[i].domain() for i in used]
    total = 1
    for d in domains:
        total *= len(d)
        if total > MAX_COMBINATIONS:
            return False
    env: list[Any] = [None] * len(operands)
    for combo in product(*domains):
        for i, x in zip(used, combo, strict=True):
            env[i] = x
        if _eval(f, env) != want:
            return False
    return True


def _components(parts: list[Formula]) -> list[list[Formula]]:
    """Parts grouped so that no two groups share an operand (then they are independent)."""
    groups: list[tuple[set[int], list[Formula]]] = []
    for p in parts:
        vs = _vars(p, set())
        merged: tuple[set[int], list[Formula]] = (set(vs), [p])
        rest = []
        for g in groups:
            if g[0] & vs:
                merged[0].update(g[0])
                merged[1][:0] = g[1]
            else:
                rest.append(g)
        groups = [*rest, merged]
    return [g[1] for g in groups]


def never_true(f: Formula, operands: list[_Operand]) -> bool:
    """``f`` is false for every value of its operands."""
    if f[0] == "or":
        return all(never_true(p, operands) for p in f[1])
    if f[0] == "and":
        return any(
            _constant(("and", g, ()) if len(g) > 1 else g[0], operands, False)
            for g in _components(f[1])
            if len(g) > 1 or g[0][0] in ("or", "not", "atom")
        )
    if f[0] == "not":
        return always_true(f[1], operands)
    return _constant(f, operands, False) if f[0] == "atom" else False


def always_true(f: Formula, operands: list[_Operand]) -> bool:
    """``f`` is true for every value of its operands."""
    if f[0] == "and":
        return all(always_true(p, operands) for p in f[1])
    if f[0] == "or":
        return any(
            _constant(("or", g, ()) if len(g) > 1 else g[0], operands, True)
            for g in _components(f[1])
            if len(g) > 1 or g[0][0] in ("and", "not", "atom")
        )
    if f[0] == "not":
        return never_true(f[1], operands)
    return _constant(f, operands, True) if f[0] == "atom" else False


def _operand_words(f: Formula, operands: list[_Operand]) -> str:
    names = [f"`{operands[i].text}`" for i in sorted(_vars(f, set())) if operands[i].kind != "bool"]
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "") if names else "its parts"


def analyse_condition(ctx: Context, expr: n.Expr, path: str, what: str) -> None:
    """Report the outermost parts of ``expr`` that are never (RD407) or always (RD408) true.

    A condition that folds to a constant is RD401/RD402's business and is
    skipped, as is one comparing an enum with a text not among its values
    (RD210 reported it).  ``what`` names the condition for the help line,
    e.g. "rule `r1` can never fire".
    """
    if isinstance(ctx.node_values.get(id(expr)), bool) or ctx.types.get(id(expr)) is None:
        return
    source = ctx.program.sources.get(path, "")
    b = _Builder(ctx, source)
    root = b.build(expr)
    if b.bad or not any(o.kind != "bool" for o in b.operands):
        return
    pending: list[tuple[Formula, n.Expr, bool]] = [(root, expr, True)]
    while pending:
        f, node, whole = pending.pop()
        if f[0] == "const":
            continue
        text = _snippet(source, node.span)
        if never_true(f, b.operands):
            ctx.report(path, node.span, m.contradiction(text, _operand_words(f, b.operands), what if whole else ""))
            continue
        if always_true(f, b.operands):
            ctx.report(path, node.span, m.tautology(text, _operand_words(f, b.operands), whole))
            continue
        pending.extend((pf, pn, False) for pf, pn in _children(f))


def _children(f: Formula) -> Iterable[tuple[Formula, n.Expr]]:
    if f[0] == "not":
        return [(f[1], f[2])]
    if f[0] in ("and", "or"):
        return [(pf, pn) for pf, pn in zip(f[1], f[2], strict=True) if pf[0] in ("and", "or", "not")]
    return []


def _snippet(source: str, span: n.Span, limit: int = 60) -> str:
    text = " ".join(source[span.start : span.end].split())
    text += ")" * max(0, text.count("(") - text.count(")"))  # a `not (...)` span may stop before its `)`
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_logic(ctx: Context) -> None:
    """RD407/RD408 over every condition, RD409 over the rules' reason codes."""
    for name, rule, primary in ctx.decls["rule"]:
        if rule.when is not None and primary:
            analyse_condition(ctx, rule.when, ctx.path_of(rule), f"rule `{name}` can never fire")
    for name, w, primary in ctx.decls["window"]:
        if w.where is not None and primary:
            analyse_condition(ctx, w.where, ctx.path_of(w), f"window `{name}` never counts an event")
    for name, s, primary in ctx.decls["sequence"]:
        for step in s.steps if primary else ():
            if step.where is not None:
                analyse_condition(ctx, step.where, ctx.path_of(s), f"a step of sequence `{name}` never matches")
    for name, sc, primary in ctx.decls["scorecard"]:
        for item in sc.items if primary else ():
            analyse_condition(
                ctx, item.when, ctx.path_of(sc), f"item {item.label!r} of scorecard `{name}` never scores"
            )
    _shared_codes(ctx)


def _shared_codes(ctx: Context) -> None:
    first: dict[str, tuple[str, n.RuleDecl]] = {}
    for name, rule, primary in ctx.decls["rule"]:
        if not primary or rule.shadow or not rule.code:
            continue
        if rule.code not in first:
            first[rule.code] = (name, rule)
            continue
        other, decl = first[rule.code]
        span: Union[n.Span, None] = next((c.span for c in rule.clauses if c.keyword == "code"), None)
        ctx.report(
            ctx.path_of(rule),
            span or rule.name.span,
            m.shared_code(name, other, rule.code, ctx.path_of(decl), decl.name.span.line),
        )
