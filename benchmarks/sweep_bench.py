"""How the periodic eviction sweep is spread over events: latency percentiles and mean per setting.

    python benchmarks/sweep_bench.py [--configs 64:128,8:16,1:2] [--rounds 3] [--events N] [--latency-sample N]

Generated code calls ``Engine._advance()`` every ``ADVANCE_EVERY`` events, and
each call lets every kernel pop at most ``SWEEP_BUDGET`` due entries of its
expiry queue (``ruledsl/runtime/engine.py``).  For each ``every:budget``
setting (keep ``budget / every`` at 2 or more: two evictions per event on
average keep the sweep ahead of the keys that expire), in interleaved rounds
on fresh engines over the standard workload, with the heap frozen before
each pass:

- p50/p90/p99/p99.9/max and mean of one ``evaluate()`` call (perf_counter_ns
  around each call, over the first ``--latency-sample`` events), each event's
  fastest of ``--passes`` passes (the work per event is the same in each: the
  minimum drops the pauses other processes cause), and the first pass as
  measured (``raw_``);
- the CPU time per event of a whole untimed pass (``evaluate()`` one by one);
- the keys still held at the end that a full sweep would free (a sweep that
  keeps up leaves only those that expired since its last pops).

Prints the median of each figure over the rounds.  The setting is applied by
assigning the two module constants before each engine is built.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import workload  # noqa: E402

from ruledsl.runtime.benchtime import latency_pass, percentiles  # noqa: E402  (shared with `ruledsl bench`)

STANDARD = HERE / "standard.rdsl"


def build_engine(every: int, budget: int):
    """A fresh engine over ``standard.rdsl`` that sweeps every ``every`` events with ``budget`` pops."""
    from ruledsl.runtime import engine as engine_module

    engine_module.ADVANCE_EVERY = every  # bound into the generated code's namespace when the engine is built
    engine_module.SWEEP_BUDGET = budget  # read by Engine._advance at each call
    return engine_module.load(STANDARD)


def throughput_pass(engine, events: list[dict]) -> dict[str, float]:
    """CPU µs per event of ``evaluate()`` over ``events`` (no per-call timer), and the stale keys left."""
    evaluate = engine.evaluate
    gc.collect()
    gc.freeze()
    try:
        c0 = time.process_time()
        for ev in events:
            evaluate(ev)
        dc = time.process_time() - c0
    finally:
        gc.unfreeze()
    kernels = [k for k in (*engine._windows, *engine._sequences) if hasattr(k, "sweep")]
    held = sum(len(k) for k in kernels)
    for k in kernels:
        k.sweep()  # everything expired at the last watermark is freed
    return {"cpu_us_per_event": dc / len(events) * 1e6, "stale_keys_at_end": held - sum(len(k) for k in kernels)}


def measure(every: int, budget: int, events: list[dict], latency_sample: int, passes: int = 3) -> dict[str, float]:
    """One round of one setting: ``passes`` latency passes and a throughput pass, each on a fresh engine.

    The percentiles are those of each event's fastest call over the passes
    (the work per event is the same in every pass, so the minimum drops the
    pauses other processes cause on a shared machine), and those of the first
    pass as measured (prefix ``raw_``).
    """
    runs = [latency_pass(build_engine(every, budget), events[:latency_sample]) for _ in range(passes)]
    res = percentiles([min(times) for times in zip(*runs, strict=True)])
    res.update(percentiles(runs[0], "raw_"))
    res.update(throughput_pass(build_engine(every, budget), events))
    return res


def parse_configs(text: str) -> list[tuple[int, int]]:
    """``"64:128,8:16"`` -> ``[(64, 128), (8, 16)]``."""
    out = []
    for part in text.split(","):
        every, _, budget = part.partition(":")
        out.append((int(every), int(budget)))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", type=parse_configs, default=parse_configs("64:128,16:32,8:16,4:8,2:4,1:2"))
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (3)")
    p.add_argument("--events", type=int, default=workload.DEFAULT_EVENTS, help="events per throughput pass")
    p.add_argument("--latency-sample", type=int, default=100_000, help="events timed one by one (100,000)")
    p.add_argument("--passes", type=int, default=3, help="latency passes per round; each event's fastest kept (3)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument("--json", metavar="OUT", help="also write every round's figures as JSON")
    a = p.parse_args(argv)
    if not a.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    events = workload.generate(a.events, cache=True)
    rounds: dict[str, list[dict[str, float]]] = {f"{e}:{b}": [] for e, b in a.configs}
    for r in range(a.rounds):
        for every, budget in a.configs:
            rounds[f"{every}:{budget}"].append(measure(every, budget, events, a.latency_sample, a.passes))
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr, flush=True)
    keys = ["p50_us", "p90_us", "p99_us", "p99.9_us", "mean_us", "raw_p99_us", "raw_mean_us", "cpu_us_per_event"]
    keys.append("stale_keys_at_end")
    print(
        f"medians of {a.rounds} interleaved rounds; latency over {min(a.latency_sample, len(events)):,} events, "
        f"each event's fastest of {a.passes} passes (raw_: one pass as measured)"
    )
    print(f"{'every:budget':>12} " + " ".join(f"{k:>11}" for k in keys))
    for name, runs in rounds.items():
        print(f"{name:>12} " + " ".join(f"{statistics.median(run[k] for run in runs):11.2f}" for k in keys))
    if a.json:
        Path(a.json).write_text(json.dumps(rounds, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
