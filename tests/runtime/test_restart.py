"""A restart keeps a decision's life (issue 11, "done when"): snapshot + restore keeps open holds,
controls, exemptions, parameters and lists, and the restarted engine decides the rest of the
stream exactly as an engine that never stopped.  Run on the shipped account-opening ruleset (a
control set by the opening level, an appeal exemption, a run-time parameter and a categorised
list entry) and the e-channel ruleset (holds that expire into blocks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ruledsl
from ruledsl.runtime import audit

ROOT = Path(__file__).resolve().parents[2]
OPENING = ROOT / "rulesets" / "account_opening_scorecard.rdsl"
SCREENING = ROOT / "rulesets" / "counterparty_screening.rdsl"
DAY = 86_400_000
T0 = 1_795_140_000_000  # 2026-11-21 08:00 +08:00

HIGH_RISK_OPENING = {
    "type": "account_open",
    "customer_id": "C5001",
    "id_no": "441422200503030018",
    "id_type": "resident_id",
    "nationality": "CHN",
    "age": 19,
    "channel": "counter",
    "account_class": "I",
    "occupation": "unemployed",
    "industry": "none",
    "purpose": "other",
    "monthly_income": "0.00",
    "expected_monthly_amount": "8000.00",
    "local_household": True,
    "phone": "13555556666",
    "phone_owner_match": True,
    "phone_tenure_days": 2400,
    "accounts_elsewhere": 0,
    "apply_high_limit": True,
    "accompanied": True,
    "evasive_answers": True,
}


def transfer(customer: str, ts: int, amount: str = "200.00", payee: str = "6222020200112233") -> dict[str, Any]:
    """A mobile-banking transfer to another name."""
    return {
        "type": "transfer",
        "ts": ts,
        "customer_id": customer,
        "account_no": "6230580000" + customer[-4:].rjust(6, "0"),
        "channel": "mobile",
        "amount": amount,
        "payee_account": payee,
        "same_name": False,
    }


def opening_history() -> list[dict[str, Any]]:
    """A high-risk opening (control), then transfers of two customers."""
    events = [dict(HIGH_RISK_OPENING, ts=T0)]
    events.append(dict(HIGH_RISK_OPENING, ts=T0 + 60_000, customer_id="C6001", id_no="440102199001010011"))
    events += [transfer("C5001", T0 + DAY + i * 60_000) for i in range(3)]
    return events


def opening_future() -> list[dict[str, Any]]:
    """Later traffic whose decisions depend on the controls, the exemption and the parameter."""
    out = []
    for i in range(6):
        out.append(transfer("C5001", T0 + 2 * DAY + i * 3_600_000))
        out.append(transfer("C6001", T0 + 2 * DAY + i * 3_600_000 + 1))
    out.append(transfer("C5001", T0 + 40 * DAY))  # the exemption expired (30 days): blocked again
    out.append(transfer("C5001", T0 + 91 * DAY))  # the control expired (90 days): passes
    return out


def administer(engine: ruledsl.Engine) -> None:
    """What operators do at run time: an appeal exemption, a lifted control, a parameter."""
    engine.exempt("C5001", rule="restricted_noncounter_transfer", until=T0 + 30 * DAY, by="appeals", reason="申诉成立")
    engine.set_param("restricted_daily_limit", "8000.00", by="risk-office", reason="季度调整")
    engine.set_control("C7001", "restricted_daily_5000", until=T0 + 10 * DAY, by="counter", reason="柜面核实")


def summary(engine: ruledsl.Engine) -> dict[str, Any]:
    """Everything a restart must keep, comparable across engines."""
    return {
        "controls": [(c.key, c.kind, c.until, c.rule) for c in engine.controls()],
        "exemptions": [(e.key, e.rule, e.until, e.reason) for e in engine.exemptions()],
        "holds": sorted((h.hold_id, h.hold_expires_at) for h in engine.holds()),
        "param": engine.get_param("restricted_daily_limit"),
    }


def decisions(engine: ruledsl.Engine, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The parts of each decision a restart could change."""
    out = []
    for ev in events:
        d = engine.evaluate(ev)
        out.append(
            (
                d.action,
                tuple(d.matched),
                tuple((c.key, c.kind) for c in d.controls),
                tuple((x.key, x.rule) for x in d.exemptions),
                d.hold_id,
            )
        )
    return out


def test_restart_keeps_controls_exemptions_params_and_holds(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    uninterrupted = ruledsl.load(OPENING, clock=None, compiled="never")
    first = ruledsl.load(OPENING, clock=None, compiled="never", audit_log=log)
    for engine in (uninterrupted, first):
        decisions(engine, opening_history())
        administer(engine)
    before = summary(first)
    # the state worth keeping is really there: the level's controls, the hand-set one, the exemption
    assert {(k, kind) for k, kind, _u, _r in before["controls"]} == {
        ("C5001", "restricted_noncounter"),
        ("C6001", "restricted_noncounter"),
        ("C7001", "restricted_daily_5000"),
    }
    assert [e[:2] for e in before["exemptions"]] == [("C5001", "restricted_noncounter_transfer")]
    assert before["holds"], "the high-risk openings opened holds"
    snap = tmp_path / "engine.snap"
    first.snapshot(snap)

    restarted = ruledsl.load(OPENING, clock=None, compiled="never", state=snap, audit_log=log)
    assert summary(restarted) == before == summary(uninterrupted)
    assert decisions(restarted, opening_future()) == decisions(uninterrupted, opening_future())
    # the future really exercised them: exempted, then blocked again, then free
    replay = ruledsl.load(OPENING, clock=None, compiled="never", state=snap)
    got = decisions(replay, opening_future())
    assert got[0][0] == "pass" and got[0][3] == (("C5001", "restricted_noncounter_transfer"),)
    assert got[1][0] == "block" and "restricted_noncounter_transfer" in got[1][1]
    assert got[-2][0] == "block" and got[-2][3] == ()
    assert got[-1][0] == "pass"
    assert audit.verify(log).ok


def test_restart_keeps_open_holds_and_expires_them_into_blocks(tmp_path: Path) -> None:
    uninterrupted = ruledsl.load(OPENING, clock=None, compiled="never")
    first = ruledsl.load(OPENING, clock=None, compiled="never")
    for engine in (uninterrupted, first):
        decisions(engine, opening_history())
    open_before = first.holds()
    assert len(open_before) == 2
    snap = tmp_path / "holds.snap"
    first.snapshot(snap)
    restarted = ruledsl.load(OPENING, clock=None, compiled="never", state=snap)
    assert [h.hold_id for h in restarted.holds()] == [h.hold_id for h in open_before]
    released = restarted.confirm_hold(open_before[0].hold_id, "release", by="callback", reason="客户本人确认")
    assert (released.outcome, released.action) == ("released", "pass")
    expired = restarted.expire_due(T0 + 2 * DAY)
    assert [(o.hold_id, o.outcome, o.action) for o in expired] == [(open_before[1].hold_id, "expired", "block")]
    assert restarted.holds() == []
    # the uninterrupted engine does the same
    uninterrupted.confirm_hold(open_before[0].hold_id, "release", by="callback", reason="客户本人确认")
    assert [(o.hold_id, o.outcome) for o in uninterrupted.expire_due(T0 + 2 * DAY)] == [
        (o.hold_id, o.outcome) for o in expired
    ]


@pytest.mark.parametrize("replace", [False, True])
def test_restart_keeps_list_changes_with_their_categories(tmp_path: Path, replace: bool) -> None:
    first = ruledsl.load(SCREENING, clock=None, compiled="never")
    if replace:
        first.update_list(
            "shared_risk_records",
            [{"value": "6222020200112233", "category": "suspect", "source": "pboc_share", "expires_at": T0 + DAY}],
        )
    else:
        first.update_list(
            "shared_risk_records",
            add=[{"value": "6222020200112233", "category": "fraud_account", "source": "police"}],
            remove=["6217000000770000001"],
        )
    snap = tmp_path / "lists.snap"
    first.snapshot(snap)
    restarted = ruledsl.load(SCREENING, clock=None, compiled="never", state=snap)
    assert restarted.list_entry("shared_risk_records", "6222020200112233") == first.list_entry(
        "shared_risk_records", "6222020200112233"
    )
    ev = {
        "type": "transfer",
        "ts": T0,
        "customer_id": "C1",
        "account_no": "6230580000100001",
        "channel": "mobile",
        "amount": "5000.00",
        "payee_account": "6222020200112233",
        "same_name": False,
    }
    removed = dict(ev, payee_account="6217000000770000001")
    later = dict(ev, ts=T0 + DAY)
    for engine in (first, restarted):
        assert engine.evaluate(ev).action == ("hold" if replace else "block")
        assert engine.evaluate(removed).action == "pass"
        # a replaced entry expires in event time; an added one without expiry does not
        assert engine.evaluate(later).action == ("pass" if replace else "block")
