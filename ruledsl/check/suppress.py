"""Suppression comments: ``# ruledsl: ignore[RD307, RD401] -- reason``.

A suppression comment names one or more warning codes.  On any line it
suppresses those codes' diagnostics that start on that line; on the first
line of a declaration (``rule r1 {  # ruledsl: ignore[RD404]``) it
suppresses them in the whole declaration.  Text after the closing ``]`` is
a free reason for reviewers (``-- reason`` by convention).

Errors cannot be suppressed (a ruleset with an error does not load), and a
suppression that suppresses nothing, or is malformed, is itself a warning
(RD010) in the files linted as entry points (an included file's
suppressions are judged when it is linted itself, since some warnings,
e.g. RD307, are only reported for entry files).
"""

from __future__ import annotations

import re
from typing import Optional

import msgspec

from ruledsl.syntax import nodes as n
from ruledsl.syntax.codes import CODES
from ruledsl.syntax.diagnostics import Diagnostic, make, suggest
from ruledsl.syntax.formatter import scan_comments
from ruledsl.syntax.loader import Program

_MARKER = re.compile(r"#\s*ruledsl\s*:\s*(?:no)?ignore\b", re.IGNORECASE)
_EXACT = re.compile(r"#\s?ruledsl: ignore\[([^\]]*)\](.*)\Z", re.DOTALL)
_CODE = re.compile(r"RD\d{3}\Z")


class Suppression(msgspec.Struct):
    """One suppression comment: where it is, what it names, what it covers."""

    path: str
    span: n.Span
    codes: list[str]
    reason: str = ""
    start: int = 0  # char range covered: the line, or the whole declaration
    end: int = 0
    declaration: bool = False  # on the first line of a declaration: covers all of it
    used: set[str] = msgspec.field(default_factory=set)


def _span(source: str, start: int, end: int, line: int) -> n.Span:
    col = start - (source.rfind("\n", 0, start) + 1) + 1
    return n.Span(start, end, line, col, line, col + (end - start))


def find_suppressions(program: Program) -> tuple[list[Suppression], list[Diagnostic]]:
    """Every suppression comment of the program, and RD010 for the malformed ones."""
    decl_lines: dict[str, dict[int, n.Span]] = {}
    for module in program.modules:
        lines = decl_lines.setdefault(module.path, {})
        for decl in module.decls:
            lines.setdefault(decl.span.line, decl.span)
    out: list[Suppression] = []
    bad: list[Diagnostic] = []
    for path, source in program.sources.items():
        if "ruledsl" not in source:
            continue
        for c in scan_comments(source):
            if not _MARKER.match(c.text):
                continue
            span = _span(source, c.start, c.end, c.line)
            sup, problem = parse_comment(c.text)
            if sup is None:
                bad.append(make("RD010", f"malformed suppression comment: {problem}", path, span, _FORM))
                continue
            codes, reason = sup
            line_start = source.rfind("\n", 0, c.start) + 1
            line_end = source.find("\n", c.start)
            start, end = line_start, len(source) if line_end < 0 else line_end
            decl_span = decl_lines.get(path, {}).get(c.line)
            whole = decl_span is not None and not c.own_line
            if decl_span is not None and whole:
                start, end = min(start, decl_span.start), max(end, decl_span.end)
            out.append(
                Suppression(path=path, span=span, codes=codes, reason=reason, start=start, end=end, declaration=whole)
            )
    return out, bad


_FORM = "write it as `# ruledsl: ignore[RD307]` (several codes comma-separated), then an optional reason"


def parse_comment(text: str) -> tuple[Optional[tuple[list[str], str]], str]:
    """``(codes, reason)`` of a suppression comment, or ``None`` and what is wrong with it."""
    match = _EXACT.match(text)
    if match is None:
        return None, f"`{text}`"
    codes = [c.strip() for c in match.group(1).split(",")]
    if codes == [""]:
        return None, "it names no code"
    for code in codes:
        if not _CODE.match(code) or code not in CODES:
            hint = suggest(code.upper(), CODES)
            return None, f"unknown code `{code}`" + (f" ({hint})" if hint else "")
    rest = match.group(2)
    if rest and not rest[0].isspace():
        return None, f"`{text}`: put a space between `]` and the reason"
    reason = rest.strip()
    for lead in ("--", "-", ":", "because"):
        if reason.startswith(lead):
            reason = reason[len(lead) :].strip()
            break
    return (codes, reason), ""


def apply_suppressions(program: Program, diags: list[Diagnostic]) -> list[Diagnostic]:
    """``diags`` without the suppressed warnings, plus RD010 for suppressions that suppress nothing."""
    sups, out = find_suppressions(program)
    if not sups:
        return diags + out
    by_path: dict[str, list[Suppression]] = {}
    for s in sups:
        by_path.setdefault(s.path, []).append(s)
    for d in diags:
        hit = None
        if d.severity == "warning" and d.span.line > 0:
            for s in by_path.get(d.path, ()):
                if d.code in s.codes and s.start <= d.span.start < s.end:
                    hit = s
                    s.used.add(d.code)
                    break
        if hit is None:
            out.append(d)
    entry = set(program.entry_paths)
    for s in sups:
        if s.path not in entry:
            continue
        for code in s.codes:
            if code in s.used:
                continue
            if CODES[code].severity == "error":
                message = f"{code} is an error and cannot be suppressed: a ruleset with an error does not load"
                help_ = "fix the error; only warnings can be suppressed"
            else:
                where = "in this declaration" if s.declaration else "on this line"
                message = f"suppression of {code} suppresses nothing: no {code} is reported {where}"
                help_ = "delete the code from the comment (the problem may have been fixed)"
            out.append(make("RD010", message, s.path, s.span, help_))
    return out
