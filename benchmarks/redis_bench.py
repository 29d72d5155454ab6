"""Micro-benchmark of the Redis state store: ``RedisStore.run`` for a 10-window event.

    python benchmarks/redis_bench.py                 # starts its own redis-server on a free port
    python benchmarks/redis_bench.py --url redis://host:6379/0 --events 50000

Measures, for one event = 10 window ops (count, sum, avg, min, max, distinct,
last, since, two more counts/sums) over three key values (account, device,
card) plus one sequence op:

* events/s and window ops/s of ``run()`` in 1 process and in N processes
  (multiprocessing, each with its own connection), p50/p99 latency per call;
* the same stream through ``LocalStore`` (in process) for comparison;
* Redis memory per active key: ``INFO memory`` used_memory growth divided by
  the number of keys, and ``MEMORY USAGE`` of sampled keys per window kind;
* per-event latency while Redis is stalled (SIGSTOP on a server of its own,
  50 ms socket timeout): without a circuit breaker, and with the engine's
  ``GuardedStore`` before the breaker trips (the event that trips it) and
  after (fail fast; the probes), then the calls after SIGCONT that replay the
  buffered updates (a chunk each, with the probe on the first).

Prints a table; asserts nothing (numbers depend on the machine, the network
and the server).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ruledsl.compile import SequenceSpec, WindowSpec
from ruledsl.stores.local import LocalStore

MIN = 60_000
WINDOWS = [
    WindowSpec("txn_count_10m", "count", 10 * MIN, False, False, "int", "count() by account over 10m"),
    WindowSpec("amount_sum_1d", "sum", 1440 * MIN, False, False, "decimal", "sum(amount) by account over 1d"),
    WindowSpec("amount_avg_1h", "avg", 60 * MIN, False, True, "decimal", "avg(amount) by account over 1h"),
    WindowSpec("amount_min_1h", "min", 60 * MIN, False, False, "decimal", "min(amount) by card over 1h"),
    WindowSpec("amount_max_1h", "max", 60 * MIN, False, False, "decimal", "max(amount) by card over 1h"),
    WindowSpec("accts_per_device", "distinct", 60 * MIN, False, False, "int", "distinct(account) by device over 1h"),
    WindowSpec("last_city", "last", 1440 * MIN, False, False, "string", "last(city) by account over 1d"),
    WindowSpec("since_last", "since", 1440 * MIN, False, False, "duration", "since() by account over 1d"),
    WindowSpec("device_count_5m", "count", 5 * MIN, False, False, "int", "count() by device over 5m"),
    WindowSpec("card_sum_10m", "sum", 10 * MIN, False, False, "decimal", "sum(amount) by card over 10m"),
]
KEY_OF = [0, 0, 0, 2, 2, 1, 0, 0, 1, 2]  # 0 account, 1 device, 2 card
SEQUENCES = [SequenceSpec("new_device_then_big", 3, 30 * MIN, "by account within 30m {login; payee; transfer}")]
CITIES = ["北京", "上海", "深圳", "广州", "梅州", "厦门"]


def make_events(n: int, n_keys: int, seed: int, start_ts: int):
    """Op lists of n events, one every 20 ms of event time on average."""
    rnd = random.Random(seed)
    out = []
    ts = start_ts
    for _ in range(n):
        ts += rnd.randint(0, 40)
        acct = f"6222{rnd.randrange(n_keys):012d}"
        keys = (acct, f"dev-{rnd.randrange(max(1, n_keys // 3))}", f"card-{rnd.randrange(n_keys)}")
        amount = rnd.randint(1, 5_000_000) * 100
        values = [0, amount, amount, amount, amount, hash(acct) & 0xFFFFFFFF, rnd.choice(CITIES), 0, 0, amount]
        ops: list[tuple] = [
            ("w", i, keys[KEY_OF[i]], ts, values[i], i not in (6, 7), True) for i in range(len(WINDOWS))
        ]
        ops.append(("s", 0, acct, ts, 1 << rnd.randrange(3), True))
        out.append(ops)
    return out


def _pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(p / 100 * len(sorted_vals)))]


def run_store(store, events):
    lat = []
    t0 = time.perf_counter()
    for ops in events:
        a = time.perf_counter()
        store.run(ops)
        lat.append(time.perf_counter() - a)
    return time.perf_counter() - t0, lat


def _worker(args):
    url, namespace, n, n_keys, seed, start_ts = args
    from ruledsl.stores.redis import RedisStore

    store = RedisStore(url, timeout_ms=2_000)
    store.configure(WINDOWS, SEQUENCES, 2_000, namespace)
    events = make_events(n, n_keys, seed, start_ts)
    run_store(store, events[: min(200, n)])  # warm-up: connection, script cache
    elapsed, lat = run_store(store, events)
    return n, elapsed, lat


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server():
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is not on PATH: install it (apt-get install redis-server) or pass --url")
    import redis

    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="rdsl-bench-")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.02)
    return proc, f"redis://127.0.0.1:{port}/0"


STALL_TIMEOUT_MS = 50


def _timed_calls(store, events, deadline: float, pause: float) -> list[float]:
    """Per-call latency of ``store.run`` (failures included) until ``deadline``, one event every ``pause`` s."""
    from ruledsl.stores.local import StoreError

    lat = []
    for ops in events:
        a = time.perf_counter()
        with contextlib.suppress(StoreError):
            store.run(ops)
        lat.append(time.perf_counter() - a)
        if time.perf_counter() >= deadline:
            break
        time.sleep(pause)
    return lat


def stall_report(short: bool) -> list[str]:
    """Per-event latency while Redis is stalled (SIGSTOP), without and with the circuit breaker."""
    if shutil.which("redis-server") is None:
        return ["Redis stall: skipped (needs redis-server on PATH, to stop a server of its own)"]
    from ruledsl.stores.guard import GuardedStore
    from ruledsl.stores.redis import RedisStore

    logging.getLogger("ruledsl.stores").setLevel(logging.ERROR)  # the outage's warnings: expected here
    proc, url = start_server()
    try:
        events = make_events(20_000, 1_000, 7, 1_700_000_000_000)
        plain = RedisStore(url, timeout_ms=STALL_TIMEOUT_MS)
        plain.configure(WINDOWS, SEQUENCES, 2_000, "stall0")
        guarded = GuardedStore(RedisStore(url, timeout_ms=STALL_TIMEOUT_MS))
        guarded.configure(WINDOWS, SEQUENCES, 2_000, "stall1")
        run_store(plain, events[:200])  # warm-up: connections, script cache
        run_store(guarded, events[:200])
        stall_s = 1.5 if short else 3.5
        pause = 0.0005  # about 1,500 events/s of offered traffic
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            without = _timed_calls(plain, events[200:], time.perf_counter() + 0.5, pause)
            started = time.perf_counter()
            with_breaker = _timed_calls(guarded, events[1_000:], started + stall_s, pause)
            wall = time.perf_counter() - started
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        stats = guarded.stats()
        buffered = stats["buffered"]
        time.sleep((stats["retry_in_ms"] or 0) / 1000 + 0.05)
        recovery = []  # the calls that drain the buffer, one chunk each
        for ops in events[-2_000:]:
            a = time.perf_counter()
            guarded.run(ops)
            recovery.append(time.perf_counter() - a)
            if not guarded.buffered:
                break
        stats = guarded.stats()
    finally:
        proc.terminate()
        proc.wait(5)
    after = sorted(with_breaker[1:])
    probes = [x for x in after if x >= STALL_TIMEOUT_MS / 1000 * 0.8]
    fast = [x for x in after if x < STALL_TIMEOUT_MS / 1000 * 0.8]
    without.sort()
    return [
        f"Redis stalled (SIGSTOP) for {stall_s:.1f} s, socket timeout {STALL_TIMEOUT_MS} ms, "
        f"an event offered every {pause * 1e3:.1f} ms:",
        f"  without a breaker     every event waits: p50 {_pct(without, 50) * 1e3:.1f} ms ({len(without)} events "
        f"in 0.5 s: {len(without) / max(sum(without), 1e-9):,.0f} events/s)",
        f"  breaker, before trip  the event that trips it: {with_breaker[0] * 1e3:.1f} ms",
        f"  breaker, after trip   {len(fast):,} events fail fast: p50 {_pct(fast, 50) * 1e6:.1f} µs, "
        f"p99 {_pct(fast, 99) * 1e6:.1f} µs; {len(probes)} probes of {_pct(probes, 50) * 1e3:.1f} ms "
        f"(cool-down 1 s, doubling) in {wall:.1f} s",
        f"  recovery              {buffered:,} buffered updates replayed by the next {len(recovery)} events, "
        f"{guarded.replay_chunk:,} each: the first (with the probe) {recovery[0] * 1e3:.1f} ms, "
        f"then p50 {_pct(sorted(recovery[1:]), 50) * 1e3:.1f} ms",
        f"                        uncertain (timed out after sending) {stats['uncertain_updates']}, "
        f"chain advances not replayed {stats['sequence_steps_dropped']:,}, lost {stats['lost_updates']}",
    ]


def memory_report(url: str, namespace: str, store):
    import redis

    client = redis.Redis.from_url(url)
    pattern = b"{rdsl:" + namespace.encode() + b":*"
    keys = list(client.scan_iter(match=pattern, count=2000))
    per_kind: dict[str, list[int]] = {}
    rnd = random.Random(0)
    for k in rnd.sample(keys, min(len(keys), 3000)):
        usage = client.memory_usage(k, samples=0) or 0
        if b"}:s:" in k:
            kind = "sequence"
        else:
            suffix = k.rsplit(b"}:w:", 1)[1].decode()
            kind = next(
                (
                    f"{w.agg} ({w.name})"
                    for i, w in enumerate(WINDOWS)
                    if store.redis_key("w", i, "x").endswith(b"}:w:" + suffix.encode())
                ),
                "?",
            )
        per_kind.setdefault(kind, []).append(usage)
    return len(keys), per_kind


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an existing Redis (default: start redis-server on a free port)")
    ap.add_argument("--events", type=int, default=20_000, help="events per process")
    ap.add_argument("--keys", type=int, default=10_000, help="distinct accounts/cards (devices: a third)")
    ap.add_argument("--procs", type=int, default=4, help="processes for the parallel run")
    ap.add_argument("--short", action="store_true", help="2,000 events per process")
    args = ap.parse_args(argv)
    n = 2_000 if args.short else args.events

    proc = None
    url = args.url
    if url is None:
        proc, url = start_server()
    try:
        import redis

        from ruledsl.stores.redis import RedisStore

        admin = redis.Redis.from_url(url)
        start_ts = 1_700_000_000_000
        rows = []

        # in-process reference
        local = LocalStore()
        local.configure(WINDOWS, SEQUENCES, 2_000, "bench")
        events = make_events(n, args.keys, 1, start_ts)
        elapsed, lat = run_store(local, events)
        lat.sort()
        rows.append(("LocalStore, 1 process", n / elapsed, _pct(lat, 50), _pct(lat, 99)))

        # one process
        store = RedisStore(url, timeout_ms=2_000)
        store.configure(WINDOWS, SEQUENCES, 2_000, "bench1")
        store.clear()
        mem0 = admin.info("memory")["used_memory"]
        _, elapsed, lat = _worker((url, "bench1", n, args.keys, 1, start_ts))
        lat.sort()
        rows.append(("RedisStore, 1 process", n / elapsed, _pct(lat, 50), _pct(lat, 99)))
        mem1 = admin.info("memory")["used_memory"]
        n_keys, per_kind = memory_report(url, "bench1", store)

        # N processes, one namespace each (different key spaces, same server)
        ctx = mp.get_context("spawn")
        jobs = [(url, f"benchp{i}", n, args.keys, 100 + i, start_ts) for i in range(args.procs)]
        with ctx.Pool(args.procs) as pool:
            t0 = time.perf_counter()
            results = pool.map(_worker, jobs)
            wall = time.perf_counter() - t0
        total = sum(r[0] for r in results)
        all_lat = sorted(x for r in results for x in r[2])
        busiest = max(r[1] for r in results)
        rows.append((f"RedisStore, {args.procs} processes", total / busiest, _pct(all_lat, 50), _pct(all_lat, 99)))
        for i in range(args.procs):
            s = RedisStore(url)
            s.configure(WINDOWS, SEQUENCES, 2_000, f"benchp{i}")
            s.clear()
        store.clear()

        info = admin.info("server")
        print(
            f"redis {info.get('redis_version')} at {url}; {os.cpu_count()} CPUs on this machine; "
            f"{n} events per process, {args.keys} accounts; 1 event = {len(WINDOWS)} window ops + 1 sequence op"
        )
        print()
        print(f"{'setup':<28} {'events/s':>10} {'window ops/s':>13} {'p50 µs':>8} {'p99 µs':>8}")
        for name, eps, p50, p99 in rows:
            print(f"{name:<28} {eps:>10,.0f} {eps * len(WINDOWS):>13,.0f} {p50 * 1e6:>8.0f} {p99 * 1e6:>8.0f}")
        print(
            f"(the {args.procs}-process row: total events / the slowest process's time; wall {wall:.1f} s with start-up)"
        )
        print()
        print(
            f"Redis memory after the 1-process run: {n_keys:,} keys, used_memory +{(mem1 - mem0) / 1024:,.0f} KiB "
            f"= {(mem1 - mem0) / max(n_keys, 1):,.0f} B per key (all overheads included)"
        )
        print(f"{'key kind':<34} {'sampled':>8} {'MEMORY USAGE avg B':>19} {'max B':>7}")
        for kind in sorted(per_kind):
            vals = per_kind[kind]
            print(f"{kind:<34} {len(vals):>8} {sum(vals) / len(vals):>19,.0f} {max(vals):>7}")
        print()
        for line in stall_report(args.short):
            print(line)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    main()
