"""Controls on entities run by the engine (docs/semantics.md, "Controls").

``Engine`` inherits these methods.  A committed decision whose non-shadow
rules have ``control`` clauses puts their controls in place
(``_control_decision``, called by ``_decide`` with the ``ctl`` the event
function collected): one per key, the first rule in decision order wins
within an event, and a later event's control replaces the key's current one.
The decision lists them (``Decision.controls``, shown by ``channel_view``);
``peek`` lists the controls the event would set and sets none.  Controls set
by rules are decisions: they are not written to the audit log per event.

``set_control`` and ``lift_control`` are administrative and audited
(``control.set``, ``control.lift``) with the lock order of ``engine_audit``:
the log's lock, then the engine's lock only to apply the change, the line
appended after it; a line that cannot be written undoes the change.

Everything is event time: a control lasts from its event's ``ts`` for the
clause's duration; the periodic sweep (``_advance``) drops controls the
watermark has passed, which no event can see any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import msgspec

from ruledsl.kernels.last import NEVER
from ruledsl.runtime import audit as auditing
from ruledsl.runtime.controls import Control, ControlError, ControlTable, control_summary
from ruledsl.runtime.decision import ACTION_RANK, Decision
from ruledsl.runtime.holds import HoldError


class ControlsMixin:
    """Controls for ``Engine``: set by ``_decide``, swept by ``_advance``; ``controls``, ``set_control``, ``lift_control``."""

    # set by Engine.__init__
    compiled: Any
    clock: Optional[Callable[[], int]]
    _lock: Any
    _clock_state: list[int]
    _audit_lock: Callable[[], Any]
    _audit_record: Callable[..., Any]
    _hold_time: Callable[[Any, str], int]

    def _init_controls(self, carry: Any = None) -> None:
        """Start the control table, or take the replaced engine's (a reload keeps the controls)."""
        self._control_table: ControlTable = carry._control_table if carry is not None else ControlTable()

    def _control_decision(
        self, dec: Decision, hits: Any, ctl: list[tuple[int, Any, int]], ts: int, commit: bool
    ) -> Decision:
        # under the engine's lock, from _decide: the controls of the non-shadow rules still in hits
        if not hits:
            return dec
        metas = self.compiled.rules
        fired = {i for i, _f in hits}
        pending = [(metas[i], key, k) for i, key, k in ctl if key is not None and i in fired and not metas[i].shadow]
        if not pending:
            return dec
        pending.sort(key=lambda p: (-ACTION_RANK[p[0].action], -p[0].priority, p[0].index, p[2]))  # decision order
        seen: set[Any] = set()
        out: list[Control] = []
        for meta, key, k in pending:
            if key in seen:  # one control per key: the first in decision order
                continue
            seen.add(key)
            kind, duration = meta.controls[k]
            out.append(Control(key=key, kind=kind, since=ts, until=ts + duration, rule=meta.id, code=meta.code))
        if commit:
            put = self._control_table.put
            for c in out:
                put(c)
        return msgspec.structs.replace(dec, controls=out)

    def _sweep_controls(self, watermark: int) -> None:
        # from _advance, under the engine's lock: drop controls no event can see any more
        table = self._control_table
        if table.live:
            table.sweep(watermark)

    # ---------------------------------------------------------------- public
    def controls(self) -> list[Control]:
        """The live controls (``until`` after the engine's latest event time), in the order they were set."""
        with self._lock:
            now = self._clock_state[0]
            return [c for c in self._control_table.live.values() if c.until > now]

    def control(self, key: Any) -> Optional[Control]:
        """The live control on ``key``, or ``None``."""
        with self._lock:
            c = self._control_table.live.get(key) if _is_key(key) else None
            return c if c is not None and c.until > self._clock_state[0] else None

    def set_control(
        self,
        key: Any,
        kind: str,
        *,
        until: Any,
        by: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> Control:
        """Put a control on ``key`` by hand (an analyst's decision): ``kind`` until ``until``.

        ``key`` is a text or a whole number (the value rules test with
        ``controlled(x)``); ``until`` is epoch ms, an ISO 8601 string or a
        datetime, in event time, and must be after the engine's latest event
        time.  Replaces the key's current control, like a rule's.  Audited
        (``control.set``).  Raises ``ControlError`` (nothing changed) for a bad
        key, kind or ``until``.
        """
        _check_key(key)
        if not isinstance(kind, str) or not kind:
            raise ControlError(f"kind must be a non-empty string, not {kind!r:.60}", key=key)
        try:
            end = self._hold_time(until, "until")
        except HoldError as err:
            raise ControlError(str(err), key=key) from None
        auditing.check_who(by, reason)
        with self._audit_lock():
            with self._lock:
                latest = self._clock_state[0]
                if latest != NEVER and end <= latest:
                    raise ControlError(
                        f"until {end} is not after the engine's latest event time {latest}: the control "
                        "would never be live (event time)",
                        key=key,
                    )
                since = latest if latest != NEVER else (self.clock() if self.clock is not None else 0)
                new = Control(key=key, kind=kind, since=min(since, end), until=end, by=by, reason=reason)
                old = self._control_table.put(new)
            try:
                self._audit_record(
                    "control.set", str(key), control_summary(old), control_summary(new), by=by, reason=reason
                )
            except BaseException:
                with self._lock:  # no change without its line
                    self._undo(new, old)
                raise
        return new

    def lift_control(self, key: Any, *, by: Optional[str] = None, reason: Optional[str] = None) -> Control:
        """Lift the live control on ``key`` (e.g. a justified appeal); returns it.  Audited (``control.lift``).

        Raises ``ControlError`` (nothing changed) when ``key`` has no live control.
        """
        _check_key(key)
        auditing.check_who(by, reason)
        with self._audit_lock():
            with self._lock:
                table = self._control_table
                c = table.live.get(key)
                if c is None or c.until <= self._clock_state[0]:
                    shown = "expired" if c is not None else "none"
                    raise ControlError(
                        f"no live control on {key!r:.80} ({shown}); {len(table.live)} control(s) in place", key=key
                    )
                table.lift(key)
            try:
                self._audit_record("control.lift", str(key), control_summary(c), None, by=by, reason=reason)
            except BaseException:
                with self._lock:
                    if key not in self._control_table.live:  # unless an event set a newer one meanwhile
                        self._control_table.put(c)
                raise
        return c

    def _undo(self, new: Control, old: Optional[Control]) -> None:
        table = self._control_table
        if table.live.get(new.key) is not new:  # an event replaced it meanwhile: that one stands
            return
        if old is not None:
            table.put(old)
        else:
            table.lift(new.key)


def _is_key(key: Any) -> bool:
    return type(key) is str or type(key) is int


def _check_key(key: Any) -> None:
    if not _is_key(key):
        raise ControlError(
            f"a control key is a string or an int (an account, card, customer...), not {type(key).__name__}", key=key
        )
