"""Shared structure against the reference interpreter: merged identical windows and rule trees.

The generated rulesets here (``scenarios(shared=True)``) declare copies of
windows and sequences under other names (one state and one kernel call in
the engine, two independent states in the reference) and families of rules
behind a shared condition or comparing one string field with several values
(a dict lookup in the engine, missing values included).  The engine runs on
its own kernels and on an external store (``LocalStore``: the batched code,
where a copy's value comes from its original's op).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import CLOCK_MS, scenarios
from test_differential import EXAMPLES, SETTINGS, _run_both, _valid, check_scenario

from ruledsl.check.checker import check
from ruledsl.compile import emit
from ruledsl.runtime.engine import build_engine
from ruledsl.stores.local import LocalStore
from ruledsl.syntax.loader import load_text


@settings(SETTINGS, max_examples=max(EXAMPLES // 2, 10))
@given(scenarios(shared=True))
def test_shared_structure_agrees_with_reference(scenario):
    _valid(scenario)
    check_scenario(scenario)


@settings(SETTINGS, max_examples=max(EXAMPLES // 6, 5))
@given(scenarios(shared=True))
def test_shared_structure_on_a_store_agrees_with_reference(scenario):
    _valid(scenario)
    result = check(load_text(scenario.source))
    _run_both(result, scenario, build_engine(result, clock=lambda: CLOCK_MS, store=LocalStore()))


@settings(SETTINGS, max_examples=max(EXAMPLES // 6, 5))
@given(scenarios(shared=True))
def test_shared_structure_on_python_kernels_agrees_with_reference(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="python")


@settings(SETTINGS, max_examples=3)
@given(scenarios(shared=True))
def test_shared_structure_on_the_cython_evaluator_agrees_with_reference(scenario):
    _valid(scenario)
    check_scenario(scenario, kernels="cython")


@settings(SETTINGS, max_examples=max(EXAMPLES // 3, 10))
@given(scenarios(shared=True), st.integers(4, 40))
def test_shared_structure_written_in_parts_agrees_with_reference(scenario, block_lines):
    """Shared tests and lookups too long for one statement (``emit.BLOCK_LINES``, made tiny here) are
    written as several: the test or the case number in a local, each part under it."""
    _valid(scenario)
    saved = emit.BLOCK_LINES
    emit.BLOCK_LINES = block_lines
    try:
        check_scenario(scenario)
    finally:
        emit.BLOCK_LINES = saved
