"""The slot table shared by the window and sequence kernels (pure-Python twin of ``slots.pyx``).

Same class, method names and bookkeeping as the Cython ``SlotTable``: slot
numbering, the LIFO free list, the FIFO expiry queue and compaction happen
step by step as in the extension, so ``len()``, ``keys()`` and ``dump()`` of
the two implementations agree after any sequence of calls.  Only memory
management has no twin here (``_resize``, ``_grow``, ``_link``,
``_release_all``, ``_drop_columns``, ``_table_nbytes``): columns are Python
lists, and a kernel's ``_reset_table``/``_clear_own`` simply start new ones.

Expiry queue: every active slot is once in a FIFO and remembers a value: a
lower bound of its newest timestamp when it was queued (windows: newest entry
ts, rounded; sequences: the step-0 start), queued when the key is created.
``advance(wm, budget)`` pops at most ``budget`` slots (each at most once) from
the front while they are due (value ``<= wm - horizon``; sequences ``<``): a
key whose data all expired is freed, any other is evicted and re-queued with
its current newest timestamp.  Keys that cannot have expired are never
visited.  When something was freed, the table is compacted if at most 1/4 of
it is in use.

``copy()`` (on the kernels) returns a ``FrozenSlots``; the extension's copies
its C arrays, this twin builds a dict of tuples (same ``dump()``, slot order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from ruledsl.kernels.convert_py import I64_MIN, to_i64

__all__ = ["DEFAULT_SWEEP_BUDGET", "FrozenSlots", "SlotTable", "advance_all"]

#: default number of expiry-queue entries popped per advance() call
DEFAULT_SWEEP_BUDGET = 8

_COMPACT_MIN = 32  # tables of at most this many slots are never compacted
_MAX_SLOTS = 2147483646  # slot numbers are int32 in the extension

_FREE: Any = object()  # the key of a free slot in _skeys (None is a valid key)


class SlotTable:
    """Base of WindowState and SequenceState: key -> slot, free list, expiry queue."""

    __slots__ = (
        "_cols",
        "_cutoff",
        "_free",
        "_has_cutoff",
        "_has_wm",
        "_horizon",
        "_map",
        "_q",
        "_qexp",
        "_skeys",
        "_strict",
        "_wm",
    )

    _map: dict[Any, int]  # key -> slot
    _skeys: list[Any]  # slot -> key, _FREE for a free slot
    _cols: list[list[Any]]  # the kernel's per-slot lists (the kernel keeps them as attributes too)
    _free: list[int]  # LIFO stack of free slots
    _q: deque[int]  # expiry queue of slots
    _qexp: list[int]  # exact queue value per slot (a column when the kernel keeps the default)
    _strict: bool  # due iff value < cutoff (sequences) instead of value <= cutoff
    _has_wm: bool
    _wm: int
    _has_cutoff: bool
    _cutoff: int
    _horizon: int  # D (windows), within_ms (sequences)

    # -- hooks (defaults) --------------------------------------------------------------
    def _init_slot(self, slot: int) -> None:
        """Make a fresh slot's records empty."""

    def _release_slot(self, slot: int) -> None:
        """Drop an active slot's records (before it goes on the free list)."""

    def _evict_slot(self, slot: int) -> bool:
        """Evict expired data of an active slot; True if it is now empty."""
        return False

    def _newest(self, slot: int) -> int:
        """The queue value of an active slot when pushed now: its newest ts (I64_MIN if none)."""
        return I64_MIN

    def _q_set(self, slot: int, exp: int) -> None:
        """Remember the queue value of a slot being pushed (default: exactly)."""
        self._qexp[slot] = exp

    def _q_get(self, slot: int) -> int:
        """The remembered queue value (a kernel may round it up, never down)."""
        return self._qexp[slot]

    def _expire_extra(self, budget: int) -> None:
        """Further per-advance work after the expiry queue (WindowState last/since)."""

    def _remap_extra(self, remap: list[int] | None) -> None:
        """Slots were renumbered (remap[old] = new, -1 for free slots); None: all slots freed."""

    # -- configuration and storage -----------------------------------------------------
    def _configure(self, horizon: int, strict: bool, exact_queue: bool) -> None:
        """(Re)start empty with no columns; the kernel then registers its columns."""
        self._cols = []
        self._qexp = []
        self._horizon = horizon
        self._strict = strict
        self._reset_table()
        if exact_queue:
            self._add_column(self._qexp)

    def _add_column(self, column: list[Any]) -> None:
        """Register a per-slot list: grown, compacted and emptied with the table."""
        if column:
            raise RuntimeError("columns are registered on an empty table")
        self._cols.append(column)

    def _move_slot(self, dst: int, src: int) -> None:
        """Copy slot src's records to dst in every column (compaction)."""
        for col in self._cols:
            col[dst] = col[src]

    def _is_free(self, slot: int) -> bool:
        """slot (< number of slots used) is on the free list."""
        return self._skeys[slot] is _FREE

    def _lookup(self, key: Any) -> int:
        """Slot of key, -1 if it has none."""
        return self._map.get(key, -1)

    # -- slot life cycle ------------------------------------------------------------------
    def _new_slot(self, key: Any, exp: int) -> int:
        """A fresh slot for key (not in the table), queued with value exp."""
        if self._free:
            slot = self._free.pop()
            self._skeys[slot] = key
        else:
            slot = len(self._skeys)
            if slot >= _MAX_SLOTS:
                raise MemoryError("too many keys")
            self._skeys.append(key)
            for col in self._cols:
                col.append(None)
        self._init_slot(slot)
        self._map[key] = slot
        self._q_push(exp, slot)
        return slot

    def _free_slot(self, slot: int) -> None:
        """Free an active slot (the caller keeps the queue consistent)."""
        del self._map[self._skeys[slot]]
        self._skeys[slot] = _FREE
        self._release_slot(slot)
        self._free.append(slot)

    def _maybe_compact(self) -> None:
        n_used = len(self._skeys)
        active = len(self._map)
        if active == 0:
            self._q = deque()
            self._remap_extra(None)
            if n_used:
                self._map = {}  # an emptied dict keeps its table
                self._skeys = []
                self._free = []
                for col in self._cols:
                    col.clear()
            return
        if n_used > _COMPACT_MIN and 4 * active <= n_used:
            remap = [-1] * n_used
            newkeys = []
            j = 0
            for i, key in enumerate(self._skeys):
                if key is _FREE:
                    continue
                if i != j:
                    self._move_slot(j, i)
                self._map[key] = j
                newkeys.append(key)
                remap[i] = j
                j += 1
            self._q = deque(remap[slot] for slot in self._q)
            self._remap_extra(remap)
            for col in self._cols:
                del col[j:]
            self._skeys = newkeys
            self._map = dict(self._map)  # dicts never shrink on deletion
            self._free = []

    def _reset_table(self) -> None:
        """Empty the table and forget the watermark."""
        self._map = {}
        self._skeys = []
        self._free = []
        self._q = deque()
        for col in self._cols:
            col.clear()
        self._has_wm = False
        self._has_cutoff = False
        self._wm = 0
        self._cutoff = 0

    # -- expiry --------------------------------------------------------------------------------
    def _q_push(self, exp: int, slot: int) -> None:
        """Append slot to the expiry queue with queue value exp."""
        self._q_set(slot, exp)
        self._q.append(slot)

    def _expire(self, budget: int) -> None:
        """Pop up to ``budget`` due queue entries (each at most once): free
        empty slots, re-queue the others."""
        if not self._has_cutoff:
            return
        q = self._q
        cutoff = self._cutoff
        strict = self._strict
        limit = min(budget, len(q))
        done = 0
        freed = False
        while done < limit:
            slot = q[0]
            exp = self._q_get(slot)
            if exp > cutoff or (strict and exp == cutoff):
                break
            q.popleft()
            done += 1
            if self._evict_slot(slot):
                self._free_slot(slot)
                freed = True
            else:
                self._q_push(self._newest(slot), slot)
        if freed:
            self._maybe_compact()

    def _q_refresh(self) -> None:
        """Reset every queue value from its slot and sort the queue by
        (value, slot) (after load(), where push order == slot order)."""
        for slot in self._q:
            self._q_set(slot, self._newest(slot))
        self._q = deque(slot for _, slot in sorted((self._q_get(slot), slot) for slot in self._q))

    def _advance_to(self, wm: int, budget: int) -> None:
        if self._set_watermark(wm) and budget > 0:
            self._expire(budget)
            self._expire_extra(budget)

    def _set_watermark(self, wm: int) -> bool:
        """True if the watermark moved forward."""
        if self._has_wm and wm <= self._wm:
            return False
        self._has_wm = True
        self._wm = wm
        if wm >= I64_MIN + self._horizon:
            self._has_cutoff = True
            self._cutoff = wm - self._horizon
        return True

    # -- public, shared --------------------------------------------------------------------
    def advance(self, watermark_ts: int, budget: int = DEFAULT_SWEEP_BUDGET) -> None:
        """The watermark moved to ``watermark_ts``: pop up to ``budget`` due
        expiry-queue entries (free or re-queue those keys; see the module doc).

        Only events with ``ts >= watermark_ts`` may be queried afterwards.
        Non-increasing watermarks are ignored (no eviction either).
        """
        self._advance_to(to_i64(watermark_ts), to_i64(budget))

    def sweep(self) -> None:
        """Full sweep: evict all keys, free empty ones, compact the slot table."""
        for slot in range(len(self._skeys)):
            if self._is_free(slot):
                continue
            if self._evict_slot(slot):
                self._free_slot(slot)
        # drop the queue entries of the freed slots (order kept)
        self._q = deque(slot for slot in self._q if not self._is_free(slot))
        self._maybe_compact()

    @property
    def watermark(self) -> int | None:
        """Last watermark passed to advance(), or None."""
        return self._wm if self._has_wm else None

    def __len__(self) -> int:
        return len(self._map)

    def keys(self) -> Iterator[Any]:
        """Iterator over the active keys (snapshot, insertion order)."""
        return iter(list(self._map))

    def _active(self) -> Iterator[tuple[int, Any]]:
        """(slot, key) of every active slot, in slot order (the order of a copy's dump())."""
        return ((slot, key) for slot, key in enumerate(self._skeys) if key is not _FREE)


class FrozenSlots:
    """A read-only copy of a kernel, as its ``copy()`` returns it (pure twin).

    ``dump()`` is what the kernel's ``dump()`` returned when it was copied
    (the extension's copies list keys in slot order, and so do the twins);
    ``dump_chunks(n)`` yields the same items in lists of at most ``n``;
    ``len()`` and ``watermark`` are the kernel's at that time.  ``content``
    maps each key to its entries as a tuple and belongs to the copy alone, so
    changing the kernel afterwards does not change the copy.
    """

    __slots__ = ("_content", "_watermark")

    def __init__(self, content: Mapping[Any, Sequence[Any]], watermark: int | None) -> None:
        self._content = content
        self._watermark = watermark

    def dump(self) -> list[tuple[Any, list[Any]]]:
        """The kernel's dump() when it was copied: ``[(key, entries), ...]``."""
        return [(key, list(entries)) for key, entries in self._content.items()]

    def dump_chunks(self, n: int) -> Iterator[list[tuple[Any, list[Any]]]]:
        """Lists of at most ``n`` (key, entries) pairs that concatenate to dump(), each built when asked for."""
        size = to_i64(n)
        if size < 1:
            raise ValueError("n must be >= 1")
        return self._chunks(size)

    def _chunks(self, size: int) -> Iterator[list[tuple[Any, list[Any]]]]:
        items = iter(self._content.items())
        while chunk := [(key, list(entries)) for key, entries in islice(items, size)]:
            yield chunk

    @property
    def watermark(self) -> int | None:
        """The kernel's watermark when it was copied, or None."""
        return self._watermark

    def __len__(self) -> int:
        return len(self._content)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} keys={len(self._content)}>"


def advance_all(states: Iterable[SlotTable], watermark_ts: int, budget: int = DEFAULT_SWEEP_BUDGET) -> None:
    """``s.advance(watermark_ts, budget)`` for every state in ``states``."""
    wm = to_i64(watermark_ts)
    budget = to_i64(budget)
    for s in states:
        s.advance(wm, budget)
