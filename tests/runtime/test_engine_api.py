"""The embedding API (issue #3): inputs, errors, atomicity, run-time changes, threads, channel view."""

from __future__ import annotations

import threading
from decimal import Decimal

import msgspec
import pytest

import ruledsl
from ruledsl.check.checker import check
from ruledsl.runtime.engine import build_engine
from ruledsl.syntax.loader import load_text

SOURCE = """\
ruleset api {
  timezone "Asia/Shanghai"
  hold_timeout 2h
}
event transfer {
  customer_id: string
  card_no: string
  amount: decimal
  channel: enum("mobile", "atm")
  phone: string?
}
param big: decimal = 50000
list black: string = ["BAD"]
window cnt = count() of transfer by card_no over 10m
window total = sum(amount) of transfer by customer_id over 1d
rule big_amount {
  reason "大额转账"
  code "R-BIG"
  on transfer
  when amount > big
  action hold
}
rule blacklisted {
  reason "黑名单"
  code "R-BLACK"
  on transfer
  when customer_id in black
  action block
}
rule busy_card {
  reason "频繁"
  code "R-BUSY"
  on transfer
  when cnt > 3
  action alert
}
rule watch {
  reason "观察"
  on transfer
  when total > 1000
  action block
  shadow
}
"""

T0 = 1_790_000_000_000


def make():
    result = check(load_text(SOURCE, "api.rdsl"))
    assert result.ok, result.diagnostics
    return build_engine(result)


def tx(ts=T0, **kw):
    event = {"type": "transfer", "ts": ts, "customer_id": "C1", "card_no": "K1", "amount": "10.00", "channel": "mobile"}
    event.update(kw)
    return event


def test_dict_json_bytes_and_struct_inputs_give_the_same_decision():
    class Transfer(msgspec.Struct, tag="transfer", tag_field="type"):
        ts: int
        customer_id: str
        card_no: str
        amount: str
        channel: str

    a, b, c = make(), make(), make()
    event = tx(amount="60000.00")
    da = a.evaluate(event)
    db = b.evaluate(msgspec.json.encode(event))
    dc = c.evaluate(Transfer(ts=T0, customer_id="C1", card_no="K1", amount="60000.00", channel="mobile"))
    assert da == db == dc
    assert da.action == "hold" and da.hold_timeout_ms == 2 * 3_600_000


@pytest.mark.parametrize(
    "bad,field",
    [
        ({"amount": None}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": True}, "amount"),
        ({"channel": "fax"}, "channel"),
        ({"card_no": 42}, "card_no"),
        ({"ts": "yesterday"}, "ts"),
        ({"ts": None}, "ts"),
        ({"phone": 13800000000}, "phone"),
        ({"type": "teleport"}, "type"),
    ],
)
def test_malformed_events_raise_event_error_and_change_nothing(bad, field):
    engine, twin = make(), make()
    for i in range(3):
        engine.evaluate(tx(T0 + i))
        twin.evaluate(tx(T0 + i))
    event = tx(T0 + 10)
    event.update(bad)
    if bad.get("amount", 0) is None:
        del event["amount"]
    with pytest.raises(ruledsl.EventError) as err:
        engine.evaluate(event)
    assert err.value.field == field
    assert field in str(err.value)
    assert engine.stats() == twin.stats()
    assert engine.evaluate(tx(T0 + 20)) == twin.evaluate(tx(T0 + 20))


def test_non_object_json_is_an_event_error():
    engine = make()
    for raw in (b"[1, 2]", b"{not json", b'"transfer"'):
        with pytest.raises(ruledsl.EventError):
            engine.evaluate(raw)
    with pytest.raises(ruledsl.EventError, match="no `type`"):
        engine.evaluate({"ts": T0})


def test_peek_changes_no_state():
    engine = make()
    for i in range(2):
        engine.evaluate(tx(T0 + i))
    before = engine.stats()
    assert engine.peek(tx(T0 + 5)).rules == [] and engine.peek(tx(T0 + 5)).action == "pass"
    assert engine.stats() == before
    assert engine.evaluate(tx(T0 + 6)).action == "pass"  # the 3rd event on the card
    assert engine.evaluate(tx(T0 + 7)).action == "alert"  # the 4th


def test_params_and_lists_change_from_the_next_event():
    engine = make()
    assert engine.evaluate(tx(T0, amount="30000")).action == "pass"
    engine.set_param("big", "20000")
    assert engine.get_param("big") == Decimal("20000")
    d = engine.evaluate(tx(T0 + 1, amount="30000"))
    big = next(r for r in d.rules if r.id == "big_amount")
    assert d.action == "hold" and big.features == {"amount": Decimal("30000"), "big": Decimal("20000")}
    engine.update_list("black", ["C1"])
    assert engine.evaluate(tx(T0 + 2)).action == "block"
    with pytest.raises(KeyError):
        engine.set_param("nope", 1)
    with pytest.raises(KeyError):
        engine.update_list("nope", [])
    with pytest.raises(TypeError):
        engine.update_list("black", [1, 2])


def test_decision_order_shadow_and_channel_view_hide_rule_logic():
    engine = make()
    engine.update_list("black", ["C1"])
    for i in range(3):
        engine.evaluate(tx(T0 + i, amount="600"))
    d = engine.evaluate(tx(T0 + 3, amount="60000"))
    assert [r.id for r in d.rules] == ["blacklisted", "watch", "big_amount", "busy_card"]
    assert d.action == "block"
    shadow = next(r for r in d.rules if r.id == "watch")
    assert shadow.shadow and shadow.features == {"total": Decimal("61800")}
    view = d.channel_view()
    assert view.action == "block" and view.codes == ["R-BLACK", "R-BIG", "R-BUSY"]
    assert "61800" not in msgspec.json.encode(view).decode()
    assert "大额" not in msgspec.json.encode(view).decode()


def test_shadow_rules_never_change_the_action():
    engine = make()
    d = None
    for i in range(3):
        d = engine.evaluate(tx(T0 + i, customer_id="C9", card_no=f"K{i}", amount="600"))
    assert d.matched == ["watch"] and d.action == "pass"


def test_threads_evaluating_on_one_engine_do_not_corrupt_counts():
    # threads interleave event times, so allow lateness: every event is then counted
    engine = build_engine(check(load_text(SOURCE.replace("hold_timeout 2h", "lateness 1h"), "api.rdsl")))
    n_threads, per_thread = 4, 2_000
    errors = []

    def worker(t):
        try:
            for i in range(per_thread):
                engine.evaluate(tx(T0 + i, customer_id=f"C{t}", card_no="SHARED", amount="0.01"))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    d = engine.peek(tx(T0 + per_thread, customer_id="Z", card_no="SHARED"))
    # every event of every thread is in the 10-minute window, plus this one
    assert d.rules[0].features["cnt"] == n_threads * per_thread + 1
    assert engine.stats()["events"] == n_threads * per_thread
    assert engine.late_events == 0


def test_money_sums_compare_exactly():
    source = SOURCE.replace("when total > 1000", "when total > 1000.0")
    engine = build_engine(check(load_text(source, "api.rdsl")))
    d = None
    for i in range(10_000):
        d = engine.evaluate(tx(T0 + i * 5, card_no=f"K{i}", amount=0.1))  # floats, exactly 0.1 each
    assert d.matched == []  # the sum is exactly 1000.0, not 1000.0000000001
    d = engine.evaluate(tx(T0 + 60_000, card_no="KX", amount="0.0001"))
    assert d.matched == ["watch"] and d.rules[0].features["total"] == Decimal("1000.0001")


def test_load_refuses_a_ruleset_with_errors_and_carries_every_diagnostic(tmp_path):
    path = tmp_path / "bad.rdsl"
    path.write_text(
        SOURCE.replace("when cnt > 3", 'when cnt > "3"').replace("action alert", "action alrt"), encoding="utf-8"
    )
    with pytest.raises(ruledsl.RuleDSLError) as err:
        ruledsl.load(path)
    codes = {d.code for d in err.value.diagnostics}
    assert {"RD201", "RD108"} <= codes
    assert "bad.rdsl:" in str(err.value)
