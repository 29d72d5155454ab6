"""The benchmark suite works, and the engine agrees with the hand-written rules.

The agreement test is a real correctness test: ``benchmarks/standard.rdsl``
(30 rules, 10 windows) and ``benchmarks/handwritten.py`` (the same rules by
hand with dicts and deques) must fire the same rules on every event of the
standard workload.  Running ``run_bench.py --short`` takes about half a
minute, so it runs only with ``RULEDSL_BENCH_SMOKE=1``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import cybuild  # noqa: E402
import handwritten  # noqa: E402
import lintgen  # noqa: E402
import workload  # noqa: E402


def test_workload_is_deterministic_and_ordered():
    a = workload.generate(2_000, n_customers=5_000, seed=1)
    b = workload.generate(2_000, n_customers=5_000, seed=1)
    assert a == b
    assert len(a) == 2_000
    assert all(x["ts"] <= y["ts"] for x, y in itertools.pairwise(a))
    assert {ev["type"] for ev in a} == set(workload.EVENT_TYPES)
    assert workload.generate(2_000, n_customers=5_000, seed=2) != a


def test_engine_agrees_with_handwritten_rules():
    from ruledsl.runtime.engine import load

    events = workload.generate(5_000)
    report = handwritten.compare(load(BENCH / "standard.rdsl"), events)
    assert report["mismatches"] == 0, json.dumps(report["examples"][:3], ensure_ascii=False, default=str)
    fired = [rule for rule, n in report["fired"].items() if n]
    # the small stream still exercises most rules, windowed ones included
    assert len(fired) >= 20, report["fired"]
    assert report["actions"]["block"] and report["actions"]["hold"] and report["actions"]["pass"]


def test_engine_agrees_with_handwritten_rules_on_a_dense_stream():
    """Few customers: windows hold many entries per key and fire often."""
    from ruledsl.runtime.engine import load

    events = workload.generate(5_000, n_customers=300, seed=11)
    report = handwritten.compare(load(BENCH / "standard.rdsl"), events)
    assert report["mismatches"] == 0, json.dumps(report["examples"][:3], ensure_ascii=False, default=str)


needs_cython = pytest.mark.skipif(importlib.util.find_spec("Cython") is None, reason="Cython is not installed")


@needs_cython
def test_handwritten_cython_agrees_with_the_engine():
    """The Cython baseline (built on the fly, cached) fires the same rules as the engine, on both streams."""
    from ruledsl.runtime.engine import load

    module = cybuild.load()
    assert list(module.RULE_IDS) == list(handwritten.RULES)
    assert list(module.RULE_RANKS) == [handwritten._RULE_RANK[r] for r in module.RULE_IDS]
    for events in (workload.generate(5_000), workload.generate(5_000, n_customers=300, seed=11)):
        report = handwritten.compare(load(BENCH / "standard.rdsl"), events, baseline=cybuild.handwritten_cy())
        assert report["mismatches"] == 0, json.dumps(report["examples"][:3], ensure_ascii=False, default=str)
        assert sum(1 for n in report["fired"].values() if n) >= 20, report["fired"]


@needs_cython
def test_handwritten_cython_sweep_forgets_expired_keys_only():
    """Sweeping often changes no answer; a sweep past every window (400-day since() included) empties it."""
    events = workload.generate(3_000, n_customers=300, seed=5)
    cy, py = cybuild.handwritten_cy(), handwritten.HandwrittenRules()
    for i, ev in enumerate(events):
        if i % 50 == 0:
            cy.sweep(ev["ts"])
        a, b = cy.evaluate(ev), py.evaluate(ev)
        assert (a[0], sorted(a[1])) == (b[0], sorted(b[1])), (i, ev)
    assert cy.events == len(events) and sum(cy.keys().values()) > 0
    cy.sweep(events[-1]["ts"] + 400 * workload.DAY_MS)
    assert sum(cy.keys().values()) == 0


def test_reference_interpreter_agrees_with_handwritten_rules():
    """The third opinion: the slow reference interpreter fires the same rules."""
    from ruledsl.check.checker import check
    from ruledsl.oracle.reference import ReferenceEngine
    from ruledsl.syntax.loader import load_program

    events = workload.generate(2_000, n_customers=300, seed=3)
    report = handwritten.compare(ReferenceEngine(check(load_program(BENCH / "standard.rdsl"))), events)
    assert report["mismatches"] == 0, json.dumps(report["examples"][:3], ensure_ascii=False, default=str)


def test_generated_lint_ruleset_checks_clean():
    from ruledsl.check.checker import check
    from ruledsl.syntax.loader import load_text

    program = load_text(lintgen.generate_ruleset(120), "lint_bench.rdsl")
    result = check(program)
    assert not program.diagnostics
    assert result.ok, [d.message for d in result.diagnostics if d.severity == "error"][:5]


@pytest.mark.skipif(
    os.environ.get("RULEDSL_BENCH_SMOKE", "") in ("", "0"),
    reason="set RULEDSL_BENCH_SMOKE=1 to run benchmarks/run_bench.py --short",
)
def test_run_bench_short_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_bench.py"), "--short", "--json", str(out), "--no-pin"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["ok"] and data["mode"] == "short"
    assert data["correctness"]["mismatches"] == 0
    for key in ("handwritten", "evaluate", "evaluate_many", "evaluate_columns"):
        assert data[key]["events_per_s"] > 0
    if importlib.util.find_spec("Cython") is not None:
        assert data["handwritten_cy"]["events_per_s"] > 0 and data["correctness"]["cython_mismatches"] == 0
        assert data["evaluate"]["ratio_to_handwritten_cy"] > 0
    assert data["latency"]["p99_us"] >= data["latency"]["p50_us"] > 0
    assert data["memory"]["keys"] == 100_000
    assert data["snapshot"]["keys_per_window"] == data["snapshot"]["restored_keys_per_window"]
    assert data["lint"]["rules"] == 200 and data["lint"]["errors"] == 0


def test_sweep_benchmark_measures_each_setting(monkeypatch):
    """sweep_bench.py: percentiles per setting, and a starved sweep leaves expired keys behind."""
    import sweep_bench

    from ruledsl.runtime import engine as engine_module

    # the benchmark sets the two module constants: put them back after the test
    monkeypatch.setattr(engine_module, "ADVANCE_EVERY", engine_module.ADVANCE_EVERY)
    monkeypatch.setattr(engine_module, "SWEEP_BUDGET", engine_module.SWEEP_BUDGET)
    events = workload.generate(3_000, n_customers=300, seed=7)
    res = sweep_bench.measure(16, 32, events, 500, passes=2)
    assert res["p99_us"] >= res["p50_us"] > 0 and res["raw_p99_us"] >= res["p99_us"]
    assert res["cpu_us_per_event"] > 0
    starved = sweep_bench.throughput_pass(sweep_bench.build_engine(64, 1), events)
    assert starved["stale_keys_at_end"] > res["stale_keys_at_end"]


def test_snapshot_benchmark_measures_a_snapshot_while_another_thread_evaluates():
    import snapshot_bench

    res = snapshot_bench.measure(3_000)
    assert res["keys_per_window"] == {"c": 3_000, "s": 3_000} == res["restored_keys_per_window"]
    assert res["snapshot_bytes"] > 3_000
    assert res["evaluate_blocked_max_ms"] > 0 and res["evaluate_calls_without_snapshot"] > 0
    assert len(snapshot_bench.rows(res)) == 4
