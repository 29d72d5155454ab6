"""The pure-Python twins agree with the Cython kernels; query_add == query then add; the selector."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from state_kernel_cases import (
    AGGS,
    COMPILED,
    FLOAT_VALUES,
    HSET,
    I64_MAX,
    I64_MIN,
    INT_VALUES,
    KEYS,
    PURE,
    as_bools,
    assert_same,
    both_impls,
    canon,
    needs_compiled,
    same_window_state,
    tiny_blocks,
)

# ---------------------------------------------------------------------------
# query_add == query then add (one key lookup, same results and state)
# ---------------------------------------------------------------------------


@st.composite
def query_add_streams(draw):
    D = draw(st.integers(1, 30))
    L = draw(st.integers(0, 20))
    is_float = draw(st.booleans())
    vals = FLOAT_VALUES if is_float else INT_VALUES
    op = st.one_of(
        st.tuples(st.just("qa"), st.sampled_from(KEYS), st.integers(-40, 120), vals, st.booleans()),
        st.tuples(st.just("add"), st.sampled_from(KEYS), st.integers(-40, 120), vals),
        st.tuples(st.just("advance"), st.integers(-40, 120), st.integers(0, 40)),
        st.tuples(st.just("sweep")),
    )
    return D, L, is_float, draw(st.lists(op, max_size=80))


@both_impls
@HSET
@given(query_add_streams())
def test_query_add_equals_query_then_add(impl, stream):
    D, L, is_float, ops = stream
    for agg in AGGS:
        a = impl.WindowState(agg, D, L, is_float)  # query_add
        b = impl.WindowState(agg, D, L, is_float)  # query, then add
        for op in ops:
            if op[0] == "qa":
                _, key, ts, v, inc = op
                assert_same(a.query_add(key, ts, v, inc), b.query(key, ts, v, inc), (agg, op))
                b.add(key, ts, v)
            elif op[0] == "add":
                a.add(*op[1:])
                b.add(*op[1:])
            elif op[0] == "advance":
                a.advance(op[1], op[2])
                b.advance(op[1], op[2])
            else:
                a.sweep()
                b.sweep()
            same_window_state(a, b, (agg, op))


@both_impls
@HSET
@given(
    st.integers(1, 5),
    st.integers(0, 20),
    st.lists(
        st.tuples(
            st.sampled_from(["qa", "add", "advance", "sweep"]),
            st.sampled_from("xyz"),
            st.integers(-30, 100),
            st.integers(-2, 40),
            st.booleans(),
        ),
        max_size=80,
    ),
)
def test_sequence_query_add_equals_query_then_add(impl, n, within, ops):
    a = impl.SequenceState(n, within)
    b = impl.SequenceState(n, within)
    for kind, key, ts, mask, as_tuple in ops:
        m = as_bools(mask, n) if as_tuple else mask
        if kind == "qa":
            assert a.query_add(key, ts, m) is b.query(key, ts, m)
            b.add(key, ts, m)
        elif kind == "add":
            a.add(key, ts, m)
            b.add(key, ts, m)
        elif kind == "advance":
            a.advance(ts, mask % 7)
            b.advance(ts, mask % 7)
        else:
            a.sweep()
            b.sweep()
        assert a.dump() == b.dump() and len(a) == len(b) and a.watermark == b.watermark
        assert list(a.keys()) == list(b.keys())


@both_impls
def test_query_add_argument_errors(impl):
    w = impl.WindowState("sum", 100)
    f = impl.WindowState("max", 100, 0, True)
    for bad in (
        lambda: w.query_add("k", 1.0, 1, True),  # float ts
        lambda: w.query_add("k", 1, 1.5, True),  # float into an int window
        lambda: w.query_add("k", 1, 1.5, False),  # (also when not included)
        lambda: w.query_add("k", 1, "3", True),
        lambda: f.query_add("k", 1, "3", False),
        lambda: w.query_add(["unhashable"], 1, 1, True),
    ):
        with pytest.raises(TypeError):
            bad()
    assert len(w) == 0 and len(f) == 0
    assert w.query_add("k", 1, True, True) == 1  # bool is an int
    assert w.query_add(key="k", ts=2, value=5, include_current=False) == 1
    assert w.query("k", 2, 0, False) == 6
    c = impl.WindowState("count", 100)
    assert c.query_add("k", 1, "ignored", True) == 1  # count ignores the value
    s = impl.SequenceState(2, 100)
    assert s.query_add("k", 1, 1) is False and s.query_add("k", 2, (False, True)) is True
    with pytest.raises(ValueError):
        s.query_add("k", 3, (True,))
    assert impl.SequenceState(1, 5).query_add("k", 0, 1) is True


# ---------------------------------------------------------------------------
# compiled vs pure on identical random operation streams (incl. late queries)
# ---------------------------------------------------------------------------


@st.composite
def op_streams(draw):
    D = draw(st.integers(1, 30))
    L = draw(st.integers(0, 20))
    is_float = draw(st.booleans())
    vals = FLOAT_VALUES if is_float else INT_VALUES
    op = st.one_of(
        st.tuples(st.just("add"), st.sampled_from(KEYS), st.integers(-40, 120), vals),
        st.tuples(st.just("query"), st.sampled_from(KEYS), st.integers(-40, 160), vals, st.booleans()),
        st.tuples(st.just("advance"), st.integers(-40, 120), st.integers(0, 40)),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("reload")),
    )
    return D, L, is_float, draw(st.lists(op, max_size=80))


@needs_compiled
@pytest.mark.parametrize("tiny", [False, True], ids=["default", "tiny-blocks"])
@HSET
@given(op_streams())
def testCOMPILED_and_pure_agree(tiny, stream):
    with tiny_blocks() if tiny else contextlib.nullcontext():
        _agree(stream)


def _agree(stream):
    D, L, is_float, ops = stream
    for agg in AGGS:
        c = COMPILED.WindowState(agg, D, L, is_float)
        p = PURE.WindowState(agg, D, L, is_float)
        for op in ops:
            if op[0] == "add":
                c.add(op[1], op[2], op[3])
                p.add(op[1], op[2], op[3])
            elif op[0] == "query":
                assert_same(c.query(*op[1:]), p.query(*op[1:]), (agg, op))
            elif op[0] == "advance":
                c.advance(op[1], op[2])
                p.advance(op[1], op[2])
            elif op[0] == "sweep":
                c.sweep()
                p.sweep()
            else:
                c.load(c.dump())
                p.load(p.dump())
            assert len(c) == len(p) and c.entry_count() == p.entry_count()
            assert list(c.keys()) == list(p.keys())
            assert canon(c.dump()) == canon(p.dump())
            assert c.watermark == p.watermark


@needs_compiled
@HSET
@given(
    st.integers(1, 5),
    st.integers(0, 20),
    st.lists(
        st.tuples(
            st.sampled_from(["add", "query", "advance", "sweep"]),
            st.sampled_from("xyz"),
            st.integers(-30, 100),
            st.integers(-2, 40),
        ),
        max_size=80,
    ),
)
def testCOMPILED_and_pure_agree_sequences(n, within, ops):
    c = COMPILED.SequenceState(n, within)
    p = PURE.SequenceState(n, within)
    for kind, key, ts, mask in ops:
        if kind == "add":
            c.add(key, ts, mask)
            p.add(key, ts, mask)
        elif kind == "query":
            assert c.query(key, ts, mask) is p.query(key, ts, mask)
        elif kind == "advance":
            c.advance(ts, mask % 7)
            p.advance(ts, mask % 7)
        else:
            c.sweep()
            p.sweep()
        assert c.dump() == p.dump() and len(c) == len(p) and c.watermark == p.watermark


@st.composite
def wide_streams(draw):
    """Long windows, huge timestamps and jumps (exercise the expiry-queue encoding)."""
    D = draw(
        st.sampled_from([1, 7, 2**20 - 1, 2**20, 2**21 + 5, 86_400_000, 400 * 86_400_000, 2**40 + 3, 2**62, I64_MAX])
    )
    L = draw(st.sampled_from([0, 3, 1000, 2**31, 2**40]))
    base = draw(st.sampled_from([0, 10**12, -(10**12), I64_MIN, I64_MAX - 2**45]))
    step = draw(st.sampled_from([1, 2**19, 2**31 + 1, max(1, D // 3), 2**44]))
    clamp = lambda t: max(I64_MIN, min(I64_MAX, t))
    ts = st.integers(-3, 40).map(lambda k: clamp(base + k * step))
    op = st.one_of(
        st.tuples(st.just("add"), st.sampled_from(KEYS), ts, st.integers(-5, 5)),
        st.tuples(st.just("qa"), st.sampled_from(KEYS), ts, st.integers(-5, 5), st.booleans()),
        st.tuples(st.just("query"), st.sampled_from(KEYS), ts),
        st.tuples(st.just("advance"), ts, st.integers(0, 6)),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("reload")),
    )
    return D, L, draw(st.lists(op, max_size=60))


@needs_compiled
@HSET
@given(wide_streams())
def testCOMPILED_and_pure_agree_wide_ranges(stream):
    D, L, ops = stream
    for agg in ("count", "sum", "max", "since"):
        c = COMPILED.WindowState(agg, D, L)
        p = PURE.WindowState(agg, D, L)
        for op in ops:
            if op[0] == "add":
                c.add(*op[1:])
                p.add(*op[1:])
            elif op[0] == "qa":
                assert_same(c.query_add(*op[1:]), p.query_add(*op[1:]), (agg, op))
            elif op[0] == "query":
                assert_same(c.query(op[1], op[2]), p.query(op[1], op[2]), (agg, op))
            elif op[0] == "advance":
                c.advance(op[1], op[2])
                p.advance(op[1], op[2])
            elif op[0] == "sweep":
                c.sweep()
                p.sweep()
            else:
                c.load(c.dump())
                p.load(p.dump())
            same_window_state(c, p, (agg, op))
    c = COMPILED.SequenceState(3, D)
    p = PURE.SequenceState(3, D)
    for op in ops:
        if op[0] in ("add", "qa"):
            assert c.query_add(op[1], op[2], op[3]) is p.query_add(op[1], op[2], op[3])
        elif op[0] == "advance":
            c.advance(op[1], op[2])
            p.advance(op[1], op[2])
        elif op[0] == "sweep":
            c.sweep()
            p.sweep()
        elif op[0] == "reload":
            c.load(c.dump())
            p.load(p.dump())
        assert c.dump() == p.dump() and list(c.keys()) == list(p.keys())


# ---------------------------------------------------------------------------
# facade
# ---------------------------------------------------------------------------


def test_facade_selects_implementation():
    from ruledsl.kernels import state

    assert (COMPILED is not None and os.environ.get("RULEDSL_NO_EXTENSIONS", "").strip() in ("", "0")) == state.COMPILED
    expected = COMPILED if state.COMPILED else PURE
    assert state.WindowState is expected.WindowState
    assert state.SequenceState is expected.SequenceState
    assert state.stable_hash is expected.stable_hash
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, RULEDSL_NO_EXTENSIONS="1", PYTHONPATH=root)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ruledsl.kernels import state; print(state.COMPILED, state.WindowState.__module__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    assert out.stdout.split() == ["False", "ruledsl.kernels.windows_py"]


@needs_compiled
def test_twins_have_the_same_public_api():
    for name in ("WindowState", "SequenceState"):
        compiled = {n for n in dir(getattr(COMPILED, name)) if not n.startswith("_")}
        pure = {n for n in dir(getattr(PURE, name)) if not n.startswith("_")}
        assert compiled == pure, (name, compiled ^ pure)
    assert COMPILED.AGGREGATES == PURE.AGGREGATES
    assert COMPILED.DEFAULT_SWEEP_BUDGET == PURE.DEFAULT_SWEEP_BUDGET


def test_selector_exports_the_kernel_api():
    from ruledsl.kernels import state

    assert set(state.__all__) == {
        "AGGREGATES",
        "COMPILED",
        "DEFAULT_SWEEP_BUDGET",
        "SequenceState",
        "WindowState",
        "advance_all",
        "stable_hash",
    }
    for name in state.__all__:
        assert getattr(state, name) is not None
