"""The audit trail (issue 11, item 5): the hash-chained log, the engine's records, tampering, restarts."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest

import ruledsl
from ruledsl.check.checker import check_files
from ruledsl.runtime import audit
from ruledsl.runtime.audit import GENESIS, AuditError, AuditLog, Head, list_digest, replay_settings, verify
from ruledsl.runtime.engine import build_engine
from ruledsl.syntax.diagnostics import RuleDSLError

SOURCE = """\
ruleset audited {
  timezone "Asia/Shanghai"
}
event transfer {
  customer_id: string
  amount: decimal
}
param big: decimal = 50000
param max_count: int = 3
list black: string = ["BAD"]
window cnt = count() of transfer by customer_id over 10m
rule big_amount {
  reason "大额转账"
  on transfer
  when amount > big
  action hold
}
rule blacklisted {
  reason "黑名单"
  on transfer
  when customer_id in black
  action block
}
rule busy {
  reason "频繁"
  on transfer
  when cnt > max_count
  action alert
}
"""

T0 = 1_700_000_000_000


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    path = tmp_path / "audited.rdsl"
    path.write_text(SOURCE, encoding="utf-8")
    return path


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def load(ruleset: Path, log, **kw) -> ruledsl.Engine:
    return ruledsl.load(ruleset, audit_log=log, compiled="never", clock=None, **kw)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tx(customer: str = "C1", amount: str = "100", ts: int = T0) -> dict:
    return {"type": "transfer", "ts": ts, "customer_id": customer, "amount": amount}


def make_log(log_path: Path, n: int = 5) -> list[dict]:
    with AuditLog(log_path) as log:
        for i in range(n):
            log.append("set_param", "big", str(i), str(i + 1), by=f"user{i}", reason=f"step {i}")
    return lines(log_path)


def write_lines(path: Path, entries: list) -> None:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)) + "\n" for e in entries))


# ---------------------------------------------------------------- the line format


def test_line_format_fields_and_hash_are_as_documented(log_path: Path):
    with AuditLog(log_path) as log:
        first = log.append("set_param", "big", "1", "2", by="alice", reason="提高阈值")
        second = log.append("update_list", "black", {"count": 1}, {"count": 2}, by="bob")
    one, two = lines(log_path)
    assert list(one) == ["seq", "at", "by", "action", "target", "old", "new", "reason", "prev", "hash"]
    assert (one["seq"], two["seq"]) == (1, 2)
    assert one["prev"] == GENESIS and two["prev"] == one["hash"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", one["at"])
    assert (one["by"], one["reason"], two["reason"]) == ("alice", "提高阈值", None)
    for entry in (one, two):  # sha256 over the entry without `hash`: sorted keys, no white space, UTF-8
        body = {k: v for k, v in entry.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert entry["hash"] == hashlib.sha256(canonical).hexdigest()
    assert (first.hash, second.hash) == (one["hash"], two["hash"])


def test_head_and_default_by(log_path: Path):
    log = AuditLog(log_path, default_by="svc-risk-admin")
    assert log.head() == Head(0, GENESIS)
    entry = log.append("reload", "audited", None, {"x": Decimal("1.50")})
    assert entry.by == "svc-risk-admin" and entry.new == {"x": "1.50"}
    assert log.head() == Head(1, entry.hash)
    assert str(log.head()) == f"1:{entry.hash}" and Head.parse(str(log.head())) == log.head()
    log.close()
    with pytest.raises(AuditError, match="closed"):
        log.append("reload", "audited", None, None)
    other = log_path.with_name("other.jsonl")
    assert AuditLog(other).append("exempt", "k", None, None).by == "unknown"
    assert verify(other).entries == 1


@pytest.mark.parametrize("action", ["hold.confirm", "control.set", "control.lift", "exempt", "list.add_entries"])
def test_reserved_and_new_actions_are_accepted(log_path: Path, action: str):
    with AuditLog(log_path) as log:
        log.append(action, "acct-1", {"open": True}, {"open": False}, by="ops", reason="call-back reached the customer")
    assert verify(log_path).ok and lines(log_path)[0]["action"] == action


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "Set Param"}, "action must be"),
        ({"by": ""}, "by must name"),
        ({"by": 7}, "by must name"),
        ({"reason": 3}, "reason must be"),
        ({"new": object()}, "JSON-able"),
        ({"target": None}, "target must be"),
    ],
)
def test_bad_append_arguments_write_nothing(log_path: Path, kwargs: dict, message: str):
    args = {"action": "set_param", "target": "big", "old": 1, "new": 2, "by": "alice", "reason": None} | kwargs
    with AuditLog(log_path) as log:
        with pytest.raises(AuditError, match=message):
            log.append(args.pop("action"), args.pop("target"), args.pop("old"), args.pop("new"), **args)
        assert log.head().seq == 0
    assert log_path.read_bytes() == b""


def test_head_parse_refuses_malformed_text():
    for bad in ("", "3", "x:" + "a" * 64, "3:" + "a" * 63, "3:" + "G" * 64):
        with pytest.raises(ValueError, match="SEQ:HASH"):
            Head.parse(bad)


def test_list_digest_ignores_order_and_duplicates():
    assert list_digest(["b", "a", "a"]) == list_digest(["a", "b"]) != list_digest(["a"])
    assert list_digest([]).startswith("sha256:")


# ---------------------------------------------------------------- continuing and refusing


def test_reopening_continues_the_chain(log_path: Path):
    make_log(log_path, 3)
    with AuditLog(log_path) as log:
        assert log.head().seq == 3
        log.append("set_param", "big", "3", "4", by="x")
    report = verify(log_path)
    assert report.ok and report.entries == 4


def test_two_writers_on_one_file_extend_one_chain(log_path: Path):
    a, b = AuditLog(log_path), AuditLog(log_path)
    for i in range(4):
        (a if i % 2 else b).append("set_param", "big", i, i + 1, by="w")
    assert verify(log_path).ok and verify(log_path).entries == 4
    assert a.head() == b.head()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: raw[:-20], "incomplete"),  # a torn write
        (lambda raw: raw[: raw.rstrip(b"\n").rfind(b"\n") + 1] + b"{not json}\n", "damaged: not valid JSON"),
        (lambda raw: raw.replace(b'"by":"user2"', b'"by":"eve"'), "damaged: hash does not match"),
    ],
)
def test_a_damaged_last_line_is_refused_not_forked(log_path: Path, damage, message: str):
    make_log(log_path, 3)
    log_path.write_bytes(damage(log_path.read_bytes()))
    before = log_path.read_bytes()
    with pytest.raises(AuditError, match=message) as info:
        AuditLog(log_path)
    assert "refusing to continue the chain" in str(info.value)
    assert log_path.read_bytes() == before


# ---------------------------------------------------------------- verify: tampering


def test_verify_an_intact_log(log_path: Path):
    make_log(log_path, 5)
    report = verify(log_path)
    assert report.ok and report.entries == 5 and report.head.seq == 5 and report.line is None
    assert verify(log_path, expect_head=report.head).ok
    assert verify(log_path, expect_head=str(Head(3, lines(log_path)[2]["hash"]))).ok  # an older anchor still holds


def test_verify_names_an_edited_field(log_path: Path):
    entries = make_log(log_path)
    entries[2]["new"] = "999"
    write_lines(log_path, entries)
    report = verify(log_path)
    assert not report.ok and report.line == 3 and "edited" in report.error
    assert str(report) == f"{log_path}:3: {report.error}"


def test_verify_names_a_removed_line(log_path: Path):
    entries = make_log(log_path)
    del entries[1]
    write_lines(log_path, entries)
    report = verify(log_path)
    assert (report.ok, report.line) == (False, 2) and "seq 3 where 2 was expected" in report.error


def test_verify_names_swapped_lines(log_path: Path):
    entries = make_log(log_path)
    entries[2], entries[3] = entries[3], entries[2]
    write_lines(log_path, entries)
    report = verify(log_path)
    assert (report.ok, report.line) == (False, 3) and "seq 4 where 3 was expected" in report.error


def test_verify_names_the_line_after_an_inserted_forged_line(log_path: Path):
    entries = make_log(log_path)
    # a well-formed forgery: right seq, prev and hash; only its successor's prev gives it away
    body = {"seq": 3, "at": entries[2]["at"], "by": "mallory", "action": "set_param", "target": "big"}
    body |= {"old": "2", "new": "1", "reason": None, "prev": entries[1]["hash"]}
    body["hash"] = audit.entry_hash(body)
    forged_chain = [*entries[:2], body, *[e | {"seq": e["seq"] + 1} for e in entries[2:]]]
    write_lines(log_path, forged_chain)  # renumbered too: the hashes no longer match
    report = verify(log_path)
    assert (report.ok, report.line) == (False, 4) and "edited" in report.error
    write_lines(log_path, [*entries[:2], body, *entries[2:]])  # inserted as is: seq repeats
    report = verify(log_path)
    assert (report.ok, report.line) == (False, 4) and "seq 3 where 4 was expected" in report.error


def test_verify_names_a_forged_prev(log_path: Path):
    entries = make_log(log_path)
    forged = entries[3] | {"prev": "f" * 64}
    forged["hash"] = audit.entry_hash(forged)
    write_lines(log_path, [*entries[:3], forged, entries[4]])
    report = verify(log_path)
    assert (report.ok, report.line) == (False, 4) and "prev does not match" in report.error


def test_verify_names_truncated_and_bad_json(log_path: Path):
    make_log(log_path)
    raw = log_path.read_bytes()
    log_path.write_bytes(raw[:-30])  # the last line cut mid-JSON
    report = verify(log_path)
    assert (report.ok, report.line) == (False, 5) and "incomplete" in report.error
    log_path.write_bytes(raw[:-30] + b"\n")
    report = verify(log_path)
    assert (report.ok, report.line) == (False, 5) and "not valid JSON" in report.error
    text = raw.decode().splitlines(keepends=True)
    log_path.write_text(text[0] + "[1, 2]\n" + "".join(text[2:]))
    assert (verify(log_path).line, verify(log_path).error) == (2, "not a JSON object")
    log_path.write_text(text[0] + "\n" + "".join(text[1:]))
    assert (verify(log_path).line, verify(log_path).error) == (2, "empty line")
    log_path.write_text(text[0] + json.dumps({"seq": 2}) + "\n")
    assert verify(log_path).line == 2 and "missing field(s): at, by" in verify(log_path).error


def test_expect_head_catches_a_cut_tail_and_a_rewrite(log_path: Path):
    entries = make_log(log_path)
    anchor = verify(log_path).head
    write_lines(log_path, entries[:3])  # the tail cut cleanly: still a valid chain on its own
    assert verify(log_path).ok
    report = verify(log_path, expect_head=anchor)
    assert (report.ok, report.line) == (False, 4) and "ends at seq 3" in report.error and "cut off" in report.error
    log_path.unlink()
    make_log(log_path, 6)  # a wholesale rewrite: a fresh, self-consistent chain
    assert verify(log_path).ok
    report = verify(log_path, expect_head=anchor)
    assert (report.ok, report.line) == (False, 5) and "not the expected" in report.error


def test_verify_missing_and_empty_logs(tmp_path: Path):
    assert verify(tmp_path / "none.jsonl").error == "no such log file"
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    report = verify(empty)
    assert report.ok and report.entries == 0 and report.head == Head(0, GENESIS)


# ---------------------------------------------------------------- the engine's records


def test_set_param_records_old_new_by_reason(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    engine.set_param("big", "60000.50", by="alice", reason="旺季提高阈值")
    engine.set_param("max_count", 5)
    one, two = lines(log_path)
    assert (one["action"], one["target"], one["old"], one["new"]) == ("set_param", "big", "50000.0000", "60000.5000")
    assert (one["by"], one["reason"]) == ("alice", "旺季提高阈值")
    assert (two["old"], two["new"], two["by"], two["reason"]) == (3, 5, "unknown", None)
    assert engine.get_param("big") == Decimal("60000.50")
    assert verify(log_path).ok


def test_update_list_records_count_digest_and_changes(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    engine.update_list("black", ["A", "B", "B"], by="bob", reason="ticket 42")
    engine.update_list("black", ["A", "C"], by="bob")
    one, two = lines(log_path)
    assert one["old"] == {"count": 1, "digest": list_digest(["BAD"])}
    assert one["new"] == {
        "count": 2,
        "digest": list_digest(["A", "B"]),
        "added": ["A", "B"],
        "removed": ["BAD"],
        "entries": ["A", "B"],
    }
    assert two["old"] == {"count": 2, "digest": list_digest(["A", "B"])}
    assert (two["new"]["added"], two["new"]["removed"]) == (["C"], ["B"])
    assert (one["by"], one["reason"], two["reason"]) == ("bob", "ticket 42", None)
    assert engine.evaluate(tx("C")).action == "block"


def test_big_lists_are_recorded_by_count_and_digest_only(ruleset: Path, log_path: Path, monkeypatch):
    monkeypatch.setattr(audit, "FULL_LIST_LIMIT", 50)
    monkeypatch.setattr(audit, "DIFF_LIMIT", 10)
    engine = load(ruleset, log_path)
    big = [f"acct{i:04d}" for i in range(100)]
    engine.update_list("black", big)
    engine.update_list("black", [*big, "new1"])
    one, two = lines(log_path)
    assert one["new"] == {"count": 100, "digest": list_digest(big)}  # 101 changed: no diff, no entries
    assert two["new"] == {"count": 101, "digest": list_digest([*big, "new1"]), "added": ["new1"], "removed": []}
    assert two["old"]["digest"] == one["new"]["digest"]


def test_reload_records_the_ruleset_versions(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    log = engine.audit_log
    before = hashlib.sha256(ruleset.read_bytes()).hexdigest()
    ruleset.write_text(SOURCE.replace("over 10m", "over 20m"), encoding="utf-8")
    engine.reload(by="carol", reason="CR-7: longer window", params={"max_count": 4})
    (entry,) = lines(log_path)
    assert (entry["action"], entry["target"], entry["by"], entry["reason"]) == (
        "reload",
        "audited",
        "carol",
        "CR-7: longer window",
    )
    assert entry["old"]["paths"] == entry["new"]["paths"] == [str(ruleset)]
    assert entry["old"]["digest"] != entry["new"]["digest"] and before  # the text changed
    assert entry["new"]["params"] == {"max_count": 4} and entry["new"]["kept_state"] == []
    assert engine.audit_log is log  # the reloaded engine keeps the log object
    engine.set_param("big", 1, by="carol")
    assert verify(log_path).entries == 2


def test_restore_at_load_records_the_snapshot(ruleset: Path, log_path: Path, tmp_path: Path):
    engine = load(ruleset, None)
    engine.set_param("big", "70000")
    engine.update_list("black", ["X"])
    snap = tmp_path / "state.snap"
    engine.snapshot(snap)
    restored = load(ruleset, AuditLog(log_path, default_by="deploy-bot"), state=snap)
    (entry,) = lines(log_path)
    assert (entry["action"], entry["target"], entry["by"], entry["old"]) == ("restore", str(snap), "deploy-bot", None)
    assert entry["new"]["digest"] == "sha256:" + hashlib.sha256(snap.read_bytes()).hexdigest()
    assert entry["new"]["params"] == {"big": "70000.0000"}  # decimals as exact text
    assert entry["new"]["lists"]["black"]["entries"] == ["X"]
    assert restored.get_param("big") == Decimal("70000")


def test_build_engine_passes_the_log_through(ruleset: Path, log_path: Path):
    engine = build_engine(check_files([ruleset]), audit_log=log_path, evaluator_mode="never")
    engine.set_param("max_count", 9, by="x")
    assert lines(log_path)[0]["new"] == 9


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda e: e.set_param("big", "not a number", by="a"), ValueError),
        (lambda e: e.set_param("nope", 1, by="a"), KeyError),
        (lambda e: e.set_param("max_count", 1, by=""), AuditError),
        (lambda e: e.set_param("max_count", 1, reason=5), AuditError),
        (lambda e: e.update_list("black", ["ok", 5], by="a"), TypeError),
        (lambda e: e.update_list("nope", ["x"], by="a"), KeyError),
        (lambda e: e.update_list("black", ["x"], by=None, reason=b"bytes"), AuditError),
    ],
)
def test_failed_changes_log_nothing_and_change_nothing(ruleset: Path, log_path: Path, change, error):
    engine = load(ruleset, log_path)
    with pytest.raises(error):
        change(engine)
    assert log_path.read_bytes() == b""
    assert engine.get_param("big") == Decimal(50000) and engine.get_param("max_count") == 3
    assert engine.evaluate(tx("BAD")).action == "block" and engine.evaluate(tx("x")).action == "pass"


def test_a_failed_reload_logs_nothing(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    ruleset.write_text(SOURCE.replace("when amount > big", "when amount > nowhere"), encoding="utf-8")
    with pytest.raises(RuleDSLError):
        engine.reload(by="carol")
    assert log_path.read_bytes() == b""


def test_a_change_whose_line_cannot_be_written_is_undone(ruleset: Path, log_path: Path, monkeypatch):
    engine = load(ruleset, log_path)
    engine.set_param("big", "1000", by="a")

    def broken(*args, **kwargs):
        raise AuditError("disk full")

    monkeypatch.setattr(engine.audit_log, "append", broken)
    with pytest.raises(AuditError, match="disk full"):
        engine.set_param("big", "2000", by="a")
    with pytest.raises(AuditError, match="disk full"):
        engine.update_list("black", ["Z"], by="a")
    assert engine.get_param("big") == Decimal(1000)
    assert engine.evaluate(tx("BAD")).action == "block" and engine.evaluate(tx("Z")).action == "pass"
    assert verify(log_path).entries == 1


def test_evaluate_never_writes_and_no_log_means_no_file(ruleset: Path, log_path: Path, tmp_path: Path):
    engine = load(ruleset, log_path)
    engine.set_param("big", "10", by="a")
    size = log_path.stat().st_size
    for i in range(50):
        engine.evaluate(tx(amount="20", ts=T0 + i))
    assert log_path.stat().st_size == size
    plain = load(ruleset, None)
    plain.set_param("big", "10", by="a", reason="ignored without a log")
    plain.update_list("black", ["Q"], by="a")
    assert plain.audit_log is None and plain.get_param("big") == Decimal(10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "audited.rdsl"]


def test_concurrent_set_param_produce_a_valid_chain(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    n_threads, per_thread = 8, 25

    def work(t: int) -> None:
        for i in range(per_thread):
            engine.set_param("max_count", t * 1000 + i, by=f"thread{t}")
            engine.evaluate(tx(customer=f"c{t}", ts=T0 + i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    report = verify(log_path)
    assert report.ok and report.entries == n_threads * per_thread
    entries = lines(log_path)
    assert entries[0]["old"] == 3
    for before, after in itertools.pairwise(entries):  # recorded in the order the changes took effect
        assert after["old"] == before["new"]
    assert engine.get_param("max_count") == entries[-1]["new"]


# ---------------------------------------------------------------- restarts


def test_a_restart_keeps_params_and_lists_via_snapshot_and_log(
    ruleset: Path, log_path: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(audit, "FULL_LIST_LIMIT", 50)
    big_list = [f"acct{i:03d}" for i in range(200)]  # recorded by digest only: the snapshot carries it
    first = load(ruleset, log_path)
    first.update_list("black", big_list, by="ops")
    first.set_param("big", "80000", by="ops")
    snap = tmp_path / "state.snap"
    first.snapshot(snap)
    first.set_param("max_count", 7, by="ops", reason="after the snapshot")  # only the log has this
    first.evaluate(tx("acct007"))
    del first  # the process stops

    params, lists = replay_settings(log_path)
    assert params == {"max_count": 7, "big": "80000.0000"} and lists == {}
    second = load(ruleset, log_path, state=snap, params=params, lists=lists)
    assert second.get_param("max_count") == 7 and second.get_param("big") == Decimal(80000)
    assert second.evaluate(tx("acct199")).action == "block" and second.evaluate(tx("BAD")).action == "pass"
    # the restore is on the record with the settings it brought back
    entry = lines(log_path)[-1]
    assert entry["action"] == "restore" and entry["new"]["params"] == {"big": "80000.0000", "max_count": 7}
    assert entry["new"]["lists"]["black"] == {"count": 200, "digest": list_digest(big_list)}
    assert verify(log_path).ok

    second.update_list("black", ["ONLY"], by="ops")  # small again: the log alone rebuilds it
    params, lists = replay_settings(log_path)
    assert lists == {"black": ["ONLY"]}
    third = load(ruleset, log_path, params=params, lists=lists)  # no snapshot at all
    assert third.evaluate(tx("ONLY")).action == "block" and third.get_param("max_count") == 7


def test_replay_refuses_a_tampered_log(ruleset: Path, log_path: Path):
    engine = load(ruleset, log_path)
    engine.set_param("big", "1", by="a")
    engine.set_param("big", "2", by="a")
    entries = lines(log_path)
    entries[0]["new"] = "0"
    write_lines(log_path, entries)
    with pytest.raises(AuditError, match=":1: hash does not match"):
        replay_settings(log_path)
