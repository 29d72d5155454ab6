"""Source text -> typed AST (``ruledsl.syntax.nodes``), with syntax diagnostics.

This is the only module that knows the grammar's rule and terminal names.
Parsing is Lark LALR (linear time) with positions; the parse tree is turned
into AST nodes by one Transformer.  Syntax errors become ``RD0xx``
diagnostics phrased for risk analysts, and the parser recovers at the next
top-level declaration so one run reports every broken declaration.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Optional, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ruledsl.syntax import nodes as n
from ruledsl.syntax.budget_syntax import BudgetClauseError, field_budget_values
from ruledsl.syntax.diagnostics import Diagnostic, make
from ruledsl.syntax.durations import parse_duration
from ruledsl.syntax.lalr_loop import FusedParser
from ruledsl.syntax.lexer import FastLexer
from ruledsl.syntax.parser_cache import load_or_build

MAX_DEPTH = 100
"""Deepest expression nesting accepted (RD005); each operator of a chain
such as ``a or b or c`` counts as one level, because the AST nests them."""

TOP_LEVEL_KEYWORDS = (
    "ruleset",
    "include",
    "event",
    "const",
    "param",
    "list",
    "window",
    "sequence",
    "rule",
    "scorecard",
    "exempt",
)


def _grammar_text() -> str:
    # the file itself when it is on disk: an installed package (ruledsl/grammar/) or a
    # checkout (grammar/ beside the package); importlib.resources, slower to ask, for the rest
    here = Path(__file__).resolve().parents[1]
    for path in (here / "grammar" / "ruledsl.lark", here.parent / "grammar" / "ruledsl.lark"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return resources.files("ruledsl.grammar").joinpath("ruledsl.lark").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def grammar_keywords() -> frozenset[str]:
    """Every word the grammar matches literally (``"rule"``, ``TRUE: "true"`` ...): the language's keywords.

    Read from the grammar's text, so editors and highlighters (``ruledsl.cli.lsp``,
    ``ruledsl.cli.highlight``) never keep a list of their own.
    """
    text = re.sub(r"//[^\n]*", "", _grammar_text())
    return frozenset(re.findall(r'"([A-Za-z_]\w*)"', text))


def _build_lark() -> tuple[Lark, _InlineAST]:
    """A new parser and its transformer, the tables read from the cache when possible."""
    # Tree building and position propagation are the slow parts of a Lark
    # parse, so the AST is built during the parse (an inline transformer) and
    # spans come from the first and last token of each rule (keep_all_tokens).
    transformer = _InlineAST()
    parser = load_or_build(
        _grammar_text(),
        parser="lalr",
        lexer=FastLexer,
        maybe_placeholders=True,
        keep_all_tokens=True,
        transformer=transformer,
    )
    return parser, transformer


@functools.lru_cache(maxsize=1)
def _lark() -> tuple[Lark, _InlineAST]:
    return _build_lark()


@functools.lru_cache(maxsize=1)
def _fused() -> Optional[FusedParser]:
    try:
        return FusedParser(_lark()[0])
    except (AttributeError, KeyError, TypeError, IndexError):
        return None  # a Lark whose internals differ from the ones the fused loop reads: Lark's loop only


class SyntaxProblem(Exception):
    """Raised inside the transformer for a literal the grammar accepts but the language does not."""

    def __init__(self, code: str, message: str, span: n.Span, help: Optional[str] = None):
        super().__init__(message)
        self.code, self.message, self.span, self.help = code, message, span, help


def _span_of(item) -> n.Span:
    if isinstance(item, Token):
        return n.Span(
            item.start_pos or 0,
            item.end_pos or 0,
            item.line or 1,
            item.column or 1,
            item.end_line or item.line or 1,
            item.end_column or item.column or 1,
        )
    meta = item.meta
    if getattr(meta, "empty", True):
        return n.NO_SPAN
    return n.Span(meta.start_pos, meta.end_pos, meta.line, meta.column, meta.end_line, meta.end_column)


def _join(a: n.Span, b: n.Span) -> n.Span:
    return n.Span(a.start, b.end, a.line, a.col, b.end_line, b.end_col)


def parse_string_token(tok: Token) -> str:
    """Decode a string literal token.  JSON decoding, never ``eval``."""
    try:
        value = json.loads(tok)
    except ValueError:
        raise SyntaxProblem(
            "RD004",
            "invalid escape in string literal",
            _span_of(tok),
            'allowed escapes are \\" \\\\ \\n \\t and \\uXXXX',
        ) from None
    return value


class _ToAST:
    """Parse tree -> AST.  One method per grammar rule (or alias).

    Each method gets the rule's span and its children without anonymous
    tokens (keywords and punctuation); ``_InlineAST`` adapts them for Lark.
    """

    def atom(self, meta, ch):  # "(" expr ")": the parentheses only group
        return ch[0]

    # ---- leaves
    def name(self, meta, ch):
        return n.Ident(name=str(ch[0]), span=_span_of(ch[0]))

    def int_lit(self, meta, ch):
        return n.Literal(kind="int", value=int(str(ch[0]).replace("_", "")), span=_span_of(ch[0]))

    def decimal_lit(self, meta, ch):
        return n.Literal(kind="decimal", value=str(ch[0]).replace("_", ""), span=_span_of(ch[0]))

    def string_lit(self, meta, ch):
        return n.Literal(kind="string", value=parse_string_token(ch[0]), span=_span_of(ch[0]))

    def duration_lit(self, meta, ch):
        return n.Literal(kind="duration", value=parse_duration(str(ch[0])), span=_span_of(ch[0]))

    def true_lit(self, meta, ch):
        return n.Literal(kind="bool", value=True, span=_span_of(ch[0]))

    def false_lit(self, meta, ch):
        return n.Literal(kind="bool", value=False, span=_span_of(ch[0]))

    # ---- expressions
    def var(self, meta, ch):
        ident = ch[0]
        return n.Name(name=ident.name, span=ident.span)

    def call(self, meta, ch):
        ident, args = ch[0], [a for a in ch[1:] if a is not None]
        return n.Call(func=ident.name, args=args, func_span=ident.span, span=_span_of_meta(meta))

    def list_lit(self, meta, ch):
        return n.ListLit(items=[c for c in ch if c is not None], span=_span_of_meta(meta))

    def neg(self, meta, ch):
        operand = ch[1]
        if isinstance(operand, n.Literal) and operand.kind in ("int", "decimal"):
            if operand.kind == "int":
                value = -operand.value
            else:
                value = operand.value[1:] if operand.value.startswith("-") else "-" + operand.value
            return n.Literal(kind=operand.kind, value=value, span=_span_of_meta(meta))
        return n.Unary(op="-", operand=operand, span=_span_of_meta(meta))

    def not_op(self, meta, ch):
        return n.Unary(op="not", operand=ch[0], span=_span_of_meta(meta))

    def _chain(self, meta, ch, op=None):
        # left-associative chain: a OP b OP c, operators either given or tokens
        result = ch[0]
        i = 1
        while i < len(ch):
            if op is None:
                tok, right = ch[i], ch[i + 1]
                i += 2
                this_op = str(tok)
            else:
                right = ch[i]
                i += 1
                this_op = op
            result = n.Binary(op=this_op, left=result, right=right, span=_join(result.span, right.span))
        return result

    def or_expr(self, meta, ch):
        return self._chain(meta, ch, "or")

    def and_expr(self, meta, ch):
        return self._chain(meta, ch, "and")

    def sum(self, meta, ch):
        return self._chain(meta, ch)

    def product(self, meta, ch):
        return self._chain(meta, ch)

    def compare(self, meta, ch):
        return n.Binary(op=str(ch[1]), left=ch[0], right=ch[2], span=_join(ch[0].span, ch[2].span))

    def in_op(self, meta, ch):
        return n.Binary(op="in", left=ch[0], right=ch[1], span=_join(ch[0].span, ch[1].span))

    def not_in_op(self, meta, ch):
        return n.Binary(op="not in", left=ch[0], right=ch[1], span=_join(ch[0].span, ch[1].span))

    # ---- declarations
    def start(self, meta, ch):
        return list(ch)

    def ruleset_decl(self, meta, ch):
        fields: dict = {}
        spans, names = [], []
        for key, value, span in ch[1:]:
            fields.setdefault(key, value)
            spans.append(span)
            names.append(key)
        return n.RulesetDecl(name=ch[0], item_spans=spans, item_names=names, span=_span_of_meta(meta), **fields)

    def h_version(self, meta, ch):
        return ("version", parse_string_token(ch[0]), _span_of_meta(meta))

    def h_description(self, meta, ch):
        return ("description", parse_string_token(ch[0]), _span_of_meta(meta))

    def h_timezone(self, meta, ch):
        return ("timezone", parse_string_token(ch[0]), _span_of_meta(meta))

    def h_lateness(self, meta, ch):
        return ("lateness_ms", parse_duration(str(ch[0])), _span_of_meta(meta))

    def h_hold_timeout(self, meta, ch):
        return ("hold_timeout_ms", parse_duration(str(ch[0])), _span_of_meta(meta))

    def h_max_future_skew(self, meta, ch):
        return ("max_future_skew_ms", parse_duration(str(ch[0])), _span_of_meta(meta))

    def include_decl(self, meta, ch):
        return n.IncludeDecl(path=parse_string_token(ch[0]), span=_span_of_meta(meta))

    def exempt_decl(self, meta, ch):
        return n.ExemptDecl(fields=list(ch), span=_span_of_meta(meta))

    def event_decl(self, meta, ch):
        return n.EventDecl(name=ch[0], fields=list(ch[1:]), span=_span_of_meta(meta))

    def field_decl(self, meta, ch):
        budget = ch[2] or {}
        return n.FieldDecl(name=ch[0], type=ch[1], span=_span_of_meta(meta), **budget)

    def field_budget(self, meta, ch):
        try:
            return field_budget_values(ch)
        except BudgetClauseError as err:
            raise SyntaxProblem("RD314", str(err), _span_of_meta(meta), err.help) from None

    def simple_type(self, meta, ch):
        return n.TypeRef(name=ch[0].name, optional=ch[1] is not None, span=_span_of_meta(meta))

    def enum_type(self, meta, ch):
        optional = bool(ch) and isinstance(ch[-1], Token) and ch[-1].type == "OPTIONAL"
        values = [parse_string_token(t) for t in ch if isinstance(t, Token) and t.type == "STRING"]
        return n.TypeRef(name="enum", optional=optional, enum_values=values, span=_span_of_meta(meta))

    def const_decl(self, meta, ch):
        return n.ConstDecl(name=ch[0], value=ch[1], span=_span_of_meta(meta))

    def param_decl(self, meta, ch):
        return n.ParamDecl(name=ch[0], type=ch[1], default=ch[2], span=_span_of_meta(meta))

    def list_decl(self, meta, ch):
        kind, payload, _span = ch[2]
        if kind == "file":
            path, path_span = payload
            return n.ListDecl(name=ch[0], type=ch[1], file=path, file_span=path_span, span=_span_of_meta(meta))
        return n.ListDecl(name=ch[0], type=ch[1], items=payload, span=_span_of_meta(meta))

    def list_inline(self, meta, ch):
        return ("inline", [c for c in ch if c is not None], _span_of_meta(meta))

    def list_file(self, meta, ch):
        # the third item is the whole `file("...")` span, so the declaration's span covers it
        return ("file", (parse_string_token(ch[0]), _span_of(ch[0])), meta)

    def window_decl(self, meta, ch):
        name, agg, arg, events, where, by, over, excluding = ch
        return n.WindowDecl(
            name=name,
            agg=agg,
            arg=arg,
            events=events,
            where=where,
            by=by,
            over_ms=parse_duration(str(over)),
            over_span=_span_of(over),
            exclude_current=excluding is not None,
            span=_span_of_meta(meta),
        )

    def excluding(self, meta, ch):
        return True

    def where_clause(self, meta, ch):
        return ch[0]

    def any_event(self, meta, ch):
        return []

    def named_events(self, meta, ch):
        return list(ch)

    def key_list(self, meta, ch):
        return list(ch)

    def sequence_decl(self, meta, ch):
        name, by, within, *steps = ch
        return n.SequenceDecl(
            name=name,
            by=by,
            within_ms=parse_duration(str(within)),
            within_span=_span_of(within),
            steps=steps,
            span=_span_of_meta(meta),
        )

    def step(self, meta, ch):
        return n.Step(event=ch[0], where=ch[1], span=_span_of_meta(meta))

    # rule clauses come out as (keyword, value, span) and are folded by rule_decl
    def r_reason(self, meta, ch):
        return ("reason", parse_string_token(ch[0]), _span_of_meta(meta))

    def r_code(self, meta, ch):
        return ("code", parse_string_token(ch[0]), _span_of_meta(meta))

    def r_on(self, meta, ch):
        return ("on", ch[0], _span_of_meta(meta))

    def r_when(self, meta, ch):
        return ("when", ch[0], _span_of_meta(meta))

    def r_action(self, meta, ch):
        return ("action", ch[0], _span_of_meta(meta))

    def r_priority(self, meta, ch):
        return ("priority", ch[0], _span_of_meta(meta))

    def r_tags(self, meta, ch):
        return ("tags", [parse_string_token(t) for t in ch], _span_of_meta(meta))

    def r_shadow(self, meta, ch):
        return ("shadow", True, _span_of_meta(meta))

    def r_control(self, meta, ch):
        key, kind, duration = ch
        return (
            "control",
            n.ControlClause(key=key, kind=kind, duration=duration, span=_span_of_meta(meta)),
            _span_of_meta(meta),
        )

    def signed_int(self, meta, ch):
        sign, digits = ch
        value = int(str(digits).replace("_", ""))
        return -value if sign is not None else value

    def rule_decl(self, meta, ch):
        name, clauses = ch[0], ch[1:]
        fields: dict = {}
        for key, value, _span in clauses:
            if key == "control":  # repeatable: every one kept, in source order
                fields.setdefault("controls", []).append(value)
                continue
            fields.setdefault("events" if key == "on" else key, value)
        return n.RuleDecl(
            name=name,
            clauses=[n.Clause(keyword=k, span=s) for k, _v, s in clauses],
            span=_span_of_meta(meta),
            **fields,
        )

    def sc_on(self, meta, ch):
        return ("on", ch[0], _span_of_meta(meta))

    def sc_item(self, meta, ch):
        label = parse_string_token(ch[0])
        return (
            "item",
            n.ScoreItem(label=label, when=ch[1], score=ch[2], span=_span_of_meta(meta)),
            _span_of_meta(meta),
        )

    def sc_level(self, meta, ch):
        level = n.Level(name=ch[0], op=str(ch[1]), threshold=ch[2], span=_span_of_meta(meta))
        return ("level", level, _span_of_meta(meta))

    def scorecard_decl(self, meta, ch):
        name, clauses = ch[0], ch[1:]
        events = next((v for k, v, _s in clauses if k == "on"), None)
        return n.ScorecardDecl(
            name=name,
            events=events,
            items=[v for k, v, _s in clauses if k == "item"],
            levels=[v for k, v, _s in clauses if k == "level"],
            clauses=[n.Clause(keyword=k, span=s) for k, _v, s in clauses],
            span=_span_of_meta(meta),
        )


def _span_of_meta(span: n.Span) -> n.Span:
    return span


def _item_span(item) -> Optional[n.Span]:
    if item is None:
        return None
    if isinstance(item, Token):
        return _span_of(item)
    if isinstance(item, tuple):  # (keyword, value, span) clause tuples
        return item[2]
    if isinstance(item, list):
        spans = [s for s in (_item_span(x) for x in item) if s is not None]
        return _join(spans[0], spans[-1]) if spans else None
    span = getattr(item, "span", None)
    return span if span is not None and span is not n.NO_SPAN else None


def _cover(children: list[Any]) -> n.Span:
    first = last = None
    for c in children:
        first = _item_span(c)
        if first is not None:
            break
    for c in reversed(children):
        last = _item_span(c)
        if last is not None:
            break
    if first is None or last is None:
        return n.NO_SPAN
    return _join(first, last)


@functools.lru_cache(maxsize=1)
def _anonymous_terminals() -> frozenset[str]:
    """Terminals the grammar does not name (keywords, punctuation): dropped from children."""
    text = _grammar_text()
    named = set(re.findall(r"^([A-Z_][A-Z_0-9]*)(?:\.\d+)?\s*:", text, re.MULTILINE))
    return frozenset(t.name for t in _lark()[0].terminals if t.name not in named)


class _TooDeep(Exception):
    def __init__(self, span: n.Span):
        super().__init__("too deep")
        self.span = span


_EXPR_RULES = {
    "or_expr",
    "and_expr",
    "sum",
    "product",
    "compare",
    "in_op",
    "not_in_op",
    "not_op",
    "neg",
    "call",
    "list_lit",
}


_SPAN_UNUSED = frozenset(
    {
        "any_event",
        "atom",
        "compare",
        "decimal_lit",
        "duration_lit",
        "excluding",
        "false_lit",
        "in_op",
        "int_lit",
        "key_list",
        "name",
        "named_events",
        "not_in_op",
        "signed_int",
        "start",
        "string_lit",
        "true_lit",
        "var",
        "where_clause",
        "or_expr",
        "and_expr",
        "sum",
        "product",
    }
)
"""Rules whose ``_ToAST`` method never reads its span (``meta``): the span is not computed for them."""


class _InlineAST(Transformer):
    """Adapts ``_ToAST`` to Lark's inline (during-parse) transformer protocol.

    It also measures expression depth as nodes are built (RD005), so a deeply
    nested expression is refused before anything recursive walks it.
    """

    def __init__(self):
        super().__init__()
        self.impl = _ToAST()
        self.depth: dict[int, int] = {}
        self.anon: frozenset[str] = frozenset()
        for name in dir(_ToAST):
            if not name.startswith("_"):
                setattr(self, name, self._adapt(name, getattr(self.impl, name)))

    def _adapt(self, rule: str, method):
        is_expr = rule in _EXPR_RULES
        chain = rule in ("or_expr", "and_expr", "sum", "product")
        spanned = rule not in _SPAN_UNUSED

        def callback(children):
            anon = self.anon
            # tokens are exactly Token (never a subclass) from either lexer
            kids = [c for c in children if c.__class__ is not Token or c.type not in anon]
            node = method(_cover(children) if spanned else n.NO_SPAN, kids)
            if is_expr:
                depth = self.depth
                d = 0
                for k in kids:
                    d = max(d, depth.get(id(k), 0))
                d += (sum(1 for k in kids if not isinstance(k, Token)) - 1) if chain else 1
                if d > MAX_DEPTH:
                    raise _TooDeep(_cover(children))
                depth[id(node)] = d
            return node

        return callback


# ---------------------------------------------------------------- syntax errors

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "DECIMAL": "a decimal number",
    "STRING": 'a quoted string ("...")',
    "DURATION": "a duration such as `10m`, `1h` or `30d`",
    "COUNT": "a count such as `10M`",
    "COMP_OP": "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*`, `/` or `%`",
    "MINUS": "`-`",
    "OPTIONAL": "`?`",
    "TRUE": "`true`",
    "FALSE": "`false`",
    "ANY": "`any`",
    "SHADOW": "`shadow`",
    "$END": "the end of the file",
}


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for term in _lark()[0].terminals:
        if term.name == name:
            return f"`{term.pattern.value}`" if term.pattern.type == "str" else name.lower()
    return name.lower()


def _describe_expected(expected: Iterable[str]) -> str:
    words = sorted({_describe_terminal(t) for t in expected})
    # keywords and symbols first is less useful than a short list; cap it
    if len(words) > 10:
        words = [*words[:10], "…"]
    return ", ".join(words)


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "STRING":
        return f"string {tok}"
    if tok.type in ("INT", "DECIMAL", "DURATION", "COUNT"):
        return f"number `{tok}`"
    if tok.type == "NAME":
        return f"name `{tok}`"
    return f"`{tok}`"


def _syntax_diagnostic(err: UnexpectedInput, text: str, path: str) -> Diagnostic:
    if isinstance(err, UnexpectedCharacters):
        at = err.pos_in_stream or 0  # always set for this error
        ch = text[at] if at < len(text) else ""
        span = n.Span(at, at + 1, err.line, err.column, err.line, err.column + 1)
        if ch == '"':
            return make("RD004", "string is not closed on this line", path, span, 'end the string with `"`')
        help_ = None
        if ord(ch or " ") > 0x2000:
            help_ = "outside strings and comments use ASCII symbols; this looks like a full-width character"
        elif ch in ";$`'":
            help_ = {";": "statements need no `;`", "'": 'strings use double quotes: "..."'}.get(ch)
        return make("RD003", f"unrecognised character `{ch}`", path, span, help_)
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        pos = len(text)
        line = text.count("\n") + 1
        col = len(text) - (text.rfind("\n") + 1) + 1
        span = n.Span(pos, pos, line, col, line, col)
        expected = getattr(err, "expected", None) or set()
        help_ = "expected " + _describe_expected(expected) if expected else None
        if "RBRACE" in expected:
            help_ = "a block is not closed: add `}`"
        return make("RD002", "unexpected end of file", path, span, help_)
    if not isinstance(err, UnexpectedToken):  # Lark has no other kind today; say something useful anyway
        line, col = max(getattr(err, "line", 1) or 1, 1), max(getattr(err, "column", 1) or 1, 1)
        pos = max(getattr(err, "pos_in_stream", 0) or 0, 0)
        return make("RD001", "syntax error", path, n.Span(pos, pos + 1, line, col, line, col + 1))
    tok = err.token
    span = _span_of(tok)
    expected = set(err.expected)
    help_ = "expected " + _describe_expected(expected)
    if str(tok) == "=" and "COMP_OP" in expected:
        help_ = "to compare use `==`"
    elif tok.type == "NAME" and str(tok) in ("AND", "OR", "NOT", "And", "Or", "Not", "&&", "||"):
        help_ = f"logical operators are lowercase: `{str(tok).lower()}`"
    return make("RD001", f"unexpected {_describe_token(tok)}", path, span, help_)


_DECL_START = re.compile(r"^(?:" + "|".join(TOP_LEVEL_KEYWORDS) + r")\b", re.MULTILINE)


def _blank(text: str, start: int, end: int) -> str:
    # keep newlines so every position after the blanked region stays valid
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def parse(text: str, path: str = "<string>") -> tuple[Optional[n.Module], list[Diagnostic]]:
    """Parse one source file.

    Returns the module (None if nothing could be parsed) and the syntax
    diagnostics.  On a syntax error the declaration holding it is skipped and
    parsing resumes at the next line that starts with a top-level keyword,
    so every broken declaration is reported in one run.
    """
    diags: list[Diagnostic] = []
    work = text
    parser, transformer = _lark()
    transformer.anon = _anonymous_terminals()
    fused = _fused()
    for _attempt in range(50):
        try:
            # the inline transformer builds the AST: ``start`` returns the declarations
            decls = fused.parse(work) if fused is not None else None
            if decls is None:  # a syntax error: Lark's own loop raises it, as it always has
                transformer.depth.clear()
                decls = parser.parse(work)
            decls = cast(list[n.Decl], decls)
        except UnexpectedInput as err:
            diags.append(_syntax_diagnostic(err, text, path))
            pos = getattr(err, "pos_in_stream", None)
            if pos is None:
                pos = (
                    err.token.start_pos
                    if isinstance(err, UnexpectedToken) and err.token.start_pos is not None
                    else len(work)
                )
            starts = [m.start() for m in _DECL_START.finditer(work)]
            before = [s for s in starts if s <= pos]
            after = [s for s in starts if s > pos]
            if not before or isinstance(err, UnexpectedEOF) or (not after and pos >= len(work.rstrip())):
                if before and not after:
                    work = _blank(work, before[-1], len(work))
                    continue
                break
            work = _blank(work, before[-1], after[0] if after else len(work))
            continue
        except _TooDeep as err:
            sp = err.span
            span = n.Span(sp.start, sp.start + 1, sp.line, sp.col, sp.line, sp.col + 1)
            diags.append(
                make(
                    "RD005",
                    f"expression is nested more than {MAX_DEPTH} levels deep",
                    path,
                    span,
                    "split it into named windows, constants or several rules",
                )
            )
            return None, diags
        except SyntaxProblem as err:
            diags.append(make(err.code, err.message, path, err.span, err.help))
            return None, diags
        finally:
            transformer.depth.clear()
        return n.Module(path=path, decls=decls), diags
    return None, diags
