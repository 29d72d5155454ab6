"""pytest-benchmark benchmarks (issue #3).

    pytest benchmarks/ --benchmark-only

- one ``engine.evaluate()`` call on a warmed engine, events taken in stream order;
- ``engine.evaluate_many()`` over a 10,000-event stream (fresh engine each round);
- ``engine.evaluate_columns()`` over the same stream as columns;
- ``engine.evaluate()`` one at a time over the same stream, and the two
  hand-written baselines over it (Python; Cython, built on the fly by
  ``cybuild.py``, skipped without Cython), the heap frozen first;
- lint (parse + check) of a generated 2,000-rule ruleset.

Benchmarks never assert timings; they only check that the work was done.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import cybuild  # noqa: E402
import handwritten  # noqa: E402
import lintgen  # noqa: E402
import workload  # noqa: E402

STANDARD = HERE / "standard.rdsl"
STREAM = 10_000


def fresh_engine(compiled: str = "never"):
    from ruledsl.runtime.engine import load

    return load(STANDARD, compiled=compiled)


def fresh_compiled_engine():
    """The standard ruleset on the Cython evaluator (built once, then cached)."""
    return fresh_engine("require")


@pytest.fixture(scope="module")
def stream():
    return workload.generate(STREAM, cache=True)


@pytest.fixture(scope="module")
def long_stream():
    return workload.generate(120_000, cache=True)


def test_evaluate_one_event(benchmark, long_stream):
    """One evaluate() per round, walking the stream in order after a 20,000-event warm-up."""
    engine = fresh_engine()
    engine.evaluate_many(long_stream[:20_000])
    it = iter(long_stream[20_000:])
    evaluate = engine.evaluate

    def one():
        return evaluate(next(it))

    rounds = min(50_000, len(long_stream) - 20_000)
    decision = benchmark.pedantic(one, rounds=rounds, iterations=1, warmup_rounds=0)
    assert decision.action in ("pass", "alert", "step_up", "hold", "block")


def test_evaluate_many_10k(benchmark, stream):
    decisions = benchmark.pedantic(
        lambda engine: engine.evaluate_many(stream),
        setup=lambda: ((fresh_engine(),), {}),
        rounds=5,
        iterations=1,
    )
    assert len(decisions) == len(stream)


def test_evaluate_columns_10k(benchmark, stream):
    columns = workload.to_columns(stream)
    decisions = benchmark.pedantic(
        lambda engine: engine.evaluate_columns(columns),
        setup=lambda: ((fresh_engine(),), {}),
        rounds=5,
        iterations=1,
    )
    assert len(decisions) == len(stream)


def frozen(make):
    """A pedantic ``setup``: fresh state from ``make()``, then the heap collected and frozen (as run_bench.py)."""

    def setup():
        obj = make()
        gc.collect()
        gc.freeze()
        return (obj,), {}

    return setup


@pytest.fixture
def unfreeze():
    yield
    gc.unfreeze()


def one_by_one(stream):
    def run(target):
        evaluate = target.evaluate
        for ev in stream:  # the same loop shape for every kind: results dropped
            evaluate(ev)
        return target

    return run


def test_handwritten_10k(benchmark, stream, unfreeze):
    hw = benchmark.pedantic(one_by_one(stream), setup=frozen(handwritten.HandwrittenRules), rounds=5, iterations=1)
    assert hw._events == len(stream)


def test_handwritten_cython_10k(benchmark, stream, unfreeze):
    try:
        cybuild.load()
    except cybuild.BuildError as err:
        pytest.skip(str(err).splitlines()[0])
    cy = benchmark.pedantic(one_by_one(stream), setup=frozen(cybuild.handwritten_cy), rounds=5, iterations=1)
    assert cy.events == len(stream)


def test_evaluate_10k_one_by_one(benchmark, stream, unfreeze):
    engine = benchmark.pedantic(one_by_one(stream), setup=frozen(fresh_engine), rounds=5, iterations=1)
    assert engine.stats()["events"] == len(stream)


def test_evaluate_cython_10k_one_by_one(benchmark, stream, unfreeze):
    from ruledsl.compile.build import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    engine = benchmark.pedantic(one_by_one(stream), setup=frozen(fresh_compiled_engine), rounds=5, iterations=1)
    assert engine.evaluator == "cython" and engine.stats()["events"] == len(stream)


def test_lint_2000_rules(benchmark, tmp_path):
    from ruledsl.check.checker import check
    from ruledsl.syntax.loader import load_program, load_text

    path = lintgen.write_ruleset(tmp_path, 2000)
    load_text("ruleset warm_up { }")  # build the parser outside the timing

    def lint():
        return check(load_program(path))

    result = benchmark.pedantic(lint, rounds=3, iterations=1)
    assert result.ok
