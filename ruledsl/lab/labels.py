"""Labels in their own file, joined to the replayed events by the lab.

A bank's confirmed-fraud list never lives inside its event feed, so labels
come in a separate CSV (UTF-8, with a header) or Parquet file with three
columns:

- the **key**: one column named after the event field it matches.  Named
  like the id field (``--id-field``, default ``event_id``) it labels single
  events; named after any other field (``account_no``, ``customer_id``,
  ``card_no`` ...) it labels *entities*: every event whose field has that
  value is an event of a labelled entity;
- ``label``: the fraud type (``mule_account``, ``fraud`` ...); ``normal``,
  ``0``, ``false`` or empty mark a row as confirmed normal (counted, never
  fraud);
- ``label_date`` (or ``date``), optional: when the fraud was confirmed, a
  date ``YYYY-MM-DD`` (its midnight in the ruleset's time zone: a warning on
  the label day itself does not count as "before"), an ISO 8601 timestamp or
  epoch milliseconds.  Without it, any warning counts as before.

A key listed twice keeps its earliest fraud date.  Without a labels file the
events' own ``label`` fields are used when they have them (as generated
traffic does; ``ruledsl.sim``).  ``python -m ruledsl.lab.labels`` turns those
into a labels file (``extract_labels``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from ruledsl.kernels.values import parse_timestamp
from ruledsl.lab import LabError
from ruledsl.lab.readers import Chunk, ReadStats, check_inputs, iter_chunks, sniff

NORMAL_LABELS = frozenset({"", "normal", "0", "false", "False", "none"})
"""Label values that mark a row as normal, not fraud."""
DATE_COLUMNS = ("label_date", "date")


class Labels:
    """Fraud labels to join to events: by event id, by entity key, or the events' own ``label`` field.

    ``kind`` is ``"event"``, ``"entity"`` or ``"inline"``.  ``field`` is the
    event field the keys match (for ``inline`` None); ``entity_field`` the
    field that names an event's entity (for ``entity`` labels the key field
    itself).  ``fraud`` maps each fraud key to its label date (epoch ms or
    None), ``names`` to its label.
    """

    def __init__(
        self,
        kind: str,
        field: Optional[str],
        entity_field: str,
        fraud: Optional[dict[str, Optional[int]]] = None,
        names: Optional[dict[str, str]] = None,
        normal: int = 0,
        source: str = "",
    ) -> None:
        self.kind = kind
        self.field = field
        self.entity_field = entity_field
        self.fraud = fraud or {}
        self.names = names or {}
        self.normal = normal
        self.source = source

    def fraud_rows(self, chunk: Chunk) -> tuple[list[int], list]:
        """(the indices of the chunk's fraud events, the column their keys are in).

        The column is the key field's (the ``label`` field's for inline
        labels): ``label_for`` and ``date_for`` take its values.
        """
        if self.kind == "inline":
            labels = chunk.column("label")
            return [
                i for i, v in enumerate(labels) if v is not None and v is not False and str(v) not in NORMAL_LABELS
            ], labels
        assert self.field is not None
        fraud = self.fraud
        keys = chunk.column(self.field)
        return [i for i, k in enumerate(keys) if k is not None and (k if type(k) is str else str(k)) in fraud], keys

    def label_for(self, key: Any) -> str:
        """The label of a fraud event, from its value in the ``fraud_rows`` column."""
        if self.kind == "inline":
            return str(key)
        return self.names.get(key if type(key) is str else str(key), "fraud")

    def date_for(self, key: Any) -> Optional[int]:
        """The label date (epoch ms) of a fraud event, from its value in the ``fraud_rows`` column; or None."""
        if self.kind == "inline":
            return None
        return self.fraud.get(key if type(key) is str else str(key))

    def describe(self) -> dict:
        """What was joined, for the report."""
        return {
            "source": self.source or "the events' own label field",
            "kind": self.kind,
            "key_field": self.field,
            "entity_field": self.entity_field,
            "fraud_keys": len(self.fraud) if self.kind != "inline" else None,
            "normal_keys": self.normal if self.kind != "inline" else None,
        }


def parse_label_date(value: Any, zone: _dt.tzinfo) -> Optional[int]:
    """A ``label_date`` value -> epoch ms (a date is its midnight in ``zone``); None when empty."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return parse_timestamp(value, zone)
    if isinstance(value, _dt.date):
        return parse_timestamp(_dt.datetime(value.year, value.month, value.day), zone)
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_timestamp(value, zone)
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return parse_timestamp(int(text), zone)
    if len(text) == 10:
        day = _dt.date.fromisoformat(text)
        return parse_timestamp(_dt.datetime(day.year, day.month, day.day), zone)
    return parse_timestamp(text, zone)


def _rows_of(path: Path, shown: str) -> tuple[list[str], list[tuple[int, dict]]]:
    # (columns, [(line or row number, row)]) of a CSV or Parquet labels file
    if sniff(path) == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as err:
            raise LabError(f"labels file {shown}: not a readable Parquet file ({err})") from None
        return list(table.schema.names), list(enumerate(table.to_pylist(), 1))
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            reader.fieldnames = columns
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError:
        raise LabError(f"labels file {shown}: not UTF-8 text (a CSV file with a header, or Parquet)") from None
    except csv.Error as err:
        raise LabError(f"labels file {shown}: not a readable CSV file ({err})") from None
    except OSError as err:
        raise LabError(f"cannot read labels file {shown}: {err.strerror or err}") from None
    return columns, rows


def read_labels(
    path: Path, zone: _dt.tzinfo, *, id_field: str = "event_id", entity_field: str = "customer_id"
) -> Labels:
    """Read a labels file (CSV or Parquet); ``LabError`` naming the file, line and problem on bad input.

    ``entity_field`` names the entity of event labels (whose warnings count
    for "warned before the label date"); entity labels use their key field.
    """
    (path,) = check_inputs([path], "labels file")
    shown = str(path)
    columns, rows = _rows_of(path, shown)
    if "label" not in columns:
        raise LabError(f"labels file {shown}: no `label` column (columns: {', '.join(columns) or 'none'})")
    date_col = next((c for c in DATE_COLUMNS if c in columns), None)
    keys = [c for c in columns if c not in ("label", *DATE_COLUMNS) and c]
    if len(keys) != 1:
        raise LabError(
            f"labels file {shown}: expected one key column (`{id_field}` for events, or an entity field such as "
            f"account_no) besides label and label_date, found {', '.join(keys) or 'none'}"
        )
    key_field = keys[0]
    kind = "event" if key_field == id_field else "entity"
    fraud: dict[str, Optional[int]] = {}
    names: dict[str, str] = {}
    normal = 0
    for line, row in rows:
        key = row.get(key_field)
        if key is None or str(key).strip() == "":
            raise LabError(f"labels file {shown}:{line}: empty `{key_field}`")
        key = str(key).strip()
        raw_label = row.get("label")
        label = "" if raw_label is None else str(raw_label).strip()
        if label in NORMAL_LABELS:
            normal += 1
            continue
        date = None
        if date_col is not None:
            try:
                date = parse_label_date(row.get(date_col), zone)
            except (TypeError, ValueError, OverflowError):
                raise LabError(
                    f"labels file {shown}:{line}: bad {date_col} {row.get(date_col)!r}: expected a date YYYY-MM-DD, "
                    "an ISO 8601 timestamp or epoch milliseconds"
                ) from None
        if key in fraud:
            old = fraud[key]
            if old is None or (date is not None and date >= old):
                continue
        fraud[key] = date
        names[key] = label
    return Labels(
        kind,
        key_field,
        key_field if kind == "entity" else entity_field,
        fraud,
        names,
        normal,
        shown,
    )


# ---------------------------------------------------------------- from generated traffic


def extract_labels(
    paths: Sequence[Path], by: str, out: Path, *, zone: _dt.tzinfo, delay_days: int = 1
) -> tuple[int, int]:
    """Write a labels file from events that carry their own ``label`` (generated traffic).

    One row per entity (field ``by``) with a labelled event: its label and
    a label date ``delay_days`` after the day of its last labelled event (a
    confirmation comes after the fraud).  CSV, or Parquet when ``out`` ends in
    ``.parquet``.  Returns (rows written, labelled events seen).
    """
    found: dict[str, list] = {}  # key -> [label, last ts]
    seen = 0
    stats = ReadStats()
    for chunk in iter_chunks(paths, stats):
        labels = chunk.column("label")
        hits = [i for i, v in enumerate(labels) if v is not None and str(v) not in NORMAL_LABELS]
        if not hits:
            continue
        keys = chunk.column(by)
        ts = chunk.column("ts")
        for i in hits:
            seen += 1
            key = keys[i]
            if key is None:
                continue
            try:
                t = parse_timestamp(ts[i], zone)
            except (TypeError, ValueError, OverflowError):
                continue
            entry = found.setdefault(str(key), [str(labels[i]), t])
            entry[1] = max(entry[1], t)
    rows = []
    for key, (label, last) in sorted(found.items()):
        day = _dt.datetime.fromtimestamp(last / 1000, zone).date() + _dt.timedelta(days=delay_days)
        rows.append({by: key, "label": label, "label_date": day.isoformat()})
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([(by, pa.string()), ("label", pa.string()), ("label_date", pa.string())])
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), out)
        else:
            with open(out, "w", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=[by, "label", "label_date"])
                writer.writeheader()
                writer.writerows(rows)
    except OSError as err:
        raise LabError(f"cannot write {out}: {err.strerror or err}") from None
    return len(rows), seen


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m ruledsl.lab.labels EVENTS... --by FIELD --out FILE``: labels of generated traffic, apart."""
    from ruledsl.kernels.values import get_zone

    p = argparse.ArgumentParser(
        prog="python -m ruledsl.lab.labels",
        description="Write the fraud labels carried by generated events (ruledsl.sim) to their own file, "
        "one row per entity, for `ruledsl backtest --labels`.",
    )
    p.add_argument("events", nargs="+", type=Path, help="JSON Lines (plain or gzip) or Parquet files")
    p.add_argument("--by", default="customer_id", help="the entity field (default customer_id)")
    p.add_argument("--out", required=True, type=Path, help="labels file to write (.csv or .parquet)")
    p.add_argument("--delay-days", type=int, default=1, help="label date: days after the last fraud event (1)")
    p.add_argument("--timezone", default="Asia/Shanghai", help="zone of the label dates (Asia/Shanghai)")
    args = p.parse_args(argv)
    try:
        n, seen = extract_labels(
            args.events, args.by, args.out, zone=get_zone(args.timezone), delay_days=args.delay_days
        )
    except (LabError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{n} labelled entities ({args.by}) from {seen} labelled events -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
