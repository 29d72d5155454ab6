"""Checking a rule's ``control`` clauses (docs/language.md, "Controls").

``control KEY as "KIND" for DURATION``: the key is typed in the rule's
scope but may read only what a window key may (the event's fields,
constants, parameters, lists: it is computed before any decision); it must
be a text, an enum or a whole number (RD302).  The kind is a string literal
(RD311, not empty); the duration a constant duration above zero (RD312).
"""

from __future__ import annotations

from typing import Any

from ruledsl.check import messages as m
from ruledsl.check.exprs import ExprChecker, Scope
from ruledsl.check.fold import NOTCONST
from ruledsl.check.types import CONTROL_KEY_TYPES
from ruledsl.syntax import nodes as n
from ruledsl.syntax.durations import DURATION_UNITS, format_duration

MAX_CONTROL_MS = 36_500_000 * DURATION_UNITS["d"]
"""Longest control (100 000 years, as ``since()`` windows): ``ts + duration`` stays exact in 64 bits."""

_KEY_KINDS = ("const", "param", "list")
"""What a control key may read besides the event's fields (as a window key)."""


def check_controls(ctx: Any, ec: ExprChecker, rule: n.RuleDecl, path: str, events: list[str], lenient: bool) -> None:
    """Report every problem of ``rule``'s control clauses (nothing when it has none)."""
    if not rule.controls:
        return
    owner = f"the control key of rule `{rule.name.name}`"
    key_scope = Scope(path, events, "control", _KEY_KINDS, owner=owner, lenient=lenient)
    for clause in rule.controls:
        t, _v = ec.check(clause.key, key_scope)
        if t.name not in CONTROL_KEY_TYPES:
            ctx.report(path, clause.key.span, m.bad_control_key(t))
        kind = clause.kind
        count = len(ctx.diags)
        ec.check(kind, Scope(path, const="a control kind"))  # resolves names (a constant here is read, not unused)
        is_text = isinstance(kind, n.Literal) and kind.kind == "string" and kind.value
        if not is_text and len(ctx.diags) == count:
            ctx.report(path, kind.span, m.control_kind_not_literal())
        _check_duration(ctx, ec, clause.duration, path)


def _check_duration(ctx: Any, ec: ExprChecker, expr: n.Expr, path: str) -> None:
    text = ctx.program.sources.get(path, "")[expr.span.start : expr.span.end] or "?"
    count = len(ctx.diags)
    t, v = ec.check(expr, Scope(path, const="a control duration"))
    if len(ctx.diags) > count:  # not a constant: already reported
        return
    if t.name != "duration" or v is NOTCONST or v is None:
        if t.name != "any":
            ctx.report(path, expr.span, m.control_duration(text, f"is `{t.name}`, not a duration such as `30d`"))
        return
    if v <= 0:
        ctx.report(path, expr.span, m.control_duration(text, "is not above zero"))
    elif v > MAX_CONTROL_MS:
        ctx.report(path, expr.span, m.control_duration(text, f"is longer than {format_duration(MAX_CONTROL_MS)}"))


def control_duration_ms(result: Any, clause: n.ControlClause) -> int:
    """A checked control clause's duration in ms (its folded value)."""
    value = result.const_values_by_node.get(id(clause.duration))
    if type(value) is not int:
        raise ValueError("control duration not folded: the ruleset was not checked clean")
    return value
