"""The fast path of a parse: lexer and LALR loop in one function, over Lark's own tables.

Lark's loop pulls each token from a generator, builds it through two calls,
and finds each reduction's callback by hashing its ``Rule`` object; for a
3,000-rule ruleset that bookkeeping costs more than the tables' work.
``FusedParser`` runs the same automaton (the parse table and the composed
callbacks of a built ``Lark`` parser, so the same transformer methods run
in the same order) with the tables flattened into one list of dicts, and
lexes with the ``FastLexer`` (syntax/lexer.py)'s regex and keyword rules in the same loop.

It only knows how to succeed: at the first character or token that the
automaton does not accept it returns ``None``, and the caller runs Lark's
parser on the same text, which raises the syntax error exactly as before.
Exceptions raised by the callbacks (the transformer's own problems) pass
through unchanged, as they do from Lark's loop.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from lark import Lark, Token
from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

# one construction call instead of Token.__new__'s dispatch to it
_new_token = getattr(Token, "_future_new", Token)


class FusedParser:
    """Parses text that the grammar accepts, or returns None at the first problem."""

    def __init__(self, parser: Lark):
        frontend = parser.parser
        lexer = frontend.lexer  # the FastLexer instance: its regex, keywords and punctuation
        lalr = frontend.parser.parser  # lark.parsers.lalr_parser._Parser
        table = lalr.parse_table
        callbacks = lalr.callbacks
        if any(not hasattr(rule, "expansion") for rule in callbacks):
            raise TypeError("token callbacks are not supported by the fused loop")
        start = parser.options.start[0]
        self.start_state: int = table.start_states[start]
        self.end_state: int = table.end_states[start]
        n_states = max(table.states) + 1
        rows: list[dict[str, Any]] = [{} for _ in range(n_states)]
        for state, actions in table.states.items():
            row = rows[state]
            for symbol, (action, arg) in actions.items():
                if action is Shift:
                    row[symbol] = arg  # an int: shift (a terminal) or goto (a rule name)
                elif len(arg.expansion) == 1 and callbacks[arg].__class__ is ExpandSingleChild:
                    # `?rule: x` with one child returns the child itself: only the state changes
                    row[symbol] = (0, None, arg.origin.name)
                else:
                    row[symbol] = (len(arg.expansion), callbacks[arg], arg.origin.name)
        self.rows = rows
        # whitespace and comments before each token in the same match; the
        # lookahead and back-reference make that prefix atomic (no backtracking
        # into a comment when no token follows)
        self.scan = re.compile(rf"(?=(?P<ws>{lexer._WS}*))(?P=ws)(?:{lexer._TOKENS}|(?P<EOF>\Z))")
        self.ops: dict[str, str] = lexer._OPS
        self.words: dict[str, str] = lexer.words
        self.puncts: dict[str, str] = lexer.puncts

    def parse(self, text: str) -> Optional[Any]:
        """The value of the start rule, or None where Lark's parser would raise a syntax error."""
        rows = self.rows
        words, puncts, ops = self.words, self.puncts, self.ops
        match = self.scan.match
        new_token = _new_token
        stack = [self.start_state]
        values: list[Any] = []
        push_state, push_value = stack.append, values.append
        pos, end = 0, len(text)
        line, line_start = 1, 0
        while pos < end:
            m = match(text, pos)
            kind = m.lastgroup if m is not None else None
            if m is None or kind is None:
                return None
            start = m.end(1)
            if start != pos and text.count("\n", pos, start):
                line += text.count("\n", pos, start)
                line_start = text.rfind("\n", pos, start) + 1
            if kind == "EOF":
                break
            value = m.group(kind)
            pos = m.end()
            row = rows[stack[-1]]
            if kind == "NAME":
                kw = words.get(value)
                if kw is not None and kw in row:
                    kind = kw
            elif kind == "op":
                if value == "-":
                    kind = "MINUS" if "MINUS" in row else "ADD_OP"
                else:
                    kind = ops.get(value) or puncts.get(value)
                    if kind is None:
                        return None
            col = start - line_start + 1
            tok = new_token(kind, value, start, line, col, line, col + len(value), pos)
            while True:
                act = row.get(kind)
                if act is None:
                    return None
                if act.__class__ is int:
                    push_state(act)
                    push_value(tok)
                    break
                size, callback, origin = act
                if callback is None:  # a unit rule passing its child through
                    stack[-1] = rows[stack[-2]][origin]
                    row = rows[stack[-1]]
                    continue
                if size:
                    children = values[-size:]
                    del stack[-size:]
                    del values[-size:]
                else:
                    children = []
                value = callback(children)
                push_state(rows[stack[-1]][origin])
                push_value(value)
                row = rows[stack[-1]]
        end_state = self.end_state
        while True:
            act = rows[stack[-1]].get("$END")
            if act is None or act.__class__ is int:
                return None
            size, callback, origin = act
            if callback is None:
                stack[-1] = rows[stack[-2]][origin]
            else:
                if size:
                    children = values[-size:]
                    del stack[-size:]
                    del values[-size:]
                else:
                    children = []
                value = callback(children)
                push_state(rows[stack[-1]][origin])
                push_value(value)
            if stack[-1] == end_state:
                return values[-1]
