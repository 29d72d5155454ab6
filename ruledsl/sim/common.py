"""Shared vocabulary of the traffic generator: time and money formats, random
helpers, cities and names, the ``Customer`` with habits, identifiers (accounts,
merchants, ATMs, phones, devices, identity numbers) and the sample risk lists.

Every helper that draws takes the random stream to draw from, so a family's
traffic depends only on its own streams (see ``ruledsl.sim``).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import math
import random
import zlib
from collections.abc import Sequence
from typing import Any, Optional, Union

Tag = Optional[Union[str, tuple[str, str]]]
"""How an event is marked: ``None`` (scored traffic), ``"warmup"`` or ``(label, scenario_id)``."""

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


def read_list(*names: str) -> tuple[str, ...]:
    """Entries of the files ``rulesets/lists/NAME.txt`` that are at hand (scenarios sometimes hit them).

    These stand for counterparties the risk-list service already knows; they
    ship with the package (``ruledsl.sim.output.shipped_rulesets``), so an
    installed wheel generates the same stream as the checkout.
    """
    from ruledsl.sim.output import shipped_rulesets

    out: list[str] = []
    shipped = shipped_rulesets()  # rulesets/ of the checkout, or ruledsl/rulesets of a wheel
    if shipped is None:
        return ()
    for name in names:
        path = shipped / "lists" / f"{name}.txt"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        out.extend(s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#"))
    return tuple(dict.fromkeys(out))


def cumulative(weights: Sequence[float]) -> list[float]:
    """Running totals of ``weights`` (for ``pick_cum``)."""
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


CITY_CUM = cumulative(CITY_WEIGHTS)
HOUR_CUM = cumulative(HOUR_WEIGHTS)


def pick_cum(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    """One of ``items``, weighted by the running totals ``cum``."""
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson-distributed count with mean ``lam`` (normal approximation above 30)."""
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


def money(x: float) -> str:
    """An amount as the schemas' decimal string with two decimals (at least 0.01)."""
    return f"{max(x, 0.01):.2f}"


def round_money(x: float, unit: int) -> str:
    """An amount rounded to a multiple of ``unit`` yuan (at least one unit), as people send round sums."""
    return f"{max(unit, round(x / unit) * unit)}.00"


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


def day_start_s(date: str) -> int:
    """Epoch seconds of local midnight (China Standard Time) starting ``YYYY-MM-DD``."""
    d = _dt.date.fromisoformat(date)
    return (d.toordinal() - _EPOCH_ORDINAL) * DAY_S - TZ_OFFSET_S


def local_date(ts_s: int) -> _dt.date:
    """The local date (China Standard Time) of epoch seconds ``ts_s``."""
    return _dt.date.fromordinal(_EPOCH_ORDINAL + (ts_s + TZ_OFFSET_S) // DAY_S)


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

    def __init__(self, rng: random.Random, idx: int, *, corporate: bool = False, home: Optional[str] = None) -> None:
        self.idx = idx
        self.cid = f"C{idx:08d}"
        self.account = f"6222{rng.randrange(10**15):015d}"
        self.card = f"6217{rng.randrange(10**12):012d}"
        self.phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        self.alt_phone: Optional[str] = None
        self.devices = [f"D-{rng.getrandbits(40):010x}" for _ in range(1 if rng.random() < 0.6 else 2)]
        self.home = home or pick_cum(rng, CITY_NAMES, CITY_CUM)
        self.corporate = corporate
        # one or two personal hours around which the customer is active
        self.anchors = [pick_cum(rng, range(24), HOUR_CUM) for _ in range(1 if rng.random() < 0.5 else 2)]
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
            self.payees.append(new_payee(rng, self.owner_name[0] if rng.random() < 0.4 else None))
        if rng.random() < 0.7:  # own account at another bank
            self.payees.append(
                (f"{rng.choice(OTHER_BANK_PREFIXES)}{rng.randrange(10**15):015d}", self.owner_name, True)
            )
        self.merchants = [city_merchant(rng, self.home) for _ in range(rng.randint(3, 8))]
        self.atms = [city_atm(rng, self.home) for _ in range(rng.randint(1, 3))]
        self.opened_at = 0  # set by the generator (needs the period start)
        self.dormant = False
        self.wake_day: Optional[int] = None
        self.busy_from = self.busy_until = 0


def person_name(rng: random.Random, surname: Optional[str] = None) -> str:
    """A Chinese name: a surname (``surname`` or a common one) and one or two given characters."""
    return (surname or rng.choice(SURNAMES)) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def new_payee(rng: random.Random, surname: Optional[str] = None) -> tuple[str, str, bool]:
    """A payee at another bank: ``(account, name, same_name)``."""
    return (f"{rng.choice(OTHER_BANK_PREFIXES)}{rng.randrange(10**15):015d}", person_name(rng, surname), False)


CITY_CODE = {name: f"{i + 10:02d}" for i, name in enumerate(CITY_NAMES)}


def other_bank_account(rng: random.Random) -> str:
    """A card or account number at another bank."""
    return f"{rng.choice(OTHER_BANK_PREFIXES)}{rng.randrange(10**15):015d}"


def city_merchant(rng: random.Random, city: str) -> str:
    """A bricks-and-mortar merchant's id, which encodes its city (``merchant_region``)."""
    return f"8984{CITY_CODE.get(city, '99')}{rng.choice(('5411', '5812', '5311', '5999', '4121', '5541', '7011'))}{rng.randrange(10**5):05d}"


def online_merchant(rng: random.Random) -> str:
    """An online merchant's id."""
    return f"89831{rng.choice(('5999', '5732', '4816', '5815', '5311'))}{rng.randrange(10**6):06d}"


def gambling_merchant(rng: random.Random) -> str:
    """The id of a merchant fronting a gambling platform."""
    return f"89844{rng.choice(('7995', '7994', '7999'))}{rng.randrange(10**6):06d}"


def city_atm(rng: random.Random, city: str) -> str:
    """An ATM id in ``city``."""
    return f"ATM{CITY_CODE.get(city, '99')}{rng.randrange(10**5):05d}"


# ---------------------------------------------------------------- regions, amounts and identifiers

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
CITY_BY_CODE = {code: name for name, code in CITY_CODE.items()}


def stable_unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from the parts (a stable trait of an account or customer)."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode()) / 4294967296.0


def to_cents(amount: str) -> int:
    """A decimal amount string in cents."""
    whole, _, frac = amount.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def yuan(cents: int) -> str:
    """Cents as a decimal amount string."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def region_of(account: str, home: Optional[str], hometown: Optional[str] = None) -> str:
    """The province where an account was opened.

    A customer's counterparties are mostly local (``home`` city), some in the province the
    customer comes from (``hometown``, a province code), a few anywhere; fraud's anywhere.
    """
    if home is not None:
        u = stable_unit(account, "region")
        if u < 0.75:
            return PROVINCE.get(home, "440000")
        if hometown is not None and u < 0.93:
            return hometown
    return ALL_PROVINCES[int(stable_unit(account, "province") * len(ALL_PROVINCES))]


def merchant_region(merchant: str) -> Optional[str]:
    """The province of a bricks-and-mortar merchant (from its id); None for others."""
    if merchant.startswith("8984"):
        city = CITY_BY_CODE.get(merchant[4:6])
        if city is not None:
            return PROVINCE[city]
    return None


def id_number(rng: random.Random, province: str, age: int, year: int) -> str:
    """An 18-digit resident identity number with a valid check digit (ISO 7064 MOD 11-2)."""
    body = (
        f"{province[:2]}{rng.randrange(1, 20):02d}{rng.randrange(1, 30):02d}"
        f"{year - age - (1 if rng.random() < 0.5 else 0):04d}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        f"{rng.randrange(1000):03d}"
    )
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=False)) % 11]
    return body + check


def random_phone(rng: random.Random) -> str:
    """A mobile phone number."""
    return rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def random_device(rng: random.Random) -> str:
    """A device id (a handset or a computer)."""
    return f"D-{rng.getrandbits(40):010x}"
