"""The lab's figures on the hand-made stream of ``conftest.py``, whose answers are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruledsl.lab.compare import Comparison
from ruledsl.lab.holdqueue import HoldQueue
from ruledsl.lab.labels import Labels, read_labels
from ruledsl.lab.metrics import RuleMetrics
from ruledsl.lab.readers import ReadStats, iter_chunks
from ruledsl.lab.replay import replay
from ruledsl.runtime.engine import load


def run(ruleset: Path, events: Path, labels=None, *, baseline_params=None, batch_rows=4):
    engine = load(ruleset, clock=None)
    baseline = None
    if baseline_params is not None:
        baseline = load(ruleset, clock=None)
        for name, value in baseline_params.items():
            baseline.set_param(name, value)
    metrics = RuleMetrics(labels, engine._zone)
    old = RuleMetrics(labels, engine._zone, "old")
    comparison = Comparison(samples=2)
    holds, old_holds = HoldQueue(), HoldQueue("old")
    stats = ReadStats()
    result = replay(
        engine,
        iter_chunks([events], stats, batch_rows=batch_rows),  # several chunks: figures must add up across them
        [metrics, old, comparison, holds, old_holds],
        stats,
        baseline=baseline,
    )
    return result, metrics, old, comparison, holds, old_holds


def rule(d: dict, rid: str) -> dict:
    return next(r for r in d["rules"] if r["rule"] == rid)


def test_counts_without_labels(ruleset, events_file):
    result, metrics, *_ = run(ruleset, events_file)
    assert result.scored == 10 and not result.interrupted
    d = metrics.to_dict()
    assert d["actions"] == {"block": 0, "hold": 2, "step_up": 0, "alert": 3, "pass": 5}
    assert d["alerts"] == 5
    assert d["alerts_per_10k"] == 5000.0
    big, huge = rule(d, "big"), rule(d, "huge_hold")
    assert (big["hits"], big["hit_rate"], big["alone"]) == (5, 0.5, 3)
    assert (huge["hits"], huge["hit_rate"], huge["alone"]) == (2, 0.2, 0)
    assert big["fires_with"] == [{"rule": "huge_hold", "events": 2}]
    assert d["overlap"] == [{"rules": ["big", "huge_hold"], "events": 2}]
    assert "labelled" not in d and "precision" not in big


def test_entity_labels_precision_recall_alerts_per_10k_and_warned_before(ruleset, events_file, entity_labels):
    engine = load(ruleset, clock=None)
    labels = read_labels(entity_labels, engine._zone)
    assert labels.kind == "entity" and labels.field == "account_no" and labels.normal == 1
    _, metrics, *_ = run(ruleset, events_file, labels)
    d = metrics.to_dict()
    lab = d["labelled"]
    # fraud events: A2 (e3, e7), A4 (e6, e9), A5 (e8, e10); alerts on them: e3, e7, e10
    assert (lab["fraud_events"], lab["normal_events"]) == (6, 4)
    assert (lab["fraud_alerts"], lab["normal_alerts"]) == (3, 2)
    assert lab["precision"] == 0.6
    assert lab["recall"] == 0.5
    assert lab["alerts_per_10k_normal"] == 5000.0
    # A2 warned on Jan 1 before its Jan 2 label; A4 never; A5 only on its label day (not before); A9 absent
    assert (lab["fraud_entities"], lab["entities_warned_before"]) == (3, 1)
    assert lab["entities_warned_before_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert {r["label"]: (r["entities"], r["warned_before"]) for r in lab["by_label"]} == {
        "fraud": (2, 0),
        "mule_account": (1, 1),
    }
    big, huge = rule(d, "big"), rule(d, "huge_hold")
    assert (big["fraud_hits"], big["normal_hits"], big["precision"], big["recall"]) == (3, 2, 0.6, 0.5)
    assert big["alerts_per_10k_normal"] == 5000.0
    assert (huge["fraud_hits"], huge["normal_hits"], huge["precision"]) == (2, 0, 1.0)
    assert huge["recall"] == pytest.approx(2 / 6, abs=1e-4)
    assert huge["alerts_per_10k_normal"] == 0.0
    assert big["entities_warned_before"] == huge["entities_warned_before"] == 1


def test_a_later_label_date_counts_the_label_day(ruleset, events_file, tmp_path):
    # A5 dated Jan 2 (a timestamp this time): its Jan 1 alert is now before the label
    path = tmp_path / "labels.csv"
    path.write_text("account_no,label,label_date\nA5,fraud,2026-01-02T00:00:00Z\n", encoding="utf-8")
    engine = load(ruleset, clock=None)
    _, metrics, *_ = run(ruleset, events_file, read_labels(path, engine._zone))
    lab = metrics.to_dict()["labelled"]
    assert (lab["fraud_entities"], lab["entities_warned_before"], lab["fraud_events"]) == (1, 1, 2)


def test_event_labels_join_by_event_id_and_follow_the_entity(ruleset, events_file, tmp_path):
    # e7 is the labelled event; C2 was warned earlier (e3) on an unlabelled event: that counts
    path = tmp_path / "labels.csv"
    path.write_text("event_id,label,label_date\ne7,takeover,2026-01-01T06:30:00Z\ne4,normal,\n", encoding="utf-8")
    engine = load(ruleset, clock=None)
    labels = read_labels(path, engine._zone, entity_field="customer_id")
    assert labels.kind == "event"
    _, metrics, *_ = run(ruleset, events_file, labels)
    d = metrics.to_dict()
    lab = d["labelled"]
    assert (lab["fraud_events"], lab["fraud_alerts"], lab["normal_events"], lab["normal_alerts"]) == (1, 1, 9, 4)
    assert lab["precision"] == 0.2 and lab["recall"] == 1.0
    assert (lab["fraud_entities"], lab["entities_warned_before"]) == (1, 1)
    assert rule(d, "huge_hold")["fraud_hits"] == 1


def test_inline_labels_of_the_events_themselves(ruleset, labelled_events_file):
    _, metrics, *_ = run(ruleset, labelled_events_file, Labels("inline", None, "customer_id"))
    lab = metrics.to_dict()["labelled"]
    # e6 and e9 (C4) are labelled: never alerted
    assert (lab["fraud_events"], lab["fraud_alerts"], lab["fraud_entities"], lab["entities_warned_before"]) == (
        2,
        0,
        1,
        0,
    )
    assert lab["recall"] == 0.0 and lab["alerts_per_10k_normal"] == 6250.0


def test_transition_matrix_with_a_baseline_one_threshold_apart(ruleset, events_file):
    # baseline huge = 6500: e3 (6000) is only an alert there, a hold in the candidate
    _, metrics, old, comparison, *_ = run(ruleset, events_file, baseline_params={"huge": "6500"})
    c = comparison.to_dict()
    cells = {(cell["old"], cell["new"]): cell for cell in c["cells"]}
    assert {k: v["events"] for k, v in cells.items()} == {
        ("pass", "pass"): 5,
        ("alert", "alert"): 3,
        ("hold", "hold"): 1,
        ("alert", "hold"): 1,
    }
    actions = c["actions"]
    assert c["matrix"][actions.index("alert")][actions.index("hold")] == 1
    assert sum(map(sum, c["matrix"])) == 10
    assert (c["changed_events"], c["escalated_events"], c["relaxed_events"]) == (1, 1, 0)
    assert c["affected"]["customer_id"]["escalated_sample"] == ["C2"]
    assert c["affected"]["account_no"]["escalated_sample"] == ["A2"]
    assert c["affected"]["customer_id"]["relaxed"] == 0
    sample = cells[("alert", "hold")]["samples"]
    assert len(sample) == 1 and sample[0]["line"] == 3 and sample[0]["event"]["event_id"] == "e3"
    assert [r["rule"] for r in sample[0]["old_rules"]] == ["big"]
    assert sorted(r["rule"] for r in sample[0]["new_rules"]) == ["big", "huge_hold"]
    assert len(cells[("pass", "pass")]["samples"]) == 2  # at most --samples per cell
    assert old.to_dict()["actions"]["hold"] == 1 and metrics.to_dict()["actions"]["hold"] == 2


def test_hold_queue_load_and_expiry(ruleset, events_file):
    _, _, _, _, holds, old_holds = run(ruleset, events_file, baseline_params={"huge": "6500"})
    assert list(holds.arrivals) == [1767232800000, 1767247200000]  # 02:00 and 06:00 UTC
    # one call-back per 10 h: e3 is called at 02:00, the desk is busy until 12:00, e7 expires at 08:00
    slow = holds.simulate(0.1)
    assert (slow["holds"], slow["called_back"], slow["expired_to_block"]) == (2, 1, 1)
    assert slow["expired_share"] == 0.5
    # one per 5 h: e7 waits until 07:00, before its 08:00 expiry
    medium = holds.simulate(0.2)
    assert (medium["called_back"], medium["expired_to_block"], medium["median_wait_minutes"]) == (2, 0, 60.0)
    assert old_holds.simulate(0.1)["holds"] == 1 and old_holds.simulate(0.1)["expired_to_block"] == 0
    hours = {h["hour"]: h for h in slow["hours"]}
    assert hours[1767232800000]["arrived"] == 1 and hours[1767232800000]["called_back"] == 1
    assert hours[1767254400000]["expired"] == 1  # 08:00
    assert slow["hours"][-1]["backlog"] == 0


def test_labels_from_parquet_equal_labels_from_csv(ruleset, entity_labels, tmp_path):
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(entity_labels, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    pq_path = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pq_path)
    zone = load(ruleset, clock=None)._zone
    from_csv, from_pq = read_labels(entity_labels, zone), read_labels(pq_path, zone)
    assert from_pq.fraud == from_csv.fraud and from_pq.names == from_csv.names
    assert from_csv.fraud == {"A2": 1767312000000, "A4": 1767312000000, "A5": 1767225600000, "A9": 1767225600000}
    assert from_pq.kind == "entity" and from_pq.normal == 1
