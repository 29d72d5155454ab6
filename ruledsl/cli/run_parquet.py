"""``ruledsl run --events FILE.parquet``: replay a Parquet file through ``Engine.evaluate_arrow``.

The file is read in record batches (string columns as dictionary arrays,
so each distinct key is decoded once per batch) and each batch goes through
every ruleset's ``evaluate_arrow`` in order.  Everything else is as for JSON
Lines (``ruledsl.cli.run.replay``): the same decision lines (``line`` is the
row number, from 1), ``label``/``scenario_id``/``warmup`` columns, warm-up,
``--skip-unknown-types``, rejected events counted and reported by row.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Optional

import msgspec

from ruledsl.cli.report import NORMAL_LABELS, LoadedRuleset, RunReport, flag_true
from ruledsl.kernels.values import EventError, parse_timestamp

BATCH_ROWS = 65_536
"""Rows per record batch read from the file."""


def is_parquet(path: Path) -> bool:
    """True for a file that ``run`` reads as Parquet (by its suffix)."""
    return path.suffix.lower() in (".parquet", ".pq")


def iter_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[Any]:
    """The record batches of a Parquet file, string columns dictionary-encoded.

    A file Arrow cannot read raises ``OSError`` (as an unreadable JSON Lines file does).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        with pq.ParquetFile(path, read_dictionary=strings) as pf:
            yield from pf.iter_batches(batch_size=batch_rows)
    except pa.ArrowException as err:
        raise OSError(f"not a readable Parquet file ({err})") from None


def _column(batch: Any, name: str, utc: bool) -> list:
    # a column's Python values (as a dict event would carry them), all None when the batch has no such column
    from ruledsl.runtime.arrow_decode import python_column

    names = batch.schema.names
    return python_column(batch.column(names.index(name)), utc) if name in names else [None] * batch.num_rows


def replay_arrow(
    rulesets: list[LoadedRuleset],
    batches: Iterator[Any],
    *,
    events_name: str = "<events>",
    out: Optional[IO[bytes]] = None,
    warmup_ms: Optional[int] = None,
    skip_unknown_types: bool = False,
) -> RunReport:
    """Evaluate Arrow record batches through every ruleset, in order; write decisions to ``out``.

    Never raises for a bad event: rejected events are counted in the report
    with their row number.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    report = RunReport(events_name, rulesets)
    encode = msgspec.json.Encoder().encode
    perf = time.perf_counter
    zone = rulesets[0].engine._zone if rulesets else _dt.timezone.utc
    utc = zone is _dt.timezone.utc
    warmup_until: Optional[int] = None
    pass_cache: dict[tuple[int, str], bytes] = {}
    buf: list[bytes] = []
    names_json = [encode(st.rs.name) for st in report.stats]
    began = perf()
    row0 = 0
    for batch in batches:
        n = batch.num_rows
        labels, sids, warms = (_column(batch, name, utc) for name in ("label", "scenario_id", "warmup"))
        ts_values = _column(batch, "ts", utc) if warmup_ms is not None else None
        types = _column(batch, "type", utc) if skip_unknown_types else None
        tails: list[bytes] = []
        meta: list[tuple[Optional[str], Optional[str], bool]] = []
        for i in range(n):
            label = labels[i]
            if label is not None:
                label = None if label in NORMAL_LABELS else str(label)
            sid = sids[i] if label is not None else None
            if label is not None:
                sid = f"{label}@{row0 + i + 1}" if sid is None else str(sid)
            warm = flag_true(warms[i])
            if ts_values is not None and not warm:
                try:
                    ts = parse_timestamp(ts_values[i], zone)
                except (TypeError, ValueError, OverflowError):
                    ts = None
                if ts is not None:
                    if warmup_until is None:
                        warmup_until = ts + warmup_ms  # type: ignore[operator]
                    warm = ts < warmup_until
            meta.append((label, sid, warm))
            tail = b""
            if out is not None and (warm or label is not None):
                tail = (b',"warmup":true' if warm else b"") + (
                    b',"label":' + encode(label) + b',"scenario_id":' + encode(sid) if label is not None else b""
                )
            tails.append(tail)
        written: list[list[Optional[bytes]]] = []  # per ruleset, per row: its decision line
        for st, name_json in zip(report.stats, names_json, strict=True):
            engine = st.rs.engine
            lines: list[Optional[bytes]] = [None] * n
            written.append(lines)
            rows = list(range(n))
            sub = batch
            if types is not None:
                known = set(engine.compiled.event_types)
                rows = [i for i in rows if not (type(types[i]) is str and types[i] not in known)]
                for i in range(n):
                    t = types[i]
                    if type(t) is str and t not in known:
                        st.skipped[t] += 1
                if len(rows) < n:
                    sub = batch.filter(pc.is_in(pa.array(range(n)), value_set=pa.array(rows)))
            t0 = perf()
            try:
                result = engine.evaluate_arrow(sub, errors="return")
            except Exception as err:  # a bug in the engine: report it, keep going
                st.seconds += perf() - t0
                st.internal_errors += 1
                st.reject(row0 + 1, f"internal error: {type(err).__name__}: {err}")
                continue
            st.seconds += perf() - t0
            decisions = result.decisions()
            for j, i in enumerate(rows):
                decision = decisions[j]
                line = row0 + i + 1
                if isinstance(decision, EventError):
                    st.reject(line, str(decision))
                    continue
                label, sid, warm = meta[i]
                if warm:
                    st.warmup += 1
                else:
                    st.record(decision, label, sid)
                if out is not None:
                    if not decision.rules and not decision.scores and not decision.late and decision.action == "pass":
                        key = (id(name_json), decision.event_type)
                        body = pass_cache.get(key)
                        if body is None:
                            body = pass_cache[key] = encode(decision)[1:-1]
                    else:
                        body = encode(decision)[1:-1]
                    lines[i] = b'{"line":%d,"ruleset":%s,%s%s}\n' % (line, name_json, body, tails[i])
        if out is not None:  # in row order, each row's rulesets in turn: as the JSON Lines replay writes them
            buf.extend(line for row in zip(*written, strict=True) for line in row if line is not None)
            out.write(b"".join(buf))
            buf.clear()
        row0 += n
    report.lines = row0
    report.seconds = perf() - began
    return report
