"""The e-channel family: customers' ordinary sessions on every channel and the
labelled e-channel fraud scenarios (``SCENARIOS``, made for
``rulesets/echannel_monitoring.rdsl``).

Normal traffic comes from customers with habits: a home city, one or two
personal active hours, a usual amount scale, one or two trusted devices, a
phone (a few share a phone with a spouse), usual payees, merchants and ATMs.
Some customers travel for a day; a few corporate customers work office hours;
about 6% of retail accounts are dormant (their last transaction lies 200-380
days before the period) and some of those wake up with a few ordinary
transactions.  Each day's traffic draws from a random stream of its own, the
scenarios from another.

Not every scenario is made to be caught: some variants stay below the
ruleset's thresholds, as fraudsters' do.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Optional

from ruledsl.sim.catalog import SCENARIOS
from ruledsl.sim.common import (
    CAPITAL,
    CITY_CUM,
    CITY_NAMES,
    DAY_S,
    FRAUD_CITIES,
    HOUR_CUM,
    HOUR_S,
    INSTITUTIONS,
    PHONE_PREFIXES,
    Customer,
    Tag,
    city_atm,
    city_merchant,
    gambling_merchant,
    local_date,
    money,
    new_payee,
    online_merchant,
    other_bank_account,
    person_name,
    pick_cum,
    poisson,
    round_money,
)
from ruledsl.sim.stream import Stream


class EChannelFamily(Stream):
    """Ordinary e-channel sessions (``normal_day``) and the e-channel scenarios (``x_<scenario>``)."""

    # ------------------------------------------------------------ normal traffic
    def session_start(self, c: Customer, day_start: int) -> int:
        """When a session of the day starts: mostly around one of the customer's own hours."""
        rng = self.rng
        if rng.random() < 0.8:
            hour = (rng.choice(c.anchors) + round(rng.gauss(0, 1.2))) % 24
        else:
            hour = pick_cum(rng, range(24), HOUR_CUM)
        return day_start + hour * HOUR_S + rng.randrange(HOUR_S)

    def amount(self, c: Customer, scale: float = 1.0, spread: float = 0.8) -> str:
        """An amount around the customer's usual one times ``scale`` (often a round sum)."""
        rng = self.rng
        x = math.exp(rng.gauss(math.log(c.median * scale), spread))
        if rng.random() < 0.4:  # people send round sums
            unit = 1000 if x >= 5000 else (100 if x >= 300 else 10)
            return round_money(x, unit)
        return money(x)

    def city_of(self, c: Customer, today: str) -> Optional[str]:
        """The city a session is located in: where the customer is today (rarely unknown or the capital)."""
        r = self.rng.random()
        if r < 0.03:
            return None  # location unknown
        if r < 0.031:
            return CAPITAL[today]  # mobile IP located at the provincial capital
        return today

    def normal_day(self, day: int) -> None:
        """Queue a day's ordinary e-channel sessions of every customer."""
        # one random stream per day: a day's traffic does not depend on how many days came before
        rng = self.rng = random.Random(f"ruledsl-generator:{self.seed}:day:{day}")
        day_start = self.day_start = self.period_start + day * DAY_S
        if "retail" in self.families:
            self.retail_rng = random.Random(f"ruledsl-generator:{self.seed}:retail:{day}")
        weekday = local_date(day_start).weekday()
        tag = "warmup" if day < 0 else None
        for c in self.customers:
            if c.dormant:
                if c.wake_day is not None and c.wake_day == day:
                    self.s_wake(c, day_start)
                continue
            rate = c.rate
            if c.corporate:
                rate *= 0.1 if weekday >= 5 else 1.0
            n = poisson(rng, rate)
            if not n:
                continue
            today = c.home
            if not c.corporate and rng.random() < 0.015:
                today = pick_cum(rng, CITY_NAMES, CITY_CUM)  # travelling today
            starts = sorted(self.session_start(c, day_start) for _ in range(n))
            last_end = 0
            for t in starts:
                t = max(t, last_end + rng.randrange(120, 900))
                if c.busy_from - HOUR_S <= t <= c.busy_until:  # the customer is busy with a scenario
                    continue
                last_end = self.session(c, t, today, tag)

    def session(self, c: Customer, t: int, today: str, tag: Tag) -> int:
        """One session of a customer; returns when it ended."""
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

    def s_banking(self, c: Customer, t: int, today: str, tag: Tag, channel: str) -> int:
        """A mobile or web banking session: log-in, a query, transfers, now and then a payee or an agreement."""
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
                payee = new_payee(rng)
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

    def s_corporate(self, c: Customer, t: int, today: str, tag: Tag) -> int:
        """A corporate banking session in office hours: a query and a few large transfers."""
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

    def s_pos(self, c: Customer, t: int, today: str, tag: Tag) -> int:
        """A card payment in a shop (now and then a second one nearby)."""
        rng = self.rng
        merchant = rng.choice(c.merchants) if today == c.home and rng.random() < 0.7 else city_merchant(rng, today)
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
            merchant = city_merchant(rng, today)
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

    def s_online(self, c: Customer, t: int, today: str, tag: Tag) -> int:
        """Quick payments to online merchants."""
        rng = self.rng
        for _ in range(rng.choices((1, 2, 3), (75, 20, 5))[0]):
            self.payment(
                t,
                c,
                "third_party",
                self.amount(c, scale=0.15, spread=1.1),
                online_merchant(rng),
                city=self.city_of(c, today),
                device=rng.choice(c.devices),
                tag=tag,
            )
            t += rng.randrange(60, 900)
        return t

    def s_atm(self, c: Customer, t: int, today: str, tag: Tag) -> int:
        """At an ATM: a withdrawal (sometimes two), or a transfer to family; sometimes a balance query first."""
        rng = self.rng
        atm = rng.choice(c.atms) if today == c.home else city_atm(rng, today)
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
        n = max(len(kinds), round(fraud_rate * n_customers))
        order = list(kinds)
        frng.shuffle(order)
        counters: Counter[str] = Counter()
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
                money(frng.uniform(50, 3000)),
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
        """A new customer made by an e-channel scenario (a mule, a gambler's counterparty)."""
        c = Customer(self.frng, self.next_idx, home=home)
        self.next_idx += 1
        c.opened_at = self.period_start - self.frng.randrange(60 * DAY_S, 3650 * DAY_S)
        self.by_account[c.account] = c
        return c

    def _victim(self) -> Customer:
        """An ordinary retail customer, drawn from the scenarios' random stream."""
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
        """A time on ``day`` in one of ``hours``, from the scenarios' random stream."""
        return self.period_start + day * DAY_S + self.frng.choice(hours) * HOUR_S + self.frng.randrange(HOUR_S)

    def scenarios_for(self, day: int) -> None:
        """Queue the e-channel scenarios planned for ``day``."""
        for _key, kind, sid in self.plan.get(day, ()):
            getattr(self, f"x_{kind}")(day, (kind, sid))

    def _external_account(self, black_share: float = 0.0, grey_share: float = 0.0) -> str:
        """An account at another bank, now and then one already on the black or grey list."""
        r = self.frng.random()
        if r < black_share and self.black_accounts:
            return self.frng.choice(self.black_accounts)
        if r < black_share + grey_share and self.grey_accounts:
            return self.frng.choice(self.grey_accounts)
        return other_bank_account(self.frng)

    def x_account_takeover(self, day: int, tag: Tag) -> None:
        """Takeover (盗用): a new device in another city, a payee, then one large or several mid-sized transfers."""
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
        name = person_name(frng)
        self.payee_add(t, c, channel, payee, tag)
        r = frng.random()
        if r < 0.65:  # empty the account in one go
            amounts = [money(frng.uniform(50_000, 200_000))]
        elif r < 0.85:  # several mid-sized transfers, under the large-amount limit
            amounts = [round_money(frng.uniform(20_000, 49_000), 1000) for _ in range(frng.randint(2, 4))]
        else:  # one modest transfer
            amounts = [money(frng.uniform(5_000, 30_000))]
        for amount in amounts:
            t += frng.randrange(30, 240)
            self.transfer(t, c, channel, amount, payee, name=name, city=city, device=device, phone=phone, tag=tag)

    def x_induced_transfer_chain(self, day: int, tag: Tag) -> None:
        """Induced transfers (诱导型): the victim's own device, screen sharing at night or a daytime "safe account"."""
        frng = self.frng
        c = self._victim()
        device = c.devices[0]
        phone = c.phone
        payee = self._external_account(grey_share=0.05)
        name = person_name(frng)
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
                    round_money(frng.uniform(3_000, 30_000), 1000),
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
                    round_money(frng.uniform(10_000, 150_000), 1000),
                    payee,
                    name=name,
                    city=c.home,
                    device=device,
                    phone=phone,
                    tag=tag,
                )

    def x_mule_account(self, day: int, tag: Tag) -> None:
        """Mule accounts (涉诈账户) run by one herder: test transfers, many payers in, fast out to many payees."""
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
                        money(frng.uniform(0.01, 9.99)),
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
                    money(frng.uniform(1_000, 50_000)),
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
                    money(frng.uniform(2_000, 49_000)),
                    listed if i == 0 else self._external_account(),
                    name=person_name(frng),
                    city=home,
                    device=device,
                    phone=phone if careful or frng.random() < 0.7 else mule.phone,
                    tag=tag,
                )

    def x_card_cashout_atms(self, day: int, tag: Tag) -> None:
        """Card cash-out (盗刷取现): one card at several ATMs within an hour or, carefully, over hours."""
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
            atms = [city_atm(frng, city) for _ in range(frng.randint(3, 5))]
            n, amounts, gap = frng.randint(5, 8), (4000, 5000, 5000), (60, 480)
        else:
            # a careful crew: two machines, or smaller sums spread over hours
            atms = [city_atm(frng, city) for _ in range(frng.choice((2, 2, 3)))]
            n, amounts, gap = frng.randint(3, 6), (2000, 3000, 5000), (300, 1800)
        for i in range(n):
            self.cash(t, c, atms[i % len(atms)], f"{frng.choice(amounts)}.00", city, tag)
            t += frng.randrange(*gap)

    def x_gambling_flow(self, day: int, tag: Tag) -> None:
        """Gambling (涉赌): night, round sums in from many counterparties and out to agents and gambling merchants."""
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
        platform_merchants = [gambling_merchant(frng) for _ in range(3)]
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
                    name=person_name(frng),
                    city=c.home,
                    device=device,
                    phone=c.phone,
                    tag=tag,
                )

    def x_dormant_reactivation(self, day: int, tag: Tag) -> None:
        """A sold dormant account (买卖账户) suddenly moving many or large sums."""
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
            amounts = [money(frng.uniform(1_000, 30_000)) for _ in range(frng.randint(5, 15))]
        elif r < 0.8:
            amounts = [money(frng.uniform(50_000, 150_000)) for _ in range(frng.randint(1, 3))]
        else:
            amounts = [money(frng.uniform(1_000, 20_000)) for _ in range(frng.randint(2, 4))]
        listed = self._external_account(grey_share=0.15)
        for i, amount in enumerate(amounts):
            t += frng.randrange(120, 2400)
            self.transfer(
                t,
                c,
                "mobile",
                amount,
                listed if i == 0 else self._external_account(),
                name=person_name(frng),
                city=city,
                device=device,
                phone=phone,
                tag=tag,
            )
