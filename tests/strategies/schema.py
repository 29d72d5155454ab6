"""The fixed schema every generated ruleset declares, and the pools of good values its events draw from."""

from __future__ import annotations

# ---------------------------------------------------------------- fixed schema

CITIES = ("北京", "上海", "gz")
CHANNELS = ("app", "web")

# event type -> field -> (type, optional)
SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "transfer": {
        "customer_id": ("string", False),
        "card_no": ("string", False),
        "amount": ("decimal", False),
        "n": ("int", False),
        "city": ("enum", False),
        "phone": ("string", True),
        "flag": ("bool", False),
        "fee": ("decimal", True),
        "score": ("float", False),
    },
    "login": {
        "customer_id": ("string", False),
        "device": ("string", False),
        "city": ("enum", False),
        "new_device": ("bool", False),
        "phone": ("string", True),
    },
    "reset": {
        "customer_id": ("string", False),
        "channel": ("enum", False),
    },
}

ENUMS = {"city": CITIES, "channel": CHANNELS}

SCHEMA_TEXT = {
    "transfer": """event transfer {
  customer_id: string
  card_no: string
  amount: decimal
  n: int
  city: enum("北京", "上海", "gz")
  phone: string?
  flag: bool
  fee: decimal?
  score: float
}""",
    "login": """event login {
  customer_id: string
  device: string
  city: enum("北京", "上海", "gz")
  new_device: bool
  phone: string?
}""",
    "reset": """event reset {
  customer_id: string
  channel: enum("app", "web")
}""",
}

DURATIONS = {"1s": 1_000, "2s": 2_000, "5s": 5_000, "10s": 10_000, "30s": 30_000, "1m": 60_000, "10m": 600_000}
LATENESS = {None: 0, "0ms": 0, "1s": 1_000, "5s": 5_000, "30s": 30_000}
TIMEZONES = (None, "UTC", "Asia/Shanghai", "America/New_York", "America/St_Johns", "Australia/Lord_Howe")
"""Lord Howe and St John's change their offset at half past a UTC hour."""

# values the stream draws from: a small key space so windows fill
CUSTOMERS = ("c1", "c2")
CARDS = ("k1", "k2")
DEVICES = ("d1", "d2", "d3")
PHONES = ("p1", "p2", "13800000000")
AMOUNTS = ("0.1", 0.1, 100, "99999.9999", "0.00005", 0.00015, 1, "1000.50", 0, "-5", "12.3456", 2.5, "3", "-0.00025")
BIG_AMOUNTS = ("99999999999.9999", 10**11, "-12345678901.2345", 0.00025, "1e-30")
"""Rarer, far from the usual: still well inside what the engine accepts (dirty values are in ``streams``)."""
NS = (0, 1, 2, 3, 4)
BIG_NS = (-(2**63), 2**63 - 1, -1, 2**31, 10**12)
"""Ints at both ends of the 64-bit range: sums past it stay exact in both evaluators."""
FEES = (None, "0", "0.5", 1, 0.25)
SCORES = (0.0, 0.5, 1.5, 99.9, 3)

CLOCK_MS = 1_798_761_600_000
"""2027-01-01T00:00:00Z: the engine clock generated streams are behind (their events are in 2026), so
the clock guard refuses only the dirty timestamps dated ahead of it; tests pass it as ``clock=``."""

# Local-time anchors: a UTC midnight, a Shanghai 22:00, a New York DST switch, a Sunday 23:59 UTC
BASE_TS = (1_767_225_600_000, 1_767_276_000_000, 1_772_953_200_000 - 60_000, 1_767_484_790_000)
# per time zone, moments just before an offset change (St John's and Lord Howe switch at half past a UTC hour)
ZONE_BASE_TS = {
    "America/New_York": (1_772_953_200_000 - 60_000,),
    "America/St_Johns": (1_772_947_800_000 - 5_000, 1_772_947_800_000 - 1),
    "Australia/Lord_Howe": (1_791_041_400_000 - 5_000, 1_791_041_400_000 - 1),
}
