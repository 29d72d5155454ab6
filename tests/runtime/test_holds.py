"""The hold lifecycle run by the engine: open -> released | blocked | expired (docs/semantics.md, "Holds")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest

import ruledsl
from ruledsl.runtime import audit, persistence
from ruledsl.runtime.audit import AuditError
from ruledsl.runtime.holds import Hold, HoldError, HoldOutcome

DAY = 24 * 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

RULES = """
ruleset hold_t {
  timezone "UTC"
  hold_timeout 24h
}

event transfer {
  customer_id: string
  payee: string
  card_no: string?
  amount: decimal
}

event login {
  customer_id: string
  device: string
}

list grey_payees: string = ["GREY"]

window per_pair_10m = count() of transfer by customer_id, payee over 10m
window logins_1h = count() of login by customer_id, device over 1h

rule grey_payee {
  reason "grey payee"
  code "H-1"
  on transfer
  when payee in grey_payees
  action hold
}

rule big {
  reason "big"
  code "B-1"
  on transfer
  when amount > 10000
  action block
}

rule quiet_hold {
  reason "shadow"
  on transfer
  when per_pair_10m >= 100
  action hold
  shadow
}
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "hold_t.rdsl"
    path.write_text(RULES, encoding="utf-8")
    return path


def grey(ts: int, customer: str = "C1", **extra) -> dict:
    return {"type": "transfer", "ts": ts, "customer_id": customer, "payee": "GREY", "amount": "10.00", **extra}


def engine_of(rules: Path, **options) -> ruledsl.Engine:
    return ruledsl.load(rules, clock=None, compiled="never", **options)


# ---------------------------------------------------------------- opening


def test_a_hold_decision_opens_a_hold_with_its_keys_and_expiry(rules: Path):
    engine = engine_of(rules)
    d = engine.evaluate(grey(T0, card_no="K9"))
    assert d.action == "hold" and d.hold_timeout_ms == DAY
    assert isinstance(d.hold_id, str) and len(d.hold_id) == 32
    # the fields the ruleset keys state by for this event type; card_no keys nothing
    assert d.held_keys == {"customer_id": "C1", "payee": "GREY"}
    assert d.hold_expires_at == T0 + DAY  # event time
    [hold] = engine.holds()
    assert hold == Hold(
        hold_id=d.hold_id,
        event_type="transfer",
        ts=T0,
        held_keys={"customer_id": "C1", "payee": "GREY"},
        hold_expires_at=T0 + DAY,
        rules=["grey_payee"],
        codes=["H-1"],
    )
    # the channel view is unchanged; other decisions carry no hold fields
    view = d.channel_view()
    assert (view.action, view.codes, view.hold_id, view.hold_expires_at) == ("hold", ["H-1"], d.hold_id, T0 + DAY)
    assert "GREY" not in msgspec.json.encode(view).decode()  # what a hold holds is not shown to the channel
    other = engine.evaluate({**grey(T0 + 1), "payee": "OK"})
    assert other.action == "pass" and (other.hold_id, other.held_keys, other.hold_expires_at) == (None, None, None)
    blocked = engine.evaluate(grey(T0 + 2, amount="20000"))  # hold and block fire: block wins, nothing held
    assert blocked.action == "block" and blocked.hold_id is None
    assert len(engine.holds()) == 1


def test_ids_differ_per_hold_and_repeat_for_the_same_stream(rules: Path):
    a, b = engine_of(rules), engine_of(rules)
    ids_a = [a.evaluate(grey(T0 + i)).hold_id for i in range(5)]
    ids_b = [b.evaluate(grey(T0 + i)).hold_id for i in range(5)]
    assert len(set(ids_a)) == 5
    assert ids_a == ids_b  # a replay in this process opens the same holds: decisions stay comparable


def test_peek_opens_nothing(rules: Path):
    engine = engine_of(rules)
    d = engine.peek(grey(T0))
    assert d.action == "hold" and d.hold_id is None
    assert d.held_keys == {"customer_id": "C1", "payee": "GREY"} and d.hold_expires_at == T0 + DAY
    assert engine.holds() == []
    # nor does it use up a hold number: the evaluation after it opens the hold a fresh engine would
    assert engine.evaluate(grey(T0)).hold_id == engine_of(rules).evaluate(grey(T0)).hold_id


def test_evaluate_many_and_the_columnar_paths_open_holds(rules: Path):
    engine = engine_of(rules)
    decisions = engine.evaluate_many([grey(T0), grey(T0 + 1, customer="C2")])
    assert [d.held_keys["customer_id"] for d in decisions] == ["C1", "C2"]
    pytest.importorskip("pyarrow")
    result = engine.evaluate_columns(
        {
            "type": ["transfer", "transfer"],
            "ts": [T0 + 2, T0 + 3],
            "customer_id": ["C3", "C4"],
            "payee": ["GREY", "OK"],
            "amount": ["1.00", "1.00"],
        }
    )
    third = result[0] if isinstance(result, list) else result.decision(0)
    assert third.action == "hold" and third.held_keys == {"customer_id": "C3", "payee": "GREY"}
    assert [h.held_keys["customer_id"] for h in engine.holds()] == ["C1", "C2", "C3"]
    assert {h.hold_id for h in engine.holds()} == {decisions[0].hold_id, decisions[1].hold_id, third.hold_id}


def test_the_compiled_evaluator_opens_the_same_holds(rules: Path):
    try:
        compiled = ruledsl.load(rules, clock=None, compiled="require")
    except Exception as err:  # no compiler here: the Python evaluator is covered above
        pytest.skip(f"the Cython evaluator cannot be built: {err}")
    python = engine_of(rules)
    events = [grey(T0), {**grey(T0 + 1), "payee": "OK"}, grey(T0 + 2, customer="C2", card_no="K")]
    assert compiled.evaluator == "cython"
    assert [compiled.evaluate(e) for e in events] == [python.evaluate(e) for e in events]
    assert compiled.peek(grey(T0 + 3)).hold_id is None
    assert compiled.holds() == python.holds() and len(compiled.holds()) == 2


# ---------------------------------------------------------------- confirming


def test_confirm_release_and_block(rules: Path):
    engine = engine_of(rules)
    first, second = engine.evaluate(grey(T0)).hold_id, engine.evaluate(grey(T0 + 1, customer="C2")).hold_id
    released = engine.confirm_hold(
        first, "release", by="agent-7", reason="customer confirmed by call-back", at=T0 + 60_000
    )
    assert released == HoldOutcome(
        hold_id=first,
        outcome="released",
        action="pass",
        at=T0 + 60_000,
        by="agent-7",
        reason="customer confirmed by call-back",
        event_type="transfer",
        held_keys={"customer_id": "C1", "payee": "GREY"},
        hold_expires_at=T0 + DAY,
        rules=["grey_payee"],
        codes=["H-1"],
    )
    blocked = engine.confirm_hold(second, "block", by="agent-7", at="2026-01-01T01:00:00Z")
    assert (blocked.outcome, blocked.action, blocked.at) == ("blocked", "block", T0 + 3_600_000)
    assert engine.holds() == []
    assert engine.hold_outcome(first) is released and engine.hold_outcome("nope") is None


def test_confirming_is_idempotent_and_conflicts_raise(rules: Path):
    engine = engine_of(rules)
    hid = engine.evaluate(grey(T0)).hold_id
    first = engine.confirm_hold(hid, "release", by="a")
    assert engine.confirm_hold(hid, "release", by="someone else") is first  # the same record, nothing changed
    with pytest.raises(HoldError, match=rf"hold {hid} was already released by a .*cannot be confirmed 'block'") as err:
        engine.confirm_hold(hid, "block")
    assert (err.value.hold_id, err.value.state) == (hid, "released")
    assert engine.hold_outcome(hid) is first


def test_bad_confirmations_raise_and_change_nothing(rules: Path):
    engine = engine_of(rules)
    hid = engine.evaluate(grey(T0)).hold_id
    with pytest.raises(HoldError, match=r"unknown hold id 'f00'.*1 hold"):
        engine.confirm_hold("f00")
    with pytest.raises(HoldError, match='outcome must be "release" or "block", not \'approve\''):
        engine.confirm_hold(hid, "approve")
    with pytest.raises(HoldError, match="a hold id is a string"):
        engine.confirm_hold(123)  # type: ignore[arg-type]
    with pytest.raises(HoldError, match="at must be epoch milliseconds or an ISO 8601 string"):
        engine.confirm_hold(hid, at="yesterday")
    with pytest.raises(AuditError, match="by must name who"):
        engine.confirm_hold(hid, by="  ")
    assert [h.hold_id for h in engine.holds()] == [hid]


# ---------------------------------------------------------------- expiring


def test_expire_due_blocks_overdue_holds_once(rules: Path):
    engine = engine_of(rules)
    early = engine.evaluate(grey(T0)).hold_id
    late = engine.evaluate(grey(T0 + 3_600_000, customer="C2")).hold_id
    assert engine.expire_due(T0 + DAY - 1) == []
    seen: list[HoldOutcome] = []
    out = engine.expire_due("2026-01-02T00:00:00Z", callback=seen.append)  # exactly hold_expires_at: due
    assert [o.hold_id for o in out] == [early] and seen == out
    assert (out[0].outcome, out[0].action, out[0].at, out[0].by) == ("expired", "block", T0 + DAY, None)
    assert engine.expire_due(T0 + DAY) == []  # idempotent
    assert [h.hold_id for h in engine.holds()] == [late]
    with pytest.raises(HoldError, match=rf"hold {early} expired into a block .*cannot be confirmed") as err:
        engine.confirm_hold(early, "release")
    assert err.value.state == "expired"
    with pytest.raises(HoldError, match="expired"):
        engine.confirm_hold(early, "block")
    # confirmed before expire_due runs: the confirmation wins, even past hold_expires_at
    assert engine.confirm_hold(late, "release", at=T0 + 2 * DAY).outcome == "released"
    assert engine.expire_due(T0 + 10 * DAY) == []


def test_expire_due_refuses_a_bad_now_or_callback(rules: Path):
    engine = engine_of(rules)
    engine.evaluate(grey(T0))
    for bad in ("tomorrow", None, 1.5, True):
        with pytest.raises(HoldError, match="now must be epoch milliseconds or an ISO 8601 string"):
            engine.expire_due(bad)
    with pytest.raises(HoldError, match="callback must be callable"):
        engine.expire_due(T0 + DAY, callback="print")  # type: ignore[arg-type]
    assert len(engine.holds()) == 1


def test_a_failing_callback_leaves_the_holds_expired(rules: Path):
    engine = engine_of(rules)
    hid = engine.evaluate(grey(T0)).hold_id

    def boom(outcome: HoldOutcome) -> None:
        raise RuntimeError("channel down")

    with pytest.raises(RuntimeError, match="channel down"):
        engine.expire_due(T0 + DAY, callback=boom)
    assert engine.holds() == [] and engine.hold_outcome(hid).outcome == "expired"


# ---------------------------------------------------------------- audit


def test_confirmations_and_expiries_are_audited(rules: Path, tmp_path: Path):
    log = tmp_path / "audit.jsonl"
    engine = engine_of(rules, audit_log=log)
    a, b = engine.evaluate(grey(T0)).hold_id, engine.evaluate(grey(T0 + 1, customer="C2")).hold_id
    engine.confirm_hold(a, "block", by="agent-7", reason="fraud confirmed")
    engine.confirm_hold(a, "block", by="agent-7")  # idempotent: no second line
    engine.expire_due(T0 + 1 + DAY)
    entries = audit.read_entries(log)
    assert [(e.action, e.target) for e in entries] == [("hold.confirm", a), ("hold.expire", b)]
    assert entries[0].by == "agent-7" and entries[0].reason == "fraud confirmed"
    assert entries[0].old["state"] == "open" and entries[0].old["held_keys"] == {"customer_id": "C1", "payee": "GREY"}
    assert entries[0].new == {"state": "blocked", "action": "block", "at": entries[0].new["at"]}
    assert entries[1].new == {"state": "expired", "action": "block", "at": T0 + 1 + DAY}
    assert audit.verify(log).ok


def test_an_unwritable_audit_line_undoes_the_change(rules: Path, tmp_path: Path, monkeypatch):
    engine = engine_of(rules, audit_log=tmp_path / "audit.jsonl")
    hid = engine.evaluate(grey(T0)).hold_id
    other = engine.evaluate(grey(T0 + 1, customer="C2")).hold_id

    def fail(*args, **kwargs):
        raise AuditError("disk full")

    monkeypatch.setattr(engine.audit_log, "append", fail)
    with pytest.raises(AuditError, match="disk full"):
        engine.confirm_hold(hid, "release", by="a")
    with pytest.raises(AuditError, match="disk full"):
        engine.expire_due(T0 + 2 * DAY)
    assert [h.hold_id for h in engine.holds()] == [hid, other]  # still open, in their order
    assert engine.hold_outcome(hid) is None and engine.hold_outcome(other) is None
    monkeypatch.undo()
    assert engine.confirm_hold(hid, "release", by="a").outcome == "released"


# ---------------------------------------------------------------- snapshots and reloads


def test_open_holds_survive_a_snapshot_and_ids_continue(rules: Path, tmp_path: Path):
    engine = engine_of(rules)
    kept = engine.evaluate(grey(T0)).hold_id
    done = engine.evaluate(grey(T0 + 1, customer="C2")).hold_id
    released = engine.confirm_hold(done, "release", by="a")
    engine.snapshot(tmp_path / "s.snap")
    restored = engine_of(rules, state=tmp_path / "s.snap")
    assert restored.holds() == engine.holds()
    assert restored.confirm_hold(done, "release") == released  # outcomes are remembered too
    nxt = grey(T0 + 2, customer="C3")
    assert restored.evaluate(nxt) == engine.evaluate(nxt)  # the same next id
    assert [o.hold_id for o in restored.expire_due(T0 + DAY)] == [kept]


def test_a_snapshot_written_before_holds_existed_still_loads(rules: Path, tmp_path: Path):
    engine = engine_of(rules)
    engine.evaluate({**grey(T0), "payee": "OK"})
    engine.snapshot(tmp_path / "new.snap")
    data = (tmp_path / "new.snap").read_bytes()
    header = persistence._HEADER.size
    payload = msgspec.msgpack.decode(data[header:])
    del payload["holds"]  # the payload of a snapshot written before holds existed: 7 fields
    (tmp_path / "old.snap").write_bytes(persistence._framed(msgspec.msgpack.encode(payload)))
    assert persistence.read(tmp_path / "old.snap").holds == persistence.SavedHolds()
    restored = engine_of(rules, state=tmp_path / "old.snap")
    assert restored.holds() == [] and restored.stats()["events"] == 1
    assert restored.evaluate(grey(T0 + 1)).hold_id is not None


def test_a_reload_keeps_open_holds(rules: Path):
    engine = engine_of(rules)
    hid = engine.evaluate(grey(T0)).hold_id
    rules.write_text(RULES.replace("hold_timeout 24h", "hold_timeout 2h"), encoding="utf-8")
    engine.reload()
    assert [h.hold_id for h in engine.holds()] == [hid]
    assert engine.holds()[0].hold_expires_at == T0 + DAY  # an open hold keeps the expiry it was opened with
    assert engine.evaluate(grey(T0 + 1)).hold_expires_at == T0 + 1 + 2 * 3_600_000
    assert engine.confirm_hold(hid, "block").outcome == "blocked"


def test_decisions_with_hold_fields_encode_as_json(rules: Path):
    engine = engine_of(rules)
    d = json.loads(msgspec.json.encode(engine.evaluate(grey(T0))))
    assert d["hold_id"] and d["held_keys"] == {"customer_id": "C1", "payee": "GREY"}
    assert d["hold_expires_at"] == T0 + DAY


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_forked_process_draws_its_own_id_key(rules: Path):
    parent = engine_of(rules).evaluate(grey(T0)).hold_id
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(w, (engine_of(rules).evaluate(grey(T0)).hold_id or "").encode())
        finally:
            os._exit(0)
    os.close(w)
    child = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != parent  # workers forked from one parent never share ids
    assert engine_of(rules).evaluate(grey(T0)).hold_id == parent
