"""``ruledsl serve`` against a real server process, called with curl: decisions, batches, tokens, metrics, admin."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

import ruledsl
from conftest import ROOT, RULESET, TOKENS, sim_events
from ruledsl.serve.config import digest


def engine():
    return ruledsl.load(RULESET, compiled="never")


def plain(value):
    """A decision as the JSON the service sends, decoded (hold ids differ between processes: dropped)."""
    data = msgspec.json.decode(msgspec.json.encode(value))
    if isinstance(data, dict):
        data.pop("hold_id", None)
    return data


def without_hold_id(data):
    if isinstance(data, dict):
        data = dict(data)
        data.pop("hold_id", None)
    return data


@pytest.fixture(scope="module")
def events():
    evs = sim_events()
    assert len({e["type"] for e in evs}) >= 3
    return evs


def test_decisions_equal_engine_evaluate(server, events):
    # every event one by one, in order, as a channel would send them; the same stream through an engine here
    reference = engine()
    expected = [plain(reference.evaluate(e).channel_view()) for e in events]
    answers = server.calls([("POST", "/v1/decide", e, "channel", None) for e in events])
    assert [status for status, _ in answers] == [200] * len(events)
    got = [without_hold_id(body) for _, body in answers]
    assert got == expected
    actions = {d["action"] for d in got}
    assert {"pass", "alert", "block", "hold"} <= actions, actions  # the stream exercises the rules
    # holds carry their id and expiry to the channel; nothing of the rules does
    held = [body for _, body in answers if body["action"] == "hold"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", h["hold_id"]) and h["hold_expires_at"] for h in held)
    assert all(
        set(body) == {"action", "codes", "hold_timeout_ms", "hold_id", "hold_expires_at", "controls"}
        for _, body in answers
    )


def test_analyst_gets_the_full_decision(start_server, events):
    srv = start_server(RULESET)
    reference = engine()
    expected = [plain(reference.evaluate(e)) for e in events[:150]]
    answers = srv.calls([("POST", "/v1/decide", e, "analyst", None) for e in events[:150]])
    assert [without_hold_id(body) for _, body in answers] == expected
    fired = [body for _, body in answers if body["rules"]]
    assert fired and all({"id", "reason", "features"} <= set(body["rules"][0]) for body in fired)


def test_batch_keeps_order_and_a_bad_event_gets_its_own_error(start_server, events):
    srv = start_server(RULESET)
    batch = list(events[:40])
    bad = dict(batch[10])
    del bad["ts"]
    batch[10] = bad
    batch.insert(20, "not an event")
    batch.insert(30, {"type": "no_such_type", "ts": 1})
    status, body = srv.call("POST", "/v1/decide/batch", {"events": batch}, "channel")
    assert status == 200
    results = body["results"]
    assert len(results) == len(batch)
    reference = engine()
    for i, event in enumerate(batch):
        if i in (10, 20, 30):
            assert set(results[i]) == {"error"}, (i, results[i])
            continue
        assert without_hold_id(results[i]) == plain(reference.evaluate(event).channel_view()), i
    assert results[10]["error"]["field"] == "ts"
    assert results[10]["error"]["code"] == "bad_event" and "ts" in results[10]["error"]["message"]
    assert "JSON object" in results[20]["error"]["message"]
    assert "no_such_type" in results[30]["error"]["message"]


def test_tokens_no_token_401_wrong_scope_403(server, events):
    ev = events[0]
    checks = [
        ("POST", "/v1/decide", ev, None, 401),
        ("POST", "/v1/decide", ev, "not-a-token-at-all-xxxx", 401),
        ("POST", "/v1/decide", ev, "admin", 403),
        ("POST", "/v1/decide/batch", {"events": [ev]}, None, 401),
        ("POST", "/v1/decide/batch", {"events": [ev]}, "admin", 403),
        ("GET", "/v1/admin/params", None, None, 401),
        ("GET", "/v1/admin/params", None, "channel", 403),
        ("GET", "/v1/admin/holds", None, "analyst", 403),
        ("PUT", "/v1/admin/params/night_large_amount", {"value": "1"}, "analyst", 403),
        ("GET", "/v1/admin/params", None, "admin", 200),
        ("GET", "/healthz", None, None, 200),
        ("GET", "/readyz", None, None, 200),
    ]
    answers = server.calls([(m, p, b, t, None) for m, p, b, t, _ in checks])
    assert [s for s, _ in answers] == [c[-1] for c in checks]
    assert answers[0][1]["error"]["code"] == "unauthorized"
    assert answers[2][1]["error"]["code"] == "forbidden"
    assert answers[9][1]["night_large_amount"] == "10000.0000"


def test_channel_open_without_channel_tokens_on_loopback(start_server, events):
    srv = start_server(RULESET, tokens=False)
    status, body = srv.call("POST", "/v1/decide", events[1])
    assert status == 200 and "action" in body and "rules" not in body
    assert srv.call("GET", "/v1/admin/params")[0] == 401  # admin always needs its token


def test_metrics_count_decisions_and_rejections(start_server, events):
    srv = start_server(RULESET)
    reference = engine()
    sample = events[:60]
    counts: dict[str, int] = {}
    for e in sample:
        a = reference.evaluate(e).action
        counts[a] = counts.get(a, 0) + 1
    srv.calls([("POST", "/v1/decide", e, "channel", None) for e in sample])
    srv.calls(
        [
            ("POST", "/v1/decide", {"type": "transfer"}, "channel", None),
            ("POST", "/v1/decide", None, "channel", b"{not json"),
        ]
    )
    _, text = srv.call("GET", "/metrics")
    for action, n in counts.items():
        assert f'ruledsl_decisions_total{{action="{action}"}} {float(n)}' in text
    assert 'ruledsl_rejected_events_total{reason="bad_event"} 1.0' in text
    assert 'ruledsl_rejected_events_total{reason="bad_json"} 1.0' in text
    assert (
        f'ruledsl_request_seconds_count{{endpoint="decide"}} {float(len(sample) + 2)}' not in text
    )  # errors not timed
    assert f'ruledsl_request_seconds_count{{endpoint="decide"}} {float(len(sample))}' in text
    assert "ruledsl_late_events_total" in text and "ruledsl_store_errors_total 0.0" in text


def test_bad_input_is_4xx_naming_the_field_and_changes_nothing(start_server, events):
    srv = start_server(RULESET, "--max-body", "4096", "--max-batch", "5")
    big = {"events": [events[0]] * 3, "pad": "x" * 5000}
    answers = srv.calls(
        [
            ("POST", "/v1/decide", None, "channel", b"[1, 2"),
            ("POST", "/v1/decide", [1, 2], "channel", None),
            ("POST", "/v1/decide", {**events[0], "amount": "12abc"}, "channel", None),
            ("POST", "/v1/decide/batch", {"events": [events[0]] * 6}, "channel", None),
            ("POST", "/v1/decide/batch", {"evts": []}, "channel", None),
            ("PUT", "/v1/admin/params/night_large_amount", {"value": "1", "by": 7}, "admin", None),
            ("PUT", "/v1/admin/params/night_large_amount", {"value": "1", "whom": "x"}, "admin", None),
            ("PUT", "/v1/admin/params/no_such_param", {"value": "1"}, "admin", None),
            ("POST", "/v1/admin/holds/0123/confirm", {"outcome": "release"}, "admin", None),
            ("POST", "/v1/admin/holds/0123/confirm", {"outcome": "maybe"}, "admin", None),
            ("POST", "/v1/admin/snapshot", {}, "admin", None),
            ("GET", "/v1/nowhere", None, "channel", None),
            ("GET", "/v1/decide", None, "channel", None),
        ]
    )
    statuses = [s for s, _ in answers]
    assert statuses == [400, 422, 422, 413, 422, 422, 422, 422, 422, 422, 409, 404, 405]
    assert answers[2][1]["error"]["field"] == "amount"
    assert answers[5][1]["error"]["field"] == "by"
    assert "whom" in answers[6][1]["error"]["message"]
    assert "no_such_param" in answers[7][1]["error"]["message"]
    assert "unknown hold id" in answers[8][1]["error"]["message"]
    assert all(set(body) == {"error"} for _, body in answers)
    assert srv.call("POST", "/v1/decide/batch", None, "channel", msgspec.json.encode(big))[0] == 413
    # who and why follow the audit log's rules even without an audit log: a bad one is the caller's 422
    status, body = srv.call("POST", "/v1/admin/controls/lift", {"key": "6222", "by": ""}, "admin")
    assert status == 422 and body["error"]["field"] == "by"
    # nothing changed: the parameter kept its value and no event was counted
    assert srv.call("GET", "/v1/admin/params", None, "admin")[1]["night_large_amount"] == "10000.0000"
    _, text = srv.call("GET", "/metrics")
    assert not re.search(r'ruledsl_decisions_total\{action="\w+"\} [1-9]', text)


def test_admin_set_param_then_decide(start_server):
    srv = start_server(RULESET)
    night = {
        "type": "transfer",
        "ts": "2026-11-20T02:10:00+08:00",
        "customer_id": "C9001",
        "account_no": "6222000000009001",
        "channel": "mobile",
        "amount": "5000.00",
        "payee_account": "6222000000009002",
        "payee_name": "王五",
        "same_name": False,
        "city": "广州",
        "device_id": "D-N1",
        "phone": "13800009001",
    }
    later = {**night, "ts": "2026-11-20T02:40:00+08:00"}
    reference = engine()
    before = reference.evaluate(night)
    reference.set_param("night_large_amount", "1000")
    after = reference.evaluate(later)
    assert after.action != before.action  # the parameter matters for this event
    answers = srv.calls(
        [
            ("POST", "/v1/decide", night, "channel", None),
            (
                "PUT",
                "/v1/admin/params/night_large_amount",
                {"value": "1000", "by": "ops", "reason": "test"},
                "admin",
                None,
            ),
            ("POST", "/v1/decide", later, "channel", None),
        ]
    )
    assert answers[1] == (200, {"name": "night_large_amount", "value": "1000.0000"})
    assert without_hold_id(answers[0][1]) == plain(before.channel_view())
    assert without_hold_id(answers[2][1]) == plain(after.channel_view())


def test_holds_list_and_confirm(start_server, events):
    srv = start_server(RULESET, "--expire-every", "3600")
    answers = srv.calls([("POST", "/v1/decide", e, "channel", None) for e in events])
    held = [body["hold_id"] for _, body in answers if body["action"] == "hold"]
    assert held
    status, holds = srv.call("GET", "/v1/admin/holds", None, "admin")
    assert status == 200 and [h["hold_id"] for h in holds] == held
    status, out = srv.call(
        "POST", f"/v1/admin/holds/{held[0]}/confirm", {"outcome": "release", "by": "callcentre"}, "admin"
    )
    assert status == 200 and out["outcome"] == "released" and out["action"] == "pass"
    admin = f"admin-{digest(TOKENS['admin'])[:4].hex()}"  # the admin token's name; the body's by beside it
    assert out["by"] == f"{admin} (callcentre)"
    assert [h["hold_id"] for h in srv.call("GET", "/v1/admin/holds", None, "admin")[1]] == held[1:]
    # the channel cannot see or confirm holds
    assert srv.call("POST", f"/v1/admin/holds/{held[1]}/confirm", {}, "channel")[0] == 403


def test_openapi_served_equals_shipped(server):
    status, served = server.call("GET", "/openapi.json")
    shipped = msgspec.json.decode((ROOT / "docs" / "openapi.json").read_bytes())
    assert status == 200
    assert served == shipped, "regenerate: python -m ruledsl.serve.openapi > docs/openapi.json"
    assert {"/v1/decide", "/v1/decide/batch", "/healthz", "/readyz", "/metrics"} <= set(served["paths"])
    assert Path(ROOT / "docs" / "openapi.json").read_bytes().endswith(b"\n")
