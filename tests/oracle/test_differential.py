"""The compiled engine against the reference interpreter, on random rulesets and streams.

Every operation of a generated stream goes to both evaluators: events (each
one peeked first, then evaluated), parameter changes and list updates.  They
must agree on every decision (action, matched rules with their features,
scores, late flag, hold timeout) and on which events are rejected, and for
which field.  The engine runs on the Cython kernels and, in a second test, on
their pure-Python twin; a third runs the Cython evaluator (``emit_cy``) built
for each generated ruleset, on fewer examples (a build takes seconds).  Some streams are long (hundreds to thousands of
events, out of order within the lateness, late, on window boundaries), so
the engine's periodic sweep evicts state while out-of-order events still
need it.  A disagreement is minimised (``minimise``: drop operations,
declarations, event fields) and reported with the small scenario; the
``REGRESSIONS`` are the disagreements found so far, kept as fixed cases.

``test_dirty_values_agree`` feeds values at and past the edges of the
decoding contract (issue 9): each is accepted exactly by both evaluators or
refused by both for the same field; both run on one fixed clock (``CLOCK_MS``)
so the clock guard decides alike.

Run more examples with ``RULEDSL_HYPOTHESIS_EXAMPLES=2000`` (default: one and a
half times the hypothesis profile's, see tests/conftest.py); hypothesis' own
(slow) shrinking with ``RULEDSL_HYPOTHESIS_SHRINK=1``.
"""

from __future__ import annotations

import decimal
import math
import os
import re
import time
from typing import Optional

import pytest
from decisions import differences, same_value  # tests/ is on sys.path (tests/conftest.py)
from engines import kernel_build
from hypothesis import HealthCheck, Phase, assume, given, settings
from strategies import CLOCK_MS, Scenario, long_scenarios, scenarios

from ruledsl.check.checker import check
from ruledsl.kernels.values import EventError
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.runtime.controls import ControlError
from ruledsl.runtime.engine import build_engine
from ruledsl.runtime.exemptions import ExemptionError
from ruledsl.syntax.loader import load_text

EXAMPLES = int(os.environ.get("RULEDSL_HYPOTHESIS_EXAMPLES") or settings().max_examples * 3 // 2)
MINIMISE_SECONDS = float(os.environ.get("RULEDSL_MINIMISE_SECONDS") or 60)
"""How long ``minimise`` may work on one failure before it reports what it has."""

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    # hypothesis' shrinker needs minutes on these examples; ``minimise`` below takes seconds.
    # RULEDSL_HYPOTHESIS_SHRINK=1 turns the shrinker back on.
    phases=[p for p in Phase if p != Phase.shrink or os.environ.get("RULEDSL_HYPOTHESIS_SHRINK")],
)


# ---------------------------------------------------------------- comparing


def _call(fn, event):
    try:
        return fn(dict(event)), None
    except EventError as err:
        return None, err


def run_both(scenario: Scenario, kernels: str = "compiled") -> None:
    """Feed ``scenario`` to both evaluators; AssertionError at the first disagreement.

    ``kernels``: ``compiled`` (the generated-Python evaluator on the Cython kernels), ``python``
    (on their pure-Python twins) or ``cython`` (the Cython evaluator, built for the scenario).
    """
    result = check(load_text(scenario.source))
    assert result.ok, [d.message for d in result.diagnostics if d.severity == "error"]
    if kernels == "cython":
        engine = build_engine(result, clock=_clock, evaluator_mode="require")
        assert engine.evaluator == "cython"
        _run_both(result, scenario, engine)
        return
    with kernel_build(kernels):
        _run_both(result, scenario, build_engine(result, clock=_clock, evaluator_mode="never"))


def _clock() -> int:
    return CLOCK_MS  # one fixed clock for both: the clock guard decides the same way, on any day


def _run_both(result, scenario: Scenario, engine) -> None:
    ref = ReferenceEngine(result, clock=_clock)
    for i, op in enumerate(scenario.ops):
        if op[0] == "param":
            engine.set_param(op[1], op[2])
            ref.set_param(op[1], op[2])
            continue
        if op[0] == "list":
            engine.update_list(op[1], op[2])
            ref.update_list(op[1], op[2])
            continue
        if op[0] == "list_change":  # entries with attributes added, values removed (issue 11.4)
            removed = [v for v in op[3] if v not in {e["value"] if isinstance(e, dict) else e for e in op[2]}]
            engine.update_list(op[1], add=op[2], remove=removed)
            ref.update_list(op[1], add=op[2], remove=removed)
            continue
        if op[0] in ("exempt", "revoke"):
            _exemption_both(engine, ref, op, i)
            continue
        if op[0] in ("control_set", "control_lift"):
            _control_both(engine, ref, op, i)
            continue
        event = op[1]
        where = f"op {i}, event {event!r}"
        results = {}
        for label, fn in (
            ("engine peek", engine.peek),
            ("reference peek", ref.peek),
            ("engine", engine.evaluate),
            ("reference", ref.evaluate),
        ):
            results[label] = _call(fn, event)
        for a, b in (("engine", "reference"), ("engine peek", "engine"), ("reference peek", "reference")):
            (da, ea), (db, eb) = results[a], results[b]
            if (ea is None) != (eb is None):
                raise AssertionError(
                    f"{where}: {a} {'raised ' + repr(ea) if ea else 'accepted it'}, "
                    f"{b} {'raised ' + repr(eb) if eb else 'accepted it'}"
                )
            if ea is not None:
                assert ea.field == eb.field, f"{where}: EventError field {a} {ea.field!r}, {b} {eb.field!r}"
                continue
            if a.endswith("peek"):
                assert da.hold_id is None, f"{where}: {a} opened a hold"
            diffs = differences(da, db, hold_ids=not a.endswith("peek"))
            assert not diffs, f"{where}: {a} vs {b}:\n  " + "\n  ".join(diffs)
        assert engine.controls() == ref.controls(), f"{where}: live controls differ"
    assert engine.late_events == ref.late_events, (engine.late_events, ref.late_events)


def _exemption_both(engine, ref, op: tuple, i: int) -> None:
    """Grant or revoke an exemption on both: both refuse it or both return the same; then the same live ones."""
    got = []
    for target in (engine, ref):
        try:
            if op[0] == "exempt":
                got.append(target.exempt(op[1], rule=op[2], until=op[3], by="diff", reason=f"op {i}"))
            else:
                got.append(target.revoke_exemption(op[1], rule=op[2]))
        except ValueError as err:  # ExemptionError (engine), ValueError (reference)
            got.append(type(err))
    assert (got[0] is ExemptionError) == (got[1] is ValueError), f"op {i} {op!r}: engine {got[0]}, reference {got[1]}"
    if got[1] is not ValueError:
        assert got[0] == got[1], f"op {i} {op!r}: engine {got[0]}, reference {got[1]}"
    assert engine.exemptions() == ref.exemptions(), f"op {i} {op!r}: live exemptions differ"


def _control_both(engine, ref, op: tuple, i: int) -> None:
    """Set or lift a control on both: both refuse it or both return the same; then the same live ones."""
    got = []
    for target in (engine, ref):
        try:
            if op[0] == "control_set":
                got.append(target.set_control(op[1], op[2], until=op[3], by="diff", reason=f"op {i}"))
            else:
                got.append(target.lift_control(op[1], by="diff"))
        except ValueError as err:  # ControlError (engine), ValueError (reference)
            got.append(type(err))
    assert (got[0] is ControlError) == (got[1] is ValueError), f"op {i} {op!r}: engine {got[0]}, reference {got[1]}"
    if got[1] is not ValueError:
        assert got[0] == got[1], f"op {i} {op!r}: engine {got[0]}, reference {got[1]}"
    assert engine.controls() == ref.controls(), f"op {i} {op!r}: live controls differ"


# ---------------------------------------------------------------- the tests


def _failure(scenario: Scenario, kernels: str) -> Optional[str]:
    """The disagreement ``scenario`` shows (a message), or None when both evaluators agree."""
    result = check(load_text(scenario.source))
    if not result.ok:
        return None
    try:
        run_both(scenario, kernels)
    except AssertionError as err:
        return str(err)
    except Exception as err:  # a crash of either evaluator is a disagreement too
        return f"{type(err).__name__}: {err}"
    return None


def _signature(message: str) -> str:
    """What kind of disagreement a message describes, without the values (kept while minimising)."""
    lines = message.splitlines()
    text = re.sub(r"^op \d+, event \{.*?\}: ", "", lines[0]) + " " + (lines[1] if len(lines) > 1 else "")
    return re.sub(r"'[^']*'|\d+|Decimal\([^)]*\)|\[[^]]*\]", "_", text)


def minimise(scenario: Scenario, kernels: str = "compiled") -> tuple[Scenario, str]:
    """A smaller scenario with the same kind of disagreement: drop operations, declarations, fields.

    Greedy and fast (a few hundred runs), unlike hypothesis' shrinker on these large examples;
    it stops where it is after ``MINIMISE_SECONDS`` (a long stream can take minutes).
    """
    message = _failure(scenario, kernels)
    assert message is not None
    kind = _signature(message)
    deadline = time.monotonic() + MINIMISE_SECONDS

    def still(src: str, ops: list) -> Optional[str]:
        if time.monotonic() > deadline:
            return None
        m = _failure(Scenario(source=src, ops=ops), kernels)
        return m if m is not None and _signature(m) == kind else None

    src, ops = scenario.source, list(scenario.ops)
    changed = True
    while changed:
        changed = False
        chunk = max(len(ops) // 2, 1)
        while chunk >= 1:  # drop runs of operations, long runs first (delta debugging)
            i = len(ops) - chunk
            while i >= 0:
                m = still(src, ops[:i] + ops[i + chunk :])
                if m:
                    ops, message, changed = ops[:i] + ops[i + chunk :], m, True
                i = min(i, len(ops)) - chunk
            chunk //= 2
        blocks = src.split("\n\n")
        i = len(blocks) - 1
        while i >= 0:
            cand = "\n\n".join(blocks[:i] + blocks[i + 1 :])
            m = still(cand, ops)
            if m:
                blocks, src, message, changed = blocks[:i] + blocks[i + 1 :], cand, m, True
            i -= 1
        for j, op in enumerate(ops if len(ops) <= 50 else ()):
            if op[0] != "event":
                continue
            for name in [f for f in op[1] if f not in ("type", "ts")]:
                ev = {k: v for k, v in ops[j][1].items() if k != name}
                cand = [*ops[:j], ("event", ev), *ops[j + 1 :]]
                m = still(src, cand)
                if m:
                    ops, message, changed = cand, m, True
    return Scenario(source=src, ops=ops), message


_MINIMISED: dict[tuple[str, str, str], str] = {}
"""Failure reports by scenario: hypothesis runs a failing example again to report it; minimise it once."""


def check_scenario(scenario: Scenario, kernels: str = "compiled") -> None:
    """run_both, and on a disagreement fail with a minimised scenario."""
    if _failure(scenario, kernels) is None:
        return
    key = (scenario.source, repr(scenario.ops), kernels)
    if key not in _MINIMISED:
        small, message = minimise(scenario, kernels)
        _MINIMISED[key] = f"{message}\n\nminimised scenario:\n{small!r}"
    raise AssertionError(_MINIMISED[key])


def _valid(scenario: Scenario) -> None:
    """Skip the rare generated ruleset that divides by a constant zero (RD211); fail on any other error."""
    result = check(load_text(scenario.source))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assume(not any(d.code == "RD211" for d in errors))
    assert not errors, [f"{d.code} {d.message}" for d in errors]


@SETTINGS
@given(scenarios())
def test_engine_agrees_with_reference(scenario):
    _valid(scenario)
    check_scenario(scenario)


@SETTINGS
@given(scenarios(exempt=True))
def test_exemptions_agree(scenario):
    """Exemptions granted and revoked before and between events: the same rules stay silent, the same shown."""
    _valid(scenario)
    check_scenario(scenario)


@SETTINGS
@given(scenarios(controls=True))
def test_controls_agree(scenario):
    """Rules set controls and test them on later events; controls set and lifted by hand between events."""
    _valid(scenario)
    check_scenario(scenario)


@settings(SETTINGS, max_examples=max(EXAMPLES // 3, 10))
@given(scenarios())
def test_engine_on_python_kernels_agrees_with_reference(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="python")


CYTHON_EXAMPLES = max(EXAMPLES // 15, 6)
"""Examples of the Cython evaluator tests: each builds a module (seconds of C compiler)."""


@settings(SETTINGS, max_examples=CYTHON_EXAMPLES)
@given(scenarios())
def test_cython_evaluator_agrees_with_reference(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="cython")


@settings(SETTINGS, max_examples=max(CYTHON_EXAMPLES // 2, 3))
@given(scenario=scenarios(max_events=40, dirty=True, long_tail=False))
def test_cython_evaluator_on_dirty_values_agrees(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="cython")


@settings(SETTINGS, max_examples=max(CYTHON_EXAMPLES // 2, 3))
@given(scenario=scenarios(max_events=40, long_tail=False, exempt=True))
def test_cython_evaluator_exemptions_agree(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="cython")


@settings(SETTINGS, max_examples=max(CYTHON_EXAMPLES // 2, 3))
@given(scenario=scenarios(max_events=40, long_tail=False, controls=True))
def test_cython_evaluator_controls_agree(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="cython")


@settings(SETTINGS, max_examples=max(EXAMPLES // 15, 3))
@given(long_scenarios())
def test_long_streams_agree(scenario):
    """Thousands of events, out of order within the lateness and late: the engine sweeps and evicts state."""
    _valid(scenario)
    check_scenario(scenario)


@settings(SETTINGS, max_examples=max(EXAMPLES // 50, 2))
@given(long_scenarios(min_events=600, max_events=1500))
def test_long_streams_on_python_kernels_agree(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="python")


@pytest.mark.parametrize("kernels", ["compiled", "python"])
@settings(SETTINGS, max_examples=max(EXAMPLES // 3, 10))
@given(scenario=scenarios(max_events=40, dirty=True, long_tail=False))
def test_dirty_values_agree(scenario, kernels):
    """Values at and past the edges (64-bit ints, huge and tiny decimals, inf and NaN, timestamps in
    seconds, microseconds, centuries away, an unhashable type): both evaluators accept each one
    exactly or refuse it with EventError for the same field, and nothing else changes."""
    _valid(scenario)
    check_scenario(scenario, kernels)


def test_same_value_is_strict():
    assert same_value(decimal.Decimal("1.5000"), decimal.Decimal("1.5"))
    assert not same_value(decimal.Decimal("1"), 1)
    assert not same_value(True, 1)
    assert same_value(None, None) and not same_value(None, 0)
    assert same_value(math.nan, float("nan")) and not same_value(math.nan, 0.0) and not same_value(math.nan, None)
    assert not same_value(math.inf, -math.inf) and same_value(-0.0, 0.0)


@pytest.mark.parametrize("events", [[], [{"type": "transfer"}]])
def test_run_both_smoke(events):
    source = (
        "ruleset t { lateness 1s }\nevent transfer { customer_id: string amount: decimal }\n"
        "window total = sum(amount) of transfer by customer_id over 1m\n"
        'rule big { reason "大额" on transfer when total > 100 action hold }\n'
    )
    ops = [("event", {"type": "transfer", "ts": 1000 + i, "customer_id": "c", "amount": "60"}) for i in range(3)]
    run_both(Scenario(source=source, ops=ops + [("event", {**e, "ts": 0}) for e in events]))


# ---------------------------------------------------------------- found by the tests above

REGRESSIONS = {
    # a missing int (len of an absent string) promoted to decimal crashed the engine
    "missing_int_promoted": (
        'event transfer { phone: string? }\nrule r { reason "r" on transfer when len(phone) != 0.5 action alert }',
        [{"type": "transfer", "ts": 0}],
    ),
    # a missing decimal compared with a float crashed the engine
    "missing_decimal_vs_float": (
        'event transfer { fee: decimal? score: float }\nrule r { reason "r" on transfer when fee == score action alert }',
        [{"type": "transfer", "ts": 0, "score": 1.0}],
    ),
    # a scorecard that does not apply to the event is missing for the rules that read it
    "scorecard_of_another_type": (
        "event transfer { score: float }\nevent login { new_device: bool }\n"
        'scorecard sc { on login item "x" when new_device score 10 level high >= 5 }\n'
        'rule r { reason "r" on transfer when sc <= score or not present(sc) action alert }',
        [{"type": "transfer", "ts": 0, "score": 1.0}],
    ),
    # an absent string fed distinct() as a value
    "distinct_of_absent_string": (
        "event login { customer_id: string phone: string? }\n"
        "window phones = distinct(phone) of login by customer_id over 1m\n"
        'rule r { reason "r" on login when phones >= 0 action alert }',
        [{"type": "login", "ts": 0, "customer_id": "c"}, {"type": "login", "ts": 1, "customer_id": "c", "phone": "p"}],
    ),
    # membership compares numbers by value: a decimal in an int list, an int in a list with a decimal
    "decimal_in_int_list": (
        "event t { a: decimal n: int }\nlist ns: int = [5]\n"
        'rule r { reason "r" on t when a in ns action hold }\n'
        'rule s { reason "s" on t when n in [1.5, 2] action alert }',
        [{"type": "t", "ts": 0, "a": "5", "n": 2}, {"type": "t", "ts": 1, "a": "5.0001", "n": 1}],
    ),
    # St John's changes its offset at 05:30 UTC: local time must not be cached per UTC hour
    "offset_change_at_half_past": (
        'ruleset t { timezone "America/St_Johns" }\nevent login { customer_id: string }\n'
        'rule r { reason "r" on login when hour(ts) == 3 action hold }',
        [{"type": "login", "ts": 1_772_947_800_000 + 60_000, "customer_id": "c"}],
    ),
    # a string with a lone surrogate (possible in a dict event) crashed matches() with UnicodeEncodeError
    "lone_surrogate_in_matches": (
        'event t { phone: string }\nrule r { reason "r" on t when matches(phone, "[12]") action alert }',
        [{"type": "t", "ts": 1_767_225_600_000, "phone": "\ud800"}],
    ),
    # an ISO timestamp before 1970 with a fraction of a second: the engine read 999 ms, the reference -1 ms
    "iso_before_1970_with_milliseconds": (
        'event t { c: string }\nrule r { reason "r" on t when hour(ts) == 23 action alert }',
        [{"type": "t", "ts": "1969-12-31T23:59:59.999Z", "c": "x"}],
    ),
    # an out-of-order middle step more than `within` after the first still completes the chain
    "sequence_middle_step_out_of_order": (
        "ruleset t { lateness 10s }\nevent login { customer_id: string }\nevent transfer { customer_id: string }\n"
        "sequence chain by customer_id within 5s { step login step transfer step login }\n"
        'rule r { reason "r" on login when chain action hold }',
        [
            {"type": "login", "ts": 10_000, "customer_id": "c"},
            {"type": "transfer", "ts": 16_000, "customer_id": "c"},
            {"type": "login", "ts": 14_000, "customer_id": "c"},
        ],
    ),
}


@pytest.mark.parametrize("kernels", ["compiled", "python", "cython"])
@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression(name, kernels):
    source, events = REGRESSIONS[name]
    run_both(Scenario(source=source, ops=[("event", e) for e in events]), kernels=kernels)


def test_late_event_after_eviction():
    # 1,100 events move the watermark far enough for the engine to evict key `a`'s entry; a late
    # event for `a` must not see a partial count (it sees no window state at all)
    source = (
        "ruleset t { lateness 5s }\nevent transfer { customer_id: string }\n"
        "window c = count() of transfer by customer_id over 10s\n"
        'rule r { reason "r" on transfer when c >= 0 action alert }'
    )
    events = [{"type": "transfer", "ts": 1000, "customer_id": "a"}]
    events += [{"type": "transfer", "ts": 1000 + 15 * i, "customer_id": "b"} for i in range(1, 1100)]
    events += [{"type": "transfer", "ts": 9000, "customer_id": "a"}]
    run_both(Scenario(source=source, ops=[("event", e) for e in events]))
