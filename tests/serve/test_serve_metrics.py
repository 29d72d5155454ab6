"""``/metrics`` of a real ``ruledsl serve``: the store's circuit breaker and store errors with ``--redis``, late events."""

from __future__ import annotations

import re

import pytest

from conftest import RULESET, sim_events


@pytest.fixture(scope="module")
def events():
    return [e for e in sim_events() if not e.get("warmup")]


def metric(text: str, name: str) -> float:
    """The value of one unlabelled series in Prometheus text (fails the test if it is not there)."""
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m is not None, f"{name} not in /metrics:\n{text}"
    return float(m.group(1))


def test_breaker_state_and_store_errors_with_redis(start_server, redis, events):
    srv = start_server(RULESET, "--redis", redis.url)
    answers = srv.calls([("POST", "/v1/decide", e, "channel", None) for e in events[:20]])
    assert [status for status, _ in answers] == [200] * 20
    _, text = srv.call("GET", "/metrics")
    assert metric(text, "ruledsl_store_circuit_state") == 0.0  # closed
    assert metric(text, "ruledsl_store_errors_total") == 0.0
    status, ready = srv.call("GET", "/readyz")
    assert status == 200 and ready["store"] == "closed"
    # Redis goes away: events are still decided (the fault policy), counted as store errors, the breaker opens
    redis.stop()
    answers = srv.calls([("POST", "/v1/decide", e, "channel", None) for e in events[20:30]])
    assert [status for status, _ in answers] == [200] * 10
    _, text = srv.call("GET", "/metrics")
    assert metric(text, "ruledsl_store_circuit_state") == 2.0  # open
    assert metric(text, "ruledsl_store_errors_total") >= 1.0
    assert srv.call("GET", "/readyz")[1]["store"] == "open"


def test_no_breaker_without_a_store(server):
    _, text = server.call("GET", "/metrics")
    assert "ruledsl_store_circuit_state" not in text
    assert metric(text, "ruledsl_store_errors_total") == 0.0


def test_late_events_are_counted(start_server, events):
    srv = start_server(RULESET)
    t0 = 1_790_000_000_000  # epoch ms: 2026-09-21
    first, newest, late = (dict(e) for e in events[:3])
    first["ts"], newest["ts"] = t0, t0 + 86_400_000
    late["ts"] = newest["ts"] - 3_600_000  # the ruleset allows 30 s of lateness: an hour is late
    srv.calls([("POST", "/v1/decide", first, "channel", None), ("POST", "/v1/decide", newest, "channel", None)])
    _, text = srv.call("GET", "/metrics")
    assert metric(text, "ruledsl_late_events_total") == 0.0
    status, decided = srv.call("POST", "/v1/decide", late, "analyst")
    assert status == 200 and decided["late"] is True
    _, text = srv.call("GET", "/metrics")
    assert metric(text, "ruledsl_late_events_total") == 1.0
