# cython: language_level=3, cdivision=True, nonecheck=False, overflowcheck=False
# cython: infer_types=False, auto_pickle=False, embedsignature=True, binding=False
# (boundscheck / wraparound / initializedcheck are set by setup.py; all hot
#  loops index raw C pointers, which those directives do not affect anyway)
"""Windowed aggregation and sequence kernels (Cython hot path).

Pure-Python twin with identical API and results: :mod:`ruledsl.kernels.state_py`.
Import through :mod:`ruledsl.kernels.state`, which selects the implementation.

Memory layout
-------------
Keys (any hashable object) map to an integer *slot* through a Python dict.
Per-slot data lives in C memory:

* ``WindowState``: an array of ``Slot`` structs (40 bytes each).  A slot holds
  its entries (16 bytes each: int64 ts + int64/double value) sorted by ts in a
  "gap at the front" buffer: eviction advances ``head``, appends go to the end,
  out-of-order inserts memmove the tail.  A slot with at most one entry keeps
  it inline (no malloc); larger slots own a malloc'd buffer grown by doubling
  (compacted instead of grown when at least half of it is free at the front)
  and halved when 8x too large.  int ``sum``/``avg`` windows also keep a
  per-slot running total (+ a bound on sum(|v|) that proves the wrapping
  int64 arithmetic exact) so a query costs O(#entries outside the interval).
  Large keys (buffer >= 256 entries) of min/max/int-sum/int-avg windows get
  two-level block summaries (64 / 4096 entries) so any interval folds in
  O(64 + n/4096); distinct windows keep a value->count multiset once a key
  holds >= 64 entries, so a query costs O(min(inside, outside)).
* ``SequenceState``: one flat int64 array with ``n_steps`` words per slot
  (a validity/active bitmask + ``n_steps - 1`` start timestamps).

Freed slots go on a LIFO free list.  Every active slot is once in a FIFO
expiry queue (4 bytes per slot; the slot remembers when it comes due, see
``_SlotTable``); ``advance`` pops at most ``budget`` due slots and frees the
keys whose entries all expired (re-queueing the others), so it never visits
keys that cannot have expired.  After freeing, the slot table is compacted
(slots renumbered) when at most 1/4 of it is in use, so memory stays bounded
when keys go idle.  Entries of live keys are evicted lazily on access and
when the key comes due; last/since windows also keep a small heap of keys
whose older entries will become dominated.
"""

cimport cython
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t, INT64_MIN, INT64_MAX
from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport memmove, memcpy, memset
from cpython.object cimport PyObject
from cpython.number cimport PyNumber_Index
from cpython.dict cimport PyDict_GetItemWithError
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLongMask

import sys as _sys

cdef extern from "Python.h":
    bint PyLong_CheckExact(object o)
    bint PyFloat_CheckExact(object o)
    double PyFloat_AS_DOUBLE(object o)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    char* PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)
    char* PyByteArray_AS_STRING(object o)
    Py_ssize_t PyByteArray_GET_SIZE(object o)

__all__ = ["WindowState", "SequenceState", "stable_hash", "advance_all", "AGGREGATES",
           "DEFAULT_SWEEP_BUDGET", "COMPILED"]

COMPILED = True
AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")
DEFAULT_SWEEP_BUDGET = 8

DEF _COMPACT_MIN = 32
DEF _MIN_TABLE = 16
DEF _MAX_ENTRIES_PER_KEY = 1073741824      # 2**30
DEF _MAX_SLOTS = 2147483646
DEF _MAX_HASH_DEPTH = 100

cdef enum:
    K_COUNT = 0
    K_SUM = 1
    K_AVG = 2
    K_MIN = 3
    K_MAX = 4
    K_DISTINCT = 5
    K_LAST = 6
    K_SINCE = 7

cdef dict _AGG_CODE = {name: i for i, name in enumerate(AGGREGATES)}

cdef uint64_t _EXACT_BOUND = (<uint64_t>1) << 63
cdef uint64_t _U64_MAX = <uint64_t>0xFFFFFFFFFFFFFFFF
cdef uint64_t _CANON_NAN = <uint64_t>0x7FF8000000000000
cdef uint64_t _FNV_OFFSET = <uint64_t>0xCBF29CE484222325
cdef uint64_t _FNV_PRIME = <uint64_t>0x100000001B3
cdef uint64_t _SEQ_ACTIVE = (<uint64_t>1) << 63


# ---------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------

cdef inline int64_t _to_i64(object o) except? -1:
    """int64 from an int or any object with __index__ (never truncates floats)."""
    if PyLong_CheckExact(o):
        return <int64_t>o
    return <int64_t>PyNumber_Index(o)


cdef inline double _to_f64(object o) except? -1.0:
    if PyFloat_CheckExact(o):
        return PyFloat_AS_DOUBLE(o)
    if isinstance(o, (str, bytes, bytearray)):
        raise TypeError("must be real number, not %s" % type(o).__name__)
    return float(o)


cdef union Val:
    int64_t i
    double f

ctypedef struct Entry:
    int64_t ts
    Val v

ctypedef struct Slot:
    Entry* buf       # heap buffer when cap > 1, else NULL
    int32_t head     # index of the oldest entry in buf (free slot: the next free slot)
    int32_t n        # number of entries; -1 marks a free slot
    int32_t cap      # 1 => the single entry lives in `inl`
    uint32_t qx      # bits 0-30: expiry-queue value (_q_encode); bit 31 (last/since):
                     # the slot has an entry in the dominance heap
    Entry inl


cdef inline Entry* _slot_buf(Slot* s) noexcept nogil:
    if s.cap == 1:
        return &s.inl
    return s.buf


cdef inline Py_ssize_t _first_gt(Entry* buf, Py_ssize_t lo, Py_ssize_t hi, int64_t x) noexcept nogil:
    """First index i in [lo, hi) with buf[i].ts > x (hi if none)."""
    cdef Py_ssize_t mid
    while lo < hi:
        mid = lo + ((hi - lo) >> 1)
        if buf[mid].ts <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline uint64_t _uabs(int64_t v) noexcept nogil:
    if v >= 0:
        return <uint64_t>v
    return (<uint64_t>0) - (<uint64_t>v)


cdef inline uint64_t _sat_add(uint64_t a, uint64_t b) noexcept nogil:
    cdef uint64_t r = a + b
    if r < a:
        return _U64_MAX
    return r


cdef inline uint64_t _float_key(double d) noexcept nogil:
    cdef Val u
    if d != d:
        return _CANON_NAN
    if d == 0.0:
        return 0
    u.f = d
    return <uint64_t>u.i


# A window slot keeps its expiry-queue value (a timestamp) in 31 bits: the
# value >> shift (shift = bit length of D - 20, at least 0) modulo 2**31.  It
# is decoded against the slot's newest ts, which is >= the value and (by
# much more than the time a slot spends in the queue) less than 2**31 units
# above it, as the largest (multiple of 2**shift) <= newest with those bits,
# i.e. the value rounded down to a multiple of 2**shift; _q_get then rounds
# it up (+ 2**shift - 1), so a slot never comes due before its value (which
# could re-queue it behind younger slots), at most D / 2**20 ms late.
DEF _QMASK = 0x7FFFFFFF
cdef uint32_t _QFLAG = (<uint32_t>1) << 31      # (a C constant: the literal would be a Python int)

cdef inline uint32_t _q_encode(int64_t v, int shift) noexcept nogil:
    return <uint32_t>((<uint64_t>(v >> shift)) & _QMASK)


cdef inline int64_t _q_decode(int64_t newest, uint32_t bits, int shift) noexcept nogil:
    cdef int64_t nu = newest >> shift
    cdef int64_t d = <int64_t>((<uint64_t>nu - <uint64_t>bits) & _QMASK)
    if nu < INT64_MIN + d:
        return INT64_MIN
    nu -= d
    if nu < (INT64_MIN >> shift):
        return INT64_MIN
    return <int64_t>(<uint64_t>nu << shift)


cdef inline bint _add_overflows(int64_t a, int64_t b) noexcept nogil:
    if b > 0:
        return a > INT64_MAX - b
    return a < INT64_MIN - b


# ---------------------------------------------------------------------------
# large-slot accelerators
#
# min/max and int sum/avg: per-slot block summaries.  blk[b] is the
# left-to-right fold (min / max / wrapping int64 sum, exact under the |v|
# bound) of the entries at buffer indices [b << b1, (b + 1) << b1) and
# sblk[s] the fold over
# [s << b2, (s + 1) << b2) (clipped to the live end).  The summaries are exact
# for every block that starts at or after `head`; blocks straddling `head` may
# still include evicted entries and are never used whole (queries only use
# blocks lying entirely inside [lo, hi), and lo >= head).  The fold keeps the
# first of equal values and lets NaN absorb, so it is associative and a block
# fold gives bit-for-bit the same result as a sequential scan.
#
# distinct: per-slot multiset (value key -> count) once a slot holds many
# entries; a query then only looks at the entries *outside* (lo, hi].
# ---------------------------------------------------------------------------

ctypedef struct Aux:
    Val* blk
    Val* sblk
    Py_ssize_t nblk
    Py_ssize_t nsblk
    uint64_t* mkeys
    uint32_t* mcnt          # 0 = empty bucket
    Py_ssize_t mcap         # power of two (or 0)
    Py_ssize_t msize        # number of distinct keys
    int mshift              # 64 - log2(mcap)


cdef inline void _aux_free(Aux* a) noexcept nogil:
    if a != NULL:
        free(a.blk)
        free(a.sblk)
        free(a.mkeys)
        free(a.mcnt)
        free(a)


cdef inline Py_ssize_t _aux_nbytes(Aux* a) noexcept nogil:
    if a == NULL:
        return 0
    return <Py_ssize_t>sizeof(Aux) + (a.nblk + a.nsblk) * <Py_ssize_t>sizeof(Val) + a.mcap * 12


cdef inline uint64_t _vkey(Val v, bint isf) noexcept nogil:
    if isf:
        return _float_key(v.f)
    return <uint64_t>v.i


cdef inline Py_ssize_t _home(uint64_t key, int shift) noexcept nogil:
    return <Py_ssize_t>((key * <uint64_t>0x9E3779B97F4A7C15) >> shift)


cdef inline Py_ssize_t _probe(uint64_t* keys, uint32_t* cnt, Py_ssize_t mask, int shift,
                              uint64_t key) noexcept nogil:
    """Bucket holding key, or the empty bucket where it would go."""
    cdef Py_ssize_t i = _home(key, shift)
    while cnt[i] != 0 and keys[i] != key:
        i = (i + 1) & mask
    return i


cdef inline int _log2(Py_ssize_t x) noexcept nogil:
    cdef int r = 0
    while ((<Py_ssize_t>1) << r) < x:
        r += 1
    return r


cdef int _ms_resize(Aux* a, Py_ssize_t newcap) noexcept nogil:
    """Rehash the multiset into newcap (power of two) buckets; -1 if out of memory."""
    cdef uint64_t* nk = <uint64_t*>malloc(<size_t>newcap * sizeof(uint64_t))
    cdef uint32_t* nc = <uint32_t*>calloc(<size_t>newcap, sizeof(uint32_t))
    cdef int shift = 64 - _log2(newcap)
    cdef Py_ssize_t i, j
    if nk == NULL or nc == NULL:
        free(nk)
        free(nc)
        return -1
    for i in range(a.mcap):
        if a.mcnt[i] != 0:
            j = _probe(nk, nc, newcap - 1, shift, a.mkeys[i])
            nk[j] = a.mkeys[i]
            nc[j] = a.mcnt[i]
    free(a.mkeys)
    free(a.mcnt)
    a.mkeys = nk
    a.mcnt = nc
    a.mcap = newcap
    a.mshift = shift
    return 0


cdef inline int _ms_add(Aux* a, uint64_t key) noexcept nogil:
    cdef Py_ssize_t i
    if (a.msize + 1) * 2 > a.mcap:
        if _ms_resize(a, a.mcap * 2 if a.mcap else 16) < 0:
            return -1
    i = _probe(a.mkeys, a.mcnt, a.mcap - 1, a.mshift, key)
    if a.mcnt[i] == 0:
        a.mkeys[i] = key
        a.msize += 1
    a.mcnt[i] += 1
    return 0


cdef inline uint32_t _ms_count(Aux* a, uint64_t key) noexcept nogil:
    return a.mcnt[_probe(a.mkeys, a.mcnt, a.mcap - 1, a.mshift, key)]


cdef void _ms_remove(Aux* a, uint64_t key) noexcept nogil:
    cdef Py_ssize_t mask = a.mcap - 1, i, j, k
    cdef bint stays
    i = _probe(a.mkeys, a.mcnt, mask, a.mshift, key)
    if a.mcnt[i] == 0:
        return
    a.mcnt[i] -= 1
    if a.mcnt[i] != 0:
        return
    a.msize -= 1
    # backward-shift deletion (linear probing, no tombstones)
    j = i
    while True:
        j = (j + 1) & mask
        if a.mcnt[j] == 0:
            break
        k = _home(a.mkeys[j], a.mshift)
        if i <= j:
            stays = i < k and k <= j
        else:
            stays = k > i or k <= j
        if not stays:
            a.mkeys[i] = a.mkeys[j]
            a.mcnt[i] = a.mcnt[j]
            a.mcnt[j] = 0
            i = j


# fold modes: 0 int min, 1 int max, 2 float min, 3 float max, 4 int wrapping sum
cdef inline Val _fold1(int mode, Val m, Val v) noexcept nogil:
    if mode == 4:
        m.i = <int64_t>(<uint64_t>m.i + <uint64_t>v.i)
        return m
    if mode == 0:
        if v.i < m.i:
            return v
    elif mode == 1:
        if v.i > m.i:
            return v
    elif mode == 2:
        if v.f != v.f or v.f < m.f:
            return v
    else:
        if v.f != v.f or v.f > m.f:
            return v
    return m


cdef inline Val _fold_entries(int mode, Entry* buf, Py_ssize_t i, Py_ssize_t j, Val m) noexcept nogil:
    cdef Py_ssize_t k
    cdef int64_t mi
    cdef uint64_t acc
    cdef double mf, x
    if mode == 4:
        acc = <uint64_t>m.i
        for k in range(i, j):
            acc += <uint64_t>buf[k].v.i
        m.i = <int64_t>acc
    elif mode == 0:
        mi = m.i
        for k in range(i, j):
            if buf[k].v.i < mi:
                mi = buf[k].v.i
        m.i = mi
    elif mode == 1:
        mi = m.i
        for k in range(i, j):
            if buf[k].v.i > mi:
                mi = buf[k].v.i
        m.i = mi
    elif mode == 2:
        for k in range(i, j):
            x = buf[k].v.f
            if x != x or x < m.f:
                m.f = x
    else:
        for k in range(i, j):
            x = buf[k].v.f
            if x != x or x > m.f:
                m.f = x
    return m


cdef inline Val _fold_vals(int mode, Val* arr, Py_ssize_t i, Py_ssize_t j, Val m) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(i, j):
        m = _fold1(mode, m, arr[k])
    return m


# tuning (block sizes / thresholds); copied into each WindowState at __init__
cdef int _T_B1 = 6                 # min/max block = 64 entries
cdef int _T_B2 = 12                # min/max superblock = 4096 entries
cdef Py_ssize_t _T_MM_MIN_CAP = 256    # build block summaries once a buffer holds 256
cdef Py_ssize_t _T_MS_MIN_N = 64       # build the distinct multiset at 64 entries
cdef Py_ssize_t _T_SCAN_MAX = 128      # ranges up to this size are simply scanned


def _set_tuning(int b1_shift=6, int b2_shift=12, Py_ssize_t mm_min_cap=256,
                Py_ssize_t ms_min_n=64, Py_ssize_t scan_max=128):
    """Testing hook: accelerator block sizes / thresholds for WindowStates
    created afterwards (existing instances keep theirs).  Defaults restore."""
    global _T_B1, _T_B2, _T_MM_MIN_CAP, _T_MS_MIN_N, _T_SCAN_MAX
    if not (1 <= b1_shift < b2_shift <= 24):
        raise ValueError("need 1 <= b1_shift < b2_shift <= 24")
    if mm_min_cap < 4 or mm_min_cap < ((<Py_ssize_t>1) << b1_shift):
        raise ValueError("mm_min_cap must be >= 4 and >= 2**b1_shift")
    if ms_min_n < 4 or scan_max < 0:
        raise ValueError("ms_min_n must be >= 4 and scan_max >= 0")
    _T_B1 = b1_shift
    _T_B2 = b2_shift
    _T_MM_MIN_CAP = mm_min_cap
    _T_MS_MIN_N = ms_min_n
    _T_SCAN_MAX = scan_max



# ---------------------------------------------------------------------------
# shared slot table (key -> slot, free list, expiry queue, compaction)
#
# Expiry queue: a FIFO ring of slot numbers holding every active slot exactly
# once, in push order.  Each slot remembers its queue value exp (_q_set /
# _q_get), a lower bound of the slot's "newest" timestamp (windows: newest
# entry ts; sequences: the step-0 start) taken when the slot was pushed: at
# creation and again when a popped slot is still alive.  A slot can only be
# empty once its newest value is at or below the cutoff (sequences: strictly
# below), so advance() only pops entries from the front while they are due:
# each pop either frees the slot or re-queues it, and each entry is popped at
# most once per call.  Slots that cannot have expired are never visited, so
# the cost of eviction is proportional to the keys that expire (plus about
# one re-queue per key per window length), not to the number of keys or
# events.  The queue is not strictly sorted (re-queued and late entries), so
# a due entry may wait behind a not-yet-due one: by at most about D + lateness.
# ---------------------------------------------------------------------------

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


cdef class _SlotTable:
    cdef dict _map              # key -> slot number (int)
    cdef list _skeys            # slot -> key (None for free slots)
    cdef Py_ssize_t _free_top   # LIFO stack of free slots, linked through the slots (_free_link)
    cdef Py_ssize_t _n_free
    cdef Py_ssize_t _n_used     # slots [0, _n_used) are active or on the free list
    cdef Py_ssize_t _cap        # allocated capacity of the per-slot arrays
    cdef int32_t* _q_slot       # expiry queue ring of slot numbers
    cdef Py_ssize_t _q_cap      # ring capacity (>= _cap)
    cdef Py_ssize_t _q_head     # ring index of the oldest queue entry
    cdef Py_ssize_t _q_len      # == len(_map): one entry per active slot
    cdef bint _strict           # due iff exp < cutoff (sequences) instead of exp <= cutoff
    cdef bint _has_wm
    cdef bint _has_cutoff
    cdef int64_t _wm
    cdef int64_t _cutoff
    cdef int64_t _horizon       # D for windows, within_ms for sequences

    def __cinit__(self, *args, **kwargs):
        self._map = {}
        self._skeys = []
        self._q_slot = NULL

    def __dealloc__(self):
        free(self._q_slot)
        self._q_slot = NULL

    # -- virtual hooks (implemented by subclasses) ----------------------------
    cdef int _realloc_arrays(self, Py_ssize_t newcap) except -1:
        return 0

    cdef void _init_slot(self, Py_ssize_t slot) noexcept:
        pass

    cdef void _release_slot(self, Py_ssize_t slot) noexcept:
        pass

    cdef bint _slot_is_free(self, Py_ssize_t slot) noexcept:
        return True

    cdef void _set_free_link(self, Py_ssize_t slot, Py_ssize_t nxt) noexcept:
        """Store the next free slot in a free (released) slot."""
        pass

    cdef Py_ssize_t _free_link(self, Py_ssize_t slot) noexcept:
        return -1

    cdef bint _sweep_slot_empty(self, Py_ssize_t slot) noexcept:
        """Evict expired data of an active slot; True if it is now empty."""
        return False

    cdef int64_t _slot_expiry(self, Py_ssize_t slot) noexcept:
        """The queue value of an active slot: its newest ts (INT64_MIN if none)."""
        return INT64_MIN

    cdef void _q_set(self, Py_ssize_t slot, int64_t exp) noexcept:
        """Remember the queue value of a slot being pushed."""
        pass

    cdef int64_t _q_get(self, Py_ssize_t slot) noexcept:
        """The remembered queue value (windows: rounded up to its unit)."""
        return INT64_MIN

    cdef void _move_slot(self, Py_ssize_t dst, Py_ssize_t src) noexcept:
        pass

    cdef void _release_all(self) noexcept:
        pass

    cdef int _expire_extra(self, Py_ssize_t budget) except -1:
        """Further per-advance work (WindowState last/since: dominated entries)."""
        return 0

    cdef void _remap_extra(self, int32_t* remap) noexcept:
        """Slots were renumbered (remap[old] = new, -1 for free slots); NULL: all slots freed."""
        pass

    # -- slot table ----------------------------------------------------------
    cdef inline Py_ssize_t _lookup(self, object key) except -2:
        cdef PyObject* p = PyDict_GetItemWithError(self._map, key)
        if p == NULL:
            return -1
        return <Py_ssize_t>(<object>p)

    cdef int _resize(self, Py_ssize_t newcap) except -1:
        """Reallocate the per-slot arrays and the queue ring (newcap >= _q_len)."""
        cdef int32_t* qs
        cdef Py_ssize_t i, j, n = newcap if newcap > 0 else 1
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
        self._realloc_arrays(newcap)
        self._cap = newcap
        return 0

    cdef inline void _q_push(self, int64_t exp, Py_ssize_t slot) noexcept:
        cdef Py_ssize_t i = self._q_head + self._q_len
        if i >= self._q_cap:
            i -= self._q_cap
        self._q_set(slot, exp)
        self._q_slot[i] = <int32_t>slot
        self._q_len += 1

    cdef Py_ssize_t _new_slot(self, object key, int64_t exp) except -1:
        cdef Py_ssize_t slot, newcap
        if self._n_free > 0:
            self._n_free -= 1
            slot = self._free_top
            self._free_top = self._free_link(slot)
            self._skeys[slot] = key
        else:
            if self._n_used >= _MAX_SLOTS:
                raise MemoryError("too many keys")
            if self._n_used == self._cap:
                newcap = self._cap * 2
                if newcap < _MIN_TABLE:
                    newcap = _MIN_TABLE
                if newcap > _MAX_SLOTS:
                    newcap = _MAX_SLOTS
                self._resize(newcap)
            slot = self._n_used
            self._skeys.append(key)
            self._n_used += 1
        self._init_slot(slot)
        self._map[key] = slot
        self._q_push(exp, slot)
        return slot

    cdef int _free_slot(self, Py_ssize_t slot) except -1:
        """Free an active slot (the caller keeps the queue consistent)."""
        key = self._skeys[slot]
        del self._map[key]
        self._skeys[slot] = None
        self._release_slot(slot)
        self._set_free_link(slot, self._free_top)
        self._free_top = slot
        self._n_free += 1
        return 0

    cdef int _maybe_compact(self) except -1:
        cdef Py_ssize_t active = len(self._map)
        cdef Py_ssize_t i, j, newcap, k
        cdef int32_t* remap
        cdef list newkeys
        if active == 0:
            self._q_head = 0
            self._q_len = 0
            self._remap_extra(NULL)
            if self._n_used > _COMPACT_MIN:
                # give the memory back (an emptied dict keeps its table)
                self._map = {}
                self._release_all()
                self._n_used = 0
                self._n_free = 0
                self._skeys = []
                self._resize(0)
            elif self._n_used:
                # small table: just restart the numbering, keep the allocations
                self._n_used = 0
                self._n_free = 0
                del self._skeys[:]
            return 0
        if self._n_used > _COMPACT_MIN and 4 * active <= self._n_used:
            remap = <int32_t*>malloc(<size_t>self._n_used * sizeof(int32_t))
            if remap == NULL:
                return 0                     # compaction is optional
            newkeys = []
            j = 0
            for i in range(self._n_used):
                if self._slot_is_free(i):
                    remap[i] = -1
                    continue
                key = self._skeys[i]
                if i != j:
                    self._move_slot(j, i)
                self._map[key] = j
                newkeys.append(key)
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
            self._skeys = newkeys
            self._map = dict(self._map)      # dicts never shrink on deletion
            self._n_used = j
            self._n_free = 0
            newcap = _MIN_TABLE
            while newcap < 2 * j:
                newcap *= 2
            if newcap < self._cap:
                self._resize(newcap)
        return 0

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
            if self._sweep_slot_empty(slot):
                self._free_slot(slot)
                freed = True
            else:
                self._q_push(self._slot_expiry(slot), slot)
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
            self._q_set(slot, self._slot_expiry(slot))
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

    cdef int _set_watermark(self, int64_t wm) noexcept:
        """Returns 1 if the watermark moved forward."""
        if self._has_wm and wm <= self._wm:
            return 0
        self._has_wm = True
        self._wm = wm
        if wm >= INT64_MIN + self._horizon:
            self._has_cutoff = True
            self._cutoff = wm - self._horizon
        return 1

    cdef void _reset_table(self) noexcept:
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

    # -- public, shared --------------------------------------------------------
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
        self._advance_to(_to_i64(watermark_ts), budget)

    def sweep(self):
        """Full sweep: evict all keys, free empty ones, compact the slot table."""
        cdef Py_ssize_t slot, i, j, k
        for slot in range(self._n_used):
            if self._slot_is_free(slot):
                continue
            if self._sweep_slot_empty(slot):
                self._free_slot(slot)
        # drop the queue entries of the freed slots (order kept)
        j = self._q_head
        k = self._q_head
        for i in range(self._q_len):
            if not self._slot_is_free(self._q_slot[j]):
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

    cdef Py_ssize_t _py_overhead(self):
        # dict (incl. its hash table) + slot->key list + one int object per key
        return <Py_ssize_t>_sys.getsizeof(self._map) + <Py_ssize_t>_sys.getsizeof(self._skeys) \
            + 32 * len(self._map)


# ---------------------------------------------------------------------------
# WindowState
# ---------------------------------------------------------------------------

@cython.final
cdef class WindowState(_SlotTable):
    """WindowState(agg, duration_ms, lateness_ms=0, is_float=False)

    Sliding event-time window aggregate per key.  ``agg`` is one of
    count, sum, avg, min, max, distinct, last, since.
    """
    cdef readonly str agg
    cdef readonly int64_t duration_ms
    cdef readonly int64_t lateness_ms
    cdef readonly bint is_float
    cdef int _kind
    cdef int _mode             # fold mode for min/max
    cdef bint _keep_last
    cdef bint _int_totals
    cdef bint _use_mm          # min/max block summaries
    cdef bint _use_ms          # distinct multiset
    cdef int _b1
    cdef int _b2
    cdef Py_ssize_t _mm_min_cap
    cdef Py_ssize_t _ms_min_n
    cdef Py_ssize_t _scan_max
    cdef int _qshift           # expiry-queue value granularity (see _q_encode)
    cdef Slot* _slots
    cdef uint64_t* _tot        # running wrapping sum per slot (int sum/avg)
    cdef uint64_t* _abs        # saturating sum of |v| per slot (int sum/avg)
    cdef Aux** _aux            # per-slot accelerator (min/max/distinct), or NULL
    cdef Py_ssize_t _n_entries
    cdef Py_ssize_t _heap_bytes
    cdef uint64_t* _hs_keys    # scratch hash map for distinct
    cdef uint32_t* _hs_cnt
    cdef Py_ssize_t _hs_cap
    # last/since: min-heap of (lower bound of the slot's second entry ts, slot),
    # at least one entry for every slot with >= 2 entries (Slot.qx bit 31 marks
    # slots with an entry; stale entries of freed slots are skipped)
    cdef int64_t* _d_val
    cdef int32_t* _d_slot
    cdef Py_ssize_t _d_cap
    cdef Py_ssize_t _d_len

    def __cinit__(self, *args, **kwargs):
        self._slots = NULL
        self._tot = NULL
        self._abs = NULL
        self._aux = NULL
        self._hs_keys = NULL
        self._hs_cnt = NULL
        self._d_val = NULL
        self._d_slot = NULL

    def __init__(self, agg, duration_ms, lateness_ms=0, is_float=False):
        if agg not in _AGG_CODE:
            raise ValueError("unknown aggregate %r (expected one of %s)" % (agg, ", ".join(AGGREGATES)))
        cdef int64_t d = _to_i64(duration_ms)
        cdef int64_t l = _to_i64(lateness_ms)
        if d <= 0:
            raise ValueError("duration_ms must be > 0")
        if l < 0:
            raise ValueError("lateness_ms must be >= 0")
        self._clear_all()
        self.agg = str(agg)
        self.duration_ms = d
        self.lateness_ms = l
        self.is_float = bool(is_float)
        self._horizon = d
        self._qshift = 0
        while self._qshift < 43 and (d >> (self._qshift + 20)) != 0:
            self._qshift += 1
        self._kind = _AGG_CODE[agg]
        self._keep_last = self._kind == K_LAST or self._kind == K_SINCE
        self._int_totals = (not self.is_float) and (self._kind == K_SUM or self._kind == K_AVG)
        self._use_mm = self._kind == K_MIN or self._kind == K_MAX or self._int_totals
        self._use_ms = self._kind == K_DISTINCT
        if self._int_totals:
            self._mode = 4
        else:
            self._mode = (2 if self.is_float else 0) + (1 if self._kind == K_MAX else 0)
        self._b1 = _T_B1
        self._b2 = _T_B2
        self._mm_min_cap = _T_MM_MIN_CAP
        self._ms_min_n = _T_MS_MIN_N
        self._scan_max = _T_SCAN_MAX

    def __dealloc__(self):
        self._release_all()
        free(self._slots)
        free(self._tot)
        free(self._abs)
        free(self._aux)
        free(self._hs_keys)
        free(self._hs_cnt)
        free(self._d_val)
        free(self._d_slot)
        self._d_val = NULL
        self._d_slot = NULL
        self._slots = NULL
        self._tot = NULL
        self._abs = NULL
        self._aux = NULL
        self._hs_keys = NULL
        self._hs_cnt = NULL

    # -- hooks -----------------------------------------------------------------
    cdef int _realloc_arrays(self, Py_ssize_t newcap) except -1:
        cdef Slot* ns
        cdef uint64_t* nt
        cdef Aux** na
        cdef size_t n = <size_t>(newcap if newcap > 0 else 1)
        ns = <Slot*>realloc(self._slots, n * sizeof(Slot))
        if ns == NULL:
            if newcap > self._cap:
                raise MemoryError()
        else:
            self._slots = ns
        if self._int_totals:
            nt = <uint64_t*>realloc(self._tot, n * sizeof(uint64_t))
            if nt == NULL:
                if newcap > self._cap:
                    raise MemoryError()
            else:
                self._tot = nt
            nt = <uint64_t*>realloc(self._abs, n * sizeof(uint64_t))
            if nt == NULL:
                if newcap > self._cap:
                    raise MemoryError()
            else:
                self._abs = nt
        if self._use_mm or self._use_ms:
            na = <Aux**>realloc(self._aux, n * sizeof(Aux*))
            if na == NULL:
                if newcap > self._cap:
                    raise MemoryError()
            else:
                self._aux = na
        return 0

    cdef void _init_slot(self, Py_ssize_t slot) noexcept:
        cdef Slot* s = &self._slots[slot]
        s.buf = NULL
        s.head = 0
        s.n = 0
        s.cap = 1
        s.qx = 0
        if self._int_totals:
            self._tot[slot] = 0
            self._abs[slot] = 0
        if self._use_mm or self._use_ms:
            self._aux[slot] = NULL

    cdef inline void _drop_aux(self, Py_ssize_t slot) noexcept:
        if (self._use_mm or self._use_ms) and self._aux[slot] != NULL:
            _aux_free(self._aux[slot])
            self._aux[slot] = NULL

    cdef void _release_slot(self, Py_ssize_t slot) noexcept:
        cdef Slot* s = &self._slots[slot]
        if s.n > 0:
            self._n_entries -= s.n
        if s.cap > 1:
            free(s.buf)
            self._heap_bytes -= <Py_ssize_t>s.cap * <Py_ssize_t>sizeof(Entry)
        self._drop_aux(slot)
        s.buf = NULL
        s.cap = 1
        s.head = 0
        s.n = -1

    cdef bint _slot_is_free(self, Py_ssize_t slot) noexcept:
        return self._slots[slot].n < 0

    cdef void _set_free_link(self, Py_ssize_t slot, Py_ssize_t nxt) noexcept:
        self._slots[slot].head = <int32_t>nxt       # (a free slot has n == -1)

    cdef Py_ssize_t _free_link(self, Py_ssize_t slot) noexcept:
        return self._slots[slot].head

    cdef bint _sweep_slot_empty(self, Py_ssize_t slot) noexcept:
        cdef Slot* s = &self._slots[slot]
        self._evict(s, slot)
        return s.n == 0

    cdef int64_t _slot_expiry(self, Py_ssize_t slot) noexcept:
        cdef Slot* s = &self._slots[slot]
        if s.n <= 0:
            return INT64_MIN
        return _slot_buf(s)[s.head + s.n - 1].ts

    cdef void _q_set(self, Py_ssize_t slot, int64_t exp) noexcept:
        cdef Slot* s = &self._slots[slot]
        s.qx = (s.qx & _QFLAG) | _q_encode(exp, self._qshift)

    cdef int64_t _q_get(self, Py_ssize_t slot) noexcept:
        cdef Slot* s = &self._slots[slot]
        cdef int64_t v, m = ((<int64_t>1) << self._qshift) - 1
        if s.n <= 0:
            return INT64_MIN
        v = _q_decode(_slot_buf(s)[s.head + s.n - 1].ts, s.qx & _QMASK, self._qshift)
        if v > INT64_MAX - m:
            return INT64_MAX
        return v + m

    cdef void _move_slot(self, Py_ssize_t dst, Py_ssize_t src) noexcept:
        self._slots[dst] = self._slots[src]
        if self._int_totals:
            self._tot[dst] = self._tot[src]
            self._abs[dst] = self._abs[src]
        if self._use_mm or self._use_ms:
            self._aux[dst] = self._aux[src]
            self._aux[src] = NULL

    cdef void _release_all(self) noexcept:
        cdef Py_ssize_t i
        if self._slots != NULL:
            for i in range(self._n_used):
                if self._slots[i].cap > 1:
                    free(self._slots[i].buf)
                    self._slots[i].buf = NULL
                    self._slots[i].cap = 1
                if (self._use_mm or self._use_ms) and self._aux != NULL and self._aux[i] != NULL:
                    _aux_free(self._aux[i])
                    self._aux[i] = NULL
        self._heap_bytes = 0
        self._n_entries = 0

    cdef int _clear_all(self) except -1:
        self._release_all()
        self._reset_table()
        self._resize(0)
        free(self._hs_keys)
        free(self._hs_cnt)
        self._hs_keys = NULL
        self._hs_cnt = NULL
        self._hs_cap = 0
        self._d_reset()
        return 0

    # -- last/since: dominance heap ---------------------------------------------------
    cdef void _d_reset(self) noexcept:
        free(self._d_val)
        free(self._d_slot)
        self._d_val = NULL
        self._d_slot = NULL
        self._d_cap = 0
        self._d_len = 0

    cdef inline bint _d_less(self, Py_ssize_t i, Py_ssize_t j) noexcept:
        if self._d_val[i] != self._d_val[j]:
            return self._d_val[i] < self._d_val[j]
        return self._d_slot[i] < self._d_slot[j]

    cdef inline void _d_swap(self, Py_ssize_t i, Py_ssize_t j) noexcept:
        cdef int64_t v = self._d_val[i]
        cdef int32_t t = self._d_slot[i]
        self._d_val[i] = self._d_val[j]
        self._d_slot[i] = self._d_slot[j]
        self._d_val[j] = v
        self._d_slot[j] = t

    cdef void _d_sift_down(self, Py_ssize_t i) noexcept:
        cdef Py_ssize_t n = self._d_len, c
        while True:
            c = 2 * i + 1
            if c >= n:
                return
            if c + 1 < n and self._d_less(c + 1, c):
                c += 1
            if not self._d_less(c, i):
                return
            self._d_swap(i, c)
            i = c

    cdef int _d_realloc(self, Py_ssize_t newcap) except -1:
        """Grow (or shrink, best effort) the heap arrays to newcap >= _d_len."""
        cdef int64_t* nv = <int64_t*>realloc(self._d_val, <size_t>newcap * sizeof(int64_t))
        cdef int32_t* ns
        if nv == NULL:
            if newcap > self._d_cap:
                raise MemoryError()
            return 0
        self._d_val = nv
        ns = <int32_t*>realloc(self._d_slot, <size_t>newcap * sizeof(int32_t))
        if ns == NULL:
            if newcap > self._d_cap:
                raise MemoryError()       # (_d_val is merely bigger than needed)
        else:
            self._d_slot = ns
        if newcap < self._d_cap or ns != NULL:
            self._d_cap = newcap
        return 0

    cdef int _d_push(self, int64_t v, Py_ssize_t slot) except -1:
        cdef Py_ssize_t i, p
        if self._d_len == self._d_cap:
            self._d_realloc(self._d_cap * 2 if self._d_cap else 16)
        i = self._d_len
        self._d_val[i] = v
        self._d_slot[i] = <int32_t>slot
        self._d_len += 1
        while i > 0:
            p = (i - 1) >> 1
            if not self._d_less(i, p):
                break
            self._d_swap(i, p)
            i = p
        return 0

    cdef int _expire_extra(self, Py_ssize_t budget) except -1:
        """Pop up to ``budget`` dominance-heap entries with value <= watermark
        (smallest first) and evict those slots (re-pushed while they still
        hold >= 2 entries)."""
        cdef Py_ssize_t done = 0, slot
        cdef int64_t wm = self._wm
        cdef Slot* s
        if not self._keep_last or not self._has_wm:
            return 0
        while done < budget and self._d_len > 0 and self._d_val[0] <= wm:
            slot = self._d_slot[0]
            self._d_len -= 1
            if self._d_len > 0:
                self._d_val[0] = self._d_val[self._d_len]
                self._d_slot[0] = self._d_slot[self._d_len]
                self._d_sift_down(0)
            done += 1
            if slot >= self._n_used or self._slots[slot].n < 0:
                continue                      # stale: the slot was freed
            s = &self._slots[slot]
            s.qx &= _QMASK
            self._evict(s, slot)
            if s.n >= 2:
                self._d_push(s.buf[s.head + 1].ts, slot)
                s.qx |= _QFLAG
        if self._d_cap > 64 and self._d_len * 8 < self._d_cap:
            self._d_realloc(self._d_cap // 2)
        return 0

    cdef void _remap_extra(self, int32_t* remap) noexcept:
        cdef Py_ssize_t i, k = 0
        cdef int32_t ns
        if not self._keep_last:
            return
        if remap == NULL:
            self._d_len = 0
            return
        # keep the entries of live slots (renumbered), then restore the heap
        for i in range(self._d_len):
            ns = remap[self._d_slot[i]] if self._d_slot[i] < self._n_used else -1
            if ns >= 0:
                self._d_val[k] = self._d_val[i]
                self._d_slot[k] = ns
                k += 1
        self._d_len = k
        i = k // 2 - 1
        while i >= 0:
            self._d_sift_down(i)
            i -= 1

    # -- min/max block summaries -----------------------------------------------------
    cdef int _mm_alloc(self, Aux* a, Py_ssize_t cap) noexcept:
        cdef Py_ssize_t nb = cap >> self._b1, ns = (cap >> self._b2) + 1
        cdef Val* p
        if nb < 1:
            nb = 1
        if nb != a.nblk:
            p = <Val*>realloc(a.blk, <size_t>nb * sizeof(Val))
            if p == NULL:
                return -1
            a.blk = p
            a.nblk = nb
        if ns != a.nsblk:
            p = <Val*>realloc(a.sblk, <size_t>ns * sizeof(Val))
            if p == NULL:
                return -1
            a.sblk = p
            a.nsblk = ns
        return 0

    cdef void _mm_rebuild(self, Slot* s, Aux* a, Py_ssize_t p) noexcept:
        """Recompute the summaries of every (super)block holding an index >= p."""
        cdef int mode = self._mode, b1 = self._b1, b2 = self._b2
        cdef Entry* buf = s.buf
        cdef Py_ssize_t head = s.head, end = s.head + s.n, b, bs, be, sb, ss, se, bb, last
        if p < head:
            p = head
        b = p >> b1
        while (b << b1) < end:
            bs = b << b1
            if bs < head:
                bs = head
            be = (b + 1) << b1
            if be > end:
                be = end
            a.blk[b] = _fold_entries(mode, buf, bs + 1, be, buf[bs].v)
            b += 1
        sb = p >> b2
        while (sb << b2) < end:
            ss = sb << b2
            if ss < head:
                ss = head
            se = (sb + 1) << b2
            if se > end:
                se = end
            bb = ss >> b1
            last = (se - 1) >> b1
            a.sblk[sb] = _fold_vals(mode, a.blk, bb + 1, last + 1, a.blk[bb])
            sb += 1

    cdef void _mm_sync(self, Slot* s, Py_ssize_t slot, Py_ssize_t pos, bint append, bint reindexed) noexcept:
        """Bring the block summaries of a slot up to date after a change.

        pos: index of an inserted entry (or -1); append: it went to the end;
        reindexed: entries moved (compaction / shrink) -> full rebuild.
        """
        cdef Aux* a = self._aux[slot]
        cdef int mode = self._mode, b1 = self._b1, b2 = self._b2
        cdef Py_ssize_t bs
        cdef Val v
        if s.cap < self._mm_min_cap or s.n == 0:
            if a != NULL:
                _aux_free(a)
                self._aux[slot] = NULL
            return
        if a == NULL:
            a = <Aux*>calloc(1, sizeof(Aux))
            if a == NULL:
                return
            if self._mm_alloc(a, s.cap) < 0:
                _aux_free(a)
                return
            self._aux[slot] = a
            self._mm_rebuild(s, a, s.head)
            return
        if a.nblk != ((s.cap >> b1) if (s.cap >> b1) > 0 else 1) or a.nsblk != (s.cap >> b2) + 1:
            if self._mm_alloc(a, s.cap) < 0:
                _aux_free(a)
                self._aux[slot] = NULL
                return
        if reindexed or pos < 0:
            self._mm_rebuild(s, a, s.head)
        elif append:
            v = s.buf[pos].v
            bs = (pos >> b1) << b1
            if bs < s.head:
                bs = s.head
            a.blk[pos >> b1] = v if pos == bs else _fold1(mode, a.blk[pos >> b1], v)
            bs = (pos >> b2) << b2
            if bs < s.head:
                bs = s.head
            a.sblk[pos >> b2] = v if pos == bs else _fold1(mode, a.sblk[pos >> b2], v)
        else:
            self._mm_rebuild(s, a, pos)

    cdef Val _mm_range(self, Aux* a, Entry* buf, Py_ssize_t lo, Py_ssize_t hi) noexcept:
        """Fold of buf[lo:hi] (lo < hi) using whole blocks where possible."""
        cdef int mode = self._mode, b1 = self._b1, b2 = self._b2
        cdef Py_ssize_t B1 = (<Py_ssize_t>1) << b1, B2 = (<Py_ssize_t>1) << b2, i, e
        cdef Val m = buf[lo].v
        i = lo + 1
        e = (i + B1 - 1) & ~(B1 - 1)
        if e > hi:
            e = hi
        m = _fold_entries(mode, buf, i, e, m)
        i = e
        while i + B1 <= hi:
            if (i & (B2 - 1)) == 0 and i + B2 <= hi:
                m = _fold1(mode, m, a.sblk[i >> b2])
                i += B2
            else:
                m = _fold1(mode, m, a.blk[i >> b1])
                i += B1
        return _fold_entries(mode, buf, i, hi, m)

    cdef inline uint64_t _isum(self, Aux* a, Entry* buf, Py_ssize_t i, Py_ssize_t j) noexcept:
        """Wrapping sum of buf[i:j].v.i (blocks when the range is long)."""
        cdef uint64_t acc = 0
        cdef Py_ssize_t k
        if j <= i:
            return 0
        if a != NULL and j - i > self._scan_max:
            return <uint64_t>self._mm_range(a, buf, i, j).i
        for k in range(i, j):
            acc += <uint64_t>buf[k].v.i
        return acc

    # -- distinct multiset -------------------------------------------------------------
    cdef void _ms_after_insert(self, Slot* s, Py_ssize_t slot, Val v) noexcept:
        cdef Aux* a = self._aux[slot]
        cdef Entry* buf
        cdef Py_ssize_t i
        if a != NULL:
            if _ms_add(a, _vkey(v, self.is_float)) < 0:
                _aux_free(a)
                self._aux[slot] = NULL
            return
        if s.n < self._ms_min_n:
            return
        a = <Aux*>calloc(1, sizeof(Aux))
        if a == NULL:
            return
        buf = _slot_buf(s)
        for i in range(s.head, s.head + s.n):
            if _ms_add(a, _vkey(buf[i].v, self.is_float)) < 0:
                _aux_free(a)
                return
        self._aux[slot] = a

    cdef void _ms_before_evict(self, Slot* s, Py_ssize_t slot, Entry* buf, Py_ssize_t h, Py_ssize_t k) noexcept:
        cdef Aux* a = self._aux[slot]
        cdef Py_ssize_t i, newcap
        if a == NULL:
            return
        if s.n - k < self._ms_min_n // 4:
            _aux_free(a)
            self._aux[slot] = NULL
            return
        for i in range(h, h + k):
            _ms_remove(a, _vkey(buf[i].v, self.is_float))
        if a.mcap > 16 and a.msize * 8 < a.mcap:
            newcap = 16
            while newcap < a.msize * 4:
                newcap *= 2
            _ms_resize(a, newcap)          # failure keeps the bigger table

    # -- entry buffer management ---------------------------------------------------
    cdef void _shrink(self, Slot* s, Py_ssize_t slot) noexcept:
        """Halve an oversized heap buffer (n * 8 <= cap) or drop it when empty."""
        cdef Entry* nb
        cdef int32_t newcap
        if s.cap <= 1:
            return
        if s.n == 0:
            free(s.buf)
            self._heap_bytes -= <Py_ssize_t>s.cap * <Py_ssize_t>sizeof(Entry)
            s.buf = NULL
            s.cap = 1
            s.head = 0
            self._drop_aux(slot)
            return
        if s.n * 8 > s.cap:
            return
        newcap = s.cap >> 1
        if s.head:
            memmove(s.buf, s.buf + s.head, <size_t>s.n * sizeof(Entry))
            s.head = 0
        nb = <Entry*>realloc(s.buf, <size_t>newcap * sizeof(Entry))
        if nb != NULL:
            s.buf = nb
            self._heap_bytes -= <Py_ssize_t>(s.cap - newcap) * <Py_ssize_t>sizeof(Entry)
            s.cap = newcap
        if self._use_mm:
            self._mm_sync(s, slot, -1, False, True)

    cdef void _evict(self, Slot* s, Py_ssize_t slot) noexcept:
        """Drop entries no allowed query can see (expired / dominated for last)."""
        cdef Py_ssize_t n = s.n, h, k = 0, i
        cdef Entry* buf
        cdef uint64_t t, a
        if n <= 0:
            return
        buf = _slot_buf(s)
        h = s.head
        if self._has_cutoff and buf[h].ts <= self._cutoff:
            k = _first_gt(buf, h, h + n, self._cutoff) - h
        if self._keep_last and self._has_wm:
            while n - k >= 2 and buf[h + k + 1].ts <= self._wm:
                k += 1
        if k == 0:
            return
        if self._int_totals:
            t = self._tot[slot]
            a = self._abs[slot]
            for i in range(h, h + k):
                t -= <uint64_t>buf[i].v.i
            if a != _U64_MAX:
                for i in range(h, h + k):
                    a -= _uabs(buf[i].v.i)
            else:
                a = 0
                for i in range(h + k, h + n):
                    a = _sat_add(a, _uabs(buf[i].v.i))
            self._tot[slot] = t
            self._abs[slot] = a
        elif self._use_ms:
            self._ms_before_evict(s, slot, buf, h, k)
        s.head = <int32_t>(h + k)
        s.n = <int32_t>(n - k)
        self._n_entries -= k
        if s.n == 0:
            s.head = 0
        self._shrink(s, slot)

    cdef int _insert(self, Slot* s, Py_ssize_t slot, int64_t ts, Val v) except -1:
        cdef Entry* buf
        cdef Entry* nb
        cdef Py_ssize_t n = s.n, end, pos, k
        cdef int32_t newcap
        cdef bint reindexed = False
        if n >= _MAX_ENTRIES_PER_KEY:
            raise MemoryError("too many entries for one key")
        if s.cap == 1:
            if n == 0:
                s.inl.ts = ts
                s.inl.v = v
                s.head = 0
                s.n = 1
                self._n_entries += 1
                self._after_insert(s, slot, 0, v, True, False)
                return 0
            nb = <Entry*>malloc(4 * sizeof(Entry))
            if nb == NULL:
                raise MemoryError()
            nb[0] = s.inl
            s.buf = nb
            s.cap = 4
            s.head = 0
            self._heap_bytes += 4 * <Py_ssize_t>sizeof(Entry)
        if s.head + n == s.cap:
            if s.head * 2 >= s.cap:
                memmove(s.buf, s.buf + s.head, <size_t>n * sizeof(Entry))
                s.head = 0
                reindexed = True
            else:
                newcap = s.cap * 2
                nb = <Entry*>realloc(s.buf, <size_t>newcap * sizeof(Entry))
                if nb == NULL:
                    raise MemoryError()
                s.buf = nb
                self._heap_bytes += <Py_ssize_t>(newcap - s.cap) * <Py_ssize_t>sizeof(Entry)
                s.cap = newcap
        buf = s.buf
        end = s.head + n
        if n == 0 or buf[end - 1].ts <= ts:
            pos = end
        else:
            pos = end - 1
            k = 0
            while pos > s.head and buf[pos - 1].ts > ts:
                pos -= 1
                k += 1
                if k == 8:
                    pos = _first_gt(buf, s.head, pos, ts)
                    break
            memmove(buf + pos + 1, buf + pos, <size_t>(end - pos) * sizeof(Entry))
        buf[pos].ts = ts
        buf[pos].v = v
        s.n = <int32_t>(n + 1)
        self._n_entries += 1
        self._after_insert(s, slot, pos, v, pos == end, reindexed)
        return 0

    cdef inline void _after_insert(self, Slot* s, Py_ssize_t slot, Py_ssize_t pos, Val v,
                                   bint append, bint reindexed) noexcept:
        if self._int_totals:
            self._tot[slot] += <uint64_t>v.i
            self._abs[slot] = _sat_add(self._abs[slot], _uabs(v.i))
        if self._use_mm:
            if s.cap >= self._mm_min_cap:
                self._mm_sync(s, slot, pos, append, reindexed)
        elif self._use_ms:
            self._ms_after_insert(s, slot, v)

    cdef inline int _conv(self, object value, Val* out) except -1:
        out.i = 0
        if self._kind == K_COUNT:
            return 0
        if self.is_float:
            out.f = _to_f64(value)
        else:
            out.i = _to_i64(value)
        return 0

    # -- distinct ----------------------------------------------------------------------
    cdef int _ensure_scratch(self, Py_ssize_t cap) except -1:
        cdef uint64_t* k
        cdef uint32_t* c
        if cap <= self._hs_cap:
            return 0
        k = <uint64_t*>malloc(<size_t>cap * sizeof(uint64_t))
        c = <uint32_t*>malloc(<size_t>cap * sizeof(uint32_t))
        if k == NULL or c == NULL:
            free(k)
            free(c)
            raise MemoryError()
        free(self._hs_keys)
        free(self._hs_cnt)
        self._hs_keys = k
        self._hs_cnt = c
        self._hs_cap = cap
        return 0

    cdef Py_ssize_t _scratch_count(self, Entry* buf, Py_ssize_t a0, Py_ssize_t a1, Py_ssize_t b0,
                                   Py_ssize_t b1, Py_ssize_t m, Py_ssize_t* pcap) except -1:
        """Count the keys of buf[a0:a1] + buf[b0:b1] (m entries) into the scratch
        map; returns the number of distinct keys."""
        cdef Py_ssize_t cap = 16, i, j, cnt = 0
        cdef int shift
        cdef uint64_t key
        cdef bint isf = self.is_float
        while cap < 2 * m:
            cap *= 2
        shift = 64 - _log2(cap)
        self._ensure_scratch(cap)
        memset(self._hs_cnt, 0, <size_t>cap * sizeof(uint32_t))
        for i in range(a0, a1):
            key = _vkey(buf[i].v, isf)
            j = _probe(self._hs_keys, self._hs_cnt, cap - 1, shift, key)
            if self._hs_cnt[j] == 0:
                self._hs_keys[j] = key
                cnt += 1
            self._hs_cnt[j] += 1
        for i in range(b0, b1):
            key = _vkey(buf[i].v, isf)
            j = _probe(self._hs_keys, self._hs_cnt, cap - 1, shift, key)
            if self._hs_cnt[j] == 0:
                self._hs_keys[j] = key
                cnt += 1
            self._hs_cnt[j] += 1
        pcap[0] = cap
        return cnt

    cdef Py_ssize_t _distinct(self, Py_ssize_t slot, Entry* buf, Py_ssize_t head, Py_ssize_t lo,
                              Py_ssize_t hi, Py_ssize_t end, bint cur, Val cv) except -1:
        cdef Py_ssize_t cnt = hi - lo, m, i, j, res, lost, cap, outside
        cdef uint64_t small[17]
        cdef uint64_t key, ck
        cdef bint isf = self.is_float
        cdef Aux* a = NULL
        cdef uint32_t oc
        ck = _vkey(cv, isf)
        if slot >= 0 and self._use_ms:
            a = self._aux[slot]
        outside = (lo - head) + (end - hi)
        if a != NULL and outside < cnt:
            # multiset of all stored entries minus what lies outside (lo, hi]
            res = a.msize
            oc = 0
            if outside:
                self._scratch_count(buf, head, lo, hi, end, outside, &cap)
                lost = 0
                for j in range(cap):
                    if self._hs_cnt[j] != 0 and self._hs_cnt[j] == _ms_count(a, self._hs_keys[j]):
                        lost += 1
                res -= lost
                if cur:
                    oc = self._hs_cnt[_probe(self._hs_keys, self._hs_cnt, cap - 1, 64 - _log2(cap), ck)]
            if cur and _ms_count(a, ck) == oc:
                res += 1
            return res
        m = cnt + (1 if cur else 0)
        if m <= 16:
            res = 0
            for i in range(lo, hi + (1 if cur else 0)):
                key = _vkey(buf[i].v, isf) if i < hi else ck
                for j in range(res):
                    if small[j] == key:
                        break
                else:
                    small[res] = key
                    res += 1
            return res
        res = self._scratch_count(buf, lo, hi, 0, 0, cnt, &cap)
        if cur:
            if self._hs_cnt[_probe(self._hs_keys, self._hs_cnt, cap - 1, 64 - _log2(cap), ck)] == 0:
                res += 1
        return res

    # -- shared by the public entry points ------------------------------------------
    cdef inline Py_ssize_t _find(self, object key) except -2:
        """Slot of key (-1 if none), with its expired entries evicted."""
        cdef Py_ssize_t slot = self._lookup(key)
        if slot >= 0:
            self._evict(&self._slots[slot], slot)
        return slot

    cdef int _store(self, object key, Py_ssize_t slot, int64_t t, Val v, bint evicted) except -1:
        """add() once key has been looked up (slot = its slot or -1).  evicted:
        the slot was just evicted (by _find) under the current watermark."""
        cdef Slot* s
        cdef int64_t old2, new2
        if self._has_cutoff and t <= self._cutoff:
            return 0              # already expired for every allowed query
        if slot < 0:
            slot = self._new_slot(key, t)
        s = &self._slots[slot]
        if not self._keep_last:
            self._insert(s, slot, t, v)
            if not evicted:
                # (after _find every entry, and t, lies above the cutoff: nothing to evict)
                self._evict(s, slot)
            return 0
        old2 = _slot_buf(s)[s.head + 1].ts if s.n >= 2 else INT64_MAX
        self._insert(s, slot, t, v)
        self._evict(s, slot)
        if s.n >= 2:
            # the dominance heap needs an entry whose value is <= the second ts
            new2 = s.buf[s.head + 1].ts
            if not (s.qx & _QFLAG) or new2 < old2:
                self._d_push(new2, slot)
                s.qx |= _QFLAG
        return 0

    cdef object _result(self, Py_ssize_t slot, int64_t t, bint cur, Val cv):
        """query() once key has been found (and evicted); cv is used only if cur."""
        cdef int kind = self._kind
        cdef Val mm
        cdef Py_ssize_t lo = 0, hi = 0, head = 0, end = 0, cnt, i, k
        cdef Slot* s = NULL
        cdef Entry* buf = NULL
        cdef Aux* a
        cdef uint64_t acc
        cdef int64_t isum
        cdef double fsum
        cdef bint exact = True
        if slot >= 0:
            s = &self._slots[slot]
            if s.n > 0:
                buf = _slot_buf(s)
                head = s.head
                end = head + s.n
                # hi: first index with ts_e > t (search from the end)
                i = end
                k = 0
                while i > head and buf[i - 1].ts > t:
                    i -= 1
                    k += 1
                    if k == 8:
                        i = _first_gt(buf, head, i, t)
                        break
                hi = i
                # lo: first index with ts_e > t - D (search from the front)
                i = head
                if t >= INT64_MIN + self.duration_ms:
                    k = 0
                    while i < hi and buf[i].ts <= t - self.duration_ms:
                        i += 1
                        k += 1
                        if k == 8:
                            i = _first_gt(buf, i, hi, t - self.duration_ms)
                            break
                lo = i
        cnt = hi - lo

        if kind == K_COUNT:
            return cnt + (1 if cur else 0)

        if kind == K_SUM or kind == K_AVG:
            if self.is_float:
                fsum = 0.0
                for i in range(lo, hi):
                    fsum += buf[i].v.f
                if cur:
                    fsum += cv.f
                    cnt += 1
                if kind == K_SUM:
                    return fsum
                return (fsum, cnt) if cnt else None
            if cnt == 0:
                isum = 0
            elif self._abs[slot] < _EXACT_BOUND:
                # |any subset sum| < 2**63: wrapping arithmetic is exact
                a = self._aux[slot]
                if 2 * cnt <= end - head:
                    acc = self._isum(a, buf, lo, hi)
                else:
                    acc = self._tot[slot] - self._isum(a, buf, head, lo) - self._isum(a, buf, hi, end)
                isum = <int64_t>acc
            else:
                exact = False
            if exact:
                if cur:
                    cnt += 1
                    if _add_overflows(isum, cv.i):
                        total = <object>isum + <object>cv.i
                    else:
                        total = isum + cv.i
                else:
                    total = isum
            else:
                total = 0
                for i in range(lo, hi):
                    total += buf[i].v.i
                if cur:
                    cnt += 1
                    total += cv.i
            if kind == K_SUM:
                return total
            return (total, cnt) if cnt else None

        if kind == K_MIN or kind == K_MAX:
            if cnt == 0:
                if not cur:
                    return None
                mm = cv
            else:
                a = self._aux[slot]
                if a != NULL and cnt > self._scan_max:
                    mm = self._mm_range(a, buf, lo, hi)
                else:
                    mm = _fold_entries(self._mode, buf, lo + 1, hi, buf[lo].v)
                if cur:
                    mm = _fold1(self._mode, mm, cv)
            if self.is_float:
                return mm.f
            return mm.i

        if kind == K_DISTINCT:
            return self._distinct(slot, buf, head, lo, hi, end, cur, cv)

        # last / since: most recent entry with t - D < ts_e <= t
        if cnt == 0:
            return None
        if kind == K_LAST:
            if self.is_float:
                return buf[hi - 1].v.f
            return buf[hi - 1].v.i
        return <int64_t>(<uint64_t>t - <uint64_t>buf[hi - 1].ts)

    # -- public API ----------------------------------------------------------------
    def add(self, key, ts, value=0):
        """add(key, ts, value=0) -> None: store the entry (ts, value) for key."""
        cdef int64_t t = _to_i64(ts)
        cdef Val v
        self._conv(value, &v)
        self._store(key, self._lookup(key), t, v, False)
        return None

    def query(self, key, ts, value=0, bint include_current=False):
        """query(key, ts, value=0, include_current=False)

        Aggregate over the key's entries with ts - D < ts_e <= ts, plus the
        hypothetical entry (ts, value) if include_current (ignored for
        last/since).  count/distinct -> int; sum -> int/float; avg ->
        (sum, count) or None; min/max/last -> value or None; since -> ms or None.
        """
        cdef int64_t t = _to_i64(ts)
        cdef bint cur = include_current and self._kind != K_LAST and self._kind != K_SINCE
        cdef Val cv
        cv.i = 0
        if cur and self._kind != K_COUNT:
            self._conv(value, &cv)
        return self._result(self._find(key), t, cur, cv)

    def query_add(self, key, ts, value=0, bint include_current=False):
        """query_add(key, ts, value=0, include_current=False)

        ``query(key, ts, value, include_current)`` then ``add(key, ts, value)``
        with one key lookup; returns the query result.  ts and value are
        converted first, so a value add() would reject raises before
        anything is queried or stored.
        """
        cdef int64_t t = _to_i64(ts)
        cdef bint cur = include_current and self._kind != K_LAST and self._kind != K_SINCE
        cdef Val cv
        cdef Py_ssize_t slot
        self._conv(value, &cv)        # what query (if cur) and add would both convert
        slot = self._find(key)
        r = self._result(slot, t, cur, cv)
        self._store(key, slot, t, cv, True)
        return r

    def entry_count(self):
        """Total number of stored entries over all keys."""
        return self._n_entries

    def nbytes(self):
        """Approximate memory in bytes.

        C memory: slot table (capacity * 40 B; free slots are linked through
        it), expiry queue (capacity * 4 B), last/since dominance heap (12 B
        per heap capacity),
        running totals for int sum/avg (capacity * 16 B), per-slot accelerator
        pointers for min/max/distinct/int sum/int avg (capacity * 8 B) and the
        accelerators of large keys (block summaries ~ 1/8 of the entry
        buffer; distinct multiset 12-48 B per distinct value), malloc'd entry
        buffers (capacity * 16 B each; a single entry is stored inline in the
        slot), distinct scratch space.
        Python overhead: sys.getsizeof of the key dict and of the slot->key
        list + 32 B per key for the slot-number int object.  The key objects
        themselves and malloc headers are not counted.
        """
        cdef Py_ssize_t c = self._cap * <Py_ssize_t>sizeof(Slot) + self._q_cap * 4 + self._d_cap * 12, i
        if self._int_totals:
            c += self._cap * 16
        if self._use_mm or self._use_ms:
            c += self._cap * 8
            for i in range(self._n_used):
                if self._slots[i].n >= 0:
                    c += _aux_nbytes(self._aux[i])
        c += self._heap_bytes + self._hs_cap * 12
        return c + self._py_overhead()

    def clear(self):
        """Drop all keys and entries and forget the watermark (fresh state)."""
        self._clear_all()

    def dump(self):
        """Exact stored content: [(key, [(ts, value), ...]), ...] in key order."""
        cdef list out = []
        cdef list entries
        cdef Py_ssize_t slot, i
        cdef Slot* s
        cdef Entry* buf
        for key, slot_obj in self._map.items():
            slot = slot_obj
            s = &self._slots[slot]
            buf = _slot_buf(s)
            entries = []
            for i in range(s.head, s.head + s.n):
                if self._kind == K_COUNT:
                    entries.append((buf[i].ts, 0))
                elif self.is_float:
                    entries.append((buf[i].ts, buf[i].v.f))
                else:
                    entries.append((buf[i].ts, buf[i].v.i))
            out.append((key, entries))
        return out

    def load(self, items):
        """Replace the state with items as produced by dump().

        The watermark is reset (nothing is evicted while loading); entries are
        inserted in the given order (stable for equal timestamps).
        """
        self._clear_all()
        for key, entries in items:
            if self._lookup(key) < 0:
                self._new_slot(key, INT64_MIN)
            for ts, value in entries:
                self.add(key, ts, value)
        self._q_refresh()

    def __getstate__(self):
        return {"config": (self.agg, self.duration_ms, self.lateness_ms, self.is_float),
                "watermark": self.watermark, "items": self.dump()}

    def __setstate__(self, state):
        agg, d, l, f = state["config"]
        self.__init__(agg, d, l, f)
        self.load(state["items"])
        wm = state["watermark"]
        if wm is not None:
            self.advance(wm, 0)

    def __reduce__(self):
        return (WindowState, (self.agg, self.duration_ms, self.lateness_ms, self.is_float),
                self.__getstate__())

    def __repr__(self):
        return "<%s %s D=%d L=%d float=%s keys=%d entries=%d>" % (
            type(self).__name__, self.agg, self.duration_ms, self.lateness_ms,
            self.is_float, len(self._map), self._n_entries)



# ---------------------------------------------------------------------------
# SequenceState
# ---------------------------------------------------------------------------

@cython.final
cdef class SequenceState(_SlotTable):
    """SequenceState(n_steps, within_ms)

    Per-key chain detection in arrival order.  ``matches`` is an int bitmask
    (bit i set <=> the event satisfies step i; taken modulo 2**n_steps, so
    negative ints act as two's complement; fastest) or a sequence of exactly
    n_steps truthy/falsy values.
    """
    cdef readonly int n_steps
    cdef readonly int64_t within_ms
    cdef Py_ssize_t _m           # n_steps - 1 start timestamps per key
    cdef Py_ssize_t _stride      # int64 words per slot: 1 (bits) + _m
    cdef uint64_t _mask_all
    cdef int64_t* _rec           # per slot: [bits, start_0, ..., start_{m-1}]
    cdef int64_t* _qexp          # per slot: expiry-queue value

    def __cinit__(self, *args, **kwargs):
        self._rec = NULL
        self._qexp = NULL

    def __init__(self, n_steps, within_ms):
        cdef int64_t n = _to_i64(n_steps)
        cdef int64_t w = _to_i64(within_ms)
        if n < 1 or n > 64:
            raise ValueError("n_steps must be in 1..64")
        if w < 0:
            raise ValueError("within_ms must be >= 0")
        self._release_all()
        self._reset_table()
        self._resize(0)
        self.n_steps = <int>n
        self.within_ms = w
        self._horizon = w
        self._strict = True
        self._m = n - 1
        self._stride = n
        self._mask_all = _U64_MAX if n == 64 else (((<uint64_t>1) << n) - 1)

    def __dealloc__(self):
        free(self._rec)
        free(self._qexp)
        self._rec = NULL
        self._qexp = NULL

    # -- hooks -----------------------------------------------------------------
    cdef int _realloc_arrays(self, Py_ssize_t newcap) except -1:
        cdef int64_t* nr
        cdef size_t n = <size_t>(newcap if newcap > 0 else 1) * <size_t>self._stride
        nr = <int64_t*>realloc(self._rec, n * sizeof(int64_t))
        if nr == NULL:
            if newcap > self._cap:
                raise MemoryError()
        else:
            self._rec = nr
        nr = <int64_t*>realloc(self._qexp, <size_t>(newcap if newcap > 0 else 1) * sizeof(int64_t))
        if nr == NULL:
            if newcap > self._cap:
                raise MemoryError()
        else:
            self._qexp = nr
        return 0

    cdef void _init_slot(self, Py_ssize_t slot) noexcept:
        cdef int64_t* r = self._rec + slot * self._stride
        r[0] = <int64_t>_SEQ_ACTIVE

    cdef void _release_slot(self, Py_ssize_t slot) noexcept:
        self._rec[slot * self._stride] = 0

    cdef bint _slot_is_free(self, Py_ssize_t slot) noexcept:
        return (<uint64_t>self._rec[slot * self._stride] & _SEQ_ACTIVE) == 0

    cdef void _set_free_link(self, Py_ssize_t slot, Py_ssize_t nxt) noexcept:
        self._rec[slot * self._stride] = <int64_t>nxt     # < 2**31: the active bit stays clear

    cdef Py_ssize_t _free_link(self, Py_ssize_t slot) noexcept:
        return <Py_ssize_t>self._rec[slot * self._stride]

    cdef bint _sweep_slot_empty(self, Py_ssize_t slot) noexcept:
        cdef int64_t* r = self._rec + slot * self._stride
        cdef uint64_t bits = <uint64_t>r[0]
        cdef Py_ssize_t i
        if self._has_cutoff:
            for i in range(self._m):
                if (bits >> i) & 1 and r[1 + i] < self._cutoff:
                    bits &= ~((<uint64_t>1) << i)
            r[0] = <int64_t>bits
        return (bits & 1) == 0

    cdef int64_t _slot_expiry(self, Py_ssize_t slot) noexcept:
        cdef int64_t* r = self._rec + slot * self._stride
        if <uint64_t>r[0] & 1:
            return r[1]
        return INT64_MIN

    cdef void _move_slot(self, Py_ssize_t dst, Py_ssize_t src) noexcept:
        memcpy(self._rec + dst * self._stride, self._rec + src * self._stride,
               <size_t>self._stride * sizeof(int64_t))
        self._qexp[dst] = self._qexp[src]

    cdef void _q_set(self, Py_ssize_t slot, int64_t exp) noexcept:
        self._qexp[slot] = exp

    cdef int64_t _q_get(self, Py_ssize_t slot) noexcept:
        return self._qexp[slot]

    cdef void _release_all(self) noexcept:
        pass

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
        cdef int64_t t = _to_i64(ts)
        cdef uint64_t mask = self._mask(matches)
        if not ((mask >> self._m) & 1):
            return False
        if self._m == 0:
            return True
        return self._completes(self._lookup(key), t, mask)

    def add(self, key, ts, matches):
        """add(key, ts, matches) -> None: advance the chains with this event."""
        cdef int64_t t = _to_i64(ts)
        cdef uint64_t mask = self._mask(matches)
        if self._m == 0:
            return None
        self._step(key, self._lookup(key), t, mask)
        return None

    def query_add(self, key, ts, matches):
        """query_add(key, ts, matches) -> bool

        ``query(key, ts, matches)`` then ``add(key, ts, matches)`` with one
        key lookup (matches is read once); returns the query result.
        """
        cdef int64_t t = _to_i64(ts)
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
        the expiry queue (capacity * 4 B) plus the Python overhead (dict +
        slot->key list + 32 B per key)."""
        return self._cap * (self._stride * 8 + 8) + self._q_cap * 4 + self._py_overhead()

    def clear(self):
        self._reset_table()
        self._resize(0)

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
            conv = [None if x is None else _to_i64(x) for x in starts]
            if m == 0:
                continue
            slot = self._lookup(key)
            if slot < 0:
                slot = self._new_slot(key, INT64_MIN)
            r = self._rec + slot * self._stride
            bits = _SEQ_ACTIVE
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


def advance_all(states, watermark_ts, Py_ssize_t budget=DEFAULT_SWEEP_BUDGET):
    """advance_all(states, watermark_ts, budget=8)

    ``s.advance(watermark_ts, budget)`` for every WindowState/SequenceState in
    the iterable ``states``, without a Python-level call per state (anything
    else raises TypeError).
    """
    cdef int64_t wm = _to_i64(watermark_ts)
    cdef _SlotTable st
    for obj in states:
        st = <_SlotTable?>obj
        st._advance_to(wm, budget)


# ---------------------------------------------------------------------------
# stable_hash
# ---------------------------------------------------------------------------

cdef inline uint64_t _fnv_bytes(uint64_t h, const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * _FNV_PRIME
    return h


cdef inline uint64_t _fnv_byte(uint64_t h, unsigned char b) noexcept nogil:
    return (h ^ b) * _FNV_PRIME


cdef inline uint64_t _fnv_u64(uint64_t h, uint64_t x) noexcept nogil:
    cdef int i
    for i in range(8):
        h = (h ^ (x & 0xFF)) * _FNV_PRIME
        x >>= 8
    return h


cdef uint64_t _hash_obj(object value, int depth) except? 0:
    cdef uint64_t h
    cdef Py_ssize_t n
    cdef const char* p
    cdef int overflow = 0
    cdef long long iv
    cdef double d
    cdef Val u
    if isinstance(value, str):
        h = _fnv_byte(_FNV_OFFSET, b's')
        if PyUnicode_IS_COMPACT_ASCII(value):
            return _fnv_bytes(h, <const unsigned char*>PyUnicode_DATA(value), PyUnicode_GET_LENGTH(value))
        try:
            p = PyUnicode_AsUTF8AndSize(value, &n)
        except UnicodeEncodeError:
            b = (<str>value).encode("utf-8", "surrogatepass")
            return _fnv_bytes(h, <const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        return _fnv_bytes(h, <const unsigned char*>p, n)
    if isinstance(value, int):
        iv = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0:
            return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'i'), <uint64_t>iv)
        b = str(int(value)).encode("ascii")
        return _fnv_bytes(_fnv_byte(_FNV_OFFSET, b'I'), <const unsigned char*>PyBytes_AS_STRING(b),
                          PyBytes_GET_SIZE(b))
    if isinstance(value, float):
        d = PyFloat_AS_DOUBLE(value) if PyFloat_CheckExact(value) else float(value)
        if d == d and d >= -9223372036854775808.0 and d < 9223372036854775808.0 \
                and d == <double>(<int64_t>d):
            return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'i'), <uint64_t>(<int64_t>d))
        if d != d:
            return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'f'), _CANON_NAN)
        u.f = d
        return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'f'), <uint64_t>u.i)
    if value is None:
        return _fnv_byte(_FNV_OFFSET, b'n')
    if isinstance(value, bytes):
        return _fnv_bytes(_fnv_byte(_FNV_OFFSET, b'b'), <const unsigned char*>PyBytes_AS_STRING(value),
                          PyBytes_GET_SIZE(value))
    if isinstance(value, bytearray):
        return _fnv_bytes(_fnv_byte(_FNV_OFFSET, b'b'), <const unsigned char*>PyByteArray_AS_STRING(value),
                          PyByteArray_GET_SIZE(value))
    if isinstance(value, tuple):
        if depth >= _MAX_HASH_DEPTH:
            raise ValueError("stable_hash: tuples nested deeper than %d" % _MAX_HASH_DEPTH)
        h = _fnv_u64(_fnv_byte(_FNV_OFFSET, b't'), <uint64_t>len(<tuple>value))
        for item in <tuple>value:
            h = _fnv_u64(h, _hash_obj(item, depth + 1))
        return h
    raise TypeError("stable_hash: unsupported type %s" % type(value).__name__)


def stable_hash(value):
    """stable_hash(value) -> int

    Stable, process-independent signed 64-bit FNV-1a hash of str, int, bool,
    float, None, bytes, bytearray and tuples of those nested at most 100
    deep (deeper raises ValueError).  See
    ruledsl.state_py.stable_hash for the exact byte encoding.
    """
    return <int64_t>_hash_obj(value, 0)
