"""Exemption steps of rule tests: ``exempt: {key, rule, until, reason}`` on the virtual clock.

A case grants an exemption between two events (docs/testing.md,
"Exemptions"); a later event's ``expect`` can then say which rules the
exemptions kept from firing (``exempted: [rule_id]``, checked against
``Decision.exemptions``).  ``until`` is a duration from the step's virtual
time (``30d``) or a timestamp (ISO 8601 or epoch ms); ``rule`` is a rule id
or ``all``.  Everything is checked against the ruleset when the file is
loaded; the engine's own refusal (an ``ExemptionError``) fails the step.
"""

from __future__ import annotations

from typing import Any, Optional

from ruledsl.kernels.values import parse_timestamp
from ruledsl.ruletest.spec import EXEMPT_STEP_KEY, Step
from ruledsl.ruletest.values import parse_duration
from ruledsl.runtime.exemptions import ALL_RULES, ExemptionError
from ruledsl.syntax.diagnostics import suggest

EXEMPT_KEYS = ("key", "rule", "until", "reason")
"""Keys of an exemption step's mapping (``key``, ``rule`` and ``until`` are required)."""


def exempt_step(
    v: Any, raw: dict, sw: list, line: int, start: int, prev: Optional[int], steps: list[Step]
) -> Optional[int]:
    """Validate an exemption step with validator ``v`` and append it to ``steps``; returns the new ``prev`` time."""
    n_before = len(v.problems)
    others = [k for k in raw if k not in (EXEMPT_STEP_KEY, "at", "after", "ts")]
    if others:
        v.problem(
            sw,
            "an exemption step has `exempt` and at/after/ts only (a later event's `expect` checks `exempted`); "
            "this one also has " + ", ".join(map(str, others)),
        )
        return prev
    body = raw[EXEMPT_STEP_KEY]
    where = [*sw, EXEMPT_STEP_KEY]
    if not isinstance(body, dict):
        v.problem(where, "write `exempt: {key: ..., rule: RULE_ID or all, until: 30d, reason: ...}`")
        return prev
    for k in body:
        if k not in EXEMPT_KEYS:
            hint = suggest(str(k), EXEMPT_KEYS)
            v.problem(
                [*where, k], f"unknown key `{k}`" + (f"; {hint}" if hint else f" ({', '.join(EXEMPT_KEYS)})"), key=True
            )
    for k in ("key", "rule", "until"):
        if k not in body:
            v.problem(where, f"an exemption step needs `{k}`")
    sym = v.rs.symbols
    if not sym.exempt_by:
        v.problem(where, "the ruleset has no `exempt by` declaration: nothing says whom an exemption is for")
    key = body.get("key")
    if "key" in body and (type(key) not in (str, int)):
        v.problem([*where, "key"], f"`key` is a string or a whole number, not {key!r}")
    rule = body.get("rule")
    if "rule" in body and rule != ALL_RULES and rule not in sym.rules:
        hint = suggest(str(rule), sym.rules)
        v.problem(
            [*where, "rule"], f"unknown rule `{rule}`" + (f"; {hint}" if hint else f" (a rule id or {ALL_RULES})")
        )
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        v.problem([*where, "reason"], f"`reason` is text, not {reason!r}")
    ts = v._step_time(raw, sw, start, prev)
    until = _until(v, body.get("until"), [*where, "until"], ts) if "until" in body else None
    if len(v.problems) != n_before or until is None:
        return ts
    fields = {"key": key, "rule": rule, "until": until, "reason": reason}
    steps.append(
        Step(index=len(steps), line=line, event_type=EXEMPT_STEP_KEY, fields=fields, ts=ts, hold_op=EXEMPT_STEP_KEY)
    )
    return ts


def _until(v: Any, value: Any, where: list, ts: int) -> Optional[int]:
    """``until`` in epoch ms: a duration after the step's time, or a timestamp; a problem (None) otherwise."""
    if isinstance(value, str):
        try:
            ms = parse_duration(value)
        except ValueError:
            ms = None
        if ms is not None:
            if ms <= 0:
                v.problem(where, f"`until`: a duration after the step is longer than 0, not {value!r}")
                return None
            return ts + ms
    try:
        return parse_timestamp(value, v.zone)
    except (TypeError, ValueError, OverflowError):
        v.problem(where, f"`until` is a duration after the step (e.g. 30d) or a timestamp, not {value!r}")
        return None


def run_exempt_step(engine: Any, step: Step) -> Optional[str]:
    """Grant the step's exemption on ``engine``; the engine's refusal as a message (None when granted)."""
    f = step.fields
    try:
        engine.exempt(f["key"], rule=f["rule"], until=f["until"], by="ruletest", reason=f["reason"])
    except ExemptionError as err:
        return f"the engine refused the exemption: {err}"
    return None


def exempted_problem(want: tuple[str, ...], decision: Any) -> Optional[str]:
    """``exempted: [rule ids]``: None when exactly these rules were kept from firing (``Decision.exemptions``)."""
    got = [a.rule for a in decision.exemptions]
    if set(want) == set(got):
        return None
    shown = ", ".join(f"{a.rule} (key {a.key!r} in {a.field}, exempted from {a.exempted})" for a in decision.exemptions)
    return f"expected exemptions to keep [{', '.join(want)}] from firing, got [{shown}]" + (
        "" if decision.exemptions else " (no exemption applied)"
    )
