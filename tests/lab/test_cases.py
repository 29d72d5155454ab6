"""The T+1 case list on the hand-made stream: one case per entity per day, its contents, files."""

from __future__ import annotations

import csv
import decimal
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from labfiles import hand_events

from ruledsl.lab import LabError
from ruledsl.lab.cases import COLUMNS, CaseBook, read_previous, write_cases
from ruledsl.lab.readers import ReadStats, iter_chunks
from ruledsl.lab.replay import replay
from ruledsl.runtime.engine import load


def cases_of(ruleset: Path, events: list[dict], tmp_path: Path, previous=None, by=("account_no", "customer_id")):
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    engine = load(ruleset, clock=None)
    book = CaseBook(list(by), engine._zone, previous)
    stats = ReadStats()
    replay(engine, iter_chunks([path], stats, batch_rows=3), [book], stats)
    return book


def test_one_case_per_entity_and_day(ruleset, tmp_path):
    book = cases_of(ruleset, hand_events(), tmp_path)
    rows = book.rows()
    assert [(r["entity_field"], r["entity"], r["score"]) for r in rows] == [
        ("account_no", "A2", 42),  # big + huge_hold (10 + 30), two alerted events
        ("customer_id", "C2", 42),
        ("account_no", "A1", 11),
        ("account_no", "A3", 11),
        ("account_no", "A5", 11),
        ("customer_id", "C1", 11),
        ("customer_id", "C3", 11),
        ("customer_id", "C5", 11),
    ]  # A4/C4 had no alert: no case
    a2 = rows[0]
    assert a2["day"] == "2026-01-01"
    assert a2["strongest_action"] == "hold"
    assert a2["rules"] == "big:2;huge_hold:2"
    assert a2["codes"] == "T-1;T-2"
    assert (a2["events"], a2["alerted_events"]) == (2, 2)
    assert (a2["first_time"], a2["last_time"]) == ("2026-01-01T02:00:00+00:00", "2026-01-01T06:00:00+00:00")
    assert a2["open_before"] is False
    features = json.loads(a2["features"])
    assert decimal.Decimal(features["amount"]) == 7000  # the largest amount of the day
    assert decimal.Decimal(features["huge"]) == 5000
    assert [where.rsplit(":", 1) for where in a2["samples"].split(";")] == [
        [str(tmp_path / "day.jsonl"), "3"],
        [str(tmp_path / "day.jsonl"), "7"],
    ]
    a1 = next(r for r in rows if r["entity"] == "A1")
    assert (a1["events"], a1["alerted_events"], a1["strongest_action"]) == (2, 1, "alert")
    d = book.to_dict(rows)
    assert d["cases"] == 8 and d["events"] == 10
    assert d["by_action"] == {"hold": 2, "alert": 6}
    assert d["by_rule"] == [{"rule": "big", "cases": 8}, {"rule": "huge_hold", "cases": 2}]


def test_open_the_day_before_in_the_run_and_from_the_previous_list(ruleset, tmp_path):
    events = hand_events()
    # warm-up events open no case; a second day for A2
    events[9]["warmup"] = True  # e10: A5 / C5
    events.append({**events[6], "event_id": "e11", "ts": "2026-01-02T03:00:00Z"})
    previous = {("account_no", "A3", "2025-12-31")}
    book = cases_of(ruleset, events, tmp_path, previous)
    rows = {(r["day"], r["entity"]): r for r in book.rows()}
    assert ("2026-01-01", "A5") not in rows and ("2026-01-01", "C5") not in rows
    assert rows[("2026-01-02", "A2")]["open_before"] is True
    assert rows[("2026-01-02", "A2")]["score"] == 10 + 30 + 1 + 5
    assert rows[("2026-01-01", "A2")]["open_before"] is False
    assert rows[("2026-01-01", "A3")]["open_before"] is True and rows[("2026-01-01", "A3")]["score"] == 16
    assert rows[("2026-01-01", "C3")]["open_before"] is False  # the previous list named the account only
    days = book.to_dict()["days"]
    assert [(d["day"], d["cases"], d["events"]) for d in days] == [("2026-01-01", 6, 9), ("2026-01-02", 2, 1)]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_case_files_round_trip_and_feed_the_next_day(ruleset, tmp_path, suffix):
    rows = cases_of(ruleset, hand_events(), tmp_path).rows()
    out = tmp_path / f"cases{suffix}"
    write_cases(rows, out)
    if suffix == ".csv":
        with open(out, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames or ()) == COLUMNS
            back = list(reader)
        assert back[0]["entity"] == "A2" and back[0]["score"] == "42"
    else:
        table = pq.read_table(out)
        assert tuple(table.schema.names) == COLUMNS
        assert table.column("score").to_pylist()[0] == 42
        assert table.column("open_before").to_pylist()[0] is False
    prev = read_previous(out)
    assert ("account_no", "A2", "2026-01-01") in prev and len(prev) == 8
    nxt = cases_of(ruleset, [{**e, "ts": e["ts"].replace("01-01", "01-02")} for e in hand_events()], tmp_path, prev)
    assert all(r["open_before"] for r in nxt.rows())


def test_bad_previous_list_and_no_entity_field(tmp_path, ruleset):
    bad = tmp_path / "prev.csv"
    bad.write_text("account,when\nA1,2026-01-01\n", encoding="utf-8")
    with pytest.raises(LabError, match="no day, entity_field, entity column"):
        read_previous(bad)
    with pytest.raises(LabError, match="not found"):
        read_previous(tmp_path / "missing.csv")
    with pytest.raises(LabError, match="at least one entity field"):
        CaseBook([], load(ruleset, clock=None)._zone)
