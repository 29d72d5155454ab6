"""LocalClock: local wall-clock time from a table of each zone's offset changes.

The oracle is ``datetime.astimezone`` at the exact millisecond, computed here
independently of the clock's table.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from ruledsl.kernels import values
from ruledsl.kernels.values import TS_MAX, TS_MIN, LocalClock, get_zone

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = dt.datetime(1970, 1, 1)
ONE_MS = dt.timedelta(milliseconds=1)
HOUR_MS = 3_600_000

ZONES = (
    "Asia/Shanghai",  # UTC+8, no change since 1991 (LMT +8:05:43 before 1901)
    "Asia/Kolkata",  # +5:30
    "Asia/Kathmandu",  # +5:45
    "Australia/Lord_Howe",  # +10:30, 30-minute daylight saving
    "America/St_Johns",  # -3:30 / -2:30
    "Europe/Dublin",  # negative daylight saving in the tz database
    "America/New_York",
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Apia",  # skipped 2011-12-30
    "Antarctica/Troll",  # a two-hour daylight saving
    "Africa/Freetown",  # the closest pair of offset changes (1939, four days apart)
    "UTC",
)


def oracle(ts: int, zone: dt.tzinfo) -> dt.datetime:
    """The local time at epoch millisecond ``ts`` (naive, wall clock)."""
    return (EPOCH + dt.timedelta(milliseconds=ts)).astimezone(zone).replace(tzinfo=None)


def local_ms(ts: int, zone: dt.tzinfo) -> int:
    return (oracle(ts, zone) - NAIVE_EPOCH) // ONE_MS


def check(clock: LocalClock, ts: int) -> None:
    want = oracle(ts, clock.zone)
    got = clock.local_ms(ts)
    assert got == (want - NAIVE_EPOCH) // ONE_MS, (clock.zone, ts)
    assert (clock.hour(ts), clock.minute(ts), clock.weekday(ts), clock.day(ts)) == (
        want.hour,
        want.minute,
        want.isoweekday(),
        want.day,
    ), (clock.zone, ts)


@pytest.mark.parametrize("name", ZONES)
def test_random_instants_1900_to_2200_equal_astimezone(name):
    zone = get_zone(name)
    rng = random.Random(name)
    stamps = [rng.randrange(TS_MIN, TS_MAX) for _ in range(1500)]
    clock = LocalClock(zone)
    for ts in stamps:  # random order: a miss almost every time
        check(clock, ts)
    clock = LocalClock(zone)
    for ts in sorted(stamps):  # time order: the cached segment serves runs of lookups
        check(clock, ts)


def changes_by_scan(zone: dt.tzinfo, start_ms: int, end_ms: int, step_ms: int = HOUR_MS) -> list[int]:
    """Offset changes in [start, end) found with the oracle alone: an hourly scan, then bisection to the ms."""
    found = []
    a = start_ms
    off_a = local_ms(a, zone) - a
    while a < end_ms:
        b = min(a + step_ms, end_ms)
        off_b = local_ms(b, zone) - b
        if off_b != off_a:
            lo, hi = a, b
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if local_ms(mid, zone) - mid == off_a:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        a, off_a = b, off_b
    return found


def ms_of(year: int) -> int:
    return (dt.datetime(year, 1, 1, tzinfo=UTC) - EPOCH) // ONE_MS


@pytest.mark.parametrize(
    ("name", "years"),
    [
        ("Asia/Shanghai", (1900, 1902)),
        ("Asia/Shanghai", (1940, 1943)),
        ("Asia/Shanghai", (1986, 1992)),
        ("Australia/Lord_Howe", (1980, 1983)),
        ("Australia/Lord_Howe", (2024, 2026)),
        ("America/St_Johns", (2010, 2012)),
        ("Europe/Dublin", (1968, 1972)),
        ("Europe/Dublin", (2025, 2026)),
        ("America/New_York", (2199, 2200)),
        ("Pacific/Apia", (2011, 2013)),
        ("Africa/Freetown", (1939, 1940)),
        ("Antarctica/Troll", (2025, 2026)),
        ("Asia/Kolkata", (1941, 1946)),
    ],
)
def test_offset_changes_exact_to_the_millisecond(name, years):
    zone = get_zone(name)
    start, end = ms_of(years[0]), ms_of(years[1])
    changes = changes_by_scan(zone, start, end)
    if name != "Asia/Shanghai" or years[0] != 1986:
        assert changes, "each window picked holds offset changes"
    assert all(t % 1000 == 0 for t in changes)  # the tz database changes offsets on whole seconds
    clock = LocalClock(zone)
    for t in changes:
        for ts in (t - 1001, t - 1000, t - 2, t - 1, t, t + 1, t + 999, t + 1000):
            check(clock, ts)
    # the clock's own table over the window holds exactly these changes
    segments: list[tuple[int, int]] = []
    for chunk in range(start >> values._CHUNK_SHIFT, (end >> values._CHUNK_SHIFT) + 1):
        clock.local_ms(chunk << values._CHUNK_SHIFT)
        segments += zip(*clock._chunks[chunk], strict=True)
    table = [t for (t, off), (_, prev) in zip(segments[1:], segments, strict=False) if off != prev]
    assert [t for t in table if start <= t < end] == changes


def test_shanghai_has_no_changes_after_1991():
    clock = LocalClock(get_zone("Asia/Shanghai"))
    for ts in range(ms_of(1992), TS_MAX, 1 << values._CHUNK_SHIFT):
        assert clock.local_ms(ts) == ts + 8 * HOUR_MS
    assert all(len(starts) == 1 for starts, _ in clock._chunks.values())


def test_no_datetime_call_per_hour(monkeypatch):
    """A year walked every ten minutes costs a conversion per day scanned and a bisection per change, not one per hour."""
    calls = 0
    original = LocalClock._offset_at

    def counting(self, second):
        nonlocal calls
        calls += 1
        return original(self, second)

    monkeypatch.setattr(LocalClock, "_offset_at", counting)
    for name in ("Europe/Dublin", "Asia/Shanghai"):
        calls = 0
        clock = LocalClock(get_zone(name))
        start = ms_of(2025)
        for ts in range(start, start + 365 * 24 * HOUR_MS, 600_000):
            clock.local_ms(ts)
        # a day-step scan of each chunk touched (2**32 ms: 50 days, 51 conversions) and ~20 for each of
        # the 2 changes; a cache per UTC hour needed two per hour: 17,520
        assert len(clock._chunks) <= 9
        assert calls <= len(clock._chunks) * 51 + 2 * 20, (name, calls)


def test_fixed_offset_zones_are_one_segment():
    for zone in (dt.timezone.utc, dt.timezone(dt.timedelta(hours=-3, minutes=-30))):
        clock = LocalClock(zone)
        for ts in (TS_MIN, -1, 0, 1, ms_of(2025) + 123, TS_MAX - 1):
            check(clock, ts)
        assert clock._chunks == {}


def test_late_events_across_a_change():
    """Lookups that go back and forth over an offset change stay exact (the cached segment is replaced)."""
    zone = get_zone("Europe/Dublin")
    change = changes_by_scan(zone, ms_of(2025) + 80 * 24 * HOUR_MS, ms_of(2025) + 95 * 24 * HOUR_MS)[0]
    clock = LocalClock(zone)
    for ts in (change, change - 1, change + 5, change - HOUR_MS, change + HOUR_MS, change - 1, change):
        check(clock, ts)
