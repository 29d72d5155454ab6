"""The typed AST of a ruleset.

Every node is a frozen msgspec Struct with a source ``span``.  The parse tree
is never mutated after construction: the checker keeps types and resolved
names in side tables keyed by node identity.  Nodes are acyclic, so they are
declared with ``gc=False``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional, Union

import msgspec


class Span(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A region of a source file: 0-based char offsets and 1-based line:col."""

    start: int = 0
    end: int = 0
    line: int = 1
    col: int = 1
    end_line: int = 1
    end_col: int = 1


NO_SPAN = Span()


class Node(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag=True, tag_field="node"):
    """Base of every AST node: carries its source span.

    Subclasses say ``frozen=True`` again: msgspec inherits it, but type
    checkers only know a subclass is frozen when it is written.
    """

    span: Span = NO_SPAN


# ---------------------------------------------------------------- expressions


class Literal(Node, frozen=True):
    """A literal value.

    ``kind`` is one of ``int``, ``decimal``, ``string``, ``bool``, ``duration``.
    Decimals keep their source text (exact); durations are in milliseconds.
    """

    kind: str
    value: Union[int, str, bool]


class Name(Node, frozen=True):
    """A reference to a field, constant, parameter, list, window, sequence or scorecard."""

    name: str


class Unary(Node, frozen=True):
    """``-x`` or ``not x``."""

    op: str
    operand: Expr


class Binary(Node, frozen=True):
    """A binary operation: arithmetic, comparison, ``and``/``or``, ``in``/``not in``."""

    op: str
    left: Expr
    right: Expr


class Call(Node, frozen=True):
    """A call of a built-in function, e.g. ``hour(ts)``."""

    func: str
    args: list[Expr]
    func_span: Span = NO_SPAN


class ListLit(Node, frozen=True):
    """An inline list, e.g. ``["atm", "pos"]``."""

    items: list[Expr]


Expr = Union[Literal, Name, Unary, Binary, Call, ListLit]


# ---------------------------------------------------------------- declarations


class Ident(Node, frozen=True):
    """A declared name together with where it was written."""

    name: str


class TypeRef(Node, frozen=True):
    """A field or parameter type: ``decimal``, ``string?``, ``enum("a", "b")``."""

    name: str
    optional: bool = False
    enum_values: list[str] = []


class RulesetDecl(Node, frozen=True):
    """The ruleset header: name, version, description, time zone, lateness."""

    name: Ident
    version: Optional[str] = None
    description: Optional[str] = None
    timezone: Optional[str] = None
    lateness_ms: Optional[int] = None
    hold_timeout_ms: Optional[int] = None
    max_future_skew_ms: Optional[int] = None  # the clock guard (docs/semantics.md)
    # spans of header items, so duplicates can be reported where they stand
    item_spans: list[Span] = []
    item_names: list[str] = []


class IncludeDecl(Node, frozen=True):
    """``include "path"``: share schemas, lists, constants across files."""

    path: str


class ExemptDecl(Node, frozen=True):
    """``exempt by f1, f2``: the event fields an exemption key (``Engine.exempt``) is matched against."""

    fields: list[Ident]


class FieldDecl(Node, frozen=True):
    """One typed field of an event schema, with its optional budget clause (``cardinality 10M rate 3/1d``)."""

    name: Ident
    type: TypeRef
    cardinality: Optional[int] = None  # distinct values (ruledsl lint --budget)
    cardinality_text: Optional[str] = None  # as written, for the formatter
    rate_text: Optional[str] = None  # events per value per ``rate_per_ms``, as written (``3``, ``0.5``)
    rate_per_ms: Optional[int] = None


class EventDecl(Node, frozen=True):
    """An event type and its schema."""

    name: Ident
    fields: list[FieldDecl]


class ConstDecl(Node, frozen=True):
    """A named constant, fixed at compile time."""

    name: Ident
    value: Expr


class ParamDecl(Node, frozen=True):
    """A business parameter: typed, with a default, adjustable at run time."""

    name: Ident
    type: TypeRef
    default: Expr


class ListDecl(Node, frozen=True):
    """A black/grey list: inline items or a file with one entry per line."""

    name: Ident
    type: TypeRef
    items: Optional[list[Expr]] = None
    file: Optional[str] = None
    file_span: Span = NO_SPAN


class WindowDecl(Node, frozen=True):
    """A sliding-window aggregate keyed by fields, in event time."""

    name: Ident
    agg: Ident
    arg: Optional[Expr] = None
    events: list[Ident] = []  # empty means any event type
    where: Optional[Expr] = None
    by: list[Expr] = []
    over_ms: int = 0
    over_span: Span = NO_SPAN
    exclude_current: bool = False


class Step(Node, frozen=True):
    """One step of a sequence: an event type and an optional condition."""

    event: Ident
    where: Optional[Expr] = None


class SequenceDecl(Node, frozen=True, kw_only=True):
    """Ordered steps for the same key within a time span (the chain defence)."""

    name: Ident
    by: list[Expr]
    within_ms: int
    within_span: Span = NO_SPAN
    steps: list[Step]


class Clause(Node, frozen=True):
    """A keyword clause inside a rule or scorecard, kept for duplicate checks."""

    keyword: str


class ControlClause(Node, frozen=True):
    """``control KEY as "KIND" for DURATION``: when the rule fires, the key's value gets a control.

    ``kind`` and ``duration`` are expressions as written; the checker requires
    a string literal and a positive duration (docs/semantics.md, "Controls").
    """

    key: Expr
    kind: Expr
    duration: Expr


class RuleDecl(Node, frozen=True):
    """A rule: when its condition holds for an event, it proposes an action."""

    name: Ident
    reason: Optional[str] = None
    code: Optional[str] = None
    events: Optional[list[Ident]] = None  # None: not written; [] means any
    when: Optional[Expr] = None
    action: Optional[Ident] = None
    priority: int = 0
    tags: list[str] = []
    shadow: bool = False
    clauses: list[Clause] = []
    controls: list[ControlClause] = []  # repeatable, in source order


class ScoreItem(Node, frozen=True):
    """A weighted scorecard item: ``item "label" when cond score n``."""

    label: str
    when: Expr
    score: Expr


class Level(Node, frozen=True):
    """A scorecard level threshold: ``level high >= 80``."""

    name: Ident
    op: str
    threshold: Expr


class ScorecardDecl(Node, frozen=True):
    """Weighted items summed to a score, mapped to five levels."""

    name: Ident
    events: Optional[list[Ident]] = None
    items: list[ScoreItem] = []
    levels: list[Level] = []
    clauses: list[Clause] = []


Decl = Union[
    RulesetDecl,
    IncludeDecl,
    EventDecl,
    ConstDecl,
    ParamDecl,
    ListDecl,
    WindowDecl,
    SequenceDecl,
    RuleDecl,
    ScorecardDecl,
    ExemptDecl,
]


class Module(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One parsed source file."""

    path: str
    decls: list[Decl]


ACTIONS = ("block", "hold", "step_up", "alert", "pass")
"""Actions, strongest first."""

LEVELS = ("high", "elevated", "medium", "low", "minimal")
"""Scorecard levels, highest risk first."""

AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")
"""Window aggregate functions."""


def walk(expr: Expr) -> Iterator[Expr]:
    """Yield ``expr`` and every sub-expression, depth first, without recursion."""
    stack: list[Expr] = [expr]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        yield node
        if isinstance(node, (Name, Literal)):  # the leaves, most nodes: one test
            continue
        if isinstance(node, Binary):
            push(node.right)
            push(node.left)
        elif isinstance(node, Unary):
            push(node.operand)
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))
        elif isinstance(node, ListLit):
            stack.extend(reversed(node.items))
