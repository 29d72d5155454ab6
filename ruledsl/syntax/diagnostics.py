"""Diagnostics: what the parser and checker report, and how it is rendered.

A diagnostic keeps char offsets (the span); line:col are 1-based and only
used for printing.  Every stage collects diagnostics in a list and the
boundary (``ruledsl.load``, the CLI) decides what to do with them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Optional

import msgspec

from ruledsl.syntax.codes import CODES
from ruledsl.syntax.nodes import NO_SPAN, Span


class Diagnostic(msgspec.Struct, frozen=True, kw_only=True):
    """One problem found in a source file."""

    code: str
    message: str
    path: str
    span: Span = NO_SPAN
    help: Optional[str] = None

    @property
    def severity(self) -> str:
        """``error`` or ``warning``, fixed per code (see ``ruledsl.syntax.codes``)."""
        return CODES[self.code].severity

    @property
    def line(self) -> int:
        """1-based line of the start of the span."""
        return self.span.line

    @property
    def col(self) -> int:
        """1-based column of the start of the span."""
        return self.span.col

    def to_dict(self) -> dict:
        """A JSON-ready view, as ``ruledsl lint --format json`` prints it."""
        return {
            "path": self.path,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "help": self.help,
        }


class RuleDSLError(Exception):
    """Raised at the library boundary when a ruleset has errors; carries them all."""

    def __init__(self, diagnostics: list[Diagnostic], sources: Optional[dict[str, str]] = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        errors = [d for d in diagnostics if d.severity == "error"]
        head = f"{len(errors)} error(s) in ruleset"
        body = "\n".join(render(d, self.sources.get(d.path)) for d in errors[:20])
        super().__init__(head + ("\n" + body if body else ""))


def make(code: str, message: str, path: str, span: Span = NO_SPAN, help: Optional[str] = None) -> Diagnostic:
    """Build a diagnostic, checking that the code is registered."""
    if code not in CODES:  # a programming error, not a user error
        raise KeyError(f"unregistered diagnostic code {code}")
    return Diagnostic(code=code, message=message, path=path, span=span, help=help)


def suggest(name: str, candidates: Iterable[str]) -> Optional[str]:
    """Return a ``did you mean`` help line for a near-miss name, or None."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f"did you mean `{matches[0]}`?" if matches else None


def _display_width(text: str) -> int:
    """Terminal columns taken by ``text``: CJK characters are two columns wide."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def render(diag: Diagnostic, source: Optional[str]) -> str:
    """Render a diagnostic as text: location, code, message, source line, caret, help."""
    sp = diag.span
    lines = [f"{diag.path}:{sp.line}:{sp.col}: {diag.code} {diag.severity}: {diag.message}"]
    if source is not None:
        src_lines = source.splitlines()
        if 1 <= sp.line <= len(src_lines):
            text = src_lines[sp.line - 1].expandtabs(1)
            gutter = str(sp.line)
            pad = " " * len(gutter)
            start = sp.col - 1
            if sp.end_line == sp.line and sp.end_col > sp.col:
                end = sp.end_col - 1
            else:
                end = max(start + 1, len(text.rstrip()))
            end = min(max(end, start + 1), max(len(text), start + 1))
            caret = " " * _display_width(text[:start]) + "^" * max(1, _display_width(text[start:end]))
            lines.append(f"{pad} |")
            lines.append(f"{gutter} | {text}")
            lines.append(f"{pad} | {caret}")
    if diag.help:
        lines.append(f"  = help: {diag.help}")
    return "\n".join(lines)


def sort_key(diag: Diagnostic) -> tuple[str, int, str]:
    """Order diagnostics by file, then position, then code."""
    return (diag.path, diag.span.start, diag.code)
