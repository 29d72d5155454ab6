"""docs/semantics.md, section by section: each documented behaviour on a small ruleset.

Every example runs through the compiled engine and the reference interpreter
(``both``), which must agree decision for decision; the assertions then pin
what the document says.  The differential tests (tests/oracle) check the two
evaluators against each other on random rulesets; these check both against
the document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from decisions import differences  # tests/ is on sys.path (tests/conftest.py)
from strategies import CLOCK_MS

from ruledsl.check.checker import check
from ruledsl.kernels.values import EventError
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.runtime.decision import Decision
from ruledsl.runtime.engine import build_engine
from ruledsl.syntax.loader import load_text

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday

TRANSFER = """
event transfer {
  customer_id: string
  amount: decimal
  n: int
  rate: float
  city: enum("北京", "上海")
  phone: string?
  fee: decimal?
}
"""


class Both:
    """A ruleset on the compiled engine and the reference interpreter, fed the same events."""

    def __init__(self, source: str):
        self.result = check(load_text(source))
        assert self.result.ok, [d.message for d in self.result.diagnostics if d.severity == "error"]
        self.engine = build_engine(self.result, clock=lambda: CLOCK_MS)
        self.ref = ReferenceEngine(self.result, clock=lambda: CLOCK_MS)

    def __call__(self, event: dict[str, Any]) -> Decision:
        """The agreed decision for ``event``."""
        got, want = self.engine.evaluate(dict(event)), self.ref.evaluate(dict(event))
        diffs = differences(got, want)
        assert not diffs, diffs
        return got

    def refused(self, event: dict[str, Any]) -> str:
        """The field both name in the EventError for ``event``."""
        with pytest.raises(EventError) as engine_err:
            self.engine.evaluate(dict(event))
        with pytest.raises(EventError) as ref_err:
            self.ref.evaluate(dict(event))
        assert engine_err.value.field == ref_err.value.field
        return engine_err.value.field

    def late_events(self) -> int:
        assert self.engine.late_events == self.ref.late_events
        return self.engine.late_events


def transfer(ts: int = T0, **fields: Any) -> dict[str, Any]:
    ev = {"type": "transfer", "ts": ts, "customer_id": "c", "amount": "1", "n": 1, "rate": 0.5, "city": "北京"}
    ev.update(fields)
    return {k: v for k, v in ev.items() if v is not None}


def rules(source: str) -> Both:
    return Both(TRANSFER + source)


def feature(decision: Decision, rule: str, name: str) -> Any:
    return next(r.features[name] for r in decision.rules if r.id == rule)


# ---------------------------------------------------------------- values and types


def test_decimals_are_exact_sums_of_event_values():
    # "a day of 0.1 transfers compares exactly with sum > limit"
    run = rules(
        "window total = sum(amount) of transfer by customer_id over 1d\n"
        'rule one { reason "r" on transfer when total == 1.0 action alert }\n'
    )
    decisions = [run(transfer(T0 + i, amount=0.1 if i % 2 else "0.1")) for i in range(10)]
    assert [d.matched for d in decisions] == [[]] * 9 + [["one"]]
    assert feature(decisions[-1], "one", "total") == Decimal("1.0000")


@pytest.mark.parametrize(
    ("amount", "want"),
    [("0.00015", "0.0002"), ("0.00025", "0.0002"), ("-0.00025", "-0.0002"), (0.00015, "0.0002"), (0.1, "0.1")],
)
def test_event_decimals_round_half_even_to_four_places(amount, want):
    run = rules('rule r { reason "r" on transfer when amount == amount action alert }\n')
    assert feature(run(transfer(amount=amount)), "r", "amount") == Decimal(want)


def test_products_and_quotients_round_half_even():
    run = rules(
        'rule half { reason "r" on transfer when amount * 0.5 == 0.0002 action alert }\n'
        'rule third { reason "r" on transfer when amount / 3 == 0.0002 action alert }\n'
    )
    assert run(transfer(amount="0.0005")).matched == ["half", "third"]  # 0.00025 and 0.0001666.. -> 0.0002
    assert run(transfer(amount="0.0007")).matched == ["third"]  # 0.00035 -> 0.0004 (even); 0.000233.. -> 0.0002
    assert run(transfer(amount="0.0003")).matched == ["half"]  # 0.00015 -> 0.0002; 0.0001


def test_numeric_promotion_division_and_modulo():
    run = rules(
        'rule div { reason "r" on transfer when n / 2 == 3.5 action alert }\n'
        'rule mod { reason "r" on transfer when n % 3 == 2 action alert }\n'
        'rule mixed { reason "r" on transfer when rate > amount action alert }\n'
    )
    assert run(transfer(n=7)).matched == ["div"]  # int / int is a decimal
    assert run(transfer(n=-7)).matched == ["mod"]  # the sign of the divisor
    assert run(transfer(n=0, rate=1.5, amount="1.4999")).matched == ["mixed"]  # decimal vs float as float


def test_division_by_zero_is_missing_and_every_comparison_with_missing_is_false():
    run = rules(
        'rule above { reason "r" on transfer when amount / n > 0 action alert }\n'
        'rule below { reason "r" on transfer when amount / n <= 0 action alert }\n'
        'rule absent { reason "r" on transfer when not present(amount / n) action hold }\n'
    )
    assert run(transfer(n=0)).matched == ["absent"]
    assert run(transfer(n=2)).matched == ["above"]


# ---------------------------------------------------------------- time


def test_local_time_in_the_ruleset_time_zone():
    run = Both(
        'ruleset t { timezone "Asia/Shanghai" }\n' + TRANSFER + 'rule r { reason "r" on transfer when hour(ts) == 8 '
        "and minute(ts) == 0 and weekday(ts) == 4 and day(ts) == 1 action alert }\n"
    )
    assert run(transfer(T0)).matched == ["r"]  # 08:00 on Thursday the 1st in Shanghai
    assert run(transfer(T0 + 60_000)).matched == []


@pytest.mark.parametrize(("hour", "inside"), [(22, True), (23, True), (0, True), (5, True), (6, False), (21, False)])
def test_between_hours_wraps_past_midnight(hour, inside):
    run = rules('rule night { reason "r" on transfer when between_hours(ts, 22, 6) action alert }\n')
    assert (run(transfer(T0 + hour * 3_600_000)).matched == ["night"]) is inside


def test_iso_timestamps_without_an_offset_are_read_in_the_ruleset_zone():
    run = Both(
        'ruleset t { timezone "Asia/Shanghai" }\n'
        + TRANSFER
        + "window c = count() of transfer by customer_id over 1s\n"
        'rule r { reason "r" on transfer when c == 2 action alert }\n'
    )
    run(transfer("2026-01-01T08:00:00"))
    assert run(transfer(T0)).matched == ["r"]  # the same instant, so both are in the 1s window


def test_timestamp_and_duration_arithmetic():
    run = rules(
        "window prev = last(ts) of transfer by customer_id over 1d\n"
        'rule quick { reason "r" on transfer when ts - prev < 10s and prev + 5s <= ts action alert }\n'
    )
    run(transfer(T0))
    assert run(transfer(T0 + 5_000)).matched == ["quick"]
    assert run(transfer(T0 + 9_000)).matched == []  # 4s after the previous one


# ---------------------------------------------------------------- missing values


def test_a_missing_optional_field():
    run = rules(
        'rule differs { reason "r" on transfer when phone != "x" action alert }\n'
        'rule included { reason "r" on transfer when not present(phone) or phone != "x" action hold }\n'
        'rule length { reason "r" on transfer when len(phone) >= 0 action block }\n'
        'rule negated { reason "r" on transfer when not (phone == "x") action step_up }\n'
    )
    assert sorted(run(transfer()).matched) == ["included", "negated"]
    assert sorted(run(transfer(phone="y")).matched) == ["differs", "included", "length", "negated"]


# ---------------------------------------------------------------- names


def test_a_name_that_means_two_things_is_an_error():
    result = check(
        load_text(TRANSFER + 'const amount = 5\nrule r { reason "r" on transfer when amount > 1 action alert }\n')
    )
    assert "RD110" in [d.code for d in result.diagnostics if d.severity == "error"]


# ---------------------------------------------------------------- events


def test_malformed_events_are_refused_naming_the_field_and_change_nothing():
    run = rules(
        "window c = count() of transfer by customer_id over 1m\n"
        'rule r { reason "r" on transfer when c >= 1 action alert }\n'
    )
    run(transfer(T0))
    assert run.refused({"type": "payment", "ts": T0}) == "type"
    assert run.refused({"ts": T0}) == "type"
    assert run.refused(transfer(T0 + 1, amount=None)) == "amount"
    assert run.refused(transfer(T0 + 1, n="5")) == "n"
    assert run.refused(transfer(T0 + 1, city="广州")) == "city"
    assert run.refused(transfer("yesterday")) == "ts"
    after = run(transfer(T0 + 2, unknown_field=[1, 2]))  # fields not in the schema are ignored
    assert feature(after, "r", "c") == 2  # the refused events added nothing


# ---------------------------------------------------------------- windows


def test_window_boundaries_start_exclusive_end_inclusive():
    run = rules(
        "window c = count() of transfer by customer_id over 10s\n"
        'rule r { reason "r" on transfer when c >= 1 action alert }\n'
    )
    run(transfer(T0))
    assert feature(run(transfer(T0 + 9_999)), "r", "c") == 2
    assert feature(run(transfer(T0 + 10_000)), "r", "c") == 2  # T0 left, T0 + 9_999 is in


def test_the_current_event_and_excluding_current_and_earlier_only_aggregates():
    run = rules(
        "window incl = sum(amount) of transfer by customer_id over 1m\n"
        "window excl = sum(amount) of transfer by customer_id over 1m excluding current\n"
        "window prev = last(amount) of transfer by customer_id over 1m\n"
        "window gap = since() of transfer by customer_id over 1m\n"
        'rule r { reason "r" on transfer when incl >= 0 action alert }\n'
        'rule s { reason "r" on transfer when not present(prev) or prev >= 0 or excl >= 0 or gap >= 0s action pass }\n'
    )
    first = run(transfer(T0, amount="2"))
    assert feature(first, "r", "incl") == Decimal(2)
    assert [feature(first, "s", name) for name in ("prev", "gap")] == [None, None]
    second = run(transfer(T0 + 1_500, amount="3"))
    assert feature(second, "r", "incl") == Decimal(5)
    assert [feature(second, "s", name) for name in ("prev", "excl", "gap")] == [Decimal(2), Decimal(2), 1_500]


def test_a_missing_key_or_value_feeds_nothing_and_reads_missing():
    run = rules(
        "window by_phone = count() of transfer by phone over 1m\n"
        "window fees = sum(fee) of transfer by customer_id over 1m\n"
        "window mean_fee = avg(fee) of transfer by customer_id over 1m\n"
        'rule r { reason "r" on transfer when not present(by_phone) and fees == 0 and not present(mean_fee) '
        "action alert }\n"
    )
    assert run(transfer(T0)).matched == ["r"]  # no phone: missing; no fee yet: sum 0, avg missing
    assert run(transfer(T0 + 1, phone="p", fee="0.5")).matched == []
    assert run(transfer(T0 + 2)).matched == []  # fees is 0.5 now


def test_last_is_the_newest_earlier_event_and_a_later_arrival_wins_ties():
    run = Both(
        "ruleset t { lateness 1m }\n" + TRANSFER + "window where_ = last(city) of transfer by customer_id over 1h\n"
        "window cities = distinct(city) of transfer by customer_id over 1h\n"
        'rule r { reason "r" on transfer when present(where_) and cities >= 1 action alert }\n'
    )
    run(transfer(T0 + 5_000, city="北京"))
    run(transfer(T0, city="上海"))  # older, out of order: not the last
    third = run(transfer(T0 + 6_000, city="上海"))
    assert (feature(third, "r", "where_"), feature(third, "r", "cities")) == ("北京", 2)
    run(transfer(T0 + 6_000, city="北京"))  # same ts as the previous one, arrived later
    assert feature(run(transfer(T0 + 7_000, city="北京")), "r", "where_") == "北京"


# ---------------------------------------------------------------- order and lateness


def test_late_events_see_no_window_state_feed_nothing_and_are_counted():
    run = Both(
        "ruleset t { lateness 1s }\n" + TRANSFER + "window c = count() of transfer by customer_id over 1m\n"
        'rule r { reason "r" on transfer when c >= 1 action alert }\n'
        'rule stateless { reason "r" on transfer when amount > 100 action hold }\n'
    )
    run(transfer(T0 + 10_000))
    on_time = run(transfer(T0 + 9_000))  # exactly on the watermark: on time, and as if in time order
    assert (on_time.late, feature(on_time, "r", "c")) == (False, 1)  # the event at +10s is after it
    late = run(transfer(T0 + 8_999, amount="500"))
    assert (late.late, late.matched, late.action) == (True, ["stateless"], "hold")
    assert run.late_events() == 1
    assert feature(run(transfer(T0 + 10_001)), "r", "c") == 3  # the late one fed nothing


# ---------------------------------------------------------------- sequences


def test_sequences_follow_arrival_order_within_the_span_inclusive():
    run = Both(
        "ruleset t { lateness 1m }\n" + TRANSFER + "event login { customer_id: string }\n"
        "sequence chain by customer_id within 10s { step login step login step transfer }\n"
        'rule r { reason "r" on transfer when chain action block }\n'
    )
    login = {"type": "login", "customer_id": "c"}
    run({**login, "ts": T0})
    assert run(transfer(T0 + 1_000)).action == "pass"  # one login matches one step only
    run({**login, "ts": T0 + 2_000})
    assert run(transfer(T0 + 10_000)).action == "block"  # exactly `within` after the first step
    run({**login, "ts": T0 + 20_000})
    run({**login, "ts": T0 + 20_500})
    assert run(transfer(T0 + 30_001)).action == "pass"  # 10.001s after the chain's first step
    run({**login, "ts": T0 + 40_000})
    run({**login, "ts": T0 + 39_000})  # arrives second: the order of arrival counts, not of ts
    assert run(transfer(T0 + 41_000)).action == "block"


# ---------------------------------------------------------------- rules and decisions


def test_the_strongest_action_wins_shadow_rules_are_reported_and_the_order_is_fixed():
    run = Both(
        "ruleset t { hold_timeout 10m }\n" + TRANSFER + 'rule a { reason "a" on transfer when n > 0 action alert }\n'
        'rule b { reason "b" on transfer when n > 0 action hold priority 1 }\n'
        'rule c { reason "c" on transfer when n > 0 action hold priority 2 }\n'
        'rule d { reason "d" on transfer when n > 0 action block shadow }\n'
        'rule e { reason "e" on transfer when n > 0 action hold priority 2 }\n'
    )
    decision = run(transfer(n=3))
    assert decision.action == "hold" and decision.hold_timeout_ms == 600_000
    assert decision.matched == ["d", "c", "e", "b", "a"]  # action, then priority, then declaration order
    assert [r.shadow for r in decision.rules] == [True, False, False, False, False]
    assert decision.rules[1].features == {"n": 3}


def test_hold_carries_the_default_timeout_of_24_hours():
    run = rules('rule h { reason "h" on transfer when amount > 0 action hold }\n')
    assert run(transfer()).hold_timeout_ms == 24 * 3_600_000
    assert run(transfer(amount="-1")).hold_timeout_ms is None


# ---------------------------------------------------------------- scorecards


@pytest.mark.parametrize(
    ("n", "score", "level"), [(0, 0, "minimal"), (1, 30, "medium"), (2, 70, "high"), (3, 100, "high")]
)
def test_scorecards_sum_items_and_take_the_first_level_reached(n, score, level):
    run = rules(
        "scorecard risk {\n  on transfer\n"
        '  item "one" when n >= 1 score 30\n  item "two" when n >= 2 score 40\n  item "three" when n >= 3 score 30\n'
        "  level high >= 60\n  level medium >= 30\n  level low >= 10\n}\n"
        'rule r { reason "r" on transfer when level(risk) == "high" action hold }\n'
    )
    decision = run(transfer(n=n))
    assert [(s.name, s.score, s.level) for s in decision.scores] == [("risk", score, level)]
    assert decision.action == ("hold" if level == "high" else "pass")


# ---------------------------------------------------------------- spans


def test_window_spans_are_bounded_except_since():
    too_long = check(load_text(TRANSFER + "window w = count() of transfer by customer_id over 401d\n"))
    assert "RD301" in [d.code for d in too_long.diagnostics]
    ever = check(load_text(TRANSFER + "window w = since() of transfer by customer_id over 36500000d\n"))
    assert "RD301" not in [d.code for d in ever.diagnostics]
