"""``since()`` windows longer than 400 days: the compiled engine and the reference agree.

A ``since()`` window keeps one timestamp per key, so the checker lets its span go
past the 400-day limit of other windows (docs/semantics.md, "Windows").  The
e-channel rulebook's 告警 "长时间不用客户，忽然登录进行大额交易" needs it: the
longest-dormant customers must not read as "no history".  Both evaluators, on both
kernel builds and across a snapshot, must report the same gap for a customer
dormant for more than 400 days.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

import ruledsl
import ruledsl.kernels.state_py
import ruledsl.runtime.engine as engine_module
from ruledsl.check.checker import check
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.syntax.loader import load_program

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"
DAY = 86_400_000
T0 = 1_746_064_800_000  # 2025-05-01T10:00:00+08:00

DORMANT = """
ruleset dormant { timezone "Asia/Shanghai" }

event transfer {
  customer_id: string
  amount: decimal
}

window idle_gap = since() of transfer by customer_id over 36500d

rule dormant_large {
  reason "长时间不用客户忽然进行大额交易"
  code "T-A002"
  on transfer
  when idle_gap >= 180d and amount >= 50000.00
  action alert
}
"""


@contextlib.contextmanager
def kernels(which: str):
    """Build engines on the Cython kernels or on their pure-Python twin."""
    saved = engine_module._state
    if which == "python":
        engine_module._state = ruledsl.kernels.state_py
    try:
        yield
    finally:
        engine_module._state = saved


def transfer(ts: int, amount: str, customer: str = "C1") -> dict:
    return {"type": "transfer", "ts": ts, "customer_id": customer, "amount": amount}


def summary(decision) -> tuple:
    return decision.action, [(r.id, dict(r.features)) for r in decision.rules]


def both(path: Path, which: str):
    with kernels(which):
        engine = ruledsl.load(path, clock=None)  # years of event time replayed: no clock guard
    return engine, ReferenceEngine(check(load_program(path)))


STREAM = [
    transfer(T0, "500.00"),
    transfer(T0 + 3 * DAY, "800.00", customer="C2"),
    transfer(T0 + 1000 * DAY, "60000.00"),  # C1: 1000 days after the previous transaction
    transfer(T0 + 1000 * DAY + 60_000, "60000.00"),  # a minute later: no longer dormant
    transfer(T0 + 1001 * DAY, "60000.00", customer="C2"),  # C2: 998 days
    transfer(T0 + 1002 * DAY, "70000.00", customer="C3"),  # never seen: no gap
]
EXPECTED_GAPS = [None, None, 1000 * DAY, 60_000, 998 * DAY, None]


@pytest.mark.parametrize("which", ["compiled", "python"])
def test_engine_and_reference_agree_on_a_gap_longer_than_400_days(tmp_path, which):
    path = tmp_path / "dormant.rdsl"
    path.write_text(DORMANT, encoding="utf-8")
    engine, ref = both(path, which)
    for event, gap in zip(STREAM, EXPECTED_GAPS, strict=True):
        got, want = engine.evaluate(dict(event)), ref.evaluate(dict(event))
        assert summary(got) == summary(want), event
        fired = [r for r in got.rules if r.id == "dormant_large"]
        if gap is not None and gap >= 180 * DAY:
            assert got.action == "alert" and fired[0].features["idle_gap"] == gap
        else:
            assert got.action == "pass" and not fired


def test_the_gap_survives_a_snapshot(tmp_path):
    path = tmp_path / "dormant.rdsl"
    path.write_text(DORMANT, encoding="utf-8")
    engine = ruledsl.load(path, clock=None)  # years of event time replayed: no clock guard
    engine.evaluate(transfer(T0, "500.00"))
    engine.evaluate(transfer(T0 + 500 * DAY, "100.00", customer="C2"))  # the watermark moves on 500 days
    snap = tmp_path / "state.snap"
    engine.snapshot(snap)
    restored = ruledsl.load(path, state=snap, clock=None)
    decision = restored.evaluate(transfer(T0 + 900 * DAY, "60000.00"))
    assert decision.action == "alert"
    assert decision.rules[0].features["idle_gap"] == 900 * DAY


def test_one_entry_per_key_however_long_the_span():
    """The memory bound docs/semantics.md states: one timestamp per key for in-order events."""
    state = engine_module._state.WindowState("since", 36_500 * DAY, 0)
    for i in range(1000):
        key = f"C{i % 10}"
        state.advance(T0 + i * DAY)
        state.query_add(key, T0 + i * DAY)
    state.advance(T0 + 1000 * DAY)
    assert len(state) == 10
    assert state.entry_count() <= 2 * 10  # at most one dominated entry per key awaits its lazy drop
    assert state.query("C0", T0 + 2000 * DAY) == 2000 * DAY - 990 * DAY


@pytest.mark.parametrize("which", ["compiled", "python"])
def test_shipped_echannel_ruleset_alerts_on_a_customer_dormant_for_500_days(which):
    engine, ref = both(ECHANNEL, which)
    base = {
        "type": "transfer",
        "customer_id": "C1001",
        "account_no": "6222000000001001",
        "channel": "mobile",
        "payee_account": "6222000000009001",
        "same_name": False,
        "city": "广州",
    }
    events = [
        {**base, "ts": T0, "amount": "500.00"},
        {**base, "ts": T0 + 500 * DAY, "amount": "60000.00", "payee_account": "6222000000009901"},
    ]
    for event in events:
        got, want = engine.evaluate(dict(event)), ref.evaluate(dict(event))
        assert summary(got) == summary(want)
    assert "dormant_large" in {r.id for r in got.rules}
    (rule,) = [r for r in got.rules if r.id == "dormant_large"]
    assert rule.features["idle_gap"] == 500 * DAY
