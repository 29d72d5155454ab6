"""A candidate ruleset against its baseline, event by event (``ruledsl backtest --baseline``).

``Comparison`` is a replay consumer.  Over the scored events it keeps:

- the **transition matrix**: for every pair (baseline action, candidate
  action) the number of events, ``pass -> pass`` included;
- the **entities newly affected**: for each entity field (``--by``; default
  ``customer_id`` and ``account_no``), the distinct values with at least one
  event whose action is *stronger* under the candidate (escalated: e.g.
  ``pass -> hold``), and those with one whose action is weaker (relaxed);
- **samples**: the first ``samples`` events of every non-empty cell, with
  their file and line, the event and each version's fired rules; the file's
  index in ``--events`` with the line names the event's position in the
  stream, where ``lab/explain_pass.py`` finds it again to explain it.

Only the events whose action changed are looked at one by one (the matrix
itself is counted over action lists), so an unchanged stream costs a zip
and a ``Counter``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Optional

from ruledsl.lab.readers import Chunk
from ruledsl.runtime.decision import ACTION_RANK
from ruledsl.syntax.nodes import ACTIONS

DEFAULT_ENTITY_FIELDS = ("customer_id", "account_no")
MAX_LISTED = 50
"""Entity values listed per field and direction (all are counted)."""


def _rules(d: Any) -> list[dict]:
    return [{"rule": r.id, "action": r.action, "code": r.code, "shadow": r.shadow} for r in d.rules]


def _jsonable(event: dict) -> dict:
    # a sample event as JSON-ready data (decimals and datetimes as text)
    out = {}
    for k, v in event.items():
        out[k] = v if v is None or isinstance(v, (str, int, float, bool)) else str(v)
    return out


class Comparison:
    """Transition matrix, newly affected entities and samples of a baseline vs candidate replay."""

    def __init__(self, entity_fields: Sequence[str] = DEFAULT_ENTITY_FIELDS, samples: int = 3) -> None:
        self.entity_fields = tuple(entity_fields)
        self.samples_per_cell = samples
        self.matrix: Counter = Counter()  # (old action, new action) -> events
        self.samples: dict[tuple[str, str], list[dict]] = {}
        self.escalated: dict[str, set] = {f: set() for f in self.entity_fields}
        self.relaxed: dict[str, set] = {f: set() for f in self.entity_fields}
        self._full: set[tuple[str, str]] = set()

    def add(self, chunk: Chunk, new: list[Any], old: Optional[list[Any]], scored: Optional[Sequence[int]]) -> None:
        """Count a chunk's pairs of decisions."""
        if old is None:
            return
        if scored is None:
            pairs = list(zip([d.action for d in old], [d.action for d in new], strict=True))
            index: Sequence[int] = range(len(pairs))
        else:
            index = scored
            pairs = [(old[i].action, new[i].action) for i in scored]
        self.matrix.update(pairs)
        full = self._full
        want = {c for c in set(pairs) if c not in full}
        if want:
            for j, cell in enumerate(pairs):
                if cell in want:
                    self._sample(chunk, index[j], cell, old, new)
                    if cell in full:
                        want.discard(cell)
                        if not want:
                            break
        rank = ACTION_RANK
        changed = [(index[j], cell) for j, cell in enumerate(pairs) if cell[0] != cell[1]]
        if not changed:
            return
        columns = {f: chunk.column(f) for f in self.entity_fields if chunk.has_field(f)}
        for i, (a, b) in changed:
            up = rank[b] > rank[a]
            target = self.escalated if up else self.relaxed
            for f, col in columns.items():
                v = col[i]
                if v is not None:
                    target[f].add(v if type(v) is str else str(v))

    def _sample(self, chunk: Chunk, i: int, cell: tuple[str, str], old: list[Any], new: list[Any]) -> None:
        kept = self.samples.setdefault(cell, [])
        kept.append(
            {
                "file": chunk.source,
                "file_index": chunk.file,
                "line": chunk.lines[i],
                "event": _jsonable(chunk.row(i)),
                "old_rules": _rules(old[i]),
                "new_rules": _rules(new[i]),
            }
        )
        if len(kept) >= self.samples_per_cell:
            self._full.add(cell)

    def to_dict(self) -> dict:
        """The comparison as JSON-ready data (docs/lab.md, "Comparing with a baseline")."""
        total = sum(self.matrix.values())
        rank = ACTION_RANK
        escalated_events = sum(n for (a, b), n in self.matrix.items() if rank[b] > rank[a])
        relaxed_events = sum(n for (a, b), n in self.matrix.items() if rank[b] < rank[a])
        return {
            "events": total,
            "changed_events": escalated_events + relaxed_events,
            "escalated_events": escalated_events,
            "relaxed_events": relaxed_events,
            "actions": list(ACTIONS),
            "matrix": [[self.matrix.get((a, b), 0) for b in ACTIONS] for a in ACTIONS],
            "cells": [
                {"old": a, "new": b, "events": n, "samples": self.samples.get((a, b), [])}
                for (a, b), n in sorted(self.matrix.items(), key=lambda kv: (-rank[kv[0][1]], -rank[kv[0][0]]))
            ],
            "affected": {
                f: {
                    "escalated": len(self.escalated[f]),
                    "relaxed": len(self.relaxed[f]),
                    "escalated_sample": sorted(self.escalated[f])[:MAX_LISTED],
                    "relaxed_sample": sorted(self.relaxed[f])[:MAX_LISTED],
                }
                for f in self.entity_fields
            },
        }
