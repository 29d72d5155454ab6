"""The decisions behind the generated code, made once, before any text is written.

For each event type: which fields it decodes, which windows it reads and
which it feeds (and whether one kernel call can do both), which sequences it
steps, which scorecards and rules apply; for the ruleset: the tables the
engine binds (window and sequence specs with their state identity, rule
metadata, parameters, lists; which windows and sequences are one state
because their definitions are equal), the Python name of every DSL name,
and the constant values the checker folded.  How rules share their tests
is decided in ``ruletree.py``.  ``emit.py`` turns a plan into text and
decides nothing of this.
"""

from __future__ import annotations

import hashlib
import keyword
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Optional

import msgspec

from ruledsl.check.checker import CheckResult
from ruledsl.check.fold import convert_value
from ruledsl.check.types import NUMERIC, promote, scorecard_score_type, window_result_type
from ruledsl.compile.controlcode import control_specs
from ruledsl.kernels.values import decimal_literal
from ruledsl.syntax import nodes as n

# ---------------------------------------------------------------- what the engine binds


@dataclass
class WindowSpec:
    """What the engine needs to build one window's state."""

    name: str
    agg: str
    duration_ms: int
    is_float: bool
    exclude_current: bool
    result_type: str
    signature: str = ""  # the state identity: a digest of the checked definition (``state_identity``)
    line: int = 0  # where the window is declared, for messages
    path: str = ""


@dataclass
class SequenceSpec:
    """What the engine needs to build one sequence's state."""

    name: str
    n_steps: int
    within_ms: int
    signature: str = ""
    line: int = 0
    path: str = ""


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
    path: str = ""
    line: int = 0
    controls: tuple[tuple[str, int], ...] = ()  # (kind, duration ms) per `control` clause


@dataclass
class FieldSpec:
    """One field of an event type as its function decodes it."""

    name: str
    type: str  # the checked type name: string, int, decimal, float, bool, timestamp, duration, enum
    optional: bool
    enum_values: tuple[str, ...] = ()


@dataclass
class EventCode:
    """One event type's generated function in pieces, for the other emitters (rows, Cython).

    ``decode`` reads and validates the fields of ``ev`` (the clock guard
    included); ``rest`` is everything after it, reading only ``args`` (the
    decoded ``ts`` and fields, in ``fields`` order), ``commit`` and the bound
    globals; ``guard`` is the clock guard alone, for callers that decode
    elsewhere.  Each is a ``emit.Writer`` (lines with their DSL locations).
    """

    event: str
    function: str
    args: list[str]
    fields: list[FieldSpec]
    decode: Any
    guard: Any
    rest: Any
    location: Any = None


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
    constants: dict[str, Any] = field(default_factory=dict)  # global name -> value
    functions: dict[str, str] = field(default_factory=dict)  # event type -> generated function name
    window_names: list[str] = field(default_factory=list)  # global name of each window kernel, by index
    sequence_names: list[str] = field(default_factory=list)
    regex_names: list[str] = field(default_factory=list)
    filename: str = "<ruledsl>"  # the generated module's file name (registered with linecache)
    linemap: Any = None  # ``linemap.LineMap``: generated line -> DSL location
    event_code: list[EventCode] = field(default_factory=list)  # the functions in pieces (rows, Cython)
    # windows (sequences) with the same state identity are one state: index of the first with that identity
    window_state: list[int] = field(default_factory=list)
    sequence_state: list[int] = field(default_factory=list)

    def shared_kernels(self, kind: str, make: Any) -> list[Any]:
        """One kernel per distinct state identity, listed once per window (``kind`` "w") or sequence ("s").

        ``make(spec)`` builds a kernel; a window whose definition equals an
        earlier one's (``window_state``) gets the earlier one's kernel object.
        """
        specs, state = (self.windows, self.window_state) if kind == "w" else (self.sequences, self.sequence_state)
        out: list[Any] = []
        for i, spec in enumerate(specs):
            out.append(make(spec) if state[i] == i else out[state[i]])
        return out

    def bound_names(self) -> set[str]:
        """Per-ruleset global names the generated code may load (kernels, patterns, constants)."""
        return set(self.window_names) | set(self.sequence_names) | set(self.regex_names) | set(self.constants)


# ---------------------------------------------------------------- names


def py_name(prefix: str, name: str, index: int) -> str:
    """The Python name of a DSL name: ``prefix_name`` when that is a safe identifier, else ``prefix<index>``.

    DSL names are Unicode words; Python folds identifiers with NFKC, so a
    name NFKC would change (full-width letters, ligatures) falls back to the
    index rather than risk two DSL names meeting as one Python name.
    """
    cand = f"{prefix}_{name}"
    if cand.isidentifier() and not keyword.iskeyword(cand) and unicodedata.normalize("NFKC", cand) == cand:
        return cand
    return f"{prefix}{index}"


class Names:
    """The Python name of every DSL name used in generated code."""

    def __init__(self, sym: Any):
        self.sym = sym
        self.params = list(sym.params)
        self.lists = list(sym.lists)
        self.windows = list(sym.windows)
        self.sequences = list(sym.sequences)
        self.scorecards = list(sym.scorecards)
        self.events = list(sym.events)

    def field(self, event: str, name: str) -> str:
        """A decoded field's local variable (``ts`` is always ``ts``)."""
        if name == "ts":
            return "ts"
        return py_name("f", name, list(self.sym.fields[event]).index(name))

    def param(self, name: str) -> str:
        """A parameter's local variable (loaded from ``P`` once per event)."""
        return py_name("p", name, self.params.index(name))

    def list(self, name: str) -> str:
        """A list's local variable (loaded from ``LS`` once per event)."""
        return py_name("l", name, self.lists.index(name))

    def window(self, name: str, what: str = "w") -> str:
        """A window's locals: ``w`` value, ``k`` key, ``a`` argument, ``v`` raw value, ``d`` feeds; ``W`` kernel."""
        return py_name(what, name, self.windows.index(name))

    def sequence(self, name: str, what: str = "s") -> str:
        """A sequence's locals: ``s`` completed, ``sk`` key, ``m`` step bits; ``S`` kernel."""
        return py_name(what, name, self.sequences.index(name))

    def scorecard(self, name: str, what: str = "sc") -> str:
        """A scorecard's locals: ``sc`` score, ``lv`` level."""
        return py_name(what, name, self.scorecards.index(name))

    def function(self, event: str) -> str:
        """The generated function evaluating one event type."""
        return py_name("ev", event, self.events.index(event))


# ---------------------------------------------------------------- constants


_NOT_CONSTANT = object()


class Constants:
    """Folded constant values of a checked ruleset, in their runtime representation."""

    def __init__(self, result: CheckResult):
        self.result = result
        self.by_node: dict[int, Any] = result.const_values_by_node

    def value(self, node: n.Expr) -> Any:
        """The node's value in the representation of its checked type, or ``_NOT_CONSTANT``."""
        if id(node) in self.by_node:
            return self.by_node[id(node)]
        if isinstance(node, n.Literal):
            return decimal_literal(str(node.value)) if node.kind == "decimal" else node.value
        if isinstance(node, n.Name):
            ref = self.result.refs.get(id(node))
            if ref is not None and ref[0] == "const" and ref[1] in self.result.const_values:
                return self.result.const_values[ref[1]]
        if isinstance(node, n.Unary) and node.op == "-" and isinstance(node.operand, n.Literal):
            inner = self.value(node.operand)
            if isinstance(inner, (int, float)) and not isinstance(inner, bool):
                return -inner
        return _NOT_CONSTANT

    def is_constant(self, node: n.Expr) -> bool:
        """True when the node's value is known at compile time."""
        return self.value(node) is not _NOT_CONSTANT

    def converted(self, node: n.Expr, target: Optional[str]) -> Any:
        """The node's constant value converted to numeric type ``target`` (None: unchanged)."""
        value = self.value(node)
        if value is _NOT_CONSTANT:
            raise ValueError("not a constant expression")
        src = self.result.types[id(node)].name
        return convert_value(value, src, target) if target else value


def const_value(result: CheckResult, node: n.Expr, target: Optional[str] = None) -> Any:
    """The folded value of a constant expression of a checked ruleset (parameter defaults, list items)."""
    return Constants(result).converted(node, target)


# ---------------------------------------------------------------- state identity


def _expr_structure(expr: Optional[n.Expr], result: CheckResult, consts: Constants) -> list:
    """A flat, span-free description of an expression with its names resolved."""
    if expr is None:
        return []
    out: list = []
    for node in n.walk(expr):
        if isinstance(node, n.Name):
            kind, name = result.refs.get(id(node), ("?", node.name))
            if kind == "const":
                out.append(["const", result.types[id(node)].name, repr(consts.value(node))])
            else:
                out.append([kind, name])
        elif isinstance(node, n.Literal):
            out.append(["lit", node.kind, repr(consts.value(node))])
        elif isinstance(node, n.Binary):
            out.append(["bin", node.op])
        elif isinstance(node, n.Unary):
            out.append(["un", node.op])
        elif isinstance(node, n.Call):
            out.append(["call", node.func, len(node.args)])
        elif isinstance(node, n.ListLit):
            out.append(["list", len(node.items)])
    return out


def expr_structure(expr: Optional[n.Expr], result: CheckResult, consts: Constants) -> list:
    """A flat, span-free description of an expression: equal descriptions compute the same value."""
    return _expr_structure(expr, result, consts)


def _digest(parts: list) -> str:
    return hashlib.blake2b(msgspec.json.encode(parts), digest_size=16).hexdigest()


def window_identity(decl: n.WindowDecl, arg_type: str, result: CheckResult, consts: Constants) -> str:
    """A window's state identity: a digest of its checked definition (not its name, not its text).

    Two windows with the same identity hold interchangeable state, so a
    snapshot or a shared store keeps state across reloads, formatting
    changes and renames, and drops it when the definition really changed.
    """
    return "w:" + _digest(
        [
            "window",
            decl.agg.name,
            arg_type,
            _expr_structure(decl.arg, result, consts),
            sorted(e.name for e in decl.events),
            _expr_structure(decl.where, result, consts),
            [_expr_structure(k, result, consts) for k in decl.by],
            decl.over_ms,
            bool(decl.exclude_current),
        ]
    )


def sequence_identity(decl: n.SequenceDecl, result: CheckResult, consts: Constants) -> str:
    """A sequence's state identity: a digest of its checked definition."""
    return "s:" + _digest(
        [
            "sequence",
            [_expr_structure(k, result, consts) for k in decl.by],
            decl.within_ms,
            [[st.event.name, _expr_structure(st.where, result, consts)] for st in decl.steps],
        ]
    )


# ---------------------------------------------------------------- per event type


@dataclass
class WindowUse:
    """One window as one event type's function uses it."""

    name: str
    index: int
    decl: n.WindowDecl
    read: bool  # a rule or scorecard of this event reads its value
    fed: bool  # this event adds an entry
    keyed: bool  # the event has every field of the key (else the value is missing)


@dataclass
class SequenceUse:
    """One sequence as one event type's function uses it."""

    name: str
    index: int
    decl: n.SequenceDecl
    read: bool
    fed: bool
    keyed: bool
    step_bits: list[tuple[int, Optional[n.Expr]]]  # (bit, where) of every step this event can match


@dataclass
class EventPlan:
    """Everything one event type's function does, in order."""

    event: str
    function: str
    fields: dict[str, Any]  # field name -> checked type, declaration order (``ts`` first)
    windows: list[WindowUse]
    sequences: list[SequenceUse]
    scorecards: list[str]  # scorecards scored on this event
    missing_scorecards: list[str]  # scorecards read here but scored on other events only
    rules: list[tuple[int, str, n.RuleDecl]]  # (index, name, declaration)


def _key_fields(decl: Any, result: CheckResult) -> set[str]:
    return {
        result.refs[id(s)][1]
        for k in decl.by
        for s in n.walk(k)
        if isinstance(s, n.Name) and result.refs.get(id(s), ("",))[0] == "field"
    }


def _reads(result: CheckResult, exprs: list[n.Expr], kind: str) -> set[str]:
    out = set()
    for expr in exprs:
        for s in n.walk(expr):
            if isinstance(s, n.Name):
                ref = result.refs.get(id(s))
                if ref is not None and ref[0] == kind:
                    out.add(ref[1])
            elif isinstance(s, n.Call) and s.func == "level" and kind == "scorecard":
                ref = result.refs.get(id(s.args[0]))
                if ref is not None:
                    out.add(ref[1])
    return out


def plan_event(result: CheckResult, names: Names, event: str) -> EventPlan:
    """Decide what the function for ``event`` computes."""
    sym = result.symbols
    fields = sym.fields[event]
    rules = [(i, name, d) for i, (name, d) in enumerate(sym.rules.items()) if event in sym.rule_events[name]]
    cards = [name for name in sym.scorecards if event in sym.scorecard_events[name]]
    conditions: list[n.Expr] = [d.when for _i, _name, d in rules if d.when is not None]
    for name in cards:
        conditions.extend(it.when for it in sym.scorecards[name].items if it.when is not None)
    read_windows = _reads(result, conditions, "window")
    read_sequences = _reads(result, conditions, "sequence")
    read_cards = _reads(result, conditions, "scorecard")

    windows = []
    for i, (wname, decl) in enumerate(sym.windows.items()):
        fed = not decl.events or event in [e.name for e in decl.events]
        read = wname in read_windows
        if read or fed:
            keyed = _key_fields(decl, result) <= set(fields)
            windows.append(WindowUse(wname, i, decl, read, fed, keyed))
    sequences = []
    for i, (sname, sdecl) in enumerate(sym.sequences.items()):
        bits = [(1 << b, st.where) for b, st in enumerate(sdecl.steps) if st.event.name == event]
        fed = bool(bits)
        read = sname in read_sequences
        if read or fed:
            keyed = _key_fields(sdecl, result) <= set(fields)
            sequences.append(SequenceUse(sname, i, sdecl, read, fed, keyed, bits))
    missing_cards = [c for c in sym.scorecards if c in read_cards and c not in cards]
    return EventPlan(event, names.function(event), dict(fields), windows, sequences, cards, missing_cards, rules)


# ---------------------------------------------------------------- the ruleset


def numeric_common(a: str, b: str) -> Optional[str]:
    """The type two operands are compared in: their common numeric type, or None when not both numeric."""
    return promote(a, b) if a in NUMERIC and b in NUMERIC else None


def score_type(result: CheckResult, decl: n.ScorecardDecl) -> str:
    """A scorecard's score type: decimal when any item's score is decimal."""
    return scorecard_score_type(result.types[id(it.score)].name for it in decl.items)


def window_type(result: CheckResult, decl: n.WindowDecl) -> str:
    """The type of a window's value."""
    arg_t = result.types[id(decl.arg)].name if decl.arg is not None else None
    return window_result_type(decl.agg.name, arg_t)


def ruleset_tables(result: CheckResult, names: Names, consts: Constants, *, batched: bool) -> Compiled:
    """The tables of a compiled ruleset, before its source is written."""
    sym = result.symbols
    paths = sym.decl_paths
    out = Compiled(source="", event_types=list(sym.events), batched=batched)
    out.params = list(sym.params)
    out.param_types = {name: d.type.name for name, d in sym.params.items()}
    out.lists = list(sym.lists)
    out.list_types = {name: d.type.name for name, d in sym.lists.items()}
    out.scorecards = list(sym.scorecards)
    for name, decl in sym.windows.items():
        arg_t = result.types[id(decl.arg)].name if decl.arg is not None else "int"
        out.windows.append(
            WindowSpec(
                name,
                decl.agg.name,
                decl.over_ms,
                arg_t == "float",
                decl.exclude_current,
                window_type(result, decl),
                window_identity(decl, arg_t, result, consts),
                decl.span.line,
                paths.get(id(decl), ""),
            )
        )
        out.window_names.append(names.window(name, "W"))
    for name, sdecl in sym.sequences.items():
        out.sequences.append(
            SequenceSpec(
                name,
                len(sdecl.steps),
                sdecl.within_ms,
                sequence_identity(sdecl, result, consts),
                sdecl.span.line,
                paths.get(id(sdecl), ""),
            )
        )
        out.sequence_names.append(names.sequence(name, "S"))
    for i, (name, rdecl) in enumerate(sym.rules.items()):
        out.rules.append(
            RuleMeta(
                id=name,
                action=rdecl.action.name if rdecl.action is not None else "pass",
                reason=rdecl.reason or "",
                code=rdecl.code,
                shadow=rdecl.shadow,
                priority=rdecl.priority,
                index=i,
                path=paths.get(id(rdecl), ""),
                line=rdecl.span.line,
                controls=control_specs(result, rdecl) if rdecl.controls else (),
            )
        )
    out.functions = {event: names.function(event) for event in sym.events}
    out.window_state = same_state([w.signature for w in out.windows])
    out.sequence_state = same_state([s.signature for s in out.sequences])
    return out


def same_state(signatures: list[str]) -> list[int]:
    """For each signature, the index of its first occurrence: windows with equal identities share one state.

    Two windows with the same identity are fed the same entries by the same
    events and answer every query alike, so one kernel serves both names and
    one kernel call per event computes both values.
    """
    first: dict[str, int] = {}
    return [first.setdefault(sig, i) if sig else i for i, sig in enumerate(signatures)]
