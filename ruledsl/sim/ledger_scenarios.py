"""The posting family's scenarios (made for ``gambling_fraud_t1``).

``gambling_account``: a gambler's night of round bets and winnings with
agents; a rented "跑分" account collecting players' deposits and sweeping them
on; a quiet gambler.  ``fraud_account``: layering, fast in and out, a new
account suddenly busy, splits just below 50,000, cent test transfers, one
person's three new accounts, one handset for several accounts, money from or
to a reported account, a sold dormant account, and a careful one.  Their money
comes in from other banks (ledger only) and leaves by mobile transfers.
"""

from __future__ import annotations

import random
from typing import Optional

from ruledsl.sim.common import (
    DAY_S,
    FRAUD_CITIES,
    HOUR_S,
    Customer,
    Tag,
    money,
    other_bank_account,
    person_name,
    random_device,
    random_phone,
    region_of,
    yuan,
)
from ruledsl.sim.ledger import LedgerFamily

FRAUD_ACCOUNT_KINDS = ("layering", "fast", "new_busy", "split", "test", "multi", "device", "case", "dormant", "careful")
FRAUD_ACCOUNT_WEIGHTS = (16, 14, 12, 10, 8, 8, 8, 8, 8, 8)


class LedgerScenarios(LedgerFamily):
    """The posting family's scenarios (``y_<scenario>``) and the fraud-controlled accounts they use."""

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

    def _in(
        self,
        t: int,
        c: Customer,
        amount: str,
        r: random.Random,
        tag: Tag,
        *,
        cp: Optional[str] = None,
        remark: Optional[str] = None,
        name: Optional[str] = None,
    ) -> None:
        """Money from another bank into ``c`` (ledger only)."""
        cp = cp or other_bank_account(r)
        self.txn(
            t,
            c,
            "in",
            amount,
            r.choice(("mobile", "mobile", "web", "third_party")),
            cp=cp,
            cp_name=name or person_name(r),
            region=region_of(cp, None),
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
        tag: Tag,
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
            name=name or person_name(r),
            city=c.home,
            device=device,
            phone=phone or c.phone,
            tag=tag,
            remark=remark,
        )

    def y_gambling_account(self, day: int, tag: Tag, r: random.Random) -> None:
        """A gambler's night with agents, a rented "跑分" account collecting players' deposits, or a quiet gambler."""
        day_start = self.period_start + day * DAY_S
        rounds = (1000, 2000, 3000, 5000, 10000, 20000)
        agents = [other_bank_account(r) for _ in range(r.randint(5, 9))]
        agent_names = [person_name(r) for _ in agents]
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
            platform = [other_bank_account(r) for _ in range(r.choice((1, 2)))]
            device = random_device(r)
            t = self._hour_time(r, day_start, (18, 19, 20, 21, 22))
            balance = self.ledger_init[c.account][0]
            pending = 0
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for _ in range(r.randint(12, 30)):
                t += r.randrange(60, 900)
                cents = (
                    r.choice((100, 200, 500, 1000, 2000, 3000, 5000)) * 100
                    if r.random() < 0.7
                    else int(r.uniform(100, 5000)) * 100
                )
                self._in(t, c, yuan(cents), r, tag, remark=r.choice(("充值", "", "", "转账", "货款")))
                balance += cents
                pending += 1
                if pending >= r.randint(5, 9):  # sweep to the platform, a few yuan left
                    t += r.randrange(60, 600)
                    out = balance - r.randrange(0, 20_000)
                    self._out(t, c, yuan(out), r.choice(platform), r, tag, device=device)
                    balance -= out
                    pending = 0
            if balance > 50_000:
                t += r.randrange(60, 600)
                self._out(t, c, yuan(balance - r.randrange(0, 10_000)), platform[0], r, tag, device=device)
        else:
            # a quiet gambler: a few round bets in the evening to one agent
            c = self._xvictim(r, "posting")
            device = c.devices[0]
            t = self._hour_time(r, day_start, (20, 21, 22))
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for _ in range(r.randint(2, 4)):
                t += r.randrange(600, 2400)
                self._out(t, c, f"{r.choice(rounds[:3])}.00", agents[0], r, tag, device=device, name=agent_names[0])

    def y_fraud_account(self, day: int, tag: Tag, r: random.Random) -> None:
        """A fraud-controlled account moving a victim's money on (one of ``FRAUD_ACCOUNT_KINDS``)."""
        day_start = self.period_start + day * DAY_S
        kind = r.choices(FRAUD_ACCOUNT_KINDS, FRAUD_ACCOUNT_WEIGHTS)[0]
        if kind == "case" and not self.case_accounts:
            kind = "layering"
        device = random_device(r)
        t = self._hour_time(r, day_start, range(9, 21))
        if kind == "layering":
            # a second-layer account: a victim's money in, then scattered out to many accounts within hours
            c = self._mule(r, "posting", (30, 300), balance=r.uniform(0, 500), day=day)
            total = 0
            for _ in range(r.choice((1, 1, 2))):
                cents = int(r.uniform(50_000, 300_000)) * 100
                self._in(t, c, yuan(cents), r, tag)
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
                self._out(t, c, yuan(cents), other_bank_account(r), r, tag, device=device)
        elif kind == "fast":
            # fast in, fast out: each sum leaves within the hour for the next account
            c = self._mule(r, "posting", (30, 400), balance=r.uniform(0, 300), day=day)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for _ in range(r.randint(2, 4)):
                cents = int(r.uniform(5_000, 49_000)) * 100
                self._in(t, c, yuan(cents), r, tag)
                t += r.randrange(300, 3600)
                self._out(
                    t, c, yuan(cents - r.randrange(0, cents // 100)), other_bank_account(r), r, tag, device=device
                )
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
                    self._in(t, c, yuan(cents), r, tag)
                    balance += cents
                else:
                    cents = int(balance * r.uniform(0.5, 0.95))
                    self._out(t, c, yuan(cents), other_bank_account(r), r, tag, device=device)
                    balance -= cents
        elif kind == "split":
            # a large sum in, out in pieces just below the 50,000 limit
            c = self._mule(r, "posting", (30, 400), balance=r.uniform(0, 1000), day=day)
            n = r.randint(3, 4)
            pieces = [int(r.uniform(45_100, 49_900)) * 100 for _ in range(n)]
            self._in(t, c, yuan(sum(pieces) + r.randrange(0, 200_000)), r, tag)
            t += r.randrange(300, 1800)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for cents in pieces:
                t += r.randrange(60, 900)
                self._out(t, c, yuan(cents), other_bank_account(r), r, tag, device=device)
        elif kind == "test":
            # the buyer of an account checks it works with cent transfers before using it
            c = self._mule(r, "posting", (20, 400), balance=r.uniform(0, 50), day=day)
            for _ in range(r.randint(5, 8)):
                t += r.randrange(30, 300)
                self._in(t, c, money(r.uniform(0.01, 1.0)), r, tag)
            t += r.randrange(HOUR_S, 5 * HOUR_S)
            cents = int(r.uniform(10_000, 80_000)) * 100
            self._in(t, c, yuan(cents), r, tag)
            t += r.randrange(600, 3600)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            for _ in range(r.randint(1, 3)):
                t += r.randrange(60, 600)
                out = int(cents * r.uniform(0.3, 0.6))
                self._out(t, c, yuan(out), other_bank_account(r), r, tag, device=device)
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
                self._in(t, c, yuan(cents), r, tag)
                t += r.randrange(600, 2 * HOUR_S)
                self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
                self._out(
                    t + r.randrange(30, 300),
                    c,
                    yuan(cents - r.randrange(0, 50_000)),
                    other_bank_account(r),
                    r,
                    tag,
                    device=device,
                )
                t += r.randrange(HOUR_S, 6 * HOUR_S)
        elif kind == "device":
            # one herder's phone operates several mule accounts the same day
            herder_phone = random_phone(r)
            for _ in range(r.randint(3, 4)):
                c = self._mule(r, "posting", (30, 400), balance=r.uniform(0, 300), day=day)
                cents = int(r.uniform(5_000, 60_000)) * 100
                self._in(t, c, yuan(cents), r, tag)
                t += r.randrange(300, 1800)
                self.login(t, c, "mobile", device, True, herder_phone, c.home, tag)
                self._out(
                    t + r.randrange(30, 300),
                    c,
                    yuan(cents - r.randrange(0, 30_000)),
                    other_bank_account(r),
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
                self._in(t, c, yuan(cents), r, tag, cp=case)
                payee = other_bank_account(r)
            else:
                self._in(t, c, yuan(cents), r, tag)
                payee = case
            t += r.randrange(600, 3 * HOUR_S)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            self._out(t + r.randrange(30, 300), c, yuan(cents - r.randrange(0, 100_000)), payee, r, tag, device=device)
        elif kind == "dormant":
            # a long-dormant account, sold, suddenly moving money
            c = self._mule(r, "posting", (800, 3000), balance=r.uniform(0, 100), last_active_days=(200, 600), day=day)
            balance = self.ledger_init[c.account][0]
            self.login(t, c, "mobile", device, False, random_phone(r), c.home, tag)
            for _ in range(r.randint(5, 9)):
                t += r.randrange(300, 2400)
                if balance < 300_000 or r.random() < 0.5:
                    cents = int(r.uniform(3_000, 40_000)) * 100
                    self._in(t, c, yuan(cents), r, tag)
                    balance += cents
                else:
                    cents = int(balance * r.uniform(0.6, 0.98))
                    self._out(t, c, yuan(cents), other_bank_account(r), r, tag, device=device)
                    balance -= cents
        else:
            # careful: a couple of mid-sized sums in and out in the daytime, nothing adds up
            c = self._mule(r, "posting", (60, 600), balance=r.uniform(500, 3000), day=day)
            cents = int(r.uniform(3_000, 9_000)) * 100
            self._in(t, c, yuan(cents), r, tag)
            t += r.randrange(3 * HOUR_S, 6 * HOUR_S)
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag)
            self._out(
                t + r.randrange(30, 300),
                c,
                yuan(int(cents * r.uniform(0.5, 0.8))),
                other_bank_account(r),
                r,
                tag,
                device=device,
            )
