"""``last(x)`` windows: the value at a key's most recent earlier event, kept in Python.

Values of ``last`` may be strings, so this kernel is not in the Cython module;
it has the same methods as ``WindowState`` so engines and stores treat both alike.
"""

from __future__ import annotations

import bisect
import operator
from typing import Any

from ruledsl.kernels.slots_py import FrozenSlots

NEVER = -(2**62)

_ENTRY_TS = operator.itemgetter(0)  # an entry's timestamp, for bisect


class LastState:
    """``last(x)`` windows: the value at the key's most recent earlier event.

    Values may be strings, so this state is kept in Python.  Per key it keeps
    the entries newer than the watermark plus the newest one at or below it:
    every on-time query can be answered from those, so memory stays at about
    one entry per key.  A key's entries are a tuple, replaced (never changed)
    when an entry is added or trimmed, so ``copy()`` is a shallow dict copy.
    """

    def __init__(self, duration_ms: int, lateness_ms: int):
        self.duration_ms = duration_ms
        self.lateness_ms = lateness_ms
        self._keys: dict[Any, tuple[tuple[Any, Any], ...]] = {}
        self._wm = NEVER
        self._pending: list = []

    def query(self, key, ts, value=None, include_current=False):
        """Value of the newest entry with ``ts - D < entry.ts <= ts``, or None."""
        entries = self._keys.get(key)
        if not entries:
            return None
        i = bisect.bisect_right(entries, ts, key=_ENTRY_TS) - 1
        if i < 0 or entries[i][0] <= ts - self.duration_ms:
            return None
        return entries[i][1]

    def add(self, key, ts, value):
        """Store an entry, keeping entries sorted by ts (equal ts: arrival order)."""
        entries = self._keys.get(key, ())
        i = bisect.bisect_right(entries, ts, key=_ENTRY_TS)
        self._keys[key] = self._trim((*entries[:i], (ts, value), *entries[i:]))

    def _trim(self, entries):
        # all but the newest entry at or below the watermark
        j = bisect.bisect_right(entries, self._wm, key=_ENTRY_TS)
        return entries[j - 1 :] if j > 1 else entries

    def query_add(self, key, ts, value, include_current=False):
        """``query`` then ``add``, in one call."""
        result = self.query(key, ts)
        self.add(key, ts, value)
        return result

    def advance(self, watermark: int, budget: int = 128) -> None:
        """Move the watermark; visit up to ``budget`` keys and drop those that left every window."""
        self._wm = max(self._wm, watermark)
        limit = self._wm - self.duration_ms
        keys = self._keys
        for _ in range(budget):
            if not self._pending:
                if not keys:
                    return
                self._pending = list(keys)
                if len(self._pending) > budget:  # a new round starts at the next call
                    return
            key = self._pending.pop()
            entries = keys.get(key)
            if entries is not None:
                if entries[-1][0] <= limit:
                    del keys[key]
                else:
                    trimmed = self._trim(entries)
                    if trimmed is not entries:
                        keys[key] = trimmed

    @property
    def watermark(self):
        """The watermark last given to ``advance`` (None before the first)."""
        return None if self._wm == NEVER else self._wm

    def dump(self):
        """[(key, [(ts, value), ...]), ...] — the stored content."""
        return [(k, list(e)) for k, e in self._keys.items()]

    def copy(self) -> FrozenSlots:
        """A read-only copy whose ``dump()`` is this ``dump()`` now: a dict copy (entries are tuples)."""
        return FrozenSlots(dict(self._keys), self.watermark)

    def load(self, items) -> None:
        """Replace the content with ``dump()`` output."""
        self.clear()
        for key, entries in items:
            for ts, value in entries:
                self.add(key, ts, value)

    def __len__(self):
        return len(self._keys)

    def nbytes(self) -> int:
        """Rough bytes held: a dict slot, a tuple and one tuple per entry."""
        return sum(120 + 72 * len(e) for e in self._keys.values())

    def clear(self):
        """Forget everything."""
        self._keys.clear()
        self._pending = []
        self._wm = NEVER
