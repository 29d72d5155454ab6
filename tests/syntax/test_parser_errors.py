"""Syntax errors of every kind Lark can raise become diagnostics, never exceptions."""

from __future__ import annotations

from lark.exceptions import UnexpectedInput

from ruledsl.syntax.parser import _syntax_diagnostic, parse


class _OtherLarkError(UnexpectedInput):
    """A kind of parse error the parser does not know (a future Lark may add one)."""


def test_an_unknown_kind_of_parse_error_is_still_a_diagnostic():
    err = _OtherLarkError("odd")
    err.line, err.column, err.pos_in_stream = 2, 3, 7
    diag = _syntax_diagnostic(err, "const a = 1\nconst b = 2\n", "odd.rdsl")
    assert (diag.code, diag.path, diag.line, diag.col) == ("RD001", "odd.rdsl", 2, 3)


def test_an_unexpected_token_names_it():
    module, diags = parse("const a = = 1\n", "t.rdsl")
    assert module is None or module.decls == []
    assert [(d.code, d.line, d.col) for d in diags] == [("RD001", 1, 11)]
    assert "unexpected `=`" in diags[0].message
