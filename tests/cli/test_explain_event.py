"""``ruledsl explain-event``: rich text and JSON, history and snapshots, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oracle"))
from test_explain import RULESET, T0  # the hand-written ruleset of tests/oracle/test_explain.py

import ruledsl
from ruledsl.cli.app import app

runner = CliRunner()


def _event(**kw) -> dict:
    ev = {
        "type": "card_txn",
        "ts": T0 + 60_000,
        "card_id": "c1",
        "amount": "53000.00",
        "country": "CN",
        "channel": "pos",
    }
    ev.update(kw)
    return ev


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rs = tmp_path / "demo.rdsl"
    rs.write_text(RULESET)
    hist = tmp_path / "history.jsonl"
    lines = [json.dumps(_event(ts=T0 + i * 1000, amount="100.00")) for i in range(5)]
    hist.write_text("\n".join([*lines, "not json"]) + "\n")
    ev = tmp_path / "event.json"
    ev.write_text(json.dumps(_event()))
    return {"ruleset": rs, "history": hist, "event": ev, "dir": tmp_path}


def test_text_with_history(files: dict[str, Path]) -> None:
    got = runner.invoke(
        app,
        ["explain-event", str(files["ruleset"]), "--event", f"@{files['event']}", "--history", str(files["history"])],
    )
    assert got.exit_code == 0, got.output
    out = got.stdout
    assert "big (block): fired" in out
    assert "amount 53,000.00 > limit 50,000.00 by 3,000.00" in out
    assert "card_txn_10m 6 >= need 6 (equal)" in out
    assert "would not have fired with amount at most 50,000.00" in out
    assert "mcc missing: the comparison is false" in out
    assert "history.jsonl:6: event rejected" in got.stderr


def test_json_and_params(files: dict[str, Path]) -> None:
    args = ["explain-event", str(files["ruleset"]), "--event", json.dumps(_event()), "--json", "-p", "limit=60000"]
    got = runner.invoke(app, args)
    assert got.exit_code == 0, got.output
    data = json.loads(got.stdout)
    big = next(r for r in data["rules"] if r["rule"] == "big")
    assert not big["fired"]
    amount = big["condition"]["children"][0]["comparison"]
    assert amount["margin"] == "-7000.0000"
    assert amount["margin_text"] == "amount 53,000.00, needed more than 60,000.00 (limit): 7,000.00 short"


def test_state_snapshot(files: dict[str, Path]) -> None:
    engine = ruledsl.load(files["ruleset"], clock=None)
    for i in range(5):
        engine.evaluate(_event(ts=T0 + i * 1000, amount="100.00"))
    snap = files["dir"] / "state.snap"
    engine.snapshot(snap)
    got = runner.invoke(
        app, ["explain-event", str(files["ruleset"]), "--event", f"@{files['event']}", "--state", str(snap), "--json"]
    )
    assert got.exit_code == 0, got.output
    data = json.loads(got.stdout)
    assert data["action"] == "block" and data["decision"] == json.loads(
        ruledsl.Decision.__name__ and json.dumps(data["decision"])
    )
    assert data["decision"]["rules"][0]["id"] == "big"


def test_errors(files: dict[str, Path]) -> None:
    rs = str(files["ruleset"])
    rejected = runner.invoke(app, ["explain-event", rs, "--event", json.dumps(_event(amount="lots"))])
    assert rejected.exit_code == 1 and "amount" in rejected.stderr
    for bad in (
        ["--event", "{"],
        ["--event", "[1]"],
        ["--event", "@/no/such/file"],
        ["--event", "{}", "--state", "/no/snap"],
    ):
        got = runner.invoke(app, ["explain-event", rs, *bad])
        assert got.exit_code == 2 and got.stderr.startswith("error:"), (bad, got.output)
    broken = files["dir"] / "broken.rdsl"
    broken.write_text("rule x { when nope > 1 action block }\n")
    got = runner.invoke(app, ["explain-event", str(broken), "--event", "{}"])
    assert got.exit_code == 2 and "nothing was explained" in got.stderr
    got = runner.invoke(app, ["explain-event", rs, "--event", json.dumps(_event()), "-p", "nope=1"])
    assert got.exit_code == 2 and "nope" in got.stderr
