"""Decoding a columnar batch (Arrow, or Python lists) into the row functions' arguments.

``Engine.evaluate_arrow`` decodes whole columns at once with Arrow's own
kernels and then calls the generated row function (``Engine.row_functions``)
once per row.  The decoding must accept and refuse exactly what the per-event
(dict) path accepts and refuses, with the same ``EventError``; it does that in
two tiers:

- the fast tier, per column and field type (once per batch, shared by the
  event types with that field), then each event type takes its rows:
  strings and enums from dictionary arrays (a plain string column is
  dictionary-encoded first, in C; the dictionary is turned into Python once
  and indexed per row), integers, floats and bools cast and range-checked with
  ``pyarrow.compute``, decimals from ``decimal128``/``decimal256`` (rounded half
  to even to 4 places and read as scaled int64 exactly: no float round trip),
  from integers and from floats (the dict path's rule: a float within 1e-6 of
  a whole number of units is rounded, the rest goes through its text);
  timestamps from integer or Arrow timestamp columns of any unit (floored to
  the millisecond, as the dict path floors a ``datetime``);
- the slow tier for anything else (an Arrow type the fast tier does not take,
  e.g. ISO timestamps as text or decimals as text, or a Python list that mixes
  types): the column's Python values run the generated code's own tests and
  converters, value by value.

A value either tier finds wrong marks its row *bad*: the row is handed, as
a dict of its Python values, to the engine's dict path, which raises the
exact ``EventError`` (or evaluates it, if the check here was stricter than
needed: never a different answer).  The row stays in its place, so state
changes in row order.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ruledsl.kernels.values import (
    DECIMAL_LIMIT,
    INT_MAX,
    INT_MIN,
    SCALE,
    SCALED_LIMIT,
    TS_MAX,
    TS_MIN,
    EventError,
)

Column = Union[pa.Array, list]
"""A decoded batch's column: an Arrow array, or a Python list (``evaluate_columns`` with mixed values)."""

_UNIT_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}
"""Timestamp unit -> (multiply, floor-divide) to epoch milliseconds."""

_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)


# ---------------------------------------------------------------- columns in


def python_column(arr: Column, utc: bool) -> list:
    """The Python values a dict event would carry for ``arr``'s rows (None where null).

    Arrow timestamps become epoch milliseconds (floored); without a time zone
    they are wall-clock times, given as naive ``datetime`` (read in the
    ruleset's zone by the dict path) unless the zone is UTC (``utc``).
    """
    if isinstance(arr, list):
        return arr
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_timestamp(t):
        ms = _timestamp_ms(arr)
        values = ms.to_pylist()
        if t.tz is None and not utc:
            return [None if v is None else _EPOCH_NAIVE + _dt.timedelta(milliseconds=v) for v in values]
        return values
    return texts(arr) if _BINARY_OF.get(t) is not None else arr.to_pylist()


_BINARY_OF = {
    pa.string(): pa.binary(),
    pa.large_string(): pa.large_binary(),
    **({pa.string_view(): pa.binary_view()} if hasattr(pa, "string_view") else {}),
}
"""A string type -> the binary type with the same layout (a cast that never validates)."""


def texts(arr: pa.Array) -> list:
    """The ``str`` values of a string array (None where null), a value that is not valid UTF-8 as its ``bytes``.

    Arrow does not validate UTF-8 on every path in (Parquet byte arrays, a
    binary buffer viewed as string): such a value is not text, and the dict
    path refuses ``bytes`` for a string or enum field by name.
    """
    try:
        return arr.to_pylist()
    except UnicodeDecodeError:
        return [v if v is None else _text_or_bytes(v) for v in arr.cast(_BINARY_OF[arr.type]).to_pylist()]


def _text_or_bytes(raw: bytes) -> Any:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _timestamp_ms(arr: pa.Array) -> pa.Array:
    # the raw int64 of a timestamp column, floored to milliseconds (Arrow's integer divide truncates)
    mul, div = _UNIT_MS[arr.type.unit]
    raw = arr.view(pa.int64())
    if mul != 1:
        # beyond +-2**53 s no timestamp is in range: clamp first so the multiply cannot wrap
        raw = pc.min_element_wise(pc.max_element_wise(raw, -(2**53)), 2**53)
        return pc.multiply(raw, mul)
    if div == 1:
        return raw
    q = pc.divide(raw, div)
    return pc.if_else(pc.less(pc.subtract(raw, pc.multiply(q, div)), 0), pc.subtract(q, 1), q)


def faithful_array(values: Sequence[Any]) -> Column:
    """A Python column as an Arrow array when that keeps every value and its type, else the list itself.

    Only columns of one type among str, bool, int (64-bit) and float (with
    None) are converted: Arrow's own inference would turn ``[1.5, 2]`` into
    floats, and the dict path refuses ``2.0`` where it accepts ``2``.
    """
    values = list(values)
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    arrow_type = {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64()}.get(
        kinds.pop() if len(kinds) == 1 else None  # type: ignore[arg-type]
    )
    if arrow_type is None:
        return values
    try:
        return pa.array(values, type=arrow_type, from_pandas=False)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return values


# ---------------------------------------------------------------- the fast tier


class Decoded:
    """One column decoded for one field type, and which rows are wrong or null.

    The values stay columnar until an event type takes its rows (``rows``):
    a Python list (the slow tier), an Arrow array of runtime values (int64
    timestamps and scaled decimals, float64, bool), or dictionary indices
    into a list of decoded entries (strings, enums).
    """

    __slots__ = ("arrow", "bad", "entries", "indices", "nulls", "values")

    def __init__(
        self,
        bad: Optional[pa.Array],
        nulls: Optional[pa.Array],
        *,
        values: Optional[list] = None,
        arrow: Optional[pa.Array] = None,
        indices: Optional[pa.Array] = None,
        entries: Optional[np.ndarray] = None,
    ):
        self.bad = bad  # BooleanArray: a value present but refused (None: none is)
        self.nulls = nulls  # BooleanArray: no value (None: every row has one)
        self.values = values
        self.arrow = arrow
        self.indices = indices  # null-free: a null row points at the last entry, None
        self.entries = entries

    def rows(self, positions: Optional[pa.Array], pos_list: list[int]) -> Sequence[Any]:
        """The values of the rows ``positions`` (all rows when None), as Python objects."""
        if self.values is not None:
            if positions is None:
                return self.values
            if len(pos_list) <= 1:
                return [self.values[p] for p in pos_list]
            return itemgetter(*pos_list)(self.values)
        if self.arrow is not None:
            arr = self.arrow if positions is None else self.arrow.take(positions)
            if arr.null_count or not (pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type)):
                return arr.to_pylist()
            return arr.to_numpy(zero_copy_only=False).tolist()  # the same ints and bools, made faster
        indices, entries = self.indices, self.entries
        if indices is None or entries is None:
            raise RuntimeError("a decoded column without values")  # an internal invariant, not input checking
        codes = indices if positions is None else indices.take(positions)
        # the entries indexed in C: no Python int per row (to_pylist + map costs ~4x as much)
        return entries[codes.to_numpy(zero_copy_only=False)].tolist()


class FieldDecoder:
    """Decodes a column as one field type (``string``, ``decimal``, ``enum`` of some values ...).

    Shared by the event types that have a field of that name and type: which
    rows are refused for a *required* field's nulls is decided per event type.
    """

    def __init__(self, event: str, spec: Any, converters: Mapping[str, Callable[..., Any]], utc: bool):
        self.event = event
        self.name = spec.name
        self.type = "timestamp" if spec.name == "ts" else spec.type
        self.enum_values = frozenset(spec.enum_values)
        self.enum_tuple = tuple(spec.enum_values)
        self.utc = utc
        self._check = _python_check(self, converters)

    def decode(self, col: Column) -> Decoded:
        """The runtime values of every row of ``col`` (None where null), wrong and null rows marked."""
        if isinstance(col, list):
            return self.slow(col)
        t = col.type
        if pa.types.is_dictionary(t):
            return self._dictionary(col)
        if self.type in ("string", "enum") and (pa.types.is_string(t) or pa.types.is_large_string(t)):
            return self._dictionary(pc.dictionary_encode(col))  # repeated keys become one str object each
        fast = _FAST.get(self.type)
        try:
            result = fast(self, col) if fast is not None else None
        except (pa.ArrowException, OverflowError, ValueError, TypeError):  # an Arrow type it cannot take after all
            result = None
        if result is None:
            return self.slow(python_values(col, self.utc))
        values, bad = result
        nulls = pc.is_null(col) if col.null_count else None
        if isinstance(values, list):
            return Decoded(_mask(bad), nulls, values=values)
        return Decoded(_mask(bad), nulls, arrow=values)

    def _dictionary(self, col: pa.Array) -> Decoded:
        # decode the dictionary once (its entries are the distinct values), then index it per row
        d = col.dictionary
        if len(d) > 2 * len(col) + 64:  # a slice of a batch with a larger dictionary: decode only what it uses
            col = pc.dictionary_encode(col.dictionary_decode())
            d = col.dictionary
        if self.type in ("string", "enum") and (pa.types.is_string(d.type) or pa.types.is_large_string(d.type)):
            entries = self._strings(d)
        else:
            entries = self.decode(d)
        values = list(entries.rows(None, []))
        idx = col.indices
        values.append(None)
        codes = idx.fill_null(len(values) - 1) if idx.null_count else idx
        bad = None
        if entries.bad is not None:
            bad = pc.is_in(idx, value_set=pc.indices_nonzero(entries.bad).cast(idx.type)).fill_null(False)
        nulls = pc.is_null(idx) if idx.null_count else None
        if entries.nulls is not None:  # null entries in the dictionary
            null_entries = pc.is_in(idx, value_set=pc.indices_nonzero(entries.nulls).cast(idx.type)).fill_null(False)
            nulls = pc.or_(nulls, null_entries) if nulls is not None else null_entries
        entries_array = np.fromiter(values, dtype=object, count=len(values))
        return Decoded(_mask(bad), _mask(nulls), indices=codes, entries=entries_array)

    def _strings(self, arr: pa.Array) -> Decoded:
        bad = None
        if self.type == "enum":
            allowed = pa.array(self.enum_tuple, arr.type)
            bad = pc.and_(pc.invert(pc.is_in(arr, value_set=allowed)), pc.is_valid(arr))
        values = texts(arr)
        if any(type(v) is bytes for v in values):  # invalid UTF-8 (rare): those rows go to the dict path
            not_text = pa.array([type(v) is bytes for v in values], pa.bool_())
            bad = not_text if bad is None else pc.or_(bad, not_text)
        return Decoded(_mask(bad), pc.is_null(arr) if arr.null_count else None, values=values)

    def slow(self, values: list) -> Decoded:
        """The slow tier: the generated code's test and converter, value by value."""
        check = self._check
        out: list = []
        bad: Optional[list[bool]] = None
        nulls = False
        for i, v in enumerate(values):
            if v is None:
                out.append(None)
                nulls = True
                continue
            try:
                out.append(check(v))
            except Exception:  # EventError, or anything else (unhashable...): the dict path explains it
                out.append(None)
                bad = bad or [False] * len(values)
                bad[i] = True
        return Decoded(
            pa.array(bad, pa.bool_()) if bad is not None else None,
            pa.array([v is None for v in values], pa.bool_()) if nulls else None,
            values=out,
        )


def _mask(mask: Optional[pa.Array]) -> Optional[pa.Array]:
    """A boolean mask with nulls as False; None when no row is True."""
    if mask is None:
        return None
    if mask.null_count:
        mask = mask.fill_null(False)
    return mask if pc.any(mask).as_py() else None


def _python_check(dec: FieldDecoder, cv: Mapping[str, Callable[..., Any]]) -> Callable[[Any], Any]:
    # the generated code's fast test and slow converter for one field (emit._FIELD_CHECK, _field_check)
    event, name, kind = dec.event, dec.name, dec.type
    if kind == "string":
        conv = cv["_cv_str"]
        return lambda v: v if type(v) is str else conv(event, name, v)
    if kind in ("int", "duration"):
        conv = cv["_cv_int"]
        return lambda v: v if type(v) is int and INT_MIN <= v <= INT_MAX else conv(event, name, v)
    if kind == "float":
        conv = cv["_cv_float"]
        top = 1.7976931348623157e308
        return lambda v: v if type(v) is float and -top <= v <= top else conv(event, name, v)
    if kind == "bool":
        conv = cv["_cv_bool"]
        return lambda v: v if type(v) is bool else conv(event, name, v)
    if kind == "decimal":
        conv = cv["_cv_dec"]
        return lambda v: v * SCALE if type(v) is int and -DECIMAL_LIMIT < v < DECIMAL_LIMIT else conv(event, name, v)
    if kind == "timestamp":
        conv = cv["_cv_ts"]
        return lambda v: v if type(v) is int and TS_MIN <= v < TS_MAX else conv(event, name, v)
    if kind == "enum":
        conv, allowed, values = cv["_cv_enum"], dec.enum_values, dec.enum_tuple
        return lambda v: v if type(v) is str and v in allowed else conv(event, name, v, values)
    raise ValueError(f"no decoder for field type {kind!r}")


def _out_of(arr: pa.Array, lo: Any, hi: Any) -> pa.Array:
    """True where ``arr`` is outside ``[lo, hi]`` (null where null)."""
    return pc.or_(pc.less(arr, lo), pc.greater(arr, hi))


def _ints(dec: FieldDecoder, col: pa.Array) -> Optional[tuple[Any, Optional[pa.Array]]]:
    t = col.type
    if not pa.types.is_integer(t):
        return None
    bad = None
    if t == pa.uint64():
        bad = pc.greater(col, pa.scalar(INT_MAX, pa.uint64()))
        col = pc.if_else(bad, pa.scalar(0, pa.uint64()), col)
    return col.cast(pa.int64()), bad


def _floats(dec: FieldDecoder, col: pa.Array) -> Optional[tuple[Any, Optional[pa.Array]]]:
    t = col.type
    if pa.types.is_floating(t):
        col = col.cast(pa.float64())
        return col, pc.invert(pc.is_finite(col))
    if pa.types.is_integer(t):  # the dict path turns an int into the nearest float
        return col.cast(pa.float64(), safe=False), None
    return None


def _bools(dec: FieldDecoder, col: pa.Array) -> Optional[tuple[Any, Optional[pa.Array]]]:
    if not pa.types.is_boolean(col.type):
        return None
    return col, None


def _timestamps(dec: FieldDecoder, col: pa.Array) -> Optional[tuple[Any, Optional[pa.Array]]]:
    t = col.type
    if pa.types.is_integer(t):
        if t == pa.uint64():
            col = pc.min_element_wise(col, pa.scalar(INT_MAX, pa.uint64()))
        ms = col.cast(pa.int64())
    elif pa.types.is_timestamp(t):
        if t.tz is None and not dec.utc:
            return None  # wall-clock times in the ruleset's zone: the slow tier reads them as the dict path does
        ms = _timestamp_ms(col)
    else:
        return None
    bad = _out_of(ms, TS_MIN, TS_MAX - 1)
    return ms, bad


def _decimals(dec: FieldDecoder, col: pa.Array) -> Optional[tuple[Any, Optional[pa.Array]]]:
    t = col.type
    if pa.types.is_integer(t):
        if t == pa.uint64():
            col = pc.min_element_wise(col, pa.scalar(INT_MAX, pa.uint64()))
        ints = col.cast(pa.int64())
        bad = _out_of(ints, -DECIMAL_LIMIT + 1, DECIMAL_LIMIT - 1)
        return pc.multiply(pc.if_else(bad, 0, ints), SCALE), bad
    if pa.types.is_floating(t):
        return _float_decimals(dec, col.cast(pa.float64()))
    if pa.types.is_decimal(t):
        try:
            return _decimal_decimals(col)
        except pa.ArrowException:  # a type the exact conversion cannot take: the slow tier reads it
            return None
    return None


def _float_decimals(dec: FieldDecoder, col: pa.Array) -> tuple[Any, Optional[pa.Array]]:
    # kernels.values._to_decimal: below 1e9 a float within 1e-6 of a whole number of units is rounded
    # (half to even); the others are read from their shortest text, value by value (few in practice)
    finite = pc.is_finite(col)
    scaled = pc.multiply(col, float(SCALE))
    rounded = pc.round(scaled, 0, round_mode="half_to_even")
    fast = pc.and_(
        pc.and_(finite, pc.less(pc.abs(col), 1e9)), pc.less(pc.abs(pc.subtract(scaled, rounded)), 1e-6)
    ).fill_null(False)
    values = pc.if_else(fast, rounded, pa.scalar(None, pa.float64())).cast(pa.int64())
    if pc.all(pc.or_(fast, pc.is_null(col))).as_py():
        return values, None
    listed, fast_list, raw = values.to_pylist(), fast.to_pylist(), col.to_pylist()
    bad: Optional[list[bool]] = None
    check = dec._check
    for i, ok in enumerate(fast_list):
        if ok or raw[i] is None:
            continue
        try:
            listed[i] = check(raw[i])
        except EventError:
            bad = bad or [False] * len(raw)
            bad[i] = True
    return listed, pa.array(bad, pa.bool_()) if bad is not None else None


def _decimal_decimals(col: pa.Array) -> tuple[pa.Array, Optional[pa.Array]]:
    # exact: round half to even to 4 places, rescale to 4, read the unscaled integer as int64
    t = col.type
    bad = None
    if t.precision - t.scale > 15:  # values may be 10^15 or more: refuse them before rescaling
        limit = pa.scalar(10**15, pa.decimal128(16, 0)).cast(t)
        bad = pc.greater_equal(pc.abs(col), limit)
        col = pc.if_else(bad, pa.scalar(0, pa.int64()).cast(t), col)
    if t.scale > 4:  # one more digit first: rounding may carry into it
        col = pc.round(col.cast(pa.decimal256(min(t.precision + 1, 76), t.scale)), 4, round_mode="half_to_even")
    four = col.cast(pa.decimal128(38, 4))
    raw = pa.Array.from_buffers(pa.decimal128(38, 0), len(four), four.buffers(), offset=four.offset)
    scaled = raw.cast(pa.int64())
    over = _out_of(scaled, -SCALED_LIMIT + 1, SCALED_LIMIT - 1)
    bad = pc.or_(bad, over) if bad is not None else over
    return scaled, bad


_FAST: dict[str, Callable[[FieldDecoder, pa.Array], Optional[tuple[Any, Optional[pa.Array]]]]] = {
    "int": _ints,
    "duration": _ints,
    "float": _floats,
    "bool": _bools,
    "timestamp": _timestamps,
    "decimal": _decimals,
}
"""The fast tier per field type (strings and enums go through their dictionary); None: not this Arrow type."""


# ---------------------------------------------------------------- a batch


class _TsSpec:
    # ``ts``, which every event has, required
    name = "ts"
    type = "timestamp"
    optional = False
    enum_values: tuple[str, ...] = ()


class BatchPlan:
    """Per engine (per compiled ruleset): the event types, their row functions and field decoders."""

    def __init__(self, compiled: Any, rows: Mapping[str, Any], converters: Mapping[str, Any], utc: bool):
        self.events: list[str] = [ec.event for ec in compiled.event_code]
        self.index = {e: i for i, e in enumerate(self.events)}
        self.rows = [rows[e] for e in self.events]
        shared: dict[tuple, FieldDecoder] = {}
        # per event type, the row function's arguments: ts first, then the other fields in ``fields``
        # order (``EventCode.args``), each (decoder, required); one decoder per field name and type
        self.fields: list[list[tuple[FieldDecoder, bool]]] = []
        for ec in compiled.event_code:
            specs = [_TsSpec(), *(f for f in ec.fields if f.name != "ts")]
            if len(specs) != len(ec.args):
                raise RuntimeError(f"event {ec.event}: {len(ec.args)} row arguments, {len(specs)} fields")
            fields = []
            for spec in specs:
                key = (spec.name, "timestamp" if spec.name == "ts" else spec.type, tuple(spec.enum_values))
                dec = shared.get(key)
                if dec is None:
                    dec = shared[key] = FieldDecoder(ec.event, spec, converters, utc)
                fields.append((dec, spec.name == "ts" or not spec.optional))
            self.fields.append(fields)
        self.utc = utc


def type_codes(plan: BatchPlan, col: Optional[Column], n: int) -> pa.Array:
    """Per row: the index of its event type in ``plan``, -1 where the type is missing, wrong or unknown (int32)."""
    if col is None:
        return pa.array([-1] * n, pa.int32())
    index = plan.index
    if isinstance(col, list):
        return pa.array([index.get(v, -1) if type(v) is str else -1 for v in col], pa.int32())
    arr: pa.Array = col
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        arr = pc.dictionary_encode(arr)
        t = arr.type
    if not (pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type))):
        return pa.array([-1] * n, pa.int32())
    entries = pa.array([index.get(v, -1) if type(v) is str else -1 for v in texts(arr.dictionary)], pa.int32())
    return pc.take(entries, arr.indices).fill_null(-1)


class DecodedBatch:
    """A batch ready to evaluate: per row a code; ``fns[code]`` is called with ``nexts[code]()``.

    Codes ``0 .. K-1`` are the event types (their row function and an iterator
    over the argument tuples of their rows, in order); code ``K`` is the
    fallback (``fallback(row)``) for the rows the decoding refused.  The
    tuples are built as the loop consumes them and freed after each call: a
    batch never holds one per row (which would keep the collector busy).
    """

    __slots__ = ("codes", "fns", "nexts")

    def __init__(self, codes: list[int], fns: list[Any], nexts: list[Callable[[], tuple]]):
        self.codes = codes
        self.fns = fns
        self.nexts = nexts


def decode_batch(
    plan: BatchPlan, columns: Mapping[str, Column], n: int, fallback: Callable[[int], Any]
) -> DecodedBatch:
    """Decode a batch for ``plan``: the row functions' arguments, and the rows for ``fallback`` (bad ones).

    ``columns`` maps column names to Arrow arrays (one chunk) or Python lists
    of ``n`` values.  Each column is decoded once for the whole batch (per
    field type it is read as), then each event type takes its good rows.
    """
    codes = type_codes(plan, columns.get("type"), n)
    counts = {pair["values"]: pair["counts"] for pair in pc.value_counts(codes).to_pylist()}
    k = len(plan.fields)
    iters: list[Any] = [iter(())] * (k + 1)
    refused = pc.equal(codes, -1) if counts.get(-1) else None  # rows for the fallback
    decoded: dict[int, Decoded] = {}
    for e, fields in enumerate(plan.fields):
        m = counts.get(e)
        if not m:
            continue
        only = m == n  # every row of the batch is of this type
        is_e = None if only else pc.equal(codes, e)
        masks: list[Any] = []
        found: list[Optional[Decoded]] = []
        for dec, required in fields:
            col = columns.get(dec.name)
            if col is None:  # no column: absent on every row
                found.append(None)
                if required:
                    masks.append(True)
                continue
            d = decoded.get(id(dec))
            if d is None:
                d = decoded[id(dec)] = dec.decode(col)
            found.append(d)
            if d.bad is not None:
                masks.append(d.bad)
            if required and d.nulls is not None:
                masks.append(d.nulls)
        bad = _type_mask(masks, is_e, n)
        if bad is not None:
            refused = bad if refused is None else pc.or_(refused, bad)
            good = pc.invert(bad) if is_e is None else pc.and_(is_e, pc.invert(bad))
            pos_array: Optional[pa.Array] = pc.indices_nonzero(good)
        else:
            pos_array = None if is_e is None else pc.indices_nonzero(is_e)
        positions = [] if pos_array is None else pos_array.to_pylist()
        cols = [repeat(None) if d is None else d.rows(pos_array, positions) for d in found]
        iters[e] = zip(*cols, repeat(True), strict=False)  # repeat: endless, the columns end it
    if refused is not None:
        codes = pc.if_else(refused, k, codes)
        iters[k] = zip(pc.indices_nonzero(refused).to_pylist(), strict=True)  # 1-tuples: (row,)
    return DecodedBatch(codes.to_pylist(), [*plan.rows, fallback], [it.__next__ for it in iters])


def _type_mask(masks: list[Any], is_e: Optional[pa.Array], n: int) -> Optional[pa.Array]:
    """The rows of one event type (``is_e``; None: every row) that some mask refuses, or None."""
    if not masks:
        return None
    if any(mask is True for mask in masks):
        return is_e if is_e is not None else pa.array([True] * n, pa.bool_())
    mask = masks[0]
    for other in masks[1:]:
        mask = pc.or_(mask, other)
    if is_e is not None:
        mask = pc.and_(mask, is_e)
    return mask if pc.any(mask).as_py() else None


def row_event(columns: Mapping[str, Column], i: int, utc: bool) -> dict[str, Any]:
    """Row ``i`` as the dict event the per-event path would get: its non-null values by column."""
    event = {}
    for name, col in columns.items():
        value = col[i] if isinstance(col, list) else python_values(col.slice(i, 1), utc)[0]
        if value is not None:
            event[name] = value
    return event


class ArrowValue:
    """A value Arrow holds but cannot give as a Python object (e.g. a nanosecond duration): refused by name."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def python_values(arr: pa.Array, utc: bool) -> list:
    """``python_column``, with a value Arrow cannot convert given as an ``ArrowValue`` (refused by the dict path)."""
    try:
        return python_column(arr, utc)
    except (pa.ArrowException, OverflowError, ValueError, TypeError):
        out: list = []
        for k in range(len(arr)):
            try:
                out.append(python_column(arr.slice(k, 1), utc)[0])
            except (pa.ArrowException, OverflowError, ValueError, TypeError):
                out.append(ArrowValue(f"<{arr.type} value>"))
        return out
