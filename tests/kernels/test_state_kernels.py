"""Tests for the window / sequence state kernels (compiled and pure twin)."""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruledsl.kernels import state_py

try:
    from ruledsl.kernels import _state as _compiled
except ImportError:  # extension not built
    _compiled = None

IMPLS = [
    pytest.param(
        _compiled, id="compiled", marks=pytest.mark.skipif(_compiled is None, reason="ruledsl.kernels._state not built")
    ),
    pytest.param(state_py, id="pure"),
]
both_impls = pytest.mark.parametrize("impl", IMPLS)
needs_compiled = pytest.mark.skipif(_compiled is None, reason="ruledsl.kernels._state not built")

AGGS = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")
I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
NAN = float("nan")
INF = float("inf")

# STATE_KERNEL_EXAMPLES=5000 for a long soak run
HSET = settings(
    max_examples=int(os.environ.get("STATE_KERNEL_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def canon(x):
    """Exact, NaN-tolerant comparison key (types, float bits incl. -0.0)."""
    if isinstance(x, float):
        if x != x:
            return ("float", "nan")
        return ("float", struct.pack("<d", x))
    if isinstance(x, tuple):
        return ("tuple",) + tuple(canon(i) for i in x)
    if isinstance(x, list):
        return ("list",) + tuple(canon(i) for i in x)
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, int):
        return ("int", x)
    return (type(x).__name__, x)


def assert_same(got, want, ctx=""):
    assert canon(got) == canon(want), "got %r want %r %s" % (got, want, ctx)


def oracle_window(entries, agg, D, ts, value, include_current, is_float):
    """Brute force over every entry ever added: entries = [(ts, value)] in arrival order."""
    inwin = sorted(((t, i, v) for i, (t, v) in enumerate(entries) if ts - D < t <= ts), key=lambda e: (e[0], e[1]))
    vals = [v for _, _, v in inwin]
    cur = bool(include_current) and agg not in ("last", "since")
    if agg == "count":
        return len(vals) + (1 if cur else 0)
    if agg in ("sum", "avg"):
        s = 0.0 if is_float else 0
        for v in vals:
            s += v
        n = len(vals)
        if cur:
            s += value
            n += 1
        if agg == "sum":
            return s
        return (s, n) if n else None
    if agg in ("min", "max"):
        if cur:
            vals.append(value)
        if not vals:
            return None
        if is_float and any(v != v for v in vals):
            return NAN  # NaN absorbs
        m = vals[0]
        for v in vals:
            if (v < m) if agg == "min" else (v > m):
                m = v  # first of equal values wins (0.0 vs -0.0)
        return m
    if agg == "distinct":
        if cur:
            vals.append(value)
        if is_float:
            return len({("nan" if v != v else (0.0 if v == 0 else v)) for v in vals})
        return len(set(vals))
    if not inwin:
        return None
    t, _, v = inwin[-1]
    return v if agg == "last" else ts - t


def oracle_sequence(hist, ts, mask, n_steps, within):
    """Chain completes at e iff earlier events e_0 < ... < e_{n-2} (arrival order)
    match steps 0..n-2 and e.ts - e_0.ts <= within.  hist = [(ts, mask)]."""
    if not (mask >> (n_steps - 1)) & 1:
        return False
    if n_steps == 1:
        return True
    need = n_steps - 1
    greedy = False
    for i0, (t0, m0) in enumerate(hist):
        if not (m0 & 1) or ts - t0 > within:
            continue
        step = 1
        for _, m in hist[i0 + 1 :]:
            if step >= need:
                break
            if (m >> step) & 1:
                step += 1
        if step >= need:
            greedy = True
            break
    if len(hist) <= 7:  # cross-check the greedy oracle with plain enumeration
        brute = any(
            all((hist[p][1] >> i) & 1 for i, p in enumerate(c)) and ts - hist[c[0]][0] <= within
            for c in itertools.combinations(range(len(hist)), need)
        )
        assert brute == greedy
    return greedy


def as_bools(mask, n):
    return tuple(bool((mask >> i) & 1) for i in range(n))


# ---------------------------------------------------------------------------
# window property test against the brute-force oracle
# ---------------------------------------------------------------------------

KEYS = ["a", "b", ("t", 1), 7]
INT_VALUES = st.one_of(
    st.integers(-4, 4), st.integers(-(10**6), 10**6), st.sampled_from([2**62, -(2**62), I64_MAX, I64_MIN, 2**61 + 3])
)
FLOAT_VALUES = st.one_of(
    st.sampled_from([0.0, -0.0, 1.5, -2.25, 3.0, 0.1, 1e300, -1e300]),
    st.sampled_from([NAN, INF, -INF]),
    st.floats(-1e6, 1e6, allow_nan=False),
)


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
                "agg=%s key=%r ts=%d inc=%s D=%d L=%d wm=%s" % (agg, key, ts, inc, D, L, wm),
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


@contextlib.contextmanager
def tiny_blocks(b1=1, b2=3):
    """Compiled kernel with tiny accelerator blocks (min/max block summaries,
    distinct multiset) so that short random streams exercise them."""
    _compiled._set_tuning(b1_shift=b1, b2_shift=b2, mm_min_cap=max(4, 1 << b1), ms_min_n=4, scan_max=0)
    try:
        yield
    finally:
        _compiled._set_tuning()


@needs_compiled
@HSET
@given(window_scenarios())
def test_window_accelerators_match_oracle(scenario):
    with tiny_blocks():
        run_window_scenario(_compiled, *scenario)


@pytest.mark.parametrize(
    "impl,tuning",
    [
        pytest.param(
            _compiled,
            None,
            id="compiled",
            marks=pytest.mark.skipif(_compiled is None, reason="ruledsl.kernels._state not built"),
        ),
        pytest.param(
            _compiled,
            (2, 5),
            id="compiled-tiny-blocks",
            marks=pytest.mark.skipif(_compiled is None, reason="ruledsl.kernels._state not built"),
        ),
        pytest.param(state_py, None, id="pure"),
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
            _compiled,
            None,
            id="compiled",
            marks=pytest.mark.skipif(_compiled is None, reason="ruledsl.kernels._state not built"),
        ),
        pytest.param(
            _compiled,
            (2, 4),
            id="compiled-tiny-blocks",
            marks=pytest.mark.skipif(_compiled is None, reason="ruledsl.kernels._state not built"),
        ),
        pytest.param(state_py, None, id="pure"),
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


@both_impls
def test_advance_all(impl):
    ws = [impl.WindowState("count", 10) for _ in range(3)] + [impl.SequenceState(2, 10)]
    for s in ws[:3]:
        s.add("k", 0)
    ws[3].add("k", 0, 1)
    impl.advance_all(ws, 5)
    assert [s.watermark for s in ws] == [5] * 4
    impl.advance_all(tuple(ws), 20, 100)
    assert [len(s) for s in ws] == [0, 0, 0, 0] and ws[0].watermark == 20
    impl.advance_all([], 30)
    if impl is _compiled:
        with pytest.raises(TypeError):
            impl.advance_all([object()], 40)


# ---------------------------------------------------------------------------
# memory: idle keys are freed, the slot table shrinks
# ---------------------------------------------------------------------------


@both_impls
@pytest.mark.parametrize("agg", ["count", "sum", "last"])
def test_window_memory_released_when_keys_go_idle(impl, agg):
    w = impl.WindowState(agg, 100)
    n = 3000
    for i in range(n):
        w.add("key%d" % i, i, i)
        if i % 3 == 0:
            w.add("key%d" % i, i, 1)  # some keys with heap buffers
    assert len(w) == n
    full = w.nbytes()
    t = n
    for _ in range(20000):
        t += 7
        w.advance(t)
        if len(w) == 0:
            break
    assert len(w) == 0 and w.entry_count() == 0
    assert w.nbytes() < full / 10
    # keys come back fine afterwards
    w.add("again", t, 3)
    assert w.query("again", t, 0, False) == {"count": 1, "sum": 3, "last": 3}[agg]


@both_impls
def test_window_live_keys_stay_bounded_under_churn(impl):
    w = impl.WindowState("count", 100)
    peak = 0
    for i in range(20000):
        w.advance(i)
        w.add(i, i)  # every event has a fresh key
        peak = max(peak, len(w))
    # live keys (ts in (t-100, t]) = 100; the expiry queue frees each key as it expires
    assert peak <= 101, peak
    w.sweep()
    assert len(w) == 100


@both_impls
def test_hot_key_at_the_queue_front_does_not_hold_back_expiry(impl):
    w = impl.WindowState("count", 100)
    for i in range(5000):
        w.add("hot", i)  # the first key, updated on every event
        w.add(("idle", i), i)  # one fresh key per event, never touched again
        w.advance(i)
        assert len(w) <= 102, (i, len(w))  # hot + idle keys with ts in (i - 100, i]
    assert w.query("hot", 4999) == 100


@both_impls
def test_long_window_expiry_is_not_delayed_by_busy_keys(impl):
    # 400-day window: a key updated every hour for two years sits at the front of
    # the queue; keys idle since the first days must still go once they expire
    day, hour = 86_400_000, 3_600_000
    w = impl.WindowState("since", 400 * day)
    for h in range(800 * 24):
        t = h * hour
        w.add("busy", t)
        if h % 24 == 0 and h < 10 * 24:
            w.add(("idle", h), t)  # queued behind "busy"
        w.advance(t)
        if t == 411 * day:
            assert len(w) == 1, len(w)  # idle keys expired by day 410
    assert list(w.keys()) == ["busy"]


@both_impls
def test_queue_rounding(impl):
    # durations >= 2**20 ms keep queue values in units of 2**(bit_length(D) - 20) ms:
    # a key comes due at most one unit (here 4 ms) after it expired, never before
    D = 2**21
    w = impl.WindowState("count", D)
    w.add("k", 1001)
    w.add("j", 5000)
    w.add("i", 5004)
    w.advance(1000 + D, 10**6)
    assert len(w) == 3 and w.watermark == 1000 + D
    w.advance(1003 + D, 10**6)
    assert list(w.keys()) == ["j", "i"]
    w.advance(5003 + D, 10**6)
    assert list(w.keys()) == ["i"]  # (expired at 5004, due at 5007)
    w.advance(5007 + D, 10**6)
    assert len(w) == 0


@both_impls
@pytest.mark.parametrize("agg", ["last", "since"])
def test_dominated_entries_of_idle_keys_are_dropped_on_advance(impl, agg):
    # lateness keeps several entries per key until the watermark passes them;
    # then only the newest at or below the watermark is needed, even for keys
    # nobody touches again (a heap of "second entry" timestamps finds them)
    w = impl.WindowState(agg, 10**9, 50)
    t = 0
    for k in range(300):
        for j in range(4):
            w.add(k, t + 10 * j, j)
        t += 7
        w.advance(t - 50, 8)
    assert w.entry_count() > 300
    for wm in range(t - 50, t + 400, 5):
        w.advance(wm, 8)
    assert len(w) == 300 and w.entry_count() == 300
    assert [e for _, e in w.dump()][:2] == [[(30, 3)], [(37, 3)]]


@both_impls
def test_load_requeues_by_newest_timestamp(impl):
    w = impl.WindowState("sum", 100)
    items = [("late", [(50, 1), (500, 2)]), ("early", [(10, 3)]), ("mid", [(200, 4)]), ("empty", [])]
    w.load(items)
    assert w.dump() == items
    w.advance(150, 1)  # "empty" (no entries) and then "early" are due first
    assert list(w.keys()) == ["late", "early", "mid"]
    w.advance(151, 1)
    assert list(w.keys()) == ["late", "mid"]
    w.advance(400, 10)
    assert list(w.keys()) == ["late"]  # not due: its expired entry goes on access
    assert w.query("late", 500) == 2 and w.dump() == [("late", [(500, 2)])]
    s = impl.SequenceState(3, 100)
    s.load([("a", [300, None]), ("b", [10, 20]), ("c", [None, 5])])
    s.advance(200, 1)  # "c" has no start: freed first
    assert [k for k, _ in s.dump()] == ["a", "b"]
    s.advance(201, 10)
    assert s.dump() == [("a", [300, None])]


@both_impls
def test_sequence_memory_released(impl):
    s = impl.SequenceState(3, 50)
    for i in range(3000):
        s.add("u%d" % i, i, 1)
        s.add("u%d" % i, i, 2)
    assert len(s) == 3000
    full = s.nbytes()
    t = 3000
    for _ in range(20000):
        t += 3
        s.advance(t)
        if len(s) == 0:
            break
    assert len(s) == 0 and s.nbytes() < full / 10


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


def _same_window_state(a, b, ctx):
    assert len(a) == len(b) and a.entry_count() == b.entry_count(), ctx
    assert list(a.keys()) == list(b.keys()), ctx
    assert canon(a.dump()) == canon(b.dump()), ctx
    assert a.watermark == b.watermark, ctx


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
            _same_window_state(a, b, (agg, op))


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
def test_compiled_and_pure_agree(tiny, stream):
    with tiny_blocks() if tiny else contextlib.nullcontext():
        _agree(stream)


def _agree(stream):
    D, L, is_float, ops = stream
    for agg in AGGS:
        c = _compiled.WindowState(agg, D, L, is_float)
        p = state_py.WindowState(agg, D, L, is_float)
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
def test_compiled_and_pure_agree_sequences(n, within, ops):
    c = _compiled.SequenceState(n, within)
    p = state_py.SequenceState(n, within)
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
def test_compiled_and_pure_agree_wide_ranges(stream):
    D, L, ops = stream
    for agg in ("count", "sum", "max", "since"):
        c = _compiled.WindowState(agg, D, L)
        p = state_py.WindowState(agg, D, L)
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
            _same_window_state(c, p, (agg, op))
    c = _compiled.SequenceState(3, D)
    p = state_py.SequenceState(3, D)
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
# stable_hash
# ---------------------------------------------------------------------------


def _fnv_ref(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) % (1 << 64)
    return h - (1 << 64) if h >= 1 << 63 else h


hashables = st.recursive(
    st.one_of(
        st.text(), st.integers(), st.integers(-(2**70), 2**70), st.floats(), st.none(), st.booleans(), st.binary()
    ),
    lambda children: st.tuples(children, children) | st.lists(children, max_size=3).map(tuple),
    max_leaves=8,
)


@both_impls
def test_stable_hash_known_values(impl):
    h = impl.stable_hash
    assert h("abc") == _fnv_ref(b"sabc")
    assert h("") == _fnv_ref(b"s")
    assert h("héllo") == _fnv_ref(b"s" + "héllo".encode())
    assert h(1) == _fnv_ref(b"i" + (1).to_bytes(8, "little", signed=True))
    assert h(-5) == _fnv_ref(b"i" + (-5).to_bytes(8, "little", signed=True))
    assert h(2**64) == _fnv_ref(b"I" + str(2**64).encode())
    assert h(None) == _fnv_ref(b"n")
    assert h(b"xy") == _fnv_ref(b"bxy") == h(bytearray(b"xy"))
    assert h(1.5) == _fnv_ref(b"f" + struct.pack("<d", 1.5))
    assert h(()) == _fnv_ref(b"t" + bytes(8))
    assert h("1") != h(1) and h(("a", "b")) != h(("ab",)) and h(("a",)) != h("a")
    assert h(1) == h(True) == h(1.0) and h(0) == h(-0.0) and h(NAN) == h(-NAN)
    assert h("\ud800") == _fnv_ref(b"s" + "\ud800".encode("utf-8", "surrogatepass"))
    with pytest.raises(TypeError):
        h([1, 2])
    with pytest.raises(TypeError):
        h(object())


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(hashables)
def test_stable_hash_compiled_equals_pure(value):
    a = _compiled.stable_hash(value)
    assert a == state_py.stable_hash(value)
    assert I64_MIN <= a <= I64_MAX


@both_impls
def test_stable_hash_nesting_limit(impl):
    v = ()
    for _ in range(99):  # 100 levels of tuples: fine
        v = (v,)
    assert impl.stable_hash(v) == state_py.stable_hash(v)
    for depth in (100, 100000):
        v = ()
        for _ in range(depth):
            v = (v,)
        with pytest.raises(ValueError):
            impl.stable_hash(v)


# ---------------------------------------------------------------------------
# facade
# ---------------------------------------------------------------------------


def test_facade_selects_implementation():
    from ruledsl.kernels import state

    assert (
        _compiled is not None and os.environ.get("RULEDSL_NO_EXTENSIONS", "").strip() in ("", "0")
    ) == state.COMPILED
    expected = _compiled if state.COMPILED else state_py
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
    assert out.stdout.split() == ["False", "ruledsl.kernels.state_py"]
