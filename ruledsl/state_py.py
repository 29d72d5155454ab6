"""Pure-Python twin of :mod:`ruledsl._state` (windowed aggregation kernels).

This module has exactly the same public API and produces exactly the same
results as the Cython extension.  It is used when the extension is not built
or when ``RULEDSL_NO_EXTENSIONS=1`` is set; import the classes through
:mod:`ruledsl.state`, which picks the implementation.

The internal bookkeeping (slot numbering, free list, round-robin sweep cursor,
slot-table compaction, lazy eviction points) deliberately mirrors the Cython
kernel step by step, so that not only query results but also ``len()``,
``entry_count()``, ``keys()`` and ``dump()`` are identical between the two
implementations after any sequence of calls.  Only ``nbytes()`` differs (it is
an estimate of each implementation's own memory).

Semantics (shared with the extension)
-------------------------------------
* Timestamps are int64 milliseconds (event time).  A window with duration
  ``D`` answers a query at ``ts`` over entries with ``ts - D < ts_e <= ts``.
* ``advance(wm)`` announces the engine watermark (max event ts - lateness).
  Only events with ``ts >= wm`` ("allowed" events) may be queried afterwards;
  entries with ``ts_e <= wm - D`` can then never be inside a query interval
  and are evicted (lazily on access + a bounded round-robin sweep).
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
* ``SequenceState``: an event completes the chain when it matches the last
  step and earlier events (arrival order, same key) matched the steps before
  it with ``e.ts - first.ts <= within`` (docs/semantics.md).  Intermediate
  steps are not time-checked, so out-of-order arrivals within the lateness
  behave exactly like that definition.  Start timestamps are dropped when
  ``start < wm - within`` (strictly: an allowed event at ``ts == wm`` can
  still complete a chain that started at exactly ``wm - within``).
"""

from __future__ import annotations

import struct
import sys
from bisect import bisect_right
from operator import index as _index

__all__ = ["WindowState", "SequenceState", "stable_hash", "advance_all", "AGGREGATES",
           "DEFAULT_SWEEP_BUDGET", "COMPILED"]

COMPILED = False

AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")
_AGG_CODE = {name: i for i, name in enumerate(AGGREGATES)}
_COUNT, _SUM, _AVG, _MIN, _MAX, _DISTINCT, _LAST, _SINCE = range(8)

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U64 = (1 << 64) - 1
_MAX_ENTRIES_PER_KEY = 1 << 30

#: default number of slots visited by the incremental sweep per advance() call
DEFAULT_SWEEP_BUDGET = 8
#: the slot table is compacted at the end of a sweep cycle when
#: ``4 * len(self) <= slots_in_use`` and ``slots_in_use > _COMPACT_MIN``
_COMPACT_MIN = 32

_FREE = object()  # marker for a free slot in the slot->key list


def _i64(x) -> int:
    """int64 conversion with the extension's rules (``__index__`` only)."""
    v = _index(x)
    if v < _I64_MIN or v > _I64_MAX:
        raise OverflowError("value does not fit in a signed 64-bit integer")
    return v


def _f64(x) -> float:
    if isinstance(x, (str, bytes, bytearray)):
        raise TypeError("must be real number, not %s" % type(x).__name__)
    return float(x)


# --------------------------------------------------------------------------
# stable_hash
# --------------------------------------------------------------------------

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_CANON_NAN = 0x7FF8000000000000
_pack_q = struct.Struct("<q").pack
_pack_Q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack
_unpack_Q = struct.Struct("<Q").unpack


def _fnv(h: int, data: bytes) -> int:
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _U64
    return h


_MAX_HASH_DEPTH = 100


def _hash_u64(value, depth=0) -> int:
    t = type(value)
    if t is str or isinstance(value, str):
        return _fnv(_fnv(_FNV_OFFSET, b"s"), value.encode("utf-8", "surrogatepass"))
    if t is int or t is bool or isinstance(value, int):
        v = int(value)
        if _I64_MIN <= v <= _I64_MAX:
            return _fnv(_fnv(_FNV_OFFSET, b"i"), _pack_q(v))
        return _fnv(_fnv(_FNV_OFFSET, b"I"), str(v).encode("ascii"))
    if t is float or isinstance(value, float):
        f = float(value)
        if f == f and -9223372036854775808.0 <= f < 9223372036854775808.0 and f == int(f):
            # integral floats hash like the equal int (1.0 == 1, -0.0 == 0)
            return _fnv(_fnv(_FNV_OFFSET, b"i"), _pack_q(int(f)))
        bits = _CANON_NAN if f != f else _unpack_Q(_pack_d(f))[0]
        return _fnv(_fnv(_FNV_OFFSET, b"f"), _pack_Q(bits))
    if value is None:
        return _fnv(_FNV_OFFSET, b"n")
    if t is bytes or t is bytearray or isinstance(value, (bytes, bytearray)):
        return _fnv(_fnv(_FNV_OFFSET, b"b"), bytes(value))
    if t is tuple or isinstance(value, tuple):
        if depth >= _MAX_HASH_DEPTH:
            raise ValueError("stable_hash: tuples nested deeper than %d" % _MAX_HASH_DEPTH)
        h = _fnv(_fnv(_FNV_OFFSET, b"t"), _pack_q(len(value)))
        for item in value:
            h = _fnv(h, _pack_Q(_hash_u64(item, depth + 1)))
        return h
    raise TypeError("stable_hash: unsupported type %s" % t.__name__)


def stable_hash(value) -> int:
    """Stable, process-independent signed 64-bit hash (FNV-1a 64).

    Encoding fed to FNV-1a 64 (offset 0xcbf29ce484222325, prime 0x100000001b3):

    * ``str``: ``b"s"`` + UTF-8 (``surrogatepass``) bytes
    * ``int``/``bool`` in int64 range: ``b"i"`` + 8-byte little-endian two's
      complement; bigger ints: ``b"I"`` + ASCII decimal ``str(v)``
    * ``float``: integral finite floats in int64 range hash exactly like the
      equal int (``1.0`` ~ ``1``, ``-0.0`` ~ ``0``); other floats ``b"f"`` +
      8-byte LE IEEE-754 bits (all NaNs canonicalised to 0x7ff8000000000000)
    * ``None``: ``b"n"``
    * ``bytes``/``bytearray``: ``b"b"`` + raw bytes
    * ``tuple``: ``b"t"`` + 8-byte LE length, then for each element the
      8-byte LE unsigned hash of the element (recursively)

    The unsigned 64-bit result is returned as a signed int64.  Other types
    raise ``TypeError``; tuples nested deeper than 100 raise ``ValueError``.
    """
    h = _hash_u64(value)
    return h - (1 << 64) if h >= (1 << 63) else h


# --------------------------------------------------------------------------
# WindowState
# --------------------------------------------------------------------------


class WindowState:
    """Sliding event-time window aggregate, per key (pure-Python twin)."""

    __slots__ = (
        "agg", "duration_ms", "lateness_ms", "is_float", "_kind", "_keep_last",
        "_map", "_skeys", "_ts", "_vals", "_free", "_cursor", "_n_entries",
        "_has_wm", "_wm", "_has_cutoff", "_cutoff",
    )

    def __init__(self, agg, duration_ms, lateness_ms=0, is_float=False):
        if agg not in _AGG_CODE:
            raise ValueError("unknown aggregate %r (expected one of %s)" % (agg, ", ".join(AGGREGATES)))
        duration_ms = _i64(duration_ms)
        lateness_ms = _i64(lateness_ms)
        if duration_ms <= 0:
            raise ValueError("duration_ms must be > 0")
        if lateness_ms < 0:
            raise ValueError("lateness_ms must be >= 0")
        self.agg = str(agg)
        self.duration_ms = duration_ms
        self.lateness_ms = lateness_ms
        self.is_float = bool(is_float)
        self._kind = _AGG_CODE[agg]
        self._keep_last = self._kind in (_LAST, _SINCE)
        self._reset()

    def _reset(self):
        self._map = {}
        self._skeys = []       # slot -> key, or _FREE
        self._ts = []          # slot -> list of ts (sorted), or None when free
        self._vals = []        # slot -> list of values, or None when free
        self._free = []        # LIFO stack of free slot numbers
        self._cursor = 0
        self._n_entries = 0
        self._has_wm = False
        self._wm = 0
        self._has_cutoff = False
        self._cutoff = 0

    # -- introspection -----------------------------------------------------
    @property
    def watermark(self):
        """Last watermark passed to advance(), or None."""
        return self._wm if self._has_wm else None

    def __len__(self):
        return len(self._map)

    def __repr__(self):
        return "<%s %s D=%d L=%d float=%s keys=%d entries=%d>" % (
            type(self).__name__, self.agg, self.duration_ms, self.lateness_ms,
            self.is_float, len(self._map), self._n_entries)

    def entry_count(self):
        return self._n_entries

    def keys(self):
        return iter(list(self._map))

    def nbytes(self):
        """Rough estimate of the memory held by this pure-Python state."""
        gs = sys.getsizeof
        total = gs(self._map) + gs(self._skeys) + gs(self._ts) + gs(self._vals) + gs(self._free)
        total += 32 * len(self._map)                      # slot-number int objects
        for tl in self._ts:
            if tl is not None:
                total += gs(tl) + 32 * len(tl)            # list + int objects
        for vl in self._vals:
            if vl is not None:
                total += gs(vl) + 32 * len(vl)
        return total

    # -- internals -----------------------------------------------------------
    def _conv(self, value):
        if self._kind == _COUNT:
            return 0
        return _f64(value) if self.is_float else _i64(value)

    def _evict(self, slot):
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

    def _new_slot(self, key):
        if self._free:
            slot = self._free.pop()
            self._skeys[slot] = key
            self._ts[slot] = []
            self._vals[slot] = []
        else:
            slot = len(self._skeys)
            if slot >= (1 << 31) - 1:
                raise MemoryError("too many keys")
            self._skeys.append(key)
            self._ts.append([])
            self._vals.append([])
        self._map[key] = slot
        return slot

    def _free_slot(self, slot):
        del self._map[self._skeys[slot]]
        self._n_entries -= len(self._ts[slot])
        self._skeys[slot] = _FREE
        self._ts[slot] = None
        self._vals[slot] = None
        self._free.append(slot)

    def _sweep_slot(self, slot):
        if self._ts[slot] is None:
            return False
        self._evict(slot)
        if not self._ts[slot]:
            self._free_slot(slot)
            return True
        return False

    def _maybe_compact(self):
        n_used = len(self._skeys)
        active = len(self._map)
        if active == 0:
            if n_used:
                self._map = {}               # an emptied dict keeps its table
                self._skeys = []
                self._ts = []
                self._vals = []
                self._free = []
            self._cursor = 0
            return
        if n_used > _COMPACT_MIN and 4 * active <= n_used:
            skeys, tsl, vals = [], [], []
            m = self._map
            for slot, key in enumerate(self._skeys):
                if key is _FREE:
                    continue
                m[key] = len(skeys)
                skeys.append(key)
                tsl.append(self._ts[slot])
                vals.append(self._vals[slot])
            self._skeys, self._ts, self._vals = skeys, tsl, vals
            self._map = dict(self._map)      # dicts never shrink on deletion
            self._free = []
            self._cursor = 0

    def _sweep(self, budget):
        done = 0
        while done < budget:
            if self._cursor >= len(self._skeys):
                self._cursor = 0
                self._maybe_compact()
                if not self._skeys:
                    return
            slot = self._cursor
            self._cursor += 1
            done += 1
            if self._sweep_slot(slot) and not self._map:
                self._maybe_compact()     # last key gone: release everything now
                return

    # -- public API ----------------------------------------------------------
    def advance(self, watermark_ts, budget=DEFAULT_SWEEP_BUDGET):
        """Watermark moved to ``watermark_ts``; sweep up to ``budget`` slots.

        Non-increasing watermarks are ignored (no sweep either).
        """
        wm = _i64(watermark_ts)
        budget = _i64(budget)
        if self._has_wm and wm <= self._wm:
            return None
        self._has_wm = True
        self._wm = wm
        if wm >= _I64_MIN + self.duration_ms:
            self._has_cutoff = True
            self._cutoff = wm - self.duration_ms
        if budget > 0:
            self._sweep(budget)
        return None

    def sweep(self):
        """Full sweep: evict every key, free empty keys, compact the slot table."""
        for slot in range(len(self._skeys)):
            self._sweep_slot(slot)
        self._cursor = 0
        self._maybe_compact()

    def add(self, key, ts, value=0):
        ts = _i64(ts)
        v = self._conv(value)
        slot = self._map.get(key)
        if self._has_cutoff and ts <= self._cutoff:
            return None  # already expired for every allowed query: drop it
        if slot is None:
            slot = self._new_slot(key)
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
        self._evict(slot)
        return None

    def query(self, key, ts, value=0, include_current=False):
        ts = _i64(ts)
        kind = self._kind
        cur = bool(include_current) and kind not in (_LAST, _SINCE)
        cv = self._conv(value) if (cur and kind != _COUNT) else 0
        slot = self._map.get(key)
        if slot is None:
            tl = vl = ()
            lo = hi = 0
        else:
            self._evict(slot)
            tl = self._ts[slot]
            vl = self._vals[slot]
            hi = bisect_right(tl, ts)
            if ts >= _I64_MIN + self.duration_ms:
                lo = bisect_right(tl, ts - self.duration_ms, 0, hi)
            else:
                lo = 0
        if kind == _COUNT:
            return hi - lo + (1 if cur else 0)
        if kind == _SUM or kind == _AVG:
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
        if kind == _MIN or kind == _MAX:
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
                seen = set()
                for v in vals:
                    if v != v:
                        seen.add("nan")
                    elif v == 0.0:
                        seen.add(0.0)
                    else:
                        seen.add(v)
                return len(seen)
            return len(set(vals))
        # last / since
        if hi > lo:
            if kind == _LAST:
                return vl[hi - 1]
            return ts - tl[hi - 1]
        return None

    def query_add(self, key, ts, value=0, include_current=False):
        """``query(...)`` followed by ``add(key, ts, value)``; returns the query result."""
        r = self.query(key, ts, value, include_current)
        self.add(key, ts, value)
        return r

    def clear(self):
        """Drop all keys and entries and forget the watermark (fresh state)."""
        self._reset()

    def dump(self):
        """Exact stored content: ``[(key, [(ts, value), ...]), ...]`` in key order."""
        out = []
        for key, slot in self._map.items():
            out.append((key, list(zip(self._ts[slot], self._vals[slot]))))
        return out

    def load(self, items):
        """Replace the state with ``items`` (as produced by :meth:`dump`).

        The watermark is reset (no eviction happens while loading); entries are
        inserted in the given order (stable for equal timestamps).
        """
        self._reset()
        for key, entries in items:
            slot = self._map.get(key)
            if slot is None:
                slot = self._new_slot(key)
            for ts, value in entries:
                self.add(key, ts, value)

    def __getstate__(self):
        return {"config": (self.agg, self.duration_ms, self.lateness_ms, self.is_float),
                "watermark": self.watermark, "items": self.dump()}

    def __setstate__(self, state):
        agg, d, l, f = state["config"]
        WindowState.__init__(self, agg, d, l, f)
        self.load(state["items"])
        wm = state["watermark"]
        if wm is not None:
            self.advance(wm, 0)

    def __reduce__(self):
        return (WindowState, (self.agg, self.duration_ms, self.lateness_ms, self.is_float),
                self.__getstate__())


# --------------------------------------------------------------------------
# SequenceState
# --------------------------------------------------------------------------


def _as_mask(matches, n_steps):
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


class SequenceState:
    """Per-key chain detection over arrival order (pure-Python twin).

    ``matches`` is either an int bitmask (bit ``i`` set <=> the event
    satisfies step ``i``; taken modulo ``2**n_steps``, so higher bits are
    ignored and negative ints act as two's complement; fastest) or a sequence
    of exactly ``n_steps`` truthy/falsy values.
    """

    __slots__ = ("n_steps", "within_ms", "_m", "_map", "_skeys", "_starts", "_free",
                 "_cursor", "_has_wm", "_wm", "_has_cutoff", "_cutoff")

    def __init__(self, n_steps, within_ms):
        n_steps = _i64(n_steps)
        within_ms = _i64(within_ms)
        if not 1 <= n_steps <= 64:
            raise ValueError("n_steps must be in 1..64")
        if within_ms < 0:
            raise ValueError("within_ms must be >= 0")
        self.n_steps = n_steps
        self.within_ms = within_ms
        self._m = n_steps - 1
        self._reset()

    def _reset(self):
        self._map = {}
        self._skeys = []
        self._starts = []     # slot -> list of m (int or None), None when free
        self._free = []
        self._cursor = 0
        self._has_wm = False
        self._wm = 0
        self._has_cutoff = False
        self._cutoff = 0

    @property
    def watermark(self):
        return self._wm if self._has_wm else None

    def __len__(self):
        return len(self._map)

    def __repr__(self):
        return "<%s steps=%d within=%d keys=%d>" % (type(self).__name__, self.n_steps,
                                                   self.within_ms, len(self._map))

    def keys(self):
        return iter(list(self._map))

    def nbytes(self):
        gs = sys.getsizeof
        total = gs(self._map) + gs(self._skeys) + gs(self._starts) + gs(self._free)
        total += 32 * len(self._map)
        for st in self._starts:
            if st is not None:
                total += gs(st) + 32 * self._m
        return total

    def _ok(self, ts, start):
        # ts - start <= within  <=>  start >= ts - within
        return start is not None and ts - start <= self.within_ms

    def query(self, key, ts, matches):
        ts = _i64(ts)
        mask = _as_mask(matches, self.n_steps)
        m = self._m
        if not (mask >> m) & 1:
            return False
        if m == 0:
            return True
        slot = self._map.get(key)
        if slot is None:
            return False
        return self._ok(ts, self._starts[slot][m - 1])

    def add(self, key, ts, matches):
        ts = _i64(ts)
        mask = _as_mask(matches, self.n_steps)
        m = self._m
        if m == 0:
            return None
        slot = self._map.get(key)
        if slot is None:
            if not mask & 1:
                return None
            slot = self._new_slot(key)
        st = self._starts[slot]
        for i in range(m - 1, 0, -1):
            if (mask >> i) & 1:
                prev = st[i - 1]
                if prev is not None and (st[i] is None or prev > st[i]):
                    st[i] = prev
        if mask & 1:
            if st[0] is None or ts > st[0]:
                st[0] = ts
        return None

    def query_add(self, key, ts, matches):
        r = self.query(key, ts, matches)
        self.add(key, ts, matches)
        return r

    def _new_slot(self, key):
        if self._free:
            slot = self._free.pop()
            self._skeys[slot] = key
            self._starts[slot] = [None] * self._m
        else:
            slot = len(self._skeys)
            if slot >= (1 << 31) - 1:
                raise MemoryError("too many keys")
            self._skeys.append(key)
            self._starts.append([None] * self._m)
        self._map[key] = slot
        return slot

    def _sweep_slot(self, slot):
        st = self._starts[slot]
        if st is None:
            return False
        if self._has_cutoff:
            c = self._cutoff
            for i in range(self._m):
                if st[i] is not None and st[i] < c:
                    st[i] = None
        if st[0] is None:
            del self._map[self._skeys[slot]]
            self._skeys[slot] = _FREE
            self._starts[slot] = None
            self._free.append(slot)
            return True
        return False

    def _maybe_compact(self):
        n_used = len(self._skeys)
        active = len(self._map)
        if active == 0:
            if n_used:
                self._map = {}               # an emptied dict keeps its table
                self._skeys = []
                self._starts = []
                self._free = []
            self._cursor = 0
            return
        if n_used > _COMPACT_MIN and 4 * active <= n_used:
            skeys, starts = [], []
            mp = self._map
            for slot, key in enumerate(self._skeys):
                if key is _FREE:
                    continue
                mp[key] = len(skeys)
                skeys.append(key)
                starts.append(self._starts[slot])
            self._skeys, self._starts = skeys, starts
            self._map = dict(self._map)      # dicts never shrink on deletion
            self._free = []
            self._cursor = 0

    def _sweep(self, budget):
        done = 0
        while done < budget:
            if self._cursor >= len(self._skeys):
                self._cursor = 0
                self._maybe_compact()
                if not self._skeys:
                    return
            slot = self._cursor
            self._cursor += 1
            done += 1
            if self._sweep_slot(slot) and not self._map:
                self._maybe_compact()     # last key gone: release everything now
                return

    def advance(self, watermark_ts, budget=DEFAULT_SWEEP_BUDGET):
        wm = _i64(watermark_ts)
        budget = _i64(budget)
        if self._has_wm and wm <= self._wm:
            return None
        self._has_wm = True
        self._wm = wm
        if wm >= _I64_MIN + self.within_ms:
            self._has_cutoff = True
            self._cutoff = wm - self.within_ms
        if budget > 0:
            self._sweep(budget)
        return None

    def sweep(self):
        for slot in range(len(self._skeys)):
            self._sweep_slot(slot)
        self._cursor = 0
        self._maybe_compact()

    def clear(self):
        self._reset()

    def dump(self):
        """``[(key, [start_0_or_None, ..., start_{n-2}_or_None]), ...]``."""
        return [(key, list(self._starts[slot])) for key, slot in self._map.items()]

    def load(self, items):
        self._reset()
        m = self._m
        for key, starts in items:
            starts = list(starts)
            if len(starts) != m:
                raise ValueError("expected %d start values for key %r" % (m, key))
            conv = [None if s is None else _i64(s) for s in starts]
            if m == 0:
                continue
            slot = self._map.get(key)
            if slot is None:
                slot = self._new_slot(key)
            self._starts[slot] = conv

    def __getstate__(self):
        return {"config": (self.n_steps, self.within_ms), "watermark": self.watermark,
                "items": self.dump()}

    def __setstate__(self, state):
        n, w = state["config"]
        SequenceState.__init__(self, n, w)
        self.load(state["items"])
        wm = state["watermark"]
        if wm is not None:
            self.advance(wm, 0)

    def __reduce__(self):
        return (SequenceState, (self.n_steps, self.within_ms), self.__getstate__())


def advance_all(states, watermark_ts, budget=DEFAULT_SWEEP_BUDGET):
    """``s.advance(watermark_ts, budget)`` for every state in ``states``."""
    wm = _i64(watermark_ts)
    budget = _i64(budget)
    for s in states:
        s.advance(wm, budget)
