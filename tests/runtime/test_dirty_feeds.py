"""Dirty feeds (issue 9): every bad value is an EventError naming its field, before any state changes,
and no single event can move the engine's clock out of reach (the clock guard).

Each test drives the compiled engine and, where decisions are compared, the reference interpreter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ruledsl
from ruledsl.check.checker import check
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.syntax.loader import load_text

RULES = """
ruleset dirty { timezone "Asia/Shanghai"  lateness 1m }
event transfer {
  customer_id: string
  amount: decimal
  n: int?
  score: float?
  opened_at: timestamp?
}
window txn_10m = count() of transfer by customer_id over 10m
window amount_1h = sum(amount) of transfer by customer_id over 1h
window squares_1h = sum(amount * amount) of transfer by customer_id over 1h
rule busy { reason "频繁" on transfer when txn_10m >= 3 action alert }
rule big { reason "大额" on transfer when amount_1h > 100000 action hold }
rule squares { reason "平方和" on transfer when squares_1h > 0 action step_up }
"""

T0 = 1_767_225_600_000  # 2026-01-01T08:00:00+08:00
MIN = 60_000


def _result():
    result = check(load_text(RULES, "dirty.rdsl"))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


def _engine(**kw):
    from ruledsl.runtime.engine import build_engine

    kw.setdefault("clock", None)
    return build_engine(_result(), **kw)


def ev(ts: int, amount="100.00", customer="C1", **extra):
    return {"type": "transfer", "ts": ts, "customer_id": customer, "amount": amount, **extra}


GOOD = [ev(T0 + i * MIN, amount=str(10_000 * (i + 1))) for i in range(6)]

DIRTY = [
    ("amount", ev(T0, amount=10**15)),  # an int beyond the decimal limit
    ("amount", ev(T0, amount="1e15")),
    ("amount", ev(T0, amount=2**63)),
    ("amount", ev(T0, amount=1e308)),
    ("amount", ev(T0, amount="1e300000")),  # cheap to refuse: never built
    ("amount", ev(T0, amount="9" * 65)),  # longer than any number accepted
    ("amount", ev(T0, amount=float("nan"))),
    ("amount", ev(T0, amount="Infinity")),
    ("n", ev(T0, n=2**63)),
    ("n", ev(T0, n=-(2**63) - 1)),
    ("score", ev(T0, score=float("inf"))),
    ("score", ev(T0, score=10**400)),
    ("ts", ev(10**30)),
    ("ts", ev(T0 * 1000)),  # microseconds
    ("ts", ev(T0 // 1000 * 10**6)),  # nanoseconds, near enough
    ("ts", ev(-(10**18))),
    ("ts", ev("9999-12-31T23:59:59")),
    ("opened_at", ev(T0, opened_at=T0 * 1000)),
    ("type", {**ev(T0), "type": ["transfer"]}),  # unhashable
    ("type", {**ev(T0), "type": 7}),
]


@pytest.mark.parametrize("field,event", DIRTY, ids=[f"{f}-{i}" for i, (f, _e) in enumerate(DIRTY)])
def test_dirty_value_is_an_event_error_naming_the_field(field, event):
    engine = _engine()
    with pytest.raises(ruledsl.EventError) as info:
        engine.evaluate(event)
    assert info.value.field == field
    ref = ReferenceEngine(_result())
    with pytest.raises(ruledsl.EventError) as ref_info:
        ref.evaluate(event)
    assert ref_info.value.field == field


def test_dirty_events_change_no_decision_of_the_good_ones():
    clean, dirty = _engine(), _engine()
    want = [clean.evaluate(e) for e in GOOD]
    got = []
    for i, e in enumerate(GOOD):
        for _field, bad in DIRTY[i::6]:
            with pytest.raises(ruledsl.EventError):
                dirty.evaluate(bad)
        got.append(dirty.evaluate(e))
    assert got == want
    assert dirty.stats()["events"] == clean.stats()["events"]


def test_a_computed_window_value_beyond_64_bits_is_missing_in_both_engines():
    engine, ref = _engine(), ReferenceEngine(_result())
    # amount * amount = 10^26, scaled: far beyond 64 bits; the event still counts and sums
    events = [ev(T0, amount="10000000000000"), ev(T0 + MIN, amount="1.00")]
    for e in events:
        a, b = engine.evaluate(e), ref.evaluate(e)
        assert a.action == b.action
        assert [r.id for r in a.rules] == [r.id for r in b.rules]
        assert {r.id: r.features for r in a.rules} == {r.id: r.features for r in b.rules}
    last = engine.peek(ev(T0 + 2 * MIN, amount="1.00"))
    assert "squares" in [r.id for r in last.rules]  # 1.00² was fed; the huge square was not
    feats = next(r.features for r in last.rules if r.id == "squares")
    assert str(feats["squares_1h"]) == "2.0000"


class FakeClock:
    def __init__(self, now: int):
        self.now = now
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.now


def test_an_event_dated_a_day_ahead_is_refused_and_moves_nothing():
    clock = FakeClock(T0)
    engine = _engine(clock=clock)
    ref = ReferenceEngine(_result(), clock=clock)
    engine.evaluate(ev(T0))
    ref.evaluate(ev(T0))
    for target in (engine, ref):
        with pytest.raises(ruledsl.EventError) as info:
            target.evaluate(ev(T0 + 86_400_000))
        assert info.value.field == "ts"
    assert "ahead of the engine's clock" in str(info.value) or "ahead of the clock" in str(info.value)
    # velocity rules still work for everyone: the next events are on time, not late
    for i in range(1, 3):
        d = engine.evaluate(ev(T0 + i * MIN))
        assert not d.late
    assert "busy" in [r.id for r in d.rules]  # the count window saw all three events
    assert engine.stats()["late_events"] == 0


def test_the_guard_allows_the_configured_skew_and_follows_the_clock():
    clock = FakeClock(T0)
    engine = _engine(clock=clock, max_future_skew="5m")
    assert engine.max_future_skew_ms == 5 * MIN
    engine.evaluate(ev(T0 + 4 * MIN))  # within the skew
    with pytest.raises(ruledsl.EventError):
        engine.evaluate(ev(T0 + 6 * MIN))
    clock.now += 2 * MIN
    assert not engine.evaluate(ev(T0 + 6 * MIN)).late  # the clock moved on: now within the skew
    reads = clock.reads
    for i in range(50):  # in-order events below the cached limit do not read the clock at all
        engine.evaluate(ev(T0 + 6 * MIN + i, customer=f"C{i}"))
    assert clock.reads == reads


def test_no_clock_means_no_guard_for_replays():
    engine = _engine(clock=None)
    assert engine.evaluate(ev(4_000_000_000_000)).action in ("pass", "alert", "hold", "step_up")


def test_the_default_engine_guards_with_the_machine_clock(tmp_path: Path):
    path = tmp_path / "r.rdsl"
    path.write_text(RULES, encoding="utf-8")
    engine = ruledsl.load(path)
    import time

    now = time.time_ns() // 1_000_000
    engine.evaluate(ev(now))
    with pytest.raises(ruledsl.EventError):
        engine.evaluate(ev(now + 86_400_000))
    with pytest.raises(ValueError):
        ruledsl.load(path, max_future_skew="-5m")


def test_evaluate_many_raise_reports_the_index_and_the_applied_decisions():
    engine = _engine()
    batch = [GOOD[0], GOOD[1], DIRTY[0][1], GOOD[2]]
    with pytest.raises(ruledsl.EventError) as info:
        engine.evaluate_many(batch)
    assert info.value.index == 2
    assert len(info.value.decisions) == 2
    assert engine.stats()["events"] == 2  # the two before it were applied, the one after was not


def test_evaluate_many_return_keeps_going_with_errors_in_place():
    engine, twin = _engine(), _engine()
    batch = [GOOD[0], DIRTY[4][1], GOOD[1], {"type": ["x"]}, GOOD[2]]
    out = engine.evaluate_many(batch, errors="return")
    assert [type(x).__name__ for x in out] == ["Decision", "EventError", "Decision", "EventError", "Decision"]
    assert [d for d in out if not isinstance(d, Exception)] == [twin.evaluate(e) for e in GOOD[:3]]
    with pytest.raises(ValueError):
        engine.evaluate_many(batch, errors="ignore")


def test_the_header_sets_the_skew_for_engine_and_reference():
    from ruledsl.runtime.engine import build_engine

    text = RULES.replace("lateness 1m }", "lateness 1m  max_future_skew 1m }")
    result = check(load_text(text, "skew.rdsl"))
    assert result.ok
    clock = FakeClock(T0)
    engine, ref = build_engine(result, clock=clock), ReferenceEngine(result, clock=clock)
    assert engine.max_future_skew_ms == MIN == ref.max_future_skew_ms
    for target in (engine, ref):
        target.evaluate(ev(T0 + MIN))
        with pytest.raises(ruledsl.EventError):
            target.evaluate(ev(T0 + MIN + 1))
    assert build_engine(result, clock=clock, max_future_skew=0).max_future_skew_ms == 0  # the keyword wins
