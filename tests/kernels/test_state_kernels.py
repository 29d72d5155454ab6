"""Window and sequence kernels against brute-force oracles (compiled and pure twin)."""

from __future__ import annotations

import contextlib
import pickle

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
    NOT_BUILT,
    PURE,
    as_bools,
    assert_same,
    both_impls,
    canon,
    needs_compiled,
    oracle_sequence,
    oracle_window,
    tiny_blocks,
)

# ---------------------------------------------------------------------------
# window property test against the brute-force oracle
# ---------------------------------------------------------------------------


@st.composite
def window_scenarios(draw):
    D = draw(st.integers(1, 40))
    L = draw(st.integers(0, 30))
    is_float = draw(st.booleans())
    base = draw(st.sampled_from([0, 1000, -5000, 10**12]))
    values = FLOAT_VALUES if is_float else INT_VALUES
    ev = st.tuples(
        st.sampled_from(KEYS),
        st.one_of(st.integers(-L - 2, 3), st.integers(0, 2 * D + 3), st.sampled_from([D, -D, 0])),
        values,
        st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 2 * D + 2)), max_size=2),
        st.booleans(),  # advance before (True) / after (False) evaluation
        st.integers(0, 20),  # 0 => full sweep() after this event
    )
    events = draw(st.lists(ev, min_size=1, max_size=50))
    return D, L, is_float, base, events


def run_window_scenario(impl, D, L, is_float, base, events):
    states = {agg: impl.WindowState(agg, D, L, is_float) for agg in AGGS}
    hist = {}  # key -> [(ts, value)] every entry ever added
    max_ts = None
    wm = None  # last watermark given to advance()

    def advance_all(new_max):
        nonlocal wm
        wm = new_max - L
        for s in states.values():
            s.advance(wm)

    def check(key, ts, value, inc):
        for agg, s in states.items():
            want = oracle_window(hist.get(key, []), agg, D, ts, value, inc, is_float)
            assert_same(
                s.query(key, ts, value, inc),
                want,
                f"agg={agg} key={key!r} ts={ts} inc={inc} D={D} L={L} wm={wm}",
            )

    for key, dt, value, extra, adv_first, sweep in events:
        ts = base + dt if max_ts is None else max_ts + dt
        if wm is not None:
            ts = max(ts, wm)  # only allowed (on time) events
        if adv_first:
            max_ts = ts if max_ts is None else max(max_ts, ts)
            advance_all(max_ts)
        check(key, ts, value, True)
        check(key, ts, value, False)
        floor = wm if wm is not None else ts
        for qkey, off in extra:
            check(qkey, floor + off, value, True)
            check(qkey, floor + off, value, False)
        for s in states.values():
            s.add(key, ts, value)
        hist.setdefault(key, []).append((ts, value))
        if not adv_first:
            max_ts = ts if max_ts is None else max(max_ts, ts)
            advance_all(max_ts)
        if sweep == 0:
            for s in states.values():
                s.sweep()
        for s in states.values():
            dumped = s.dump()
            assert len(s) == len(dumped)
            assert s.entry_count() == sum(len(e) for _, e in dumped)
            for _, entries in dumped:
                assert [t for t, _ in entries] == sorted(t for t, _ in entries)
    # final: every allowed query point for every key
    for key in KEYS:
        for off in range(2 * D + 2):
            check(key, wm + off, 0.5 if is_float else 1, True)
    # dump/load and pickle round trips give the same state and answers
    for agg, s in states.items():
        s2 = impl.WindowState(agg, D, L, is_float)
        s2.load(s.dump())
        s2.advance(wm, 0)
        s3 = pickle.loads(pickle.dumps(s))
        assert canon(s2.dump()) == canon(s.dump()) == canon(s3.dump())
        assert s3.watermark == s.watermark == wm
        for key in KEYS:
            for off in (0, 1, D - 1, D):
                a = s.query(key, wm + off, 2.0 if is_float else 2, True)
                assert_same(s2.query(key, wm + off, 2.0 if is_float else 2, True), a)
                assert_same(s3.query(key, wm + off, 2.0 if is_float else 2, True), a)


@both_impls
@HSET
@given(window_scenarios())
def test_window_matches_bruteforce_oracle(impl, scenario):
    run_window_scenario(impl, *scenario)


@needs_compiled
@HSET
@given(window_scenarios())
def test_window_accelerators_match_oracle(scenario):
    with tiny_blocks():
        run_window_scenario(COMPILED, *scenario)


@pytest.mark.parametrize(
    "impl,tuning",
    [
        pytest.param(
            COMPILED,
            None,
            id="compiled",
            marks=pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT),
        ),
        pytest.param(
            COMPILED,
            (2, 5),
            id="compiled-tiny-blocks",
            marks=pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT),
        ),
        pytest.param(PURE, None, id="pure"),
    ],
)
def test_window_large_key_oracle(impl, tuning):
    """Many entries per key (exercises binary search, buffer growth/compaction,
    running totals, min/max blocks, distinct multiset) against the oracle."""
    with tiny_blocks(*tuning) if tuning else contextlib.nullcontext():
        _large_key_oracle(impl)


def _large_key_oracle(impl):
    _large_key_oracle_run(impl, 500, 40)
    _large_key_oracle_run(impl, 100, 1500)  # lateness >> D: most entries lie outside


def _large_key_oracle_run(impl, D, L):
    import random

    rnd = random.Random(1234)
    for is_float in (False, True):
        states = {agg: impl.WindowState(agg, D, L, is_float) for agg in AGGS}
        hist = []
        max_ts = 0
        for i in range(3000):
            ts = max(max_ts - L, max_ts + rnd.randint(-min(L, 60), 3))
            v = rnd.randint(-50, 50) if i % 500 < 250 else rnd.randint(-5000, 5000)
            if is_float:
                v = v / 4
            if i % 67 == 0:
                for agg, s in states.items():
                    for q in (ts, max_ts - L + rnd.randint(0, L), ts + rnd.randint(0, 2 * D)):
                        assert_same(s.query("k", q, v, True), oracle_window(hist, agg, D, q, v, True, is_float), agg)
            for s in states.values():
                s.add("k", ts, v)
            hist.append((ts, v))
            max_ts = max(max_ts, ts)
            for s in states.values():
                s.advance(max_ts - L)
        assert states["count"].entry_count() <= sum(1 for t, _ in hist if t > max_ts - L - D)
        assert states["last"].entry_count() <= sum(1 for t, _ in hist if t > max_ts - L) + 1


@pytest.mark.parametrize(
    "impl,tuning",
    [
        pytest.param(
            COMPILED,
            None,
            id="compiled",
            marks=pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT),
        ),
        pytest.param(
            COMPILED,
            (2, 4),
            id="compiled-tiny-blocks",
            marks=pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT),
        ),
        pytest.param(PURE, None, id="pure"),
    ],
)
def test_window_burst_then_drain(impl, tuning):
    """A key fills up (buffers grow, accelerators get built) and then drains as
    the watermark passes (buffers shrink, summaries rebuilt, multiset shrinks)."""
    import random

    rnd = random.Random(7)
    D = 1000
    with tiny_blocks(*tuning) if tuning else contextlib.nullcontext():
        for is_float in (False, True):
            states = {agg: impl.WindowState(agg, D, 0, is_float) for agg in AGGS}
            hist = []
            for t in range(2000):
                for _ in range(1 + (t % 3 == 0)):
                    v = rnd.randint(-300, 300)
                    v = v / 8 if is_float else v
                    for s in states.values():
                        s.add("k", t, v)
                    hist.append((t, v))
            for wm in range(1999, 3100, 37):
                for s in states.values():
                    s.advance(wm)
                for q in (wm, wm + 5, wm + 400):
                    for agg, s in states.items():
                        assert_same(
                            s.query("k", q, 1.5 if is_float else 7, True),
                            oracle_window(hist, agg, D, q, 1.5 if is_float else 7, True, is_float),
                            (agg, wm, q),
                        )
            for s in states.values():
                s.sweep()
                assert len(s) == 0 and s.entry_count() == 0


# ---------------------------------------------------------------------------
# window unit tests
# ---------------------------------------------------------------------------


@both_impls
def test_window_interval_bounds(impl):
    w = impl.WindowState("count", 100)
    w.add("k", 0)
    w.add("k", 100)
    assert w.query("k", 100, 0, False) == 1  # 0 == ts - D is excluded
    assert w.query("k", 99, 0, False) == 1  # 100 > 99 is in the future
    assert w.query("k", 199, 0, False) == 1
    assert w.query("k", 200, 0, False) == 0
    assert w.query("k", 100, 0, True) == 2
    assert w.query("missing", 5, 0, True) == 1
    assert w.query("missing", 5, 0, False) == 0


@both_impls
def test_window_aggregate_results(impl):
    vals = [(10, 5), (50, 7), (30, -1), (50, 7), (50, 3)]
    expect_60_cur = {"count": 6, "sum": 23, "avg": (23, 6), "min": -1, "max": 7, "distinct": 5, "last": 3, "since": 10}
    for agg, want in expect_60_cur.items():
        w = impl.WindowState(agg, 100, 10)
        for t, v in vals:
            w.add("a", t, v)
        assert w.query("a", 60, 2, True) == want, agg
        empty = w.query("zz", 60, 2, False)
        assert empty == {"count": 0, "sum": 0, "distinct": 0}.get(agg), agg
    f = impl.WindowState("sum", 10, 0, True)
    assert f.query("x", 0, 1, False) == 0.0 and isinstance(f.query("x", 0, 1, False), float)
    f.add("x", 1, 2)  # ints accepted in float windows
    assert f.query("x", 1, 0.5, True) == 2.5
    assert impl.WindowState("avg", 10).query("x", 0, 1, False) is None
    assert impl.WindowState("min", 10).query("x", 0, 1, False) is None
    assert impl.WindowState("min", 10).query("x", 0, 4, True) == 4


@both_impls
def test_last_since_ties_and_out_of_order(impl):
    last = impl.WindowState("last", 1000, 500)
    since = impl.WindowState("since", 1000, 500)
    for s in (last, since):
        s.add("k", 100, 1)
        s.add("k", 200, 2)
        s.add("k", 200, 3)  # same ts, added later: wins ties
        s.add("k", 150, 4)  # out of order
        s.advance(200 - 500)
    assert last.query("k", 300, 99, True) == 3  # include_current ignored
    assert since.query("k", 300, 0, True) == 100
    assert last.query("k", 170, 0, False) == 4
    assert since.query("k", 170, 0, False) == 20
    assert last.query("k", 120, 0, False) == 1
    assert last.query("k", 99, 0, False) is None
    # watermark passes 150: entries at 100 and 150 are dominated -> dropped
    for s in (last, since):
        s.advance(199)
    assert last.entry_count() == 3 and last.query("k", 199, 0, False) == 4
    for s in (last, since):
        s.advance(250)
    assert last.entry_count() == 1 and last.query("k", 250, 0, False) == 3
    for s in (last, since):
        s.advance(1200)  # 200 <= 1200 - 1000: expired
        s.sweep()
    assert len(last) == 0 and last.query("k", 1200, 0, False) is None


@both_impls
def test_int_sum_overflow_is_exact(impl):
    for agg in ("sum", "avg"):
        w = impl.WindowState(agg, 1000)
        for i in range(5):
            w.add("k", i, I64_MAX)
        r = w.query("k", 10, I64_MAX, True)
        want = 6 * I64_MAX
        assert r == (want if agg == "sum" else (want, 6))
        w.advance(1002)  # evicts entries 0..2
        assert w.query("k", 1002, 0, False) == (2 * I64_MAX if agg == "sum" else (2 * I64_MAX, 2))
        w2 = impl.WindowState(agg, 1000)
        w2.add("k", 0, I64_MAX)
        w2.add("k", 1, -5)
        assert w2.query("k", 2, 10, True) == (I64_MAX + 5 if agg == "sum" else (I64_MAX + 5, 3))
        w2.add("k", 2, I64_MIN)
        assert w2.query("k", 3, I64_MIN, True) == (
            I64_MAX - 5 + 2 * I64_MIN if agg == "sum" else (I64_MAX - 5 + 2 * I64_MIN, 4)
        )


@both_impls
def test_value_conversion_errors(impl):
    w = impl.WindowState("sum", 10)
    with pytest.raises(TypeError):
        w.add("k", 1, 2.5)  # floats are never truncated into int windows
    with pytest.raises(TypeError):
        w.add("k", 1.5, 2)
    with pytest.raises(OverflowError):
        w.add("k", 1, 2**64)
    with pytest.raises(TypeError):
        w.query("k", 1, "x", True)
    assert w.query("k", 1, "ignored", False) == 0  # value unused when not included
    f = impl.WindowState("max", 10, 0, True)
    with pytest.raises(TypeError):
        f.add("k", 1, "1.5")
    c = impl.WindowState("count", 10)
    c.add("k", 1, "whatever")  # count ignores values
    assert c.dump() == [("k", [(1, 0)])]
    with pytest.raises(TypeError):
        w.add(["unhashable"], 1, 1)
    with pytest.raises(TypeError):
        w.query(["unhashable"], 1, 1, False)
    for bad in (("nope", 10), ("sum", 0), ("sum", -1), ("sum", 10, -1)):
        with pytest.raises(ValueError):
            impl.WindowState(*bad)
    assert len(w) == 0 and w.entry_count() == 0


@both_impls
def test_extreme_timestamps(impl):
    big = impl.WindowState("since", I64_MAX)
    big.add("k", I64_MIN, 1)
    assert big.query("k", I64_MIN + 5, 0, False) == 5
    assert big.query("k", -1, 0, False) is None  # -1 - D == I64_MIN: boundary, excluded
    assert big.query("k", -2, 0, False) == -2 - I64_MIN
    big.advance(I64_MIN)
    big.advance(-2)
    assert big.query("k", -2, 0, False) == -2 - I64_MIN
    big.advance(0)  # I64_MIN <= 0 - I64_MAX: expired
    assert big.query("k", 0, 0, False) is None
    c = impl.WindowState("count", 10)
    c.add("k", I64_MAX)
    c.add("k", I64_MIN)
    assert c.query("k", I64_MAX, 0, True) == 2
    assert c.query("k", I64_MIN, 0, False) == 1
    seq = impl.SequenceState(2, I64_MAX)
    seq.add("k", I64_MIN, 1)
    assert seq.query("k", I64_MAX, 2) is False
    assert seq.query("k", -1, 2) is True
    seq.advance(I64_MIN + 5)
    seq.sweep()
    assert len(seq) == 1


@both_impls
def test_keys_clear_len_and_entry_count(impl):
    w = impl.WindowState("sum", 100)
    for i in range(40):
        w.add(("k", i % 10), i, i)
    assert len(w) == 10 and w.entry_count() == 40
    assert list(w.keys()) == [("k", i) for i in range(10)]
    assert w.nbytes() > 0
    w.clear()
    assert len(w) == 0 and w.entry_count() == 0 and w.watermark is None
    assert w.query(("k", 1), 50, 0, False) == 0
    w.add("x", 5, 1)
    assert w.dump() == [("x", [(5, 1)])]


@both_impls
def test_pickle_roundtrip(impl):
    w = impl.WindowState("distinct", 50, 5, False)
    for i in range(30):
        w.add(i % 4, i, i % 3)
    w.advance(20)
    w2 = pickle.loads(pickle.dumps(w))
    assert type(w2) is type(w) and w2.dump() == w.dump() and w2.watermark == 20
    assert (w2.agg, w2.duration_ms, w2.lateness_ms, w2.is_float) == ("distinct", 50, 5, False)
    s = impl.SequenceState(3, 100)
    s.add("a", 1, 1)
    s.add("a", 2, 2)
    s.advance(3)
    s2 = pickle.loads(pickle.dumps(s))
    assert s2.dump() == s.dump() == [("a", [1, 1])] and s2.watermark == 3


# ---------------------------------------------------------------------------
# sequences
# ---------------------------------------------------------------------------


@st.composite
def sequence_scenarios(draw):
    n = draw(st.integers(1, 4))
    within = draw(st.integers(0, 30))
    L = draw(st.integers(0, 20))
    in_order = draw(st.booleans())
    ev = st.tuples(
        st.sampled_from(["a", "b", 3]),
        st.integers(0, 15) if in_order else st.integers(-L - 2, 15),
        st.integers(0, (1 << n) - 1),
        st.booleans(),  # pass matches as bool tuple instead of int mask
        st.booleans(),  # advance before / after evaluation
        st.integers(0, 15),  # 0 => full sweep
    )
    return n, within, L, draw(st.lists(ev, min_size=1, max_size=40))


@both_impls
@HSET
@given(sequence_scenarios())
def test_sequence_matches_bruteforce_oracle(impl, scenario):
    n, within, L, events = scenario
    s = impl.SequenceState(n, within)
    hist = {}
    max_ts = None
    wm = None
    for key, dt, mask, as_tuple, adv_first, sweep in events:
        ts = 0 if max_ts is None else max_ts + dt
        if wm is not None:
            ts = max(ts, wm)
        if adv_first:
            max_ts = ts if max_ts is None else max(max_ts, ts)
            wm = max_ts - L
            s.advance(wm)
        m = as_bools(mask, n) if as_tuple else mask
        want = oracle_sequence(hist.get(key, []), ts, mask, n, within)
        assert s.query(key, ts, m) is want, (key, ts, mask, hist.get(key), s.dump())
        # the other keys at the same time / a later allowed time
        for other in ("a", "b", 3):
            for q in (ts, ts + within):
                full = (1 << n) - 1
                assert s.query(other, q, full) is oracle_sequence(hist.get(other, []), q, full, n, within)
        s.add(key, ts, m)
        hist.setdefault(key, []).append((ts, mask))
        if not adv_first:
            max_ts = ts if max_ts is None else max(max_ts, ts)
            wm = max_ts - L
            s.advance(wm)
        if sweep == 0:
            s.sweep()
        assert len(s) == len(s.dump())
    s2 = impl.SequenceState(n, within)
    s2.load(s.dump())
    assert s2.dump() == s.dump()


@both_impls
def test_sequence_basic_semantics(impl):
    s = impl.SequenceState(3, 100)
    # one event matching every step completes nothing by itself
    assert s.query("k", 0, 0b111) is False
    s.add("k", 0, 0b111)
    assert s.query("k", 1, 0b100) is False  # needs a step-1 event in between
    s.add("k", 1, (False, True, False))
    assert s.query("k", 2, 0b100) is True
    assert s.query("k", 100, 0b100) is True  # inclusive: 100 - 0 <= 100
    assert s.query("k", 101, 0b100) is False
    assert s.query("k", 2, 0b011) is False  # does not match the last step
    s.add("k", 2, 0b100)  # completing does not reset
    assert s.query("k", 3, 0b100) is True
    assert s.dump() == [("k", [0, 0])]
    # later start replaces the chain start once it is matched through
    s.add("k", 50, 0b001)
    assert s.dump() == [("k", [50, 0])]
    s.add("k", 60, 0b010)
    assert s.dump() == [("k", [50, 50])]
    assert s.query("k", 150, 0b100) is True
    # watermark: start 50 is kept while an allowed event can still use it
    s.advance(150)
    s.sweep()
    assert s.query("k", 150, 0b100) is True and len(s) == 1
    s.advance(151)
    s.sweep()
    assert len(s) == 0
    one = impl.SequenceState(1, 10)
    assert one.query("x", 0, 1) is True and one.query("x", 0, 0) is False
    one.add("x", 0, 1)
    assert len(one) == 0
    with pytest.raises(ValueError):
        s.query("k", 0, (True, False))
    with pytest.raises(ValueError):
        impl.SequenceState(0, 10)
    with pytest.raises(ValueError):
        impl.SequenceState(2, -1)
    assert s.query("k", 0, -1) is False  # int masks are taken mod 2**n


@both_impls
def test_sequence_out_of_order_uses_first_step_ts_only(impl):
    s = impl.SequenceState(3, 10)
    s.add("k", 0, 0b001)
    s.add("k", 15, 0b010)  # arrives later with a ts outside the span: still a step
    assert s.query("k", 5, 0b100) is True
    assert s.query("k", 11, 0b100) is False
