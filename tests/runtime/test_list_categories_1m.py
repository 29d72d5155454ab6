"""A categorised 1,000,000-entry CSV risk list drives different actions by category (issue 11.4).

The list is generated into a temporary directory: each entry has a category (``fraud`` ->
block, ``suspect`` -> hold, ``name_match`` -> alert, ``court_defaulter`` -> no rule), a source
and, for some, an expiry.  The ruleset runs on the generated-Python evaluator.  Load and
update times are printed (``pytest -s``), never asserted: speed is measured by
benchmarks/list_bench.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import ruledsl

N = 1_000_000
CATEGORIES = ("fraud", "suspect", "name_match", "court_defaulter")
SOURCES = ("icbc", "pboc", "police")
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EXPIRES = T0 + 30 * 86_400_000  # every tenth entry expires 30 days later

RULESET = """
ruleset risk_categories { timezone "Asia/Shanghai" }
event transfer { payee_account: string  amount: decimal }
list risk_accounts: string = file("risk_accounts_1m.csv")
rule fraud_account {
  reason "收款账户为涉诈账户"
  on transfer
  when list_category(risk_accounts, payee_account) == "fraud"
  action block
}
rule suspect_account {
  reason "收款账户可疑"
  on transfer
  when list_category(risk_accounts, payee_account) == "suspect"
  action hold
}
rule name_match {
  reason "收款人姓名命中名单"
  on transfer
  when list_category(risk_accounts, payee_account) == "name_match"
  action alert
}
"""


def account(i: int) -> str:
    """The i-th risk account: 19 digits, distinct for every i < 10**15."""
    return f"6222{i * 7919 % 10**15:015d}"


def category(i: int) -> str:
    return CATEGORIES[i % 4]


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("categorised")
    lines = ["value,category,source,expires_at"]
    lines += [f"{account(i)},{category(i)},{SOURCES[i % 3]},{EXPIRES if i % 10 == 0 else ''}" for i in range(N)]
    (root / "risk_accounts_1m.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = root / "risk_categories.rdsl"
    path.write_text(RULESET, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def engine(ruleset):
    start = time.perf_counter()
    engine = ruledsl.load(ruleset, clock=None, compiled="never")
    print(f"\nloaded a {N:,}-entry categorised CSV list (check + engine) in {time.perf_counter() - start:.2f} s")
    return engine


def transfer(payee: str, ts: int = T0) -> dict:
    return {"type": "transfer", "ts": ts, "payee_account": payee, "amount": "100.00"}


EXPECTED = {"fraud": "block", "suspect": "hold", "name_match": "alert", "court_defaulter": "pass"}


@pytest.mark.parametrize("i", [1, 2, 3, 4, 5, 6, 7, 123_457, 499_999, 777_778, N - 2, N - 1])
def test_the_category_decides_the_action(engine, i):
    decision = engine.evaluate(transfer(account(i)))
    assert decision.action == EXPECTED[category(i)]
    if decision.rules:
        assert engine.list_entry("risk_accounts", account(i)).category == category(i)


def test_unlisted_accounts_pass(engine):
    for i in range(N, N + 5):
        assert engine.evaluate(transfer(account(i))).action == "pass"


def test_entries_expire_in_event_time(engine):
    i = 10  # i % 10 == 0: expires 30 days after T0; category suspect (10 % 4 == 2: name_match)
    assert engine.peek(transfer(account(i), EXPIRES - 1)).action == EXPECTED[category(i)]
    assert engine.peek(transfer(account(i), EXPIRES)).action == "pass"
    assert engine.list_entry("risk_accounts", account(i)).expires_at == EXPIRES


def test_incremental_update_of_the_big_list(engine):
    start = time.perf_counter()
    engine.update_list(
        "risk_accounts",
        add=[{"value": account(N + 1), "category": "fraud", "source": "pboc"}],
        remove=[account(1)],
    )
    print(f"\nadd 1 + remove 1 on a {N:,}-entry list: {time.perf_counter() - start:.2f} s")
    assert engine.evaluate(transfer(account(N + 1))).action == "block"
    assert engine.evaluate(transfer(account(1))).action == "pass"
    assert engine.evaluate(transfer(account(5))).action == EXPECTED[category(5)]
