"""Robustness of the linter (loader + parser + checker) on hostile input.

Whatever the text, ``load_text`` + ``check`` must not raise: every problem
is a diagnostic with a registered code, a line inside the file, and it
renders.  Inputs: arbitrary text (CJK, control characters, quotes, braces),
random token soup, and mutations of a valid ruleset.  Deeply nested
expressions must give RD005, never a RecursionError.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruledsl.check.checker import check
from ruledsl.syntax.codes import CODES
from ruledsl.syntax.diagnostics import render
from ruledsl.syntax.loader import load_text

VALID = r"""
ruleset fuzz { version "1" timezone "Asia/Shanghai" lateness 1s }
event login { customer: string  device: string  city: string?  new_device: bool }
event transfer {
    customer: string
    payee: string
    amount: decimal
    city: string?
    channel: enum("atm", "pos", "web")
}
const large = 50000.00
param limit: decimal = 20000
list black: string = ["6222000011112222", "北京"]
window day_total = sum(amount) of transfer where channel != "atm" by customer over 1d
window phones = distinct(device) of login by customer over 1h
window prev_city = last(city) of login, transfer by customer over 30d
sequence takeover by customer within 30m { step login where new_device step transfer where amount > large }
rule bl { on transfer when payee in black action block reason "黑名单" code "BL01" }
rule big { on transfer when amount > limit and day_total > large * 2 action hold reason "大额" priority 3 }
rule hop { on login, transfer when present(city) and city != prev_city action step_up reason "异地" }
rule night { on transfer when between_hours(ts, 22, 6) and matches(payee, "^62[0-9]+$") action alert reason "夜间" }
rule chain { on transfer when takeover or phones > 3 action block reason "链式" shadow }
scorecard risk {
    on transfer
    item "大额" when amount > large score 40
    item "夜间" when hour(ts) < 6 score 20.5
    level high >= 60
    level medium >= 30
}
rule risky { on transfer when level(risk) == "high" action hold reason "评分高" }
"""

KEYWORDS = [
    "ruleset",
    "include",
    "event",
    "const",
    "param",
    "list",
    "window",
    "sequence",
    "rule",
    "scorecard",
    "on",
    "when",
    "action",
    "reason",
    "code",
    "priority",
    "tags",
    "shadow",
    "item",
    "score",
    "level",
    "step",
    "where",
    "by",
    "over",
    "within",
    "of",
    "any",
    "excluding",
    "current",
    "file",
    "enum",
    "and",
    "or",
    "not",
    "in",
    "true",
    "false",
    "block",
    "hold",
    "count",
    "sum",
    "last",
    "since",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "==",
    "!=",
    "<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "?",
    '"x"',
    '"北京"',
    '""',
    "0",
    "1",
    "0.5",
    "1.23456",
    "10m",
    "0s",
    "500d",
    "amount",
    "ts",
    "customer",
    "black",
    "large",
    "day_total",
    "risk",
    "hour",
    "matches",
    "#",
    "\n",
    "规则",
    "\x00",
    "\t",
]

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\w+|[^\w\s]|\n')
TOKENS = [(m.start(), m.end()) for m in _TOKEN.finditer(VALID)]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def lint_is_safe(text: str):
    """Lint ``text``; check the invariants every diagnostic must keep."""
    program = load_text(text, "fuzz.rdsl")
    result = check(program)
    for d in result.diagnostics:
        assert d.code in CODES, d
        source = program.sources.get(d.path)
        if source is not None:
            assert 1 <= d.line <= source.count("\n") + 1, d
            assert d.col >= 1, d
        assert render(d, source).startswith(f"{d.path}:{d.line}:{d.col}: {d.code} ")
        d.to_dict()
    return result


def test_the_valid_ruleset_is_clean():
    result = lint_is_safe(VALID)
    assert result.diagnostics == [], [str(d) for d in result.diagnostics]


# ---------------------------------------------------------------- arbitrary text

_CHARS = st.one_of(
    st.characters(),  # every code point class, control characters included
    st.sampled_from(list("{}()[]\"\\#\n\r\t ,=<>!+-*/%?.:_0123456789'`$;") + list("规则北京转账（）＞，")),
)


@FUZZ
@given(st.text(_CHARS, max_size=300))
def test_arbitrary_text(text):
    lint_is_safe(text)


@FUZZ
@given(st.lists(st.sampled_from(KEYWORDS), max_size=60))
def test_token_soup(tokens):
    lint_is_safe(" ".join(tokens))


# ---------------------------------------------------------------- mutations of a valid ruleset


@st.composite
def mutated(draw):
    text = VALID
    for _ in range(draw(st.integers(1, 3))):
        tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)] or [(0, 0)]
        i = draw(st.integers(0, len(tokens) - 1))
        a, b = tokens[i]
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "char_del", "char_ins"]))
        if op == "delete":
            text = text[:a] + text[b:]
        elif op == "duplicate":
            text = text[:b] + " " + text[a:b] + text[b:]
        elif op == "swap":
            c, d = tokens[draw(st.integers(0, len(tokens) - 1))]
            if (c, d) != (a, b):
                (a, b), (c, d) = sorted([(a, b), (c, d)])
                text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        elif op in ("insert", "replace"):
            word = draw(st.sampled_from(KEYWORDS))
            text = text[:a] + word + " " + text[a if op == "insert" else b :]
        else:
            pos = draw(st.integers(0, max(0, len(text) - 1)))
            if op == "char_del":
                text = text[:pos] + text[pos + 1 :]
            else:
                text = text[:pos] + draw(_CHARS) + text[pos:]
    return text


@FUZZ
@given(mutated())
def test_mutated_ruleset(text):
    lint_is_safe(text)


# ---------------------------------------------------------------- depth

DEPTH = 10_000
HEAD = "event e { a: int  b: bool }\n"


def _rule(cond: str) -> str:
    return HEAD + f'rule r {{ on e when {cond} action block reason "x" }}\n'


def test_deep_nesting_gives_rd005():
    cases = {
        "not": "not " * DEPTH + "b",
        "minus": "-" * DEPTH + "a > 1",
        "paren sum": "a+(" * DEPTH + "a" + ")" * DEPTH + " > 1",
        "calls": "abs(" * DEPTH + "a" + ")" * DEPTH + " > 1",
        "lists": "a in " + "[" * DEPTH + "1" + "]" * DEPTH,
        "comparison in parens": "(a > (" * DEPTH + "a" + "))" * DEPTH,
    }
    for name, cond in cases.items():
        result = lint_is_safe(_rule(cond))
        assert [d.code for d in result.diagnostics] == ["RD005"], name


def test_redundant_parentheses_do_not_nest():
    # `((((x))))` is the same expression as `x`: no depth, no error, no recursion
    result = lint_is_safe(_rule("(" * DEPTH + "a > 1" + ")" * DEPTH))
    assert result.diagnostics == []


def test_long_flat_chains_count_as_nesting():
    # a flat chain parses shallow but builds a left-deep tree, so each operator
    # counts as a level: 90 terms are fine, 5,000 give RD005, never a RecursionError
    for joiner, term in ((" or ", "a > 1"), (" + ", "a")):
        tail = "" if joiner == " or " else " > 1"
        assert lint_is_safe(_rule(joiner.join([term] * 90) + tail)).diagnostics == []
        result = lint_is_safe(_rule(joiner.join([term] * 5_000) + tail))
        assert [d.code for d in result.diagnostics] == ["RD005"]
