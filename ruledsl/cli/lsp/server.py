"""The language server: pygls wiring of ``ruledsl.cli.lsp.analysis`` (docs/editors.md).

Documents are synchronised in full (rulesets are small and checking one
takes milliseconds, so every change is checked at once, without a delay).
Positions cross the protocol in the negotiated encoding (UTF-16 unless the
client offers another): the analysis works in code points and char offsets.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ruledsl._version import __version__
from ruledsl.cli.lsp.analysis import Analysis, Item, Outline, completions, format_text, included_error_message
from ruledsl.syntax import nodes as n
from ruledsl.syntax.diagnostics import Diagnostic

log = logging.getLogger("ruledsl.lsp")

_SEVERITY = {"error": t.DiagnosticSeverity.Error, "warning": t.DiagnosticSeverity.Warning}
_ITEM_KINDS = {
    "field": t.CompletionItemKind.Field,
    "window": t.CompletionItemKind.Variable,
    "param": t.CompletionItemKind.Property,
    "const": t.CompletionItemKind.Constant,
    "list": t.CompletionItemKind.Value,
    "sequence": t.CompletionItemKind.Event,
    "scorecard": t.CompletionItemKind.Class,
    "builtin": t.CompletionItemKind.Function,
    "aggregate": t.CompletionItemKind.Function,
    "keyword": t.CompletionItemKind.Keyword,
    "action": t.CompletionItemKind.EnumMember,
    "level": t.CompletionItemKind.EnumMember,
    "event": t.CompletionItemKind.Struct,
    "type": t.CompletionItemKind.TypeParameter,
}
_ORDER = ("field", "window", "param", "const", "list", "sequence", "scorecard", "event", "action", "level", "aggregate")
_SYMBOL_KINDS = {
    "ruleset": t.SymbolKind.Namespace,
    "include": t.SymbolKind.File,
    "event": t.SymbolKind.Struct,
    "field": t.SymbolKind.Field,
    "const": t.SymbolKind.Constant,
    "param": t.SymbolKind.Property,
    "list": t.SymbolKind.Array,
    "window": t.SymbolKind.Variable,
    "sequence": t.SymbolKind.Event,
    "rule": t.SymbolKind.Function,
    "scorecard": t.SymbolKind.Class,
}


# ---------------------------------------------------------------- positions


def _units(text: str, encoding: str) -> int:
    """Length of ``text`` in the client's position units."""
    if encoding == t.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == t.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def to_position(text: str, offset: int, encoding: str) -> t.Position:
    """The protocol position of a char offset of ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return t.Position(line=line, character=_units(text[start:offset], encoding))


def to_range(text: str, span: n.Span, encoding: str) -> t.Range:
    """The protocol range of a span of ``text``."""
    return t.Range(start=to_position(text, span.start, encoding), end=to_position(text, span.end, encoding))


def to_offset(text: str, pos: t.Position, encoding: str) -> int:
    """The char offset of a protocol position in ``text`` (clamped to the line's end)."""
    start = 0
    for _ in range(pos.line):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)]
    units = 0
    for i, ch in enumerate(line):
        if units >= pos.character:
            return start + i
        units += _units(ch, encoding)
    return start + len(line)


# ---------------------------------------------------------------- the server


class RuleDSLServer(LanguageServer):
    """A pygls server keeping one ``Analysis`` per open document."""

    def __init__(self) -> None:
        super().__init__("ruledsl", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}
        self.last_checked: dict[str, Analysis] = {}  # the last analysis with symbols, for completion

    @property
    def encoding(self) -> str:
        """The negotiated position encoding."""
        return str(self.workspace.position_encoding or t.PositionEncodingKind.Utf16)

    def open_texts(self) -> dict[Path, str]:
        """The unsaved text of every open ruleset, by file."""
        out: dict[Path, str] = {}
        for uri, doc in self.workspace.text_documents.items():
            path = _path_of(uri)
            if path is not None:
                out[path] = doc.source
        return out

    def analyse(self, uri: str) -> Analysis:
        """Check the document as it is now and publish its diagnostics."""
        doc = self.workspace.get_text_document(uri)
        path = _path_of(uri) or (Path.cwd() / Path(uri.rsplit("/", 1)[-1] or "untitled").with_suffix(".rdsl"))
        analysis = Analysis(path, doc.source, self.open_texts())
        self.analyses[uri] = analysis
        if analysis.checked:
            self.last_checked[uri] = analysis
        self.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=uri, diagnostics=self._diagnostics(analysis), version=doc.version)
        )
        return analysis

    def analysis(self, uri: str) -> Analysis:
        """The document's current analysis (made now if the document changed without a notification)."""
        doc = self.workspace.get_text_document(uri)
        got = self.analyses.get(uri)
        if got is None or got.text != doc.source:
            got = self.analyse(uri)
        return got

    def _diagnostics(self, a: Analysis) -> list[t.Diagnostic]:
        enc = self.encoding
        out = [self._diagnostic(a.text, d, d.message, enc) for d in a.diagnostics]
        # an error in an included file shows on the `include` that brings it in (or the first one)
        includes = [d for d in (a.module.decls if a.module else ()) if isinstance(d, n.IncludeDecl)]
        for d in a.included_errors[:20]:
            target = next((i for i in includes if a.included_file(i) == _real(d.path)), None)
            target = target or (includes[0] if includes else None)
            span = target.span if target is not None else n.NO_SPAN
            diag = self._diagnostic(a.text, d, included_error_message(d), enc, span)
            source = a.source_of(d.path)
            diag.related_information = [
                t.DiagnosticRelatedInformation(
                    location=t.Location(
                        uri=from_fs_path(str(_real(d.path))) or "", range=to_range(source, d.span, enc)
                    ),
                    message=d.message,
                )
            ]
            out.append(diag)
        return out

    @staticmethod
    def _diagnostic(text: str, d: Diagnostic, message: str, enc: str, span: Optional[n.Span] = None) -> t.Diagnostic:
        return t.Diagnostic(
            range=to_range(text, span if span is not None else d.span, enc),
            message=message + (f"\nhelp: {d.help}" if d.help else ""),
            severity=_SEVERITY.get(d.severity, t.DiagnosticSeverity.Error),
            code=d.code,
            source="ruledsl",
        )


def _path_of(uri: str) -> Optional[Path]:
    if not uri.startswith("file:"):
        return None
    fs = to_fs_path(uri)
    return Path(fs).resolve() if fs else None


def _real(shown: str) -> Path:
    return (Path.cwd() / shown).resolve()


def _location(place_path: Path, text: str, span: n.Span, enc: str) -> t.Location:
    uri = from_fs_path(str(place_path)) or place_path.as_uri()
    return t.Location(uri=uri, range=to_range(text, span, enc))


def build_server() -> RuleDSLServer:
    """A server with every feature registered."""
    server = RuleDSLServer()

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RuleDSLServer, params: t.DidOpenTextDocumentParams) -> None:
        ls.analyse(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: RuleDSLServer, params: t.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        shown = ls.analyse(uri).shown
        # the open documents that include this one see its unsaved text at once
        for other, a in list(ls.analyses.items()):
            if other != uri and shown in a.program.sources and other in ls.workspace.text_documents:
                ls.analyse(other)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RuleDSLServer, params: t.DidSaveTextDocumentParams) -> None:
        # other open documents may include the saved one; recheck them all
        for uri in list(ls.analyses):
            if uri in ls.workspace.text_documents:
                ls.analyse(uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RuleDSLServer, params: t.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyses.pop(uri, None)
        ls.last_checked.pop(uri, None)
        ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls: RuleDSLServer, params: t.HoverParams) -> Optional[t.Hover]:
        a = ls.analysis(params.text_document.uri)
        text = a.hover(to_offset(a.text, params.position, ls.encoding))
        if text is None:
            return None
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: RuleDSLServer, params: t.DefinitionParams) -> list[t.Location]:
        a = ls.analysis(params.text_document.uri)
        enc = ls.encoding
        places = a.definition(to_offset(a.text, params.position, enc))
        return [_location(p.path, p.text, p.span, enc) for p in places]

    @server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", "(", ","]))
    def completion(ls: RuleDSLServer, params: t.CompletionParams) -> t.CompletionList:
        uri = params.text_document.uri
        a = ls.analysis(uri)
        symbols = a.symbols if a.checked else ls.last_checked.get(uri, a).symbols
        items = completions(a.text, to_offset(a.text, params.position, ls.encoding), symbols)
        return t.CompletionList(is_incomplete=False, items=[_completion_item(i) for i in items])

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: RuleDSLServer, params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
        a = ls.analysis(params.text_document.uri)
        return [_symbol(a.text, o, ls.encoding) for o in a.outline()]

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: RuleDSLServer, params: t.DocumentFormattingParams) -> list[t.TextEdit]:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        text = doc.source
        new = format_text(text)
        if new is None or new == text:
            return []
        end = to_position(text, len(text), ls.encoding)
        return [t.TextEdit(range=t.Range(start=t.Position(line=0, character=0), end=end), new_text=new)]

    return server


def _completion_item(i: Item) -> t.CompletionItem:
    group = _ORDER.index(i.kind) if i.kind in _ORDER else len(_ORDER) + (i.kind == "keyword")
    return t.CompletionItem(
        label=i.label,
        kind=_ITEM_KINDS.get(i.kind, t.CompletionItemKind.Text),
        detail=i.detail or None,
        documentation=i.doc or None,
        sort_text=f"{group:02d}{i.label}",
    )


def _symbol(text: str, o: Outline, enc: str) -> t.DocumentSymbol:
    return t.DocumentSymbol(
        name=o.name,
        kind=_SYMBOL_KINDS.get(o.kind, t.SymbolKind.Object),
        range=to_range(text, o.span, enc),
        selection_range=to_range(text, o.name_span, enc),
        detail=o.kind,
        children=[_symbol(text, c, enc) for c in o.children] or None,
    )


def serve_stdio() -> None:
    """Run the server on stdin/stdout until the client says ``exit``."""
    build_server().start_io()
