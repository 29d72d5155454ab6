"""What the language server knows about one open ruleset: the checker's view, by position.

Nothing here speaks LSP: positions are char offsets into a file's text and
places are ``(path, text, span)``; ``ruledsl.cli.lsp.server`` converts them.
A document is checked as ``ruledsl lint`` would check it as an entry file,
except that the text of every open document is used instead of the disk, and
that the checker also runs when a declaration does not parse (the parser
blanks it and keeps every other offset), so hover and go-to-definition keep
working while one declaration is being typed.  Only the syntax errors are
published then, as ``lint`` does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, Optional

from ruledsl.check.checker import CheckResult, check
from ruledsl.check.symbols import Symbols
from ruledsl.check.types import BUILTINS, Builtin, display
from ruledsl.syntax import nodes as n
from ruledsl.syntax.codes import CODES
from ruledsl.syntax.diagnostics import Diagnostic
from ruledsl.syntax.formatter import FormatError, format_expr, format_module, format_type, scan_comments, strip_spans
from ruledsl.syntax.loader import Program, display_path, load_program
from ruledsl.syntax.parser import TOP_LEVEL_KEYWORDS, grammar_keywords, parse

log = logging.getLogger("ruledsl.lsp")

KEYWORDS = TOP_LEVEL_KEYWORDS + tuple(sorted(grammar_keywords() - set(TOP_LEVEL_KEYWORDS)))
"""Every keyword of the language, declarations first (read from the grammar: ``grammar_keywords``)."""

TYPE_NAMES = ("int", "decimal", "float", "string", "bool", "timestamp", "duration", "enum")

AGGREGATE_DOCS = {
    "count": "number of events in the window",
    "sum": "sum of the argument over the window",
    "avg": "average of the argument (missing when the window is empty)",
    "min": "smallest argument (missing when the window is empty)",
    "max": "largest argument (missing when the window is empty)",
    "distinct": "number of distinct values of the argument",
    "last": "the argument of the newest event (missing when the window is empty)",
    "since": "time since the newest event (missing when the window is empty)",
}
ACTION_DOCS = {
    "block": "stop the transaction",
    "hold": "hold it for review (released or rejected later)",
    "step_up": "ask for stronger authentication (face check, SMS code)",
    "alert": "let it through and raise an alert",
    "pass": "let it through",
}

_WORD = re.compile(r"\w+")
_CODE_WORD = re.compile(r"RD\d{3}")
_DECL_LINE = re.compile(r"^[ \t]*(" + "|".join(TOP_LEVEL_KEYWORDS) + r")\b[ \t]*(\w*)", re.MULTILINE)
_NAMES = r"(\w+(?:\s*,\s*\w+)*)"


class Place(NamedTuple):
    """A region of some file: where a declaration is."""

    path: Path
    text: str
    span: n.Span


class Occurrence(NamedTuple):
    """A name written in the document, and what it means."""

    span: n.Span
    kind: str  # field, const, param, list, window, sequence, scorecard, rule, event, builtin, aggregate, ...
    name: str
    events: tuple[str, ...] = ()  # for a field: the event types in scope there


class Item(NamedTuple):
    """A completion candidate."""

    label: str
    kind: str
    detail: str = ""
    doc: str = ""


class Outline(NamedTuple):
    """A document symbol: a declaration (and, for an event, its fields)."""

    name: str
    kind: str
    span: n.Span
    name_span: n.Span
    children: tuple[Outline, ...] = ()


def real_path(shown: str) -> Path:
    """The file behind a path as the loader shows it (relative to the working directory, or absolute)."""
    return (Path.cwd() / shown).resolve()


class Analysis:
    """One document checked as an entry file, with an index of the names written in it."""

    def __init__(self, path: Path, text: str, open_texts: Optional[dict[Path, str]] = None):
        self.path = path.resolve()
        self.text = text
        sources = {str(p): t for p, t in (open_texts or {}).items()}
        sources[str(self.path)] = text
        self.program: Program = load_program([self.path], sources=sources)
        self.shown = self.program.entry_paths[0]
        self.result: Optional[CheckResult] = None
        try:
            self.result = check(self.program)
        except Exception:  # an editor must survive a checker bug on half-typed text
            log.exception("checking %s", self.shown)
        if self.program.has_syntax_errors or self.result is None:
            all_diags = sorted(self.program.diagnostics, key=lambda d: (d.path, d.span.start))
        else:
            all_diags = list(self.result.diagnostics)
        self.diagnostics = [d for d in all_diags if d.path == self.shown]
        self.included_errors = [d for d in all_diags if d.path != self.shown and d.severity == "error"]
        self.module = next((m for m in self.program.modules if m.path == self.shown), None)
        self.occurrences = list(self._occurrences()) if self.module is not None else []

    # ------------------------------------------------------------ helpers

    @property
    def symbols(self) -> Symbols:
        """The program's symbols (empty when the checker failed)."""
        return self.result.symbols if self.result is not None else Symbols()

    @property
    def checked(self) -> bool:
        """True when the symbols are worth reusing while a later text does not parse."""
        return self.result is not None and bool(self.result.symbols.events or self.result.symbols.rules)

    def source_of(self, shown: str) -> str:
        """The text of a file of the program as it was checked."""
        return self.program.sources.get(shown, "")

    def place(self, decl: n.Node, span: n.Span) -> Place:
        """Where a declaration of the program stands."""
        shown = self.symbols.decl_paths.get(id(decl), self.shown)
        return Place(real_path(shown), self.source_of(shown), span)

    def included_file(self, decl: n.IncludeDecl) -> Path:
        """The file an ``include`` of this document names."""
        return (self.path.parent / decl.path).resolve()

    # ------------------------------------------------------------ the index

    def _occurrences(self) -> Iterator[Occurrence]:
        assert self.module is not None
        sym = self.symbols
        refs = self.result.refs if self.result is not None else {}
        every = tuple(sym.events)

        def exprs(expr: Optional[n.Expr], events: tuple[str, ...]) -> Iterator[Occurrence]:
            if expr is None:
                return
            for node in n.walk(expr):
                if isinstance(node, n.Name):
                    kind, name = refs.get(id(node), (self._kind_of(node.name, events), node.name))
                    yield Occurrence(node.span, kind, name, events if kind == "field" else ())
                elif isinstance(node, n.Call):
                    yield Occurrence(node.func_span, "builtin", node.func)

        def idents(items: Optional[list[n.Ident]], kind: str) -> Iterator[Occurrence]:
            for ident in items or ():
                yield Occurrence(ident.span, kind, ident.name)

        for d in self.module.decls:
            if isinstance(d, n.IncludeDecl):
                yield Occurrence(d.span, "include", d.path)
            elif isinstance(d, n.ExemptDecl):
                for f in d.fields:
                    yield Occurrence(f.span, "field", f.name, every)
            elif isinstance(d, n.EventDecl):
                yield Occurrence(d.name.span, "event", d.name.name)
                for fd in d.fields:
                    yield Occurrence(fd.name.span, "field", fd.name.name, (d.name.name,))
            elif isinstance(d, n.ConstDecl):
                yield Occurrence(d.name.span, "const", d.name.name)
                yield from exprs(d.value, ())
            elif isinstance(d, n.ParamDecl):
                yield Occurrence(d.name.span, "param", d.name.name)
                yield from exprs(d.default, ())
            elif isinstance(d, n.ListDecl):
                yield Occurrence(d.name.span, "list", d.name.name)
                for item in d.items or ():
                    yield from exprs(item, ())
            elif isinstance(d, n.WindowDecl):
                events = tuple(sym.window_events.get(d.name.name, every))
                yield Occurrence(d.name.span, "window", d.name.name)
                yield Occurrence(d.agg.span, "aggregate", d.agg.name)
                yield from idents(d.events, "event")
                for e in (d.arg, d.where, *d.by):
                    yield from exprs(e, events)
            elif isinstance(d, n.SequenceDecl):
                yield Occurrence(d.name.span, "sequence", d.name.name)
                events = tuple(sym.sequence_events.get(d.name.name, every))
                for e in d.by:
                    yield from exprs(e, events)
                for st in d.steps:
                    yield Occurrence(st.event.span, "event", st.event.name)
                    yield from exprs(st.where, (st.event.name,))
            elif isinstance(d, n.RuleDecl):
                events = tuple(sym.rule_events.get(d.name.name, every))
                yield Occurrence(d.name.span, "rule", d.name.name)
                yield from idents(d.events, "event")
                yield from exprs(d.when, events)
                if d.action is not None:
                    yield Occurrence(d.action.span, "action", d.action.name)
                for c in d.controls:
                    for e in (c.key, c.kind, c.duration):
                        yield from exprs(e, events)
            elif isinstance(d, n.ScorecardDecl):
                events = tuple(sym.scorecard_events.get(d.name.name, every))
                yield Occurrence(d.name.span, "scorecard", d.name.name)
                yield from idents(d.events, "event")
                for it in d.items:
                    yield from exprs(it.when, events)
                    yield from exprs(it.score, events)
                for lv in d.levels:
                    yield Occurrence(lv.name.span, "level", lv.name.name)
                    yield from exprs(lv.threshold, ())
            elif isinstance(d, n.RulesetDecl):
                yield Occurrence(d.name.span, "ruleset", d.name.name)

    def _kind_of(self, name: str, events: tuple[str, ...]) -> str:
        """What an unresolved name most likely means (the checker reported it, or did not run)."""
        sym = self.symbols
        if any(name in sym.fields.get(e, {}) for e in events):
            return "field"
        for kind, table in (
            ("const", sym.consts),
            ("param", sym.params),
            ("list", sym.lists),
            ("window", sym.windows),
            ("sequence", sym.sequences),
            ("scorecard", sym.scorecards),
        ):
            if name in table:
                return kind
        return "name"

    def at(self, offset: int) -> Optional[Occurrence]:
        """The innermost name written at ``offset`` (the end of a word counts, as editors place the cursor there)."""
        best: Optional[Occurrence] = None
        for occ in self.occurrences:
            sp = occ.span
            inside = sp.start <= offset <= sp.end and sp.end > sp.start
            if inside and (best is None or sp.end - sp.start < best.span.end - best.span.start):
                best = occ
        return best

    # ------------------------------------------------------------ go to definition

    def definition(self, offset: int) -> list[Place]:
        """Where the name at ``offset`` is declared (several places for a field of several event types)."""
        occ = self.at(offset)
        if occ is None:
            return []
        if occ.kind == "include":
            target = (self.path.parent / occ.name).resolve()
            return [Place(target, "", n.NO_SPAN)] if target.is_file() else []
        if occ.kind == "field":
            return [self.place(ev, fd.span) for ev, fd in self._field_decls(occ.name, occ.events)]
        decl = self._decl(occ.kind, occ.name)
        if decl is None or not hasattr(decl, "name"):
            return []
        return [self.place(decl, decl.name.span)]

    def _decl(self, kind: str, name: str) -> Optional[n.Node]:
        sym = self.symbols
        table: dict[str, n.Node] = {
            "event": sym.events,
            "const": sym.consts,
            "param": sym.params,
            "list": sym.lists,
            "window": sym.windows,
            "sequence": sym.sequences,
            "scorecard": sym.scorecards,
            "rule": sym.rules,
        }.get(kind, {})  # type: ignore[assignment]
        return table.get(name)

    def _field_decls(self, name: str, events: tuple[str, ...]) -> list[tuple[n.EventDecl, n.FieldDecl]]:
        """The declarations of a field in the event types in scope (in every event type if none has it)."""
        sym = self.symbols
        found: list[tuple[n.EventDecl, n.FieldDecl]] = []
        for scope in (events, tuple(sym.events)):
            for ev in scope:
                decl = sym.events.get(ev)
                for fd in decl.fields if decl is not None else ():
                    if fd.name.name == name:
                        found.append((decl, fd))  # type: ignore[arg-type]
            if found:
                break
        return found

    # ------------------------------------------------------------ hover

    def hover(self, offset: int) -> Optional[str]:
        """Markdown for the name (or diagnostic code) at ``offset``, and the diagnostics there."""
        parts: list[str] = []
        word = _word_at(self.text, offset)
        if word and _CODE_WORD.fullmatch(word) and word in CODES:
            parts.append(explain_code(word))
        else:
            occ = self.at(offset)
            if occ is not None:
                text = self._describe(occ)
                if text:
                    parts.append(text)
        seen: set[str] = set()
        for d in self.diagnostics:
            if d.span.start <= offset <= max(d.span.end, d.span.start + 1) and d.code not in seen:
                seen.add(d.code)
                parts.append(f"**{d.code}** {d.message}" + (f"\n\nhelp: {d.help}" if d.help else ""))
                parts.append(explain_code(d.code))
        return "\n\n---\n\n".join(parts) if parts else None

    def _describe(self, occ: Occurrence) -> Optional[str]:
        sym = self.symbols
        kind, name = occ.kind, occ.name
        if kind == "field":
            return self._describe_field(name, occ.events)
        if kind == "builtin":
            b = BUILTINS.get(name)
            return f"```ruledsl\n{signature(b)}\n```\n{b.doc}" if b is not None else None
        if kind == "aggregate":
            doc = AGGREGATE_DOCS.get(name)
            return f"(aggregate) `{name}`: {doc}" if doc else None
        if kind == "action":
            doc = ACTION_DOCS.get(name)
            return f"(action) `{name}`: {doc}" if doc else None
        if kind == "level":
            return f"(level) `{name}`: one of {', '.join(n.LEVELS)}, highest risk first"
        if kind == "include":
            target = (self.path.parent / name).resolve()
            return f"(include) `{target}`" + ("" if target.is_file() else " (not found)")
        decl = self._decl(kind, name)
        if decl is None:
            return None
        head = f"({kind}) `{name}`"
        vt = sym.value_types.get(name)
        if vt is not None:
            head += f": `{display(vt)}`"
        body = ""
        if isinstance(decl, n.ParamDecl):
            head = f"(param) `{name}: {format_type(decl.type)}`"
            body = f"default: `{format_expr(decl.default)}` (set at run time with `engine.set_param`)"
        elif isinstance(decl, n.ConstDecl):
            body = f"value: `{format_expr(decl.value)}`"
        elif isinstance(decl, n.ListDecl):
            head = f"(list) `{name}: {format_type(decl.type)}`"
            body = self._list_source(decl)
        elif isinstance(decl, (n.WindowDecl, n.SequenceDecl, n.RuleDecl, n.ScorecardDecl, n.EventDecl)):
            body = "```ruledsl\n" + self._excerpt(decl) + "\n```"
        comment = self._comment(decl)
        return "\n\n".join(p for p in (head, body, comment) if p)

    def _describe_field(self, name: str, events: tuple[str, ...]) -> Optional[str]:
        found = self._field_decls(name, events)
        if not found:
            if name == "ts":
                return "(field) `ts: timestamp`\n\nthe event time, implicit in every event type"
            return None
        by_type: dict[str, list[str]] = {}
        comments: list[str] = []
        for ev, fd in found:
            shown = format_type(fd.type)
            if fd.cardinality_text:  # the budget clause says how many keys a window by it holds
                shown += f" cardinality {fd.cardinality_text}"
            by_type.setdefault(shown, []).append(ev.name.name)
            c = self._comment(fd, ev)
            if c and c not in comments:
                comments.append(c)
        lines = [f"(field) `{name}: {t}` in {', '.join(f'`{e}`' for e in evs)}" for t, evs in by_type.items()]
        return "\n\n".join(["\n\n".join(lines), *comments])

    def _list_source(self, decl: n.ListDecl) -> str:
        if decl.file is None:
            return f"source: inline, {len(decl.items or [])} entries"
        resolved = self.symbols.list_files.get(decl.name.name)
        text = f"source: file `{decl.file}`"
        if resolved:
            text += f" → `{resolved}`"
        table = self.symbols.list_tables.get(decl.name.name)
        if table is not None:
            text += f", {len(table)} entries"
        return text

    def _excerpt(self, decl: n.Node, limit: int = 14) -> str:
        place = self.place(decl, decl.span)
        lines = place.text[decl.span.start : decl.span.end].splitlines()
        if len(lines) > limit:
            lines = [*lines[: limit - 1], "  …"]
        return "\n".join(lines)

    def _comment(self, decl: n.Node, owner: Optional[n.Node] = None) -> str:
        """The comment on the declaration's line and the comment lines right above it."""
        text = self.place(owner if owner is not None else decl, decl.span).text
        return doc_comment(text, decl.span)

    # ------------------------------------------------------------ outline

    def outline(self) -> list[Outline]:
        """The document's declarations, for the editor's outline."""
        out: list[Outline] = []
        for d in self.module.decls if self.module is not None else ():
            if isinstance(d, n.IncludeDecl):
                out.append(Outline(d.path, "include", d.span, d.span))
                continue
            if isinstance(d, n.ExemptDecl) or not hasattr(d, "name"):
                continue
            ident: n.Ident = d.name
            kind = type(d).__name__.removesuffix("Decl").lower()
            children: tuple[Outline, ...] = ()
            if isinstance(d, n.EventDecl):
                children = tuple(Outline(f.name.name, "field", f.span, f.name.span) for f in d.fields)
            out.append(Outline(ident.name, kind, d.span, ident.span, children))
        return out


# ---------------------------------------------------------------- completion


def completions(text: str, offset: int, sym: Symbols) -> list[Item]:
    """What may be typed at ``offset``: by context, else fields in scope, declarations, builtins, keywords."""
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[line_start:offset]
    if _in_comment_or_string(before):
        return []
    if re.search(r"\baction\s+\w*$", before):
        return [Item(a, "action", "action", d) for a, d in ACTION_DOCS.items()]
    if re.search(r"\b(on|of)\s+(\w+\s*,\s*)*\w*$", before) or re.search(r"\bstep\s+\w*$", before):
        return [*(Item(e, "event", "event type") for e in sym.events), Item("any", "keyword", "every event type")]
    if re.search(r"^\s*window\s+\w+\s*=\s*\w*$", before):
        return [Item(a, "aggregate", "aggregate", d) for a, d in AGGREGATE_DOCS.items()]
    if re.search(r"\blevel\s+\w*$", before):
        return [Item(lv, "level", "scorecard level") for lv in n.LEVELS]
    if re.search(r"(:\s*\w*|\benum)$", before) and re.match(r"\s*(\w+\s*:|param|list)", before):
        return [Item(tn, "type", "type") for tn in TYPE_NAMES]
    items: list[Item] = []
    for name, shown in _fields_in_scope(text, offset, sym).items():
        items.append(Item(name, "field", shown))
    for kind, table in (
        ("window", sym.windows),
        ("param", sym.params),
        ("const", sym.consts),
        ("list", sym.lists),
        ("sequence", sym.sequences),
        ("scorecard", sym.scorecards),
    ):
        for name in table:
            vt = sym.value_types.get(name)
            items.append(Item(name, kind, f"{kind}: {display(vt)}" if vt is not None else kind))
    items.extend(Item(b.name, "builtin", signature(b), b.doc) for b in BUILTINS.values())
    items.extend(Item(k, "keyword") for k in KEYWORDS)
    return items


def _in_comment_or_string(before: str) -> bool:
    quoted = False
    for i, ch in enumerate(before):
        if ch == '"' and (i == 0 or before[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "#" and not quoted:
            return True
    return quoted


def _fields_in_scope(text: str, offset: int, sym: Symbols) -> dict[str, str]:
    """Fields readable at ``offset``: of the event types of the enclosing declaration, read from the text.

    The text is scanned rather than parsed, as it is usually incomplete while
    a completion is asked for.
    """
    starts = list(_DECL_LINE.finditer(text))
    head = next((m for m in reversed(starts) if m.start() <= offset), None)
    events: list[str] = list(sym.events)
    if head is not None:
        nxt = next((m.start() for m in starts if m.start() > head.start()), len(text))
        body = text[head.start() : nxt]
        upto = text[head.start() : offset]
        keyword = head.group(1)
        named: Optional[list[str]] = None
        if keyword in ("rule", "scorecard"):
            found = re.search(r"\bon\s+" + _NAMES, body)
            named = re.split(r"\s*,\s*", found.group(1)) if found else None
        elif keyword == "window":
            found = re.search(r"\bof\s+" + _NAMES, body)
            named = re.split(r"\s*,\s*", found.group(1)) if found else None
        elif keyword == "sequence":
            steps = re.findall(r"\bstep\s+(\w+)", upto) or re.findall(r"\bstep\s+(\w+)", body)
            named = steps[-1:] if re.search(r"\bstep\b", upto) else steps
        elif keyword in ("const", "param", "list"):
            return {}  # constants only
        if named and "any" not in named:
            events = [e for e in named if e in sym.events] or events
    out: dict[str, str] = {}
    for ev in events:
        for fname, ft in sym.fields.get(ev, {}).items():
            out.setdefault(fname, f"{display(ft)} (field of {ev})")
    return out


# ---------------------------------------------------------------- formatting


def format_text(text: str, path: str = "<editor>") -> Optional[str]:
    """The canonical layout of ``text``, or None when it does not parse or the formatter cannot keep its meaning."""
    module, diags = parse(text, path)
    if diags or module is None:
        return None
    try:
        new = format_module(module, text)
    except FormatError:
        return None
    again, again_diags = parse(new, path)
    if (
        again_diags
        or again is None
        or strip_spans(again) != strip_spans(module)
        or sorted(c.text for c in scan_comments(new)) != sorted(c.text for c in scan_comments(text))
    ):
        return None
    return new


# ---------------------------------------------------------------- small helpers


def signature(b: Builtin) -> str:
    """``hour(timestamp) -> int``."""
    return f"{b.name}({', '.join(b.params)}) -> {b.result}"


def explain_code(code: str) -> str:
    """A diagnostic code's title and explanation, as ``ruledsl explain`` prints them."""
    c = CODES[code]
    return f"**{c.code}** ({c.severity}): {c.title}\n\n```text\n{c.explanation}\n```"


def doc_comment(text: str, span: n.Span) -> str:
    """The comment lines right above ``span`` and the comment trailing its last line, without ``#``."""
    if not text or span.end <= span.start:
        return ""
    lines: list[str] = []
    start = text.rfind("\n", 0, span.start) + 1
    if text[start : span.start].strip() == "":
        pos = start
        while pos > 0:
            prev = text.rfind("\n", 0, pos - 1) + 1
            line = text[prev : pos - 1].strip()
            if not line.startswith("#"):
                break
            lines.insert(0, line.lstrip("#").strip())
            pos = prev
    eol = text.find("\n", span.end)
    tail = text[span.end : eol if eol >= 0 else len(text)]
    # the span may stop before a clause the node does not cover (a field's budget clause)
    hash_at = tail.find("#")
    if hash_at >= 0 and tail.count('"', 0, hash_at) % 2 == 0:
        lines.append(tail[hash_at:].lstrip("#").strip())
    return "\n".join(line for line in lines if line)


def _word_at(text: str, offset: int) -> str:
    for m in _WORD.finditer(text, max(0, offset - 64), offset + 64):
        if m.start() <= offset <= m.end():
            return m.group(0)
    return ""


def shown_path(path: Path) -> str:
    """How diagnostics name ``path``."""
    return display_path(path)


def included_error_message(d: Diagnostic) -> str:
    """The message put on an ``include`` for an error in the file it brings in."""
    return f"{d.path}:{d.span.line}:{d.span.col}: {d.code} {d.message}"
