"""The editor support stays in step with the language.

Every keyword of the Lark grammar, every built-in function, aggregate,
action, level and type name is highlighted by the TextMate grammar of
``editors/vscode`` and offered by the language server's completion.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ruledsl.check.types import BUILTINS, SCALAR_TYPE_NAMES
from ruledsl.syntax import nodes as n

ROOT = Path(__file__).resolve().parents[2]
LARK = ROOT / "grammar" / "ruledsl.lark"
TM = ROOT / "editors" / "vscode" / "syntaxes" / "ruledsl.tmLanguage.json"


def grammar_keywords() -> set[str]:
    """The words the Lark grammar matches literally (``"rule"``, ``TRUE: "true"``...)."""
    text = re.sub(r"//[^\n]*", "", LARK.read_text(encoding="utf-8"))
    return set(re.findall(r'"([a-z_]+)"', text))


def tm_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """(scope, compiled match) of every ``match`` rule of the TextMate grammar, with its capture scopes."""
    data = json.loads(TM.read_text(encoding="utf-8"))
    out: list[tuple[str, re.Pattern[str]]] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if "match" in node:
                scopes = [node.get("name", "")] + [c.get("name", "") for c in node.get("captures", {}).values()]
                out.append((" ".join(s for s in scopes if s), re.compile(node["match"])))
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(data)
    return out


def highlighted(word: str, text: str, prefixes: tuple[str, ...]) -> bool:
    """Whether some rule with a scope starting with one of ``prefixes`` matches ``word`` where it stands in ``text``."""
    at = text.index(word)
    for scope, pattern in tm_patterns():
        if not any(s.startswith(prefixes) for s in scope.split()):
            continue
        for m in pattern.finditer(text):
            groups = [m.span(0)] + [m.span(i) for i in range(1, (pattern.groups or 0) + 1)]
            if (at, at + len(word)) in groups:
                return True
    return False


def test_the_grammar_has_keywords() -> None:
    words = grammar_keywords()
    # a broken extraction would make the tests below pass vacuously
    assert {"rule", "window", "when", "action", "true", "shadow", "excluding", "any"} <= words
    assert len(words) > 40


@pytest.mark.parametrize("word", sorted(grammar_keywords()))
def test_every_grammar_keyword_is_highlighted(word: str) -> None:
    assert highlighted(word, f"  {word} x", ("keyword.", "storage.", "constant.", "support.")), (
        f"add `{word}` to editors/vscode/syntaxes/ruledsl.tmLanguage.json"
    )


@pytest.mark.parametrize("name", sorted(set(BUILTINS) | set(n.AGGREGATES)))
def test_every_builtin_and_aggregate_is_highlighted_as_a_function(name: str) -> None:
    assert highlighted(name, f"when {name}(x) > 1", ("support.function",)), (
        f"add `{name}` to the builtin patterns of editors/vscode/syntaxes/ruledsl.tmLanguage.json"
    )


@pytest.mark.parametrize("word", sorted({*n.ACTIONS, *n.LEVELS, *SCALAR_TYPE_NAMES, "enum"}))
def test_actions_levels_and_types_are_highlighted(word: str) -> None:
    assert highlighted(word, f"  {word} x", ("keyword.", "storage.", "constant.", "support."))


def test_a_name_that_is_no_keyword_is_not_highlighted() -> None:
    assert not highlighted("amount", "  amount x", ("keyword.", "storage.", "constant.", "support."))
    assert not highlighted("hourly", "when hourly(x) > 1", ("support.function",))


def test_the_language_server_completes_every_keyword() -> None:
    from ruledsl.cli.lsp.analysis import KEYWORDS

    missing = grammar_keywords() - set(KEYWORDS)
    assert not missing, f"add {sorted(missing)} to KEYWORDS in ruledsl/cli/lsp/analysis.py"


def test_the_extension_declares_the_language() -> None:
    root = TM.parents[1]
    pkg = json.loads((root / "package.json").read_text(encoding="utf-8"))
    (lang,) = pkg["contributes"]["languages"]
    assert lang["extensions"] == [".rdsl"]
    (gram,) = pkg["contributes"]["grammars"]
    assert (root / gram["path"]).resolve() == TM
    assert json.loads(TM.read_text(encoding="utf-8"))["scopeName"] == gram["scopeName"]
    conf = json.loads((root / lang["configuration"]).read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "#"
    assert ["{", "}"] in conf["brackets"]
    assert "vscode-languageclient" in pkg["dependencies"]
    main = (root / pkg["main"]).read_text(encoding="utf-8")
    assert '"lsp"' in main and "vscode-languageclient/node" in main
