"""Running a rule-test case on a fresh engine and comparing each decision with its expectations.

``run_case`` stops at the first event whose expectation fails and, for the
report, replays the case on the reference interpreter to explain why the
rules expected to fire stayed silent.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

import msgspec
from msgspec import UNSET

from ruledsl.kernels.values import EventError
from ruledsl.ruletest.control_expect import controls_problem
from ruledsl.ruletest.exempt_steps import exempted_problem, run_exempt_step
from ruledsl.ruletest.spec import EXEMPT_STEP_KEY, Expectation, RuleCase, RuleTestFile, Step
from ruledsl.ruletest.values import (
    format_number,
    format_value,
    hold_timeout_text,
    iso_local,
    values_equal,
    yaml_bool,
)
from ruledsl.runtime.decision import ACTION_RANK, Decision
from ruledsl.runtime.holds import HoldError

# ---------------------------------------------------------------- running


@dataclass
class Mismatch:
    """One expectation that the decision did not meet."""

    key: str
    message: str
    source: str = "expect"


@dataclass
class StepRecord:
    """What happened at one step."""

    step: Step
    decision: Optional[Decision] = None
    error: Optional[EventError] = None
    crash: Optional[BaseException] = None  # anything else the engine raised: a bug in ruledsl
    hold_state: Optional[str] = None  # the case's latest hold after the step (None: no hold yet)
    hold_problem: Optional[str] = None  # a confirm_hold the engine refused (HoldError), or with no hold to confirm


@dataclass
class CaseResult:
    """The outcome of running one case."""

    case: RuleCase
    status: str  # "passed" | "failed" | "skipped"
    records: list[StepRecord] = field(default_factory=list)
    failed_step: Optional[Step] = None
    mismatches: list[Mismatch] = field(default_factory=list)
    fired: Counter = field(default_factory=Counter)  # rule -> events where it matched
    silent: Counter = field(default_factory=Counter)  # rule -> events of its types where it did not
    explanation: Optional[dict] = None  # filled by ``explain`` for failure reports

    @property
    def passed(self) -> bool:
        """Every expectation of the case held."""
        return self.status == "passed"


def _engine_settings(case: RuleCase) -> dict:
    return {"params": case.params or None, "lists": case.lists or None, "timezone": case.file.timezone}


def run_case(case: RuleCase, *, explain: bool = True) -> CaseResult:
    """Run a case on a fresh engine; stops at the first event whose expectation fails.

    With ``explain`` a failure is enriched (``result.explanation``) by
    replaying the case on the reference interpreter: the values behind the
    rules that were expected to fire and did not.
    """
    result = CaseResult(case=case, status="passed")
    if case.skip is not None:
        result.status = "skipped"
        return result
    rs = case.file.ruleset
    engine = rs.engine(**_engine_settings(case))
    rule_events = rs.symbols.rule_events
    latest = None  # the case's latest hold: (hold id, the held decision)
    for step in case.steps:
        record = StepRecord(step)
        try:
            if step.hold_op == EXEMPT_STEP_KEY:
                record.hold_problem = run_exempt_step(engine, step)
            elif step.hold_op is not None:
                _hold_step(engine, step, record, latest)
            else:
                record.decision = engine.evaluate(step.event())
                if record.decision.hold_id is not None:
                    latest = (record.decision.hold_id, record.decision)
                    record.hold_state = "open"
        except EventError as err:
            record.error = err
        except Exception as err:  # an engine bug: report it as this case's failure, keep running the others
            record.crash = err
            result.records.append(record)
            result.status = "failed"
            result.failed_step = step
            result.mismatches = [
                Mismatch(
                    "engine",
                    f"internal error: {type(err).__name__}: {err} "
                    "(a bug in ruledsl, not in the test: please report it)",
                )
            ]
            break
        result.records.append(record)
        if record.decision is not None and step.hold_op is None:
            matched = set(record.decision.matched)
            for rule, events in rule_events.items():
                if step.event_type in events:
                    (result.fired if rule in matched else result.silent)[rule] += 1
        mismatches = check_step(step, record, case.file.zone)
        if mismatches:
            result.status = "failed"
            result.failed_step = step
            result.mismatches = mismatches
            if explain:
                result.explanation = _explain(case, step, mismatches, record)
            break
    return result


def _hold_step(engine: Any, step: Step, record: StepRecord, latest: Optional[tuple[str, Decision]]) -> None:
    """Run a hold step at its virtual time; the record's decision is the latest hold's (its action once closed)."""
    if step.hold_op == "expire_due":
        engine.expire_due(step.ts)
    elif latest is None:
        record.hold_problem = "no event of this case opened a hold before this step: there is nothing to confirm"
    else:
        try:
            engine.confirm_hold(latest[0], step.hold_op, by="ruletest", reason=f"step {step.index + 1}", at=step.ts)
        except HoldError as err:
            record.hold_problem = f"the engine refused to confirm the hold: {err}"
    if latest is None:
        return
    hold_id, held = latest
    outcome = engine.hold_outcome(hold_id)
    record.hold_state = outcome.outcome if outcome is not None else "open"
    record.decision = held if outcome is None else msgspec.structs.replace(held, action=outcome.action)


def _check_hold_step(step: Step, record: StepRecord, zone: _dt.tzinfo) -> list[Mismatch]:
    if record.hold_problem is not None:
        return [Mismatch(step.event_type, record.hold_problem)]
    exp = step.expect
    if exp is None:
        return []
    decision = record.decision
    if decision is None:
        if exp.action is not None or exp.hold is not None:
            return [Mismatch("hold", "no event of this case opened a hold before this step: nothing to check")]
        return []
    out: list[Mismatch] = []
    state = record.hold_state
    if exp.action is not None and exp.action != decision.action:
        expires = decision.hold_expires_at
        still = (
            f" (the hold is still open: it expires at {iso_local(expires, zone)})"
            if expires and state == "open"
            else ""
        )
        out.append(Mismatch("action", f"expected {exp.action}, got {decision.action}{still}"))
    if exp.hold is not None and exp.hold != state:
        out.append(Mismatch("hold", f"expected {exp.hold}, the case's latest hold is {state}"))
    return out


def check_step(step: Step, record: StepRecord, zone: _dt.tzinfo) -> list[Mismatch]:
    """Every way the step's outcome differs from its expectations."""
    if step.hold_op is not None:
        return _check_hold_step(step, record, zone)
    out: list[Mismatch] = []
    checks = [(e, label) for e, label in ((step.expect, "expect"), (step.expect_last, "expect_last")) if e is not None]
    if record.error is not None:
        err = record.error
        if not any(e.error not in (None, False) for e, _ in checks):
            return [Mismatch("event", f"rejected by the engine: {err}{_event_error_hint(err)}")]
        for exp, label in checks:
            if exp.error in (None, False):
                out.append(Mismatch("event", f"rejected by the engine: {err}", label))
            elif exp.error is not True and err.field != exp.error:
                named = f"`{err.field}`" if err.field else "no field"
                out.append(
                    Mismatch(
                        "error",
                        f"expected an EventError naming field `{exp.error}`, got one naming {named}: {err}",
                        label,
                    )
                )
        return out
    decision = record.decision
    assert decision is not None
    for exp, label in checks:
        out.extend(compare(exp, decision, zone, label))
        if exp.hold is not None and decision.hold_id is None:
            out.append(
                Mismatch("hold", f"expected {exp.hold}, but the decision opened no hold ({decision.action})", label)
            )
    return out


def compare(exp: Expectation, decision: Decision, zone: _dt.tzinfo, label: str = "expect") -> list[Mismatch]:
    """Compare one expectation with a decision."""
    out: list[Mismatch] = []
    matched = decision.matched
    by_id = {r.id: r for r in decision.rules}
    if exp.error not in (None, False):
        what = "any EventError" if exp.error is True else f"an EventError naming field `{exp.error}`"
        out.append(
            Mismatch(
                "error",
                f"expected the event to be rejected ({what}), but it was accepted: {decision_line(decision)}",
                label,
            )
        )
        return out
    if exp.action is not None and exp.action != decision.action:
        out.append(Mismatch("action", f"expected {exp.action}, got {decision.action}", label))
    if exp.action_at_least is not None and ACTION_RANK[decision.action] < ACTION_RANK[exp.action_at_least]:
        out.append(
            Mismatch(
                "action_at_least",
                f"expected {exp.action_at_least} or stronger, got {decision.action}",
                label,
            )
        )
    if exp.hold_timeout is not None:
        want_ms, written = exp.hold_timeout
        got_ms = decision.hold_timeout_ms
        if got_ms is None:
            out.append(
                Mismatch(
                    "hold_timeout",
                    f"expected {written}, but the decision carries no hold timeout "
                    f"(only a hold does; this decision is {decision.action})",
                    label,
                )
            )
        elif got_ms != want_ms:
            out.append(Mismatch("hold_timeout", f"expected {written}, got {hold_timeout_text(got_ms)}", label))
    if exp.fired is not None:
        missing = [r for r in exp.fired if r not in by_id]
        if missing:
            out.append(Mismatch("fired", f"expected to fire, but stayed silent: {', '.join(missing)}", label))
    if exp.silent is not None:
        loud = [r for r in exp.silent if r in by_id]
        if loud:
            out.append(
                Mismatch(
                    "silent",
                    "expected to stay silent, but fired: " + ", ".join(f"{r} ({by_id[r].action})" for r in loud),
                    label,
                )
            )
    if exp.rules is not None:
        want, got = set(exp.rules), set(matched)
        if want != got:
            parts = []
            if want - got:
                parts.append("missing " + ", ".join(sorted(want - got)))
            if got - want:
                parts.append("unexpected " + ", ".join(r for r in matched if r not in want))
            out.append(
                Mismatch(
                    "rules",
                    f"expected exactly [{', '.join(exp.rules)}], got [{', '.join(matched)}] ({'; '.join(parts)})",
                    label,
                )
            )
    if exp.features is not None:
        actual: dict[str, Any] = {}
        for r in decision.rules:
            for k, v in r.features.items():
                actual.setdefault(k, v)
        for name, (want_v, type_name) in exp.features.items():
            if name not in actual:
                out.append(
                    Mismatch(
                        f"features.{name}",
                        "not reported by any matched rule"
                        + (f" (matched: {', '.join(matched)})" if matched else " (no rule matched)"),
                        label,
                    )
                )
                continue
            got_v = actual[name]
            if not values_equal(want_v, got_v, type_name):
                out.append(
                    Mismatch(
                        f"features.{name}",
                        f"expected {format_value(want_v, type_name, zone)}, got {format_value(got_v, type_name, zone)}",
                        label,
                    )
                )
    if exp.scores is not None:
        actual_scores = {s.name: s for s in decision.scores}
        for card, (want_score, want_level) in exp.scores.items():
            reported = actual_scores.get(card)
            if reported is None:
                out.append(Mismatch(f"scores.{card}", "no score reported for this event", label))
                continue
            if want_score is not UNSET and not values_equal(want_score, reported.score, "decimal"):
                out.append(
                    Mismatch(
                        f"scores.{card}.score",
                        f"expected {format_number(want_score)}, got {format_number(reported.score)}",
                        label,
                    )
                )
            if want_level is not None and want_level != reported.level:
                out.append(Mismatch(f"scores.{card}.level", f"expected {want_level}, got {reported.level}", label))
    problem = exempted_problem(exp.exempted, decision) if exp.exempted is not None else None
    if problem is not None:
        out.append(Mismatch("exempted", problem, label))
    problem = controls_problem(exp.controls, decision) if exp.controls is not None else None
    if problem is not None:
        out.append(Mismatch("controls", problem, label))
    if exp.late is not None and exp.late != decision.late:
        out.append(Mismatch("late", f"expected {yaml_bool(exp.late)}, got {yaml_bool(decision.late)}", label))
    if exp.codes is not None:
        codes = decision.channel_view().codes
        if list(exp.codes) != list(codes):
            out.append(Mismatch("codes", f"expected [{', '.join(exp.codes)}], got [{', '.join(codes)}]", label))
    return out


def decision_line(decision: Decision) -> str:
    """``block [rule_a, rule_b]``: the action and the matched rules."""
    rules = decision.matched
    return decision.action + (f" [{', '.join(rules)}]" if rules else "")


def _event_error_hint(err: EventError) -> str:
    text = str(err)
    if "must be a string, got int" in text or "must be a string, got float" in text:
        return " (YAML read the value as a number: quote it)"
    return ""


def _explain(case: RuleCase, step: Step, mismatches: list[Mismatch], record: StepRecord) -> Optional[dict]:
    """Replay the case on the reference interpreter up to the failing step.

    Returns ``{"silent": {rule: {name: value}}, "reference": Decision | None}``:
    the values of the names in the conditions of the rules that were expected
    to fire and did not, and the reference's own decision when it differs
    from the engine's.  Any problem here only loses the explanation.
    """
    if record.decision is None:
        return None
    wanted: list[str] = []
    for exp in (step.expect, step.expect_last):
        if exp is None:
            continue
        for rule in (exp.fired or ()) + (exp.rules or ()):
            if rule not in record.decision.matched and rule not in wanted:
                wanted.append(rule)
    rs = case.file.ruleset
    try:
        from ruledsl.oracle.reference import _Ctx  # the reference's evaluation context

        ref = rs.reference(**_engine_settings(case))
        for prev in case.steps:
            if prev is step:
                break
            with contextlib.suppress(EventError, ValueError):
                if prev.hold_op == EXEMPT_STEP_KEY:
                    f = prev.fields
                    ref.exempt(f["key"], rule=f["rule"], until=f["until"])
                else:
                    ref.evaluate(prev.event())
        event = step.event()
        ref_decision = ref.peek(event)
        silent: dict[str, dict] = {}
        if wanted:
            etype, ts, fields = ref.decode(event)
            watermark = None if ref.max_ts is None else ref.max_ts - ref.lateness_ms
            ctx = _Ctx(etype, ts, fields, watermark is not None and ts < watermark)
            for rule in wanted:
                decl = rs.symbols.rules[rule]
                silent[rule] = ref._features(decl.when, ctx) if decl.when is not None else {}
    except Exception:  # the explanation is a courtesy: never let it hide the failure
        return None
    same = ref_decision.action == record.decision.action and sorted(ref_decision.matched) == sorted(
        record.decision.matched
    )
    return {"silent": silent, "reference": None if same else ref_decision}


def run_file(test_file: RuleTestFile, *, select: Optional[str] = None) -> list[CaseResult]:
    """Run the file's cases (those matching ``select`` when given), in order."""
    return [run_case(c) for c in test_file.cases if select is None or c.matches(select)]
