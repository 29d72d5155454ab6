"""Canonical source formatting (``ruledsl fmt``).

``format_module(module, source)`` prints a parsed file back in the one
canonical layout; ``format_expr(expr)`` prints a single expression and is
public (the ruleset generator of the property tests prints generated ASTs
with it).  Formatting never changes meaning: the output re-parses to the same
AST, spans aside (``strip_spans``), and formatting is idempotent.

Layout
------
* two-space indentation; declarations separated by one blank line, except
  that declarations without a body (``include``, ``const``, ``param``,
  ``window``, a one-line ``list``) written on adjacent lines stay adjacent
  (a block of ``param`` lines);
* rules: one clause per line in the order reason, code, on, when, action,
  control (each ``control`` clause in its written order), priority, tags, shadow; a ``when`` longer than the line width is broken
  before its top-level ``and``/``or`` operators;
* events: one field per line; ruleset header items one per line in the order
  version, description, timezone, lateness (a header with a single item is one
  line: ``ruleset demo { timezone "Asia/Shanghai" }``); scorecards: ``on``,
  items, levels;
* expressions: minimal parentheses by precedence, loosest first
  ``or`` < ``and`` < ``not`` < comparisons and ``in`` < ``+ -`` < ``* / %`` < unary ``-``;
  operators are left-associative (a right operand of the same precedence keeps
  its parentheses) and comparisons do not chain;
* literals: strings re-escaped as JSON (``ensure_ascii=False``; control,
  format and bidi characters are written as ``\\uXXXX`` so nothing invisible
  hides in a rule), decimals exactly as written, durations in the largest
  exact unit (``600000`` ms -> ``10m``), ints as plain digits;
* a ``window`` longer than the line width is broken before ``where`` and/or
  ``by`` (``by ... over ...`` stay together), filling lines as far as the width allows;
* lists inline; a ``list`` declaration longer than the line width, or with
  comments among its items, is written one item per line.

Comments
--------
The AST has no comments, so they are recovered from the source by position:

* comments before a declaration stay above it (blank lines between comment
  groups, and between a comment group and its declaration, are kept);
* a comment at the end of a line stays at the end of that line (trailing
  comments of adjacent lines with the same indentation are aligned) when it follows
  a clause, field, header item, step, scorecard line, list item or a whole
  one-line declaration;
* any other comment inside a rule, event, header, sequence, scorecard or list
  moves above the clause/field/item it is in or precedes (clauses are
  reordered with their comments), or before the closing ``}``;
* a comment inside a declaration without such inner lines (``const``,
  ``param``, ``window``, ``include``), e.g. in the middle of a multi-line
  expression, moves just above the declaration.  This is the one deliberate
  simplification: no comment text is ever dropped;
* comments after the last declaration stay at the end of the file.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, Optional

import msgspec

from ruledsl.syntax import nodes as n
from ruledsl.syntax.durations import format_duration

INDENT = "  "
LINE_WIDTH = 100
"""Lines longer than this (in terminal columns) are broken where the layout allows."""

RULE_CLAUSE_ORDER = ("reason", "code", "on", "when", "action", "control", "priority", "tags", "shadow")
HEADER_ORDER = ("version", "description", "timezone", "lateness_ms", "hold_timeout_ms", "max_future_skew_ms")


class FormatError(Exception):
    """The module cannot be formatted without losing text (e.g. a duplicated clause)."""

    def __init__(self, message: str, span: n.Span = n.NO_SPAN):
        super().__init__(message)
        self.message = message
        self.span = span


# ---------------------------------------------------------------- expressions

P_OR, P_AND, P_NOT, P_CMP, P_ADD, P_MUL, P_UNARY, P_ATOM = range(1, 9)

BINARY_PRECEDENCE = {
    "or": P_OR,
    "and": P_AND,
    "==": P_CMP,
    "!=": P_CMP,
    "<": P_CMP,
    "<=": P_CMP,
    ">": P_CMP,
    ">=": P_CMP,
    "in": P_CMP,
    "not in": P_CMP,
    "+": P_ADD,
    "-": P_ADD,
    "*": P_MUL,
    "/": P_MUL,
    "%": P_MUL,
}


def precedence(expr: n.Expr) -> int:
    """Binding strength of the expression's top operator (higher binds tighter)."""
    if isinstance(expr, n.Binary):
        return BINARY_PRECEDENCE[expr.op]
    if isinstance(expr, n.Unary):
        return P_NOT if expr.op == "not" else P_UNARY
    if isinstance(expr, n.Literal) and _is_negative_number(expr):
        return P_UNARY
    return P_ATOM


def _is_negative_number(lit: n.Literal) -> bool:
    if lit.kind == "int":
        return isinstance(lit.value, int) and not isinstance(lit.value, bool) and lit.value < 0
    return lit.kind == "decimal" and str(lit.value).startswith("-")


_ESCAPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def quote(text: str) -> str:
    """A string literal: JSON escaping, non-ASCII kept, invisible characters escaped."""
    out = json.dumps(text, ensure_ascii=False)
    if all(unicodedata.category(ch) not in _ESCAPED_CATEGORIES for ch in out):
        return out
    parts = []
    for ch in out:
        if unicodedata.category(ch) in _ESCAPED_CATEGORIES:
            code = ord(ch)
            if code > 0xFFFF:
                code -= 0x10000
                parts.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                parts.append(f"\\u{code:04x}")
        else:
            parts.append(ch)
    return "".join(parts)


def format_literal(lit: n.Literal) -> str:
    """Print a literal as source text."""
    kind, value = lit.kind, lit.value
    if kind == "string":
        return quote(str(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind == "duration":
        return format_duration(int(value))
    if kind == "decimal":
        return str(value)
    if kind == "int":
        return str(int(value))
    raise ValueError(f"unknown literal kind {kind!r}")


def format_expr(expr: n.Expr) -> str:
    """Print an expression as source text with minimal parentheses.

    The result parses back to the same expression (spans aside), with two
    exceptions the parser itself folds: unary minus applied to a number
    literal (``Unary("-", Literal(5))`` prints ``-5``, which parses as
    ``Literal(-5)``), and so nested negations of number literals.
    """
    return _expr(expr)


def _expr(e: n.Expr) -> str:
    # explicit stack would be overkill: depth is capped by the parser (RD005)
    if isinstance(e, n.Literal):
        return format_literal(e)
    if isinstance(e, n.Name):
        return e.name
    if isinstance(e, n.Call):
        return f"{e.func}({', '.join(_expr(a) for a in e.args)})"
    if isinstance(e, n.ListLit):
        return f"[{', '.join(_expr(i) for i in e.items)}]"
    if isinstance(e, n.Unary):
        if e.op == "not":
            return "not " + _wrap(e.operand, precedence(e.operand) < P_NOT)
        if e.op == "-":
            inner = _wrap(e.operand, precedence(e.operand) < P_UNARY)
            if inner.startswith("-"):
                inner = f"({inner})"
            return "-" + inner
        raise ValueError(f"unknown unary operator {e.op!r}")
    if isinstance(e, n.Binary):
        left, right = _binary_operands(e)
        return f"{left} {e.op} {right}"
    raise TypeError(f"not an expression: {type(e).__name__}")


def _binary_operands(e: n.Binary) -> tuple[str, str]:
    p = BINARY_PRECEDENCE[e.op]
    lp, rp = precedence(e.left), precedence(e.right)
    # left-associative; comparisons are not associative at all
    left = _wrap(e.left, lp < p or (p == P_CMP and lp == P_CMP))
    right = _wrap(e.right, rp <= p)
    return left, right


def _wrap(e: n.Expr, parens: bool) -> str:
    text = _expr(e)
    return f"({text})" if parens else text


def _chain_operands(e: n.Binary) -> list[str]:
    """``a and b and c`` (left-nested) -> ["a", "b", "c"], each with its parentheses."""
    op = e.op
    rights: list[n.Expr] = []
    node: n.Expr = e
    while isinstance(node, n.Binary) and node.op == op:
        rights.append(node.right)
        node = node.left
    p = BINARY_PRECEDENCE[op]
    first = _wrap(node, precedence(node) < p)
    return [first] + [_wrap(r, precedence(r) <= p) for r in reversed(rights)]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _clause_with_expr(indent: str, keyword: str, expr: n.Expr) -> list[str]:
    """``when EXPR``, broken before top-level ``and``/``or`` when too long."""
    line = f"{indent}{keyword} {_expr(expr)}"
    if _width(line) <= LINE_WIDTH or not (isinstance(expr, n.Binary) and expr.op in ("and", "or")):
        return [line]
    first, *rest = _chain_operands(expr)
    return [f"{indent}{keyword} {first}"] + [f"{indent}{INDENT}{expr.op} {r}" for r in rest]


# ---------------------------------------------------------------- comments


class _Comment(msgspec.Struct, gc=False):
    start: int
    end: int
    line: int
    text: str
    own_line: bool  # nothing but blanks before it on its line
    blank_before: bool  # an empty line separates it from the previous non-empty line


def scan_comments(source: str) -> list[_Comment]:
    """Every ``#`` comment outside string literals, in source order."""
    out: list[_Comment] = []
    i, size, line, line_start = 0, len(source), 1, 0
    prev_nonblank_line = 0  # last line with any non-blank character before position i
    while i < size:
        ch = source[i]
        if ch == "\n":
            if source[line_start:i].strip():
                prev_nonblank_line = line
            line += 1
            i += 1
            line_start = i
        elif ch == '"':
            i += 1
            while i < size and source[i] not in '"\n':
                i += 2 if source[i] == "\\" and i + 1 < size and source[i + 1] != "\n" else 1
            if i < size and source[i] == '"':
                i += 1
        elif ch == "#":
            end = source.find("\n", i)
            end = size if end < 0 else end
            own = not source[line_start:i].strip()
            last_nonblank = line if not own else prev_nonblank_line
            out.append(
                _Comment(
                    start=i,
                    end=end,
                    line=line,
                    text=source[i:end].rstrip(),
                    own_line=own,
                    blank_before=own and last_nonblank > 0 and line - last_nonblank > 1,
                )
            )
            i = end
        else:
            i += 1
    return out


_SUPPRESSION = re.compile(r"#\s*ruledsl\s*:")


class _Pool:
    """Comments handed out in source order."""

    def __init__(self, source: str):
        self.source = source
        self.comments = scan_comments(source) if "#" in source else []
        self.i = 0

    def before(self, pos: int) -> list[_Comment]:
        """Take every remaining comment that starts before ``pos``."""
        taken = []
        while self.i < len(self.comments) and self.comments[self.i].start < pos:
            taken.append(self.comments[self.i])
            self.i += 1
        return taken

    def peek_before(self, pos: int) -> bool:
        return self.i < len(self.comments) and self.comments[self.i].start < pos

    def trailing(self, end: int) -> Optional[_Comment]:
        """The comment ending the line on which something ends at ``end``, if only blanks or commas separate them."""
        if self.i >= len(self.comments) or end <= 0:
            return None
        c = self.comments[self.i]
        between = self.source[end : c.start]
        if c.start >= end and "\n" not in between and not between.replace(",", "").strip():
            self.i += 1
            return c
        return None

    def header_suppression(self, span: n.Span) -> Optional[_Comment]:
        """Take a ``# ruledsl: ignore[...]`` comment ending the first line of a declaration.

        It stays on the header line: there it covers the whole declaration (``check/suppress.py``).
        """
        c = self.comments[self.i] if self.i < len(self.comments) else None
        if c is None or not (span.start < c.start < span.end) or c.line != span.line or c.own_line:
            return None
        if not _SUPPRESSION.match(c.text):
            return None
        self.i += 1
        return c

    def rest(self) -> list[_Comment]:
        taken = self.comments[self.i :]
        self.i = len(self.comments)
        return taken


class _Item(msgspec.Struct, gc=False):
    """One inner line (or group of lines) of a block, with its comments."""

    lines: list[str]
    leading: list[_Comment] = []
    trailing: Optional[_Comment] = None


def _attach(pool: _Pool, items: list[tuple[n.Span, list[str]]]) -> list[_Item]:
    """Collect comments for inner items given in source order."""
    out = []
    for span, lines in items:
        leading = pool.before(span.end) if span.end else []
        trailing = pool.trailing(span.end) if span.end else None
        out.append(_Item(lines=lines, leading=leading, trailing=trailing))
    return out


def _emit_items(items: Iterable[_Item], indent: str) -> list[str]:
    out: list[str] = []
    for item in items:
        out.extend(indent + c.text for c in item.leading)
        lines = [indent + line for line in item.lines]
        if item.trailing is not None:
            lines[-1] += _TRAIL + item.trailing.text
        out.extend(lines)
    return out


def _block(header: str, inner: list[str], footer: list[_Comment]) -> list[str]:
    """``header {`` inner lines ``}``; ``header {}`` when empty."""
    body = inner + [INDENT + c.text for c in footer]
    if not body:
        return [header + " {}"]
    return [header + " {", *body, "}"]


# ---------------------------------------------------------------- declarations


def format_budget(f: n.FieldDecl) -> str:
    """A field's budget clause as written (`` cardinality 10M rate 3/1d``), or ``""``."""
    if f.cardinality_text is None:
        return ""
    rate = f" rate {f.rate_text}/{format_duration(f.rate_per_ms)}" if f.rate_per_ms is not None else ""
    return f" cardinality {f.cardinality_text}{rate}"


def format_type(t: n.TypeRef) -> str:
    """``decimal``, ``string?``, ``enum("a", "b")``."""
    if t.name == "enum":
        text = "enum(" + ", ".join(quote(v) for v in t.enum_values) + ")"
    else:
        text = t.name
    return text + ("?" if t.optional else "")


def _events(events: Optional[list[n.Ident]]) -> str:
    return "any" if not events else ", ".join(e.name for e in events)


def _keys(keys: list[n.Expr]) -> str:
    return ", ".join(_expr(k) for k in keys)


def _check_duplicates(kind: str, name: str, keywords: list[str], span: n.Span) -> None:
    seen = set()
    for k in keywords:
        if k in seen:
            shown = {
                "lateness_ms": "lateness",
                "hold_timeout_ms": "hold_timeout",
                "max_future_skew_ms": "max_future_skew",
            }.get(k, k)
            raise FormatError(
                f"{kind} `{name}` has more than one `{shown}`; remove the extra one before formatting", span
            )
        seen.add(k)


class _Formatter:
    def __init__(self, source: str):
        self.pool = _Pool(source)

    # Each method returns (comments to put above the declaration, lines).
    def decl(self, d: n.Decl) -> tuple[list[_Comment], list[str]]:
        method = getattr(self, "d_" + type(d).__name__, None)
        if method is None:
            raise TypeError(f"cannot format {type(d).__name__}")
        return method(d)

    def _simple(self, d: n.Decl, line: str) -> tuple[list[_Comment], list[str]]:
        inner = self.pool.before(d.span.end) if d.span.end else []
        return inner, [line]

    def d_IncludeDecl(self, d: n.IncludeDecl):
        return self._simple(d, f"include {quote(d.path)}")

    def d_ExemptDecl(self, d: n.ExemptDecl):
        return self._simple(d, "exempt by " + ", ".join(f.name for f in d.fields))

    def d_ConstDecl(self, d: n.ConstDecl):
        return self._simple(d, f"const {d.name.name} = {_expr(d.value)}")

    def d_ParamDecl(self, d: n.ParamDecl):
        return self._simple(d, f"param {d.name.name}: {format_type(d.type)} = {_expr(d.default)}")

    def d_WindowDecl(self, d: n.WindowDecl):
        parts = [
            f"window {d.name.name} = {d.agg.name}({_expr(d.arg) if d.arg is not None else ''}) of {_events(d.events)}"
        ]
        if d.where is not None:
            parts.append(f"where {_expr(d.where)}")
        parts.append(f"by {_keys(d.by)} over {format_duration(d.over_ms)}")
        if d.exclude_current:
            parts[-1] += " excluding current"
        line = " ".join(parts)
        if _width(line) <= LINE_WIDTH:
            return self._simple(d, line)
        inner = self.pool.before(d.span.end) if d.span.end else []
        out = [parts[0]]
        for part in parts[1:]:  # fill each line as far as the width allows
            joined = out[-1] + " " + part
            if _width(joined) <= LINE_WIDTH:
                out[-1] = joined
            else:
                out.append(INDENT + part)
        return inner, out

    def d_ListDecl(self, d: n.ListDecl):
        head = f"list {d.name.name}: {format_type(d.type)} = "
        if d.items is None:
            return self._simple(d, head + f"file({quote(d.file or '')})")
        texts = [_expr(i) for i in d.items]
        one_line = head + "[" + ", ".join(texts) + "]"
        has_inner_comments = bool(d.span.end) and self.pool.peek_before(d.span.end)
        if not texts or (_width(one_line) <= LINE_WIDTH and not has_inner_comments):
            return self._simple(d, one_line)
        items = _attach(self.pool, [(i.span, [t + ","]) for i, t in zip(d.items, texts, strict=True)])
        footer = self.pool.before(d.span.end) if d.span.end else []
        return [], [head + "["] + _emit_items(items, INDENT) + [INDENT + c.text for c in footer] + ["]"]

    def d_RulesetDecl(self, d: n.RulesetDecl):
        _check_duplicates("the ruleset header", d.name.name, d.item_names, d.span)
        lines = {
            "version": f"version {quote(d.version)}" if d.version is not None else "",
            "description": f"description {quote(d.description)}" if d.description is not None else "",
            "timezone": f"timezone {quote(d.timezone)}" if d.timezone is not None else "",
            "lateness_ms": f"lateness {format_duration(d.lateness_ms)}" if d.lateness_ms is not None else "",
            "hold_timeout_ms": (
                f"hold_timeout {format_duration(d.hold_timeout_ms)}" if d.hold_timeout_ms is not None else ""
            ),
            "max_future_skew_ms": (
                f"max_future_skew {format_duration(d.max_future_skew_ms)}" if d.max_future_skew_ms is not None else ""
            ),
        }
        by_key = {}
        if d.item_names and len(d.item_spans) == len(d.item_names):
            attached = _attach(self.pool, [(s, [lines[k]]) for k, s in zip(d.item_names, d.item_spans, strict=True)])
            by_key = dict(zip(d.item_names, attached, strict=True))
        ordered = [by_key.get(k) or _Item(lines=[lines[k]]) for k in HEADER_ORDER if lines[k]]
        footer = self.pool.before(d.span.end) if d.span.end else []
        if len(ordered) == 1 and not (ordered[0].leading or ordered[0].trailing or footer):
            line = f"ruleset {d.name.name} {{ {ordered[0].lines[0]} }}"
            if _width(line) <= LINE_WIDTH:
                return [], [line]
        return [], _block(f"ruleset {d.name.name}", _emit_items(ordered, INDENT), footer)

    def d_EventDecl(self, d: n.EventDecl):
        items = _attach(
            self.pool, [(f.span, [f"{f.name.name}: {format_type(f.type)}{format_budget(f)}"]) for f in d.fields]
        )
        footer = self.pool.before(d.span.end) if d.span.end else []
        return [], _block(f"event {d.name.name}", _emit_items(items, INDENT), footer)

    def d_SequenceDecl(self, d: n.SequenceDecl):
        steps = []
        for s in d.steps:
            text = f"step {s.event.name}" + (f" where {_expr(s.where)}" if s.where is not None else "")
            steps.append((s.span, [text]))
        items = _attach(self.pool, steps)
        footer = self.pool.before(d.span.end) if d.span.end else []
        header = f"sequence {d.name.name} by {_keys(d.by)} within {format_duration(d.within_ms)}"
        return [], _block(header, _emit_items(items, INDENT), footer)

    def d_RuleDecl(self, d: n.RuleDecl):
        written = [c.keyword for c in d.clauses]
        _check_duplicates("rule", d.name.name, [k for k in written if k != "control"], d.span)
        lines: dict[str, list[str]] = {}
        if d.reason is not None:
            lines["reason"] = [f"reason {quote(d.reason)}"]
        if d.code is not None:
            lines["code"] = [f"code {quote(d.code)}"]
        if d.events is not None:
            lines["on"] = [f"on {_events(d.events)}"]
        if d.when is not None:
            lines["when"] = _clause_with_expr("", "when", d.when)
        if d.action is not None:
            lines["action"] = [f"action {d.action.name}"]
        controls = [_control_line(c) for c in d.controls]  # repeatable: one item each, in written order
        if d.priority != 0 or "priority" in written:
            lines["priority"] = [f"priority {int(d.priority)}"]
        if d.tags:
            lines["tags"] = ["tags " + ", ".join(quote(t) for t in d.tags)]
        if d.shadow:
            lines["shadow"] = ["shadow"]
        by_key = {}
        control_items: list[_Item] = []
        if d.clauses and written.count("control") == len(controls):
            queue = list(controls)
            pairs = [(c.span, queue.pop(0) if c.keyword == "control" else lines.get(c.keyword, [])) for c in d.clauses]
            attached = _attach(self.pool, pairs)
            by_key = {c.keyword: a for c, a in zip(d.clauses, attached, strict=True) if c.keyword != "control"}
            control_items = [a for c, a in zip(d.clauses, attached, strict=True) if c.keyword == "control"]
        elif controls:  # a rule built in code: no clause bookkeeping
            control_items = [_Item(lines=pair) for pair in controls]
        ordered = []
        for k in RULE_CLAUSE_ORDER:
            if k == "control":
                ordered.extend(control_items)
            elif k in lines:
                ordered.append(by_key.get(k) or _Item(lines=lines[k]))
            elif k in by_key and (by_key[k].leading or by_key[k].trailing):  # pragma: no cover - defensive
                item = by_key[k]
                ordered.append(_Item(lines=[], leading=item.leading + ([item.trailing] if item.trailing else [])))
        footer = self.pool.before(d.span.end) if d.span.end else []
        return [], _block(f"rule {d.name.name}", _emit_items(ordered, INDENT), footer)

    def d_ScorecardDecl(self, d: n.ScorecardDecl):
        written = [c.keyword for c in d.clauses]
        _check_duplicates("scorecard", d.name.name, [k for k in written if k == "on"], d.span)
        on_line = [f"on {_events(d.events)}"] if d.events is not None else []
        item_lines = [[f"item {quote(i.label)} when {_expr(i.when)} score {_expr(i.score)}"] for i in d.items]
        level_lines = [[f"level {lv.name.name} {lv.op} {_expr(lv.threshold)}"] for lv in d.levels]
        if d.clauses and len(written) == (1 if d.events is not None else 0) + len(d.items) + len(d.levels):
            queues = {"on": [on_line], "item": list(item_lines), "level": list(level_lines)}
            attached = _attach(self.pool, [(c.span, queues[c.keyword].pop(0)) for c in d.clauses])
            groups: dict[str, list[_Item]] = {"on": [], "item": [], "level": []}
            for c, a in zip(d.clauses, attached, strict=True):
                groups[c.keyword].append(a)
            ordered = groups["on"] + groups["item"] + groups["level"]
        else:
            ordered = [_Item(lines=x) for x in ([on_line] if on_line else []) + item_lines + level_lines]
        footer = self.pool.before(d.span.end) if d.span.end else []
        return [], _block(f"scorecard {d.name.name}", _emit_items(ordered, INDENT), footer)


def _control_line(c: n.ControlClause) -> list[str]:
    """``control KEY as KIND for DURATION`` (one line)."""
    return [f"control {_expr(c.key)} as {_expr(c.kind)} for {_expr(c.duration)}"]


def format_module(module: n.Module, source: str = "") -> str:
    """Print a parsed module canonically, keeping the comments found in ``source``.

    ``source`` must be the text ``module`` was parsed from (spans index it);
    pass ``""`` for a module built in code.  Raises ``FormatError`` when the
    module has a duplicated clause or header item, which the AST keeps only
    once (formatting would silently drop the other).
    """
    f = _Formatter(source)
    pool = f.pool
    blocks: list[str] = []
    prev_single, prev_end = False, 0
    for d in module.decls:
        start, end = d.span.start, d.span.end
        leading = pool.before(start) if end else []
        gap = bool(leading) and end > 0 and _blank_line_between(source, leading[-1].end, start)
        head = pool.header_suppression(d.span) if end else None
        inner, lines = f.decl(d)
        trailing = pool.trailing(end) if end else None
        if head is None and trailing is not None and _SUPPRESSION.match(trailing.text) and len(lines) > 1:
            head, trailing = trailing, None  # a one-line declaration's suppression stays on its first line
        if trailing is not None:
            lines[-1] += _TRAIL + trailing.text
        if head is not None:
            lines[0] += _TRAIL + head.text
        above: list[str] = []
        for i, c in enumerate(leading):
            if i > 0 and c.blank_before:
                above.append("")
            above.append(c.text)
        if gap:
            above.append("")
        above.extend(c.text for c in inner)
        # one blank line between declarations, except that body-less
        # declarations written on adjacent lines (a group of params) stay together
        first_start = leading[0].start if leading else start
        compact = isinstance(d, _COMPACT) or (isinstance(d, n.ListDecl) and len(lines) == 1)
        together = (
            prev_single
            and compact
            and end > 0
            and prev_end > 0
            and not _blank_line_between(source, prev_end, first_start)
        )
        if blocks:
            blocks.append("\n" if together else "\n\n")
        blocks.append("\n".join(above + lines))
        prev_single, prev_end = compact, (trailing.end if trailing is not None else end)
    rest = pool.rest()
    text = "".join(blocks)
    if rest:
        tail: list[str] = []
        for i, c in enumerate(rest):
            if i > 0 and c.blank_before:
                tail.append("")
            tail.append(c.text)
        sep = "" if not blocks else ("\n\n" if rest[0].blank_before or not rest[0].own_line else "\n")
        text += sep + "\n".join(tail)
    return _align_trailing(text) + "\n" if text else ""


_COMPACT = (n.IncludeDecl, n.ExemptDecl, n.ConstDecl, n.ParamDecl, n.WindowDecl)

_TRAIL = "\x00"
"""Marks where a trailing comment starts on a line, until ``_align_trailing`` places it."""


def _align_trailing(text: str) -> str:
    """Align trailing comments in runs of adjacent lines of the same indentation (two spaces minimum)."""
    if _TRAIL not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        j = i
        while j < len(lines) and lines[j].strip() and len(lines[j]) - len(lines[j].lstrip(" ")) == indent:
            j += 1
        j = max(j, i + 1)
        run = lines[i:j]
        widths = [_width(line.split(_TRAIL, 1)[0]) for line in run if _TRAIL in line]
        column = max(widths, default=0) + 2
        for line in run:
            if _TRAIL in line:
                code, comment = line.split(_TRAIL, 1)
                line = code + " " * (column - _width(code)) + comment
            out.append(line)
        i = j
    return "\n".join(out)


def _blank_line_between(source: str, a: int, b: int) -> bool:
    between = source[a:b]
    lines = between.split("\n")
    return any(not line.strip() for line in lines[1:-1])


# ---------------------------------------------------------------- AST equality


def strip_spans(obj: Any) -> Any:
    """A copy of an AST (node, list, Module) with every span cleared.

    Clause bookkeeping that records source order (``RuleDecl.clauses``,
    ``ScorecardDecl.clauses``, ``RulesetDecl.item_names``) is sorted, so two
    ASTs compare equal when they say the same thing, however the clauses were
    laid out.  Use it as ``strip_spans(a) == strip_spans(b)``.
    """
    if isinstance(obj, n.Span):
        return n.NO_SPAN
    if isinstance(obj, list):
        return [strip_spans(x) for x in obj]
    if isinstance(obj, tuple):
        return tuple(strip_spans(x) for x in obj)
    if isinstance(obj, msgspec.Struct):
        changes = {f: strip_spans(getattr(obj, f)) for f in obj.__struct_fields__}
        if isinstance(obj, (n.RuleDecl, n.ScorecardDecl)):
            changes["clauses"] = sorted(changes["clauses"], key=lambda c: c.keyword)
        if isinstance(obj, n.RulesetDecl):
            changes["item_names"] = sorted(changes["item_names"])
        return msgspec.structs.replace(obj, **changes)
    return obj
