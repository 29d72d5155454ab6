"""``ruledsl run``: summary, decisions as JSON Lines, rejected events, exit codes.

Exit codes: 0 every event evaluated, 1 some events rejected (malformed or
refused by a ruleset's schemas; the rest are still evaluated), 2 usage or I/O
error (missing file, ruleset with errors, bad option value).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from ruledsl.cli.app import app
from ruledsl.sim import SCENARIOS, generate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"
EXAMPLES = ROOT / "rulesets" / "examples" / "echannel_monitoring.jsonl"


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner: CliRunner, *args, code: int):
    result = runner.invoke(app, ["run", *map(str, args)])
    detail = f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), detail
    assert "Traceback" not in result.output, detail
    assert "internal error" not in result.output, detail
    assert result.exit_code == code, detail
    return result


def read_jsonl(path: Path) -> list[dict]:
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """A generated stream with every scenario type: 150 customers, 2 days after 2 warm-up days."""
    path = tmp_path_factory.mktemp("gen") / "events.jsonl"
    with open(path, "wb") as f:
        write_jsonl(generate(150, 2, seed=21, fraud_rate=0.06, warmup_days=2), f)
    return path


def test_example_events_summary_and_decisions(runner, tmp_path):
    out = tmp_path / "decisions.jsonl"
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--out", out, code=0)
    text = result.stdout
    assert "echannel_monitoring" in text
    for word in ("events 13", "actions", "block", "hold", "top rules by hits", "events/s", "per 10,000 events"):
        assert word in text, word
    assert "injected fraud scenarios" not in text  # the examples carry no labels
    decisions = read_jsonl(out)
    assert [d["line"] for d in decisions] == list(range(1, 14))
    assert {d["ruleset"] for d in decisions} == {"echannel_monitoring"}
    by_line = {d["line"]: d for d in decisions}
    assert by_line[4]["action"] == "block" and by_line[4]["rules"][0]["id"] == "black_payee_account"
    assert by_line[4]["rules"][0]["reason"] == "交易对手账号为黑名单账号"
    assert by_line[8]["action"] == "hold" and by_line[8]["hold_timeout_ms"] == 24 * 3_600_000
    assert len(by_line[8]["hold_id"]) == 32 and by_line[8]["held_keys"]  # a hold opened by `ruledsl run`
    assert by_line[1] == {
        "line": 1,
        "ruleset": "echannel_monitoring",
        "action": "pass",
        "event_type": "login",
        "rules": [],
        "scores": [],
        "late": False,
        "degraded": False,
        "hold_timeout_ms": None,
        "hold_id": None,
        "held_keys": None,
        "hold_expires_at": None,
        "controls": [],
        "exemptions": [],
    }


def test_json_summary(runner):
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--format", "json", code=0)
    summary = json.loads(result.stdout)
    assert summary["lines"] == 13 and summary["malformed"] == 0
    (rs,) = summary["rulesets"]
    assert rs["ruleset"] == "echannel_monitoring"
    assert rs["events"] == 13 and rs["rejected"] == 0 and rs["late"] == 0
    assert rs["actions"] == {"block": 2, "hold": 2, "step_up": 2, "alert": 0, "pass": 7}
    assert rs["alerts"] == 6 and rs["alerts_per_10k"] == pytest.approx(6 * 10_000 / 13, abs=0.1)
    hits = {r["rule"]: r["hits"] for r in rs["top_rules"]}
    assert hits["black_payee_account"] == 1 and hits["one_card_many_atms"] == 1
    assert "labelled" not in rs


def test_bad_lines_are_reported_with_line_numbers_and_skipped(runner, tmp_path):
    good = EXAMPLES.read_bytes().splitlines()
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        b"\n".join(
            [
                good[0],
                b"{not json",
                b"[1, 2]",
                b"",
                b'{"type": "transfer", "ts": "2026-11-20T09:05:30+08:00", "customer_id": "C1"}',
                b'{"type": "teleport", "ts": 1}',
                good[1],
            ]
        )
        + b"\n"
    )
    out = tmp_path / "d.jsonl"
    result = invoke(runner, ECHANNEL, "--events", events, "--out", out, "--format", "json", code=1)
    err = result.stderr
    assert "events.jsonl:2: malformed event: not valid JSON" in err
    assert "events.jsonl:3: malformed event: not a JSON object but an array" in err
    assert "events.jsonl:5: rejected by echannel_monitoring: event `transfer`: missing required field" in err
    assert "events.jsonl:6: rejected by echannel_monitoring: unknown event type 'teleport'" in err
    summary = json.loads(result.stdout)
    assert summary["malformed"] == 2
    rs = summary["rulesets"][0]
    assert rs["events"] == 2 and rs["rejected"] == 2
    assert [r["line"] for r in rs["rejections"]] == [5, 6]
    assert [d["line"] for d in read_jsonl(out)] == [1, 7]


def test_missing_files_exit_2(runner, tmp_path):
    result = invoke(runner, ECHANNEL, "--events", tmp_path / "nope.jsonl", code=2)
    assert "events file not found" in result.stderr
    result = invoke(runner, tmp_path / "nope.rdsl", "--events", EXAMPLES, code=2)
    assert "path not found" in result.stderr
    result = runner.invoke(app, ["run", str(ECHANNEL)])  # --events is required
    assert result.exit_code == 2


def test_ruleset_with_errors_exits_2_with_diagnostics(runner, tmp_path):
    bad = tmp_path / "bad.rdsl"
    bad.write_text('rule r {\n  reason "x"\n  on transfer\n  when amount > 1\n  action block\n}\n', encoding="utf-8")
    result = invoke(runner, bad, "--events", EXAMPLES, code=2)
    assert "RD" in result.stderr and "nothing was evaluated" in result.stderr


def test_params_change_the_outcome(runner):
    result = invoke(
        runner,
        ECHANNEL,
        "--events",
        EXAMPLES,
        "--format",
        "json",
        "--params",
        "night_large_amount=100000",
        "--params",
        "dormant_after=30d",
        code=0,
    )
    rs = json.loads(result.stdout)["rulesets"][0]
    assert "night_large_transfer" not in {r["rule"] for r in rs["top_rules"]}
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--params", "no_such_param=1", code=2)
    assert "no ruleset has a parameter `no_such_param`" in result.stderr
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--params", "night_large_amount=lots", code=2)
    assert "night_large_amount" in result.stderr
    invoke(runner, ECHANNEL, "--events", EXAMPLES, "--params", "missing-equals", code=2)


def test_timezone_option(runner):
    # in UTC the 02:30 (+08:00) agreement signing happens at 18:30: no longer a sensitive hour
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--format", "json", "--timezone", "UTC", code=0)
    rules = {r["rule"] for r in json.loads(result.stdout)["rulesets"][0]["top_rules"]}
    assert "sensitive_hour_agreement" not in rules
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--timezone", "Mars/Olympus", code=2)
    assert "unknown time zone" in result.stderr


def test_quiet_and_decisions_on_stdout(runner):
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--quiet", code=0)
    assert result.stdout == ""
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--out", "-", code=0)
    lines = result.stdout.splitlines()
    assert len(lines) == 13 and all(json.loads(line)["ruleset"] == "echannel_monitoring" for line in lines)
    assert "top rules by hits" in result.stderr  # the summary moves out of the way


def test_warmup_option_leaves_early_events_unscored(runner):
    # the examples span 2026-11-20 09:00 to 11-21 03:00: the first 2 hours hold 5 events
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--format", "json", "--warmup", "2h", code=0)
    rs = json.loads(result.stdout)["rulesets"][0]
    assert rs["warmup_events"] == 5 and rs["events"] == 8
    invoke(runner, ECHANNEL, "--events", EXAMPLES, "--warmup", "soon", code=2)
    invoke(runner, ECHANNEL, "--events", EXAMPLES, "--warmup", "-2h", code=2)
    result = invoke(runner, ECHANNEL, "--events", EXAMPLES, "--format", "json", "--warmup", "1h 60m", code=0)
    assert json.loads(result.stdout)["rulesets"][0]["warmup_events"] == 5  # two parts, as 2h


def test_labelled_traffic_scores_scenarios(runner, labelled, tmp_path):
    out = tmp_path / "d.jsonl"
    result = invoke(runner, ECHANNEL, "--events", labelled, "--out", out, "--format", "json", code=0)
    rs = json.loads(result.stdout)["rulesets"][0]
    lab = rs["labelled"]
    assert {r["scenario"] for r in lab["by_scenario"]} == set(SCENARIOS)
    assert lab["scenarios"] == 9 and 0 <= lab["caught"] <= 9
    assert lab["normal_events"] + lab["fraud_events"] == rs["events"]
    assert lab["normal_alerts_per_10k"] == pytest.approx(lab["normal_alerts"] * 10_000 / lab["normal_events"], abs=0.1)
    assert rs["warmup_events"] > 0
    for row in rs["top_rules"]:
        assert row["fraud_hits"] + row["normal_hits"] == row["hits"]
    decisions = read_jsonl(out)
    events = [msgspec.json.decode(line) for line in labelled.read_bytes().splitlines()]
    assert len(decisions) == len(events)
    for d in decisions:
        e = events[d["line"] - 1]
        assert d["event_type"] == e["type"]
        assert d.get("label") == e.get("label") and d.get("scenario_id") == e.get("scenario_id")
        assert d.get("warmup", False) == e.get("warmup", False)
    # a scenario counts as caught exactly when one of its decisions is not a pass
    caught = {d["scenario_id"] for d in decisions if "scenario_id" in d and d["action"] != "pass"}
    assert len(caught) == lab["caught"]


def test_labelled_text_summary(runner, labelled):
    text = invoke(runner, ECHANNEL, "--events", labelled, code=0).stdout
    assert "injected fraud scenarios" in text and "share caught" in text
    assert "normal (unlabelled) traffic" in text and "per 10,000 events" in text
    for kind in SCENARIOS:
        assert kind in text


def test_several_rulesets_and_directories(runner, tmp_path):
    rules = tmp_path / "rules"
    (rules / "common").mkdir(parents=True)
    shutil.copy(ROOT / "rulesets" / "common" / "echannel_events.rdsl", rules / "common" / "echannel_events.rdsl")
    (rules / "lists").mkdir()
    for f in (ROOT / "rulesets" / "lists").glob("*.txt"):
        shutil.copy(f, rules / "lists" / f.name)
    shutil.copy(ECHANNEL, rules / "echannel_monitoring.rdsl")
    (rules / "night.rdsl").write_text(
        'ruleset night_watch {\n  timezone "Asia/Shanghai"\n}\n\ninclude "common/echannel_events.rdsl"\n\n'
        'rule night_login {\n  reason "夜间登录"\n  on login\n  when hour(ts) < 6\n  action alert\n}\n',
        encoding="utf-8",
    )
    out = tmp_path / "d.jsonl"
    # the directory stands for the files with a ruleset header: common/echannel_events.rdsl is skipped
    result = invoke(runner, rules, "--events", EXAMPLES, "--out", out, "--format", "json", code=0)
    names = [rs["ruleset"] for rs in json.loads(result.stdout)["rulesets"]]
    assert sorted(names) == ["echannel_monitoring", "night_watch"]
    decisions = read_jsonl(out)
    assert len(decisions) == 26
    assert {d["ruleset"] for d in decisions} == {"echannel_monitoring", "night_watch"}


def test_gzip_events(runner, tmp_path):
    import gzip

    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(EXAMPLES.read_bytes()))
    result = invoke(runner, ECHANNEL, "--events", path, "--format", "json", code=0)
    assert json.loads(result.stdout)["rulesets"][0]["events"] == 13


def test_demo_runs_generated_traffic(capsys, monkeypatch):
    from rich.console import Console

    from ruledsl.cli import demo

    console = Console(width=200, record=True)
    status = demo.run_generated(ROOT / "rulesets", console, customers=60, days=1, warmup_days=1, fraud_rate=0.1)
    text = console.export_text()
    assert status == 0, text
    assert "echannel_monitoring" in text and "injected fraud scenarios" in text
    assert "ruledsl run" in text
