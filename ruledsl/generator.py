"""A seeded generator of realistic e-channel traffic with labelled fraud scenarios.

``generate(n_customers, days, seed, fraud_rate)`` yields event dicts in
event-time order that conform to ``rulesets/common/echannel_events.rdsl``:
``login``, ``query``, ``payee_add``, ``transfer``, ``payment``,
``cash_withdrawal`` and ``agreement_sign`` on every channel (mobile, web,
corporate, third_party, atm, pos).  Amounts are JSON strings with two
decimals; ``ts`` is an ISO 8601 string with ``+08:00`` or, for card-based
events sent by ATM/POS front ends, epoch milliseconds (``ts_format``).

Normal traffic comes from customers with habits: a home city, one or two
personal active hours, a usual amount scale, one or two trusted devices, a
phone (a few share a phone with a spouse), usual payees, merchants and ATMs.
Some customers travel for a day; a few corporate customers work office hours;
about 6% of retail accounts are dormant (their last transaction lies 200-380
days before the period) and some of those wake up with a few ordinary
transactions.

Fraud scenarios are injected with labels: every event of a scenario carries
``"label": "<scenario>"`` and ``"scenario_id": "<scenario>-NNNN"`` (the engine
ignores fields not in the schema).  The scenarios (``SCENARIOS``):

* ``account_takeover`` (盗用): log-in on a new, untrusted device from another
  city, a payee added, then a large transfer (or several mid-sized ones);
* ``induced_transfer_chain`` (诱导型): the customer's own trusted device and
  city, remote-assistance style: a payment agreement signed at odd hours and
  repeated transfers to a new payee, or a daytime "safe account" transfer;
* ``mule_account`` (涉诈账户): new accounts controlled by one herder phone,
  many payers in, fast out to many payees, bursts of tiny test transfers;
* ``card_cashout_atms`` (盗刷取现): one card, several ATMs, within an hour;
* ``gambling_flow`` (涉赌): night activity, round amounts, many
  counterparties in and out, payments to gambling merchants;
* ``dormant_reactivation`` (买卖账户): a long-dormant account suddenly used
  for many or large transactions.

Mobile log-ins carry the device security SDK's ``device_tamper`` and
``remote_assist`` signals (web log-ins omit them): rarely true in normal
traffic, often true in takeovers (tampered devices) and induced transfers
(screen sharing).

Not every scenario is made to be caught: some variants stay below the
thresholds of ``rulesets/echannel_monitoring.rdsl``, as fraudsters' do.

``warmup_days`` adds days of normal traffic before the period, each event
marked ``"warmup": true``, so windows (daily norms, habits, dormancy) are
primed before the measured period; ``ruledsl run`` evaluates warm-up events
but leaves them out of its statistics.  Dormant accounts' last transactions
(long before the period) are warm-up events too.

The stream is deterministic for a given set of arguments (and the sample list
files under ``rulesets/lists/``, from which a few scenario counterparties are
drawn).  Scenarios draw from their own random stream and each day's normal
traffic from its own, so ``fraud_rate`` changes normal traffic only where a
victim's own sessions make way for a scenario.
About 100,000 events take 1-2 seconds.

Command line::

    python -m ruledsl.generator --customers 2000 --days 7 --seed 1 --out events.jsonl
"""

from __future__ import annotations

import argparse
import datetime as _dt
import heapq
import math
import random
import sys
import time
from collections import Counter
from typing import Any, Iterable, Iterator, Optional, Sequence

import msgspec

__all__ = ["SCENARIOS", "EVENT_TYPES", "generate", "write_jsonl", "main"]

SCENARIOS: tuple[str, ...] = (
    "account_takeover",
    "induced_transfer_chain",
    "mule_account",
    "card_cashout_atms",
    "gambling_flow",
    "dormant_reactivation",
)
"""The labelled fraud scenario types."""

EVENT_TYPES: tuple[str, ...] = (
    "login", "query", "payee_add", "transfer", "payment", "cash_withdrawal", "agreement_sign",
)

TZ_OFFSET_S = 8 * 3600
DAY_S = 86_400
HOUR_S = 3600
MIN_S = 60

# city, province capital (where a mobile IP is sometimes located), weight
CITIES: tuple[tuple[str, str, int], ...] = (
    ("北京", "北京", 9), ("上海", "上海", 9), ("广州", "广州", 7), ("深圳", "广州", 7),
    ("杭州", "杭州", 5), ("南京", "南京", 4), ("成都", "成都", 5), ("重庆", "重庆", 4),
    ("武汉", "武汉", 4), ("西安", "西安", 3), ("天津", "天津", 3), ("苏州", "南京", 3),
    ("厦门", "福州", 3), ("福州", "福州", 2), ("泉州", "福州", 2), ("梅州", "广州", 2),
    ("汕头", "广州", 1), ("长沙", "长沙", 2), ("郑州", "郑州", 2), ("济南", "济南", 2),
    ("青岛", "济南", 2), ("沈阳", "沈阳", 2), ("大连", "沈阳", 1), ("哈尔滨", "哈尔滨", 1),
    ("昆明", "昆明", 1), ("南宁", "南宁", 1), ("合肥", "合肥", 1), ("南昌", "南昌", 1),
    ("贵阳", "贵阳", 1), ("乌鲁木齐", "乌鲁木齐", 1),
)
CITY_NAMES = tuple(c[0] for c in CITIES)
CITY_WEIGHTS = tuple(c[2] for c in CITIES)
CAPITAL = {c[0]: c[1] for c in CITIES}
# cities fraud often operates from (remote log-ins, cash-out)
FRAUD_CITIES = ("昆明", "南宁", "汕头", "泉州", "贵阳", "乌鲁木齐", "深圳", "广州", "重庆", "长沙")

# relative session starts per local hour 0..23: quiet at night, peaks at lunch and evening
HOUR_WEIGHTS = (4, 2, 1, 1, 1, 2, 5, 12, 22, 30, 34, 34, 36, 30, 30, 30, 30, 30, 34, 38, 38, 30, 20, 10)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰飞红建国志海波鹏辉宇浩晨欣怡婷雪琳梅春燕斌峰亮"
INSTITUTIONS = ("支付宝", "财付通", "京东支付", "云闪付", "美团支付", "抖音支付", "快钱", "拉卡拉")
OTHER_BANK_PREFIXES = ("6228", "6217", "6214", "6226", "6225", "6259", "6230", "6216")
PHONE_PREFIXES = ("138", "139", "136", "137", "135", "158", "159", "186", "187", "188", "150", "151", "177", "180")


def _read_list(*names: str) -> tuple[str, ...]:
    """Entries of the files ``rulesets/lists/NAME.txt`` that are at hand (scenarios sometimes hit them).

    These stand for counterparties the risk-list service already knows; without
    the files (an installed package) scenarios just never hit a list.
    """
    from pathlib import Path

    out: list[str] = []
    for name in names:
        path = Path(__file__).resolve().parent.parent / "rulesets" / "lists" / f"{name}.txt"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        out.extend(s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#"))
    return tuple(dict.fromkeys(out))


def _cum(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


_CITY_CUM = _cum(CITY_WEIGHTS)
_HOUR_CUM = _cum(HOUR_WEIGHTS)


def _pick_cum(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    import bisect

    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _money(x: float) -> str:
    return f"{max(x, 0.01):.2f}"


def _round_money(x: float, unit: int) -> str:
    return f"{max(unit, int(round(x / unit)) * unit)}.00"


# ---------------------------------------------------------------- time formatting

_DATE_CACHE: dict[int, str] = {}
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()


def iso_ts(ts_s: int) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM:SS+08:00`` (China Standard Time)."""
    local = ts_s + TZ_OFFSET_S
    day, secs = divmod(local, DAY_S)
    date = _DATE_CACHE.get(day)
    if date is None:
        date = _dt.date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
        _DATE_CACHE[day] = date
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{date}T{h:02d}:{m:02d}:{s:02d}+08:00"


def _day_start_s(date: str) -> int:
    d = _dt.date.fromisoformat(date)
    return (d.toordinal() - _EPOCH_ORDINAL) * DAY_S - TZ_OFFSET_S


def _local_hour(ts_s: int) -> int:
    return ((ts_s + TZ_OFFSET_S) % DAY_S) // 3600


# ---------------------------------------------------------------- people


class Customer:
    """A customer's identity and habits."""

    __slots__ = (
        "idx", "cid", "account", "card", "phone", "alt_phone", "devices", "home", "corporate",
        "anchors", "rate", "median", "web_share", "payees", "merchants", "atms", "opened_at",
        "dormant", "wake_day", "owner_name", "busy_from", "busy_until",
    )

    def __init__(self, rng: random.Random, idx: int, *, corporate: bool = False, home: Optional[str] = None):
        self.idx = idx
        self.cid = f"C{idx:08d}"
        self.account = f"6222{rng.randrange(10**15):015d}"
        self.card = f"6217{rng.randrange(10**12):012d}"
        self.phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        self.alt_phone: Optional[str] = None
        self.devices = [f"D-{rng.getrandbits(40):010x}" for _ in range(1 if rng.random() < 0.6 else 2)]
        self.home = home or _pick_cum(rng, CITY_NAMES, _CITY_CUM)
        self.corporate = corporate
        # one or two personal hours around which the customer is active
        self.anchors = [_pick_cum(rng, range(24), _HOUR_CUM) for _ in range(1 if rng.random() < 0.5 else 2)]
        if corporate:
            self.anchors = [rng.choice((9, 10, 11, 14, 15, 16))]
            self.rate = rng.uniform(0.5, 2.0)
            self.median = math.exp(rng.uniform(math.log(20_000), math.log(300_000)))
        else:
            self.rate = min(12.0, math.exp(rng.gauss(0.4, 0.8)))  # sessions per day
            self.median = math.exp(rng.gauss(math.log(600), 0.9))  # usual transfer amount
        self.web_share = 0.5 if corporate else (0.35 if rng.random() < 0.2 else 0.05)
        self.owner_name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        self.payees: list[tuple[str, str, bool]] = []
        for _ in range(rng.randint(1, 5)):
            self.payees.append(_new_payee(rng, self.owner_name[0] if rng.random() < 0.4 else None))
        if rng.random() < 0.7:  # own account at another bank
            self.payees.append((f"{rng.choice(OTHER_BANK_PREFIXES)}{rng.randrange(10**15):015d}", self.owner_name, True))
        self.merchants = [_merchant(rng, self.home) for _ in range(rng.randint(3, 8))]
        self.atms = [_atm(rng, self.home) for _ in range(rng.randint(1, 3))]
        self.opened_at = 0  # set by the generator (needs the period start)
        self.dormant = False
        self.wake_day: Optional[int] = None
        self.busy_from = self.busy_until = 0


def _name(rng: random.Random, surname: Optional[str] = None) -> str:
    return (surname or rng.choice(SURNAMES)) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _new_payee(rng: random.Random, surname: Optional[str] = None) -> tuple[str, str, bool]:
    return (f"{rng.choice(OTHER_BANK_PREFIXES)}{rng.randrange(10**15):015d}", _name(rng, surname), False)


_CITY_CODE = {name: f"{i + 10:02d}" for i, name in enumerate(CITY_NAMES)}


def _merchant(rng: random.Random, city: str) -> str:
    return f"8984{_CITY_CODE.get(city, '99')}{rng.choice(('5411', '5812', '5311', '5999', '4121', '5541', '7011'))}{rng.randrange(10**5):05d}"


def _online_merchant(rng: random.Random) -> str:
    return f"89831{rng.choice(('5999', '5732', '4816', '5815', '5311'))}{rng.randrange(10**6):06d}"


def _gambling_merchant(rng: random.Random) -> str:
    return f"89844{rng.choice(('7995', '7994', '7999'))}{rng.randrange(10**6):06d}"


def _atm(rng: random.Random, city: str) -> str:
    return f"ATM{_CITY_CODE.get(city, '99')}{rng.randrange(10**5):05d}"


# ---------------------------------------------------------------- the generator


class _Gen:
    def __init__(self, n_customers: int, days: int, seed: int, fraud_rate: float, start: str,
                 warmup_days: int, scenarios: Sequence[str], ts_format: str):
        self.rng = random.Random(f"ruledsl-generator:{seed}:normal")
        self.frng = random.Random(f"ruledsl-generator:{seed}:fraud")
        self.days = days
        self.seed = seed
        self.warmup_days = warmup_days
        self.period_start = _day_start_s(start)
        self.first_day = -warmup_days
        self.ts_format = ts_format
        self.seq = 0
        self.heap: list = []
        rng = self.rng
        self.customers: list[Customer] = []
        for i in range(n_customers):
            c = Customer(rng, i, corporate=rng.random() < 0.03)
            # opened between 10 years and 2 months before the period
            c.opened_at = self.period_start - rng.randrange(60 * DAY_S, 3650 * DAY_S)
            if not c.corporate and rng.random() < 0.06:
                c.dormant = True
                c.opened_at = self.period_start - rng.randrange(600 * DAY_S, 3650 * DAY_S)
                c.wake_day = rng.randrange(days) if rng.random() < 0.4 and days > 0 else None
            self.customers.append(c)
        # a few couples share a phone number for SMS codes
        for c in self.customers:
            if rng.random() < 0.03 and n_customers > 1:
                other = self.customers[rng.randrange(n_customers)]
                if other is not c:
                    c.alt_phone = other.phone
        self.black_accounts = _read_list("black_accounts", "risk_accounts_sample")
        self.grey_accounts = _read_list("grey_accounts", "risk_grey_accounts_sample")
        self.black_merchants = _read_list("black_merchants")
        self.grey_merchants = _read_list("grey_merchants")
        self.next_idx = n_customers
        self.plan: dict[int, list[tuple[int, str, str]]] = {}
        self._plan_scenarios(n_customers, fraud_rate, scenarios)
        self._preludes()

    # ------------------------------------------------------------ output
    def emit(self, ts_s: int, event: dict) -> None:
        """Queue an event; ``ts`` becomes ISO text or epoch ms when popped."""
        self.seq += 1
        heapq.heappush(self.heap, (ts_s, self.seq, event))

    def _format(self, ts_s: int, event: dict) -> dict:
        fmt = self.ts_format
        if fmt == "iso" or (fmt == "mixed" and not event.pop("_card", False)):
            event["ts"] = iso_ts(ts_s)
        else:
            event.pop("_card", None)
            event["ts"] = ts_s * 1000
        opened = event.get("opened_at")
        if opened is not None:
            event["opened_at"] = iso_ts(opened) if fmt != "epoch" else opened * 1000
        return event

    def drain(self, until_s: Optional[int]) -> Iterator[dict]:
        heap = self.heap
        pop = heapq.heappop
        while heap and (until_s is None or heap[0][0] < until_s):
            ts_s, _seq, event = pop(heap)
            yield self._format(ts_s, event)

    # ------------------------------------------------------------ event builders
    def login(self, t, c, channel, device, trusted, phone, city, tag, *, tamper=False, remote=False):
        ev = {"type": "login", "ts": None, "customer_id": c.cid, "channel": channel,
              "device_id": device, "trusted_device": trusted}
        if phone:
            ev["phone"] = phone
        if city:
            ev["city"] = city
        if channel == "mobile":  # the mobile app carries the device security SDK; web does not
            ev["device_tamper"] = tamper
            ev["remote_assist"] = remote
        self._tag_emit(t, ev, tag)

    def query(self, t, c, channel, phone, tag, card=False):
        ev = {"type": "query", "ts": None, "customer_id": c.cid, "account_no": c.account, "channel": channel}
        if phone:
            ev["phone"] = phone
        if card:
            ev["_card"] = True
        self._tag_emit(t, ev, tag)

    def payee_add(self, t, c, channel, payee, tag):
        self._tag_emit(t, {"type": "payee_add", "ts": None, "customer_id": c.cid, "channel": channel,
                           "payee_account": payee}, tag)

    def transfer(self, t, c, channel, amount, payee, *, name=None, same=False, city=None, device=None,
                 phone=None, tag=None):
        ev = {"type": "transfer", "ts": None, "customer_id": c.cid, "account_no": c.account}
        if channel in ("atm", "pos"):
            ev["card_no"] = c.card
            ev["_card"] = True
        ev["channel"] = channel
        ev["amount"] = amount
        ev["payee_account"] = payee
        if name:
            ev["payee_name"] = name
        ev["same_name"] = same
        if city:
            ev["city"] = city
        if device:
            ev["device_id"] = device
        if phone:
            ev["phone"] = phone
        ev["opened_at"] = c.opened_at
        self._tag_emit(t, ev, tag)

    def payment(self, t, c, channel, amount, merchant, *, city=None, device=None, tag=None):
        ev = {"type": "payment", "ts": None, "customer_id": c.cid, "card_no": c.card, "channel": channel,
              "merchant_id": merchant, "amount": amount}
        if city:
            ev["city"] = city
        if device:
            ev["device_id"] = device
        ev["opened_at"] = c.opened_at
        if channel == "pos":
            ev["_card"] = True
        self._tag_emit(t, ev, tag)

    def cash(self, t, c, atm, amount, city, tag=None):
        ev = {"type": "cash_withdrawal", "ts": None, "customer_id": c.cid, "card_no": c.card,
              "atm_id": atm, "amount": amount, "_card": True}
        if city:
            ev["city"] = city
        self._tag_emit(t, ev, tag)

    def sign(self, t, c, channel, institution, phone, tag=None):
        ev = {"type": "agreement_sign", "ts": None, "customer_id": c.cid, "channel": channel,
              "account_no": c.account, "institution": institution}
        if phone:
            ev["phone"] = phone
        self._tag_emit(t, ev, tag)

    def _tag_emit(self, t: int, ev: dict, tag) -> None:
        if tag is not None:
            if tag == "warmup":
                ev["warmup"] = True
            else:
                ev["label"], ev["scenario_id"] = tag
        self.emit(t, ev)

    # ------------------------------------------------------------ normal traffic
    def session_start(self, c: Customer, day_start: int) -> int:
        rng = self.rng
        if rng.random() < 0.8:
            hour = (rng.choice(c.anchors) + int(round(rng.gauss(0, 1.2)))) % 24
        else:
            hour = _pick_cum(rng, range(24), _HOUR_CUM)
        return day_start + hour * HOUR_S + rng.randrange(HOUR_S)

    def amount(self, c: Customer, scale: float = 1.0, spread: float = 0.8) -> str:
        rng = self.rng
        x = math.exp(rng.gauss(math.log(c.median * scale), spread))
        if rng.random() < 0.4:  # people send round sums
            unit = 1000 if x >= 5000 else (100 if x >= 300 else 10)
            return _round_money(x, unit)
        return _money(x)

    def city_of(self, c: Customer, today: str) -> Optional[str]:
        r = self.rng.random()
        if r < 0.03:
            return None  # location unknown
        if r < 0.031:
            return CAPITAL[today]  # mobile IP located at the provincial capital
        return today

    def normal_day(self, day: int) -> None:
        # one random stream per day: a day's traffic does not depend on how many days came before
        rng = self.rng = random.Random(f"ruledsl-generator:{self.seed}:day:{day}")
        day_start = self.period_start + day * DAY_S
        weekday = (_dt.date.fromordinal(_EPOCH_ORDINAL + (day_start + TZ_OFFSET_S) // DAY_S).weekday())
        tag = "warmup" if day < 0 else None
        for c in self.customers:
            if c.dormant:
                if c.wake_day is not None and c.wake_day == day:
                    self.s_wake(c, day_start)
                continue
            rate = c.rate
            if c.corporate:
                rate *= 0.1 if weekday >= 5 else 1.0
            n = _poisson(rng, rate)
            if not n:
                continue
            today = c.home
            if not c.corporate and rng.random() < 0.015:
                today = _pick_cum(rng, CITY_NAMES, _CITY_CUM)  # travelling today
            starts = sorted(self.session_start(c, day_start) for _ in range(n))
            last_end = 0
            for t in starts:
                t = max(t, last_end + rng.randrange(120, 900))
                if c.busy_from - HOUR_S <= t <= c.busy_until:  # the customer is busy with a scenario
                    continue
                last_end = self.session(c, t, today, tag)

    def session(self, c: Customer, t: int, today: str, tag) -> int:
        rng = self.rng
        if c.corporate:
            return self.s_corporate(c, t, today, tag)
        r = rng.random()
        if r < 0.45:
            return self.s_banking(c, t, today, tag, "web" if rng.random() < c.web_share else "mobile")
        if r < 0.70:
            return self.s_pos(c, t, today, tag)
        if r < 0.88:
            return self.s_online(c, t, today, tag)
        return self.s_atm(c, t, today, tag)

    def s_banking(self, c, t, today, tag, channel) -> int:
        rng = self.rng
        if rng.random() < 0.004:  # a new phone or a borrowed computer
            device, trusted = f"D-{rng.getrandbits(40):010x}", False
            c.devices.append(device)
        else:
            device, trusted = rng.choice(c.devices), True
        phone = c.alt_phone if c.alt_phone and rng.random() < 0.3 else c.phone
        city = self.city_of(c, today)
        # a rooted phone; a relative helping over screen sharing: rare, and not fraud
        r = rng.random()
        self.login(t, c, channel, device, trusted, phone, city, tag, tamper=r < 0.002, remote=0.002 <= r < 0.003)
        if rng.random() < 0.6:
            t += rng.randrange(5, 60)
            self.query(t, c, channel, phone, tag)
        k = rng.choices((0, 1, 2, 3), (30, 50, 15, 5))[0]
        known = rng.sample(c.payees, min(k, len(c.payees)))  # one transfer per payee and session
        for i in range(k):
            t += rng.randrange(20, 240)
            if i >= len(known) or rng.random() < 0.06:
                payee = _new_payee(rng)
                self.payee_add(t, c, channel, payee[0], tag)
                c.payees.append(payee)
                t += rng.randrange(15, 120)
            else:
                payee = known[i]
            if rng.random() < 0.01:
                amount = self.amount(c, scale=rng.uniform(8, 40), spread=0.3)  # rent deposit, a car, a loan
            elif payee[2]:
                amount = self.amount(c, scale=2.0)
            else:
                amount = self.amount(c)
            self.transfer(t, c, channel, amount, payee[0], name=payee[1] if rng.random() < 0.8 else None,
                          same=payee[2], city=self.city_of(c, today), device=device, phone=phone, tag=tag)
        if rng.random() < 0.012:
            t += rng.randrange(30, 300)
            self.sign(t, c, channel, rng.choice(INSTITUTIONS), phone, tag)
        return t

    def s_corporate(self, c, t, today, tag) -> int:
        rng = self.rng
        device = rng.choice(c.devices)
        self.login(t, c, "corporate", device, True, c.phone, today, tag)
        t += rng.randrange(10, 120)
        self.query(t, c, "corporate", c.phone, tag)
        for _ in range(rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0]):
            t += rng.randrange(30, 600)
            payee = rng.choice(c.payees)
            self.transfer(t, c, "corporate", self.amount(c, spread=1.0), payee[0], name=payee[1], same=payee[2],
                          city=today, device=device, phone=c.phone, tag=tag)
        return t

    def s_pos(self, c, t, today, tag) -> int:
        rng = self.rng
        merchant = rng.choice(c.merchants) if today == c.home and rng.random() < 0.7 else _merchant(rng, today)
        self.payment(t, c, "pos", self.amount(c, scale=0.35, spread=1.0), merchant,
                     city=today, device=f"POS{merchant[-8:]}", tag=tag)
        if rng.random() < 0.1:  # second purchase nearby
            t += rng.randrange(300, 1800)
            merchant = _merchant(rng, today)
            self.payment(t, c, "pos", self.amount(c, scale=0.2, spread=1.0), merchant,
                         city=today, device=f"POS{merchant[-8:]}", tag=tag)
        return t

    def s_online(self, c, t, today, tag) -> int:
        rng = self.rng
        for _ in range(rng.choices((1, 2, 3), (75, 20, 5))[0]):
            self.payment(t, c, "third_party", self.amount(c, scale=0.15, spread=1.1), _online_merchant(rng),
                         city=self.city_of(c, today), device=rng.choice(c.devices), tag=tag)
            t += rng.randrange(60, 900)
        return t

    def s_atm(self, c, t, today, tag) -> int:
        rng = self.rng
        atm = rng.choice(c.atms) if today == c.home else _atm(rng, today)
        if rng.random() < 0.2:
            self.query(t, c, "atm", None, tag, card=True)
            t += rng.randrange(20, 90)
        if rng.random() < 0.08:  # ATM transfer to family
            payee = rng.choice(c.payees)
            self.transfer(t, c, "atm", self.amount(c), payee[0], name=payee[1], same=payee[2], city=today, tag=tag)
            return t
        amount = min(5000, max(100, int(math.exp(rng.gauss(math.log(max(c.median, 300)), 0.6)) // 100 * 100)))
        self.cash(t, c, atm, f"{amount}.00", today, tag)
        if rng.random() < 0.05:  # a second withdrawal at the same machine
            t += rng.randrange(30, 120)
            self.cash(t, c, atm, f"{rng.choice((500, 1000, 2000))}.00", today, tag)
        return t

    def s_wake(self, c: Customer, day_start: int) -> None:
        """A dormant account used again, the ordinary way: a few small transactions."""
        rng = self.rng
        t = self.session_start(c, day_start)
        device = rng.choice(c.devices)
        self.login(t, c, "mobile", device, True, c.phone, c.home, None)
        for _ in range(rng.randint(1, 3)):
            t += rng.randrange(60, 1200)
            payee = rng.choice(c.payees)
            amount = self.amount(c, scale=rng.uniform(30, 100), spread=0.2) if rng.random() < 0.1 else self.amount(c)
            self.transfer(t, c, "mobile", amount, payee[0], name=payee[1], same=payee[2], city=c.home,
                          device=device, phone=c.phone)

    def _preludes(self) -> None:
        """Each dormant account's last transaction, long before the period (a warm-up event)."""
        rng = self.rng
        for c in self.customers:
            if c.dormant:
                t = self.period_start - rng.randrange(200 * DAY_S, 380 * DAY_S)
                payee = rng.choice(c.payees)
                self.transfer(t, c, "mobile", self.amount(c), payee[0], name=payee[1], same=payee[2],
                              city=c.home, device=c.devices[0], phone=c.phone, tag="warmup")

    # ------------------------------------------------------------ fraud scenarios
    def _plan_scenarios(self, n_customers: int, fraud_rate: float, kinds: Sequence[str]) -> None:
        """Decide each scenario's type, day and order; the events are made on their day."""
        frng = self.frng
        kinds = [k for k in SCENARIOS if k in set(kinds)]
        if fraud_rate <= 0 or not kinds or self.days <= 0:
            return
        n = max(len(kinds), int(round(fraud_rate * n_customers)))
        order = list(kinds)
        frng.shuffle(order)
        counters: Counter = Counter()
        for i in range(n):
            kind = order[i % len(order)]
            counters[kind] += 1
            sid = f"{kind}-{counters[kind]:04d}"
            day = frng.randrange(self.days)
            self.plan.setdefault(day, []).append((frng.getrandbits(32), kind, sid))
        for day in self.plan:
            self.plan[day].sort()
        self.dormant_pool = [c for c in self.customers if c.dormant and c.wake_day is None]
        frng.shuffle(self.dormant_pool)
        # dormant accounts the scenarios will reactivate need their long-ago history now
        needed = sum(1 for d in self.plan.values() for _, k, _ in d if k == "dormant_reactivation")
        while len(self.dormant_pool) < needed:
            c = self._extra_customer()
            c.dormant = True
            c.opened_at = self.period_start - frng.randrange(600 * DAY_S, 3650 * DAY_S)
            t = self.period_start - frng.randrange(200 * DAY_S, 380 * DAY_S)
            payee = frng.choice(c.payees)
            self.transfer(t, c, "mobile", _money(frng.uniform(50, 3000)), payee[0], name=payee[1], same=payee[2],
                          city=c.home, device=c.devices[0], phone=c.phone, tag="warmup")
            self.dormant_pool.append(c)

    def _extra_customer(self, home: Optional[str] = None) -> Customer:
        c = Customer(self.frng, self.next_idx, home=home)
        self.next_idx += 1
        c.opened_at = self.period_start - self.frng.randrange(60 * DAY_S, 3650 * DAY_S)
        return c

    def _victim(self) -> Customer:
        frng = self.frng
        for _ in range(100):
            c = self.customers[frng.randrange(len(self.customers))]
            if not c.corporate and not c.dormant:
                return c
        return self._extra_customer()

    @staticmethod
    def _busy(c: Customer, t: int, hours: int) -> None:
        """Keep the customer's own sessions away from a scenario's hours."""
        c.busy_from, c.busy_until = t, t + hours * HOUR_S

    def _fraud_time(self, day: int, hours: Sequence[int]) -> int:
        return self.period_start + day * DAY_S + self.frng.choice(hours) * HOUR_S + self.frng.randrange(HOUR_S)

    def scenarios_for(self, day: int) -> None:
        for _key, kind, sid in self.plan.get(day, ()):
            getattr(self, f"x_{kind}")(day, (kind, sid))

    def _external_account(self, black_share: float = 0.0, grey_share: float = 0.0) -> str:
        r = self.frng.random()
        if r < black_share and self.black_accounts:
            return self.frng.choice(self.black_accounts)
        if r < black_share + grey_share and self.grey_accounts:
            return self.frng.choice(self.grey_accounts)
        return f"{self.frng.choice(OTHER_BANK_PREFIXES)}{self.frng.randrange(10**15):015d}"

    def x_account_takeover(self, day: int, tag) -> None:
        frng = self.frng
        c = self._victim()
        t = self._fraud_time(day, (0, 1, 2, 3, 4, 5, 9, 11, 14, 16, 20, 21, 22, 23))
        self._busy(c, t, 3)
        city = frng.choice([x for x in FRAUD_CITIES if x != c.home])
        device = f"D-{frng.getrandbits(40):010x}"
        channel = frng.choice(("mobile", "mobile", "web"))
        phone = c.phone if frng.random() < 0.6 else frng.choice(PHONE_PREFIXES) + f"{frng.randrange(10**8):08d}"
        self.login(t, c, channel, device, False, phone, city if frng.random() < 0.9 else None, tag,
                   tamper=frng.random() < 0.3)  # emulators and forged fingerprints
        if frng.random() < 0.7:
            t += frng.randrange(10, 90)
            self.query(t, c, channel, phone, tag)
        t += frng.randrange(60, 600)
        payee = self._external_account(black_share=0.05, grey_share=0.1)
        name = _name(frng)
        self.payee_add(t, c, channel, payee, tag)
        r = frng.random()
        if r < 0.65:  # empty the account in one go
            amounts = [_money(frng.uniform(50_000, 200_000))]
        elif r < 0.85:  # several mid-sized transfers, under the large-amount limit
            amounts = [_round_money(frng.uniform(20_000, 49_000), 1000) for _ in range(frng.randint(2, 4))]
        else:  # one modest transfer
            amounts = [_money(frng.uniform(5_000, 30_000))]
        for amount in amounts:
            t += frng.randrange(30, 240)
            self.transfer(t, c, channel, amount, payee, name=name, city=city, device=device, phone=phone, tag=tag)

    def x_induced_transfer_chain(self, day: int, tag) -> None:
        frng = self.frng
        c = self._victim()
        device = c.devices[0]
        phone = c.phone
        payee = self._external_account(grey_share=0.05)
        name = _name(frng)
        if frng.random() < 0.5:
            # remote assistance at odd hours: sign a quick-pay agreement, then transfer again and again
            t = self._fraud_time(day, (22, 23, 0, 1, 2, 3, 4, 5))
            channel = "web" if frng.random() < 0.7 else "mobile"
            self._busy(c, t, 4)
            # the scammer watches over screen sharing; the app's SDK notices it most of the time
            self.login(t, c, channel, device, True, phone, c.home, tag, remote=frng.random() < 0.6)
            t += frng.randrange(60, 600)
            self.sign(t, c, channel, frng.choice(INSTITUTIONS), phone, tag)
            t += frng.randrange(60, 600)
            self.payee_add(t, c, channel, payee, tag)
            for _ in range(frng.randint(2, 6)):
                t += frng.randrange(40, 150)
                self.transfer(t, c, channel, _round_money(frng.uniform(3_000, 30_000), 1000), payee, name=name,
                              city=c.home, device=device, phone=phone, tag=tag)
        else:
            # a "safe account" scam in the daytime: the savings leave in one or two round sums
            t = self._fraud_time(day, (9, 10, 11, 14, 15, 16, 17, 19, 20))
            self._busy(c, t, 3)
            channel = "mobile"
            self.login(t, c, channel, device, True, phone, c.home, tag, remote=frng.random() < 0.3)
            t += frng.randrange(60, 900)
            self.payee_add(t, c, channel, payee, tag)
            for _ in range(frng.randint(1, 2)):
                t += frng.randrange(120, 1800)
                self.transfer(t, c, channel, _round_money(frng.uniform(10_000, 150_000), 1000), payee, name=name,
                              city=c.home, device=device, phone=phone, tag=tag)

    def x_mule_account(self, day: int, tag) -> None:
        frng = self.frng
        home = frng.choice(FRAUD_CITIES)
        herder_phone = frng.choice(PHONE_PREFIXES) + f"{frng.randrange(10**8):08d}"
        herder_device = f"D-{frng.getrandbits(40):010x}"
        ring = [self._extra_customer(home) for _ in range(frng.choice((1, 2, 3, 3, 4)))]
        t0 = self._fraud_time(day, range(8, 23))
        careful = frng.random() < 0.3  # separate phones, no test transfers
        for mule in ring:
            mule.opened_at = self.period_start + day * DAY_S - frng.randrange(3 * DAY_S, 45 * DAY_S)
            t = t0 + frng.randrange(0, 2 * HOUR_S)
            phone = mule.phone if careful else herder_phone
            device = mule.devices[0] if careful else herder_device
            self.login(t, mule, "mobile", device, True, phone, home, tag)
            if not careful and frng.random() < 0.6:
                # tiny test transfers to check the account works
                for _ in range(frng.randint(10, 15)):
                    t += frng.randrange(10, 50)
                    self.transfer(t, mule, "mobile", _money(frng.uniform(0.01, 9.99)), self._external_account(),
                                  city=home, device=device, phone=phone, tag=tag)
            # payers in: the bank's own customers among them
            for _ in range(frng.randint(3, 12)):
                payer = self._victim()
                tp = t + frng.randrange(60, 3 * HOUR_S)
                self.transfer(tp, payer, "mobile", _money(frng.uniform(1_000, 50_000)), mule.account,
                              name=mule.owner_name, city=payer.home, device=payer.devices[0], phone=payer.phone,
                              tag=tag)
            # fast out to many payees (now and then one already on the grey list)
            t += frng.randrange(600, 1800)
            listed = self._external_account(grey_share=0.15)
            for i in range(frng.randint(4, 12)):
                t += frng.randrange(30, 400)
                self.transfer(t, mule, "mobile", _money(frng.uniform(2_000, 49_000)),
                              listed if i == 0 else self._external_account(), name=_name(frng), city=home, device=device,
                              phone=phone if careful or frng.random() < 0.7 else mule.phone, tag=tag)

    def x_card_cashout_atms(self, day: int, tag) -> None:
        frng = self.frng
        c = self._victim()
        city = c.home if frng.random() < 0.4 else frng.choice(FRAUD_CITIES)
        t = self._fraud_time(day, (0, 1, 2, 3, 4, 20, 21, 22, 23, 10, 14))
        self._busy(c, t, 2)
        if frng.random() < 0.3:
            self.query(t, c, "atm", None, tag, card=True)
            t += frng.randrange(20, 60)
        if frng.random() < 0.75:
            # the classic run: several machines in a row, the per-withdrawal maximum each time
            atms = [_atm(frng, city) for _ in range(frng.randint(3, 5))]
            n, amounts, gap = frng.randint(5, 8), (4000, 5000, 5000), (60, 480)
        else:
            # a careful crew: two machines, or smaller sums spread over hours
            atms = [_atm(frng, city) for _ in range(frng.choice((2, 2, 3)))]
            n, amounts, gap = frng.randint(3, 6), (2000, 3000, 5000), (300, 1800)
        for i in range(n):
            self.cash(t, c, atms[i % len(atms)], f"{frng.choice(amounts)}.00", city, tag)
            t += frng.randrange(*gap)

    def x_gambling_flow(self, day: int, tag) -> None:
        frng = self.frng
        if frng.random() < 0.5:
            c = self._victim()  # an ordinary customer who gambles
            device = c.devices[0]
        else:
            c = self._extra_customer()  # an account rented out for "跑分" (collecting bets)
            c.opened_at = self.period_start + day * DAY_S - frng.randrange(10 * DAY_S, 200 * DAY_S)
            device = c.devices[0]
        t = self._fraud_time(day, (22, 23, 0, 1, 2))
        self._busy(c, t, 6)
        self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
        rounds = (1000, 2000, 3000, 5000, 10000, 20000, 50000)
        platform_merchants = [_gambling_merchant(frng) for _ in range(3)]
        if self.black_merchants and frng.random() < 0.15:
            platform_merchants.append(frng.choice(self.black_merchants))
        if self.grey_merchants and frng.random() < 0.15:
            platform_merchants.append(frng.choice(self.grey_merchants))
        # in: bets and winnings from many counterparties (other gamblers, agents)
        for _ in range(frng.randint(3, 10)):
            payer = self._extra_customer()
            self.transfer(t + frng.randrange(0, 4 * HOUR_S), payer, "mobile", f"{frng.choice(rounds[:5])}.00",
                          c.account, city=payer.home, device=payer.devices[0], phone=payer.phone, tag=tag)
        # out: round sums to many collection accounts and gambling merchants, through the night
        for _ in range(frng.randint(5, 16)):
            t += frng.randrange(120, 1500)
            amount = f"{frng.choice(rounds)}.00"
            if frng.random() < 0.35:
                self.payment(t, c, "third_party", amount, frng.choice(platform_merchants), city=c.home,
                             device=device, tag=tag)
            else:
                self.transfer(t, c, "mobile", amount, self._external_account(), name=_name(frng), city=c.home,
                              device=device, phone=c.phone, tag=tag)

    def x_dormant_reactivation(self, day: int, tag) -> None:
        frng = self.frng
        c = self.dormant_pool.pop() if self.dormant_pool else self._extra_customer()
        t = self._fraud_time(day, range(7, 24))
        bought = frng.random() < 0.6  # sold to a fraud ring: new device, their city
        device = f"D-{frng.getrandbits(40):010x}" if bought else c.devices[0]
        city = frng.choice(FRAUD_CITIES) if bought else c.home
        phone = frng.choice(PHONE_PREFIXES) + f"{frng.randrange(10**8):08d}" if bought else c.phone
        self.login(t, c, "mobile", device, not bought, phone, city, tag)
        r = frng.random()
        if r < 0.45:
            amounts = [_money(frng.uniform(1_000, 30_000)) for _ in range(frng.randint(5, 15))]
        elif r < 0.8:
            amounts = [_money(frng.uniform(50_000, 150_000)) for _ in range(frng.randint(1, 3))]
        else:
            amounts = [_money(frng.uniform(1_000, 20_000)) for _ in range(frng.randint(2, 4))]
        listed = self._external_account(grey_share=0.15)
        for i, amount in enumerate(amounts):
            t += frng.randrange(120, 2400)
            self.transfer(t, c, "mobile", amount, listed if i == 0 else self._external_account(), name=_name(frng),
                          city=city, device=device, phone=phone, tag=tag)

    # ------------------------------------------------------------ the stream
    def run(self) -> Iterator[dict]:
        for day in range(self.first_day, self.days):
            day_start = self.period_start + day * DAY_S
            # everything queued before this day (preludes, sessions spilling over midnight)
            yield from self.drain(day_start)
            if day >= 0:
                self.scenarios_for(day)
            self.normal_day(day)
        yield from self.drain(None)


def generate(
    n_customers: int = 2000,
    days: int = 7,
    seed: int = 1,
    fraud_rate: float = 0.01,
    *,
    start: str = "2026-11-16",
    warmup_days: int = 0,
    scenarios: Iterable[str] = SCENARIOS,
    ts_format: str = "mixed",
) -> Iterator[dict]:
    """Yield e-channel events in event-time order (see the module docstring).

    ``fraud_rate`` is the number of injected scenarios per customer over the
    period (0.01: one scenario per hundred customers); when it is positive
    every type in ``scenarios`` appears at least once, types taking turns.
    ``start`` is the first day of the period (local date, China Standard
    Time); ``warmup_days`` days of unlabelled traffic marked ``"warmup": true``
    come before it.  ``ts_format``: ``"mixed"`` (ISO text; epoch ms for card
    events from ATM/POS), ``"iso"`` or ``"epoch"``.
    """
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    if days < 0 or warmup_days < 0:
        raise ValueError("days and warmup_days must not be negative")
    if ts_format not in ("mixed", "iso", "epoch"):
        raise ValueError("ts_format must be 'mixed', 'iso' or 'epoch'")
    scenarios = tuple(scenarios)
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario type(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    gen = _Gen(n_customers, days, seed, fraud_rate, start, warmup_days, scenarios, ts_format)
    return gen.run()


def write_jsonl(events: Iterable[dict], out) -> int:
    """Write events as JSON Lines to a binary file object; returns the number written."""
    encode = msgspec.json.Encoder().encode
    n = 0
    buf: list[bytes] = []
    for ev in events:
        buf.append(encode(ev))
        n += 1
        if len(buf) >= 4096:
            out.write(b"\n".join(buf) + b"\n")
            buf.clear()
    if buf:
        out.write(b"\n".join(buf) + b"\n")
    return n


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m ruledsl.generator``: write a labelled event stream as JSON Lines."""
    p = argparse.ArgumentParser(
        prog="python -m ruledsl.generator",
        description="Generate seeded, realistic e-channel events with labelled fraud scenarios (JSON Lines).",
    )
    p.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    p.add_argument("--days", type=int, default=7, help="days of traffic (default 7)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--fraud-rate", type=float, default=0.01,
                   help="injected scenarios per customer over the period (default 0.01)")
    p.add_argument("--warmup-days", type=int, default=0,
                   help="days of unscored traffic before the period, marked \"warmup\": true (default 0)")
    p.add_argument("--start", default="2026-11-16", help="first day of the period, YYYY-MM-DD (default 2026-11-16)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated scenario types to inject (default: all)")
    p.add_argument("--ts-format", choices=("mixed", "iso", "epoch"), default="mixed",
                   help="mixed: ISO 8601 (+08:00), epoch ms for ATM/POS card events (default)")
    p.add_argument("--out", default="-", help="output file (default: standard output)")
    args = p.parse_args(argv)
    try:
        _dt.date.fromisoformat(args.start)
    except ValueError:
        p.error(f"--start must be a date YYYY-MM-DD, not {args.start!r}")
    kinds = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    try:
        events = generate(args.customers, args.days, args.seed, args.fraud_rate, start=args.start,
                          warmup_days=args.warmup_days, scenarios=kinds, ts_format=args.ts_format)
    except ValueError as err:
        p.error(str(err))
    labels: Counter = Counter()
    scenario_ids: dict[str, str] = {}

    def counted(stream):
        for ev in stream:
            sid = ev.get("scenario_id")
            if sid is not None and sid not in scenario_ids:
                scenario_ids[sid] = ev["label"]
            yield ev

    began = time.perf_counter()
    try:
        if args.out == "-":
            n = write_jsonl(counted(events), sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with open(args.out, "wb") as out:
                n = write_jsonl(counted(events), out)
    except OSError as err:
        print(f"error: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    labels.update(scenario_ids.values())
    took = time.perf_counter() - began
    detail = ", ".join(f"{k} {labels[k]}" for k in SCENARIOS if labels[k])
    print(f"{n} events, {len(scenario_ids)} scenarios ({detail or 'none'}) in {took:.1f}s"
          + ("" if args.out == "-" else f" -> {args.out}"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
