# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# cython: infer_types=False, auto_pickle=False
"""The second baseline: ``standard.rdsl`` written by hand in Cython.

What a performance engineer would write for these 30 rules with Cython and
no rule engine, taking the same event dict as ``handwritten.py`` and giving
the same answer (``evaluate(event) -> (action, rule ids)``; the ids are a
tuple in declaration order, one shared ``("pass", ())`` when nothing fired):

- fields read straight from the dict (borrowed references where possible),
  amounts decoded to int64 counts of 0.0001 in C (a float: one multiply and a
  round-half-even; an int: one multiply; text falls back to Python);
- every rule test on typed C locals, the matched rules kept as a bit mask and
  turned into ids and an action only for events that fired;
- window state grouped by key: one dict lookup gives a key's record (a
  ``cdef class`` holding C structs, invisible to the garbage collector) with
  every window on that key: a customer's small-amount count, login count,
  outflow sum and last transaction; a card's velocity count, ATM day total and
  distinct ATMs;
- count and sum windows are power-of-two rings of int64 timestamps (and
  amounts, with a running total); a distinct window keeps each value once,
  with the newest time it was seen (the distinct count over the window is the
  number of values seen after its start, because events arrive in time order);
- parameters in typed fields (set from the ruleset's defaults; the engine's
  parameters change at run time, so they are not compile-time constants here
  either); local time is China Standard Time (UTC+8, no daylight saving) as in
  ``handwritten.py``.

Like ``handwritten.py`` it assumes events arrive in time order and validates
nothing; amounts and window sums stay far inside int64 on the workload
(amounts below 10^14 in magnitude, as the engine requires).  Built on the fly
by ``cybuild.py`` (never part of the package).
"""

from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF, Py_XINCREF
from libc.math cimport nearbyint
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.stdlib cimport free, malloc

from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

# C constants (int-sized; products that leave 32 bits are computed in int64 explicitly)
cdef enum:
    SCALE = 10000
    MIN_MS = 60000
    HOUR_MS = 3600000
    DAY_MS = 86400000
    TZ_OFFSET_MS = 28800000  # Asia/Shanghai, UTC+8
    SWEEP_MASK = 16383  # sweep expired keys every 16,384 events, like handwritten.py
    N_RULES = 30

#: rule ids in the ruleset's declaration order (bit i of a match mask is rule i)
RULE_IDS = (
    "black_counterparty", "grey_counterparty", "black_merchant", "grey_merchant", "black_device",
    "black_phone", "huge_transfer_hold", "large_transfer_step_up", "away_login", "away_large_transfer",
    "night_transfer", "night_web_login", "atm_large_withdraw", "atm_night_away", "third_party_large_payment",
    "other_name_large", "corporate_large_other_name", "round_amount", "card_testing", "risky_merchant_off_hours",
    "card_velocity_10m", "atm_other_name_daily", "many_phones_one_account", "one_phone_many_accounts",
    "many_small_10m", "dormant_large", "fan_in_1h", "outflow_1h_limit", "card_many_atms", "login_storm",
)
ACTIONS = ("pass", "alert", "step_up", "hold", "block")
#: action rank of each rule (the shadow rule round_amount counts as pass)
RULE_RANKS = (4, 3, 4, 3, 4, 4, 3, 2, 1, 2, 2, 1, 3, 3, 2, 1, 3, 0, 1, 1, 3, 3, 4, 4, 1, 1, 3, 2, 3, 2)

cdef enum:
    R_BLACK_COUNTERPARTY = 1 << 0
    R_GREY_COUNTERPARTY = 1 << 1
    R_BLACK_MERCHANT = 1 << 2
    R_GREY_MERCHANT = 1 << 3
    R_BLACK_DEVICE = 1 << 4
    R_BLACK_PHONE = 1 << 5
    R_HUGE_TRANSFER_HOLD = 1 << 6
    R_LARGE_TRANSFER_STEP_UP = 1 << 7
    R_AWAY_LOGIN = 1 << 8
    R_AWAY_LARGE_TRANSFER = 1 << 9
    R_NIGHT_TRANSFER = 1 << 10
    R_NIGHT_WEB_LOGIN = 1 << 11
    R_ATM_LARGE_WITHDRAW = 1 << 12
    R_ATM_NIGHT_AWAY = 1 << 13
    R_THIRD_PARTY_LARGE_PAYMENT = 1 << 14
    R_OTHER_NAME_LARGE = 1 << 15
    R_CORPORATE_LARGE_OTHER_NAME = 1 << 16
    R_ROUND_AMOUNT = 1 << 17
    R_CARD_TESTING = 1 << 18
    R_RISKY_MERCHANT_OFF_HOURS = 1 << 19
    R_CARD_VELOCITY_10M = 1 << 20
    R_ATM_OTHER_NAME_DAILY = 1 << 21
    R_MANY_PHONES_ONE_ACCOUNT = 1 << 22
    R_ONE_PHONE_MANY_ACCOUNTS = 1 << 23
    R_MANY_SMALL_10M = 1 << 24
    R_DORMANT_LARGE = 1 << 25
    R_FAN_IN_1H = 1 << 26
    R_OUTFLOW_1H_LIMIT = 1 << 27
    R_CARD_MANY_ATMS = 1 << 28
    R_LOGIN_STORM = 1 << 29

cdef int _RANK[N_RULES]
for _i in range(N_RULES):
    _RANK[_i] = RULE_RANKS[_i]

cdef tuple PASS = ("pass", ())


# ---------------------------------------------------------------- small helpers

cdef inline int64_t floordiv(int64_t a, int64_t b) noexcept nogil:
    """``a // b`` rounded towards minus infinity (``b > 0``), as Python does."""
    cdef int64_t q = a // b
    if a % b < 0:
        q -= 1
    return q


cdef inline int64_t local_hour(int64_t ts) noexcept nogil:
    return floordiv(ts + TZ_OFFSET_MS, HOUR_MS) % 24


cdef inline bint between(int64_t hour, int64_t a, int64_t b) noexcept nogil:
    return (a <= hour < b) if a <= b else (hour >= a or hour < b)


def _dec_slow(value):
    """Text and anything else: the same arithmetic as ``handwritten.dec``."""
    if type(value) is str:
        whole, _dot, frac = value.partition(".")
        if len(frac) <= 4 and whole.lstrip("-").isdigit() and (not frac or frac.isdigit()):
            scaled = int(whole) * SCALE
            f = int(frac.ljust(4, "0")) if frac else 0
            return scaled - f if whole.startswith("-") else scaled + f
    return int(Decimal(str(value)).scaleb(4).to_integral_value(rounding=ROUND_HALF_EVEN))


cdef inline int64_t dec(object value) except? -1:
    """An amount as an int64 count of 0.0001 (float: round half to even, like ``round()``)."""
    if type(value) is float:
        return <int64_t>nearbyint((<double>value) * SCALE)
    if type(value) is int:
        return (<int64_t>value) * SCALE
    return _dec_slow(value)


cdef inline bint same_value(PyObject* a, object b) except -1:
    # the workload reuses string objects, so the pointer test usually decides
    if a == <PyObject*>b:
        return True
    return (<object>a) == b


# ---------------------------------------------------------------- windows as C structs

cdef struct TsRing:
    # count window: the timestamps inside it, oldest first, in a power-of-two ring
    int64_t* ts
    int32_t head
    int32_t n
    int32_t cap


cdef struct SumEntry:
    int64_t ts
    int64_t amount


cdef struct SumRing:
    # sum window: (ts, amount) entries in a ring and their running total
    SumEntry* e
    int32_t head
    int32_t n
    int32_t cap
    int64_t total


cdef struct DistinctSet:
    # distinct window: each value once (a strong reference) with the newest time it was seen
    PyObject** val
    int64_t* seen
    int32_t n
    int32_t cap


cdef int ts_grow(TsRing* r) except -1:
    cdef int32_t cap = r.cap * 2 if r.cap else 4
    cdef int32_t i
    cdef int64_t* buf = <int64_t*>malloc(cap * sizeof(int64_t))
    if buf == NULL:
        raise MemoryError()
    for i in range(r.n):
        buf[i] = r.ts[(r.head + i) & (r.cap - 1)]
    free(r.ts)
    r.ts = buf
    r.head = 0
    r.cap = cap
    return 0


cdef inline void ts_evict(TsRing* r, int64_t limit) noexcept nogil:
    while r.n and r.ts[r.head] <= limit:
        r.head = (r.head + 1) & (r.cap - 1)
        r.n -= 1


cdef inline int32_t count_add(TsRing* r, int64_t ts, int64_t span) except -1:
    """Add an event at ``ts``; the count of events in (ts - span, ts]."""
    ts_evict(r, ts - span)
    if r.n == r.cap:
        ts_grow(r)
    r.ts[(r.head + r.n) & (r.cap - 1)] = ts
    r.n += 1
    return r.n


cdef int sum_grow(SumRing* r) except -1:
    cdef int32_t cap = r.cap * 2 if r.cap else 4
    cdef int32_t i
    cdef SumEntry* buf = <SumEntry*>malloc(cap * sizeof(SumEntry))
    if buf == NULL:
        raise MemoryError()
    for i in range(r.n):
        buf[i] = r.e[(r.head + i) & (r.cap - 1)]
    free(r.e)
    r.e = buf
    r.head = 0
    r.cap = cap
    return 0


cdef inline void sum_evict(SumRing* r, int64_t limit) noexcept nogil:
    while r.n and r.e[r.head].ts <= limit:
        r.total -= r.e[r.head].amount
        r.head = (r.head + 1) & (r.cap - 1)
        r.n -= 1


cdef inline int64_t sum_add(SumRing* r, int64_t ts, int64_t amount, int64_t span) except? -1:
    """Add ``amount`` at ``ts``; the sum over (ts - span, ts]."""
    sum_evict(r, ts - span)
    if r.n == r.cap:
        sum_grow(r)
    cdef SumEntry* e = &r.e[(r.head + r.n) & (r.cap - 1)]
    e.ts = ts
    e.amount = amount
    r.n += 1
    r.total += amount
    return r.total


cdef void distinct_evict(DistinctSet* s, int64_t limit) noexcept:
    cdef int32_t i, j = 0
    for i in range(s.n):
        if s.seen[i] > limit:
            s.val[j] = s.val[i]
            s.seen[j] = s.seen[i]
            j += 1
        else:
            Py_XDECREF(s.val[i])
    s.n = j


cdef int distinct_grow(DistinctSet* s) except -1:
    cdef int32_t cap = s.cap * 2 if s.cap else 4
    cdef int32_t i
    cdef PyObject** val = <PyObject**>malloc(cap * sizeof(PyObject*))
    cdef int64_t* seen = <int64_t*>malloc(cap * sizeof(int64_t))
    if val == NULL or seen == NULL:
        free(val)
        free(seen)
        raise MemoryError()
    for i in range(s.n):
        val[i] = s.val[i]
        seen[i] = s.seen[i]
    free(s.val)
    free(s.seen)
    s.val = val
    s.seen = seen
    s.cap = cap
    return 0


cdef int32_t distinct_add(DistinctSet* s, object value, int64_t ts, int64_t span) except -1:
    """Add ``value`` seen at ``ts``; the number of distinct values in (ts - span, ts]."""
    cdef int32_t i
    distinct_evict(s, ts - span)
    for i in range(s.n):
        if same_value(s.val[i], value):
            if ts > s.seen[i]:
                s.seen[i] = ts
            return s.n
    if s.n == s.cap:
        distinct_grow(s)
    Py_XINCREF(<PyObject*>value)
    s.val[s.n] = <PyObject*>value
    s.seen[s.n] = ts
    s.n += 1
    return s.n


cdef void distinct_free(DistinctSet* s) noexcept:
    cdef int32_t i
    for i in range(s.n):
        Py_XDECREF(s.val[i])
    free(s.val)
    free(s.seen)
    s.val = NULL
    s.seen = NULL
    s.n = s.cap = 0


# ---------------------------------------------------------------- per-key records
# cdef classes without Python object fields: the garbage collector never sees them.

cdef class Customer:
    """Everything keyed by customer_id: small-amount count (10m), logins (10m), outflow (1h), last transaction."""

    cdef TsRing small_10m
    cdef TsRing logins_10m
    cdef SumRing outflow_1h
    cdef int64_t last_txn
    cdef bint has_last

    def __dealloc__(self):
        free(self.small_10m.ts)
        free(self.logins_10m.ts)
        free(self.outflow_1h.e)


cdef class Card:
    """Everything keyed by card_no: transactions (10m), the ATM other-name day total, distinct ATMs (1d)."""

    cdef TsRing txn_10m
    cdef DistinctSet atms_1d
    cdef int64_t atm_day
    cdef int64_t atm_total
    cdef bint has_atm_day

    def __dealloc__(self):
        free(self.txn_10m.ts)
        distinct_free(&self.atms_1d)


cdef class Distinct:
    """One distinct window's record (phones per account, accounts per phone, payers per payee)."""

    cdef DistinctSet values

    def __dealloc__(self):
        distinct_free(&self.values)


cdef inline Customer customer_of(dict table, object key):
    cdef PyObject* found = PyDict_GetItem(table, key)
    if found != NULL:
        return <Customer>found
    cdef Customer rec = Customer.__new__(Customer)
    table[key] = rec
    return rec


cdef inline Card card_of(dict table, object key):
    cdef PyObject* found = PyDict_GetItem(table, key)
    if found != NULL:
        return <Card>found
    cdef Card rec = Card.__new__(Card)
    table[key] = rec
    return rec


cdef inline Distinct distinct_of(dict table, object key):
    cdef PyObject* found = PyDict_GetItem(table, key)
    if found != NULL:
        return <Distinct>found
    cdef Distinct rec = Distinct.__new__(Distinct)
    table[key] = rec
    return rec


def read_list(path) -> frozenset:
    """A list file: one value a line, blank lines and ``#`` comments skipped."""
    text = Path(path).read_text(encoding="utf-8")
    return frozenset(s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#"))


cdef tuple decision(uint32_t hits):
    """(action, rule ids) of a non-empty match mask: the highest rank wins, shadow rules rank as pass."""
    cdef int i, best = 0
    ids = []
    for i in range(N_RULES):
        if hits & (1u << i):
            ids.append(RULE_IDS[i])
            if _RANK[i] > best:
                best = _RANK[i]
    return (ACTIONS[best], tuple(ids))


cdef class HandwrittenRulesCy:
    """``benchmarks/standard.rdsl`` by hand in Cython.  Thresholds are the ruleset's defaults."""

    cdef frozenset black_accounts, grey_accounts, black_merchants, grey_merchants, black_devices, black_phones
    cdef str risky_prefix
    cdef int64_t huge_transfer, large_transfer, away_transfer_amount, night_from, night_to, night_amount
    cdef int64_t web_night_from, web_night_to, atm_single_max, third_party_large, other_name_large
    cdef int64_t corporate_large, round_unit, card_test_amount, risky_amount, card_max_10m
    cdef int64_t atm_other_name_limit, max_phones_per_account, max_accounts_per_phone, small_amount
    cdef int64_t small_count, dormant_after, dormant_amount, fan_in_payers, outflow_limit, atm_devices
    cdef int64_t atm_multi_amount, max_logins_10m, idle_span
    cdef dict customers, cards, phones_per_account, accounts_per_phone, payers_per_payee
    cdef readonly int64_t events

    def __init__(self, lists_dir):
        lists = Path(lists_dir)
        self.black_accounts = read_list(lists / "black_accounts.txt")
        self.grey_accounts = read_list(lists / "grey_accounts.txt")
        self.black_merchants = read_list(lists / "black_merchants.txt")
        self.grey_merchants = read_list(lists / "grey_merchants.txt")
        self.black_devices = frozenset(("D-BLK-0001", "D-BLK-0002", "D-BLK-0003", "D-BLK-0004", "D-BLK-0005"))
        self.black_phones = frozenset(("13900000001", "13900000002", "13900000003", "17000000004"))
        self.risky_prefix = "898444"

        self.huge_transfer = <int64_t>500_000 * SCALE
        self.large_transfer = <int64_t>50_000 * SCALE
        self.away_transfer_amount = <int64_t>10_000 * SCALE
        self.night_from, self.night_to = 0, 5
        self.night_amount = <int64_t>5_000 * SCALE
        self.web_night_from, self.web_night_to = 23, 6
        self.atm_single_max = <int64_t>20_000 * SCALE
        self.third_party_large = <int64_t>20_000 * SCALE
        self.other_name_large = <int64_t>20_000 * SCALE
        self.corporate_large = <int64_t>200_000 * SCALE
        self.round_unit = <int64_t>10_000 * SCALE
        self.card_test_amount = <int64_t>1 * SCALE
        self.risky_amount = <int64_t>2_000 * SCALE
        self.card_max_10m = 5
        self.atm_other_name_limit = <int64_t>50_000 * SCALE
        self.max_phones_per_account = 2
        self.max_accounts_per_phone = 2
        self.small_amount = <int64_t>10 * SCALE
        self.small_count = 8
        self.dormant_after = <int64_t>180 * DAY_MS
        self.dormant_amount = <int64_t>10_000 * SCALE
        self.fan_in_payers = 5
        self.outflow_limit = <int64_t>200_000 * SCALE
        self.atm_devices = 3
        self.atm_multi_amount = <int64_t>1_000 * SCALE
        self.max_logins_10m = 5
        self.idle_span = <int64_t>400 * DAY_MS

        self.customers = {}
        self.cards = {}
        self.phones_per_account = {}
        self.accounts_per_phone = {}
        self.payers_per_payee = {}
        self.events = 0

    # ------------------------------------------------------------ shared pieces
    cdef inline uint32_t idle_rule(self, Customer cust, int64_t ts, int64_t amount) noexcept:
        """dormant_large, and record this transaction for since()."""
        cdef uint32_t hit = 0
        if (cust.has_last and cust.last_txn > ts - self.idle_span and ts - cust.last_txn >= self.dormant_after
                and amount >= self.dormant_amount):
            hit = R_DORMANT_LARGE
        cust.last_txn = ts
        cust.has_last = True
        return hit

    cdef int64_t phones(self, dict ev, int64_t ts) except -1:
        """black_phone, many_phones_one_account, one_phone_many_accounts."""
        cdef int64_t hits = 0
        cdef int32_t n_phones = 0
        cdef PyObject* found
        cdef Distinct rec
        account = ev["account_id"]
        phone = ev.get("phone")
        if phone is None:
            found = PyDict_GetItem(self.phones_per_account, account)
            if found != NULL:
                rec = <Distinct>found
                distinct_evict(&rec.values, ts - HOUR_MS)
                n_phones = rec.values.n
        else:
            if phone in self.black_phones:
                hits |= R_BLACK_PHONE
            rec = distinct_of(self.phones_per_account, account)
            n_phones = distinct_add(&rec.values, phone, ts, HOUR_MS)
            rec = distinct_of(self.accounts_per_phone, phone)
            if distinct_add(&rec.values, account, ts, HOUR_MS) > self.max_accounts_per_phone:
                hits |= R_ONE_PHONE_MANY_ACCOUNTS
        if n_phones > self.max_phones_per_account:
            hits |= R_MANY_PHONES_ONE_ACCOUNT
        return hits

    # ------------------------------------------------------------ event types
    cdef int64_t login(self, dict ev, int64_t ts) except -1:
        cdef int64_t hits = 0
        cdef str channel = ev["channel"]
        cdef Customer cust
        device = ev.get("device_id")
        if device is not None and device in self.black_devices:
            hits |= R_BLACK_DEVICE
        city = ev.get("city")
        if city is not None and city != ev["home_city"]:
            hits |= R_AWAY_LOGIN
        if channel == "web" and between(local_hour(ts), self.web_night_from, self.web_night_to):
            hits |= R_NIGHT_WEB_LOGIN
        hits |= self.phones(ev, ts)
        cust = customer_of(self.customers, ev["customer_id"])
        if count_add(&cust.logins_10m, ts, 10 * MIN_MS) > self.max_logins_10m:
            hits |= R_LOGIN_STORM
        return hits

    cdef int64_t transfer(self, dict ev, int64_t ts) except -1:
        cdef int64_t hits = 0
        cdef int64_t amount = dec(ev["amount"])
        cdef str channel = ev["channel"]
        cdef bint same = ev["counterparty_name_same"]
        cdef Card card
        cdef Customer cust
        cdef Distinct payers
        cdef int64_t day
        payee = ev["counterparty_account"]
        if payee in self.black_accounts:
            hits |= R_BLACK_COUNTERPARTY
        if payee in self.grey_accounts:
            hits |= R_GREY_COUNTERPARTY
        device = ev.get("device_id")
        if device is not None and device in self.black_devices:
            hits |= R_BLACK_DEVICE
        if amount >= self.huge_transfer:
            hits |= R_HUGE_TRANSFER_HOLD
        elif amount >= self.large_transfer:
            hits |= R_LARGE_TRANSFER_STEP_UP
        city = ev.get("city")
        if city is not None and amount >= self.away_transfer_amount and city != ev["home_city"]:
            hits |= R_AWAY_LARGE_TRANSFER
        if amount >= self.night_amount and between(local_hour(ts), self.night_from, self.night_to):
            hits |= R_NIGHT_TRANSFER
        if not same:
            if amount >= self.other_name_large and (channel == "mobile" or channel == "web"):
                hits |= R_OTHER_NAME_LARGE
            if amount > self.corporate_large and (channel == "corporate" or channel == "third_party"):
                hits |= R_CORPORATE_LARGE_OTHER_NAME
        if amount >= self.round_unit and amount % self.round_unit == 0:
            hits |= R_ROUND_AMOUNT
        card_no = ev.get("card_no")
        if card_no is not None:
            card = card_of(self.cards, card_no)
            if count_add(&card.txn_10m, ts, 10 * MIN_MS) > self.card_max_10m:
                hits |= R_CARD_VELOCITY_10M
            if not same and channel == "atm":
                day = floordiv(ts + TZ_OFFSET_MS, DAY_MS)
                if not card.has_atm_day or card.atm_day != day:
                    card.atm_day = day
                    card.atm_total = 0
                    card.has_atm_day = True
                card.atm_total += amount
                if card.atm_total > self.atm_other_name_limit:
                    hits |= R_ATM_OTHER_NAME_DAILY
        hits |= self.phones(ev, ts)
        cust = customer_of(self.customers, ev["customer_id"])
        if amount <= self.small_amount and count_add(&cust.small_10m, ts, 10 * MIN_MS) >= self.small_count:
            hits |= R_MANY_SMALL_10M
        hits |= self.idle_rule(cust, ts, amount)
        payers = distinct_of(self.payers_per_payee, payee)
        if distinct_add(&payers.values, ev["account_id"], ts, HOUR_MS) >= self.fan_in_payers:
            hits |= R_FAN_IN_1H
        if sum_add(&cust.outflow_1h, ts, amount, HOUR_MS) > self.outflow_limit:
            hits |= R_OUTFLOW_1H_LIMIT
        return hits

    cdef int64_t payment(self, dict ev, int64_t ts) except -1:
        cdef int64_t hits = 0
        cdef int64_t amount = dec(ev["amount"])
        cdef str channel = ev["channel"]
        cdef str merchant = ev["merchant_id"]
        cdef int64_t local, weekday, hour
        cdef Card card
        cdef Customer cust
        if merchant in self.black_merchants:
            hits |= R_BLACK_MERCHANT
        if merchant in self.grey_merchants:
            hits |= R_GREY_MERCHANT
        device = ev.get("device_id")
        if device is not None and device in self.black_devices:
            hits |= R_BLACK_DEVICE
        if amount >= self.third_party_large and channel == "third_party":
            hits |= R_THIRD_PARTY_LARGE_PAYMENT
        if amount < self.card_test_amount and (channel == "pos" or channel == "third_party"):
            hits |= R_CARD_TESTING
        if amount >= self.risky_amount and merchant.startswith(self.risky_prefix):
            local = ts + TZ_OFFSET_MS
            weekday = (floordiv(local, DAY_MS) + 3) % 7 + 1
            hour = floordiv(local, HOUR_MS) % 24
            if weekday >= 6 or not (8 <= hour < 20):
                hits |= R_RISKY_MERCHANT_OFF_HOURS
        card = card_of(self.cards, ev["card_no"])
        if count_add(&card.txn_10m, ts, 10 * MIN_MS) > self.card_max_10m:
            hits |= R_CARD_VELOCITY_10M
        cust = customer_of(self.customers, ev["customer_id"])
        if amount <= self.small_amount and count_add(&cust.small_10m, ts, 10 * MIN_MS) >= self.small_count:
            hits |= R_MANY_SMALL_10M
        hits |= self.idle_rule(cust, ts, amount)
        if sum_add(&cust.outflow_1h, ts, amount, HOUR_MS) > self.outflow_limit:
            hits |= R_OUTFLOW_1H_LIMIT
        return hits

    cdef int64_t atm_withdraw(self, dict ev, int64_t ts) except -1:
        cdef int64_t hits = 0
        cdef int64_t amount = dec(ev["amount"])
        cdef Card card
        cdef Customer cust
        if amount > self.atm_single_max:
            hits |= R_ATM_LARGE_WITHDRAW
        city = ev.get("city")
        if city is not None and local_hour(ts) < self.night_to and city != ev["home_city"]:
            hits |= R_ATM_NIGHT_AWAY
        card = card_of(self.cards, ev["card_no"])
        if count_add(&card.txn_10m, ts, 10 * MIN_MS) > self.card_max_10m:
            hits |= R_CARD_VELOCITY_10M
        cust = customer_of(self.customers, ev["customer_id"])
        hits |= self.idle_rule(cust, ts, amount)
        if sum_add(&cust.outflow_1h, ts, amount, HOUR_MS) > self.outflow_limit:
            hits |= R_OUTFLOW_1H_LIMIT
        if (distinct_add(&card.atms_1d, ev["atm_id"], ts, DAY_MS) >= self.atm_devices
                and amount >= self.atm_multi_amount):
            hits |= R_CARD_MANY_ATMS
        return hits

    # ------------------------------------------------------------ the entry point
    def evaluate(self, dict ev):
        """The action and the ids of the rules that fired (shadow rules included), as a tuple."""
        cdef int64_t ts = ev["ts"]
        cdef str kind = ev["type"]
        cdef int64_t hits
        self.events += 1
        if not self.events & SWEEP_MASK:
            self.sweep(ts)
        if kind == "transfer":
            hits = self.transfer(ev, ts)
        elif kind == "login":
            hits = self.login(ev, ts)
        elif kind == "payment":
            hits = self.payment(ev, ts)
        elif kind == "query":
            hits = self.phones(ev, ts)
        elif kind == "atm_withdraw":
            hits = self.atm_withdraw(ev, ts)
        else:
            raise KeyError(kind)
        if not hits:
            return PASS
        return decision(<uint32_t>hits)

    def sweep(self, int64_t now):
        """Drop keys that no window can see any more (a long-running service must)."""
        cdef Customer cust
        cdef Card card
        cdef Distinct rec
        cdef int64_t today = floordiv(now + TZ_OFFSET_MS, DAY_MS)
        dead = []
        for key, value in self.customers.items():
            cust = <Customer>value
            ts_evict(&cust.small_10m, now - 10 * MIN_MS)
            ts_evict(&cust.logins_10m, now - 10 * MIN_MS)
            sum_evict(&cust.outflow_1h, now - HOUR_MS)
            if cust.has_last and cust.last_txn <= now - self.idle_span:
                cust.has_last = False
            if not (cust.small_10m.n or cust.logins_10m.n or cust.outflow_1h.n or cust.has_last):
                dead.append(key)
        for key in dead:
            del self.customers[key]
        dead = []
        for key, value in self.cards.items():
            card = <Card>value
            ts_evict(&card.txn_10m, now - 10 * MIN_MS)
            distinct_evict(&card.atms_1d, now - DAY_MS)
            if card.has_atm_day and card.atm_day != today:
                card.has_atm_day = False
            if not (card.txn_10m.n or card.atms_1d.n or card.has_atm_day):
                dead.append(key)
        for key in dead:
            del self.cards[key]
        for table in (self.phones_per_account, self.accounts_per_phone, self.payers_per_payee):
            dead = []
            for key, value in (<dict>table).items():
                rec = <Distinct>value
                distinct_evict(&rec.values, now - HOUR_MS)
                if not rec.values.n:
                    dead.append(key)
            for key in dead:
                del (<dict>table)[key]

    def keys(self) -> dict:
        """Active keys per table (for tests and memory reports)."""
        return {
            "customers": len(self.customers),
            "cards": len(self.cards),
            "phones_per_account": len(self.phones_per_account),
            "accounts_per_phone": len(self.accounts_per_phone),
            "payers_per_payee": len(self.payers_per_payee),
        }


