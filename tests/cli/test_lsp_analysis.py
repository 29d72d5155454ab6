"""The language server's answers, asked in-process (tests/cli/test_lsp.py asks them over stdio)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruledsl.cli.lsp.analysis import Analysis, completions, doc_comment, format_text
from ruledsl.cli.lsp.server import to_offset, to_position

SCHEMA = """\
event login {
  customer_id: string
  device_id: string?  # the phone or PC fingerprint
}

# a transfer from any channel
event transfer {
  customer_id: string cardinality 10M  # 客户号
  amount: decimal
}
"""

MAIN = """\
include "schema.rdsl"

sequence takeover by customer_id within 30m {
  step login where device_id == "x"
  step transfer where amount > 10
}

rule r {
  reason "r"
  on transfer
  when takeover and customer_id == "c"
  action block
}
"""


@pytest.fixture
def analysis(tmp_path: Path) -> Analysis:
    (tmp_path / "schema.rdsl").write_text(SCHEMA, encoding="utf-8")
    return Analysis(tmp_path / "main.rdsl", MAIN)


def test_a_field_of_several_event_types(analysis: Analysis) -> None:
    at = MAIN.index("customer_id", MAIN.index("sequence"))
    places = analysis.definition(at)
    assert sorted(p.span.line for p in places) == [2, 8]  # both event types of the sequence declare it
    hover = analysis.hover(at + 1)
    assert hover is not None
    assert "`customer_id: string` in `login`" in hover
    assert "`customer_id: string cardinality 10M` in `transfer`" in hover
    assert "客户号" in hover


def test_a_step_reads_its_own_event_type(analysis: Analysis) -> None:
    (place,) = analysis.definition(MAIN.index("device_id"))
    assert place.span.line == 3
    hover = analysis.hover(MAIN.index("device_id"))
    assert hover is not None and "the phone or PC fingerprint" in hover
    # completion after `step transfer where` offers transfer's fields, not login's
    text = MAIN.replace("amount > 10", "")
    labels = {i.label for i in completions(text, text.index("where \n") + 6, analysis.symbols) if i.kind == "field"}
    assert "amount" in labels and "device_id" not in labels


def test_completion_in_a_rule_offers_its_event_types_fields(analysis: Analysis) -> None:
    at = MAIN.index("takeover and") + len("takeover and ")
    items = completions(MAIN, at, analysis.symbols)
    fields = {i.label for i in items if i.kind == "field"}
    assert fields == {"customer_id", "amount", "ts"}
    assert any(i.label == "takeover" and i.kind == "sequence" for i in items)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  action ", {"block", "hold", "step_up", "alert", "pass"}),
        ("  on ", {"login", "transfer", "any"}),
        ("window w = ", {"count", "sum", "avg", "min", "max", "distinct", "last", "since"}),
        ("  when x # a comment ", set()),
        ('  reason "abc ', set()),
    ],
)
def test_completion_by_context(analysis: Analysis, line: str, expected: set[str]) -> None:
    text = MAIN + "\n" + line
    assert {i.label for i in completions(text, len(text), analysis.symbols)} == expected


def test_an_error_in_an_included_file(tmp_path: Path) -> None:
    (tmp_path / "schema.rdsl").write_text(SCHEMA.replace("decimal", "decimel"), encoding="utf-8")
    a = Analysis(tmp_path / "main.rdsl", MAIN)
    assert a.diagnostics == []
    assert [d.code for d in a.included_errors] == ["RD107"]


def test_a_missing_include_is_reported_on_the_include(tmp_path: Path) -> None:
    a = Analysis(tmp_path / "main.rdsl", MAIN)
    codes = [(d.code, d.span.line) for d in a.diagnostics]
    assert ("RD006", 1) in codes


def test_hover_and_definition_still_work_while_a_declaration_is_broken(analysis: Analysis, tmp_path: Path) -> None:
    broken = MAIN + "\nrule half {\n  when amount >\n"
    a = Analysis(tmp_path / "main.rdsl", broken)
    assert [d.code for d in a.diagnostics] in (["RD001"], ["RD002"])
    (place,) = a.definition(broken.index("takeover", broken.index("rule r")))
    assert place.span.line == 3


def test_doc_comment() -> None:
    text = "# one\n# two\n\n# three\nparam p: int = 1  # four\n"
    start = text.index("param")
    from ruledsl.syntax.nodes import Span

    assert doc_comment(text, Span(start, start + 16)) == "three\nfour"


def test_format_text() -> None:
    assert format_text("event e {x:int}") == "event e {\n  x: int\n}\n"
    assert format_text("event e {x:int") is None


def test_positions_in_utf16() -> None:
    text = 'a "😀" b\n中文 c'
    assert to_position(text, text.index("b"), "utf-16").character == 7
    assert to_position(text, text.index("b"), "utf-32").character == 6
    assert to_position(text, text.index("c"), "utf-16").line == 1
    assert to_offset(text, to_position(text, text.index("b"), "utf-16"), "utf-16") == text.index("b")
    assert to_offset(text, to_position(text, text.index("c"), "utf-8"), "utf-8") == text.index("c")
