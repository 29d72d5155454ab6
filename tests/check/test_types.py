"""The type rules shared by the checker and the compiler (ruledsl.check.types)."""

from __future__ import annotations

import pytest

from ruledsl.check.types import (
    AGG_ARITY,
    ANY,
    DECIMAL,
    INT,
    NUMERIC,
    Type,
    aggregate_result,
    promote,
    scorecard_score_type,
    window_result_type,
)
from ruledsl.syntax.nodes import AGGREGATES


def test_numeric_is_ordered_narrowest_first():
    assert NUMERIC == ("int", "decimal", "float")


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("int", "int", "int"),
        ("int", "decimal", "decimal"),
        ("decimal", "int", "decimal"),
        ("decimal", "decimal", "decimal"),
        ("int", "float", "float"),
        ("float", "decimal", "float"),
        ("any", "int", "any"),
    ],
)
def test_promote(a, b, want):
    assert promote(a, b) == want


@pytest.mark.parametrize(
    ("agg", "arg", "want"),
    [
        ("count", None, "int"),
        ("distinct", "string", "int"),
        ("since", None, "duration"),
        ("avg", "int", "decimal"),
        ("avg", "decimal", "decimal"),
        ("avg", "float", "float"),
        ("sum", "int", "int"),
        ("sum", "decimal", "decimal"),
        ("min", "timestamp", "timestamp"),
        ("max", "duration", "duration"),
        ("last", "enum", "enum"),
        ("sum", None, "any"),
    ],
)
def test_window_result_type(agg, arg, want):
    assert window_result_type(agg, arg) == want


def test_aggregate_result_adds_missingness_to_the_shared_type_name():
    assert aggregate_result("count", None) == INT
    assert aggregate_result("sum", DECIMAL) == DECIMAL
    assert aggregate_result("avg", INT) == Type("decimal", True)
    assert aggregate_result("since", None) == Type("duration", True)
    status = Type("enum", enum_values=("a", "b"))
    assert aggregate_result("last", status) == Type("enum", True, ("a", "b"))
    assert aggregate_result("sum", ANY) == ANY
    assert aggregate_result("distinct", ANY) == INT


def test_every_aggregate_has_an_arity():
    assert set(AGG_ARITY) == set(AGGREGATES)
    assert [a for a, k in AGG_ARITY.items() if k == 0] == ["count", "since"]


@pytest.mark.parametrize(
    ("items", "want"),
    [([], "int"), (["int", "int"], "int"), (["int", "decimal"], "decimal"), (["any", "int"], "int")],
)
def test_scorecard_score_type(items, want):
    assert scorecard_score_type(items) == want
    assert scorecard_score_type(iter(items)) == want


def test_the_kernels_implement_every_aggregate_of_the_language():
    # the kernels sit below the syntax layer and keep their own table of aggregate codes
    from ruledsl.kernels import state_py
    from ruledsl.kernels.state import AGGREGATES as KERNEL_AGGREGATES

    assert tuple(KERNEL_AGGREGATES) == AGGREGATES
    assert tuple(state_py.AGGREGATES) == AGGREGATES
