"""The standard benchmark workload: a seeded stream of bank channel events.

``generate(n_events=200_000, n_customers=100_000, seed=...)`` returns a list of
event dicts (``type``, ``ts`` in epoch ms, and the fields of
``benchmarks/events.rdsl``) spanning one year of event time, in time order.

The stream is deterministic for a given (n_events, n_customers, seed) and is
built from *sessions*: ordinary mobile/web banking, card payments, ATM visits,
plus a few percent of the behaviours the standard rules look for (bursts of
small transfers, card velocity, ATM tours, ATM transfers to other names,
phones shared across accounts, several phones on one account, fan-in to a
mule account, large outflows, login storms, dormant accounts waking up,
black/grey-listed counterparties, merchants, devices and phones).  Customer
activity is skewed (a few customers are very active, most act rarely), and
session start times follow a day/night pattern in China Standard Time.

Amounts are sent mostly as floats with two decimals, some as ints, a few as
decimal strings, the way real channel systems mix them.

Generating 200,000 events takes about a second; ``cache=True`` keeps a pickle
under ``benchmarks/.cache/``.
"""

from __future__ import annotations

import bisect
import math
import os
import pickle
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE / ".cache"
LIST_DIR = HERE / "lists"
WORKLOAD_VERSION = 2

#: 2025-01-01T00:00:00+08:00 in epoch milliseconds
YEAR_START_MS = 1_735_660_800_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
CST_OFFSET_MS = 8 * 3_600_000

DEFAULT_EVENTS = 200_000
DEFAULT_CUSTOMERS = 100_000
DEFAULT_SEED = 20261121

EVENT_TYPES = ("login", "query", "transfer", "payment", "atm_withdraw")

#: every field any event type may carry (the columns of the columnar batch)
FIELDS = (
    "type",
    "ts",
    "customer_id",
    "account_id",
    "card_no",
    "channel",
    "amount",
    "counterparty_account",
    "counterparty_name_same",
    "merchant_id",
    "atm_id",
    "device_id",
    "phone",
    "city",
    "home_city",
)

CITIES = (
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "重庆",
    "武汉",
    "西安",
    "天津",
    "苏州",
    "厦门",
    "福州",
    "泉州",
    "梅州",
    "汕头",
    "长沙",
    "郑州",
    "济南",
    "青岛",
    "沈阳",
    "大连",
    "哈尔滨",
    "昆明",
    "南宁",
    "合肥",
    "南昌",
    "贵阳",
    "乌鲁木齐",
)
CITY_WEIGHTS = (9, 9, 7, 7, 5, 4, 5, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1)

#: relative session starts per local hour 0..23 (quiet at night, peaks at lunch and evening)
HOUR_WEIGHTS = (
    4,
    2,
    1,
    1,
    1,
    2,
    5,
    12,
    22,
    30,
    34,
    34,
    36,
    30,
    30,
    30,
    30,
    30,
    34,
    38,
    38,
    30,
    20,
    10,
)

BLACK_DEVICES = ("D-BLK-0001", "D-BLK-0002", "D-BLK-0003", "D-BLK-0004", "D-BLK-0005")
BLACK_PHONES = ("13900000001", "13900000002", "13900000003", "17000000004")
RISKY_MERCHANT_PREFIX = "898444"


def read_list(name: str) -> list[str]:
    """Entries of a benchmark list file (``benchmarks/lists/NAME.txt``)."""
    text = (LIST_DIR / f"{name}.txt").read_text(encoding="utf-8")
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


class _Profiles:
    """Per-customer identifiers, derived from the customer index."""

    def __init__(self, n: int, rng: random.Random):
        self.n = n
        self.customer = [f"C{i:09d}" for i in range(n)]
        self.account = [f"6222{i:015d}" for i in range(n)]
        self.card = [f"6212{(i * 7919) % 10**15:015d}" for i in range(n)]
        self.phone = [f"1{3 + i % 6}{(i * 104_729) % 10**9:09d}" for i in range(n)]
        self.device = [f"D{i:09d}" for i in range(n)]
        cum = list(_accumulate(CITY_WEIGHTS))
        total = cum[-1]
        self.home = [CITIES[bisect.bisect_right(cum, rng.random() * total)] for _ in range(n)]


def _accumulate(xs: Iterable[int]) -> Iterable[int]:
    total = 0
    for x in xs:
        total += x
        yield total


class _Gen:
    def __init__(self, n_customers: int, rng: random.Random):
        self.rng = rng
        self.p = _Profiles(n_customers, rng)
        self.n = n_customers
        self.out: list[dict] = []
        self.black_accounts = read_list("black_accounts")
        self.grey_accounts = read_list("grey_accounts")
        self.black_merchants = read_list("black_merchants")
        self.grey_merchants = read_list("grey_merchants")
        self.hour_cum = list(_accumulate(HOUR_WEIGHTS))
        self.merchants = [f"898{rng.randrange(100, 999)}{rng.randrange(10**9):09d}" for _ in range(5000)]
        self.merchants += [f"{RISKY_MERCHANT_PREFIX}{rng.randrange(10**9):09d}" for _ in range(50)]
        self.atms = [f"ATM{rng.randrange(10**6):06d}" for _ in range(3000)]
        self.mules = [f"6228{rng.randrange(10**15):015d}" for _ in range(2000)]

    # ------------------------------------------------------------ primitives
    def customer(self, uniform: bool = False) -> int:
        r = self.rng.random()
        if uniform or r < 0.3:
            return self.rng.randrange(self.n)
        return min(self.n - 1, int(self.n * self.rng.random() ** 2.2))

    def start_ts(self) -> int:
        """A session start: a uniform day of the year, an hour from the diurnal pattern."""
        rng = self.rng
        day = rng.randrange(365)
        hour = bisect.bisect_right(self.hour_cum, rng.random() * self.hour_cum[-1])
        return YEAR_START_MS + day * DAY_MS + hour * 3_600_000 + rng.randrange(3_600_000)

    def amount(self, lo: float, hi: float) -> Any:
        """A log-uniform amount in [lo, hi): mostly a 2-decimal float, some ints, a few strings."""
        rng = self.rng
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        r = rng.random()
        if r < 0.15:
            return max(1, int(value))
        if r < 0.20:
            return f"{value:.2f}"
        return round(value, 2)

    def city(self, c: int, away: float = 0.04, unknown: float = 0.02) -> Optional[str]:
        r = self.rng.random()
        if r < unknown:
            return None
        if r < unknown + away:
            return self.rng.choice(CITIES)
        return self.p.home[c]

    def device(self, c: int) -> Optional[str]:
        r = self.rng.random()
        if r < 0.002:
            return self.rng.choice(BLACK_DEVICES)
        if r < 0.05:
            return None
        if r < 0.12:
            return f"D{self.rng.randrange(10**9):09d}"  # a new device
        return self.p.device[c]

    def phone(self, c: int) -> Optional[str]:
        r = self.rng.random()
        if r < 0.001:
            return self.rng.choice(BLACK_PHONES)
        if r < 0.10:
            return None
        return self.p.phone[c]

    def counterparty(self, c: int) -> tuple[str, bool]:
        """A payee account and whether it is in the payer's own name."""
        rng = self.rng
        r = rng.random()
        if r < 0.004:
            return rng.choice(self.black_accounts), False
        if r < 0.009:
            return rng.choice(self.grey_accounts), False
        if r < 0.25:
            return f"6217{(c * 31 + 7) % 10**15:015d}", True  # own account at another bank
        if r < 0.70:  # a regular payee: one of a few accounts of other customers
            other = (c * 2_654_435_761 + rng.randrange(3)) % self.n
            return self.p.account[other], False
        return self.p.account[rng.randrange(self.n)], False

    def merchant(self) -> str:
        r = self.rng.random()
        if r < 0.004:
            return self.rng.choice(self.black_merchants)
        if r < 0.009:
            return self.rng.choice(self.grey_merchants)
        return self.rng.choice(self.merchants)

    def base(self, etype: str, ts: int, c: int) -> dict:
        p = self.p
        return {
            "type": etype,
            "ts": ts,
            "customer_id": p.customer[c],
            "account_id": p.account[c],
            "home_city": p.home[c],
        }

    def emit(self, ev: dict) -> None:
        self.out.append(ev)

    def login(self, ts, c, channel=None, phone=..., device=..., city=...):
        ev = self.base("login", ts, c)
        ev["channel"] = channel or self.rng.choice(("mobile", "mobile", "mobile", "web", "web", "corporate"))
        d = self.device(c) if device is ... else device
        if d is not None:
            ev["device_id"] = d
        ph = self.phone(c) if phone is ... else phone
        if ph is not None:
            ev["phone"] = ph
        ct = self.city(c) if city is ... else city
        if ct is not None:
            ev["city"] = ct
        self.emit(ev)
        return ev

    def query(self, ts, c, channel, phone, device, city):
        ev = self.base("query", ts, c)
        ev["channel"] = channel
        if device is not None:
            ev["device_id"] = device
        if phone is not None:
            ev["phone"] = phone
        if city is not None:
            ev["city"] = city
        self.emit(ev)

    def transfer(
        self, ts, c, amount, channel="mobile", payee=None, same=None, phone=None, device=None, city=..., card=False
    ):
        ev = self.base("transfer", ts, c)
        if card:
            ev["card_no"] = self.p.card[c]
        ev["channel"] = channel
        ev["amount"] = amount
        if payee is None:
            payee, same_name = self.counterparty(c)
            if same is None:
                same = same_name
        ev["counterparty_account"] = payee
        ev["counterparty_name_same"] = bool(same)
        if device is not None:
            ev["device_id"] = device
        if phone is not None:
            ev["phone"] = phone
        ct = self.city(c) if city is ... else city
        if ct is not None:
            ev["city"] = ct
        self.emit(ev)

    def payment(self, ts, c, amount, channel=None, merchant=None):
        ev = self.base("payment", ts, c)
        ev["card_no"] = self.p.card[c]
        ev["channel"] = channel or self.rng.choice(("pos", "pos", "third_party", "mobile"))
        ev["merchant_id"] = merchant or self.merchant()
        ev["amount"] = amount
        if ev["channel"] != "pos":
            d = self.device(c)
            if d is not None:
                ev["device_id"] = d
        ct = self.city(c, away=0.06)
        if ct is not None:
            ev["city"] = ct
        self.emit(ev)

    def atm(self, ts, c, amount, atm_id=None, city=...):
        ev = self.base("atm_withdraw", ts, c)
        ev["card_no"] = self.p.card[c]
        ev["atm_id"] = atm_id or self.rng.choice(self.atms)
        ev["amount"] = amount
        ct = self.city(c) if city is ... else city
        if ct is not None:
            ev["city"] = ct
        self.emit(ev)

    # ------------------------------------------------------------ sessions
    def s_banking(self):
        rng = self.rng
        c = self.customer()
        t = self.start_ts()
        lg = self.login(t, c)
        ch, ph, dv, ct = lg["channel"], lg.get("phone"), lg.get("device_id"), lg.get("city")
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            t += rng.randrange(3_000, 60_000)
            self.query(t, c, ch, ph, dv, ct)
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            t += rng.randrange(10_000, 120_000)
            r = rng.random()
            if r < 0.03:  # round sums (整万元)
                amount = rng.choice((10_000, 20_000, 50_000, 100_000, 10_000.0, 30_000.0, "20000.00", 5_000))
            else:
                amount = (
                    self.amount(50, 20_000)
                    if r < 0.86
                    else (self.amount(20_000, 150_000) if r < 0.985 else self.amount(150_000, 900_000))
                )
            self.transfer(t, c, amount, channel=ch, phone=ph, device=dv, city=ct)

    def s_payment(self):
        rng = self.rng
        c = self.customer()
        t = self.start_ts()
        for _ in range(rng.choice((1, 1, 1, 2))):
            r = rng.random()
            amount = self.amount(0.5, 3_000) if r < 0.93 else self.amount(3_000, 60_000)
            self.payment(t, c, amount)
            t += rng.randrange(30_000, 900_000)

    def s_atm(self):
        rng = self.rng
        c = self.customer()
        t = self.start_ts()
        atm_id = rng.choice(self.atms)
        city = self.city(c)
        self.atm(
            t,
            c,
            rng.choice((100, 200, 500, 1000, 2000, 3000, 5000, 500.0, 2500.0, 20000, 25000)),
            atm_id=atm_id,
            city=city,
        )
        if rng.random() < 0.2:
            t += rng.randrange(20_000, 180_000)
            self.transfer(t, c, self.amount(100, 30_000), channel="atm", city=city, card=True)

    def s_small_burst(self):
        rng = self.rng
        c = self.customer(uniform=True)
        t = self.start_ts()
        lg = self.login(t, c, channel="mobile")
        for _ in range(rng.randrange(6, 15)):
            t += rng.randrange(5_000, 50_000)
            self.transfer(
                t, c, self.amount(0.5, 12), phone=lg.get("phone"), device=lg.get("device_id"), city=lg.get("city")
            )

    def s_card_burst(self):
        rng = self.rng
        c = self.customer(uniform=True)
        t = self.start_ts()
        for _ in range(rng.randrange(4, 9)):
            self.payment(t, c, self.amount(0.3, 800))
            t += rng.randrange(10_000, 100_000)

    def s_atm_tour(self):
        rng = self.rng
        c = self.customer(uniform=True)
        t = self.start_ts()
        for _ in range(rng.randrange(2, 5)):
            self.atm(t, c, rng.choice((1000, 2000, 2500.0, 3000, 5000, 800)))
            t += rng.randrange(600_000, 4 * 3_600_000)

    def s_atm_other_name(self):
        rng = self.rng
        c = self.customer(uniform=True)
        t = self.start_ts()
        city = self.p.home[c]
        for _ in range(rng.randrange(2, 7)):
            self.transfer(
                t,
                c,
                self.amount(5_000, 25_000),
                channel="atm",
                card=True,
                city=city,
                payee=self.p.account[rng.randrange(self.n)],
                same=rng.random() < 0.15,
            )
            t += rng.randrange(60_000, 3 * 3_600_000)

    def s_phone_ring(self):
        """One phone number acting on several customers' accounts."""
        rng = self.rng
        t = self.start_ts()
        phone = f"17{rng.randrange(10**9):09d}"
        device = f"D-RING-{rng.randrange(10**6):06d}"
        for _ in range(rng.randrange(2, 6)):
            c = self.customer(uniform=True)
            self.login(t, c, channel="mobile", phone=phone, device=device)
            if rng.random() < 0.6:
                t += rng.randrange(20_000, 200_000)
                self.transfer(
                    t, c, self.amount(500, 30_000), phone=phone, device=device, payee=rng.choice(self.mules), same=False
                )
            t += rng.randrange(60_000, 900_000)

    def s_takeover(self):
        """Several phone numbers acting on one customer's account."""
        rng = self.rng
        c = self.customer(uniform=True)
        t = self.start_ts()
        for _ in range(rng.randrange(2, 5)):
            phone = f"15{rng.randrange(10**9):09d}"
            self.login(t, c, phone=phone)
            t += rng.randrange(30_000, 300_000)
            self.query(t, c, "mobile", phone, None, None)
            t += rng.randrange(60_000, 900_000)

    def s_fan_in(self):
        rng = self.rng
        mule = rng.choice(self.mules)
        t = self.start_ts()
        for _ in range(rng.randrange(3, 10)):
            c = self.customer(uniform=True)
            self.transfer(t, c, self.amount(200, 50_000), channel=rng.choice(("mobile", "web")), payee=mule, same=False)
            t += rng.randrange(30_000, 600_000)

    def s_big_outflow(self):
        rng = self.rng
        c = self.customer()
        t = self.start_ts()
        lg = self.login(t, c, channel=rng.choice(("web", "corporate")))
        for _ in range(rng.randrange(2, 6)):
            t += rng.randrange(60_000, 600_000)
            self.transfer(
                t,
                c,
                self.amount(30_000, 150_000),
                channel=lg["channel"],
                phone=lg.get("phone"),
                device=lg.get("device_id"),
                city=lg.get("city"),
            )

    def s_login_storm(self):
        rng = self.rng
        c = self.customer(uniform=True)
        t = self.start_ts()
        for _ in range(rng.randrange(4, 10)):
            self.login(t, c)
            t += rng.randrange(5_000, 100_000)

    def s_dormant_wake(self):
        rng = self.rng
        c = self.customer(uniform=True)
        t = self.start_ts()
        if rng.random() < 0.5:
            self.transfer(t, c, self.amount(5_000, 120_000), channel=rng.choice(("mobile", "web")))
        else:
            self.atm(t, c, rng.choice((10_000, 15_000, 20_000.0, 5000)))

    SESSIONS = (
        ("s_banking", 40.0),
        ("s_payment", 30.0),
        ("s_atm", 12.0),
        ("s_small_burst", 1.2),
        ("s_card_burst", 1.2),
        ("s_atm_tour", 1.0),
        ("s_atm_other_name", 0.6),
        ("s_phone_ring", 1.0),
        ("s_takeover", 0.8),
        ("s_fan_in", 0.6),
        ("s_big_outflow", 0.8),
        ("s_login_storm", 0.6),
        ("s_dormant_wake", 0.8),
    )

    def run(self, n_events: int) -> list[dict]:
        rng = self.rng
        names = [name for name, _ in self.SESSIONS]
        cum = list(_accumulate_f(w for _, w in self.SESSIONS))
        total = cum[-1]
        methods = [getattr(self, name) for name in names]
        while len(self.out) < n_events:
            methods[bisect.bisect_right(cum, rng.random() * total)]()
        out = self.out
        out.sort(key=_by_ts)  # stable: events of one session at equal ts keep their order
        del out[n_events:]
        return out


def _accumulate_f(xs):
    total = 0.0
    for x in xs:
        total += x
        yield total


def _by_ts(ev: dict) -> int:
    return ev["ts"]


def generate(
    n_events: int = DEFAULT_EVENTS,
    n_customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    *,
    cache: bool = False,
) -> list[dict]:
    """The standard event stream: ``n_events`` dicts in time order over one year.

    Deterministic for given arguments.  With ``cache=True`` the stream is
    pickled under ``benchmarks/.cache/`` and read back next time.  The dicts
    are fresh objects; callers may not mutate them if they reuse the list
    across engines (the engine never mutates events).
    """
    path = CACHE_DIR / f"workload-v{WORKLOAD_VERSION}-{n_events}-{n_customers}-{seed}.pickle"
    if cache and path.exists():
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except (OSError, pickle.PickleError, EOFError):
            pass
    events = _Gen(n_customers, random.Random(seed)).run(n_events)
    if cache:
        try:
            CACHE_DIR.mkdir(exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as f:
                pickle.dump(events, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            pass
    return events


def to_columns(events: list[dict], fields: Iterable[str] = FIELDS) -> dict[str, list]:
    """The stream as columns ``{field: [value or None, ...]}`` for ``evaluate_columns``."""
    return {f: [ev.get(f) for ev in events] for f in fields}


def summary(events: list[dict]) -> dict[str, Any]:
    """Counts per event type, amount representations and the time span (for reports)."""
    types: dict[str, int] = {}
    reprs = {"float": 0, "int": 0, "str": 0}
    for ev in events:
        types[ev["type"]] = types.get(ev["type"], 0) + 1
        a = ev.get("amount")
        if a is not None:
            reprs[type(a).__name__] += 1
    span_days = (events[-1]["ts"] - events[0]["ts"]) / DAY_MS if events else 0.0
    return {
        "events": len(events),
        "types": types,
        "amount_repr": reprs,
        "customers": len({ev["customer_id"] for ev in events}),
        "span_days": round(span_days, 1),
    }


if __name__ == "__main__":  # pragma: no cover - a quick look at the stream
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_EVENTS
    t0 = time.perf_counter()
    evs = generate(n)
    print(f"generated {len(evs):,} events in {time.perf_counter() - t0:.2f} s")
    print(summary(evs))
    for ev in evs[:5]:
        print(ev)
