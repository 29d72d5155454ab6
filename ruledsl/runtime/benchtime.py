"""Timing helpers shared by ``ruledsl bench`` and ``benchmarks/``: timed calls, percentiles, calibration.

Every timed pass collects and freezes the heap first (``gc.freeze()``): the
objects built while loading and warming up are moved out of the collector's
generations, so a collection during the pass only walks what the pass itself
allocates.  The collector stays on (as in production) unless a caller turns
it off; ``gc_state()`` says which, for the report.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

PERCENTILES = (50, 90, 99, 99.9)
"""The latency percentiles reported."""


def latency_pass(engine: Any, events: Sequence[dict]) -> list[int]:
    """The time in ns of each ``engine.evaluate()`` call over ``events``, in event order (heap frozen)."""
    evaluate = engine.evaluate
    clock = time.perf_counter_ns
    lat = [0] * len(events)
    gc.collect()
    gc.freeze()
    try:
        for i, ev in enumerate(events):
            t0 = clock()
            evaluate(ev)
            lat[i] = clock() - t0
    finally:
        gc.unfreeze()
    return lat


def percentiles(lat: Iterable[int], prefix: str = "") -> dict[str, float]:
    """p50/p90/p99/p99.9, max and mean in µs of call times in ns."""
    ordered = sorted(lat)
    res = {f"{prefix}p{p}_us": ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1000 for p in PERCENTILES}
    res[f"{prefix}max_us"] = ordered[-1] / 1000
    res[f"{prefix}mean_us"] = statistics.fmean(ordered) / 1000
    return res


def timed_loop(func: Callable[[dict], Any], events: Sequence[dict]) -> float:
    """Seconds (perf_counter) for ``func(ev)`` over ``events`` with no per-call timer (heap frozen)."""
    gc.collect()
    gc.freeze()
    try:
        t0 = time.perf_counter()
        for ev in events:
            func(ev)
        return time.perf_counter() - t0
    finally:
        gc.unfreeze()


CALIBRATION_ITERATIONS = 100_000
"""Iterations of the calibration loop (about 20-40 ms)."""


def _calibration_body(n: int) -> int:
    # the engine's kind of work in plain Python: dict lookups and stores, string
    # keys, int arithmetic, a small tuple per step; fixed forever so that a
    # figure divided by it compares across runs and machines
    table: dict[str, int] = {}
    keys = [f"k{i}" for i in range(512)]
    acc = 0
    for i in range(n):
        k = keys[i & 511]
        v = table.get(k, 0) + (i % 7)
        table[k] = v
        pair = (v, i)
        acc += pair[0] - (pair[1] & 3)
    return acc


def calibration_ns(repeats: int = 5) -> float:
    """ns of one calibration iteration: the fastest of ``repeats`` runs of a fixed pure-Python loop (heap frozen)."""
    best = float("inf")
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter_ns()
            _calibration_body(CALIBRATION_ITERATIONS)
            best = min(best, time.perf_counter_ns() - t0)
    finally:
        gc.unfreeze()
    return best / CALIBRATION_ITERATIONS


def gc_state() -> str:
    """How the collector ran during the timed passes, for the report."""
    return "on, heap frozen (gc.freeze) before each timed pass" if gc.isenabled() else "off"
