"""Runtime value conversions shared by the compiled engine and the reference interpreter.

Decimals are scaled integers (``SCALE`` units per 1); timestamps and
durations are integer milliseconds.  These functions are small and exact;
the generated evaluator calls them only off the common path (e.g. a decimal
sent as a string), so their speed matters less than their correctness.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
from bisect import bisect_right as _bisect_right
from typing import Any, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

SCALE = 10_000
"""A decimal is an integer count of 1/SCALE (4 fractional digits)."""


class EventError(ValueError):
    """A malformed event: unknown type, missing required field, wrong type, bad timestamp.

    Raised before any state changes, so a rejected event leaves the engine as it was.
    """

    def __init__(self, message: str, *, field: Optional[str] = None, event_type: Optional[str] = None):
        super().__init__(message)
        self.field = field
        self.event_type = event_type


def div_half_even(a: int, b: int) -> int:
    """Integer ``a / b`` rounded half to even (``b != 0``)."""
    if b < 0:
        a, b = -a, -b
    q, r = divmod(a, b)  # 0 <= r < b
    if 2 * r > b or (2 * r == b and q & 1):
        q += 1
    return q


MAX_DECIMAL_DIGITS = 100
"""Longest scaled decimal ``decimal_literal`` builds; far past the 64-bit range of the language,
short enough that ``"1e999999999"`` is refused instead of building a billion-digit integer."""


def decimal_literal(text: str) -> int:
    """Decimal text -> scaled integer: ``"12.345"`` -> 123450, ``"-0.00005"`` -> 0.

    The one parser of decimal numbers, for literals in rulesets and for decimal
    values sent as text.  Exact however many digits are written (no decimal
    context rounding): past 4 fractional digits the value is rounded half to
    even.  Accepts what ``decimal.Decimal`` reads (blanks around, sign,
    underscores, exponent); raises ValueError for anything else, for NaN and
    infinities, and for values longer than ``MAX_DECIMAL_DIGITS`` digits once
    scaled.
    """
    try:
        d = _decimal.Decimal(text.strip())
    except _decimal.InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    top = d.adjusted()  # the power of ten of the leading digit: checked before any big integer is built
    if top + 5 > MAX_DECIMAL_DIGITS:
        raise ValueError(f"number out of range: {text!r}")
    if top < -5:
        return 0  # below a tenth of a unit
    numerator, denominator = d.as_integer_ratio()  # exact
    return div_half_even(numerator * SCALE, denominator)


# ---------------------------------------------------------------- the limits of event values
# Every event value is checked against these while it is decoded, before any state
# changes (docs/semantics.md, "Limits"): nothing out of range ever reaches a kernel.

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""``int`` and ``duration`` values are 64-bit."""

DECIMAL_LIMIT = 10**14
"""A decimal's magnitude is below 10^14 (100 trillion), so its scaled form fits 64 bits with room."""

SCALED_LIMIT = DECIMAL_LIMIT * SCALE

MAX_NUMBER_TEXT = 64
"""The longest decimal text accepted in an event: parsing stays cheap whatever is sent."""

TS_MIN = -2_208_988_800_000
"""1900-01-01T00:00:00Z in epoch milliseconds: the earliest timestamp accepted."""

TS_MAX = 7_258_118_400_000
"""2200-01-01T00:00:00Z: timestamps are before it (a microsecond or nanosecond value is far beyond)."""


def in_int_range(value: int) -> bool:
    """True when an int is a 64-bit value."""
    return INT_MIN <= value <= INT_MAX


def check_scaled(scaled: int) -> int:
    """A scaled decimal within the limit, else ValueError naming the limit."""
    if -SCALED_LIMIT < scaled < SCALED_LIMIT:
        return scaled
    raise ValueError("out of range (a decimal must be below 10^14 in magnitude)")


def check_timestamp(ms: int) -> int:
    """Epoch milliseconds within [1900-01-01, 2200-01-01), else ValueError naming the range."""
    if TS_MIN <= ms < TS_MAX:
        return ms
    raise ValueError(
        "out of range (timestamps are epoch milliseconds from 1900 to 2200; was it in seconds or microseconds?)"
    )


def to_decimal(value: Any) -> int:
    """An event value -> scaled decimal within ``DECIMAL_LIMIT``; raises TypeError/ValueError otherwise."""
    t = type(value)
    if t is str and len(value) > MAX_NUMBER_TEXT:
        raise ValueError(f"a number of more than {MAX_NUMBER_TEXT} characters")
    return check_scaled(_to_decimal(value))


def _to_decimal(value: Any) -> int:
    t = type(value)
    if t is int:
        return value * SCALE
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        if -1e9 < value < 1e9:
            # Fast path: a float written with at most 4 decimals (e.g. 12.34) is
            # within 1e-6 of a whole number of units; rounding it is exact.
            scaled = value * SCALE
            r = round(scaled)
            if abs(scaled - r) < 1e-6:
                return r
        return decimal_literal(repr(value))
    if t is str:
        return decimal_literal(value)
    if isinstance(value, _decimal.Decimal):
        return decimal_literal(str(value))
    raise TypeError(t.__name__)


def decimal_to_python(scaled: int) -> _decimal.Decimal:
    """A scaled decimal as ``decimal.Decimal`` with 4 places (for decisions and reports)."""
    return _decimal.Decimal(scaled).scaleb(-4)


def get_zone(name: str) -> _dt.tzinfo:
    """A time zone by IANA name (``Asia/Shanghai``) or ``UTC``; raises ValueError if unknown."""
    if name.upper() == "UTC":
        return _dt.timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err


def parse_timestamp(value: Any, zone: _dt.tzinfo) -> int:
    """An event ``ts`` -> epoch milliseconds in [``TS_MIN``, ``TS_MAX``).  Accepts int ms or ISO 8601 text."""
    return check_timestamp(_parse_timestamp(value, zone))


def _parse_timestamp(value: Any, zone: _dt.tzinfo) -> int:
    t = type(value)
    if t is int:
        return value
    if t is str:
        if len(value) > MAX_NUMBER_TEXT:
            raise ValueError("a timestamp of more than 64 characters")
        try:
            stamp = _dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=zone)
        return _epoch_ms(stamp)
    if isinstance(value, _dt.datetime):
        return _epoch_ms(value if value.tzinfo else value.replace(tzinfo=zone))
    raise TypeError(t.__name__)


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_ONE_MS = _dt.timedelta(milliseconds=1)


def _epoch_ms(stamp: _dt.datetime) -> int:
    # exact, rounded down (floor) - a float timestamp() would round, and int() truncates
    # toward zero before 1970 (1969-12-31T23:59:59.999Z is -1 ms, not +999)
    return (stamp - _EPOCH) // _ONE_MS


def matches_text(rx: Any, text: str) -> bool:
    """``matches(text, pattern)``: RE2 needs valid UTF-8, so a lone surrogate (possible only in a
    Python dict event) is read as U+FFFD instead of failing (docs/semantics.md, "Limits")."""
    try:
        return rx.search(text) is not None
    except UnicodeEncodeError:
        return rx.search(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")) is not None


_CHUNK_SHIFT = 32
"""The offset table is built one chunk of the time line at a time: ``2**32`` ms (about 50 days, so
building one, ~50 ``datetime`` conversions, delays the event that needs it by ~60 µs at most)."""

_SCAN_S = 86_400
"""Step of the scan for offset changes, in seconds.  A change is found whenever the offset differs
from one step to the next; two changes within one step that restore the offset would be missed, and
the closest pair in the tz database (1900-2200: Africa/Freetown, 1939) is four days apart."""

_ONE_MS = _dt.timedelta(milliseconds=1)
_ALWAYS = 1 << 80
"""Bounds of the one segment of a fixed-offset zone: beyond any timestamp."""


class LocalClock:
    """Local wall-clock parts of a timestamp in one time zone, from a table of the zone's offset changes.

    The table holds, per chunk of the time line (``2**_CHUNK_SHIFT`` ms), the
    instants (whole UTC seconds) at which the zone's UTC offset changes and
    the offset from each on.  A chunk is built on first use: a scan of the
    offset a day apart, each change narrowed to its second by bisection
    (about 50 ``datetime`` conversions, once per ~50 days of event time).  A lookup compares the timestamp with the
    bounds of the segment the last one found (cached), and on a miss bisects
    the chunk's table.  Results equal ``datetime.astimezone`` for every
    millisecond; a fixed-offset ``datetime.timezone`` is one segment.
    """

    __slots__ = ("_chunks", "_seg", "zone")

    def __init__(self, zone: _dt.tzinfo):
        self.zone = zone
        self._chunks: dict[int, tuple[list[int], list[int]]] = {}  # chunk -> (segment starts in ms, offsets in ms)
        # (start, end, offset) in ms of the segment of the last lookup: one tuple, replaced at once
        self._seg: tuple[int, int, int] = (0, 0, 0)
        if isinstance(zone, _dt.timezone):
            self._seg = (-_ALWAYS, _ALWAYS, zone.utcoffset(None) // _ONE_MS)

    def _offset_at(self, second: int) -> int:
        """The zone's UTC offset in ms at a UTC second, by ``datetime`` (what the table is built from)."""
        offset = _dt.datetime.fromtimestamp(second, _dt.timezone.utc).astimezone(self.zone).utcoffset()
        return offset // _ONE_MS if offset is not None else 0

    def _scan(self, start_ms: int, end_ms: int) -> tuple[list[int], list[int]]:
        """Segment starts (ms) and offsets (ms) over ``[start_ms, end_ms)``; the first start is ``start_ms``."""
        second, last = start_ms // 1000, (end_ms - 1) // 1000
        offset = self._offset_at(second)
        starts, offsets = [start_ms], [offset]
        while second < last:
            step = min(second + _SCAN_S, last)
            if self._offset_at(step) == offset:
                second = step
                continue
            # the offset changes in (second, step]: find the first second with another offset
            lo, hi = second, step
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._offset_at(mid) == offset:
                    lo = mid
                else:
                    hi = mid
            offset = self._offset_at(hi)
            starts.append(hi * 1000)
            offsets.append(offset)
            second = hi  # go on from the change: another one may follow before ``step``
        return starts, offsets

    def _segment(self, ts: int) -> tuple[int, int, int]:
        """The segment holding ``ts`` (building its chunk's table if needed); cached for the next lookups."""
        chunk = ts >> _CHUNK_SHIFT
        table = self._chunks.get(chunk)
        if table is None:
            if len(self._chunks) > 4096:  # more than 1900-2200 needs (2,205): a bound, not a working size
                self._chunks.clear()
            table = self._chunks[chunk] = self._scan(chunk << _CHUNK_SHIFT, (chunk + 1) << _CHUNK_SHIFT)
        starts, offsets = table
        i = _bisect_right(starts, ts) - 1
        end = starts[i + 1] if i + 1 < len(starts) else (chunk + 1) << _CHUNK_SHIFT
        seg = (starts[i], end, offsets[i])
        self._seg = seg
        return seg

    def local_ms(self, ts: int) -> int:
        """Milliseconds since the epoch in local wall-clock time."""
        seg = self._seg
        if seg[0] <= ts < seg[1]:
            return ts + seg[2]
        return ts + self._segment(ts)[2]

    def hour(self, ts: int) -> int:
        """Local hour 0-23."""
        return (self.local_ms(ts) // 3_600_000) % 24

    def minute(self, ts: int) -> int:
        """Local minute 0-59."""
        return (self.local_ms(ts) // 60_000) % 60

    def weekday(self, ts: int) -> int:
        """Local ISO weekday, 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday)."""
        return (self.local_ms(ts) // 86_400_000 + 3) % 7 + 1

    def day(self, ts: int) -> int:
        """Local day of month 1-31."""
        return _dt.datetime.fromtimestamp(self.local_ms(ts) // 1000, _dt.timezone.utc).day


def between_hours(hour: int, start: int, end: int) -> bool:
    """``start <= hour < end``, wrapping past midnight when ``start > end``."""
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


def to_builtin(value: Any) -> Any:
    """A feature value as plain JSON-able data (used when serialising decisions)."""
    return msgspec.to_builtins(value)
