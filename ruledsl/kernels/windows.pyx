# cython: language_level=3, cdivision=True, nonecheck=False, overflowcheck=False
# cython: infer_types=False, auto_pickle=False, embedsignature=True, binding=False
# (boundscheck / wraparound / initializedcheck are set by setup.py; all hot
#  loops index raw C pointers, which those directives do not affect anyway)
"""Sliding event-time window aggregates per key (Cython hot path).

Pure-Python twin with identical API and results: :mod:`ruledsl.kernels.windows_py`.
Import through :mod:`ruledsl.kernels.state`, which selects the implementation.

Memory layout
-------------
The slot table (``slots.pxd``) maps keys to slots and owns the per-slot
columns: a ``Slot`` record per key (``entries.pxd``, 40 bytes), for int
``sum``/``avg`` windows a running total and a bound on sum(|v|) that proves
the wrapping int64 arithmetic exact (so a query costs O(#entries outside the
interval)), and for min/max/distinct/int sum/int avg windows a pointer to the
key's accelerator (``accel.pxd``).  A slot with at most one entry keeps it
inline (no malloc); larger slots own a malloc'd buffer grown by doubling
(compacted instead of grown when at least half of it is free at the front)
and halved when 8x too large.  Large keys (buffer >= 256 entries) of
min/max/int-sum/int-avg windows get two-level block summaries (64 / 4096
entries) so any interval folds in O(64 + n/4096); distinct windows keep a
value->count multiset once a key holds >= 64 entries, so a query costs
O(min(inside, outside)).

Entries of live keys are evicted lazily on access and when the key comes due
in the expiry queue; last/since windows also keep a small heap of keys whose
older entries will become dominated.
"""

cimport cython
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t, INT64_MIN, INT64_MAX, UINT64_MAX
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memmove

from ruledsl.kernels.accel cimport (
    FOLD_IMIN, FOLD_FMIN, FOLD_ISUM, Aux, Scratch, Tuning, aux_free, aux_nbytes, distinct_count,
    fold1, fold_entries, isum, mm_range, mm_sync, ms_after_insert, ms_before_evict, scratch_free, tuning_defaults,
)
from ruledsl.kernels.convert cimport to_f64, to_i64
from ruledsl.kernels.entries cimport (
    _QMASK, Entry, Slot, Val, _add_overflows, _first_gt, _pack_entries, _q_decode, _q_encode, _sat_add, _slot_buf,
    _uabs,
)
from ruledsl.kernels.frozen cimport FrozenWindow
from ruledsl.kernels.slots cimport SlotTable

__all__ = ["AGGREGATES", "WindowState"]

AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")

cdef enum:
    K_COUNT = 0
    K_SUM = 1
    K_AVG = 2
    K_MIN = 3
    K_MAX = 4
    K_DISTINCT = 5
    K_LAST = 6
    K_SINCE = 7
    _MAX_ENTRIES_PER_KEY = 1073741824      # 2**30

cdef dict _AGG_CODE = {name: i for i, name in enumerate(AGGREGATES)}

cdef uint64_t _EXACT_BOUND = (<uint64_t>1) << 63


cdef uint32_t _QFLAG = (<uint32_t>1) << 31      # Slot.qx bit 31 (a C constant: the literal would be a Python int)


@cython.final
cdef class WindowState(SlotTable):
    """WindowState(agg, duration_ms, lateness_ms=0, is_float=False)

    Sliding event-time window aggregate per key.  ``agg`` is one of
    count, sum, avg, min, max, distinct, last, since.
    """
    cdef readonly str agg              # one of AGGREGATES
    cdef readonly int64_t duration_ms  # D: a query at ts sees entries with ts - D < ts_e <= ts
    cdef readonly int64_t lateness_ms  # the engine's allowed lateness (kept for pickling / repr)
    cdef readonly bint is_float        # values are doubles (else int64)
    cdef int _kind             # K_*: agg as a number
    cdef bint _keep_last       # last/since: dominated entries are dropped too
    cdef bint _int_totals      # int sum/avg: running totals in _tot/_abs
    cdef bint _use_mm          # min/max/int sum/int avg: block summaries for large keys
    cdef bint _use_ms          # distinct: value multiset for large keys
    cdef Tuning _t             # accelerator settings (incl. the fold mode)
    cdef int _qshift           # expiry-queue value granularity (see entries.pxd _q_encode)
    cdef Slot* _slots          # column: the key's entries
    cdef uint64_t* _tot        # column (int sum/avg): running wrapping sum
    cdef uint64_t* _abs        # column (int sum/avg): saturating sum of |v|
    cdef Aux** _aux            # column (min/max/distinct/int sum/avg): accelerator or NULL
    cdef Py_ssize_t _n_entries # entries over all keys
    cdef Py_ssize_t _heap_bytes  # bytes of the malloc'd entry buffers
    cdef Scratch _hs           # scratch hash map for distinct queries
    # last/since: min-heap of (lower bound of the slot's second entry ts, slot),
    # at least one entry for every slot with >= 2 entries (Slot.qx bit 31 marks
    # slots with an entry; stale entries of freed slots are skipped)
    cdef int64_t* _d_val       # heap values
    cdef int32_t* _d_slot      # heap slots (parallel to _d_val)
    cdef Py_ssize_t _d_cap     # allocated heap entries
    cdef Py_ssize_t _d_len     # heap entries in use

    def __init__(self, agg, duration_ms, lateness_ms=0, is_float=False):
        if agg not in _AGG_CODE:
            raise ValueError("unknown aggregate %r (expected one of %s)" % (agg, ", ".join(AGGREGATES)))
        cdef int64_t d = to_i64(duration_ms)
        cdef int64_t l = to_i64(lateness_ms)
        if d <= 0:
            raise ValueError("duration_ms must be > 0")
        if l < 0:
            raise ValueError("lateness_ms must be >= 0")
        self._configure(d, False, False)
        self._clear_own()
        self.agg = str(agg)
        self.duration_ms = d
        self.lateness_ms = l
        self.is_float = bool(is_float)
        self._qshift = 0
        while self._qshift < 43 and (d >> (self._qshift + 20)) != 0:
            self._qshift += 1
        self._kind = _AGG_CODE[agg]
        self._keep_last = self._kind == K_LAST or self._kind == K_SINCE
        self._int_totals = (not self.is_float) and (self._kind == K_SUM or self._kind == K_AVG)
        self._use_mm = self._kind == K_MIN or self._kind == K_MAX or self._int_totals
        self._use_ms = self._kind == K_DISTINCT
        if self._int_totals:
            self._t.mode = FOLD_ISUM
        else:
            self._t.mode = (FOLD_FMIN if self.is_float else FOLD_IMIN) + (1 if self._kind == K_MAX else 0)
        tuning_defaults(&self._t)
        self._t.isf = self.is_float
        self._add_column(<void**>&self._slots, sizeof(Slot))
        if self._int_totals:
            self._add_column(<void**>&self._tot, sizeof(uint64_t))
            self._add_column(<void**>&self._abs, sizeof(uint64_t))
        if self._use_mm or self._use_ms:
            self._add_column(<void**>&self._aux, sizeof(Aux*))

    def __dealloc__(self):
        # the slot table frees the columns afterwards
        self._release_all()
        self._clear_own()

    cdef void _clear_own(self) noexcept:
        """Free what the window holds beside its slots (scratch map, dominance heap)."""
        scratch_free(&self._hs)
        free(self._d_val)
        free(self._d_slot)
        self._d_val = NULL
        self._d_slot = NULL
        self._d_cap = 0
        self._d_len = 0

    cdef int _clear_all(self) except -1:
        self._reset_table()
        self._clear_own()
        return 0

    # -- slot-table hooks ----------------------------------------------------------
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
            aux_free(self._aux[slot])
            self._aux[slot] = NULL

    cdef void _release_slot(self, Py_ssize_t slot) noexcept:
        cdef Slot* s = &self._slots[slot]
        self._n_entries -= s.n
        if s.cap > 1:
            free(s.buf)
            self._heap_bytes -= <Py_ssize_t>s.cap * <Py_ssize_t>sizeof(Entry)
        self._drop_aux(slot)
        s.buf = NULL
        s.cap = 1
        s.head = 0
        s.n = 0

    cdef bint _evict_slot(self, Py_ssize_t slot) noexcept:
        cdef Slot* s = &self._slots[slot]
        self._evict(s, slot)
        return s.n == 0

    cdef int64_t _newest(self, Py_ssize_t slot) noexcept:
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
            if slot >= self._n_used or self._is_free(slot):
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

    # -- last/since: dominance heap ---------------------------------------------------
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
            mm_sync(s, &self._aux[slot], -1, False, True, &self._t)

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
            if a != UINT64_MAX:
                for i in range(h, h + k):
                    a -= _uabs(buf[i].v.i)
            else:
                a = 0
                for i in range(h + k, h + n):
                    a = _sat_add(a, _uabs(buf[i].v.i))
            self._tot[slot] = t
            self._abs[slot] = a
        elif self._use_ms and self._aux[slot] != NULL:
            ms_before_evict(s, &self._aux[slot], buf, h, k, &self._t)
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
            if s.cap >= self._t.mm_min_cap:
                mm_sync(s, &self._aux[slot], pos, append, reindexed, &self._t)
        elif self._use_ms:
            if self._aux[slot] != NULL or s.n >= self._t.ms_min_n:
                ms_after_insert(s, &self._aux[slot], v, &self._t)

    cdef inline int _conv(self, object value, Val* out) except -1:
        out.i = 0
        if self._kind == K_COUNT:
            return 0
        if self.is_float:
            out.f = to_f64(value)
        else:
            out.i = to_i64(value)
        return 0

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
        cdef int64_t isum_
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
                isum_ = 0
            elif self._abs[slot] < _EXACT_BOUND:
                # |any subset sum| < 2**63: wrapping arithmetic is exact
                a = self._aux[slot]
                if 2 * cnt <= end - head:
                    acc = isum(a, buf, lo, hi, &self._t)
                else:
                    acc = self._tot[slot] - isum(a, buf, head, lo, &self._t) - isum(a, buf, hi, end, &self._t)
                isum_ = <int64_t>acc
            else:
                exact = False
            if exact:
                if cur:
                    cnt += 1
                    if _add_overflows(isum_, cv.i):
                        total = <object>isum_ + <object>cv.i
                    else:
                        total = isum_ + cv.i
                else:
                    total = isum_
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
                if a != NULL and cnt > self._t.scan_max:
                    mm = mm_range(a, buf, lo, hi, &self._t)
                else:
                    mm = fold_entries(self._t.mode, buf, lo + 1, hi, buf[lo].v)
                if cur:
                    mm = fold1(self._t.mode, mm, cv)
            if self.is_float:
                return mm.f
            return mm.i

        if kind == K_DISTINCT:
            return distinct_count(&self._hs, self._aux[slot] if slot >= 0 else NULL, buf, head, lo, hi, end,
                                  cur, cv, self.is_float)

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
        self._add(key, to_i64(ts), value)

    cdef int _add(self, object key, int64_t t, object value) except -1:
        cdef Val v
        self._conv(value, &v)
        self._store(key, self._lookup(key), t, v, False)
        return 0

    def query(self, key, ts, value=0, bint include_current=False):
        """query(key, ts, value=0, include_current=False)

        Aggregate over the key's entries with ts - D < ts_e <= ts, plus the
        hypothetical entry (ts, value) if include_current (ignored for
        last/since).  count/distinct -> int; sum -> int/float; avg ->
        (sum, count) or None; min/max/last -> value or None; since -> ms or None.
        """
        return self._query(key, to_i64(ts), value, include_current)

    cdef object _query(self, object key, int64_t t, object value, bint include_current):
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
        return self._query_add(key, to_i64(ts), value, include_current)

    cdef object _query_add(self, object key, int64_t t, object value, bint include_current):
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
        it), in-use bitmap (1 bit per slot), expiry queue (capacity * 4 B),
        last/since dominance heap (12 B per heap capacity),
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
        cdef Py_ssize_t c = self._d_cap * 12 + self._heap_bytes + self._hs.cap * 12, i
        if self._use_mm or self._use_ms:
            for i in range(self._n_used):
                if not self._is_free(i):
                    c += aux_nbytes(self._aux[i])
        return c + self._table_nbytes()

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

    def copy(self):
        """copy() -> FrozenWindow: a read-only copy whose dump() is this dump() now (keys in slot order).

        C copies only, quick enough for the engine's lock: the entries packed
        in one buffer (the previous copy's, once released), per-key counts,
        the in-use bitmap and references to the slot->key chunks (copied by
        the window before it changes one).  No accelerator: dump() gives
        entries only.
        """
        cdef FrozenWindow f = FrozenWindow.__new__(FrozenWindow)
        cdef bint ts_only = self._kind == K_COUNT
        cdef size_t counts_bytes = ((<size_t>self._n_used * sizeof(int32_t) + 7) // 8) * 8
        f._words = 1 if ts_only else 2
        f._isf = self.is_float
        f._take(self)
        f._alloc(counts_bytes + <size_t>self._n_entries * f._words * sizeof(int64_t))
        f._out = <int64_t*>(<char*>f._buf + counts_bytes)
        if _pack_entries(self._slots, self._used, self._n_used, ts_only, <int32_t*>f._buf, f._out,
                         self._n_entries) < 0:
            raise RuntimeError("WindowState: entry count out of step")
        return f

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


# -- the C entry points of compiled evaluators: see windows.pxd ----------------------

cdef object window_query(object w, object key, int64_t t, object value, bint include_current):
    return (<WindowState?>w)._query(key, t, value, include_current)


cdef object window_query_add(object w, object key, int64_t t, object value, bint include_current):
    return (<WindowState?>w)._query_add(key, t, value, include_current)


cdef int window_add(object w, object key, int64_t t, object value) except -1:
    return (<WindowState?>w)._add(key, t, value)
