# A window key's entries: the slot record of WindowState and helpers on it.
#
# Inline only (no module behind this .pxd): cimported by windows.pyx and
# accel.pyx.  The pure-Python twin keeps a key's entries in two lists
# (timestamps, values) instead, see ruledsl/kernels/windows_py.py.

from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t, INT64_MIN, INT64_MAX, UINT64_MAX
from libc.string cimport memcpy


cdef union Val:
    int64_t i               # value of an int window (count windows store 0)
    double f                # value of a float window


ctypedef struct Entry:
    int64_t ts              # event time, ms
    Val v                   # the event's value


# WindowState's column-0 record (40 bytes).  A key's entries are sorted by ts
# in a "gap at the front" buffer: eviction advances head, appends go to the
# end, out-of-order inserts memmove the tail.  While the slot is free the slot
# table keeps its free-list link in the first 4 bytes (the record is rebuilt
# by WindowState._init_slot when the slot is reused).
ctypedef struct Slot:
    Entry* buf              # malloc'd entry buffer when cap > 1, else unused
    int32_t head            # index in the buffer of the oldest entry
    int32_t n               # number of entries
    int32_t cap             # buffer capacity; 1 => the single entry lives in `inl`
    uint32_t qx             # bits 0-30: expiry-queue value (_q_encode below); bit 31
                            # (last/since windows): the slot has an entry in the dominance heap
    Entry inl               # the entry of a slot holding at most one (no malloc)


cdef inline Entry* _slot_buf(Slot* s) noexcept nogil:
    if s.cap == 1:
        return &s.inl
    return s.buf


cdef inline int64_t _pack_entries(Slot* slots, uint64_t* used, Py_ssize_t n_used, bint ts_only,
                                  int32_t* counts, int64_t* out, int64_t room) noexcept nogil:
    """The entries of every active slot (bit set in used) packed into out, slot after slot, each
    an Entry or (ts_only) its ts alone; counts[s] = slot s's entries.  Returns how many entries
    were packed, -1 if there were more than room."""
    cdef Py_ssize_t slot, i
    cdef int64_t pos = 0
    cdef Slot* s
    cdef Entry* e
    for slot in range(n_used):
        counts[slot] = 0
        if ((used[slot >> 6] >> (slot & 63)) & 1) == 0:
            continue
        s = &slots[slot]
        if s.n <= 0:
            continue
        if pos + s.n > room:
            return -1
        counts[slot] = s.n
        e = _slot_buf(s) + s.head
        if ts_only:
            for i in range(s.n):
                out[pos + i] = e[i].ts
        elif s.n == 1:
            (<Entry*>out)[pos] = e[0]
        else:
            memcpy((<Entry*>out) + pos, e, <size_t>s.n * sizeof(Entry))
        pos += s.n
    return pos


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
        return UINT64_MAX
    return r


cdef inline bint _add_overflows(int64_t a, int64_t b) noexcept nogil:
    if b > 0:
        return a > INT64_MAX - b
    return a < INT64_MIN - b


cdef inline uint64_t _float_key(double d) noexcept nogil:
    """Distinct-value key of a float: -0.0 == 0.0, every NaN the same."""
    cdef Val u
    if d != d:
        return <uint64_t>0x7FF8000000000000
    if d == 0.0:
        return 0
    u.f = d
    return <uint64_t>u.i


cdef inline uint64_t _vkey(Val v, bint isf) noexcept nogil:
    """Distinct-value key of a stored value."""
    if isf:
        return _float_key(v.f)
    return <uint64_t>v.i


# A window slot keeps its expiry-queue value (a timestamp) in 31 bits of qx:
# the value >> shift (shift = bit length of D - 20, at least 0) modulo 2**31.
# It is decoded against the slot's newest ts, which is >= the value and (by
# much more than the time a slot spends in the queue) less than 2**31 units
# above it, as the largest (multiple of 2**shift) <= newest with those bits,
# i.e. the value rounded down to a multiple of 2**shift; WindowState._q_get
# then rounds it up (+ 2**shift - 1), so a slot never comes due before its
# value (which could re-queue it behind younger slots), at most D / 2**20 ms
# late.
cdef enum:
    _QMASK = 0x7FFFFFFF     # the queue-value bits of Slot.qx


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
