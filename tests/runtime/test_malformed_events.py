"""Malformed events change nothing: interleaved into a stream, the good events' decisions stay the same.

A generated stream of good events (and parameter and list changes) runs
twice through the compiled engine: alone, and with malformed events inserted
at random places.  Each malformed event must be refused with ``EventError``
(or, for a late one, decided without touching any state); no other exception
may escape, and every good event must get exactly the decision it got in the
clean run.  Both kernel builds.

``test_refused_events_change_nothing`` uses what the engine refuses today
(``malformed_today``: wrong types, missing fields, unknown types, bad JSON,
late timestamps); ``test_out_of_range_events_change_nothing`` adds issue 9's
kinds (``malformed_pending``: numbers past the 64-bit and decimal limits, an
unhashable ``type``, timestamps in micro- or nanoseconds or ahead of the
engine's clock, here the fixed ``CLOCK_MS``), which crashed or poisoned the
clock before the decoding contract and the clock guard.

``check_unchanged`` takes any engine factory, so other state backends (the
Redis store) can run the same property.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Optional

import pytest
from decisions import differences
from engines import KERNELS, kernel_build
from hypothesis import HealthCheck, Phase, assume, given, settings
from strategies import CLOCK_MS, Scenario, with_malformed

from ruledsl.check.checker import check
from ruledsl.kernels.values import EventError
from ruledsl.runtime.engine import Engine, build_engine
from ruledsl.syntax.loader import load_text

EXAMPLES = int(os.environ.get("RULEDSL_HYPOTHESIS_EXAMPLES") or settings().max_examples) // 2
MINIMISE_SECONDS = float(os.environ.get("RULEDSL_MINIMISE_SECONDS") or 60)

SETTINGS = settings(
    max_examples=max(EXAMPLES, 10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    # as in the differential tests: hypothesis' shrinker takes minutes here, ``minimise`` seconds
    phases=[p for p in Phase if p != Phase.shrink or os.environ.get("RULEDSL_HYPOTHESIS_SHRINK")],
)


def _feed(engine: Engine, op: tuple) -> Any:
    """One operation; an event's decision, or ("refused", field) for an EventError."""
    if op[0] == "param":
        engine.set_param(op[1], op[2])
        return None
    if op[0] == "list":
        engine.update_list(op[1], op[2])
        return None
    try:
        return engine.evaluate(op[1])
    except EventError as err:
        return ("refused", err.field)


def check_unchanged(scenario: Scenario, inserts: list[tuple[int, Any]], make_engine: Callable[[], Engine]) -> None:
    """AssertionError unless inserting ``inserts`` into ``scenario.ops`` leaves every good result as it was."""
    alone = make_engine()
    clean = [_feed(alone, op) for op in scenario.ops]
    engine = make_engine()
    pending = list(inserts)
    for i, op in enumerate(scenario.ops):
        while pending and pending[0][0] == i:
            bad = pending.pop(0)[1]
            try:
                engine.evaluate(bad)
            except EventError:
                pass
            except Exception as exc:
                raise AssertionError(
                    f"malformed event before op {i} raised {exc!r} (not EventError): {bad!r:.300}"
                ) from exc
        got = _feed(engine, op)
        want = clean[i]
        if op[0] != "event":
            continue
        if isinstance(want, tuple) or isinstance(got, tuple):
            assert got == want, f"op {i} {op[1]!r}: {got!r}, without the malformed events {want!r}"
            continue
        diffs = differences(got, want)
        assert not diffs, f"op {i} {op[1]!r} after malformed events:\n  " + "\n  ".join(diffs)


def _failure(source: str, ops: list[tuple], inserts: list[tuple[int, Any]], kernels: str) -> Optional[str]:
    """The assertion ``check_unchanged`` fails with on the engine of ``kernels`` (or a crash), else None."""
    result = check(load_text(source))
    if not result.ok:
        return None
    try:
        with kernel_build(kernels):
            check_unchanged(Scenario(source, ops), inserts, lambda: build_engine(result, clock=lambda: CLOCK_MS))
    except AssertionError as err:
        return str(err)
    except Exception as err:  # a crash of a good event's evaluation
        return f"{type(err).__name__}: {err}"
    return None


def minimise(source: str, ops: list[tuple], inserts: list[tuple[int, Any]], kernels: str) -> str:
    """A smaller failing case, greedily: fewer malformed events, operations and declarations
    (seconds; it stops where it is after ``MINIMISE_SECONDS``)."""
    kind = (_failure(source, ops, inserts, kernels) or "").split(":")[0]
    deadline = time.monotonic() + MINIMISE_SECONDS

    def fails(src: str, o: list[tuple], ins: list[tuple[int, Any]]) -> bool:
        if time.monotonic() > deadline:
            return False  # out of time: report what we have
        message = _failure(src, o, ins, kernels)
        return message is not None and message.split(":")[0] == kind

    for i in reversed(range(len(inserts))):
        if len(inserts) > 1 and fails(source, ops, inserts[:i] + inserts[i + 1 :]):
            inserts = inserts[:i] + inserts[i + 1 :]
    for j in reversed(range(len(ops))):
        # drop op j; malformed events after it move up one place
        moved = [(pos - (pos > j), bad) for pos, bad in inserts]
        if all(1 <= pos < len(ops) - 1 for pos, _bad in moved) and fails(source, ops[:j] + ops[j + 1 :], moved):
            ops, inserts = ops[:j] + ops[j + 1 :], moved
    blocks = source.split("\n\n")
    for b in reversed(range(len(blocks))):
        candidate = blocks[:b] + blocks[b + 1 :]
        if fails("\n\n".join(candidate), ops, inserts):
            blocks = candidate
    source = "\n\n".join(blocks)
    return f"{_failure(source, ops, inserts, kernels)}\n\nminimised: {source}\nops {ops!r}\nmalformed {inserts!r}"


def _run(scenario: Scenario, inserts: list[tuple[int, Any]], kernels: str) -> None:
    assume(check(load_text(scenario.source)).ok)  # the rare constant division by zero (RD211)
    if _failure(scenario.source, scenario.ops, inserts, kernels) is not None:
        raise AssertionError(minimise(scenario.source, scenario.ops, inserts, kernels))


@pytest.mark.parametrize("kernels", KERNELS)
@SETTINGS
@given(case=with_malformed())
def test_refused_events_change_nothing(case, kernels):
    scenario, inserts = case
    _run(scenario, inserts, kernels)


@pytest.mark.parametrize("kernels", KERNELS)
@SETTINGS
@given(case=with_malformed(pending=True))
def test_out_of_range_events_change_nothing(case, kernels):
    scenario, inserts = case
    _run(scenario, inserts, kernels)


def test_a_crash_or_a_changed_decision_is_caught():
    # the property itself: an accepted "malformed" event that feeds a window changes the next decision
    source = (
        "event transfer { customer_id: string amount: decimal }\n"
        "window c = count() of transfer by customer_id over 1m\n"
        'rule r { reason "r" on transfer when c > 1 action hold }\n'
    )
    good = {"type": "transfer", "ts": 1_767_225_600_000, "customer_id": "a", "amount": "1"}
    scenario = Scenario(source=source, ops=[("event", good), ("event", {**good, "ts": good["ts"] + 1})])
    result = check(load_text(source))
    with pytest.raises(AssertionError, match="after malformed events"):
        check_unchanged(scenario, [(1, {**good, "amount": "2"})], lambda: build_engine(result, clock=lambda: CLOCK_MS))
    check_unchanged(
        scenario,
        [(1, {**good, "amount": "abc"}), (1, b'{"type": "transfer"')],
        lambda: build_engine(result, clock=lambda: CLOCK_MS),
    )
