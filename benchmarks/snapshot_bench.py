"""How long a snapshot blocks ``evaluate()`` (issue #9): a measure of ``run_bench.py``.

    python benchmarks/snapshot_bench.py [--keys N] [--json]

Fills an engine with ``N`` distinct keys (default 1,000,000) in each of two
1-day windows (a count and a sum, the usual velocity pair), then, while
another thread calls ``evaluate()`` in a loop and times every call, writes a
snapshot from the main thread.  Reports:

- the longest single ``evaluate()`` call while the snapshot was being taken
  (what the snapshot blocks: the engine's lock, and the GIL while one C call
  runs) and, for comparison, the longest call over the same time without a
  snapshot; the same for ``snapshot(fork=True)`` (POSIX);
- the snapshot's total time and size;
- whether the kernels were copied (``copy()``) or dumped under the lock.

Runs in a fresh interpreter when called from ``run_bench.py`` so the heap of
earlier sections does not blur the numbers.  Times are reported, not asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
try:
    import ruledsl  # noqa: F401
except ImportError:  # an uninstalled checkout
    sys.path.insert(0, str(ROOT))

RULESET = """\
ruleset snapshot_bench { lateness 1m }
event e { k: string  amount: decimal }
window c = count() of e by k over 1d
window s = sum(amount) of e by k over 1d
rule busy { reason "busy" on e when c > 1000 or s > 1000000 action alert }
"""

T0 = 1_700_000_000_000  # 2023-11-14, safely in the past for the engine's clock guard


def fill(engine: Any, n: int) -> float:
    """Feed one event per key, 1 ms apart; returns the seconds taken."""
    t = time.perf_counter()
    chunk = 10_000
    for start in range(0, n, chunk):
        engine.evaluate_many(
            {"type": "e", "ts": T0 + i, "k": f"K{i:09d}", "amount": 12} for i in range(start, min(n, start + chunk))
        )
    return time.perf_counter() - t


class Prober(threading.Thread):
    """Calls ``evaluate()`` in a loop and records how long each call took."""

    def __init__(self, engine: Any, n_keys: int, ts0: int):
        super().__init__(daemon=True)
        self.engine = engine
        self.n_keys = n_keys
        self.ts = ts0
        self.stop = threading.Event()
        self.calls: list[tuple[float, float]] = []  # (start, seconds)

    def run(self) -> None:
        clock = time.perf_counter
        evaluate = self.engine.evaluate
        i = 0
        while not self.stop.is_set():
            i += 1
            self.ts += 1
            ev = {"type": "e", "ts": self.ts, "k": f"K{(i * 7919) % self.n_keys:09d}", "amount": 5}
            t0 = clock()
            evaluate(ev)
            self.calls.append((t0, clock() - t0))


def _longest(calls: list[tuple[float, float]], start: float, end: float) -> tuple[float, int, float]:
    """Longest call overlapping [start, end], the number of such calls and their p99 (seconds)."""
    inside = [d for t, d in calls if t + d >= start and t <= end]
    if not inside:
        return end - start, 0, end - start  # no call completed: blocked the whole time
    inside.sort()
    return inside[-1], len(inside), inside[min(len(inside) - 1, int(0.99 * len(inside)))]


def measure(n_keys: int) -> dict[str, Any]:
    """Fill, then time a snapshot while a thread evaluates; returns the numbers."""
    from ruledsl.kernels import state
    from ruledsl.runtime.engine import load

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "snapshot_bench.rdsl"
        rules.write_text(RULESET, encoding="utf-8")
        engine = load(rules)
        fill_s = fill(engine, n_keys)
        keys = {name: w["keys"] for name, w in engine.stats()["windows"].items()}
        copied = all(hasattr(k, "copy") for k in engine._windows)
        gc.collect()

        prober = Prober(engine, n_keys, T0 + n_keys)
        prober.start()
        time.sleep(0.2)  # warm up
        base_start = time.perf_counter()
        time.sleep(1.0)
        base_end = time.perf_counter()
        snap_path = Path(tmp) / "state.snap"
        snap_start = time.perf_counter()
        size = engine.snapshot(snap_path)
        snap_end = time.perf_counter()
        time.sleep(0.2)
        forked = hasattr(os, "fork")
        fork_start = fork_end = time.perf_counter()
        if forked:
            engine.snapshot(Path(tmp) / "forked.snap", fork=True)
            fork_end = time.perf_counter()
        time.sleep(0.05)
        prober.stop.set()
        prober.join()
        calls = list(prober.calls)

        restore_t = time.perf_counter()
        restored = load(rules, state=snap_path)
        restore_s = time.perf_counter() - restore_t
        restored_keys = {name: w["keys"] for name, w in restored.stats()["windows"].items()}

    base_max, base_n, base_p99 = _longest(calls, base_start, base_end)
    snap_max, snap_n, snap_p99 = _longest(calls, snap_start, snap_end)
    fork_max, fork_n, _ = _longest(calls, fork_start, fork_end) if forked else (None, 0, None)
    return {
        "keys": n_keys,
        "keys_per_window": keys,
        "restored_keys_per_window": restored_keys,
        "state_kernels_compiled": state.COMPILED,
        "kernel_copy": copied,
        "fill_s": fill_s,
        "snapshot_s": snap_end - snap_start,
        "snapshot_bytes": size,
        "restore_s": restore_s,
        "evaluate_blocked_max_ms": snap_max * 1e3,
        "evaluate_p99_during_snapshot_ms": snap_p99 * 1e3,
        "evaluate_calls_during_snapshot": snap_n,
        "evaluate_max_without_snapshot_ms": base_max * 1e3,
        "evaluate_p99_without_snapshot_ms": base_p99 * 1e3,
        "evaluate_calls_without_snapshot": base_n,
        "fork_evaluate_blocked_max_ms": fork_max * 1e3 if fork_max is not None else None,
        "fork_evaluate_calls_during_snapshot": fork_n,
        "fork_snapshot_s": fork_end - fork_start if forked else None,
        "median_call_us": statistics.median(d for _, d in calls) * 1e6 if calls else None,
    }


def rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) rows for run_bench's table."""
    how = "copied under the lock (kernel copy())" if res["kernel_copy"] else "dumped under the lock (no kernel copy())"
    return [
        ("keys", f"{res['keys']:,} in each of {len(res['keys_per_window'])} windows; state {how}"),
        (
            "evaluate() blocked, max",
            f"{res['evaluate_blocked_max_ms']:,.1f} ms during the snapshot "
            f"(p99 {res['evaluate_p99_during_snapshot_ms']:.2f} ms over {res['evaluate_calls_during_snapshot']:,} "
            f"calls); {res['evaluate_max_without_snapshot_ms']:.1f} ms without",
        ),
        (
            "same, snapshot(fork=True)",
            "not available (no os.fork)"
            if res["fork_evaluate_blocked_max_ms"] is None
            else f"{res['fork_evaluate_blocked_max_ms']:,.1f} ms (over {res['fork_evaluate_calls_during_snapshot']:,} "
            f"calls; the snapshot {res['fork_snapshot_s']:.2f} s in all)",
        ),
        (
            "snapshot total / size",
            f"{res['snapshot_s']:.2f} s / {res['snapshot_bytes'] / 1024 / 1024:,.1f} MiB "
            f"(restore {res['restore_s']:.2f} s)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line: print the numbers (``--json``: one JSON line, for run_bench.py)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keys", type=int, default=1_000_000, help="distinct keys in each window (default 1,000,000)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args(argv)
    res = measure(args.keys)
    if args.json:
        print(json.dumps(res))
    else:
        for measure_name, value in rows(res):
            print(f"{measure_name:<26} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
