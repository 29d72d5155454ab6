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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ruledsl.compile.holdkeys import held_key_fields
from ruledsl.kernels.last import NEVER
from ruledsl.kernels.values import parse_timestamp
from ruledsl.runtime import audit as auditing
from ruledsl.runtime.decision import Decision, MatchedRule, ScoreResult
from ruledsl.runtime.holds import (
    CONFIRMATIONS,
    Hold,
    HoldBook,
    HoldError,
    HoldOutcome,
    hold_id_for,
    hold_summary,
    outcome_of,
    outcome_summary,
)


class ExpiryError(auditing.AuditError):
    """``expire_due`` could not record some holds: those stay open, the others expired.

    ``expired`` holds the outcomes applied and recorded (also passed to the
    callback), ``failures`` the ``(hold_id, exception)`` of each hold left open.
    """

    def __init__(self, expired: list[HoldOutcome], failures: list[tuple[str, Exception]]) -> None:
        self.expired = expired
        self.failures = failures
        shown = "; ".join(f"{hold_id}: {err}" for hold_id, err in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(
            f"{len(failures)} due hold(s) could not be recorded in the audit log and stay open "
            f"({len(expired)} expired): {shown}{more}"
        )


class HoldsMixin:
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

    def _init_holds(self, carry: Any = None) -> None:
        """Start the hold book (or take the replaced engine's, on a reload) and the held fields per event type."""
        self._hold_book: HoldBook = carry._hold_book if carry is not None else HoldBook()
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
            book.seq += 1
            hold_id = hold_id_for(book.seq, event_type, ts, keys)
            holding = [r for r in rules if r.action == "hold" and not r.shadow]
            book.open[hold_id] = Hold(
                hold_id=hold_id,
                event_type=event_type,
                ts=ts,
                held_keys=keys,
                hold_expires_at=expires,
                rules=[r.id for r in holding],
                codes=[r.code for r in holding if r.code],
            )
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
        """The open holds, oldest first (``Hold``: id, event type and time, held keys, expiry, rules, codes)."""
        with self._lock:
            return list(self._hold_book.open.values())

    def hold_outcome(self, hold_id: str) -> Optional[HoldOutcome]:
        """How a closed hold ended, or ``None`` if it is open, unknown, or too old to be remembered."""
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
        """
        wanted = CONFIRMATIONS.get(outcome) if isinstance(outcome, str) else None
        if wanted is None:
            raise HoldError(f'outcome must be "release" or "block", not {outcome!r}', hold_id=_shown(hold_id))
        if not isinstance(hold_id, str):
            raise HoldError(f"a hold id is a string, not {type(hold_id).__name__}")
        auditing.check_who(by, reason)
        when = self._hold_time(at, "at") if at is not None else self._hold_now()
        with self._audit_lock():
            with self._lock:
                book = self._hold_book
                done = book.closed.get(hold_id)
                if done is not None:
                    if done.outcome == wanted:
                        return done
                    raise _conflict(done, outcome)
                hold = book.open.get(hold_id)
                if hold is None:
                    raise HoldError(
                        f"unknown hold id {_shown(hold_id)!r}: no open hold has it (never opened by this engine, "
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
        """
        at = self._hold_time(now, "now")
        if callback is not None and not callable(callback):
            raise HoldError(f"callback must be callable, not {type(callback).__name__}")
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


def _shown(hold_id: Any) -> str:
    text = str(hold_id)
    return text if len(text) <= 64 else text[:61] + "..."


def _conflict(done: HoldOutcome, outcome: str) -> HoldError:
    who = f" by {done.by}" if done.by else ""
    if done.outcome == "expired":
        return HoldError(
            f"hold {done.hold_id} expired into a block (at {done.at}, unconfirmed past its hold_expires_at "
            f"{done.hold_expires_at}); an expired hold cannot be confirmed ({outcome!r})",
            hold_id=done.hold_id,
            state="expired",
        )
    return HoldError(
        f"hold {done.hold_id} was already {done.outcome}{who} (at {done.at}); it cannot be confirmed {outcome!r} now",
        hold_id=done.hold_id,
        state=done.outcome,
    )
