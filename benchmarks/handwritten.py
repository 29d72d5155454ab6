"""The honest baseline: ``standard.rdsl`` written by hand in plain Python.

This is what a competent engineer would write without a rule engine: one
function per event type, dicts keyed by customer/card/phone, and
``collections.deque`` sliding windows with running counts and sums.
Decimals are ints scaled by 10,000 (like the engine); local time is China
Standard Time (UTC+8, no daylight saving).  It assumes events arrive in time
order (the standard workload does); it validates nothing.

``HandwrittenRules().evaluate(event) -> (action, [rule ids])`` fires the same
rules as the engine; ``compare(engine, events)`` counts the events on which
they disagree (action or set of matched rules, shadow rules included).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent

SCALE = 10_000
MIN_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TZ_OFFSET_MS = 8 * HOUR_MS  # Asia/Shanghai
SWEEP_MASK = 16_383  # sweep expired keys every 16,384 events

RANK = {"pass": 0, "alert": 1, "step_up": 2, "hold": 3, "block": 4}
ACTION_OF_RANK = {v: k for k, v in RANK.items()}

#: rule id -> (action, shadow), in the ruleset's declaration order
RULES: dict[str, tuple[str, bool]] = {
    "black_counterparty": ("block", False),
    "grey_counterparty": ("hold", False),
    "black_merchant": ("block", False),
    "grey_merchant": ("hold", False),
    "black_device": ("block", False),
    "black_phone": ("block", False),
    "huge_transfer_hold": ("hold", False),
    "large_transfer_step_up": ("step_up", False),
    "away_login": ("alert", False),
    "away_large_transfer": ("step_up", False),
    "night_transfer": ("step_up", False),
    "night_web_login": ("alert", False),
    "atm_large_withdraw": ("hold", False),
    "atm_night_away": ("hold", False),
    "third_party_large_payment": ("step_up", False),
    "other_name_large": ("alert", False),
    "corporate_large_other_name": ("hold", False),
    "round_amount": ("alert", True),
    "card_testing": ("alert", False),
    "risky_merchant_off_hours": ("alert", False),
    "card_velocity_10m": ("hold", False),
    "atm_other_name_daily": ("hold", False),
    "many_phones_one_account": ("block", False),
    "one_phone_many_accounts": ("block", False),
    "many_small_10m": ("alert", False),
    "dormant_large": ("alert", False),
    "fan_in_1h": ("hold", False),
    "outflow_1h_limit": ("step_up", False),
    "card_many_atms": ("hold", False),
    "login_storm": ("step_up", False),
}
_RULE_RANK = {rid: (0 if shadow else RANK[action]) for rid, (action, shadow) in RULES.items()}


def dec(value: Any) -> int:
    """An amount as an int count of 0.0001 (half-even past 4 digits)."""
    t = type(value)
    if t is float:
        return round(value * SCALE)  # exact for amounts with <= 4 decimals well below 1e11
    if t is int:
        return value * SCALE
    if t is str:
        whole, _dot, frac = value.partition(".")
        if len(frac) <= 4 and whole.lstrip("-").isdigit() and (not frac or frac.isdigit()):
            scaled = int(whole) * SCALE
            f = int(frac.ljust(4, "0")) if frac else 0
            return scaled - f if whole.startswith("-") else scaled + f
    return int(Decimal(str(value)).scaleb(4).to_integral_value(rounding=ROUND_HALF_EVEN))


def read_list(name: str) -> frozenset:
    text = (HERE / "lists" / f"{name}.txt").read_text(encoding="utf-8")
    return frozenset(s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#"))


# ---------------------------------------------------------------- windows
# Each window is a dict key -> deque of entries in time order; entries with
# ts <= now - span are popped from the left on access.  ``add`` includes the
# current event and returns the value; ``peek`` reads without adding.


class CountWindow:
    __slots__ = ("keys", "span")

    def __init__(self, span_ms: int):
        self.span = span_ms
        self.keys: dict[Any, deque] = {}

    def add(self, key, ts: int) -> int:
        dq = self.keys.get(key)
        if dq is None:
            self.keys[key] = deque((ts,))
            return 1
        limit = ts - self.span
        while dq and dq[0] <= limit:
            dq.popleft()
        dq.append(ts)
        return len(dq)

    def peek(self, key, ts: int) -> int:
        dq = self.keys.get(key)
        if not dq:
            return 0
        limit = ts - self.span
        while dq and dq[0] <= limit:
            dq.popleft()
        return len(dq)

    def sweep(self, now: int) -> None:
        """Forget keys whose newest entry has left the window."""
        limit = now - self.span
        for k in [k for k, dq in self.keys.items() if not dq or dq[-1] <= limit]:
            del self.keys[k]


class SumWindow:
    __slots__ = ("keys", "span")

    def __init__(self, span_ms: int):
        self.span = span_ms
        self.keys: dict[Any, list] = {}  # key -> [total, deque of (ts, value)]

    def add(self, key, ts: int, value: int) -> int:
        st = self.keys.get(key)
        if st is None:
            self.keys[key] = [value, deque(((ts, value),))]
            return value
        dq = st[1]
        limit = ts - self.span
        total = st[0]
        while dq and dq[0][0] <= limit:
            total -= dq.popleft()[1]
        dq.append((ts, value))
        total += value
        st[0] = total
        return total

    def sweep(self, now: int) -> None:
        limit = now - self.span
        for k in [k for k, st in self.keys.items() if st[1][-1][0] <= limit]:
            del self.keys[k]


class DistinctWindow:
    __slots__ = ("keys", "span")

    def __init__(self, span_ms: int):
        self.span = span_ms
        self.keys: dict[Any, tuple] = {}  # key -> (deque of (ts, value), {value: count})

    def _evict(self, st, ts):
        dq, counts = st
        limit = ts - self.span
        while dq and dq[0][0] <= limit:
            old = dq.popleft()[1]
            c = counts[old] - 1
            if c:
                counts[old] = c
            else:
                del counts[old]

    def add(self, key, ts: int, value) -> int:
        st = self.keys.get(key)
        if st is None:
            self.keys[key] = (deque(((ts, value),)), {value: 1})
            return 1
        self._evict(st, ts)
        st[0].append((ts, value))
        counts = st[1]
        counts[value] = counts.get(value, 0) + 1
        return len(counts)

    def peek(self, key, ts: int) -> int:
        st = self.keys.get(key)
        if st is None:
            return 0
        self._evict(st, ts)
        return len(st[1])

    def sweep(self, now: int) -> None:
        limit = now - self.span
        for k in [k for k, st in self.keys.items() if not st[0] or st[0][-1][0] <= limit]:
            del self.keys[k]


class HandwrittenRules:
    """``benchmarks/standard.rdsl`` by hand.  Thresholds are the ruleset's defaults."""

    def __init__(self):
        self.black_accounts = read_list("black_accounts")
        self.grey_accounts = read_list("grey_accounts")
        self.black_merchants = read_list("black_merchants")
        self.grey_merchants = read_list("grey_merchants")
        self.black_devices = frozenset(("D-BLK-0001", "D-BLK-0002", "D-BLK-0003", "D-BLK-0004", "D-BLK-0005"))
        self.black_phones = frozenset(("13900000001", "13900000002", "13900000003", "17000000004"))
        self.risky_prefix = "898444"

        s = SCALE
        self.huge_transfer = 500_000 * s
        self.large_transfer = 50_000 * s
        self.away_transfer_amount = 10_000 * s
        self.night_from, self.night_to = 0, 5
        self.night_amount = 5_000 * s
        self.web_night_from, self.web_night_to = 23, 6
        self.atm_single_max = 20_000 * s
        self.third_party_large = 20_000 * s
        self.other_name_large = 20_000 * s
        self.corporate_large = 200_000 * s
        self.round_unit = 10_000 * s
        self.card_test_amount = 1 * s
        self.risky_amount = 2_000 * s
        self.card_max_10m = 5
        self.atm_other_name_limit = 50_000 * s
        self.max_phones_per_account = 2
        self.max_accounts_per_phone = 2
        self.small_amount = 10 * s
        self.small_count = 8
        self.dormant_after = 180 * DAY_MS
        self.dormant_amount = 10_000 * s
        self.fan_in_payers = 5
        self.outflow_limit = 200_000 * s
        self.atm_devices = 3
        self.atm_multi_amount = 1_000 * s
        self.max_logins_10m = 5

        self.card_txn_10m = CountWindow(10 * MIN_MS)
        self.atm_other_name_today: dict[str, list] = {}  # card -> [local day number, total]
        self.phones_per_account_1h = DistinctWindow(HOUR_MS)
        self.accounts_per_phone_1h = DistinctWindow(HOUR_MS)
        self.small_txn_10m = CountWindow(10 * MIN_MS)
        self.last_txn: dict[str, int] = {}  # customer -> ts of the latest transaction (since())
        self.idle_span = 400 * DAY_MS
        self.payers_per_payee_1h = DistinctWindow(HOUR_MS)
        self.outflow_1h = SumWindow(HOUR_MS)
        self.card_atms_1d = DistinctWindow(DAY_MS)
        self.logins_10m = CountWindow(10 * MIN_MS)

        self._windows = (
            self.card_txn_10m,
            self.phones_per_account_1h,
            self.accounts_per_phone_1h,
            self.small_txn_10m,
            self.payers_per_payee_1h,
            self.outflow_1h,
            self.card_atms_1d,
            self.logins_10m,
        )
        self._events = 0
        self._dispatch = {
            "login": self.login,
            "query": self.query,
            "transfer": self.transfer,
            "payment": self.payment,
            "atm_withdraw": self.atm_withdraw,
        }

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _between(hour: int, a: int, b: int) -> bool:
        return a <= hour < b if a <= b else (hour >= a or hour < b)

    @staticmethod
    def _result(hits: list) -> tuple[str, list]:
        if not hits:
            return "pass", hits
        best = 0
        for r in hits:
            rank = _RULE_RANK[r]
            if rank > best:
                best = rank
        return ACTION_OF_RANK[best], hits

    def _idle(self, customer: str, ts: int) -> Optional[int]:
        last = self.last_txn.get(customer)
        self.last_txn[customer] = ts
        if last is None or last <= ts - self.idle_span:
            return None
        return ts - last

    def _phones(self, ev: dict, ts: int, hits: list) -> None:
        account = ev["account_id"]
        phone = ev.get("phone")
        if phone is None:
            n_phones = self.phones_per_account_1h.peek(account, ts)
        else:
            if phone in self.black_phones:
                hits.append("black_phone")
            n_phones = self.phones_per_account_1h.add(account, ts, phone)
            if self.accounts_per_phone_1h.add(phone, ts, account) > self.max_accounts_per_phone:
                hits.append("one_phone_many_accounts")
        if n_phones > self.max_phones_per_account:
            hits.append("many_phones_one_account")

    # ------------------------------------------------------------ event types
    def login(self, ev: dict) -> tuple[str, list]:
        ts = ev["ts"]
        hits: list = []
        device = ev.get("device_id")
        if device is not None and device in self.black_devices:
            hits.append("black_device")
        city = ev.get("city")
        if city is not None and city != ev["home_city"]:
            hits.append("away_login")
        if ev["channel"] == "web" and self._between(
            (ts + TZ_OFFSET_MS) // HOUR_MS % 24, self.web_night_from, self.web_night_to
        ):
            hits.append("night_web_login")
        self._phones(ev, ts, hits)
        if self.logins_10m.add(ev["customer_id"], ts) > self.max_logins_10m:
            hits.append("login_storm")
        return self._result(hits)

    def query(self, ev: dict) -> tuple[str, list]:
        hits: list = []
        self._phones(ev, ev["ts"], hits)
        return self._result(hits)

    def transfer(self, ev: dict) -> tuple[str, list]:
        ts = ev["ts"]
        hits: list = []
        amount = dec(ev["amount"])
        payee = ev["counterparty_account"]
        same = ev["counterparty_name_same"]
        channel = ev["channel"]
        customer = ev["customer_id"]
        if payee in self.black_accounts:
            hits.append("black_counterparty")
        if payee in self.grey_accounts:
            hits.append("grey_counterparty")
        device = ev.get("device_id")
        if device is not None and device in self.black_devices:
            hits.append("black_device")
        if amount >= self.huge_transfer:
            hits.append("huge_transfer_hold")
        elif amount >= self.large_transfer:
            hits.append("large_transfer_step_up")
        city = ev.get("city")
        if city is not None and city != ev["home_city"] and amount >= self.away_transfer_amount:
            hits.append("away_large_transfer")
        if amount >= self.night_amount and self._between(
            (ts + TZ_OFFSET_MS) // HOUR_MS % 24, self.night_from, self.night_to
        ):
            hits.append("night_transfer")
        if not same:
            if amount >= self.other_name_large and (channel == "mobile" or channel == "web"):
                hits.append("other_name_large")
            if amount > self.corporate_large and (channel == "corporate" or channel == "third_party"):
                hits.append("corporate_large_other_name")
        if amount >= self.round_unit and amount % self.round_unit == 0:
            hits.append("round_amount")
        card = ev.get("card_no")
        if card is not None:
            if self.card_txn_10m.add(card, ts) > self.card_max_10m:
                hits.append("card_velocity_10m")
            if channel == "atm" and not same:
                day = (ts + TZ_OFFSET_MS) // DAY_MS
                st = self.atm_other_name_today.get(card)
                if st is None or st[0] != day:
                    st = self.atm_other_name_today[card] = [day, 0]
                st[1] += amount
                if st[1] > self.atm_other_name_limit:
                    hits.append("atm_other_name_daily")
        self._phones(ev, ts, hits)
        if amount <= self.small_amount and self.small_txn_10m.add(customer, ts) >= self.small_count:
            hits.append("many_small_10m")
        idle = self._idle(customer, ts)
        if idle is not None and idle >= self.dormant_after and amount >= self.dormant_amount:
            hits.append("dormant_large")
        if self.payers_per_payee_1h.add(payee, ts, ev["account_id"]) >= self.fan_in_payers:
            hits.append("fan_in_1h")
        if self.outflow_1h.add(customer, ts, amount) > self.outflow_limit:
            hits.append("outflow_1h_limit")
        return self._result(hits)

    def payment(self, ev: dict) -> tuple[str, list]:
        ts = ev["ts"]
        hits: list = []
        amount = dec(ev["amount"])
        merchant = ev["merchant_id"]
        channel = ev["channel"]
        customer = ev["customer_id"]
        if merchant in self.black_merchants:
            hits.append("black_merchant")
        if merchant in self.grey_merchants:
            hits.append("grey_merchant")
        device = ev.get("device_id")
        if device is not None and device in self.black_devices:
            hits.append("black_device")
        if channel == "third_party" and amount >= self.third_party_large:
            hits.append("third_party_large_payment")
        if amount < self.card_test_amount and (channel == "pos" or channel == "third_party"):
            hits.append("card_testing")
        if amount >= self.risky_amount and merchant.startswith(self.risky_prefix):
            local = ts + TZ_OFFSET_MS
            weekday = (local // DAY_MS + 3) % 7 + 1
            if weekday >= 6 or not (8 <= local // HOUR_MS % 24 < 20):
                hits.append("risky_merchant_off_hours")
        if self.card_txn_10m.add(ev["card_no"], ts) > self.card_max_10m:
            hits.append("card_velocity_10m")
        if amount <= self.small_amount and self.small_txn_10m.add(customer, ts) >= self.small_count:
            hits.append("many_small_10m")
        idle = self._idle(customer, ts)
        if idle is not None and idle >= self.dormant_after and amount >= self.dormant_amount:
            hits.append("dormant_large")
        if self.outflow_1h.add(customer, ts, amount) > self.outflow_limit:
            hits.append("outflow_1h_limit")
        return self._result(hits)

    def atm_withdraw(self, ev: dict) -> tuple[str, list]:
        ts = ev["ts"]
        hits: list = []
        amount = dec(ev["amount"])
        customer = ev["customer_id"]
        card = ev["card_no"]
        if amount > self.atm_single_max:
            hits.append("atm_large_withdraw")
        city = ev.get("city")
        if city is not None and city != ev["home_city"] and (ts + TZ_OFFSET_MS) // HOUR_MS % 24 < self.night_to:
            hits.append("atm_night_away")
        if self.card_txn_10m.add(card, ts) > self.card_max_10m:
            hits.append("card_velocity_10m")
        idle = self._idle(customer, ts)
        if idle is not None and idle >= self.dormant_after and amount >= self.dormant_amount:
            hits.append("dormant_large")
        if self.outflow_1h.add(customer, ts, amount) > self.outflow_limit:
            hits.append("outflow_1h_limit")
        if self.card_atms_1d.add(card, ts, ev["atm_id"]) >= self.atm_devices and amount >= self.atm_multi_amount:
            hits.append("card_many_atms")
        return self._result(hits)

    def sweep(self, now: int) -> None:
        """Drop keys that no window can see any more (a long-running service must)."""
        for w in self._windows:
            w.sweep(now)
        limit = now - self.idle_span
        for k in [k for k, ts in self.last_txn.items() if ts <= limit]:
            del self.last_txn[k]
        today = (now + TZ_OFFSET_MS) // DAY_MS
        for k in [k for k, st in self.atm_other_name_today.items() if st[0] != today]:
            del self.atm_other_name_today[k]

    def evaluate(self, ev: dict) -> tuple[str, list]:
        """The action and the ids of the rules that fired (shadow rules included)."""
        self._events += 1
        if not self._events & SWEEP_MASK:
            self.sweep(ev["ts"])
        return self._dispatch[ev["type"]](ev)


def run(events: Iterable[dict]) -> list[tuple[str, list]]:
    """Evaluate a stream with a fresh ``HandwrittenRules``."""
    evaluate = HandwrittenRules().evaluate
    return [evaluate(ev) for ev in events]


def compare(engine, events: list[dict], *, limit: int = 20, baseline: Any = None) -> dict[str, Any]:
    """Run the engine and the hand-written rules over ``events``; count disagreements.

    ``engine`` must be fresh (no state); anything with ``evaluate(event) ->
    Decision`` works, e.g. ``ruledsl.oracle.reference.ReferenceEngine``.
    ``baseline``: a fresh hand-written object with ``evaluate(event) -> (action,
    rule ids)`` (default ``HandwrittenRules()``; also ``cybuild.handwritten_cy()``).  Returns ``{"events", "mismatches",
    "examples", "fired", "actions"}``: ``examples`` holds up to ``limit``
    mismatching events with both answers; ``fired`` counts matches per rule
    (from the hand-written side) so a reader can see every rule was exercised.
    """
    hw = HandwrittenRules() if baseline is None else baseline
    mismatches = 0
    examples = []
    fired: dict[str, int] = dict.fromkeys(RULES, 0)
    actions: dict[str, int] = dict.fromkeys(RANK, 0)
    for i, ev in enumerate(events):
        want_action, want_rules = hw.evaluate(ev)
        got = engine.evaluate(ev)
        got_rules = sorted(got.matched)
        for r in want_rules:
            fired[r] += 1
        actions[want_action] += 1
        if got.action != want_action or got_rules != sorted(want_rules):
            mismatches += 1
            if len(examples) < limit:
                examples.append(
                    {
                        "index": i,
                        "event": ev,
                        "engine": {
                            "action": got.action,
                            "rules": got_rules,
                            "features": {r.id: r.features for r in got.rules},
                        },
                        "handwritten": {"action": want_action, "rules": sorted(want_rules)},
                    }
                )
    return {"events": len(events), "mismatches": mismatches, "examples": examples, "fired": fired, "actions": actions}
