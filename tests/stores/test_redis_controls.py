"""Controls in Redis (issue 11.2): a control one engine sets is seen by every engine on the store.

Starts its own redis-server processes on 127.0.0.1 (skips without one locally, fails under CI):
see test_redis_store.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_redis_store import RedisServer, _require_redis, cluster, cluster_client  # noqa: F401 -- the fixture

import ruledsl
from ruledsl.runtime.shared_controls import SharedControlTable
from ruledsl.stores.guard import GuardedStore

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

RULES = """
ruleset ctl_r {
  timezone "UTC"
}
event login {
  account_no: string
  risky: bool
  tampered: bool?
}
event transfer {
  account_no: string
  amount: decimal
}
event ping {
  account_no: string
}
window logins = count() of login by account_no over 1h
rule tampered_login {
  reason "tampered" code "L-2" on login when tampered == true action hold
  control account_no as "frozen" for 7d
}
rule risky_login { reason "risky" code "L-1" on login when risky action alert control account_no as "restricted" for 30d }
rule restricted {
  reason "restricted" code "R-1" on transfer when control_kind(account_no) == "restricted" action block
}
rule frozen { reason "frozen" code "R-2" on transfer when control_kind(account_no) == "frozen" action hold }
rule pinged { reason "ping" code "P" on ping when account_no == "X" action alert }
"""

PLAIN = """
ruleset ctl_r {
  timezone "UTC"
}
event transfer {
  account_no: string
  amount: decimal
}
window n = count() of transfer by account_no over 1h
rule many { reason "many" code "M" on transfer when n > 100 action alert }
"""


@pytest.fixture()
def redis_server():
    _require_redis()
    srv = RedisServer()
    yield srv
    srv.close()


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "ctl_r.rdsl"
    path.write_text(RULES, encoding="utf-8")
    return path


def engine_of(rules: Path, server: RedisServer, **options) -> ruledsl.Engine:
    from ruledsl.stores.redis import RedisStore

    # cooldown 0: after an outage the next call probes at once
    store = GuardedStore(RedisStore(server.url, timeout_ms=300), cooldown_ms=0)
    return ruledsl.load(rules, clock=None, compiled="never", store=store, **options)


def login(ts: int, account: str, **extra) -> dict:
    return {"type": "login", "ts": ts, "account_no": account, "risky": True, **extra}


def transfer(ts: int, account: str) -> dict:
    return {"type": "transfer", "ts": ts, "account_no": account, "amount": "10.00"}


def test_a_control_set_by_one_engine_is_read_by_the_rules_of_another(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    assert isinstance(a._control_table, SharedControlTable)
    assert b.evaluate(transfer(T0, "A")).action == "pass"
    [control] = a.evaluate(login(T0 + 1, "A")).controls
    d = b.evaluate(transfer(T0 + 2, "A"))  # a transfer reads no window: the feed is read all the same
    assert d.action == "block" and d.rules[0].id == "restricted" and not d.degraded
    assert b.controls() == [control] and b.control("A") == control
    # a newer control replaces it everywhere; lifting it in B lifts it in A
    a.evaluate(login(T0 + 3, "A", risky=False, tampered=True))
    assert b.evaluate(transfer(T0 + 4, "A")).action == "hold"
    b.lift_control("A", by="agent", reason="appeal upheld")
    assert a.evaluate(transfer(T0 + 5, "A")).action == "pass"
    assert a.controls() == [] and b.controls() == []


def test_set_control_by_hand_reaches_every_engine(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    a.evaluate(transfer(T0, "X"))
    b.evaluate(transfer(T0, "Y"))
    set_ = a.set_control("K", "restricted", until=T0 + DAY, by="analyst", reason="court order")
    assert b.evaluate(transfer(T0 + 1, "K")).action == "block"
    assert b.control("K") == set_ and set_.by == "analyst"
    assert b.evaluate(transfer(T0 + DAY, "K")).action == "pass"  # expired in event time


def test_another_process_sees_the_controls(rules: Path, redis_server):
    a = engine_of(rules, redis_server)
    a.evaluate(login(T0, "P"))
    child = (
        "import sys, ruledsl\n"
        "from ruledsl.stores.redis import RedisStore\n"
        "e = ruledsl.load(sys.argv[1], clock=None, compiled='never', store=RedisStore(sys.argv[2], timeout_ms=2000))\n"
        f"print(e.evaluate({{'type': 'transfer', 'ts': {T0 + 1}, 'account_no': 'P', 'amount': '1'}}).action)\n"
        f"e.evaluate({{'type': 'login', 'ts': {T0 + 2}, 'account_no': 'Q', 'risky': True}})\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child, str(rules), redis_server.url], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["block"]
    assert a.evaluate(transfer(T0 + 3, "Q")).action == "block"  # and this one sees the child's


def test_hundreds_of_changes_at_once_are_all_taken_in(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    b.evaluate(transfer(T0, "Z"))  # B has loaded the table: from now on it reads the feed
    for i in range(700):  # more than one read of the feed (256 per read)
        a.evaluate(login(T0 + i, f"A{i}"))
    assert b.evaluate(transfer(T0 + 800, "A699")).action == "block"
    assert b._control_table.loads == 1  # read from the feed, not loaded again
    assert len(b.controls()) == 700
    assert {c.key for c in b.controls()} == {f"A{i}" for i in range(700)}


def test_an_engine_behind_a_trimmed_feed_loads_the_whole_table(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    b.evaluate(transfer(T0, "Z"))
    for i in range(5):
        a.evaluate(login(T0 + i, f"A{i}"))
    # what the cap does to a process far behind: the entry it saw last is gone
    redis_server.client().xtrim(b"{rdsl:ctl_r}:ctl:feed", maxlen=1, approximate=False)
    assert b._control_table.loads == 1
    assert b.evaluate(transfer(T0 + 10, "A0")).action == "block"
    assert b._control_table.loads == 2
    assert sorted(c.key for c in b.controls()) == [f"A{i}" for i in range(5)]


def test_a_control_set_during_an_outage_is_in_force_here_and_written_when_redis_is_back(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    b.evaluate(transfer(T0, "Z"))
    redis_server.stop()
    d = a.evaluate(login(T0 + 1, "O"))
    assert d.degraded and [c.key for c in d.controls] == ["O"]
    assert a.evaluate(transfer(T0 + 2, "O")).action == "block"  # in force in this process at once
    assert [w for w, _c in a._control_table.pending] == ["put"]
    redis_server.start()  # empty: no persistence
    a.evaluate(transfer(T0 + 3, "Y"))  # A's next call writes it
    assert a._control_table.pending == []
    assert b.evaluate(transfer(T0 + 4, "O")).action == "block"


def test_a_late_write_never_replaces_a_newer_control(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    a.evaluate(transfer(T0, "Z"))
    b.evaluate(transfer(T0, "Z"))
    breaker = a._guard.breaker
    breaker.state, breaker._retry_at = "open", float("inf")  # A cannot reach Redis; B can
    a.evaluate(login(T0 + 10, "K"))  # restricted, since T0+10: waits in A
    b.evaluate(login(T0 + 20, "K", risky=False, tampered=True))  # frozen, since T0+20: in Redis
    assert a.evaluate(transfer(T0 + 21, "K")).action == "block"  # A still has its own
    breaker._retry_at = 0.0  # A reaches Redis again
    a.evaluate(transfer(T0 + 22, "Y"))
    assert a.control("K").kind == b.control("K").kind == "frozen"  # the later one stands, in both
    assert a.evaluate(transfer(T0 + 23, "K")).action == "hold"


def test_controls_of_a_snapshot_are_written_to_redis(rules: Path, redis_server, tmp_path: Path):
    memory = ruledsl.load(rules, clock=None, compiled="never")
    memory.evaluate(login(T0, "S"))
    memory.snapshot(tmp_path / "c.snap")
    a = engine_of(rules, redis_server, state=tmp_path / "c.snap")
    b = engine_of(rules, redis_server)
    a.evaluate(transfer(T0 + 1, "Z"))
    assert b.evaluate(transfer(T0 + 2, "S")).action == "block"


def test_after_redis_lost_its_data_each_engine_writes_its_controls_again(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    a.evaluate(login(T0, "L"))
    b.evaluate(transfer(T0 + 1, "L"))
    redis_server.stop()
    redis_server.start()  # restarted empty
    a.evaluate(transfer(T0 + 2, "Y"))  # A finds the loss and writes its controls again
    b.evaluate(transfer(T0 + 3, "Y"))
    assert b.evaluate(transfer(T0 + 4, "L")).action == "block"
    assert redis_server.client().hlen(b"{rdsl:ctl_r}:ctl:all") == 1


def test_a_reload_keeps_the_shared_table(rules: Path, redis_server):
    a, b = engine_of(rules, redis_server), engine_of(rules, redis_server)
    a.paths = [str(rules)]
    table = a._control_table
    a.reload()
    assert a._control_table is table and a._shared_controls is table
    b.evaluate(login(T0, "R"))
    assert a.evaluate(transfer(T0 + 1, "R")).action == "block"


def test_rulesets_without_controls_send_nothing_more(tmp_path: Path, redis_server):
    path = tmp_path / "plain.rdsl"
    path.write_text(PLAIN, encoding="utf-8")
    engine = engine_of(path, redis_server)
    assert engine._shared_controls is None and not isinstance(engine._control_table, SharedControlTable)
    engine.evaluate(transfer(T0, "A"))
    assert not list(redis_server.client().scan_iter(match=b"*:ctl:*"))


def test_controls_in_a_redis_cluster(rules: Path, cluster):  # noqa: F811 -- the fixture
    from ruledsl.stores.redis import RedisStore

    a, b = (
        ruledsl.load(rules, clock=None, compiled="never", store=RedisStore(cluster_client(cluster), timeout_ms=2000))
        for _ in range(2)
    )
    b.evaluate(transfer(T0, "Z"))
    for i in range(20):  # window keys in every slot; the feed in the namespace's
        a.evaluate(login(T0 + i, f"A{i}"))
    assert [b.evaluate(transfer(T0 + 100, f"A{i}")).action for i in range(20)] == ["block"] * 20
    assert a.store_errors == b.store_errors == 0


def test_an_event_that_reads_no_control_and_no_window_makes_no_call(rules: Path, redis_server):
    a = engine_of(rules, redis_server)
    a.evaluate(transfer(T0, "Z"))
    redis_server.stop()
    d = a.evaluate({"type": "ping", "ts": T0 + 1, "account_no": "X"})
    assert d.action == "alert" and not d.degraded and a.store_errors == 0  # nothing asked of Redis
    assert a.evaluate(transfer(T0 + 2, "Z")).degraded  # a transfer reads controls: it needs the feed
    assert a.store_errors == 1


def test_the_compiled_evaluator_reads_the_shared_table(rules: Path, redis_server):
    from ruledsl.stores.redis import RedisStore

    a, b = (
        ruledsl.load(rules, clock=None, compiled="require", store=RedisStore(redis_server.url, timeout_ms=1000))
        for _ in range(2)
    )
    assert a.evaluator == b.evaluator == "cython"
    a.evaluate(login(T0, "C"))
    assert b.evaluate(transfer(T0 + 1, "C")).action == "block"
    b.lift_control("C")
    assert a.evaluate(transfer(T0 + 2, "C")).action == "pass"
