"""The retail family: ``password_reset``, ``loan_application`` and
``dcep_topup`` (e-CNY wallet) in ordinary mobile sessions, and the scenarios
made for ``chain_defense``: ``induced_loan_chain`` (screen sharing, or a
password reset and the scammer's phone, then a loan and a transfer out; or no
signal at all), ``reset_takeover`` (SIM swap or phished code: reset, new device
elsewhere, payee, large transfer) and ``remote_dcep`` (screen sharing, then
e-CNY top-ups to someone else's wallet; on the web there is no signal).
"""

from __future__ import annotations

import math
import random
from typing import Any, Optional

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
    round_money,
    stable_unit,
    yuan,
)
from ruledsl.sim.stream import Stream


class RetailFamily(Stream):
    """Retail steps around ordinary log-ins, and the retail scenarios (``y_<scenario>``)."""

    # ------------------------------------------------------------ events
    def password_reset(
        self, t: int, c: Customer, channel: str, method: str, device: Optional[str], tag: Tag = None
    ) -> None:
        """A ``password_reset`` (``method``: sms, face or bank_card)."""
        ev: dict[str, Any] = {
            "type": "password_reset",
            "ts": None,
            "customer_id": c.cid,
            "channel": channel,
            "method": method,
        }
        if device:
            ev["device_id"] = device
        self._tag_emit(t, ev, tag)

    def loan_application(
        self,
        t: int,
        c: Customer,
        channel: str,
        product: str,
        amount: str,
        device: Optional[str],
        tag: Tag = None,
        *,
        granted_after: Optional[int] = None,
    ) -> None:
        """A ``loan_application``; ``granted_after``: seconds until the loan is paid out (posting family), None: refused."""
        ev: dict[str, Any] = {
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

    def dcep_topup(
        self,
        t: int,
        c: Customer,
        channel: str,
        amount: str,
        wallet: str,
        own: bool,
        device: Optional[str],
        tag: Tag = None,
    ) -> None:
        """A ``dcep_topup``: money moved into an e-CNY wallet (``own``: the customer's)."""
        ev: dict[str, Any] = {
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

    # ------------------------------------------------------------ retail steps in ordinary sessions
    def _retail_session(self, c: Customer, t: int, channel: str, device: str, trusted: bool, tag: Tag) -> None:
        """A password reset before a new device's log-in (or forgotten); now and then a loan or an e-CNY top-up."""
        r = self.retail_rng
        if r is None:  # the retail family is not in the profile
            return
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
            amount = round_money(math.exp(r.gauss(math.log(max(c.median, 300) * 40), 0.7)), 1000)
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
                f"0031{int(stable_unit(self.seed, c.cid, 'wallet') * 10**12):012d}"
                if own
                else f"0021{r.randrange(10**12):012d}"
            )
            x = r.uniform(100, 3000)
            self.dcep_topup(
                t + r.randrange(30, 600),
                c,
                channel,
                round_money(x, 100) if r.random() < 0.6 else money(x),
                wallet,
                own,
                device,
                tag,
            )

    # ------------------------------------------------------------ scenarios
    def y_induced_loan_chain(self, day: int, tag: Tag, r: random.Random) -> None:
        """A victim talked into a loan and a transfer of it: screen sharing, a reset and the scammer's phone, or no signal."""
        day_start = self.period_start + day * DAY_S
        c = self._xvictim(r, "retail")
        t = self._hour_time(r, day_start, range(9, 23))
        loan_cents = int(r.uniform(20, 200)) * 1000 * 100
        loan = yuan(loan_cents)
        product = r.choice(("consumer_loan", "cash_instalment"))
        payee, name = other_bank_account(r), person_name(r)
        v = r.random()
        if v < 0.55:
            # a fake "customer service" shares the screen and walks the victim through a loan and a transfer
            device = c.devices[0]
            self.login(t, c, "mobile", device, True, c.phone, c.home, tag, remote=r.random() < 0.85)
        elif v < 0.85:
            # the scammer resets the password with the victim's SMS code and borrows on his own phone
            device = random_device(r)
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
                t, c, "mobile", yuan(cents), payee, name=name, city=c.home, device=device, phone=c.phone, tag=tag
            )
            left -= cents
            if left < 10_000_00:
                break

    def y_reset_takeover(self, day: int, tag: Tag, r: random.Random) -> None:
        """SIM swap or a phished code: a password reset, a new device elsewhere, a payee, a large transfer."""
        day_start = self.period_start + day * DAY_S
        c = self._xvictim(r, "retail")
        t = self._hour_time(r, day_start, (0, 1, 2, 8, 10, 12, 14, 16, 19, 21, 22, 23))
        device = random_device(r)
        city = r.choice([x for x in FRAUD_CITIES if x != c.home])
        # SIM swap or a phished SMS code (now and then a deep-faked face) resets the password
        self.password_reset(t, c, "mobile", "sms" if r.random() < 0.8 else "face", device, tag)
        t += r.randrange(60, 300)
        self.login(t, c, "mobile", device, False, c.phone, city, tag, tamper=r.random() < 0.25)
        payee, name = other_bank_account(r), person_name(r)
        v = r.random()
        if v < 0.15:
            t += r.randrange(2 * HOUR_S, 4 * HOUR_S)  # they wait for the victim to sleep
            self.login(t, c, "mobile", device, False, c.phone, city, tag)
        t += r.randrange(60, 600)
        self.payee_add(t, c, "mobile", payee, tag)
        if v < 0.65:
            amounts = [money(r.uniform(50_000, 150_000))]
        else:
            amounts = [round_money(r.uniform(10_000, 45_000), 1000) for _ in range(r.randint(2, 3))]
        for amount in amounts:
            t += r.randrange(30, 300)
            self.transfer(t, c, "mobile", amount, payee, name=name, city=city, device=device, phone=c.phone, tag=tag)

    def y_remote_dcep(self, day: int, tag: Tag, r: random.Random) -> None:
        """Screen sharing, then e-CNY top-ups to someone else's wallet (on the web there is no signal)."""
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
                round_money(r.uniform(5_000, 50_000), 1000),
                wallet,
                False,
                device,
                tag,
            )
            t += r.randrange(60, 600)
