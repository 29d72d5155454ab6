"""Controls kept in the Redis store, shared by every engine on it (docs/semantics.md, "Controls in Redis").

With a :class:`ruledsl.stores.redis.RedisStore` and a ruleset that sets or
reads controls, the engine's control table is a ``SharedControlTable``: the
same ``ControlTable`` (the ``live`` dict the generated code reads as ``CT``,
so rules read controls at the cost of a dict lookup, as without a store) that
also writes every change to Redis (:mod:`ruledsl.stores.redis_controls`) and
takes in the other processes' changes from the change feed, which the
engine reads inside each event's store call (``_run_ops``): an event sees
every control written to Redis before its call, like the windows it reads.

Writes are made at once (``put`` from ``_decide`` or ``set_control``,
``lift`` from ``lift_control``), through the store's circuit breaker; one that
fails waits in ``pending`` and is written after the next successful store
call - a control set during an outage is in force in this process at once
and in the others once Redis answers again; written late it never replaces a
control with a later ``since`` (event time).  A snapshot's controls restored
into the table are written the same way.  After Redis lost its data (the
store's epoch) every live control of this process is written again.

Every method is called under the engine's lock.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import msgspec

from ruledsl.runtime.controls import Control, ControlTable
from ruledsl.runtime.persistence import _encode, _unescaped
from ruledsl.runtime.shared_holds import guarded_call
from ruledsl.stores.local import StoreError
from ruledsl.stores.redis_controls import parse_feed

log = logging.getLogger("ruledsl.stores")

DAY_MS = 86_400_000

_CONTROL = msgspec.msgpack.Decoder(Control, ext_hook=_unescaped)


def encode_key(key: Any) -> bytes:
    """A control key in Redis: MessagePack of the str or int (``1`` and ``"1"`` stay different keys)."""
    return _encode(key)


def decode_key(data: bytes) -> Any:
    """The key of ``encode_key``."""
    return msgspec.msgpack.decode(data, ext_hook=_unescaped)


def decode_control(data: bytes) -> Control:
    """A ``Control`` record (``StoreError`` if it is corrupt)."""
    try:
        try:
            control: Control = _CONTROL.decode(data)
        except msgspec.ValidationError:  # an ESCAPED_STR where the type says str
            control = msgspec.convert(msgspec.msgpack.decode(data, ext_hook=_unescaped), type=Control)
    except (msgspec.DecodeError, ValueError) as err:
        raise StoreError(f"redis: a corrupt control record ({err})", maybe_applied=False) from None
    return control


class SharedControlTable(ControlTable):
    """A ``ControlTable`` mirrored in Redis (module docstring); build one with ``adopt``."""

    redis: Any  # a RedisControlTable
    guard: Any  # the engine's GuardedStore
    lateness_ms: int
    seen: str  # the last feed entry taken in ("" before the table was loaded)
    pending: list[tuple[str, Control]]  # ("put", control) / ("lift", control) not written yet, in order
    _op: Optional[tuple[str, bytes, bytes, bool]]  # the feed op for `seen`, made once
    losses: int  # the store's data-loss count when last looked at
    loads: int  # times the whole table was read (the first event, a process too far behind, a lost feed)

    @classmethod
    def adopt(cls, table: ControlTable, redis: Any, guard: Any, lateness_ms: int) -> SharedControlTable:
        """A shared table taking over ``table``'s content and ``live`` dict (its controls, e.g. a restored
        snapshot's, are written to Redis where Redis has nothing later)."""
        new = cls.__new__(cls)
        new.__dict__.update(table.__dict__)
        new.redis, new.guard, new.lateness_ms = redis, guard, lateness_ms
        new.seen = ""
        new.pending = [("put", c) for c in table.live.values()]
        new.losses = int(getattr(guard, "data_losses", 0))
        new.loads = 0
        new._op = None
        return new

    # ------------------------------------------------------------ writes
    def put(self, control: Control) -> Optional[Control]:
        """Put ``control`` in place here and in Redis (or wait for Redis); returns the one it replaced."""
        old = super().put(control)
        self._write("put", control)
        return old

    def lift(self, key: Any) -> Optional[Control]:
        """Remove the key's control here and in Redis (only if Redis still has this one)."""
        c = super().lift(key)
        if c is not None:
            self._write("lift", c)
        return c

    def replace(self, controls: Any) -> None:
        """Replace the content (a snapshot restore); the controls are written to Redis where it has nothing later."""
        super().replace(controls)
        self.pending = [("put", c) for c in self.live.values()]

    def _write(self, what: str, control: Control) -> None:
        if self.pending:
            self.pending.append((what, control))
            self.flush()
            return
        try:
            self._send(what, control, "f")
        except StoreError:
            self.pending.append((what, control))
        except Exception as err:  # not a store failure (an unencodable key): it stays in this process, said once
            log.warning("control on %r could not be written to Redis and stays in this process: %s", control.key, err)

    def _send(self, what: str, control: Control, mode: str) -> None:
        key, rec = encode_key(control.key), _encode(control)
        if what == "lift":
            guarded_call(self.guard, self.redis.lift, key, rec)
            return
        sweep_before = control.since - self.lateness_ms - DAY_MS
        written, current = guarded_call(
            self.guard, self.redis.put, key, rec, control.since, control.until, mode, sweep_before
        )
        if not written and current is not None:  # Redis has a later control (written during our outage): take it
            ControlTable.put(self, decode_control(current))

    def flush(self) -> bool:
        """Write the waiting changes, oldest first (a put only where Redis has nothing later); True when done."""
        while self.pending:
            what, control = self.pending[0]
            try:
                self._send(what, control, "s")
            except StoreError:
                return False
            except Exception as err:
                log.warning("control on %r could not be written to Redis: %s", control.key, err)
            self.pending.pop(0)
        return True

    # ------------------------------------------------------------ reads
    def feed_op(self) -> tuple[str, bytes, bytes, bool]:
        """The op reading the change feed in the event's store call."""
        op = self._op
        if op is None or op[2] != b"x" + self.seen.encode("ascii") or op[1] != self.redis.feed_key:
            op = self._op = self.redis.feed_op(self.seen)
        return op

    def after_run(self, reply: Any) -> None:
        """Take in the feed's answer (after the event's successful store call); never raises."""
        try:
            losses = int(getattr(self.guard, "data_losses", 0))
            if losses != self.losses:  # Redis lost its data: write this process's controls again
                self.losses = losses
                self.pending = [("put", c) for c in self.live.values()] + self.pending
            if self.pending and not self.flush():
                return
            seen, flag, changes = parse_feed(reply)
            for _ in range(1000):  # 'more': at most 256 changes per read
                if flag == "gap":
                    self._load()
                    return
                self._apply(changes)
                self.seen = seen
                if flag != "more":
                    return
                seen, flag, changes = guarded_call(self.guard, self.redis.fetch, self.seen)
        except StoreError as err:
            log.warning("controls: the change feed could not be read (%s); this process's controls may be stale", err)
        except Exception as err:  # a corrupt record must not fail the event
            log.warning("controls: the change feed could not be taken in: %s", err)

    def _apply(self, changes: list[tuple[bytes, bytes]]) -> None:
        for key, rec in changes:
            if rec:
                ControlTable.put(self, decode_control(rec))
            else:
                ControlTable.lift(self, decode_key(key))

    def _load(self) -> None:
        seen, items = guarded_call(self.guard, self.redis.load)
        ControlTable.replace(self, [decode_control(rec) for _key, rec in items])
        self.seen = seen
        self.loads += 1
