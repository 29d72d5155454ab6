"""Fault tests against real redis-server processes (issue 9): stall, kill, restart, during a stream.

Each test starts its own redis-server on a free port of 127.0.0.1 (no
persistence), then stalls it with SIGSTOP (SIGCONT to resume), kills it, or
restarts it, while an engine evaluates events under each fault policy.  They
assert the decisions, the degraded flag, what reached Redis afterwards, and one
latency bound that is behaviour rather than speed: with the circuit breaker a
stalled server costs one socket timeout, not one per event.

The breaker's clock is a fake (``Clock``) so that which calls probe the
server does not depend on the speed of the machine; the latency bound uses the
real clock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import pytest
from test_redis_store import RedisServer, _require_redis

from ruledsl.check.checker import check
from ruledsl.runtime.engine import Engine, build_engine
from ruledsl.stores.guard import GuardedStore
from ruledsl.stores.redis import RedisStore
from ruledsl.syntax.loader import load_text

SOURCE = """\
ruleset outages {
  lateness 10s
  hold_timeout 30m
}
list blocked_payees: string = ["P-BAD"]
event transfer {
  customer_id: string
  card_no: string
  payee: string
  amount: decimal
}
event login {
  customer_id: string
  new_device: bool
}
window cnt = count() of transfer by card_no over 10m
sequence takeover by customer_id within 30m {
  step login where new_device
  step transfer where amount > 1000
}
rule busy { reason "busy" code "B" on transfer when cnt > 2 action alert }
rule chain { reason "takeover" code "C" on transfer when takeover action block }
rule blacklisted { reason "black-listed payee" code "P" on transfer when payee in blocked_payees action block }
rule large { reason "large" code "L" on transfer when amount > 50000 action alert }
"""

T0 = 1_790_000_000_000
MIN = 60_000
TIMEOUT_MS = 200
HOLD_MS = 30 * MIN
POLICIES = ("fail_open", "fail_closed", "local")


class Clock:
    """The breaker's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pass_cooldown(self) -> None:
        self.now += 60.0  # beyond any cool-down: the next call probes


@pytest.fixture()
def server() -> Iterator[RedisServer]:
    _require_redis()
    srv = RedisServer()
    yield srv
    if srv.proc is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(srv.proc.pid, signal.SIGCONT)
    srv.close()


@contextlib.contextmanager
def stalled(server: RedisServer) -> Iterator[None]:
    """The server process stopped (SIGSTOP): connections are accepted by the kernel, nothing answers."""
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


def _engine(server: RedisServer, clock: Clock, policy: str, **guard_options: int) -> Engine:
    result = check(load_text(SOURCE, "outages.rdsl"))
    assert result.ok, result.diagnostics
    store = GuardedStore(RedisStore(server.url, timeout_ms=TIMEOUT_MS), clock=clock, **guard_options)
    return build_engine(result, store=store, on_store_error=policy, fail_closed_action="hold")


def transfer(ts: int, *, card: str = "K", amount: str = "5", payee: str = "P-OK") -> dict:
    return {"type": "transfer", "ts": ts, "customer_id": "A", "card_no": card, "payee": payee, "amount": amount}


# ---------------------------------------------------------------- stall (SIGSTOP)
@pytest.mark.parametrize("policy", POLICIES)
def test_a_stall_costs_one_timeout_and_loses_no_update(server, policy):
    clock = Clock()
    engine = _engine(server, clock, policy)
    for i in range(2):
        assert not engine.evaluate(transfer(T0 + i)).degraded  # two on the card, in Redis
    with stalled(server):
        started = time.monotonic()
        during = [engine.evaluate(transfer(T0 + 10 + i)) for i in range(100)]
        elapsed = time.monotonic() - started
        store = engine.stats()["store"]
    # one socket timeout (0.2 s), then the open breaker answers at once: without it, 100 x 0.2 s = 20 s
    assert elapsed < 2.0, f"100 events during a stall took {elapsed:.2f} s"
    assert store["breaker"] == "open" and store["failures"] == 1 and store["rejected"] == 99
    assert store["degraded_events"] == 100 and all(d.degraded for d in during)
    if policy == "fail_open":  # the count reads as missing: only stateless rules could fire
        assert {d.action for d in during} == {"pass"}
    elif policy == "fail_closed":  # nothing fired: the configured action, with its hold timeout
        assert {(d.action, d.hold_timeout_ms) for d in during} == {("hold", HOLD_MS)}
        assert all(d.rules == [] for d in during)
    else:  # local: this process's own history, which includes the two events before the stall
        assert during[0].action == "alert" and during[0].rules[0].features == {"cnt": 3}
        assert during[-1].rules[0].features == {"cnt": 102}
    # the first call timed out after it was sent: its update is uncertain (the server runs it when
    # it resumes) and not replayed; the 99 refused ones were buffered
    assert store["uncertain_updates"] == 1 and store["buffered"] == 99

    clock.pass_cooldown()
    after = engine.evaluate(transfer(T0 + 200))
    store = engine.stats()["store"]
    assert store["breaker"] == "closed" and store["replayed"] == 99 and store["buffered"] == 0
    assert not after.degraded and after.action == "alert"
    assert after.rules[0].features == {"cnt": 103}  # 2 + 100 during the stall + this one: none lost, none twice
    assert store["data_losses"] == 0


def test_decisions_stay_degraded_until_the_outage_updates_are_replayed(server):
    clock = Clock()
    engine = _engine(server, clock, "fail_open", replay_chunk=40)
    engine.evaluate(transfer(T0))
    with stalled(server):
        for i in range(100):
            engine.evaluate(transfer(T0 + 10 + i))
    assert engine.stats()["store"]["buffered"] == 99
    clock.pass_cooldown()
    after = [engine.evaluate(transfer(T0 + 200 + i, card=f"other{i}")) for i in range(3)]
    # 40 replayed per event (one more round trip each): the shared counts are incomplete until the last
    assert [d.degraded for d in after] == [True, True, False]
    assert engine.stats()["store"]["replayed"] == 99
    d = engine.evaluate(transfer(T0 + 300))
    assert not d.degraded and d.rules[0].features == {"cnt": 102}  # 1 + 100 + this one


def test_the_breaker_probes_after_its_cool_down_and_backs_off(server):
    clock = Clock()
    engine = _engine(server, clock, "fail_open")
    engine.evaluate(transfer(T0))
    with stalled(server):
        engine.evaluate(transfer(T0 + 1))  # times out: open for 1 s
        assert engine.stats()["store"]["failures"] == 1
        clock.now += 0.5
        engine.evaluate(transfer(T0 + 2))  # still cooling down: refused, no network
        assert engine.stats()["store"]["failures"] == 1
        clock.now += 0.6
        started = time.monotonic()
        engine.evaluate(transfer(T0 + 3))  # the probe: one more timeout
        assert time.monotonic() - started >= TIMEOUT_MS / 1000 * 0.9
        store = engine.stats()["store"]
        assert store["failures"] == 2 and store["breaker"] == "open" and store["retry_in_ms"] == 2_000
        clock.now += 1.5
        engine.evaluate(transfer(T0 + 4))  # the cool-down doubled: still refused
        assert engine.stats()["store"]["failures"] == 2
    clock.now += 1.0
    d = engine.evaluate(transfer(T0 + 5))
    assert not d.degraded and engine.stats()["store"]["breaker"] == "closed"


# ---------------------------------------------------------------- kill, then restart without persistence
@pytest.mark.parametrize("policy", POLICIES)
def test_a_killed_server_then_a_restart_without_data(server, policy):
    clock = Clock()
    engine = _engine(server, clock, policy)
    for i in range(2):
        engine.evaluate(transfer(T0 + i))
    server.proc.kill()  # SIGKILL: connections refused from now on
    server.proc.wait(5)
    server.proc = None
    started = time.monotonic()
    during = [engine.evaluate(transfer(T0 + 10 + i)) for i in range(50)]
    assert time.monotonic() - started < 2.0
    store = engine.stats()["store"]
    assert all(d.degraded for d in during) and store["failures"] == 1 and store["rejected"] == 49
    # a refused connection never carried the request: every update is buffered, none uncertain
    assert store["uncertain_updates"] == 0 and store["buffered"] == 50
    expected = {"fail_open": "pass", "fail_closed": "hold", "local": "alert"}[policy]
    assert {d.action for d in during} == {expected}

    server.start()  # same port, no persistence: the data are gone
    clock.pass_cooldown()
    d = engine.evaluate(transfer(T0 + 100))
    store = engine.stats()["store"]
    assert store["breaker"] == "closed" and store["data_losses"] == 1 and store["replayed"] == 50
    # the outage's updates were replayed into the empty server; the loss is still reported
    assert d.degraded and d.action == "alert" and d.rules[0].features == {"cnt": 51}
    refill = store["refilling_until"]
    # from the event that found the loss: the longest span (the 30m sequence) and the lateness
    assert refill == T0 + 100 + 30 * MIN + 10_000
    assert engine.evaluate(transfer(refill - 20_000, card="K2")).degraded
    # once the watermark is a full span past the loss, every window holds only post-loss events again
    engine.evaluate(transfer(refill + 10_000, card="K3"))
    d = engine.evaluate(transfer(refill + 10_001, card="K3"))
    assert not d.degraded and engine.stats()["store"]["refilling_until"] is None


def test_a_restart_between_two_events_is_detected(server):
    clock = Clock()
    engine = _engine(server, clock, "fail_open")
    other = _engine(server, clock, "fail_open")  # a second instance sharing the state
    engine.evaluate(transfer(T0))
    other.evaluate(transfer(T0 + 1))
    server.restart()  # between two events: no call failed, but the state is empty
    d = engine.evaluate(transfer(T0 + 2))
    assert d.degraded and d.action == "pass"  # cnt 1: the two before the restart are gone
    assert engine.stats()["store"]["data_losses"] == 1 and engine.store_errors == 0
    d = other.evaluate(transfer(T0 + 3))  # the other instance sees the new epoch: degraded too
    assert d.degraded and other.stats()["store"]["data_losses"] == 1


def test_no_false_alarm_without_a_loss(server):
    clock = Clock()
    a = _engine(server, clock, "fail_open")
    b = _engine(server, clock, "fail_open")
    for i in range(20):
        assert not (a if i % 2 else b).evaluate(transfer(T0 + i)).degraded
    assert a.stats()["store"]["data_losses"] == 0 == b.stats()["store"]["data_losses"]


# ---------------------------------------------------------------- fail_closed never weakens a decision
def test_fail_closed_keeps_stronger_decisions_and_raises_weaker_ones(server):
    clock = Clock()
    engine = _engine(server, clock, "fail_closed")
    server.stop()
    d = engine.evaluate(transfer(T0, payee="P-BAD"))  # a black-listed payee needs no history
    assert (d.action, d.degraded, d.matched, d.hold_timeout_ms) == ("block", True, ["blacklisted"], None)
    d = engine.evaluate(transfer(T0 + 1, amount="60000"))  # an alert rule fired: raised to hold
    assert (d.action, d.degraded, d.matched, d.hold_timeout_ms) == ("hold", True, ["large"], HOLD_MS)
    d = engine.evaluate(transfer(T0 + 2))
    assert (d.action, d.matched, d.hold_timeout_ms) == ("hold", [], HOLD_MS)
    d = engine.peek(transfer(T0 + 3, payee="P-BAD"))
    assert (d.action, d.degraded) == ("block", True)
    login = {"type": "login", "ts": T0 + 4, "customer_id": "A", "new_device": True}
    assert engine.evaluate(login).action == "hold"


def test_fail_closed_with_block(server):
    clock = Clock()
    engine = build_engine(
        check(load_text(SOURCE, "outages.rdsl")),
        store=GuardedStore(RedisStore(server.url, timeout_ms=TIMEOUT_MS), clock=clock),
        on_store_error="fail_closed",
        fail_closed_action="block",
    )
    server.stop()
    d = engine.evaluate(transfer(T0, amount="60000"))
    assert (d.action, d.matched, d.hold_timeout_ms, d.degraded) == ("block", ["large"], None, True)


# ---------------------------------------------------------------- reload keeps the store and the policy
def test_reload_keeps_the_store_the_policy_and_the_breaker(server, tmp_path):
    path = tmp_path / "outages.rdsl"
    path.write_text(SOURCE, encoding="utf-8")
    clock = Clock()
    import ruledsl

    store = GuardedStore(RedisStore(server.url, timeout_ms=TIMEOUT_MS), clock=clock)
    engine = ruledsl.load(path, store=store, on_store_error="fail_closed", fail_closed_action="hold")
    witness = ruledsl.load(path, store=RedisStore(server.url, timeout_ms=TIMEOUT_MS))
    engine.evaluate(transfer(T0))
    witness.evaluate(transfer(T0 + 1))  # another instance: only Redis can tell the engine about it
    path.write_text(SOURCE.replace("action alert }\nrule chain", "action step_up }\nrule chain"), encoding="utf-8")
    assert "cnt" in engine.reload()
    d = engine.evaluate(transfer(T0 + 2))
    assert (d.action, d.rules[0].features, d.degraded) == ("step_up", {"cnt": 3}, False)  # counted in Redis
    assert engine.on_store_error == "fail_closed" and engine.fail_closed_action == "hold"
    server.stop()
    d = engine.evaluate(transfer(T0 + 3))
    assert (d.action, d.degraded, d.hold_timeout_ms) == ("hold", True, HOLD_MS)  # the policy survived
    engine.reload()  # a reload during the outage keeps the open breaker and the buffered update
    assert engine.stats()["store"]["breaker"] == "open" and engine.stats()["store"]["buffered"] == 1
    assert engine.stats()["store"]["degraded_events"] == 1
    server.start()
    clock.pass_cooldown()
    assert engine.evaluate(transfer(T0 + 4)).degraded  # the restarted server lost the data
    d = engine.evaluate(transfer(T0 + 5))  # the buffered update was replayed into it
    assert (d.action, d.rules[0].features) == ("step_up", {"cnt": 3})
    assert engine.stats()["store"]["data_losses"] == 1
