"""The DSL's lexer: one regex for every token, keywords decided by the LALR parser's state.

Lark's contextual lexer gives the same tokens for this grammar at several times the
cost; ``ruledsl.syntax.parser`` plugs this one into Lark (``lexer=FastLexer``), and
``lalr_loop`` reuses its regex, keywords and punctuation in its fused loop.
"""

from __future__ import annotations

import re
from typing import ClassVar

from lark.exceptions import UnexpectedCharacters
from lark.lexer import Lexer, Token

from ruledsl.syntax.durations import UNIT_PATTERN


class FastLexer(Lexer):
    """A one-regex lexer that asks the LALR parser which keywords it accepts.

    It behaves like Lark's contextual lexer for this grammar (a keyword
    such as `code` is a plain name where the parser cannot take the
    keyword, so it can be a field name) at a fraction of the cost.
    """

    __future_interface__ = 2

    _WS = r"(?:\s+|#[^\n]*)"
    _TOKENS = (
        r"(?P<COUNT>\d[\d_]*(?:\.\d+)?[kKMG](?!\w))"  # `cardinality 10M` (before DECIMAL/INT)
        r"|(?P<DECIMAL>\d[\d_]*\.\d+)"
        rf"|(?P<DURATION>\d+(?:{UNIT_PATTERN})(?!\w))"
        r"|(?P<INT>\d[\d_]*)"
        r'|(?P<STRING>"(?:[^"\\\n]|\\.)*")'
        r"|(?P<NAME>(?!\d)\w+)"
        r"|(?P<op>==|!=|<=|>=|[<>+\-*/%{}()\[\],:=?])"
    )
    _MASTER = re.compile(rf"(?P<ws>{_WS}+)|{_TOKENS}")
    _OPS: ClassVar[dict[str, str]] = {
        "==": "COMP_OP",
        "!=": "COMP_OP",
        "<=": "COMP_OP",
        ">=": "COMP_OP",
        "<": "COMP_OP",
        ">": "COMP_OP",
        "+": "ADD_OP",
        "*": "MUL_OP",
        "/": "MUL_OP",
        "%": "MUL_OP",
        "?": "OPTIONAL",
    }

    def __init__(self, conf):
        self.words: dict[str, str] = {}
        self.puncts: dict[str, str] = {}
        for t in conf.terminals:
            if t.pattern.type == "str":
                value = t.pattern.value
                (self.words if re.fullmatch(r"\w+", value) else self.puncts)[value] = t.name
        self.allowed = {t.name for t in conf.terminals}

    def lex(self, lexer_state, parser_state):
        """Yield the tokens from the lexer state's position; a keyword only where the parser can take it."""
        text_slice = lexer_state.text
        text, pos, end = text_slice.text, text_slice.start, text_slice.end
        states = parser_state.parse_conf.states
        words, puncts, ops = self.words, self.puncts, self._OPS
        match = self._MASTER.match
        line = text.count("\n", 0, pos) + 1
        line_start = text.rfind("\n", 0, pos) + 1
        while pos < end:
            m = match(text, pos)
            if m is None:
                raise UnexpectedCharacters(
                    text,
                    pos,
                    line,
                    pos - line_start + 1,
                    allowed=self.allowed,
                    state=parser_state,
                )
            kind = m.lastgroup
            value = m.group()
            start = pos
            pos = m.end()
            if kind == "ws":
                nl = value.count("\n")
                if nl:
                    line += nl
                    line_start = start + value.rfind("\n") + 1
                continue
            if kind == "NAME":
                kw = words.get(value)
                if kw is not None and kw in states[parser_state.position]:
                    kind = kw
            elif kind == "op":
                if value == "-":
                    kind = "MINUS" if "MINUS" in states[parser_state.position] else "ADD_OP"
                else:
                    kind = ops.get(value) or puncts[value]
            col = start - line_start + 1
            tok = Token(kind, value, start, line, col, line, col + len(value), pos)
            lexer_state.last_token = tok
            yield tok
