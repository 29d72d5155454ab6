"""Half-to-even rounding, directly: ``div_half_even`` and every helper that rounds with it.

Decimals are integers of 1/10000; whenever a result has more digits (a
product, a quotient, an average, an event value with 5 decimals), it is
rounded half to even: a tie goes to the even neighbour, on both sides of
zero.  Exhaustive over a grid of small operands, where every tie occurs, so a
half-up or half-away-from-zero slip cannot pass by chance.
"""

from __future__ import annotations

import decimal
from fractions import Fraction

import pytest

from ruledsl.compile.runtime import _avg_d, _avg_i, _ddiv, _dmul
from ruledsl.kernels.values import decimal_literal, div_half_even, to_decimal
from ruledsl.oracle.reference import round4

GRID = [(a, b) for a in range(-60, 61) for b in range(-12, 13) if b]


def test_div_half_even_on_a_grid_is_the_exact_quotient_rounded_half_even():
    # round() of a Fraction rounds half to even, exactly
    wrong = [(a, b) for a, b in GRID if div_half_even(a, b) != round(Fraction(a, b))]
    assert wrong == []


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (1, 2, 0),  # 0.5 -> 0
        (3, 2, 2),  # 1.5 -> 2
        (5, 2, 2),  # 2.5 -> 2
        (7, 2, 4),  # 3.5 -> 4
        (-1, 2, 0),  # -0.5 -> 0
        (-3, 2, -2),
        (-5, 2, -2),
        (1, -2, 0),
        (3, -2, -2),
        (-3, -2, 2),
        (25, 10, 2),
        (35, 10, 4),
        (-25, 10, -2),
        (-35, 10, -4),
        (15, 10, 2),  # 1.5 -> 2
        (149, 100, 1),  # below the tie: down, whatever the parity
        (151, 100, 2),
        (-151, 100, -2),
        (10**30 + 5, 10, 10**29),  # big operands: exact, no float on the way
        (10**30 + 15, 10, 10**29 + 2),
    ],
)
def test_div_half_even_ties_and_signs(a, b, want):
    assert div_half_even(a, b) == want


def test_a_zero_divisor_is_an_error():
    with pytest.raises(ZeroDivisionError):
        div_half_even(1, 0)


# ---------------------------------------------------------------- the generated code's helpers


def _units(x: Fraction) -> int:
    return round(x * 10_000)  # half to even


def test_decimal_product_and_quotient_round_half_even():
    # a and b are scaled decimals: a * b has 8 places, a / b any number of them
    pairs = [(a, b) for a in range(-60, 61) for b in (-15_000, -5_000, -4, 4, 5_000, 15_000, 25_000, 30_000)]
    assert [(a, b) for a, b in pairs if _dmul(a, b) != _units(Fraction(a * b, 10_000**2))] == []
    assert [(a, b) for a, b in pairs if _ddiv(a, b) != _units(Fraction(a, b))] == []


def test_decimal_product_ties():
    assert _dmul(5, 5_000) == 2  # 0.0005 * 0.5 = 0.00025 -> 0.0002
    assert _dmul(15, 5_000) == 8  # 0.00075 -> 0.0008
    assert _dmul(-5, 5_000) == -2
    assert _dmul(-15, 5_000) == -8
    assert _ddiv(1, 20_000) == 0  # 0.0001 / 2 = 0.00005 -> 0
    assert _ddiv(3, 20_000) == 2  # 0.00015 -> 0.0002
    assert _ddiv(-3, 20_000) == -2
    assert _ddiv(1, 0) is None  # division by zero is a missing value


@pytest.mark.parametrize(
    ("total", "count", "want"),
    [
        (3, 2, 2),  # the average of 0.0001 and 0.0002 is 0.00015 -> 0.0002
        (5, 2, 2),  # 0.00025 -> 0.0002
        (-5, 2, -2),
        (-3, 2, -2),
        (10, 4, 2),  # 2.5 units -> 2
        (14, 4, 4),  # 3.5 units -> 4
        (1, 3, 0),
        (2, 3, 1),
    ],
)
def test_decimal_average_rounds_half_even(total, count, want):
    assert _avg_d((total, count)) == want
    assert _avg_d(None) is None


@pytest.mark.parametrize(("total", "count"), [(1, 8), (3, 16), (-3, 16), (5, 32), (-1, 3), (7, 6)])
def test_int_average_rounds_half_even(total, count):
    # an average of ints is a decimal: 1/8 = 0.125 exactly, 3/16 = 0.1875, 5/32 = 0.15625 -> 0.1562
    assert _avg_i((total, count)) == _units(Fraction(total, count))


# ---------------------------------------------------------------- event values and the reference interpreter


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("0.00005", 0),
        ("0.00015", 2),
        ("0.00025", 2),
        ("0.00035", 4),
        ("-0.00015", -2),
        ("-0.00025", -2),
        ("-0.00035", -4),
        ("1.23445", 12_344),
        ("1.23455", 12_346),
        (0.00015, 2),  # a float is read as the decimal it prints as
        (0.00025, 2),
        (-0.00025, -2),
        (2.5e-05, 0),
        (decimal.Decimal("0.00035"), 4),
    ],
)
def test_event_values_round_half_even(value, want):
    assert to_decimal(value) == want
    if isinstance(value, str):
        assert decimal_literal(value) == want


def test_the_reference_interpreter_rounds_the_same_way():
    # Fraction(a, b * 10_000) is a / b units of 0.0001: ties at the fifth decimal place
    wrong = [
        (a, b) for a, b in GRID if round4(Fraction(a, b * 10_000)) != decimal.Decimal(div_half_even(a, b)).scaleb(-4)
    ]
    assert wrong == []
