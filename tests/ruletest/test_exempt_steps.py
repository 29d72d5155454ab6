"""Exemption steps of rule tests: ``exempt: {key, rule, until, reason}`` and the ``exempted`` expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ruledsl.ruletest import RuleTestError, format_failure, load_test_file, run_case

RULESET = """\
ruleset appeals {
  timezone "Asia/Shanghai"
}

event transfer {
  customer_id: string
  account_no: string
  amount: decimal
}

exempt by customer_id, account_no

rule big_transfer {
  reason "大额转账"
  code "B-1"
  on transfer
  when amount >= 50000.00
  action block
}

rule night_transfer {
  reason "夜间转账"
  on transfer
  when hour(ts) < 6
  action alert
}
"""

HEAD = """\
ruleset: ../appeals.rdsl
start: "2026-11-20T09:00:00+08:00"
defaults:
  transfer: {customer_id: C1, account_no: A1}
cases:
"""


@pytest.fixture
def suite(tmp_path):
    """Write the ruleset and return a function writing a test file next to it."""
    (tmp_path / "appeals.rdsl").write_text(RULESET, encoding="utf-8")
    (tmp_path / "tests").mkdir()

    def write(cases: str, ruleset: str = RULESET) -> Path:
        (tmp_path / "appeals.rdsl").write_text(ruleset, encoding="utf-8")
        path = tmp_path / "tests" / "appeals.test.yaml"
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


def test_an_exemption_lets_a_customer_through_and_is_shown(suite):
    path = suite("""\
      - name: appeal upheld
        events:
          - transfer: {amount: "60000.00"}
            expect: {action: block, fired: [big_transfer]}
          - exempt: {key: C1, rule: big_transfer, until: 30d, reason: "appeal 2026-118 upheld"}
          - transfer: {amount: "60000.00"}
            expect: {action: pass, silent: [big_transfer], exempted: [big_transfer], codes: []}
          - transfer: {customer_id: C2, account_no: A2, amount: "60000.00"}
            expect: {action: block, exempted: []}
          - after: 30d
            transfer: {amount: "60000.00"}
            expect: {action: block, fired: [big_transfer]}
      - name: all rules, matched by another field
        events:
          - exempt: {key: A9, rule: all, until: "2026-11-21T00:00:00+08:00"}
          - transfer: {customer_id: C7, account_no: A9, amount: "90000.00"}
            expect: {action: pass, exempted: [big_transfer]}
          - at: 16h
            transfer: {customer_id: C7, account_no: A9, amount: "90000.00"}
            expect: {action: block}
    """)
    assert _mismatches(path) == {"appeal upheld": [], "all rules, matched by another field": []}
    case = load_test_file(path).cases[0]
    assert [s.hold_op for s in case.steps] == [None, "exempt", None, None, None]
    assert case.steps[1].fields["until"] - case.steps[1].ts == 30 * 86_400_000


def test_a_wrong_exempted_expectation_says_what_applied(suite):
    path = suite("""\
      - name: wrong
        events:
          - exempt: {key: C1, rule: all, until: 1d}
          - transfer: {amount: "60000.00"}
            expect: {action: pass, exempted: [night_transfer]}
      - name: refused
        events:
          - transfer: {amount: "1.00"}
          - after: 2d
            transfer: {amount: "1.00"}
          - ts: "2026-11-20T10:00:00+08:00"
            exempt: {key: C1, rule: all, until: 1h}
    """)
    got = _mismatches(path)
    assert got["wrong"] == [
        "exempted: expected exemptions to keep [night_transfer] from firing, got "
        "[big_transfer (key 'C1' in customer_id, exempted from all)]"
    ]
    [refused] = got["refused"]
    assert refused.startswith("exempt: the engine refused the exemption: until ")
    assert "is not after the engine's event time" in refused
    report = format_failure(run_case(load_test_file(path).cases[0]))
    assert "exempted" in report


def test_exemption_steps_are_validated(suite):
    path = suite("""\
      - name: bad
        events:
          - exempt: {key: C1, rule: big_transfr, until: 1d}
          - exempt: {key: 1.5, rule: all, until: soon, reson: x}
          - exempt: {rule: all}
          - exempt: {key: C1, rule: all, until: 1d}
            expect: {action: pass}
          - transfer: {amount: "1.00"}
            expect: {exempted: [big_transfr]}
    """)
    problems = _problems(path)
    assert any("events[0].exempt.rule" in p and "did you mean `big_transfer`?" in p for p in problems)
    assert any("events[1].exempt.key" in p and "a string or a whole number" in p for p in problems)
    assert any("events[1].exempt.until" in p and "'soon'" in p for p in problems)
    assert any("events[1].exempt.reson" in p and "did you mean `reason`?" in p for p in problems)
    assert any("events[2].exempt" in p and "needs `key`" in p for p in problems)
    assert any("events[2].exempt" in p and "needs `until`" in p for p in problems)
    assert any("events[3]" in p and "this one also has expect" in p for p in problems)
    assert any("events[4].expect.exempted" in p and "unknown rule `big_transfr`" in p for p in problems)


def test_a_ruleset_without_exempt_by_refuses_exemption_steps(suite):
    path = suite(
        """\
      - name: no exempt by
        events:
          - exempt: {key: C1, rule: all, until: 1d}
    """,
        ruleset=RULESET.replace("exempt by customer_id, account_no\n", ""),
    )
    assert any("has no `exempt by` declaration" in p for p in _problems(path))
