"""The Pygments lexer (ruledsl/cli/highlight.py) stays in step with the language and lexes the docs.

Every keyword of grammar/ruledsl.lark and every built-in, aggregate, action,
level and type name is highlighted as a keyword or a built-in; every ```rdsl
block of the docs and every shipped ruleset lexes without an error token, so
Sphinx (which refuses to highlight a block with one) and MkDocs colour them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String, _TokenType
from test_lsp_grammar import grammar_keywords  # tests/cli: the same keyword extraction as the TextMate test

from ruledsl.check.types import BUILTINS, SCALAR_TYPE_NAMES
from ruledsl.cli.highlight import RuledslLexer
from ruledsl.syntax import nodes as n

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
HIGHLIGHTED = (Keyword, Operator.Word, Name.Builtin)


def tokens(text: str) -> list[tuple[_TokenType, str]]:
    return [(tok, value) for tok, value in RuledslLexer().get_tokens(text) if value.strip()]


def token_of(word: str, text: str) -> _TokenType:
    (tok,) = [tok for tok, value in tokens(text) if value == word][:1]
    return tok


def rdsl_blocks() -> list[tuple[str, str]]:
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) == "rdsl":
                out.append((f"{doc.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}", m.group(2)))
    return out


BLOCKS = rdsl_blocks()
RULESETS = sorted((ROOT / "rulesets").rglob("*.rdsl"))


def test_there_is_something_to_lex() -> None:
    # an empty glob or a broken fence pattern would make the tests below pass vacuously
    assert len(BLOCKS) > 30
    assert len(RULESETS) >= 8


@pytest.mark.parametrize("word", sorted(grammar_keywords()))
def test_every_grammar_keyword_is_highlighted(word: str) -> None:
    tok = token_of(word, f"  {word} x")
    assert any(tok in t for t in HIGHLIGHTED), f"`{word}` lexes as {tok}: add it to ruledsl/cli/highlight.py"


@pytest.mark.parametrize("name", sorted(set(BUILTINS) | set(n.AGGREGATES)))
def test_every_builtin_and_aggregate_call_is_a_builtin(name: str) -> None:
    assert token_of(name, f"when {name}(x) > 1") in Name.Builtin


@pytest.mark.parametrize("word", sorted({*n.ACTIONS, *n.LEVELS, *SCALAR_TYPE_NAMES, "enum"}))
def test_actions_levels_and_types_are_highlighted(word: str) -> None:
    tok = token_of(word, f"  {word} x")
    assert any(tok in t for t in HIGHLIGHTED), tok


def test_names_literals_and_comments() -> None:
    assert token_of("amount", "when amount > 1") is Name
    assert token_of("hourly", "when hourly(x) > 1") is Name  # not a built-in
    assert token_of("ruleset_x", "when ruleset_x > 1") is Name  # a keyword's prefix is no keyword
    assert token_of("金额", "when 金额 > 1") is Name
    assert token_of("30m", "over 30m") in Number.Other  # a duration
    assert token_of("10M", "cardinality 10M") in Number.Integer  # a count
    assert token_of("50000.00", "when amount > 50000.00") is Number.Float
    assert token_of("1_000", "when amount > 1_000") is Number.Integer
    assert token_of("level", "  level high >= 80") in Keyword  # the scorecard clause ...
    assert token_of("level", "when level(card) == high") in Name.Builtin  # ... and the function
    assert token_of("code", "  code: string") is Name.Attribute  # a field named like a keyword
    assert token_of("big", "rule big {") is Name.Function
    toks = tokens('reason "大额 \\"x\\"" # 注释\nconst a = 1  # ruledsl: ignore[RD307]')
    assert (String.Escape, '\\"') in toks
    assert (Comment.Single, "# 注释") in toks
    assert toks[-1] == (Comment.Special, "# ruledsl: ignore[RD307]")  # a suppression comment


def test_a_character_outside_the_language_is_an_error_token() -> None:
    # the docs' rdsl-error examples show the mistake: a full-width comparison
    assert (Error, "＞") in tokens("when amount ＞ 50000")


@pytest.mark.parametrize(("where", "source"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_every_doc_block_lexes_without_an_error(where: str, source: str) -> None:
    errors = [value for tok, value in tokens(source) if tok in Error]
    assert not errors, f"{where}: {errors}"


@pytest.mark.parametrize("path", RULESETS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_ruleset_lexes_without_an_error(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lexed = list(RuledslLexer().get_tokens(text))
    assert not [value for tok, value in lexed if tok in Error]
    # nothing is dropped: the tokens give back the text (Pygments ends it with a newline)
    assert "".join(value for _, value in lexed) == (text if text.endswith("\n") else text + "\n")


def test_pygments_finds_it_by_alias_and_file_name() -> None:
    """The ``pygments.lexers`` entry point (pyproject.toml), as Sphinx and MkDocs look it up: needs the install."""
    script = (
        "from pygments.lexers import get_lexer_by_name, get_lexer_for_filename\n"
        "for alias in ('rdsl', 'ruledsl', 'rdsl-error'):\n"
        "    print(type(get_lexer_by_name(alias)).__name__)\n"
        "print(type(get_lexer_for_filename('rules/x.rdsl')).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["RuledslLexer"] * 4
    entry = 'rdsl = "ruledsl.cli.highlight:RuledslLexer"'
    assert entry in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
