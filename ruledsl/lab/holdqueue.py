"""The hold queue's load: holds per hour against a call-back team's capacity, and the holds that would expire.

A ``hold`` decision waits for a call-back; unconfirmed when its timeout
passes (``hold_expires_at``, event time) it becomes a ``block``.  The
model (docs/lab.md, "Hold-queue load"): one call-back desk that works
around the clock and confirms ``capacity`` holds per hour, one at a time
(each takes ``1/capacity`` of an hour), first come first served.  A hold
is called back at the later of its arrival and the moment the desk is
free; a hold still waiting when it expires is not called (it costs the
desk nothing) and counts as **expired into a block**.

``HoldQueue`` is a replay consumer that keeps each hold's arrival and
expiry (two integers per hold, from the decision: no event field is read);
``simulate`` runs the model and gives per hour the holds that arrived, were
called back and expired, and the backlog at the end of the hour.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from typing import Any, Optional

from ruledsl.lab import LabError
from ruledsl.lab.readers import Chunk

HOUR_MS = 3_600_000
_CAPACITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(h|hour|d|day))?\s*$", re.IGNORECASE)


def parse_capacity(text: str) -> float:
    """``"40/h"``, ``"40"`` (per hour) or ``"960/d"`` -> holds per hour; ``LabError`` otherwise."""
    m = _CAPACITY.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise LabError(f"--callback-capacity takes a positive number of holds per hour such as 40/h, not {text!r}")
    per = float(m.group(1))
    unit = (m.group(2) or "h").lower()
    return per / 24 if unit in ("d", "day") else per


class HoldQueue:
    """The holds of one engine's decisions (``which``: ``"new"`` or ``"old"``): arrival and expiry times."""

    def __init__(self, which: str = "new") -> None:
        self.which = which
        self.arrivals = array("q")
        self.expiries = array("q")

    def add(self, chunk: Chunk, new: list[Any], old: Optional[list[Any]], scored: Optional[Sequence[int]]) -> None:
        """Keep the chunk's scored hold decisions."""
        decisions = new if self.which == "new" else old
        if decisions is None:
            return
        index = range(len(decisions)) if scored is None else scored
        for i in index:
            d = decisions[i]
            if d.action == "hold":
                expires = d.hold_expires_at
                timeout = d.hold_timeout_ms
                if expires is None or timeout is None:
                    continue
                self.arrivals.append(expires - timeout)
                self.expiries.append(expires)

    def simulate(self, capacity_per_hour: float) -> dict:
        """Run the call-back model (module docstring) at ``capacity_per_hour``; JSON-ready figures."""
        return simulate(list(zip(self.arrivals, self.expiries, strict=True)), capacity_per_hour)


def simulate(holds: Sequence[tuple[int, int]], capacity_per_hour: float) -> dict:
    """The call-back model over ``(arrival, expiry)`` pairs (epoch ms): totals and per-hour rows."""
    service = HOUR_MS / capacity_per_hour
    order = sorted(holds)
    free = None  # when the desk is next free
    called: list[int] = []  # call-back time of each confirmed hold
    expired: list[int] = []  # expiry time of each hold never called back
    waits: list[float] = []
    for arrival, expiry in order:
        start = arrival if free is None or free < arrival else free
        if start >= expiry:
            expired.append(expiry)
            continue
        called.append(int(start))
        waits.append(start - arrival)
        free = start + service
    hours: list[dict] = []
    if order:
        first = order[0][0] // HOUR_MS
        last = max(order[-1][0], *called[-1:], max(expired, default=0)) // HOUR_MS
        arrived_h = _per_hour([a for a, _ in order], first, last)
        called_h = _per_hour(called, first, last)
        expired_h = _per_hour(expired, first, last)
        backlog = 0
        for h in range(last - first + 1):
            backlog += arrived_h[h] - called_h[h] - expired_h[h]
            hours.append(
                {
                    "hour": (first + h) * HOUR_MS,
                    "arrived": arrived_h[h],
                    "called_back": called_h[h],
                    "expired": expired_h[h],
                    "backlog": backlog,
                }
            )
    waits.sort()
    return {
        "capacity_per_hour": capacity_per_hour,
        "holds": len(order),
        "called_back": len(called),
        "expired_to_block": len(expired),
        "expired_share": round(len(expired) / len(order), 4) if order else None,
        "peak_arrivals_per_hour": max((h["arrived"] for h in hours), default=0),
        "hours_over_capacity": sum(1 for h in hours if h["arrived"] > capacity_per_hour),
        "max_backlog": max((h["backlog"] for h in hours), default=0),
        "median_wait_minutes": round(waits[len(waits) // 2] / 60_000, 1) if waits else None,
        "hours": hours,
    }


def _per_hour(times: Sequence[int], first: int, last: int) -> list[int]:
    out = [0] * (last - first + 1)
    for t in times:
        out[t // HOUR_MS - first] += 1
    return out
