"""The hold lifecycle run by the engine (docs/semantics.md, "Holds").

``Engine`` inherits these methods.  A ``hold`` decision of ``evaluate`` (and
of ``evaluate_many``, ``evaluate_arrow``, ``evaluate_columns``, and either
evaluator) opens a hold: the decision carries its ``hold_id``, the
``held_keys`` (the event's entity fields, ``ruledsl.compile.holdkeys``) and
``hold_expires_at`` (the event's ``ts`` + the ruleset's ``hold_timeout``:
*event* time).  ``peek`` shows ``held_keys`` and ``hold_expires_at`` but opens
nothing (``hold_id`` is ``None``).

States: ``open`` -> ``released`` | ``blocked`` (``confirm_hold``) or
``open`` -> ``expired`` (``expire_due``; its action is ``block``).  The engine
never expires a hold by itself: ``expire_due(now)`` compares ``now`` - whatever
clock the caller passes, usually the wall clock - with ``hold_expires_at``.

``hold_id`` is a keyed hash (``holds.hold_id_for``): unguessable from other
ids (a counter would let anyone holding one id confirm the neighbouring
holds), unique across processes, and the same for two engines of one process
fed the same stream, so replays and restored snapshots decide identically.

Confirmations and expiries are written to the audit log, if any
(``hold.confirm``, ``hold.expire``), with the lock order of
``engine_audit``: the log's lock, then the engine's lock only to apply the
change, the line appended after it; a line that cannot be written undoes the
change.  ``expire_due`` does so per hold: a hold whose line cannot be written
stays open while the others expire, and ``ExpiryError`` (an ``AuditError``)
names it afterwards - one hold the log refuses never blocks every later
expiry.  Opening a hold is part of ``evaluate`` and is never logged.

With a ``RedisStore`` the holds live in Redis, shared by every process on
the store (``engine_shared_holds``, ``shared_holds``); without one, in the
engine's ``HoldBook`` as described above.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ruledsl.compile.holdkeys import held_key_fields
from ruledsl.kernels.last import NEVER
from ruledsl.kernels.values import parse_timestamp
from ruledsl.runtime import audit as auditing
from ruledsl.runtime.decision import Decision, MatchedRule, ScoreResult
from ruledsl.runtime.engine_shared_holds import SharedHoldsMixin, shared_holds_for
from ruledsl.runtime.holds import (
    CONFIRMATIONS,
    ExpiryError,
    Hold,
    HoldBook,
    HoldError,
    HoldOutcome,
    conflict_error,
    hold_id_for,
    hold_summary,
    outcome_of,
    outcome_summary,
    shown_id,
)

__all__ = ["ExpiryError", "HoldsMixin"]  # ExpiryError lives in holds.py; imported from here too


class HoldsMixin(SharedHoldsMixin):
    """Holds for ``Engine``: opening (from ``_decide``), ``confirm_hold``, ``expire_due``, ``holds``."""

    # set by Engine.__init__
    compiled: Any
    result: Any
    hold_timeout_ms: int
    clock: Optional[Callable[[], int]]
    _zone: Any
    _lock: Any
    _clock_state: list[int]
    _audit: Optional[auditing.AuditLog]
    _audit_lock: Callable[[], Any]
    _audit_record: Callable[..., Any]
    _store: Any
    _guard: Any

    def _init_holds(self, carry: Any = None) -> None:
        """Start the hold book (or take the replaced engine's, on a reload) and the held fields per event type."""
        self._hold_book: HoldBook = carry._hold_book if carry is not None else HoldBook()
        # with a RedisStore the holds live in Redis, and the book keeps only those waiting to be written
        self._shared_holds = (
            carry._shared_holds if carry is not None else shared_holds_for(self._store, self._hold_book)
        )
        sym, refs = self.result.symbols, self.result.refs
        self._held_fields: dict[str, list[str]] = {
            event: held_key_fields(sym, refs, event) for event in self.compiled.event_types
        }

    def _hold_decision(
        self,
        event_type: str,
        rules: list[MatchedRule],
        scores: list[ScoreResult],
        late: bool,
        ts: int,
        commit: bool,
        held: tuple[Any, ...],
    ) -> Decision:
        # _decide's hold branch, under the engine's lock: the decision, and the hold it opens if committed
        names = self._held_fields[event_type]
        keys = {name: value for name, value in zip(names, held, strict=False) if value is not None}
        expires = ts + self.hold_timeout_ms
        hold_id = None
        if commit:
            book = self._hold_book
            holding = [r for r in rules if r.action == "hold" and not r.shadow]
            while True:
                book.seq += 1
                hold_id = hold_id_for(book.seq, event_type, ts, keys)
                hold = Hold(
                    hold_id=hold_id,
                    event_type=event_type,
                    ts=ts,
                    held_keys=keys,
                    hold_expires_at=expires,
                    rules=[r.id for r in holding],
                    codes=[r.code for r in holding if r.code],
                )
                shared = self._shared_holds
                if shared is None:
                    book.open[hold_id] = hold
                    break
                if shared.add(hold, self._guard):  # False: Redis has another hold with this id: the next number
                    break
        return Decision(
            action="hold",
            event_type=event_type,
            rules=rules,
            scores=scores,
            late=late,
            hold_timeout_ms=self.hold_timeout_ms,
            hold_id=hold_id,
            held_keys=keys,
            hold_expires_at=expires,
        )

    # ---------------------------------------------------------------- public
    def holds(self) -> list[Hold]:
        """The open holds, oldest first (``Hold``: id, event type and time, held keys, expiry, rules, codes).

        With a ``RedisStore``: every process's open holds, in the order they
        reached Redis; ``HoldStoreError`` while Redis is unavailable.
        """
        if self._shared_holds is not None:
            return self._shared_list(self._shared_holds)
        with self._lock:
            return list(self._hold_book.open.values())

    @property
    def holds_waiting(self) -> int:
        """With a ``RedisStore``: holds opened (or restored) while Redis was unavailable, not written yet; else 0."""
        with self._lock:
            return self._shared_holds.pending if self._shared_holds is not None else 0

    def hold_outcome(self, hold_id: str) -> Optional[HoldOutcome]:
        """How a closed hold ended, or ``None`` if it is open, unknown, or too old to be remembered.

        With a ``RedisStore``: closed by any process; ``HoldStoreError`` while Redis is unavailable.
        """
        if self._shared_holds is not None:
            return self._shared_outcome(self._shared_holds, hold_id)
        with self._lock:
            return self._hold_book.closed.get(hold_id)

    def confirm_hold(
        self,
        hold_id: str,
        outcome: str = "release",
        *,
        by: Optional[str] = None,
        reason: Optional[str] = None,
        at: Any = None,
    ) -> HoldOutcome:
        """Close an open hold: ``outcome="release"`` (the action becomes ``pass``) or ``"block"``.

        ``by``/``reason`` say who confirmed and why (to the audit log, if any);
        ``at`` is the confirmation's time (epoch ms or ISO 8601; default the
        engine's clock, or its event time with ``clock=None``).  Idempotent:
        confirming a hold again with the same outcome returns the first
        ``HoldOutcome`` and changes nothing.  Raises ``HoldError`` (nothing
        changed) for an unknown id, an outcome other than the one already
        recorded, or a hold that already expired (``expire_due``).  A hold
        whose ``hold_expires_at`` has passed can still be confirmed until
        ``expire_due`` expires it.

        With a ``RedisStore`` any process sharing it can confirm the hold; of
        two racing confirmations one wins and the other gets its outcome (or
        ``HoldError``); ``HoldStoreError`` while Redis is unavailable.
        """
        wanted = CONFIRMATIONS.get(outcome) if isinstance(outcome, str) else None
        if wanted is None:
            raise HoldError(f'outcome must be "release" or "block", not {outcome!r}', hold_id=shown_id(hold_id))
        if not isinstance(hold_id, str):
            raise HoldError(f"a hold id is a string, not {type(hold_id).__name__}")
        auditing.check_who(by, reason)
        when = self._hold_time(at, "at") if at is not None else self._hold_now()
        if self._shared_holds is not None:
            return self._shared_confirm(self._shared_holds, hold_id, wanted, outcome, when, by, reason)
        with self._audit_lock():
            with self._lock:
                book = self._hold_book
                done = book.closed.get(hold_id)
                if done is not None:
                    if done.outcome == wanted:
                        return done
                    raise conflict_error(done, outcome)
                hold = book.open.get(hold_id)
                if hold is None:
                    raise HoldError(
                        f"unknown hold id {shown_id(hold_id)!r}: no open hold has it (never opened by this engine, "
                        f"or closed too long ago to be remembered); {len(book.open)} hold(s) open",
                        hold_id=hold_id,
                    )
                done = outcome_of(hold, wanted, when, by, reason)
                book.close(done)
            try:
                self._audit_record(
                    "hold.confirm", hold_id, hold_summary(hold), outcome_summary(done), by=by, reason=reason
                )
            except BaseException:
                with self._lock:  # no change without its line
                    self._hold_book.reopen(hold)
                raise
        return done

    def expire_due(self, now: Any, callback: Optional[Callable[[HoldOutcome], Any]] = None) -> list[HoldOutcome]:
        """Expire every open hold with ``hold_expires_at <= now`` into a ``block``; returns their outcomes.

        ``now`` is epoch ms or an ISO 8601 string, as an event's ``ts``: the
        caller's clock (usually the wall clock; a replay passes event time).
        The engine never calls this by itself.  Each outcome (``outcome``
        ``"expired"``, ``action`` ``"block"``) is also passed to ``callback``,
        one by one, after all of them are applied and recorded and outside the
        engine's locks; an exception from the callback propagates and the
        holds stay expired (``hold_outcome`` finds them).  Idempotent: a hold
        expires once; calling again returns only holds that became due since.

        With an audit log, each hold expires only with its ``hold.expire``
        line: a hold whose line cannot be written is opened again and the
        others still expire; then, after the callback has seen the expired ones,
        ``ExpiryError`` lists the holds left open (its ``expired`` has the
        outcomes that would have been returned).  An interrupt
        (``KeyboardInterrupt``) while recording reopens the holds not yet recorded.

        With a ``RedisStore`` it expires the due holds of every process; run
        in several processes at once, each expiry is returned by one of them.
        ``HoldStoreError`` (nothing changed) while Redis is unavailable; if
        Redis fails part way, the holds expired so far go to the callback and
        to the error's ``expired``, and the others stay open.
        """
        at = self._hold_time(now, "now")
        if callback is not None and not callable(callback):
            raise HoldError(f"callback must be callable, not {type(callback).__name__}")
        if self._shared_holds is not None:
            return self._shared_expire(self._shared_holds, at, callback)
        reason = "not confirmed before hold_expires_at"
        with self._audit_lock():
            with self._lock:
                book = self._hold_book
                due = [h for h in book.open.values() if h.hold_expires_at <= at]
                done = [outcome_of(h, "expired", at, None, reason) for h in due]
                for out in done:
                    book.close(out)
            recorded: list[HoldOutcome] = []
            failures: list[tuple[str, Exception]] = []
            for k, (hold, out) in enumerate(zip(due, done, strict=True)):
                try:
                    self._audit_record(
                        "hold.expire", hold.hold_id, hold_summary(hold), outcome_summary(out), by=None, reason=reason
                    )
                except Exception as err:  # this hold stays open, the others still expire
                    with self._lock:
                        self._hold_book.reopen(hold)
                    failures.append((hold.hold_id, err))
                    continue
                except BaseException:
                    with self._lock:  # the holds whose lines were not written are open again
                        for again in due[k:]:
                            self._hold_book.reopen(again)
                    raise
                recorded.append(out)
        if callback is not None:
            for out in recorded:
                callback(out)
        if failures:
            raise ExpiryError(recorded, failures)
        return recorded

    # ---------------------------------------------------------------- helpers
    def _hold_time(self, value: Any, name: str) -> int:
        """``value`` (epoch ms or ISO 8601, as an event's ``ts``) in epoch ms, or HoldError naming ``name``."""
        if type(value) is bool:
            raise HoldError(f"{name} must be epoch milliseconds or an ISO 8601 string, not a bool")
        try:
            return parse_timestamp(value, self._zone)
        except (TypeError, ValueError, OverflowError) as err:
            raise HoldError(f"{name} must be epoch milliseconds or an ISO 8601 string: {err}") from None

    def _hold_now(self) -> int:
        """A confirmation's default time: the engine's clock, else its event time (0 before any event)."""
        if self.clock is not None:
            return self.clock()
        latest = self._clock_state[0]
        return latest if latest != NEVER else 0
