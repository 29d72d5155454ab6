"""``ruledsl lsp`` over stdio, driven by pygls' own language client (docs/editors.md).

One server process serves the whole module (starting one costs about a
second); each test speaks to it in turn on one event loop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

SCHEMA = """\
# payments from every channel
event payment {
  customer_id: string
  amount: decimal  # 金额, in yuan
  note: string?
}
"""

MAIN = """\
ruleset demo {
  version "1"
}

include "schema.rdsl"

param big: decimal = 5000.00  # the large-amount threshold
list black: string = ["c1", "c2"]
window pay_1h = count() of payment by customer_id over 1h

rule large {
  reason "large payment"
  on payment
  when contains(note, "🚨") and amout > big and pay_1h > 3 and customer_id in black
  action block
}
"""

TIMEOUT = 20.0


def _command() -> list[str]:
    exe = Path(sys.executable).with_name("ruledsl")
    return [str(exe), "lsp"] if exe.exists() else [sys.executable, "-m", "ruledsl", "lsp"]


class Session:
    """A language client on its own event loop, with the diagnostics the server published."""

    def __init__(self, root: Path):
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("ruledsl-test", "1")
        self.published: dict[str, asyncio.Queue[t.PublishDiagnosticsParams]] = {}
        self.versions: dict[str, int] = {}

        @self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _published(params: t.PublishDiagnosticsParams) -> None:
            self.queue(params.uri).put_nowait(params)

        cmd = _command()
        self.run(self.client.start_io(cmd[0], *cmd[1:], cwd=str(root)))
        self.init = self.run(
            self.client.initialize_async(
                t.InitializeParams(
                    capabilities=t.ClientCapabilities(),
                    root_uri=root.as_uri(),
                    process_id=None,
                )
            )
        )
        self.client.initialized(t.InitializedParams())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))

    def queue(self, uri: str) -> asyncio.Queue[t.PublishDiagnosticsParams]:
        return self.published.setdefault(uri, asyncio.Queue())

    def diagnostics(self, uri: str) -> list[t.Diagnostic]:
        """The next diagnostics published for ``uri``."""
        return list(self.run(self.queue(uri).get()).diagnostics)

    def open(self, path: Path, text: str) -> list[t.Diagnostic]:
        uri = path.as_uri()
        self.versions[uri] = 1
        self.client.text_document_did_open(
            t.DidOpenTextDocumentParams(
                text_document=t.TextDocumentItem(uri=uri, language_id="ruledsl", version=1, text=text)
            )
        )
        return self.diagnostics(uri)

    def change(self, path: Path, text: str) -> list[t.Diagnostic]:
        uri = path.as_uri()
        self.versions[uri] += 1
        self.client.text_document_did_change(
            t.DidChangeTextDocumentParams(
                text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        return self.diagnostics(uri)

    def close(self) -> int | None:
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        server = self.client._server
        code = self.run(server.wait()) if server is not None else None
        self.run(self.client.stop())
        self.loop.close()
        return code


def _pos(text: str, needle: str, nth: int = 0, into: int = 1) -> t.Position:
    """The position ``into`` characters inside the ``nth`` occurrence of ``needle`` (UTF-16 units)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += into
    line = text.count("\n", 0, at)
    start = text.rfind("\n", 0, at) + 1
    col = sum(2 if ord(c) > 0xFFFF else 1 for c in text[start:at])
    return t.Position(line=line, character=col)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lsp")
    (root / "schema.rdsl").write_text(SCHEMA, encoding="utf-8")
    (root / "main.rdsl").write_text(MAIN, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def session(workspace: Path) -> Iterator[Session]:
    s = Session(workspace)
    yield s
    if not s.loop.is_closed():
        s.close()


@pytest.fixture(scope="module")
def opened(session: Session, workspace: Path) -> tuple[Path, list[t.Diagnostic]]:
    """main.rdsl opened once with its misspelt field (the on-disk text); later tests see the fixed text."""
    path = workspace / "main.rdsl"
    return path, session.open(path, MAIN)


FIXED = MAIN.replace("amout", "amount")


def doc(path: Path) -> t.TextDocumentIdentifier:
    return t.TextDocumentIdentifier(uri=path.as_uri())


def test_initialize_advertises_the_features(session: Session) -> None:
    caps = session.init.capabilities
    assert session.init.server_info.name == "ruledsl"
    assert caps.hover_provider and caps.definition_provider and caps.document_symbol_provider
    assert caps.document_formatting_provider and caps.completion_provider is not None


def test_open_reports_the_error_where_it_is(opened: tuple[Path, list[t.Diagnostic]]) -> None:
    _path, diags = opened
    assert [d.code for d in diags] == ["RD103"]
    d = diags[0]
    # line 14, after an emoji (two UTF-16 units) in the string before it
    assert d.range.start == _pos(MAIN, "amout", into=0)
    assert d.range.start == t.Position(line=13, character=32)
    assert d.range.end == t.Position(line=13, character=37)
    assert d.severity == t.DiagnosticSeverity.Error
    assert "did you mean `amount`" in d.message


def test_change_fixing_it_clears_the_diagnostics(session: Session, opened: tuple[Path, list[t.Diagnostic]]) -> None:
    path, _ = opened
    assert session.change(path, FIXED) == []
    # the unsaved text is what is checked: the file on disk still has the mistake
    assert "amout" in path.read_text(encoding="utf-8")


def test_a_syntax_error_while_typing(session: Session, opened: tuple[Path, list[t.Diagnostic]]) -> None:
    path, _ = opened
    broken = FIXED.replace("action block", "action block }}")
    diags = session.change(path, broken)
    assert [d.code for d in diags] == ["RD001"]
    assert diags[0].range.start.line == 14
    assert session.change(path, FIXED) == []


def test_a_change_in_an_open_included_file_rechecks_the_includer(
    session: Session, workspace: Path, opened: tuple[Path, list[t.Diagnostic]]
) -> None:
    path, _ = opened
    schema = workspace / "schema.rdsl"
    assert session.open(schema, SCHEMA) == []
    session.change(schema, SCHEMA.replace("amount:", "amt:"))  # unsaved: only the editor has it
    diags = session.diagnostics(path.as_uri())
    assert [d.code for d in diags] == ["RD103"] and "`amount`" in diags[0].message
    session.change(schema, SCHEMA)
    assert session.diagnostics(path.as_uri()) == []


def test_hover_field_window_param_list_and_code(session: Session, opened: tuple[Path, list[t.Diagnostic]]) -> None:
    path, _ = opened

    def hover(pos: t.Position) -> str:
        got = session.run(
            session.client.text_document_hover_async(t.HoverParams(text_document=doc(path), position=pos))
        )
        assert got is not None
        return got.contents.value

    field = hover(_pos(FIXED, "amount >"))
    assert "amount: decimal" in field and "payment" in field and "金额, in yuan" in field
    window = hover(_pos(FIXED, "pay_1h >"))
    assert "(window) `pay_1h`: `int`" in window
    assert "count() of payment by customer_id over 1h" in window
    param = hover(_pos(FIXED, "> big", into=3))
    assert "big: decimal" in param and "default: `5000.00`" in param and "large-amount threshold" in param
    lst = hover(_pos(FIXED, "in black", into=4))
    assert "black: string" in lst and "inline, 2 entries" in lst
    builtin = hover(_pos(FIXED, "contains("))
    assert "contains(string, string) -> bool" in builtin


def test_hover_explains_a_diagnostic(session: Session, opened: tuple[Path, list[t.Diagnostic]]) -> None:
    path, _ = opened
    text = FIXED.replace("pay_1h > 3", "pay_1h > 3 and note > 1")
    (diag,) = session.change(path, text)
    got = session.run(
        session.client.text_document_hover_async(
            t.HoverParams(text_document=doc(path), position=_pos(text, "note > 1", into=6))
        )
    )
    session.change(path, FIXED)
    assert got is not None
    value = got.contents.value
    assert diag.code.startswith("RD2")
    assert f"**{diag.code}**" in value and "What:" in value  # the code's explanation, as `ruledsl explain` gives it


def test_definition_across_an_include(
    session: Session, workspace: Path, opened: tuple[Path, list[t.Diagnostic]]
) -> None:
    path, _ = opened

    def define(pos: t.Position) -> list[t.Location]:
        got = session.run(
            session.client.text_document_definition_async(t.DefinitionParams(text_document=doc(path), position=pos))
        )
        return list(got or [])

    (loc,) = define(_pos(FIXED, "amount >"))
    assert loc.uri == (workspace / "schema.rdsl").resolve().as_uri()
    assert loc.range.start == t.Position(line=3, character=2)  # `amount: decimal` in schema.rdsl
    (loc,) = define(_pos(FIXED, "pay_1h >"))
    assert loc.uri == path.resolve().as_uri()
    assert loc.range.start == t.Position(line=8, character=7)
    (loc,) = define(_pos(FIXED, "payment\n  when", into=2))
    assert loc.uri.endswith("schema.rdsl") and loc.range.start.line == 1
    (loc,) = define(_pos(FIXED, '"schema.rdsl"'))
    assert loc.uri.endswith("schema.rdsl")


def test_completion_offers_fields_windows_params_lists(
    session: Session, opened: tuple[Path, list[t.Diagnostic]]
) -> None:
    path, _ = opened
    typing = FIXED.replace("action block", "when amount > 1 and \n  action block")
    session.change(path, typing)
    got = session.run(
        session.client.text_document_completion_async(
            t.CompletionParams(text_document=doc(path), position=_pos(typing, "and \n", into=4))
        )
    )
    session.change(path, FIXED)
    items = got.items if isinstance(got, t.CompletionList) else got
    kinds = {i.label: i.kind for i in items}
    assert kinds["amount"] == t.CompletionItemKind.Field
    assert kinds["note"] == t.CompletionItemKind.Field
    assert kinds["pay_1h"] == t.CompletionItemKind.Variable
    assert kinds["big"] == t.CompletionItemKind.Property
    assert kinds["black"] == t.CompletionItemKind.Value
    assert kinds["hour"] == t.CompletionItemKind.Function
    assert kinds["and"] == t.CompletionItemKind.Keyword
    # fields sort first
    first = min(items, key=lambda i: i.sort_text or i.label)
    assert first.kind == t.CompletionItemKind.Field


def test_completion_after_action_offers_actions(session: Session, opened: tuple[Path, list[t.Diagnostic]]) -> None:
    path, _ = opened
    typing = FIXED.replace("action block", "action ")
    session.change(path, typing)
    got = session.run(
        session.client.text_document_completion_async(
            t.CompletionParams(text_document=doc(path), position=_pos(typing, "action ", into=7))
        )
    )
    session.change(path, FIXED)
    items = got.items if isinstance(got, t.CompletionList) else got
    assert sorted(i.label for i in items) == ["alert", "block", "hold", "pass", "step_up"]


def test_document_symbols(session: Session, opened: tuple[Path, list[t.Diagnostic]]) -> None:
    path, _ = opened
    got = session.run(
        session.client.text_document_document_symbol_async(t.DocumentSymbolParams(text_document=doc(path)))
    )
    shown = [(s.name, s.kind) for s in got]
    assert shown == [
        ("demo", t.SymbolKind.Namespace),
        ("schema.rdsl", t.SymbolKind.File),
        ("big", t.SymbolKind.Property),
        ("black", t.SymbolKind.Array),
        ("pay_1h", t.SymbolKind.Variable),
        ("large", t.SymbolKind.Function),
    ]
    rule = got[-1]
    assert rule.range.start.line == 10 and rule.range.end.line == 15
    assert rule.selection_range.start == t.Position(line=10, character=5)


def test_formatting(session: Session, workspace: Path) -> None:
    from ruledsl.syntax.formatter import format_module
    from ruledsl.syntax.parser import parse

    path = workspace / "messy.rdsl"
    messy = SCHEMA.replace("  amount: decimal", "amount :   decimal")
    session.open(path, messy)
    edits = session.run(
        session.client.text_document_formatting_async(
            t.DocumentFormattingParams(
                text_document=doc(path), options=t.FormattingOptions(tab_size=2, insert_spaces=True)
            )
        )
    )
    module, _ = parse(messy)
    assert module is not None
    (edit,) = edits
    assert edit.new_text == format_module(module, messy)
    assert edit.range.start == t.Position(line=0, character=0)
    assert edit.range.end == t.Position(line=6, character=0)
    # a file that does not parse gets no edit
    broken = messy.replace("}", "")
    assert session.change(path, broken)[0].code in ("RD001", "RD002")
    edits = session.run(
        session.client.text_document_formatting_async(
            t.DocumentFormattingParams(
                text_document=doc(path), options=t.FormattingOptions(tab_size=2, insert_spaces=True)
            )
        )
    )
    assert not edits


def test_shutdown_and_exit(session: Session) -> None:
    assert session.close() == 0
