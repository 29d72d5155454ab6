"""A seeded generator of realistic bank traffic with labelled fraud scenarios.

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

Event families (``profile``)
----------------------------
The default profile, ``echannel``, is the stream described above.  Other
event families add to it (``profile="all"`` or e.g. ``"opening,posting"``;
``FAMILIES``), with the schemas of ``rulesets/common/account_events.rdsl``
and ``retail_events.rdsl``, each with scenarios made for one ruleset
(``TARGET_RULESET``; other rulesets may catch them too):

* ``opening``: ``account_open`` applications from new customers (about 3 a
  day per 100 customers: office workers, students, retirees brought by their
  children, shopkeepers, freelancers, the jobless, farmers, foreigners; a
  few share a phone or a handset with a family member or apply twice).
  Scenario ``risky_account_open`` (for ``account_opening_scorecard``): a
  young person brought to the counter to open an account for sale, a ring
  opening II-class accounts online with one phone and one (rooted) handset,
  a student expecting a fortune through the account, a phone or handset on
  the fraud lists, someone on the disciplinary list, a national of a
  high-risk country, and a careful seller who scores low.
* ``posting``: ``account_txn``, the core-banking ledger of every personal
  account, both directions, with the balance after each entry and the last
  activity before the day.  Every e-channel, counter and retail event that
  moves money is posted (an in-bank payee's account gets the credit), plus
  salaries on payday, money from family and friends, wallet withdrawals and
  small shops' QR-code takings.  A payment larger than the balance is
  preceded by a round sum from the customer's own account at another bank.
  Scenarios (for ``gambling_fraud_t1``): ``gambling_account`` (a gambler's
  night of round bets and winnings with agents; a rented "跑分" account
  collecting players' deposits and sweeping them on; a quiet gambler) and
  ``fraud_account`` (layering, fast in and out, a new account suddenly busy,
  splits just below 50,000, cent test transfers, one person's three new
  accounts, one handset for several accounts, money from or to a reported
  account, a sold dormant account, and a careful one): their money comes in
  from other banks (ledger only) and leaves by mobile transfers.
* ``retail``: ``password_reset`` (before some new-device log-ins, or
  forgotten), ``loan_application`` and ``dcep_topup`` (e-CNY wallet) in
  ordinary mobile sessions.  Scenarios (for ``chain_defense``):
  ``induced_loan_chain`` (screen sharing, or a password reset and the
  scammer's phone, then a loan and a transfer out; or no signal at all),
  ``reset_takeover`` (SIM swap or phished code: reset, new device elsewhere,
  payee, large transfer) and ``remote_dcep`` (screen sharing, then e-CNY
  top-ups to someone else's wallet; on the web there is no signal).
* ``counter``: ``counter_transfer`` at a branch or by telephone banking.
  Scenario ``risk_list_counterparty`` (for ``counterparty_screening``): a
  scam victim pays an account on the risk or grey list (sample lists under
  ``rulesets/lists/``), on the app, the web, at an ATM or the counter;
  sometimes only the payee's name is listed, sometimes nothing is yet.

``fraud_rate`` applies to each family.  The other families draw from random
streams of their own and never change a customer's habits, so the e-channel
events of any profile, leaving out those of the other families' scenarios,
are exactly those of the ``echannel`` profile, in the same order.  Run a mixed stream with
``ruledsl run --skip-unknown-types``: each ruleset skips the event types it
does not declare.

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

    python -m ruledsl.sim.generator --customers 2000 --days 7 --seed 1 --out events.jsonl
    python -m ruledsl.sim.generator --profile all --customers 1000 --days 7 --warmup-days 14 --out all.jsonl
"""

from __future__ import annotations

import argparse
import datetime as _dt
import heapq
import math
import random
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Optional

import msgspec

__all__ = [
    "ALL_EVENT_TYPES",
    "ALL_SCENARIOS",
    "EVENT_TYPES",
    "FAMILIES",
    "FAMILY_EVENT_TYPES",
    "FAMILY_SCENARIOS",
    "PROFILES",
    "SCENARIOS",
    "TARGET_RULESET",
    "families_of",
    "generate",
    "main",
    "write_jsonl",
]

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
    "login",
    "query",
    "payee_add",
    "transfer",
    "payment",
    "cash_withdrawal",
    "agreement_sign",
)
"""The e-channel event types (``rulesets/common/echannel_events.rdsl``): the ``echannel`` family."""

FAMILY_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "echannel": EVENT_TYPES,
    "opening": ("account_open",),
    "posting": ("account_txn",),
    "retail": ("password_reset", "loan_application", "dcep_topup"),
    "counter": ("counter_transfer",),
}
"""The event types each family adds to the stream."""

FAMILY_SCENARIOS: dict[str, tuple[str, ...]] = {
    "echannel": SCENARIOS,
    "opening": ("risky_account_open",),
    "posting": ("gambling_account", "fraud_account"),
    "retail": ("induced_loan_chain", "reset_takeover", "remote_dcep"),
    "counter": ("risk_list_counterparty",),
}
"""The labelled scenario types each family injects."""

FAMILIES: tuple[str, ...] = tuple(FAMILY_EVENT_TYPES)
PROFILES: dict[str, tuple[str, ...]] = {"echannel": ("echannel",), "all": FAMILIES}
"""Named profiles; ``--profile`` also takes a comma-separated list of families."""

ALL_EVENT_TYPES: tuple[str, ...] = tuple(t for f in FAMILIES for t in FAMILY_EVENT_TYPES[f])
ALL_SCENARIOS: tuple[str, ...] = tuple(s for f in FAMILIES for s in FAMILY_SCENARIOS[f])

TARGET_RULESET: dict[str, str] = {
    **dict.fromkeys(SCENARIOS, "echannel_monitoring"),
    "risky_account_open": "account_opening_scorecard",
    "gambling_account": "gambling_fraud_t1",
    "fraud_account": "gambling_fraud_t1",
    "induced_loan_chain": "chain_defense",
    "reset_takeover": "chain_defense",
    "remote_dcep": "chain_defense",
    "risk_list_counterparty": "counterparty_screening",
}
"""The ruleset (in ``rulesets/``) each scenario type is made for; other rulesets may catch it too."""

TZ_OFFSET_S = 8 * 3600
DAY_S = 86_400
HOUR_S = 3600
MIN_S = 60

# city, province capital (where a mobile IP is sometimes located), weight
CITIES: tuple[tuple[str, str, int], ...] = (
    ("北京", "北京", 9),
    ("上海", "上海", 9),
    ("广州", "广州", 7),
    ("深圳", "广州", 7),
    ("杭州", "杭州", 5),
    ("南京", "南京", 4),
    ("成都", "成都", 5),
    ("重庆", "重庆", 4),
    ("武汉", "武汉", 4),
    ("西安", "西安", 3),
    ("天津", "天津", 3),
    ("苏州", "南京", 3),
    ("厦门", "福州", 3),
    ("福州", "福州", 2),
    ("泉州", "福州", 2),
    ("梅州", "广州", 2),
    ("汕头", "广州", 1),
    ("长沙", "长沙", 2),
    ("郑州", "郑州", 2),
    ("济南", "济南", 2),
    ("青岛", "济南", 2),
    ("沈阳", "沈阳", 2),
    ("大连", "沈阳", 1),
    ("哈尔滨", "哈尔滨", 1),
    ("昆明", "昆明", 1),
    ("南宁", "南宁", 1),
    ("合肥", "合肥", 1),
    ("南昌", "南昌", 1),
    ("贵阳", "贵阳", 1),
    ("乌鲁木齐", "乌鲁木齐", 1),
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
        path = Path(__file__).resolve().parents[2] / "rulesets" / "lists" / f"{name}.txt"
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
        "account",
        "alt_phone",
        "anchors",
        "atms",
        "busy_from",
        "busy_until",
        "card",
        "cid",
        "corporate",
        "devices",
        "dormant",
        "home",
        "idx",
        "median",
        "merchants",
        "opened_at",
        "owner_name",
        "payees",
        "phone",
        "rate",
        "wake_day",
        "web_share",
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
            self.payees.append(
                (f"{rng.choice(OTHER_BANK_PREFIXES)}{rng.randrange(10**15):015d}", self.owner_name, True)
            )
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


# ---------------------------------------------------------------- the other families' vocabulary

# 省级行政区划代码 of each city (counterparty_region of account_txn; identity numbers)
PROVINCE: dict[str, str] = {
    "北京": "110000",
    "上海": "310000",
    "广州": "440000",
    "深圳": "440000",
    "杭州": "330000",
    "南京": "320000",
    "成都": "510000",
    "重庆": "500000",
    "武汉": "420000",
    "西安": "610000",
    "天津": "120000",
    "苏州": "320000",
    "厦门": "350000",
    "福州": "350000",
    "泉州": "350000",
    "梅州": "440000",
    "汕头": "440000",
    "长沙": "430000",
    "郑州": "410000",
    "济南": "370000",
    "青岛": "370000",
    "沈阳": "210000",
    "大连": "210000",
    "哈尔滨": "230000",
    "昆明": "530000",
    "南宁": "450000",
    "合肥": "340000",
    "南昌": "360000",
    "贵阳": "520000",
    "乌鲁木齐": "650000",
}
ALL_PROVINCES: tuple[str, ...] = tuple(
    sorted(
        set(PROVINCE.values())
        | {
            "130000",
            "140000",
            "150000",
            "220000",
            "460000",
            "540000",
            "620000",
            "630000",
            "640000",
        }
    )
)
_CITY_BY_CODE = {code: name for name, code in _CITY_CODE.items()}

# payment institutions' reserve accounts: the counterparty of third-party payments in the ledger
INSTITUTION_ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ("215500690100001", "支付宝（中国）网络技术有限公司", "330000"),
    ("110060576018002", "财付通支付科技有限公司", "440000"),
    ("310066726018004", "中国银联股份有限公司", "310000"),
)
LOAN_ACCOUNT = ("9558800000000001", "个人贷款发放专户")
COMPANY_SUFFIXES = (
    "科技有限公司",
    "贸易有限公司",
    "实业有限公司",
    "建设工程有限公司",
    "餐饮管理有限公司",
    "物流有限公司",
    "医院",
    "学校",
    "商贸有限公司",
    "电子有限公司",
)
TRANSFER_REMARKS = ("转账", "转账", "生活费", "房租", "还款", "", "", "红包", "货款", "学费")
ONLINE_REMARKS = ("快捷支付",) * 10 + ("消费",) * 5 + ("网购",) * 3 + ("外卖",) * 3 + ("话费充值",)
PERSONAS = ("worker", "student", "retired", "business", "freelance", "jobless", "rural", "foreigner")
PERSONA_WEIGHTS = (48, 14, 10, 11, 7, 4, 5, 1)
FRAUD_ACCOUNT_KINDS = ("layering", "fast", "new_busy", "split", "test", "multi", "device", "case", "dormant", "careful")
FRAUD_ACCOUNT_WEIGHTS = (16, 14, 12, 10, 8, 8, 8, 8, 8, 8)
FOREIGN_NATIONALITIES = ("USA", "DEU", "JPN", "KOR", "GBR", "SGP", "FRA", "CAN", "AUS", "MYS")
HIGH_RISK_NATIONALITIES = ("MMR", "KHM", "LAO", "PHL")


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from the parts (a stable trait of an account or customer)."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode()) / 4294967296.0


def _cents(amount: str) -> int:
    whole, _, frac = amount.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _yuan(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _region(account: str, home: Optional[str], hometown: Optional[str] = None) -> str:
    """The province where an account was opened.

    A customer's counterparties are mostly local (``home`` city), some in the province the
    customer comes from (``hometown``, a province code), a few anywhere; fraud's anywhere.
    """
    if home is not None:
        u = _unit(account, "region")
        if u < 0.75:
            return PROVINCE.get(home, "440000")
        if hometown is not None and u < 0.93:
            return hometown
    return ALL_PROVINCES[int(_unit(account, "province") * len(ALL_PROVINCES))]


def _merchant_region(merchant: str) -> Optional[str]:
    if merchant.startswith("8984"):
        city = _CITY_BY_CODE.get(merchant[4:6])
        if city is not None:
            return PROVINCE[city]
    return None


def _id_no(rng: random.Random, province: str, age: int, year: int) -> str:
    """An 18-digit resident identity number with a valid check digit (ISO 7064 MOD 11-2)."""
    body = (
        f"{province[:2]}{rng.randrange(1, 20):02d}{rng.randrange(1, 30):02d}"
        f"{year - age - (1 if rng.random() < 0.5 else 0):04d}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        f"{rng.randrange(1000):03d}"
    )
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return body + check


def _phone(rng: random.Random) -> str:
    return rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _device(rng: random.Random) -> str:
    return f"D-{rng.getrandbits(40):010x}"


def families_of(profile: str | Iterable[str]) -> tuple[str, ...]:
    """The families of a profile: ``"echannel"``, ``"all"`` or families (comma-separated or a list).

    The e-channel traffic is the customer base every other family builds on, so it is always included.
    """
    names = [s.strip() for s in profile.split(",")] if isinstance(profile, str) else [str(s).strip() for s in profile]
    chosen = {"echannel"}
    for name in names:
        if not name:
            continue
        if name in PROFILES:
            chosen.update(PROFILES[name])
        elif name in FAMILY_EVENT_TYPES:
            chosen.add(name)
        else:
            raise ValueError(
                f"unknown profile or event family {name!r}; "
                f"known: {', '.join(PROFILES)} or families {', '.join(FAMILIES)}"
            )
    return tuple(f for f in FAMILIES if f in chosen)


# ---------------------------------------------------------------- the generator


class _Gen:
    def __init__(
        self,
        n_customers: int,
        days: int,
        seed: int,
        fraud_rate: float,
        start: str,
        warmup_days: int,
        scenarios: Sequence[str],
        ts_format: str,
        families: Sequence[str] = ("echannel",),
    ):
        self.families = frozenset(families)
        # the other families draw from random streams of their own, so the e-channel traffic
        # (events, order, scenarios) stays exactly what the echannel profile makes
        self.posting = "posting" in self.families
        self.retail_rng: Optional[random.Random] = None
        self.ledger: dict[str, list] = {}
        self.ledger_init: dict[str, tuple[int, Optional[int]]] = {}
        self.by_account: dict[str, Customer] = {}
        self.day_start = 0
        self.prng = random.Random(f"ruledsl-generator:{seed}:posting")
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
        for c in self.customers:
            self.by_account[c.account] = c
        self.n_customers = n_customers
        self.year = _dt.date.fromisoformat(start).year
        self.risk_accounts = _read_list("risk_accounts_sample")
        self.risk_grey_accounts = _read_list("risk_grey_accounts_sample")
        self.risk_names = _read_list("risk_names_sample")
        self.case_accounts = _read_list("case_accounts_sample")
        self.disciplined_ids = _read_list("disciplined_ids_sample")
        self.risk_phones = _read_list("risk_phones_sample")
        self.risk_devices = _read_list("risk_devices_sample")
        self.xidx = {f: 60_000_000 + 1_000_000 * i for i, f in enumerate(FAMILIES)}
        self.xrngs = {f: random.Random(f"ruledsl-generator:{seed}:fraud:{f}") for f in FAMILIES if f != "echannel"}
        self.xplan: dict[int, list[tuple[int, int, str, str, str]]] = {}
        self._plan_family_scenarios(n_customers, fraud_rate, scenarios)
        self.applicants: list[tuple[int, dict]] = []  # recent applications (day, a copy of the event)

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
        active = event.get("last_active_at")
        if active is not None:
            event["last_active_at"] = iso_ts(active) if fmt != "epoch" else active * 1000
        return event

    def drain(self, until_s: Optional[int]) -> Iterator[dict]:
        heap = self.heap
        pop = heapq.heappop
        posting = self.posting
        while heap and (until_s is None or heap[0][0] < until_s):
            ts_s, _seq, event = pop(heap)
            if posting:
                p = event.pop("_p", None)
                if p is not None:  # a ledger entry: its balance is known only now, in time order
                    yield from self._post(ts_s, event, p)
                    continue
                c = event.pop("_c", None)
                if c is not None:  # money moved on a channel: queue its ledger entries (same second)
                    self._derive(ts_s, event, c)
            yield self._format(ts_s, event)

    # ------------------------------------------------------------ event builders
    def login(self, t, c, channel, device, trusted, phone, city, tag, *, tamper=False, remote=False):
        ev = {
            "type": "login",
            "ts": None,
            "customer_id": c.cid,
            "channel": channel,
            "device_id": device,
            "trusted_device": trusted,
        }
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
        self._tag_emit(
            t, {"type": "payee_add", "ts": None, "customer_id": c.cid, "channel": channel, "payee_account": payee}, tag
        )

    def transfer(
        self,
        t,
        c,
        channel,
        amount,
        payee,
        *,
        name=None,
        same=False,
        city=None,
        device=None,
        phone=None,
        tag=None,
        remark=None,
    ):
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
        if self.posting:
            ev["_c"] = c
            if remark:
                ev["_remark"] = remark
        self._tag_emit(t, ev, tag)

    def payment(self, t, c, channel, amount, merchant, *, city=None, device=None, tag=None, remark=None):
        ev = {
            "type": "payment",
            "ts": None,
            "customer_id": c.cid,
            "card_no": c.card,
            "channel": channel,
            "merchant_id": merchant,
            "amount": amount,
        }
        if city:
            ev["city"] = city
        if device:
            ev["device_id"] = device
        ev["opened_at"] = c.opened_at
        if channel == "pos":
            ev["_card"] = True
        if self.posting:
            ev["_c"] = c
            if remark:
                ev["_remark"] = remark
        self._tag_emit(t, ev, tag)

    def cash(self, t, c, atm, amount, city, tag=None):
        ev = {
            "type": "cash_withdrawal",
            "ts": None,
            "customer_id": c.cid,
            "card_no": c.card,
            "atm_id": atm,
            "amount": amount,
            "_card": True,
        }
        if city:
            ev["city"] = city
        if self.posting:
            ev["_c"] = c
        self._tag_emit(t, ev, tag)

    def sign(self, t, c, channel, institution, phone, tag=None):
        ev = {
            "type": "agreement_sign",
            "ts": None,
            "customer_id": c.cid,
            "channel": channel,
            "account_no": c.account,
            "institution": institution,
        }
        if phone:
            ev["phone"] = phone
        if self.posting:
            ev["_c"] = c
        self._tag_emit(t, ev, tag)

    # the other families' events (account_events.rdsl, retail_events.rdsl)
    def counter_transfer(self, t, c, channel, amount, payee, *, name=None, branch=None, tag=None):
        ev = {"type": "counter_transfer", "ts": None, "customer_id": c.cid, "account_no": c.account, "channel": channel}
        if branch:
            ev["branch_id"] = branch
        ev["amount"] = amount
        ev["payee_account"] = payee
        if name:
            ev["payee_name"] = name
        if self.posting:
            ev["_c"] = c
        self._tag_emit(t, ev, tag)

    def password_reset(self, t, c, channel, method, device, tag=None):
        ev = {"type": "password_reset", "ts": None, "customer_id": c.cid, "channel": channel, "method": method}
        if device:
            ev["device_id"] = device
        self._tag_emit(t, ev, tag)

    def loan_application(self, t, c, channel, product, amount, device, tag=None, *, granted_after=None):
        """``granted_after``: seconds until the loan is paid into the account (posting family), None: refused."""
        ev = {
            "type": "loan_application",
            "ts": None,
            "customer_id": c.cid,
            "channel": channel,
            "product": product,
            "amount": amount,
        }
        if device:
            ev["device_id"] = device
        if self.posting and granted_after is not None:
            ev["_c"] = c
            ev["_granted_after"] = granted_after
        self._tag_emit(t, ev, tag)

    def dcep_topup(self, t, c, channel, amount, wallet, own, device, tag=None):
        ev = {
            "type": "dcep_topup",
            "ts": None,
            "customer_id": c.cid,
            "account_no": c.account,
            "channel": channel,
            "amount": amount,
            "wallet_id": wallet,
            "own_wallet": own,
        }
        if device:
            ev["device_id"] = device
        if self.posting:
            ev["_c"] = c
        self._tag_emit(t, ev, tag)

    def txn(
        self,
        t,
        c,
        direction,
        amount,
        channel,
        *,
        account=None,
        cp=None,
        cp_name=None,
        region=None,
        same=None,
        device=None,
        remark=None,
        tag=None,
    ):
        """Queue a ledger entry (``account_txn``); its balance and ``last_active_at`` are filled in when popped."""
        holder = {
            "type": "account_txn",
            "_p": (
                c,
                account or c.account,
                direction,
                _cents(amount),
                channel,
                cp,
                cp_name,
                region,
                same,
                device,
                remark,
            ),
        }
        self._tag_emit(t, holder, tag)

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
        day_start = self.day_start = self.period_start + day * DAY_S
        if "retail" in self.families:
            self.retail_rng = random.Random(f"ruledsl-generator:{self.seed}:retail:{day}")
        weekday = _dt.date.fromordinal(_EPOCH_ORDINAL + (day_start + TZ_OFFSET_S) // DAY_S).weekday()
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
        if self.retail_rng is not None:  # password resets, loans, e-CNY top-ups (their own random stream)
            self._retail_session(c, t, channel, device, trusted, tag)
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
            self.transfer(
                t,
                c,
                channel,
                amount,
                payee[0],
                name=payee[1] if rng.random() < 0.8 else None,
                same=payee[2],
                city=self.city_of(c, today),
                device=device,
                phone=phone,
                tag=tag,
            )
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
            self.transfer(
                t,
                c,
                "corporate",
                self.amount(c, spread=1.0),
                payee[0],
                name=payee[1],
                same=payee[2],
                city=today,
                device=device,
                phone=c.phone,
                tag=tag,
            )
        return t

    def s_pos(self, c, t, today, tag) -> int:
        rng = self.rng
        merchant = rng.choice(c.merchants) if today == c.home and rng.random() < 0.7 else _merchant(rng, today)
        self.payment(
            t,
            c,
            "pos",
            self.amount(c, scale=0.35, spread=1.0),
            merchant,
            city=today,
            device=f"POS{merchant[-8:]}",
            tag=tag,
        )
        if rng.random() < 0.1:  # second purchase nearby
            t += rng.randrange(300, 1800)
            merchant = _merchant(rng, today)
            self.payment(
                t,
                c,
                "pos",
                self.amount(c, scale=0.2, spread=1.0),
                merchant,
                city=today,
                device=f"POS{merchant[-8:]}",
                tag=tag,
            )
        return t

    def s_online(self, c, t, today, tag) -> int:
        rng = self.rng
        for _ in range(rng.choices((1, 2, 3), (75, 20, 5))[0]):
            self.payment(
                t,
                c,
                "third_party",
                self.amount(c, scale=0.15, spread=1.1),
                _online_merchant(rng),
                city=self.city_of(c, today),
                device=rng.choice(c.devices),
                tag=tag,
            )
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
            self.transfer(
                t,
                c,
                "mobile",
                amount,
                payee[0],
                name=payee[1],
                same=payee[2],
                city=c.home,
                device=device,
                phone=c.phone,
            )

    def _preludes(self) -> None:
        """Each dormant account's last transaction, long before the period (a warm-up event)."""
        rng = self.rng
        for c in self.customers:
            if c.dormant:
                t = self.period_start - rng.randrange(200 * DAY_S, 380 * DAY_S)
                payee = rng.choice(c.payees)
                self.transfer(
                    t,
                    c,
                    "mobile",
                    self.amount(c),
                    payee[0],
                    name=payee[1],
                    same=payee[2],
                    city=c.home,
                    device=c.devices[0],
                    phone=c.phone,
                    tag="warmup",
                )

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
            self.transfer(
                t,
                c,
                "mobile",
                _money(frng.uniform(50, 3000)),
                payee[0],
                name=payee[1],
                same=payee[2],
                city=c.home,
                device=c.devices[0],
                phone=c.phone,
                tag="warmup",
            )
            self.dormant_pool.append(c)

    def _extra_customer(self, home: Optional[str] = None) -> Customer:
        c = Customer(self.frng, self.next_idx, home=home)
        self.next_idx += 1
        c.opened_at = self.period_start - self.frng.randrange(60 * DAY_S, 3650 * DAY_S)
        self.by_account[c.account] = c
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
        self.login(
            t, c, channel, device, False, phone, city if frng.random() < 0.9 else None, tag, tamper=frng.random() < 0.3
        )  # emulators and forged fingerprints
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
                self.transfer(
                    t,
                    c,
                    channel,
                    _round_money(frng.uniform(3_000, 30_000), 1000),
                    payee,
                    name=name,
                    city=c.home,
                    device=device,
                    phone=phone,
                    tag=tag,
                )
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
                self.transfer(
                    t,
                    c,
                    channel,
                    _round_money(frng.uniform(10_000, 150_000), 1000),
                    payee,
                    name=name,
                    city=c.home,
                    device=device,
                    phone=phone,
                    tag=tag,
                )

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
                    self.transfer(
                        t,
                        mule,
                        "mobile",
                        _money(frng.uniform(0.01, 9.99)),
                        self._external_account(),
                        city=home,
                        device=device,
                        phone=phone,
                        tag=tag,
                    )
            # payers in: the bank's own customers among them
            for _ in range(frng.randint(3, 12)):
                payer = self._victim()
                tp = t + frng.randrange(60, 3 * HOUR_S)
                self.transfer(
                    tp,
                    payer,
                    "mobile",
                    _money(frng.uniform(1_000, 50_000)),
                    mule.account,
                    name=mule.owner_name,
                    city=payer.home,
                    device=payer.devices[0],
                    phone=payer.phone,
                    tag=tag,
                )
            # fast out to many payees (now and then one already on the grey list)
            t += frng.randrange(600, 1800)
            listed = self._external_account(grey_share=0.15)
            for i in range(frng.randint(4, 12)):
                t += frng.randrange(30, 400)
                self.transfer(
                    t,
                    mule,
                    "mobile",
                    _money(frng.uniform(2_000, 49_000)),
                    listed if i == 0 else self._external_account(),
                    name=_name(frng),
                    city=home,
                    device=device,
                    phone=phone if careful or frng.random() < 0.7 else mule.phone,
                    tag=tag,
                )

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
            self.transfer(
                t + frng.randrange(0, 4 * HOUR_S),
                payer,
                "mobile",
                f"{frng.choice(rounds[:5])}.00",
                c.account,
                city=payer.home,
                device=payer.devices[0],
                phone=payer.phone,
                tag=tag,
            )
        # out: round sums to many collection accounts and gambling merchants, through the night
        for _ in range(frng.randint(5, 16)):
            t += frng.randrange(120, 1500)
            amount = f"{frng.choice(rounds)}.00"
            if frng.random() < 0.35:
                self.payment(
                    t, c, "third_party", amount, frng.choice(platform_merchants), city=c.home, device=device, tag=tag
                )
            else:
                self.transfer(
                    t,
                    c,
                    "mobile",
                    amount,
                    self._external_account(),
                    name=_name(frng),
                    city=c.home,
                    device=device,
                    phone=c.phone,
                    tag=tag,
                )

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
            self.transfer(
                t,
                c,
                "mobile",
                amount,
                listed if i == 0 else self._external_account(),
                name=_name(frng),
                city=city,
                device=device,
                phone=phone,
                tag=tag,
            )

    # ------------------------------------------------------------ the ledger (posting family)
    def _ledger_state(self, c: Customer, account: str) -> list:
        """``[balance in cents, last posting, last posting before today, today]`` of an account."""
        st = self.ledger.get(account)
        if st is None:
            init = self.ledger_init.pop(account, None)
            if init is None:
                u = _unit(self.seed, account, "balance")
                if self.period_start - c.opened_at < 90 * DAY_S:
                    init = (int(500 * u) * 100, None)  # a new account (a mule of the e-channel scenarios)
                else:
                    # savings: enough for the stream's spending (and then some); last active before the stream
                    spend = max(c.median, 200.0) * (20 + 3 * c.rate * (self.days + self.warmup_days))
                    last = (
                        None
                        if c.dormant
                        else (
                            self.period_start
                            - self.warmup_days * DAY_S
                            - HOUR_S
                            - int(_unit(self.seed, account, "last") * 20 * DAY_S)
                        )
                    )
                    init = (int(spend * math.exp(2.0 * u - 0.5)) * 100, last)
            st = self.ledger[account] = [init[0], init[1], init[1], None]
        return st

    def _hometown(self, c: Customer) -> str:
        return ALL_PROVINCES[int(_unit(self.seed, c.cid, "hometown") * len(ALL_PROVINCES))]

    def _own_other_account(self, c: Customer) -> str:
        for acct, _name, same in c.payees:
            if same:
                return acct
        return f"6228{int(_unit(self.seed, c.cid, 'own') * 10**15):015d}"

    @staticmethod
    def _tag_of(ev: dict):
        label = ev.get("label")
        if label is not None:
            return label, ev["scenario_id"]
        return "warmup" if ev.get("warmup") else None

    def _post(self, ts: int, holder: dict, p: tuple) -> Iterator[dict]:
        c, account, direction, cents, channel, cp, cp_name, region, same, device, remark = p
        st = self._ledger_state(c, account)
        day = (ts + TZ_OFFSET_S) // DAY_S
        if st[3] != day:
            st[2], st[3] = st[1], day
        if direction == "out" and cents > st[0]:
            # not enough money: the customer first moves a round sum in from an own account at another bank
            top = ((cents - st[0] + self.prng.randrange(50_000, 300_000)) // 10_000 + 1) * 10_000
            st[0] += top
            own = self._own_other_account(c)
            yield self._format(
                ts,
                self._txn_event(
                    holder,
                    c,
                    account,
                    "in",
                    top,
                    st,
                    "mobile",
                    own,
                    c.owner_name,
                    _region(own, c.home, self._hometown(c)),
                    True,
                    None,
                    "本人他行转入",
                ),
            )
            st[1] = ts
        st[0] += cents if direction == "in" else -cents
        ev = self._txn_event(
            holder, c, account, direction, cents, st, channel, cp, cp_name, region, same, device, remark
        )
        st[1] = ts
        yield self._format(ts, ev)

    @staticmethod
    def _txn_event(holder, c, account, direction, cents, st, channel, cp, cp_name, region, same, device, remark):
        ev = {
            "type": "account_txn",
            "ts": None,
            "customer_id": c.cid,
            "account_no": account,
            "direction": direction,
            "amount": _yuan(cents),
            "balance_after": _yuan(st[0]),
            "channel": channel,
        }
        if cp:
            ev["counterparty_account"] = cp
        if cp_name:
            ev["counterparty_name"] = cp_name
        if region:
            ev["counterparty_region"] = region
        if same is not None:
            ev["same_name"] = same
        if device:
            ev["device_id"] = device
        if remark:
            ev["remark"] = remark
        ev["opened_at"] = c.opened_at
        if st[2] is not None:
            ev["last_active_at"] = st[2]
        for key in ("label", "scenario_id", "warmup"):
            if key in holder:
                ev[key] = holder[key]
        return ev

    def _derive(self, ts: int, ev: dict, c: Customer) -> None:
        """The ledger entries of a channel event that moves money (queued for the same second)."""
        remark = ev.pop("_remark", None)
        granted_after = ev.pop("_granted_after", None)
        if c.corporate:
            return  # the T+1 models watch personal settlement accounts
        etype = ev["type"]
        tag = self._tag_of(ev)
        prng = self.prng
        home = PROVINCE.get(c.home)
        if etype == "transfer":
            payee = ev["payee_account"]
            same = ev["same_name"]
            channel = ev["channel"]
            if remark is None:
                remark = "本人账户转账" if same else prng.choice(TRANSFER_REMARKS)
            self.txn(
                ts,
                c,
                "out",
                ev["amount"],
                channel,
                cp=payee,
                cp_name=ev.get("payee_name"),
                region=_region(payee, c.home, self._hometown(c)),
                same=same,
                device=ev.get("device_id") if channel in ("mobile", "web") else None,
                remark=remark,
                tag=tag,
            )
            other = self.by_account.get(payee)
            if other is not None and not other.corporate:  # a customer of the bank: the money comes in there
                self.txn(
                    ts,
                    other,
                    "in",
                    ev["amount"],
                    channel,
                    cp=c.account,
                    cp_name=c.owner_name,
                    region=home,
                    same=other.cid == c.cid,
                    remark=remark,
                    tag=tag,
                )
        elif etype == "payment":
            merchant = ev["merchant_id"]
            channel = ev["channel"]
            if channel == "pos" and merchant.startswith("8984"):
                cp, cp_name, region = merchant, None, _merchant_region(merchant)
                remark = remark or "消费"
            else:
                u = _unit(merchant, "institution")
                cp, cp_name, region = INSTITUTION_ACCOUNTS[0 if u < 0.55 else 1 if u < 0.95 else 2]
                remark = remark or prng.choice(ONLINE_REMARKS)
            self.txn(
                ts,
                c,
                "out",
                ev["amount"],
                channel,
                cp=cp,
                cp_name=cp_name,
                region=region,
                same=False,
                device=ev.get("device_id") if channel == "third_party" else None,
                remark=remark,
                tag=tag,
            )
        elif etype == "cash_withdrawal":
            self.txn(ts, c, "out", ev["amount"], "atm", remark="ATM取款", tag=tag)
        elif etype == "counter_transfer":
            payee = ev["payee_account"]
            self.txn(
                ts,
                c,
                "out",
                ev["amount"],
                ev["channel"],
                cp=payee,
                cp_name=ev.get("payee_name"),
                region=_region(payee, c.home, self._hometown(c)),
                remark=remark or "汇款",
                tag=tag,
            )
        elif etype == "dcep_topup":
            self.txn(
                ts,
                c,
                "out",
                ev["amount"],
                ev["channel"],
                cp=ev["wallet_id"],
                cp_name="数字人民币钱包",
                same=ev["own_wallet"],
                device=ev.get("device_id"),
                remark="兑出至数字人民币钱包",
                tag=tag,
            )
        elif etype == "loan_application" and granted_after is not None:
            self.txn(
                ts + granted_after,
                c,
                "in",
                ev["amount"],
                ev["channel"],
                cp=LOAN_ACCOUNT[0],
                cp_name=LOAN_ACCOUNT[1],
                region=home,
                same=False,
                remark="贷款发放",
                tag=tag,
            )
        elif etype == "agreement_sign" and prng.random() < 0.5:
            # the institution checks the account with a one-cent deposit
            inst = ev["institution"]
            self.txn(
                ts + prng.randrange(5, 60),
                c,
                "in",
                "0.01",
                "third_party",
                cp=f"{zlib.crc32(inst.encode()):015d}",
                cp_name=inst,
                same=False,
                remark="账户验证",
                tag=tag,
            )

    # ------------------------------------------------------------ the other families' ordinary traffic
    def family_day(self, day: int) -> None:
        day_start = self.period_start + day * DAY_S
        tag = "warmup" if day < 0 else None
        if self.posting:
            self._income_day(day, day_start, tag)
        if "counter" in self.families:
            self._counter_day(day, day_start, tag)
        if "opening" in self.families:
            self._opening_day(day, day_start, tag)

    @staticmethod
    def _hour_time(r: random.Random, day_start: int, hours: Optional[Sequence[int]] = None) -> int:
        hour = r.choice(hours) if hours else _pick_cum(r, range(24), _HOUR_CUM)
        return day_start + hour * HOUR_S + r.randrange(HOUR_S)

    def _income_day(self, day: int, day_start: int, tag) -> None:
        """Money coming in: salaries on payday, family and friends, wallet withdrawals, shops' QR payments."""
        r = random.Random(f"ruledsl-generator:{self.seed}:posting:{day}")
        dom = _dt.date.fromordinal(_EPOCH_ORDINAL + (day_start + TZ_OFFSET_S) // DAY_S).day
        seed = self.seed
        for c in self.customers:
            if c.corporate or c.dormant:
                continue
            home = PROVINCE.get(c.home)
            if _unit(seed, c.cid, "salary") < 0.7 and dom == 1 + int(_unit(seed, c.cid, "payday") * 28):
                # about a month's spending
                salary = max(2500.0, c.median * c.rate * (20 + 20 * _unit(seed, c.cid, "pay"))) * r.uniform(0.97, 1.03)
                u = _unit(seed, c.cid, "employer")
                employer = (
                    f"{c.home}{GIVEN[int(u * len(GIVEN))]}{GIVEN[int(u * 997) % len(GIVEN)]}"
                    f"{COMPANY_SUFFIXES[int(u * 9973) % len(COMPANY_SUFFIXES)]}"
                )
                self.txn(
                    self._hour_time(r, day_start, (9, 10, 11)),
                    c,
                    "in",
                    _money(salary),
                    "counter",
                    cp=f"6222020200{int(u * 10**9):09d}",
                    cp_name=employer,
                    region=home,
                    same=False,
                    remark=r.choice(("代发工资", "工资", "代发工资")),
                    tag=tag,
                )
            for _ in range(_poisson(r, 0.08)):
                if c.payees and r.random() < 0.5:
                    payer, name, same = r.choice(c.payees)
                else:
                    payer, name, same = _new_payee(r)
                amount = math.exp(r.gauss(math.log(c.median), 0.8))
                self.txn(
                    self._hour_time(r, day_start),
                    c,
                    "in",
                    _round_money(amount, 100) if r.random() < 0.5 else _money(amount),
                    r.choice(("mobile", "mobile", "web", "third_party")),
                    cp=payer,
                    cp_name=name,
                    region=_region(payer, c.home, self._hometown(c)),
                    same=same,
                    remark=r.choice(("转账", "还款", "生活费", "红包", "", "")),
                    tag=tag,
                )
            if r.random() < 0.004:
                cp, cp_name, region = INSTITUTION_ACCOUNTS[r.choice((0, 0, 1, 1, 1))]
                self.txn(
                    self._hour_time(r, day_start),
                    c,
                    "in",
                    _money(r.uniform(50, 2000)),
                    "third_party",
                    cp=cp,
                    cp_name=cp_name,
                    region=region,
                    same=False,
                    remark=r.choice(("零钱提现", "余额提现")),
                    tag=tag,
                )
            if _unit(seed, c.cid, "shop") < 0.02:  # a small shop: its customers pay by the bank's QR code
                for _ in range(_poisson(r, 8)):
                    self.txn(
                        self._hour_time(r, day_start, range(8, 22)),
                        c,
                        "in",
                        _money(math.exp(r.gauss(math.log(35), 0.9))),
                        "third_party",
                        cp=f"2088{r.randrange(10**12):012d}",
                        region=home,
                        same=False,
                        remark="二维码收款",
                        tag=tag,
                    )

    def _counter_day(self, day: int, day_start: int, tag) -> None:
        """Transfers at a branch counter or by telephone banking (mostly older customers' habits)."""
        r = random.Random(f"ruledsl-generator:{self.seed}:counter:{day}")
        for c in self.customers:
            if c.corporate or c.dormant or r.random() >= 0.004:
                continue
            acct, name, _same = r.choice(c.payees)
            channel = "counter" if r.random() < 0.8 else "phone_banking"
            amount = math.exp(r.gauss(math.log(c.median * 2), 0.8))
            self.counter_transfer(
                self._hour_time(r, day_start, range(9, 17)),
                c,
                channel,
                _round_money(amount, 100) if r.random() < 0.6 else _money(amount),
                acct,
                name=name,
                branch=f"B{_CITY_CODE.get(c.home, '99')}{r.randrange(1, 40):03d}" if channel == "counter" else None,
                tag=tag,
            )

    # ------------------------------------------------------------ account opening (opening family)
    def _opening_day(self, day: int, day_start: int, tag) -> None:
        """Applications from new customers: about 3 a day per 100 existing customers (a sample's intake)."""
        r = random.Random(f"ruledsl-generator:{self.seed}:opening:{day}")
        for _ in range(_poisson(r, max(0.5, self.n_customers * 0.03))):
            recent = [a for a in self.applicants if a[0] >= day - 30]
            if recent and r.random() < 0.01:
                # the same person applies again (an abandoned application, another branch)
                ev = dict(r.choice(recent)[1])
                for key in ("label", "scenario_id", "warmup"):
                    ev.pop(key, None)
                hours = range(9, 17) if ev["channel"] == "counter" else range(8, 23)
                self._emit_application(self._hour_time(r, day_start, hours), ev, day, tag)
                continue
            persona = r.choices(PERSONAS, PERSONA_WEIGHTS)[0]
            ev = self._application(r, persona)
            if ev["channel"] != "counter" and recent and r.random() < 0.015:
                # a family member opens an account on the same phone or with the same SIM
                other = r.choice(recent)[1]
                if r.random() < 0.5 and "device_id" in other:
                    ev["device_id"] = other["device_id"]
                else:
                    ev["phone"] = other["phone"]
                    ev["phone_owner_match"] = False
            hours = range(9, 17) if ev["channel"] == "counter" else range(8, 23)
            self._emit_application(self._hour_time(r, day_start, hours), ev, day, tag)

    def _emit_application(self, t: int, ev: dict, day: int, tag) -> None:
        if tag is None or tag == "warmup":  # ordinary applicants: their relatives may share a phone, or reapply
            self.applicants.append((day, dict(ev)))
        self._tag_emit(t, ev, tag)
        if len(self.applicants) > 400:
            del self.applicants[:100]

    def _applicant_id(self) -> str:
        self.xidx["opening"] += 1
        return f"C{self.xidx['opening']:08d}"

    def _application(
        self,
        r: random.Random,
        persona: str,
        *,
        channel: Optional[str] = None,
        city: Optional[str] = None,
        age: Optional[int] = None,
    ) -> dict:
        """An ordinary ``account_open`` event for a persona (the scenarios adjust it)."""
        city = city or _pick_cum(r, CITY_NAMES, _CITY_CUM)
        if channel is None:
            counter_share = {"retired": 0.85, "rural": 0.8, "foreigner": 0.7, "student": 0.25}.get(persona, 0.45)
            channel = "counter" if r.random() < counter_share else ("mobile" if r.random() < 0.9 else "web")
        nationality, id_type = "CHN", "resident_id"
        income: Optional[float] = None
        local_share, proof_share, high_limit = 0.65, 0.7, 0.05
        if persona == "worker":
            age = age or r.randint(23, 55)
            occupation = r.choices(
                ("enterprise_staff", "professional", "civil_servant", "worker", "military", "other"),
                (40, 20, 10, 25, 2, 3),
            )[0]
            industry = (
                "public_service"
                if occupation in ("civil_servant", "military")
                else r.choice(
                    (
                        "manufacturing",
                        "construction",
                        "wholesale_retail",
                        "logistics",
                        "catering_hotel",
                        "it_internet",
                        "finance",
                        "real_estate",
                        "education_health",
                        "other",
                    )
                )
            )
            purpose = r.choices(("salary", "daily", "investment", "loan_repayment", "other"), (50, 35, 8, 5, 2))[0]
            income = math.exp(r.gauss(math.log(8000), 0.5))
        elif persona == "student":
            age = age or r.randint(18, 24)
            occupation, industry = "student", "none"
            purpose = r.choices(("daily", "salary", "other"), (85, 10, 5))[0]
            income = r.choice((None, None, 0.0, r.uniform(500, 2000)))
            local_share, proof_share, high_limit = 0.4, 0.6, 0.03
        elif persona == "retired":
            age = age or r.randint(58, 85)
            occupation, industry = "retired", "none"
            purpose = r.choices(("daily", "investment", "other"), (60, 32, 8))[0]
            income = r.uniform(2000, 8000)
            local_share, high_limit = 0.8, 0.01
        elif persona == "business":
            age = age or r.randint(25, 60)
            occupation = "self_employed"
            industry = r.choices(
                (
                    "wholesale_retail",
                    "catering_hotel",
                    "logistics",
                    "construction",
                    "agriculture",
                    "precious_metals",
                    "entertainment",
                ),
                (40, 25, 10, 10, 7, 5, 3),
            )[0]
            purpose = r.choices(("business", "daily"), (80, 20))[0]
            income = math.exp(r.gauss(math.log(15000), 0.6))
            high_limit = 0.3
        elif persona == "freelance":
            age = age or r.randint(22, 45)
            occupation = "freelancer"
            industry = r.choice(("it_internet", "education_health", "wholesale_retail", "other", "other"))
            purpose = r.choices(("daily", "business", "other"), (60, 30, 10))[0]
            income = r.choice((None, math.exp(r.gauss(math.log(7000), 0.6))))
            high_limit = 0.1
        elif persona == "jobless":
            age = age or r.randint(18, 50)
            occupation, industry = "unemployed", "none"
            purpose = r.choices(("daily", "loan_repayment", "other"), (80, 12, 8))[0]
            income = None
            high_limit = 0.02
        elif persona == "rural":
            age = age or r.randint(30, 65)
            occupation = r.choice(("farmer", "worker"))
            industry = "agriculture" if occupation == "farmer" else "construction"
            purpose = r.choices(("daily", "salary"), (70, 30))[0]
            income = r.uniform(2000, 6000)
        else:  # foreigner working here
            age = age or r.randint(25, 60)
            nationality = r.choice(FOREIGN_NATIONALITIES)
            id_type = "passport" if r.random() < 0.8 else "foreign_permanent"
            occupation = r.choice(("enterprise_staff", "professional"))
            industry = r.choice(("manufacturing", "it_internet", "education_health", "finance", "other"))
            purpose = "salary"
            income = math.exp(r.gauss(math.log(25000), 0.5))
            local_share, proof_share = 0.0, 0.9
        local = r.random() < local_share
        province = PROVINCE[city] if local else r.choice(ALL_PROVINCES)
        if nationality == "CHN":
            id_no = _id_no(r, province, age, self.year)
        else:
            id_no = f"{nationality[:1]}{r.randrange(10**8):08d}"
        if income is not None:
            expected = max(500.0, income * r.uniform(0.3, 1.5))
            if persona == "business":
                expected = income * r.uniform(1, 6)
        else:
            expected = r.uniform(500, 5000)
        ev: dict[str, Any] = {
            "type": "account_open",
            "ts": None,
            "customer_id": self._applicant_id(),
            "id_no": id_no,
            "id_type": id_type,
            "nationality": nationality,
            "age": age,
            "channel": channel,
            "account_class": ("I" if r.random() < 0.8 else "II")
            if channel == "counter"
            else ("II" if r.random() < 0.85 else "III"),
            "occupation": occupation,
            "industry": industry,
            "purpose": purpose,
        }
        if income is not None:
            ev["monthly_income"] = _round_money(income, 100)
        if r.random() < 0.9:
            ev["expected_monthly_amount"] = _round_money(expected, 100)
        ev["local_household"] = local
        if not local:
            ev["local_proof"] = r.random() < proof_share
        ev["phone"] = _phone(r)
        u = r.random()
        if u < 0.95:
            ev["phone_owner_match"] = True
        elif u < 0.97:
            ev["phone_owner_match"] = False  # a parent's or spouse's number
        if "phone_owner_match" in ev:
            ev["phone_tenure_days"] = (
                r.randrange(1, 30) if r.random() < 0.03 else int(math.exp(r.gauss(math.log(1500), 0.8))) + 30
            )
        if r.random() < 0.95:
            ev["accounts_elsewhere"] = r.choices(range(8), (20, 35, 25, 12, 5, 2, 0.7, 0.3))[0]
        ev["apply_high_limit"] = r.random() < high_limit
        counter = channel == "counter"
        ev["accompanied"] = counter and r.random() < (0.25 if persona == "retired" else 0.015)
        if counter:
            ev["evasive_answers"] = r.random() < 0.007
        else:
            ev["device_id"] = _device(r)
            ev["device_risk"] = r.random() < 0.006
        return ev

    def y_risky_account_open(self, day: int, tag, r: random.Random) -> None:
        day_start = self.period_start + day * DAY_S
        v = r.random()
        if v < 0.28:
            # a young person brought to the counter by a "boss" to open an account for sale
            ev = self._application(r, r.choice(("jobless", "student")), channel="counter", age=r.randint(18, 24))
            ev["accompanied"] = True
            ev["evasive_answers"] = r.random() < 0.7
            if r.random() < 0.7:
                ev["purpose"] = "other"
            ev["apply_high_limit"] = r.random() < 0.8
            ev["local_household"] = False
            ev["local_proof"] = False
            if r.random() < 0.5:
                ev["expected_monthly_amount"] = _round_money(r.uniform(30_000, 100_000), 1000)
            self._emit_application(self._hour_time(r, day_start, range(9, 17)), ev, day, tag)
        elif v < 0.48:
            # a ring opens several II-class accounts online with one phone and one (often rooted) phone handset
            phone, device = _phone(r), _device(r)
            risky_device = r.random() < 0.5
            t = self._hour_time(r, day_start, range(9, 23))
            for _ in range(r.randint(2, 4)):
                ev = self._application(
                    r, r.choice(("jobless", "worker", "student")), channel="mobile", age=r.randint(18, 30)
                )
                ev["account_class"] = "II"
                ev["phone"], ev["device_id"], ev["device_risk"] = phone, device, risky_device
                ev["phone_owner_match"] = False
                ev["phone_tenure_days"] = r.randrange(3, 60)
                ev["apply_high_limit"] = r.random() < 0.6
                self._emit_application(t, ev, day, tag)
                t += r.randrange(10 * MIN_S, 3 * HOUR_S)
        elif v < 0.62:
            # a student expecting a fortune through the account ("兼职" for a gambling platform)
            ev = self._application(r, "student", age=r.randint(18, 22))
            ev["monthly_income"] = "0.00"
            ev["expected_monthly_amount"] = _round_money(r.uniform(30_000, 200_000), 1000)
            ev["apply_high_limit"] = True
            if r.random() < 0.3:
                ev["industry"] = "online_gaming"
            if r.random() < 0.5:
                ev["purpose"] = "other"
            self._emit_application(self._hour_time(r, day_start, range(8, 23)), ev, day, tag)
        elif v < 0.70 and (self.risk_phones or self.risk_devices):
            # the phone number or the handset is already on the fraud lists
            ev = self._application(r, r.choice(("jobless", "worker", "freelance")), channel="mobile")
            if self.risk_devices and (not self.risk_phones or r.random() < 0.5):
                ev["device_id"] = r.choice(self.risk_devices)
            else:
                ev["phone"] = r.choice(self.risk_phones)
            self._emit_application(self._hour_time(r, day_start, range(8, 23)), ev, day, tag)
        elif v < 0.76 and self.disciplined_ids:
            # someone punished for selling accounts tries again
            ev = self._application(r, r.choice(("jobless", "worker")), channel="counter", age=r.randint(20, 40))
            ev["id_no"] = r.choice(self.disciplined_ids)
            self._emit_application(self._hour_time(r, day_start, range(9, 17)), ev, day, tag)
        elif v < 0.84:
            # a national of a country where cross-border fraud call centres operate
            ev = self._application(r, "freelance", city=r.choice(FRAUD_CITIES), age=r.randint(20, 35))
            ev["nationality"] = r.choice(HIGH_RISK_NATIONALITIES)
            ev["id_type"] = "passport"
            ev["id_no"] = f"{ev['nationality'][:1]}{r.randrange(10**8):08d}"
            ev["local_household"] = False
            ev["local_proof"] = False
            self._emit_application(self._hour_time(r, day_start, range(9, 17)), ev, day, tag)
        else:
            # a careful seller: an ordinary-looking young worker with his own phone
            ev = self._application(r, "worker", channel="mobile", age=r.randint(23, 30))
            ev["local_household"] = True
            ev.pop("local_proof", None)
            ev["purpose"] = "other"
            ev["apply_high_limit"] = True
            self._emit_application(self._hour_time(r, day_start, range(8, 23)), ev, day, tag)

    # ------------------------------------------------------------ retail steps in ordinary sessions (retail family)
    def _retail_session(self, c: Customer, t: int, channel: str, device: str, trusted: bool, tag) -> None:
        r = self.retail_rng
        if not trusted and r.random() < 0.5:
            # a new phone: the password is reset first
            self.password_reset(
                max(self.day_start, t - r.randrange(60, 600)), c, channel, r.choice(("sms", "sms", "face")), device, tag
            )
        elif r.random() < 0.002:  # forgot the password
            self.password_reset(
                max(self.day_start, t - r.randrange(60, 300)),
                c,
                channel,
                r.choice(("sms", "face", "bank_card")),
                device,
                tag,
            )
        if channel != "mobile":
            return
        u = r.random()
        if u < 0.004:
            amount = _round_money(math.exp(r.gauss(math.log(max(c.median, 300) * 40), 0.7)), 1000)
            self.loan_application(
                t + r.randrange(60, 900),
                c,
                channel,
                r.choice(("consumer_loan", "consumer_loan", "cash_instalment")),
                amount,
                device,
                tag,
                granted_after=r.randrange(120, 3600) if r.random() < 0.7 else None,
            )
        elif u < 0.02:
            own = r.random() < 0.9
            wallet = (
                f"0031{int(_unit(self.seed, c.cid, 'wallet') * 10**12):012d}"
                if own
                else f"0021{r.randrange(10**12):012d}"
            )
            amount = r.uniform(100, 3000)
            self.dcep_topup(
                t + r.randrange(30, 600),
                c,
                channel,
                _round_money(amount, 100) if r.random() < 0.6 else _money(amount),
                wallet,
                own,
                device,
                tag,
            )

    # ------------------------------------------------------------ the other families' scenarios
    def _plan_family_scenarios(self, n_customers: int, fraud_rate: float, kinds: Sequence[str]) -> None:
        """Each family's scenarios, planned with its own random stream (``fraud_rate`` per family)."""
        wanted = set(kinds)
        if fraud_rate <= 0 or self.days <= 0:
            return
        for rank, family in enumerate(FAMILIES):
            if family == "echannel" or family not in self.families:
                continue
            fkinds = [k for k in FAMILY_SCENARIOS[family] if k in wanted]
            if not fkinds:
                continue
            r = self.xrngs[family]
            n = max(len(fkinds), int(round(fraud_rate * n_customers)))
            order = list(fkinds)
            r.shuffle(order)
            counters: Counter = Counter()
            for i in range(n):
                kind = order[i % len(order)]
                counters[kind] += 1
                day = r.randrange(self.days)
                self.xplan.setdefault(day, []).append(
                    (rank, r.getrandbits(32), family, kind, f"{kind}-{counters[kind]:04d}")
                )
        for day in self.xplan:
            self.xplan[day].sort()

    def family_scenarios_for(self, day: int) -> None:
        for _rank, _key, family, kind, sid in self.xplan.get(day, ()):
            getattr(self, f"y_{kind}")(day, (kind, sid), self.xrngs[family])

    def _xcustomer(self, r: random.Random, family: str, home: Optional[str] = None) -> Customer:
        self.xidx[family] += 1
        c = Customer(r, self.xidx[family], home=home)
        c.opened_at = self.period_start - r.randrange(60 * DAY_S, 3650 * DAY_S)
        self.by_account[c.account] = c
        return c

    def _xvictim(self, r: random.Random, family: str) -> Customer:
        for _ in range(100):
            c = self.customers[r.randrange(len(self.customers))]
            if not c.corporate and not c.dormant:
                return c
        return self._xcustomer(r, family)

    def _mule(
        self,
        r: random.Random,
        family: str,
        opened_days: tuple[int, int],
        balance: float = 0.0,
        last_active_days: Optional[tuple[int, int]] = None,
        day: int = 0,
    ) -> Customer:
        """A fraud-controlled account: opened ``opened_days`` days ago, its balance and last activity set."""
        c = self._xcustomer(r, family, home=r.choice(FRAUD_CITIES))
        now = self.period_start + day * DAY_S
        c.opened_at = now - r.randrange(opened_days[0] * DAY_S, opened_days[1] * DAY_S)
        if last_active_days is None:
            last = max(c.opened_at, now - r.randrange(1 * DAY_S, 10 * DAY_S))
        else:
            last = now - r.randrange(last_active_days[0] * DAY_S, last_active_days[1] * DAY_S)
        self.ledger_init[c.account] = (int(balance * 100), last)
        return c

    @staticmethod
    def _ext(r: random.Random) -> str:
        return f"{r.choice(OTHER_BANK_PREFIXES)}{r.randrange(10**15):015d}"

    def _in(
        self,
        t: int,
        c: Customer,
        amount: str,
        r: random.Random,
        tag,
        *,
        cp: Optional[str] = None,
        remark: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None:
        """Money from another bank into ``c`` (ledger only)."""
        cp = cp or self._ext(r)
        self.txn(
            t,
            c,
            "in",
            amount,
            r.choice(("mobile", "mobile", "web", "third_party")),
            cp=cp,
            cp_name=name or _name(r),
            region=_region(cp, None),
            same=False,
            remark=remark,
            tag=tag,
        )

    def _out(
        self,
        t: int,
        c: Customer,
        amount: str,
        payee: str,
        r: random.Random,
        tag,
        *,
        device: str,
        phone: Optional[str] = None,
        remark: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None:
        """Money out of ``c`` on the mobile app (an e-channel transfer, and its ledger entry)."""
        self.transfer(
            t,
            c,
            "mobile",
            amount,
            payee,
            name=name or _name(r),
            city=c.home,
            device=device,
            phone=phone or c.phone,
            tag=tag,
            remark=remark,
        )

    def y_gambling_account(self, day: int, tag, r: random.Random) -> None:
        day_start = self.period_start + day * DAY_S
        rounds = (1000, 2000, 3000, 5000, 10000, 20000)
        agents = [self._ext(r) for _ in range(r.randint(5, 9))]
        agent_names = [_name(r) for _ in agents]
        v = r.random()
        if v < 0.45:
            # a gambler's night: bets out to agents (上分), winnings back (下分), round sums, after midnight
            c = self._xvictim(r, "posting") if r.random() < 0.6 else self._xcustomer(r, "posting")
            device = c.devices[0]
            t = self._hour_time(r, day_start, (0, 0, 1, 1, 2))
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            steps = ["out"] * r.randint(5, 9) + ["in"] * r.randint(3, 7)
            r.shuffle(steps)
            steps.insert(0, "out")
            for step in steps:
                t += r.randrange(240, 1500)
                i = r.randrange(len(agents))
                amount = f"{r.choice(rounds)}.00"
                if step == "out":
                    self._out(
                        t,
                        c,
                        amount,
                        agents[i],
                        r,
                        tag,
                        device=device,
                        name=agent_names[i],
                        remark=r.choice(("上分", "充值", "", "", "转账")),
                    )
                else:
                    self._in(
                        t,
                        c,
                        amount,
                        r,
                        tag,
                        cp=agents[i],
                        name=agent_names[i],
                        remark=r.choice(("下分", "返水", "", "", "转账")),
                    )
        elif v < 0.85:
            # 跑分: a rented account collects players' deposits and passes them on to the platform
            c = self._mule(r, "posting", (20, 200), balance=r.uniform(0, 300), day=day)
            platform = [self._ext(r) for _ in range(r.choice((1, 2)))]
            device = _device(r)
            t = self._hour_time(r, day_start, (18, 19, 20, 21, 22))
            balance = self.ledger_init[c.account][0]
            pending = 0
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for i in range(r.randint(12, 30)):
                t += r.randrange(60, 900)
                cents = (
                    r.choice((100, 200, 500, 1000, 2000, 3000, 5000)) * 100
                    if r.random() < 0.7
                    else int(r.uniform(100, 5000)) * 100
                )
                self._in(t, c, _yuan(cents), r, tag, remark=r.choice(("充值", "", "", "转账", "货款")))
                balance += cents
                pending += 1
                if pending >= r.randint(5, 9):  # sweep to the platform, a few yuan left
                    t += r.randrange(60, 600)
                    out = balance - r.randrange(0, 20_000)
                    self._out(t, c, _yuan(out), r.choice(platform), r, tag, device=device)
                    balance -= out
                    pending = 0
            if balance > 50_000:
                t += r.randrange(60, 600)
                self._out(t, c, _yuan(balance - r.randrange(0, 10_000)), platform[0], r, tag, device=device)
        else:
            # a quiet gambler: a few round bets in the evening to one agent
            c = self._xvictim(r, "posting")
            device = c.devices[0]
            t = self._hour_time(r, day_start, (20, 21, 22))
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for _ in range(r.randint(2, 4)):
                t += r.randrange(600, 2400)
                self._out(t, c, f"{r.choice(rounds[:3])}.00", agents[0], r, tag, device=device, name=agent_names[0])

    def y_fraud_account(self, day: int, tag, r: random.Random) -> None:
        day_start = self.period_start + day * DAY_S
        kind = r.choices(FRAUD_ACCOUNT_KINDS, FRAUD_ACCOUNT_WEIGHTS)[0]
        if kind == "case" and not self.case_accounts:
            kind = "layering"
        device = _device(r)
        t = self._hour_time(r, day_start, range(9, 21))
        if kind == "layering":
            # a second-layer account: a victim's money in, then scattered out to many accounts within hours
            c = self._mule(r, "posting", (30, 300), balance=r.uniform(0, 500), day=day)
            total = 0
            for _ in range(r.choice((1, 1, 2))):
                cents = int(r.uniform(50_000, 300_000)) * 100
                self._in(t, c, _yuan(cents), r, tag)
                total += cents
                t += r.randrange(60, 1200)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            n = r.randint(10, 18)
            share = total // n
            for i in range(n):
                t += r.randrange(60, 900)
                cents = (
                    min(total, share + r.randrange(-share // 5, share // 5))
                    if i < n - 1
                    else total - r.randrange(0, min(total, 5_000))
                )
                total -= cents
                self._out(t, c, _yuan(cents), self._ext(r), r, tag, device=device)
        elif kind == "fast":
            # fast in, fast out: each sum leaves within the hour for the next account
            c = self._mule(r, "posting", (30, 400), balance=r.uniform(0, 300), day=day)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for _ in range(r.randint(2, 4)):
                cents = int(r.uniform(5_000, 49_000)) * 100
                self._in(t, c, _yuan(cents), r, tag)
                t += r.randrange(300, 3600)
                self._out(t, c, _yuan(cents - r.randrange(0, cents // 100)), self._ext(r), r, tag, device=device)
                t += r.randrange(600, 3 * HOUR_S)
        elif kind == "new_busy":
            # a new account suddenly busy: opened days ago, ten and more transactions today
            c = self._mule(r, "posting", (3, 25), balance=r.uniform(0, 100), day=day)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            balance = self.ledger_init[c.account][0]
            for _ in range(r.randint(10, 20)):
                t += r.randrange(120, 1500)
                if balance < 500_000 or r.random() < 0.45:
                    cents = int(r.uniform(5_000, 30_000)) * 100
                    self._in(t, c, _yuan(cents), r, tag)
                    balance += cents
                else:
                    cents = int(balance * r.uniform(0.5, 0.95))
                    self._out(t, c, _yuan(cents), self._ext(r), r, tag, device=device)
                    balance -= cents
        elif kind == "split":
            # a large sum in, out in pieces just below the 50,000 limit
            c = self._mule(r, "posting", (30, 400), balance=r.uniform(0, 1000), day=day)
            n = r.randint(3, 4)
            pieces = [int(r.uniform(45_100, 49_900)) * 100 for _ in range(n)]
            self._in(t, c, _yuan(sum(pieces) + r.randrange(0, 200_000)), r, tag)
            t += r.randrange(300, 1800)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for cents in pieces:
                t += r.randrange(60, 900)
                self._out(t, c, _yuan(cents), self._ext(r), r, tag, device=device)
        elif kind == "test":
            # the buyer of an account checks it works with cent transfers before using it
            c = self._mule(r, "posting", (20, 400), balance=r.uniform(0, 50), day=day)
            for _ in range(r.randint(5, 8)):
                t += r.randrange(30, 300)
                self._in(t, c, _money(r.uniform(0.01, 1.0)), r, tag)
            t += r.randrange(HOUR_S, 5 * HOUR_S)
            cents = int(r.uniform(10_000, 80_000)) * 100
            self._in(t, c, _yuan(cents), r, tag)
            t += r.randrange(600, 3600)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for _ in range(r.randint(1, 3)):
                t += r.randrange(60, 600)
                out = int(cents * r.uniform(0.3, 0.6))
                self._out(t, c, _yuan(out), self._ext(r), r, tag, device=device)
                cents -= out
        elif kind == "multi":
            # one person, three recently opened accounts, all moving money this week
            first = self._mule(r, "posting", (10, 150), balance=r.uniform(0, 200), day=day)
            accounts = [first]
            for _ in range(r.randint(2, 3)):
                other = self._mule(r, "posting", (5, 150), balance=r.uniform(0, 200), day=day)
                other.cid, other.owner_name, other.phone = first.cid, first.owner_name, first.phone
                other.home = first.home
                accounts.append(other)
            for c in accounts:
                cents = int(r.uniform(3_000, 40_000)) * 100
                self._in(t, c, _yuan(cents), r, tag)
                t += r.randrange(600, 2 * HOUR_S)
                self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
                self._out(
                    t + r.randrange(30, 300),
                    c,
                    _yuan(cents - r.randrange(0, 50_000)),
                    self._ext(r),
                    r,
                    tag,
                    device=device,
                )
                t += r.randrange(HOUR_S, 6 * HOUR_S)
        elif kind == "device":
            # one herder's phone operates several mule accounts the same day
            herder_phone = _phone(r)
            for _ in range(r.randint(3, 4)):
                c = self._mule(r, "posting", (30, 400), balance=r.uniform(0, 300), day=day)
                cents = int(r.uniform(5_000, 60_000)) * 100
                self._in(t, c, _yuan(cents), r, tag)
                t += r.randrange(300, 1800)
                self.login(t, c, "mobile", device, True, herder_phone, c.home, tag)
                self._out(
                    t + r.randrange(30, 300),
                    c,
                    _yuan(cents - r.randrange(0, 30_000)),
                    self._ext(r),
                    r,
                    tag,
                    device=device,
                    phone=herder_phone,
                )
                t += r.randrange(300, 3600)
        elif kind == "case":
            # money from (or to) an account the police already reported
            c = self._mule(r, "posting", (30, 600), balance=r.uniform(0, 2000), day=day)
            cents = int(r.uniform(5_000, 80_000)) * 100
            case = r.choice(self.case_accounts)
            if r.random() < 0.6:
                self._in(t, c, _yuan(cents), r, tag, cp=case)
                other = self._ext(r)
            else:
                self._in(t, c, _yuan(cents), r, tag)
                other = case
            t += r.randrange(600, 3 * HOUR_S)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            self._out(t + r.randrange(30, 300), c, _yuan(cents - r.randrange(0, 100_000)), other, r, tag, device=device)
        elif kind == "dormant":
            # a long-dormant account, sold, suddenly moving money
            c = self._mule(r, "posting", (800, 3000), balance=r.uniform(0, 100), last_active_days=(200, 600), day=day)
            balance = self.ledger_init[c.account][0]
            self.login(t, c, "mobile", device, False, _phone(r), c.home, tag)
            for _ in range(r.randint(5, 9)):
                t += r.randrange(300, 2400)
                if balance < 300_000 or r.random() < 0.5:
                    cents = int(r.uniform(3_000, 40_000)) * 100
                    self._in(t, c, _yuan(cents), r, tag)
                    balance += cents
                else:
                    cents = int(balance * r.uniform(0.6, 0.98))
                    self._out(t, c, _yuan(cents), self._ext(r), r, tag, device=device)
                    balance -= cents
        else:
            # careful: a couple of mid-sized sums in and out in the daytime, nothing adds up
            c = self._mule(r, "posting", (60, 600), balance=r.uniform(500, 3000), day=day)
            cents = int(r.uniform(3_000, 9_000)) * 100
            self._in(t, c, _yuan(cents), r, tag)
            t += r.randrange(3 * HOUR_S, 6 * HOUR_S)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            self._out(
                t + r.randrange(30, 300),
                c,
                _yuan(int(cents * r.uniform(0.5, 0.8))),
                self._ext(r),
                r,
                tag,
                device=device,
            )

    def y_induced_loan_chain(self, day: int, tag, r: random.Random) -> None:
        day_start = self.period_start + day * DAY_S
        c = self._xvictim(r, "retail")
        t = self._hour_time(r, day_start, range(9, 23))
        loan_cents = int(r.uniform(20, 200)) * 1000 * 100
        loan = _yuan(loan_cents)
        product = r.choice(("consumer_loan", "cash_instalment"))
        payee, name = self._ext(r), _name(r)
        v = r.random()
        if v < 0.55:
            # a fake "customer service" shares the screen and walks the victim through a loan and a transfer
            device = c.devices[0]
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag, remote=r.random() < 0.85)
        elif v < 0.85:
            # the scammer resets the password with the victim's SMS code and borrows on his own phone
            device = _device(r)
            self.password_reset(t, c, "mobile", "sms", device, tag)
            t += r.randrange(60, 600)
            self.login(
                t,
                c,
                "mobile",
                device,
                False,
                c.phone,
                r.choice((c.home, r.choice(FRAUD_CITIES))),
                tag,
                tamper=r.random() < 0.2,
            )
        else:
            # the victim does it all on the own phone; no signal at log-in
            device = c.devices[0]
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
        t += r.randrange(120, 900)
        self.loan_application(t, c, "mobile", product, loan, device, tag, granted_after=r.randrange(60, 600))
        t += r.randrange(900, 3 * HOUR_S)
        self.payee_add(t, c, "mobile", payee, tag)
        left = loan_cents
        for _ in range(r.choice((1, 1, 2))):
            t += r.randrange(60, 900)
            cents = max(10_000_00, int(left * r.uniform(0.5, 1.0)) // 100_000 * 100_000)
            self.transfer(
                t, c, "mobile", _yuan(cents), payee, name=name, city=c.home, device=device, phone=c.phone, tag=tag
            )
            left -= cents
            if left < 10_000_00:
                break

    def y_reset_takeover(self, day: int, tag, r: random.Random) -> None:
        day_start = self.period_start + day * DAY_S
        c = self._xvictim(r, "retail")
        t = self._hour_time(r, day_start, (0, 1, 2, 8, 10, 12, 14, 16, 19, 21, 22, 23))
        device = _device(r)
        city = r.choice([x for x in FRAUD_CITIES if x != c.home])
        # SIM swap or a phished SMS code (now and then a deep-faked face) resets the password
        self.password_reset(t, c, "mobile", "sms" if r.random() < 0.8 else "face", device, tag)
        t += r.randrange(60, 300)
        self.login(t, c, "mobile", device, False, c.phone, city, tag, tamper=r.random() < 0.25)
        payee, name = self._ext(r), _name(r)
        v = r.random()
        if v < 0.15:
            t += r.randrange(2 * HOUR_S, 4 * HOUR_S)  # they wait for the victim to sleep
            self.login(t, c, "mobile", device, False, c.phone, city, tag)
        t += r.randrange(60, 600)
        self.payee_add(t, c, "mobile", payee, tag)
        if v < 0.65:
            amounts = [_money(r.uniform(50_000, 150_000))]
        else:
            amounts = [_round_money(r.uniform(10_000, 45_000), 1000) for _ in range(r.randint(2, 3))]
        for amount in amounts:
            t += r.randrange(30, 300)
            self.transfer(t, c, "mobile", amount, payee, name=name, city=city, device=device, phone=c.phone, tag=tag)

    def y_remote_dcep(self, day: int, tag, r: random.Random) -> None:
        day_start = self.period_start + day * DAY_S
        c = self._xvictim(r, "retail")
        t = self._hour_time(r, day_start, range(9, 23))
        v = r.random()
        web = v >= 0.85  # on the web there is no security SDK: no remote-assistance signal
        device = c.devices[0]
        self.login(t, c, "web" if web else "mobile", device, True, c.phone, c.home, tag, remote=not web)
        wallet = f"0021{r.randrange(10**12):012d}"
        t += r.randrange(120, 1800) if v < 0.7 else r.randrange(3600, 6000)
        for _ in range(r.randint(1, 3)):
            self.dcep_topup(
                t,
                c,
                "web" if web else "mobile",
                _round_money(r.uniform(5_000, 50_000), 1000),
                wallet,
                False,
                device,
                tag,
            )
            t += r.randrange(60, 600)

    def y_risk_list_counterparty(self, day: int, tag, r: random.Random) -> None:
        day_start = self.period_start + day * DAY_S
        c = self._xvictim(r, "counter")
        u = r.random()
        name = _name(r)
        if u < 0.6 and self.risk_accounts:
            payee = r.choice(self.risk_accounts)
            if self.risk_names and r.random() < 0.2:
                name = r.choice(self.risk_names)
        elif u < 0.8 and self.risk_grey_accounts:
            payee = r.choice(self.risk_grey_accounts)
        elif u < 0.9 and self.risk_names:
            payee, name = self._ext(r), r.choice(self.risk_names)  # a new account of a listed company
        else:
            payee = self._ext(r)  # a fresh account no list knows yet
        amounts = []
        for _ in range(r.choice((1, 1, 2, 3))):
            x = r.uniform(3_000, 100_000)
            amounts.append(_round_money(x, 1000) if r.random() < 0.55 else _money(x))
        channel = r.choices(("mobile", "web", "counter", "phone_banking", "atm"), (55, 10, 22, 5, 8))[0]
        t = self._hour_time(r, day_start, range(9, 17) if channel == "counter" else range(8, 22))
        if channel in ("counter", "phone_banking"):
            for amount in amounts:
                self.counter_transfer(
                    t,
                    c,
                    channel,
                    amount,
                    payee,
                    name=name,
                    branch=f"B{_CITY_CODE.get(c.home, '99')}{r.randrange(1, 40):03d}" if channel == "counter" else None,
                    tag=tag,
                )
                t += r.randrange(120, 900)
        elif channel == "atm":
            for amount in amounts:
                self.transfer(t, c, "atm", amount, payee, name=name, city=c.home, tag=tag)
                t += r.randrange(60, 300)
        else:
            device = c.devices[0]
            self.login(t, c, channel, device, True, c.phone, c.home, tag)
            t += r.randrange(60, 600)
            self.payee_add(t, c, channel, payee, tag)
            for amount in amounts:
                t += r.randrange(60, 900)
                self.transfer(
                    t, c, channel, amount, payee, name=name, city=c.home, device=device, phone=c.phone, tag=tag
                )

    # ------------------------------------------------------------ the stream
    def run(self) -> Iterator[dict]:
        for day in range(self.first_day, self.days):
            day_start = self.period_start + day * DAY_S
            # everything queued before this day (preludes, sessions spilling over midnight)
            yield from self.drain(day_start)
            if day >= 0:
                self.scenarios_for(day)
                self.family_scenarios_for(day)
            self.normal_day(day)
            self.family_day(day)
        yield from self.drain(None)


def generate(
    n_customers: int = 2000,
    days: int = 7,
    seed: int = 1,
    fraud_rate: float = 0.01,
    *,
    start: str = "2026-11-16",
    warmup_days: int = 0,
    scenarios: Optional[Iterable[str]] = None,
    ts_format: str = "mixed",
    profile: str | Iterable[str] = "echannel",
) -> Iterator[dict]:
    """Yield events in event-time order (see the module docstring).

    ``profile`` selects the event families: ``"echannel"`` (the default: the
    e-channel events only), ``"all"``, or families (a comma-separated string
    or a list) from ``FAMILIES``, which add to the e-channel traffic.
    ``fraud_rate`` is the number of injected scenarios per customer over the
    period, for each family (0.01: one scenario per hundred customers, per
    family); when it is positive every type in ``scenarios`` (default: every
    type of the profile's families) appears at least once, types taking turns.
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
    families = families_of(profile)
    if scenarios is None:
        scenarios = tuple(k for f in families for k in FAMILY_SCENARIOS[f])
    scenarios = tuple(scenarios)
    unknown = sorted(set(scenarios) - set(ALL_SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario type(s): {', '.join(unknown)}; known: {', '.join(ALL_SCENARIOS)}")
    outside = [(k, f) for f in FAMILIES if f not in families for k in FAMILY_SCENARIOS[f] if k in scenarios]
    if outside:
        raise ValueError(
            "scenario type(s) of event families not in the profile: "
            + ", ".join(f"{k} (family {f})" for k, f in outside)
            + f"; the profile has {', '.join(families)} (use profile 'all' or add the family)"
        )
    gen = _Gen(n_customers, days, seed, fraud_rate, start, warmup_days, scenarios, ts_format, families)
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
    """``python -m ruledsl.sim.generator``: write a labelled event stream as JSON Lines."""
    p = argparse.ArgumentParser(
        prog="python -m ruledsl.sim.generator",
        description="Generate seeded, realistic bank events (e-channel; with --profile also account opening, "
        "ledger postings, retail steps, counter transfers) with labelled fraud scenarios (JSON Lines).",
    )
    p.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    p.add_argument("--days", type=int, default=7, help="days of traffic (default 7)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--fraud-rate",
        type=float,
        default=0.01,
        help="injected scenarios per customer over the period, per event family (default 0.01)",
    )
    p.add_argument(
        "--warmup-days",
        type=int,
        default=0,
        help='days of unscored traffic before the period, marked "warmup": true (default 0)',
    )
    p.add_argument("--start", default="2026-11-16", help="first day of the period, YYYY-MM-DD (default 2026-11-16)")
    p.add_argument(
        "--profile",
        default="echannel",
        help="event families: echannel (default), all, or a comma-separated list of "
        f"{', '.join(FAMILIES)} (e-channel traffic is always included)",
    )
    p.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenario types to inject (default: every type of the profile)",
    )
    p.add_argument(
        "--ts-format",
        choices=("mixed", "iso", "epoch"),
        default="mixed",
        help="mixed: ISO 8601 (+08:00), epoch ms for ATM/POS card events (default)",
    )
    p.add_argument("--out", default="-", help="output file (default: standard output)")
    args = p.parse_args(argv)
    try:
        _dt.date.fromisoformat(args.start)
    except ValueError:
        p.error(f"--start must be a date YYYY-MM-DD, not {args.start!r}")
    kinds = None if args.scenarios is None else [s.strip() for s in args.scenarios.split(",") if s.strip()]
    try:
        events = generate(
            args.customers,
            args.days,
            args.seed,
            args.fraud_rate,
            start=args.start,
            warmup_days=args.warmup_days,
            scenarios=kinds,
            ts_format=args.ts_format,
            profile=args.profile,
        )
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
    detail = ", ".join(f"{k} {labels[k]}" for k in ALL_SCENARIOS if labels[k])
    print(
        f"{n} events, {len(scenario_ids)} scenarios ({detail or 'none'}) in {took:.1f}s"
        + ("" if args.out == "-" else f" -> {args.out}"),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
