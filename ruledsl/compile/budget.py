"""The memory budget of a ruleset: each window's and sequence's state, estimated before it goes live.

The model (docs/bench.md, "The budget model")::

    keys    = C * (1 - exp(-R * W / C))      # keys with an entry in the last W
    entries = R * W                          # last/since: one per key
    bytes   = empty + keys * per_key + (entries - keys) * per_entry

``C`` is the key's cardinality (distinct values of the ``by`` fields), ``R``
the events per millisecond that feed the window (over all keys), ``W`` the
window span plus the ruleset's lateness (how long the kernel keeps an entry),
capped by ``horizon_ms`` when given (traffic that has run for less than a
span).  Every key is assumed to see Poisson traffic at ``R / C``: then
``1 - exp(-R W / C)`` of the keys have an entry in the span.  ``per_key``
and ``per_entry`` are measured from the kernels (``budget_costs``).

``C`` and ``R`` come from a ``KeyTraffic``: declared in the schema
(``cardinality 10M rate 3/1d``, with ``default_rate`` per key value when no
rate is declared) or measured by replaying a sample of events
(``ruledsl.sim.budget_sample``).  From declarations, a window's ``where`` is
not applied (it cannot be known without data): the estimate is an upper bound
for filtered windows; a replayed sample applies it.  Windows defined alike
share one state (``Compiled.window_state``) and are counted once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import msgspec

from ruledsl.check.checker import CheckResult
from ruledsl.compile.budget_costs import sequence_cost, window_cost
from ruledsl.compile.emit import compile_module
from ruledsl.syntax import nodes as n

DAY_MS = 86_400_000

LONG_SPAN_MS = 366 * DAY_MS
"""A window or sequence kept this long or longer is effectively unbounded (RD313)."""

LARGE_SHARE = 0.25
"""A window or sequence taking this share of the budget or more gets RD313."""

LARGE_BYTES = 1 << 30
"""Without a budget: a window or sequence estimated at this or more gets RD313."""


class KeyTraffic(Protocol):
    """Where a key's cardinality and event rate come from (declared schema or a sample)."""

    def key_traffic(self, name: str, events: list[str], fields: list[str]) -> Optional[tuple[float, float, str]]:
        """(C distinct keys, R events per ms over all keys, source text) of window/sequence ``name``, or None."""
        ...


@dataclass
class Declared:
    """Cardinalities and rates declared in the schema; ``default_rate`` events per value per ms otherwise.

    For a key of several fields, C is the product of their cardinalities and
    R the smallest of ``cardinality * rate`` over them (each is the event
    type's whole rate seen through one field); an event type that does not
    declare a field's cardinality leaves the key unknown.
    """

    result: CheckResult
    default_rate: float  # events per key value per ms

    def key_traffic(self, name: str, events: list[str], fields: list[str]) -> Optional[tuple[float, float, str]]:
        """(C, R, source) from the declarations of ``fields`` in ``events`` (``name`` is not needed)."""
        c_max, r_sum, defaulted = 0.0, 0.0, False
        for ev in events:
            decl = self.result.symbols.events.get(ev)
            if decl is None:
                return None
            by_name = {f.name.name: f for f in decl.fields}
            cards, rates = [], []
            for name in fields:
                f = by_name.get(name)
                if f is None or f.cardinality is None:
                    return None
                cards.append(float(f.cardinality))
                if f.rate_per_ms is not None and f.rate_text is not None:
                    rates.append(f.cardinality * float(f.rate_text) / f.rate_per_ms)
            if not rates:
                defaulted = True
                rates.append(min(cards) * self.default_rate)
            c_max = max(c_max, math.prod(cards))
            r_sum += min(rates)
        return c_max, r_sum, "declared" + (" + default rate" if defaulted else "")


@dataclass
class Row:
    """One window's or sequence's estimate."""

    kind: str  # "window" or "sequence"
    name: str
    agg: str  # aggregate, or "sequence/N"
    key: str  # the `by` fields
    span_ms: int  # span + lateness (capped by the horizon)
    full_span_ms: int = 0  # span + lateness, never capped (RD313)
    cardinality: Optional[float] = None
    events_per_ms: Optional[float] = None
    keys: Optional[float] = None
    entries: Optional[float] = None
    per_key: float = 0.0
    per_entry: float = 0.0
    base: int = 0  # the empty kernel's bytes
    bytes: Optional[float] = None  # None: unknown (no cardinality declared and no sample)
    source: str = ""
    shares_state_of: Optional[str] = None
    line: int = 0
    path: str = ""
    span: n.Span = n.NO_SPAN

    @property
    def entries_per_key(self) -> Optional[float]:
        """Average entries held per live key."""
        if self.keys is None or self.entries is None or self.keys <= 0:
            return None
        return self.entries / self.keys


@dataclass
class Budget:
    """Every row, the total of the known ones and what is unknown."""

    rows: list[Row] = field(default_factory=list)

    @property
    def total(self) -> float:
        """Bytes over the windows and sequences with an estimate (shared states once)."""
        return sum(r.bytes for r in self.rows if r.bytes is not None and r.shares_state_of is None)

    @property
    def unknown(self) -> list[str]:
        """Names without an estimate (a key field with no cardinality and no sample)."""
        return [r.name for r in self.rows if r.bytes is None and r.shares_state_of is None]


TIME_BUCKETS: dict[str, tuple[int, int]] = {
    "hour": (24, 3_600_000),
    "minute": (60, 60_000),
    "weekday": (7, DAY_MS),
    "day": (31, DAY_MS),
}
"""Key parts such as ``hour(ts)``: (values it takes, how long one value lasts)."""


def bucket_multiplier(exprs: Iterable[n.Expr], span_ms: int) -> float:
    """Live values of the key's time-bucket parts (``by card_no, day(ts) over 1d``: 2 days at most).

    A part ``f(ts)`` of ``TIME_BUCKETS`` multiplies the keys by the values it
    takes within the span, at most its range: ``day(ts)`` over 1d -> 2,
    ``hour(ts)`` over 90d -> 24.
    """
    mult = 1.0
    for e in exprs:
        if isinstance(e, n.Call) and e.func in TIME_BUCKETS:
            values, lasts = TIME_BUCKETS[e.func]
            mult *= min(values, span_ms // lasts + 1)
    return mult


def key_fields(exprs: Iterable[n.Expr]) -> list[str]:
    """The field names a key's expressions read (``by a, lower(b)`` -> a, b), in order, once each.

    Time-bucket parts (``hour(ts)``) are left out: ``bucket_multiplier`` counts them.
    """
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, n.Name):
            if node.name not in out:
                out.append(node.name)
            return
        if isinstance(node, msgspec.Struct):
            for f in node.__struct_fields__:
                walk(getattr(node, f))
        elif isinstance(node, list):
            for x in node:
                walk(x)

    for e in exprs:
        if not (isinstance(e, n.Call) and e.func in TIME_BUCKETS):
            walk(e)
    return out


def _estimate(row: Row, traffic: Optional[tuple[float, float, str]], one_per_key: bool, mult: float = 1.0) -> Row:
    if traffic is None:
        row.source = "unknown"
        return row
    c, r, row.source = traffic
    if row.source != "sample":
        c *= mult  # a replayed sample's keys already hold their time buckets
    w = row.span_ms
    row.cardinality, row.events_per_ms = c, r
    if c <= 0 or r <= 0:
        row.keys = row.entries = 0.0
        row.bytes = float(row.base)
        return row
    keys = c * -math.expm1(-r * w / c)
    entries = keys if one_per_key else max(keys, r * w)
    row.keys, row.entries = keys, entries
    row.bytes = row.base + keys * row.per_key + (entries - keys) * row.per_entry
    return row


def estimate(
    result: CheckResult,
    traffic: KeyTraffic,
    *,
    horizon_ms: Optional[int] = None,
) -> Budget:
    """Estimate every window's and sequence's bytes for a checked ruleset (``result.ok``).

    ``horizon_ms`` caps each span: the state after that much traffic rather
    than the steady state (used to compare with a replay shorter than a window).
    """
    compiled = compile_module(result)
    sym = result.symbols
    header = sym.header
    lateness = header.lateness_ms if header is not None and header.lateness_ms else 0
    budget = Budget()

    def span(ms: int) -> int:
        return min(ms, horizon_ms) if horizon_ms is not None else ms

    for i, spec in enumerate(compiled.windows):
        decl = sym.windows[spec.name]
        cost = window_cost(spec.agg, spec.is_float)
        fields = key_fields(decl.by)
        row = Row(
            "window",
            spec.name,
            spec.agg,
            ", ".join(fields),
            span(spec.duration_ms + lateness),
            full_span_ms=spec.duration_ms + lateness,
            per_key=cost.per_key,
            per_entry=cost.per_entry,
            base=cost.base,
            line=decl.span.line,
            path=result.symbols.decl_paths.get(id(decl), ""),
            span=decl.name.span,
        )
        first = compiled.window_state[i] if compiled.window_state else i
        if first != i:
            row.shares_state_of = compiled.windows[first].name
        feed = traffic.key_traffic(spec.name, sym.window_events.get(spec.name, []), fields)
        _estimate(row, feed, spec.agg in ("last", "since"), bucket_multiplier(decl.by, row.span_ms))
        budget.rows.append(row)
    for i, sspec in enumerate(compiled.sequences):
        sdecl = sym.sequences[sspec.name]
        cost = sequence_cost(sspec.n_steps)
        fields = key_fields(sdecl.by)
        row = Row(
            "sequence",
            sspec.name,
            f"sequence/{sspec.n_steps}",
            ", ".join(fields),
            span(sspec.within_ms),
            full_span_ms=sspec.within_ms,
            per_key=cost.per_key,
            base=cost.base,
            line=sdecl.span.line,
            path=result.symbols.decl_paths.get(id(sdecl), ""),
            span=sdecl.name.span,
        )
        first = compiled.sequence_state[i] if compiled.sequence_state else i
        if first != i:
            row.shares_state_of = compiled.sequences[first].name
        feed = traffic.key_traffic(sspec.name, sym.sequence_events.get(sspec.name, []), fields)
        _estimate(row, feed, True, bucket_multiplier(sdecl.by, row.span_ms))
        budget.rows.append(row)
    return budget


def large_rows(budget: Budget, limit: Optional[float]) -> list[tuple[Row, str]]:
    """The rows that deserve RD313, with the reason: effectively unbounded, or a large share of the budget."""
    out = []
    for r in budget.rows:
        if r.shares_state_of is not None:
            continue
        if max(r.span_ms, r.full_span_ms) >= LONG_SPAN_MS:
            out.append((r, "long"))
        elif r.bytes is not None and (r.bytes >= LARGE_SHARE * limit if limit else r.bytes >= LARGE_BYTES):
            out.append((r, "large"))
    return out
