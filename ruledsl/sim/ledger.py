"""The posting family: ``account_txn``, the core-banking ledger of every
personal account (its scenarios are in ``ledger_scenarios``).

Every e-channel, counter and retail event that moves money is posted, both
directions (an in-bank payee's account gets the credit), with the balance
after each entry and the last activity before the day; add salaries on
payday, money from family and friends, wallet withdrawals and small shops'
QR-code takings.  A payment larger than the balance is preceded by a round sum
from the customer's own account at another bank.  Balances are known only in
time order, so entries are queued as holders and posted when drained.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from typing import Any, Optional

from ruledsl.sim.common import (
    ALL_PROVINCES,
    DAY_S,
    GIVEN,
    HOUR_S,
    PROVINCE,
    TZ_OFFSET_S,
    Customer,
    Tag,
    local_date,
    merchant_region,
    money,
    new_payee,
    poisson,
    region_of,
    round_money,
    stable_unit,
    to_cents,
    yuan,
)
from ruledsl.sim.stream import Stream

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


class LedgerFamily(Stream):
    """The ledger entries (``txn``) of every money movement, and ordinary income."""

    # ------------------------------------------------------------ ledger entries
    def txn(
        self,
        t: int,
        c: Customer,
        direction: str,
        amount: str,
        channel: str,
        *,
        account: Optional[str] = None,
        cp: Optional[str] = None,
        cp_name: Optional[str] = None,
        region: Optional[str] = None,
        same: Optional[bool] = None,
        device: Optional[str] = None,
        remark: Optional[str] = None,
        tag: Tag = None,
    ) -> None:
        """Queue a ledger entry (``account_txn``); its balance and ``last_active_at`` are filled in when popped."""
        holder: dict[str, Any] = {
            "type": "account_txn",
            "_p": (
                c,
                account or c.account,
                direction,
                to_cents(amount),
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

    def _ledger_state(self, c: Customer, account: str) -> list[Any]:
        """``[balance in cents, last posting, last posting before today, today]`` of an account."""
        st = self.ledger.get(account)
        if st is None:
            init = self.ledger_init.pop(account, None)
            if init is None:
                u = stable_unit(self.seed, account, "balance")
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
                            - int(stable_unit(self.seed, account, "last") * 20 * DAY_S)
                        )
                    )
                    init = (int(spend * math.exp(2.0 * u - 0.5)) * 100, last)
            st = self.ledger[account] = [init[0], init[1], init[1], None]
        return st

    def _hometown(self, c: Customer) -> str:
        """The province a customer comes from (some of the counterparties are there)."""
        return ALL_PROVINCES[int(stable_unit(self.seed, c.cid, "hometown") * len(ALL_PROVINCES))]

    def _own_other_account(self, c: Customer) -> str:
        """The customer's own account at another bank."""
        for acct, _owner, same in c.payees:
            if same:
                return acct
        return f"6228{int(stable_unit(self.seed, c.cid, 'own') * 10**15):015d}"

    @staticmethod
    def _tag_of(ev: dict) -> Tag:
        """How a channel event is marked, for its ledger entries."""
        label = ev.get("label")
        if label is not None:
            return label, ev["scenario_id"]
        return "warmup" if ev.get("warmup") else None

    def _post(self, ts: int, holder: dict, p: tuple) -> Iterator[dict]:
        """Post a queued entry in time order: its balance; first a top-up from an own account if short."""
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
                    region_of(own, c.home, self._hometown(c)),
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
    def _txn_event(
        holder: dict,
        c: Customer,
        account: str,
        direction: str,
        cents: int,
        st: list[Any],
        channel: str,
        cp: Optional[str],
        cp_name: Optional[str],
        region: Optional[str],
        same: Optional[bool],
        device: Optional[str],
        remark: Optional[str],
    ) -> dict:
        """An ``account_txn`` event, marked like ``holder``."""
        ev: dict[str, Any] = {
            "type": "account_txn",
            "ts": None,
            "customer_id": c.cid,
            "account_no": account,
            "direction": direction,
            "amount": yuan(cents),
            "balance_after": yuan(st[0]),
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
                region=region_of(payee, c.home, self._hometown(c)),
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
                cp, cp_name, region = merchant, None, merchant_region(merchant)
                remark = remark or "消费"
            else:
                u = stable_unit(merchant, "institution")
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
                region=region_of(payee, c.home, self._hometown(c)),
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

    # ------------------------------------------------------------ ordinary income
    def _income_day(self, day: int, day_start: int, tag: Tag) -> None:
        """Money coming in: salaries on payday, family and friends, wallet withdrawals, shops' QR payments."""
        r = random.Random(f"ruledsl-generator:{self.seed}:posting:{day}")
        dom = local_date(day_start).day
        seed = self.seed
        for c in self.customers:
            if c.corporate or c.dormant:
                continue
            home = PROVINCE.get(c.home)
            if stable_unit(seed, c.cid, "salary") < 0.7 and dom == 1 + int(stable_unit(seed, c.cid, "payday") * 28):
                # about a month's spending
                salary = max(2500.0, c.median * c.rate * (20 + 20 * stable_unit(seed, c.cid, "pay"))) * r.uniform(
                    0.97, 1.03
                )
                u = stable_unit(seed, c.cid, "employer")
                employer = (
                    f"{c.home}{GIVEN[int(u * len(GIVEN))]}{GIVEN[int(u * 997) % len(GIVEN)]}"
                    f"{COMPANY_SUFFIXES[int(u * 9973) % len(COMPANY_SUFFIXES)]}"
                )
                self.txn(
                    self._hour_time(r, day_start, (9, 10, 11)),
                    c,
                    "in",
                    money(salary),
                    "counter",
                    cp=f"6222020200{int(u * 10**9):09d}",
                    cp_name=employer,
                    region=home,
                    same=False,
                    remark=r.choice(("代发工资", "工资", "代发工资")),
                    tag=tag,
                )
            for _ in range(poisson(r, 0.08)):
                if c.payees and r.random() < 0.5:
                    payer, name, same = r.choice(c.payees)
                else:
                    payer, name, same = new_payee(r)
                amount = math.exp(r.gauss(math.log(c.median), 0.8))
                self.txn(
                    self._hour_time(r, day_start),
                    c,
                    "in",
                    round_money(amount, 100) if r.random() < 0.5 else money(amount),
                    r.choice(("mobile", "mobile", "web", "third_party")),
                    cp=payer,
                    cp_name=name,
                    region=region_of(payer, c.home, self._hometown(c)),
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
                    money(r.uniform(50, 2000)),
                    "third_party",
                    cp=cp,
                    cp_name=cp_name,
                    region=region,
                    same=False,
                    remark=r.choice(("零钱提现", "余额提现")),
                    tag=tag,
                )
            if stable_unit(seed, c.cid, "shop") < 0.02:  # a small shop: its customers pay by the bank's QR code
                for _ in range(poisson(r, 8)):
                    self.txn(
                        self._hour_time(r, day_start, range(8, 22)),
                        c,
                        "in",
                        money(math.exp(r.gauss(math.log(35), 0.9))),
                        "third_party",
                        cp=f"2088{r.randrange(10**12):012d}",
                        region=home,
                        same=False,
                        remark="二维码收款",
                        tag=tag,
                    )
