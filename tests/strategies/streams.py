"""Event streams for generated rulesets: good events, malformed ones, dirty values, long out-of-order runs.

``streams()`` draws operations with hypothesis (events, and now and then a
parameter or list change).  Now and then (one stream in eight) it adds a
long tail of 200 to 1,200 events drawn with a seeded ``random.Random``
(``random_ops``; ``long_scenarios`` draws up to 3,000): cheap to generate,
out of order within the lateness, late, on window boundaries, so the
engine's periodic sweep (every ``ADVANCE_EVERY`` events, runtime/engine.py)
runs while out-of-order events still need the entries it may evict.

``dirty=True`` puts values at and past the edges of what an event may carry
into some events (``DIRTY``): the ends of the 64-bit range, decimals far too
big or too precise, inf and NaN, timestamps in seconds or microseconds or
centuries away, an unhashable ``type``.  Issue 9's decoding contract says
each is either accepted exactly or refused with ``EventError`` naming the
field, before any state changes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import random
from typing import Any

from hypothesis import strategies as st

from strategies.rulesets import CLOCK_SCORECARD, Scenario, rulesets
from strategies.schema import (
    AMOUNTS,
    BASE_TS,
    BIG_AMOUNTS,
    BIG_NS,
    CARDS,
    CHANNELS,
    CITIES,
    CLOCK_MS,
    CUSTOMERS,
    DEVICES,
    FEES,
    NS,
    PHONES,
    SCHEMA,
    SCORES,
    ZONE_BASE_TS,
)

# ---------------------------------------------------------------- good events


def _event_fields(draw, etype: str) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": etype}
    pick = lambda xs: draw(st.sampled_from(xs))
    ev["customer_id"] = pick(CUSTOMERS)
    if etype == "transfer":
        rare = draw(st.integers(0, 11)) == 0  # values far from the usual ones, still valid
        ev.update(
            card_no=pick(CARDS),
            amount=pick(BIG_AMOUNTS if rare else AMOUNTS),
            n=pick(BIG_NS if rare and draw(st.booleans()) else NS),
            city=pick(CITIES),
            flag=draw(st.booleans()),
            score=pick(SCORES),
        )
        phone = pick((*PHONES, None, None))
        if phone is not None or draw(st.booleans()):
            ev["phone"] = phone  # absent or explicitly null
        fee = pick(FEES)
        if fee is not None:
            ev["fee"] = fee
    elif etype == "login":
        ev.update(device=pick(DEVICES), city=pick(CITIES), new_device=draw(st.booleans()))
        phone = pick((*PHONES, None))
        if phone is not None:
            ev["phone"] = phone
    else:
        ev["channel"] = pick(CHANNELS)
    if draw(st.integers(0, 9)) == 0:
        ev["unknown_extra"] = {"ignored": True}
    return ev


def random_event(rnd: random.Random, etype: str, ts: int) -> dict[str, Any]:
    """One valid event drawn with a ``random.Random`` (for streams too long for hypothesis' buffer)."""
    ev: dict[str, Any] = {"type": etype, "ts": ts, "customer_id": rnd.choice(CUSTOMERS)}
    if etype == "transfer":
        rare = rnd.random() < 0.05
        ev.update(
            card_no=rnd.choice(CARDS),
            amount=rnd.choice(BIG_AMOUNTS if rare else AMOUNTS),
            n=rnd.choice(BIG_NS if rare else NS),
            city=rnd.choice(CITIES),
            flag=rnd.random() < 0.5,
            score=rnd.choice(SCORES),
        )
        for name, values in (("phone", (*PHONES, None)), ("fee", FEES)):
            value = rnd.choice(values)
            if value is not None:
                ev[name] = value
    elif etype == "login":
        ev.update(device=rnd.choice(DEVICES), city=rnd.choice(CITIES), new_device=rnd.random() < 0.5)
        phone = rnd.choice((*PHONES, None))
        if phone is not None:
            ev["phone"] = phone
    else:
        ev["channel"] = rnd.choice(CHANNELS)
    return ev


# ---------------------------------------------------------------- malformed events and dirty values

BAD_CHANGES = (
    ("type", "payment"),
    ("type", None),
    ("ts", "yesterday"),
    ("ts", 1.5),
    ("ts", True),
    ("ts", None),
    ("customer_id", None),
    ("customer_id", 7),
    ("amount", "abc"),
    ("amount", True),
    ("amount", float("nan")),
    ("n", "5"),
    ("n", 2.0),
    ("city", "广州"),
    ("flag", "yes"),
    ("device", None),
    ("new_device", 1),
    ("channel", "atm"),
    ("score", "1.5"),
    ("phone", 13800000000),
    ("fee", "x"),
)
"""(field, value) that make an event malformed under every version of the contract (None: field removed)."""

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
HOUR_MS, DAY_MS = 3_600_000, 86_400_000

DIRTY_INTS = (I64_MIN, I64_MAX, I64_MAX + 1, I64_MIN - 1, 2**64, 10**30, -(10**30), 10**400)
DIRTY_DECIMALS = (
    "99999999999999.9999",
    "-99999999999999.9999",
    "100000000000000",
    10**14,
    10**14 - 1,
    "922337203685477.5807",  # the largest scaled decimal that fits 64 bits
    "922337203685477.5808",
    922_337_203_685_478,
    "9.3e14",
    10**15,
    1e15,
    1e308,
    -1e308,
    5e-324,
    1e-300,
    "1e-30",
    "-0.00005",
    "0.00015",
    "-0.00025",
    "1e300000",  # a few bytes that would build a 300,000-digit number
    "1e-300000",
    "1" + "0" * 70,
    "0." + "0" * 70 + "1",
    "-0",
    -0.0,
    " 7.5 ",
    "1_000.5",
    2**63,
    decimal.Decimal("1e20"),
    decimal.Decimal("sNaN"),
)
DIRTY_FLOATS = (
    float("inf"),
    float("-inf"),
    float("nan"),
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    -0.0,
    10**400,  # an int too big for a float
    2**53 + 1,
)
DIRTY_STRINGS = ("", "\ud800", "\x00", "x" * 10_000, "😀", "c1 ")
DIRTY_BOOLS = (0, 1, "true", 1.0)
DIRTY_TYPES = (["transfer"], {"transfer": 1}, 1, 1.5, "", "Transfer", b"transfer")
FAR_TIMESTAMPS = (
    0,
    1,
    -1,
    -(2**62),
    -2_208_988_800_001,  # just before 1900
    -2_208_988_800_000,
    7_258_118_399_999,  # just before 2200
    7_258_118_400_000,
    253_402_300_799_999,  # 9999-12-31T23:59:59.999Z
    2**62,
    I64_MAX,
    2**63,
    10**30,
    -(10**30),
    "9999-12-31T23:59:59.999Z",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "2026-01-01T00:00:00.000" + "0" * 100,
)


def dirty_timestamp(top: int) -> st.SearchStrategy:
    """A timestamp from a wrong clock, relative to ``top`` (the stream's newest) or absolute."""
    mixups = (top // 1000, top * 1000, top * 1_000_000, float(top))  # seconds, micro-, nanoseconds, a float
    ahead = (top + 300_001, top + HOUR_MS, top + DAY_MS)  # a device clock minutes to a day ahead
    guard = (CLOCK_MS + 300_000, CLOCK_MS + 300_001)  # the clock guard's edge (5 minutes by default)
    return st.sampled_from(FAR_TIMESTAMPS + mixups + ahead + guard)


def dirty_value(kind: str, top: int) -> st.SearchStrategy:
    """A value at or past the edge of what a field of ``kind`` accepts (schema type, ``ts`` or ``type``)."""
    if kind == "int":
        return st.one_of(st.sampled_from(DIRTY_INTS), st.integers(I64_MIN, I64_MAX))
    if kind == "decimal":
        return st.one_of(
            st.sampled_from(DIRTY_DECIMALS),
            st.integers(-(10**16), 10**16),
            st.integers(0, 8).flatmap(
                lambda places: st.decimals(min_value=-(10**16), max_value=10**16, places=places).map(str)
            ),
        )
    if kind == "float":
        return st.one_of(st.sampled_from(DIRTY_FLOATS), st.floats())
    if kind == "bool":
        return st.sampled_from(DIRTY_BOOLS)
    if kind == "ts":
        return dirty_timestamp(top)
    if kind == "type":
        return st.sampled_from(DIRTY_TYPES)
    return st.sampled_from(DIRTY_STRINGS)  # string, enum


def _dirty(draw, ev: dict[str, Any], top: int) -> None:
    # one field (or ts, or type) of ``ev`` gets a dirty value
    etype = ev["type"]
    fname = draw(st.sampled_from(["ts", "ts", "type", *SCHEMA[etype]]))
    kind = fname if fname in ("ts", "type") else SCHEMA[etype][fname][0]
    ev[fname] = draw(dirty_value(kind, top))


def _iso(ts: int, draw) -> str:
    stamp = dt.datetime.fromtimestamp(ts / 1000, dt.timezone(dt.timedelta(hours=8)))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return stamp.isoformat(timespec="milliseconds")
    utc = dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
    if kind == 1:
        return utc.replace("+00:00", "Z")
    return utc.replace("+00:00", "")  # no offset: read in the ruleset's time zone (a different instant)


# ---------------------------------------------------------------- streams


def _start(draw_or_rnd, scenario: Scenario) -> int:
    zone_base = ZONE_BASE_TS.get(scenario.timezone or "", ())
    if isinstance(draw_or_rnd, random.Random):
        return draw_or_rnd.choice(zone_base or BASE_TS)
    draw = draw_or_rnd
    return draw(st.sampled_from(zone_base if zone_base and draw(st.booleans()) else BASE_TS))


def _change(draw, scenario: Scenario, now: int = 0) -> tuple:
    # a parameter or list change between two events
    if scenario.params and (not scenario.lists or draw(st.booleans())):
        name = draw(st.sampled_from(sorted(scenario.params)))
        value = {
            "decimal": st.sampled_from(("0.1", 100, "250.5", 0.3)),
            "int": st.integers(0, 4),
            "duration": st.sampled_from((0, 1000, 5000)),
            "bool": st.booleans(),
            "float": st.sampled_from((0.25, 1, 2.5)),
            "string": st.sampled_from(CUSTOMERS),
        }[scenario.params[name]]
        return ("param", name, draw(value))
    name = draw(st.sampled_from(sorted(scenario.lists)))
    values = {
        "string": st.lists(st.sampled_from(CUSTOMERS + CARDS + PHONES + CITIES), max_size=3),
        "decimal": st.lists(st.sampled_from(("0.1", "100", 2.5, 1)), max_size=3),
        "int": st.lists(st.integers(-1, 5), max_size=3),
    }[scenario.lists[name]]
    if draw(st.integers(0, 2)) == 0:
        return ("list", name, draw(values))
    # entries with attributes and expiries around the stream's time, replacing the list or added/removed
    entries = [_list_entry(draw, v, now) for v in draw(values)]
    if draw(st.booleans()):
        return ("list", name, entries)
    return ("list_change", name, entries, draw(values))


def _list_entry(draw, value, now: int):
    if draw(st.integers(0, 3)) == 0:
        return value
    entry = {"value": value, "category": draw(st.sampled_from(("fraud", "suspect", None)))}
    if draw(st.booleans()):
        entry["source"] = draw(st.sampled_from(("icbc", "pboc")))
    if draw(st.booleans()):
        entry["expires_at"] = now + draw(st.sampled_from((-1, 0, 1, 1000, 60_000)))
    if draw(st.booleans()):
        entry["attrs"] = {"note": draw(st.sampled_from(("fraud", "suspect", "x")))}
    return entry


def _exemption(draw, scenario: Scenario, now: int) -> tuple:
    # an exemption granted (until a moment after every event so far) or revoked, mostly for a key the
    # `exempt by` fields carry; "all" rules half of the time
    pools = {"customer_id": CUSTOMERS, "card_no": CARDS, "phone": PHONES, "device": DEVICES}
    field = draw(st.sampled_from([*scenario.exempt_by, "customer_id"]))
    key = draw(st.sampled_from(pools[field]))
    rule = "all" if draw(st.booleans()) else draw(st.sampled_from(scenario.rules))
    if draw(st.integers(0, 3)) == 0:
        return ("revoke", key, rule)
    return ("exempt", key, rule, now + draw(st.sampled_from((1, 999, 1000, 5000, 30_000, 600_000, 86_400_000))))


@st.composite
def streams(
    draw,
    scenario: Scenario,
    max_events: int = 60,
    *,
    dirty: bool = False,
    long_tail: bool = True,
    malformed: bool = True,
) -> list[tuple]:
    """Operations for ``scenario``: mostly events, timestamps mostly increasing with jitter,
    some exactly on window boundaries, some out of order (within lateness or later).

    ``long_tail``: now and then (one stream in eight) hundreds to a thousand more
    events from ``random_ops``.  ``dirty``: about one event in four has a field with a value
    from ``dirty_value``.  ``malformed``: one event in thirty is malformed (``BAD_CHANGES``).
    """
    ops: list[tuple] = []
    n_events = draw(st.integers(1, max_events))
    now = _start(draw, scenario)
    seen: list[int] = []
    durations = scenario.windows_ms or [1000]
    lateness = scenario.lateness_ms
    for _ in range(draw(st.integers(0, 3)) if scenario.exempt_by else 0):
        ops.append(_exemption(draw, scenario, now))
    for _ in range(draw(st.integers(0, 2)) if scenario.controls else 0):
        ops.append(_control_op(draw, now))
    for _ in range(n_events):
        kind = draw(st.integers(0, 39))
        if kind <= 21 or not seen:
            now += draw(st.sampled_from((0, 1, 250, 499, 500, 999, 1000, 2000, 5000, 30_000)))
            ts = now
        elif kind <= 30:
            # exactly on (or just inside) a window boundary of a recent event
            ts = draw(st.sampled_from(seen[-6:])) + draw(st.sampled_from(durations)) - draw(st.sampled_from((0, 0, 1)))
            now = max(now, ts)
        elif kind <= 35:
            # out of order but within lateness (or exactly on the watermark)
            ts = now - draw(st.integers(0, lateness))
        elif kind <= 37:
            ts = now - lateness - draw(st.sampled_from((1, 500, 10_000)))  # late
        else:
            now += draw(st.sampled_from((600_000, 3_600_000, 86_400_000)))  # a long gap
            ts = now
        seen.append(ts)
        etype = draw(st.sampled_from(("transfer", "transfer", "login", "reset")))
        ev = _event_fields(draw, etype)
        ev["ts"] = _iso(ts, draw) if draw(st.integers(0, 14)) == 0 else ts
        if malformed and draw(st.integers(0, 29)) == 0:
            fname, bad = draw(st.sampled_from(BAD_CHANGES))
            if fname in ("type", "ts") or fname in SCHEMA[etype]:
                if bad is None:
                    ev.pop(fname, None)
                else:
                    ev[fname] = bad
        elif dirty and draw(st.integers(0, 3)) == 0:
            _dirty(draw, ev, now)
        ops.append(("event", ev))
        if draw(st.integers(0, 24)) == 0 and (scenario.params or scenario.lists):
            ops.append(_change(draw, scenario, now))
        if scenario.exempt_by and draw(st.integers(0, 3)) == 0:
            ops.append(_exemption(draw, scenario, now))
        if scenario.controls and draw(st.integers(0, 5)) == 0:
            ops.append(_control_op(draw, now))
    if long_tail and draw(st.integers(0, 7)) == 0:
        rnd = random.Random(draw(st.integers(0, 2**32)))  # hypothesis' own randoms would draw from its buffer
        # the reference interpreter scores the clock scorecard's 43 items slowly: shorter then
        longest = 300 if CLOCK_SCORECARD in scenario.source else 1200
        ops += random_ops(rnd, scenario, rnd.randint(200, longest), now)
    return ops


def random_ops(rnd: random.Random, scenario: Scenario, n_events: int, now: int) -> list[tuple]:
    """``n_events`` valid events from ``now`` on, drawn with ``rnd`` (cheap at any length).

    Forward steps; runs that restart behind the newest event, within the lateness
    (a quarter of them exactly on the watermark), so the engine's sweeps happen while
    out-of-order events still need the entries just behind the watermark; events on
    window boundaries; late events (3%); long gaps.
    """
    lateness = scenario.lateness_ms
    durations = scenario.windows_ms or [1000]
    top = now
    recent: list[int] = [now]
    ops: list[tuple] = []
    for _ in range(n_events):
        r = rnd.random()
        if r < 0.5:
            now += rnd.choice((0, 1, 250, 500, 999, 1000, 2000, 4000))
            ts = now
        elif r < 0.62:
            now = max(now, rnd.choice(recent[-8:]) + rnd.choice(durations) - rnd.choice((0, 1)))
            ts = now
        elif r < 0.92:
            now = top - (lateness if rnd.random() < 0.25 else rnd.randint(0, lateness))
            ts = now
        elif r < 0.95:
            ts = top - lateness - rnd.choice((1, 500, 10_000))  # late: `now` stays
        elif r < 0.97:
            now = top + rnd.choice((60_000, 600_000, 3_600_000))
            ts = now
        else:
            now = ts = top
        top = max(top, ts)
        recent.append(ts)
        ops.append(("event", random_event(rnd, rnd.choice(("transfer", "transfer", "login", "reset")), ts)))
    return ops


def _control_op(draw, now: int) -> tuple:
    # a control set by hand (until around the stream's time: some already past) or lifted, on a key
    # the generated rules test
    key = draw(st.sampled_from((*CUSTOMERS, "C1", *CARDS, *PHONES, *DEVICES, 1, 3)))
    if draw(st.integers(0, 2)) == 0:
        return ("control_lift", key)
    kind = draw(st.sampled_from(("restricted", "refused", "watch")))
    return ("control_set", key, kind, now + draw(st.sampled_from((-1000, 1, 999, 5000, 60_000, 86_400_000))))


@st.composite
def scenarios(
    draw,
    max_events: int = 60,
    *,
    dirty: bool = False,
    long_tail: bool = True,
    shared: bool = False,
    exempt: bool = False,
    controls: bool = False,
) -> Scenario:
    """A ruleset and a stream of operations for it (see ``streams``; ``shared``, ``exempt``, ``controls``:
    see ``rulesets``)."""
    scenario = draw(rulesets(shared=shared, exempt=exempt, controls=controls))
    scenario.ops = draw(streams(scenario, max_events, dirty=dirty, long_tail=long_tail))
    return scenario


@st.composite
def long_scenarios(draw, min_events: int = 1200, max_events: int = 3000) -> Scenario:
    """A ruleset with a lateness (mostly) and a long stream from ``random_ops``: the engine sweeps and evicts.

    Every decision is fully determined by docs/semantics.md: out-of-order events within the
    lateness count as if they had arrived in time order, late ones see no window state.
    """
    scenario = draw(rulesets(lateness=("1s", "5s", "5s", "30s", None), clock_scorecard=False))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    scenario.ops = random_ops(rnd, scenario, rnd.randint(min_events, max_events), _start(rnd, scenario))
    return scenario


# ---------------------------------------------------------------- malformed events for a good stream

# Malformed events are interleaved into a good stream (``with_malformed``); the good
# events' decisions must not change.  The kinds the engine refuses today, and those
# issue 9's decoding contract and clock guard add (``pending``).


def _json(ev: dict[str, Any]) -> bytes:
    # the standard library writes ints of any size (msgspec stops at 64 bits)
    return json.dumps({k: v for k, v in ev.items() if k != "unknown_extra"}, ensure_ascii=False).encode()


def malformed_today(draw, good: dict[str, Any]) -> Any:
    """An event the engine refuses (``EventError``), or a late one (which changes nothing), made from ``good``."""
    ev = dict(good)
    etype = ev["type"]
    kind = draw(st.integers(0, 5))
    if kind == 0:
        fname, bad = draw(st.sampled_from([c for c in BAD_CHANGES if c[0] in ("type", "ts") or c[0] in SCHEMA[etype]]))
        if bad is None:
            ev.pop(fname, None)
        else:
            ev[fname] = bad
        return ev
    if kind == 1:
        required = [f for f, (_t, opt) in SCHEMA[etype].items() if not opt]
        del ev[draw(st.sampled_from(required))]
        return ev
    if kind == 2:
        data = _json(ev)
        return draw(st.sampled_from((data[: len(data) // 2], data[:-1], b"[1, 2]", b"", b"\xff\xfe", b"null")))
    if kind == 3:
        return draw(st.sampled_from((42, None, ["transfer"], "not json", 1.5)))
    if kind == 4:
        ev["type"] = draw(st.sampled_from(("payment", "", "Transfer", " transfer")))
        return ev
    # late: a day before any stream starts, or the timestamp in seconds (1970)
    ts = ev["ts"] if type(ev["ts"]) is int else BASE_TS[0]
    ev["ts"] = draw(st.sampled_from((min(BASE_TS) - DAY_MS, ts // 1000, 0)))
    return ev


def malformed_pending(draw, good: dict[str, Any]) -> Any:
    """An event issue 9's decoding contract or clock guard refuses, made from ``good``: numbers past any
    limit, an unhashable ``type``, a timestamp in micro- or nanoseconds, or ahead of ``CLOCK_MS``."""
    ev = dict(good)
    etype = ev["type"]
    ts = ev["ts"] if type(ev["ts"]) is int else BASE_TS[0]
    kind = draw(st.integers(0, 3))
    if kind == 0 and etype == "transfer":
        fname, value = draw(
            st.sampled_from(
                (
                    ("n", 2**63),
                    ("n", -(2**63) - 1),
                    ("n", 10**30),
                    ("amount", "1e300000"),
                    ("amount", 10**15),
                    ("amount", "922337203685477.5808"),
                    ("amount", "9.3e14"),
                    ("amount", 1e308),
                    ("amount", "1" + "0" * 70),
                    ("fee", -(10**16)),
                )
            )
        )
        ev[fname] = value
    elif kind <= 1:
        ev["type"] = draw(st.sampled_from((["transfer"], {"transfer": 1}, [etype])))
    elif kind == 2:
        ev["ts"] = draw(st.sampled_from((ts * 1000, ts * 1_000_000, 10**30, 2**63, I64_MAX)))
    else:  # the clock guard: ahead of the engine's clock (tests run engines on ``CLOCK_MS``)
        ahead = (CLOCK_MS + 300_001, CLOCK_MS + DAY_MS, CLOCK_MS + 365 * DAY_MS, "2199-12-31T00:00:00Z")
        ev["ts"] = draw(st.sampled_from(ahead))
    if draw(st.integers(0, 4)) == 0 and kind != 1:
        return _json(ev)  # the same, as JSON bytes
    return ev


@st.composite
def with_malformed(draw, *, pending: bool = False, max_events: int = 60) -> tuple[Scenario, list[tuple[int, Any]]]:
    """A scenario with a stream of good events, and malformed events to insert: ``[(position, event), ...]``.

    Positions are op indexes (a malformed event goes before the op at that index), never
    before the first event.  ``pending``: issue 9's kinds (``malformed_pending``) too.
    """
    scenario = draw(rulesets())
    scenario.ops = draw(streams(scenario, max_events, malformed=False, long_tail=False))
    goods = [op[1] for op in scenario.ops if op[0] == "event"]
    inserts = []
    for _ in range(draw(st.integers(1, 12))):
        good = draw(st.sampled_from(goods))
        make = malformed_pending if pending and draw(st.booleans()) else malformed_today
        inserts.append((draw(st.integers(1, len(scenario.ops))), make(draw, good)))
    return scenario, sorted(inserts, key=lambda item: item[0])
