"""``engine.explain(event)``: margins, structure, counterfactuals, agreement with ``peek``, no state change.

Hand-written rules with known answers first (thresholds, windows over a
history, lists, missing values, enums, and/or/not, parameters, floats), then
generated rulesets and streams (tests/strategies, the hypothesis profile, a
modest number of examples): every explanation's ``fired`` equals ``peek``'s
rules, and every field or parameter counterfactual, applied to the event or
the engine, really stops the rule.
"""

from __future__ import annotations

import decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import CLOCK_MS, Scenario, scenarios

import ruledsl
from ruledsl.check.checker import check
from ruledsl.kernels.values import EventError
from ruledsl.oracle.explain import Explanation
from ruledsl.runtime.engine import build_engine
from ruledsl.syntax.loader import load_text

D = decimal.Decimal
T0 = 1_700_000_000_000

RULESET = """
ruleset demo {
  timezone "UTC"
}
event card_txn {
  card_id: string
  amount: decimal
  mcc: string?
  country: string
  channel: enum("atm", "pos", "web")
  score: float?
}
param limit: decimal = 50000.00
param need: int = 6
list risky_mcc: string = ["7995", "6051"]
window card_txn_10m = count() of card_txn by card_id over 10m
window card_sum_1h = sum(amount) of card_txn by card_id over 1h
rule big {
  reason "large amount on a busy card"
  on card_txn
  when amount > limit and card_txn_10m >= need
  action block
}
rule risky {
  reason "risky merchant or abroad"
  on card_txn
  when mcc in risky_mcc or not (country == "CN")
  action hold
}
rule atm_burst {
  reason "atm burst"
  on card_txn
  when channel == "atm" and card_sum_1h >= 10000
  action alert
}
rule model {
  reason "model score"
  on card_txn
  when score > 0.5
  action alert
}
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "demo.rdsl"
    path.write_text(RULESET)
    return path


def _engine(source: Path, history: int = 0, card: str = "c1") -> ruledsl.Engine:
    engine = ruledsl.load(source, clock=None)
    for i in range(history):
        engine.evaluate(_event(ts=T0 + i * 1000, card_id=card, amount="100.00"))
    return engine


def _event(**kw) -> dict:
    ev = {
        "type": "card_txn",
        "ts": T0 + 60_000,
        "card_id": "c1",
        "amount": "53000.00",
        "country": "CN",
        "channel": "pos",
    }
    ev.update(kw)
    return ev


def _rule(ex: Explanation, name: str):
    (found,) = [r for r in ex.rules if r.rule == name]
    return found


def _comparisons(cond) -> list:
    out = [cond.comparison] if cond.comparison is not None else []
    for child in cond.children:
        out += _comparisons(child)
    return out


def _fired(engine, event) -> set[str]:
    return {r.id for r in engine.peek(event).rules}


# ---------------------------------------------------------------- known answers


def test_threshold_and_window_margins(source: Path) -> None:
    engine = _engine(source, history=5)  # the event is the 6th on the card within 10 minutes
    ex = engine.explain(_event())
    big = _rule(ex, "big")
    assert big.fired and big.condition_holds and big.condition.kind == "and"
    amount, count = _comparisons(big.condition)
    assert amount.margin_text == "amount 53,000.00 > limit 50,000.00 by 3,000.00"
    assert amount.margin == D("3000.0000") and type(amount.margin) is D
    assert (amount.left_value, amount.right_value) == (D("53000"), D("50000"))
    assert count.left_value == 6 and count.margin == 0 and count.holds
    assert count.margin_text == "card_txn_10m 6 >= need 6 (equal)"
    by_input = {c.input: c for c in big.counterfactuals}
    assert by_input["amount"].text == "amount at most 50,000.00"
    assert by_input["amount"].value == D("50000") and by_input["amount"].change == D("-3000")
    assert by_input["card_txn_10m"].text == "card_txn_10m at most 5"
    assert by_input["limit"].text == "limit at least 53,000.00"
    assert by_input["need"].text == "need at least 7"
    assert big.counterfactual == by_input["amount"]  # the smallest relative change: 3,000 of 53,000


def test_window_short(source: Path) -> None:
    engine = _engine(source, history=3)
    big = _rule(engine.explain(_event()), "big")
    assert not big.fired and big.counterfactual is None and big.counterfactuals == []
    _amount, count = _comparisons(big.condition)
    assert count.left_value == 4 and count.margin == -2
    assert count.margin_text == "card_txn_10m 4, needed 6 (need): 2 short"
    below = _rule(engine.explain(_event(amount="47000.00")), "big")
    assert (
        _comparisons(below.condition)[0].margin_text
        == "amount 47,000.00, needed more than 50,000.00 (limit): 3,000.00 short"
    )


def test_counterfactuals_really_stop_the_rule(source: Path) -> None:
    engine = _engine(source, history=5)
    event = _event()
    assert "big" in _fired(engine, event)
    cfs = {c.input: c for c in _rule(engine.explain(event), "big").counterfactuals}
    # a field: the event changed, peeked
    assert "big" not in _fired(engine, _event(amount=str(cfs["amount"].value)))
    assert "big" in _fired(engine, _event(amount="50000.0001"))  # and it is the smallest: a step less still fires
    # a window: one event fewer in the history gives the window the counterfactual's value
    fewer = _engine(source, history=4)
    assert "big" not in _fired(fewer, event)
    # parameters: set on the engine
    for name in ("limit", "need"):
        other = _engine(source, history=5)
        other.set_param(name, cfs[name].value)
        assert "big" not in _fired(other, event), name


def test_list_membership_missing_and_or_not(source: Path) -> None:
    engine = _engine(source)
    risky = _rule(engine.explain(_event(mcc="7995")), "risky")
    assert risky.fired and risky.condition.kind == "or"
    member, equal = _comparisons(risky.condition)
    assert member.margin_text == 'mcc "7995" in risky_mcc' and member.holds
    assert risky.condition.children[1].kind == "not" and not risky.condition.children[1].holds
    assert equal.margin_text == 'country "CN" == "CN"'
    (cf,) = risky.counterfactuals
    assert cf.input == "mcc" and "big" not in _fired(engine, _event(mcc=cf.value))
    assert "risky" not in _fired(engine, _event(mcc=cf.value))
    # the list changed at run time: the explanation uses the engine's current table
    engine.update_list("risky_mcc", ["5411"])
    assert not _rule(engine.explain(_event(mcc="7995")), "risky").fired
    # a missing optional field: the comparison is false, and says why
    missing = _comparisons(_rule(engine.explain(_event()), "risky").condition)[0]
    assert not missing.holds and missing.missing == ["mcc"]
    assert missing.margin_text == "mcc missing: the comparison is false"
    # both sides of the `or` hold: no single change stops the rule
    both = _rule(engine.explain(_event(mcc="6051", country="US")), "risky")
    assert both.fired and both.counterfactual is None


def test_enum_and_sum_window(source: Path) -> None:
    engine = _engine(source)
    engine.evaluate(_event(ts=T0, amount="6000.00", channel="atm"))
    ex = engine.explain(_event(amount="4500.50", channel="atm"))
    atm = _rule(ex, "atm_burst")
    assert atm.fired
    channel, total = _comparisons(atm.condition)
    assert channel.margin_text == 'channel "atm" == "atm"'
    assert total.left_value == D("10500.50") and total.margin == D("500.50")
    assert total.margin_text == "card_sum_1h 10,500.50 >= 10,000.00 by 500.50"
    cfs = {c.input: c for c in atm.counterfactuals}
    assert cfs["channel"].value in ("pos", "web")
    assert "atm_burst" not in _fired(engine, _event(amount="4500.50", channel=cfs["channel"].value))
    assert cfs["card_sum_1h"].text == "card_sum_1h below 10,000.00"
    # the amount feeds the window: lowering it below the window's margin stops the rule
    assert cfs["amount"].value is not None
    assert "atm_burst" not in _fired(engine, _event(amount=str(cfs["amount"].value), channel="atm"))


def test_float_margin(source: Path) -> None:
    engine = _engine(source)
    model = _rule(engine.explain(_event(score=0.75)), "model")
    (comp,) = _comparisons(model.condition)
    assert comp.margin == 0.25 and type(comp.margin) is float and model.fired
    assert "model" not in _fired(engine, _event(score=model.counterfactual.value))


def test_decimal_compared_with_a_float(tmp_path: Path) -> None:
    # a decimal field against a float is compared as floats: the boundary is the float's neighbour
    path = tmp_path / "mixed.rdsl"
    path.write_text(
        'ruleset mixed { timezone "UTC" }\n'
        "event e { amount: decimal\n ratio: float }\n"
        'rule over { reason "over" on e when ratio < amount action alert }\n'
    )
    engine = ruledsl.load(path, clock=None)
    ev = {"type": "e", "ts": T0, "amount": "2.50", "ratio": 1.25}
    rule = _rule(engine.explain(ev), "over")
    assert rule.fired and rule.counterfactual is not None
    changed = dict(ev, **{rule.counterfactual.input: rule.counterfactual.value})
    assert engine.peek(changed).action == "pass"


def test_explain_changes_no_state(source: Path, tmp_path: Path) -> None:
    engine = _engine(source, history=5)
    engine.snapshot(tmp_path / "a.snap")  # (writing a snapshot compacts the kernels: their bytes change once)
    before_stats = engine.stats()
    for kw in ({}, {"mcc": "7995"}, {"channel": "atm"}, {"ts": T0 - 10**9}):
        engine.explain(_event(**kw))
    assert engine.stats() == before_stats
    engine.snapshot(tmp_path / "b.snap")
    assert (tmp_path / "a.snap").read_bytes() == (tmp_path / "b.snap").read_bytes()


def test_bad_event_raises_like_evaluate(source: Path) -> None:
    engine = _engine(source)
    for bad in (_event(amount="lots"), {"type": "nope", "ts": T0}, _event(channel="bus"), b"{", 3):
        with pytest.raises(EventError) as got:
            engine.explain(bad)
        with pytest.raises(EventError) as want:
            engine.evaluate(bad)
        assert got.value.field == want.value.field
    assert engine.stats()["events"] == 0


def test_json_round_trip(source: Path) -> None:
    engine = _engine(source, history=5)
    ex = engine.explain(msgspec.json.encode(_event(mcc="7995")))  # JSON bytes, as evaluate takes
    back = msgspec.json.decode(msgspec.json.encode(ex))
    big = next(r for r in back["rules"] if r["rule"] == "big")
    assert big["condition"]["children"][0]["comparison"]["margin"] == "3000.0000"
    assert big["counterfactual"]["text"] == "amount at most 50,000.00"
    assert back["action"] == "block"


def test_late_event_sees_no_windows(tmp_path: Path) -> None:
    path = tmp_path / "late.rdsl"
    path.write_text(RULESET.replace('timezone "UTC"', 'timezone "UTC"\n  lateness 1s'))
    engine = ruledsl.load(path, clock=None)
    engine.evaluate(_event(ts=T0 + 100_000))
    ex = engine.explain(_event(ts=T0))
    assert ex.late and ex.note
    count = _comparisons(_rule(ex, "big").condition)[1]
    assert count.missing == ["card_txn_10m"] and not count.holds


# ---------------------------------------------------------------- generated rulesets and streams


def _clock() -> int:
    return CLOCK_MS


_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@_SETTINGS
@given(scenarios(max_events=25))
def test_explain_agrees_with_peek(scenario: Scenario) -> None:
    _agree(scenario)


@_SETTINGS
@given(scenarios(max_events=25, exempt=True, controls=True))
def test_explain_agrees_with_peek_exemptions_controls(scenario: Scenario) -> None:
    _agree(scenario)


def _agree(scenario: Scenario) -> None:
    """Every event: explain's fired rules are peek's; each field counterfactual, applied, stops its rule."""
    result = check(load_text(scenario.source))
    if not result.ok:
        return
    engine = build_engine(result, clock=_clock, evaluator_mode="never")
    for op in scenario.ops:
        if op[0] != "event":
            _apply(engine, op)
            continue
        event = op[1]
        try:
            decision = engine.peek(dict(event))
        except EventError as err:
            with pytest.raises(EventError) as got:
                engine.explain(dict(event))
            assert got.value.field == err.field
            continue
        ex = engine.explain(dict(event))
        assert {r.rule for r in ex.rules if r.fired} == {r.id for r in decision.rules}, event
        assert ex.action == decision.action
        for r in ex.rules:
            for cf in r.counterfactuals:
                if cf.kind == "field":
                    changed = dict(event)
                    if cf.value is None:
                        changed.pop(cf.input, None)
                    else:
                        changed[cf.input] = str(cf.value) if isinstance(cf.value, D) else cf.value
                    assert r.rule not in {m.id for m in engine.peek(changed).rules}, (event, cf)
        engine.evaluate(dict(event))  # peek accepted it


def _apply(engine, op: tuple) -> None:
    try:
        if op[0] == "param":
            engine.set_param(op[1], op[2])
        elif op[0] == "list":
            engine.update_list(op[1], op[2])
        elif op[0] == "list_change":
            removed = [v for v in op[3] if v not in {e["value"] if isinstance(e, dict) else e for e in op[2]}]
            engine.update_list(op[1], add=op[2], remove=removed)
        elif op[0] == "exempt":
            engine.exempt(op[1], rule=op[2], until=op[3], by="t", reason="t")
        elif op[0] == "revoke":
            engine.revoke_exemption(op[1], rule=op[2])
        elif op[0] == "control_set":
            engine.set_control(op[1], op[2], until=op[3], by="t", reason="t")
        elif op[0] == "control_lift":
            engine.lift_control(op[1], by="t")
    except ValueError:
        pass
