"""The report of a failed rule-test case: expected vs actual, the decision, why rules stayed silent, the timeline."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Optional

from ruledsl.ruletest.ruleset import RulesetUnderTest
from ruledsl.ruletest.runner import CaseResult, decision_line
from ruledsl.ruletest.values import clock_time, format_number, format_value, iso_local, yaml_bool
from ruledsl.runtime.decision import Decision


def _feature_type(rs: RulesetUnderTest, name: str, event_type: str) -> Optional[str]:
    sym = rs.symbols
    ftype = sym.fields.get(event_type, {}).get(name)
    if ftype is not None:
        return ftype.name
    vt = sym.value_types.get(name)
    return vt.name if vt is not None else None


def format_event_fields(fields: dict[str, Any], zone: Optional[_dt.tzinfo] = None) -> str:
    """``key=value`` pairs as sent (strings quoted)."""
    parts = []
    for k, v in fields.items():
        if isinstance(v, str):
            shown = json.dumps(v, ensure_ascii=False)
        elif v is None:
            shown = "null"
        elif type(v) is bool:
            shown = yaml_bool(v)
        else:
            shown = repr(v)
        parts.append(f"{k}={shown}")
    return " ".join(parts)


def format_decision(decision: Decision, rs: RulesetUnderTest, zone: _dt.tzinfo, indent: str = "") -> list[str]:
    """The decision: action, then each matched rule with its reason, code and feature values."""
    head = f"{indent}decision: {decision.action}"
    extras = []
    if decision.hold_timeout_ms:
        extras.append(f"hold timeout {decision.hold_timeout_ms / 3_600_000:g}h")
    if decision.late:
        extras.append("late event")
    lines = [head + (f" ({', '.join(extras)})" if extras else "")]
    for r in decision.rules:
        bits = [r.id, r.action + (" (shadow)" if r.shadow else "")]
        if r.code:
            bits.append(r.code)
        bits.append(r.reason)
        lines.append(f"{indent}  " + "  ".join(bits))
        for name, value in r.features.items():
            lines.append(
                f"{indent}      {name} = {format_value(value, _feature_type(rs, name, decision.event_type), zone)}"
            )
    if not decision.rules:
        lines.append(f"{indent}  (no rule matched)")
    for s in decision.scores:
        lines.append(f"{indent}  scorecard {s.name}: {format_number(s.score)} ({s.level})")
    return lines


def failure_summary(result: CaseResult) -> str:
    """One line: where the case failed and its first mismatch."""
    step = result.failed_step
    if step is None or not result.mismatches:
        return result.status
    first = result.mismatches[0]
    more = f" (+{len(result.mismatches) - 1} more)" if len(result.mismatches) > 1 else ""
    return f"event {step.index + 1}: {first.key}: {first.message}{more}"


def format_failure(result: CaseResult) -> str:
    """The report for a failed case (without the ``___ id ___`` header)."""
    case = result.case
    step = result.failed_step
    if step is None:
        return ""
    rs = case.file.ruleset
    zone = case.file.zone
    record = result.records[-1]
    rep = f", repetition {step.repeat[0]} of {step.repeat[1]}" if step.repeat else ""
    lines = [
        f"event {step.index + 1} of {len(case.steps)} ({case.file.shown}:{step.line}{rep}): "
        f"{step.event_type} at {iso_local(step.ts, zone)}",
    ]
    if step.fields:
        lines.append("  " + format_event_fields(step.fields))
    lines.append("expected vs actual:")
    for m in result.mismatches:
        suffix = " (expect_last)" if m.source == "expect_last" else ""
        lines.append(f"  {m.key}{suffix}: {m.message}")
    if record.decision is not None:
        lines.extend(format_decision(record.decision, rs, zone))
    explanation = result.explanation or {}
    silent = explanation.get("silent") or {}
    if silent:
        lines.append("expected to fire but silent (values from the reference interpreter):")
        for rule, feats in silent.items():
            decl = rs.symbols.rules[rule]
            bits = [rule, decl.action.name if decl.action else "?"]
            if decl.code:
                bits.append(decl.code)
            if decl.reason:
                bits.append(decl.reason)
            lines.append("  " + "  ".join(bits))
            cond = rs.condition_text(rule)
            if cond:
                lines.append(f"      when {cond}")
            for name, value in feats.items():
                lines.append(f"      {name} = {format_value(value, _feature_type(rs, name, step.event_type), zone)}")
    ref_decision = explanation.get("reference")
    if ref_decision is not None and record.decision is not None:
        lines.append(
            f"note: the reference interpreter decides {decision_line(ref_decision)} for this event, "
            f"the engine {decision_line(record.decision)}: this looks like an engine bug, please report it"
        )
    lines.append("timeline:")
    shown = result.records[-20:]
    if len(result.records) > len(shown):
        lines.append(f"  ... {len(result.records) - len(shown)} earlier events")
    for rec in shown:
        s = rec.step
        if rec.decision is not None:
            outcome = decision_line(rec.decision)
        elif rec.error is not None:
            outcome = f"rejected ({rec.error})"
        else:
            outcome = f"internal error ({type(rec.crash).__name__})"
        if rec.decision is not None and rec.decision.late:
            outcome += " (late)"
        mark = "  <- failed here" if s is step else ""
        lines.append(f"  #{s.index + 1} {clock_time(s.ts, zone)} {s.event_type} -> {outcome}{mark}")
    if step.index + 1 < len(case.steps):
        rest = len(case.steps) - step.index - 1
        lines.append(f"  ({rest} later event{'s' if rest != 1 else ''} not run)")
    return "\n".join(lines)
