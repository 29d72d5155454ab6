"""The traffic generator: determinism, schema conformance, labels, and what the
e-channel rules make of it (the share of injected scenarios caught and the
alert rate on normal traffic, with bounds measured on seeds 1-6); then the
other event families (``profile="all"``): the e-channel traffic left unchanged,
every ruleset's schemas, the ledger's balances, and every ruleset catching its
own scenarios with few alerts on normal traffic."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from pathlib import Path

import msgspec
import pytest

import ruledsl
from ruledsl.cli.run import load_ruleset, replay
from ruledsl.sim import EVENT_TYPES, SCENARIOS, generate, iso_ts, main, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"
AMOUNT = re.compile(r"^\d+\.\d{2}$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
CHANNELS = {"mobile", "web", "corporate", "third_party", "atm", "pos"}


def ts_ms(value) -> int:
    if isinstance(value, int):
        return value
    return int(dt.datetime.fromisoformat(value).timestamp() * 1000)


@pytest.fixture(scope="module")
def small():
    """~6,000 events: 300 customers, 3 days after 2 warm-up days, 24 scenarios."""
    return list(generate(300, 3, seed=11, fraud_rate=0.08, warmup_days=2))


def test_same_seed_same_stream_other_seed_other_stream():
    a = list(generate(120, 2, seed=3, fraud_rate=0.05))
    b = list(generate(120, 2, seed=3, fraud_rate=0.05))
    c = list(generate(120, 2, seed=4, fraud_rate=0.05))
    assert a == b
    assert msgspec.json.encode(a) == msgspec.json.encode(b)
    assert a != c


def test_events_are_in_event_time_order(small):
    times = [ts_ms(e["ts"]) for e in small]
    assert times == sorted(times)


def test_every_event_fits_the_echannel_schemas(small):
    engine = ruledsl.load(ECHANNEL)
    for event in small:
        engine.evaluate(event)  # raises EventError on a missing field, a wrong type, an unknown type
    assert engine.stats()["events"] == len(small)


def test_types_channels_and_value_formats(small):
    types = Counter(e["type"] for e in small)
    assert set(types) == set(EVENT_TYPES)
    assert {e["channel"] for e in small if "channel" in e} == CHANNELS
    for e in small:
        assert isinstance(e["ts"], int) or ISO.match(e["ts"]), e
        if "amount" in e:
            assert isinstance(e["amount"], str) and AMOUNT.match(e["amount"]), e
    # card events from ATM/POS front ends carry epoch ms, the rest ISO text
    assert any(isinstance(e["ts"], int) for e in small) and any(isinstance(e["ts"], str) for e in small)


def test_ts_formats_iso_and_epoch():
    iso = list(generate(50, 1, seed=1, fraud_rate=0, ts_format="iso"))
    epoch = list(generate(50, 1, seed=1, fraud_rate=0, ts_format="epoch"))
    assert all(isinstance(e["ts"], str) for e in iso)
    assert all(isinstance(e["ts"], int) for e in epoch)
    assert [ts_ms(e["ts"]) for e in iso] == [e["ts"] for e in epoch]
    assert iso_ts(0) == "1970-01-01T08:00:00+08:00"


def test_every_scenario_type_is_labelled(small):
    labelled = [e for e in small if "label" in e]
    assert {e["label"] for e in labelled} == set(SCENARIOS)
    for e in labelled:
        assert e["scenario_id"].startswith(e["label"] + "-")
        assert "warmup" not in e
    per_type = Counter(label for label in {(e["scenario_id"], e["label"]) for e in labelled})
    assert sum(per_type.values()) == 24  # round(0.08 * 300), types taking turns


def test_every_type_appears_even_at_a_low_rate():
    labels = {e.get("label") for e in generate(100, 2, seed=2, fraud_rate=0.001)}
    assert set(SCENARIOS) <= labels


def test_no_fraud_no_labels_and_scenario_selection():
    assert not any("label" in e for e in generate(100, 2, seed=2, fraud_rate=0))
    only = {e.get("label") for e in generate(100, 2, seed=2, fraud_rate=0.05, scenarios=["mule_account"])}
    assert only == {None, "mule_account"}
    with pytest.raises(ValueError, match="unknown scenario"):
        generate(10, 1, scenarios=["bank_robbery"])


def test_warmup_events_come_first_and_are_marked(small):
    start = ts_ms("2026-11-16T00:00:00+08:00")
    for e in small:
        assert bool(e.get("warmup")) == (ts_ms(e["ts"]) < start), e
    assert sum(1 for e in small if e.get("warmup")) > 1000


def test_customers_have_habits():
    events = [e for e in generate(200, 5, seed=9, fraud_rate=0) if not e.get("warmup")]
    cities: dict[str, Counter] = {}
    devices: dict[str, set] = {}
    for e in events:
        if e["type"] == "login":
            if "city" in e:
                cities.setdefault(e["customer_id"], Counter())[e["city"]] += 1
            if e["trusted_device"]:
                devices.setdefault(e["customer_id"], set()).add(e["device_id"])
    # most log-ins come from the customer's home city and one or two trusted devices
    home_share = sum(c.most_common(1)[0][1] for c in cities.values()) / sum(sum(c.values()) for c in cities.values())
    assert home_share > 0.9
    assert max(len(d) for d in devices.values()) <= 2
    untrusted = sum(1 for e in events if e["type"] == "login" and not e["trusted_device"])
    assert untrusted / sum(1 for e in events if e["type"] == "login") < 0.01


def test_scenario_shapes(small):
    by_id: dict[str, list] = {}
    for e in small:
        if "scenario_id" in e:
            by_id.setdefault(e["scenario_id"], []).append(e)
    for events in by_id.values():
        kind = events[0]["label"]
        types = [e["type"] for e in events]
        if kind == "account_takeover":
            assert types[0] == "login" and events[0]["trusted_device"] is False
            assert "payee_add" in types and types[-1] == "transfer"
        elif kind == "card_cashout_atms":
            cash = [e for e in events if e["type"] == "cash_withdrawal"]
            assert len({e["card_no"] for e in cash}) == 1 and len({e["atm_id"] for e in cash}) >= 2
        elif kind == "mule_account":
            assert len({e["customer_id"] for e in events}) >= 3  # payers in, the mule(s) out
        elif kind == "gambling_flow":
            assert all(e["amount"].endswith("000.00") for e in events if "amount" in e)
        elif kind == "induced_transfer_chain":
            login = events[0]
            assert login["type"] == "login" and login["trusted_device"] is True
        elif kind == "dormant_reactivation":
            assert sum(1 for t in types if t == "transfer") >= 1


def test_command_line_writes_json_lines(tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    assert main(["--customers", "80", "--days", "2", "--seed", "5", "--out", str(out)]) == 0
    lines = out.read_bytes().splitlines()
    events = [msgspec.json.decode(line) for line in lines]
    assert events == list(generate(80, 2, seed=5, fraud_rate=0.01))
    err = capsys.readouterr().err
    assert f"{len(events)} events" in err and "scenarios" in err


def test_command_line_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--scenarios", "nope"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--start", "16/11/2026"])


def test_echannel_rules_catch_most_scenarios_and_flag_few_normal_events():
    # 400 customers, 4 days after 14 warm-up days (baselines need history), 40 scenarios.
    # Measured on seeds 1-6: 34-39 of 40 scenarios caught, 110-195 alerts per 10,000 normal events.
    encode = msgspec.json.Encoder().encode
    lines = [encode(e) for e in generate(400, 4, seed=1, fraud_rate=0.1, warmup_days=14)]
    report = replay([load_ruleset(ECHANNEL)], lines)
    stats = report.stats[0]
    assert stats.rejected == 0 and report.malformed == 0
    summary = stats.to_dict(top=10)["labelled"]
    assert summary["scenarios"] == 40
    assert summary["share_caught"] >= 0.75
    assert summary["normal_alerts_per_10k"] <= 300  # at most 3% of normal events
    by_type = {r["scenario"]: r["share_caught"] for r in summary["by_scenario"]}
    assert set(by_type) == set(SCENARIOS)
    for kind in ("account_takeover", "induced_transfer_chain", "mule_account", "gambling_flow"):
        assert by_type[kind] >= 0.8, (kind, by_type)
    assert by_type["card_cashout_atms"] >= 0.3 and by_type["dormant_reactivation"] >= 0.5, by_type


# ---------------------------------------------------------------- the other event families (--profile)

from ruledsl.sim import (  # noqa: E402
    ALL_EVENT_TYPES,
    ALL_SCENARIOS,
    FAMILIES,
    FAMILY_EVENT_TYPES,
    FAMILY_SCENARIOS,
    TARGET_RULESET,
    families_of,
)

RULESETS = sorted(p for p in (ROOT / "rulesets").glob("*.rdsl"))
RULESET_NAMES = (
    "account_opening_scorecard",
    "chain_defense",
    "counterparty_screening",
    "echannel_monitoring",
    "gambling_fraud_t1",
)


@pytest.fixture(scope="module")
def mixed():
    """~18,000 events of every family: 300 customers, 3 days after 7 warm-up days, 15 scenarios per family."""
    return list(generate(300, 3, seed=1, fraud_rate=0.05, warmup_days=7, profile="all"))


def test_profiles_and_families():
    assert families_of("echannel") == ("echannel",)
    assert families_of("all") == FAMILIES
    assert families_of("posting, opening") == ("echannel", "opening", "posting")
    assert families_of(["retail"]) == ("echannel", "retail")
    with pytest.raises(ValueError, match="unknown profile"):
        families_of("atm_only")
    with pytest.raises(ValueError, match="not in the profile"):
        generate(10, 1, scenarios=["fraud_account"])  # the posting family is not in the echannel profile
    with pytest.raises(ValueError, match="unknown scenario"):
        generate(10, 1, profile="all", scenarios=["bank_robbery"])
    assert set(TARGET_RULESET) == set(ALL_SCENARIOS)
    assert set(TARGET_RULESET.values()) == set(RULESET_NAMES)


def test_mixed_stream_is_ordered_deterministic_and_has_every_type_and_scenario(mixed):
    times = [ts_ms(e["ts"]) for e in mixed]
    assert times == sorted(times)
    assert {e["type"] for e in mixed} == set(ALL_EVENT_TYPES)
    labelled = {(e["scenario_id"], e["label"]) for e in mixed if "label" in e}
    assert {label for _sid, label in labelled} == set(ALL_SCENARIOS)
    per_family = Counter(f for _sid, label in labelled for f in FAMILIES if label in FAMILY_SCENARIOS[f])
    assert per_family == dict.fromkeys(FAMILIES, 15)  # round(0.05 * 300) per family
    assert not any(e.get("warmup") for e in mixed if "label" in e)
    again = list(generate(300, 3, seed=1, fraud_rate=0.05, warmup_days=7, profile="all"))
    assert msgspec.json.encode(again) == msgspec.json.encode(mixed)


@pytest.mark.parametrize("profile", ["all", "retail", "posting,counter"])
def test_other_families_leave_the_echannel_traffic_unchanged(profile):
    base = list(generate(150, 2, seed=5, fraud_rate=0.05, warmup_days=1))
    more = list(generate(150, 2, seed=5, fraud_rate=0.05, warmup_days=1, profile=profile))
    kept = [e for e in more if e["type"] in EVENT_TYPES and e.get("label") in (None, *SCENARIOS)]
    assert kept == base
    assert len(more) > len(base)


def test_every_event_fits_every_ruleset_that_declares_its_type(mixed):
    for path in RULESETS:
        engine = ruledsl.load(path)
        known = set(engine.compiled.event_types)
        n = 0
        for event in mixed:
            if event["type"] in known:
                engine.evaluate(event)  # raises EventError on a missing field, a wrong type
                n += 1
        assert n > 0, path.name


def test_epoch_timestamps_in_every_family():
    events = list(generate(60, 1, seed=2, fraud_rate=0.1, warmup_days=1, profile="all", ts_format="epoch"))
    assert all(isinstance(e["ts"], int) for e in events)
    txns = [e for e in events if e["type"] == "account_txn"]
    assert txns and all(isinstance(e["opened_at"], int) for e in txns)
    assert any(isinstance(e.get("last_active_at"), int) for e in txns)
    engine = ruledsl.load(ROOT / "rulesets" / "gambling_fraud_t1.rdsl")
    for e in txns:
        engine.evaluate(e)


def test_ledger_balances_add_up_and_money_moves_are_posted(mixed):
    balance: dict[str, int] = {}
    last_ts: dict[str, int] = {}
    for e in mixed:
        if e["type"] != "account_txn":
            continue
        amount = int(e["amount"].replace(".", ""))
        after = int(e["balance_after"].replace(".", ""))
        assert amount > 0 and after >= 0, e
        acct = e["account_no"]
        if acct in balance:
            assert after == balance[acct] + (amount if e["direction"] == "in" else -amount), e
        balance[acct] = after
        ts = ts_ms(e["ts"])
        if "last_active_at" in e:  # the last posting before the (local) day
            day_start = ts - (ts + 8 * 3_600_000) % 86_400_000
            assert ts_ms(e["last_active_at"]) < day_start, e
            if acct in last_ts and last_ts[acct] < day_start:
                assert ts_ms(e["last_active_at"]) == last_ts[acct], e
        last_ts[acct] = ts
    # every money-moving e-channel event of a personal account is posted at the same second
    posted = Counter(
        (e["account_no"], e["amount"], ts_ms(e["ts"]))
        for e in mixed
        if e["type"] == "account_txn" and e["direction"] == "out"
    )
    corporate = {e["customer_id"] for e in mixed if e.get("channel") == "corporate"}
    moves = [
        e
        for e in mixed
        if e["type"] in ("transfer", "counter_transfer", "dcep_topup") and e["customer_id"] not in corporate
    ]
    assert moves
    for e in moves:
        assert posted[(e["account_no"], e["amount"], ts_ms(e["ts"]))] >= 1, e


def test_other_family_scenario_shapes(mixed):
    by_id: dict[str, list] = {}
    for e in mixed:
        if "scenario_id" in e:
            by_id.setdefault(e["scenario_id"], []).append(e)
    for sid, events in by_id.items():
        kind = events[0]["label"]
        types = {e["type"] for e in events}
        if kind == "risky_account_open":
            assert types == {"account_open"}
        elif kind in ("gambling_account", "fraud_account"):
            assert "account_txn" in types and any(e["type"] == "transfer" for e in events), sid
            assert "out" in {e["direction"] for e in events if e["type"] == "account_txn"}, sid
        elif kind == "induced_loan_chain":
            assert {"loan_application", "transfer"} <= types, sid
        elif kind == "reset_takeover":
            assert events[0]["type"] == "password_reset" and "transfer" in types, sid
            assert any(e["type"] == "login" and not e["trusted_device"] for e in events), sid
        elif kind == "remote_dcep":
            assert "dcep_topup" in types and all(not e["own_wallet"] for e in events if e["type"] == "dcep_topup")
        elif kind == "risk_list_counterparty":
            assert types & {"transfer", "counter_transfer"}, sid


def test_command_line_profile(tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    assert main(["--customers", "40", "--days", "1", "--seed", "5", "--profile", "all", "--out", str(out)]) == 0
    events = [msgspec.json.decode(line) for line in out.read_bytes().splitlines()]
    assert events == list(generate(40, 1, seed=5, fraud_rate=0.01, profile="all"))
    assert "risky_account_open" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--profile", "nope"])


@pytest.fixture(scope="module")
def mixed_summary(mixed):
    """Every ruleset over the mixed stream, each skipping the types it does not declare (like the demo)."""
    from ruledsl.cli.demo import summary_rows

    encode = msgspec.json.Encoder().encode
    report = replay([load_ruleset(p) for p in RULESETS], [encode(e) for e in mixed], skip_unknown_types=True)
    types: dict[str, set] = {}
    for e in mixed:
        if "scenario_id" in e:
            types.setdefault(e["scenario_id"], set()).add(e["type"])
    assert report.malformed == 0 and not report.rejected_any
    return {row["ruleset"]: row for row in summary_rows(report, types)}


# Measured on this stream's shape (300 customers, 3 days, 7 warm-up days, 15 scenarios per
# family) over seeds 1-6: own scenarios caught, and normal alerts per 10,000 normal events of
# the types each ruleset's rules are on (max over the seeds).
#   account_opening_scorecard  12-15 of 15   0-370  (only 20-33 normal applications in 3 days)
#   chain_defense              11-13 of 15   0-44
#   counterparty_screening     10-15 of 15   0
#   echannel_monitoring        12-15 of 15   184-264
#   gambling_fraud_t1          12-14 of 15   223-623 (GF-01/05 on small shops, GF-15 on remarks
#                                                     such as 话费充值 / 零钱提现, GF-11)
NORMAL_ALERT_BOUND = {
    "account_opening_scorecard": 1500,
    "chain_defense": 150,
    "counterparty_screening": 10,
    "echannel_monitoring": 400,
    "gambling_fraud_t1": 1000,
}


@pytest.mark.parametrize("name", RULESET_NAMES)
def test_each_ruleset_catches_its_own_scenarios_and_flags_few_normal_events(mixed_summary, name):
    row = mixed_summary[name]
    own = {k for k, v in TARGET_RULESET.items() if v == name}
    assert set(row["own_by_type"]) == own
    assert row["own_scenarios"] == 15
    assert row["own_caught"] >= 1 and row["own_caught"] >= 0.5 * row["own_scenarios"], row
    assert row["rule_type_normal_events"] > 0
    assert row["rule_type_normal_alerts_per_10k"] <= NORMAL_ALERT_BOUND[name], row
    assert row["events"] > 0 and row["skipped"] > 0  # every ruleset sees only part of the stream


def test_skip_unknown_types_on_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from ruledsl.cli.app import app

    path = tmp_path / "events.jsonl"
    with open(path, "wb") as f:
        write_jsonl(generate(40, 1, seed=3, fraud_rate=0.1, profile="all"), f)
    # a ruleset of account events only (the account-opening one also reads e-channel transfers)
    scorecard = ROOT / "rulesets" / "gambling_fraud_t1.rdsl"
    runner = CliRunner()
    rejected = runner.invoke(app, ["run", str(scorecard), "--events", str(path), "--format", "json", "-q"])
    assert rejected.exit_code == 1 and "unknown event type 'login'" in rejected.stderr
    result = runner.invoke(
        app, ["run", str(scorecard), "--events", str(path), "--format", "json", "--skip-unknown-types"]
    )
    assert result.exit_code == 0, result.output
    import json

    rs = json.loads(result.stdout)["rulesets"][0]
    assert rs["rejected"] == 0 and rs["skipped"] > 0 and "login" in rs["skipped_types"]
    types = Counter(msgspec.json.decode(line)["type"] for line in path.read_bytes().splitlines())
    declared = FAMILY_EVENT_TYPES["opening"] + FAMILY_EVENT_TYPES["posting"] + FAMILY_EVENT_TYPES["counter"]
    assert rs["events"] + rs["warmup_events"] == sum(n for t, n in types.items() if t in declared)
    assert rs["by_event_type"]["account_open"]["events"] == types["account_open"]
    text = runner.invoke(app, ["run", str(scorecard), "--events", str(path), "--skip-unknown-types"]).stdout
    assert "of types it does not declare" in text


def test_demo_summary_covers_every_ruleset():
    from rich.console import Console

    from ruledsl.cli import demo

    console = Console(width=240, record=True)
    status = demo.run_generated(ROOT / "rulesets", console, customers=80, days=1, warmup_days=1, fraud_rate=0.1)
    text = console.export_text()
    assert status == 0, text
    assert "--profile all" in text and "--skip-unknown-types" in text
    assert "its own scenarios caught" in text
    for name in RULESET_NAMES:
        assert name in text


# ---------------------------------------------------------------- the package: python -m, the sample lists


def test_python_dash_m_ruledsl_sim_writes_the_generated_stream():
    import subprocess
    import sys

    args = [sys.executable, "-W", "error", "-m", "ruledsl.sim", "--customers", "30", "--days", "1", "--seed", "4"]
    done = subprocess.run(args, capture_output=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    buf = io.BytesIO()
    n = write_jsonl(generate(30, 1, seed=4), buf)
    assert done.stdout == buf.getvalue() and n > 0
    assert f"{n} events" in done.stderr.decode()
    usage = subprocess.run([*args[:5], "--help"], capture_output=True, cwd=ROOT, timeout=120, check=False)
    assert usage.returncode == 0 and usage.stdout.decode().startswith("usage: python -m ruledsl.sim ")


def test_scenarios_pay_counterparties_from_the_sample_lists():
    lines = (ROOT / "rulesets" / "lists" / "risk_accounts_sample.txt").read_text(encoding="utf-8").splitlines()
    listed = {s.strip() for s in lines if s.strip() and not s.startswith("#")}
    events = list(generate(200, 3, seed=8, fraud_rate=0.1, profile="counter", scenarios=["risk_list_counterparty"]))
    paid = {
        e["payee_account"]
        for e in events
        if e.get("label") == "risk_list_counterparty" and e["type"] in ("transfer", "counter_transfer")
    }
    assert paid & listed, "no scenario paid an account of rulesets/lists/risk_accounts_sample.txt"
    assert paid - listed  # and some pay an account no list knows yet
