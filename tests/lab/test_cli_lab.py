"""``ruledsl backtest`` and ``ruledsl cases`` end to end: files written, figures, exit codes, bad input.

Bad input (a missing file, a bad labels file, a bad option) exits 2 with an
``error:`` line naming what is wrong, never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from labfiles import RULESET
from typer.testing import CliRunner

import ruledsl.lab.readers as readers
from ruledsl.cli.app import app


def invoke(*args, code: int):
    result = CliRunner().invoke(app, [*map(str, args)])
    detail = f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), detail
    assert "Traceback" not in result.output, detail
    assert "internal error" not in result.output, detail
    assert result.exit_code == code, detail
    return result


@pytest.fixture
def old_ruleset(tmp_path: Path) -> Path:
    path = tmp_path / "old" / "lab_test.rdsl"
    path.parent.mkdir()
    path.write_text(RULESET.replace("huge: decimal = 5000.00", "huge: decimal = 6500.00"), encoding="utf-8")
    return path


def test_backtest_writes_report_and_json(ruleset, old_ruleset, events_file, entity_labels, tmp_path):
    html, js = tmp_path / "out.html", tmp_path / "out.json"
    result = invoke(
        "backtest", ruleset, "--events", events_file, "--labels", entity_labels, "--baseline", old_ruleset,
        "--report", html, "--json", js, "--callback-capacity", "0.1/h", code=0,
    )  # fmt: skip
    out = result.stdout
    assert "10 events (10 scored" in out
    assert "precision 60.0%, recall 50.0%" in out
    assert "1 events change action (1 stronger, 0 weaker)" in out
    assert "holds: 2 at 0.1/h call-back capacity: 1 would expire into blocks (baseline 0)" in out
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["kind"] == "backtest" and data["partial"] is False
    assert data["candidate"]["ruleset"] == "lab_test" and data["baseline"]["paths"] == [str(old_ruleset)]
    assert data["labels"]["kind"] == "entity" and data["labels"]["key_field"] == "account_no"
    assert data["metrics"]["labelled"]["entities_warned_before"] == 1
    big = next(r for r in data["metrics"]["rules"] if r["rule"] == "big")
    assert (big["hits"], big["baseline_hits"]) == (5, 5)
    assert data["comparison"]["escalated_events"] == 1
    assert data["hold_queue"]["candidate"]["expired_to_block"] == 1
    assert data["hold_queue"]["baseline"]["holds"] == 1
    page = html.read_text(encoding="utf-8")
    for anchor in ('id="rules-table"', 'id="matrix-table"', 'id="holds-table"', 'id="labels-table"', "<svg"):
        assert anchor in page, anchor
    assert "<script" not in page and "<metadata" not in page
    for loads in ('src="http', 'href="http', "url(http", "@import", "<link"):  # nothing fetched: air-gapped
        assert loads not in page, loads


def test_backtest_baseline_params_compare_the_same_files(ruleset, events_file, tmp_path):
    js = tmp_path / "out.json"
    invoke("backtest", ruleset, "-e", events_file, "--baseline-params", "huge=6500", "--json", js, "-q", code=0)
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["baseline"]["params"] == {"huge": "6500"} and data["comparison"]["changed_events"] == 1
    assert "labelled" not in data["metrics"] and data["labels"] is None  # no labels anywhere


def test_backtest_uses_the_events_own_labels(ruleset, labelled_events_file, tmp_path):
    js = tmp_path / "out.json"
    invoke("backtest", ruleset, "-e", labelled_events_file, "--json", js, "-q", code=0)
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["labels"]["kind"] == "inline" and data["metrics"]["labelled"]["fraud_events"] == 2


def test_backtest_rejected_events_exit_1(ruleset, events_file, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(events_file.read_text() + '{"type": "transfer", "ts": "2026-01-01T10:00:00Z"}\nnot json\n')
    result = invoke("backtest", ruleset, "-e", bad, "--json", tmp_path / "o.json", code=1)
    assert f"{bad}:11: rejected by the candidate" in result.stderr
    assert f"{bad}:12: malformed event" in result.stderr


@pytest.mark.parametrize(
    ("labels_text", "message"),
    [
        ("account_no,kind\nA1,fraud\n", "no `label` column"),
        ("account_no,customer_id,label\nA1,C1,fraud\n", "expected one key column"),
        ("account_no,label,label_date\nA1,fraud,2026-01-01\nA2,fraud,yesterday\n", "labels.csv:3: bad label_date"),
        ("account_no,label\n,fraud\n", "labels.csv:2: empty `account_no`"),
    ],
)
def test_bad_labels_file(ruleset, events_file, tmp_path, labels_text, message):
    labels = tmp_path / "labels.csv"
    labels.write_text(labels_text, encoding="utf-8")
    result = invoke("backtest", ruleset, "-e", events_file, "--labels", labels, "--json", tmp_path / "o.json", code=2)
    assert message in result.stderr
    assert not (tmp_path / "o.json").exists()  # nothing half-done


def test_bad_inputs_exit_2(ruleset, events_file, tmp_path):
    js = tmp_path / "o.json"
    cases = [
        (["-e", tmp_path / "missing.jsonl", "--json", js], "events file not found"),
        (["-e", events_file, "--labels", tmp_path / "missing.csv", "--json", js], "labels file not found"),
        (["-e", events_file, "--json", js, "--callback-capacity", "lots"], "--callback-capacity takes"),
        (["-e", events_file], "give --report FILE.html and/or --json"),
        (["-e", events_file, "--json", tmp_path / "no" / "dir" / "o.json"], "does not exist"),
        (["-e", events_file, "--json", js, "--params", "nope=1"], "no ruleset has a parameter `nope`"),
        (["-e", events_file, "--json", js, "--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (["-e", events_file, "--json", js, "--baseline", tmp_path / "old.rdsl"], "baseline not found"),
    ]
    for args, message in cases:
        result = invoke("backtest", ruleset, *args, code=2)
        assert message in result.stderr, (args, result.stderr)
    invoke("backtest", tmp_path / "none.rdsl", "-e", events_file, "--json", js, code=2)
    broken = tmp_path / "broken.rdsl"
    broken.write_text(RULESET.replace("when amount >= large", "when amount >= nothing"), encoding="utf-8")
    result = invoke("backtest", broken, "-e", events_file, "--json", js, code=2)
    assert "has errors" in result.stderr and "nothing" in result.stderr
    assert not js.exists()


def test_ctrl_c_writes_a_partial_report_and_exits_130(ruleset, events_file, tmp_path, monkeypatch):
    real = readers.iter_chunks

    def interrupted(paths, stats, **kw):
        for n, chunk in enumerate(real(paths, stats, batch_rows=4)):
            if n == 1:
                os.kill(os.getpid(), signal.SIGINT)
            yield chunk

    monkeypatch.setattr(readers, "iter_chunks", interrupted)
    html, js = tmp_path / "o.html", tmp_path / "o.json"
    result = invoke("backtest", ruleset, "-e", events_file, "--report", html, "--json", js, code=130)
    assert "interrupted: partial summary" in result.stdout
    assert "4 events (4 scored" in result.stdout
    assert json.loads(js.read_text())["partial"] is True
    assert 'id="partial"' in html.read_text(encoding="utf-8")


def test_cases_command(ruleset, events_file, tmp_path):
    out, html, js = tmp_path / "cases.csv", tmp_path / "cases.html", tmp_path / "cases.json"
    result = invoke(
        "cases", ruleset, "--events", events_file, "--by", "account_no", "--out", out, "--report", html, "--json", js,
        code=0,
    )  # fmt: skip
    assert "4 cases (0 open the day before)" in result.stdout
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("day,entity_field,entity,score,strongest_action,rules")
    assert lines[1].startswith("2026-01-01,account_no,A2,42,hold,big:2;huge_hold:2")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["cases"] == 4 and data["top"][0]["entity"] == "A2"
    page = html.read_text(encoding="utf-8")
    assert 'id="cases-table"' in page and "<svg" in page and "<script" not in page
    # the next day's run marks A2 open the day before
    nxt = tmp_path / "next.jsonl"
    nxt.write_text(events_file.read_text().replace("2026-01-01", "2026-01-02"), encoding="utf-8")
    out2 = tmp_path / "cases2.parquet"
    result = invoke("cases", ruleset, "-e", nxt, "--by", "account_no", "--previous", out, "--out", out2, code=0)
    assert "4 cases (4 open the day before)" in result.stdout


def test_cases_bad_inputs(ruleset, events_file, tmp_path):
    out = tmp_path / "cases.csv"
    result = invoke("cases", ruleset, "-e", tmp_path / "nope.jsonl", "--by", "account_no", "--out", out, code=2)
    assert "events file not found" in result.stderr
    bad = tmp_path / "prev.csv"
    bad.write_text("x\n1\n")
    result = invoke("cases", ruleset, "-e", events_file, "--by", "account_no", "--previous", bad, "--out", out, code=2)
    assert "previous case list" in result.stderr
    result = invoke("cases", ruleset, "-e", events_file, "--out", out, code=2)
    assert "--by" in result.stderr
    assert not out.exists()


def test_sample_events_are_escaped_and_readable(ruleset, tmp_path):
    # an event's own text reaches the report only escaped; Chinese stays Chinese
    from labfiles import hand_events

    events = hand_events()
    events[2]["note"] = "<script>alert(1)</script> 收款人"
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    html = tmp_path / "o.html"
    invoke("backtest", ruleset, "-e", path, "--baseline-params", "huge=6500", "--report", html, "-q", code=0)
    page = html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 收款人" in page
    assert "<script" not in page
