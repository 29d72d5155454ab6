"""Files that are not UTF-8 (RD008, list files, test files) and rulesets that declare nothing (RD009)."""

from __future__ import annotations

import pytest

from ruledsl.check.checker import load_and_check
from ruledsl.ruletest.spec import RuleTestError
from ruledsl.ruletest.validate import load_test_file
from ruledsl.runtime.engine import load
from ruledsl.syntax.encoding import NotUtf8Error, decode_utf8, guess_encoding
from ruledsl.syntax.loader import load_program

SCHEMA = "event transfer { customer: string amount: decimal }\n"
RULE = 'rule big { on transfer when amount > 50000 action hold reason "大额转账" }\n'


def _gbk(text: str) -> bytes:
    return text.encode("gbk")


@pytest.mark.parametrize(
    ("data", "line", "col", "byte"),
    [
        (b"abc\xff", 1, 4, 0xFF),
        (b"ab\ncd\n\xc0x", 3, 1, 0xC0),
        # characters before the bad byte count as one column each, however many bytes they take
        ("规则 ".encode() + b"\xd6\xd0", 1, 4, 0xD6),
        # a BOM is tolerated and not counted
        (b"\xef\xbb\xbfab\xfe", 1, 3, 0xFE),
        (b"x\n\xef\xbb\xbfa\xff", 2, 3, 0xFF),  # a BOM inside the file is a character like any other
    ],
)
def test_the_first_bad_byte_is_located_by_line_and_column(data, line, col, byte):
    with pytest.raises(NotUtf8Error) as info:
        decode_utf8(data, "f.rdsl")
    err = info.value
    assert (err.line, err.col, err.byte) == (line, col, byte)
    assert isinstance(err, UnicodeDecodeError)  # older `except UnicodeDecodeError` clauses still catch it
    assert f"byte 0x{byte:02X} at line {line}, column {col}" in str(err)


def test_utf8_with_a_bom_decodes():
    assert decode_utf8(b"\xef\xbb\xbf" + "大额".encode()) == "大额"


def test_gbk_is_recognised_and_the_hint_gives_the_iconv_command():
    data = _gbk(SCHEMA + RULE)
    assert guess_encoding(data) == "GBK"
    with pytest.raises(NotUtf8Error) as info:
        decode_utf8(data, "rules/big.rdsl")
    assert "looks like GBK" in str(info.value)
    assert "iconv -f GBK -t UTF-8 rules/big.rdsl" in info.value.hint
    assert guess_encoding("é".encode("utf-16")) == "UTF-16"
    assert guess_encoding("café".encode("latin-1")) == "Latin-1 (ISO 8859-1)"


def test_a_gbk_ruleset_gets_rd008_at_its_first_bad_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.rdsl").write_bytes(_gbk(SCHEMA + RULE))
    result = load_and_check(tmp_path / "big.rdsl")
    (d,) = result.diagnostics
    col = RULE.index("大") + 1
    assert (d.code, d.severity, d.path, d.line, d.col) == ("RD008", "error", "big.rdsl", 2, col)
    assert "iconv -f GBK -t UTF-8 big.rdsl" in (d.help or "")
    assert not result.ok


def test_an_included_gbk_file_is_reported_in_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schema.rdsl").write_bytes(_gbk("# 事件定义\n" + SCHEMA))
    (tmp_path / "main.rdsl").write_text('include "schema.rdsl"\n' + RULE, encoding="utf-8")
    result = load_and_check(tmp_path / "main.rdsl")
    assert ("RD008", "schema.rdsl", 1, 3) in [(d.code, d.path, d.line, d.col) for d in result.diagnostics]


def test_a_gbk_list_file_names_the_line_and_the_conversion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lists").mkdir()
    for name, body in (("names.txt", "张三\n李四\n"), ("names.csv", "value,category\nzhang,骗子\n")):
        (tmp_path / "lists" / name).write_bytes(_gbk(body))
        (tmp_path / "r.rdsl").write_text(
            "event t { name: string }\n"
            f'list names: string = file("lists/{name}")\n'
            'rule r { on t when name in names action block reason "x" }\n',
            encoding="utf-8",
        )
        result = load_and_check(tmp_path / "r.rdsl")
        (d,) = result.diagnostics
        assert d.code == "RD114" and (d.line, d.col) == (2, 27)
        # in the CSV, 骗 is C6 AD in GBK: by chance a valid UTF-8 pair (ƭ), so the first bad byte is the next one
        where = "line 1, column 1" if name.endswith(".txt") else "line 2, column 8"
        assert f"lists/{name}`: not valid UTF-8: byte 0x" in d.message and where in d.message, d.message
        assert "looks like GBK" in d.message
        assert f"iconv -f GBK -t UTF-8 lists/{name}" in (d.help or "")


def test_a_gbk_test_file_gets_the_position_and_the_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.test.yaml"
    path.write_bytes(_gbk("ruleset: r.rdsl\ncases:\n  - name: 大额\n"))
    with pytest.raises(RuleTestError) as info:
        load_test_file(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (3, 11)
    assert "not valid UTF-8: byte 0xB4 at line 3, column 11" in problem.message
    assert "iconv -f GBK -t UTF-8 r.test.yaml" in problem.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n"])
def test_a_file_that_declares_nothing_gets_a_warning(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.rdsl").write_text(text, encoding="utf-8")
    result = load_and_check(tmp_path / "empty.rdsl")
    assert [(d.code, d.severity, d.path) for d in result.diagnostics] == [("RD009", "warning", "empty.rdsl")]
    assert "declares nothing" in result.diagnostics[0].message
    engine = load(tmp_path / "empty.rdsl")  # a warning: it still loads, and passes everything
    assert engine.compiled.event_types == () or not engine.compiled.event_types


def test_an_empty_included_file_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blank.rdsl").write_text("# to do\n", encoding="utf-8")
    (tmp_path / "main.rdsl").write_text('include "blank.rdsl"\n' + SCHEMA + RULE, encoding="utf-8")
    program = load_program(tmp_path / "main.rdsl")
    assert [(d.code, d.path) for d in program.diagnostics] == [("RD009", "blank.rdsl")]


def test_declarations_are_not_empty():
    from ruledsl.syntax.loader import load_text

    assert load_text(SCHEMA, "schema.rdsl").diagnostics == []
    assert load_text('include "x.rdsl"\n', "inc.rdsl").diagnostics[0].code == "RD006"
