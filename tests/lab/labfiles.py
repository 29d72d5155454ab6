"""The replay lab's test data: a small ruleset, a hand-made stream with known answers, Parquet files.

Imported by name (``from labfiles import ...``) beside the tests; ``conftest.py`` makes fixtures of it.

The ruleset (``lab_test``, UTC, holds time out after 2 h) has two rules on
``transfer``: ``big`` (amount >= ``large`` = 1000: alert) and ``huge_hold``
(amount >= ``huge`` = 5000: hold).  The stream, ten events on 2026-01-01
one hour apart from 00:00 UTC:

====  =====  ========  =======  ======  ========================
id    hour   customer  account  amount  decision
====  =====  ========  =======  ======  ========================
e1    00     C1        A1       100     pass
e2    01     C1        A1       2000    alert (big)
e3    02     C2        A2       6000    hold (big, huge_hold)
e4    03     C3        A3       50      pass
e5    04     C3        A3       1500    alert (big)
e6    05     C4        A4       10      pass
e7    06     C2        A2       7000    hold (big, huge_hold)
e8    07     C5        A5       20      pass
e9    08     C4        A4       30      pass
e10   09     C5        A5       1200    alert (big)
====  =====  ========  =======  ======  ========================

``ENTITY_LABELS`` (by account_no): A2 fraud dated 2026-01-02, A4 fraud
2026-01-02 (never alerted), A5 fraud dated 2026-01-01 (its alert at 09:00 on
the label day is not "before"), A1 confirmed normal, A9 fraud but absent.
"""

from __future__ import annotations

from pathlib import Path

RULESET = """\
ruleset lab_test {
  timezone "UTC"
  hold_timeout 2h
}

event transfer {
  customer_id: string
  account_no: string
  amount: decimal
}

param large: decimal = 1000.00
param huge: decimal = 5000.00

rule big {
  reason "large transfer"
  code "T-1"
  on transfer
  when amount >= large
  action alert
}

rule huge_hold {
  reason "very large transfer"
  code "T-2"
  on transfer
  when amount >= huge
  action hold
}
"""

ROWS = [
    ("e1", 0, "C1", "A1", "100.00"),
    ("e2", 1, "C1", "A1", "2000.00"),
    ("e3", 2, "C2", "A2", "6000.00"),
    ("e4", 3, "C3", "A3", "50.00"),
    ("e5", 4, "C3", "A3", "1500.00"),
    ("e6", 5, "C4", "A4", "10.00"),
    ("e7", 6, "C2", "A2", "7000.00"),
    ("e8", 7, "C5", "A5", "20.00"),
    ("e9", 8, "C4", "A4", "30.00"),
    ("e10", 9, "C5", "A5", "1200.00"),
]

ENTITY_LABELS = """\
account_no,label,label_date
A2,mule_account,2026-01-02
A4,fraud,2026-01-02
A5,fraud,2026-01-01
A1,normal,
A9,fraud,2026-01-01
"""


def hand_events() -> list[dict]:
    """The hand-made stream as event dicts (with an ``event_id`` the engine ignores)."""
    return [
        {
            "type": "transfer",
            "event_id": eid,
            "ts": f"2026-01-01T{hour:02d}:00:00Z",
            "customer_id": cust,
            "account_no": acct,
            "amount": amount,
        }
        for eid, hour, cust, acct, amount in ROWS
    ]


def write_parquet(events: list[dict], path: Path, zone: str = "Asia/Shanghai") -> None:
    """Events as a Parquet file the way a bank's export would type them: ts and timestamps as int64 epoch ms,
    amounts as decimal128, strings as strings; a field an event lacks is null."""
    import decimal
    import zoneinfo

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ruledsl.kernels.values import parse_timestamp

    tz = zoneinfo.ZoneInfo(zone)
    names: list[str] = []
    for e in events:
        names.extend(k for k in e if k not in names)
    arrays = {}
    for name in names:
        values = [e.get(name) for e in events]
        if name in ("ts", "opened_at"):
            arrays[name] = pa.array([None if v is None else parse_timestamp(v, tz) for v in values], pa.int64())
        elif name in ("amount", "balance"):
            arrays[name] = pa.array([None if v is None else decimal.Decimal(v) for v in values], pa.decimal128(18, 2))
        else:
            arrays[name] = pa.array(values)
    pq.write_table(pa.table(arrays), path)
