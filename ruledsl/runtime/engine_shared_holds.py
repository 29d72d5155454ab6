"""The hold lifecycle when the holds live in Redis (docs/semantics.md, "Holds in Redis").

``HoldsMixin`` (engine_holds) calls these when the engine's store is a
``RedisStore``: the same public behaviour - states, idempotence, errors,
audit lines and their undo - with the state in Redis, so that every process
sharing the store sees the same holds.  A confirmation or an expiry is one
atomic script call: of two processes racing to close one hold, one closes it
and the other gets the winner's outcome (the same ``HoldOutcome`` for the
same outcome, ``HoldError`` for another); ``expire_due`` in several processes
returns each expiry once, from the process whose call closed it.

During an outage (Redis unreachable, or the circuit breaker open) ``holds``,
``hold_outcome``, ``confirm_hold`` and ``expire_due`` raise ``HoldStoreError``
and change nothing; opening a hold never fails (``shared_holds``: it waits in
this process and is written when Redis answers again).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Optional

from ruledsl.runtime.holds import (
    ExpiryError,
    Hold,
    HoldBook,
    HoldError,
    HoldOutcome,
    HoldStoreError,
    conflict_error,
    hold_summary,
    outcome_summary,
    shown_id,
)
from ruledsl.runtime.shared_holds import SharedHolds, decode_hold, decode_record, encode_closing
from ruledsl.stores.local import StoreError

log = logging.getLogger("ruledsl.stores")

_HOLD_ID = re.compile(r"[0-9a-f]{32}")


def shared_holds_for(store: Any, book: HoldBook) -> Optional[SharedHolds]:
    """``SharedHolds`` over ``store`` when it is a ``RedisStore`` (guarded or not), else ``None`` (holds in memory)."""
    if store is None:
        return None
    from ruledsl.stores.guard import GuardedStore
    from ruledsl.stores.redis import RedisStore
    from ruledsl.stores.redis_holds import RedisHoldTable

    inner = store.store if isinstance(store, GuardedStore) else store
    if not isinstance(inner, RedisStore):
        return None
    return SharedHolds(RedisHoldTable(inner), book)


def _record(data: bytes, what: str, hold_id: Optional[str] = None) -> tuple[Hold, HoldOutcome]:
    # an outcome record's hold and outcome; a corrupt one is the store's failure
    try:
        return decode_record(data)
    except StoreError as err:
        raise HoldStoreError(f"{what}: {err}", hold_id=hold_id) from None


class SharedHoldsMixin:
    """The Redis side of ``HoldsMixin``'s public methods (each takes the engine's ``SharedHolds``)."""

    # set by Engine.__init__
    _lock: Any
    _guard: Any
    _audit_lock: Callable[[], Any]
    _audit_record: Callable[..., Any]

    def _shared_list(self, shared: SharedHolds) -> list[Hold]:
        with self._lock:
            items = shared.admin(self._guard, "holds()", shared.table.list_open)
        try:
            return [decode_hold(rec) for _, rec in items]
        except StoreError as err:
            raise HoldStoreError(f"holds(): {err}") from None

    def _shared_outcome(self, shared: SharedHolds, hold_id: str) -> Optional[HoldOutcome]:
        if not isinstance(hold_id, str) or not _HOLD_ID.fullmatch(hold_id):
            return None
        with self._lock:
            _open, done = shared.admin(self._guard, f"hold_outcome({hold_id})", shared.table.get, hold_id)
        return None if done is None else _record(done, f"hold_outcome({hold_id})", hold_id)[1]

    def _shared_confirm(
        self,
        shared: SharedHolds,
        hold_id: str,
        wanted: str,
        outcome: str,
        when: int,
        by: Optional[str],
        reason: Optional[str],
    ) -> HoldOutcome:
        what = f"confirm_hold({shown_id(hold_id)!r}, {outcome!r})"
        if not _HOLD_ID.fullmatch(hold_id):
            raise HoldError(f"unknown hold id {shown_id(hold_id)!r}: hold ids are 32 hex digits", hold_id=hold_id)
        closing = encode_closing(wanted, when, by, reason)
        with self._audit_lock():
            with self._lock:
                status, rec = shared.admin(self._guard, what, shared.table.close, hold_id, closing, hold_id=hold_id)
            if status == 0:
                days = shared.table.retention_ms / 86_400_000
                raise HoldError(
                    f"unknown hold id {hold_id!r}: the Redis store has no open hold with it (never opened, or "
                    f"closed more than {days:g} day(s) ago: hold_retention_ms)",
                    hold_id=hold_id,
                )
            hold, done = _record(rec, what, hold_id)
            if status == 2:  # closed before (by any process): idempotent, or a conflict
                if done.outcome == wanted:
                    return done
                raise conflict_error(done, outcome)
            try:
                self._audit_record(
                    "hold.confirm", hold_id, hold_summary(hold), outcome_summary(done), by=by, reason=reason
                )
            except BaseException:
                with self._lock:  # no change without its line
                    self._shared_reopen(shared, hold_id, rec, hold, closing)
                raise
        return done

    def _shared_expire(
        self, shared: SharedHolds, at: int, callback: Optional[Callable[[HoldOutcome], Any]]
    ) -> list[HoldOutcome]:
        from ruledsl.stores.redis_holds import CHUNK

        reason = "not confirmed before hold_expires_at"
        closing = encode_closing("expired", at, None, reason)
        what = f"expire_due({at})"
        recorded: list[HoldOutcome] = []
        failures: list[tuple[str, Exception]] = []
        stopped: Optional[HoldStoreError] = None
        with self._audit_lock():
            with self._lock:
                ids = shared.admin(self._guard, what, shared.table.due, at)
            for start in range(0, len(ids), CHUNK):
                with self._lock:
                    try:
                        closed = shared.admin(
                            self._guard, what, shared.table.expire, ids[start : start + CHUNK], closing, at
                        )
                    except HoldStoreError as err:  # the holds not reached stay open
                        stopped = err
                        break
                for k, (hold_id, rec) in enumerate(closed):
                    try:
                        hold, out = _record(rec, what, hold_id)
                        self._audit_record(
                            "hold.expire", hold_id, hold_summary(hold), outcome_summary(out), by=None, reason=reason
                        )
                    except Exception as err:  # this hold stays open, the others still expire
                        with self._lock:
                            self._shared_reopen(shared, hold_id, rec, None, closing)
                        failures.append((hold_id, err))
                        continue
                    except BaseException:
                        with self._lock:  # the holds whose lines were not written are open again
                            for again, again_rec in closed[k:]:
                                self._shared_reopen(shared, again, again_rec, None, closing)
                        raise
                    recorded.append(out)
        if stopped is not None and not recorded and not failures:
            raise stopped  # nothing changed (or, after a timeout, maybe its first chunk: maybe_applied says)
        if callback is not None:
            for out in recorded:
                callback(out)
        if stopped is not None:
            stopped.expired = recorded
            raise stopped
        if failures:
            raise ExpiryError(recorded, failures)
        return recorded

    def _shared_reopen(
        self, shared: SharedHolds, hold_id: str, rec: bytes, hold: Optional[Hold], closing: bytes
    ) -> None:
        # undo a close whose audit line could not be written (under the engine's lock); if Redis fails now
        # the hold stays closed without its line: logged, the audit error still propagates
        hold_rec = rec[1 : len(rec) - len(closing)]
        try:
            expires = hold.hold_expires_at if hold is not None else decode_hold(hold_rec).hold_expires_at
            shared.call(self._guard, shared.table.reopen, hold_id, rec, expires, hold_rec)
        except StoreError as err:
            log.error(
                "hold %s: its audit line failed and Redis could not reopen it (%s): it stays closed", hold_id, err
            )
