"""The counterparty-screening ruleset with a risk list of a million accounts.

``rulesets/counterparty_screening.rdsl`` reads a small sample list; production points it at
the risk-list export (ICBC's seed: millions of records).  These tests generate a
1,000,000-entry list in a temporary directory, load the ruleset with it — from a file, as
values given to ``ruledsl.load`` and through ``engine.update_list`` — and check hits and
misses.  Load times are printed (``pytest -s``), never asserted: speed is measured by the
benchmarks.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import ruledsl

ROOT = Path(__file__).resolve().parents[2]
RULESETS = ROOT / "rulesets"
RULESET = RULESETS / "counterparty_screening.rdsl"
SAMPLE_REF = 'file("lists/risk_accounts_sample.txt")'

N = 1_000_000
STRIDE = 7919  # coprime with 10**15: i -> i * STRIDE mod 10**15 never repeats


def account(i: int) -> str:
    """The i-th generated risk account: 19 digits, distinct for every i < 10**15."""
    return f"6222{i * STRIDE % 10**15:015d}"


# entries that are on the list, and account numbers that are not
HITS = [account(i) for i in (0, 1, 2, 123_456, 499_999, 777_777, N - 2, N - 1)]
MISSES = [account(i) for i in range(N, N + 5)] + ["6229000000000000001", "6217000000660000002"]

GREY = "6217000000550000002"  # in rulesets/lists/risk_grey_accounts_sample.txt
NAMED = "孙某某"  # in rulesets/lists/risk_names_sample.txt


@pytest.fixture(scope="module")
def entries() -> list[str]:
    return [account(i) for i in range(N)]


@pytest.fixture(scope="module")
def list_file(tmp_path_factory, entries) -> Path:
    path = tmp_path_factory.mktemp("lists") / "risk_accounts_1m.txt"
    header = "# 风险账户名单 (generated for the test: 1,000,000 entries)\n"
    path.write_text(header + "\n".join(entries) + "\n", encoding="utf-8")
    return path


def ruleset_copy(tmp_path: Path, list_path: Path) -> Path:
    """The ruleset, its shared schemas and lists, copied with the risk list pointed at ``list_path``."""
    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS / "common", root / "common")
    shutil.copytree(RULESETS / "lists", root / "lists")
    text = RULESET.read_text(encoding="utf-8")
    assert text.count(SAMPLE_REF) == 1, "the ruleset no longer reads the sample risk list"
    path = root / RULESET.name
    path.write_text(text.replace(SAMPLE_REF, f'file("{list_path.as_posix()}")'), encoding="utf-8")
    return path


def transfer(payee_account: str, payee_name: str = "李明", channel: str = "mobile") -> dict:
    return {
        "type": "transfer",
        "ts": "2026-11-20T09:00:00+08:00",
        "customer_id": "C1",
        "account_no": "6230580000100001",
        "channel": channel,
        "amount": "5000.00",
        "payee_account": payee_account,
        "payee_name": payee_name,
        "same_name": False,
    }


def counter_transfer(payee_account: str) -> dict:
    return {
        "type": "counter_transfer",
        "ts": "2026-11-20T09:00:00+08:00",
        "customer_id": "C1",
        "account_no": "6230580000100001",
        "channel": "counter",
        "amount": "5000.00",
        "payee_account": payee_account,
    }


def assert_screens(engine: ruledsl.Engine, hits: list[str], misses: list[str]) -> None:
    for acct in hits:
        d = engine.evaluate(transfer(acct))
        assert (d.action, d.matched) == ("block", ["risk_payee_account"]), acct
        assert d.channel_view().codes == ["CS-B01"]
        assert engine.evaluate(counter_transfer(acct)).action == "block", acct
    for acct in misses:
        d = engine.evaluate(transfer(acct))
        assert (d.action, d.matched) == ("pass", []), acct


def test_million_entry_list_file(tmp_path, list_file, capsys):
    path = ruleset_copy(tmp_path, list_file)
    t0 = time.perf_counter()
    engine = ruledsl.load(path)
    elapsed = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nload counterparty_screening with a {N:,}-entry list file: {elapsed:.2f} s")

    assert_screens(engine, HITS, MISSES)
    # the other lists still come from their sample files
    assert engine.evaluate(transfer(GREY)).action == "hold"
    d = engine.evaluate(transfer("6229000000000000001", payee_name=NAMED, channel="atm"))
    assert (d.action, d.matched) == ("alert", ["risk_payee_name"])


def test_million_entries_given_as_values(entries, capsys):
    t0 = time.perf_counter()
    engine = ruledsl.load(RULESET, lists={"risk_accounts": entries})
    elapsed = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nload counterparty_screening with {N:,} list values: {elapsed:.2f} s")

    # the sample file's entries are replaced, not added to
    assert_screens(engine, HITS, MISSES)


def test_million_entry_refresh_while_running(entries, capsys):
    engine = ruledsl.load(RULESET)
    sample_hit = "6217000000660000002"
    assert engine.evaluate(transfer(sample_hit)).action == "block"
    assert engine.evaluate(transfer(HITS[0])).action == "pass"

    t0 = time.perf_counter()
    engine.update_list("risk_accounts", entries)  # the nightly refresh
    elapsed = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nupdate_list with {N:,} entries: {elapsed:.2f} s")

    assert_screens(engine, HITS, MISSES)  # MISSES include the old sample entry
