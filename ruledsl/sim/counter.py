"""The counter family: ``counter_transfer`` at a branch or by telephone banking
(mostly older customers' habit), and the scenario ``risk_list_counterparty``
(made for ``counterparty_screening``): a scam victim pays an account on the
risk or grey list (sample lists under ``rulesets/lists/``), on the app, the
web, at an ATM or the counter; sometimes only the payee's name is listed,
sometimes nothing is yet.
"""

from __future__ import annotations

import math
import random
from typing import Any, Optional

from ruledsl.sim.common import CITY_CODE, DAY_S, Customer, Tag, money, other_bank_account, person_name, round_money
from ruledsl.sim.stream import Stream


class CounterFamily(Stream):
    """Counter and telephone-banking transfers, and the scenario paying listed counterparties."""

    # ------------------------------------------------------------ events and ordinary traffic
    def counter_transfer(
        self,
        t: int,
        c: Customer,
        channel: str,
        amount: str,
        payee: str,
        *,
        name: Optional[str] = None,
        branch: Optional[str] = None,
        tag: Tag = None,
    ) -> None:
        """A ``counter_transfer`` at a branch counter (``branch``) or by telephone banking."""
        ev: dict[str, Any] = {
            "type": "counter_transfer",
            "ts": None,
            "customer_id": c.cid,
            "account_no": c.account,
            "channel": channel,
        }
        if branch:
            ev["branch_id"] = branch
        ev["amount"] = amount
        ev["payee_account"] = payee
        if name:
            ev["payee_name"] = name
        if self.posting:
            ev["_c"] = c
        self._tag_emit(t, ev, tag)

    def _counter_day(self, day: int, day_start: int, tag: Tag) -> None:
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
                round_money(amount, 100) if r.random() < 0.6 else money(amount),
                acct,
                name=name,
                branch=f"B{CITY_CODE.get(c.home, '99')}{r.randrange(1, 40):03d}" if channel == "counter" else None,
                tag=tag,
            )

    def y_risk_list_counterparty(self, day: int, tag: Tag, r: random.Random) -> None:
        """A scam victim pays a listed counterparty, on the app, the web, at an ATM or the counter."""
        day_start = self.period_start + day * DAY_S
        c = self._xvictim(r, "counter")
        u = r.random()
        name = person_name(r)
        if u < 0.6 and self.risk_accounts:
            payee = r.choice(self.risk_accounts)
            if self.risk_names and r.random() < 0.2:
                name = r.choice(self.risk_names)
        elif u < 0.8 and self.risk_grey_accounts:
            payee = r.choice(self.risk_grey_accounts)
        elif u < 0.9 and self.risk_names:
            payee, name = other_bank_account(r), r.choice(self.risk_names)  # a new account of a listed company
        else:
            payee = other_bank_account(r)  # a fresh account no list knows yet
        amounts = []
        for _ in range(r.choice((1, 1, 2, 3))):
            x = r.uniform(3_000, 100_000)
            amounts.append(round_money(x, 1000) if r.random() < 0.55 else money(x))
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
                    branch=f"B{CITY_CODE.get(c.home, '99')}{r.randrange(1, 40):03d}" if channel == "counter" else None,
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
