"""``ruledsl backtest --sweep``: one pass gives every value's decisions, exactly those of a replay with that value.

The sweep variant (``compile/sweepcode.py``, ``lab/sweep.py``) computes windows
and sequences once per event and tests the rules reading the parameter once per
value; each value's actions and fired rules must equal a plain replay of the same
events on an engine whose parameter was set to that value (``engine.set_param``).
Parameters whose change would move window state, scores or controls read later
are refused, naming why.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from labfiles import write_parquet
from typer.testing import CliRunner

from ruledsl.cli.app import app
from ruledsl.kernels.values import EventError
from ruledsl.lab import LabError
from ruledsl.lab.labels import extract_labels
from ruledsl.lab.metrics import RuleMetrics
from ruledsl.lab.readers import ReadStats, iter_chunks
from ruledsl.lab.replay import replay
from ruledsl.lab.sweep import SweepCurve, SweepEvaluator, chunk_events, plan, sweep_values
from ruledsl.runtime.engine import load
from ruledsl.sim import generate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> tuple[list[dict], Path, Path]:
    tmp = tmp_path_factory.mktemp("sweep")
    path = tmp / "events.jsonl"
    events = list(generate(120, 2, seed=5, fraud_rate=0.08, warmup_days=1))
    with open(path, "wb") as f:
        write_jsonl(events, f)
    labels = tmp / "labels.csv"
    extract_labels([path], "account_no", labels, zone=load(ECHANNEL, clock=None)._zone)
    return [msgspec.json.decode(msgspec.json.encode(e)) for e in events], path, labels


def summary(d) -> tuple:
    return (d.action, tuple(sorted(r.id for r in d.rules)), d.late)


def plain(path: Path, param: str, value, events: list[dict]) -> list:
    engine = load(path, clock=None)
    engine.set_param(param, value)
    return [e if isinstance(e, EventError) else summary(e) for e in engine.evaluate_many(events, errors="return")]


def swept(path: Path, spec: str, events: list[dict], chunk: int = 500):
    engine = load(path, clock=None)
    ev = SweepEvaluator(engine, plan(engine, spec))
    out: list = []
    for i in range(0, len(events), chunk):
        out.extend(ev.evaluate(events[i : i + chunk]))
    return ev, out


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ("repeat_txn_count=1:5:1", "repeat_txn_count"),  # int: rules on windows of repeated transfers
        ("atm_cash_amount=2000:30000:7000", "atm_cash_amount"),  # decimal
        ("baseline_min_days=1d:3w:1w", "baseline_min_days"),  # duration, text steps
        ("night_from=0:3:1", "night_from"),  # an hour bound in a time-of-day test
    ],
)
def test_each_value_equals_a_replay_with_that_value(traffic, spec, param):
    events, _, _ = traffic
    ev, got = swept(ECHANNEL, spec, events)
    assert ev.swept_rules  # the parameter is read by rules: the loop is exercised
    values = ev.spec.values
    distinct = set()
    for j, value in enumerate(values):
        want = plain(ECHANNEL, param, value, events)
        have = [r if isinstance(r, EventError) else summary(r[j]) for r in got]
        assert len(have) == len(want)
        for i, (a, b) in enumerate(zip(have, want, strict=True)):
            assert a == b, f"{param}={value}, event {i}: sweep {a}, replay {b}"
        distinct.add(tuple(a[0] for a in have))
    if param == "repeat_txn_count":
        assert len(distinct) >= 3  # the values really decide differently: the comparison has teeth


def test_parquet_chunks_give_the_same_decisions(traffic, tmp_path):
    events, _, _ = traffic
    pq_path = tmp_path / "events.parquet"
    write_parquet(events, pq_path)
    engine = load(ECHANNEL, clock=None)
    ev = SweepEvaluator(engine, plan(engine, "repeat_txn_count=2:4:1"))
    got = []
    for chunk in iter_chunks([pq_path], ReadStats(), batch_rows=900):
        got.extend(ev.evaluate(chunk_events(chunk)))
    for j, value in enumerate(ev.spec.values):
        want = plain(ECHANNEL, "repeat_txn_count", value, events)
        assert [summary(r[j]) for r in got] == want


def test_the_curve_equals_each_values_replayed_metrics(traffic):
    _, path, labels_path = traffic
    from ruledsl.lab.labels import read_labels

    engine = load(ECHANNEL, clock=None)
    zone = engine._zone
    labels = read_labels(labels_path, zone, entity_field="account_no")
    sweeper = load(ECHANNEL, clock=None)
    curve = SweepCurve(SweepEvaluator(sweeper, plan(sweeper, "repeat_txn_count=1:4:1")), labels, zone)
    stats = ReadStats()
    replay(engine, iter_chunks([path], stats, batch_rows=700), [curve], stats)
    data = curve.to_dict()
    assert data["mode"] == "one_pass" and data["labelled"] and len(data["points"]) == 4
    for point, value in zip(data["points"], [1, 2, 3, 4], strict=True):
        e = load(ECHANNEL, clock=None)
        e.set_param("repeat_txn_count", value)
        m = RuleMetrics(labels, zone)
        s = ReadStats()
        replay(e, iter_chunks([path], s), [m], s)
        want = m.to_dict()
        assert point["value"] == value
        assert point["alerts"] == want["alerts"] and point["actions"] == want["actions"]
        assert point["recall"] == want["labelled"]["recall"]
        assert point["entities_warned_before"] == want["labelled"]["entities_warned_before"]
        assert point["alerts_per_10k_normal"] == want["labelled"]["alerts_per_10k_normal"]
    alerts = [p["alerts"] for p in data["points"]]
    assert alerts == sorted(alerts, reverse=True) and alerts[0] > alerts[-1]  # a higher count alerts less


RULES = """\
ruleset sweep_test {
  timezone "UTC"
}

event transfer {
  customer_id: string
  account_no: string
  amount: decimal
}

param large: decimal = 1000.00
param floor: decimal = 10.00
param need: int = 2
param label: string = "x"

window big_count = count() of transfer where amount >= floor by customer_id over 1h
window total = sum(amount) of transfer by customer_id over 1h

scorecard risk {
  on transfer
  item "many" when total >= large score 10
  level high >= 10
}

rule big {
  reason "large and repeated"
  on transfer
  when amount >= large and big_count >= need
  action alert
  control account_no as "restricted" for 1h
}

rule controlled_again {
  reason "a restricted account"
  on transfer
  when controlled(account_no)
  action block
}
"""


def test_refusals_name_why(tmp_path):
    path = tmp_path / "r.rdsl"
    path.write_text(RULES, encoding="utf-8")
    engine = load(path, clock=None)
    cases = {
        "floor=1:5:1": "window big_count reads floor",
        "large=100:500:100": "scorecard risk reads large",
        "need=1:3:1": "rule big reads need and sets controls that rules read with controlled()",
        "label=1:2:1": "label is a string; only numbers and durations are swept",
        "nope=1:2:1": "no parameter 'nope'",
        "need=1:3": "expected PARAM=FROM:TO:STEP",
        "need=3:1:1": "TO is below FROM",
        "need=1:3:0": "STEP must be positive",
        "need=1:2:0.5": "is not whole",
        "need=1:1000:1": "at most 200",
        "need=a:3:1": "FROM 'a' is not a number",
    }
    for spec, message in cases.items():
        with pytest.raises(LabError, match=message.replace("(", r"\(").replace(")", r"\)")):
            plan(engine, spec)
    assert sweep_values("x=0.5:1.5:0.25", "decimal")[-1] == sweep_values("x=1.5:1.5:1", "decimal")[0]


def test_controls_without_controlled_are_swept_exactly(tmp_path):
    path = tmp_path / "r.rdsl"
    path.write_text(RULES.replace("when controlled(account_no)", "when amount >= 1000000"), encoding="utf-8")
    events = []
    for i in range(300):
        events.append(
            {
                "type": "transfer",
                "ts": 1_767_225_600_000 + i * 60_000,
                "customer_id": f"C{i % 7}",
                "account_no": f"A{i % 5}",
                "amount": str(500 + (i * 37) % 1500),
            }
        )
    events.insert(50, {"type": "transfer", "ts": 1_767_225_600_000, "customer_id": 5})  # refused by both
    _, got = swept(path, "need=1:6:1", events, chunk=64)
    assert isinstance(got[50], EventError)
    seen = set()
    for j, value in enumerate(range(1, 7)):
        want = plain(path, "need", value, events)
        have = [r if isinstance(r, EventError) else summary(r[j]) for r in got]
        assert [str(x) for x in have] == [str(x) for x in want]
        seen.add(sum(1 for x in have if not isinstance(x, EventError) and x[0] == "alert"))
    assert len(seen) >= 3


def test_backtest_writes_the_sweep_in_json_and_html(traffic, tmp_path):
    _, path, labels = traffic
    out_json, out_html = tmp_path / "b.json", tmp_path / "b.html"
    result = CliRunner().invoke(
        app,
        [
            "backtest", str(ECHANNEL), "--events", str(path), "--labels", str(labels),
            "--sweep", "repeat_txn_count=1:4:1", "--sweep", "atm_cash_amount=10000:30000:10000",
            "--json", str(out_json), "--report", str(out_html),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sweep of repeat_txn_count (4 values, one pass" in result.output
    data = json.loads(out_json.read_text())
    sweeps = {s["param"]: s for s in data["sweeps"]}
    assert set(sweeps) == {"repeat_txn_count", "atm_cash_amount"}
    assert [p["value"] for p in sweeps["atm_cash_amount"]["points"]] == ["10000", "20000", "30000"]
    default = sweeps["repeat_txn_count"]["points"][2]  # 3, the ruleset's value: the candidate's own figures
    assert default["alerts"] == data["metrics"]["alerts"]
    assert default["recall"] == data["metrics"]["labelled"]["recall"]
    html = out_html.read_text()
    assert 'id="sweep-table-repeat_txn_count"' in html and "sweep of repeat_txn_count" in html
    assert html.count("<svg") >= 4


def test_backtest_refuses_a_sweep_before_replaying(traffic, tmp_path):
    _, path, _ = traffic
    out_json = tmp_path / "b.json"
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            str(ECHANNEL),
            "--events",
            str(path),
            "--sweep",
            "repeat_txn_count=1:x:1",
            "--json",
            str(out_json),
        ],
    )
    assert result.exit_code == 2
    assert "TO 'x' is not a number" in result.output
    assert not out_json.exists()
