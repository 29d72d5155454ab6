"""A Pygments lexer for ruledsl, for the documentation's highlighters (docs/editors.md).

Registered as the ``pygments.lexers`` entry point ``rdsl`` (pyproject.toml), so
once ruledsl is installed, Sphinx, MkDocs (pymdownx.highlight), Python-Markdown's
codehilite and ``pygmentize`` highlight fenced ```` ```rdsl ```` blocks and ``.rdsl`` files.

The keywords are those of ``grammar/ruledsl.lark``, grouped as the TextMate
grammar of ``editors/vscode`` groups them; the built-in functions, aggregates,
actions, levels and types come from where the checker defines them, so they
cannot drift.  ``tests/cli/test_highlight.py`` fails when a keyword of the
grammar is not highlighted.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from ruledsl.check.types import BUILTINS, SCALAR_TYPE_NAMES
from ruledsl.syntax.nodes import ACTIONS, AGGREGATES, LEVELS
from ruledsl.syntax.parser import grammar_keywords

# ``\b`` is Unicode-aware, so a keyword inside a Chinese name (``规则rule``) is not one
_END = r"\b"

DECLARATIONS = ("ruleset", "event", "const", "param", "list", "window", "sequence", "rule", "scorecard", "exempt")
WORD_OPERATORS = ("and", "or", "not", "in")
CONSTANTS = ("true", "false", "any")
TYPES = (*SCALAR_TYPE_NAMES, "enum")
CLAUSES = tuple(sorted(grammar_keywords() - {"include", *DECLARATIONS, *WORD_OPERATORS, *CONSTANTS, *TYPES}))
"""Header items and clauses: every other keyword of the grammar (``grammar_keywords``)."""
FUNCTIONS = tuple(sorted(set(BUILTINS) | set(AGGREGATES)))

# what a declaration keyword names, for the themes that colour definitions
_DECLARED = {
    "ruleset": Name.Namespace,
    "event": Name.Class,
    "rule": Name.Function,
    "scorecard": Name.Function,
    "window": Name.Variable,
    "sequence": Name.Variable,
    "const": Name.Constant,
    "param": Name.Variable,
    "list": Name.Variable,
}


class RuledslLexer(RegexLexer):
    """Lexer for ruledsl rulesets (``.rdsl``): the anti-fraud rule language."""

    name = "ruledsl"
    # ``rdsl-error`` is the docs' fence for examples that must fail to check (tests/test_docs_examples.py)
    aliases: ClassVar[list[str]] = ["rdsl", "ruledsl", "rdsl-error"]
    filenames: ClassVar[list[str]] = ["*.rdsl"]
    mimetypes: ClassVar[list[str]] = ["text/x-ruledsl"]

    tokens: ClassVar[dict[str, list]] = {
        "root": [
            # ``name: type`` at the start of a line is a field of an event; before the whitespace rule,
            # which would take the indentation (newlines are tokens of their own so that ``^`` can match)
            (r"^([ \t]*)((?!\d)\w+)([ \t]*)(:)", bygroups(Whitespace, Name.Attribute, Whitespace, Punctuation)),
            (r"\n", Whitespace),
            (r"[^\S\n]+", Whitespace),
            # a suppression comment (docs/lint.md) stands out from prose comments
            (r"#\s*ruledsl\s*:[^\n]*", Comment.Special),
            (r"#[^\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            *[
                (rf"\b({kw})(\s+)((?!\d)\w+)", bygroups(Keyword.Declaration, Whitespace, token))
                for kw, token in _DECLARED.items()
            ],
            # a call of a built-in or an aggregate; ``level(...)`` is the function, ``level high`` the clause
            (words(FUNCTIONS, prefix=r"\b", suffix=r"(?=\s*\()"), Name.Builtin),
            (words(("include",), suffix=_END), Keyword.Namespace),
            (words(DECLARATIONS, suffix=_END), Keyword.Declaration),
            (words(CLAUSES, suffix=_END), Keyword),
            (words(WORD_OPERATORS, suffix=_END), Operator.Word),
            (words(TYPES, suffix=_END), Keyword.Type),
            (words(CONSTANTS, suffix=_END), Keyword.Constant),
            (words(ACTIONS + LEVELS, suffix=_END), Name.Builtin.Pseudo),
            # numbers as grammar/ruledsl.lark reads them: DURATION, COUNT, DECIMAL, INT
            (r"\d+(ms|s|m|h|d|w)(?!\w)", Number.Other),
            (r"\d[\d_]*(\.\d+)?[kKMG](?!\w)", Number.Integer),
            (r"\d[\d_]*\.\d+", Number.Float),
            (r"\d[\d_]*", Number.Integer),
            (r"(?!\d)\w+", Name),
            (r"==|!=|<=|>=|[<>=+\-*/%?]", Operator),
            (r"[{}()\[\],:]", Punctuation),
        ],
        "string": [
            (r'[^"\\\n]+', String.Double),
            (r"\\.", String.Escape),
            (r'"', String.Double, "#pop"),
            # an unterminated string ends at the line's end (the grammar's STRING cannot span lines)
            (r"\n", Text, "#pop"),
        ],
    }
