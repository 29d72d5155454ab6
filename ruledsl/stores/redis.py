"""Redis state backend: window and sequence state shared by every instance of a service.

``RedisStore`` implements the store protocol of :mod:`ruledsl.stores.local` over a
Redis server or a Redis Cluster, with exactly the semantics of the in-process
kernels (``state.WindowState``, ``engine.LastState``, ``state.SequenceState``)
for every on-time event; ``tests/stores/test_redis_store.py`` runs random op streams
through both and compares every result.

Usage::

    from ruledsl.stores.redis import RedisStore
    store = RedisStore("redis://10.0.0.5:6379/0", timeout_ms=50)
    engine = ruledsl.load("rules/", store=store)

Round trips
    ``run(ops)`` (one call per event) sends **one** Lua script call (EVALSHA)
    carrying every op of the event: one network round trip for a single Redis
    whatever the number of rules.  In a cluster the keys of one script call
    must live in one hash slot, so the ops are grouped by window-key *value*
    (the hash tag, below) and one EVALSHA per distinct key value goes out in
    one pipeline: one round trip per cluster node involved, sent in parallel.
    The script is registered by SHA; after a server restart or ``SCRIPT
    FLUSH`` the ``NOSCRIPT`` answer is caught and the same call is re-sent
    with EVAL (which also re-registers it).  ``NOSCRIPT`` means nothing ran,
    so that retry never applies an update twice.  Nothing else is retried.
    A script runs atomically: on a single Redis each event's updates are
    applied all together, in a cluster each key value's.

Keys
    ``{<prefix>:<namespace>:<key JSON>}:w:<window id>`` and
    ``{<prefix>:<namespace>:<key JSON>}:s:<sequence id>`` (strings).  The key
    JSON is ``msgspec.json`` of the window key (tuples as arrays), so the hash
    tag in braces is the key *value*: every window and sequence of one
    customer/card/device lives in one slot, and no script ever touches keys of
    two slots (no ``CROSSSLOT``).  The ids are ``sha1(signature, lateness,
    occurrence)[:12]``: a window whose definition did not change keeps its
    state across reloads and restarts of the service (as ``Engine.reload``
    does in memory); a changed lateness starts every window empty, as in memory.
    A namespace that is not ``[A-Za-z0-9_.-]{1,40}`` is replaced by
    ``h`` + ``sha1(namespace)[:12]``.
    (A key value containing ``}`` ends the hash tag early; all keys of that
    value still share one slot.)

Window state
    One string per (window, key): its entries packed and sorted by ts, equal
    timestamps in arrival order, exactly like the in-memory lists (8 bytes of
    ts, plus 8 bytes of value for sum/avg/min/max/distinct, plus a length and
    the tagged value for ``last``).  The script reads it with one GET, finds
    the interval ``(ts - D, ts]`` by binary search, aggregates in order (so
    float sums are bit-identical), and on add writes it back with one
    ``SET ... PX``: two Redis calls per op whatever the aggregate.  Each add
    evicts entries with ``ts <= newest - D - lateness`` (``newest`` = the
    key's newest entry: never beyond what the engine's watermark allows, so no
    on-time query loses anything) and, for ``last``/``since``, all but the
    newest entry at or below ``newest - lateness``.  The TTL is ``D +
    lateness + ttl_margin_ms``, renewed on every add, so idle keys vanish and
    Redis memory is bounded by the keys active within a window length.  TTLs
    are wall-clock: they assume event time moves at least as fast as the
    clock (live traffic, replays faster than real time); ``ttl_margin_ms``
    (default one minute) absorbs skew between the event source and Redis.
    An op costs O(entries of that key) bytes copied: fine for thousands of
    entries per key.

Sequence state
    A string per (sequence, key): the newest ts then the best start time per
    step (8 bytes each).  Starts older than ``newest - lateness - within``
    are dropped on each add; the key is deleted when the first step's start
    goes, and expires after ``within + lateness + ttl_margin_ms``.

Values and limits
    Timestamps must satisfy ``|ts| < 2**53`` (epoch ms do, to year 287396).
    Int values are int64 (as in memory); Lua numbers are doubles, so the
    script aggregates ints exactly while every value and partial sum stays
    below ``2**53`` in magnitude (decimal amounts are scaled by 10^4: 9.0e11
    yuan), and beyond that returns the raw interval to Python, which
    finishes the aggregate exactly.  Float windows add IEEE doubles in the
    same order as in memory (bit-identical results, NaN and -0.0 included).
    ``last`` values keep their Python type (str, int, float, bool, None).
    Keys compare by their JSON text: ``1`` and ``True`` (equal in a Python
    dict) are different keys here; a window key has one static type, so this
    never matters for compiled rulesets.

Late events
    The engine reads no window state for late events (``ts`` below its
    watermark) and they add nothing, so whatever the store answers for their
    ops is discarded.  (Redis evicts per key, the in-memory kernels per sweep:
    for such reads the two may differ; for on-time events they never do.)

Holds
    With this store the engine keeps its open holds and their outcomes in
    Redis as well, under ``{<prefix>:<namespace>}:holds:...``
    (:mod:`ruledsl.stores.redis_holds`); ``clear()`` leaves them.

Controls
    A ruleset that sets or reads entity controls mirrors its control table
    under ``{<prefix>:<namespace>}:ctl:...`` (:mod:`ruledsl.stores.redis_controls`).
    ``run`` then carries one more op, ``("x", key, argument, False)``, which
    the script answers with the controls' changes since this process last
    looked (op code ``x`` in ``redis.lua``): no extra round trip.

Failures
    Any Redis failure raises :class:`ruledsl.stores.local.StoreError`: connection
    refused, socket timeout (``timeout_ms`` for connect and for each reply),
    server errors (OOM, script errors), cluster errors.  Clients built from a
    URL never retry (a timed-out call may still run on the server: retrying
    could count an event twice).  A client passed in is used as it is: give
    it ``socket_timeout``/``socket_connect_timeout`` and ``retry=Retry(NoBackoff(), 0)``
    yourself.  After a ``StoreError`` raised by ``run`` the event's updates may
    or may not have been applied (in a cluster: some key values may have been,
    others not): ``StoreError.maybe_applied`` is false only when the
    connection could not be opened, so the request never left.  What the
    engine then decides is its fault policy; the engine wraps the store in a
    circuit breaker with an outage buffer (:mod:`ruledsl.stores.guard`).

Data loss
    ``{<prefix>:<namespace>}:epoch`` holds a random id.  The first call of a
    store adopts the id it finds (or writes one); every later call checks it,
    inside the script on a single Redis (one GET, atomic with the ops), in the
    same pipeline in a cluster.  Missing (a restart without persistence, a
    flush, an eviction) or changed (another instance found it missing first),
    it means the server lost the namespace's state: ``data_losses`` goes up, a
    warning is logged, and the id found or written is adopted.  The engine
    then marks its decisions degraded while the windows refill.  ``clear()``
    keeps the epoch (a deliberate reset is not a loss).  In a cluster the key
    lives on one node: the loss of *that* node (or of the whole cluster) is
    detected, not the loss of another node's slots alone.  The key has no TTL;
    under an ``allkeys-*`` eviction policy it can be evicted like any key,
    which reports a loss (a false alarm is the safe direction).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import struct
from importlib import resources
from operator import index as _index
from typing import Any, Optional, Union

import msgspec

from ruledsl.kernels.state_py import _f64, _i64
from ruledsl.stores.local import StoreError, state_ids

__all__ = ["LUA_SCRIPT", "RedisStore", "StoreError"]

log = logging.getLogger("ruledsl.stores")

LUA_SCRIPT = resources.files("ruledsl.stores").joinpath("redis.lua").read_text(encoding="utf-8")
"""The script every ``run`` sends (``ruledsl/stores/redis.lua``)."""

_AGG_CODES = {"count": "c", "sum": "s", "avg": "a", "min": "m", "max": "M", "distinct": "d", "last": "l", "since": "S"}
_FLOAT_AGGS = ("sum", "avg", "min", "max", "distinct")
_TS_LIMIT = 1 << 53
_NS_RE = re.compile(r"[A-Za-z0-9_.\-]{1,40}")
_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")

_pack_q = struct.Struct(">q").pack
_unpack_q = struct.Struct(">q").unpack
_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack
_json_encode = msgspec.json.Encoder().encode

DEFAULT_TTL_MARGIN_MS = 60_000


def _enc_count(value) -> bytes:
    return b""


def _enc_int(value) -> bytes:
    return _pack_q(_i64(value))


def _enc_float(value) -> bytes:
    return _pack_d(_f64(value))


def _enc_last(value) -> bytes:
    """Tagged encoding of a ``last`` value: its Python type survives the round trip."""
    t = type(value)
    if t is str:
        return b"s" + value.encode("utf-8", "surrogatepass")
    if t is bool:
        return b"t" if value else b"f"
    if t is int:
        return b"i" + str(value).encode("ascii")
    if t is float:
        return b"d" + _pack_d(value)
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        return b"i" + str(int(value)).encode("ascii")
    if isinstance(value, float):
        return b"d" + _pack_d(float(value))
    if isinstance(value, str):
        return b"s" + str(value).encode("utf-8", "surrogatepass")
    raise TypeError(f"RedisStore: unsupported value type for last(): {t.__name__}")


def _dec_last(raw: bytes):
    tag = raw[:1]
    if tag == b"s":
        return raw[1:].decode("utf-8", "surrogatepass")
    if tag == b"i":
        return int(raw[1:])
    if tag == b"d":
        return _unpack_d(raw[1:])[0]
    if tag == b"t":
        return True
    if tag == b"f":
        return False
    if tag == b"n":
        return None
    raise StoreError(f"RedisStore: corrupt last() value {raw[:20]!r}")


def _finish_int(agg: str, raws: list, inc: bool, cur):
    """Exact int aggregate from the raw interval (values or sums beyond 2**53)."""
    vals = [_unpack_q(r)[0] for r in raws]
    if inc:
        vals.append(_i64(cur))
    if agg == "s":
        return sum(vals)
    if agg == "a":
        return (sum(vals), len(vals)) if vals else None
    if not vals:
        return None
    m = vals[0]
    if agg == "m":
        for v in vals:
            if v < m:
                m = v
    else:
        for v in vals:
            if v > m:
                m = v
    return m


_pack_ts = struct.Struct("<d").pack
_pack_static = struct.Struct("<dddd").pack
_FLAGS = (b"\x00", b"\x01", b"\x02", b"\x03")


class _Win:
    __slots__ = ("agg", "code", "d", "enc", "is_float", "static", "suffix", "value_needed")

    def __init__(self, spec, wid: str, lateness_ms: int, margin_ms: int):
        if spec.agg not in _AGG_CODES:
            raise ValueError(f"RedisStore: unknown aggregate {spec.agg!r}")
        self.agg = _AGG_CODES[spec.agg]
        self.is_float = bool(spec.is_float) and spec.agg in _FLOAT_AGGS
        self.code = (self.agg + ("f" if self.is_float else "-")).encode("ascii")
        self.suffix = b"}:w:" + wid.encode("ascii")
        d = _index(spec.duration_ms)
        if d <= 0:
            raise ValueError("duration_ms must be > 0")
        self.d = d
        self.static = _pack_static(d, d + lateness_ms, lateness_ms, max(1, d + lateness_ms + margin_ms))
        if spec.agg in ("count", "since"):
            self.enc = _enc_count
        elif spec.agg == "last":
            self.enc = _enc_last
        elif self.is_float:
            self.enc = _enc_float
        else:
            self.enc = _enc_int
        self.value_needed = spec.agg not in ("count", "since", "last")


class _Seq:
    __slots__ = ("full", "n", "static", "suffix")

    def __init__(self, spec, sid: str, lateness_ms: int, margin_ms: int):
        n = _index(spec.n_steps)
        if not 1 <= n <= 64:
            raise ValueError("n_steps must be in 1..64")
        within = _index(spec.within_ms)
        if within < 0:
            raise ValueError("within_ms must be >= 0")
        self.n = n
        self.full = (1 << n) - 1
        self.suffix = b"}:s:" + sid.encode("ascii")
        self.static = _pack_static(within, 0, lateness_ms, max(1, within + lateness_ms + margin_ms))


def _new_epoch() -> bytes:
    return secrets.token_hex(8).encode("ascii")


def _never_sent(err: BaseException) -> bool:
    """True when a redis-py error says the connection could not be opened: the request never left."""
    import redis.exceptions as rexc

    if not isinstance(err, (rexc.ConnectionError, rexc.TimeoutError)):
        return False
    text = str(err)
    return "connecting to" in text or text.startswith("Timeout connecting") or text == "Connection not ready"


def _redis_errors() -> tuple:
    import redis.exceptions as rexc

    errs: list = [rexc.RedisError, OSError]
    extra = getattr(rexc, "RedisClusterException", None)
    if extra is not None:
        errs.append(extra)
    return tuple(errs)


class RedisStore:
    """Window and sequence state in Redis (or Redis Cluster); see the module docstring.

    ``client_or_url``: a ``redis.Redis`` / ``redis.cluster.RedisCluster``
    client (created with ``decode_responses=False``), or a URL
    (``redis://host:port/db``, ``rediss://``, ``unix://``).  With a URL,
    ``cluster=True`` builds a ``RedisCluster`` client.  ``timeout_ms`` bounds
    connecting and every reply for clients built from a URL.
    ``ttl_margin_ms`` is added to every key's TTL.  ``cluster`` (default: the
    client's type) makes ``run`` send one script call per window-key value.
    ``hold_retention_ms``: how long the outcome of a closed hold stays in Redis
    (default 30 days; the engine keeps its holds here: :mod:`ruledsl.stores.redis_holds`).
    """

    def __init__(
        self,
        client_or_url: Union[str, Any],
        *,
        prefix: str = "rdsl",
        timeout_ms: int = 50,
        ttl_margin_ms: int = DEFAULT_TTL_MARGIN_MS,
        cluster: Optional[bool] = None,
        hold_retention_ms: int = 30 * 86_400_000,
    ):
        try:
            import redis.exceptions as rexc
        except ImportError as e:  # pragma: no cover - the extra installs it
            raise ImportError("RedisStore needs the redis package: pip install 'ruledsl[redis]'") from e

        if not prefix or any(c in prefix for c in "{}") or not prefix.isprintable():
            raise ValueError("prefix must be non-empty printable text without '{' or '}'")
        if timeout_ms <= 0:
            raise ValueError("timeout_ms must be > 0")
        if ttl_margin_ms < 0:
            raise ValueError("ttl_margin_ms must be >= 0")
        if hold_retention_ms <= 0:
            raise ValueError("hold_retention_ms must be > 0")
        self.hold_retention_ms = hold_retention_ms
        self.prefix = prefix
        self.timeout_ms = timeout_ms
        self.ttl_margin_ms = ttl_margin_ms
        self._errors = _redis_errors()
        self._noscript = rexc.NoScriptError
        self._url: Optional[str] = None
        self._client = None
        if isinstance(client_or_url, str):
            self._url = client_or_url
            self.cluster = bool(cluster)
            if not self.cluster:
                self._client = self._make_client()  # connects lazily, on first use
        else:
            client = client_or_url
            from redis.cluster import RedisCluster

            is_cluster = isinstance(client, RedisCluster)
            self.cluster = is_cluster if cluster is None else bool(cluster)
            kwargs = (
                client.get_connection_kwargs()
                if hasattr(client, "get_connection_kwargs")
                else getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
            )
            if kwargs.get("decode_responses"):
                raise ValueError("RedisStore needs a client with decode_responses=False (values are binary)")
            self._client = client
        self._sha = hashlib.sha1(LUA_SCRIPT.encode("utf-8")).hexdigest()
        self._script = LUA_SCRIPT
        self._wins: list[_Win] = []
        self._seqs: list[_Seq] = []
        self.namespace = ""
        self._tag_prefix = b""
        self.lateness_ms = 0
        self.configured = False
        # data-loss detection: the namespace's epoch as last seen, and the one to write if it is missing
        self._epoch_key = b""
        self._epoch: Optional[bytes] = None
        self._epoch_next = _new_epoch()
        self.data_losses = 0  # times the epoch was found missing or changed: the server lost its data

    # ------------------------------------------------------------ connection
    def _make_client(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        t = self.timeout_ms / 1000.0
        common = {"socket_timeout": t, "socket_connect_timeout": t, "retry": Retry(NoBackoff(), 0)}
        if self.cluster:
            from redis.cluster import RedisCluster

            return RedisCluster.from_url(self._url, **common)
        return redis.Redis.from_url(self._url, health_check_interval=0, **common)

    @property
    def client(self):
        """The redis client (for a cluster URL it is built, and connects, on first use)."""
        if self._client is None:
            try:
                self._client = self._make_client()
            except self._errors as e:
                raise StoreError(f"redis: {type(e).__name__}: {e}", maybe_applied=False) from e
        return self._client

    def __repr__(self) -> str:
        where = self._url or type(self._client).__name__
        return f"<RedisStore {where} prefix={self.prefix!r} namespace={self.namespace!r} cluster={self.cluster}>"

    def close(self) -> None:
        """Close the client's connections; a client that fails to close (already broken) is left as it is."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()

    def ping(self) -> None:
        """Raise ``StoreError`` unless the server answers."""
        try:
            self.client.ping()
        except self._errors as e:
            raise StoreError(f"redis: {type(e).__name__}: {e}") from e

    def load_script(self) -> str:
        """Register the script (SCRIPT LOAD; every primary of a cluster); returns its SHA1.

        Optional: ``run`` registers it by itself when the server answers NOSCRIPT.
        """
        try:
            sha = self.client.script_load(self._script)
        except self._errors as e:
            raise StoreError(f"redis: {type(e).__name__}: {e}") from e
        if isinstance(sha, bytes):
            sha = sha.decode()
        if isinstance(sha, str) and sha != self._sha:
            raise StoreError(f"redis: SCRIPT LOAD returned {sha}, expected {self._sha}")
        return self._sha

    # ------------------------------------------------------------ protocol
    def configure(self, windows, sequences, lateness_ms: int, namespace: str) -> None:
        """Bind the ruleset's windows and sequences (called once, and on every reload).

        No network I/O: a Redis that is down does not stop an engine from loading.
        """
        lateness_ms = _index(lateness_ms)
        if lateness_ms < 0:
            raise ValueError("lateness_ms must be >= 0")
        ns = (
            namespace
            if _NS_RE.fullmatch(namespace or "")
            else "h" + hashlib.sha1((namespace or "").encode("utf-8", "surrogatepass")).hexdigest()[:12]
        )
        margin = self.ttl_margin_ms

        def ident(kind: str, sig: str, occ: int) -> str:
            return hashlib.sha1(f"{kind}\x00{sig}\x00{occ}".encode("utf-8", "surrogatepass")).hexdigest()[:12]

        wins = [
            _Win(spec, ident("w", sig, occ), lateness_ms, margin)
            for spec, (sig, occ) in zip(windows, state_ids(windows, lateness_ms), strict=True)
        ]
        seqs = [
            _Seq(spec, ident("s", sig, occ), lateness_ms, margin)
            for spec, (sig, occ) in zip(sequences, state_ids(sequences, lateness_ms), strict=True)
        ]
        self._wins, self._seqs = wins, seqs
        self.namespace = ns
        self.lateness_ms = lateness_ms
        self._tag_prefix = ("{" + self.prefix + ":" + ns + ":").encode("utf-8")
        epoch_key = ("{" + self.prefix + ":" + ns + "}:epoch").encode("utf-8")
        if epoch_key != self._epoch_key:
            self._epoch_key, self._epoch = epoch_key, None
        self.configured = True

    def redis_key(self, kind: str, index: int, key) -> bytes:
        """The Redis key holding window (``kind="w"``) or sequence (``"s"``) ``index`` for ``key``."""
        conf = self._wins[index] if kind == "w" else self._seqs[index]
        return self._tag_prefix + self._encode_key(key) + conf.suffix

    @staticmethod
    def _encode_key(key) -> bytes:
        try:
            return _json_encode(key)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
            import json

            try:
                return json.dumps(key, ensure_ascii=True, separators=(",", ":")).encode("ascii")
            except (TypeError, ValueError) as e:
                raise TypeError(f"RedisStore: cannot encode window key {key!r}: {e}") from None

    def run(self, ops: list) -> list:
        """Apply one event's ops; one result per op (see :mod:`ruledsl.stores.local`)."""
        if not self.configured:
            raise RuntimeError("RedisStore.run before configure()")
        n = len(ops)
        results: list = [None] * n
        if not n:
            return results
        wins, seqs = self._wins, self._seqs
        tag_prefix = self._tag_prefix
        cluster = self.cluster
        groups: dict[bytes, list[list[Any]]] = {}
        str_keys: dict[str, bytes] = {}
        # per group: [keys, args, op positions]; without a cluster, one group for every op
        single: list[list[Any]] = [[], [], []]
        for i, op in enumerate(ops):
            if op[0] == "x":  # ("x", Redis key, argument, False): a raw script op (the controls' change feed)
                xg = groups.setdefault(b"\x00" + op[1], [[], [], []]) if cluster else single
                xg[0].append(op[1])
                xg[1].append(op[2])
                xg[2].append(i)
                continue
            key = op[2]
            if key is None:
                results[i] = None if op[0] == "w" else False
                continue
            if type(key) is str:  # str keys (most) are encoded once per event
                kenc = str_keys.get(key)
                if kenc is None:
                    kenc = str_keys[key] = self._encode_key(key)
            else:
                kenc = self._encode_key(key)
            ts = op[3]
            if type(ts) is not int:
                ts = _i64(ts)
            if not -_TS_LIMIT < ts < _TS_LIMIT:
                raise OverflowError("RedisStore: |ts| must be below 2**53")
            if cluster:
                g = groups.get(kenc)
                if g is None:
                    g = groups[kenc] = [[], [], []]
            else:
                g = single
            if op[0] == "w":
                _, wi, _, _, value, inc, add = op
                w = wins[wi]
                if add or (inc and w.value_needed):
                    v = w.enc(value)
                else:
                    v = b""
                g[0].append(tag_prefix + kenc + w.suffix)
                g[1].append(w.code + _FLAGS[(1 if inc else 0) | (2 if add else 0)] + _pack_ts(ts) + w.static + v)
            else:
                _, si, _, _, mask, add = op
                s = seqs[si]
                if type(mask) is not int:
                    from ruledsl.kernels.state_py import _as_mask

                    mask = _as_mask(mask, s.n)
                bits = format(mask & s.full, f"0{s.n}b")[::-1].encode("ascii")
                g[0].append(tag_prefix + kenc + s.suffix)
                g[1].append(b"q-" + _FLAGS[2 if add else 0] + _pack_ts(ts) + s.static + bits)
            g[2].append(i)
        if cluster:
            batches = list(groups.values())
        else:
            batches = [single] if single[0] else []
        if not batches:
            return results
        replies = self._execute(batches)
        for (_keys, _args, positions), reply in zip(batches, replies, strict=True):
            if not isinstance(reply, list) or len(reply) != len(positions):
                raise StoreError(f"redis: unexpected script reply {reply!r:.200}")
            for pos, r in zip(positions, reply, strict=True):
                op = ops[pos]
                if op[0] == "w":
                    results[pos] = self._decode(wins[op[1]], r, op)
                elif op[0] == "x":
                    results[pos] = r
                else:
                    results[pos] = r == 1
        return results

    def _decode(self, w: _Win, r, op):
        agg = w.agg
        if r is None or r is False:  # Lua false: nil in RESP2, a boolean in RESP3
            return None
        if agg in "cdS":
            return r
        if agg == "l":
            return _dec_last(r)
        if type(r) is list and r and r[0] == b"R":
            return _finish_int(agg, r[1:], bool(op[5]), op[4])
        if agg == "a":
            s, c = r
            return (float(s) if w.is_float else s, c)
        if w.is_float:
            return float(r)
        return r

    def _execute(self, batches: list) -> list:
        sha = self._sha
        try:
            client = self.client
            if len(batches) == 1 and not self.cluster:
                # the script checks the epoch itself, atomically with the ops
                keys, args, _ = batches[0]
                keys = [self._epoch_key, *keys]
                args = [self._epoch or b"", self._epoch_next, *args]
                try:
                    reply = client.execute_command("EVALSHA", sha, len(keys), *keys, *args)
                except self._noscript:
                    reply = client.execute_command("EVAL", self._script, len(keys), *keys, *args)
                if not isinstance(reply, list) or not reply:
                    raise StoreError(f"redis: unexpected script reply {reply!r:.200}")
                self._epoch_seen(reply[0])
                return [reply[1:]]
            # a cluster: the epoch key lives in one slot, read in the same pipeline
            pipe = client.pipeline(transaction=False)
            for keys, args, _ in batches:
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            pipe.execute_command("GET", self._epoch_key)
            replies = pipe.execute(raise_on_error=False)
            epoch = replies.pop()
            for j, reply in enumerate(replies):
                if isinstance(reply, self._noscript):
                    keys, args, _ = batches[j]
                    replies[j] = client.execute_command("EVAL", self._script, len(keys), *keys, *args)
                elif isinstance(reply, Exception):
                    raise reply
            if isinstance(epoch, Exception):
                raise epoch
            if epoch is None:
                epoch = 1 if client.set(self._epoch_key, self._epoch_next, nx=True) else client.get(self._epoch_key)
            elif epoch == self._epoch:
                epoch = 0
            self._epoch_seen(1 if epoch is None else epoch)
            return replies
        except self._errors as e:
            raise StoreError(f"redis: {type(e).__name__}: {e}", maybe_applied=not _never_sent(e)) from e

    def _epoch_seen(self, status: Any) -> None:
        # 0: unchanged; 1: it was missing and _epoch_next was written; bytes: the epoch found
        if type(status) is int:
            if status == 0:
                return
            new = self._epoch_next
            self._epoch_next = _new_epoch()
        elif isinstance(status, (bytes, str)):
            new = status.encode() if isinstance(status, str) else bytes(status)
        else:
            raise StoreError(f"redis: unexpected epoch reply {status!r:.100}")
        if self._epoch is not None and new != self._epoch:
            self.data_losses += 1
            log.warning(
                "redis: the epoch of namespace %r changed: the server lost its data (restart without persistence,"
                " flush or eviction); window and sequence state starts again from empty",
                self.namespace,
            )
        self._epoch = new

    @property
    def epoch(self) -> Optional[str]:
        """The namespace's epoch as last seen (None before the first call)."""
        return None if self._epoch is None else self._epoch.decode("ascii", "replace")

    def advance(self, watermark: int) -> None:
        """No-op: each key is evicted by the script when it is written, and expires by TTL."""
        return None

    def clear(self) -> None:
        """Delete every key of this namespace (SCAN + UNLINK on every node)."""
        if not self.configured:
            return
        pattern = _GLOB_SPECIAL.sub(rb"\\\1", self._tag_prefix) + b"*"
        try:
            client = self.client
            batch: list = []
            for k in client.scan_iter(match=pattern, count=1000):
                batch.append(k)
                if len(batch) >= 500:
                    self._unlink(client, batch)
                    batch = []
            if batch:
                self._unlink(client, batch)
        except self._errors as e:
            raise StoreError(f"redis: {type(e).__name__}: {e}") from e

    def _unlink(self, client, keys: list) -> None:
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.unlink(k)
        pipe.execute()

    def key_count(self) -> int:
        """Number of keys of this namespace (SCAN; for tests and monitoring)."""
        pattern = _GLOB_SPECIAL.sub(rb"\\\1", self._tag_prefix) + b"*"
        try:
            return sum(1 for _ in self.client.scan_iter(match=pattern, count=1000))
        except self._errors as e:
            raise StoreError(f"redis: {type(e).__name__}: {e}") from e
