"""The fused lexer+LALR loop (ruledsl.syntax.lalr_loop) agrees with Lark's own loop.

On text the grammar accepts both build the same AST; where Lark raises a
syntax error the fused loop returns None (``parse`` then lets Lark raise
it); where the transformer refuses something (a bad escape, too deep) both
raise the same problem.
"""

from __future__ import annotations

import dis
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from ruledsl.syntax import parser as P

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import lintgen  # noqa: E402  (benchmarks/ is not a package)

CORPUS = sorted((ROOT / "rulesets").rglob("*.rdsl")) + sorted((ROOT / "benchmarks").glob("*.rdsl"))


def _outcome(run: Any, text: str) -> tuple[str, Any]:
    _parser, transformer = P._lark()
    transformer.anon = P._anonymous_terminals()
    try:
        return ("ok", run(text))
    except UnexpectedInput:
        return ("syntax error", None)
    except (P.SyntaxProblem, P._TooDeep) as err:
        return (type(err).__name__, str(err))
    finally:
        transformer.depth.clear()


def _both(text: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
    lark_parser = P._lark()[0]
    fused = P._fused()
    assert fused is not None
    expected = _outcome(lark_parser.parse, text)
    got = _outcome(fused.parse, text)
    if got == ("ok", None):
        got = ("syntax error", None)
    return expected, got


def test_the_fused_loop_is_in_use() -> None:
    # None would mean the installed Lark's internals are not the ones it reads (parse still works, slower)
    assert P._fused() is not None


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_corpus_parses_the_same(path: Path) -> None:
    expected, got = _both(path.read_text(encoding="utf-8-sig"))
    assert expected[0] == "ok"
    assert got == expected


def test_a_generated_ruleset_parses_the_same() -> None:
    expected, got = _both(lintgen.generate_ruleset(300, seed=11))
    assert expected[0] == "ok" and len(expected[1]) > 300
    assert got == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   # only a comment\n",
        "rule { when",
        'ruleset r { lateness 1m }\nevent e { k: string }\nrule r { reason "r" on e when k = "a" action alert }\n',
        'const s = "bad \\q escape"\n',
        "const c = " + "(" * 150 + "1" + ")" * 150 + "\n",
        "const c = 1 + # comment\n 2 @\n",
        "const c = 1 +\n",
        "event e { code: string  rule: int }\nconst x = -1 - -2\n",
        "const d = 10m30s\nconst x = 1_000.5\n",
        "const a = 1 ; const b = 2\n",
    ],
)
def test_edge_cases_agree(text: str) -> None:
    expected, got = _both(text)
    assert got == expected


_SOURCES = [p.read_text(encoding="utf-8-sig") for p in CORPUS[:6]]


@settings(max_examples=150)
@given(
    st.sampled_from(_SOURCES),
    st.floats(0, 1),
    st.integers(0, 12),
    st.lists(st.sampled_from([*' \n#"(){}[]=<>!-+*,:?._a1z', "and", "or", "rule", "1m", "\\"]), max_size=6).map(
        "".join
    ),
)
def test_mutated_rulesets_agree(source: str, where: float, cut: int, insert: str) -> None:
    at = int(where * len(source))
    expected, got = _both(source[:at] + insert + source[at + cut :])
    assert got == expected


def test_rules_marked_span_unused_never_read_their_span() -> None:
    readers = {
        name
        for name in dir(P._ToAST)
        if not name.startswith("__")
        and any(
            i.opname.startswith("LOAD") and i.argval == "meta" for i in dis.get_instructions(getattr(P._ToAST, name))
        )
    }
    # the operator chains pass `meta` on to _chain, which does not read it
    assert "meta" not in {i.argval for i in dis.get_instructions(P._ToAST._chain) if i.opname.startswith("LOAD")}
    assert not (P._SPAN_UNUSED - {"or_expr", "and_expr", "sum", "product"}) & readers
    assert P._SPAN_UNUSED.issubset(name for name in dir(P._ToAST) if not name.startswith("_"))


def test_without_the_fused_loop_parse_gives_the_same_modules_and_diagnostics(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [CORPUS[0].read_text(encoding="utf-8-sig"), "const a = 1 +\nrule { when\nconst b = 2\n"]
    fast = [P.parse(text, "x.rdsl") for text in texts]
    monkeypatch.setattr(P, "_fused", lambda: None)
    assert [P.parse(text, "x.rdsl") for text in texts] == fast
    assert fast[0][0] is not None and not fast[0][1]
    assert fast[1][1]  # the broken text has diagnostics
