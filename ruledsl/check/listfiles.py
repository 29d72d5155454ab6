"""List files with attributes: CSV and JSON Lines (docs/language.md, "List files").

The format follows the file name's extension:

- ``.csv``: a header row naming the columns; ``value`` is required,
  ``category``, ``source`` and ``expires_at`` are optional, every other
  column is a free attribute (an empty cell: the entry does not have it);
- ``.jsonl`` / ``.ndjson``: one JSON object per line with ``value`` and
  optionally ``category``, ``source``, ``expires_at`` and ``attrs`` (an
  object of texts);
- anything else: one entry per line (``ruledsl.check.symbols.check_list_file``
  and ``ruledsl.runtime.lists.read_list_file``).

``expires_at`` is epoch milliseconds or an ISO 8601 time (without an offset:
in the ruleset's time zone); empty or null means never.  Blank lines are
skipped; when a value appears twice the later line wins.  A bad line raises
``ListFileError`` naming the file and line (and counting the other bad ones).
"""

from __future__ import annotations

import csv
import operator
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import msgspec

from ruledsl.kernels.listtable import ListTable, Meta, MetaInterner, earliest_expiry
from ruledsl.kernels.values import get_zone, parse_timestamp, to_decimal

RESERVED = ("value", "category", "source", "expires_at")
"""The columns (JSON keys) with a meaning; a CSV's other columns are free attributes."""

JSON_KEYS = frozenset({*RESERVED, "attrs"})

_INT = re.compile(r"-?\d{1,18}\Z")
_DECIMAL = re.compile(r"-?\d{1,14}(?:\.\d{1,4})?\Z")
_EPOCH_MS = re.compile(r"-?\d{1,16}\Z")


class ListFileError(ValueError):
    """A list file line that cannot be read: ``path``, ``line`` (1-based), the first problem, how many more."""

    def __init__(self, path: str, line: int, problem: str, more: int = 0):
        extra = f" (and {more} more bad line{'s' if more != 1 else ''})" if more else ""
        super().__init__(f"{path}:{line}: {problem}{extra}")
        self.path = path
        self.line = line
        self.problem = problem
        self.more = more


def file_format(path: str) -> str:
    """``csv``, ``jsonl`` or ``text``, by the file name's extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "text"


class EntryReader:
    """Converts one entry's fields to runtime values (shared by the file formats and ``update_list``)."""

    def __init__(self, type_name: str, enum_values: tuple[str, ...] = (), zone: str = "UTC"):
        self.type_name = type_name
        self.enum_values = frozenset(enum_values)
        self.zone = get_zone(zone)
        self.interner = MetaInterner()

    def value(self, raw: Any) -> Any:
        """An entry's value in its runtime form; ValueError saying what is wrong."""
        t = self.type_name
        if t in ("string", "enum"):
            if type(raw) is not str:
                raise ValueError(f"the value must be a text, not {_shown(raw)}")
            if t == "enum" and self.enum_values and raw not in self.enum_values:
                raise ValueError(f"`{raw[:40]}` is not one of the list's enum values")
            return raw
        if t == "int":
            if type(raw) is int:
                return raw
            if type(raw) is str and _INT.match(raw.strip()):
                return int(raw)
            raise ValueError(f"`{str(raw)[:40]}` is not a whole number")
        if t == "decimal":
            if type(raw) is str and not _DECIMAL.match(raw.strip()):
                raise ValueError(f"`{raw[:40]}` is not a decimal number (at most 4 places)")
            try:
                return to_decimal(raw.strip() if type(raw) is str else raw)
            except (TypeError, ValueError) as err:
                raise ValueError(f"`{str(raw)[:40]}` is not a decimal number ({err})") from None
        raise ValueError(f"lists of {t} are not supported")

    def expiry(self, raw: Any) -> Optional[int]:
        """``expires_at`` in epoch ms: an int, digits, or ISO 8601 text; empty/None: never."""
        if raw is None or raw == "":
            return None
        if type(raw) is str and _EPOCH_MS.match(raw.strip()):
            raw = int(raw)
        if type(raw) is bool:
            raise ValueError("expires_at must be epoch milliseconds or an ISO 8601 time, not a bool")
        try:
            return parse_timestamp(raw, self.zone)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"expires_at must be epoch milliseconds or an ISO 8601 time ({err})") from None

    def meta(self, category: Any, source: Any, expires_at: Any, attrs: Optional[dict[str, Any]] = None) -> Meta:
        """The shared meta tuple of these attributes (None when there are none)."""
        for what, v in (("category", category), ("source", source)):
            if v is not None and type(v) is not str:
                raise ValueError(f"{what} must be a text, not {_shown(v)}")
        pairs: tuple[tuple[str, str], ...] = ()
        if attrs:
            if not isinstance(attrs, dict):
                raise ValueError(f"attrs must be an object of texts, not {_shown(attrs)}")
            for k, v in attrs.items():
                if type(k) is not str or type(v) is not str:
                    raise ValueError(f"attribute {k!r}: attribute values must be texts, not {_shown(v)}")
            pairs = tuple(sorted((k, v) for k, v in attrs.items() if v != ""))
        return self.interner.meta(category or None, source or None, self.expiry(expires_at), pairs)


def read_table(path: str, type_name: str, enum_values: tuple[str, ...] = (), zone: str = "UTC") -> ListTable:
    """A CSV or JSON Lines list file as a ``ListTable``; ``ListFileError`` for a bad line."""
    reader = EntryReader(type_name, enum_values, zone)
    fmt = file_format(path)
    entries: dict[Any, Meta] = {}
    errors: list[tuple[int, str]] = []
    if fmt == "csv":
        fast = _csv_fast(path, reader)
        if fast is not None:
            return fast
    rows = _csv_rows(path, reader, errors) if fmt == "csv" else _jsonl_rows(path, reader, errors)
    for value, meta in rows:
        entries[value] = meta
    if errors:
        line, problem = errors[0]
        raise ListFileError(path, line, problem, len(errors) - 1)
    table = ListTable(type_name, (), earliest_expiry(entries.values()))
    table.update(entries)
    return table


def _open_text(path: str) -> Any:
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as err:
        raise ListFileError(path, 0, f"cannot read the file: {err.strerror or err}") from None


def _csv_rows(path: str, reader: EntryReader, errors: list[tuple[int, str]]) -> Iterator[tuple[Any, Meta]]:
    with _open_text(path) as fh:
        rows = csv.reader(fh)
        try:
            header = next(rows, None)
            while header is not None and not any(c.strip() for c in header):
                header = next(rows, None)
            if header is None:
                raise ListFileError(path, 1, "the file is empty: a CSV list needs a header row with a `value` column")
            names = [c.strip() for c in header]
            if "value" not in names:
                raise ListFileError(path, rows.line_num, f"the header row has no `value` column (it has {names})")
            dup = next((c for c in names if names.count(c) > 1), None)
            if dup is not None:
                raise ListFileError(path, rows.line_num, f"the header names column `{dup}` twice")
            at = {c: names.index(c) for c in RESERVED if c in names}
            iv = at["value"]
            ic, isrc, ie = at.get("category"), at.get("source"), at.get("expires_at")
            free = [(i, c) for i, c in enumerate(names) if c not in RESERVED]
            width = len(names)
            value = None if type_name_is_text(reader) else reader.value
            meta_cols = [i for i in (ic, isrc, ie) if i is not None] + [i for i, _c in free]
            pick = operator.itemgetter(*meta_cols) if meta_cols else None
            seen: dict[Any, Meta] = {}  # the cells of a row's attributes -> its meta: each distinct one parsed once
            for row in rows:
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # a blank line
                    errors.append((rows.line_num, f"{len(row)} cells where the header has {width}"))
                    continue
                try:
                    v = row[iv].strip()
                    if not v:
                        raise ValueError("the value is empty")
                    if value is not None:
                        v = value(v)
                    if pick is None:
                        yield v, None
                        continue
                    cells = pick(row)
                    m = seen.get(cells, seen)
                    if m is seen:
                        if len(seen) > 100_000:  # attributes that differ on every row: do not keep them all
                            seen.clear()
                        attrs = {c: row[i] for i, c in free if row[i] != ""} if free else None
                        m = seen[cells] = reader.meta(
                            row[ic] if ic is not None else None,
                            row[isrc] if isrc is not None else None,
                            row[ie].strip() if ie is not None else None,
                            attrs,
                        )
                    yield v, m  # type: ignore[misc]  # `seen` is the not-found sentinel, replaced above
                except ValueError as err:
                    errors.append((rows.line_num, str(err)))
        except csv.Error as err:
            errors.append((rows.line_num, f"not valid CSV: {err}"))
        except UnicodeDecodeError:
            errors.append((rows.line_num + 1, "not valid UTF-8"))


_JSON = msgspec.json.Decoder()


def _jsonl_rows(path: str, reader: EntryReader, errors: list[tuple[int, str]]) -> Iterator[tuple[Any, Meta]]:
    with _open_text(path) as fh:
        line_no = 0
        try:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = _JSON.decode(line)
                except msgspec.DecodeError as err:
                    errors.append((line_no, f"not a JSON object: {err}"))
                    continue
                if not isinstance(obj, dict):
                    errors.append((line_no, "not a JSON object"))
                    continue
                unknown = set(obj) - JSON_KEYS
                if unknown:
                    errors.append((line_no, f"unknown key(s) {sorted(unknown)} (keys: {sorted(JSON_KEYS)})"))
                    continue
                if "value" not in obj:
                    errors.append((line_no, "no `value`"))
                    continue
                try:
                    v = reader.value(obj["value"])
                    yield (
                        v,
                        reader.meta(obj.get("category"), obj.get("source"), obj.get("expires_at"), obj.get("attrs")),
                    )
                except ValueError as err:
                    errors.append((line_no, str(err)))
        except UnicodeDecodeError:
            errors.append((line_no + 1, "not valid UTF-8"))


def _csv_fast(path: str, reader: EntryReader) -> Optional[ListTable]:
    """The CSV read by pyarrow (columns, several threads): about ten times the ``csv`` module's speed.

    Anything unusual - a header not on line 1, a line with the wrong number
    of cells, quoted line breaks, a value that does not convert, a bad
    expiry - returns None, and the line-by-line reader finds the line to
    report.  The result is the same table either way.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not header:
        return None
    names = [c.strip() for c in header]
    if "value" not in names or len(set(names)) != len(names):
        return None
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pcsv.ParseOptions(newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, OSError, UnicodeDecodeError):
        return None
    values = pc.utf8_trim_whitespace(table.column("value"))
    if len(values) and pc.min(pc.utf8_length(values)).as_py() == 0:
        return None  # an empty value: reported with its line by the slow path
    pyvalues = values.to_pylist()
    if reader.type_name != "string":
        try:
            pyvalues = [reader.value(v) for v in pyvalues]
        except ValueError:
            return None
    meta_cols = [c for c in names if c != "value"]
    out = ListTable(reader.type_name, (), None)
    if not meta_cols:
        out.update(dict.fromkeys(pyvalues))
        out.first_exp = earliest_expiry(())
        return out
    # one code per row for its combination of attribute cells, then one meta per distinct combination
    codes = np.zeros(len(values), dtype=np.int64)
    dictionaries: list[list[Any]] = []
    indices: list[Any] = []
    for c in meta_cols:
        enc = pc.dictionary_encode(table.column(c)).combine_chunks()
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        dictionaries.append(enc.dictionary.to_pylist())
        indices.append(idx)
        codes = codes * max(len(dictionaries[-1]), 1) + idx
        if len(dictionaries[-1]) > 1 << 20:  # keep the mixed radix inside 64 bits: renumber densely
            _u, codes = np.unique(codes, return_inverse=True)
    uniq, first_row, inverse = np.unique(codes, return_index=True, return_inverse=True)
    metas: list[Meta] = []
    for row in first_row.tolist():
        cells = {c: dictionaries[j][indices[j][row]] for j, c in enumerate(meta_cols)}
        attrs = {c: v for c, v in cells.items() if c not in RESERVED and v != ""}
        try:
            metas.append(
                reader.meta(
                    cells.get("category"),
                    cells.get("source"),
                    (cells.get("expires_at") or "").strip(),
                    attrs or None,
                )
            )
        except ValueError:
            return None
    del uniq, codes, indices
    out.update(dict(zip(pyvalues, map(metas.__getitem__, inverse.tolist()), strict=True)))  # then a dict-to-dict copy
    out.first_exp = earliest_expiry(metas)
    return out


def type_name_is_text(reader: EntryReader) -> bool:
    """Whether the list's entries are texts taken as written (no conversion per entry)."""
    return reader.type_name == "string"


def _shown(v: Any) -> str:
    return "null" if v is None else type(v).__name__
