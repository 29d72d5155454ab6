"""Durations as text (ruledsl.syntax.durations): one unit table, one reader, the writers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ruledsl.syntax import nodes as n
from ruledsl.syntax.durations import (
    DURATION_UNITS,
    format_duration,
    format_duration_compound,
    parse_duration,
)
from ruledsl.syntax.parser import parse


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("10s", 10_000),
        ("5m", 300_000),
        ("24h", 86_400_000),
        ("180d", 15_552_000_000),
        ("2w", 1_209_600_000),
        ("1h30m", 5_400_000),
        ("1d2h", 93_600_000),
        ("-2m", -120_000),
        ("0s", 0),
        ("1h 30m", 5_400_000),
        ("1_000ms", 1_000),
    ],
)
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("bad", ["5", "5x", "m5", "1.5h", "", "-", "5 minutes", 90, None])
def test_parse_duration_refuses(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (600_000, "10m"),
        (5_400_000, "90m"),
        (1_209_600_000, "2w"),
        (1_296_000_000, "15d"),
        (1_500, "1500ms"),
        (0, "0ms"),
        (-600_000, "-10m"),
    ],
)
def test_format_duration_uses_the_largest_exact_unit(ms, text):
    assert format_duration(ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [(5_400_000, "1h30m"), (0, "0s"), (1_209_600_000, "14d"), (93_600_001, "1d2h1ms"), (-120_000, "-2m")],
)
def test_format_duration_compound(ms, text):
    assert format_duration_compound(ms) == text


@given(st.integers(-(10**15), 10**15))
def test_both_forms_read_back(ms):
    assert parse_duration(format_duration(ms)) == ms
    assert parse_duration(format_duration_compound(ms)) == ms


@settings(deadline=None)  # the first parse builds the parser
@given(st.integers(1, 10**13))
def test_format_duration_is_a_duration_literal_of_the_language(ms):
    module, diags = parse(f"const c = {format_duration(ms)}\n")
    assert diags == [] and module is not None
    decl = module.decls[0]
    assert isinstance(decl, n.ConstDecl) and isinstance(decl.value, n.Literal)
    assert (decl.value.kind, decl.value.value) == ("duration", ms)


def test_the_lexer_knows_every_unit():
    for unit, size in DURATION_UNITS.items():
        module, diags = parse(f"const c = 3{unit}\n")
        assert diags == [] and module is not None
        assert module.decls[0].value.value == 3 * size
