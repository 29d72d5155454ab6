"""The opening family: ``account_open`` applications from new customers, and
the scenario ``risky_account_open`` (made for ``account_opening_scorecard``).

About 3 applications a day per 100 customers: office workers, students,
retirees brought by their children, shopkeepers, freelancers, the jobless,
farmers, foreigners; a few share a phone or a handset with a family member or
apply twice.  The scenario: a young person brought to the counter to open an
account for sale, a ring opening II-class accounts online with one phone and
one (rooted) handset, a student expecting a fortune through the account, a
phone or handset on the fraud lists, someone on the disciplinary list, a
national of a high-risk country, and a careful seller who scores low.
"""

from __future__ import annotations

import math
import random
from typing import Any, Optional

from ruledsl.sim.common import (
    ALL_PROVINCES,
    CITY_CUM,
    CITY_NAMES,
    DAY_S,
    FRAUD_CITIES,
    HOUR_S,
    MIN_S,
    PROVINCE,
    Tag,
    id_number,
    pick_cum,
    poisson,
    random_device,
    random_phone,
    round_money,
)
from ruledsl.sim.stream import Stream

PERSONAS = ("worker", "student", "retired", "business", "freelance", "jobless", "rural", "foreigner")
PERSONA_WEIGHTS = (48, 14, 10, 11, 7, 4, 5, 1)
FOREIGN_NATIONALITIES = ("USA", "DEU", "JPN", "KOR", "GBR", "SGP", "FRA", "CAN", "AUS", "MYS")
HIGH_RISK_NATIONALITIES = ("MMR", "KHM", "LAO", "PHL")


class AccountOpeningFamily(Stream):
    """Ordinary account applications by persona, and the risky ones (``y_risky_account_open``)."""

    # ------------------------------------------------------------ ordinary applications
    def _opening_day(self, day: int, day_start: int, tag: Tag) -> None:
        """Applications from new customers: about 3 a day per 100 existing customers (a sample's intake)."""
        r = random.Random(f"ruledsl-generator:{self.seed}:opening:{day}")
        for _ in range(poisson(r, max(0.5, self.n_customers * 0.03))):
            recent = [a for a in self.applicants if a[0] >= day - 30]
            if recent and r.random() < 0.01:
                # the same person applies again (an abandoned application, another branch)
                ev = dict(r.choice(recent)[1])
                for key in ("label", "scenario_id", "warmup"):
                    ev.pop(key, None)
                hours = range(9, 17) if ev["channel"] == "counter" else range(8, 23)
                self._emit_application(self._hour_time(r, day_start, hours), ev, day, tag)
                continue
            persona = r.choices(PERSONAS, PERSONA_WEIGHTS)[0]
            ev = self._application(r, persona)
            if ev["channel"] != "counter" and recent and r.random() < 0.015:
                # a family member opens an account on the same phone or with the same SIM
                other = r.choice(recent)[1]
                if r.random() < 0.5 and "device_id" in other:
                    ev["device_id"] = other["device_id"]
                else:
                    ev["phone"] = other["phone"]
                    ev["phone_owner_match"] = False
            hours = range(9, 17) if ev["channel"] == "counter" else range(8, 23)
            self._emit_application(self._hour_time(r, day_start, hours), ev, day, tag)

    def _emit_application(self, t: int, ev: dict, day: int, tag: Tag) -> None:
        """Queue an application and remember ordinary ones (relatives may share a phone, people reapply)."""
        if tag is None or tag == "warmup":  # ordinary applicants: their relatives may share a phone, or reapply
            self.applicants.append((day, dict(ev)))
        self._tag_emit(t, ev, tag)
        if len(self.applicants) > 400:
            del self.applicants[:100]

    def _applicant_id(self) -> str:
        """A new customer id from the opening family's range."""
        self.xidx["opening"] += 1
        return f"C{self.xidx['opening']:08d}"

    def _application(
        self,
        r: random.Random,
        persona: str,
        *,
        channel: Optional[str] = None,
        city: Optional[str] = None,
        age: Optional[int] = None,
    ) -> dict:
        """An ordinary ``account_open`` event for a persona (the scenarios adjust it)."""
        city = city or pick_cum(r, CITY_NAMES, CITY_CUM)
        if channel is None:
            counter_share = {"retired": 0.85, "rural": 0.8, "foreigner": 0.7, "student": 0.25}.get(persona, 0.45)
            channel = "counter" if r.random() < counter_share else ("mobile" if r.random() < 0.9 else "web")
        nationality, id_type = "CHN", "resident_id"
        income: Optional[float] = None
        local_share, proof_share, high_limit = 0.65, 0.7, 0.05
        if persona == "worker":
            age = age or r.randint(23, 55)
            occupation = r.choices(
                ("enterprise_staff", "professional", "civil_servant", "worker", "military", "other"),
                (40, 20, 10, 25, 2, 3),
            )[0]
            industry = (
                "public_service"
                if occupation in ("civil_servant", "military")
                else r.choice(
                    (
                        "manufacturing",
                        "construction",
                        "wholesale_retail",
                        "logistics",
                        "catering_hotel",
                        "it_internet",
                        "finance",
                        "real_estate",
                        "education_health",
                        "other",
                    )
                )
            )
            purpose = r.choices(("salary", "daily", "investment", "loan_repayment", "other"), (50, 35, 8, 5, 2))[0]
            income = math.exp(r.gauss(math.log(8000), 0.5))
        elif persona == "student":
            age = age or r.randint(18, 24)
            occupation, industry = "student", "none"
            purpose = r.choices(("daily", "salary", "other"), (85, 10, 5))[0]
            income = r.choice((None, None, 0.0, r.uniform(500, 2000)))
            local_share, proof_share, high_limit = 0.4, 0.6, 0.03
        elif persona == "retired":
            age = age or r.randint(58, 85)
            occupation, industry = "retired", "none"
            purpose = r.choices(("daily", "investment", "other"), (60, 32, 8))[0]
            income = r.uniform(2000, 8000)
            local_share, high_limit = 0.8, 0.01
        elif persona == "business":
            age = age or r.randint(25, 60)
            occupation = "self_employed"
            industry = r.choices(
                (
                    "wholesale_retail",
                    "catering_hotel",
                    "logistics",
                    "construction",
                    "agriculture",
                    "precious_metals",
                    "entertainment",
                ),
                (40, 25, 10, 10, 7, 5, 3),
            )[0]
            purpose = r.choices(("business", "daily"), (80, 20))[0]
            income = math.exp(r.gauss(math.log(15000), 0.6))
            high_limit = 0.3
        elif persona == "freelance":
            age = age or r.randint(22, 45)
            occupation = "freelancer"
            industry = r.choice(("it_internet", "education_health", "wholesale_retail", "other", "other"))
            purpose = r.choices(("daily", "business", "other"), (60, 30, 10))[0]
            income = r.choice((None, math.exp(r.gauss(math.log(7000), 0.6))))
            high_limit = 0.1
        elif persona == "jobless":
            age = age or r.randint(18, 50)
            occupation, industry = "unemployed", "none"
            purpose = r.choices(("daily", "loan_repayment", "other"), (80, 12, 8))[0]
            income = None
            high_limit = 0.02
        elif persona == "rural":
            age = age or r.randint(30, 65)
            occupation = r.choice(("farmer", "worker"))
            industry = "agriculture" if occupation == "farmer" else "construction"
            purpose = r.choices(("daily", "salary"), (70, 30))[0]
            income = r.uniform(2000, 6000)
        else:  # foreigner working here
            age = age or r.randint(25, 60)
            nationality = r.choice(FOREIGN_NATIONALITIES)
            id_type = "passport" if r.random() < 0.8 else "foreign_permanent"
            occupation = r.choice(("enterprise_staff", "professional"))
            industry = r.choice(("manufacturing", "it_internet", "education_health", "finance", "other"))
            purpose = "salary"
            income = math.exp(r.gauss(math.log(25000), 0.5))
            local_share, proof_share = 0.0, 0.9
        local = r.random() < local_share
        province = PROVINCE[city] if local else r.choice(ALL_PROVINCES)
        if nationality == "CHN":
            id_no = id_number(r, province, age, self.year)
        else:
            id_no = f"{nationality[:1]}{r.randrange(10**8):08d}"
        if income is not None:
            expected = max(500.0, income * r.uniform(0.3, 1.5))
            if persona == "business":
                expected = income * r.uniform(1, 6)
        else:
            expected = r.uniform(500, 5000)
        ev: dict[str, Any] = {
            "type": "account_open",
            "ts": None,
            "customer_id": self._applicant_id(),
            "id_no": id_no,
            "id_type": id_type,
            "nationality": nationality,
            "age": age,
            "channel": channel,
            "account_class": ("I" if r.random() < 0.8 else "II")
            if channel == "counter"
            else ("II" if r.random() < 0.85 else "III"),
            "occupation": occupation,
            "industry": industry,
            "purpose": purpose,
        }
        if income is not None:
            ev["monthly_income"] = round_money(income, 100)
        if r.random() < 0.9:
            ev["expected_monthly_amount"] = round_money(expected, 100)
        ev["local_household"] = local
        if not local:
            ev["local_proof"] = r.random() < proof_share
        ev["phone"] = random_phone(r)
        u = r.random()
        if u < 0.95:
            ev["phone_owner_match"] = True
        elif u < 0.97:
            ev["phone_owner_match"] = False  # a parent's or spouse's number
        if "phone_owner_match" in ev:
            ev["phone_tenure_days"] = (
                r.randrange(1, 30) if r.random() < 0.03 else int(math.exp(r.gauss(math.log(1500), 0.8))) + 30
            )
        if r.random() < 0.95:
            ev["accounts_elsewhere"] = r.choices(range(8), (20, 35, 25, 12, 5, 2, 0.7, 0.3))[0]
        ev["apply_high_limit"] = r.random() < high_limit
        counter = channel == "counter"
        ev["accompanied"] = counter and r.random() < (0.25 if persona == "retired" else 0.015)
        if counter:
            ev["evasive_answers"] = r.random() < 0.007
        else:
            ev["device_id"] = random_device(r)
            ev["device_risk"] = r.random() < 0.006
        return ev

    # ------------------------------------------------------------ scenarios
    def y_risky_account_open(self, day: int, tag: Tag, r: random.Random) -> None:
        """An account opened to be sold or used for fraud (one of seven stories, one of them careful)."""
        day_start = self.period_start + day * DAY_S
        v = r.random()
        if v < 0.28:
            # a young person brought to the counter by a "boss" to open an account for sale
            ev = self._application(r, r.choice(("jobless", "student")), channel="counter", age=r.randint(18, 24))
            ev["accompanied"] = True
            ev["evasive_answers"] = r.random() < 0.7
            if r.random() < 0.7:
                ev["purpose"] = "other"
            ev["apply_high_limit"] = r.random() < 0.8
            ev["local_household"] = False
            ev["local_proof"] = False
            if r.random() < 0.5:
                ev["expected_monthly_amount"] = round_money(r.uniform(30_000, 100_000), 1000)
            self._emit_application(self._hour_time(r, day_start, range(9, 17)), ev, day, tag)
        elif v < 0.48:
            # a ring opens several II-class accounts online with one phone and one (often rooted) phone handset
            phone, device = random_phone(r), random_device(r)
            risky_device = r.random() < 0.5
            t = self._hour_time(r, day_start, range(9, 23))
            for _ in range(r.randint(2, 4)):
                ev = self._application(
                    r, r.choice(("jobless", "worker", "student")), channel="mobile", age=r.randint(18, 30)
                )
                ev["account_class"] = "II"
                ev["phone"], ev["device_id"], ev["device_risk"] = phone, device, risky_device
                ev["phone_owner_match"] = False
                ev["phone_tenure_days"] = r.randrange(3, 60)
                ev["apply_high_limit"] = r.random() < 0.6
                self._emit_application(t, ev, day, tag)
                t += r.randrange(10 * MIN_S, 3 * HOUR_S)
        elif v < 0.62:
            # a student expecting a fortune through the account ("兼职" for a gambling platform)
            ev = self._application(r, "student", age=r.randint(18, 22))
            ev["monthly_income"] = "0.00"
            ev["expected_monthly_amount"] = round_money(r.uniform(30_000, 200_000), 1000)
            ev["apply_high_limit"] = True
            if r.random() < 0.3:
                ev["industry"] = "online_gaming"
            if r.random() < 0.5:
                ev["purpose"] = "other"
            self._emit_application(self._hour_time(r, day_start, range(8, 23)), ev, day, tag)
        elif v < 0.70 and (self.risk_phones or self.risk_devices):
            # the phone number or the handset is already on the fraud lists
            ev = self._application(r, r.choice(("jobless", "worker", "freelance")), channel="mobile")
            if self.risk_devices and (not self.risk_phones or r.random() < 0.5):
                ev["device_id"] = r.choice(self.risk_devices)
            else:
                ev["phone"] = r.choice(self.risk_phones)
            self._emit_application(self._hour_time(r, day_start, range(8, 23)), ev, day, tag)
        elif v < 0.76 and self.disciplined_ids:
            # someone punished for selling accounts tries again
            ev = self._application(r, r.choice(("jobless", "worker")), channel="counter", age=r.randint(20, 40))
            ev["id_no"] = r.choice(self.disciplined_ids)
            self._emit_application(self._hour_time(r, day_start, range(9, 17)), ev, day, tag)
        elif v < 0.84:
            # a national of a country where cross-border fraud call centres operate
            ev = self._application(r, "freelance", city=r.choice(FRAUD_CITIES), age=r.randint(20, 35))
            ev["nationality"] = r.choice(HIGH_RISK_NATIONALITIES)
            ev["id_type"] = "passport"
            ev["id_no"] = f"{ev['nationality'][:1]}{r.randrange(10**8):08d}"
            ev["local_household"] = False
            ev["local_proof"] = False
            self._emit_application(self._hour_time(r, day_start, range(9, 17)), ev, day, tag)
        else:
            # a careful seller: an ordinary-looking young worker with his own phone
            ev = self._application(r, "worker", channel="mobile", age=r.randint(23, 30))
            ev["local_household"] = True
            ev.pop("local_proof", None)
            ev["purpose"] = "other"
            ev["apply_high_limit"] = True
            self._emit_application(self._hour_time(r, day_start, range(8, 23)), ev, day, tag)
