"""Hold steps of rule tests: ``expire_due: true`` and ``confirm_hold: release|block`` on the virtual clock."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ruledsl.ruletest import RuleTestError, format_failure, load_test_file, run_case

RULESET = """\
ruleset holding {
  timezone "Asia/Shanghai"
  hold_timeout 12h
}

event transfer {
  customer_id: string
  amount: decimal
}

window per_customer_1h = count() of transfer by customer_id over 1h

rule big_hold {
  reason "挂起"
  code "H-1"
  on transfer
  when amount >= 1000.00
  action hold
}
"""

HEAD = """\
ruleset: ../holding.rdsl
start: "2026-11-20T09:00:00+08:00"
defaults:
  transfer: {customer_id: C1}
cases:
"""


@pytest.fixture
def suite(tmp_path):
    """Write the ruleset and return a function writing a test file next to it."""
    (tmp_path / "holding.rdsl").write_text(RULESET, encoding="utf-8")
    (tmp_path / "tests").mkdir()

    def write(cases: str) -> Path:
        path = tmp_path / "tests" / "holding.test.yaml"
        path.write_text(HEAD + textwrap.dedent(cases), encoding="utf-8")
        return path

    return write


def _problems(path: Path) -> list[str]:
    with pytest.raises(RuleTestError) as info:
        load_test_file(path)
    return [str(p).replace(str(path), "F") for p in info.value.problems]


def _mismatches(path: Path) -> dict[str, list[str]]:
    tf = load_test_file(path)
    return {c.name: [f"{m.key}: {m.message}" for m in run_case(c).mismatches] for c in tf.cases}


def test_holds_expire_release_and_block_on_the_virtual_clock(suite):
    path = suite("""\
      - name: expires
        events:
          - transfer: {amount: "1000.00"}
            expect: {action: hold, hold: open, hold_timeout: 12h}
          - after: 11h59m59s
            expire_due: true
            expect: {action: hold, hold: open}
          - after: 1s
            expire_due: true
            expect: {action: block, hold: expired}
          - after: 1h
            transfer: {amount: "10.00"}
            expect: {action: pass}
      - name: released
        expect_each: {action: hold}     # events only: hold steps check their own expect
        events:
          - transfer: {amount: "1000.00"}
          - after: 5m
            confirm_hold: release
            expect: {action: pass, hold: released}
          - after: 5m
            confirm_hold: release       # idempotent
            expect: {hold: released}
          - after: 13h
            expire_due: true
            expect: {action: pass, hold: released}
      - name: blocked
        events:
          - transfer: {amount: "1000.00"}
          - transfer: {amount: "2000.00"}
          - confirm_hold: block         # the latest hold: the second transfer's
            expect: {action: block, hold: blocked}
    """)
    assert _mismatches(path) == {"expires": [], "released": [], "blocked": []}
    case = load_test_file(path).cases[0]
    steps = case.steps
    assert [s.hold_op for s in steps] == [None, "expire_due", "expire_due", None]
    assert steps[2].ts - steps[0].ts == 12 * 3_600_000  # hold steps move the virtual clock as events do
    assert steps[3].ts - steps[2].ts == 3_600_000


def test_failed_hold_steps_say_why(suite):
    path = suite("""\
      - name: too early
        events:
          - transfer: {amount: "1000.00"}
          - after: 11h
            expire_due: true
            expect: {action: block}
      - name: expired already
        events:
          - transfer: {amount: "1000.00"}
          - after: 12h
            expire_due: true
          - confirm_hold: release
      - name: nothing held
        events:
          - transfer: {amount: "10.00"}
            expect: {hold: open}
      - name: nothing to confirm
        events:
          - transfer: {amount: "10.00"}
          - confirm_hold: release
      - name: wrong state
        events:
          - transfer: {amount: "1000.00"}
          - confirm_hold: block
            expect: {hold: released}
    """)
    got = _mismatches(path)
    assert got["too early"] == [
        "action: expected block, got hold (the hold is still open: it expires at 2026-11-20 21:00:00+08:00)"
    ]
    [refused] = got["expired already"]
    assert refused.startswith("confirm_hold: the engine refused to confirm the hold: hold ")
    assert "expired into a block" in refused
    assert got["nothing held"] == ["hold: expected open, but the decision opened no hold (pass)"]
    assert got["nothing to confirm"] == [
        "confirm_hold: no event of this case opened a hold before this step: there is nothing to confirm"
    ]
    assert got["wrong state"] == ["hold: expected released, the case's latest hold is blocked"]
    report = format_failure(run_case(load_test_file(path).cases[0]))
    assert "expire_due -> hold [big_hold]  <- failed here" in report


def test_hold_steps_are_validated(suite):
    path = suite("""\
      - name: bad
        events:
          - transfer: {amount: "1000.00"}
            expect: {hold: expired}
          - expire_due: 1
          - confirm_hold: approve
          - confirm_hold: release
            expect: {rules: [big_hold]}
          - confirm_hold: release
            repeat: 2
          - expire_due: true
            expect: {hold: closed}
    """)
    problems = _problems(path)
    assert any("events[0].expect.hold" in p and "an event's hold is open when it is opened" in p for p in problems)
    assert any("events[1].expire_due" in p and "write `expire_due: true`" in p for p in problems)
    assert any("events[2].confirm_hold" in p and "is release or block" in p and "'approve'" in p for p in problems)
    assert any("events[3].expect.rules" in p and "a hold step checks only `action`" in p for p in problems)
    assert any("events[4]" in p and "this one also has repeat" in p for p in problems)
    assert any("events[5].expect.hold" in p for p in problems)
