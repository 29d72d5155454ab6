"""Controls on entities: the records and the table (docs/semantics.md, "Controls").

A ``Control`` restricts a key (an account, card, customer, device...): a
rule's ``control KEY as "KIND" for DURATION`` clause puts one in place when
the rule fires (non-shadow, committed), ``Engine.set_control`` by hand; later
events' rules read it with ``controlled(x)``/``control_kind(x)``.  Event time
throughout: a control is live for an event while ``ts < until`` (for a late
event, also while the watermark is before ``until``), until it is lifted.
One control per key: a newer one replaces it.

``ControlTable`` keeps the live controls by key in ``live`` (the dict the
generated code reads as ``CT``, so it is mutated in place, never replaced)
with a heap of expiries for the sweep.  This module imports nothing of the
engine: ``decision.py`` and the snapshot format use its structs.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any, Optional, Union

import msgspec

Key = Union[str, int]
"""A control key: the value of the clause's key expression (a text, an enum value or a whole number)."""


class Control(msgspec.Struct, frozen=True, kw_only=True):
    """A control on ``key``: ``kind`` from ``since`` until ``until`` (epoch ms, event time).

    ``rule``/``code``: the rule that set it and its reason code (``None`` for
    ``Engine.set_control``); ``by``/``reason``: who set it by hand and why.
    """

    key: Key
    kind: str
    since: int
    until: int
    rule: Optional[str] = None
    code: Optional[str] = None
    by: Optional[str] = None
    reason: Optional[str] = None


class ChannelControl(msgspec.Struct, frozen=True, kw_only=True):
    """What a channel sees of a control a decision set: the key, its kind, until when, the reason code."""

    key: Key
    kind: str
    until: int
    code: Optional[str] = None


class ControlError(ValueError):
    """A control call that cannot be done (nothing changed); the message names what is wrong.

    ``key`` is the key the call was given.
    """

    def __init__(self, message: str, *, key: Any = None) -> None:
        super().__init__(message)
        self.key = key


class ControlTable:
    """The live controls by key, and a heap of ``(until, key)`` for the sweep (entries may be stale)."""

    def __init__(self) -> None:
        self.live: dict[Any, Control] = {}
        self._expiry: list[tuple[int, int, Any]] = []  # (until, tie-break, key): keys of mixed types never compare
        self._n = 0

    def put(self, control: Control) -> Optional[Control]:
        """Put ``control`` in place (replacing the key's current one); returns the one it replaced."""
        old = self.live.pop(control.key, None)
        self.live[control.key] = control  # re-inserted: ``live`` stays in the order controls were set
        self._n += 1
        heapq.heappush(self._expiry, (control.until, self._n, control.key))
        return old

    def lift(self, key: Any) -> Optional[Control]:
        """Remove the key's control; returns it (the heap entry goes stale)."""
        return self.live.pop(key, None)

    def sweep(self, watermark: int, budget: int = 64) -> int:
        """Drop up to ``budget`` controls with ``until <= watermark`` (no event can see them any more)."""
        heap, live = self._expiry, self.live
        dropped = 0
        while heap and heap[0][0] <= watermark and dropped < budget:
            _until, _n, key = heapq.heappop(heap)
            c = live.get(key)
            if c is not None and c.until <= watermark:
                del live[key]
                dropped += 1
        if len(heap) > 2 * len(live) + 64:  # mostly stale entries (replaced or lifted controls): rebuild
            self._rebuild()
        return dropped

    def replace(self, controls: Iterable[Control]) -> None:
        """Replace the content (a snapshot restore), keeping the ``live`` dict itself."""
        self.live.clear()
        for c in controls:
            self.live[c.key] = c
        self._rebuild()

    def _rebuild(self) -> None:
        self._expiry = [(c.until, i, c.key) for i, c in enumerate(self.live.values())]
        heapq.heapify(self._expiry)
        self._n = len(self._expiry)


def control_summary(c: Optional[Control]) -> Optional[dict[str, Any]]:
    """A control as the audit log records it (``None`` for none)."""
    if c is None:
        return None
    return {"key": c.key, "kind": c.kind, "since": c.since, "until": c.until, "rule": c.rule, "code": c.code}


def channel_controls(controls: list[Control]) -> list[ChannelControl]:
    """The channel's view of the controls a decision set."""
    return [ChannelControl(key=c.key, kind=c.kind, until=c.until, code=c.code) for c in controls]
