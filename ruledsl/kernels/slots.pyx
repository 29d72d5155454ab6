# cython: language_level=3, cdivision=True, nonecheck=False, overflowcheck=False
# cython: infer_types=False, auto_pickle=False, embedsignature=True, binding=False
"""The slot table shared by the window and sequence kernels (Cython).

Declared, field by field, in ``slots.pxd``; pure-Python twin:
:mod:`ruledsl.kernels.slots_py`.

Keys (any hashable object) map to an integer *slot* through a Python dict;
per-slot data lives in C arrays ("columns") that the kernel registers and the
table grows by doubling.  Freed slots go on a LIFO free list, linked through
the first int32 of their record in column 0 (the first one registered).

Expiry queue: a FIFO ring of slot numbers holding every active slot exactly
once, in push order.  Each slot remembers its queue value (``_q_set`` /
``_q_get``), a lower bound of the slot's newest timestamp (windows: newest
entry ts; sequences: the step-0 start) taken when the slot was pushed: at
creation and again when a popped slot is still alive.  A slot can only be
empty once its newest value is at or below the cutoff (sequences: strictly
below), so ``advance()`` only pops entries from the front while they are due:
each pop either frees the slot or re-queues it, and each entry is popped at
most once per call.  Slots that cannot have expired are never visited, so
the cost of eviction is proportional to the keys that expire (plus about one
re-queue per key per window length), not to the number of keys or events.
The queue is not strictly sorted (re-queued and late entries), so a due entry
may wait behind a not-yet-due one: by at most about D + lateness.

After freeing, the table is compacted (slots renumbered) when at most 1/4 of
it is in use, so memory stays bounded when keys go idle.

``copy()`` (on the kernels) returns a ``FrozenSlots``: the slot->key list, the
in-use bitmap and the kernel's entries copied with C copies only, so a
snapshot can take it under the engine's lock in milliseconds and build the
Python objects of ``dump()`` afterwards, a chunk at a time.
"""

import sys as _sys

cimport cython
from libc.stdint cimport int32_t, int64_t, uint64_t, INT64_MIN
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memmove, memset

from ruledsl.kernels.convert cimport to_i64

__all__ = ["DEFAULT_SWEEP_BUDGET", "FrozenSlots", "SlotTable", "advance_all"]

#: default number of expiry-queue entries popped per advance() call
DEFAULT_SWEEP_BUDGET = 8

cdef enum:
    _COMPACT_MIN = 32          # tables of at most this many slots are never compacted
    _MIN_TABLE = 16            # smallest capacity once a slot was allocated
    _MAX_SLOTS = 2147483646    # slot numbers are int32 (queue ring, free-list links)


ctypedef struct QEntry:
    int64_t exp
    int32_t slot


cdef int _qentry_cmp(const void* pa, const void* pb) noexcept nogil:
    cdef const QEntry* a = <const QEntry*>pa
    cdef const QEntry* b = <const QEntry*>pb
    if a.exp != b.exp:
        return -1 if a.exp < b.exp else 1
    if a.slot != b.slot:
        return -1 if a.slot < b.slot else 1
    return 0


cdef inline size_t _bitmap_bytes(Py_ssize_t n) noexcept nogil:
    return <size_t>((n + 63) >> 6) * sizeof(uint64_t)


cdef class SlotTable:
    """Base of WindowState and SequenceState: key -> slot, free list, expiry queue."""

    def __cinit__(self, *args, **kwargs):
        self._map = {}
        self._skeys = []

    def __dealloc__(self):
        # (a kernel's own __dealloc__ ran first and released what its slots own)
        self._drop_columns()
        self._drop_spare()
        free(self._q_slot)
        free(self._used)
        self._q_slot = NULL
        self._used = NULL

    # -- hooks (defaults) --------------------------------------------------------------
    cdef void _init_slot(self, Py_ssize_t slot) noexcept:
        """Make a fresh slot's record empty (it may hold a stale record or a link)."""
        pass

    cdef void _release_slot(self, Py_ssize_t slot) noexcept:
        """Free what an active slot owns outside the columns (before it goes on the free list)."""
        pass

    cdef bint _evict_slot(self, Py_ssize_t slot) noexcept:
        """Evict expired data of an active slot; True if it is now empty."""
        return False

    cdef int64_t _newest(self, Py_ssize_t slot) noexcept:
        """The queue value of an active slot when pushed now: its newest ts (INT64_MIN if none)."""
        return INT64_MIN

    cdef void _q_set(self, Py_ssize_t slot, int64_t exp) noexcept:
        """Remember the queue value of a slot being pushed (default: exactly, in _qexp)."""
        self._qexp[slot] = exp

    cdef int64_t _q_get(self, Py_ssize_t slot) noexcept:
        """The remembered queue value (a kernel may round it up, never down)."""
        return self._qexp[slot]

    cdef int _expire_extra(self, Py_ssize_t budget) except -1:
        """Further per-advance work after the expiry queue (WindowState last/since)."""
        return 0

    cdef void _remap_extra(self, int32_t* remap) noexcept:
        """Slots were renumbered (remap[old] = new, -1 for free slots); NULL: all slots freed."""
        pass

    # -- configuration and storage -----------------------------------------------------
    cdef int _configure(self, int64_t horizon, bint strict, bint exact_queue) except -1:
        """(Re)start empty with no columns; the kernel then registers its columns.

        Called from the kernel's __init__ before it changes its own settings, so
        slots still held are released under the settings they were made with.
        """
        self._reset_table()
        self._drop_columns()
        self._horizon = horizon
        self._strict = strict
        if exact_queue:
            self._add_column(<void**>&self._qexp, sizeof(int64_t))
        return 0

    cdef int _add_column(self, void** column, size_t size) except -1:
        """Register a per-slot array: *column is (re)allocated with size bytes per slot."""
        if self._ncol == MAX_COLUMNS:
            raise RuntimeError("too many slot columns")
        if size == 0 or size % 8 != 0:
            raise RuntimeError("slot records are whole 8-byte words")
        if self._cap != 0:
            raise RuntimeError("columns are registered on an empty table")
        column[0] = NULL
        self._col[self._ncol] = column
        self._col_size[self._ncol] = size
        self._ncol += 1
        return 0

    cdef void _drop_columns(self) noexcept:
        cdef int c
        for c in range(self._ncol):
            free(self._col[c][0])
            self._col[c][0] = NULL
        self._ncol = 0
        self._cap = 0

    cdef int _resize(self, Py_ssize_t newcap) except -1:
        """Reallocate the columns, the bitmap and the queue ring (newcap >= _n_used)."""
        cdef int32_t* qs
        cdef void* p
        cdef uint64_t* used
        cdef size_t old_bits, new_bits
        cdef Py_ssize_t i, j, n = newcap if newcap > 0 else 1
        cdef int c
        if newcap == self._cap:
            return 0
        if n > self._q_cap:
            # grow the queue ring in place; a wrapped-around front part moves to the end
            qs = <int32_t*>realloc(self._q_slot, <size_t>n * sizeof(int32_t))
            if qs == NULL:
                raise MemoryError()
            if self._q_head + self._q_len > self._q_cap:
                j = self._q_cap - self._q_head
                memmove(qs + n - j, qs + self._q_head, <size_t>j * sizeof(int32_t))
                self._q_head = n - j
            self._q_slot = qs
            self._q_cap = n
        elif n < self._q_cap:
            # shrink: re-laid out from index 0 (on failure the bigger ring is kept)
            qs = <int32_t*>malloc(<size_t>n * sizeof(int32_t))
            if qs != NULL:
                j = self._q_head
                for i in range(self._q_len):
                    qs[i] = self._q_slot[j]
                    j += 1
                    if j == self._q_cap:
                        j = 0
                free(self._q_slot)
                self._q_slot = qs
                self._q_cap = n
                self._q_head = 0
        # columns and bitmap: growing must succeed, shrinking may keep the bigger block
        for c in range(self._ncol):
            p = realloc(self._col[c][0], <size_t>n * self._col_size[c])
            if p == NULL:
                if newcap > self._cap:
                    raise MemoryError()
            else:
                self._col[c][0] = p
        old_bits = _bitmap_bytes(self._cap) if self._used != NULL else 0
        new_bits = _bitmap_bytes(n)
        if new_bits != old_bits:
            used = <uint64_t*>realloc(self._used, new_bits)
            if used == NULL:
                if newcap > self._cap:
                    raise MemoryError()
            else:
                if new_bits > old_bits:
                    memset(<char*>used + old_bits, 0, new_bits - old_bits)
                self._used = used
        self._cap = newcap
        return 0

    cdef int _grow(self) except -1:
        """Double the capacity (the table is full)."""
        cdef Py_ssize_t newcap
        if self._ncol == 0:
            raise RuntimeError("%s.__init__ was not called" % type(self).__name__)
        if self._n_used >= _MAX_SLOTS:
            raise MemoryError("too many keys")
        newcap = self._cap * 2
        if newcap < _MIN_TABLE:
            newcap = _MIN_TABLE
        if newcap > _MAX_SLOTS:
            newcap = _MAX_SLOTS
        return self._resize(newcap)

    cdef void _move_slot(self, Py_ssize_t dst, Py_ssize_t src) noexcept:
        """Copy slot src's records to dst in every column (compaction)."""
        cdef int c
        cdef size_t i, nw
        cdef uint64_t* d
        cdef uint64_t* s
        for c in range(self._ncol):
            # word by word: records are a few words, a memcpy call would cost more
            nw = self._col_size[c] >> 3
            d = <uint64_t*>self._col[c][0] + <size_t>dst * nw
            s = <uint64_t*>self._col[c][0] + <size_t>src * nw
            for i in range(nw):
                d[i] = s[i]

    # -- slot life cycle ------------------------------------------------------------------
    cdef int _free_slot(self, Py_ssize_t slot) except -1:
        """Free an active slot (the caller keeps the queue consistent)."""
        cdef list chunk = self._key_chunk(slot >> KEY_BITS)
        key = chunk[slot & KEY_MASK]
        del self._map[key]
        chunk[slot & KEY_MASK] = None
        self._release_slot(slot)
        self._used[slot >> 6] &= ~((<uint64_t>1) << (slot & 63))
        self._link(slot)[0] = <int32_t>self._free_top
        self._free_top = slot
        self._n_free += 1
        return 0

    cdef int _maybe_compact(self) except -1:
        cdef Py_ssize_t active = len(self._map)
        cdef Py_ssize_t i, j, newcap, k
        cdef int32_t* remap
        cdef list newkeys, chunk = None
        if active == 0:
            self._q_head = 0
            self._q_len = 0
            self._remap_extra(NULL)
            if self._n_used > _COMPACT_MIN:
                # give the memory back (an emptied dict keeps its table)
                self._map = {}
                self._n_used = 0
                self._n_free = 0
                self._skeys = []
                self._resize(0)
            elif self._n_used:
                # small table: just restart the numbering, keep the allocations
                self._n_used = 0
                self._n_free = 0
                self._skeys = []
            return 0
        if self._n_used > _COMPACT_MIN and 4 * active <= self._n_used:
            remap = <int32_t*>malloc(<size_t>self._n_used * sizeof(int32_t))
            if remap == NULL:
                return 0                     # compaction is optional
            newkeys = []
            j = 0
            for i in range(self._n_used):
                if self._is_free(i):
                    remap[i] = -1
                    continue
                key = self._key(i)
                if i != j:
                    self._move_slot(j, i)
                self._map[key] = j
                if (j & KEY_MASK) == 0:
                    chunk = []
                    newkeys.append(chunk)
                chunk.append(key)
                remap[i] = <int32_t>j
                j += 1
            k = self._q_head
            for i in range(self._q_len):
                self._q_slot[k] = remap[self._q_slot[k]]
                k += 1
                if k == self._q_cap:
                    k = 0
            self._remap_extra(remap)
            free(remap)
            # slots [0, j) are now the active ones
            memset(self._used, 0, _bitmap_bytes(self._n_used))
            memset(self._used, 0xFF, <size_t>(j >> 6) * sizeof(uint64_t))
            if j & 63:
                self._used[j >> 6] = ((<uint64_t>1) << (j & 63)) - 1
            self._skeys = newkeys
            self._map = dict(self._map)      # dicts never shrink on deletion
            self._n_used = j
            self._n_free = 0
            newcap = _MIN_TABLE
            while newcap < 2 * j:
                newcap *= 2
            if newcap < self._cap:
                self._resize(newcap)
            self._drop_spare()               # sized for the content before
        return 0

    cdef void _release_all(self) noexcept:
        """Release every active slot (clear, re-init, dealloc); the table itself is kept."""
        cdef Py_ssize_t i
        if self._used == NULL:
            return
        for i in range(self._n_used):
            if not self._is_free(i):
                self._release_slot(i)

    cdef int _reset_table(self) except -1:
        """Empty the table (releasing every slot) and forget the watermark."""
        self._release_all()
        self._map = {}
        self._skeys = []
        self._n_free = 0
        self._n_used = 0
        self._q_head = 0
        self._q_len = 0
        self._has_wm = False
        self._has_cutoff = False
        self._wm = 0
        self._cutoff = 0
        self._resize(0)
        self._drop_spare()
        return 0

    # -- expiry --------------------------------------------------------------------------------
    cdef int _expire(self, Py_ssize_t budget) except -1:
        """Pop up to ``budget`` due queue entries (each at most once): free
        empty slots, re-queue the others."""
        cdef Py_ssize_t done = 0, slot, h, limit = self._q_len
        cdef int64_t exp, cutoff = self._cutoff
        cdef bint strict = self._strict, freed = False
        if not self._has_cutoff:
            return 0
        if budget < limit:
            limit = budget
        while done < limit:
            h = self._q_head
            slot = self._q_slot[h]
            exp = self._q_get(slot)
            if exp > cutoff or (strict and exp == cutoff):
                break
            h += 1
            if h == self._q_cap:
                h = 0
            self._q_head = h
            self._q_len -= 1
            done += 1
            if self._evict_slot(slot):
                self._free_slot(slot)
                freed = True
            else:
                self._q_push(self._newest(slot), slot)
        if freed:
            self._maybe_compact()
        return 0

    cdef int _q_refresh(self) except -1:
        """Reset every queue value from its slot and sort the queue by
        (value, slot) (after load(), where push order == slot order)."""
        cdef QEntry* tmp
        cdef Py_ssize_t i, j, n = self._q_len
        cdef int32_t slot
        if n == 0:
            return 0
        tmp = <QEntry*>malloc(<size_t>n * sizeof(QEntry))
        if tmp == NULL:
            raise MemoryError()
        j = self._q_head
        for i in range(n):
            slot = self._q_slot[j]
            self._q_set(slot, self._newest(slot))
            tmp[i].slot = slot
            tmp[i].exp = self._q_get(slot)
            j += 1
            if j == self._q_cap:
                j = 0
        qsort(tmp, <size_t>n, sizeof(QEntry), _qentry_cmp)
        for i in range(n):
            self._q_slot[i] = tmp[i].slot
        self._q_head = 0
        free(tmp)
        return 0

    cdef int _advance_to(self, int64_t wm, Py_ssize_t budget) except -1:
        if self._set_watermark(wm) and budget > 0:
            self._expire(budget)
            self._expire_extra(budget)
        return 0

    cdef bint _set_watermark(self, int64_t wm) noexcept:
        """True if the watermark moved forward."""
        if self._has_wm and wm <= self._wm:
            return False
        self._has_wm = True
        self._wm = wm
        if wm >= INT64_MIN + self._horizon:
            self._has_cutoff = True
            self._cutoff = wm - self._horizon
        return True

    cdef Py_ssize_t _table_nbytes(self) except -1:
        """C memory of the table (columns, bitmap, queue ring, a copy's spare
        buffer) plus its Python overhead (key dict, slot->key list, 32 B per
        slot-number int)."""
        cdef Py_ssize_t c, per_slot = 0, keys = <Py_ssize_t>_sys.getsizeof(self._skeys)
        for c in range(self._ncol):
            per_slot += <Py_ssize_t>self._col_size[c]
        for chunk in self._skeys:
            keys += <Py_ssize_t>_sys.getsizeof(chunk)
        return (self._cap * per_slot + <Py_ssize_t>_bitmap_bytes(self._cap) + self._q_cap * 4
                + <Py_ssize_t>self._spare_bytes + <Py_ssize_t>_sys.getsizeof(self._map) + keys
                + 32 * len(self._map))

    cdef void _drop_spare(self) noexcept:
        """Free the spare copy buffer (the table's content changed size, or is gone)."""
        cdef void* p = self._spare
        self._spare = NULL
        self._spare_bytes = 0
        free(p)

    # -- public, shared --------------------------------------------------------------------
    def advance(self, watermark_ts, Py_ssize_t budget=DEFAULT_SWEEP_BUDGET):
        """advance(watermark_ts, budget=8)

        The engine watermark (max event ts seen - lateness) moved to
        ``watermark_ts``.  Only events with ``ts >= watermark_ts`` may be
        queried afterwards.  Then pops at most ``budget`` due entries of the
        expiry queue: keys whose data all expired are freed, the others are
        re-queued (keys that cannot have expired are not visited).  For
        last/since windows a min-heap likewise yields at most ``budget``
        keys whose older entries became dominated (a newer entry at or below
        the watermark) and drops those (oldest first).
        Non-increasing watermarks are ignored (no eviction either).
        """
        self._advance_to(to_i64(watermark_ts), budget)

    def sweep(self):
        """Full sweep: evict all keys, free empty ones, compact the slot table."""
        cdef Py_ssize_t slot, i, j, k
        for slot in range(self._n_used):
            if self._is_free(slot):
                continue
            if self._evict_slot(slot):
                self._free_slot(slot)
        # drop the queue entries of the freed slots (order kept)
        j = self._q_head
        k = self._q_head
        for i in range(self._q_len):
            if not self._is_free(self._q_slot[j]):
                self._q_slot[k] = self._q_slot[j]
                k += 1
                if k == self._q_cap:
                    k = 0
            j += 1
            if j == self._q_cap:
                j = 0
        self._q_len = len(self._map)
        self._maybe_compact()

    @property
    def watermark(self):
        """Last watermark passed to advance(), or None."""
        return self._wm if self._has_wm else None

    def __len__(self):
        return len(self._map)

    def keys(self):
        """Iterator over the active keys (snapshot, insertion order)."""
        return iter(list(self._map))


def advance_all(states, watermark_ts, Py_ssize_t budget=DEFAULT_SWEEP_BUDGET):
    """advance_all(states, watermark_ts, budget=8)

    ``s.advance(watermark_ts, budget)`` for every WindowState/SequenceState in
    the iterable ``states``, without a Python-level call per state (anything
    else raises TypeError).
    """
    cdef int64_t wm = to_i64(watermark_ts)
    cdef SlotTable st
    for obj in states:
        st = <SlotTable?>obj
        st._advance_to(wm, budget)


cdef class FrozenSlots:
    """A read-only copy of a WindowState or SequenceState, as its ``copy()`` returns it.

    ``dump()`` is what the kernel's ``dump()`` returned when it was copied,
    keys in slot order (not necessarily the kernel's key order);
    ``dump_chunks(n)`` yields the same items in lists of at most ``n``;
    ``len()`` and ``watermark`` are the kernel's at that time.  It shares
    nothing the kernel changes: changing the kernel afterwards does not
    change the copy.
    """

    def __cinit__(self, *args, **kwargs):
        self._keys = []
        self._watermark = None

    def __init__(self, *args, **kwargs):
        raise TypeError("%s is made by the kernel's copy()" % type(self).__name__)

    def __dealloc__(self):
        cdef void* p = self._buf
        cdef SlotTable owner = self._owner
        self._buf = NULL
        free(self._used)
        self._used = NULL
        if p == NULL:
            return
        if owner is not None and owner._spare == NULL:
            # (no Python call between the test and the hand-over: atomic under the GIL)
            owner._spare = p
            owner._spare_bytes = self._buf_bytes
        else:
            free(p)

    cdef int _take(self, SlotTable table) except -1:
        """Copy the table's keys (chunk references), bitmap, length and watermark."""
        cdef size_t nb = _bitmap_bytes(table._n_used)
        if nb != 0:
            self._used = <uint64_t*>malloc(nb)
            if self._used == NULL:
                raise MemoryError()
            memcpy(self._used, table._used, nb)
        self._keys = table._skeys[:]
        self._n_used = table._n_used
        self._n_keys = len(table._map)
        self._watermark = table._wm if table._has_wm else None
        self._owner = table
        return 0

    cdef int _alloc(self, size_t nbytes) except -1:
        """_buf of nbytes: the owner's spare buffer when it fits (and is not 4x too big), else malloc'd."""
        cdef SlotTable owner = self._owner
        cdef void* p = owner._spare
        cdef size_t have = owner._spare_bytes
        if nbytes == 0:
            return 0
        if p != NULL and nbytes <= have and have // 4 <= nbytes:
            owner._spare = NULL
            owner._spare_bytes = 0
        else:
            owner._drop_spare()
            have = nbytes
            p = malloc(nbytes)
            if p == NULL:
                raise MemoryError()
        self._buf = p
        self._buf_bytes = have
        return 0

    cdef object _entries(self, Py_ssize_t slot, int64_t* pos):
        """The Python entries of an active slot, as the kernel's dump() gives them;
        pos: where this slot's data starts in _buf (the subclass advances it)."""
        raise NotImplementedError

    def dump(self):
        """The kernel's dump() when it was copied: [(key, entries), ...] (slot order)."""
        cdef list out = []
        cdef Py_ssize_t slot
        cdef int64_t pos = 0
        for slot in range(self._n_used):
            if not self._is_free(slot):
                out.append((self._key(slot), self._entries(slot, &pos)))
        return out

    def dump_chunks(self, Py_ssize_t n):
        """dump_chunks(n) -> iterator of lists of at most n (key, entries) pairs that concatenate to dump().

        Each list is built when asked for, in one short call.
        """
        cdef _Chunks it
        if n < 1:
            raise ValueError("n must be >= 1")
        it = _Chunks.__new__(_Chunks)
        it._frozen = self
        it._size = n
        return it

    @property
    def watermark(self):
        """The kernel's watermark when it was copied, or None."""
        return self._watermark

    def __len__(self):
        return self._n_keys

    def __repr__(self):
        return "<%s keys=%d>" % (type(self).__name__, self._n_keys)


@cython.final
cdef class _Chunks:
    """FrozenSlots.dump_chunks(n): each step builds the next list of at most n items."""
    cdef FrozenSlots _frozen
    cdef Py_ssize_t _slot       # the next slot to look at
    cdef int64_t _pos           # where its data starts in the copy's buffer
    cdef Py_ssize_t _size       # items per list

    def __iter__(self):
        return self

    def __next__(self):
        cdef FrozenSlots f = self._frozen
        cdef Py_ssize_t slot = self._slot, end = f._n_used, k = 0
        cdef list out
        while slot < end and f._is_free(slot):
            slot += 1
        if slot >= end:
            self._slot = end
            raise StopIteration
        out = []
        while slot < end and k < self._size:
            if not f._is_free(slot):
                out.append((f._key(slot), f._entries(slot, &self._pos)))
                k += 1
            slot += 1
        self._slot = slot
        return out
