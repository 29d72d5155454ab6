"""Outage handling around a state store: a circuit breaker and a bounded buffer of updates.

:class:`GuardedStore` wraps any store of the :mod:`ruledsl.stores.local`
protocol (in practice :class:`ruledsl.stores.redis.RedisStore`) and is itself
a store.  The engine wraps the store it is given in a default
``GuardedStore``; pass your own to change the thresholds::

    store = GuardedStore(RedisStore(url, timeout_ms=50), cooldown_ms=2_000, buffer_limit=50_000)
    engine = ruledsl.load(paths, store=store, on_store_error="fail_closed")

Circuit breaker
    *closed*: every call goes to the store.  After ``failures_to_open``
    consecutive failed calls (default 1: a timeout, a refused connection, a
    server error) it *opens*: calls are refused at once with
    :class:`StoreUnavailable`, without touching the network, and the engine's
    fault policy decides.  After ``cooldown_ms`` (default 1 s) the next call
    is a *probe* (half-open): the store's ``ping()`` (or, for a store without
    one, the call itself).  A successful probe closes the breaker and the
    call proceeds; a failed one opens it again for twice the previous
    cool-down, up to ``max_cooldown_ms`` (default 10 s).  So a stalled server
    costs one socket timeout when it stalls and one per probe, never one per
    event.  The clock is the monotonic wall clock (it bounds waiting), not
    event time.

Outage buffer
    The updates (ops with ``add``) of a call that certainly did not reach the
    store (refused by the open breaker, or a connection that could not be
    opened: ``StoreError.maybe_applied`` false) are kept, in order.  Once the
    store answers again, every call first replays the oldest ``replay_chunk``
    of them (default 1,000) in one more store call, so the replay is spread
    over the following events instead of stalling one of them; while some are
    still waiting the shared state is incomplete, and ``buffered`` says so
    (the engine marks those decisions degraded).  Updates made after the
    outage may thus reach the store before older buffered ones, which is
    sound for what is replayed (below): window entries are placed by event
    time, chain starts keep the newest.  At most ``buffer_limit`` updates
    (default 100,000, a few tens of MB) are kept; beyond that the oldest are
    dropped and counted in ``lost_updates`` (they are the first to leave
    their windows anyway).  What is replayed:

    * window updates: all of them.  A window's entries are kept sorted by
      event time, so an update applied late lands where it would have been
      (an entry already out of its window is dropped by the same op); only
      the order among equal timestamps (``last``, float sums) can differ.
    * sequence updates: only the first step's bit (a chain start: the store
      keeps the newest start, whatever the order).  Advancing a chain depends
      on arrival order: applied after what other instances wrote during the
      outage it could join steps in an order that never happened and make a
      sequence fire falsely.  Those steps are dropped, counted in
      ``sequence_steps_dropped`` and logged.

    The updates of a call that failed *after* it was sent (a socket timeout, a
    connection reset) may or may not have been applied by the server (a stalled
    server runs it when it resumes): replaying them could count an event
    twice, so they are not replayed; they are counted in ``uncertain_updates``
    and logged.  Buffered updates follow a reload by state identity; updates of
    windows and sequences the new ruleset no longer has are dropped.

Not thread safe by itself: the engine calls it under its lock.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Optional

from ruledsl.kernels.state_py import _as_mask
from ruledsl.stores.local import StoreError, state_ids

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "GuardedStore", "StoreUnavailable"]

log = logging.getLogger("ruledsl.stores")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

DEFAULT_BUFFER_LIMIT = 100_000
"""Updates kept while the store is down (about 200 bytes each)."""


class StoreUnavailable(StoreError):
    """The circuit breaker is open: the call was refused without reaching the store."""

    def __init__(self, message: str = "store unavailable: circuit breaker open") -> None:
        super().__init__(message, maybe_applied=False)


class CircuitBreaker:
    """Closed / open / half-open, on a monotonic clock (seconds); see the module docstring."""

    def __init__(
        self,
        *,
        failures_to_open: int = 1,
        cooldown_ms: int = 1_000,
        max_cooldown_ms: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures_to_open < 1:
            raise ValueError("failures_to_open must be >= 1")
        if cooldown_ms < 0 or max_cooldown_ms < cooldown_ms:
            raise ValueError("need 0 <= cooldown_ms <= max_cooldown_ms")
        self.failures_to_open = failures_to_open
        self.base_cooldown_ms = cooldown_ms
        self.max_cooldown_ms = max_cooldown_ms
        self.cooldown_ms = cooldown_ms
        self._clock = clock
        self.state = CLOSED
        self.consecutive_failures = 0
        self.opened = 0  # times it opened
        self._retry_at = 0.0

    def allow(self) -> bool:
        """May a call go to the store now?  An open breaker past its cool-down turns half-open (a probe)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self._clock() >= self._retry_at:
            self.state = HALF_OPEN
            return True
        return False

    def record_success(self) -> None:
        """A call (or probe) succeeded: close, and reset the cool-down."""
        self.state = CLOSED
        self.consecutive_failures = 0
        self.cooldown_ms = self.base_cooldown_ms

    def record_failure(self) -> bool:
        """A call (or probe) failed; returns True when this opened the breaker."""
        self.consecutive_failures += 1
        if self.state == HALF_OPEN:
            self.cooldown_ms = min(self.max_cooldown_ms, max(1, self.cooldown_ms) * 2)
        elif self.state == OPEN or self.consecutive_failures < self.failures_to_open:
            return False
        newly = self.state == CLOSED
        self.state = OPEN
        self._retry_at = self._clock() + self.cooldown_ms / 1000.0
        if newly:
            self.opened += 1
        return newly

    def retry_in_ms(self) -> Optional[int]:
        """Milliseconds until the next probe while open, else None."""
        if self.state != OPEN:
            return None
        return max(0, round((self._retry_at - self._clock()) * 1000))


# a buffered update: (kind "w"/"s", state identity, key, ts, value or step mask)
_Update = tuple[str, tuple[str, int], Any, int, Any]


class GuardedStore:
    """A store behind a circuit breaker, with a bounded buffer of the updates made while it is down.

    ``store``: the store to guard.  ``failures_to_open``, ``cooldown_ms``,
    ``max_cooldown_ms``: the breaker (see the module docstring).
    ``buffer_limit``: updates kept during an outage; ``replay_chunk``: buffered
    updates replayed before each call (in one store call) once the store is
    back.  ``clock``: monotonic seconds (tests).
    """

    def __init__(
        self,
        store: Any,
        *,
        failures_to_open: int = 1,
        cooldown_ms: int = 1_000,
        max_cooldown_ms: int = 10_000,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        replay_chunk: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(store, GuardedStore):
            raise TypeError("the store is already guarded")
        if buffer_limit < 0 or replay_chunk < 1:
            raise ValueError("need buffer_limit >= 0 and replay_chunk >= 1")
        self.store = store
        self.breaker = CircuitBreaker(
            failures_to_open=failures_to_open, cooldown_ms=cooldown_ms, max_cooldown_ms=max_cooldown_ms, clock=clock
        )
        self.buffer_limit = buffer_limit
        self.replay_chunk = replay_chunk
        self._buffer: deque[_Update] = deque()
        self._wids: list[tuple[str, int]] = []
        self._sids: list[tuple[str, int]] = []
        self._steps: list[int] = []
        self._namespace: Optional[str] = None
        self.failures = 0  # store calls (and probes) that failed
        self.rejected = 0  # calls refused while the breaker was open
        self.replayed = 0  # buffered updates sent after an outage
        self.lost_updates = 0  # buffered updates dropped: buffer full, or the store refused them
        self.sequence_steps_dropped = 0  # sequence updates whose later steps were not replayed
        self.uncertain_updates = 0  # updates of calls that failed after being sent
        self.last_error = ""
        self._overflow_logged = False
        self._steps_dropped_now = 0
        self._replayed_now = 0

    def __repr__(self) -> str:
        return f"<GuardedStore {self.store!r} breaker={self.breaker.state} buffered={len(self._buffer)}>"

    # ------------------------------------------------------------ protocol
    def configure(self, windows: Sequence[Any], sequences: Sequence[Any], lateness_ms: int, namespace: str) -> None:
        """Configure the guarded store; buffered updates follow their windows and sequences by identity."""
        self.store.configure(windows, sequences, lateness_ms, namespace)
        if self._namespace is not None and namespace != self._namespace:
            self._buffer.clear()  # another namespace is other state: the old updates have nowhere to go
        self._namespace = namespace
        self._wids = state_ids(windows, lateness_ms)
        self._sids = state_ids(sequences, lateness_ms)
        self._steps = [int(s.n_steps) for s in sequences]

    def run(self, ops: list) -> list:
        """The guarded store's ``run``; raises ``StoreError`` (``StoreUnavailable`` while the breaker is open)."""
        if not ops:  # nothing to ask: no call, no probe, no replay
            return []
        breaker = self.breaker
        if not breaker.allow():
            self.rejected += 1
            self._hold(ops)
            raise StoreUnavailable()
        sent = False
        try:
            if breaker.state == HALF_OPEN:
                ping = getattr(self.store, "ping", None)
                if ping is not None:
                    ping()
            if self._buffer:
                self._replay_chunk()
            sent = True
            results = self.store.run(ops)
        except StoreError as err:
            self.failures += 1
            self.last_error = str(err)
            if sent and err.maybe_applied:
                n = sum(1 for op in ops if op[-1] and op[2] is not None)
                if n:
                    self.uncertain_updates += n
                    log.warning("state store: %d updates of a failed call may or may not have been applied: %s", n, err)
            else:
                self._hold(ops)
            if breaker.record_failure():
                log.warning("state store failed (%s): circuit breaker open, retry in %d ms", err, breaker.cooldown_ms)
            raise
        if breaker.state != CLOSED or breaker.consecutive_failures:
            if breaker.state != CLOSED:
                log.warning("state store is back: circuit breaker closed")
            breaker.record_success()
        return results

    def ping(self) -> None:
        """Ping the guarded store (raises ``StoreError``); does not touch the breaker."""
        ping = getattr(self.store, "ping", None)
        if ping is not None:
            ping()

    def advance(self, watermark: int) -> None:
        """Pass the watermark on to the guarded store."""
        self.store.advance(watermark)

    def clear(self) -> None:
        """Clear the guarded store's state and the buffer."""
        self._buffer.clear()
        self.store.clear()

    # ------------------------------------------------------------ the buffer
    @property
    def buffered(self) -> int:
        """Updates waiting to be replayed."""
        return len(self._buffer)

    @property
    def data_losses(self) -> int:
        """Times the guarded store reported that it lost its data (``RedisStore``'s epoch); 0 if it cannot tell."""
        return int(getattr(self.store, "data_losses", 0))

    def _hold(self, ops: list) -> None:
        # keep the updates of a call that did not reach the store; of a sequence update only
        # its chain start (see the module docstring: advancing a chain late is unsound)
        buf, wids, sids, steps = self._buffer, self._wids, self._sids, self._steps
        for op in ops:
            if not op[-1] or op[2] is None:
                continue
            if op[0] == "w":
                buf.append(("w", wids[op[1]], op[2], op[3], op[4]))
                continue
            si = op[1]
            n = steps[si]
            mask = op[4] if type(op[4]) is int else _as_mask(op[4], n)
            mask &= (1 << n) - 1
            if mask & ~1:
                self.sequence_steps_dropped += 1
                self._steps_dropped_now += 1
            if mask & 1:
                buf.append(("s", sids[si], op[2], op[3], 1))
        excess = len(buf) - self.buffer_limit
        if excess > 0:
            for _ in range(excess):
                buf.popleft()
            self.lost_updates += excess
            if not self._overflow_logged:
                self._overflow_logged = True
                log.warning(
                    "state store down: update buffer full (%d); the oldest updates are being dropped", self.buffer_limit
                )

    def _replay_chunk(self) -> None:
        # send the oldest buffered updates (one chunk); on failure the unsent ones stay buffered
        w_index = {wid: i for i, wid in enumerate(self._wids)}
        s_index = {sid: i for i, sid in enumerate(self._sids)}
        buf = self._buffer
        chunk: list[tuple] = []
        while buf and len(chunk) < self.replay_chunk:
            kind, ident, key, ts, payload = buf.popleft()
            if kind == "w":
                wi = w_index.get(ident)
                if wi is not None:
                    chunk.append(("w", wi, key, ts, payload, False, True))
            else:
                si = s_index.get(ident)
                if si is not None:
                    chunk.append(("s", si, key, ts, payload, True))
        sent = self._send(chunk)
        self.replayed += sent
        self._replayed_now += sent
        if buf:
            return
        self._overflow_logged = False
        log.warning("state store recovered: %d buffered updates replayed", self._replayed_now)
        self._replayed_now = 0
        if self._steps_dropped_now:
            log.warning(
                "state store: %d sequence updates made during the outage advanced a chain;"
                " only their chain starts were replayed",
                self._steps_dropped_now,
            )
            self._steps_dropped_now = 0

    def _send(self, chunk: list) -> int:
        # one store call for the chunk; returns the updates sent.  On a store failure the
        # unsent ones go back to the front of the buffer, in order, and the error is raised.
        if not chunk:
            return 0
        try:
            self.store.run(chunk)
            return len(chunk)
        except StoreError as err:
            self._failed_call(chunk, [], err)
            raise
        except Exception:  # an op the store cannot encode: found below, one op at a time
            pass
        sent = 0
        for j, op in enumerate(chunk):
            try:
                self.store.run([op])
                sent += 1
            except StoreError as err:
                self._failed_call([op], chunk[j + 1 :], err)
                raise
            except Exception as err:  # an encoding error drops just that update
                self.lost_updates += 1
                log.warning("state store: a buffered update could not be replayed and was dropped: %s", err)
        return sent

    def _failed_call(self, called: list, after: list, err: StoreError) -> None:
        # `called` went out in the failed call, `after` was not sent: what was not applied goes back in front
        if err.maybe_applied:
            self.uncertain_updates += len(called)
            back = after
        else:
            back = called + after
        for op in reversed(back):
            self._buffer.appendleft(self._as_update(op))

    def _as_update(self, op: tuple) -> _Update:
        if op[0] == "w":
            return ("w", self._wids[op[1]], op[2], op[3], op[4])
        return ("s", self._sids[op[1]], op[2], op[3], op[4])

    # ------------------------------------------------------------ introspection
    def stats(self) -> dict[str, Any]:
        """Breaker state and outage counters (``Engine.stats()["store"]`` includes them)."""
        br = self.breaker
        return {
            "breaker": br.state,
            "breaker_opened": br.opened,
            "retry_in_ms": br.retry_in_ms(),
            "failures": self.failures,
            "rejected": self.rejected,
            "last_error": self.last_error,
            "buffered": len(self._buffer),
            "buffer_limit": self.buffer_limit,
            "replayed": self.replayed,
            "lost_updates": self.lost_updates,
            "sequence_steps_dropped": self.sequence_steps_dropped,
            "uncertain_updates": self.uncertain_updates,
            "data_losses": self.data_losses,
        }
