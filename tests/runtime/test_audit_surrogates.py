"""The audit log records any Python str: lone surrogates (possible in a dict event) are tagged, hashed and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ruledsl
from ruledsl.cli.app import app
from ruledsl.runtime import audit
from ruledsl.runtime.audit import AuditLog, list_digest, read_entries, replay_settings, verify
from ruledsl.runtime.engine_holds import ExpiryError

SOURCE = """\
ruleset audited {
  timezone "UTC"
}
event transfer {
  customer_id: string
  amount: decimal
}
param big: decimal = 50000
param tag: string = "none"
list black: string = ["BAD"]
window cnt = count() of transfer by customer_id over 10m
rule big_amount {
  reason "large"
  on transfer
  when amount > big
  action hold
}
rule blacklisted {
  reason "listed"
  on transfer
  when customer_id in black
  action block
}
rule busy {
  reason "busy"
  on transfer
  when cnt > 100
  action alert
}
"""

T0 = 1_700_000_000_000
BAD = "C\ud800"  # a lone surrogate: UTF-8 cannot encode it


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    path = tmp_path / "audited.rdsl"
    path.write_text(SOURCE, encoding="utf-8")
    return path


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def load(ruleset: Path, log) -> ruledsl.Engine:
    return ruledsl.load(ruleset, audit_log=log, compiled="never", clock=None)


def hold(engine: ruledsl.Engine, customer: str, ts: int = T0) -> str:
    decision = engine.evaluate({"type": "transfer", "ts": ts, "customer_id": customer, "amount": "90000"})
    assert decision.action == "hold" and decision.held_keys == {"customer_id": customer}
    return decision.hold_id


def raw_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- the encoding


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        "a\\ud800\udfff\\",  # a real backslash-u next to a surrogate: still read back exactly
        ["x", "é\udc80", {"k": "\ud83d"}],
        {"\ud800key": 1, "plain": "\udfff"},  # a key UTF-8 cannot encode
        {"$str": "not a tag"},  # a caller's dict shaped like a tag is not mistaken for one
        {"$obj": [["a", 1]]},
    ],
)
def test_any_value_is_recorded_and_read_back(log_path: Path, value):
    with AuditLog(log_path) as log:
        entry = log.append("set_param", "p", value, [value], by="u\udcff", reason="why \ud800")
    assert (entry.old, entry.new, entry.by, entry.reason) == (value, [value], "u\udcff", "why \ud800")
    assert verify(log_path).ok
    (read,) = read_entries(log_path)
    assert (read.old, read.new, read.by, read.reason) == (value, [value], "u\udcff", "why \ud800")


def test_the_tag_is_readable_and_covered_by_the_hash(log_path: Path):
    with AuditLog(log_path) as log:
        log.append("set_param", "p", None, "a\ud800b", by="ops")
    (line,) = raw_lines(log_path)
    assert line["new"] == {"$str": "a\\ud800b"}
    assert line["hash"] == audit.entry_hash(line)
    text = log_path.read_text(encoding="utf-8")
    log_path.write_text(text.replace("a\\\\ud800b", "a\\\\ud801b"), encoding="utf-8")
    report = verify(log_path)
    assert not report.ok and report.line == 1 and "hash does not match" in (report.error or "")


def test_lines_without_such_strings_are_byte_identical(log_path: Path):
    import msgspec

    with AuditLog(log_path, now=lambda: "2026-01-01T00:00:00.000Z") as log:
        entry = log.append("set_param", "p", {"a": ["x", 1]}, "é", by="ops", reason="r")
    fields = {f: getattr(entry, f) for f in audit.AuditEntry.__struct_fields__ if f != "hash"}
    expected_hash = audit.hashlib.sha256(msgspec.json.encode(fields, order="sorted")).hexdigest()
    assert entry.hash == expected_hash
    assert log_path.read_bytes() == msgspec.json.encode(audit.AuditEntry(**fields, hash=expected_hash)) + b"\n"
    assert list_digest(["b", "a"]) == "sha256:" + audit.hashlib.sha256(b'["a","b"]').hexdigest()


# ---------------------------------------------------------------- holds


def test_confirm_hold_with_a_surrogate_held_key_is_recorded(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    hold_id = hold(engine, BAD)
    done = engine.confirm_hold(hold_id, "block", by="rev\ud800", reason="fraud")
    assert done.outcome == "blocked" and engine.holds() == []
    (entry,) = read_entries(log_path)
    assert (entry.action, entry.target, entry.by) == ("hold.confirm", hold_id, "rev\ud800")
    assert entry.old["held_keys"] == {"customer_id": BAD}
    assert verify(log_path).ok


def test_expire_due_with_a_poisoned_hold_expires_both(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    poisoned = hold(engine, BAD, T0)
    plain = hold(engine, "C2", T0 + 1)
    out = engine.expire_due(T0 + 10 * 86_400_000)
    assert sorted(o.hold_id for o in out) == sorted([poisoned, plain])
    assert engine.holds() == []
    entries = read_entries(log_path)
    assert [e.action for e in entries] == ["hold.expire", "hold.expire"]
    assert {e.target: e.old["held_keys"]["customer_id"] for e in entries} == {poisoned: BAD, plain: "C2"}
    assert verify(log_path).ok


def test_a_hold_whose_line_cannot_be_written_stays_open_and_the_others_expire(
    ruleset: Path, log_path: Path, monkeypatch
):
    engine = load(ruleset, log_path)
    first = hold(engine, "C1", T0)
    refused = hold(engine, "C2", T0 + 1)
    last = hold(engine, "C3", T0 + 2)
    real_append = AuditLog.append

    def append(self, action, target, *args, **kw):
        if target == refused:
            raise audit.AuditError("disk full")
        return real_append(self, action, target, *args, **kw)

    monkeypatch.setattr(AuditLog, "append", append)
    seen: list = []
    with pytest.raises(ExpiryError) as info:
        engine.expire_due(T0 + 10 * 86_400_000, callback=seen.append)
    err = info.value
    assert isinstance(err, audit.AuditError)
    assert [o.hold_id for o in err.expired] == [first, last] == [o.hold_id for o in seen]
    assert [h for h, _e in err.failures] == [refused] and "disk full" in str(err) and refused in str(err)
    assert [h.hold_id for h in engine.holds()] == [refused]  # nothing half-applied: open, no line
    assert engine.hold_outcome(refused) is None
    assert [e.target for e in read_entries(log_path)] == [first, last]
    monkeypatch.setattr(AuditLog, "append", real_append)
    (again,) = engine.expire_due(T0 + 10 * 86_400_000)  # the next call expires it
    assert again.hold_id == refused and engine.holds() == []
    assert verify(log_path).ok


# ---------------------------------------------------------------- settings


def test_set_param_and_update_list_with_surrogates_are_logged_and_replayed(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    engine.set_param("tag", "t\ud800", by="ops\udfff", reason="r\ud800")
    engine.update_list("black", ["BAD", BAD, "a\\ud800"], by="ops")
    assert engine.get_param("tag") == "t\ud800"
    entries = read_entries(log_path)
    assert (entries[0].old, entries[0].new, entries[0].by) == ("none", "t\ud800", "ops\udfff")
    assert sorted(entries[1].new["entries"]) == sorted(["BAD", BAD, "a\\ud800"])
    assert entries[1].new["digest"] == list_digest([BAD, "a\\ud800", "BAD"])
    assert verify(log_path).ok
    params, lists = replay_settings(log_path)
    assert params == {"tag": "t\ud800"}
    assert sorted(lists["black"]) == sorted(["BAD", BAD, "a\\ud800"])
    restarted = ruledsl.load(ruleset, params=params, lists=lists, compiled="never", clock=None)
    assert restarted.get_param("tag") == "t\ud800"
    decision = restarted.evaluate({"type": "transfer", "ts": T0, "customer_id": BAD, "amount": "1"})
    assert decision.action == "block"


# ---------------------------------------------------------------- the CLI


def test_cli_verify_and_show_read_such_a_log_and_still_catch_tampering(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    engine.set_param("tag", "t\ud800", by="ops\udfff")
    engine.set_param("tag", "t\\ud800", by="ops")  # a real backslash: shown differently
    runner = CliRunner()
    shown = runner.invoke(app, ["audit", "show", str(log_path)])
    assert shown.exit_code == 0, shown.output
    assert "ops\\udfff" in shown.output and '"t\\ud800"' in shown.output and '"t\\\\ud800"' in shown.output
    engine.confirm_hold(hold(engine, BAD), "release", by="rev")
    ok = runner.invoke(app, ["audit", "verify", str(log_path)])
    assert ok.exit_code == 0, ok.output
    assert "ok, 3 entries" in ok.output
    text = log_path.read_text(encoding="utf-8")
    log_path.write_text(text.replace("ops\\\\udfff", "eve"), encoding="utf-8")
    bad = runner.invoke(app, ["audit", "verify", str(log_path)])
    assert bad.exit_code != 0 and ":1:" in bad.output and "hash does not match" in bad.output
