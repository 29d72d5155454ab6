"""The slot table shared by both kernels: expiry queue, free list, compaction, memory."""

from __future__ import annotations

import contextlib

import pytest
from state_kernel_cases import COMPILED, both_impls


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
    if impl is COMPILED:
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
        w.add(f"key{i}", i, i)
        if i % 3 == 0:
            w.add(f"key{i}", i, 1)  # some keys with heap buffers
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
        s.add(f"u{i}", i, 1)
        s.add(f"u{i}", i, 2)
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
# the table's storage: re-initialised and uninitialised states
# ---------------------------------------------------------------------------


@both_impls
def test_reinit_with_another_config_starts_empty_and_works(impl):
    # __init__ again (as __setstate__ does) drops the slots and the per-slot
    # columns of the old configuration and registers those of the new one
    w = impl.WindowState("sum", 100)
    for i in range(200):
        w.add(i % 50, i, i)
    w.advance(150)
    w.__init__("distinct", 30, 5, True)
    assert (len(w), w.entry_count(), w.watermark, w.agg, w.is_float) == (0, 0, None, "distinct", True)
    for i in range(300):
        w.add(i % 7, i, float(i % 5))
    # key 3 in (269, 299]: i = 276, 283, 290, 297 -> values 1, 3, 0, 2
    assert w.query(3, 299) == 4 and len(w) == 7 and w.entry_count() == 300
    w.advance(1000)
    w.sweep()
    assert len(w) == 0
    s = impl.SequenceState(4, 10)
    s.add("a", 0, 1)
    s.__init__(2, 50)
    assert len(s) == 0 and s.n_steps == 2
    s.add("a", 0, 1)
    assert s.query("a", 50, 2) is True and s.dump() == [("a", [0])]


@both_impls
def test_uninitialised_state_raises_instead_of_crashing(impl):
    bare = impl.WindowState.__new__(impl.WindowState)
    with pytest.raises((RuntimeError, AttributeError)):
        bare.add("k", 1, 1)
    seq = impl.SequenceState.__new__(impl.SequenceState)
    with contextlib.suppress(RuntimeError, AttributeError):
        seq.add("k", 1, 1)  # (the compiled one acts as n_steps=1: nothing to store)


@both_impls
def test_freed_slots_are_reused_and_compaction_keeps_every_key(impl):
    # keys expire in waves, so slots are freed, reused (LIFO) and the table is
    # compacted (renumbered) many times; live keys must keep their entries
    D = 50
    w = impl.WindowState("count", D)
    hist = {}
    for wave in range(30):
        t = wave * 100
        burst = 300 if wave % 6 == 0 else 20
        keys = [("p", i) for i in range(5)] + list(range(wave * 1000, wave * 1000 + burst))
        for i, k in enumerate(keys):
            w.add(k, t + i % 7)
            hist.setdefault(k, []).append(t + i % 7)
        cutoff = t - 60 - D
        w.advance(t - 60, 1000)
        alive = {k for k, tss in hist.items() if max(tss) > cutoff}
        assert alive <= set(w.keys())
        for k in alive:
            assert w.query(k, t + 7) == sum(1 for x in hist[k] if t + 7 - D < x <= t + 7), (wave, k)
    w.advance(10**6, 10**6)
    assert len(w) == 0 and w.entry_count() == 0
