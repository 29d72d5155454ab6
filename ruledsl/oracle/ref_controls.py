"""Controls in the reference interpreter, read from docs/semantics.md ("Controls") literally.

A rule that fires (non-shadow, in the decision) with ``control KEY as "KIND"
for D`` gives its key's value (when present) the control ``KIND`` from the
event's ``ts`` until ``ts + D``; walking the decision's rules in decision
order and each rule's clauses in order, the first control for a key wins.
A committed event puts them in place, each replacing the key's control.
``controlled(x)``/``control_kind(x)`` see a control while the event's ``ts``
and the watermark (the latest on-time ``ts`` minus the lateness) are both
before its ``until``.  Nothing is ever swept: the watermark test makes old
controls invisible.  Shares nothing with the engine's table but the structs.
"""

from __future__ import annotations

from typing import Any, Optional

import msgspec

from ruledsl.runtime.controls import Control
from ruledsl.runtime.decision import Decision


class RefControlsMixin:
    """``controlled``/``control_kind``, the controls rules set, and ``set_control``/``lift_control``/``controls``."""

    sym: Any
    max_ts: Optional[int]
    lateness_ms: int
    clock: Any

    def _control_store(self) -> dict[Any, Control]:
        table = self.__dict__.get("_controls_")
        if table is None:
            table = self.__dict__["_controls_"] = {}
        return table

    def _control_live(self, c: Optional[Control], ts: Optional[int]) -> bool:
        if c is None:
            return False
        watermark = None if self.max_ts is None else self.max_ts - self.lateness_ms
        if ts is not None and not ts < c.until:
            return False
        return watermark is None or watermark < c.until

    def _ref_control_call(self, func: str, key: Any, ts: int) -> Any:
        """``controlled(key)`` or ``control_kind(key)`` for an event at ``ts``."""
        c = self._control_store().get(key) if key is not None else None
        live = self._control_live(c, ts)
        if func == "controlled":
            return live
        return c.kind if live and c is not None else None

    def _ref_apply_controls(self, decision: Decision, ctx: Any, commit: bool) -> Decision:
        """The decision with the controls its rules set; put in place when ``commit``."""
        out: list[Control] = []
        seen: set[Any] = set()
        for rule in decision.rules:  # already in decision order
            decl = self.sym.rules[rule.id]
            if rule.shadow or not decl.controls:
                continue
            for clause in decl.controls:
                key = self._eval(clause.key, ctx)  # type: ignore[attr-defined]
                if key is None or key in seen:
                    continue
                seen.add(key)
                duration = self._const_eval(clause.duration)  # type: ignore[attr-defined]
                out.append(
                    Control(
                        key=key,
                        kind=clause.kind.value,
                        since=ctx.ts,
                        until=ctx.ts + duration,
                        rule=rule.id,
                        code=rule.code,
                    )
                )
        if not out:
            return decision
        if commit:
            table = self._control_store()
            for c in out:
                table.pop(c.key, None)  # a newer control is listed last
                table[c.key] = c
        return msgspec.structs.replace(decision, controls=out)

    # ------------------------------------------------------------ the API (times in epoch ms only)
    def controls(self) -> list[Control]:
        """The live controls (``until`` after the latest event time), in the order they were set."""
        return [c for c in self._control_store().values() if self.max_ts is None or c.until > self.max_ts]

    def set_control(
        self, key: Any, kind: str, *, until: int, by: Optional[str] = None, reason: Optional[str] = None
    ) -> Control:
        """Put a control on ``key`` by hand; ValueError for an ``until`` not after the latest event time."""
        if self.max_ts is not None and until <= self.max_ts:
            raise ValueError("until is not after the latest event time")
        if self.max_ts is not None:
            since = self.max_ts
        else:
            since = self.clock() if self.clock is not None else 0
        c = Control(key=key, kind=kind, since=min(since, until), until=until, by=by, reason=reason)
        table = self._control_store()
        table.pop(key, None)
        table[key] = c
        return c

    def lift_control(self, key: Any, *, by: Optional[str] = None, reason: Optional[str] = None) -> Control:
        """Lift the live control on ``key``; ValueError when there is none."""
        table = self._control_store()
        c = table.get(key)
        if c is None or (self.max_ts is not None and c.until <= self.max_ts):
            raise ValueError(f"no live control on {key!r}")
        del table[key]
        return c
