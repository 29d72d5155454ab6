"""Holds in Redis (issue 11): several engines - threads and real processes - sharing one store see the same holds.

Starts its own redis-server processes on 127.0.0.1 (skips without one locally, fails under CI):
see test_redis_store.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_redis_store import RedisServer, _require_redis, cluster, cluster_client  # noqa: F401 -- the fixture

import ruledsl
from ruledsl.runtime import audit, persistence
from ruledsl.runtime.audit import AuditError
from ruledsl.runtime.holds import HoldError, HoldStoreError
from ruledsl.stores.guard import GuardedStore
from ruledsl.stores.local import LocalStore, StoreError

DAY = 24 * 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

RULES = """
ruleset hold_r {
  timezone "UTC"
  hold_timeout 24h
}
event transfer {
  customer_id: string
  payee: string
  amount: decimal
}
list grey_payees: string = ["GREY"]
window per_pair_10m = count() of transfer by customer_id, payee over 10m
rule grey_payee { reason "grey payee" code "H-1" on transfer when payee in grey_payees action hold }
rule big { reason "big" code "B-1" on transfer when amount > 10000 action block }
"""


@pytest.fixture()
def redis_server():
    _require_redis()
    srv = RedisServer()
    yield srv
    srv.close()


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "hold_r.rdsl"
    path.write_text(RULES, encoding="utf-8")
    return path


def grey(ts: int, customer: str = "C1", **extra) -> dict:
    return {"type": "transfer", "ts": ts, "customer_id": customer, "payee": "GREY", "amount": "10.00", **extra}


def store_of(server: RedisServer, **kw):
    from ruledsl.stores.redis import RedisStore

    # cooldown 0: after an outage the next call probes at once (the breaker's own timing is tested elsewhere)
    return GuardedStore(RedisStore(server.url, timeout_ms=300, **kw), cooldown_ms=0)


def engine_of(rules: Path, server: RedisServer, **options) -> ruledsl.Engine:
    kw = {k: options.pop(k) for k in ("hold_retention_ms",) if k in options}
    return ruledsl.load(rules, clock=None, compiled="never", store=store_of(server, **kw), **options)


def hold_keys(server: RedisServer) -> list[bytes]:
    return sorted(server.client().scan_iter(match=b"{rdsl:hold_r}:holds:*"))


# ---------------------------------------------------------------- two engines, one store


def test_a_hold_opened_by_one_engine_is_listed_confirmed_and_expired_by_another(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    d1 = a.evaluate(grey(T0))
    d2 = a.evaluate(grey(T0 + 1, customer="C2"))
    d3 = a.evaluate(grey(T0 + 2, customer="C3"))
    assert a._hold_book.open == {}  # in Redis, not in the process
    assert [h.hold_id for h in b.holds()] == [d1.hold_id, d2.hold_id, d3.hold_id]  # in opening order
    assert b.holds() == a.holds()
    [first, *_] = b.holds()
    assert (first.held_keys, first.hold_expires_at, first.rules, first.codes) == (
        {"customer_id": "C1", "payee": "GREY"},
        T0 + DAY,
        ["grey_payee"],
        ["H-1"],
    )
    released = b.confirm_hold(d1.hold_id, "release", by="agent-7", reason="called back", at=T0 + 5)
    assert (released.outcome, released.action, released.by, released.at) == ("released", "pass", "agent-7", T0 + 5)
    assert a.hold_outcome(d1.hold_id) == released  # the other process sees the outcome
    blocked = a.confirm_hold(d2.hold_id, "block", by="agent-8", at=T0 + 6)
    assert b.hold_outcome(d2.hold_id) == blocked
    # expire_due in B expires the hold A opened, once
    assert b.expire_due(T0 + DAY - 1) == []
    [expired] = b.expire_due(T0 + DAY + 2)
    assert (expired.hold_id, expired.outcome, expired.action, expired.at) == (
        d3.hold_id,
        "expired",
        "block",
        T0 + DAY + 2,
    )
    assert a.expire_due(T0 + 3 * DAY) == [] and a.holds() == [] and b.holds() == []
    with pytest.raises(HoldError, match="expired") as err:
        a.confirm_hold(d3.hold_id, "release")
    assert err.value.state == "expired"


def test_idempotent_repeats_and_errors_name_what_is_wrong(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    hid = a.evaluate(grey(T0)).hold_id
    first = a.confirm_hold(hid, "block", by="x", at=T0 + 1)
    assert b.confirm_hold(hid, "block", by="y", at=T0 + 9) == first  # the first outcome, unchanged
    assert a.confirm_hold(hid, "block") == first
    with pytest.raises(HoldError, match="already blocked by x") as err:
        b.confirm_hold(hid, "release")
    assert (err.value.hold_id, err.value.state) == (hid, "blocked")
    with pytest.raises(HoldError, match="unknown hold id") as err:
        b.confirm_hold("0" * 32, "release")
    assert err.value.state is None
    with pytest.raises(HoldError, match="32 hex digits"):
        b.confirm_hold("not-an-id", "release")
    with pytest.raises(HoldError, match='"release" or "block"'):
        b.confirm_hold(hid, "maybe")
    assert b.hold_outcome("0" * 32) is None and b.hold_outcome("zz") is None
    assert a.evaluate({**grey(T0 + 2), "payee": "OK"}).hold_id is None  # no hold, nothing written
    assert b.holds() == []


def test_racing_confirmations_close_each_hold_once(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    ids = [a.evaluate(grey(T0 + i, customer=f"C{i}")).hold_id for i in range(30)]
    for hid in ids:
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def confirm(engine, outcome, hid=hid, barrier=barrier, results=results):
            barrier.wait()
            try:
                results[outcome] = engine.confirm_hold(hid, outcome, by=outcome)
            except HoldError as err:
                results[outcome] = err

        threads = [
            threading.Thread(target=confirm, args=(a, "release")),
            threading.Thread(target=confirm, args=(b, "block")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lost = [r for r in results.values() if isinstance(r, HoldError)]
        won = [r for r in results.values() if not isinstance(r, HoldError)]
        assert len(lost) == 1 and len(won) == 1, results
        winner = won[0]
        assert lost[0].state == winner.outcome and lost[0].hold_id == hid
        assert a.hold_outcome(hid) == b.hold_outcome(hid) == winner  # one outcome, seen by both
    assert a.holds() == []


def test_a_confirmation_racing_an_expiry_closes_the_hold_once(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    ids = [a.evaluate(grey(T0 + i, customer=f"C{i}")).hold_id for i in range(40)]
    barrier = threading.Barrier(2)
    confirmed: list[str] = []
    expired: list[str] = []

    def confirm_all():
        barrier.wait()
        for hid in ids:
            try:
                a.confirm_hold(hid, "release")
                confirmed.append(hid)
            except HoldError as err:
                assert err.state == "expired"

    def expire_all():
        barrier.wait()
        for _ in range(5):
            expired.extend(o.hold_id for o in b.expire_due(T0 + 2 * DAY))

    threads = [threading.Thread(target=confirm_all), threading.Thread(target=expire_all)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(confirmed + expired) == sorted(ids)  # each hold closed once, by one of them
    assert all(b.hold_outcome(h).outcome == "released" for h in confirmed)
    assert all(a.hold_outcome(h).outcome == "expired" for h in expired)


def test_expire_due_in_several_engines_at_once_returns_each_expiry_once(rules: Path, redis_server):
    engines = [engine_of(rules, redis_server) for _ in range(3)]
    ids = [engines[0].evaluate(grey(T0 + i * 60_000, customer=f"C{i % 7}")).hold_id for i in range(1200)]
    barrier = threading.Barrier(3)
    got: list[list[str]] = [[], [], []]

    def run(k: int) -> None:
        barrier.wait()
        got[k] = [o.hold_id for o in engines[k].expire_due(T0 + 2 * DAY, callback=lambda o: None)]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = got[0] + got[1] + got[2]
    assert len(every) == len(set(every)) == len(ids) and set(every) == set(ids)
    assert engines[1].holds() == [] and engines[2].expire_due(T0 + 3 * DAY) == []


_CHILD = """
import json, sys
import ruledsl
from ruledsl.stores.redis import RedisStore
rules, url, cmd, arg = sys.argv[1:5]
engine = ruledsl.load(rules, clock=None, compiled="never", store=RedisStore(url, timeout_ms=2000))
if cmd == "open":
    ids = [engine.evaluate({"type": "transfer", "ts": int(arg) + i, "customer_id": "P%d" % i, "payee": "GREY",
                            "amount": "1.00"}).hold_id for i in range(3)]
    print(json.dumps(ids))
elif cmd == "confirm":
    out = engine.confirm_hold(arg, "block", by="child")
    print(json.dumps([out.hold_id, out.outcome, out.by]))
else:
    print(json.dumps([o.hold_id for o in engine.expire_due(int(arg))]))
"""


def _child(rules: Path, server: RedisServer, *args: object) -> object:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(rules), server.url, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_holds_are_shared_with_other_processes(rules: Path, redis_server):
    here = engine_of(rules, redis_server)
    mine = here.evaluate(grey(T0)).hold_id
    theirs = _child(rules, redis_server, "open", T0 + 10)  # another process: its own id key
    assert [h.hold_id for h in here.holds()] == [mine, *theirs]
    assert _child(rules, redis_server, "confirm", mine) == [mine, "blocked", "child"]
    assert here.hold_outcome(mine).outcome == "blocked"
    assert here.confirm_hold(theirs[0], "release").outcome == "released"
    expired = _child(rules, redis_server, "expire", T0 + 2 * DAY)
    assert sorted(expired) == sorted(theirs[1:])
    assert here.expire_due(T0 + 2 * DAY) == [] and here.holds() == []


# ---------------------------------------------------------------- outages


def test_a_hold_opened_during_an_outage_is_kept_and_written_when_redis_is_back(rules: Path, tmp_path: Path):
    _require_redis()
    server = RedisServer("--appendonly", "yes", "--appendfsync", "always")  # keeps its data across the restart
    try:
        a, b = engine_of(rules, server), engine_of(rules, server)
        before = a.evaluate(grey(T0)).hold_id
        server.stop()
        d = a.evaluate(grey(T0 + 1, customer="C2"))  # the hold is opened all the same
        assert d.action == "hold" and d.hold_id is not None and d.degraded
        assert list(a._hold_book.open) == [d.hold_id]  # waiting in this process
        for call in (
            lambda: a.holds(),
            lambda: a.hold_outcome(before),
            lambda: a.confirm_hold(before, "release"),
            lambda: b.confirm_hold(before, "block"),
            lambda: b.expire_due(T0 + 2 * DAY),
        ):
            with pytest.raises(HoldStoreError, match=r"unavailable.*nothing changed") as err:
                call()
            assert isinstance(err.value, StoreError) and err.value.maybe_applied is False
        a.snapshot(tmp_path / "outage.snap")  # the waiting hold is in the snapshot
        assert [h.hold_id for h in persistence.read(tmp_path / "outage.snap").holds.open] == [d.hold_id]
        server.start()
        assert [h.hold_id for h in b.holds()] == [before]  # untouched by the refused calls; A's is not written yet
        a.evaluate({**grey(T0 + 2), "payee": "OK"})  # the next event that reaches Redis writes it
        assert a._hold_book.open == {}
        assert [h.hold_id for h in b.holds()] == [before, d.hold_id]
        assert b.confirm_hold(d.hold_id, "release").outcome == "released"
        # a snapshot's waiting hold written twice (a restart from it) changes nothing
        c = engine_of(rules, server, state=tmp_path / "outage.snap")
        assert [h.hold_id for h in c.holds()] == [before]
        assert c.hold_outcome(d.hold_id).outcome == "released"
    finally:
        server.close()


def test_confirm_during_an_outage_is_refused_by_the_open_breaker_without_waiting(rules: Path, redis_server):
    a = engine_of(rules, redis_server)
    hid = a.evaluate(grey(T0)).hold_id
    a._guard.breaker.cooldown_ms = a._guard.breaker.base_cooldown_ms = 60_000
    redis_server.stop()
    a.evaluate(grey(T0 + 1, customer="C2"))  # fails and opens the breaker
    assert a._guard.breaker.state == "open"
    failures = a._guard.failures
    with pytest.raises(HoldStoreError, match="circuit breaker open"):
        a.confirm_hold(hid, "release")
    assert a._guard.failures == failures  # refused without a call


def test_holds_opened_while_the_breaker_is_open_keep_their_order(rules: Path, redis_server):
    a = engine_of(rules, redis_server)
    redis_server.stop()
    ids = [a.evaluate(grey(T0 + i, customer=f"C{i}")).hold_id for i in range(5)]
    assert list(a._hold_book.open) == ids
    redis_server.start()  # empty (no persistence): only the waiting holds come back
    assert [h.hold_id for h in a.holds()] == ids  # written first, in order


# ---------------------------------------------------------------- audit, reload, snapshots, encoding


def test_an_unwritable_audit_line_reopens_the_hold_in_redis(rules: Path, redis_server, tmp_path: Path, monkeypatch):
    a = engine_of(rules, redis_server, audit_log=tmp_path / "audit.jsonl")
    b = engine_of(rules, redis_server)
    hid = a.evaluate(grey(T0)).hold_id
    other = a.evaluate(grey(T0 + 1, customer="C2")).hold_id

    def fail(*args, **kwargs):
        raise AuditError("disk full")

    monkeypatch.setattr(a.audit_log, "append", fail)
    with pytest.raises(AuditError, match="disk full"):
        a.confirm_hold(hid, "release", by="x")
    with pytest.raises(AuditError, match="disk full"):
        a.expire_due(T0 + 2 * DAY)
    assert sorted(h.hold_id for h in b.holds()) == sorted([hid, other])  # open again, for every process
    assert b.hold_outcome(hid) is None
    monkeypatch.undo()
    assert a.confirm_hold(hid, "release", by="x").outcome == "released"
    [entry] = audit.read_entries(tmp_path / "audit.jsonl")  # only the confirmation that stood
    assert (entry.action, entry.target, entry.new["state"]) == ("hold.confirm", hid, "released")


def test_a_reload_keeps_the_holds(rules: Path, redis_server):
    a = engine_of(rules, redis_server)
    a.paths = [str(rules)]
    hid = a.evaluate(grey(T0)).hold_id
    a.reload()
    assert [h.hold_id for h in a.holds()] == [hid]
    nxt = a.evaluate(grey(T0 + 1, customer="C2")).hold_id
    assert nxt not in (None, hid)
    assert a.confirm_hold(hid, "block").outcome == "blocked"


def test_holds_of_an_in_memory_snapshot_move_to_redis(rules: Path, redis_server, tmp_path: Path):
    memory = ruledsl.load(rules, clock=None, compiled="never")
    kept = memory.evaluate(grey(T0)).hold_id
    done = memory.evaluate(grey(T0 + 1, customer="C2")).hold_id
    released = memory.confirm_hold(done, "release", by="a", at=T0 + 2)
    memory.snapshot(tmp_path / "m.snap")
    a = engine_of(rules, redis_server, state=tmp_path / "m.snap")
    b = engine_of(rules, redis_server)
    assert b.holds() == []  # loading makes no call to Redis: they wait for A's first call that reaches it
    a.evaluate({**grey(T0 + 3), "payee": "OK"})
    assert b.holds() == memory.holds()
    assert b.hold_outcome(done) == memory.hold_outcome(done) == released  # the outcome came too
    assert b.confirm_hold(done, "release") == released
    a.snapshot(tmp_path / "r.snap")
    assert persistence.read(tmp_path / "r.snap").holds.open == []  # in Redis, not in the snapshot
    assert [o.hold_id for o in b.expire_due(T0 + DAY)] == [kept]


def test_held_keys_with_lone_surrogates_round_trip(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    d = a.evaluate(grey(T0, customer="C\ud800x"))
    [hold] = b.holds()
    assert hold.held_keys == {"customer_id": "C\ud800x", "payee": "GREY"} and hold.hold_id == d.hold_id
    out = b.confirm_hold(d.hold_id, "block", by="agent", reason="lone \udc80 surrogate")
    assert a.hold_outcome(d.hold_id) == out and out.reason == "lone \udc80 surrogate"


def test_outcomes_expire_after_the_retention_and_open_holds_never(rules: Path, redis_server):
    a = engine_of(rules, redis_server, hold_retention_ms=60_000)
    hid = a.evaluate(grey(T0)).hold_id
    open_hold = a.evaluate(grey(T0 + 1, customer="C2")).hold_id
    a.confirm_hold(hid, "release")
    client = redis_server.client()
    assert 0 < client.pttl(b"{rdsl:hold_r}:holds:done:" + hid.encode()) <= 60_000
    for key in hold_keys(redis_server):
        if b":done:" not in key:
            assert client.pttl(key) == -1, key  # open holds stay until confirmed or expired
    client.delete(b"{rdsl:hold_r}:holds:done:" + hid.encode())  # what the TTL does
    with pytest.raises(HoldError, match=r"unknown hold id.*hold_retention_ms"):
        a.confirm_hold(hid, "release")
    assert [h.hold_id for h in a.holds()] == [open_hold]


def test_clearing_the_window_state_keeps_the_holds(rules: Path, redis_server):
    a = engine_of(rules, redis_server)
    hid = a.evaluate(grey(T0)).hold_id
    a._guard.clear()
    assert [h.hold_id for h in a.holds()] == [hid]


def test_without_a_redis_store_holds_stay_in_the_process(rules: Path):
    engine = ruledsl.load(rules, clock=None, compiled="never", store=LocalStore())
    hid = engine.evaluate(grey(T0)).hold_id
    assert engine._shared_holds is None and list(engine._hold_book.open) == [hid]


def test_engines_of_one_process_never_give_one_id_to_two_holds(rules: Path, redis_server, tmp_path: Path):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    same = a.evaluate(grey(T0)).hold_id
    assert b.evaluate(grey(T0)).hold_id == same  # the same event at the same count: the same hold
    assert [h.hold_id for h in a.holds()] == [same]
    other_rules = tmp_path / "other" / "hold_r.rdsl"
    other_rules.parent.mkdir()
    other_rules.write_text(RULES.replace('code "H-1"', 'code "H-2"'), encoding="utf-8")
    c = engine_of(other_rules, redis_server)  # same namespace, another hold for the same id
    theirs = c.evaluate(grey(T0)).hold_id
    assert theirs != same
    assert {h.hold_id: h.codes for h in a.holds()} == {same: ["H-1"], theirs: ["H-2"]}


def test_holds_waiting_counts_the_holds_not_yet_written(rules: Path, redis_server):
    a = engine_of(rules, redis_server)
    assert a.holds_waiting == 0
    redis_server.stop()
    a.evaluate(grey(T0))
    a.evaluate(grey(T0 + 1, customer="C2"))
    assert a.holds_waiting == 2
    redis_server.start()
    a.evaluate({**grey(T0 + 2), "payee": "OK"})
    assert a.holds_waiting == 0 and len(a.holds()) == 2
    assert ruledsl.load(rules, clock=None, compiled="never").holds_waiting == 0


def test_holds_in_a_redis_cluster(rules: Path, cluster):  # noqa: F811 -- the fixture
    from ruledsl.stores.redis import RedisStore

    a, b = (
        ruledsl.load(rules, clock=None, compiled="never", store=RedisStore(cluster_client(cluster), timeout_ms=2000))
        for _ in range(2)
    )
    ids = [a.evaluate(grey(T0 + i, customer=f"C{i}")).hold_id for i in range(20)]  # window keys in every slot
    assert [h.hold_id for h in b.holds()] == ids
    assert b.confirm_hold(ids[0], "block").outcome == "blocked"
    assert a.hold_outcome(ids[0]).outcome == "blocked"
    assert sorted(o.hold_id for o in b.expire_due(T0 + 2 * DAY)) == sorted(ids[1:])
    assert a.holds() == [] and a.store_errors == 0


def test_redis_failing_part_way_through_expire_due_reports_what_expired(rules: Path, redis_server, monkeypatch):
    from ruledsl.stores import redis_holds

    a = engine_of(rules, redis_server)
    ids = [a.evaluate(grey(T0 + i, customer=f"C{i}")).hold_id for i in range(5)]
    monkeypatch.setattr(redis_holds, "CHUNK", 2)
    real, calls = redis_holds.RedisHoldTable.expire, []

    def expire(self, hold_ids, closing, at):
        calls.append(hold_ids)
        if len(calls) == 2:
            raise StoreError("redis: ConnectionError: the server went away", maybe_applied=False)
        return real(self, hold_ids, closing, at)

    monkeypatch.setattr(redis_holds.RedisHoldTable, "expire", expire)
    seen: list[str] = []
    with pytest.raises(HoldStoreError, match="unavailable") as err:
        a.expire_due(T0 + 2 * DAY, callback=lambda o: seen.append(o.hold_id))
    assert [o.hold_id for o in err.value.expired] == seen == ids[:2]  # the first chunk expired, and was told
    monkeypatch.undo()
    assert [h.hold_id for h in a.holds()] == ids[2:]  # the others stay open for the next call
    assert sorted(o.hold_id for o in a.expire_due(T0 + 2 * DAY)) == sorted(ids[2:])
