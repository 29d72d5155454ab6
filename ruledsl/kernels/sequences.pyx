# cython: language_level=3, cdivision=True, nonecheck=False, overflowcheck=False
# cython: infer_types=False, auto_pickle=False, embedsignature=True, binding=False
"""Per-key sequence (chain) detection in arrival order (Cython hot path).

Pure-Python twin with identical API and results: :mod:`ruledsl.kernels.sequences_py`.
Import through :mod:`ruledsl.kernels.state`, which selects the implementation.

Memory layout: two slot-table columns, the exact queue values (the table's
default, 8 bytes per slot) and ``n_steps`` int64 words per slot: a validity
bitmask (bit i: start_i is set) and the ``n_steps - 1`` start timestamps.
"""

cimport cython
from libc.stdint cimport int64_t, uint64_t, INT64_MIN
from cpython.long cimport PyLong_AsUnsignedLongLongMask
from libc.string cimport memcpy

from ruledsl.kernels.convert cimport to_i64
from ruledsl.kernels.slots cimport FrozenSlots, SlotTable

__all__ = ["FrozenSequence", "SequenceState"]


@cython.final
cdef class SequenceState(SlotTable):
    """SequenceState(n_steps, within_ms)

    Per-key chain detection in arrival order.  ``matches`` is an int bitmask
    (bit i set <=> the event satisfies step i; taken modulo 2**n_steps, so
    negative ints act as two's complement; fastest) or a sequence of exactly
    n_steps truthy/falsy values.
    """
    cdef readonly int n_steps    # steps of the chain (1..64)
    cdef readonly int64_t within_ms  # last event ts - first step's ts must be <= within_ms
    cdef Py_ssize_t _m           # n_steps - 1 start timestamps per key
    cdef Py_ssize_t _stride      # int64 words per slot: 1 (bits) + _m
    cdef uint64_t _mask_all      # the low n_steps bits
    cdef int64_t* _rec           # column: per slot [bits, start_0, ..., start_{m-1}]

    def __init__(self, n_steps, within_ms):
        cdef int64_t n = to_i64(n_steps)
        cdef int64_t w = to_i64(within_ms)
        if n < 1 or n > 64:
            raise ValueError("n_steps must be in 1..64")
        if w < 0:
            raise ValueError("within_ms must be >= 0")
        # a start is dropped when start < wm - within (strictly): an allowed
        # event at ts == wm can still complete a chain that started then
        self._configure(w, True, True)
        self.n_steps = <int>n
        self.within_ms = w
        self._m = n - 1
        self._stride = n
        self._mask_all = <uint64_t>0xFFFFFFFFFFFFFFFF if n == 64 else (((<uint64_t>1) << n) - 1)
        self._add_column(<void**>&self._rec, <size_t>self._stride * sizeof(int64_t))

    # -- slot-table hooks ----------------------------------------------------------
    cdef void _init_slot(self, Py_ssize_t slot) noexcept:
        self._rec[slot * self._stride] = 0

    cdef bint _evict_slot(self, Py_ssize_t slot) noexcept:
        cdef int64_t* r = self._rec + slot * self._stride
        cdef uint64_t bits = <uint64_t>r[0]
        cdef Py_ssize_t i
        if self._has_cutoff:
            for i in range(self._m):
                if (bits >> i) & 1 and r[1 + i] < self._cutoff:
                    bits &= ~((<uint64_t>1) << i)
            r[0] = <int64_t>bits
        return (bits & 1) == 0

    cdef int64_t _newest(self, Py_ssize_t slot) noexcept:
        cdef int64_t* r = self._rec + slot * self._stride
        if <uint64_t>r[0] & 1:
            return r[1]
        return INT64_MIN

    # -- helpers -------------------------------------------------------------------
    cdef inline uint64_t _mask(self, object matches) except? 0xFFFFFFFFFFFFFFFF:
        cdef uint64_t m = 0
        cdef Py_ssize_t i = 0
        if isinstance(matches, int):
            return <uint64_t>PyLong_AsUnsignedLongLongMask(matches) & self._mask_all
        for flag in matches:
            if i >= self.n_steps:
                raise ValueError("matches has more than n_steps items")
            if flag:
                m |= (<uint64_t>1) << i
            i += 1
        if i != self.n_steps:
            raise ValueError("matches must have exactly n_steps items")
        return m

    cdef inline bint _ok(self, int64_t t, int64_t start) noexcept:
        # t - start <= within  <=>  start >= t - within (no overflow)
        if t < INT64_MIN + self.within_ms:
            return True
        return start >= t - self.within_ms

    cdef inline bint _completes(self, Py_ssize_t slot, int64_t t, uint64_t mask) noexcept:
        """query() once key has been looked up (slot = its slot or -1)."""
        cdef Py_ssize_t m = self._m
        cdef int64_t* r
        if not ((mask >> m) & 1):
            return False
        if m == 0:
            return True
        if slot < 0:
            return False
        r = self._rec + slot * self._stride
        if not ((<uint64_t>r[0] >> (m - 1)) & 1):
            return False
        return self._ok(t, r[m])

    cdef int _step(self, object key, Py_ssize_t slot, int64_t t, uint64_t mask) except -1:
        """add() once key has been looked up (slot = its slot or -1); n_steps > 1."""
        cdef Py_ssize_t i, m = self._m
        cdef int64_t* r
        cdef uint64_t bits
        if slot < 0:
            if not (mask & 1):
                return 0
            slot = self._new_slot(key, t)
        r = self._rec + slot * self._stride
        bits = <uint64_t>r[0]
        i = m - 1
        while i >= 1:
            if (mask >> i) & 1 and (bits >> (i - 1)) & 1:
                if not ((bits >> i) & 1) or r[i] > r[1 + i]:
                    r[1 + i] = r[i]
                    bits |= (<uint64_t>1) << i
            i -= 1
        if mask & 1:
            if not (bits & 1) or t > r[1]:
                r[1] = t
                bits |= 1
        r[0] = <int64_t>bits
        return 0

    # -- public API ------------------------------------------------------------------
    def query(self, key, ts, matches):
        """query(key, ts, matches) -> bool: does this event complete the chain?"""
        return self._query(key, to_i64(ts), matches)

    cdef object _query(self, object key, int64_t t, object matches):
        cdef uint64_t mask = self._mask(matches)
        if not ((mask >> self._m) & 1):
            return False
        if self._m == 0:
            return True
        return self._completes(self._lookup(key), t, mask)

    def add(self, key, ts, matches):
        """add(key, ts, matches) -> None: advance the chains with this event."""
        self._add(key, to_i64(ts), matches)
        return None

    cdef int _add(self, object key, int64_t t, object matches) except -1:
        cdef uint64_t mask = self._mask(matches)
        if self._m == 0:
            return 0
        self._step(key, self._lookup(key), t, mask)
        return 0

    def query_add(self, key, ts, matches):
        """query_add(key, ts, matches) -> bool

        ``query(key, ts, matches)`` then ``add(key, ts, matches)`` with one
        key lookup (matches is read once); returns the query result.
        """
        cdef int64_t t = to_i64(ts)
        cdef uint64_t mask = self._mask(matches)
        cdef Py_ssize_t slot
        cdef bint r
        if self._m == 0:
            return (mask & 1) != 0
        slot = self._lookup(key)
        r = self._completes(slot, t, mask)
        self._step(key, slot, t, mask)
        return r

    def nbytes(self):
        """Approximate memory: capacity * (8 * n_steps + 8) bytes of C memory
        (records, queue values; free slots are linked through the records),
        the in-use bitmap (1 bit per slot), the expiry queue (capacity * 4 B)
        plus the Python overhead (dict + slot->key list + 32 B per key)."""
        return self._table_nbytes()

    def clear(self):
        """Drop all keys and forget the watermark (fresh state)."""
        self._reset_table()

    def dump(self):
        """[(key, [start_0 or None, ..., start_{n-2} or None]), ...] in key order."""
        cdef list out = []
        cdef list starts
        cdef Py_ssize_t slot, i
        cdef int64_t* r
        cdef uint64_t bits
        for key, slot_obj in self._map.items():
            slot = slot_obj
            r = self._rec + slot * self._stride
            bits = <uint64_t>r[0]
            starts = []
            for i in range(self._m):
                if (bits >> i) & 1:
                    starts.append(r[1 + i])
                else:
                    starts.append(None)
            out.append((key, starts))
        return out

    def copy(self):
        """copy() -> FrozenSequence: a read-only copy whose dump() is this dump() now (keys in slot order).

        C copies only, quick enough to take under the engine's lock: the
        records column (into the previous copy's buffer once that is
        released), the in-use bitmap and references to the slot->key
        chunks, which the sequence copies before it changes one.
        """
        cdef FrozenSequence f = FrozenSequence.__new__(FrozenSequence)
        cdef size_t nb = <size_t>self._n_used * <size_t>self._stride * sizeof(int64_t)
        f._m = self._m
        f._stride = self._stride
        f._take(self)
        f._alloc(nb)
        if nb != 0:
            memcpy(f._buf, self._rec, nb)
        return f

    def load(self, items):
        """Replace the state with items as produced by dump() (watermark reset)."""
        cdef Py_ssize_t slot, i, m = self._m
        cdef int64_t* r
        cdef uint64_t bits
        self.clear()
        for key, starts in items:
            starts = list(starts)
            if len(starts) != m:
                raise ValueError("expected %d start values for key %r" % (m, key))
            conv = [None if x is None else to_i64(x) for x in starts]
            if m == 0:
                continue
            slot = self._lookup(key)
            if slot < 0:
                slot = self._new_slot(key, INT64_MIN)
            r = self._rec + slot * self._stride
            bits = 0
            for i in range(m):
                if conv[i] is not None:
                    r[1 + i] = conv[i]
                    bits |= (<uint64_t>1) << i
            r[0] = <int64_t>bits
        self._q_refresh()

    def __getstate__(self):
        return {"config": (self.n_steps, self.within_ms), "watermark": self.watermark,
                "items": self.dump()}

    def __setstate__(self, state):
        n, w = state["config"]
        self.__init__(n, w)
        self.load(state["items"])
        wm = state["watermark"]
        if wm is not None:
            self.advance(wm, 0)

    def __reduce__(self):
        return (SequenceState, (self.n_steps, self.within_ms), self.__getstate__())

    def __repr__(self):
        return "<%s steps=%d within=%d keys=%d>" % (type(self).__name__, self.n_steps,
                                                   self.within_ms, len(self._map))


@cython.final
cdef class FrozenSequence(FrozenSlots):
    """A read-only copy of a SequenceState, as ``SequenceState.copy()`` returns it.

    ``dump()``, ``dump_chunks(n)``, ``len()`` and ``watermark`` as the
    sequence had them when copied (see ``FrozenSlots``).
    """
    # _buf: a copy of the records column, per slot [bits, start_0, ..., start_{m-1}]
    cdef Py_ssize_t _m         # start timestamps per key
    cdef Py_ssize_t _stride    # int64 words per slot

    cdef object _entries(self, Py_ssize_t slot, int64_t* pos):
        cdef int64_t* r = (<int64_t*>self._buf) + slot * self._stride
        cdef uint64_t bits = <uint64_t>r[0]
        cdef list starts = []
        cdef Py_ssize_t i
        for i in range(self._m):
            if (bits >> i) & 1:
                starts.append(r[1 + i])
            else:
                starts.append(None)
        return starts


# -- the C entry points of compiled evaluators (sequences.pxd) -------------------------

cdef object sequence_query(object s, object key, int64_t t, object matches):
    return (<SequenceState?>s)._query(key, t, matches)


cdef int sequence_add(object s, object key, int64_t t, object matches) except -1:
    return (<SequenceState?>s)._add(key, t, matches)
