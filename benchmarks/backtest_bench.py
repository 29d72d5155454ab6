"""``ruledsl backtest``'s replay (issue 12): events/s end to end and peak memory, beside ``evaluate()``.

    python benchmarks/backtest_bench.py [--events N] [--short] [--compiled never|require] [--json]

Generated e-channel traffic (``ruledsl.sim``; ``rulesets/echannel_monitoring.rdsl``)
of ``--events`` events (default 1,000,000; ``--short`` 20,000) is written once,
outside the timing, as JSON Lines and as Parquet (int64 ``ts``, ``decimal128``
amounts), with its labels in a separate CSV file (by ``account_no``).  Each
measure then runs in a fresh interpreter (so its peak RSS is its own):

- ``evaluate()``: the file's events decoded up front (not timed), then one
  ``engine.evaluate(event)`` per event: the rate the issue compares with;
- the lab's replay from the file to the figures (``ruledsl.lab``: read and
  decode in batches, evaluate, per-rule metrics against the labels, the hold
  queue), JSON Lines and Parquet, with and without ``--baseline`` (the same
  ruleset with ``repeat_txn_count`` one higher, so a second engine decides
  every event and the transition matrix is kept);
- the HTML report's rendering (charts and templates), once, apart;
- the sample events' explanations (``lab/explain_pass.py``, on by default
  when a report is written): after the JSON Lines replay with a baseline,
  the second pass on fresh engines up to the last sample, ``engine.explain``
  on both versions per sample (3 per transition cell), timed apart, engines'
  loading included; its cost is set against the replay with a baseline.

Rates are events per wall-clock second of the timed part; peak memory is the
child's high-water mark (``VmHWM``), with its RSS after loading the engine (before
replaying) beside it, so the replay's own growth shows.  ``--sweep`` (10
values, one pass) is measured against N replays.  Times are reported, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
try:
    import ruledsl  # noqa: F401
except ImportError:  # an uninstalled checkout
    sys.path.insert(0, str(ROOT))

ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"
BASELINE_PARAM = ("repeat_txn_count", 4)


def rss_kib() -> int:
    """The process's resident set now (KiB; /proc/self/statm), 0 where there is none."""
    try:
        import os

        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def peak_kib() -> int:
    """The process's peak resident set (KiB): VmHWM, which starts afresh at exec.

    (``getrusage``'s ``ru_maxrss`` does not: a child started by a big parent
    reports the parent's peak.)
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---------------------------------------------------------------- the data


def make_data(n: int, folder: Path) -> dict:
    """Write n generated events as JSON Lines and Parquet, and their labels as CSV; returns the paths."""
    from ruledsl.lab.labels import extract_labels
    from ruledsl.runtime.engine import load
    from ruledsl.sim import generate, write_jsonl

    jsonl = folder / "events.jsonl"
    customers = max(200, n // 36)  # ~3.5 events per customer and day: ~10 days of traffic
    t0 = time.perf_counter()
    with open(jsonl, "wb") as f:
        written = write_jsonl(itertools.islice(generate(customers, 12, seed=7, fraud_rate=0.02), n), f)
    parquet = folder / "events.parquet"
    _to_parquet(jsonl, parquet)
    labels = folder / "labels.csv"
    extract_labels([jsonl], "account_no", labels, zone=load(ECHANNEL, clock=None, compiled="never")._zone)
    return {
        "events": written,
        "jsonl": str(jsonl),
        "parquet": str(parquet),
        "labels": str(labels),
        "jsonl_mib": jsonl.stat().st_size / 2**20,
        "parquet_mib": parquet.stat().st_size / 2**20,
        "seconds": time.perf_counter() - t0,
    }


def _to_parquet(jsonl: Path, out: Path, batch: int = 100_000) -> None:
    # streamed, typed as a bank's export would be: int64 epoch-ms times, decimal128 amounts, strings
    import decimal
    import zoneinfo

    import msgspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ruledsl.kernels.values import parse_timestamp

    zone = zoneinfo.ZoneInfo("Asia/Shanghai")
    decode = msgspec.json.Decoder().decode
    names: list[str] = []
    types: dict[str, Any] = {}
    with open(jsonl, "rb") as f:
        for line in f:
            for k, v in decode(line).items():
                if k not in types:
                    names.append(k)
                    types[k] = (
                        pa.int64()
                        if k in ("ts", "opened_at")
                        else pa.decimal128(18, 2)
                        if k in ("amount", "balance")
                        else pa.bool_()
                        if isinstance(v, bool)
                        else pa.string()
                    )
    schema = pa.schema([(k, types[k]) for k in names])

    def convert(k: str, v: Any) -> Any:
        if v is None:
            return None
        if k in ("ts", "opened_at"):
            return parse_timestamp(v, zone)
        if k in ("amount", "balance"):
            return decimal.Decimal(v)
        return v

    with open(jsonl, "rb") as f, pq.ParquetWriter(out, schema) as writer:
        while True:
            rows = [decode(line) for line in itertools.islice(f, batch)]
            if not rows:
                break
            cols = {k: pa.array([convert(k, r.get(k)) for r in rows], types[k]) for k in names}
            writer.write_table(pa.table(cols, schema=schema))


# ---------------------------------------------------------------- the measures (one per child process)


def _engine(compiled: str, param: bool = False) -> Any:
    from ruledsl.runtime.engine import load

    engine = load(ECHANNEL, clock=None, compiled=compiled)
    if param:
        engine.set_param(*BASELINE_PARAM)
    return engine


def child_evaluate(data: dict, compiled: str) -> dict:
    """``evaluate()`` one event at a time over the decoded file (decoding not timed)."""
    import gc

    import msgspec

    decode = msgspec.json.Decoder().decode
    with open(data["jsonl"], "rb") as f:
        events = [decode(line) for line in f]
    engine = _engine(compiled)
    evaluate = engine.evaluate
    gc.collect()
    gc.freeze()
    t0 = time.perf_counter()
    for ev in events:
        evaluate(ev)
    seconds = time.perf_counter() - t0
    return {"events": len(events), "seconds": seconds, "events_per_s": len(events) / seconds}


def child_backtest(data: dict, compiled: str, fmt: str, baseline: bool) -> dict:
    """The lab's replay from the file to the figures (what ``ruledsl backtest`` does before the HTML)."""
    from ruledsl.lab.compare import Comparison
    from ruledsl.lab.holdqueue import HoldQueue
    from ruledsl.lab.labels import read_labels
    from ruledsl.lab.metrics import RuleMetrics
    from ruledsl.lab.readers import ReadStats, iter_chunks
    from ruledsl.lab.replay import replay

    engine = _engine(compiled)
    old = _engine(compiled, param=True) if baseline else None
    zone = engine._zone
    labels = read_labels(Path(data["labels"]), zone)
    rss_loaded = rss_kib()
    t0 = time.perf_counter()
    consumers: list[Any] = [RuleMetrics(labels, zone), HoldQueue()]
    if old is not None:
        consumers += [RuleMetrics(labels, zone, "old"), HoldQueue("old"), Comparison()]
    stats = ReadStats()
    result = replay(engine, iter_chunks([Path(data[fmt])], stats), consumers, stats, baseline=old)
    figures = [c.to_dict() for c in consumers if hasattr(c, "to_dict")]
    holds = [c.simulate(40) for c in consumers if isinstance(c, HoldQueue)]
    seconds = time.perf_counter() - t0
    out = {
        "events": result.events,
        "seconds": seconds,
        "events_per_s": result.events / seconds,
        "peak_rss_mib": peak_kib() / 1024,
        "rss_loaded_mib": rss_loaded / 1024,
        "alerts": figures[0]["alerts"],
        "holds": holds[0]["holds"],
    }
    if old is not None:
        out["changed_events"] = figures[-1]["changed_events"]
        # render the report once here, apart from the replay's timing
        from ruledsl.lab.report import backtest_data, describe_engine, render_backtest

        t1 = time.perf_counter()
        page = render_backtest(
            backtest_data(
                candidate=describe_engine(engine, [str(ECHANNEL)]),
                baseline=describe_engine(old, [str(ECHANNEL)], dict([BASELINE_PARAM])),
                events_files=[data[fmt]],
                labels=labels.describe(),
                replay=result.to_dict(),
                metrics=figures[0],
                baseline_metrics=figures[1],
                comparison=figures[2],
                hold_queue={"candidate": holds[0], "baseline": holds[1]},
                timezone=str(zone),
            ),
            zone,
        )
        out["report_s"] = time.perf_counter() - t1
        out["report_kib"] = len(page.encode()) / 1024
    return out


SWEEP = "repeat_txn_count=1:10:1"
"""The sweep measured: 10 values of a threshold the transfer and payment rules read."""


def child_sweep(data: dict, compiled: str) -> dict:
    """The JSON Lines backtest with a 10-value ``--sweep`` on its own engine: the sweep's pass apart."""
    from ruledsl.lab.labels import read_labels
    from ruledsl.lab.metrics import RuleMetrics
    from ruledsl.lab.readers import ReadStats, iter_chunks
    from ruledsl.lab.replay import replay
    from ruledsl.lab.sweep import SweepCurve, SweepEvaluator, plan

    engine = _engine(compiled)
    zone = engine._zone
    labels = read_labels(Path(data["labels"]), zone)
    sweeper = _engine("never")  # the variant is generated Python on any engine
    t0 = time.perf_counter()
    curve = SweepCurve(SweepEvaluator(sweeper, plan(sweeper, SWEEP)), labels, zone)
    build = time.perf_counter() - t0
    stats = ReadStats()
    result = replay(engine, iter_chunks([Path(data["jsonl"])], stats), [RuleMetrics(labels, zone), curve], stats)
    points = curve.to_dict()["points"]
    seconds = time.perf_counter() - t0
    return {
        "events": result.events,
        "seconds": seconds,
        "sweep_seconds": curve.seconds + build,
        "values": len(points),
        "events_per_s": result.events / seconds,
        "peak_rss_mib": peak_kib() / 1024,
        "alerts": [p["alerts"] for p in points],
    }


def child_explain(data: dict, compiled: str) -> dict:
    """The explanations' pass after a JSON Lines replay with a baseline (what ``--no-explain`` skips)."""
    from ruledsl.lab.compare import Comparison
    from ruledsl.lab.explain_pass import explain_samples, sample_positions
    from ruledsl.lab.readers import ReadStats, iter_chunks
    from ruledsl.lab.replay import replay

    path = [Path(data["jsonl"])]
    comparison = Comparison()
    stats = ReadStats()
    t0 = time.perf_counter()
    replay(_engine(compiled), iter_chunks(path, stats), [comparison], stats, baseline=_engine(compiled, param=True))
    replay_seconds = time.perf_counter() - t0
    positions = sample_positions(comparison.to_dict()["cells"])
    t1 = time.perf_counter()
    engine, old = _engine(compiled), _engine(compiled, param=True)
    stats = ReadStats()
    done = explain_samples(engine, old, iter_chunks(path, stats), positions, stats)
    seconds = time.perf_counter() - t1
    return {
        "replay_seconds": replay_seconds,
        "seconds": seconds,
        "samples": done.samples,
        "explained": done.explained,
        "mismatches": done.mismatches,
        "events_evaluated": done.events,
        "events": stats.lines,
        "peak_rss_mib": peak_kib() / 1024,
    }


def in_child(args: list[str]) -> dict:
    """Run this script's ``--child`` in a fresh interpreter; its JSON."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args], capture_output=True, text=True, timeout=7200
    )
    if proc.returncode != 0:
        raise RuntimeError(f"backtest_bench child {args[0]} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the run


def run(n: int, compiled: str) -> dict:
    """Every measure on n events; JSON-ready results."""
    res: dict[str, Any] = {"compiled": compiled}
    with tempfile.TemporaryDirectory(prefix="ruledsl-backtest-bench-") as tmp:
        data = make_data(n, Path(tmp))
        res["data"] = {k: v for k, v in data.items() if k not in ("jsonl", "parquet", "labels")}
        blob = json.dumps(data)
        if compiled == "require":
            _engine("require")  # build (or find) the Cython evaluator once, outside every timing
        res["evaluate"] = in_child(["evaluate", blob, compiled])
        for fmt in ("jsonl", "parquet"):
            for baseline in (False, True):
                key = f"backtest_{fmt}" + ("_baseline" if baseline else "")
                res[key] = in_child(["backtest", blob, compiled, fmt, "1" if baseline else "0"])
        res["sweep"] = in_child(["sweep", blob, compiled])
        res["explain"] = in_child(["explain", blob, compiled])
    base = res["evaluate"]["events_per_s"]
    for key, r in res.items():
        if key.startswith("backtest_"):
            r["ratio_to_evaluate"] = r["events_per_s"] / base
    # N replays: the JSON Lines backtest's time per value (each replay is that same work)
    sw = res["sweep"]
    sw["replays_seconds"] = sw["values"] * res["backtest_jsonl"]["seconds"]
    sw["one_replay_seconds"] = res["backtest_jsonl"]["seconds"]
    sw["times_cheaper"] = sw["replays_seconds"] / sw["sweep_seconds"]
    return res


def rows(res: dict) -> list[tuple[str, str]]:
    """(measure, value) rows for run_bench's table."""
    d = res["data"]
    out = [
        (
            "events",
            f"{d['events']:,} generated e-channel events ({d['jsonl_mib']:.0f} MiB JSON Lines, "
            f"{d['parquet_mib']:.0f} MiB Parquet), evaluator {res['compiled']}",
        ),
        ("evaluate() one at a time", f"{res['evaluate']['events_per_s']:,.0f} events/s (decoded up front)"),
    ]
    for fmt, label in (("jsonl", "JSON Lines"), ("parquet", "Parquet")):
        for suffix, what in (("", ""), ("_baseline", " + baseline")):
            r = res[f"backtest_{fmt}{suffix}"]
            out.append(
                (
                    f"backtest, {label}{what}",
                    f"{r['events_per_s']:,.0f} events/s ({r['ratio_to_evaluate']:.2f}x evaluate()), "
                    f"peak RSS {r['peak_rss_mib']:.0f} MiB ({r['rss_loaded_mib']:.0f} MiB loaded)",
                )
            )
    sw = res["sweep"]
    out.append(
        (
            f"--sweep, {sw['values']} values, JSON Lines",
            f"the sweep's pass {sw['sweep_seconds']:.1f} s vs {sw['values']} replays {sw['replays_seconds']:.1f} s "
            f"({sw['times_cheaper']:.1f}x cheaper; one replay {sw['one_replay_seconds']:.1f} s); "
            f"backtest with it {sw['events_per_s']:,.0f} events/s, peak RSS {sw['peak_rss_mib']:.0f} MiB",
        )
    )
    r = res["backtest_jsonl_baseline"]
    out.append(("HTML report", f"{r['report_s']:.2f} s, {r['report_kib']:.0f} KiB"))
    ex = res["explain"]
    out.append(
        (
            "explained samples, JSON Lines",
            f"{ex['explained']} samples in {ex['seconds']:.1f} s: a second pass over {ex['events_evaluated']:,} events "
            f"(the last sample's position) on fresh engines, beside {ex['replay_seconds']:.1f} s for the "
            f"comparison's replay ({ex['seconds'] / ex['replay_seconds']:.2f}x); {ex['mismatches']} mismatches",
        )
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """The benchmark's command line."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        kind, blob, compiled, *rest = argv[1:]
        data = json.loads(blob)
        if kind == "evaluate":
            out = child_evaluate(data, compiled)
        elif kind == "sweep":
            out = child_sweep(data, compiled)
        elif kind == "explain":
            out = child_explain(data, compiled)
        else:
            out = child_backtest(data, compiled, rest[0], rest[1] == "1")
        print(json.dumps(out))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, help="events in the stream (1,000,000; --short 20,000)")
    p.add_argument("--short", action="store_true", help="20,000 events: a few seconds")
    p.add_argument("--compiled", choices=("never", "require"), default="never", help="the evaluator (never)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON line at the end")
    args = p.parse_args(argv)
    n = args.events or (20_000 if args.short else 1_000_000)
    res = run(n, args.compiled)
    for measure, value in rows(res):
        print(f"  {measure:<34} {value}", flush=True)
    if args.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
