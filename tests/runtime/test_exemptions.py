"""Exemptions run by the engine: exempt, revoke_exemption, exemptions; decisions, audit, snapshots, reloads."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import ruledsl
from ruledsl import AppliedExemption, AuditError, Exemption, ExemptionError
from ruledsl.runtime import persistence
from ruledsl.runtime.audit import read_entries

SOURCE = """\
ruleset appeals { timezone "UTC" }

event transfer {
  customer_id: string
  account_no: string
  n: int
  amount: decimal
}

event login {
  device: string
}

exempt by customer_id, account_no, n

rule big {
  reason "big"
  code "B-1"
  on transfer
  when amount > 100
  action alert
}

rule very_big {
  reason "very big"
  on transfer
  when amount > 1000
  action hold
}

rule bad_device {
  reason "bad device"
  on login
  when device == "bad"
  action alert
}
"""

T0 = 1_700_000_000_000


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    path = tmp_path / "appeals.rdsl"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def tx(ts: int, amount: str = "5000", customer: str = "C1", account: str = "A1", n: int = 7) -> dict:
    return {"type": "transfer", "ts": ts, "customer_id": customer, "account_no": account, "n": n, "amount": amount}


def test_an_exempted_rule_does_not_fire_and_the_decision_shows_it(ruleset: Path):
    engine = ruledsl.load(ruleset, clock=None)
    assert engine.evaluate(tx(T0)).action == "hold"
    granted = engine.exempt("C1", rule="very_big", until=T0 + 10_000, by="ops", reason="appeal 1")
    assert granted == Exemption(key="C1", rule="very_big", until=T0 + 10_000, since=T0, by="ops", reason="appeal 1")
    d = engine.evaluate(tx(T0 + 1))
    assert (d.action, d.matched, d.hold_id) == ("alert", ["big"], None)  # no hold opened by the exempted rule
    assert d.exemptions == [
        AppliedExemption(
            rule="very_big",
            key="C1",
            field="customer_id",
            exempted="very_big",
            until=T0 + 10_000,
            by="ops",
            reason="appeal 1",
        )
    ]
    assert d.channel_view() == ruledsl.ChannelDecision(action="alert", codes=["B-1"])  # analysts only
    assert len(engine.holds()) == 1  # only the first event's
    # "all" through another field: every rule; the decision passes and still lists them, in declaration order
    engine.exempt(7, rule="all", until=T0 + 5_000)
    d = engine.peek(tx(T0 + 2, customer="C9", account="A9"))
    assert (d.action, d.rules) == ("pass", [])
    assert [(a.rule, a.field, a.exempted) for a in d.exemptions] == [("big", "n", "all"), ("very_big", "n", "all")]
    # the rule's own exemption before "all", the first exempt-by field first
    d = engine.peek(tx(T0 + 3))
    assert [(a.rule, a.field, a.exempted) for a in d.exemptions] == [
        ("big", "n", "all"),
        ("very_big", "customer_id", "very_big"),
    ]
    # other keys, events with no matched rule, and expired exemptions (event time) show nothing
    assert engine.peek(tx(T0 + 4, customer="C2", account="A2", n=1)).exemptions == []
    assert engine.peek(tx(T0 + 4, amount="1")).exemptions == []
    assert engine.evaluate(tx(T0 + 5_000)).matched == ["big"]  # 7/all expired at its until
    assert engine.evaluate(tx(T0 + 10_000)).action == "hold"
    assert engine.exemptions() == []  # expired ones are dropped


def test_bad_calls_raise_and_change_nothing(ruleset: Path, tmp_path: Path):
    engine = ruledsl.load(ruleset, clock=None)
    engine.evaluate(tx(T0))
    with pytest.raises(ExemptionError, match="unknown rule 'bigg': did you mean `big`"):
        engine.exempt("C1", rule="bigg", until=T0 + 1)
    with pytest.raises(ExemptionError, match="a string or an int, not float"):
        engine.exempt(1.5, rule="big", until=T0 + 1)
    with pytest.raises(ExemptionError, match="not after the engine's event time"):
        engine.exempt("C1", rule="big", until=T0)
    with pytest.raises(ExemptionError, match="until must be epoch milliseconds or an ISO 8601 string"):
        engine.exempt("C1", rule="big", until="soon")
    with pytest.raises(ExemptionError, match="no live exemption of key 'C1' from rule 'big'"):
        engine.revoke_exemption("C1", rule="big")
    assert engine.exemptions() == []
    plain = tmp_path / "plain.rdsl"
    plain.write_text(SOURCE.replace("exempt by customer_id, account_no, n\n", ""), encoding="utf-8")
    with pytest.raises(ExemptionError, match="no `exempt by` declaration"):
        ruledsl.load(plain, clock=None).exempt("C1", rule="all", until=T0 + 1)
    strings = tmp_path / "strings.rdsl"
    strings.write_text(SOURCE.replace(", n\n", "\n"), encoding="utf-8")
    with pytest.raises(ExemptionError, match="key 7 is an int, but the `exempt by` fields"):
        ruledsl.load(strings, clock=None).exempt(7, rule="all", until=T0 + 1)


def test_revoke_and_regrant(ruleset: Path):
    engine = ruledsl.load(ruleset, clock=None)
    engine.exempt("A1", rule="all", until=T0 + 100)
    engine.exempt("C1", rule="big", until=T0 + 100)
    engine.exempt("A1", rule="all", until=T0 + 200)  # replaced: listed as granted last
    assert [(e.key, e.until) for e in engine.exemptions()] == [("C1", T0 + 100), ("A1", T0 + 200)]
    assert engine.revoke_exemption("A1", rule="all").until == T0 + 200
    assert engine.evaluate(tx(T0)).matched == ["very_big"]
    assert engine.evaluate(tx(T0 + 1)).exemptions[0].exempted == "big"


def test_grants_and_revocations_are_audited_and_undone_without_their_line(ruleset: Path, tmp_path: Path, monkeypatch):
    log = tmp_path / "audit.jsonl"
    engine = ruledsl.load(ruleset, clock=None, audit_log=log)
    engine.exempt("C1", rule="big", until=T0 + 100, by="ops", reason="appeal 7")
    engine.revoke_exemption("C1", rule="big", by="ops", reason="withdrawn")
    entries = read_entries(log)
    assert [(e.action, e.by, e.reason) for e in entries] == [
        ("exemption.grant", "ops", "appeal 7"),
        ("exemption.revoke", "ops", "withdrawn"),
    ]
    assert entries[0].old is None and entries[0].new["until"] == T0 + 100 and entries[1].new is None
    engine.exempt("A1", rule="all", until=T0 + 100, by="ops")

    def broken(*args, **kwargs):
        raise AuditError("disk full")

    monkeypatch.setattr(engine.audit_log, "append", broken)
    with pytest.raises(AuditError, match="disk full"):
        engine.exempt("C1", rule="big", until=T0 + 100, by="ops")
    with pytest.raises(AuditError, match="disk full"):
        engine.exempt("A1", rule="all", until=T0 + 900, by="ops")
    with pytest.raises(AuditError, match="disk full"):
        engine.revoke_exemption("A1", rule="all", by="ops")
    assert [(e.key, e.rule, e.until) for e in engine.exemptions()] == [("A1", "all", T0 + 100)]
    assert engine.evaluate(tx(T0, customer="C1", account="A0", n=0)).matched == ["very_big", "big"]


def test_snapshots_and_reloads_keep_exemptions(ruleset: Path, tmp_path: Path):
    engine = ruledsl.load(ruleset, clock=None)
    engine.evaluate(tx(T0, amount="1"))
    plain = tmp_path / "plain.snap"
    engine.snapshot(plain)
    assert persistence.decode(plain.read_bytes()).exemptions is None
    # a snapshot without exemptions is what msgspec writes for the Snapshot: the bytes of older snapshots
    assert persistence.encode(persistence.decode(plain.read_bytes())) == plain.read_bytes()
    engine.exempt("C1", rule="very_big", until=T0 + 10_000)
    engine.exempt("A1", rule="big", until=T0 + 1)  # expired before the snapshot
    engine.evaluate(tx(T0 + 1, amount="1"))
    path = tmp_path / "s.snap"
    engine.snapshot(path)
    snap = persistence.decode(path.read_bytes())
    assert [e.key for e in snap.exemptions] == ["C1"]
    assert persistence.encode(snap) == path.read_bytes()
    restored = ruledsl.load(ruleset, clock=None, state=path)
    assert restored.exemptions() == engine.exemptions()
    assert restored.evaluate(tx(T0 + 2)).exemptions[0].rule == "very_big"
    older = msgspec.structs.replace(snap, exemptions=None)  # a snapshot from before exemptions
    (tmp_path / "old.snap").write_bytes(persistence.encode(older))
    assert ruledsl.load(ruleset, clock=None, state=tmp_path / "old.snap").exemptions() == []
    # a reload keeps them; one for a rule the new ruleset lacks is kept but applies to nothing
    ruleset.write_text(SOURCE.replace("rule very_big", "rule huge"), encoding="utf-8")
    restored.reload()
    assert [e.rule for e in restored.exemptions()] == ["very_big"]
    d = restored.evaluate(tx(T0 + 3))
    assert (d.matched, d.exemptions) == (["huge", "big"], [])
    ruleset.write_text(SOURCE, encoding="utf-8")
    restored.reload()
    assert restored.evaluate(tx(T0 + 4)).exemptions[0].rule == "very_big"


def test_the_generated_code_looks_only_where_exempt_by_says(ruleset: Path, tmp_path: Path):
    engine = ruledsl.load(ruleset, clock=None)
    source = engine.compiled.source
    transfer = source[source.index("def ev_transfer") : source.index("def ev_login")]
    login = source[source.index("def ev_login") :]
    assert "_exempt('transfer', hits, ts, (f_customer_id, f_account_no, f_n, ))" in transfer
    assert "_exempt" not in login and "exm" not in login  # login has no exempt-by field
    plain = tmp_path / "plain.rdsl"
    plain.write_text(SOURCE.replace("exempt by customer_id, account_no, n\n", ""), encoding="utf-8")
    assert "exm" not in ruledsl.load(plain, clock=None).compiled.source
