# The slot table shared by WindowState and SequenceState (declaration).
#
# A kernel keeps per-key state in numbered *slots*.  SlotTable owns everything
# about slots that does not depend on what a slot holds: the key <-> slot maps,
# the per-slot storage ("columns": C arrays indexed by slot, grown and shrunk
# together), the LIFO free list, the FIFO expiry queue, the watermark and
# compaction.  A kernel subclasses it, registers its columns in __init__ and
# implements the few hooks below that do depend on the slot's content.
#
# Why a base cdef class (and not a struct + functions): the table calls back
# into the kernel (evict a slot, its newest timestamp, ...), which a vtable
# gives for the price of one indirect call, exactly as before the split.  The
# per-event path (_lookup, _new_slot, _q_push) is defined inline below, so a
# kernel in another module compiles it into its own code: no cross-module
# call on the hot path.
#
# Pure-Python twin: ruledsl/kernels/slots_py.py (same class and method names).

from libc.stdint cimport int32_t, int64_t, uint64_t
from cpython.object cimport PyObject
from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_GET_ITEM

cdef extern from "Python.h":
    Py_ssize_t _refcount "Py_REFCNT"(PyObject* o)

cdef enum:
    MAX_COLUMNS = 4       # per-slot arrays a kernel may register (WindowState uses up to 4)
    KEY_BITS = 14         # the slot->key list is kept in chunks of 2**KEY_BITS keys
    KEY_MASK = 16383      # 2**KEY_BITS - 1


cdef class SlotTable:
    # -- keys -------------------------------------------------------------------------
    cdef dict _map                      # key -> slot number (a Python int); one entry per active slot
    cdef list _skeys                    # slot -> its key (None for a free slot) in chunks: slot s is
                                        # _skeys[s >> KEY_BITS][s & KEY_MASK]; _n_used keys in all.  A copy
                                        # (FrozenSlots) shares the chunks: a chunk referenced from elsewhere
                                        # (refcount > 1) is copied before it is changed (_key_chunk)

    # -- per-slot storage -------------------------------------------------------------
    cdef void** _col[MAX_COLUMNS]       # address of each column pointer (a typed field of the kernel,
                                        # e.g. &WindowState._slots); the table reallocs *_col[i]
    cdef size_t _col_size[MAX_COLUMNS]  # bytes per slot in each column (whole 8-byte words); while a slot
                                        # is free, the first int32 of its record in column 0 (the first
                                        # registered) is its free-list link
    cdef int _ncol                      # registered columns (0 until the kernel's __init__ ran)
    cdef uint64_t* _used                # bitmap, bit s set <=> slot s is active (valid for s < _n_used);
                                        # plain C so __dealloc__ can walk it after the GC cleared _skeys
    cdef Py_ssize_t _cap                # slots allocated in every column and in the bitmap
    cdef Py_ssize_t _n_used             # slots [0, _n_used) are active or free; the rest are unused

    # -- free list ----------------------------------------------------------------------
    cdef Py_ssize_t _free_top           # most recently freed slot (the next one reused)
    cdef Py_ssize_t _n_free             # free slots below _n_used, linked from _free_top

    # -- expiry queue -------------------------------------------------------------------
    cdef int32_t* _q_slot               # FIFO ring of slot numbers: every active slot exactly once
    cdef Py_ssize_t _q_cap              # ring capacity (>= _cap)
    cdef Py_ssize_t _q_head             # ring index of the oldest entry
    cdef Py_ssize_t _q_len              # entries in the ring (== len(_map))
    cdef int64_t* _qexp                 # exact queue value per slot (a column, registered by _configure
                                        # when the kernel keeps the default _q_set/_q_get; else NULL)
    cdef bint _strict                   # a slot is due iff value < cutoff (sequences), not value <= cutoff

    # -- watermark ----------------------------------------------------------------------
    cdef bint _has_wm                   # advance() was called since the last clear()
    cdef int64_t _wm                    # the last (largest) watermark passed to advance()
    cdef bint _has_cutoff               # _cutoff is defined (wm - horizon did not underflow)
    cdef int64_t _cutoff                # wm - _horizon: data at or below it (sequences: below) is dead
    cdef int64_t _horizon               # how long data stays visible: D (windows), within_ms (sequences)

    # -- copies -------------------------------------------------------------------------
    cdef void* _spare                   # the buffer of a copy that was released, for the next copy() (its
                                        # pages are mapped already: filling fresh ones costs more); or NULL
    cdef size_t _spare_bytes            # its size

    # -- hooks: what a slot holds (implemented by the kernel) ---------------------------
    cdef void _init_slot(self, Py_ssize_t slot) noexcept
    cdef void _release_slot(self, Py_ssize_t slot) noexcept
    cdef bint _evict_slot(self, Py_ssize_t slot) noexcept
    cdef int64_t _newest(self, Py_ssize_t slot) noexcept
    cdef void _q_set(self, Py_ssize_t slot, int64_t exp) noexcept
    cdef int64_t _q_get(self, Py_ssize_t slot) noexcept
    cdef int _expire_extra(self, Py_ssize_t budget) except -1
    cdef void _remap_extra(self, int32_t* remap) noexcept

    # -- table ----------------------------------------------------------------------------
    cdef int _configure(self, int64_t horizon, bint strict, bint exact_queue) except -1
    cdef int _add_column(self, void** column, size_t size) except -1
    cdef void _drop_columns(self) noexcept
    cdef int _resize(self, Py_ssize_t newcap) except -1
    cdef int _grow(self) except -1
    cdef void _move_slot(self, Py_ssize_t dst, Py_ssize_t src) noexcept
    cdef int _free_slot(self, Py_ssize_t slot) except -1
    cdef int _maybe_compact(self) except -1
    cdef int _expire(self, Py_ssize_t budget) except -1
    cdef int _q_refresh(self) except -1
    cdef int _advance_to(self, int64_t wm, Py_ssize_t budget) except -1
    cdef bint _set_watermark(self, int64_t wm) noexcept
    cdef void _release_all(self) noexcept
    cdef int _reset_table(self) except -1
    cdef Py_ssize_t _table_nbytes(self) except -1
    cdef void _drop_spare(self) noexcept

    # -- inline: the per-event path -----------------------------------------------------
    cdef inline Py_ssize_t _lookup(self, object key) except -2:
        """Slot of key, -1 if it has none."""
        cdef PyObject* p = PyDict_GetItemWithError(self._map, key)
        if p == NULL:
            return -1
        return <Py_ssize_t>(<object>p)

    cdef inline bint _is_free(self, Py_ssize_t slot) noexcept:
        """slot (< _n_used) is on the free list."""
        return ((self._used[slot >> 6] >> (slot & 63)) & 1) == 0

    cdef inline int32_t* _link(self, Py_ssize_t slot) noexcept:
        """The free-list link of a free slot: the first int32 of its record in column 0."""
        return <int32_t*>((<char*>self._col[0][0]) + <size_t>slot * self._col_size[0])

    cdef inline list _key_chunk(self, Py_ssize_t c):
        """Chunk c of the slot->key list, to change: copied first if a FrozenSlots shares it."""
        cdef PyObject* p = PyList_GET_ITEM(self._skeys, c)
        cdef list chunk
        if _refcount(p) > 1:
            chunk = (<list>p)[:]
            self._skeys[c] = chunk
            return chunk
        return <list>p

    cdef inline object _key(self, Py_ssize_t slot):
        """The key of slot (< _n_used; None if it is free)."""
        return (<list>PyList_GET_ITEM(self._skeys, slot >> KEY_BITS))[slot & KEY_MASK]

    cdef inline void _q_push(self, int64_t exp, Py_ssize_t slot) noexcept:
        """Append slot to the expiry queue with queue value exp."""
        cdef Py_ssize_t i = self._q_head + self._q_len
        if i >= self._q_cap:
            i -= self._q_cap
        self._q_set(slot, exp)
        self._q_slot[i] = <int32_t>slot
        self._q_len += 1

    cdef inline Py_ssize_t _new_slot(self, object key, int64_t exp) except -1:
        """A fresh slot for key (not in the table), queued with value exp."""
        cdef Py_ssize_t slot
        if self._n_free > 0:
            self._n_free -= 1
            slot = self._free_top
            self._free_top = self._link(slot)[0]
            self._key_chunk(slot >> KEY_BITS)[slot & KEY_MASK] = key
        else:
            if self._n_used == self._cap:
                self._grow()
            slot = self._n_used
            if slot & KEY_MASK:
                self._key_chunk(slot >> KEY_BITS).append(key)
            else:
                self._skeys.append([key])
            self._n_used += 1
        self._used[slot >> 6] |= (<uint64_t>1) << (slot & 63)
        self._init_slot(slot)
        self._map[key] = slot
        self._q_push(exp, slot)
        return slot


cdef class FrozenSlots:
    # A read-only copy of a kernel's content, taken by the kernel's copy() (under the engine's
    # lock) with C copies only: no Python object is made per key or entry.  A kernel's subclass
    # lays out its copied entries in _buf and builds a slot's Python entries when dumped.
    cdef list _keys                     # the table's _skeys, copied (its chunks are shared: see _skeys)
    cdef uint64_t* _used                # copy of the in-use bitmap (bit s set <=> slot s holds a key)
    cdef Py_ssize_t _n_used             # slots [0, _n_used) copied
    cdef Py_ssize_t _n_keys             # keys held (active slots)
    cdef object _watermark              # the kernel's watermark when copied (None: never advanced)
    cdef SlotTable _owner               # the kernel: _buf goes back to it as its spare when released
    cdef void* _buf                     # the copied entries (layout: the subclass's), or NULL
    cdef size_t _buf_bytes              # its size

    cdef int _take(self, SlotTable table) except -1
    cdef int _alloc(self, size_t nbytes) except -1
    cdef object _entries(self, Py_ssize_t slot, int64_t* pos)

    cdef inline bint _is_free(self, Py_ssize_t slot) noexcept:
        return ((self._used[slot >> 6] >> (slot & 63)) & 1) == 0

    cdef inline object _key(self, Py_ssize_t slot):
        return (<list>PyList_GET_ITEM(self._keys, slot >> KEY_BITS))[slot & KEY_MASK]
