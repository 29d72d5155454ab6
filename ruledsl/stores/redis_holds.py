"""Open holds and hold outcomes in Redis, shared by every engine on the same store.

The engine (``ruledsl.runtime.shared_holds``) keeps its holds here instead of
in process memory when its store is a :class:`ruledsl.stores.redis.RedisStore`:
a hold opened by one process can be listed, confirmed or expired by another.
This module only moves bytes: the records are encoded by the runtime
(MessagePack of ``runtime.holds.Hold``), which this layer does not import.

Keys (one hash tag, ``{<prefix>:<namespace>}`` - the epoch key's - so every
script touches one slot of a Redis Cluster; ``RedisStore.clear`` leaves them)
    ``...:holds:open``   hash: hold id -> the hold's record
    ``...:holds:due``    sorted set: hold id, scored by ``hold_expires_at`` (epoch ms, exact in a double)
    ``...:holds:order``  sorted set: hold id, scored by its arrival number (``holds()`` lists in that order)
    ``...:holds:seq``    the arrival counter
    ``...:holds:done:<hold id>``  the outcome record, with a TTL of ``retention_ms`` (wall clock)

An outcome record is a MessagePack array of two: the hold's record as it was
stored, then the closing (outcome, action, at, by, reason), concatenated by
the script (``0x92`` + hold + closing), so closing a hold takes one call.

Atomicity
    Each operation is one Lua script call: opening writes a hold unless its id
    is already open or closed; closing (``close``, ``expire``) writes the
    outcome only while the hold is open, so of two processes racing to close
    a hold exactly one closes it and the other is told the outcome that won.
    ``reopen`` (the engine's undo when its audit line cannot be written) puts
    a hold back only while the outcome is still the one that call wrote.

Failures raise ``StoreError`` (``maybe_applied`` false only when the
connection could not be opened); every operation is idempotent by hold id,
so the engine may repeat a write whose answer was lost.
"""

from __future__ import annotations

from typing import Any, Optional

from ruledsl.stores.local import StoreError

__all__ = ["DEFAULT_RETENTION_MS", "RedisHoldTable"]

DEFAULT_RETENTION_MS = 30 * 86_400_000
"""How long a closed hold's outcome stays in Redis (wall clock): idempotent repeats and ``hold_outcome``."""

CHUNK = 500
"""Holds per script call (a script's arguments are unpacked on the Lua stack, which is bounded)."""

# KEYS: open, due, order, seq, done(id_1..id_n)   ARGV: (id, expires_at, record) per hold
# per hold: 1 written; 0 already open with this record; 2 already closed with this record; 3 the id is another hold's
_OPEN = """
local out = {}
for i = 1, #ARGV / 3 do
  local id, exp, rec = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local done = redis.call('GET', KEYS[4 + i])
  if done then
    if string.sub(done, 2, #rec + 1) == rec then out[i] = 2 else out[i] = 3 end
  else
    local cur = redis.call('HGET', KEYS[1], id)
    if cur then
      if cur == rec then out[i] = 0 else out[i] = 3 end
    else
      redis.call('HSET', KEYS[1], id, rec)
      redis.call('ZADD', KEYS[2], exp, id)
      redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), id)
      out[i] = 1
    end
  end
end
return out
"""

# KEYS: open, order   ->  {hgetall open, ids in arrival order}
_LIST = """
return {redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[2], 0, -1)}
"""

# KEYS: open, done   ARGV: id  ->  {open record or false, outcome record or false}
_GET = """
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('GET', KEYS[2])}
"""

# KEYS: open, due, order, done   ARGV: id, closing, retention_ms
# -> {1, record} closed now; {2, record} already closed (the record that won); {0} not open
_CLOSE = """
local done = redis.call('GET', KEYS[4])
if done then return {2, done} end
local hold = redis.call('HGET', KEYS[1], ARGV[1])
if not hold then return {0} end
local rec = '\\146' .. hold .. ARGV[2]
redis.call('SET', KEYS[4], rec, 'PX', ARGV[3])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return {1, rec}
"""

# KEYS: open, due, order, done(id_1..id_n)   ARGV: closing, retention_ms, at, id_1..id_n
# closes each id still open and due at `at`; -> {id, record, id, record, ...} of those this call closed
_EXPIRE = """
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[2], id)
  local hold = redis.call('HGET', KEYS[1], id)
  if hold and score and tonumber(score) <= tonumber(ARGV[3]) and redis.call('EXISTS', KEYS[i]) == 0 then
    local rec = '\\146' .. hold .. ARGV[1]
    redis.call('SET', KEYS[i], rec, 'PX', ARGV[2])
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    out[#out + 1] = id
    out[#out + 1] = rec
  end
end
return out
"""

# KEYS: open, due, order, seq, done   ARGV: id, outcome record, expires_at, hold record
# -> 1 reopened; 0 the outcome is no longer the one given (nothing changed)
_REOPEN = """
if redis.call('GET', KEYS[5]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[1])
return 1
"""

# KEYS: open, done(id_1..id_n)   ARGV: retention_ms, (id, outcome record) per hold
# an outcome for an id Redis does not know (neither open nor closed) -> per hold 1 written, 0 known
_ADD_CLOSED = """
local out = {}
for i = 1, (#ARGV - 1) / 2 do
  local id, rec = ARGV[2 * i], ARGV[2 * i + 1]
  if redis.call('HEXISTS', KEYS[1], id) == 1 then
    out[i] = 0
  elseif redis.call('SET', KEYS[1 + i], rec, 'NX', 'PX', ARGV[1]) then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""


class _Script:
    """A Lua script sent by SHA, re-sent with EVAL after ``NOSCRIPT`` (which means nothing ran)."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        import hashlib

        self.text = text
        self.sha = hashlib.sha1(text.encode("utf-8")).hexdigest()


_SCRIPTS = {
    name: _Script(text)
    for name, text in (
        ("open", _OPEN),
        ("list", _LIST),
        ("get", _GET),
        ("close", _CLOSE),
        ("expire", _EXPIRE),
        ("reopen", _REOPEN),
        ("add_closed", _ADD_CLOSED),
    )
}


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


class RedisHoldTable:
    """The holds of one Redis store's namespace (see the module docstring).

    ``store``: the :class:`ruledsl.stores.redis.RedisStore` (its client,
    prefix and namespace - read at each call, so a reload that renames the
    ruleset moves on to the new namespace's holds).  ``retention_ms``: the
    TTL of outcome records (default: the store's ``hold_retention_ms``).
    """

    def __init__(self, store: Any, retention_ms: Optional[int] = None) -> None:
        self.store = store
        retention = retention_ms if retention_ms is not None else getattr(store, "hold_retention_ms", None)
        self.retention_ms = int(retention) if retention is not None else DEFAULT_RETENTION_MS
        if self.retention_ms <= 0:
            raise ValueError("hold retention_ms must be > 0")

    # ------------------------------------------------------------ keys
    def _base(self) -> bytes:
        store = self.store
        return ("{" + store.prefix + ":" + (store.namespace or "default") + "}:holds:").encode("utf-8")

    def _keys(self) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        base = self._base()
        return base + b"open", base + b"due", base + b"order", base + b"seq", base + b"done:"

    # ------------------------------------------------------------ calls
    def _call(self, name: str, keys: list[bytes], args: list[Any]) -> Any:
        script = _SCRIPTS[name]
        store = self.store
        try:
            client = store.client
            try:
                return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            except store._noscript:
                return client.execute_command("EVAL", script.text, len(keys), *keys, *args)
        except StoreError:
            raise
        except store._errors as e:
            from ruledsl.stores.redis import _never_sent

            raise StoreError(f"redis: {type(e).__name__}: {e}", maybe_applied=not _never_sent(e)) from e

    def open(self, holds: list[tuple[str, int, bytes]]) -> list[int]:
        """Write ``(hold id, hold_expires_at, record)`` holds; per hold: 1 written, 0 already open (this
        record), 2 already closed (this record), 3 the id belongs to another hold (nothing written)."""
        kopen, kdue, korder, kseq, kdone = self._keys()
        out: list[int] = []
        for start in range(0, len(holds), CHUNK):
            part = holds[start : start + CHUNK]
            keys = [kopen, kdue, korder, kseq, *(kdone + hid.encode("ascii") for hid, _, _ in part)]
            args: list[Any] = []
            for hid, expires, rec in part:
                args += [hid, expires, rec]
            reply = self._call("open", keys, args)
            if not isinstance(reply, list) or len(reply) != len(part):
                raise StoreError(f"redis: unexpected hold script reply {reply!r:.200}")
            out += [int(r) for r in reply]
        return out

    def list_open(self) -> list[tuple[str, bytes]]:
        """Every open hold ``(id, record)``, in the order they reached Redis."""
        kopen, _, korder, _, _ = self._keys()
        reply = self._call("list", [kopen, korder], [])
        flat, order = reply
        records = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        out = []
        for raw in order:
            hid = _text(raw)
            rec = records.pop(hid, None)
            if rec is not None:
                out.append((hid, rec))
        out += sorted(records.items())  # an open hold missing from the order set (not written by _OPEN): last
        return out

    def get(self, hold_id: str) -> tuple[Optional[bytes], Optional[bytes]]:
        """``(open record, outcome record)`` of ``hold_id``; ``None`` where there is none."""
        kopen, _, _, _, kdone = self._keys()
        reply = self._call("get", [kopen, kdone + hold_id.encode("ascii")], [hold_id])
        return (reply[0] or None), (reply[1] or None)

    def close(self, hold_id: str, closing: bytes) -> tuple[int, Optional[bytes]]:
        """Close ``hold_id`` with ``closing``: ``(1, record)`` closed by this call, ``(2, record)`` it was
        already closed (the record that won), ``(0, None)`` it is not open (unknown, or its outcome expired)."""
        kopen, kdue, korder, _, kdone = self._keys()
        keys = [kopen, kdue, korder, kdone + hold_id.encode("ascii")]
        reply = self._call("close", keys, [hold_id, closing, self.retention_ms])
        if not isinstance(reply, list) or not reply:
            raise StoreError(f"redis: unexpected hold script reply {reply!r:.200}")
        status = int(reply[0])
        return status, (reply[1] if status else None)

    def due(self, at: int) -> list[str]:
        """The ids of the open holds with ``hold_expires_at <= at``, earliest expiry first."""
        _, kdue, _, _, _ = self._keys()
        try:
            ids = self.store.client.zrangebyscore(kdue, "-inf", at)
        except self.store._errors as e:
            from ruledsl.stores.redis import _never_sent

            raise StoreError(f"redis: {type(e).__name__}: {e}", maybe_applied=not _never_sent(e)) from e
        return [_text(i) for i in ids]

    def expire(self, hold_ids: list[str], closing: bytes, at: int) -> list[tuple[str, bytes]]:
        """Close each of ``hold_ids`` still open and due at ``at`` with ``closing`` (at most ``CHUNK``
        per call); returns ``(id, outcome record)`` of those this call closed (another process closed the rest)."""
        if len(hold_ids) > CHUNK:
            raise ValueError(f"at most {CHUNK} holds per expire call")
        kopen, kdue, korder, _, kdone = self._keys()
        keys = [kopen, kdue, korder, *(kdone + hid.encode("ascii") for hid in hold_ids)]
        reply = self._call("expire", keys, [closing, self.retention_ms, at, *hold_ids])
        return [(_text(reply[i]), reply[i + 1]) for i in range(0, len(reply), 2)]

    def reopen(self, hold_id: str, outcome_record: bytes, expires_at: int, hold_record: bytes) -> bool:
        """Undo a close whose outcome is still ``outcome_record``; False (nothing changed) otherwise."""
        kopen, kdue, korder, kseq, kdone = self._keys()
        keys = [kopen, kdue, korder, kseq, kdone + hold_id.encode("ascii")]
        return int(self._call("reopen", keys, [hold_id, outcome_record, expires_at, hold_record])) == 1

    def add_closed(self, outcomes: list[tuple[str, bytes]]) -> list[int]:
        """Write outcome records of holds Redis does not know (a restored snapshot's); per hold 1 written, 0 known."""
        kopen, _, _, _, kdone = self._keys()
        out: list[int] = []
        for start in range(0, len(outcomes), CHUNK):
            part = outcomes[start : start + CHUNK]
            keys = [kopen, *(kdone + hid.encode("ascii") for hid, _ in part)]
            args: list[Any] = [self.retention_ms]
            for hid, rec in part:
                args += [hid, rec]
            out += [int(r) for r in self._call("add_closed", keys, args)]
        return out

    def key_count(self) -> int:
        """Keys of this namespace's holds (SCAN; tests and monitoring)."""
        from ruledsl.stores.redis import _GLOB_SPECIAL

        pattern = _GLOB_SPECIAL.sub(rb"\\\1", self._base()) + b"*"
        try:
            return sum(1 for _ in self.store.client.scan_iter(match=pattern, count=1000))
        except self.store._errors as e:
            raise StoreError(f"redis: {type(e).__name__}: {e}") from e

    def clear(self) -> None:
        """Delete this namespace's holds and outcomes (tests)."""
        from ruledsl.stores.redis import _GLOB_SPECIAL

        pattern = _GLOB_SPECIAL.sub(rb"\\\1", self._base()) + b"*"
        try:
            client = self.store.client
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
        except self.store._errors as e:
            raise StoreError(f"redis: {type(e).__name__}: {e}") from e
