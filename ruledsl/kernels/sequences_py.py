"""Per-key sequence (chain) detection in arrival order (pure-Python twin of ``sequences.pyx``).

Same API and results as the extension (import through
:mod:`ruledsl.kernels.state`).  An event completes the chain when it matches
the last step and earlier events (arrival order, same key) matched the steps
before it with ``e.ts - first.ts <= within`` (docs/semantics.md).
Intermediate steps are not time-checked, so out-of-order arrivals within the
lateness behave exactly like that definition.  Start timestamps are dropped
when ``start < wm - within`` (strictly: an allowed event at ``ts == wm`` can
still complete a chain that started at exactly ``wm - within``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from ruledsl.kernels.convert_py import I64_MIN, to_i64
from ruledsl.kernels.slots_py import FrozenSlots, SlotTable

__all__ = ["FrozenSequence", "SequenceState"]


def _as_mask(matches: Any, n_steps: int) -> int:
    """The step bitmask of ``matches`` (an int, or n_steps truthy/falsy values)."""
    if isinstance(matches, int):
        # modulo 2**n_steps (negative ints act as two's complement)
        return int(matches) & ((1 << n_steps) - 1)
    m = 0
    i = 0
    for flag in matches:
        if i >= n_steps:
            raise ValueError("matches has more than n_steps items")
        if flag:
            m |= 1 << i
        i += 1
    if i != n_steps:
        raise ValueError("matches must have exactly n_steps items")
    return m


class FrozenSequence(FrozenSlots):
    """A read-only copy of a SequenceState, as ``SequenceState.copy()`` returns it (see ``FrozenSlots``)."""

    __slots__ = ()


class SequenceState(SlotTable):
    """Per-key chain detection over arrival order (pure-Python twin).

    ``matches`` is either an int bitmask (bit ``i`` set <=> the event
    satisfies step ``i``; taken modulo ``2**n_steps``, so higher bits are
    ignored and negative ints act as two's complement; fastest) or a sequence
    of exactly ``n_steps`` truthy/falsy values.
    """

    __slots__ = ("_m", "_starts", "n_steps", "within_ms")

    n_steps: int
    within_ms: int
    _m: int  # n_steps - 1 start timestamps per key
    _starts: list[Any]  # column: slot -> [start_0 or None, ..., start_{m-1} or None] (None while free)

    def __init__(self, n_steps: int, within_ms: int) -> None:
        n = to_i64(n_steps)
        w = to_i64(within_ms)
        if not 1 <= n <= 64:
            raise ValueError("n_steps must be in 1..64")
        if w < 0:
            raise ValueError("within_ms must be >= 0")
        # a start is dropped when start < wm - within (strictly): an allowed
        # event at ts == wm can still complete a chain that started then
        self._configure(w, True, True)
        self.n_steps = n
        self.within_ms = w
        self._m = n - 1
        self._starts = []
        self._add_column(self._starts)

    # -- slot-table hooks ----------------------------------------------------------
    def _init_slot(self, slot: int) -> None:
        self._starts[slot] = [None] * self._m

    def _release_slot(self, slot: int) -> None:
        self._starts[slot] = None

    def _evict_slot(self, slot: int) -> bool:
        st = self._starts[slot]
        if self._has_cutoff:
            c = self._cutoff
            for i in range(self._m):
                if st[i] is not None and st[i] < c:
                    st[i] = None
        return st[0] is None

    def _newest(self, slot: int) -> int:
        s0 = self._starts[slot][0]
        return I64_MIN if s0 is None else s0

    # -- helpers -------------------------------------------------------------------
    def _mask(self, matches: Any) -> int:
        return _as_mask(matches, self.n_steps)

    def _ok(self, ts: int, start: int) -> bool:
        # ts - start <= within  <=>  start >= ts - within
        return ts - start <= self.within_ms

    def _completes(self, slot: int, ts: int, mask: int) -> bool:
        """query() once key has been looked up (slot = its slot or -1)."""
        m = self._m
        if not (mask >> m) & 1:
            return False
        if m == 0:
            return True
        if slot < 0:
            return False
        start = self._starts[slot][m - 1]
        return start is not None and self._ok(ts, start)

    def _step(self, key: Any, slot: int, ts: int, mask: int) -> None:
        """add() once key has been looked up (slot = its slot or -1); n_steps > 1."""
        m = self._m
        if slot < 0:
            if not mask & 1:
                return
            slot = self._new_slot(key, ts)
        st = self._starts[slot]
        for i in range(m - 1, 0, -1):
            if (mask >> i) & 1:
                prev = st[i - 1]
                if prev is not None and (st[i] is None or prev > st[i]):
                    st[i] = prev
        if mask & 1 and (st[0] is None or ts > st[0]):
            st[0] = ts

    # -- public API ------------------------------------------------------------------
    def query(self, key: Any, ts: int, matches: Any) -> bool:
        """Does this event complete the chain?"""
        t = to_i64(ts)
        mask = self._mask(matches)
        m = self._m
        if not (mask >> m) & 1:
            return False
        if m == 0:
            return True
        return self._completes(self._map.get(key, -1), t, mask)

    def add(self, key: Any, ts: int, matches: Any) -> None:
        """Advance the chains with this event."""
        t = to_i64(ts)
        mask = self._mask(matches)
        if self._m == 0:
            return
        self._step(key, self._map.get(key, -1), t, mask)

    def query_add(self, key: Any, ts: int, matches: Any) -> bool:
        """``query(key, ts, matches)`` then ``add(key, ts, matches)`` with one
        key lookup (matches is read once); returns the query result."""
        t = to_i64(ts)
        mask = self._mask(matches)
        if self._m == 0:
            return bool(mask & 1)
        slot = self._map.get(key, -1)
        r = self._completes(slot, t, mask)
        self._step(key, slot, t, mask)
        return r

    def nbytes(self) -> int:
        """Rough estimate of the memory held by this pure-Python state."""
        gs = sys.getsizeof
        total = gs(self._map) + gs(self._skeys) + gs(self._starts) + gs(self._free)
        total += 32 * len(self._map) + gs(self._q) + gs(self._qexp) + 32 * len(self._q)
        for st in self._starts:
            if st is not None:
                total += gs(st) + 32 * self._m
        return total

    def clear(self) -> None:
        """Drop all keys and forget the watermark (fresh state)."""
        self._reset_table()

    def dump(self) -> list[tuple[Any, list[int | None]]]:
        """``[(key, [start_0 or None, ..., start_{n-2} or None]), ...]`` in key order."""
        return [(key, list(self._starts[slot])) for key, slot in self._map.items()]

    def copy(self) -> FrozenSequence:
        """A read-only copy whose dump() is this dump() now (keys in slot order, as the extension's)."""
        starts = self._starts
        return FrozenSequence({key: tuple(starts[slot]) for slot, key in self._active()}, self.watermark)

    def load(self, items: Iterable[tuple[Any, Iterable[int | None]]]) -> None:
        """Replace the state with items as produced by dump() (watermark reset)."""
        self.clear()
        m = self._m
        for key, starts in items:
            starts = list(starts)
            if len(starts) != m:
                raise ValueError(f"expected {m} start values for key {key!r}")
            conv = [None if s is None else to_i64(s) for s in starts]
            if m == 0:
                continue
            slot = self._lookup(key)
            if slot < 0:
                slot = self._new_slot(key, I64_MIN)
            self._starts[slot] = conv
        self._q_refresh()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": (self.n_steps, self.within_ms), "watermark": self.watermark, "items": self.dump()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        n, w = state["config"]
        SequenceState.__init__(self, n, w)
        self.load(state["items"])
        wm = state["watermark"]
        if wm is not None:
            self.advance(wm, 0)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SequenceState, (self.n_steps, self.within_ms), self.__getstate__())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} steps={self.n_steps} within={self.within_ms} keys={len(self._map)}>"
