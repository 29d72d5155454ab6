"""Checked AST -> generated Python source for one evaluator function per event type.

The model is Jinja's compiler: the generated module may use only the names
in ``runtime_names()``, and every value from the ruleset enters the generated
text through ``repr()`` of a Python literal, never by splicing user text, so
no user text is ever executed.  Window and sequence state are Cython kernels
(``ruledsl.kernels.state``); the generated code calls them once per window.

Runtime representation: decimals are scaled ints (``values.SCALE``),
timestamps and durations int milliseconds, a missing value is ``None``.
"""

from __future__ import annotations

import decimal as _decimal
from dataclasses import dataclass, field
from typing import Any, Optional

from ruledsl.kernels.values import SCALE
from ruledsl.syntax import nodes as n

NUMERIC = ("int", "decimal", "float")


@dataclass
class WindowSpec:
    """What the engine needs to build one window's state."""

    name: str
    agg: str
    duration_ms: int
    is_float: bool
    exclude_current: bool
    result_type: str
    signature: str = ""  # the definition, canonically printed: equal signatures mean compatible state


@dataclass
class SequenceSpec:
    """What the engine needs to build one sequence's state."""

    name: str
    n_steps: int
    within_ms: int
    signature: str = ""


@dataclass
class RuleMeta:
    """A rule's static facts, for building MatchedRule values."""

    id: str
    action: str
    reason: str
    code: Optional[str]
    shadow: bool
    priority: int
    index: int


@dataclass
class Compiled:
    """The generated module's source and the tables the engine binds to it."""

    source: str
    event_types: list[str]
    windows: list[WindowSpec] = field(default_factory=list)
    sequences: list[SequenceSpec] = field(default_factory=list)
    rules: list[RuleMeta] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    param_types: dict[str, str] = field(default_factory=dict)
    lists: list[str] = field(default_factory=list)
    list_types: dict[str, str] = field(default_factory=dict)
    scorecards: list[str] = field(default_factory=list)
    batched: bool = False
    regexes: list[str] = field(default_factory=list)
    constants: list[Any] = field(default_factory=list)


class _Gen:
    """Expression code generation for one event type's function."""

    def __init__(self, comp: _Compiler, event: Optional[str]):
        self.c = comp
        self.event = event
        self.tmp = 0
        self.used_fields: set[str] = set()
        self.used_params: set[str] = set()
        self.used_lists: set[str] = set()
        self.used_windows: set[str] = set()
        self.used_sequences: set[str] = set()
        self.used_scorecards: set[str] = set()
        self.uses_local_time = False

    def fresh(self) -> str:
        self.tmp += 1
        return f"_t{self.tmp}"

    def ty(self, node) -> str:
        return self.c.types[id(node)].name

    # Each expr() returns (code, may_be_none).  Numbers come out in the
    # representation of the node's checked type (decimal scaled, etc.).
    def expr(self, node) -> tuple[str, bool]:
        method = getattr(self, "e_" + type(node).__name__)
        return method(node)

    def e_Literal(self, node: n.Literal):
        if node.kind == "decimal":
            return repr(decimal_literal(node.value)), False
        return repr(node.value), False

    def e_Name(self, node: n.Name):
        kind, name = self.c.refs[id(node)]
        if kind == "field":
            self.used_fields.add(name)
            return self.c.field_var(self.event, name), self.c.field_optional(self.event, name)
        if kind == "const":
            value = self.c.const_values[name]
            return self.c.const_ref(value), value is None
        if kind == "param":
            self.used_params.add(name)
            return f"p{self.c.params.index(name)}", False
        if kind == "list":
            self.used_lists.add(name)
            return f"l{self.c.lists.index(name)}", False
        if kind == "window":
            self.used_windows.add(name)
            # a late event reads every window as missing, as does any event when an
            # external store is unavailable: window values are always nullable
            return f"w{self.c.window_index[name]}", True
        if kind == "sequence":
            self.used_sequences.add(name)
            return f"s{self.c.sequence_index[name]}", False
        if kind == "scorecard":
            self.used_scorecards.add(name)
            return f"sc{self.c.scorecard_index[name]}", True
        raise AssertionError(kind)

    def convert(self, code: str, src: str, dst: str) -> str:
        """Change numeric representation (int -> decimal -> float)."""
        if src == dst or dst not in NUMERIC or src not in NUMERIC:
            return code
        if dst == "decimal" and src == "int":
            if code.lstrip("-").isdigit():  # fold a literal
                return repr(int(code) * SCALE)
            return f"({code} * {SCALE})"
        if dst == "float":
            return f"({code} / {float(SCALE)!r})" if src == "decimal" else f"float({code})"
        raise AssertionError((src, dst))

    def guard(self, parts: list[tuple[str, bool]], build, convs=None) -> tuple[str, bool]:
        """Evaluate operands once; if any may be None, the result is None (or False for tests).

        ``convs`` gives a (source type, target type) per operand: the numeric
        conversion is applied after the None test, never to a None.
        """
        names, checks = [], []
        for i, (code, nullable) in enumerate(parts):
            if nullable:
                t = self.fresh()
                checks.append(f"({t} := {code}) is None")
                name = t
            else:
                name = code
            if convs is not None and convs[i] is not None:
                name = self.convert(name, *convs[i])
            names.append(name)
        body = build(*names)
        if not checks:
            return body, False
        return f"(None if {' or '.join(checks)} else {body})", True

    def guard_test(self, parts: list[tuple[str, bool]], build, convs=None) -> str:
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
                name = self.convert(name, *convs[i])
            names.append(name)
        body = build(*names)
        return f"({' and '.join(checks)} and {body})" if checks else body

    def test(self, node) -> str:
        """Code for a condition that is exactly True or False (missing counts as False)."""
        code, nullable = self.expr(node)
        return f"({code} is True)" if nullable else code

    def e_Unary(self, node: n.Unary):
        if node.op == "not":
            return f"(not {self.test(node.operand)})", False
        code, nullable = self.expr(node.operand)
        return self.guard([(code, nullable)], lambda a: f"(-{a})")

    def e_Binary(self, node: n.Binary):
        op = node.op
        if op in ("and", "or"):
            return f"({self.test(node.left)} {op} {self.test(node.right)})", False
        if op in ("in", "not in"):
            return self.membership(node)
        lt, rt, out = self.ty(node.left), self.ty(node.right), self.ty(node)
        left, right = self.expr(node.left), self.expr(node.right)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            common = promote(lt, rt) if lt in NUMERIC and rt in NUMERIC else None
            convs = [(lt, common), (rt, common)] if common else None
            return self.guard_test([left, right], lambda a, b: f"({a} {op} {b})", convs), False
        return self.arith(op, lt, rt, out, left, right)

    def arith(self, op, lt, rt, out, left, right):
        if out == "duration" or out == "timestamp" or (lt not in NUMERIC or rt not in NUMERIC):
            pyop = "//" if op == "/" else op
            return self.guard([left, right], lambda a, b: f"({a} {pyop} {b})")
        if out == "float":
            convs = [(lt, "float"), (rt, "float")]
            if op in ("/", "%"):
                fn = "_fdiv" if op == "/" else "_fmod"
                return self.guard([left, right], lambda a, b: f"{fn}({a}, {b})", convs)[0], True
            return self.guard([left, right], lambda a, b: f"({a} {op} {b})", convs)
        if out == "int":
            if op == "%":
                return self.guard([left, right], lambda a, b: f"_imod({a}, {b})")[0], True
            return self.guard([left, right], lambda a, b: f"({a} {op} {b})")
        # decimal result
        if op == "*":
            if lt == "int" or rt == "int":  # an unscaled int times a scaled decimal stays exact
                return self.guard([left, right], lambda a, b: f"({a} * {b})")
            return self.guard([left, right], lambda a, b: f"_dmul({a}, {b})")
        convs = [(lt, "decimal"), (rt, "decimal")]
        if op == "/":
            return self.guard([left, right], lambda a, b: f"_ddiv({a}, {b})", convs)[0], True
        if op == "%":
            return self.guard([left, right], lambda a, b: f"_imod({a}, {b})", convs)[0], True
        return self.guard([left, right], lambda a, b: f"({a} {op} {b})", convs)

    def membership(self, node: n.Binary):
        lt = self.ty(node.left)
        left = self.expr(node.left)
        op = node.op
        if isinstance(node.right, n.ListLit):
            items = node.right.items
            # compare in the widest numeric type of the left side and the items
            ct = lt
            if lt in NUMERIC:
                for i in items:
                    if self.ty(i) in NUMERIC:
                        ct = promote(ct, self.ty(i))
            if all(self.c.is_constant(i) for i in items):
                target = ct if ct in NUMERIC else None
                seq = self.c.const_ref(frozenset(self.c.const_eval(i, target) for i in items))
            else:
                codes = []
                for i in items:
                    c, _nullable = self.expr(i)
                    codes.append(self.convert(c, self.ty(i), ct) if ct in NUMERIC else c)
                seq = "(" + ", ".join(codes) + ",)"
            convs = [(lt, ct)] if lt in NUMERIC else None
            return self.guard_test([left], lambda a: f"({a} {op} {seq})", convs), False
        seq, _ = self.expr(node.right)
        elem = self.c.types[id(node.right)].elem
        elem_t = elem.name if elem is not None else lt
        neg = "not " if op == "not in" else ""
        if lt in NUMERIC and elem_t in NUMERIC and promote(lt, elem_t) != elem_t:
            # the left side is wider than the list's entries: test exact representability
            fn = {
                ("decimal", "int"): "_dec_in_int",
                ("float", "int"): "_flt_in_int",
                ("float", "decimal"): "_flt_in_dec",
            }[(lt, elem_t)]
            return self.guard_test([left], lambda a: f"({neg}{fn}({a}, {seq}))"), False
        convs = [(lt, elem_t)] if lt in NUMERIC and elem_t in NUMERIC else None
        return self.guard_test([left], lambda a: f"({a} {op} {seq})", convs), False

    def e_ListLit(self, node: n.ListLit):
        codes = [self.expr(i)[0] for i in node.items]
        return "(" + ", ".join(codes) + ",)", False

    def e_Call(self, node: n.Call):
        f = node.func
        args = node.args
        if f == "present":
            code, nullable = self.expr(args[0])
            return (f"({code} is not None)" if nullable else "True"), False
        if f == "level":
            self.expr(args[0])
            kind, name = self.c.refs[id(args[0])]
            return f"lv{self.c.scorecard_index[name]}", True
        if f == "matches":
            pattern = args[1].value
            idx = self.c.regex_index(pattern)
            return self.guard([self.expr(args[0])], lambda s: f"(rx{idx}.search({s}) is not None)")
        parts = [self.expr(a) for a in args]
        out = self.ty(node)
        if f in ("hour", "minute", "weekday", "between_hours") and parts[0][0] == "ts":
            # the event's own time: its local time is computed once per event (``lt``)
            self.uses_local_time = True
            local = {
                "hour": "(lt // 3600000 % 24)",
                "minute": "(lt // 60000 % 60)",
                "weekday": "((lt // 86400000 + 3) % 7 + 1)",
            }
            if f == "between_hours":
                return self.guard(parts[1:], lambda a, b: f"_between((lt // 3600000 % 24), {a}, {b})")
            return local[f], False
        if f in ("min", "max", "abs"):
            convs = [(self.ty(a), out) for a in args]
            return self.guard(parts, lambda *xs: f"{f}({', '.join(xs)})", convs)
        table = {
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
        return self.guard(parts, table[f])


def promote(a: str, b: str) -> str:
    """The common numeric type of two numeric types."""
    if "float" in (a, b):
        return "float"
    if "decimal" in (a, b):
        return "decimal"
    return "int"


def decimal_literal(text: str) -> int:
    """Decimal literal text -> scaled int, half-even past 4 digits."""
    q = _decimal.Decimal(text).scaleb(4).to_integral_value(rounding=_decimal.ROUND_HALF_EVEN)
    return int(q)


class _Compiler:
    def __init__(self, result):
        self.result = result
        self.sym = result.symbols
        self.types = result.types
        self.refs = result.refs
        self.const_values = result.const_values
        self.params = list(self.sym.params)
        self.lists = list(self.sym.lists)
        self.window_index = {name: i for i, name in enumerate(self.sym.windows)}
        self.sequence_index = {name: i for i, name in enumerate(self.sym.sequences)}
        self.scorecard_index = {name: i for i, name in enumerate(self.sym.scorecards)}
        self.constants: list[Any] = []
        self.regexes: list[str] = []
        self.field_ids: dict[tuple[str, str], int] = {}
        self.batched = False

    # ---- names in generated code
    def field_var(self, event: Optional[str], name: str) -> str:
        if name == "ts":
            return "ts"
        key = (event or "", name)
        if key not in self.field_ids:
            self.field_ids[key] = len(self.field_ids)
        return f"f{self.field_ids[key]}"

    def field_optional(self, event: Optional[str], name: str) -> bool:
        return self.sym.fields[event][name].optional if event else True

    def const_ref(self, value) -> str:
        if value is None or isinstance(value, (bool, int, float, str)):
            return repr(value)
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def regex_index(self, pattern: str) -> int:
        if pattern not in self.regexes:
            self.regexes.append(pattern)
        return self.regexes.index(pattern)

    # ---- constants
    def is_constant(self, node) -> bool:
        for sub in n.walk(node):
            if isinstance(sub, n.Name) and self.refs.get(id(sub), ("?",))[0] != "const":
                return False
            if isinstance(sub, n.Call):
                return False
        return True

    def const_eval(self, node, target: Optional[str] = None):
        """Evaluate a constant expression to its runtime value (converted to ``target``)."""
        gen = _Gen(self, None)
        code, _ = gen.expr(node)
        src_t = self.types[id(node)].name
        if target:
            code = gen.convert(code, src_t, target)
        env = {"K": self.constants, **runtime_helpers(None)}
        return eval(compile(code, "<ruledsl-const>", "eval"), env)  # generated code, literals via repr()


def runtime_helpers(clock) -> dict[str, Any]:
    """The only names generated code may use besides its own tables."""
    from ruledsl.kernels import values as v

    def _ddiv(a, b):
        return None if b == 0 else v.div_half_even(a * SCALE, b)

    def _dmul(a, b):
        return v.div_half_even(a * b, SCALE)

    def _imod(a, b):
        return None if b == 0 else a % b

    def _fdiv(a, b):
        return None if b == 0 else a / b

    def _fmod(a, b):
        return None if b == 0 else a % b

    def _dec_in_int(x, entries):
        return x % SCALE == 0 and x // SCALE in entries

    def _flt_in_int(x, entries):
        return x.is_integer() and int(x) in entries

    def _flt_in_dec(x, entries):
        # the one 4-place decimal that could equal x when compared as a float
        if x != x or x in (float("inf"), float("-inf")):
            return False
        d = v.to_decimal(x)
        return d / SCALE == x and d in entries

    helpers = {
        "_dec_in_int": _dec_in_int,
        "_flt_in_int": _flt_in_int,
        "_flt_in_dec": _flt_in_dec,
        "_ddiv": _ddiv,
        "_dmul": _dmul,
        "_imod": _imod,
        "_fdiv": _fdiv,
        "_fmod": _fmod,
        "_between": v.between_hours,
        "min": min,
        "max": max,
        "abs": abs,
        "len": len,
        "type": type,
        "int": int,
        "str": str,
        "float": float,
        "bool": bool,
        "__builtins__": {},
    }
    if clock is not None:
        helpers.update(
            _hour=clock.hour,
            _minute=clock.minute,
            _weekday=clock.weekday,
            _day=clock.day,
            _local=clock.local_ms,
        )
    return helpers


def const_value(result, node, target: Optional[str] = None):
    """Evaluate a constant expression of a checked ruleset (list items, defaults)."""
    return _Compiler(result).const_eval(node, target)


# ---------------------------------------------------------------- whole ruleset

_FIELD_CHECK = {
    # type -> (fast test that the raw value is already right, slow converter name)
    "string": ("type({v}) is str", "_cv_str"),
    "int": ("type({v}) is int", "_cv_int"),
    "decimal": (None, "_cv_dec"),
    "float": ("type({v}) is float", "_cv_float"),
    "bool": ("type({v}) is bool", "_cv_bool"),
    "timestamp": ("type({v}) is int", "_cv_ts"),
    "duration": ("type({v}) is int", "_cv_int"),
}


class _Emitter:
    """Collects lines of generated code with indentation."""

    def __init__(self):
        self.lines: list[str] = []

    def __call__(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _feature_names(comp: _Compiler, expr) -> list[tuple[str, str]]:
    """(kind, name) of every field/window/sequence/param/scorecard named in ``expr``, first use first."""
    seen: dict[tuple[str, str], None] = {}
    for sub in n.walk(expr):
        if isinstance(sub, n.Name):
            ref = comp.refs[id(sub)]
            if ref[0] in ("field", "window", "sequence", "param", "scorecard"):
                seen.setdefault(ref, None)
    return list(seen)


def _window_result_type(comp: _Compiler, decl: n.WindowDecl) -> str:
    agg = decl.agg.name
    if agg in ("count", "distinct"):
        return "int"
    if agg == "since":
        return "duration"
    arg_t = comp.types[id(decl.arg)].name
    if agg == "avg":
        return "float" if arg_t == "float" else "decimal"
    return arg_t


def compile_ruleset(result, *, batched: bool = False) -> Compiled:
    """Generate the evaluator module for a checked ruleset (``result.ok`` must be true).

    ``batched`` generates code for an external state store: each event's
    window and sequence operations go to the store in one call (``_run``).
    """
    comp = _Compiler(result)
    comp.batched = batched
    sym = comp.sym
    out = Compiled(source="", event_types=list(sym.events), batched=batched)
    out.params = comp.params
    out.param_types = {name: d.type.name for name, d in sym.params.items()}
    out.lists = comp.lists
    out.list_types = {name: d.type.name for name, d in sym.lists.items()}
    out.scorecards = list(sym.scorecards)
    for name, decl in sym.windows.items():
        rt = _window_result_type(comp, decl)
        arg_t = comp.types[id(decl.arg)].name if decl.arg is not None else "int"
        out.windows.append(
            WindowSpec(
                name,
                decl.agg.name,
                decl.over_ms,
                arg_t == "float",
                decl.exclude_current,
                rt,
                window_signature(decl, arg_t),
            )
        )
    for name, decl in sym.sequences.items():
        out.sequences.append(SequenceSpec(name, len(decl.steps), decl.within_ms, sequence_signature(decl)))
    for i, (name, decl) in enumerate(sym.rules.items()):
        out.rules.append(
            RuleMeta(
                id=name,
                action=decl.action.name,
                reason=decl.reason or "",
                code=decl.code,
                shadow=decl.shadow,
                priority=decl.priority,
                index=i,
            )
        )
    emit = _Emitter()
    for event in sym.events:
        _emit_event_function(comp, out, emit, event)
    out.source = "\n".join(emit.lines) + "\n"
    out.regexes = comp.regexes
    out.constants = comp.constants
    return out


def window_signature(decl: n.WindowDecl, arg_type: str) -> str:
    """What a window's state depends on, as text: its name is not part of it."""
    from ruledsl.syntax.formatter import format_expr

    arg = format_expr(decl.arg) if decl.arg is not None else ""
    events = ",".join(sorted(e.name for e in decl.events)) or "any"
    where = format_expr(decl.where) if decl.where is not None else ""
    by = ", ".join(format_expr(k) for k in decl.by)
    excl = " excluding current" if decl.exclude_current else ""
    return f"{decl.agg.name}({arg}:{arg_type}) of {events} where {where} by {by} over {decl.over_ms}ms{excl}"


def sequence_signature(decl: n.SequenceDecl) -> str:
    """What a sequence's state depends on, as text."""
    from ruledsl.syntax.formatter import format_expr

    by = ", ".join(format_expr(k) for k in decl.by)
    steps = "; ".join(
        st.event.name + (f" where {format_expr(st.where)}" if st.where is not None else "") for st in decl.steps
    )
    return f"by {by} within {decl.within_ms}ms {{{steps}}}"


def _applies(events: Optional[list[str]], event: str) -> bool:
    return not events or event in events


def _emit_event_function(comp: _Compiler, out: Compiled, emit: _Emitter, event: str) -> None:
    sym = comp.sym
    fields = sym.fields[event]
    gen = _Gen(comp, event)
    body = _Emitter()  # the part after field decoding, generated first to learn what is used

    rules = [(i, name, d) for i, (name, d) in enumerate(sym.rules.items()) if event in sym.rule_events[name]]
    cards = [(name, d) for name, d in sym.scorecards.items() if event in sym.scorecard_events[name]]

    # Which windows and sequences this function touches: those it feeds, and those
    # its rules and scorecards read.
    rule_codes = []
    for i, name, d in rules:
        rule_codes.append((i, name, d, gen.test(d.when)))
    card_codes = []
    for name, d in cards:
        score_t = "decimal" if any(comp.types[id(it.score)].name == "decimal" for it in d.items) else "int"
        items = []
        for it in d.items:
            value = comp.const_eval(it.score, score_t)
            items.append((gen.test(it.when), value))
        levels = [(lv.name.name, comp.const_eval(lv.threshold, score_t)) for lv in d.levels]
        card_codes.append((name, score_t, items, levels))

    read_windows = set(gen.used_windows)
    read_sequences = set(gen.used_sequences)
    read_cards = set(gen.used_scorecards)
    fed_windows = [w for w, d in sym.windows.items() if _applies([e.name for e in d.events], event)]
    fed_sequences = [s for s, d in sym.sequences.items() if any(st.event.name == event for st in d.steps)]

    batch_ops: list[str] = []
    batch_reads: list[tuple[str, int, int]] = []
    batch_seq_reads: list[tuple[int, int]] = []
    emitted_windows: set[str] = set()
    emitted_sequences: set[str] = set()
    fused_windows: set[str] = set()  # fed by query_add while being read

    # ---- windows
    for wname in sym.windows:
        if wname not in read_windows and wname not in fed_windows:
            continue
        decl = sym.windows[wname]
        wi = comp.window_index[wname]
        spec = out.windows[wi]
        key_names = {
            comp.refs[id(s)][1]
            for k in decl.by
            for s in n.walk(k)
            if isinstance(s, n.Name) and comp.refs.get(id(s), ("",))[0] == "field"
        }
        if not key_names <= set(fields):
            body(1, f"w{wi} = None")
            continue
        key_parts = [gen.expr(k) for k in decl.by]
        if len(key_parts) == 1:
            key_code, key_null = key_parts[0]
        else:
            key_code = "(" + ", ".join(c for c, _ in key_parts) + ",)"
            key_null = any(nl for _, nl in key_parts)
            if key_null:
                key_code = gen.guard(key_parts, lambda *xs: "(" + ", ".join(xs) + ",)")[0]
        body(1, f"k{wi} = {key_code}")
        emitted_windows.add(wname)
        feeds = wname in fed_windows
        if feeds:
            cond = gen.test(decl.where) if decl.where is not None else "True"
            if decl.arg is not None and decl.agg.name not in ("count", "since"):
                arg_code, arg_null = gen.expr(decl.arg)
                if arg_null:  # a missing value feeds nothing (test before hashing it)
                    body(1, f"v{wi} = {arg_code}")
                    cond = f"{cond} and v{wi} is not None"
                    arg_code = f"v{wi}"
                if decl.agg.name == "distinct" and comp.types[id(decl.arg)].name in ("string", "enum"):
                    arg_code = f"_hash({arg_code})"
                    if arg_null:
                        arg_code = f"(None if v{wi} is None else {arg_code})"
                body(1, f"a{wi} = {arg_code}")
            else:
                body(1, f"a{wi} = 0")
            nulls = f" and k{wi} is not None" if key_null else ""
            cond = "" if cond == "True" else f" and {cond}"
            body(1, f"d{wi} = not late{cond}{nulls}")
        if comp.batched:
            # one store round trip per event: queue the op, read its result after the loop
            inc = "False" if spec.exclude_current else "True"
            if feeds:
                op = f'("w", {wi}, k{wi}, ts, a{wi} if d{wi} else 0, d{wi} and {inc}, commit and d{wi})'
            else:
                op = f'("w", {wi}, k{wi}, ts, 0, False, False)'
            batch_reads.append((wname, wi, len(batch_ops)))
            batch_ops.append(op)
            continue
        if wname in read_windows:
            wrap = lambda q: q
            if spec.agg == "avg":
                arg_t = comp.types[id(decl.arg)].name
                helper = "_avg_f" if spec.is_float else ("_avg_i" if arg_t == "int" else "_avg_d")
                wrap = lambda q, h=helper: f"{h}({q})"
            quiet = wrap(f"W{wi}.query(k{wi}, ts, 0, False)")
            if feeds:
                # reading and feeding in one kernel call when the event is committed
                inc = "False" if spec.exclude_current else "True"
                fused = wrap(f"W{wi}.query_add(k{wi}, ts, a{wi}, {inc})")
                peek = wrap(f"W{wi}.query(k{wi}, ts, a{wi}, {inc})")
                query = f"(({fused} if commit else {peek}) if d{wi} else {quiet})"
                fused_windows.add(wname)
            else:
                query = quiet
            if key_null:
                body(1, f"w{wi} = None if late or k{wi} is None else {query}")
            else:
                body(1, f"w{wi} = None if late else {query}")

    # ---- sequences
    for sname, decl in sym.sequences.items():
        if sname not in read_sequences and sname not in fed_sequences:
            continue
        si = comp.sequence_index[sname]
        key_names = {
            comp.refs[id(s)][1]
            for k in decl.by
            for s in n.walk(k)
            if isinstance(s, n.Name) and comp.refs.get(id(s), ("",))[0] == "field"
        }
        if not key_names <= set(fields):
            body(1, f"s{si} = False")
            continue
        key_parts = [gen.expr(k) for k in decl.by]
        key_code = (
            key_parts[0][0] if len(key_parts) == 1 else gen.guard(key_parts, lambda *xs: "(" + ", ".join(xs) + ",)")[0]
        )
        key_null = any(nl for _, nl in key_parts)
        body(1, f"sk{si} = {key_code}")
        emitted_sequences.add(sname)
        bits = []
        for bit, st in enumerate(decl.steps):
            if st.event.name == event:
                cond = gen.test(st.where) if st.where is not None else "True"
                bits.append(f"({1 << bit} if {cond} else 0)")
        body(1, f"m{si} = {' | '.join(bits) if bits else '0'}")
        if comp.batched:
            batch_seq_reads.append((si, len(batch_ops)))
            batch_ops.append(f'("s", {si}, sk{si}, ts, m{si}, commit and not late and m{si} != 0)')
            continue
        if key_null:
            body(1, f"s{si} = not late and sk{si} is not None and S{si}.query(sk{si}, ts, m{si})")
        else:
            body(1, f"s{si} = not late and S{si}.query(sk{si}, ts, m{si})")

    if comp.batched:
        # a late event reads no state, so it costs no round trip
        body(1, "R = None if late else _run([" + ", ".join(batch_ops) + "])")
        for wname, wi, j in batch_reads:
            if wname not in read_windows:
                continue
            spec = out.windows[wi]
            value = f"R[{j}]"
            if spec.agg == "avg":
                arg_t = comp.types[id(sym.windows[wname].arg)].name
                helper = "_avg_f" if spec.is_float else ("_avg_i" if arg_t == "int" else "_avg_d")
                value = f"{helper}({value})"
            body(1, f"w{wi} = None if late else {value}")
        for si, j in batch_seq_reads:
            body(1, f"s{si} = not late and R[{j}]")
        emitted_windows.clear()  # the store adds entries itself
        emitted_sequences.clear()

    # ---- scorecards
    applicable_cards = {name for name, _ in cards}
    for sname in sym.scorecards:
        ci = comp.scorecard_index[sname]
        if sname not in applicable_cards and sname in read_cards:
            body(1, f"sc{ci} = None")
            body(1, f"lv{ci} = None")
    for name, score_t, items, levels in card_codes:
        ci = comp.scorecard_index[name]
        terms = [f"({value!r} if {cond} else 0)" for cond, value in items] or ["0"]
        body(1, f"sc{ci} = " + " + ".join(terms))
        chain = "'minimal'"
        for lname, threshold in reversed(levels):
            chain = f"({lname!r} if sc{ci} >= {threshold!r} else {chain})"
        body(1, f"lv{ci} = {chain}")

    # ---- rules
    body(1, "hits = None")
    for i, name, d, test in rule_codes:
        feats = []
        for kind, fname in _feature_names(comp, d.when):
            var, ftype = _feature_var(comp, event, kind, fname)
            feats.append(f"{fname!r}: " + (f"_D({var})" if ftype == "decimal" else var))
        body(1, f"if {test}:")
        body(2, "if hits is None: hits = []")
        body(2, f"hits.append(({i}, {{{', '.join(feats)}}}))")

    # ---- commit
    body(1, "if commit:")
    body(2, "if late:")
    body(3, "CLK[3] += 1")
    body(2, "else:")
    for wname in fed_windows:
        wi = comp.window_index[wname]
        if wname in emitted_windows and wname not in fused_windows:
            body(3, f"if d{wi}:")
            body(4, f"W{wi}.add(k{wi}, ts, a{wi})")
    for sname in fed_sequences:
        si = comp.sequence_index[sname]
        if sname in emitted_sequences:
            cond = f"m{si} and sk{si} is not None"
            body(3, f"if {cond}:")
            body(4, f"S{si}.add(sk{si}, ts, m{si})")
    body(3, "if ts > CLK[0]:")
    body(4, "CLK[0] = ts")
    body(4, "CLK[1] = ts - LATENESS")
    body(3, "CLK[2] += 1")
    body(3, "if not CLK[2] % ADVANCE_EVERY: _advance()")
    scores = ", ".join(
        f"_SR(name={name!r}, score={'_D(sc%d)' % comp.scorecard_index[name] if st == 'decimal' else 'sc%d' % comp.scorecard_index[name]}, level=lv{comp.scorecard_index[name]})"
        for name, st, _i, _l in card_codes
    )
    if comp.batched:
        body(1, f"dec = _decide({event!r}, hits, [{scores}], late)")
        body(1, "if DEG[0]:")
        body(2, "DEG[0] = False")
        body(2, "return _degraded(dec)")
        body(1, "return dec")
    else:
        if not card_codes:
            body(1, f"if hits is None and not late: return PASS[{event!r}]")
        body(1, f"return _decide({event!r}, hits, [{scores}], late)")

    # ---- function head: decode the fields the body uses (and validate all of them)
    emit(0, f"def ev_{comp_event_id(comp, event)}(ev, commit):")
    emit(1, "ts = ev.get('ts')")
    emit(1, f"if type(ts) is not int: ts = _cv_ts({event!r}, 'ts', ts)")
    for fname, ftype in fields.items():
        if fname == "ts":
            continue
        var = comp.field_var(event, fname)
        if ftype.optional:
            emit(1, f"{var} = ev.get({fname!r})")
            check = _field_check(comp, event, fname, ftype, var)
            emit(1, f"if {var} is not None:")
            for line in check:
                emit(2, line)
        else:
            emit(1, f"{var} = ev.get({fname!r})")
            for line in _field_check(comp, event, fname, ftype, var):
                emit(1, line)
    emit(1, "late = ts < CLK[1]")
    if gen.uses_local_time:
        emit(1, "lt = _local(ts)")
    for p in sorted(gen.used_params, key=comp.params.index):
        emit(1, f"p{comp.params.index(p)} = P[{comp.params.index(p)}]")
    for l in sorted(gen.used_lists, key=comp.lists.index):
        emit(1, f"l{comp.lists.index(l)} = LS[{comp.lists.index(l)}]")
    emit.lines.extend(body.lines)
    emit(0, "")


def _field_check(comp: _Compiler, event: str, fname: str, ftype, var: str) -> list[str]:
    if ftype.name == "enum":
        allowed = comp.const_ref(frozenset(ftype.enum_values))
        return [
            f"if type({var}) is not str or {var} not in {allowed}: {var} = _cv_enum({event!r}, {fname!r}, {var}, {tuple(ftype.enum_values)!r})"
        ]
    fast, slow = _FIELD_CHECK[ftype.name]
    if ftype.name == "decimal":
        return [f"{var} = {var} * {SCALE} if type({var}) is int else _cv_dec({event!r}, {fname!r}, {var})"]
    return [f"if not ({fast.format(v=var)}): {var} = {slow}({event!r}, {fname!r}, {var})"]


def _feature_var(comp: _Compiler, event: str, kind: str, name: str) -> tuple[str, str]:
    if kind == "field":
        return comp.field_var(event, name), comp.sym.fields[event][name].name
    if kind == "param":
        return f"p{comp.params.index(name)}", comp.sym.params[name].type.name
    if kind == "window":
        wi = comp.window_index[name]
        return f"w{wi}", _window_result_type(comp, comp.sym.windows[name])
    if kind == "sequence":
        return f"s{comp.sequence_index[name]}", "bool"
    ci = comp.scorecard_index[name]
    d = comp.sym.scorecards[name]
    score_t = "decimal" if any(comp.types[id(it.score)].name == "decimal" for it in d.items) else "int"
    return f"sc{ci}", score_t


def comp_event_id(comp: _Compiler, event: str) -> int:
    """A generated function's name suffix: the event type's index (names may be non-ASCII)."""
    return list(comp.sym.events).index(event)
