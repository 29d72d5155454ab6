"""Exact decimal helpers of ruledsl.kernels.values: half-even division and the decimal parser."""

from __future__ import annotations

import decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ruledsl.kernels.values import MAX_DECIMAL_DIGITS, SCALE, decimal_literal, div_half_even, to_decimal


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (7, 2, 4),  # 3.5 -> 4 (even)
        (5, 2, 2),  # 2.5 -> 2 (even)
        (-5, 2, -2),
        (-7, 2, -4),
        (5, -2, -2),
        (-5, -2, 2),
        (1, 3, 0),
        (2, 3, 1),
        (-2, 3, -1),
        (10, 5, 2),
        (0, 7, 0),
    ],
)
def test_div_half_even(a, b, want):
    assert div_half_even(a, b) == want


@given(st.integers(-(10**30), 10**30), st.integers(-(10**12), 10**12).filter(bool))
def test_div_half_even_is_python_round_of_the_exact_quotient(a, b):
    # round() of a Fraction rounds half to even, exactly
    assert div_half_even(a, b) == round(Fraction(a, b))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("12.345", 123_450),
        ("1", 10_000),
        ("0.0001", 1),
        ("-1.5", -15_000),
        ("  2.25 ", 22_500),
        ("1_000.5", 10_005_000),
        ("1e3", 10_000_000),
        ("1.23456", 12_346),  # past 4 digits: half to even
        ("0.00005", 0),  # 0.5 unit -> 0 (even)
        ("0.00015", 2),  # 1.5 units -> 2 (even)
        ("0.00025", 2),  # 2.5 units -> 2 (even)
        ("-0.00015", -2),
        ("0.000050000000000000000000000000000001", 1),  # just past half: exact, no 28-digit context
        ("1e-999999999", 0),
        ("922337203685477.5807", 9_223_372_036_854_775_807),
    ],
)
def test_decimal_literal(text, want):
    assert decimal_literal(text) == want


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "NaN", "inf", "-Infinity", "1e999999999", "9" * 200])
def test_decimal_literal_refuses(bad):
    with pytest.raises(ValueError):
        decimal_literal(bad)


def test_decimal_literal_length_limit():
    assert decimal_literal("9" * (MAX_DECIMAL_DIGITS - 4)) == int("9" * (MAX_DECIMAL_DIGITS - 4)) * SCALE
    with pytest.raises(ValueError):
        decimal_literal("9" * (MAX_DECIMAL_DIGITS - 3))


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=-(10**15), max_value=10**15))
def test_decimal_literal_is_the_exact_value_rounded_half_even(d):
    assert decimal_literal(str(d)) == round(Fraction(d) * SCALE)


def test_event_values_use_the_same_parser():
    assert to_decimal("12.345") == decimal_literal("12.345")
    assert to_decimal(decimal.Decimal("0.00015")) == 2
    with pytest.raises(ValueError):
        to_decimal("1e999999999")
