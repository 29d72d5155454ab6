"""Holds and their outcomes: the records of the hold lifecycle (docs/semantics.md, "Holds").

A ``hold`` decision opens a ``Hold``; it stays open until the application
confirms it (``Engine.confirm_hold``: released or blocked) or a call to
``Engine.expire_due`` finds it overdue (expired, which blocks).  Each closing
leaves a ``HoldOutcome``: what the caller acts on, and what makes a repeated
confirmation idempotent.  ``HoldBook`` keeps both; the engine mutates it in
place under its lock (a reload hands the same book to the new ruleset).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from typing import Any, Optional

import msgspec

from ruledsl.runtime.audit import AuditError
from ruledsl.stores.local import StoreError

HOLD_OUTCOMES = ("released", "blocked", "expired")
"""How a hold ends: confirmed ``release`` (action ``pass``), confirmed ``block``, or expired (action ``block``)."""

CONFIRMATIONS = {"release": "released", "block": "blocked"}
"""``confirm_hold``'s ``outcome=`` -> the outcome it records."""

OUTCOME_ACTIONS = {"released": "pass", "blocked": "block", "expired": "block"}
"""The decision action each outcome turns the hold into."""

KEEP_OUTCOMES = 100_000
"""Closed holds remembered for idempotent re-confirmation (the most recent ones; older ids are forgotten)."""


_encode = msgspec.msgpack.Encoder().encode


def _keyed_hasher() -> Any:
    """A BLAKE2b keyed with fresh random bytes, salted with the process id (copied for each id)."""
    return hashlib.blake2b(key=os.urandom(32), digest_size=16, salt=os.getpid().to_bytes(8, "little"))


_HASHER = _keyed_hasher()


def _after_fork() -> None:
    global _HASHER  # a forked child must not share its parent's key
    _HASHER = _keyed_hasher()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork)


def hold_id_for(seq: int, event_type: str, ts: int, held_keys: dict[str, Any]) -> str:
    """A hold's id: 32 hex digits of a keyed BLAKE2b of the hold's number and its event.

    Unguessable: without this process's random key no id can be derived from
    another, so a channel or call centre holding one id cannot confirm its
    neighbours' holds (a counter would allow that).  Unique: the key (new in
    each process, forked ones included) and the engine's hold counter differ
    between processes and holds.  And reproducible within a process: two engines given the same
    stream (a replay, the Python and Cython evaluators, a restored snapshot
    continuing its counter, a reloaded ruleset) open holds with the same ids,
    so their decisions stay equal.
    """
    h = _HASHER.copy()
    try:
        h.update(_encode((seq, event_type, ts, held_keys)))
    except UnicodeEncodeError:  # a key with a lone surrogate (possible in a dict event): its repr escapes it
        h.update(repr((seq, event_type, ts, held_keys)).encode("utf-8"))
    return h.hexdigest()


class HoldError(ValueError):
    """A hold operation that cannot be done: unknown id, a conflicting or late confirmation, a bad argument.

    Raised before anything changes.  ``hold_id`` names the hold (when there is
    one), ``state`` its current state (``open``, ``released``, ``blocked``,
    ``expired``) or ``None`` for an unknown id.
    """

    def __init__(self, message: str, *, hold_id: Optional[str] = None, state: Optional[str] = None):
        super().__init__(message)
        self.hold_id = hold_id
        self.state = state


class HoldStoreError(HoldError, StoreError):
    """The Redis store that keeps the holds could not be reached (an outage, a timeout, the circuit breaker open).

    A ``HoldError`` and a ``ruledsl.stores.local.StoreError``.  ``maybe_applied``
    is false when the request certainly never reached Redis (nothing changed);
    true after a timeout or a reset, when the server may still have applied it -
    confirming again with the same outcome is safe (idempotent) and tells.
    """

    def __init__(self, message: str, *, hold_id: Optional[str] = None, maybe_applied: bool = False):
        super().__init__(message, hold_id=hold_id, state=None)
        self.maybe_applied = maybe_applied
        self.expired: list[Any] = []  # expire_due: the outcomes applied before the store failed (HoldOutcome)


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """An open hold: the held event and what it holds."""

    hold_id: str
    event_type: str
    ts: int  # the held event's time, epoch ms
    held_keys: dict[str, Any]
    hold_expires_at: int  # event time, epoch ms: ts + the ruleset's hold_timeout
    rules: list[str] = []  # the non-shadow hold rules that fired
    codes: list[str] = []  # their reason codes


class HoldOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a hold ended: the decision the caller acts on (``action``) and who decided it."""

    hold_id: str
    outcome: str  # released | blocked | expired
    action: str  # pass (released) | block (blocked, expired)
    at: int  # epoch ms: the confirmation's time, or the `now` given to expire_due
    by: Optional[str] = None
    reason: Optional[str] = None
    event_type: str = ""
    held_keys: dict[str, Any] = {}
    hold_expires_at: int = 0
    rules: list[str] = []
    codes: list[str] = []


class HoldBook:
    """The open holds (by id, in opening order) and the recent outcomes (by id)."""

    def __init__(self) -> None:
        self.seq = 0  # holds opened so far: numbers the next one (hold_id_for)
        self.open: dict[str, Hold] = {}
        self.closed: OrderedDict[str, HoldOutcome] = OrderedDict()

    def close(self, outcome: HoldOutcome) -> None:
        """Move a hold from open to closed (the oldest outcomes beyond ``KEEP_OUTCOMES`` are forgotten)."""
        self.open.pop(outcome.hold_id, None)
        self.closed[outcome.hold_id] = outcome
        while len(self.closed) > KEEP_OUTCOMES:
            self.closed.popitem(last=False)

    def reopen(self, hold: Hold) -> None:
        """Undo ``close`` (its audit line could not be written): the hold is open again, in its place."""
        self.closed.pop(hold.hold_id, None)
        self.open[hold.hold_id] = hold
        ordered = sorted(self.open.values(), key=lambda h: (h.hold_expires_at, h.ts))
        self.open.clear()
        self.open.update((h.hold_id, h) for h in ordered)

    def replace(self, seq: int, open_holds: list[Hold], closed: list[HoldOutcome]) -> None:
        """Replace the content (a snapshot restore)."""
        self.seq = seq
        self.open.clear()
        self.open.update((h.hold_id, h) for h in open_holds)
        self.closed.clear()
        self.closed.update((o.hold_id, o) for o in closed[-KEEP_OUTCOMES:])


def outcome_of(hold: Hold, outcome: str, at: int, by: Optional[str], reason: Optional[str]) -> HoldOutcome:
    """The outcome record closing ``hold``."""
    return HoldOutcome(
        hold_id=hold.hold_id,
        outcome=outcome,
        action=OUTCOME_ACTIONS[outcome],
        at=at,
        by=by,
        reason=reason,
        event_type=hold.event_type,
        held_keys=hold.held_keys,
        hold_expires_at=hold.hold_expires_at,
        rules=hold.rules,
        codes=hold.codes,
    )


def hold_summary(hold: Hold) -> dict[str, Any]:
    """What an audit line shows of an open hold (``old``)."""
    return {
        "state": "open",
        "event_type": hold.event_type,
        "ts": hold.ts,
        "held_keys": hold.held_keys,
        "hold_expires_at": hold.hold_expires_at,
        "rules": hold.rules,
    }


def outcome_summary(outcome: HoldOutcome) -> dict[str, Any]:
    """What an audit line shows of the closed hold (``new``)."""
    return {"state": outcome.outcome, "action": outcome.action, "at": outcome.at}


class ExpiryError(AuditError):
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


def shown_id(hold_id: Any) -> str:
    """A hold id as an error message shows it (at most 64 characters)."""
    text = str(hold_id)
    return text if len(text) <= 64 else text[:61] + "..."


def conflict_error(done: HoldOutcome, outcome: str) -> HoldError:
    """The ``HoldError`` for confirming ``outcome`` a hold that already ended as ``done``."""
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
