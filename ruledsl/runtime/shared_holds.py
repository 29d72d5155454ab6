"""Holds kept in the Redis store, shared by every engine on it (docs/semantics.md, "Holds in Redis").

With a :class:`ruledsl.stores.redis.RedisStore` the engine keeps its open holds
and their outcomes in Redis (:mod:`ruledsl.stores.redis_holds` has the keys and
the scripts) instead of its ``HoldBook``, so that a hold opened by one process
can be listed, confirmed or expired by another.  ``SharedHolds`` is the
runtime's side: the encoding of the records, the circuit breaker of the
engine's ``GuardedStore`` (a hold call is refused at once while it is open,
and a failed one opens it, like an event's call), and the holds waiting to be
written.

Holds opened while Redis is unavailable are not lost: they wait in the
engine's ``HoldBook`` (``book.open``; a snapshot keeps them) and are written,
oldest first, before the next hold call and after the next event whose store
call succeeds.  Writing is idempotent by hold id (a repeated write of a hold
already open or closed changes nothing), so a write whose answer was lost is
simply repeated.  ``book.closed`` holds the outcomes a restored snapshot
brought that Redis does not know yet; ``book.seq`` numbers this engine's ids.

Records are MessagePack (msgspec) of the ``Hold`` and of the closing
``(outcome, at, by, reason)``; strings with lone surrogates (possible in a dict
event's held keys) use the snapshots' ``ESCAPED_STR`` extension.

Every method is called under the engine's lock (the breaker is not thread safe).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import msgspec

from ruledsl.runtime.holds import Hold, HoldBook, HoldOutcome, HoldStoreError, outcome_of
from ruledsl.runtime.persistence import _encode, _unescaped
from ruledsl.stores.guard import CLOSED, GuardedStore, StoreUnavailable
from ruledsl.stores.local import StoreError

log = logging.getLogger("ruledsl.stores")


class Closing(msgspec.Struct, frozen=True, array_like=True):
    """How a hold was closed: the part of an outcome record that is not the hold."""

    outcome: str
    at: int
    by: Optional[str] = None
    reason: Optional[str] = None


_HOLD = msgspec.msgpack.Decoder(Hold, ext_hook=_unescaped)
_RECORD = msgspec.msgpack.Decoder(tuple[Hold, Closing], ext_hook=_unescaped)


def _decoded(decoder: Any, kind: Any, data: bytes) -> Any:
    try:
        try:
            return decoder.decode(data)
        except msgspec.ValidationError:  # an ESCAPED_STR where the type says str: decoded untyped, then checked
            return msgspec.convert(msgspec.msgpack.decode(data, ext_hook=_unescaped), type=kind)
    except (msgspec.DecodeError, ValueError) as err:
        raise StoreError(f"redis: a corrupt hold record ({err})", maybe_applied=False) from None


def encode_hold(hold: Hold) -> bytes:
    """A hold's record in Redis."""
    return _encode(hold)


def decode_hold(data: bytes) -> Hold:
    """The ``Hold`` of a record (``StoreError`` if it is corrupt)."""
    hold: Hold = _decoded(_HOLD, Hold, data)
    return hold


def encode_closing(outcome: str, at: int, by: Optional[str], reason: Optional[str]) -> bytes:
    """The closing part of an outcome record."""
    return _encode(Closing(outcome, at, by, reason))


def decode_record(data: bytes) -> tuple[Hold, HoldOutcome]:
    """The hold and the ``HoldOutcome`` of an outcome record (MessagePack ``[hold, closing]``)."""
    hold, closing = _decoded(_RECORD, tuple[Hold, Closing], data)
    return hold, outcome_of(hold, closing.outcome, closing.at, closing.by, closing.reason)


def encode_outcome(outcome: HoldOutcome) -> bytes:
    """An outcome record, as the scripts build it (for a restored snapshot's outcomes)."""
    hold = Hold(
        hold_id=outcome.hold_id,
        event_type=outcome.event_type,
        ts=outcome.at,  # a HoldOutcome does not keep the held event's ts
        held_keys=outcome.held_keys,
        hold_expires_at=outcome.hold_expires_at,
        rules=outcome.rules,
        codes=outcome.codes,
    )
    return b"\x92" + encode_hold(hold) + encode_closing(outcome.outcome, outcome.at, outcome.by, outcome.reason)


def guarded_call(guard: Optional[GuardedStore], fn: Any, *args: Any) -> Any:
    """``fn(*args)`` through the store's circuit breaker: refused at once while it is open
    (``StoreUnavailable``); a ``StoreError`` counts as a failure of the store, a success closes it."""
    breaker = guard.breaker if guard is not None else None
    if breaker is not None and not breaker.allow():
        raise StoreUnavailable()
    try:
        result = fn(*args)
    except StoreError as err:
        if guard is not None and breaker is not None:
            guard.failures += 1
            guard.last_error = str(err)
            if breaker.record_failure():
                log.warning("state store failed (%s): circuit breaker open, retry in %d ms", err, breaker.cooldown_ms)
        raise
    if breaker is not None and (breaker.state != CLOSED or breaker.consecutive_failures):
        if breaker.state != CLOSED:
            log.warning("state store is back: circuit breaker closed")
        breaker.record_success()
    return result


class SharedHolds:
    """The engine's holds in Redis: ``table`` (a ``RedisHoldTable``) and the holds waiting to be written (``book``)."""

    def __init__(self, table: Any, book: HoldBook) -> None:
        self.table = table
        self.book = book
        self.conflicts = 0  # waiting holds dropped because Redis has another hold with their id (logged)

    @property
    def pending(self) -> int:
        """Holds (and restored outcomes) waiting to be written to Redis."""
        return len(self.book.open) + len(self.book.closed)

    # ------------------------------------------------------------ the breaker
    def call(self, guard: Optional[GuardedStore], fn: Any, *args: Any) -> Any:
        """``guarded_call``: ``fn(*args)`` through the store's circuit breaker."""
        return guarded_call(guard, fn, *args)

    def admin(
        self, guard: Optional[GuardedStore], what: str, fn: Any, *args: Any, hold_id: Optional[str] = None
    ) -> Any:
        """``call`` for an administrative operation: waiting holds are written first, and a store
        failure becomes ``HoldStoreError`` naming ``what`` could not be done."""
        try:
            if self.pending:
                self.flush(guard)
            return self.call(guard, fn, *args)
        except StoreError as err:
            maybe = bool(err.maybe_applied) and not isinstance(err, StoreUnavailable)
            after = (
                " - it may or may not have been applied (the request timed out or the connection broke); "
                "repeating it is safe"
                if maybe
                else "; nothing changed"
            )
            raise HoldStoreError(
                f"{what}: the Redis store that keeps the holds is unavailable ({err}){after}",
                hold_id=hold_id,
                maybe_applied=maybe,
            ) from err

    # ------------------------------------------------------------ opening
    def add(self, hold: Hold, guard: Optional[GuardedStore]) -> bool:
        """Open ``hold`` in Redis, or keep it waiting if Redis is unavailable; False (nothing kept) when
        Redis has another hold with its id (two engines of one process sharing the store: number it again)."""
        book = self.book
        if self.pending:
            try:
                self.flush(guard)
            except Exception as err:  # never fails the event: the hold waits behind the others, in order
                if not isinstance(err, StoreError):
                    log.warning("waiting holds could not be written to Redis: %s", err)
                book.open[hold.hold_id] = hold
                return True
        try:
            (status,) = self.call(guard, self.table.open, [(hold.hold_id, hold.hold_expires_at, encode_hold(hold))])
        except StoreError:
            book.open[hold.hold_id] = hold  # written with the next successful call (idempotent by id)
            return True
        except Exception as err:  # not a store failure (an unencodable value): kept, and said
            log.warning("hold %s could not be written to Redis and stays in this process: %s", hold.hold_id, err)
            book.open[hold.hold_id] = hold
            return True
        return bool(status != 3)

    def flush(self, guard: Optional[GuardedStore]) -> None:
        """Write the waiting holds and restored outcomes, oldest first; raises ``StoreError`` (they keep waiting)."""
        book = self.book
        if book.open:
            holds = list(book.open.values())
            statuses = self.call(
                guard, self.table.open, [(h.hold_id, h.hold_expires_at, encode_hold(h)) for h in holds]
            )
            for hold, status in zip(holds, statuses, strict=True):
                book.open.pop(hold.hold_id, None)
                if status == 3:
                    self.conflicts += 1
                    log.error(
                        "hold %s opened during a Redis outage was not written: Redis has another hold with its id",
                        hold.hold_id,
                    )
            log.warning("%d hold(s) opened while Redis was unavailable are written now", len(holds))
        if book.closed:
            outcomes = list(book.closed.values())
            self.call(guard, self.table.add_closed, [(o.hold_id, encode_outcome(o)) for o in outcomes])
            for out in outcomes:
                book.closed.pop(out.hold_id, None)

    def flush_quietly(self, guard: Optional[GuardedStore]) -> None:
        """``flush`` after an event's successful store call; a failure only leaves them waiting (the breaker logs it)."""
        try:
            self.flush(guard)
        except StoreError:
            pass
        except Exception as err:  # an unencodable record must not fail the event
            log.warning("waiting holds could not be written to Redis: %s", err)
