"""``Engine.evaluate_arrow`` on the standard workload (issue 10, part 4): a measure of ``run_bench.py``.

    python benchmarks/arrow_bench.py [--events N] [--repeat N] [--short] [--python-only] [--json]

The standard ruleset (``standard.rdsl`` + ``events.rdsl``, loaded as
``run_bench.load_engine`` does) and the standard stream (``workload.py``),
prepared once, outside the timing, as

- an Arrow table with dictionary-encoded string columns, int64 ``ts``,
  ``decimal128`` amounts (exact) and bools: the issue's target input;
- the same with plain string columns (encoded per batch by Arrow);
- a Parquet file of it, read back in record batches (``ruledsl run``'s way).

Each pass replays the whole stream into a fresh engine (built outside the
timing) and ends with the ``Decision`` of every event that fired in hand;
``evaluate()`` per event over the stream's dicts is timed in the same run as
the baseline.  The heap is frozen (``gc.freeze()``) before timing; the modes
are interleaved and the best of ``--repeat`` passes is kept.  Every mode on
both evaluators (generated Python; Cython when it can be built) must give
the same actions as ``evaluate()``, checked on the first pass.

Events/s are given per wall-clock second and per CPU second of the process
(the same passes): on a shared machine the second is the steadier figure.
The profile (CPU time) splits an ``evaluate_arrow`` pass into decoding (columns to the
row functions' argument tuples), the Python loop that calls one function
per row (measured with a no-op in its place) and the row functions
themselves.  Times are reported, not asserted.
"""

from __future__ import annotations

import argparse
import decimal
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
try:
    import ruledsl  # noqa: F401
except ImportError:  # an uninstalled checkout
    sys.path.insert(0, str(ROOT))

import workload  # noqa: E402

STANDARD = HERE / "standard.rdsl"
TARGET = 3_000_000
"""The issue's target for evaluate_arrow from a prepared, dictionary-encoded table (events/s)."""


def load_engine(compiled: str = "never") -> Any:
    """The standard ruleset, as ``run_bench.load_engine`` loads it (generated Python, or Cython: ``require``)."""
    from ruledsl.runtime.engine import load

    return load(STANDARD, compiled=compiled)


def prepare(events: list[dict], tmp: Path) -> dict[str, Any]:
    """The stream as Arrow tables (dictionary and plain strings) and a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ruledsl.kernels.values import SCALE, to_decimal

    columns = workload.to_columns(events)
    # amounts arrive as float, int or text in the workload: as the exact decimal they denote
    columns["amount"] = [
        None if a is None else decimal.Decimal(to_decimal(a)).scaleb(-4).quantize(decimal.Decimal(1) / SCALE)
        for a in columns["amount"]
    ]
    plain = {}
    for name, values in columns.items():
        if name == "amount":
            plain[name] = pa.array(values, pa.decimal128(18, 4))
        elif name == "ts":
            plain[name] = pa.array(values, pa.int64())
        else:
            plain[name] = pa.array(values)
    plain_table = pa.table(plain)
    dict_table = pa.table({n: (c.dictionary_encode() if pa.types.is_string(c.type) else c) for n, c in plain.items()})
    parquet = tmp / "events.parquet"
    pq.write_table(dict_table, parquet)
    return {"dictionary": dict_table, "plain": plain_table, "parquet": parquet}


def _arrow_pass(engine: Any, table: Any) -> list:
    result = engine.evaluate_arrow(table)
    fired = [result.decision(i) for i in result.matches]  # the full decisions of the events that fired
    del fired
    return result.actions


def _parquet_pass(engine: Any, path: Path) -> list:
    from ruledsl.cli.run_parquet import iter_batches

    actions: list = []
    for batch in iter_batches(path):
        actions.extend(_arrow_pass(engine, batch))
    return actions


def _evaluate_pass(engine: Any, events: list[dict]) -> list:
    evaluate = engine.evaluate
    return [evaluate(ev).action for ev in events]


def _modes(events: list[dict], prepared: dict[str, Any]) -> dict[str, Callable[[Any], list]]:
    return {
        "evaluate": lambda engine: _evaluate_pass(engine, events),
        "arrow_dictionary": lambda engine: _arrow_pass(engine, prepared["dictionary"]),
        "arrow_plain": lambda engine: _arrow_pass(engine, prepared["plain"]),
        "arrow_parquet": lambda engine: _parquet_pass(engine, prepared["parquet"]),
    }


def profile(kind: str, table: Any, repeat: int) -> dict[str, float]:
    """Per row (CPU µs): decoding, the Python call loop (a no-op per row), the row functions (the rest).

    The argument tuples are built lazily by the loop, so the loop's figure
    includes building them; the decoding is everything before.
    """
    from ruledsl.runtime.arrow_decode import decode_batch

    batch = table.combine_chunks().to_batches()[0]
    columns = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
    n = batch.num_rows
    clock = time.process_time  # CPU time: steadier than the wall clock on a shared machine

    def nop(*a: Any) -> None:
        return None

    decode = loop = calls = float("inf")
    for _ in range(repeat):
        engine = load_engine(kind)
        plan = engine._batch_plan()
        t0 = clock()
        decoded = decode_batch(plan, columns, n, nop)
        decode = min(decode, clock() - t0)
        nexts = decoded.nexts
        out: list = []
        append = out.append
        t0 = clock()
        for c in decoded.codes:
            append(nop(*nexts[c]()))
        loop = min(loop, clock() - t0)
        decoded = decode_batch(plan, columns, n, nop)
        fns, nexts = decoded.fns, decoded.nexts
        out = []
        append = out.append
        t0 = clock()
        with engine._lock:
            for c in decoded.codes:
                append(fns[c](*nexts[c]()))
        calls = min(calls, clock() - t0)
    return {
        "decode_us": decode / n * 1e6,
        "call_loop_us": loop / n * 1e6,
        "row_functions_us": max(calls - loop, 0.0) / n * 1e6,
    }


def measure(n_events: int, repeat: int, evaluators: tuple[str, ...] = ("never", "require")) -> dict[str, Any]:
    """Events/s of every mode on each evaluator, best of ``repeat`` interleaved passes, and the profile.

    ``evaluators``: ``load(compiled=...)`` values; ``"require"`` (Cython) is skipped if it cannot be built.
    """
    events = workload.generate(n_events, cache=True)
    res: dict[str, Any] = {"events": len(events), "repeat": repeat, "target_events_per_s": TARGET, "evaluators": {}}
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(events, Path(tmp))
        res["parquet_bytes"] = os.path.getsize(prepared["parquet"])
        kinds: list[str] = [k for k in evaluators if k != "require"]
        if "require" in evaluators:
            try:
                load_engine("require")
                kinds.append("require")
            except Exception as err:  # no C compiler, or the build failed: Python only
                res["cython_unavailable"] = f"{type(err).__name__}: {err}"
        modes = _modes(events, prepared)
        gc.collect()
        gc.freeze()
        for kind in kinds:
            best = {m: float("inf") for m in modes}
            best_cpu = {m: float("inf") for m in modes}
            reference: Optional[list] = None
            agree = True
            for rep in range(repeat):
                for mode, run in modes.items():
                    engine = load_engine(kind)
                    gc.collect()
                    t0, c0 = time.perf_counter(), time.process_time()
                    actions = run(engine)
                    best[mode] = min(best[mode], time.perf_counter() - t0)
                    best_cpu[mode] = min(best_cpu[mode], time.process_time() - c0)
                    if rep == 0:
                        if reference is None:
                            reference = actions
                        elif actions != reference:
                            agree = False
            res["evaluators"]["python" if kind == "never" else "cython"] = {
                "events_per_s": {m: len(events) / t for m, t in best.items()},
                "events_per_cpu_s": {m: len(events) / t for m, t in best_cpu.items()},
                "same_actions": agree,
                "profile": profile(kind, prepared["dictionary"], repeat),
            }
        gc.unfreeze()
    return res


def rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) rows for run_bench's table."""
    out = [("events", f"{res['events']:,} (standard workload), best of {res['repeat']}")]
    for kind, r in res["evaluators"].items():
        eps = r["events_per_s"]
        cpu = r["events_per_cpu_s"]
        base = eps["evaluate"]
        out.append(
            (
                f"evaluate_arrow, {kind}",
                f"dictionary {eps['arrow_dictionary']:,.0f}/s ({eps['arrow_dictionary'] / base:.2f}x evaluate()), "
                f"plain strings {eps['arrow_plain']:,.0f}/s, Parquet {eps['arrow_parquet']:,.0f}/s; "
                f"evaluate() {base:,.0f}/s; target {res['target_events_per_s']:,}/s "
                f"({eps['arrow_dictionary'] / res['target_events_per_s']:.1%}); "
                f"{'same actions' if r['same_actions'] else 'ACTIONS DIFFER'}",
            )
        )
        out.append(
            (
                f"same, per CPU second, {kind}",
                f"dictionary {cpu['arrow_dictionary']:,.0f}/s, plain strings {cpu['arrow_plain']:,.0f}/s, "
                f"Parquet {cpu['arrow_parquet']:,.0f}/s; evaluate() {cpu['evaluate']:,.0f}/s",
            )
        )
        p = r["profile"]
        out.append(
            (
                f"per row (CPU), {kind}",
                f"decode {p['decode_us']:.2f} µs, call loop {p['call_loop_us']:.2f} µs, "
                f"row functions {p['row_functions_us']:.2f} µs",
            )
        )
    if "cython_unavailable" in res:
        out.append(("cython", f"not measured: {res['cython_unavailable']}"))
    return out


def main(argv: Optional[list[str]] = None) -> int:
    """Command line: print the numbers (``--json``: one JSON line, for run_bench.py)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000, help="events in the stream (default 200,000)")
    p.add_argument("--repeat", type=int, default=3, help="passes per mode; the best is kept (default 3)")
    p.add_argument("--short", action="store_true", help="20,000 events, 2 passes (a smoke run)")
    p.add_argument("--python-only", action="store_true", help="the generated-Python evaluator only (no build)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args(argv)
    n, repeat = (20_000, 2) if args.short else (args.events, args.repeat)
    res = measure(n, repeat, ("never",) if args.python_only else ("never", "require"))
    if args.json:
        print(json.dumps(res))
    else:
        for name, value in rows(res):
            print(f"{name:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
