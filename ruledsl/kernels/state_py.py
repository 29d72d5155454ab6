"""Pure-Python twin of :mod:`ruledsl.kernels._state` (windowed aggregation kernels).

This module has exactly the same public API and produces exactly the same
results as the Cython extension.  It is used when the extension is not built
or when ``RULEDSL_NO_EXTENSIONS=1`` is set; import the classes through
:mod:`ruledsl.kernels.state`, which picks the implementation.

The internal bookkeeping (slot numbering, free list, expiry queue, slot-table
compaction, lazy eviction points) deliberately mirrors the Cython kernel step
by step, so that not only query results but also ``len()``,
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
  and are evicted (lazily on access + a bounded expiry-queue sweep).
* Expiry queue: every active key's slot is once in a FIFO and remembers a
  value ``exp``: its newest timestamp when it was queued (windows: the newest
  entry's ts, kept as ``_q_encode`` bits and read back rounded up to
  ``2**max(0, D.bit_length() - 20)`` ms; sequences: the step-0 start), queued
  when the key is created.  ``advance(wm, budget)`` pops at most ``budget``
  slots (each at most once) from the front while they are due
  (``exp <= wm - D``; sequences ``exp < wm - within``): a key whose data all
  expired is freed, any other is evicted and re-queued with its current
  newest timestamp.  Keys that cannot have expired are never visited.  When
  something was freed, the slot table is compacted if at most 1/4 of it is
  in use.  ``last``/``since`` windows also keep a min-heap of (second entry
  ts, slot) so that ``advance`` drops dominated entries (below) of keys
  nobody touches, at most ``budget`` keys per call.
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
from collections import deque
from heapq import heapify, heappop, heappush
from operator import index as _index

__all__ = [
    "AGGREGATES",
    "COMPILED",
    "DEFAULT_SWEEP_BUDGET",
    "SequenceState",
    "WindowState",
    "advance_all",
    "stable_hash",
]

COMPILED = False

AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")
_AGG_CODE = {name: i for i, name in enumerate(AGGREGATES)}
_COUNT, _SUM, _AVG, _MIN, _MAX, _DISTINCT, _LAST, _SINCE = range(8)

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U64 = (1 << 64) - 1
_MAX_ENTRIES_PER_KEY = 1 << 30

#: default number of expiry-queue entries popped per advance() call
DEFAULT_SWEEP_BUDGET = 8
#: after advance() freed a key (and after sweep()) the slot table is compacted
#: when ``4 * len(self) <= slots_in_use`` and ``slots_in_use > _COMPACT_MIN``
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
# expiry queue (shared)
# --------------------------------------------------------------------------


class _ExpiryQueue:
    """The expiry queue of both kernels: a FIFO of slot numbers holding every
    active slot once.  Subclasses provide ``_sweep_slot`` (evict; free and
    return True if now empty), ``_slot_expiry`` (newest ts), ``_q_set`` /
    ``_q_get`` (the slot's queue value) and ``_maybe_compact`` (which calls
    ``_q_remap``)."""

    __slots__ = ()
    _STRICT = False  # sequences: due iff value < cutoff

    def _q_push(self, exp, slot):
        self._q_set(slot, exp)
        self._q.append(slot)

    def _expire(self, budget):
        if not self._has_cutoff:
            return
        q = self._q
        cutoff = self._cutoff
        strict = self._STRICT
        limit = min(budget, len(q))  # each entry at most once per call
        done = 0
        freed = False
        while done < limit:
            slot = q[0]
            exp = self._q_get(slot)
            if exp > cutoff or (strict and exp == cutoff):
                break
            q.popleft()
            done += 1
            if self._sweep_slot(slot):
                freed = True
            else:
                self._q_push(self._slot_expiry(slot), slot)
        if freed:
            self._maybe_compact()

    def _q_drop_freed(self):
        # after a full sweep: drop the entries of freed slots (order kept)
        self._q = deque(slot for slot in self._q if self._skeys[slot] is not _FREE)

    def _q_remap(self, remap):
        self._q = deque(remap[slot] for slot in self._q)

    def _q_refresh(self):
        # after load(): reset every value from the slot, sort by (value, slot)
        for slot in self._q:
            self._q_set(slot, self._slot_expiry(slot))
        self._q = deque(slot for _, slot in sorted((self._q_get(slot), slot) for slot in self._q))


def _q_encode(v, shift):
    """A window slot's queue value in 31 bits (see ``_q_decode``)."""
    return (v >> shift) & 0x7FFFFFFF


def _q_decode(newest, bits, shift):
    """The largest multiple of ``2**shift`` <= ``newest`` whose ``>> shift``
    has the low 31 bits ``bits``: the queue value rounded down, given that
    ``newest`` is above it by less than ``2**(31 + shift)``."""
    nu = newest >> shift
    nu -= (nu - bits) & 0x7FFFFFFF
    if nu < (_I64_MIN >> shift):
        return _I64_MIN
    return nu << shift


# --------------------------------------------------------------------------
# WindowState
# --------------------------------------------------------------------------


class WindowState(_ExpiryQueue):
    """Sliding event-time window aggregate, per key (pure-Python twin)."""

    __slots__ = (
        "_cutoff",
        "_dflag",
        "_dq",
        "_free",
        "_has_cutoff",
        "_has_wm",
        "_keep_last",
        "_kind",
        "_map",
        "_n_entries",
        "_q",
        "_qbits",
        "_qshift",
        "_skeys",
        "_ts",
        "_vals",
        "_wm",
        "agg",
        "duration_ms",
        "is_float",
        "lateness_ms",
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
        self._qshift = max(0, duration_ms.bit_length() - 20)
        self._reset()

    def _reset(self):
        self._map = {}
        self._skeys = []  # slot -> key, or _FREE
        self._ts = []  # slot -> list of ts (sorted), or None when free
        self._vals = []  # slot -> list of values, or None when free
        self._free = []  # LIFO stack of free slot numbers
        self._q = deque()  # expiry queue of slots
        self._qbits = []  # slot -> its queue value, _q_encode'd
        # last/since: dominance min-heap of (lower bound of the second entry
        # ts, slot), at least one entry for every slot with >= 2 entries;
        # _dflag[slot] marks slots with an entry (stale entries of freed
        # slots are skipped)
        self._dq = []
        self._dflag = []
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
            type(self).__name__,
            self.agg,
            self.duration_ms,
            self.lateness_ms,
            self.is_float,
            len(self._map),
            self._n_entries,
        )

    def entry_count(self):
        return self._n_entries

    def keys(self):
        return iter(list(self._map))

    def nbytes(self):
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

    def _new_slot(self, key, exp):
        if self._free:
            slot = self._free.pop()
            self._skeys[slot] = key
            self._ts[slot] = []
            self._vals[slot] = []
            self._dflag[slot] = False
            self._qbits[slot] = 0
        else:
            slot = len(self._skeys)
            if slot >= (1 << 31) - 1:
                raise MemoryError("too many keys")
            self._skeys.append(key)
            self._ts.append([])
            self._vals.append([])
            self._dflag.append(False)
            self._qbits.append(0)
        self._map[key] = slot
        self._q_push(exp, slot)
        return slot

    def _slot_expiry(self, slot):
        tl = self._ts[slot]
        return tl[-1] if tl else _I64_MIN

    def _q_set(self, slot, exp):
        self._qbits[slot] = _q_encode(exp, self._qshift)

    def _q_get(self, slot):
        # rounded up: a slot never comes due before its value (at most 2**shift - 1 ms late)
        tl = self._ts[slot]
        if not tl:
            return _I64_MIN
        return min(_I64_MAX, _q_decode(tl[-1], self._qbits[slot], self._qshift) + (1 << self._qshift) - 1)

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
                self._map = {}  # an emptied dict keeps its table
                self._skeys = []
                self._ts = []
                self._vals = []
                self._free = []
                self._dflag = []
                self._qbits = []
            self._q = deque()
            self._dq = []
            return
        if n_used > _COMPACT_MIN and 4 * active <= n_used:
            skeys, tsl, vals, flags, qbits = [], [], [], [], []
            remap = {}
            m = self._map
            for slot, key in enumerate(self._skeys):
                if key is _FREE:
                    continue
                remap[slot] = m[key] = len(skeys)
                skeys.append(key)
                tsl.append(self._ts[slot])
                vals.append(self._vals[slot])
                flags.append(self._dflag[slot])
                qbits.append(self._qbits[slot])
            self._skeys, self._ts, self._vals, self._dflag, self._qbits = skeys, tsl, vals, flags, qbits
            self._map = dict(self._map)  # dicts never shrink on deletion
            self._free = []
            self._q_remap(remap)
            self._dq = [(v, remap[slot]) for v, slot in self._dq if slot in remap]
            heapify(self._dq)

    # -- public API ----------------------------------------------------------
    def advance(self, watermark_ts, budget=DEFAULT_SWEEP_BUDGET):
        """Watermark moved to ``watermark_ts``; pop up to ``budget`` due
        expiry-queue entries (free or re-queue those keys).

        Non-increasing watermarks are ignored (no eviction either).
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
            self._expire(budget)
            self._expire_extra(budget)
        return None

    def sweep(self):
        """Full sweep: evict every key, free empty keys, compact the slot table."""
        for slot in range(len(self._skeys)):
            self._sweep_slot(slot)
        self._q_drop_freed()
        self._maybe_compact()

    def add(self, key, ts, value=0):
        ts = _i64(ts)
        v = self._conv(value)
        self._store(key, self._map.get(key), ts, v)
        return None

    def _store(self, key, slot, ts, v):
        if self._has_cutoff and ts <= self._cutoff:
            return None  # already expired for every allowed query: drop it
        if slot is None:
            slot = self._new_slot(key, ts)
        tl = self._ts[slot]
        if len(tl) >= _MAX_ENTRIES_PER_KEY:
            raise MemoryError("too many entries for one key")
        old2 = tl[1] if self._keep_last and len(tl) >= 2 else _I64_MAX
        if not tl or tl[-1] <= ts:
            tl.append(ts)
            self._vals[slot].append(v)
        else:
            pos = bisect_right(tl, ts)
            tl.insert(pos, ts)
            self._vals[slot].insert(pos, v)
        self._n_entries += 1
        self._evict(slot)
        if self._keep_last and len(tl) >= 2:
            # the dominance heap needs an entry whose value is <= the second ts
            if not self._dflag[slot] or tl[1] < old2:
                heappush(self._dq, (tl[1], slot))
                self._dflag[slot] = True
        return None

    def _expire_extra(self, budget):
        # last/since: pop dominance-heap entries with value <= watermark
        # (smallest (value, slot) first) and evict those keys (re-pushed while
        # they still hold >= 2 entries)
        if not self._keep_last or not self._has_wm:
            return
        dq = self._dq
        wm = self._wm
        done = 0
        while done < budget and dq and dq[0][0] <= wm:
            _, slot = heappop(dq)
            done += 1
            if slot >= len(self._skeys) or self._skeys[slot] is _FREE:
                continue  # stale: the slot was freed
            self._dflag[slot] = False
            self._evict(slot)
            tl = self._ts[slot]
            if len(tl) >= 2:
                heappush(dq, (tl[1], slot))
                self._dflag[slot] = True

    def _find(self, key):
        slot = self._map.get(key)
        if slot is not None:
            self._evict(slot)
        return slot

    def query(self, key, ts, value=0, include_current=False):
        ts = _i64(ts)
        kind = self._kind
        cur = bool(include_current) and kind not in (_LAST, _SINCE)
        cv = self._conv(value) if (cur and kind != _COUNT) else 0
        return self._result(self._find(key), ts, cur, cv)

    def _result(self, slot, ts, cur, cv):
        kind = self._kind
        if slot is None:
            tl = vl = ()
            lo = hi = 0
        else:
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
        """``query(...)`` followed by ``add(key, ts, value)`` with one key
        lookup; returns the query result.  ts and value are converted first,
        so a value ``add`` would reject raises before anything is queried."""
        ts = _i64(ts)
        cur = bool(include_current) and self._kind not in (_LAST, _SINCE)
        v = self._conv(value)
        slot = self._find(key)
        r = self._result(slot, ts, cur, v)
        self._store(key, slot, ts, v)
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
                slot = self._new_slot(key, _I64_MIN)
            for ts, value in entries:
                self.add(key, ts, value)
        self._q_refresh()

    def __getstate__(self):
        return {
            "config": (self.agg, self.duration_ms, self.lateness_ms, self.is_float),
            "watermark": self.watermark,
            "items": self.dump(),
        }

    def __setstate__(self, state):
        agg, d, l, f = state["config"]
        WindowState.__init__(self, agg, d, l, f)
        self.load(state["items"])
        wm = state["watermark"]
        if wm is not None:
            self.advance(wm, 0)

    def __reduce__(self):
        return (WindowState, (self.agg, self.duration_ms, self.lateness_ms, self.is_float), self.__getstate__())


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


class SequenceState(_ExpiryQueue):
    """Per-key chain detection over arrival order (pure-Python twin).

    ``matches`` is either an int bitmask (bit ``i`` set <=> the event
    satisfies step ``i``; taken modulo ``2**n_steps``, so higher bits are
    ignored and negative ints act as two's complement; fastest) or a sequence
    of exactly ``n_steps`` truthy/falsy values.
    """

    __slots__ = (
        "_cutoff",
        "_free",
        "_has_cutoff",
        "_has_wm",
        "_m",
        "_map",
        "_q",
        "_qexp",
        "_skeys",
        "_starts",
        "_wm",
        "n_steps",
        "within_ms",
    )
    _STRICT = True  # a start is dropped when start < wm - within

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
        self._starts = []  # slot -> list of m (int or None), None when free
        self._free = []
        self._q = deque()  # expiry queue of slots
        self._qexp = []  # slot -> its queue value (a lower bound of the step-0 start)
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
        return "<%s steps=%d within=%d keys=%d>" % (type(self).__name__, self.n_steps, self.within_ms, len(self._map))

    def keys(self):
        return iter(list(self._map))

    def nbytes(self):
        gs = sys.getsizeof
        total = gs(self._map) + gs(self._skeys) + gs(self._starts) + gs(self._free)
        total += 32 * len(self._map) + gs(self._q) + gs(self._qexp) + 32 * len(self._q)
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
        return self._completes(self._map.get(key), ts, mask)

    def _completes(self, slot, ts, mask):
        m = self._m
        if not (mask >> m) & 1:
            return False
        if m == 0:
            return True
        if slot is None:
            return False
        return self._ok(ts, self._starts[slot][m - 1])

    def add(self, key, ts, matches):
        ts = _i64(ts)
        mask = _as_mask(matches, self.n_steps)
        if self._m == 0:
            return None
        self._step(key, self._map.get(key), ts, mask)
        return None

    def _step(self, key, slot, ts, mask):
        m = self._m
        if slot is None:
            if not mask & 1:
                return None
            slot = self._new_slot(key, ts)
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
        """``query(...)`` then ``add(...)`` with one key lookup (matches read once)."""
        ts = _i64(ts)
        mask = _as_mask(matches, self.n_steps)
        if self._m == 0:
            return bool(mask & 1)
        slot = self._map.get(key)
        r = self._completes(slot, ts, mask)
        self._step(key, slot, ts, mask)
        return r

    def _slot_expiry(self, slot):
        s0 = self._starts[slot][0]
        return _I64_MIN if s0 is None else s0

    def _q_set(self, slot, exp):
        self._qexp[slot] = exp

    def _q_get(self, slot):
        return self._qexp[slot]

    def _new_slot(self, key, exp):
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
            self._qexp.append(0)
        self._map[key] = slot
        self._q_push(exp, slot)
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
                self._map = {}  # an emptied dict keeps its table
                self._skeys = []
                self._starts = []
                self._free = []
                self._qexp = []
            self._q = deque()
            return
        if n_used > _COMPACT_MIN and 4 * active <= n_used:
            skeys, starts, qexp = [], [], []
            remap = {}
            mp = self._map
            for slot, key in enumerate(self._skeys):
                if key is _FREE:
                    continue
                remap[slot] = mp[key] = len(skeys)
                skeys.append(key)
                starts.append(self._starts[slot])
                qexp.append(self._qexp[slot])
            self._skeys, self._starts, self._qexp = skeys, starts, qexp
            self._map = dict(self._map)  # dicts never shrink on deletion
            self._free = []
            self._q_remap(remap)

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
            self._expire(budget)
        return None

    def sweep(self):
        for slot in range(len(self._skeys)):
            self._sweep_slot(slot)
        self._q_drop_freed()
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
                slot = self._new_slot(key, _I64_MIN)
            self._starts[slot] = conv
        self._q_refresh()

    def __getstate__(self):
        return {"config": (self.n_steps, self.within_ms), "watermark": self.watermark, "items": self.dump()}

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
