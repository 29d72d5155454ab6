"""The rules of one event type as a tree of shared conditions, so that many rules cost less than one test each.

A large ruleset is mostly families of rules written alike: hundreds of rules
that begin with the same test (``channel == "web" and ...``), or that differ
only in the value one field is compared with (``merchant_id == "M123" and
amount > 5000``, one rule per merchant).  Testing every rule's condition on
every event costs linearly in the rules even when one shared test is false.
The tree makes that cost grow with what differs:

- **shared leading conjuncts**: each rule's condition is split at its
  top-level ``and``; rules whose first conjunct is the same computation (the
  same structure, ``plan._expr_structure``: names resolved, constants by
  value, spans and formatting ignored) sit under one ``if`` on it, and so on
  recursively for the conjuncts that follow.  When the shared test is false,
  none of the rules under it costs anything;
- **equality dispatch**: sibling groups whose first conjunct compares the
  same string subject with different constants (``channel == "web"``,
  ``channel == "app"``, ...; at least ``DISPATCH_MIN`` values) become one dict
  lookup giving a case number, and a balanced ``if case < k`` tree over the
  case numbers: log2 of the number of values, not one test per value.

Why these two and not others: they are exact rewrites of ``and`` and ``==``
for every value, missing ones included.  A conjunct that reads a missing
value is False, as it was; a missing subject is not a key of the dispatch
dict (no constant is missing), so no case runs, as no equality held.  Each
rule still tests its own conjuncts in its own order: a rule's later
conjunct is evaluated only when its earlier ones hold, as before, so a test
that would only be safe after an earlier one (a division guarded by a
``!= 0``) keeps its guard.  What changes is the order *between* rules: a
group runs where its first rule was.  That is unobservable because
conditions have no effects (division by zero, a bad regex input give a
missing value; temporaries are fresh names) and because the decision does
not depend on the order of hits: ``Engine._decide`` sorts the matched rules
by action rank, priority and rule index.  Common sub-expressions hoisted out
of the middle of conditions were left out: a shared test in the middle of
conditions that are already false costs nothing today, and hoisting it
would make every event pay for it.

``DISPATCH_MIN`` and ``MAX_DEPTH`` keep small rulesets' code as it was and
bound the nesting (Python allows 100 indentation levels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import msgspec

from ruledsl.check.checker import CheckResult
from ruledsl.compile.plan import Constants, expr_structure
from ruledsl.syntax import nodes as n

DISPATCH_MIN = 4
"""Sibling equality tests on one subject needed before they become a dict lookup."""

MAX_DEPTH = 40
"""The most indentation levels shared conditions and lookups may take (beyond, rules are tested one by one)."""

_DISPATCH_TYPES = ("string", "enum")  # values compared by Python ``==`` and hashed alike


@dataclass
class Leaf:
    """One rule: fires when its remaining conjuncts hold (all of them: ``whole``)."""

    index: int
    name: str
    decl: n.RuleDecl
    rest: list[n.Expr]
    whole: bool  # ``rest`` is the rule's whole condition (nothing shared): test ``decl.when`` as written


@dataclass
class Branch:
    """Rules sharing a conjunct: ``if test:`` and the rules (their remaining conjuncts) under it."""

    test: n.Expr
    children: list[Node]
    rules: list[str]  # the rules under it, for the comment


@dataclass
class Dispatch:
    """Sibling groups comparing one subject with distinct constants: a dict lookup, then the case's rules."""

    subject: n.Expr
    values: list[str]
    cases: list[list[Node]]  # one per value, in ``values`` order
    rules: list[str]


Node = Union[Leaf, Branch, Dispatch]


@dataclass
class _Pending:
    """A rule on its way down the tree: the conjuncts it has yet to test."""

    index: int
    name: str
    decl: n.RuleDecl
    conjuncts: list[n.Expr]
    whole: bool = True


@dataclass
class _Group:
    key: Any
    first: n.Expr
    members: list[_Pending] = field(default_factory=list)


def conjuncts(expr: n.Expr, consts: Constants) -> list[n.Expr]:
    """The top-level ``and`` operands of a condition, left to right (a folded constant stays whole)."""
    if isinstance(expr, n.Binary) and expr.op == "and" and not consts.is_constant(expr):
        return conjuncts(expr.left, consts) + conjuncts(expr.right, consts)
    return [expr]


class RuleTree:
    """Builds the tree of one event type's rules (``build``)."""

    def __init__(self, result: CheckResult, consts: Constants):
        self.result = result
        self.consts = consts
        self._keys: dict[int, bytes] = {}

    def key(self, expr: n.Expr) -> bytes:
        """The conjunct's identity: equal keys compute the same value in the same event function."""
        found = self._keys.get(id(expr))
        if found is None:
            found = msgspec.json.encode(expr_structure(expr, self.result, self.consts))
            self._keys[id(expr)] = found
        return found

    def equality(self, expr: n.Expr) -> Optional[tuple[n.Expr, bytes, str]]:
        """``(subject, subject key, value)`` of ``subject == "constant"`` (either side), else None."""
        if not isinstance(expr, n.Binary) or expr.op != "==" or self.consts.is_constant(expr):
            return None
        types = self.result.types
        for subject, other in ((expr.left, expr.right), (expr.right, expr.left)):
            if (
                self.consts.is_constant(other)
                and not self.consts.is_constant(subject)
                and types[id(subject)].name in _DISPATCH_TYPES
                and types[id(other)].name in _DISPATCH_TYPES
            ):
                value = self.consts.value(other)
                if type(value) is str:
                    return subject, self.key(subject), value
        return None

    def build(self, rules: list[tuple[int, str, n.RuleDecl]]) -> list[Node]:
        """The tree of ``rules`` (index, name, declaration; those with a condition), first rule first."""
        pending = [_Pending(i, name, d, conjuncts(d.when, self.consts)) for i, name, d in rules if d.when is not None]
        return self._level(pending, 0)

    def _level(self, pending: list[_Pending], depth: int) -> list[Node]:
        out: list[tuple[int, Node]] = []  # (first rule index, node): nodes run in the order of their first rule
        groups: dict[Any, _Group] = {}
        for p in pending:
            if not p.conjuncts:
                out.append((p.index, Leaf(p.index, p.name, p.decl, [], False)))
                continue
            if depth >= MAX_DEPTH:
                out.append((p.index, Leaf(p.index, p.name, p.decl, p.conjuncts, p.whole)))
                continue
            first = p.conjuncts[0]
            eq = self.equality(first)
            key: Any = ("eq", eq[1], eq[2]) if eq is not None else self.key(first)
            groups.setdefault(key, _Group(key, first)).members.append(p)
        # equality tests of one subject against many values: one lookup
        by_subject: dict[bytes, list[_Group]] = {}
        for g in groups.values():
            if isinstance(g.key, tuple):
                by_subject.setdefault(g.key[1], []).append(g)
        dispatched: set[int] = set()
        for cases in by_subject.values():
            if len(cases) < DISPATCH_MIN:
                continue
            subject = self.equality(cases[0].first)[0]  # type: ignore[index]  # an equality by its key
            values = [g.key[2] for g in cases]
            inner = depth + 1 + (len(cases) - 1).bit_length()  # the lookup's test, then halving the cases
            bodies = [self._level([self._after(p) for p in g.members], inner) for g in cases]
            names = [p.name for g in cases for p in g.members]
            first_index = min(p.index for g in cases for p in g.members)
            out.append((first_index, Dispatch(subject, values, bodies, names)))
            dispatched.update(id(g) for g in cases)
        for g in groups.values():
            if id(g) in dispatched:
                continue
            if len(g.members) == 1:
                p = g.members[0]
                out.append((p.index, Leaf(p.index, p.name, p.decl, p.conjuncts, p.whole)))
                continue
            children = self._level([self._after(p) for p in g.members], depth + 1)
            out.append((g.members[0].index, Branch(g.first, children, [p.name for p in g.members])))
        out.sort(key=lambda pair: pair[0])
        return [node for _i, node in out]

    @staticmethod
    def _after(p: _Pending) -> _Pending:
        return _Pending(p.index, p.name, p.decl, p.conjuncts[1:], False)
