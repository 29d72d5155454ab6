"""Expectation keys ``action_at_least`` (the decision is this strong or stronger) and ``hold_timeout``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl.cli.app import app
from ruledsl.ruletest import RuleTestError, format_failure, load_test_file, run_case

# Each amount band gives one action, so a step's decision is known from its amount alone.
RULESET = """\
ruleset strength {
  timezone "Asia/Shanghai"
  hold_timeout 12h
}

event transfer {
  customer_id: string
  amount: decimal
}

rule tier_block {
  reason "封顶"
  code "S-B"
  on transfer
  when amount >= 5000.00
  action block
}

rule tier_hold {
  reason "挂起"
  code "S-H"
  on transfer
  when amount >= 1000.00 and amount < 5000.00
  action hold
}

rule tier_step_up {
  reason "加强认证"
  code "S-S"
  on transfer
  when amount >= 500.00 and amount < 1000.00
  action step_up
}

rule tier_alert {
  reason "告警"
  code "S-A"
  on transfer
  when amount >= 100.00 and amount < 500.00
  action alert
}
"""

# The same ruleset without a `hold_timeout` in its header: holds carry the default, 24h.
DEFAULT_RULESET = RULESET.replace("  hold_timeout 12h\n", "").replace("ruleset strength", "ruleset plain")

AMOUNT = {"block": '"5000.00"', "hold": '"1000.00"', "step_up": '"500.00"', "alert": '"100.00"', "pass": '"1.00"'}
STRENGTH = ["pass", "alert", "step_up", "hold", "block"]  # weakest to strongest, as documented

HEAD = """\
ruleset: ../strength.rdsl
start: "2026-11-20T09:00:00+08:00"
defaults:
  transfer: {customer_id: C1}
cases:
"""


@pytest.fixture
def suite(tmp_path):
    """Write the rulesets and return a function writing a test file next to them."""
    (tmp_path / "strength.rdsl").write_text(RULESET, encoding="utf-8")
    (tmp_path / "plain.rdsl").write_text(DEFAULT_RULESET, encoding="utf-8")
    (tmp_path / "tests").mkdir()

    def write(cases: str, head: str = HEAD) -> Path:
        path = tmp_path / "tests" / "strength.test.yaml"
        path.write_text(head + textwrap.dedent(cases), encoding="utf-8")
        return path

    return write


def _problems(path: Path) -> list[str]:
    """The problems of an invalid test file, its path shown as ``F``."""
    with pytest.raises(RuleTestError) as info:
        load_test_file(path)
    return [str(p).replace(str(path), "F") for p in info.value.problems]


def _mismatches(path: Path) -> dict[str, list[str]]:
    """Case name -> ``key: message`` of each mismatch (empty when the case passed)."""
    tf = load_test_file(path)
    return {c.name: [f"{m.key}: {m.message}" for m in run_case(c).mismatches] for c in tf.cases}


# ---------------------------------------------------------------- action_at_least


@pytest.mark.parametrize("at_least", STRENGTH)
@pytest.mark.parametrize("actual", STRENGTH)
def test_action_at_least_follows_the_strength_order(suite, actual, at_least):
    path = suite(f"""\
      - name: one
        events:
          - transfer: {{amount: {AMOUNT[actual]}}}
            expect: {{action: {actual}}}
          - transfer: {{amount: {AMOUNT[actual]}}}
            expect: {{action_at_least: {at_least}}}
    """)
    got = _mismatches(path)["one"]
    if STRENGTH.index(actual) >= STRENGTH.index(at_least):
        assert got == []
    else:
        assert got == [f"action_at_least: expected {at_least} or stronger, got {actual}"]


def test_action_at_least_failure_report(suite):
    path = suite("""\
      - name: 告警不够
        events:
          - transfer: {amount: "100.00"}
            expect: {action_at_least: hold, fired: [tier_alert]}
    """)
    result = run_case(load_test_file(path).cases[0])
    assert result.status == "failed"
    report = format_failure(result)
    assert "expected vs actual:\n  action_at_least: expected hold or stronger, got alert\ndecision: alert\n" in report


def test_step_action_replaces_expect_each_action_at_least_and_back(suite):
    path = suite("""\
      - name: each at least alert, one step exactly pass
        expect_each: {action_at_least: alert}
        events:
          - transfer: {amount: "100.00"}
          - transfer: {amount: "5000.00"}
          - transfer: {amount: "1.00"}
            expect: {action: pass}
      - name: each exactly pass, one step at least hold
        expect_each: {action: pass}
        events:
          - transfer: {amount: "1.00"}
          - transfer: {amount: "5000.00"}
            expect: {action_at_least: hold}
      - name: the base still applies where the step says neither
        expect_each: {action_at_least: hold}
        events:
          - transfer: {amount: "1000.00"}
            expect: {codes: [S-H]}
          - transfer: {amount: "500.00"}
            expect: {codes: [S-S]}
    """)
    assert _mismatches(path) == {
        "each at least alert, one step exactly pass": [],
        "each exactly pass, one step at least hold": [],
        "the base still applies where the step says neither": [
            "action_at_least: expected hold or stronger, got step_up"
        ],
    }


# ---------------------------------------------------------------- hold_timeout


def test_hold_timeout_matches_the_rulesets(suite):
    path = suite("""\
      - name: 12h
        events:
          - transfer: {amount: "1000.00"}
            expect: {action: hold, hold_timeout: 12h}
      - name: same duration written otherwise
        events:
          - transfer: {amount: "1000.00"}
            expect: {hold_timeout: 720m}
      - name: with action_at_least
        events:
          - transfer: {amount: "1000.00"}
            expect: {action_at_least: step_up, hold_timeout: 12h}
      - name: wrong timeout
        events:
          - transfer: {amount: "1000.00"}
            expect: {action: hold, hold_timeout: 24h}
      - name: not a whole number of hours
        events:
          - transfer: {amount: "1000.00"}
            expect: {hold_timeout: 1h30m}
    """)
    assert _mismatches(path) == {
        "12h": [],
        "same duration written otherwise": [],
        "with action_at_least": [],
        "wrong timeout": ["hold_timeout: expected 24h, got 12h"],
        "not a whole number of hours": ["hold_timeout: expected 1h30m, got 12h"],
    }


def test_hold_timeout_default_is_24h(suite):
    path = suite(
        """\
      - name: default
        events:
          - transfer: {amount: "1000.00"}
            expect: {action: hold, hold_timeout: 24h}
      - name: not the header's
        events:
          - transfer: {amount: "1000.00"}
            expect: {hold_timeout: 12h}
    """,
        head=HEAD.replace("../strength.rdsl", "../plain.rdsl"),
    )
    assert _mismatches(path) == {"default": [], "not the header's": ["hold_timeout: expected 12h, got 24h"]}


@pytest.mark.parametrize("actual", ["block", "step_up", "alert", "pass"])
def test_no_hold_timeout_is_a_mismatch(suite, actual):
    path = suite(f"""\
      - name: one
        events:
          - transfer: {{amount: {AMOUNT[actual]}}}
            expect: {{hold_timeout: 12h}}
    """)
    assert _mismatches(path)["one"] == [
        f"hold_timeout: expected 12h, but the decision carries no hold timeout "
        f"(only a hold does; this decision is {actual})"
    ]


def test_hold_timeout_from_expect_each(suite):
    path = suite("""\
      - name: every event held for 12h
        expect_each: {hold_timeout: 12h}
        events:
          - transfer: {amount: "1000.00"}
          - transfer: {amount: "100.00"}
    """)
    result = run_case(load_test_file(path).cases[0])
    assert result.failed_step is not None and result.failed_step.index == 1
    assert [m.key for m in result.mismatches] == ["hold_timeout"]


# ---------------------------------------------------------------- validation


def test_action_and_action_at_least_together_is_an_error(suite):
    path = suite("""\
      - name: both
        events:
          - transfer: {amount: "1.00"}
            expect:
              action: pass
              action_at_least: alert
      - name: both in expect_each
        expect_each: {action: pass, action_at_least: pass}
        events:
          - transfer: {amount: "1.00"}
          - transfer: {amount: "1.00"}
    """)
    assert _problems(path) == [
        'F:11:9: cases[0].events[0].expect.action_at_least (case "both"): '
        "`action_at_least` cannot be combined with `action`: give one of them",
        'F:13:31: cases[1].expect_each.action_at_least (case "both in expect_each"): '
        "`action_at_least` cannot be combined with `action`: give one of them",
    ]


def test_unknown_action_at_least(suite):
    path = suite("""\
      - name: one
        events:
          - transfer: {amount: "1.00"}
            expect: {action_at_least: holdd}
    """)
    assert _problems(path) == [
        "F:9:33: cases[0].events[0].expect.action_at_least (case \"one\"): invalid value 'holdd': "
        "expected one of block, hold, step_up, alert, pass"
    ]


@pytest.mark.parametrize(
    "value,message",
    [
        (
            "24x",
            "`hold_timeout`: bad duration '24x': write a number and a unit (ms, s, m, h, d, w), "
            "e.g. `500ms`, `10s`, `1h30m`",
        ),
        ("24", "`hold_timeout`: a duration is written with a unit, like `10s` or `5m`, not 24"),
        ("-1h", "`hold_timeout`: a hold timeout is longer than 0, not '-1h'"),
        ("0s", "`hold_timeout`: a hold timeout is longer than 0, not '0s'"),
        ("null", "`hold_timeout`: a duration is written with a unit, like `10s` or `5m`, not None"),
    ],
)
def test_bad_hold_timeout(suite, value, message):
    path = suite(f"""\
      - name: one
        events:
          - transfer: {{amount: "1000.00"}}
            expect: {{action: hold, hold_timeout: {value}}}
    """)
    assert _problems(path) == [f'F:9:44: cases[0].events[0].expect.hold_timeout (case "one"): {message}']


@pytest.mark.parametrize(
    "expect,never",
    [
        ("action: pass", "`action: pass`"),
        ("action: block", "`action: block`"),
        ("action_at_least: block", "`action_at_least: block`"),
    ],
)
def test_hold_timeout_with_an_action_that_never_holds(suite, expect, never):
    path = suite(f"""\
      - name: one
        events:
          - transfer: {{amount: "1.00"}}
            expect:
              {expect}
              hold_timeout: 12h
    """)
    assert _problems(path) == [
        'F:11:9: cases[0].events[0].expect.hold_timeout (case "one"): '
        f"only a hold decision carries a hold timeout, so `hold_timeout` cannot be checked with {never}"
    ]


def test_error_excludes_the_new_keys(suite):
    path = suite("""\
      - name: one
        events:
          - transfer: {amount: "abc"}
            expect: {error: amount, action_at_least: hold, hold_timeout: 12h}
    """)
    assert _problems(path) == [
        'F:9:16: cases[0].events[0].expect.error (case "one"): '
        "`error` expects the event to be rejected: it cannot be combined with action_at_least, hold_timeout"
    ]


def test_misspelt_key_suggests_action_at_least(suite):
    path = suite("""\
      - name: one
        events:
          - transfer: {amount: "1.00"}
            expect: {action_at_lest: hold}
    """)
    (problem,) = _problems(path)
    assert problem.startswith(
        'F:9:16: cases[0].events[0].expect.action_at_lest (case "one"): '
        "unknown key `action_at_lest`; did you mean `action_at_least`?"
    ), problem


# ---------------------------------------------------------------- through the CLI


def test_cli_reports_the_new_mismatches(suite):
    path = suite("""\
      - name: too weak
        events:
          - transfer: {amount: "500.00"}
            expect: {action_at_least: hold}
      - name: held
        events:
          - transfer: {amount: "1000.00"}
            expect: {action_at_least: hold, hold_timeout: 12h}
    """)
    res = CliRunner().invoke(app, ["test", str(path)])
    assert res.exit_code == 1, res.output
    assert "  action_at_least: expected hold or stronger, got step_up\n" in res.output
    assert res.output.rstrip().endswith("1 passed, 1 failed")
