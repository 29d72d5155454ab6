"""The Cython evaluator as an engine uses it: built, cached, swapped in, and equal to the Python one.

Every engine here runs on the compiled state kernels; the generated-Python
evaluator (``compiled="never"``) is the yardstick, on the benchmark's standard
ruleset and a seeded stream of its traffic.  Builds go to a cache directory of
the test session (tests/conftest.py), shared by the tests of this module, so
the standard ruleset's module is built once.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import pytest
from decisions import differences  # tests/ is on sys.path (tests/conftest.py)

import ruledsl
from ruledsl.compile import build as _build
from ruledsl.kernels import state
from ruledsl.kernels.values import EventError
from ruledsl.runtime import engine_compiled

ROOT = Path(__file__).resolve().parents[2]
STANDARD = ROOT / "benchmarks" / "standard.rdsl"

pytestmark = pytest.mark.skipif(
    _build.unavailable_reason() is not None, reason=f"no compiled evaluator here: {_build.unavailable_reason()}"
)


@pytest.fixture(scope="module")
def stream() -> list[dict]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import workload
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return workload.generate(6_000, 2_000, 7)


def _load(mode: str, **kw):
    return ruledsl.load(STANDARD, clock=None, compiled=mode, **kw)


def _same_decisions(a, b, events, *, peek: bool = False) -> None:
    for i, ev in enumerate(events):
        if peek:
            assert not differences(a.peek(ev), b.peek(ev)), f"peek of event {i}"
        da, db = a.evaluate(ev), b.evaluate(ev)
        diffs = differences(da, db)
        assert not diffs, f"event {i} {ev}: {diffs}"


def test_require_builds_and_agrees_with_python(stream):
    py, cy = _load("never"), _load("require")
    assert (py.evaluator, cy.evaluator) == ("python", "cython")
    assert cy.evaluator_module.startswith("ruledsl_ev_")
    _same_decisions(py, cy, stream[:1500], peek=True)
    _same_decisions(py, cy, stream[1500:])
    fired = sum(1 for ev in stream[:500] if py.peek(ev).action != "pass")
    assert fired > 0  # the comparison covered events that fire
    assert py.stats()["windows"] == cy.stats()["windows"]


def test_two_engines_of_one_ruleset_keep_their_own_state(stream):
    a, b = _load("require"), _load("require")
    assert a.evaluator_module == b.evaluator_module  # one module, two Evaluator objects
    ev = {"type": "login", "ts": 1_767_225_600_000, "customer_id": "c1", "account_id": "a1", "channel": "web",
          "home_city": "x"}  # fmt: skip
    for i in range(12):
        a.evaluate({**ev, "ts": ev["ts"] + i})
    assert a.evaluate({**ev, "ts": ev["ts"] + 20}).action == "step_up"  # login_storm on a's state
    assert b.evaluate({**ev, "ts": ev["ts"] + 20}).action != "step_up"


def test_auto_builds_in_the_background_then_serves_from_the_cache(tmp_path, monkeypatch, stream):
    monkeypatch.setenv("RULEDSL_CACHE_DIR", str(tmp_path))
    py, auto = _load("never"), _load("auto")
    assert auto.evaluator == "python"  # the build takes seconds; load returned at once
    _same_decisions(py, auto, stream[:300])  # served by Python meanwhile
    assert auto.wait_compiled(timeout=600), auto.evaluator_error
    assert auto.evaluator == "cython"
    _same_decisions(py, auto, stream[300:1200])  # the same state, now through the Cython evaluator
    again = _load("auto")
    assert again.evaluator == "cython"  # cached: in use as soon as load returns
    assert list((tmp_path / "evaluators").glob("ruledsl_ev_*/*.pyx"))  # the text is kept beside the module


def test_never_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RULEDSL_CACHE_DIR", str(tmp_path))
    engine = _load("never")
    assert engine.wait_compiled(timeout=0) is False
    assert engine.evaluator == "python" and engine.evaluator_error is None
    assert not (tmp_path / "evaluators").exists()


def test_no_compiler_means_python_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("RULEDSL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_build, "unavailable_reason", lambda: "no C compiler (cc) on PATH")
    monkeypatch.setattr(engine_compiled, "_warned", set())
    with pytest.warns(RuntimeWarning, match="Python evaluator.*no C compiler"):
        engine = _load("auto")
    assert engine.evaluator == "python" and "no C compiler" in engine.evaluator_error
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second engine does not warn again
        _load("auto")
    with pytest.raises(_build.BuildError, match="no C compiler"):
        _load("require")


def test_bad_mode_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="compiled must be one of auto, require, never"):
        _load("fast")
    monkeypatch.setenv("RULEDSL_COMPILED", "sometimes")
    with pytest.raises(ValueError, match="RULEDSL_COMPILED must be one of"):
        ruledsl.load(STANDARD, clock=None)


def test_reload_keeps_the_compiled_evaluator_and_the_state(stream):
    py, cy = _load("never"), _load("require")
    _same_decisions(py, cy, stream[:800])
    kept = cy.reload()
    assert cy.evaluator == "cython" and kept
    py.reload()
    _same_decisions(py, cy, stream[800:1600])


def test_snapshot_moves_between_evaluators(tmp_path, stream):
    straight = _load("never")
    _same_decisions(straight, _load("never"), [])  # warm: nothing
    py = _load("never")
    for ev in stream[:1000]:
        straight.evaluate(ev)
        py.evaluate(ev)
    py.snapshot(tmp_path / "a.snap")
    cy = _load("require", state=tmp_path / "a.snap")
    assert cy.evaluator == "cython"
    _same_decisions(straight, cy, stream[1000:2000])
    cy.snapshot(tmp_path / "b.snap")
    back = _load("never", state=tmp_path / "b.snap")
    _same_decisions(straight, back, stream[2000:2600])


def test_malformed_events_are_refused_alike_and_change_nothing(stream):
    py, cy = _load("never"), _load("require")
    good = next(ev for ev in stream if ev["type"] == "transfer")
    bad = [
        {**good, "amount": "12.3.4"},
        {**good, "amount": 10**20},
        {**good, "amount": float("nan")},
        {**good, "ts": "yesterday"},
        {**good, "channel": "fax"},
        {**good, "customer_id": 42},
        {k: v for k, v in good.items() if k != "account_id"},
    ]
    for ev in bad:
        errs = []
        for engine in (py, cy):
            with pytest.raises(EventError) as info:
                engine.evaluate(ev)
            errs.append((info.value.field, str(info.value)))
        assert errs[0] == errs[1]
    _same_decisions(py, cy, stream[:400])


def test_arithmetic_beyond_64_bits_is_exact_in_both(tmp_path):
    # numbers stay Python objects in the Cython evaluator: a product of two large amounts is exact
    path = tmp_path / "big.rdsl"
    path.write_text(
        "ruleset big { }\n"
        "event t {\n  k: string\n  amount: decimal\n  n: int\n}\n"
        "window total = sum(amount * amount) of t by k over 1d\n"
        'rule huge { reason "huge" on t when amount * amount / 100000000000000 > 99999999999999 action hold }\n'
        'rule wide { reason "wide" on t when n * n % 7 == 0 action alert }\n'
        'rule many { reason "many" on t when total > 1 action alert }\n',
        encoding="utf-8",
    )
    py = ruledsl.load(path, clock=None, compiled="never")
    cy = ruledsl.load(path, clock=None, compiled="require")
    events = [
        {"type": "t", "ts": 1_000 + i, "k": "a", "amount": a, "n": n}
        for i, (a, n) in enumerate(
            [("99999999999999.9999", 2**63 - 1), ("-99999999999999.9999", -(2**63)), ("1.5", 9223372036854775807)]
        )
    ]
    _same_decisions(py, cy, events)
    # (2^63 - 1)^2 is 0 mod 7; wrapped to 64 bits it would be 1
    assert {r.id for r in cy.evaluate({**events[0], "ts": 5_000}).rules} >= {"huge", "wide"}
    assert "wide" not in {r.id for r in cy.evaluate({**events[1], "ts": 5_001}).rules}


@pytest.mark.skipif(not state.COMPILED, reason="compiled kernels only")
def test_row_functions_come_from_the_compiled_evaluator():
    cy = _load("require")
    rows = cy.row_functions()
    assert type(rows["login"]).__name__ == "builtin_function_or_method"  # a method of the Cython Evaluator
    args = [1_767_225_600_000, "c", "a", "web", None, None, "x", "y"]
    with cy._lock:
        d = rows["login"](*args, True)
    assert [r.id for r in d.rules] == ["away_login"]


def test_rule_tests_split_into_chunks_give_the_same_decisions(monkeypatch, stream):
    # a large ruleset's rule tests are cut into methods of bounded size (compile/chunks.py); cut the
    # standard ruleset's after every few lines so every chunk boundary and hand-over is exercised
    from ruledsl.compile import chunks

    monkeypatch.setattr(chunks, "MAX_CHUNK_LINES", 7)
    py, cy = _load("never"), _load("require")
    assert cy.evaluator == "cython"
    name, module = engine_compiled.evaluator_module(cy.compiled)
    assert name == cy.evaluator_module and "cdef object r_transfer_3(self" in module.source
    _same_decisions(py, cy, stream[:2500], peek=True)


def test_a_cached_module_is_found_without_writing_its_text(monkeypatch, tmp_path):
    # the cache key comes from the generated Python and the emitters' code: a cached load never
    # pays for the Cython text (seconds for thousands of rules), and still maps tracebacks
    monkeypatch.setenv("RULEDSL_CACHE_DIR", str(tmp_path))
    first = _load("require")
    from ruledsl.compile import linemap

    def no_text(*_a, **_k):
        raise AssertionError("the Cython text was written for a cached module")

    monkeypatch.setattr(engine_compiled, "cython_module", no_text)
    linemap._REGISTRY.pop(f"{first.evaluator_module}.pyx", None)
    again = _load("auto")
    assert again.evaluator == "cython" and again.evaluator_module == first.evaluator_module
    assert again._fns and "ev_transfer" not in again._ns  # the Python evaluator was never compiled
    for _ in range(100):  # read back from the cache in the background (only tracebacks need it)
        if f"{first.evaluator_module}.pyx" in linemap._REGISTRY:
            break
        time.sleep(0.05)
    assert f"{first.evaluator_module}.pyx" in linemap._REGISTRY


def test_the_cache_key_changes_with_the_ruleset(tmp_path):
    import shutil

    a = ruledsl.load(STANDARD, clock=None, compiled="never")
    shutil.copytree(STANDARD.parent, tmp_path / "b", ignore=shutil.ignore_patterns(".cache", "__pycache__"))
    path = tmp_path / "b" / "standard.rdsl"
    path.write_text(path.read_text(encoding="utf-8").replace('"异地登录"', '"异地登录 (edited)"'), encoding="utf-8")
    b = ruledsl.load(path, clock=None, compiled="never")
    assert engine_compiled.evaluator_name(a.compiled) == engine_compiled.evaluator_name(
        ruledsl.load(STANDARD, clock=None, compiled="never").compiled
    )
    assert engine_compiled.evaluator_name(a.compiled) != engine_compiled.evaluator_name(b.compiled)


def test_chinese_names_compile_and_agree(tmp_path):
    # DSL names are Unicode words; the Cython module keeps them as attribute and local names
    path = tmp_path / "zh.rdsl"
    path.write_text(
        "ruleset 中文 { }\nevent 转账 {\n  客户: string\n  金额: decimal\n}\n"
        "window 次数 = count() of 转账 by 客户 over 1h\nwindow 累计 = sum(金额) of 转账 by 客户 over 1h\n"
        "param 上限: int = 2\n"
        'rule 频繁 { reason "频繁" on 转账 when 次数 > 上限 or 累计 > 10 action alert }\n',
        encoding="utf-8",
    )
    py = ruledsl.load(path, clock=None, compiled="never")
    cy = ruledsl.load(path, clock=None, compiled="require")
    assert cy.evaluator == "cython"
    events = [{"type": "转账", "ts": 1_000 + i, "客户": "甲乙"[i % 2], "金额": 3.5 * i} for i in range(8)]
    _same_decisions(py, cy, events)
    assert cy.evaluate({**events[0], "ts": 2_000}).action == "alert"
