"""Sliding event-time window aggregates per key (pure-Python twin of ``windows.pyx``).

Same API and results as the extension; used when it is not built or when
``RULEDSL_NO_EXTENSIONS=1`` is set (import through :mod:`ruledsl.kernels.state`).
Only ``nbytes()`` differs (an estimate of each implementation's own memory).
A key's entries are two sorted lists here (timestamps, values); the
extension's large-key accelerators (``accel.pyx``) change speed, not results,
so they have no twin.

Semantics (shared with the extension)
-------------------------------------
* Timestamps are int64 milliseconds (event time).  A window with duration
  ``D`` answers a query at ``ts`` over entries with ``ts - D < ts_e <= ts``.
* ``advance(wm)`` announces the engine watermark (max event ts - lateness).
  Only events with ``ts >= wm`` ("allowed" events) may be queried afterwards;
  entries with ``ts_e <= wm - D`` can then never be inside a query interval
  and are evicted (lazily on access + a bounded expiry-queue sweep, see
  :mod:`ruledsl.kernels.slots_py`).  A slot's queue value is its newest entry's
  ts, kept as ``_q_encode`` bits and read back rounded up to
  ``2**max(0, D.bit_length() - 20)`` ms.  ``last``/``since`` windows also keep
  a min-heap of (second entry ts, slot) so that ``advance`` drops dominated
  entries (below) of keys nobody touches, at most ``budget`` keys per call.
* For ``last``/``since`` an entry is also dropped once a newer-or-equal entry
  (later in the sorted order) has ``ts <= wm``: every allowed query would pick
  that newer one instead.  With in-order events this keeps one entry per key.
* ``min``/``max`` fold the interval left to right in (ts, arrival) order,
  keeping the first of equal values (so ``0.0`` vs ``-0.0`` is decided by
  order); for float windows any NaN in the interval makes the result NaN.
  ``distinct`` compares floats by value (``-0.0 == 0.0``, all NaNs equal).
  Float ``sum``/``avg`` add left to right starting from ``0.0``, then the
  current value; int sums are exact Python ints (never wrap).
* Queries at ``ts < wm`` (late events) are answered from whatever is still
  retained (identically in both implementations); entries that no allowed
  query can see may already be gone.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from collections.abc import Iterable
from heapq import heapify, heappop, heappush
from typing import Any

from ruledsl.kernels.convert_py import I64_MAX, I64_MIN, to_f64, to_i64
from ruledsl.kernels.frozen_py import FrozenWindow
from ruledsl.kernels.slots_py import SlotTable

__all__ = ["AGGREGATES", "WindowState"]

AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")
_AGG_CODE = {name: i for i, name in enumerate(AGGREGATES)}
_COUNT, _SUM, _AVG, _MIN, _MAX, _DISTINCT, _LAST, _SINCE = range(8)

_MAX_ENTRIES_PER_KEY = 1 << 30


def _q_encode(v: int, shift: int) -> int:
    """A window slot's queue value in 31 bits (see ``_q_decode``)."""
    return (v >> shift) & 0x7FFFFFFF


def _q_decode(newest: int, bits: int, shift: int) -> int:
    """The largest multiple of ``2**shift`` <= ``newest`` whose ``>> shift``
    has the low 31 bits ``bits``: the queue value rounded down, given that
    ``newest`` is above it by less than ``2**(31 + shift)``."""
    nu = newest >> shift
    nu -= (nu - bits) & 0x7FFFFFFF
    if nu < (I64_MIN >> shift):
        return I64_MIN
    return nu << shift


class WindowState(SlotTable):
    """Sliding event-time window aggregate per key (pure-Python twin).

    ``agg`` is one of count, sum, avg, min, max, distinct, last, since.
    """

    __slots__ = (
        "_dflag",
        "_dq",
        "_keep_last",
        "_kind",
        "_n_entries",
        "_qbits",
        "_qshift",
        "_ts",
        "_vals",
        "agg",
        "duration_ms",
        "is_float",
        "lateness_ms",
    )

    agg: str
    duration_ms: int
    lateness_ms: int
    is_float: bool
    _kind: int  # index of agg in AGGREGATES
    _keep_last: bool  # last/since: dominated entries are dropped too
    _qshift: int  # expiry-queue value granularity (see _q_encode)
    _ts: list[Any]  # column: slot -> sorted entry timestamps (None while free)
    _vals: list[Any]  # column: slot -> entry values, in ts order (None while free)
    _dflag: list[Any]  # column: slot -> the slot has an entry in the dominance heap
    _qbits: list[Any]  # column: slot -> its queue value, _q_encode'd
    _n_entries: int  # entries over all keys
    # last/since: dominance min-heap of (lower bound of the second entry ts,
    # slot), at least one entry for every slot with >= 2 entries (stale
    # entries of freed slots are skipped)
    _dq: list[tuple[int, int]]

    def __init__(self, agg: str, duration_ms: int, lateness_ms: int = 0, is_float: bool = False) -> None:
        if agg not in _AGG_CODE:
            raise ValueError(f"unknown aggregate {agg!r} (expected one of {', '.join(AGGREGATES)})")
        d = to_i64(duration_ms)
        late = to_i64(lateness_ms)
        if d <= 0:
            raise ValueError("duration_ms must be > 0")
        if late < 0:
            raise ValueError("lateness_ms must be >= 0")
        self._configure(d, False, False)
        self._clear_own()
        self.agg = str(agg)
        self.duration_ms = d
        self.lateness_ms = late
        self.is_float = bool(is_float)
        self._qshift = max(0, d.bit_length() - 20)
        self._kind = _AGG_CODE[agg]
        self._keep_last = self._kind in (_LAST, _SINCE)
        self._ts = []
        self._vals = []
        self._dflag = []
        self._qbits = []
        for col in (self._ts, self._vals, self._dflag, self._qbits):
            self._add_column(col)

    def _clear_own(self) -> None:
        """Forget what the window holds beside its slots (dominance heap, entry count)."""
        self._dq = []
        self._n_entries = 0

    def _clear_all(self) -> None:
        self._reset_table()
        self._clear_own()

    # -- slot-table hooks ----------------------------------------------------------
    def _init_slot(self, slot: int) -> None:
        self._ts[slot] = []
        self._vals[slot] = []
        self._dflag[slot] = False
        self._qbits[slot] = 0

    def _release_slot(self, slot: int) -> None:
        self._n_entries -= len(self._ts[slot])
        self._ts[slot] = None
        self._vals[slot] = None

    def _evict_slot(self, slot: int) -> bool:
        self._evict(slot)
        return not self._ts[slot]

    def _newest(self, slot: int) -> int:
        tl = self._ts[slot]
        return tl[-1] if tl else I64_MIN

    def _q_set(self, slot: int, exp: int) -> None:
        self._qbits[slot] = _q_encode(exp, self._qshift)

    def _q_get(self, slot: int) -> int:
        # rounded up: a slot never comes due before its value (at most 2**shift - 1 ms late)
        tl = self._ts[slot]
        if not tl:
            return I64_MIN
        return min(I64_MAX, _q_decode(tl[-1], self._qbits[slot], self._qshift) + (1 << self._qshift) - 1)

    def _expire_extra(self, budget: int) -> None:
        """Pop up to ``budget`` dominance-heap entries with value <= watermark
        (smallest (value, slot) first) and evict those keys (re-pushed while
        they still hold >= 2 entries)."""
        if not self._keep_last or not self._has_wm:
            return
        dq = self._dq
        wm = self._wm
        done = 0
        while done < budget and dq and dq[0][0] <= wm:
            _, slot = heappop(dq)
            done += 1
            if slot >= len(self._skeys) or self._is_free(slot):
                continue  # stale: the slot was freed
            self._dflag[slot] = False
            self._evict(slot)
            tl = self._ts[slot]
            if len(tl) >= 2:
                heappush(dq, (tl[1], slot))
                self._dflag[slot] = True

    def _remap_extra(self, remap: list[int] | None) -> None:
        if not self._keep_last:
            return
        if remap is None:
            self._dq = []
            return
        n_used = len(remap)
        self._dq = [(v, remap[slot]) for v, slot in self._dq if slot < n_used and remap[slot] >= 0]
        heapify(self._dq)

    # -- entries ---------------------------------------------------------------------
    def _evict(self, slot: int) -> None:
        """Drop entries no allowed query can see (expired / dominated for last)."""
        tl = self._ts[slot]
        n = len(tl)
        if n == 0:
            return
        k = 0
        if self._has_cutoff:
            cutoff = self._cutoff
            if tl[0] <= cutoff:
                k = bisect_right(tl, cutoff)
        if self._keep_last and self._has_wm:
            wm = self._wm
            while n - k >= 2 and tl[k + 1] <= wm:
                k += 1
        if k:
            del tl[:k]
            del self._vals[slot][:k]
            self._n_entries -= k

    def _insert(self, slot: int, ts: int, v: Any) -> None:
        tl = self._ts[slot]
        if len(tl) >= _MAX_ENTRIES_PER_KEY:
            raise MemoryError("too many entries for one key")
        if not tl or tl[-1] <= ts:
            tl.append(ts)
            self._vals[slot].append(v)
        else:
            pos = bisect_right(tl, ts)
            tl.insert(pos, ts)
            self._vals[slot].insert(pos, v)
        self._n_entries += 1

    def _conv(self, value: Any) -> Any:
        if self._kind == _COUNT:
            return 0
        return to_f64(value) if self.is_float else to_i64(value)

    # -- shared by the public entry points ------------------------------------------
    def _find(self, key: Any) -> int:
        """Slot of key (-1 if none), with its expired entries evicted."""
        slot = self._map.get(key, -1)
        if slot >= 0:
            self._evict(slot)
        return slot

    def _store(self, key: Any, slot: int, ts: int, v: Any, evicted: bool) -> None:
        """add() once key has been looked up (slot = its slot or -1).  evicted:
        the slot was just evicted (by _find) under the current watermark."""
        if self._has_cutoff and ts <= self._cutoff:
            return  # already expired for every allowed query
        if slot < 0:
            slot = self._new_slot(key, ts)
        if not self._keep_last:
            self._insert(slot, ts, v)
            if not evicted:
                # (after _find every entry, and ts, lies above the cutoff: nothing to evict)
                self._evict(slot)
            return
        tl = self._ts[slot]
        old2 = tl[1] if len(tl) >= 2 else I64_MAX
        self._insert(slot, ts, v)
        self._evict(slot)
        if len(tl) >= 2 and (not self._dflag[slot] or tl[1] < old2):
            # the dominance heap needs an entry whose value is <= the second ts
            heappush(self._dq, (tl[1], slot))
            self._dflag[slot] = True

    def _result(self, slot: int, ts: int, cur: bool, cv: Any) -> Any:
        """query() once key has been found (and evicted); cv is used only if cur."""
        kind = self._kind
        tl: Any
        vl: Any
        if slot < 0:
            tl = vl = ()
            lo = hi = 0
        else:
            tl = self._ts[slot]
            vl = self._vals[slot]
            hi = bisect_right(tl, ts)
            if ts >= I64_MIN + self.duration_ms:
                lo = bisect_right(tl, ts - self.duration_ms, 0, hi)
            else:
                lo = 0
        if kind == _COUNT:
            return hi - lo + (1 if cur else 0)
        if kind in (_SUM, _AVG):
            s = 0.0 if self.is_float else 0
            for i in range(lo, hi):
                s += vl[i]
            cnt = hi - lo
            if cur:
                s += cv
                cnt += 1
            if kind == _SUM:
                return s
            return (s, cnt) if cnt else None
        if kind in (_MIN, _MAX):
            vals = list(vl[lo:hi])
            if cur:
                vals.append(cv)
            if not vals:
                return None
            # left-to-right fold keeping the first of equal values; for floats
            # a NaN absorbs (any NaN in the interval -> NaN)
            m = vals[0]
            if kind == _MIN:
                for v in vals:
                    if v != v or v < m:
                        m = v
            else:
                for v in vals:
                    if v != v or v > m:
                        m = v
            return m
        if kind == _DISTINCT:
            vals = list(vl[lo:hi])
            if cur:
                vals.append(cv)
            if self.is_float:
                seen: set[Any] = set()
                for v in vals:
                    if v != v:
                        seen.add("nan")
                    elif v == 0.0:
                        seen.add(0.0)
                    else:
                        seen.add(v)
                return len(seen)
            return len(set(vals))
        # last / since: most recent entry with ts - D < ts_e <= ts
        if hi > lo:
            if kind == _LAST:
                return vl[hi - 1]
            return ts - tl[hi - 1]
        return None

    # -- public API ----------------------------------------------------------------
    def add(self, key: Any, ts: int, value: Any = 0) -> None:
        """Store the entry (ts, value) for key."""
        t = to_i64(ts)
        v = self._conv(value)
        self._store(key, self._map.get(key, -1), t, v, False)

    def query(self, key: Any, ts: int, value: Any = 0, include_current: bool = False) -> Any:
        """Aggregate over the key's entries with ts - D < ts_e <= ts, plus the
        hypothetical entry (ts, value) if include_current (ignored for
        last/since).  count/distinct -> int; sum -> int/float; avg ->
        (sum, count) or None; min/max/last -> value or None; since -> ms or None.
        """
        t = to_i64(ts)
        kind = self._kind
        cur = bool(include_current) and kind not in (_LAST, _SINCE)
        cv = self._conv(value) if (cur and kind != _COUNT) else 0
        return self._result(self._find(key), t, cur, cv)

    def query_add(self, key: Any, ts: int, value: Any = 0, include_current: bool = False) -> Any:
        """``query(key, ts, value, include_current)`` then ``add(key, ts, value)``
        with one key lookup; returns the query result.  ts and value are
        converted first, so a value add() would reject raises before
        anything is queried or stored."""
        t = to_i64(ts)
        cur = bool(include_current) and self._kind not in (_LAST, _SINCE)
        v = self._conv(value)
        slot = self._find(key)
        r = self._result(slot, t, cur, v)
        self._store(key, slot, t, v, True)
        return r

    def entry_count(self) -> int:
        """Total number of stored entries over all keys."""
        return self._n_entries

    def nbytes(self) -> int:
        """Rough estimate of the memory held by this pure-Python state."""
        gs = sys.getsizeof
        total = gs(self._map) + gs(self._skeys) + gs(self._ts) + gs(self._vals) + gs(self._free)
        total += 32 * len(self._map)  # slot-number int objects
        total += gs(self._q) + gs(self._qbits) + 32 * len(self._q)  # expiry queue
        total += gs(self._dq) + 88 * len(self._dq) + gs(self._dflag)  # dominance heap
        for tl in self._ts:
            if tl is not None:
                total += gs(tl) + 32 * len(tl)  # list + int objects
        for vl in self._vals:
            if vl is not None:
                total += gs(vl) + 32 * len(vl)
        return total

    def clear(self) -> None:
        """Drop all keys and entries and forget the watermark (fresh state)."""
        self._clear_all()

    def dump(self) -> list[tuple[Any, list[tuple[int, Any]]]]:
        """Exact stored content: ``[(key, [(ts, value), ...]), ...]`` in key order."""
        return [(key, list(zip(self._ts[slot], self._vals[slot], strict=True))) for key, slot in self._map.items()]

    def copy(self) -> FrozenWindow:
        """A read-only copy whose dump() is this dump() now (keys in slot order, as the extension's)."""
        ts, vals = self._ts, self._vals
        content = {key: tuple(zip(ts[slot], vals[slot], strict=True)) for slot, key in self._active()}
        return FrozenWindow(content, self.watermark)

    def load(self, items: Iterable[tuple[Any, Iterable[tuple[int, Any]]]]) -> None:
        """Replace the state with ``items`` (as produced by :meth:`dump`).

        The watermark is reset (nothing is evicted while loading); entries are
        inserted in the given order (stable for equal timestamps).
        """
        self._clear_all()
        for key, entries in items:
            if self._lookup(key) < 0:
                self._new_slot(key, I64_MIN)
            for ts, value in entries:
                self.add(key, ts, value)
        self._q_refresh()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "config": (self.agg, self.duration_ms, self.lateness_ms, self.is_float),
            "watermark": self.watermark,
            "items": self.dump(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        agg, d, late, f = state["config"]
        WindowState.__init__(self, agg, d, late, f)
        self.load(state["items"])
        wm = state["watermark"]
        if wm is not None:
            self.advance(wm, 0)

    def __reduce__(self) -> tuple[Any, ...]:
        return (WindowState, (self.agg, self.duration_ms, self.lateness_ms, self.is_float), self.__getstate__())

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.agg} D={self.duration_ms} L={self.lateness_ms} "
            f"float={self.is_float} keys={len(self._map)} entries={self._n_entries}>"
        )
