# Large-key accelerators of WindowState (declaration + the inline folds).
#
# min/max and int sum/avg: per-slot block summaries.  blk[b] is the
# left-to-right fold (min / max / wrapping int64 sum, exact under the |v|
# bound) of the entries at buffer indices [b << b1, (b + 1) << b1) and sblk[s]
# the fold over [s << b2, (s + 1) << b2) (clipped to the live end).  The
# summaries are exact for every block that starts at or after `head`; blocks
# straddling `head` may still include evicted entries and are never used whole
# (queries only use blocks lying entirely inside [lo, hi), and lo >= head).
# The fold keeps the first of equal values and lets NaN absorb, so it is
# associative and a block fold gives bit-for-bit the same result as a
# sequential scan.
#
# distinct: per-slot multiset (value key -> count) once a slot holds many
# entries; a query then only looks at the entries *outside* (lo, hi].
#
# Only large keys reach the functions of accel.pyx (a call through Cython's
# imported function pointer); what every query of a small key runs (the folds,
# the int sum scan) is inline here.  C only: the pure-Python twin needs no
# accelerators (ruledsl/kernels/windows_py.py answers from plain lists).

from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.stdlib cimport free

from ruledsl.kernels.entries cimport Val, Entry, Slot

cdef enum:
    FOLD_IMIN = 0           # fold modes (Tuning.mode): int min
    FOLD_IMAX = 1           # int max
    FOLD_FMIN = 2           # float min (NaN absorbs)
    FOLD_FMAX = 3           # float max (NaN absorbs)
    FOLD_ISUM = 4           # wrapping int64 sum


# A WindowState's accelerator settings (tuning_defaults at __init__; _set_tuning in accel.pyx).
ctypedef struct Tuning:
    int mode                # FOLD_*: how block summaries fold values
    int b1                  # log2 of the block size (entries per blk summary)
    int b2                  # log2 of the superblock size (entries per sblk summary)
    Py_ssize_t mm_min_cap   # a slot gets block summaries once its buffer capacity reaches this
    Py_ssize_t ms_min_n     # a distinct slot gets its multiset once it holds this many entries
    Py_ssize_t scan_max     # ranges up to this many entries are scanned, not folded from blocks
    bint isf                # float window (distinct keys compare floats by value)


# Per-slot accelerator (malloc'd; the slot's pointer in WindowState._aux).
ctypedef struct Aux:
    Val* blk                # block summaries (min/max/int sum/avg), nblk of them
    Val* sblk               # superblock summaries, nsblk of them
    Py_ssize_t nblk         # len(blk): buffer capacity >> b1 (at least 1)
    Py_ssize_t nsblk        # len(sblk): (buffer capacity >> b2) + 1
    uint64_t* mkeys         # distinct multiset: value key per bucket (linear probing)
    uint32_t* mcnt          # count per bucket; 0 = empty bucket
    Py_ssize_t mcap         # buckets: a power of two (or 0)
    Py_ssize_t msize        # number of distinct keys
    int mshift              # 64 - log2(mcap): the home bucket is the top bits of a Fibonacci hash


# Scratch hash map of a WindowState, reused by distinct queries over big ranges.
ctypedef struct Scratch:
    uint64_t* keys          # value key per bucket
    uint32_t* cnt           # count per bucket (cleared per query)
    Py_ssize_t cap          # buckets allocated (a power of two, or 0)


cdef void tuning_defaults(Tuning* t) noexcept
cdef int mm_alloc(Aux* a, Py_ssize_t cap, const Tuning* t) noexcept nogil
cdef void mm_rebuild(Slot* s, Aux* a, Py_ssize_t p, const Tuning* t) noexcept nogil
cdef void mm_sync(Slot* s, Aux** pa, Py_ssize_t pos, bint append, bint reindexed, const Tuning* t) noexcept nogil
cdef Val mm_range(Aux* a, Entry* buf, Py_ssize_t lo, Py_ssize_t hi, const Tuning* t) noexcept nogil
cdef void ms_after_insert(Slot* s, Aux** pa, Val v, const Tuning* t) noexcept nogil
cdef void ms_before_evict(Slot* s, Aux** pa, Entry* buf, Py_ssize_t h, Py_ssize_t k, const Tuning* t) noexcept nogil
cdef Py_ssize_t distinct_count(Scratch* sc, Aux* a, Entry* buf, Py_ssize_t head, Py_ssize_t lo, Py_ssize_t hi,
                               Py_ssize_t end, bint cur, Val cv, bint isf) except -1
cdef void scratch_free(Scratch* sc) noexcept nogil


cdef inline void aux_free(Aux* a) noexcept nogil:
    if a != NULL:
        free(a.blk)
        free(a.sblk)
        free(a.mkeys)
        free(a.mcnt)
        free(a)


cdef inline Py_ssize_t aux_nbytes(Aux* a) noexcept nogil:
    if a == NULL:
        return 0
    return <Py_ssize_t>sizeof(Aux) + (a.nblk + a.nsblk) * <Py_ssize_t>sizeof(Val) + a.mcap * 12


cdef inline Val fold1(int mode, Val m, Val v) noexcept nogil:
    """Fold one value into m."""
    if mode == FOLD_ISUM:
        m.i = <int64_t>(<uint64_t>m.i + <uint64_t>v.i)
        return m
    if mode == FOLD_IMIN:
        if v.i < m.i:
            return v
    elif mode == FOLD_IMAX:
        if v.i > m.i:
            return v
    elif mode == FOLD_FMIN:
        if v.f != v.f or v.f < m.f:
            return v
    else:
        if v.f != v.f or v.f > m.f:
            return v
    return m


cdef inline Val fold_entries(int mode, Entry* buf, Py_ssize_t i, Py_ssize_t j, Val m) noexcept nogil:
    """Fold the values of buf[i:j] into m."""
    cdef Py_ssize_t k
    cdef int64_t mi
    cdef uint64_t acc
    cdef double x
    if mode == FOLD_ISUM:
        acc = <uint64_t>m.i
        for k in range(i, j):
            acc += <uint64_t>buf[k].v.i
        m.i = <int64_t>acc
    elif mode == FOLD_IMIN:
        mi = m.i
        for k in range(i, j):
            if buf[k].v.i < mi:
                mi = buf[k].v.i
        m.i = mi
    elif mode == FOLD_IMAX:
        mi = m.i
        for k in range(i, j):
            if buf[k].v.i > mi:
                mi = buf[k].v.i
        m.i = mi
    elif mode == FOLD_FMIN:
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


cdef inline uint64_t isum(Aux* a, Entry* buf, Py_ssize_t i, Py_ssize_t j, const Tuning* t) noexcept nogil:
    """Wrapping sum of buf[i:j].v.i (from the block summaries when the range is long)."""
    cdef uint64_t acc = 0
    cdef Py_ssize_t k
    if j <= i:
        return 0
    if a != NULL and j - i > t.scan_max:
        return <uint64_t>mm_range(a, buf, i, j, t).i
    for k in range(i, j):
        acc += <uint64_t>buf[k].v.i
    return acc
