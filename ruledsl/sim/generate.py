"""The generator: every family combined into one event stream (``Generator``),
``generate()`` and ``write_jsonl()``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO, Optional

import msgspec

from ruledsl.sim.account_opening import AccountOpeningFamily
from ruledsl.sim.catalog import ALL_SCENARIOS, FAMILIES, FAMILY_SCENARIOS, families_of
from ruledsl.sim.common import DAY_S
from ruledsl.sim.counter import CounterFamily
from ruledsl.sim.echannel import EChannelFamily
from ruledsl.sim.ledger_scenarios import LedgerScenarios
from ruledsl.sim.retail import RetailFamily


class Generator(EChannelFamily, LedgerScenarios, AccountOpeningFamily, RetailFamily, CounterFamily):
    """The event stream of the chosen families: each day's scenarios, normal traffic and the other families'."""

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
    ) -> None:
        super().__init__(n_customers, days, seed, start, warmup_days, ts_format, families)
        self._plan_scenarios(n_customers, fraud_rate, scenarios)
        self._preludes()
        # registered after the scenarios' extra customers: should an account number collide, the customer's wins
        for c in self.customers:
            self.by_account[c.account] = c
        self._plan_family_scenarios(n_customers, fraud_rate, scenarios)

    # ------------------------------------------------------------ the other families' scenarios and traffic
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
            n = max(len(fkinds), round(fraud_rate * n_customers))
            order = list(fkinds)
            r.shuffle(order)
            counters: Counter[str] = Counter()
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
        """Queue the other families' scenarios planned for ``day``."""
        for _rank, _key, family, kind, sid in self.xplan.get(day, ()):
            getattr(self, f"y_{kind}")(day, (kind, sid), self.xrngs[family])

    def family_day(self, day: int) -> None:
        """Queue a day's ordinary traffic of the other families (retail steps come with the e-channel sessions)."""
        day_start = self.period_start + day * DAY_S
        tag = "warmup" if day < 0 else None
        if self.posting:
            self._income_day(day, day_start, tag)
        if "counter" in self.families:
            self._counter_day(day, day_start, tag)
        if "opening" in self.families:
            self._opening_day(day, day_start, tag)

    # ------------------------------------------------------------ the stream
    def run(self) -> Iterator[dict]:
        """The whole stream: warm-up days, then the period, in event-time order."""
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
    """Yield events in event-time order (see ``ruledsl.sim``).

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
    gen = Generator(n_customers, days, seed, fraud_rate, start, warmup_days, scenarios, ts_format, families)
    return gen.run()


def write_jsonl(events: Iterable[dict], out: BinaryIO) -> int:
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
