"""Entity controls in Redis, shared by every engine on the same store.

With a :class:`ruledsl.stores.redis.RedisStore` the engine mirrors its control
table in Redis (``ruledsl.runtime.shared_controls``): a control one process
sets (a rule's ``control`` clause, ``set_control``) or lifts is seen by the
rules of every other process from its next event on.  This module only moves
bytes: the records are encoded by the runtime, which this layer does not import.

Keys (the namespace's hash tag ``{<prefix>:<namespace>}``, one Cluster slot;
``RedisStore.clear`` leaves them)
    ``...:ctl:all``    hash: encoded key -> ``<since>:<record>`` (the control in place)
    ``...:ctl:until``  sorted set: encoded key, scored by the control's ``until``
    ``...:ctl:feed``   stream of changes: ``k <encoded key> r <record>`` (record empty: lifted),
                       capped at about ``FEED_LENGTH`` entries

Reading
    Rules read the process's own table (a dict lookup, as without a store).
    It is kept up to date by the change feed, read *inside the event's
    store call*: the engine adds one op (``feed_op``) to the event's batch,
    the script (``redis.lua``, op ``x``) answers the changes after the last
    entry this process has seen - nothing when there are none, which costs a
    ``XREVRANGE`` on the server and no round trip.  Only when more than 256
    changes wait, or the process has not loaded the table yet (or fell
    ``FEED_LENGTH`` changes behind, or Redis lost the feed), does it make one
    more call (``fetch``, ``load``).

Writing
    ``put`` (one script call): ``mode`` ``f`` replaces the key's control
    whatever it is (arrival order: a write made at once, as the event is
    decided); ``s`` only if the control in place does not have a later
    ``since`` (event time: a write delayed by an outage never replaces a newer
    control another process set meanwhile).  ``lift`` removes the key's
    control only if it is still the one given.  Both append to the feed.
    Each ``put`` also drops up to 16 controls whose ``until`` is before the
    given ``sweep_before`` (the engine passes the event time minus the
    lateness and a day: no on-time event can see them), without a feed
    entry - every process drops them from its own table by its watermark.
"""

from __future__ import annotations

from typing import Any, Optional

from ruledsl.stores.local import StoreError

__all__ = ["FEED_LENGTH", "RedisControlTable"]

FEED_LENGTH = 100_000
"""Changes the feed keeps (approximately); a process further behind loads the whole table again."""

# KEYS: all, until, feed   ARGV: enc key, record, since, mode, until, sweep_before, feed length
# -> {1} written; {0, current} not written (mode 's' and the control in place has a later since)
_PUT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and ARGV[4] == 's' then
  local since = tonumber(string.match(cur, '^(%-?%d+):'))
  if since and since > tonumber(ARGV[3]) then return {0, cur} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. ':' .. ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'k', ARGV[1], 'r', ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[6], 'LIMIT', 0, 16)
for _, k in ipairs(old) do
  redis.call('HDEL', KEYS[1], k)
  redis.call('ZREM', KEYS[2], k)
end
return {1}
"""

# KEYS: all, until, feed   ARGV: enc key, record expected, feed length  -> 1 lifted; 0 not the control in place
_LIFT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.sub(cur, (string.find(cur, ':', 1, true) or 0) + 1) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'k', ARGV[1], 'r', '')
return 1
"""

# KEYS: all, feed  -> {feed id, enc key, record, ...}: the whole table and the feed entry it is as of
# (an empty feed gets a marker entry, so that the id is one a later read can find)
_LOAD = """
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local top
if #last == 0 then top = redis.call('XADD', KEYS[2], '*', 'm', '1') else top = last[1][1] end
local out = {top}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local v = flat[i + 1]
  out[#out + 1] = flat[i]
  out[#out + 1] = string.sub(v, (string.find(v, ':', 1, true) or 0) + 1)
end
return out
"""

_SCRIPTS: dict[str, tuple[str, str]] = {}


def _script(name: str, text: str) -> tuple[str, str]:
    import hashlib

    _SCRIPTS[name] = (hashlib.sha1(text.encode("utf-8")).hexdigest(), text)
    return _SCRIPTS[name]


_script("put", _PUT)
_script("lift", _LIFT)
_script("load", _LOAD)


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def parse_feed(reply: Any) -> tuple[str, str, list[tuple[bytes, bytes]]]:
    """The feed op's answer: ``(id seen up to, flag, [(encoded key, record), ...])``; flag ``""``,
    ``"more"`` or ``"gap"`` (see ``redis.lua``)."""
    if not isinstance(reply, list) or len(reply) < 2:
        raise StoreError(f"redis: unexpected control feed reply {reply!r:.200}")
    changes = [(bytes(reply[i]), bytes(reply[i + 1])) for i in range(2, len(reply) - 1, 2)]
    return _text(reply[0]), _text(reply[1]), changes


class RedisControlTable:
    """The controls of one Redis store's namespace (see the module docstring)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _base(self) -> bytes:
        store = self.store
        return ("{" + store.prefix + ":" + (store.namespace or "default") + "}:ctl:").encode("utf-8")

    @property
    def feed_key(self) -> bytes:
        """The change feed's Redis key."""
        return self._base() + b"feed"

    def feed_op(self, seen: str) -> tuple[str, bytes, bytes, bool]:
        """The op that reads the feed after ``seen`` within an event's store call (``RedisStore.run``)."""
        return ("x", self.feed_key, b"x" + seen.encode("ascii"), False)

    def _call(self, name: str, keys: list[bytes], args: list[Any]) -> Any:
        sha, text = _SCRIPTS[name]
        store = self.store
        try:
            client = store.client
            try:
                return client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            except store._noscript:
                return client.execute_command("EVAL", text, len(keys), *keys, *args)
        except StoreError:
            raise
        except store._errors as e:
            from ruledsl.stores.redis import _never_sent

            raise StoreError(f"redis: {type(e).__name__}: {e}", maybe_applied=not _never_sent(e)) from e

    def put(
        self, key: bytes, record: bytes, since: int, until: int, mode: str, sweep_before: int
    ) -> tuple[bool, Optional[bytes]]:
        """Put a control in place (``mode`` ``f`` or ``s``, module docstring); ``(True, None)`` written,
        ``(False, current record)`` when ``s`` found a later control."""
        base = self._base()
        reply = self._call(
            "put",
            [base + b"all", base + b"until", base + b"feed"],
            [key, record, since, mode, until, sweep_before, FEED_LENGTH],
        )
        if int(reply[0]) == 1:
            return True, None
        cur = bytes(reply[1])
        return False, cur[cur.index(b":") + 1 :]

    def lift(self, key: bytes, record: bytes) -> bool:
        """Lift the key's control if it is still ``record``; False (nothing changed) otherwise."""
        base = self._base()
        return (
            int(self._call("lift", [base + b"all", base + b"until", base + b"feed"], [key, record, FEED_LENGTH])) == 1
        )

    def load(self) -> tuple[str, list[tuple[bytes, bytes]]]:
        """The whole table: ``(feed id it is as of, [(encoded key, record), ...])``."""
        base = self._base()
        reply = self._call("load", [base + b"all", base + b"feed"], [])
        return _text(reply[0]), [(bytes(reply[i]), bytes(reply[i + 1])) for i in range(1, len(reply) - 1, 2)]

    def fetch(self, seen: str) -> tuple[str, str, list[tuple[bytes, bytes]]]:
        """Read the feed after ``seen`` in a call of its own (when the event's read said ``more``)."""
        (reply,) = self.store.run([self.feed_op(seen)])
        return parse_feed(reply)
