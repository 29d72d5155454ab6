"""``ruledsl bench``: the JSON's fields, cost shares, --compare and --max-p99 (no timed assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl.check.checker import check_files
from ruledsl.cli.app import app
from ruledsl.cli.bench import BENCH_FORMAT, compare_runs, parse_percent, parse_time_us
from ruledsl.cli.bench_shares import without

RULESET = """\
ruleset small { version "1" }
event transfer { customer_id: string  amount: int }
event login { customer_id: string }
window n_1h = count() of transfer by customer_id over 1h
window logins_1d = count() of login by customer_id over 1d
scorecard risk {
  on transfer
  item "many logins" when logins_1d > 2 score 50
  level high >= 40
}
rule many_transfers { reason "a" on transfer when n_1h > 3 action alert }
rule big { reason "b" on transfer when amount > 900 action hold }
rule risky { reason "c" on transfer when risk >= 50 action alert }
"""


@pytest.fixture()
def files(tmp_path):
    rs = tmp_path / "small.rdsl"
    rs.write_text(RULESET, encoding="utf-8")
    events = []
    for i in range(150):
        ts = 1_700_000_000_000 + i * 10_000
        events.append({"type": "transfer", "ts": ts, "customer_id": f"c{i % 7}", "amount": (i * 37) % 1000})
        if i % 3 == 0:
            events.append({"type": "login", "ts": ts, "customer_id": f"c{i % 5}"})
    events.append({"type": "payment", "ts": 1_700_000_000_000, "customer_id": "c1"})  # not a type of the ruleset
    ev = tmp_path / "events.jsonl"
    ev.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    return rs, ev, tmp_path


def _bench(*args: str):
    return CliRunner().invoke(app, ["bench", *args])


def test_bench_json_fields(files):
    rs, ev, tmp = files
    out = tmp / "out.json"
    res = _bench(str(rs), "--events", str(ev), "--passes", "1", "--json", str(out))
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["format"] == BENCH_FORMAT and report["evaluator"] == "python"
    assert report["gc"].startswith("on") and report["calibration_ns"] > 0
    (r,) = report["rulesets"]
    assert r["events"] == 200 and r["skipped_events"] == 1
    for key in ("events_per_s", "mean_us", "p50_us", "p99_us", "p99.9_us", "max_us"):
        assert r[key] > 0
    assert r["p50_us"] <= r["p99_us"] <= r["p99.9_us"] <= r["max_us"]
    assert set(r["normalised"]) == {"cost_per_event", "p50", "p99", "p99.9"}
    # memory: the two windows' keys after the replay (7 customers, 5 who logged in)
    assert r["memory"]["active_keys"] == 12 and r["memory"]["bytes"] > 0
    assert r["memory"]["bytes_per_active_key"] == pytest.approx(r["memory"]["bytes"] / 12)
    shares = {(s["kind"], s["name"]): s for s in r["shares"]}
    assert set(shares) == {
        ("rule", "many_transfers"),
        ("rule", "big"),
        ("rule", "risky"),
        ("window", "n_1h"),
        ("window", "logins_1d"),
    }
    # a window goes with what reads it: the scorecard, then the rule reading the scorecard
    assert shares[("window", "logins_1d")]["removed"] == ["risk", "risky"]
    assert shares[("window", "n_1h")]["removed"] == ["many_transfers"]
    for s in r["shares"]:
        assert s["share"] is not None and 0 <= s["share"] <= 1
    for text in ("events/s", "cost share", "many_transfers", "calibration"):
        assert text in res.output


def _report(rs: Path, cost: float, p99: float, bytes_per_key: float) -> dict:
    return {
        "format": BENCH_FORMAT,
        "rulesets": [
            {
                "ruleset": str(rs),
                "normalised": {"cost_per_event": cost, "p50": cost, "p99": p99, "p99.9": p99},
                "memory": {"bytes_per_active_key": bytes_per_key},
            }
        ],
    }


def test_compare_with_a_base_detects_a_regression(files):
    rs, ev, tmp = files
    base = tmp / "base.json"
    # a base 1000 times faster and smaller than anything real: every figure regressed
    base.write_text(json.dumps(_report(rs, 1e-3, 1e-3, 1e-3)), encoding="utf-8")
    res = _bench(str(rs), "--events", str(ev), "--passes", "1", "--no-shares", "--compare", str(base))
    assert res.exit_code == 1
    assert "cost_per_event regressed by" in res.output and "REGRESSION" in res.output
    # a base far slower: no regression
    base.write_text(json.dumps(_report(rs, 1e9, 1e9, 1e9)), encoding="utf-8")
    res = _bench(str(rs), "--events", str(ev), "--passes", "1", "--no-shares", "--compare", str(base))
    assert res.exit_code == 0, res.output


def test_compare_runs_ratios():
    cur = _report(Path("a.rdsl"), 12.0, 30.0, 100.0)
    base = _report(Path("a.rdsl"), 10.0, 30.0, 100.0)
    rows = {r["figure"]: r for r in compare_runs(cur, base, 0.15)}
    assert rows["cost_per_event"]["ratio"] == pytest.approx(1.2) and rows["cost_per_event"]["regression"]
    assert rows["p99"]["ratio"] == pytest.approx(1.0) and not rows["p99"]["regression"]
    assert not any(r["regression"] for r in compare_runs(cur, base, 0.25))
    assert compare_runs(cur, {"rulesets": []}, 0.1) == []  # a ruleset the base does not have


def test_max_p99_budget(files):
    rs, ev, _tmp = files
    res = _bench(str(rs), "--events", str(ev), "--passes", "1", "--no-shares", "--max-p99", "1ns")
    assert res.exit_code == 1 and "p99 above the budget" in res.output
    res = _bench(str(rs), "--events", str(ev), "--passes", "1", "--no-shares", "--max-p99", "60s")
    assert res.exit_code == 0


def test_usage_errors(files):
    rs, ev, tmp = files
    assert _bench(str(rs), "--events", str(ev), "--max-p99", "fast").exit_code == 2
    assert _bench(str(rs), "--events", str(ev), "--max-regression", "a lot").exit_code == 2
    assert _bench(str(rs), "--events", str(ev), "--evaluator", "java").exit_code == 2
    assert _bench(str(tmp / "missing.rdsl"), "--events", str(ev)).exit_code == 2
    broken = tmp / "broken.rdsl"
    broken.write_text(RULESET.replace("amount > 900", 'amount > "x"'), encoding="utf-8")
    res = _bench(str(broken), "--events", str(ev))
    assert res.exit_code == 2 and "has errors" in res.output
    other = tmp / "other.json"
    other.write_text('{"hello": 1}', encoding="utf-8")
    res = _bench(str(rs), "--events", str(ev), "--compare", str(other))
    assert res.exit_code == 2 and "not a `ruledsl bench --json` file" in res.output


def test_parsers():
    assert parse_time_us("20us") == 20 and parse_time_us("1.5ms") == 1500 and parse_time_us("800ns") == 0.8
    assert parse_time_us("20µs") == 20 and parse_time_us("7") == 7
    assert parse_percent("20%") == pytest.approx(0.2) and parse_percent("0.05") == pytest.approx(0.05)
    with pytest.raises(ValueError):
        parse_percent("-5%")


def test_without_removes_readers_to_a_fixpoint(tmp_path):
    rs = tmp_path / "small.rdsl"
    rs.write_text(RULESET, encoding="utf-8")
    result = check_files(rs)
    assert result.program is not None
    variant, removed = without(result.program, {"logins_1d"})
    names = {getattr(getattr(d, "name", None), "name", None) for m in variant.modules for d in m.decls}
    assert removed == ["risk", "risky"]
    assert {"logins_1d", "risk", "risky"}.isdisjoint(names) and {"n_1h", "big", "transfer"} <= names
