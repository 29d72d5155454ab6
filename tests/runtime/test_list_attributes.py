"""Lists with attributes (issue 11.4): CSV and JSON Lines files, categories, sources, expiries
in event time, free attributes, incremental ``update_list``, ``list_entry``, audit, snapshots, reload."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import ruledsl
from ruledsl.check.checker import check_files, load_and_check
from ruledsl.check.listfiles import EntryReader, ListFileError, _csv_fast, _csv_rows, read_table
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.runtime.lists import ListEntry

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

RULESET = """
ruleset listattrs { timezone "UTC" }
event transfer { payee: string  amount: decimal }
list risk: string = file("LISTFILE")
rule fraud { reason "fraud account" on transfer when list_category(risk, payee) == "fraud" action block }
rule suspect { reason "suspect account" on transfer when list_category(risk, payee) == "suspect" action hold }
rule named { reason "name match" on transfer when list_category(risk, payee) == "name_match" action alert }
rule police {
  reason "police source, noted"
  on transfer
  when list_source(risk, payee) == "police" and list_attr(risk, payee, "note") == "urgent"
  action block
}
rule soon {
  reason "listed, expiring within a day"
  on transfer
  when payee in risk and list_expires_at(risk, payee) < ts + 1d
  action step_up
}
"""

CSV = """value,category,source,expires_at,note
A1,fraud,icbc,,
A2,suspect,pboc,2026-01-10T00:00:00Z,
A3,name_match,,,
A4,other,police,,urgent
A5,suspect,icbc,{exp},
"""


def write_ruleset(tmp_path: Path, list_name: str, list_text: str) -> Path:
    (tmp_path / list_name).write_text(list_text, encoding="utf-8")
    path = tmp_path / "rules.rdsl"
    path.write_text(RULESET.replace("LISTFILE", list_name), encoding="utf-8")
    return path


def transfer(payee: str, ts: int = T0) -> dict:
    return {"type": "transfer", "ts": ts, "payee": payee, "amount": "10.00"}


@pytest.fixture
def csv_ruleset(tmp_path: Path) -> Path:
    return write_ruleset(tmp_path, "risk.csv", CSV.format(exp=T0 + 2 * DAY))


def engines(path: Path) -> tuple[ruledsl.Engine, ReferenceEngine]:
    engine = ruledsl.load(path, clock=None, compiled="never")
    return engine, ReferenceEngine(check_files([path]))


def actions(engine, ref, payee: str, ts: int = T0) -> tuple[str, str]:
    return engine.evaluate(transfer(payee, ts)).action, ref.evaluate(transfer(payee, ts)).action


def test_categories_drive_actions_and_agree_with_the_reference(csv_ruleset):
    engine, ref = engines(csv_ruleset)
    assert actions(engine, ref, "A1") == ("block", "block")
    assert actions(engine, ref, "A2") == ("hold", "hold")
    assert actions(engine, ref, "A3") == ("alert", "alert")
    assert actions(engine, ref, "A4") == ("block", "block")  # source police with note urgent
    assert actions(engine, ref, "ZZ") == ("pass", "pass")


def test_an_entry_expires_in_event_time_without_a_reload(csv_ruleset):
    engine, ref = engines(csv_ruleset)
    # A5 expires at T0 + 2d: within a day of it, `soon` fires as well as `suspect`
    assert actions(engine, ref, "A5", T0 + DAY + 1) == ("hold", "hold")
    assert [r.id for r in engine.evaluate(transfer("A5", T0 + DAY + 1)).rules] == ["suspect", "soon"]
    # at its expires_at it is no longer listed: no category, not `in`
    assert actions(engine, ref, "A5", T0 + 2 * DAY) == ("pass", "pass")
    # an event dated earlier (late or replayed) still sees it
    assert engine.peek(transfer("A5", T0)).action == "hold"


def test_list_entry_reads_the_attributes(csv_ruleset):
    engine, _ref = engines(csv_ruleset)
    assert engine.list_entry("risk", "A2") == ListEntry(
        "A2", category="suspect", source="pboc", expires_at=1_768_003_200_000, attrs={}
    )
    assert engine.list_entry("risk", "A4") == ListEntry(
        "A4", category="other", source="police", attrs={"note": "urgent"}
    )
    assert engine.list_entry("risk", "nope") is None
    with pytest.raises(KeyError, match="unknown list 'nope'"):
        engine.list_entry("nope", "A1")


def test_jsonl_file(tmp_path):
    lines = [
        {"value": "A1", "category": "fraud", "source": "icbc"},
        {"value": "A3", "category": "name_match", "attrs": {"name": "孙某某"}},
        {"value": "A5", "category": "suspect", "expires_at": T0 + DAY},
    ]
    path = write_ruleset(tmp_path, "risk.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n")
    engine, ref = engines(path)
    assert actions(engine, ref, "A1") == ("block", "block")
    assert actions(engine, ref, "A3") == ("alert", "alert")
    assert actions(engine, ref, "A5", T0 + DAY - 1) == ("hold", "hold")
    assert actions(engine, ref, "A5", T0 + DAY) == ("pass", "pass")
    assert engine.list_entry("risk", "A3").attrs == {"name": "孙某某"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("risk.csv", "category,source\nfraud,x\n", "line 1 of `risk.csv`: the header row has no `value` column"),
        ("risk.csv", "value,category\nA1,fraud\nA2,fraud,extra\nA3\n", "line 3 of `risk.csv`: 3 cells where"),
        ("risk.csv", "value,expires_at\nA1,\nA2,next tuesday\n", "line 3 of `risk.csv`: expires_at must be"),
        ("risk.csv", "value,category\nA1,fraud\n ,x\n", "line 3 of `risk.csv`: the value is empty"),
        ("risk.jsonl", '{"value": "A1"}\n{"value": "A2", "categroy": "x"}\n', "line 2 of `risk.jsonl`: unknown key"),
        ("risk.jsonl", '{"value": "A1"}\n\n[1]\n', "line 3 of `risk.jsonl`: not a JSON object"),
        ("risk.jsonl", '{"value": 7}\n', "line 1 of `risk.jsonl`: the value must be a text, not int"),
        ("risk.jsonl", '{"value": "A", "attrs": {"n": 1}}\n', "line 1 of `risk.jsonl`: attribute 'n'"),
    ],
)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, name, text, message):
    path = write_ruleset(tmp_path, name, text)
    with pytest.raises(ruledsl.RuleDSLError) as err:
        ruledsl.load(path, clock=None, compiled="never")
    shown = str(err.value)
    assert "RD114" in shown
    assert message in shown


def test_more_bad_lines_are_counted(tmp_path):
    (tmp_path / "l.csv").write_text("value,expires_at\nA,x\nB,y\nC,\nD,z\n", encoding="utf-8")
    with pytest.raises(ListFileError, match=r"l.csv:2: expires_at .* \(and 2 more bad lines\)"):
        read_table(str(tmp_path / "l.csv"), "string")


def test_fast_and_line_by_line_csv_readers_agree(tmp_path):
    rows = ["value,category,source,expires_at,note,branch"]
    for i in range(3000):
        exp = "" if i % 3 else str(T0 + i)
        rows.append(
            f"V{i},{['fraud', 'suspect', ''][i % 3]},{['a', 'b'][i % 2]},{exp},{'n' if i % 7 == 0 else ''},B{i % 5}"
        )
    rows.append("V5,override,,,,")  # a value listed twice: the later line wins
    path = tmp_path / "l.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    fast = read_table(str(path), "string")
    slow = dict(_csv_rows(str(path), EntryReader("string"), errs := []))
    assert errs == []
    assert dict(fast) == slow
    assert fast["V5"] == ("override", None, None, ())
    assert fast.first_exp == T0
    assert fast["V7"] == ("suspect", "b", None, (("branch", "B2"), ("note", "n")))
    assert fast["V2"] == (None, "a", None, (("branch", "B2"),))
    assert _csv_fast(str(path), EntryReader("string")) is not None  # the pyarrow path read it
    # equal attributes are one shared tuple
    assert fast["V1"] is fast["V31"]


def test_int_and_decimal_lists_with_attributes(tmp_path):
    (tmp_path / "ids.csv").write_text("value,category\n42,fraud\n-7,suspect\n", encoding="utf-8")
    (tmp_path / "amts.csv").write_text("value,category\n12.5,odd\n100,round\n", encoding="utf-8")
    rules = tmp_path / "r.rdsl"
    rules.write_text(
        textwrap.dedent("""
        ruleset nums { timezone "UTC" }
        event e { id: int  amount: decimal  n: int }
        list ids: int = file("ids.csv")
        list amts: decimal = file("amts.csv")
        rule a { reason "id" on e when list_category(ids, id) == "fraud" action block }
        rule b { reason "amount" on e when list_category(amts, amount) == "odd" action hold }
        rule c { reason "whole" on e when list_category(amts, n) == "round" action alert }
        rule d { reason "in" on e when amount in amts and n not in ids action step_up }
        """),
        encoding="utf-8",
    )
    engine, ref = engines(rules)
    for ev in (
        {"id": 42, "amount": "1", "n": 0},
        {"id": 1, "amount": "12.50", "n": 0},
        {"id": 1, "amount": "3", "n": 100},
        {"id": 1, "amount": "100.0", "n": 42},
        {"id": 1, "amount": "100.0", "n": 41},
    ):
        event = {"type": "e", "ts": T0, **ev}
        assert engine.evaluate(event).action == ref.evaluate(event).action, ev
    assert engine.evaluate({"type": "e", "ts": T0, "id": 42, "amount": "1", "n": 0}).action == "block"
    assert engine.evaluate({"type": "e", "ts": T0, "id": 1, "amount": "12.5", "n": 0}).action == "hold"


def test_checker_refuses_bad_calls(tmp_path):
    rules = tmp_path / "r.rdsl"
    rules.write_text(
        textwrap.dedent("""
        ruleset bad { timezone "UTC" }
        event e { id: int  amount: decimal  s: string }
        list ids: int = [1, 2]
        rule a { reason "x" on e when list_category(ids, amount) == "f" action block }
        rule b { reason "x" on e when list_source(s, s) == "f" action block }
        rule c { reason "x" on e when list_attr(ids, id) == "f" action block }
        rule d { reason "x" on e when list_category(ids, s) == "f" action block }
        """),
        encoding="utf-8",
    )
    messages = [d.message for d in load_and_check([rules]).diagnostics]
    assert "`list_category` looks up a `decimal` in a list of `int`" in messages
    assert "argument 1 of `list_source` must be the name of a declared list, not `string`" in messages
    assert "`list_attr` takes 3 arguments, not 2" in messages
    assert "`list_category` looks up a `string` in a list of `int`" in messages


# ---------------------------------------------------------------- update_list


def test_incremental_add_and_remove(csv_ruleset):
    engine, ref = engines(csv_ruleset)
    for x in (engine, ref):
        x.update_list(
            "risk",
            add=[
                "P1",
                {"value": "N1", "category": "fraud", "expires_at": T0 + DAY},
                ListEntry("N2", category="name_match", source="pboc"),
                {"value": "A3", "category": "fraud"},  # re-added: the new attributes
            ],
            remove=["A1", "not-listed"],
        )
    assert actions(engine, ref, "A1") == ("pass", "pass")
    assert actions(engine, ref, "N1") == ("block", "block")
    assert actions(engine, ref, "N1", T0 + DAY) == ("pass", "pass")
    assert actions(engine, ref, "N2") == ("alert", "alert")
    assert actions(engine, ref, "A3") == ("block", "block")
    assert actions(engine, ref, "A2") == ("hold", "hold")  # untouched
    assert engine.list_entry("risk", "P1") == ListEntry("P1")
    assert engine.list_entry("risk", "N1").expires_at == T0 + DAY


def test_replace_and_bad_calls_change_nothing(csv_ruleset):
    engine, _ref = engines(csv_ruleset)
    with pytest.raises(ValueError, match="not both"):
        engine.update_list("risk", ["X"], add=["Y"])
    with pytest.raises(ValueError, match="give values"):
        engine.update_list("risk")
    with pytest.raises(ValueError, match=r"list entry 1 .*expires_at must be"):
        engine.update_list("risk", add=[{"value": "ok"}, {"value": "bad", "expires_at": "soon"}])
    with pytest.raises(ValueError, match="unknown key"):
        engine.update_list("risk", add=[{"value": "bad", "kind": "fraud"}])
    with pytest.raises(ValueError, match="both added and removed"):
        engine.update_list("risk", add=["Q"], remove=["Q"])
    with pytest.raises(KeyError, match="unknown list"):
        engine.update_list("nope", add=["Q"])
    assert engine.list_entry("risk", "ok") is None
    assert engine.evaluate(transfer("A1")).action == "block"
    engine.update_list("risk", [{"value": "R1", "category": "suspect"}, "R2"])
    assert engine.evaluate(transfer("A1")).action == "pass"
    assert engine.evaluate(transfer("R1")).action == "hold"


def test_update_list_is_audited(csv_ruleset, tmp_path):
    log = tmp_path / "audit.jsonl"
    engine = ruledsl.load(csv_ruleset, clock=None, compiled="never", audit_log=log)
    engine.update_list("risk", add=[{"value": "N1", "category": "fraud"}], remove=["A1"], by="ops", reason="feed")
    big = [f"B{i}" for i in range(50)]
    engine.update_list("risk", add=big, by="ops", reason="bulk")
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    first, second = lines[-2], lines[-1]
    assert first["action"] == "update_list" and first["by"] == "ops"
    assert first["old"]["count"] == 5
    assert first["new"]["count"] == 5
    assert first["new"]["added"] == [{"value": "N1", "category": "fraud"}]
    assert first["new"]["removed"] == ["A1"]
    assert {"value": "N1", "category": "fraud"} in first["new"]["entries"]
    assert second["old"]["digest"] == first["new"]["digest"]
    assert second["new"]["added_count"] == 50 and "added" not in second["new"]
    assert ruledsl.runtime.audit.verify(log).ok
    # the log alone rebuilds the list, attributes included
    _params, lists = ruledsl.runtime.audit.replay_settings(log)
    again = ruledsl.load(csv_ruleset, clock=None, compiled="never", lists=lists)
    assert again.list_entry("risk", "N1") == ListEntry("N1", category="fraud")
    assert again.list_entry("risk", "A1") is None


def test_snapshot_and_reload_keep_run_time_lists_with_attributes(csv_ruleset, tmp_path):
    engine, _ref = engines(csv_ruleset)
    engine.update_list("risk", add=[{"value": "N1", "category": "fraud", "expires_at": T0 + DAY, "attrs": {"k": "v"}}])
    snap = tmp_path / "s.snap"
    engine.snapshot(snap)
    restored = ruledsl.load(csv_ruleset, clock=None, compiled="never", state=snap)
    assert restored.list_entry("risk", "N1") == ListEntry("N1", category="fraud", expires_at=T0 + DAY, attrs={"k": "v"})
    assert restored.list_entry("risk", "A2").category == "suspect"
    assert restored.evaluate(transfer("N1")).action == "block"
    assert restored.evaluate(transfer("N1", T0 + DAY)).action == "pass"
    restored.reload()
    assert restored.list_entry("risk", "N1").attrs == {"k": "v"}
    assert restored.evaluate(transfer("N1", T0 + 1)).action == "block"


def test_plain_lists_snapshot_without_list_meta(tmp_path):
    path = write_ruleset(tmp_path, "risk.txt", "A1\n")
    engine = ruledsl.load(path, clock=None, compiled="never")
    engine.update_list("risk", add=["A9"])
    snap = tmp_path / "s.snap"
    engine.snapshot(snap)
    data = ruledsl.runtime.persistence.read(snap)
    assert data.list_meta is None
    assert sorted(data.lists["risk"]) == ["A1", "A9"]


# ---------------------------------------------------------------- the Cython evaluator (slow: compiles C)


def test_cython_evaluator_list_functions(csv_ruleset):
    engine = ruledsl.load(csv_ruleset, clock=None, compiled="require")
    assert engine.stats()["evaluator"] == "cython"
    _python, ref = engines(csv_ruleset)
    for payee, ts in [
        ("A1", T0),
        ("A2", T0),
        ("A3", T0),
        ("A4", T0),
        ("A5", T0 + DAY + 1),
        ("A5", T0 + 2 * DAY),
        ("Z", T0),
    ]:
        assert engine.evaluate(transfer(payee, ts)).action == ref.evaluate(transfer(payee, ts)).action, payee
    assert [r.id for r in engine.evaluate(transfer("A5", T0 + DAY + 5)).rules] == ["suspect", "soon"]
    engine.update_list("risk", add=[{"value": "N1", "category": "fraud", "expires_at": T0 + DAY}], remove=["A1"])
    assert engine.evaluate(transfer("N1", T0 + DAY - 1)).action == "block"
    assert engine.evaluate(transfer("N1", T0 + DAY)).action == "pass"
    assert engine.evaluate(transfer("A1", T0 + DAY)).action == "pass"
