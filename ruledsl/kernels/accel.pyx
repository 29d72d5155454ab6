# cython: language_level=3, cdivision=True, nonecheck=False, overflowcheck=False
# cython: infer_types=False, auto_pickle=False, embedsignature=True, binding=False
"""Large-key accelerators of WindowState: block summaries and the distinct multiset.

See ``accel.pxd`` for the data structures.  C only, except the testing hook
``_set_tuning``.
"""

from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memset

from ruledsl.kernels.entries cimport Val, Entry, Slot, _slot_buf, _vkey


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


cdef void tuning_defaults(Tuning* t) noexcept:
    """Block sizes and thresholds as currently tuned (fold mode and isf are the window's)."""
    t.b1 = _T_B1
    t.b2 = _T_B2
    t.mm_min_cap = _T_MM_MIN_CAP
    t.ms_min_n = _T_MS_MIN_N
    t.scan_max = _T_SCAN_MAX


# ---------------------------------------------------------------------------
# distinct multiset (value key -> count, linear probing, no tombstones)
# ---------------------------------------------------------------------------

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
    # backward-shift deletion
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


cdef void ms_after_insert(Slot* s, Aux** pa, Val v, const Tuning* t) noexcept nogil:
    """A distinct slot got the entry v: count it (building the multiset once
    the slot holds ms_min_n entries; dropped if out of memory)."""
    cdef Aux* a = pa[0]
    cdef Entry* buf
    cdef Py_ssize_t i
    if a != NULL:
        if _ms_add(a, _vkey(v, t.isf)) < 0:
            aux_free(a)
            pa[0] = NULL
        return
    if s.n < t.ms_min_n:
        return
    a = <Aux*>calloc(1, sizeof(Aux))
    if a == NULL:
        return
    buf = _slot_buf(s)
    for i in range(s.head, s.head + s.n):
        if _ms_add(a, _vkey(buf[i].v, t.isf)) < 0:
            aux_free(a)
            return
    pa[0] = a


cdef void ms_before_evict(Slot* s, Aux** pa, Entry* buf, Py_ssize_t h, Py_ssize_t k, const Tuning* t) noexcept nogil:
    """buf[h:h + k] are about to be evicted from a distinct slot."""
    cdef Aux* a = pa[0]
    cdef Py_ssize_t i, newcap
    if a == NULL:
        return
    if s.n - k < t.ms_min_n // 4:
        aux_free(a)
        pa[0] = NULL
        return
    for i in range(h, h + k):
        _ms_remove(a, _vkey(buf[i].v, t.isf))
    if a.mcap > 16 and a.msize * 8 < a.mcap:
        newcap = 16
        while newcap < a.msize * 4:
            newcap *= 2
        _ms_resize(a, newcap)          # failure keeps the bigger table


# ---------------------------------------------------------------------------
# distinct queries
# ---------------------------------------------------------------------------

cdef int _scratch_ensure(Scratch* sc, Py_ssize_t cap) except -1:
    cdef uint64_t* k
    cdef uint32_t* c
    if cap <= sc.cap:
        return 0
    k = <uint64_t*>malloc(<size_t>cap * sizeof(uint64_t))
    c = <uint32_t*>malloc(<size_t>cap * sizeof(uint32_t))
    if k == NULL or c == NULL:
        free(k)
        free(c)
        raise MemoryError()
    free(sc.keys)
    free(sc.cnt)
    sc.keys = k
    sc.cnt = c
    sc.cap = cap
    return 0


cdef void scratch_free(Scratch* sc) noexcept nogil:
    free(sc.keys)
    free(sc.cnt)
    sc.keys = NULL
    sc.cnt = NULL
    sc.cap = 0


cdef Py_ssize_t _scratch_count(Scratch* sc, Entry* buf, Py_ssize_t a0, Py_ssize_t a1, Py_ssize_t b0,
                               Py_ssize_t b1, Py_ssize_t m, bint isf, Py_ssize_t* pcap) except -1:
    """Count the keys of buf[a0:a1] + buf[b0:b1] (m entries) into the scratch
    map; returns the number of distinct keys."""
    cdef Py_ssize_t cap = 16, i, j, cnt = 0
    cdef int shift
    cdef uint64_t key
    while cap < 2 * m:
        cap *= 2
    shift = 64 - _log2(cap)
    _scratch_ensure(sc, cap)
    memset(sc.cnt, 0, <size_t>cap * sizeof(uint32_t))
    for i in range(a0, a1):
        key = _vkey(buf[i].v, isf)
        j = _probe(sc.keys, sc.cnt, cap - 1, shift, key)
        if sc.cnt[j] == 0:
            sc.keys[j] = key
            cnt += 1
        sc.cnt[j] += 1
    for i in range(b0, b1):
        key = _vkey(buf[i].v, isf)
        j = _probe(sc.keys, sc.cnt, cap - 1, shift, key)
        if sc.cnt[j] == 0:
            sc.keys[j] = key
            cnt += 1
        sc.cnt[j] += 1
    pcap[0] = cap
    return cnt


cdef Py_ssize_t distinct_count(Scratch* sc, Aux* a, Entry* buf, Py_ssize_t head, Py_ssize_t lo, Py_ssize_t hi,
                               Py_ssize_t end, bint cur, Val cv, bint isf) except -1:
    """Distinct values among buf[lo:hi] (+ cv if cur); a: the slot's multiset or NULL."""
    cdef Py_ssize_t cnt = hi - lo, m, i, j, res, lost, cap, outside
    cdef uint64_t small[17]
    cdef uint64_t key, ck
    cdef uint32_t oc
    ck = _vkey(cv, isf)
    outside = (lo - head) + (end - hi)
    if a != NULL and outside < cnt:
        # multiset of all stored entries minus what lies outside (lo, hi]
        res = a.msize
        oc = 0
        if outside:
            _scratch_count(sc, buf, head, lo, hi, end, outside, isf, &cap)
            lost = 0
            for j in range(cap):
                if sc.cnt[j] != 0 and sc.cnt[j] == _ms_count(a, sc.keys[j]):
                    lost += 1
            res -= lost
            if cur:
                oc = sc.cnt[_probe(sc.keys, sc.cnt, cap - 1, 64 - _log2(cap), ck)]
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
    res = _scratch_count(sc, buf, lo, hi, 0, 0, cnt, isf, &cap)
    if cur:
        if sc.cnt[_probe(sc.keys, sc.cnt, cap - 1, 64 - _log2(cap), ck)] == 0:
            res += 1
    return res


# ---------------------------------------------------------------------------
# min/max and int sum/avg block summaries
# ---------------------------------------------------------------------------

cdef inline Val _fold_vals(int mode, Val* arr, Py_ssize_t i, Py_ssize_t j, Val m) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(i, j):
        m = fold1(mode, m, arr[k])
    return m


cdef int mm_alloc(Aux* a, Py_ssize_t cap, const Tuning* t) noexcept nogil:
    """Size the summary arrays for a buffer of cap entries; -1 if out of memory."""
    cdef Py_ssize_t nb = cap >> t.b1, ns = (cap >> t.b2) + 1
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


cdef void mm_rebuild(Slot* s, Aux* a, Py_ssize_t p, const Tuning* t) noexcept nogil:
    """Recompute the summaries of every (super)block holding an index >= p."""
    cdef int mode = t.mode, b1 = t.b1, b2 = t.b2
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
        a.blk[b] = fold_entries(mode, buf, bs + 1, be, buf[bs].v)
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


cdef void mm_sync(Slot* s, Aux** pa, Py_ssize_t pos, bint append, bint reindexed, const Tuning* t) noexcept nogil:
    """Bring the block summaries of a slot up to date after a change.

    pos: index of an inserted entry (or -1); append: it went to the end;
    reindexed: entries moved (compaction / shrink) -> full rebuild.
    """
    cdef Aux* a = pa[0]
    cdef int mode = t.mode, b1 = t.b1, b2 = t.b2
    cdef Py_ssize_t bs
    cdef Val v
    if s.cap < t.mm_min_cap or s.n == 0:
        if a != NULL:
            aux_free(a)
            pa[0] = NULL
        return
    if a == NULL:
        a = <Aux*>calloc(1, sizeof(Aux))
        if a == NULL:
            return
        if mm_alloc(a, s.cap, t) < 0:
            aux_free(a)
            return
        pa[0] = a
        mm_rebuild(s, a, s.head, t)
        return
    if a.nblk != ((s.cap >> b1) if (s.cap >> b1) > 0 else 1) or a.nsblk != (s.cap >> b2) + 1:
        if mm_alloc(a, s.cap, t) < 0:
            aux_free(a)
            pa[0] = NULL
            return
    if reindexed or pos < 0:
        mm_rebuild(s, a, s.head, t)
    elif append:
        v = s.buf[pos].v
        bs = (pos >> b1) << b1
        if bs < s.head:
            bs = s.head
        a.blk[pos >> b1] = v if pos == bs else fold1(mode, a.blk[pos >> b1], v)
        bs = (pos >> b2) << b2
        if bs < s.head:
            bs = s.head
        a.sblk[pos >> b2] = v if pos == bs else fold1(mode, a.sblk[pos >> b2], v)
    else:
        mm_rebuild(s, a, pos, t)


cdef Val mm_range(Aux* a, Entry* buf, Py_ssize_t lo, Py_ssize_t hi, const Tuning* t) noexcept nogil:
    """Fold of buf[lo:hi] (lo < hi) using whole blocks where possible."""
    cdef int mode = t.mode, b1 = t.b1, b2 = t.b2
    cdef Py_ssize_t B1 = (<Py_ssize_t>1) << b1, B2 = (<Py_ssize_t>1) << b2, i, e
    cdef Val m = buf[lo].v
    i = lo + 1
    e = (i + B1 - 1) & ~(B1 - 1)
    if e > hi:
        e = hi
    m = fold_entries(mode, buf, i, e, m)
    i = e
    while i + B1 <= hi:
        if (i & (B2 - 1)) == 0 and i + B2 <= hi:
            m = fold1(mode, m, a.sblk[i >> b2])
            i += B2
        else:
            m = fold1(mode, m, a.blk[i >> b1])
            i += B1
    return fold_entries(mode, buf, i, hi, m)
