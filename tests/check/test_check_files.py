"""Loading and checking ruleset files in one call: load_and_check and check_files."""

from __future__ import annotations

import pytest

from ruledsl.check.checker import check_files, load_and_check
from ruledsl.syntax.diagnostics import RuleDSLError

CLEAN = """
event transfer { customer: string amount: decimal }
rule big { on transfer when amount > 1000 action alert reason "big" }
"""
WARNING = CLEAN + "const unused = 3\n"
SYNTAX = CLEAN + "rule broken { when amount > action block }\n"
TYPE_ERROR = CLEAN + 'rule odd { on transfer when amount > "x" action block reason "odd" }\n'


def write(tmp_path, text: str):
    path = tmp_path / "case.rdsl"
    path.write_text(text, encoding="utf-8")
    return path


def codes(diags) -> list[str]:
    return [d.code for d in diags]


def test_a_clean_file_is_checked(tmp_path):
    result = check_files(write(tmp_path, CLEAN))
    assert result.ok and result.diagnostics == []
    assert list(result.symbols.rules) == ["big"]
    assert "case.rdsl" in "".join(result.sources)


def test_warnings_do_not_raise(tmp_path):
    result = check_files([write(tmp_path, WARNING)])
    assert codes(result.diagnostics) == ["RD307"]


def test_check_errors_raise_with_every_diagnostic(tmp_path):
    with pytest.raises(RuleDSLError) as err:
        check_files(write(tmp_path, TYPE_ERROR + "const unused = 3\n"))
    assert sorted(codes(err.value.diagnostics)) == ["RD201", "RD307"]
    assert err.value.sources  # so the error renders the source lines
    assert 'amount > "x"' in str(err.value)


def test_syntax_errors_stop_before_the_checker(tmp_path):
    result = load_and_check(write(tmp_path, SYNTAX + "const unused = 3\n"))
    assert codes(result.diagnostics) == ["RD001"]  # no RD307 from a program with holes
    assert not result.ok and result.symbols.rules == {}
    with pytest.raises(RuleDSLError) as err:
        check_files(write(tmp_path, SYNTAX))
    assert codes(err.value.diagnostics) == ["RD001"]


def test_unreadable_file_is_a_diagnostic(tmp_path):
    result = load_and_check(tmp_path / "missing.rdsl")
    assert codes(result.diagnostics) == ["RD006"]
    with pytest.raises(RuleDSLError):
        check_files(tmp_path / "missing.rdsl")


def test_sources_stand_in_for_files():
    result = load_and_check(["virtual.rdsl"], sources={"virtual.rdsl": CLEAN})
    assert result.ok and list(result.symbols.rules) == ["big"]
