"""Kernel copies for snapshots: ``copy()`` freezes ``dump()``; ``dump_chunks(n)`` cuts it in pieces.

A copy is taken under the engine's lock and dumped after it is released, while
the kernel goes on changing; so a copy's ``dump()`` must be the kernel's
``dump()`` at the moment of the copy (keys in slot order, which may differ from
the kernel's key order), and nothing done to the kernel afterwards may show in
it.  Both builds; the pure twins' copies list keys in the same (slot) order as
the extension's.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from state_kernel_cases import (
    AGGS,
    COMPILED,
    FLOAT_VALUES,
    HSET,
    INT_VALUES,
    NOT_BUILT,
    PURE,
    both_impls,
    canon,
    needs_compiled,
    tiny_blocks,
)

from ruledsl.kernels.last import LastState


def exact(items):
    """A comparison key for dump() output: exact (float bits, NaN) for small dumps; large ones (ints only) as is."""
    return canon(items) if len(items) <= 2000 else items


def as_map(items):
    """dump() output keyed by key (order aside); every key once."""
    if len(items) <= 2000:
        out = {canon(key): canon(entries) for key, entries in items}
    else:
        out = dict(items)
    assert len(out) == len(items), "a key appears twice"
    return out


def check_copy(kernel):
    """copy() now: its dump() is the kernel's, and so are len() and the watermark; returns (copy, its dump)."""
    want = kernel.dump()
    frozen = kernel.copy()
    got = frozen.dump()
    assert as_map(got) == as_map(want)
    assert len(frozen) == len(kernel) == len(got)
    assert frozen.watermark == kernel.watermark
    return frozen, exact(got)


def check_chunks(frozen, sizes=(1, 2, 3, 7, 4096)):
    """dump_chunks(n) concatenates to dump(), in lists of 1..n items."""
    whole = exact(frozen.dump())
    for n in sizes:
        chunks = list(frozen.dump_chunks(n))
        assert all(1 <= len(c) <= n for c in chunks)
        assert exact([item for c in chunks for item in c]) == whole


def still(copies, sizes=(1, 5)):
    """Every copy still dumps what it dumped when it was taken."""
    for frozen, dumped in copies:
        assert exact(frozen.dump()) == dumped
        check_chunks(frozen, sizes)


# ---------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------


@st.composite
def window_streams(draw):
    D = draw(st.integers(1, 30))
    L = draw(st.integers(0, 20))
    is_float = draw(st.booleans())
    vals = FLOAT_VALUES if is_float else INT_VALUES
    keys = st.one_of(st.sampled_from(["a", "b", ("t", 1), 7, None]), st.integers(0, 60).map(lambda i: f"k{i}"))
    op = st.one_of(
        st.tuples(st.just("add"), keys, st.integers(-40, 160), vals),
        st.tuples(st.just("qa"), keys, st.integers(-40, 160), vals),
        st.tuples(st.just("advance"), st.integers(-40, 160), st.integers(0, 40)),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("copy")),
        st.tuples(st.just("drop")),  # release the oldest copy (its buffer becomes the kernel's spare)
    )
    return D, L, is_float, draw(st.lists(op, max_size=120))


def run_window_stream(impl, agg, D, L, is_float, ops):
    w = impl.WindowState(agg, D, L, is_float)
    copies = []
    for op in ops:
        if op[0] == "add":
            w.add(op[1], op[2], op[3])
        elif op[0] == "qa":
            w.query_add(op[1], op[2], op[3])
        elif op[0] == "advance":
            w.advance(op[1], op[2])
        elif op[0] == "sweep":
            w.sweep()
        elif op[0] == "copy":
            copies.append(check_copy(w))
        elif copies:
            copies.pop(0)
        still(copies)
    copies.append(check_copy(w))
    check_chunks(copies[-1][0])
    w.clear()
    still(copies)
    return copies


@both_impls
@HSET
@given(window_streams())
def test_window_copies_freeze_the_dump(impl, stream):
    for agg in AGGS:
        run_window_stream(impl, agg, *stream)


@needs_compiled
@HSET
@given(window_streams())
def test_window_copies_with_accelerators(stream):
    # large-key accelerators (block summaries, distinct multisets) are not copied: the entries are
    with tiny_blocks():
        for agg in ("min", "max", "distinct", "sum", "avg"):
            run_window_stream(COMPILED, agg, *stream)


@pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT)
@HSET
@given(window_streams())
def test_window_copies_list_keys_in_the_same_order_in_both_builds(stream):
    D, L, is_float, ops = stream
    for agg in ("count", "sum", "last"):
        a = run_window_stream(COMPILED, agg, D, L, is_float, ops)
        b = run_window_stream(PURE, agg, D, L, is_float, ops)
        assert [dumped for _, dumped in a] == [dumped for _, dumped in b]


@both_impls
@pytest.mark.parametrize("agg", AGGS)
def test_empty_windows_copy_to_empty(impl, agg):
    w = impl.WindowState(agg, 10)
    frozen, _ = check_copy(w)
    assert frozen.dump() == [] and list(frozen.dump_chunks(3)) == [] and len(frozen) == 0
    assert frozen.watermark is None
    w.add("k", 5, 1)
    w.advance(100)
    w.sweep()  # every key freed
    frozen, _ = check_copy(w)
    assert frozen.dump() == [] and len(frozen) == 0 and frozen.watermark == 100


@both_impls
def test_a_window_key_emptied_but_not_yet_freed_is_copied_with_no_entries(impl):
    w = impl.WindowState("count", 10)
    w.add("k", 0)
    w.advance(50, 0)  # no sweep: the key stays, its entry expired
    w.query("k", 60)  # evicts the entry, keeps the key
    frozen, _ = check_copy(w)
    assert frozen.dump() == [("k", [])]


@both_impls
@pytest.mark.parametrize("agg", ["count", "sum", "max", "last"])
def test_window_copies_survive_churn_compaction_and_slot_reuse(impl, agg):
    # > 2 chunks of the slot->key list (2**14 keys each in the extension), several entries per key
    # for some; the kernel then frees most keys (compaction renumbers the slots), reuses free
    # slots and adds keys while copies taken at each stage are alive
    w = impl.WindowState(agg, 1000)
    n = 36_000
    for i in range(n):
        w.add(f"k{i}", i // 100, i)
        if i % 7 == 0:
            w.add(f"k{i}", i // 100 + 1, -i)
    copies = [check_copy(w)]
    check_chunks(copies[0][0], (1, 16_384, 100_000))
    for i in range(0, n, 3):
        w.add(f"k{i}", 500, 1)  # keys kept alive
    w.advance(1200, 0)
    copies.append(check_copy(w))
    w.sweep()  # frees two thirds of the keys and compacts
    copies.append(check_copy(w))
    still(copies, (4096,))
    del copies[0]  # its buffer goes back to the kernel and is reused (or not: it is too big)
    for i in range(2000):
        w.add(f"new{i}", 1300, i)  # fills the free slots, then appends
    copies.append(check_copy(w))
    w.advance(3000)
    w.sweep()  # every key gone
    copies.append(check_copy(w))
    still(copies, (4096,))
    w.add("back", 3500, 1)
    copies.append(check_copy(w))
    still(copies, (4096,))
    assert copies[-1][0].dump() == [("back", [(3500, 0 if agg == "count" else 1)])]


@both_impls
def test_released_copies_leave_no_memory_behind_after_clear(impl):
    w = impl.WindowState("sum", 1000)
    for i in range(5000):
        w.add(i, 1, i)
    full = w.nbytes()
    frozen = w.copy()
    del frozen  # the extension keeps its buffer for the next copy...
    w.clear()  # ...until the window is cleared
    assert w.nbytes() < full / 10


@both_impls
def test_dump_chunks_wants_a_positive_size(impl):
    frozen = impl.WindowState("count", 10).copy()
    with pytest.raises(ValueError):
        frozen.dump_chunks(0)


@needs_compiled
def test_frozen_copies_are_made_by_copy_only():
    frozen = COMPILED.WindowState("count", 10).copy()
    with pytest.raises(TypeError):
        type(frozen)()


# ---------------------------------------------------------------------------
# sequences
# ---------------------------------------------------------------------------


@st.composite
def sequence_streams(draw):
    n_steps = draw(st.integers(1, 5))
    within = draw(st.integers(0, 30))
    keys = st.one_of(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["d1", "d2"])),  # two-field keys
        st.integers(0, 40).map(lambda i: ("c", i)),
    )
    op = st.one_of(
        st.tuples(st.just("add"), keys, st.integers(-20, 160), st.integers(0, (1 << n_steps) - 1)),
        st.tuples(st.just("qa"), keys, st.integers(-20, 160), st.integers(0, (1 << n_steps) - 1)),
        st.tuples(st.just("advance"), st.integers(-20, 160), st.integers(0, 40)),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("copy")),
        st.tuples(st.just("drop")),
    )
    return n_steps, within, draw(st.lists(op, max_size=120))


def run_sequence_stream(impl, n_steps, within, ops):
    s = impl.SequenceState(n_steps, within)
    copies = []
    for op in ops:
        if op[0] == "add":
            s.add(op[1], op[2], op[3])
        elif op[0] == "qa":
            s.query_add(op[1], op[2], op[3])
        elif op[0] == "advance":
            s.advance(op[1], op[2])
        elif op[0] == "sweep":
            s.sweep()
        elif op[0] == "copy":
            copies.append(check_copy(s))
        elif copies:
            copies.pop(0)
        still(copies)
    copies.append(check_copy(s))
    check_chunks(copies[-1][0])
    s.clear()
    still(copies)
    return copies


@both_impls
@HSET
@given(sequence_streams())
def test_sequence_copies_freeze_the_dump(impl, stream):
    run_sequence_stream(impl, *stream)


@pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT)
@HSET
@given(sequence_streams())
def test_sequence_copies_list_keys_in_the_same_order_in_both_builds(stream):
    a = run_sequence_stream(COMPILED, *stream)
    b = run_sequence_stream(PURE, *stream)
    assert [dumped for _, dumped in a] == [dumped for _, dumped in b]


@both_impls
def test_sequence_copies_with_two_field_keys_survive_churn(impl):
    s = impl.SequenceState(3, 100)
    n = 20_000
    for i in range(n):
        s.add((f"c{i}", "d1"), i // 50, 0b001)
        if i % 2:
            s.add((f"c{i}", "d1"), i // 50 + 1, 0b010)
    copies = [check_copy(s)]
    assert copies[0][0].dump()[1] == (("c1", "d1"), [0, 0])  # start_1 carries the chain's first ts
    for i in range(0, n, 4):
        s.add((f"c{i}", "d1"), 390, 0b001)
    s.advance(395, 0)
    copies.append(check_copy(s))
    s.sweep()
    copies.append(check_copy(s))
    for i in range(100):
        s.add((f"n{i}", "d2"), 400, 0b011)
    copies.append(check_copy(s))
    check_chunks(copies[-1][0], (1, 1000, 50_000))
    still(copies, (4096,))
    s.clear()
    empty, _ = check_copy(s)
    assert empty.dump() == [] and list(empty.dump_chunks(2)) == []
    still(copies, (4096,))


# ---------------------------------------------------------------------------
# last(x) windows (kept in Python)
# ---------------------------------------------------------------------------


@st.composite
def last_streams(draw):
    keys = st.sampled_from(["a", "b", ("t", 1), 7])
    values = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none())
    op = st.one_of(
        st.tuples(st.just("add"), keys, st.integers(-20, 120), values),
        st.tuples(st.just("advance"), st.integers(-20, 120), st.integers(0, 8)),
        st.tuples(st.just("copy")),
        st.tuples(st.just("drop")),
    )
    return draw(st.integers(1, 30)), draw(st.lists(op, max_size=80))


@HSET
@given(last_streams())
def test_last_copies_freeze_the_dump(stream):
    D, ops = stream
    w = LastState(D, 5)
    copies = [check_copy(w)]
    for op in ops:
        if op[0] == "add":
            w.add(op[1], op[2], op[3])
        elif op[0] == "advance":
            w.advance(op[1], op[2])
        elif op[0] == "copy":
            copies.append(check_copy(w))
        elif copies:
            copies.pop(0)
        still(copies)
    frozen, _ = check_copy(w)
    assert frozen.dump() == w.dump()  # a dict copy: the same key order
    check_chunks(frozen)
    w.clear()
    still(copies)
