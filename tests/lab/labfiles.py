"""Test files of the lab's tests: events as Parquet (imported by name, beside the tests)."""

from __future__ import annotations

from pathlib import Path


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
