"""Generated code for rule ``control`` clauses (docs/semantics.md, "Controls").

An event function whose event type has a rule with a ``control`` clause
starts its rules with ``ctl = []``; when such a rule fires, it appends
``(rule index, key value, clause number)`` for each of its clauses, and
``_decide(..., ctl=ctl)`` applies them (``runtime/engine_controls.py``): only
for rules still in ``hits``, non-shadow, and only when the event is committed.
Other event functions (and every function of a ruleset without controls) are
written exactly as before.  ``controlled(x)``/``control_kind(x)`` read the
engine's control table ``CT`` in event time (``compile/runtime.py``).
"""

from __future__ import annotations

from typing import Any

from ruledsl.syntax import nodes as n


def event_has_controls(sym: Any, event: str) -> bool:
    """Whether some rule on ``event`` has a ``control`` clause (then its function collects ``ctl``)."""
    return any(rd.controls and event in sym.rule_events.get(name, ()) for name, rd in sym.rules.items())


def control_appends(gen: Any, rule: n.RuleDecl, index: int) -> list[str]:
    """The lines that record ``rule``'s controls when it fires (after its ``hits.append``)."""
    lines = []
    for k, clause in enumerate(rule.controls):
        key, _nullable = gen.expr(clause.key)  # a missing key sets no control: _decide skips None
        lines.append(f"ctl.append(({index}, {key}, {k}))")
    return lines


def control_specs(result: Any, rule: n.RuleDecl) -> tuple[tuple[str, int], ...]:
    """``(kind, duration ms)`` of each of ``rule``'s control clauses, from the checked ruleset."""
    out = []
    for clause in rule.controls:
        kind = clause.kind.value if isinstance(clause.kind, n.Literal) else None
        duration = result.const_values_by_node.get(id(clause.duration))
        if not isinstance(kind, str) or type(duration) is not int:
            raise ValueError(f"control clause of rule `{rule.name.name}` is not checked clean")
        out.append((kind, duration))
    return tuple(out)


def lookup(func: str, key: str) -> tuple[str, bool]:
    """Code for ``controlled(key)`` (never missing) or ``control_kind(key)`` (missing without a live control)."""
    if func == "controlled":
        return f"_ctl_on(CT, {key}, ts, CLK)", False
    return f"_ctl_kind(CT, {key}, ts, CLK)", True
