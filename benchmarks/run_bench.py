"""The standard benchmark (issue #3): ruledsl against two hand-written baselines.

    python benchmarks/run_bench.py [--short] [--json OUT]

Generates the standard workload (``workload.py``), loads ``standard.rdsl``
(reports load + compile time), builds the hand-written Cython baseline
(``handwritten_cy.pyx`` through ``cybuild.py``, cached), checks that the
engine fires exactly the rules both hand-written functions fire
(``handwritten.py``, ``handwritten_cy.pyx``), then measures in the same run,
each on fresh state:

- the hand-written Python and Cython functions, events/s;
- ``engine.evaluate()`` one dict at a time, events/s and ratio to both;
  (these and the two batch paths below run in interleaved rounds, best of
  ``--repeat``, the heap frozen with ``gc.freeze()`` before each pass; the
  baselines and ``evaluate()`` are also timed with the garbage collector off);
- p50/p90/p99/p99.9 latency of one ``evaluate()`` call (perf_counter_ns around
  each call, the heap frozen first; the timer itself costs ~0.1 µs) as one
  pass measured it, and of each event's fastest call over ``--latency-passes``
  passes (steadier on a shared machine: it drops other processes' pauses);
- ``engine.evaluate_many()`` over the whole stream;
- ``engine.evaluate_columns()`` (columns built once, outside the timing);
- memory per 1,000,000 active keys of a count window (``stats()`` bytes and
  the RSS delta from /proc/self/statm), beside the hand-written deque window;
- lint time of a generated 2,000-rule ruleset: parse (``loader.load_program``)
  and check (``checker.check``) separately, on one core;
- the longest time ``evaluate()`` (called in a loop by another thread) is
  blocked while a snapshot of 1,000,000 keys is written, and the snapshot's
  total time and size (``snapshot_bench.py``, in a fresh interpreter);
- the Cython evaluator: its cold build and cached load (fresh processes),
  its decisions against the hand-written rules, its throughput (collector on
  and off) and latency, beside the generated-Python evaluator;
- ``evaluate_arrow()`` from a prepared Arrow table, plain string columns and
  Parquet (``arrow_bench.py``); cost per event for 30/300/3,000 rules with
  shared predicates and for identical vs different windows, with latency
  (``rules_bench.py``); cold and cached load by ruleset size
  (``load_bench.py``); loading a categorised 10,000,000-entry CSV list and a
  text list, with the cost of looking them up (``list_bench.py``, short:
  200,000 entries); ``ruledsl backtest``'s replay of generated traffic from
  JSON Lines and Parquet, with and without a baseline, beside ``evaluate()``,
  with peak memory (``backtest_bench.py``, short: 20,000 events); ``ruledsl
  serve`` under wrk - the in-process cost of a decide call, a bare uvicorn
  app's rate, single decisions/s and batch events/s (``serve_bench.py``, on
  every core, skipped without wrk; short: 2 s runs) — each in a fresh
  interpreter.

Without Cython (or a C compiler) the hand-written Cython baseline is reported
as missing and the rest runs; ``RULEDSL_BENCH_REQUIRE_CYTHON=1`` makes that an
error.  ``--only SECTIONS`` runs a subset (the workload and the baseline build
always run).

``--short``: 20,000 events, 100,000 keys (memory and snapshot), 200 lint rules (well under a minute).
Timings are reported, never asserted: the exit status is non-zero only when
something fails or the engine and the hand-written rules disagree.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
try:
    import ruledsl  # noqa: F401
except ImportError:  # an uninstalled checkout
    sys.path.insert(0, str(ROOT))

import cybuild  # noqa: E402
import handwritten  # noqa: E402
import lintgen  # noqa: E402
import workload  # noqa: E402

STANDARD = HERE / "standard.rdsl"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc/self/statm), 0 elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pin_one_core() -> int | None:
    """Run the whole benchmark on one CPU (steadier numbers; 'lint on one core')."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
        return cpus[-1]
    except OSError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_engine(compiled: str = "never"):
    """The standard ruleset on the generated-Python evaluator (``never``) or the Cython one (``require``)."""
    from ruledsl.runtime.engine import load

    return load(STANDARD, compiled=compiled)


MEMORY_RULESET = (
    "ruleset memory_bench { }\n"
    "event e { k: string }\n"
    "window c = count() of e by k over 1d\n"
    'rule many { reason "many" on e when c > 1000 action alert }\n'
)


def memory_child(kind: str, n: int) -> dict:
    """In a fresh process: fill a 1-day count window with ``n`` distinct keys; RSS delta and stats()."""
    t0 = workload.YEAR_START_MS
    keys = [f"K{i:09d}" for i in range(n)]  # built before the first RSS reading
    events_per_chunk = 10_000
    if kind == "handwritten":
        gc.collect()
        before = rss_bytes()
        win = handwritten.CountWindow(86_400_000)
        for i, k in enumerate(keys):
            win.add(k, t0 + i)
        gc.collect()
        return {"keys": len(win.keys), "rss_delta_bytes": rss_bytes() - before}
    from ruledsl.runtime.engine import load

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memory.rdsl"
        path.write_text(MEMORY_RULESET, encoding="utf-8")
        engine = load(path)
    # warm up the engine's own allocations (decisions, tick) on a key outside the set
    engine.evaluate({"type": "e", "ts": t0, "k": "warm-up"})
    gc.collect()
    before = rss_bytes()
    t_fill = time.perf_counter()
    for start in range(0, n, events_per_chunk):
        # 1 ms apart: every key stays inside the 1-day window
        engine.evaluate_many(
            {"type": "e", "ts": t0 + i, "k": keys[i]} for i in range(start, min(n, start + events_per_chunk))
        )
    t_fill = time.perf_counter() - t_fill
    gc.collect()
    after = rss_bytes()
    w = engine.stats()["windows"]["c"]
    return {
        "keys": w["keys"] - 1,
        "stats_bytes": w["bytes"],
        "rss_delta_bytes": after - before,
        "key_string_bytes_each": sys.getsizeof(keys[0]),
        "fill_seconds": t_fill,
        "fill_events_per_s": n / t_fill,
    }


def memory_in_child(kind: str, n: int) -> dict:
    """Run ``memory_child`` in a new interpreter so earlier sections do not blur the RSS delta."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--memory-child", kind, "--keys", str(n)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child ({kind}) failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Bench:
    def __init__(self, args):
        self.args = args
        self.results: dict = {"mode": "short" if args.short else "full"}
        self.errors: list[str] = []
        self.rows: list[tuple[str, str, str]] = []  # (section, measure, value)
        self.cy_module = None  # the hand-written Cython baseline, once built
        self.cy_missing = "not built"

    def row(self, section: str, measure: str, value: str) -> None:
        self.rows.append((section, measure, value))
        if self.args.verbose:
            print(f"  {section:<22} {measure:<34} {value}", flush=True)

    def section(self, name: str, fn) -> None:
        print(f"[{name}] ...", flush=True)
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as err:  # report and go on with the other sections
            self.errors.append(f"{name}: {type(err).__name__}: {err}")
            self.results.setdefault("errors", []).append(
                {"section": name, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            )
            traceback.print_exc()
        print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)

    # ------------------------------------------------------------ sections
    def s_environment(self):
        from ruledsl.kernels import state

        env = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "cpu": cpu_model(),
            "pinned_cpu": self.pinned,
            "state_kernels_compiled": state.COMPILED,
            "ruledsl_no_extensions": os.environ.get("RULEDSL_NO_EXTENSIONS", ""),
        }
        self.results["environment"] = env
        self.row("environment", "python", f"{env['python']} ({env['implementation']})")
        self.row("environment", "cpu", f"{env['cpu']} (pinned to cpu {self.pinned})")
        self.row("environment", "compiled state kernels (Cython)", str(env["state_kernels_compiled"]))

    def s_workload(self):
        a = self.args
        t0 = time.perf_counter()
        self.events = workload.generate(a.events, a.customers, a.seed, cache=a.cache)
        dt = time.perf_counter() - t0
        summ = workload.summary(self.events)
        self.results["workload"] = {"generate_s": dt, **summ}
        self.row("workload", "events", f"{summ['events']:,} over {summ['span_days']} days")
        self.row("workload", "customers (active / profiles)", f"{summ['customers']:,} / {a.customers:,}")
        self.row("workload", "by type", ", ".join(f"{k} {v:,}" for k, v in sorted(summ["types"].items())))
        self.row("workload", "amounts sent as", ", ".join(f"{k} {v:,}" for k, v in summ["amount_repr"].items()))
        self.row("workload", "generation time", f"{dt:.2f} s" + (" (cache)" if a.cache else ""))

    def s_load(self):
        from ruledsl.check.checker import check
        from ruledsl.compile import compile_ruleset
        from ruledsl.runtime.engine import build_engine
        from ruledsl.syntax.loader import load_program

        # cold: first load in this process (includes building the Lark parser)
        t0 = time.perf_counter()
        engine = load_engine()
        cold = time.perf_counter() - t0
        # warm, broken down
        t0 = time.perf_counter()
        program = load_program(STANDARD)
        t1 = time.perf_counter()
        result = check(program)
        t2 = time.perf_counter()
        compile_ruleset(result)
        t3 = time.perf_counter()
        build_engine(result)
        t4 = time.perf_counter()
        rules = len(engine.compiled.rules)
        windows = len(engine.compiled.windows)
        self.results["load"] = {
            "rules": rules,
            "windows": windows,
            "cold_load_s": cold,
            "parse_s": t1 - t0,
            "check_s": t2 - t1,
            "compile_s": t3 - t2,
            "compile_and_bind_s": t4 - t3,
            "warm_load_s": (t2 - t0) + (t4 - t3),
            "generated_source_lines": engine.generated_source.count("\n"),
        }
        self.row("load standard.rdsl", "rules / windows", f"{rules} / {windows}")
        self.row("load standard.rdsl", "load+compile, first in process", f"{cold * 1e3:.0f} ms")
        self.row(
            "load standard.rdsl",
            "parse / check / compile+bind (warm)",
            f"{(t1 - t0) * 1e3:.1f} / {(t2 - t1) * 1e3:.1f} / {(t4 - t3) * 1e3:.1f} ms",
        )

    def s_build_cython(self):
        t0 = time.perf_counter()
        try:
            path = cybuild.build()
            self.cy_module = cybuild.load()
        except cybuild.BuildError as err:
            self.cy_missing = str(err).splitlines()[0]
            self.results["handwritten_cy_build"] = {"error": str(err)}
            self.row("hand-written Cython", "build", f"failed: {self.cy_missing}")
            if os.environ.get("RULEDSL_BENCH_REQUIRE_CYTHON", "") not in ("", "0"):
                raise
            return
        dt = time.perf_counter() - t0
        self.results["handwritten_cy_build"] = {"seconds": dt, "path": str(path)}
        self.row("hand-written Cython", "build (cached by source hash)", f"{dt:.2f} s, {path.name}")

    def s_build_evaluator(self):
        """The standard ruleset's Cython evaluator: a cold build (empty cache) and a cached load, each in a
        fresh interpreter (``load(..., compiled="require")``), as an application would see them."""
        import subprocess

        from ruledsl.compile import build as _build

        reason = _build.unavailable_reason()
        if reason is not None:
            self.evaluator_missing = reason
            self.row("compiled evaluator", "build", f"not available: {reason}")
            return
        code = (
            "import time; t0 = time.perf_counter(); import ruledsl; t1 = time.perf_counter(); "
            f"e = ruledsl.load({str(STANDARD)!r}, compiled='require'); t2 = time.perf_counter(); "
            "print(e.evaluator, t1 - t0, t2 - t1)"
        )
        res = {}
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "RULEDSL_CACHE_DIR": cache}
            for kind in ("cold", "cached", "cached_again"):
                proc = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"compiled evaluator load failed: {proc.stderr[-2000:]}")
                evaluator, imp, load_s = proc.stdout.split()
                if evaluator != "cython":
                    raise RuntimeError(f"load(compiled='require') gave the {evaluator} evaluator")
                res[kind] = {"import_s": float(imp), "load_s": float(load_s)}
        self.evaluator_missing = None
        self.results["compiled_evaluator_build"] = res
        cached = min(res["cached"]["load_s"], res["cached_again"]["load_s"])
        self.row("compiled evaluator", "load, cold (Cython + C build)", f"{res['cold']['load_s']:.2f} s")
        self.row(
            "compiled evaluator",
            "load, cached module (fresh process)",
            f"{cached * 1e3:.0f} ms (+ import ruledsl {res['cached']['import_s'] * 1e3:.0f} ms)",
        )

    def s_correctness(self):
        engine = load_engine()
        t0 = time.perf_counter()
        report = handwritten.compare(engine, self.events)
        dt = time.perf_counter() - t0
        self.results["correctness"] = {
            "events": report["events"],
            "mismatches": report["mismatches"],
            "fired": report["fired"],
            "actions": report["actions"],
            "examples": json.loads(json.dumps(report["examples"], default=str)),
            "seconds": dt,
        }
        never = [r for r, c in report["fired"].items() if c == 0]
        self.row("engine vs hand-written", "events compared", f"{report['events']:,}")
        self.row("engine vs hand-written", "mismatches", f"{report['mismatches']:,}")
        self.row("engine vs hand-written", "actions", ", ".join(f"{k} {v:,}" for k, v in report["actions"].items()))
        self.row(
            "engine vs hand-written",
            "rules that fired / never fired",
            f"{30 - len(never)} / {len(never)}" + (f" ({', '.join(never)})" if never else ""),
        )
        if report["mismatches"]:
            self.errors.append(f"engine and hand-written rules disagree on {report['mismatches']} events")
            for ex in report["examples"][:5]:
                print("MISMATCH", json.dumps(ex, ensure_ascii=False, default=str), file=sys.stderr)
        if getattr(self, "evaluator_missing", "not built") is None:
            report = handwritten.compare(load_engine("require"), self.events)
            self.results["correctness"]["compiled_evaluator_mismatches"] = report["mismatches"]
            self.row("engine vs hand-written", "mismatches, Cython evaluator", f"{report['mismatches']:,}")
            if report["mismatches"]:
                self.errors.append(f"the Cython evaluator and hand-written rules disagree on {report['mismatches']}")
        if self.cy_module is None:
            return
        report = handwritten.compare(load_engine(), self.events, baseline=cybuild.handwritten_cy())
        self.results["correctness"]["cython_mismatches"] = report["mismatches"]
        self.row("engine vs hand-written", "mismatches, hand-written Cython", f"{report['mismatches']:,}")
        if report["mismatches"]:
            self.errors.append(f"engine and hand-written Cython rules disagree on {report['mismatches']} events")
            for ex in report["examples"][:5]:
                print("MISMATCH (Cython)", json.dumps(ex, ensure_ascii=False, default=str), file=sys.stderr)

    def s_throughput(self):
        """Interleaved rounds (the machine's load drifts); the best pass of each kind is kept.

        Every pass starts from fresh state and walks the whole stream; the
        hand-written and ``evaluate()`` passes have the same loop shape
        (results dropped).  Before each pass the heap is collected and frozen
        (``gc.freeze()``: the stream's 200,000 dicts and the loaded modules are
        not traversed again by the timed pass's collections).  The two
        baselines and ``evaluate()`` also run with the garbage collector off,
        to show how much of each costs collector pauses (the engine keeps
        window state in C arrays, the hand-written Python in dicts and deques,
        the hand-written Cython in untracked C structs).
        """
        events = self.events
        n = len(events)
        t0 = time.perf_counter()
        columns = workload.to_columns(events)
        build_columns = time.perf_counter() - t0

        def one_by_one(fn):
            for ev in events:
                fn(ev)

        # each entry builds fresh state (outside the timing) and returns the timed pass
        def hw_pass():
            hw = handwritten.HandwrittenRules()
            return lambda: one_by_one(hw.evaluate)

        def cy_pass():
            cy = cybuild.handwritten_cy()
            return lambda: one_by_one(cy.evaluate)

        def eval_pass():
            engine = load_engine()
            return lambda: one_by_one(engine.evaluate)

        def cython_pass():
            engine = load_engine("require")
            return lambda: one_by_one(engine.evaluate)

        def many_pass():
            engine = load_engine()
            return lambda: engine.evaluate_many(events)

        def columns_pass():
            engine = load_engine()
            return lambda: engine.evaluate_columns(columns)

        kinds = {"handwritten": hw_pass}
        if self.cy_module is not None:
            kinds["handwritten_cy"] = cy_pass
        compiled_ok = getattr(self, "evaluator_missing", "not built") is None
        if compiled_ok:
            kinds["evaluate_cython"] = cython_pass
        kinds.update(
            {
                "evaluate": eval_pass,
                "evaluate_many": many_pass,
                "evaluate_columns": columns_pass,
                "handwritten_gc_off": hw_pass,
            }
        )
        if self.cy_module is not None:
            kinds["handwritten_cy_gc_off"] = cy_pass
        kinds["evaluate_gc_off"] = eval_pass
        if compiled_ok:
            kinds["evaluate_cython_gc_off"] = cython_pass
        walls: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpus: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(self.args.repeat):
            for kind, prepare in kinds.items():
                fn = prepare()  # engine load happens here, outside the timing
                gc.collect()
                gc.freeze()
                gc_off = kind.endswith("_gc_off")
                if gc_off:
                    gc.disable()
                try:
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    fn()
                    dt = time.perf_counter() - t0
                    dc = time.process_time() - c0
                finally:
                    gc.enable()
                    gc.unfreeze()
                del fn
                walls[kind].append(dt)
                cpus[kind].append(dc)
        best = {kind: min(v) for kind, v in walls.items()}
        best_cpu = {kind: min(v) for kind, v in cpus.items()}
        for kind, dt in best.items():
            eps = n / dt
            off = "_gc_off" if kind.endswith("_gc_off") else ""
            res = {
                "seconds": dt,
                "events_per_s": eps,
                "us_per_event": 1e6 / eps,
                "cpu_seconds": best_cpu[kind],
                "cpu_us_per_event": best_cpu[kind] / n * 1e6,
                "median_seconds": statistics.median(walls[kind]),
                "median_cpu_seconds": statistics.median(cpus[kind]),
            }
            for base, label in (("handwritten", "handwritten"), ("handwritten_cy", "handwritten_cy")):
                if base + off in best:
                    res[f"ratio_to_{label}"] = best[base + off] / dt
                    res[f"cpu_ratio_to_{label}"] = best_cpu[base + off] / best_cpu[kind] if best_cpu[kind] else None
                    res[f"median_cpu_ratio_to_{label}"] = (
                        statistics.median(cpus[base + off]) / statistics.median(cpus[kind]) if cpus[kind] else None
                    )
            self.results[kind] = res
        self.results["evaluate_columns"].update({"columns": len(columns), "build_columns_s": build_columns})
        self.results["throughput_passes"] = self.args.repeat
        self.results["throughput_gc_freeze"] = True

        def ratio(r, base):
            x = r.get(f"cpu_ratio_to_{base}") or r.get(f"ratio_to_{base}")
            return None if x is None else f"{x:.2f}x"

        def show(section, kind, note=""):
            r = self.results[kind]
            rel = ""
            if not kind.startswith("handwritten"):
                parts = [f"{ratio(r, 'handwritten')} hand-written Python"]
                if ratio(r, "handwritten_cy"):
                    parts.append(f"{ratio(r, 'handwritten_cy')} hand-written Cython")
                rel = "; " + ", ".join(parts)
            elif kind.startswith("handwritten_cy"):
                rel = f"; {ratio(r, 'handwritten')} hand-written Python"
            self.row(
                section,
                "events/s" + note,
                f"{r['events_per_s']:>9,.0f}  ({r['us_per_event']:5.2f} µs wall, "
                f"{r['cpu_us_per_event']:5.2f} µs CPU per event{rel})",
            )

        show("hand-written Python", "handwritten")
        show("hand-written Python", "handwritten_gc_off", ", gc off")
        if self.cy_module is not None:
            show("hand-written Cython", "handwritten_cy")
            show("hand-written Cython", "handwritten_cy_gc_off", ", gc off")
        else:
            self.row("hand-written Cython", "events/s", f"not measured ({self.cy_missing})")
        if compiled_ok:
            show("evaluate(), Cython evaluator", "evaluate_cython")
            show("evaluate(), Cython evaluator", "evaluate_cython_gc_off", ", gc off")
        else:
            self.row("evaluate(), Cython evaluator", "events/s", "not measured (no compiled evaluator)")
        show("engine.evaluate()", "evaluate", " (Python evaluator)")
        show("engine.evaluate()", "evaluate_gc_off", " (Python evaluator), gc off")
        show("engine.evaluate_many()", "evaluate_many")
        show("engine.evaluate_columns()", "evaluate_columns")
        self.row(
            "engine.evaluate_columns()",
            "columns (built once, untimed)",
            f"{len(columns)} x {n:,} in {build_columns:.2f} s",
        )
        self.row(
            "throughput",
            "method",
            f"best of {self.args.repeat} interleaved passes, fresh state each, heap frozen (gc.freeze) "
            "before each; ratios from CPU time (steadier than wall time on a shared machine; medians in the JSON)",
        )

    def s_latency(self):
        """Each ``evaluate()`` call timed, over ``--latency-passes`` passes on fresh engines.

        The first pass is reported as measured; the second row takes each
        event's fastest call over the passes (the work per event is the same in
        every pass, so the minimum drops the pauses other processes cause on a
        shared machine, while the sweeps and decisions that make the tail stay).
        """
        kinds = [("python", "evaluate() latency", "latency")]
        if getattr(self, "evaluator_missing", "not built") is None:
            kinds.insert(0, ("require", "evaluate() latency, Cython", "latency_cython"))
        for compiled, section, key in kinds:
            self._latency(compiled, section, key)

    def _latency(self, compiled: str, section: str, key: str) -> None:
        import sweep_bench  # the one timed-call loop and percentile summary of the benchmarks

        events = self.events[: self.args.latency_sample]
        clock = time.perf_counter_ns
        mode = "never" if compiled == "python" else compiled
        passes = [sweep_bench.latency_pass(load_engine(mode), events) for _ in range(max(1, self.args.latency_passes))]
        # timer overhead, to read the numbers honestly
        t_over = min(-clock() + clock() for _ in range(1000))
        summary = sweep_bench.percentiles

        res = {"sample": len(events), "passes": len(passes), "timer_overhead_ns": t_over, **summary(passes[0])}
        res.update(summary([min(times) for times in zip(*passes, strict=True)], "fastest_"))
        self.results[key] = res
        self.row(section, "sample", f"{len(events):,} events, each timed, heap frozen")
        for prefix, label in (("", "one pass"), ("fastest_", f"fastest of {len(passes)}")):
            self.row(
                section,
                f"p50 / p90 / p99 / p99.9, {label}",
                f"{res[prefix + 'p50_us']:.1f} / {res[prefix + 'p90_us']:.1f} / {res[prefix + 'p99_us']:.1f} / "
                f"{res[prefix + 'p99.9_us']:.1f} µs",
            )
            self.row(
                section,
                f"mean / max, {label}",
                f"{res[prefix + 'mean_us']:.1f} / {res[prefix + 'max_us']:.0f} µs",
            )

    def s_memory(self):
        n = self.args.keys
        m = min(n, self.args.handwritten_keys)
        res = memory_in_child("engine", n)
        hw = memory_in_child("handwritten", m)
        scale = 1_000_000 / max(1, res["keys"])
        res.update(
            {
                "stats_bytes_per_1m_keys": res["stats_bytes"] * scale,
                "rss_delta_per_1m_keys": res["rss_delta_bytes"] * scale,
                "handwritten_keys": hw["keys"],
                "handwritten_rss_delta_per_1m_keys": hw["rss_delta_bytes"] * 1_000_000 / max(1, hw["keys"]),
            }
        )
        self.results["memory"] = res
        mb = 1024 * 1024
        self.row(
            "memory, count window",
            "active keys",
            f"{res['keys']:,} (filled at {res['fill_events_per_s']:,.0f} events/s)",
        )
        self.row("memory, count window", "stats() bytes per 1M keys", f"{res['stats_bytes_per_1m_keys'] / mb:,.1f} MiB")
        self.row(
            "memory, count window",
            "RSS delta per 1M keys",
            f"{res['rss_delta_per_1m_keys'] / mb:,.1f} MiB (key strings, "
            f"{res['key_string_bytes_each']} B each, not included)",
        )
        self.row(
            "memory, count window",
            "hand-written dict+deque per 1M keys",
            f"{res['handwritten_rss_delta_per_1m_keys'] / mb:,.1f} MiB (RSS, measured on {hw['keys']:,} keys)",
        )

    def s_snapshot(self):
        import subprocess

        import snapshot_bench

        proc = subprocess.run(
            [sys.executable, str(HERE / "snapshot_bench.py"), "--keys", str(self.args.keys), "--json"],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"snapshot benchmark failed: {proc.stderr[-2000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        self.results["snapshot"] = res
        for measure, value in snapshot_bench.rows(res):
            self.row("snapshot while evaluating", measure, value)

    def _child_bench(self, script: str, args: list[str]) -> dict:
        """Run another benchmark script of this folder in a fresh interpreter; its JSON (last stdout line)."""
        import subprocess

        proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"{script} failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def s_arrow(self):
        """evaluate_arrow from a prepared Arrow table, plain strings and Parquet (``arrow_bench.py``)."""
        import arrow_bench

        args = ["--json"] + (["--short"] if self.args.short else [])
        if getattr(self, "evaluator_missing", "not built") is not None:
            args.append("--python-only")
        res = self._child_bench("arrow_bench.py", args)
        self.results["arrow"] = res
        for measure, value in arrow_bench.rows(res):
            self.row("evaluate_arrow()", measure, value)

    def s_rules(self):
        """Cost per event against the number of rules, shared predicates, merged windows (``rules_bench.py``)."""
        import rules_bench

        compiled = "require" if getattr(self, "evaluator_missing", "not built") is None else "never"
        for evaluator in sorted({"never", compiled}):
            res = self._child_bench(
                "rules_bench.py", ["--json", "-", "--compiled", evaluator] + (["--short"] if self.args.short else [])
            )
            self.results[f"rules_{evaluator}"] = res
            label = "Cython" if evaluator == "require" else "Python"
            for measure, value in rules_bench.rows(res):
                self.row(f"rules and windows, {label}", measure, value)

    def s_load_sizes(self):
        """Cold and cached load of 30, 300 and 3,000 rules, each in a fresh process (``load_bench.py``)."""
        import load_bench

        args = ["--json"] + (["--short"] if self.args.short else ["--compiled"])
        res = self._child_bench("load_bench.py", args)
        self.results["load_sizes"] = res
        for measure, value in load_bench.rows(res):
            self.row("load by size", measure, value)

    def s_lists(self):
        """Loading a big list (CSV with categories, and text) and looking it up (``list_bench.py``)."""
        import list_bench

        res = self._child_bench("list_bench.py", ["--json"] + (["--short"] if self.args.short else []))
        self.results["lists"] = res
        for measure, value in list_bench.rows(res):
            self.row("lists", measure, value)

    def s_backtest(self):
        """``ruledsl backtest``'s replay from files, with and without a baseline, beside evaluate() (``backtest_bench.py``)."""
        import backtest_bench

        res = self._child_bench("backtest_bench.py", ["--json"] + (["--short"] if self.args.short else []))
        self.results["backtest"] = res
        for measure, value in backtest_bench.rows(res):
            self.row("backtest", measure, value)

    def s_serve(self):
        """``ruledsl serve`` under wrk: the floor, single decisions, batches (``serve_bench.py``; skipped without wrk)."""
        import serve_bench

        compiled = "require" if getattr(self, "evaluator_missing", "not built") is None else "never"
        args = ["--json", "-", "--compiled", compiled] + (["--short"] if self.args.short else ["--rounds", "1"])
        res = self._child_bench("serve_bench.py", args)
        self.results["serve"] = res
        if "skipped" in res:
            self.row("ruledsl serve", "skipped", res["skipped"])
        for measure, value in serve_bench.rows(res):
            self.row("ruledsl serve", measure, value)

    def s_lint(self):
        from ruledsl.check.checker import check
        from ruledsl.syntax.loader import load_program, load_text

        n = self.args.lint_rules
        text = lintgen.generate_ruleset(n)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"lint_bench_{n}.rdsl"
            path.write_text(text, encoding="utf-8")
            load_text("ruleset warm_up { }")  # build the Lark parser outside the timing
            best_parse = best_check = None
            diags = None
            for _ in range(self.args.lint_repeat):
                gc.collect()
                t0 = time.perf_counter()
                program = load_program(path)
                t1 = time.perf_counter()
                result = check(program)
                t2 = time.perf_counter()
                best_parse = t1 - t0 if best_parse is None else min(best_parse, t1 - t0)
                best_check = t2 - t1 if best_check is None else min(best_check, t2 - t1)
                diags = list(program.diagnostics) + list(result.diagnostics)
        errors = [d for d in diags if d.severity == "error"]
        by_code: dict[str, int] = {}
        for d in diags:
            by_code[d.code] = by_code.get(d.code, 0) + 1
        res = {
            "rules": n,
            "lines": text.count("\n"),
            "bytes": len(text.encode()),
            "parse_s": best_parse,
            "check_s": best_check,
            "total_s": best_parse + best_check,
            "diagnostics": by_code,
            "errors": len(errors),
        }
        self.results["lint"] = res
        self.row(
            "lint generated ruleset", "size", f"{n:,} rules, {res['lines']:,} lines, {res['bytes'] / 1024:,.0f} KiB"
        )
        self.row("lint generated ruleset", "parse (load_program)", f"{best_parse * 1e3:,.0f} ms")
        self.row("lint generated ruleset", "check (checker.check)", f"{best_check * 1e3:,.0f} ms")
        self.row(
            "lint generated ruleset", "diagnostics", ", ".join(f"{k} {v}" for k, v in sorted(by_code.items())) or "none"
        )
        if errors:
            self.errors.append(f"generated lint ruleset has {len(errors)} errors, first: {errors[0].message}")

    # ------------------------------------------------------------ driver
    def run(self) -> int:
        self.pinned = None if self.args.no_pin else pin_one_core()
        t_all = time.perf_counter()
        self.section("environment", self.s_environment)
        self.section("workload", self.s_workload)
        if not hasattr(self, "events"):
            return self.finish(t_all)
        self.section("build hand-written Cython", self.s_build_cython)  # the baseline the others need
        self.section("build compiled evaluator", self.s_build_evaluator)  # the Cython evaluator, cold and cached
        for name, fn in self.optional_sections():
            if self.args.only is None or name in self.args.only:
                self.section(name, fn)
        return self.finish(t_all)

    def optional_sections(self) -> list:
        """The sections ``--only`` may pick, in running order."""
        return [
            ("load", self.s_load),
            ("correctness", self.s_correctness),
            ("throughput", self.s_throughput),
            ("latency", self.s_latency),
            ("memory", self.s_memory),
            ("snapshot", self.s_snapshot),
            ("arrow", self.s_arrow),
            ("rules", self.s_rules),
            ("load_sizes", self.s_load_sizes),
            ("lists", self.s_lists),
            ("backtest", self.s_backtest),
            ("serve", self.s_serve),
            ("lint", self.s_lint),
        ]

    def finish(self, t_all) -> int:
        self.results["total_seconds"] = time.perf_counter() - t_all
        self.results["ok"] = not self.errors
        print()
        print(f"ruledsl benchmark ({self.results['mode']} mode)")
        width = max((len(s) for s, _, _ in self.rows), default=10)
        mwidth = max((len(m) for _, m, _ in self.rows), default=10)
        last = None
        for section, measure, value in self.rows:
            shown = section if section != last else ""
            if section != last:
                print("-" * (width + mwidth + 40))
            print(f"{shown:<{width}}  {measure:<{mwidth}}  {value}")
            last = section
        print("-" * (width + mwidth + 40))
        print(f"total {self.results['total_seconds']:.1f} s")
        if self.errors:
            print("\nFAILED:")
            for e in self.errors:
                print(f"  - {e}")
        if self.args.json:
            Path(self.args.json).write_text(
                json.dumps(self.results, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
            )
            print(f"wrote {self.args.json}")
        return 1 if self.errors else 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--short", action="store_true", help="20,000 events, 100,000 keys, 200 lint rules")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    p.add_argument("--events", type=int, help="events in the stream (default 200,000; short 20,000)")
    p.add_argument("--customers", type=int, default=workload.DEFAULT_CUSTOMERS, help="customer profiles (100,000)")
    p.add_argument("--seed", type=int, default=workload.DEFAULT_SEED)
    p.add_argument("--keys", type=int, help="active keys for the memory and snapshot tests (1,000,000; short 100,000)")
    p.add_argument("--lint-rules", type=int, help="rules in the generated lint ruleset (2,000; short 200)")
    p.add_argument("--repeat", type=int, default=3, help="throughput passes per measure, best kept (3)")
    p.add_argument("--lint-repeat", type=int, default=3, help="lint passes, best kept (3)")
    p.add_argument("--latency-sample", type=int, default=100_000, help="events timed one by one (100,000)")
    p.add_argument(
        "--latency-passes", type=int, default=3, help="latency passes; also reported: each event's fastest (3)"
    )
    p.add_argument("--cache", action="store_true", help="cache the workload under benchmarks/.cache/")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument(
        "--only",
        metavar="SECTIONS",
        type=lambda text: set(text.split(",")),
        help="run only these sections, comma-separated (load, correctness, throughput, latency, memory, "
        "snapshot, arrow, rules, load_sizes, lists, backtest, lint); the others are skipped",
    )
    p.add_argument(
        "--handwritten-keys",
        type=int,
        default=200_000,
        help="keys for the hand-written memory comparison, scaled to 1M (200,000)",
    )
    p.add_argument("--memory-child", choices=("engine", "handwritten"), help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="print each number as it is measured")
    a = p.parse_args(argv)
    if a.events is None:
        a.events = 20_000 if a.short else workload.DEFAULT_EVENTS
    if a.keys is None:
        a.keys = 100_000 if a.short else 1_000_000
    if a.lint_rules is None:
        a.lint_rules = 200 if a.short else 2_000
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.keys)))
        return 0
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
