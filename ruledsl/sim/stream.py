"""The generator's state and output queue, and the e-channel event builders.

``Stream`` holds what every event family shares: the customers, the random
streams, the queue of events in event-time order (``emit``, ``drain``) and the
builders of the e-channel events, which every family's scenarios use.  Each
family (``echannel``, ``ledger``, ``account_opening``, ``retail``, ``counter``)
is a subclass adding its traffic; ``ruledsl.sim.generate.Generator`` combines them.
"""

from __future__ import annotations

import datetime as _dt
import heapq
import random
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from ruledsl.sim.catalog import FAMILIES
from ruledsl.sim.common import (
    DAY_S,
    HOUR_CUM,
    HOUR_S,
    Customer,
    Tag,
    day_start_s,
    iso_ts,
    pick_cum,
    read_list,
)


class Stream:
    """The generator's state, its output queue, and the e-channel event builders."""

    def __init__(
        self,
        n_customers: int,
        days: int,
        seed: int,
        start: str,
        warmup_days: int,
        ts_format: str,
        families: Sequence[str] = ("echannel",),
    ) -> None:
        self.families = frozenset(families)
        self.posting = "posting" in self.families
        self.n_customers = n_customers
        self.days = days
        self.seed = seed
        self.warmup_days = warmup_days
        self.first_day = -warmup_days
        self.period_start = day_start_s(start)
        self.year = _dt.date.fromisoformat(start).year
        self.ts_format = ts_format
        # random streams named by the seed and their use; the other families draw from streams of
        # their own, so the e-channel traffic (events, order, scenarios) stays what the echannel profile makes
        self.rng = random.Random(f"ruledsl-generator:{seed}:normal")  # then each day's (normal_day)
        self.frng = random.Random(f"ruledsl-generator:{seed}:fraud")
        self.prng = random.Random(f"ruledsl-generator:{seed}:posting")
        self.retail_rng: Optional[random.Random] = None  # each day's, with the retail family
        self.xrngs = {f: random.Random(f"ruledsl-generator:{seed}:fraud:{f}") for f in FAMILIES if f != "echannel"}
        # the output queue: (epoch seconds, sequence number, event)
        self.seq = 0
        self.heap: list[tuple[int, int, dict]] = []
        self.day_start = 0
        # the customers
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
        self.by_account: dict[str, Customer] = {}  # the bank's accounts (filled by the Generator)
        # e-channel scenarios: the plan by day, their extra customers, dormant accounts, listed counterparties
        self.plan: dict[int, list[tuple[int, str, str]]] = {}
        self.next_idx = n_customers
        self.dormant_pool: list[Customer] = []
        self.black_accounts = read_list("black_accounts", "risk_accounts_sample")
        self.grey_accounts = read_list("grey_accounts", "risk_grey_accounts_sample")
        self.black_merchants = read_list("black_merchants")
        self.grey_merchants = read_list("grey_merchants")
        # the other families' scenarios: the plan by day, each family's range of customer ids
        self.xplan: dict[int, list[tuple[int, int, str, str, str]]] = {}
        self.xidx = {f: 60_000_000 + 1_000_000 * i for i, f in enumerate(FAMILIES)}
        # the ledger (posting family): [balance, last posting, ...] by account; scenarios' opening states
        self.ledger: dict[str, list[Any]] = {}
        self.ledger_init: dict[str, tuple[int, Optional[int]]] = {}
        self.case_accounts = read_list("case_accounts_sample")
        # account opening: recent applications (day, a copy of the event); listed people, phones, handsets
        self.applicants: list[tuple[int, dict]] = []
        self.disciplined_ids = read_list("disciplined_ids_sample")
        self.risk_phones = read_list("risk_phones_sample")
        self.risk_devices = read_list("risk_devices_sample")
        # counter transfers: the risk and grey lists of counterparties
        self.risk_accounts = read_list("risk_accounts_sample")
        self.risk_grey_accounts = read_list("risk_grey_accounts_sample")
        self.risk_names = read_list("risk_names_sample")

    # ------------------------------------------------------------ output
    def emit(self, ts_s: int, event: dict) -> None:
        """Queue an event; ``ts`` becomes ISO text or epoch ms when popped."""
        self.seq += 1
        heapq.heappush(self.heap, (ts_s, self.seq, event))

    def _format(self, ts_s: int, event: dict) -> dict:
        """Fill in ``ts`` (and the times of ``opened_at``, ``last_active_at``) in the output format."""
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
        """Pop the queued events before ``until_s`` (all with None), in time order, ready for output."""
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

    # ------------------------------------------------------------ e-channel events (every family makes them)
    def login(
        self,
        t: int,
        c: Customer,
        channel: str,
        device: str,
        trusted: bool,
        phone: Optional[str],
        city: Optional[str],
        tag: Tag,
        *,
        tamper: bool = False,
        remote: bool = False,
    ) -> None:
        """A ``login``; mobile log-ins carry the security SDK's ``device_tamper`` and ``remote_assist``."""
        ev: dict[str, Any] = {
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

    def query(self, t: int, c: Customer, channel: str, phone: Optional[str], tag: Tag, card: bool = False) -> None:
        """A balance ``query`` (``card``: at an ATM, sent with an epoch-ms ``ts`` in the mixed format)."""
        ev: dict[str, Any] = {
            "type": "query",
            "ts": None,
            "customer_id": c.cid,
            "account_no": c.account,
            "channel": channel,
        }
        if phone:
            ev["phone"] = phone
        if card:
            ev["_card"] = True
        self._tag_emit(t, ev, tag)

    def payee_add(self, t: int, c: Customer, channel: str, payee: str, tag: Tag) -> None:
        """A ``payee_add``."""
        self._tag_emit(
            t, {"type": "payee_add", "ts": None, "customer_id": c.cid, "channel": channel, "payee_account": payee}, tag
        )

    def transfer(
        self,
        t: int,
        c: Customer,
        channel: str,
        amount: str,
        payee: str,
        *,
        name: Optional[str] = None,
        same: bool = False,
        city: Optional[str] = None,
        device: Optional[str] = None,
        phone: Optional[str] = None,
        tag: Tag = None,
        remark: Optional[str] = None,
    ) -> None:
        """A ``transfer`` (``remark``: its ledger entry's, with the posting family)."""
        ev: dict[str, Any] = {"type": "transfer", "ts": None, "customer_id": c.cid, "account_no": c.account}
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

    def payment(
        self,
        t: int,
        c: Customer,
        channel: str,
        amount: str,
        merchant: str,
        *,
        city: Optional[str] = None,
        device: Optional[str] = None,
        tag: Tag = None,
        remark: Optional[str] = None,
    ) -> None:
        """A card ``payment`` at a POS terminal or a third-party (quick-pay) ``payment``."""
        ev: dict[str, Any] = {
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

    def cash(self, t: int, c: Customer, atm: str, amount: str, city: Optional[str], tag: Tag = None) -> None:
        """A ``cash_withdrawal`` at an ATM."""
        ev: dict[str, Any] = {
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

    def sign(self, t: int, c: Customer, channel: str, institution: str, phone: Optional[str], tag: Tag = None) -> None:
        """An ``agreement_sign``: a quick-pay agreement with a payment institution."""
        ev: dict[str, Any] = {
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

    def _tag_emit(self, t: int, ev: dict, tag: Tag) -> None:
        """Mark an event as warm-up or with its scenario, and queue it."""
        if isinstance(tag, tuple):
            ev["label"], ev["scenario_id"] = tag
        elif tag is not None:  # "warmup"
            ev["warmup"] = True
        self.emit(t, ev)

    # ------------------------------------------------------------ what the families add
    def _post(self, ts: int, holder: dict, p: tuple) -> Iterator[dict]:
        """The ``account_txn`` events of a queued ledger entry (``LedgerFamily``)."""
        raise NotImplementedError

    def _derive(self, ts: int, ev: dict, c: Customer) -> None:
        """Queue the ledger entries of a channel event that moves money (``LedgerFamily``)."""
        raise NotImplementedError

    def _retail_session(self, c: Customer, t: int, channel: str, device: str, trusted: bool, tag: Tag) -> None:
        """Retail steps around an e-channel log-in (``RetailFamily``)."""
        raise NotImplementedError

    # ------------------------------------------------------------ shared by the families' scenarios
    @staticmethod
    def _hour_time(r: random.Random, day_start: int, hours: Optional[Sequence[int]] = None) -> int:
        """A time in one of ``hours`` of the day (default: the hours people are active)."""
        hour = r.choice(hours) if hours else pick_cum(r, range(24), HOUR_CUM)
        return day_start + hour * HOUR_S + r.randrange(HOUR_S)

    def _xcustomer(self, r: random.Random, family: str, home: Optional[str] = None) -> Customer:
        """A new customer made by a family's scenario (ids of the family's own range)."""
        self.xidx[family] += 1
        c = Customer(r, self.xidx[family], home=home)
        c.opened_at = self.period_start - r.randrange(60 * DAY_S, 3650 * DAY_S)
        self.by_account[c.account] = c
        return c

    def _xvictim(self, r: random.Random, family: str) -> Customer:
        """An ordinary retail customer for a family's scenario, drawn from the family's random stream."""
        for _ in range(100):
            c = self.customers[r.randrange(len(self.customers))]
            if not c.corporate and not c.dormant:
                return c
        return self._xcustomer(r, family)
