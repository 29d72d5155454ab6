"""What holds and controls in Redis cost per event (issue 11): engines on one RedisStore.

    python benchmarks/redis_state_bench.py             # starts its own redis-server on a free port
    python benchmarks/redis_state_bench.py --url redis://127.0.0.1:6379/0 --events 10000

Prints p50/p99 of ``evaluate`` (microseconds) for:

* holds: an event decided ``pass`` beside one decided ``hold`` (which opens
  the hold in Redis: one more round trip), then ``holds()`` and
  ``expire_due`` of every hold opened, beside the same in memory;
* controls: an event with a window call, with the controls' change feed read
  in the same call and without (the table kept in the process); an event
  type with no window whose rules read controls (its call is for the feed
  alone); an event setting a control (one more round trip); the first event
  of an engine after another engine set ``--events`` controls (it reads them
  from the feed, 256 per read).

Asserts nothing: the numbers depend on the machine and the server.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from redis_bench import start_server

import ruledsl
from ruledsl.stores.redis import RedisStore

T0 = 1_767_225_600_000
DAY = 86_400_000

HOLDS = """
ruleset bench_holds { timezone "UTC" hold_timeout 24h }
event transfer { customer_id: string  payee: string  amount: decimal }
list grey_payees: string = ["GREY"]
window per_pair_10m = count() of transfer by customer_id, payee over 10m
rule grey_payee { reason "grey payee" code "H-1" on transfer when payee in grey_payees action hold }
"""

CONTROLS = """
ruleset bench_controls { timezone "UTC" }
event login { account_no: string  risky: bool }
event transfer { account_no: string  amount: decimal }
window logins = count() of login by account_no over 1h
rule risky_login { reason "risky" code "L-1" on login when risky action alert control account_no as "restricted" for 30d }
rule restricted { reason "restricted" code "R-1" on transfer when controlled(account_no) action block }
"""


def _latency(engine: ruledsl.Engine, events: list[dict]) -> str:
    out = []
    for ev in events:
        a = time.perf_counter()
        engine.evaluate(ev)
        out.append((time.perf_counter() - a) * 1e6)
    out.sort()
    return f"{out[len(out) // 2]:7.0f} {out[int(len(out) * 0.99)]:7.0f}"


def _load(source: str, url: str, prefix: str = "rdsl") -> ruledsl.Engine:
    path = Path(tempfile.mkdtemp(prefix="rdsl-bench-")) / "r.rdsl"
    path.write_text(source, encoding="utf-8")
    store = RedisStore(url, timeout_ms=1000, prefix=prefix) if url else None
    return ruledsl.load(path, clock=None, compiled="never", store=store)


def holds_report(url: str, n: int) -> list[str]:
    """Lines for the holds part."""
    engine, memory = _load(HOLDS, url), _load(HOLDS, "")
    ok = [
        {"type": "transfer", "ts": T0 + i, "customer_id": f"C{i % 50}", "payee": "OK", "amount": "1"} for i in range(n)
    ]
    held = [{**ev, "ts": T0 + n + i, "payee": "GREY"} for i, ev in enumerate(ok)]
    _latency(engine, ok[:300])
    lines = [f"{'holds':52s}     p50     p99 (us)"]
    lines.append(f"  {'evaluate: pass':50s} {_latency(engine, ok)}")
    lines.append(f"  {'evaluate: hold (opens it in Redis)':50s} {_latency(engine, held)}")
    for ev in held:
        memory.evaluate(ev)
    for name, e in (("Redis", engine), ("memory", memory)):
        a = time.perf_counter()
        listed = len(e.holds())
        b = time.perf_counter()
        expired = len(e.expire_due(T0 + 3 * DAY))
        c = time.perf_counter()
        lines.append(
            f"  {name}: holds() of {listed} {(b - a) * 1e3:.1f} ms, expire_due of {expired} {(c - b) * 1e3:.1f} ms"
        )
    return lines


def controls_report(url: str, n: int) -> list[str]:
    """Lines for the controls part."""
    shared, other = _load(CONTROLS, url), _load(CONTROLS, url)
    local = _load(CONTROLS, url, prefix="bench-local")
    local._shared_controls = None  # the table stays in the process: no feed op (what a ruleset without controls pays)

    def logins(base: int, risky: bool = False, prefix: str = "C") -> list[dict]:
        return [
            {
                "type": "login",
                "ts": T0 + base + i,
                "account_no": f"{prefix}{i % 50 if not risky else i}",
                "risky": risky,
            }
            for i in range(n)
        ]

    transfers = [
        {"type": "transfer", "ts": T0 + 10 * n + i, "account_no": f"C{i % 50}", "amount": "1"} for i in range(n)
    ]
    for e in (shared, local):
        _latency(e, logins(0)[:300])
    lines = [f"{'controls':52s}     p50     p99 (us)"]
    lines.append(f"  {'login, window call + change feed':50s} {_latency(shared, logins(n))}")
    lines.append(f"  {'login, window call, no feed':50s} {_latency(local, logins(n))}")
    lines.append(f"  {'transfer (no window): the feed alone':50s} {_latency(shared, transfers)}")
    lines.append(f"  {'transfer (no window), table in the process':50s} {_latency(local, transfers)}")
    lines.append(f"  {'login setting a control (feed + write)':50s} {_latency(other, logins(20 * n, True, 'S'))}")
    a = time.perf_counter()
    shared.evaluate({"type": "transfer", "ts": T0 + 30 * n, "account_no": "S1", "amount": "1"})
    lines.append(f"  first event after {n} controls set elsewhere: {(time.perf_counter() - a) * 1e3:.1f} ms")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run both parts and print them."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="an existing Redis (default: start redis-server on a free port)")
    ap.add_argument("--events", type=int, default=3000)
    args = ap.parse_args(argv)
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server()
    try:
        for line in holds_report(url, args.events) + controls_report(url, args.events):
            print(line)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    main()
