"""The reference interpreter against docs/semantics.md, sentence by sentence.

These tests use the reference alone: they pin down what the oracle says, so
the differential tests can trust it.  Each test names the part of the
contract it checks.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from ruledsl.check.checker import check
from ruledsl.kernels.values import EventError
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.syntax.loader import load_text

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday

SCHEMA = """
event transfer {
  customer_id: string
  amount: decimal
  n: int
  city: enum("北京", "上海")
  phone: string?
  score: float
}
event login {
  customer_id: string
  new_device: bool
  phone: string?
}
"""


def source(body: str, header: str = "") -> str:
    """A ruleset over SCHEMA; rules written without a reason get their name as reason."""
    body = re.sub(r"rule (\w+) \{(?![^}]*reason)", r'rule \1 { reason "\1"', body)
    return f"ruleset t {{ {header} }}\n{SCHEMA}\n{body}"


def engine(body: str, header: str = "", **kw) -> ReferenceEngine:
    result = check(load_text(source(body, header)))
    assert result.ok, [d.message for d in result.diagnostics if d.severity == "error"]
    return ReferenceEngine(result, **kw)


def transfer(ts: int, amount="10", customer="c1", **fields) -> dict:
    return {
        "type": "transfer",
        "ts": ts,
        "customer_id": customer,
        "amount": amount,
        "n": 1,
        "city": "北京",
        "score": 0.5,
        **fields,
    }


def login(ts: int, customer="c1", new_device=False, **fields) -> dict:
    return {"type": "login", "ts": ts, "customer_id": customer, "new_device": new_device, **fields}


def feature(decision, rule: str, name: str):
    (r,) = [r for r in decision.rules if r.id == rule]
    return r.features[name]


def probe(window: str) -> str:
    """A rule that always fires and reports ``window`` as a feature."""
    return f"rule probe {{ on transfer when present({window}) or not present({window}) action alert }}"


# ---------------------------------------------------------------- windows


def test_window_start_is_exclusive_end_inclusive():
    e = engine("window c = count() of transfer by customer_id over 10s\n" + probe("c"))
    assert feature(e.evaluate(transfer(T0)), "probe", "c") == 1
    assert feature(e.evaluate(transfer(T0 + 9_999)), "probe", "c") == 2
    # exactly DURATION after the first event: the first one has left the window
    assert feature(e.evaluate(transfer(T0 + 10_000)), "probe", "c") == 2
    assert feature(e.peek(transfer(T0 + 19_999)), "probe", "c") == 2
    assert feature(e.peek(transfer(T0 + 20_000)), "probe", "c") == 1


def test_current_event_is_included_unless_excluding_current():
    e = engine(
        "window inc = sum(amount) of transfer by customer_id over 1m\n"
        "window exc = sum(amount) of transfer by customer_id over 1m excluding current\n"
        "rule r { on transfer when inc > exc action alert }"
    )
    d = e.evaluate(transfer(T0, "5"))
    assert feature(d, "r", "inc") == Decimal("5") and feature(d, "r", "exc") == 0
    d = e.evaluate(transfer(T0 + 1, "2.5"))
    assert feature(d, "r", "inc") == Decimal("7.5") and feature(d, "r", "exc") == Decimal("5")


def test_where_filters_what_feeds_and_other_types_do_not_feed():
    e = engine("window big = count() of transfer where amount >= 100 by customer_id over 1m\n" + probe("big"))
    assert feature(e.evaluate(transfer(T0, "99.9999")), "probe", "big") == 0
    assert feature(e.evaluate(transfer(T0 + 1, "100")), "probe", "big") == 1
    e.evaluate(login(T0 + 2))
    assert feature(e.evaluate(transfer(T0 + 3, "1")), "probe", "big") == 1


def test_keys_compare_by_value_and_separate_entries():
    e = engine("window c = count() of transfer by customer_id, city over 1m\n" + probe("c"))
    e.evaluate(transfer(T0, customer="c1", city="北京"))
    e.evaluate(transfer(T0, customer="c1", city="上海"))
    e.evaluate(transfer(T0, customer="c2", city="北京"))
    assert feature(e.peek(transfer(T0 + 1, customer="c1", city="北京")), "probe", "c") == 2


def test_window_with_missing_key_is_missing_and_not_fed():
    e = engine("window per_phone = count() of transfer by phone over 1m\n" + probe("per_phone"))
    assert feature(e.evaluate(transfer(T0)), "probe", "per_phone") is None
    assert feature(e.evaluate(transfer(T0 + 1, phone="p1")), "probe", "per_phone") == 1
    assert feature(e.evaluate(transfer(T0 + 2, phone=None)), "probe", "per_phone") is None
    assert feature(e.evaluate(transfer(T0 + 3, phone="p1")), "probe", "per_phone") == 2


def test_window_key_missing_for_an_event_type_without_the_field():
    e = engine(
        "window c = count() of transfer by city over 1m\n"
        "rule r { on login, transfer when present(c) or not present(c) action alert }"
    )
    assert feature(e.evaluate(transfer(T0)), "r", "c") == 1
    assert feature(e.evaluate(login(T0 + 1)), "r", "c") is None
    assert feature(e.evaluate(transfer(T0 + 2)), "r", "c") == 2


def test_aggregates_and_empty_windows():
    e = engine(
        "window s = sum(amount) of transfer where n > 0 by customer_id over 1m\n"
        "window a = avg(amount) of transfer where n > 0 by customer_id over 1m\n"
        "window lo = min(amount) of transfer where n > 0 by customer_id over 1m\n"
        "window hi = max(amount) of transfer where n > 0 by customer_id over 1m\n"
        "window d = distinct(amount) of transfer where n > 0 by customer_id over 1m\n"
        "window ai = avg(n) of transfer by customer_id over 1m\n"
        "rule r { on transfer when s == 0 or a > 0 or lo > 0 or hi > 0 or d > 0 or ai > 0 action alert }"
    )
    d = e.evaluate(transfer(T0, "1", n=0))  # feeds only `ai`
    assert [feature(d, "r", w) for w in ["s", "a", "lo", "hi", "d"]] == [0, None, None, None, 0]
    assert feature(d, "r", "ai") == 0
    e.evaluate(transfer(T0 + 1, "0.0001", n=1))
    d = e.evaluate(transfer(T0 + 2, "0.1", n=2))
    assert feature(d, "r", "s") == Decimal("0.1001")
    assert feature(d, "r", "a") == Decimal("0.0500")  # 0.05005 rounds half-to-even
    assert feature(d, "r", "lo") == Decimal("0.0001")
    assert feature(d, "r", "hi") == Decimal("0.1")
    assert feature(d, "r", "ai") == Decimal("1")  # avg of 0, 1, 2 is a decimal
    d = e.evaluate(transfer(T0 + 3, 0.1, n=1))  # a float 0.1 is the decimal 0.1000
    assert feature(d, "r", "d") == 2
    assert feature(d, "r", "ai") == Decimal("1")


def test_avg_rounds_half_to_even():
    e = engine("window a = avg(amount) of transfer by customer_id over 1m\n" + probe("a"))
    e.evaluate(transfer(T0, "0.0001"))
    assert feature(e.evaluate(transfer(T0 + 1, "0.0000")), "probe", "a") == Decimal("0.0000")  # 0.00005
    assert feature(e.evaluate(transfer(T0 + 2, "0.0002")), "probe", "a") == Decimal("0.0001")
    e2 = engine("window a = avg(amount) of transfer by customer_id over 1m\n" + probe("a"))
    e2.evaluate(transfer(T0, "0.0001"))
    assert feature(e2.evaluate(transfer(T0 + 1, "0.0002")), "probe", "a") == Decimal("0.0002")  # 0.00015


def test_last_and_since_look_at_earlier_events_only():
    e = engine(
        "window prev = last(amount) of transfer by customer_id over 1m\n"
        "window gap = since() of transfer by customer_id over 1m\n"
        "rule r { on transfer when not present(prev) or prev > 0 or gap > 0s action alert }"
    )
    d = e.evaluate(transfer(T0, "1"))
    assert feature(d, "r", "prev") is None and feature(d, "r", "gap") is None
    d = e.evaluate(transfer(T0 + 1500, "2"))
    assert feature(d, "r", "prev") == Decimal("1") and feature(d, "r", "gap") == 1500
    # equal timestamps: the later arrival wins
    e.evaluate(transfer(T0 + 1500, "3"))
    d = e.evaluate(transfer(T0 + 2000, "4"))
    assert feature(d, "r", "prev") == Decimal("3") and feature(d, "r", "gap") == 500
    # an event exactly a minute later: the earlier ones have left the window
    d = e.evaluate(transfer(T0 + 62_000, "5"))
    assert feature(d, "r", "prev") is None and feature(d, "r", "gap") is None


def test_last_picks_the_greatest_ts_not_the_latest_arrival():
    e = engine("window prev = last(amount) of transfer by customer_id over 1m\n" + probe("prev"), header="lateness 10s")
    e.evaluate(transfer(T0 + 5000, "1"))
    e.evaluate(transfer(T0 + 3000, "2"))  # on time (lateness), earlier ts
    assert feature(e.peek(transfer(T0 + 6000)), "probe", "prev") == Decimal("1")
    assert feature(e.peek(transfer(T0 + 4000)), "probe", "prev") == Decimal("2")


def test_out_of_order_on_time_events_count_by_event_time():
    e = engine("window c = count() of transfer by customer_id over 10s\n" + probe("c"), header="lateness 30s")
    e.evaluate(transfer(T0 + 20_000))
    # arrives later but 15 s older: not in the newer event's past 10 s, nor it in its
    assert feature(e.evaluate(transfer(T0 + 5_000)), "probe", "c") == 1
    assert feature(e.peek(transfer(T0 + 14_999)), "probe", "c") == 2
    assert feature(e.peek(transfer(T0 + 20_000)), "probe", "c") == 2  # the peeked one + T0+20s


def test_decimal_sums_are_exact():
    e = engine(
        "window total = sum(amount) of transfer by customer_id over 1d\n"
        "rule over { on transfer when total > 1000.0 action block }\n"
        "rule reached { on transfer when total >= 1000.0 action alert }"
    )
    for i in range(9_999):
        d = e.evaluate(transfer(T0 + i, "0.1" if i % 2 else 0.1))
        assert d.action == "pass"
    d = e.evaluate(transfer(T0 + 9_999, "0.1"))
    assert d.matched == ["reached"]
    assert feature(d, "reached", "total") == Decimal("1000.0")


# ---------------------------------------------------------------- lateness


def test_late_events_are_flagged_and_feed_nothing():
    e = engine(
        "window c = count() of transfer by customer_id over 1m\n"
        "window prev = last(amount) of transfer by customer_id over 1m\n"
        "rule r { on transfer when c >= 0 action alert }\n"
        "rule r2 { on transfer when not present(prev) or present(prev) action alert }",
        header="lateness 5s",
    )
    e.evaluate(transfer(T0))
    e.evaluate(transfer(T0 + 10_000))
    # watermark 5 s: 5 s exactly is on time, 4.999 s is late
    d = e.evaluate(transfer(T0 + 5_000, "7"))
    assert not d.late and feature(d, "r", "c") == 2
    d = e.evaluate(transfer(T0 + 4_999, "8"))
    # a late event sees no window state: every window is missing, even a count
    assert d.late and d.matched == ["r2"] and feature(d, "r2", "prev") is None
    assert e.late_events == 1
    d = e.evaluate(transfer(T0 + 10_001))
    assert not d.late and feature(d, "r", "c") == 4  # the late one was not counted
    assert feature(d, "r2", "prev") == Decimal("10")


def test_late_events_see_no_window_or_sequence_state():
    e = engine(
        "window c = count() of transfer by customer_id over 1m\n"
        "window s = sum(amount) of transfer by customer_id over 1m\n"
        "sequence twice by customer_id within 1m { step transfer step transfer }\n"
        "rule seen { on transfer when present(c) or present(s) or twice action hold }\n"
        "rule blind { on transfer when not present(c) and not present(s) and not twice and amount > 0 action alert }"
    )
    e.evaluate(transfer(T0 + 1000))
    assert e.evaluate(transfer(T0 + 1000)).matched == ["seen"]
    d = e.evaluate(transfer(T0 + 999))
    assert d.late and d.matched == ["blind"]
    assert d.rules[0].features == {"c": None, "s": None, "twice": False, "amount": Decimal("10")}


def test_lateness_zero_means_any_older_event_is_late():
    e = engine("window c = count() of transfer by customer_id over 1m\n" + probe("c"))
    e.evaluate(transfer(T0 + 1000))
    assert not e.evaluate(transfer(T0 + 1000)).late
    assert e.evaluate(transfer(T0 + 999)).late
    assert e.late_events == 1


def test_error_events_do_not_move_the_watermark():
    e = engine("window c = count() of transfer by customer_id over 1m\n" + probe("c"))
    e.evaluate(transfer(T0))
    with pytest.raises(EventError):
        e.evaluate(transfer(T0 + 50_000, amount="x"))
    assert not e.evaluate(transfer(T0 + 1)).late


# ---------------------------------------------------------------- missing values


def test_comparisons_with_missing_are_false():
    e = engine(
        'rule ne { on transfer when phone != "x" action alert }\n'
        'rule incl { on transfer when not present(phone) or phone != "x" action alert }\n'
        'rule inlist { on transfer when phone in ["p"] or phone not in ["p"] action alert }\n'
        "rule div { on transfer when amount / n > 0 or amount / n <= 0 action alert }\n"
        "rule notdiv { on transfer when not (amount / n > 0) action hold }\n"
        "rule pres { on transfer when not present(amount / n) action step_up }"
    )
    d = e.evaluate(transfer(T0, n=0))
    assert d.matched == ["notdiv", "pres", "incl"]
    assert d.rules[0].features == {"amount": Decimal("10"), "n": 0}
    d = e.evaluate(transfer(T0, n=2, phone="p"))
    assert d.matched == ["ne", "incl", "inlist", "div"]


def test_builtins_with_missing_arguments_are_missing():
    e = engine(
        'rule r { on transfer when not startswith(phone, "1") and not (hour(ts) < 0) action alert }\n'
        "rule s { on transfer when present(abs(amount - 10)) action alert }"
    )
    d = e.evaluate(transfer(T0))
    assert d.matched == ["r", "s"]
    assert d.rules[0].features == {"phone": None, "ts": T0}


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("1 / 3", Decimal("0.3333")),
        ("2 / 3", Decimal("0.6667")),
        ("0.0001 * 0.5", Decimal("0")),  # 0.00005 -> even
        ("0.0003 * 0.5", Decimal("0.0002")),  # 0.00015 -> even
        ("-0.0003 * 0.5", Decimal("-0.0002")),
        ("7 % 3", 1),
        ("7.5 % 2", Decimal("1.5")),
        ("-7 % 3", 2),  # floored: the sign of the divisor
        ("-7.5 % 2", Decimal("0.5")),
        ("7.5 % -2", Decimal("-0.5")),
        ("10 - 0.0001", Decimal("9.9999")),
    ],
)
def test_arithmetic_promotion_and_rounding(expr, expected):
    e = engine(f"const k = {expr}\nparam p: decimal = 0\nrule r {{ on transfer when p + k == p + k action alert }}")
    value = e._const("k")
    assert value == expected and type(value) is type(expected)


def test_decimal_vs_float_compares_as_float():
    e = engine(
        "rule eq { on transfer when score == 0.1 action alert }\n"
        "rule lt { on transfer when amount < score action alert }"
    )
    assert e.evaluate(transfer(T0, score=0.1)).matched == ["eq"]
    assert e.evaluate(transfer(T0, "0.1", score=0.1000000001)).matched == ["lt"]


def test_event_decimals_are_rounded_half_to_even():
    e = engine("rule r { on transfer when amount > 0 or amount <= 0 action alert }")
    for raw, expected in [
        ("12.34565", "12.3456"),
        ("12.34575", "12.3458"),
        (0.1, "0.1"),
        (3, "3"),
        ("-0.00005", "0"),
        ("1e3", "1000"),
    ]:
        assert feature(e.evaluate(transfer(T0, raw)), "r", "amount") == Decimal(expected)


# ---------------------------------------------------------------- time


def test_iso_timestamps_and_local_time():
    e = engine(
        "rule r { on transfer when hour(ts) >= 0 action alert }\n"
        "rule night { on transfer when between_hours(ts, 22, 6) action block }\n"
        "rule sunday { on transfer when weekday(ts) == 7 and day(ts) == 22 and minute(ts) == 30 action hold }",
        header='timezone "Asia/Shanghai"',
    )
    d = e.evaluate(transfer("2026-11-21T09:30:00+08:00"))
    assert feature(d, "r", "ts") == 1_795_224_600_000 and d.matched == ["r"]
    d = e.evaluate(transfer("2026-11-22T05:30:00"))  # no offset: the ruleset's zone
    assert d.matched == ["night", "sunday", "r"]
    assert feature(d, "r", "ts") == 1_795_296_600_000
    d = e.evaluate(transfer("2026-11-21T22:00:00Z"))  # 06:00 local: outside 22-6
    assert d.matched == ["r"]


def test_timezone_argument_overrides_the_header():
    src = "rule r { on transfer when hour(ts) == 8 action alert }"
    assert engine(src, header='timezone "Asia/Shanghai"').evaluate(transfer(T0)).matched == ["r"]
    assert engine(src, header='timezone "Asia/Shanghai"', timezone="UTC").evaluate(transfer(T0)).matched == []


def test_local_time_across_a_half_hour_offset_change():
    # St John's moves from -03:30 to -02:30 at 05:30 UTC, half-way through a UTC hour
    switch = 1_772_947_800_000  # 2026-03-08T05:30:00Z
    card = engine(
        'scorecard clock { on transfer item "h" when hour(ts) == 3 score 1 item "m" when minute(ts) == 1 score 10 '
        "level high >= 11 }",
        header='timezone "America/St_Johns"',
    )
    assert [(s.score, s.level) for s in card.evaluate(transfer(switch + 60_000)).scores] == [(11, "high")]
    assert [s.score for s in card.peek(transfer(switch - 60_000)).scores] == [0]  # 01:59 local


def test_between_hours_edges():
    e = engine(
        "rule a { on transfer when between_hours(ts, 1, 5) action alert }\n"
        "rule empty { on transfer when between_hours(ts, 3, 3) action alert }"
    )
    hours = [h for h in range(24) if e.evaluate(transfer(T0 + h * 3_600_000)).matched == ["a"]]
    assert hours == [1, 2, 3, 4]


# ---------------------------------------------------------------- sequences

CHAIN = """
sequence takeover by customer_id within 30s {
  step login where new_device
  step transfer where amount >= 100
}
rule chain { on transfer when takeover action hold }
"""


def test_sequence_in_order_within_span():
    e = engine(CHAIN)
    e.evaluate(login(T0, new_device=True))
    assert e.evaluate(transfer(T0 + 1, "99")).matched == []  # the last step's condition
    assert e.evaluate(transfer(T0 + 2, "100", customer="c2")).matched == []  # another key
    assert e.evaluate(transfer(T0 + 30_000, "100")).matched == ["chain"]  # exactly the span
    assert e.evaluate(transfer(T0 + 30_001, "100")).matched == []


def test_sequence_needs_the_earlier_steps_in_arrival_order():
    e = engine(CHAIN)
    e.evaluate(transfer(T0, "100"))
    e.evaluate(login(T0 + 1, new_device=False))
    assert e.evaluate(transfer(T0 + 2, "100")).matched == []
    e.evaluate(login(T0 + 3, new_device=True))
    d = e.evaluate(transfer(T0 + 4, "500"))
    assert d.matched == ["chain"] and d.action == "hold" and d.rules[0].features == {"takeover": True}


def test_sequence_one_event_matches_one_step():
    e = engine(
        "sequence twice by customer_id within 1m { step login step login }\nrule r { on login when twice action alert }"
    )
    assert e.evaluate(login(T0)).matched == []
    assert e.evaluate(login(T0 + 1)).matched == ["r"]


def test_sequence_three_steps_and_late_events_do_not_feed():
    e = engine(
        "sequence s by customer_id within 1m { step login step transfer step login where new_device }\n"
        "rule r { on login when s action alert }",
        header="lateness 1s",
    )
    e.evaluate(login(T0 + 10_000))
    e.evaluate(transfer(T0 + 5_000))  # late: feeds no sequence
    assert e.evaluate(login(T0 + 10_001, new_device=True)).matched == []
    e.evaluate(transfer(T0 + 9_500))  # out of order but on time: counts, in arrival order
    assert e.evaluate(login(T0 + 10_002, new_device=True)).matched == ["r"]


def test_sequence_span_is_measured_from_the_first_step():
    e = engine(
        "sequence s by customer_id within 10s { step login step transfer step login }\n"
        "rule r { on login when s action alert }"
    )
    e.evaluate(login(T0))
    e.evaluate(login(T0 + 6_000))
    e.evaluate(transfer(T0 + 7_000))
    assert e.evaluate(login(T0 + 12_000)).matched == ["r"]  # chain from the second login
    assert e.evaluate(login(T0 + 16_001)).matched == []


# ---------------------------------------------------------------- decisions


def test_action_precedence_order_and_shadow():
    e = engine(
        "rule a { on transfer when amount > 0 action alert priority 9 }\n"
        "rule b { on transfer when amount > 0 action hold }\n"
        "rule c { on transfer when amount > 0 action hold priority 2 }\n"
        "rule d { on transfer when amount > 0 action block shadow }\n"
        "rule e { on transfer when amount > 0 action step_up }\n"
        "rule f { on transfer when amount > 0 action hold priority 2 }\n"
        "rule g { on login when true action block }"
    )
    d = e.evaluate(transfer(T0))
    assert d.matched == ["d", "c", "f", "b", "e", "a"]
    assert d.action == "hold" and d.hold_timeout_ms == 86_400_000 and d.event_type == "transfer"
    assert [r.shadow for r in d.rules] == [True, False, False, False, False, False]
    assert e.evaluate(login(T0)).action == "block"


def test_pass_when_nothing_fires_and_rule_fields():
    e = engine('rule r { reason "异地登录" code "EC-1" on transfer when amount > 5 action step_up priority -1 }')
    d = e.evaluate(transfer(T0, "5"))
    assert d.action == "pass" and d.rules == [] and d.hold_timeout_ms is None and not d.late
    (r,) = e.evaluate(transfer(T0, "6")).rules
    assert (r.id, r.action, r.reason, r.code, r.priority, r.shadow) == ("r", "step_up", "异地登录", "EC-1", -1, False)


def test_features_name_fields_windows_params_scorecards_not_consts_or_lists():
    e = engine(
        'const k = 5\nparam limit: decimal = 1.5\nlist vip: string = ["c9"]\n'
        "window c = count() of transfer by customer_id over 1m\n"
        'scorecard sc { on transfer item "big" when amount > 1 score 10 level high >= 10 }\n'
        "rule r { on transfer when amount > limit and c < k and customer_id not in vip and sc >= 0 "
        'and level(sc) == "high" and hour(ts) >= 0 action alert }'
    )
    (r,) = e.evaluate(transfer(T0, "2")).rules
    assert r.features == {
        "amount": Decimal("2"),
        "limit": Decimal("1.5"),
        "c": 1,
        "customer_id": "c1",
        "sc": 10,
        "ts": T0,
    }


# ---------------------------------------------------------------- scorecards

CARD = """
scorecard risk {
  on transfer
  item "大额" when amount >= 1000 score 40
  item "夜间" when between_hours(ts, 0, 6) score 25
  item "无手机" when not present(phone) score 15
  level high >= 80
  level elevated >= 60
  level medium >= 40
  level low >= 20
}
rule high_risk { on transfer when level(risk) == "high" action block }
"""


@pytest.mark.parametrize(
    "amount, hour, phone, score, level",
    [
        ("1000", 1, None, 80, "high"),
        ("1000", 1, "p", 65, "elevated"),
        ("1000", 9, "p", 40, "medium"),
        ("1", 1, None, 40, "medium"),
        ("1", 1, "p", 25, "low"),
        ("1", 9, None, 15, "minimal"),
        ("1", 9, "p", 0, "minimal"),
    ],
)
def test_scorecard_levels(amount, hour, phone, score, level):
    e = engine(CARD)
    d = e.evaluate(transfer(T0 + hour * 3_600_000, amount, phone=phone))
    (s,) = d.scores
    assert (s.name, s.score, s.level) == ("risk", score, level)
    assert d.action == ("block" if level == "high" else "pass")


def test_scorecards_only_for_their_event_types():
    e = engine(CARD)
    assert e.evaluate(login(T0)).scores == []


# ---------------------------------------------------------------- events


@pytest.mark.parametrize(
    "change, field",
    [
        ({"type": "payment"}, "type"),
        ({"type": None}, "type"),
        ({"ts": "yesterday"}, "ts"),
        ({"ts": None}, "ts"),
        ({"ts": 1.5}, "ts"),
        ({"ts": True}, "ts"),
        ({"customer_id": None}, "customer_id"),
        ({"customer_id": 7}, "customer_id"),
        ({"amount": "abc"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": float("inf")}, "amount"),
        ({"n": "5"}, "n"),
        ({"n": 2.0}, "n"),
        ({"city": "广州"}, "city"),
        ({"score": "1.5"}, "score"),
        ({"phone": 138}, "phone"),
    ],
)
def test_bad_events_raise_naming_the_field_and_leave_state(change, field):
    e = engine("window c = count() of transfer by customer_id over 1m\n" + probe("c"))
    e.evaluate(transfer(T0))
    bad = {**transfer(T0 + 1), **change}
    with pytest.raises(EventError) as err:
        e.evaluate(bad)
    assert err.value.field == field
    assert feature(e.evaluate(transfer(T0 + 2)), "probe", "c") == 2
    assert e.late_events == 0


def test_event_decoding_accepts_optional_absent_null_and_extra_fields():
    e = engine("rule r { on transfer when not present(phone) action alert }")
    assert e.evaluate(transfer(T0, phone=None, extra={"x": 1})).matched == ["r"]
    assert e.evaluate(transfer(T0, score=2)).matched == ["r"]  # an int for a float field
    assert e.evaluate(transfer(T0, phone="p")).matched == []


# ---------------------------------------------------------------- run-time changes


def test_peek_changes_nothing():
    e = engine("window c = count() of transfer by customer_id over 1m\n" + probe("c"), header="lateness 1s")
    e.evaluate(transfer(T0 + 5000))
    for _ in range(3):
        assert feature(e.peek(transfer(T0 + 6000)), "probe", "c") == 2
        assert e.peek(transfer(T0)).late
    assert e.late_events == 0
    assert feature(e.evaluate(transfer(T0 + 6000)), "probe", "c") == 2


def test_set_param_and_update_list():
    e = engine(
        'param limit: decimal = 100\nlist bad: string = ["c2"]\n'
        "rule big { on transfer when amount > limit action hold }\n"
        "rule listed { on transfer when customer_id in bad action block }",
        params={"limit": "5"},
    )
    assert e.evaluate(transfer(T0, "10")).matched == ["big"]
    e.set_param("limit", 10)
    assert e.evaluate(transfer(T0, "10")).matched == []
    assert e.evaluate(transfer(T0, "10", customer="c2")).matched == ["listed"]
    e.update_list("bad", ["c1"])
    assert e.evaluate(transfer(T0, "10", customer="c2")).matched == []
    assert e.evaluate(transfer(T0, "10.0001")).matched == ["listed", "big"]


def test_lists_argument_in_runtime_form():
    e = engine(
        "list amounts: decimal = [1]\nrule r { on transfer when amount in amounts action alert }",
        lists={"amounts": frozenset({25_000})},  # 2.5, scaled by 10 000
    )
    assert e.evaluate(transfer(T0, "2.5")).matched == ["r"]
    assert e.evaluate(transfer(T0, "1")).matched == []
