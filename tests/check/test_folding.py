"""Constant folding by the checker: values in the runtime representation of each node's type."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Scope, const_decl  # tests/ is on sys.path (tests/conftest.py)

from ruledsl.check.checker import CheckResult, check
from ruledsl.check.fold import FoldError, convert_value
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.syntax import nodes as n
from ruledsl.syntax.loader import load_text

SCHEMA = """
event transfer {
    customer: string
    amount: decimal
    channel: enum("atm", "pos", "web")
    rate: float
}
"""


def checked(snippet: str) -> CheckResult:
    result = check(load_text(textwrap.dedent(snippet) + SCHEMA, "fold.rdsl"))
    assert [d for d in result.diagnostics if d.severity == "error"] == []
    return result


def const(expr: str) -> object:
    """The folded value of ``const c = <expr>``."""
    result = checked(f'const c = {expr}\nrule r {{ on transfer when c == c action alert reason "x" }}\n')
    return result.const_values["c"]


def when(result: CheckResult) -> n.Expr:
    expr = result.symbols.rules["r"].when
    assert expr is not None
    return expr


# ---------------------------------------------------------------- convert_value


@pytest.mark.parametrize(
    ("value", "src", "dst", "want"),
    [
        (2, "int", "decimal", 20_000),
        (-3, "int", "decimal", -30_000),
        (2, "int", "float", 2.0),
        (15_000, "decimal", "float", 1.5),
        (15_000, "decimal", "decimal", 15_000),
        (None, "int", "decimal", None),
        ("atm", "string", "enum", "atm"),
        (7_200_000, "duration", "decimal", 7_200_000),  # not numeric: unchanged
    ],
)
def test_convert_value(value, src, dst, want):
    got = convert_value(value, src, dst)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(("src", "dst"), [("decimal", "int"), ("float", "int"), ("float", "decimal")])
def test_convert_value_refuses_narrowing(src, dst):
    with pytest.raises(FoldError):
        convert_value(1, src, dst)


# ---------------------------------------------------------------- folded constants


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("2 > 1.5", True),  # int against decimal at decimal scale
        ("1.5 < 2", True),
        ("2 == 2.0", True),
        ("2 != 2.0001", True),
        ("3 in [1, 2.5, 3.0]", True),
        ("2.5 not in [1, 2]", True),
        ("1 + 0.5", 15_000),
        ("2 * 1.5", 30_000),
        ("1 / 3", 3_333),
        ("2 / 3", 6_667),
        ("0.0001 / 2", 0),  # 0.5 unit: half to even
        ("0.0003 / 2", 2),  # 1.5 units
        ("0.0005 * 0.5", 2),  # 2.5 units
        ("-7 % 3", 2),  # the sign of the divisor, as at run time
        ("7 / 2", 35_000),  # int / int is a decimal
        ("max(1, 2.5)", 25_000),
        ("min(1, 2.5)", 10_000),
        ("abs(-2.25)", 22_500),
        ("-(1.5)", -15_000),
        ("2h + 30m", 9_000_000),
        ("90m * 2", 10_800_000),
        ('len(["a", "a", "b"])', 3),  # counts entries, as the evaluator's tuple does
        ('upper("ab") == "AB"', True),
        ("not (1 > 2) and true", True),
        ("1.2345", 12_345),
    ],
)
def test_folded_const_values(expr, want):
    got = const(expr)
    assert got == want and type(got) is type(want)


@given(
    st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
    st.sampled_from(["+", "-", "*", "/"]),
)
def test_decimal_arithmetic_is_exact_then_rounded_half_even(a, b, op):
    if op == "/" and b == 0:
        return
    exact = {"+": Fraction(a) + Fraction(b), "-": Fraction(a) - Fraction(b), "*": Fraction(a) * Fraction(b)}
    want = round((exact[op] if op != "/" else Fraction(a) / Fraction(b)) * 10_000)
    assert const(f"({_lit(a)}) {op} ({_lit(b)})") == want


def _lit(d: Decimal) -> str:
    text = format(d, "f")
    return text if "." in text else text + ".0"


# ---------------------------------------------------------------- every folded node, for the compiler


def test_const_values_by_node_holds_constant_parts_of_conditions():
    result = checked('rule r { on transfer when amount > 2 * 1.5 and channel == "atm" action alert reason "x" }\n')
    cond = when(result)
    product = cond.left.right
    values = result.const_values_by_node
    assert values[id(product)] == 30_000
    assert values[id(product.left)] == 2  # an int literal keeps its own type
    assert values[id(product.right)] == 15_000
    assert values[id(cond.right.right)] == "atm"
    assert id(cond.left.left) not in values  # a field has no constant value
    assert id(cond) not in values


def test_const_values_by_node_publishes_list_literals_as_sets_in_the_element_type():
    result = checked(
        'rule r { on transfer when amount in [1, 2.5, 1.0] and channel in ["atm", "pos", "atm"]'
        ' action alert reason "x" }\n'
    )
    cond = when(result)
    values = result.const_values_by_node
    assert values[id(cond.left.right)] == frozenset({10_000, 25_000})
    assert values[id(cond.right.right)] == frozenset({"atm", "pos"})
    assert [values[id(i)] for i in cond.left.right.items] == [1, 25_000, 10_000]


def test_const_names_and_declaration_roots_are_published():
    result = checked(
        """
        const big = 2 > 1.5
        const limit = 1000
        param cap: float = limit / 8
        list amounts: decimal = [limit, 0.5]
        scorecard s { on transfer item "a" when amount > cap score 2.5 level high >= limit / 100 }
        rule r { on transfer when big and amount in amounts and s > 1 action alert reason "x" }
        """
    )
    values = result.const_values_by_node
    sym = result.symbols
    assert result.const_values["big"] is True
    assert values[id(sym.consts["big"].value)] is True
    assert values[id(when(result).left.left)] is True  # the name `big` in the condition
    default = sym.params["cap"].default
    assert values[id(default)] == 1_250_000  # decimal 125.0000; the parameter converts it
    assert convert_value(values[id(default)], result.types[id(default)].name, "float") == 125.0
    assert [values[id(i)] for i in sym.lists["amounts"].items] == [1000, 5_000]
    card = sym.scorecards["s"]
    assert values[id(card.items[0].score)] == 25_000
    assert values[id(card.levels[0].threshold)] == 100_000
    assert result.folded is result.const_values_by_node  # the former name


def test_values_that_depend_on_events_are_not_folded():
    result = checked('rule r { on transfer when rate * 2 > 1 and hour(ts) > 1 action alert reason "x" }\n')
    cond = when(result)
    values = result.const_values_by_node
    assert id(cond.left.left) not in values
    assert id(cond.right.left) not in values
    assert values[id(cond.left.right)] == 1


# ---------------------------------------------------------------- ints against decimals, at the scale's edge


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("2 > 1.9999", True),  # 20_000 > 19_999 once scaled; unscaled 2 > 19_999 would be false
        ("2 < 2.0001", True),
        ("1 == 1.0000", True),
        ("1 != 1.0001", True),
        ("-1 < -0.9999", True),
        ("0 == 0.0", True),
        ("100000 > 99999.9999", True),
        ("1.5 >= 2", False),
        ("3 in [1.5, 3.0]", True),
        ("2.0 in [1, 2]", True),
        ("2.5 in [1, 2]", False),
        ("(1 + 1) in [2.0]", True),
        ("(3 / 2) in [1, 1.5]", True),  # int / int is a decimal
        ("(7 % 4) == 3.0", True),
        ("min(2, 1.5) == 1.5", True),
        ("max(2, 1.5) > 1.9999", True),
        ("(2 * 0.5) == 1", True),
        ("(0.1 * 3) == 0.3", True),
    ],
)
def test_int_against_decimal_constants(expr, want):
    assert const(expr) is want


def test_constants_built_from_constants():
    result = checked(
        """
        const two = 2
        const big = two > 1.5
        const cut = two * 0.75
        const listed = cut in [1.5, 2]
        const scaled = (two + 0.0001) / 3
        rule r { on transfer when big and listed and amount > cut and amount in [cut, two, 0.5 * two] action alert reason "x" }
        """
    )
    values = result.const_values
    assert (values["two"], values["big"], values["cut"], values["listed"]) == (2, True, 15_000, True)
    assert values["scaled"] == 6_667  # 20_001 / 3 = 6_667 units (0.6667)
    cond = when(result)
    assert result.const_values_by_node[id(cond.right.right)] == frozenset({15_000, 20_000, 10_000})


# ---------------------------------------------------------------- the checker folds as the reference interpreter evaluates


@st.composite
def constant_declarations(draw) -> tuple[str, list[str]]:
    """Three to five random constant declarations (strategies.const_decl: numbers and conditions mixing
    ints and decimals, built on each other), and their names."""
    scope = Scope()
    names = [f"k{i}" for i in range(draw(st.integers(3, 5)))]
    return "\n".join(const_decl(draw, scope, name) for name in names), names


@settings(max_examples=150, deadline=None)
@given(constant_declarations())
def test_folded_constants_equal_the_reference_interpreters(case):
    text, names = case
    uses = " and ".join(f"(present({name}) or true)" for name in names)
    result = check(load_text(f'{text}\nrule r {{ on transfer when {uses} action alert reason "x" }}\n' + SCHEMA))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert not errors, (text, [d.message for d in errors])
    ref = ReferenceEngine(result)
    for name in names:
        folded, t = result.const_values[name], result.types[id(result.symbols.consts[name].value)].name
        want = ref._const(name)
        got = Decimal(folded).scaleb(-4) if t == "decimal" else folded
        assert got == want and type(got) is type(want), (text, name, folded, want)
