"""RedisStore against a real redis-server, and against LocalStore (the in-memory reference).

The fixtures start their own ``redis-server`` processes on free ports of
127.0.0.1 (no persistence) and stop them at the end.  Without ``redis-server``
on PATH (or the ``redis`` package) the tests are skipped, unless the
environment variable ``CI`` is set: CI installs redis-server, so there they
fail instead.  Run more random examples with ``RULEDSL_HYPOTHESIS_EXAMPLES``.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ruledsl.compile import SequenceSpec, WindowSpec
from ruledsl.stores.local import LocalStore, StoreError

try:
    import redis
    from redis.cluster import RedisCluster
    from redis.crc import key_slot
except ImportError:  # pragma: no cover - the test extra installs it
    redis = None

REDIS_SERVER = shutil.which("redis-server")
IN_CI = bool(os.environ.get("CI"))
EXAMPLES = int(os.environ.get("RULEDSL_HYPOTHESIS_EXAMPLES", "150"))


def _require_redis() -> None:
    missing = []
    if REDIS_SERVER is None:
        missing.append("redis-server is not on PATH (apt-get install redis-server)")
    if redis is None:
        missing.append("the redis package is not installed (pip install -e '.[test]')")
    if missing:
        reason = "; ".join(missing)
        if IN_CI:
            pytest.fail(f"{reason} — CI is set, and CI must install it")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    rnd = random.Random()
    for _ in range(200):
        port = rnd.randint(20000, 55000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """A redis-server child process on 127.0.0.1 that tests can stop and start."""

    def __init__(self, *extra: str, port: int = 0):
        self.port = port or _free_port()
        self.extra = extra
        self.dir = tempfile.mkdtemp(prefix="rdsl-redis-")
        self.proc = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, **kw)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.exceptions.ConnectionError as err:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from err
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    _require_redis()
    srv = RedisServer()
    yield srv
    srv.close()


@pytest.fixture
def own_server():
    """A server for one test (which may stop and restart it)."""
    _require_redis()
    srv = RedisServer()
    yield srv
    srv.close()


def _cluster_info(client) -> dict:
    info = client.execute_command("CLUSTER INFO")
    if isinstance(info, (bytes, str)):
        text = info.decode() if isinstance(info, bytes) else info
        info = dict(line.split(":", 1) for line in text.split() if ":" in line)
    return info


@pytest.fixture(scope="module")
def cluster():
    """Three primaries, slots split in three, no replicas."""
    _require_redis()
    nodes: list[RedisServer] = []
    try:
        for _ in range(3):
            nodes.append(
                RedisServer(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    port=_free_cluster_port(),
                )
            )
        clients = [n.client() for n in nodes]
        bounds = [0, 5461, 10923, 16384]
        for i, c in enumerate(clients):
            c.execute_command("CLUSTER ADDSLOTS", *range(bounds[i], bounds[i + 1]))
        for n in nodes[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", n.port)
        deadline = time.monotonic() + 20
        while True:
            infos = [_cluster_info(c) for c in clients]
            if all(i.get("cluster_state") == "ok" and str(i.get("cluster_known_nodes")) == "3" for i in infos):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test cluster did not form: {infos[0]}")
            time.sleep(0.1)
        yield nodes
    finally:
        for n in nodes:
            n.close()


def cluster_client(nodes):
    return RedisCluster(host="127.0.0.1", port=nodes[0].port, socket_timeout=5)


# ---------------------------------------------------------------- specs and comparison

AGGS = [
    ("count", False),
    ("sum", False),
    ("sum", True),
    ("avg", False),
    ("avg", True),
    ("min", False),
    ("min", True),
    ("max", False),
    ("max", True),
    ("distinct", False),
    ("distinct", True),
    ("last", False),
    ("since", False),
]


def wspec(i, agg, d, is_float=False, exclude=False, sig=None):
    return WindowSpec(
        f"w{i}",
        agg,
        d,
        is_float,
        exclude,
        "x",
        sig
        or f"{agg}(x:{'float' if is_float else 'int'}) by k over {d}ms #{i}"
        + (" excluding current" if exclude else ""),
    )


def sspec(i, n, within, sig=None):
    return SequenceSpec(f"s{i}", n, within, sig or f"by k within {within}ms steps={n} #{i}")


def same(a, b) -> bool:
    """Equal and of the same type; floats bit-for-bit (-0.0 is not 0.0), every NaN equals every NaN."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if a != a:
            return b != b
        return struct.pack("<d", a) == struct.pack("<d", b)
    if type(a) is tuple:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def make_stores(url_or_client, windows, sequences, lateness, namespace="t", **kw):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(url_or_client, **kw)
    rs.configure(windows, sequences, lateness, namespace)
    rs.clear()
    ls = LocalStore()
    ls.configure(windows, sequences, lateness, namespace)
    return rs, ls


class Driver:
    """Feeds events to both stores the way the generated code does, and compares results."""

    def __init__(self, rs, ls, windows, sequences, lateness, key_of_w, key_of_s, advance_every=3):
        self.rs, self.ls = rs, ls
        self.windows, self.sequences = windows, sequences
        self.lateness = lateness
        self.key_of_w, self.key_of_s = key_of_w, key_of_s
        self.max_ts = None
        self.n = 0
        self.advance_every = advance_every
        self.compared = 0

    def event(self, ts, keys, fed, values, masks, commit=True, budget=8):
        late = self.max_ts is not None and ts < self.max_ts - self.lateness
        ops = []
        for wi, spec in enumerate(self.windows):
            key = self.key_of_w(wi, keys)
            d = bool(fed[wi]) and not late
            inc = not spec.exclude_current
            ops.append(("w", wi, key, ts, values[wi] if d else 0, d and inc, commit and d))
        for si, _spec in enumerate(self.sequences):
            key = self.key_of_s(si, keys)
            ops.append(("s", si, key, ts, masks[si], commit and not late and masks[si] != 0))
        got = self.rs.run(ops)
        want = self.ls.run(ops)
        assert len(got) == len(want) == len(ops)
        if not late:
            for op, g, w in zip(ops, got, want, strict=True):
                if not same(g, w):
                    spec = self.windows[op[1]] if op[0] == "w" else self.sequences[op[1]]
                    raise AssertionError(f"event #{self.n} ts={ts} {op!r} ({spec}): redis {g!r}, memory {w!r}")
            self.compared += len(ops)
        if commit and not late:
            if self.max_ts is None or ts > self.max_ts:
                self.max_ts = ts
            self.n += 1
            if self.n % self.advance_every == 0:
                wm = self.max_ts - self.lateness
                self.ls.advance(wm, budget)
                self.rs.advance(wm)
        return late


# ---------------------------------------------------------------- hypothesis: random op streams

KEYS1 = ["a", "北京", 7, True]
KEYS2 = [None, "d1", "}x{"]

INTS = st.one_of(
    st.integers(-10, 10),
    st.sampled_from([2**53 - 1, 2**53, -(2**53), 2**53 + 1, 2**62, -(2**63), 2**63 - 1, 10**15]),
)
FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.1, 0.2, 0.3, 1e308, -1e308, math.inf, -math.inf, math.nan, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
)
LAST_VALUES = st.one_of(st.text(max_size=4), st.integers(-(2**63), 2**63 - 1), st.booleans(), FLOATS, st.none())


@st.composite
def scenarios(draw):
    lateness = draw(st.sampled_from([0, 0, 3, 10]))
    windows = []
    value_strats = []
    for i, (agg, is_float) in enumerate(AGGS):
        d = draw(st.sampled_from([1, 2, 3, 5, 10, 25]))
        exclude = draw(st.booleans()) if agg not in ("last", "since") else False
        windows.append(wspec(i, agg, d, is_float, exclude))
        if agg == "last":
            value_strats.append(LAST_VALUES)
        elif is_float:
            value_strats.append(FLOATS)
        else:
            value_strats.append(INTS)
    sequences = [sspec(i, draw(st.sampled_from([1, 2, 3, 5])), draw(st.sampled_from([0, 4, 15]))) for i in range(2)]
    wsel = draw(st.lists(st.integers(0, 2), min_size=len(windows), max_size=len(windows)))
    ssel = draw(st.lists(st.integers(0, 2), min_size=2, max_size=2))
    event = st.tuples(
        st.one_of(st.sampled_from([0, 0, 1, 2, 3, 5, 10, 25]), st.integers(-15, 12)),  # 0: equal ts; D: boundary
        st.sampled_from(KEYS1),
        st.sampled_from(KEYS2),
        st.lists(st.sampled_from([True, True, False]), min_size=len(windows), max_size=len(windows)),
        st.tuples(*value_strats),
        st.tuples(st.integers(0, 31), st.integers(0, 31)),
        st.sampled_from([True, True, True, False]),  # commit (False: a peek)
    )
    events = draw(st.lists(event, min_size=1, max_size=60))
    budget = draw(st.sampled_from([1, 8, 128]))
    return lateness, windows, sequences, wsel, ssel, events, budget


def _key(sel, keys):
    k1, k2 = keys
    if sel == 0:
        return k1
    if sel == 1:
        return k2
    return None if k2 is None else (k1, k2)


def run_scenario(target, scenario):
    lateness, windows, sequences, wsel, ssel, events, budget = scenario
    rs, ls = make_stores(target, windows, sequences, lateness)
    drv = Driver(
        rs,
        ls,
        windows,
        sequences,
        lateness,
        lambda wi, keys: _key(wsel[wi], keys),
        lambda si, keys: _key(ssel[si], keys),
        advance_every=2,
    )
    ts = 1_700_000_000_000
    for dt, k1, k2, fed, values, masks, commit in events:
        ts += dt
        drv.event(ts, (k1, k2), fed, values, masks, commit=commit, budget=budget)
    return rs, drv


HSETTINGS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
    phases=[p for p in Phase if p != Phase.shrink or os.environ.get("RULEDSL_HYPOTHESIS_SHRINK")],
)


@settings(HSETTINGS, max_examples=EXAMPLES)
@given(scenario=scenarios())
def test_differential_random_streams(server, scenario):
    """Every on-time result of every op equals the in-memory kernels' (all aggs, lateness, equal ts, D boundaries)."""
    _rs, drv = run_scenario(server.url, scenario)
    assert drv.compared or not scenario[5]


@settings(HSETTINGS, max_examples=max(EXAMPLES // 4, 10))
@given(scenario=scenarios())
def test_differential_random_streams_cluster(cluster, scenario):
    """The same on a 3-node Redis Cluster: one EVALSHA per key value, never CROSSSLOT."""
    run_scenario(cluster_client(cluster), scenario)


def _long_stream(target, seed, n_events=1500):
    rnd = random.Random(seed)
    lateness = 2_000
    windows = [
        wspec(i, agg, d, is_float, exclude=(i % 4 == 1 and agg not in ("last", "since")))
        for i, ((agg, is_float), d) in enumerate(
            zip(
                AGGS,
                [
                    60_000,
                    10_000,
                    300_000,
                    60_000,
                    5_000,
                    60_000,
                    60_000,
                    3_600_000,
                    60_000,
                    86_400_000,
                    60_000,
                    600_000,
                    600_000,
                ],
                strict=True,
            )
        )
    ]
    sequences = [sspec(0, 3, 120_000), sspec(1, 2, 30_000)]
    rs, ls = make_stores(target, windows, sequences, lateness)
    accounts = [f"6222{n:012d}" for n in range(40)]
    devices = [f"dev-{n}" for n in range(15)]
    drv = Driver(
        rs,
        ls,
        windows,
        sequences,
        lateness,
        lambda wi, keys: keys[wi % 2] if wi % 5 else (keys[0], keys[1]),
        lambda si, keys: keys[si],
        advance_every=64,
    )
    ts = 1_700_000_000_000
    for _ in range(n_events):
        ts += rnd.choice([0, 0, 1, 50, 400, 1_000, 5_000, 20_000])
        jitter = rnd.randint(-3_000, 0) if rnd.random() < 0.2 else 0  # out of order, sometimes beyond the lateness
        keys = (rnd.choice(accounts), rnd.choice(devices))
        values = []
        for agg, is_float in AGGS:
            if agg == "last":
                values.append(rnd.choice(["北京", "上海", "深圳", 42, None]))
            elif is_float:
                values.append(rnd.choice([rnd.uniform(-1e6, 1e6), 0.1, -0.0]))
            else:
                values.append(rnd.choice([rnd.randint(0, 5_000_000_0000), rnd.randint(-100, 100), 2**62]))
        fed = [rnd.random() < 0.8 for _ in AGGS]
        drv.event(ts + jitter, keys, fed, values, (rnd.randint(0, 7), rnd.randint(0, 3)), budget=128)
    return rs, drv


def _dense_stream(target, seed, lateness, n_events=2500):
    """Few keys, tiny windows, many equal timestamps and boundaries, out-of-order arrivals."""
    rnd = random.Random(seed)
    windows = [
        wspec(i, agg, d, is_float, exclude=(agg not in ("last", "since") and rnd.random() < 0.3))
        for i, ((agg, is_float), d) in enumerate((a, d) for a in AGGS for d in (1, 3, 10))
    ]
    sequences = [sspec(0, 3, 5), sspec(1, 2, 0), sspec(2, 4, 20), sspec(3, 1, 3)]
    rs, ls = make_stores(target, windows, sequences, lateness)
    drv = Driver(
        rs,
        ls,
        windows,
        sequences,
        lateness,
        lambda wi, keys: keys[wi % 2],
        lambda si, keys: keys[si % 2],
        advance_every=rnd.choice([1, 3, 64]),
    )
    specials = [0.0, -0.0, math.nan, math.inf, -math.inf, 0.1, 0.2, 1e308, 5e-324]
    ts = 1_000_000
    for _ in range(n_events):
        ts += rnd.choice([-lateness - 2, -lateness, -1, 0, 0, 0, 1, 1, 2, 3, 10])
        keys = (rnd.choice(["a", "b", 7]), rnd.choice(["x", ("y", 1)]))
        values = []
        for agg, is_float in AGGS:
            for _d in (1, 3, 10):
                if agg == "last":
                    values.append(rnd.choice(["北京", "", 3, 2.5, True, False, None, -0.0]))
                elif is_float:
                    values.append(rnd.choice([*specials, rnd.uniform(-5, 5)]))
                else:
                    values.append(rnd.choice([rnd.randint(-3, 3), 2**53, 2**63 - 1, -(2**63)]))
        fed = [rnd.random() < 0.7 for _ in windows]
        masks = [rnd.randint(0, 15) for _ in sequences]
        drv.event(ts, keys, fed, values, masks, commit=rnd.random() < 0.9, budget=rnd.choice([1, 8, 128]))
    return drv


@pytest.mark.parametrize("seed,lateness", [(1, 0), (2, 5), (3, 2)])
def test_differential_dense_stream(server, seed, lateness):
    drv = _dense_stream(server.url, seed, lateness)
    assert drv.compared > 30_000


@pytest.mark.parametrize("seed", [1, 2])
def test_differential_long_stream(server, seed):
    """Realistic epoch timestamps, windows from seconds to a day, 2 s lateness, late events."""
    _, drv = _long_stream(server.url, seed)
    assert drv.compared > 10_000


def test_differential_long_stream_cluster(cluster):
    _, drv = _long_stream(cluster_client(cluster), 3, n_events=800)
    assert drv.compared > 5_000


# ---------------------------------------------------------------- protocol details


def test_missing_key_gives_none_and_stores_nothing(server):
    windows = [wspec(0, "count", 1000), wspec(1, "last", 1000)]
    rs, _ = make_stores(server.url, windows, [sspec(0, 2, 1000)], 0)
    assert rs.run(
        [("w", 0, None, 5, 1, True, True), ("w", 1, None, 5, "x", False, True), ("s", 0, None, 5, 3, True)]
    ) == [None, None, False]
    assert rs.key_count() == 0
    assert rs.run([]) == []


def test_results_types_and_values(server):
    windows = [
        wspec(0, "count", 100),
        wspec(1, "sum", 100),
        wspec(2, "avg", 100, True),
        wspec(3, "min", 100),
        wspec(4, "max", 100, True),
        wspec(5, "distinct", 100),
        wspec(6, "last", 100),
        wspec(7, "since", 100),
    ]
    rs, ls = make_stores(server.url, windows, [sspec(0, 3, 50)], 0)
    ev1 = [
        ("w", 0, "k", 1000, 0, True, True),
        ("w", 1, "k", 1000, 2**62, True, True),
        ("w", 2, "k", 1000, 0.5, True, True),
        ("w", 3, "k", 1000, -7, True, True),
        ("w", 4, "k", 1000, -0.0, True, True),
        ("w", 5, "k", 1000, 9, True, True),
        ("w", 6, "k", 1000, "北京", False, True),
        ("w", 7, "k", 1000, 0, False, True),
        ("s", 0, "k", 1000, 0b001, True),
    ]
    assert rs.run(ev1) == ls.run(ev1) == [1, 2**62, (0.5, 1), -7, -0.0, 1, None, None, False]
    ev2 = [
        ("w", 0, "k", 1100, 0, True, True),
        ("w", 1, "k", 1099, 2**62, True, True),
        ("w", 2, "k", 1099, 0.25, False, False),
        ("w", 3, "k", 1099, 0, False, False),
        ("w", 4, "k", 1099, 0.0, False, False),
        ("w", 5, "k", 1099, 9, True, False),
        ("w", 6, "k", 1099, 0, False, False),
        ("w", 7, "k", 1099, 0, False, False),
        ("s", 0, "k", 1030, 0b110, True),
    ]
    got = rs.run(ev2)
    assert [same(g, w) for g, w in zip(got, ls.run(ev2), strict=True)] == [True] * 9
    # exactly D older has left the window; the int sum is exact beyond 2**53
    assert got == [1, 2**63, (0.5, 1), -7, -0.0, 1, "北京", 99, False]
    ev3 = [("s", 0, "k", 1050, 0b100, True), ("s", 0, "k", 1051, 0b100, True)]
    assert rs.run(ev3) == ls.run(ev3) == [True, False]  # 1051 - 1000 > within


def test_one_script_call_per_event(server):
    windows = [wspec(i, "count", 60_000) for i in range(10)]
    rs, _ = make_stores(server.url, windows, [sspec(0, 2, 1000)], 0)
    c = server.client()
    c.config_resetstat()
    for e in range(20):
        rs.run(
            [("w", i, ("acct", "dev", "ip")[i % 3], 1000 + e, 1, True, True) for i in range(10)]
            + [("s", 0, "acct", 1000 + e, 1, True)]
        )
    stats = c.info("commandstats")
    calls = stats.get("cmdstat_evalsha", {}).get("calls", 0) + stats.get("cmdstat_eval", {}).get("calls", 0)
    assert calls == 20


def test_cluster_one_call_per_key_value(cluster):
    from ruledsl.stores.redis import RedisStore

    windows = [wspec(i, "count", 60_000) for i in range(6)]
    rs = RedisStore(cluster_client(cluster))
    assert rs.cluster
    rs.configure(windows, [sspec(0, 2, 1000)], 0, "cl")
    rs.clear()
    clients = [n.client() for n in cluster]
    for c in clients:
        c.config_resetstat()
    keys = ["acct-1", "dev-9", ("acct-1", "dev-9")]
    for e in range(5):
        got = rs.run(
            [("w", i, keys[i % 3], 1000 + e, 1, True, True) for i in range(6)] + [("s", 0, "acct-1", 1000 + e, 1, True)]
        )
        assert got == [e + 1] * 6 + [False]
    calls = sum(
        c.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        + c.info("commandstats").get("cmdstat_eval", {}).get("calls", 0)
        for c in clients
    )
    assert calls == 5 * 3
    slots = {key_slot(rs.redis_key("w", i, keys[i % 3])) for i in range(6)}
    assert len(slots) <= 3
    assert rs.key_count() == 7


def test_key_layout_hash_tag(server):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(server.url)
    rs.configure([wspec(0, "count", 10), wspec(1, "sum", 10)], [sspec(0, 2, 10)], 0, "风控 rules")
    k0 = rs.redis_key("w", 0, ("6222", 7, True))
    k1 = rs.redis_key("w", 1, ("6222", 7, True))
    ks = rs.redis_key("s", 0, ("6222", 7, True))
    assert k0.startswith(b"{rdsl:h") and b"}:w:" in k0 and b'["6222",7,true]}' in k0
    assert len({key_slot(k) for k in (k0, k1, ks)}) == 1
    assert k0 != k1
    assert rs.namespace.startswith("h") and len(rs.namespace) == 13  # unsafe namespace hashed
    rs2 = RedisStore(server.url, prefix="x")
    rs2.configure([wspec(0, "count", 10)], [], 0, "rules-1")
    assert rs2.redis_key("w", 0, "a").startswith(b'{x:rules-1:"a"}:w:')
    with pytest.raises(ValueError):
        RedisStore(server.url, prefix="a{b")


def test_key_with_brace_shares_a_slot(server):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(server.url)
    rs.configure([wspec(0, "count", 10), wspec(1, "sum", 10)], [sspec(0, 2, 10)], 0, "ns")
    keys = [rs.redis_key("w", 0, "a}b{"), rs.redis_key("w", 1, "a}b{"), rs.redis_key("s", 0, "a}b{")]
    assert len({key_slot(k) for k in keys}) == 1


def test_ttl_is_set_on_every_key(server):
    windows = [wspec(i, agg, 5_000 * (i + 1), is_float) for i, (agg, is_float) in enumerate(AGGS)]
    sequences = [sspec(0, 3, 7_000)]
    rs, _ls = make_stores(server.url, windows, sequences, 1_000, ttl_margin_ms=2_000)
    for e in range(30):
        ops = [
            ("w", i, f"k{e % 4}", 10_000 + e, 1.5 if f else ("v" if a == "last" else 3), True, True)
            for i, (a, f) in enumerate(AGGS)
        ] + [("s", 0, f"k{e % 4}", 10_000 + e, 1, True)]
        rs.run(ops)
    c = server.client()
    keys = list(c.scan_iter(match=b"{rdsl:t:*"))
    assert len(keys) == 4 * (len(AGGS) + 1)
    for i in range(len(AGGS)):
        limit = 5_000 * (i + 1) + 1_000 + 2_000
        for k in range(4):
            ttl = c.pttl(rs.redis_key("w", i, f"k{k}"))
            assert 0 < ttl <= limit
    for k in range(4):
        assert 0 < c.pttl(rs.redis_key("s", 0, f"k{k}")) <= 7_000 + 1_000 + 2_000


def test_idle_keys_expire(server):
    windows = [wspec(0, "count", 100), wspec(1, "last", 150), wspec(2, "sum", 100, True)]
    rs, _ = make_stores(server.url, windows, [sspec(0, 2, 100)], 50, ttl_margin_ms=0)
    for e in range(10):
        rs.run(
            [
                ("w", 0, e, 1000, 0, True, True),
                ("w", 1, e, 1000, "x", False, True),
                ("w", 2, e, 1000, 0.5, True, True),
                ("s", 0, e, 1000, 1, True),
            ]
        )
    assert rs.key_count() == 40
    time.sleep(0.4)  # every TTL (<= 200 ms) has passed
    c = server.client()
    assert c.exists(*[rs.redis_key("w", i, e) for i in range(3) for e in range(10)]) == 0
    deadline = time.monotonic() + 5
    while rs.key_count() and time.monotonic() < deadline:  # Redis's active expiry also removes them
        time.sleep(0.1)
    assert rs.key_count() == 0


def test_eviction_keeps_keys_small(server):
    """Each add evicts what left the window: a key's size stays bounded on an endless stream."""
    windows = [wspec(0, "sum", 10), wspec(1, "last", 10), wspec(2, "since", 10)]
    rs, ls = make_stores(server.url, windows, [], 5)
    c = server.client()
    for t in range(1000, 3000):
        ops = [("w", 0, "k", t, 1, True, True), ("w", 1, "k", t, "vvvv", False, True), ("w", 2, "k", t, 0, False, True)]
        assert rs.run(ops) == ls.run(ops)
    assert c.strlen(rs.redis_key("w", 0, "k")) <= 16 * 16  # entries in (newest - D - lateness, newest]
    assert c.strlen(rs.redis_key("w", 1, "k")) <= 7 * 16  # last: lateness + the newest below it
    assert c.strlen(rs.redis_key("w", 2, "k")) <= 7 * 8


def test_reconfigure_keeps_unchanged_windows(server):
    a, b, c = wspec(0, "count", 60_000, sig="A"), wspec(1, "count", 60_000, sig="B"), wspec(2, "count", 60_000, sig="C")
    rs, ls = make_stores(server.url, [a, b], [sspec(0, 2, 60_000, sig="S")], 0)
    for e in range(3):
        ops = [
            ("w", 0, "k", 1000 + e, 0, True, True),
            ("w", 1, "k", 1000 + e, 0, True, True),
            ("s", 0, "k", 1000 + e, 1, True),
        ]
        assert rs.run(ops) == ls.run(ops)
    for store in (rs, ls):  # a reload: B kept (now index 0), C new, the sequence kept
        store.configure([b, c], [sspec(0, 2, 60_000, sig="S")], 0, "t")
    ops = [("w", 0, "k", 1010, 0, True, False), ("w", 1, "k", 1010, 0, True, False), ("s", 0, "k", 1010, 2, False)]
    assert rs.run(ops) == ls.run(ops) == [4, 1, True]
    for store in (rs, ls):  # a new lateness: everything starts empty, as in memory
        store.configure([b, c], [sspec(0, 2, 60_000, sig="S")], 100, "t")
    assert rs.run(ops) == ls.run(ops) == [1, 1, False]


def test_duplicate_signatures_are_separate_state(server):
    w = [wspec(0, "count", 1000, sig="same"), wspec(1, "count", 1000, sig="same")]
    rs, ls = make_stores(server.url, w, [], 0)
    for e in range(3):
        ops = [("w", 0, "k", 1000 + e, 0, True, True), ("w", 1, "k", 1000 + e, 0, True, True)]
        assert rs.run(ops) == ls.run(ops) == [e + 1, e + 1]


def test_namespaces_are_isolated_and_clear_deletes_only_its_own(server):
    from ruledsl.stores.redis import RedisStore

    w = [wspec(0, "count", 60_000)]
    one, two = RedisStore(server.url), RedisStore(server.url)
    one.configure(w, [], 0, "one")
    two.configure(w, [], 0, "two")
    one.clear()
    two.clear()
    assert one.run([("w", 0, "k", 1000, 0, True, True)]) == [1]
    assert two.run([("w", 0, "k", 1000, 0, True, True)]) == [1]
    assert one.run([("w", 0, "k", 1001, 0, True, True)]) == [2]
    one.clear()
    assert one.key_count() == 0 and two.key_count() == 1
    assert one.run([("w", 0, "k", 1002, 0, True, False)]) == [1]


def test_two_instances_share_state(server):
    from ruledsl.stores.redis import RedisStore

    w = [wspec(0, "distinct", 60_000), wspec(1, "count", 60_000)]
    a, b = RedisStore(server.url), RedisStore(server.url)
    for s in (a, b):
        s.configure(w, [], 0, "shared")
    a.clear()
    a.run([("w", 0, "acct", 1000, 1, True, True), ("w", 1, "acct", 1000, 0, True, True)])
    assert b.run([("w", 0, "acct", 1001, 2, True, True), ("w", 1, "acct", 1001, 0, True, True)]) == [2, 2]
    assert a.run([("w", 0, "acct", 1002, 2, True, False), ("w", 1, "acct", 1002, 0, False, False)]) == [2, 2]


def test_decode_responses_client_is_rejected(server):
    from ruledsl.stores.redis import RedisStore

    with pytest.raises(ValueError, match="decode_responses"):
        RedisStore(server.client(decode_responses=True))


def test_bad_values_raise_like_the_kernels(server):
    rs, ls = make_stores(server.url, [wspec(0, "sum", 100), wspec(1, "sum", 100, True)], [], 0)
    for store in (rs, ls):
        with pytest.raises(OverflowError):
            store.run([("w", 0, "k", 1000, 2**63, True, True)])
        with pytest.raises(TypeError):
            store.run([("w", 1, "k", 1000, "x", True, True)])
    with pytest.raises(OverflowError):
        rs.run([("w", 0, "k", 2**53, 1, True, True)])


# ---------------------------------------------------------------- faults


def test_noscript_after_script_flush(server):
    rs, _ = make_stores(server.url, [wspec(0, "count", 60_000)], [], 0)
    assert rs.run([("w", 0, "k", 1000, 0, True, True)]) == [1]
    server.client().script_flush()
    assert rs.run([("w", 0, "k", 1001, 0, True, True)]) == [2]  # NOSCRIPT caught, re-sent with EVAL, once
    assert server.client().script_exists(rs._sha) == [True]
    assert rs.run([("w", 0, "k", 1002, 0, True, True)]) == [3]


def test_noscript_in_cluster(cluster):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(cluster_client(cluster))
    rs.configure([wspec(0, "count", 60_000)], [], 0, "flush")
    rs.clear()
    keys = [f"k{i}" for i in range(12)]  # spread over the three nodes
    assert rs.run([("w", 0, k, 1000, 0, True, True) for k in keys]) == [1] * 12
    for n in cluster:
        n.client().script_flush()
    assert rs.run([("w", 0, k, 1001, 0, True, True) for k in keys]) == [2] * 12
    assert rs.run([("w", 0, k, 1002, 0, True, True) for k in keys]) == [3] * 12


def test_server_stopped_then_restarted(own_server):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(own_server.url, timeout_ms=50)
    rs.configure([wspec(0, "count", 60_000)], [sspec(0, 2, 1000)], 0, "r")
    assert rs.run([("w", 0, "k", 1000, 0, True, True), ("s", 0, "k", 1000, 1, True)]) == [1, False]
    own_server.stop()
    t0 = time.monotonic()
    with pytest.raises(StoreError):
        rs.run([("w", 0, "k", 1001, 0, True, True)])
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(StoreError):
        rs.ping()
    own_server.start()  # empty, and no script cached: NOSCRIPT path
    assert rs.run([("w", 0, "k", 1002, 0, True, True), ("s", 0, "k", 1002, 2, False)]) == [1, False]
    assert rs.run([("w", 0, "k", 1003, 0, True, True)]) == [2]


def test_connection_refused_raises_store_error_fast():
    _require_redis()
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(f"redis://127.0.0.1:{_free_port()}/0", timeout_ms=50)
    rs.configure([wspec(0, "count", 1000)], [], 0, "x")  # no I/O: loading never needs Redis
    t0 = time.monotonic()
    with pytest.raises(StoreError):
        rs.run([("w", 0, "k", 1000, 0, True, True)])
    assert time.monotonic() - t0 < 1.0


def test_hung_server_times_out():
    """A server that accepts and never answers: StoreError after about timeout_ms, not a hang."""
    _require_redis()
    from ruledsl.stores.redis import RedisStore

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    conns = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):  # the timeout, or the listener closed at the end
                conns.append(listener.accept()[0])

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        rs = RedisStore(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", timeout_ms=50)
        rs.configure([wspec(0, "count", 1000)], [], 0, "x")
        for _ in range(2):
            t0 = time.monotonic()
            with pytest.raises(StoreError):
                rs.run([("w", 0, "k", 1000, 0, True, True)])
            assert time.monotonic() - t0 < 0.5
    finally:
        stop.set()
        th.join()
        for c in conns:
            c.close()
        listener.close()


def test_paused_server_times_out_then_recovers(own_server):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(own_server.url, timeout_ms=50)
    rs.configure([wspec(0, "count", 60_000)], [], 0, "p")
    assert rs.run([("w", 0, "k", 1000, 0, True, True)]) == [1]
    own_server.client().execute_command("CLIENT", "PAUSE", 600, "ALL")
    t0 = time.monotonic()
    with pytest.raises(StoreError):
        rs.run([("w", 0, "k", 1001, 0, True, True)])
    assert time.monotonic() - t0 < 0.5
    time.sleep(0.8)
    # the timed-out call may still have run once the pause ended: at-most-once is not promised
    assert rs.run([("w", 0, "k", 1002, 0, True, True)])[0] in (2, 3)


def test_refused_connection_is_known_not_applied_and_a_timeout_is_not():
    """StoreError.maybe_applied: false only when the request never left (the outage buffer relies on it)."""
    _require_redis()
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(f"redis://127.0.0.1:{_free_port()}/0", timeout_ms=50)
    rs.configure([wspec(0, "count", 1000)], [], 0, "x")
    with pytest.raises(StoreError) as refused:
        rs.run([("w", 0, "k", 1000, 0, True, True)])
    assert refused.value.maybe_applied is False


def test_paused_server_timeout_may_have_been_applied(own_server):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(own_server.url, timeout_ms=50)
    rs.configure([wspec(0, "count", 60_000)], [], 0, "p")
    rs.run([("w", 0, "k", 1000, 0, True, True)])
    own_server.client().execute_command("CLIENT", "PAUSE", 300, "ALL")
    with pytest.raises(StoreError) as timed_out:
        rs.run([("w", 0, "k", 1001, 0, True, True)])
    assert timed_out.value.maybe_applied is True


def test_a_flushed_namespace_is_reported_as_a_data_loss(own_server):
    """The epoch key: missing or changed on a later call means the server lost its data."""
    from ruledsl.stores.redis import RedisStore

    a = RedisStore(own_server.url)
    b = RedisStore(own_server.url)
    for rs in (a, b):
        rs.configure([wspec(0, "count", 60_000)], [], 0, "e")
    a.run([("w", 0, "k", 1000, 0, True, True)])
    b.run([("w", 0, "k", 1001, 0, True, True)])  # adopts a's epoch: no loss
    assert a.epoch == b.epoch and a.data_losses == b.data_losses == 0
    a.run([("w", 0, "k", 1002, 0, True, True)])
    assert a.data_losses == 0
    own_server.client().flushall()
    assert a.run([("w", 0, "k", 1003, 0, True, True)]) == [1]
    assert a.data_losses == 1 and a.epoch != b.epoch  # a wrote a new epoch
    b.run([("w", 0, "k", 1004, 0, True, True)])
    assert b.data_losses == 1 and a.epoch == b.epoch  # b finds a's new one: a loss for b too
    a.run([("w", 0, "k", 1005, 0, True, True)])
    assert a.data_losses == 1
    a.clear()  # deliberate: clear() leaves the epoch, it is not a loss
    a.run([("w", 0, "k", 1006, 0, True, True)])
    assert a.data_losses == 1


def test_a_data_loss_in_a_cluster(cluster):
    from ruledsl.stores.redis import RedisStore

    rs = RedisStore(cluster_client(cluster))
    rs.configure([wspec(0, "count", 60_000)], [], 0, "epoch")
    keys = [f"k{i}" for i in range(6)]
    rs.run([("w", 0, k, 1000, 0, True, True) for k in keys])
    rs.run([("w", 0, k, 1001, 0, True, True) for k in keys])
    assert rs.data_losses == 0 and rs.epoch
    cluster_client(cluster).delete(b"{rdsl:epoch}:epoch")
    rs.run([("w", 0, k, 1002, 0, True, True) for k in keys])
    assert rs.data_losses == 1


# ---------------------------------------------------------------- LocalStore


def test_local_store_from_kernels_shares_the_kernels():
    from ruledsl.kernels import state

    kernel = state.WindowState("count", 1000, 0, False)
    seq = state.SequenceState(2, 1000)
    store = LocalStore.from_kernels([wspec(0, "count", 1000)], [kernel], [seq])
    assert store.run([("w", 0, "k", 10, 0, True, True), ("s", 0, "k", 10, 1, True), ("s", 0, None, 10, 1, True)]) == [
        1,
        False,
        False,
    ]
    assert kernel.query("k", 11) == 1
    assert seq.query("k", 11, 2) is True


def test_resp3_client(server):
    """A client speaking RESP3 (HELLO 3) gets the same results: Lua false is a boolean there."""
    windows = [wspec(i, agg, 100, is_float) for i, (agg, is_float) in enumerate(AGGS)]
    rs, ls = make_stores(redis.Redis(host="127.0.0.1", port=server.port, protocol=3), windows, [sspec(0, 2, 50)], 0)
    for ts in (1000, 1000, 1050, 1100, 1300):
        ops = [
            ("w", i, "k", ts, 1.5 if f else ("v" if a == "last" else 3), True, ts != 1050)
            for i, (a, f) in enumerate(AGGS)
        ] + [("s", 0, "k", ts, 3, True)]
        got, want = rs.run(ops), ls.run(ops)
        assert all(same(g, w) for g, w in zip(got, want, strict=True)), (got, want)
