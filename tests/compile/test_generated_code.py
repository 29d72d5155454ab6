"""The generated evaluator as people and tools see it.

- snapshot tests: one fixture ruleset per construct family in
  ``tests/compile/fixtures/*.rdsl``, its generated code in ``*.py.txt`` beside
  it (regenerate with ``RULEDSL_UPDATE_SNAPSHOTS=1`` and review the diff);
- the generated code loads no global outside ``compile.runtime.EXPORTED`` and
  the names the compiled ruleset binds;
- the line map and tracebacks point at the DSL file and line;
- ``ruledsl compile`` prints the code.
"""

from __future__ import annotations

import ast
import os
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ruledsl
from ruledsl.check.checker import check
from ruledsl.cli.app import app
from ruledsl.compile import compile_ruleset
from ruledsl.compile.runtime import EXPORTED
from ruledsl.syntax.loader import load_program, load_text

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHIPPED = sorted(p for p in (ROOT / "rulesets").glob("*.rdsl"))


def _compiled(paths, *, batched=False):
    program = load_program(paths)
    result = check(program)
    assert result.ok, [d.message for d in result.diagnostics]
    return compile_ruleset(result, batched=batched)


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.rdsl")), ids=lambda p: p.stem)
def test_generated_code_snapshot(fixture, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in comments are shown relative to the working directory
    source = _compiled(fixture.relative_to(ROOT)).source
    snap = fixture.with_suffix(".py.txt")
    if os.environ.get("RULEDSL_UPDATE_SNAPSHOTS") or not snap.exists():
        snap.write_text(source, encoding="utf-8")
    assert source == snap.read_text(encoding="utf-8")


def _loaded_globals(source: str) -> set[str]:
    """Names each generated function loads but never binds itself (its globals)."""
    tree = ast.parse(source)
    out: set[str] = set()
    for fn in tree.body:
        assert isinstance(fn, ast.FunctionDef)
        local = {a.arg for a in fn.args.args}
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                local.add(node.id)
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                out.add(node.id)
    return out


@pytest.mark.parametrize("batched", [False, True], ids=["local", "store"])
@pytest.mark.parametrize("path", SHIPPED + sorted(FIXTURES.glob("*.rdsl")), ids=lambda p: p.stem)
def test_generated_code_uses_only_exported_names(path, batched):
    compiled = _compiled(path, batched=batched)
    used = _loaded_globals(compiled.source)
    unknown = used - EXPORTED - compiled.bound_names()
    assert not unknown, f"generated code loads names the runtime does not export: {sorted(unknown)}"
    # and the check is not vacuous: the code does use helpers and bound kernels
    assert used & EXPORTED


def test_names_come_from_the_dsl():
    compiled = _compiled(FIXTURES / "windows.rdsl")
    src = compiled.source
    for name in ("w_txn_10m", "W_txn_10m", "f_amount", "p_max_txn_10m", "ev_transfer", "k_devices_1d"):
        assert name in src
    assert "# rule rapid_transfers (" in src
    assert "if True" not in src and "2 if True" not in src


def test_non_identifier_names_fall_back_to_indexes():
    text = """
ruleset 规则 { timezone "UTC" }
event 转账 { 客户: string  amount: decimal }
window ｗ金额 = sum(amount) of 转账 by 客户 over 1h
rule 大额 { reason "大额" on 转账 when ｗ金额 > 100 action alert }
"""
    result = check(load_text(text, "cn.rdsl"))
    assert result.ok, [d.message for d in result.diagnostics]
    compiled = compile_ruleset(result)
    # a Chinese name is a Python identifier; a full-width one changes under NFKC and falls back
    assert "def ev_转账(" in compiled.source and "f_客户" in compiled.source
    assert "W0" in compiled.window_names and "w0 = " in compiled.source
    from ruledsl.runtime.engine import build_engine

    engine = build_engine(result)
    for i in range(3):
        d = engine.evaluate({"type": "转账", "ts": 1_700_000_000_000 + i, "客户": "c", "amount": "60"})
    assert d.action == "alert" and d.rules[0].id == "大额"


def test_line_map_points_every_rule_at_its_declaration(monkeypatch):
    monkeypatch.chdir(ROOT)
    compiled = _compiled(Path("rulesets/echannel_monitoring.rdsl"))
    lines = compiled.source.splitlines()
    seen = 0
    for meta in compiled.rules:
        for i, line in enumerate(lines, start=1):
            if line.strip().startswith(f"# rule {meta.id} ("):
                test_line = i + 1  # the `if` under the comment
                loc = compiled.linemap.lookup(test_line)
                assert loc is not None and loc.label == f"rule {meta.id}"
                assert loc.path == meta.path
                assert meta.line <= loc.line  # the `when` line, inside the rule
                dsl = (ROOT / loc.path).read_text(encoding="utf-8").splitlines()[loc.line - 1]
                assert "when" in dsl or meta.id in dsl
                seen += 1
    assert seen >= len(compiled.rules)


def test_traceback_inside_generated_code_shows_the_dsl_line(tmp_path):
    rules = tmp_path / "tb.rdsl"
    rules.write_text(
        'ruleset tb { timezone "UTC" }\n'
        "event login { customer_id: string  opened_at: timestamp }\n"
        "rule odd_hour {\n"
        '  reason "开户时间异常"\n'
        "  on login\n"
        "  when hour(opened_at) == 3\n"
        "  action alert\n"
        "}\n",
        encoding="utf-8",
    )
    engine = ruledsl.load(rules)

    def broken_hour(ts):  # a bug in a runtime helper, as a stand-in for any internal error
        raise ZeroDivisionError("boom")

    engine._ns["_hour"] = broken_hour
    with pytest.raises(ZeroDivisionError) as info:
        engine.evaluate({"type": "login", "ts": 1_700_000_000_000, "customer_id": "c", "opened_at": 0})
    text = "".join(traceback.format_exception(info.value))
    assert f'File "{rules}", line 6, in rule odd_hour' in text or "line 6, in rule odd_hour" in text, text
    assert "when hour(opened_at) == 3" in text  # the DSL line itself is shown
    assert "broken_hour" in text  # the frames below generated code are kept
    # the engine still works for events that do not hit the bug
    engine._ns["_hour"] = lambda ts: 0
    assert (
        engine.evaluate({"type": "login", "ts": 1_700_000_000_001, "customer_id": "c", "opened_at": 0}).action == "pass"
    )


def test_event_errors_keep_their_traceback_untouched():
    engine = ruledsl.load(FIXTURES / "windows.rdsl")
    with pytest.raises(ruledsl.EventError) as info:
        engine.evaluate({"type": "transfer", "ts": 1, "customer_id": "c", "amount": "x", "payee_account": "p"})
    assert info.value.field == "amount"


def test_generated_source_is_registered_for_tools():
    import linecache

    engine = ruledsl.load(FIXTURES / "windows.rdsl")
    name = engine.compiled.filename
    assert linecache.getline(name, 1).startswith("# ruledsl generated code")


def test_compile_command_prints_the_code():
    runner = CliRunner()
    res = runner.invoke(app, ["compile", str(FIXTURES / "windows.rdsl"), "--event", "transfer"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("def ev_transfer(ev, commit):")
    res = runner.invoke(app, ["compile", str(FIXTURES / "windows.rdsl"), "--linemap"])
    assert res.exit_code == 0
    assert "windows.rdsl:22" in res.output  # the rapid_transfers rule's line
    res = runner.invoke(app, ["compile", str(FIXTURES / "windows.rdsl"), "--check"])
    assert res.exit_code == 0 and "compiled 1 event functions, 3 rules, 5 windows" in res.output
    res = runner.invoke(app, ["compile", str(FIXTURES / "windows.rdsl"), "--event", "nope"])
    assert res.exit_code == 2 and "unknown event type" in res.output


def test_compile_command_reports_diagnostics(tmp_path):
    bad = tmp_path / "bad.rdsl"
    bad.write_text('ruleset b { timezone "UTC" }\nrule r { reason "x" on nope when true action block }\n')
    res = CliRunner().invoke(app, ["compile", str(bad)])
    assert res.exit_code == 1
    assert "bad.rdsl:2" in res.output
