"""The rule test runner: test files, failures and their reports, coverage, ``ruledsl test``, the pytest plugin."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl.cli.app import app
from ruledsl.ruletest import (
    Coverage,
    RuleTestError,
    find_test_files,
    format_failure,
    load_test_file,
    parse_duration,
    run_case,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

MINI = """\
ruleset mini { timezone "Asia/Shanghai" }

event transfer {
  customer_id: string
  amount: decimal
  payee: string
}

event login {
  customer_id: string
  new_device: bool
}

param big: decimal = 1000.00
list black: string = ["B1"]
window n_5m = count() of transfer by customer_id over 5m

scorecard risk {
  on transfer
  item "大额" when amount >= big score 30
  item "频繁" when n_5m >= 3 score 40
  level high >= 70
  level elevated >= 50
  level medium >= 30
  level low >= 10
}

rule black_payee {
  reason "黑名单收款人"
  code "T-B1"
  on transfer
  when payee in black
  action block
}

rule rapid {
  reason "5分钟内多笔"
  code "T-H1"
  on transfer
  when n_5m >= 3
  action hold
}

rule risky {
  reason "评分高"
  code "T-A1"
  on transfer
  when level(risk) == "high"
  action alert
}

rule new_device_login {
  reason "新设备登录"
  on login
  when new_device
  action step_up
  shadow
}
"""

HEAD = """\
ruleset: ../mini.rdsl
start: "2026-11-20T09:00:00+08:00"
defaults:
  transfer: {customer_id: C1, payee: P1}
"""

PASSING = (
    HEAD
    + """\
cases:
  - name: 三笔转账被挂起
    tags: [fraud]
    events:
      - transfer: {amount: "100.00"}
        expect: {action: pass, rules: [], scores: {risk: {score: 0, level: minimal}}}
      - after: 1m
        transfer: {amount: 100}
      - after: 1m
        transfer: {amount: 2000.0}
        expect:
          action: hold
          fired: [rapid]
          silent: [black_payee]
          rules: [rapid, risky]
          features: {n_5m: 3, risk: 70}
          scores: {risk: {score: 70, level: high}}
          codes: [T-H1, T-A1]
          late: false
  - name: 新设备登录只记录不改变决定
    tags: [normal]
    events:
      - login: {customer_id: C1, new_device: true}
        expect: {action: pass, rules: [new_device_login], codes: []}
      - after: 1m
        login: {customer_id: C1, new_device: false}
        expect: {rules: []}
  - name: 黑名单收款人
    tags: [fraud]
    expect_each: {action: block}
    events:
      - transfer: {amount: "1.00", payee: B1}
        expect: {features: {payee: B1}}
      - transfer: {amount: "1.00", payee: B2}
        expect: {action: pass}
    expect_last: {rules: []}
  - name: 改了名单和参数
    tags: [normal]
    params: {big: "5.00"}
    lists: {black: [B9]}
    events:
      - transfer: {amount: "6.00", payee: B1}
        expect: {action: pass, scores: {risk: {score: 30, level: medium}}, features: {}}
  - name: 坏事件被拒绝
    events:
      - transfer: {amount: "abc"}
        expect: {error: amount}
      - transfer: {amount: "1", customer_id: null}
        expect: {error: true}
"""
)

FAILING = (
    HEAD
    + """\
cases:
  - name: 期望告警却被挂起
    tags: [fraud]
    events:
      - transfer: {amount: "100.00"}
      - after: 1m
        transfer: {amount: "100.00"}
      - after: 1m
        transfer: {amount: "100.00"}
        expect:
          action: alert
          fired: [black_payee]
          features: {n_5m: 2}
      - after: 1m
        transfer: {amount: "100.00"}
"""
)


@pytest.fixture
def suite(tmp_path):
    """Write the mini ruleset and return a function writing a test file next to it."""
    (tmp_path / "mini.rdsl").write_text(MINI, encoding="utf-8")
    (tmp_path / "tests").mkdir()

    def write(text: str, name: str = "mini.test.yaml") -> Path:
        path = tmp_path / "tests" / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def _problems(path: Path) -> str:
    """The problems of an invalid test file, its path shown as ``F``."""
    with pytest.raises(RuleTestError) as info:
        load_test_file(path)
    return str(info.value).replace(str(path), "F")


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    "text,ms",
    [
        ("500ms", 500),
        ("10s", 10_000),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("2w", 1_209_600_000),
        ("1d2h", 93_600_000),
        ("-2m", -120_000),
        ("0s", 0),
    ],
)
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("bad", ["5", "5x", "m5", "1.5h", "", 90, None, "5 minutes"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


# ---------------------------------------------------------------- running cases


def test_passing_cases(suite):
    tf = load_test_file(suite(PASSING))
    results = [run_case(c) for c in tf.cases]
    assert [r.status for r in results] == ["passed"] * 5, "\n".join(format_failure(r) for r in results)


def test_virtual_clock(suite):
    tf = load_test_file(
        suite(
            HEAD
            + """\
cases:
  - name: clock
    start: "2026-11-20T10:00:00"          # no offset: the ruleset's zone (Asia/Shanghai)
    events:
      - transfer: {amount: 1}
      - transfer: {amount: 1}
      - after: 1m
        transfer: {amount: 1}
      - at: 1h
        transfer: {amount: 1}
      - ts: "2026-11-20T12:00:00+08:00"
        transfer: {amount: 1}
      - after: -30s
        transfer: {amount: 1}
      - repeat: 3
        after: 2m
        transfer: {amount: 1}
      - ts: 2026-11-20T04:00:00Z
        transfer: {amount: 1}
"""
        )
    )
    base = 1795140000000  # 2026-11-20T10:00:00+08:00
    steps = tf.cases[0].steps
    assert [s.ts - base for s in steps] == [
        0,
        1000,
        61_000,
        3_600_000,
        7_200_000,
        7_170_000,
        7_290_000,
        7_410_000,
        7_530_000,
        7_200_000,
    ]
    assert [s.repeat for s in steps[6:9]] == [(1, 3), (2, 3), (3, 3)]


def test_defaults_merge(suite):
    tf = load_test_file(
        suite(
            HEAD
            + """\
cases:
  - name: merge
    defaults:
      transfer: {payee: P2}
    events:
      - transfer: {amount: 1}
      - transfer: {amount: 1, payee: P3}
"""
        )
    )
    assert [s.fields for s in tf.cases[0].steps] == [
        {"customer_id": "C1", "payee": "P2", "amount": 1},
        {"customer_id": "C1", "payee": "P3", "amount": 1},
    ]


def test_failing_case_report(suite):
    path = suite(FAILING)
    tf = load_test_file(path)
    result = run_case(tf.cases[0])
    assert result.status == "failed"
    assert result.failed_step.index == 2
    report = format_failure(result)
    shown = tf.shown
    assert (
        report
        == f"""\
event 3 of 4 ({shown}:12): transfer at 2026-11-20 09:02:00+08:00
  customer_id="C1" payee="P1" amount="100.00"
expected vs actual:
  action: expected alert, got hold
  fired: expected to fire, but stayed silent: black_payee
  features.n_5m: expected 2, got 3
decision: hold (hold timeout 24h)
  rapid  hold  T-H1  5分钟内多笔
      n_5m = 3
  scorecard risk: 40 (medium)
expected to fire but silent (values from the reference interpreter):
  black_payee  block  T-B1  黑名单收款人
      when payee in black
      payee = "P1"
timeline:
  #1 2026-11-20 09:00:00 transfer -> pass
  #2 2026-11-20 09:01:00 transfer -> pass
  #3 2026-11-20 09:02:00 transfer -> hold [rapid]  <- failed here
  (1 later event not run)"""
    )


def test_failure_messages(suite):
    tf = load_test_file(
        suite(
            HEAD
            + """\
cases:
  - name: rules and codes
    events:
      - transfer: {amount: 2000, payee: B1}
        expect:
          rules: [black_payee, rapid]
          silent: [black_payee]
          codes: [T-B1]
          scores: {risk: {score: 40, level: medium}}
          late: true
  - name: unexpected rejection
    events:
      - transfer: {amount: 1, customer_id: 12345}
  - name: error expected but accepted
    events:
      - transfer: {amount: 1}
        expect: {error: amount}
  - name: error on another field
    events:
      - transfer: {amount: 1, payee: null}
        expect: {error: amount}
  - name: feature not reported
    events:
      - transfer: {amount: 1}
        expect: {features: {n_5m: 1}}
  - name: expect_last
    events:
      - transfer: {amount: 1}
        expect: {action: pass}
    expect_last: {action: block}
"""
        )
    )
    results = {c.name: run_case(c) for c in tf.cases}
    assert all(r.status == "failed" for r in results.values())

    def lines(name):
        return [f"{m.key}: {m.message}" for m in results[name].mismatches]

    assert lines("rules and codes") == [
        "silent: expected to stay silent, but fired: black_payee (block)",
        "rules: expected exactly [black_payee, rapid], got [black_payee] (missing rapid)",
        "scores.risk.score: expected 40, got 30",
        "late: expected true, got false",
    ]
    # codes matched exactly: not reported
    assert lines("unexpected rejection") == [
        "event: rejected by the engine: event `transfer`: field `customer_id` must be a string, got int 12345 "
        "(YAML read the value as a number: quote it)",
    ]
    assert lines("error expected but accepted") == [
        "error: expected the event to be rejected (an EventError naming field `amount`), but it was accepted: pass",
    ]
    assert lines("error on another field")[0].startswith(
        "error: expected an EventError naming field `amount`, got one naming `payee`: "
    )
    assert lines("feature not reported") == ["features.n_5m: not reported by any matched rule (no rule matched)"]
    assert lines("expect_last") == ["action: expected block, got pass"]
    assert results["expect_last"].mismatches[0].source == "expect_last"
    assert "action (expect_last): expected block, got pass" in format_failure(results["expect_last"])
    assert "rejected (event `transfer`: field `customer_id`" in format_failure(results["unexpected rejection"])


def test_feature_values_compare_by_type(suite):
    tf = load_test_file(
        suite(
            HEAD
            + """\
cases:
  - name: decimals
    events:
      - transfer: {amount: "2000.50", payee: B1}
        expect: {features: {payee: B1}}
  - name: amounts
    params: {big: 1}
    events:
      - transfer: {amount: "2000.5"}
      - transfer: {amount: "2000.5"}
      - transfer: {amount: "2000.5"}
        expect: {features: {n_5m: 3.0, risk: 70}, scores: {risk: {score: "70.00"}}}
"""
        )
    )
    assert all(run_case(c).passed for c in tf.cases)


def test_each_case_runs_on_a_fresh_engine(suite):
    tf = load_test_file(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - repeat: 2
        transfer: {amount: 1}
  - name: two
    events:
      - transfer: {amount: 1}
        expect: {features: {}, scores: {risk: {score: 0}}}
      - transfer: {amount: 1}
      - transfer: {amount: 1}
        expect: {action: hold, features: {n_5m: 3}}
"""
        )
    )
    assert [run_case(c).status for c in tf.cases] == ["passed", "passed"]
    assert [run_case(c).status for c in reversed(tf.cases)] == ["passed", "passed"]


def test_skip_and_select(suite):
    tf = load_test_file(
        suite(
            HEAD
            + """\
cases:
  - name: later
    skip: waiting for the new list
    tags: [fraud]
    events:
      - transfer: {amount: 1}
        expect: {action: block}
  - name: now
    tags: [normal]
    events:
      - transfer: {amount: 1}
"""
        )
    )
    assert run_case(tf.cases[0]).status == "skipped"
    assert [c.name for c in tf.cases if c.matches("FRAUD")] == ["later"]
    assert [c.name for c in tf.cases if c.matches("mini.test.yaml::no")] == ["now"]


# ---------------------------------------------------------------- bad test files


def test_yaml_syntax_error(suite):
    text = _problems(suite("ruleset: ../mini.rdsl\ncases: [\n  - name: x\n"))
    assert re.match(r"F:\d+:\d+: YAML syntax error: ", text), text


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty test file: expected a mapping with `ruleset` and `cases`"),
        ("- 1\n", "a test file is a mapping with `ruleset` and `cases`"),
        ("cases: []\n", "missing required key `ruleset`"),
    ],
)
def test_not_a_test_file(suite, text, message):
    assert message in _problems(suite(text))


def test_unknown_keys(suite):
    text = _problems(
        suite(
            HEAD
            + """\
rulset: x
cases:
  - name: one
    tag: [fraud]
    events:
      - transfer: {amount: 1}
"""
        )
    )
    assert text.endswith(
        "F:5:1: rulset: unknown key `rulset`; did you mean `ruleset`? (allowed: ruleset, cases, "
        "description, timezone, start, params, lists, defaults)"
    ), text
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    tag: [fraud]
    events:
      - transfer: {amount: 1}
"""
        )
    )
    assert text.endswith(
        'F:7:5: cases[0].tag (case "one"): unknown key `tag`; did you mean `tags`? '
        "(allowed: name, events, tags, description, skip, start, params, lists, defaults, "
        "expect_each, expect_last)"
    ), text
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - transfer: {amount: 1}
        expect:
          fird: [rapid]
"""
        )
    )
    assert 'F:10:11: cases[0].events[0].expect.fird (case "one"): unknown key `fird`; did you mean `fired`?' in text
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - transfer: {amount: 1}
        expect: {scores: {risk: {lvl: high}}}
"""
        )
    )
    assert (
        'F:9:34: cases[0].events[0].expect.scores.risk.lvl (case "one"): unknown key `lvl`; '
        "did you mean `level`? (allowed: score, level)" in text
    )


def test_bad_values(suite):
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - transfer: {amount: 1}
        expect: {action: blok, late: maybe}
"""
        )
    )
    assert (
        "F:9:26: cases[0].events[0].expect.action (case \"one\"): invalid value 'blok': "
        "expected one of block, hold, step_up, alert, pass" in text
    )
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: 7
    events: {}
"""
        )
    )
    assert "cases[0].name: expected a string, got an integer" in text


def test_bad_durations(suite):
    text = _problems(
        suite(
            HEAD.replace('"2026-11-20T09:00:00+08:00"', "yesterday")
            + """\
cases:
  - name: one
    events:
      - after: 5
        transfer: {amount: 1}
      - at: 1x
        transfer: {amount: 1}
      - ts: "20/11/2026"
        transfer: {amount: 1}
      - repeat: 0
        transfer: {amount: 1}
      - repeat: 2
        at: 1m
        after: 1m
        transfer: {amount: 1}
"""
        )
    )
    assert text.splitlines() == [
        "F:2:8: start: bad start time 'yesterday': write ISO 8601, e.g. \"2026-11-20T09:00:00+08:00\"",
        'F:8:16: cases[0].events[0].after (case "one"): `after`: a duration is written with a unit, like `10s` '
        "or `5m`, not 5",
        "F:10:13: cases[0].events[1].at (case \"one\"): `at`: bad duration '1x': write a number and a unit "
        "(ms, s, m, h, d, w), e.g. `500ms`, `10s`, `1h30m`",
        "F:12:13: cases[0].events[2].ts (case \"one\"): bad timestamp '20/11/2026': write ISO 8601 "
        '(e.g. "2026-11-20T09:00:00+08:00") or epoch milliseconds',
        'F:14:17: cases[0].events[3].repeat (case "one"): `repeat` is a whole number from 1 to 10000, not 0',
        'F:16:9: cases[0].events[4].repeat (case "one"): a repeated step is spaced by `after` (default 1s): '
        "it cannot have `at`",
        'F:18:9: cases[0].events[4].after (case "one"): give at most one of at, after, ts (this step has at, after)',
    ]


def test_unknown_event_type_and_fields(suite):
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    defaults:
      logn: {customer_id: C1}
    events:
      - transfr: {amount: 1}
      - transfer: {amount: 1, ammount: 2, ts: 5}
      - transfer: {amount: 1}
        login: {customer_id: C1, new_device: false}
      - after: 1s
      - transfer: 5
"""
        )
    )
    assert text.splitlines() == [
        'F:8:7: cases[0].defaults.logn (case "one"): unknown event type `logn`; did you mean `login`? '
        "(this ruleset has: transfer, login)",
        'F:10:9: cases[0].events[0].transfr (case "one"): unknown event type `transfr`; did you mean `transfer`? '
        "(this ruleset has: transfer, login)",
        'F:11:31: cases[0].events[1].transfer.ammount (case "one"): `transfer` events have no field `ammount`; '
        "did you mean `amount`?",
        'F:11:43: cases[0].events[1].transfer.ts (case "one"): `ts` is not written in the event: give the time '
        "with `at`, `after` or `ts` on the step",
        'F:12:9: cases[0].events[2] (case "one"): a step is one event; this one has 2 event types: transfer, login',
        'F:14:9: cases[0].events[3] (case "one"): a step needs an event type key (one of: transfer, login) '
        "besides at/after/ts/repeat/expect",
        'F:15:19: cases[0].events[4].transfer (case "one"): the fields of a `transfer` event must be a mapping, '
        "not the integer 5",
    ]


def test_unknown_rules_features_and_codes(suite):
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - transfer: {amount: 1}
        expect:
          fired: [rapid, rapidd]
          silent: [new_device_login, black]
          rules: [nope]
          features: {n_5min: 1, new_device: true, amount: abc}
          scores: {risc: {score: 1}}
          codes: [T-H2]
"""
        )
    )
    assert text.splitlines() == [
        'F:10:26: cases[0].events[0].expect.fired[1] (case "one"): unknown rule `rapidd`; did you mean `rapid`?',
        'F:11:20: cases[0].events[0].expect.silent[0] (case "one"): rule `new_device_login` does not apply to '
        "`transfer` events (it is on login), so it can never stay silent here",
        'F:11:38: cases[0].events[0].expect.silent[1] (case "one"): unknown rule `black`; did you mean `black_payee`?',
        'F:12:19: cases[0].events[0].expect.rules[0] (case "one"): unknown rule `nope`',
        'F:13:22: cases[0].events[0].expect.features.n_5min (case "one"): `n_5min` is not a feature of `transfer` '
        "events: features are the event's fields, windows, sequences, parameters and scorecards; did you mean `n_5m`?",
        'F:13:33: cases[0].events[0].expect.features.new_device (case "one"): `new_device` is not a feature of '
        "`transfer` events: features are the event's fields, windows, sequences, parameters and scorecards "
        "(it is a field of login)",
        'F:13:59: cases[0].events[0].expect.features.amount (case "one"): bad expected value for `amount` '
        "(decimal): 'abc' is not a number",
        'F:14:20: cases[0].events[0].expect.scores.risc (case "one"): unknown scorecard `risc`; did you mean `risk`?',
        'F:15:19: cases[0].events[0].expect.codes[0] (case "one"): no rule has the reason code `T-H2`; '
        "did you mean `T-H1`?",
    ]


def test_error_expectations(suite):
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - transfer: {amount: x}
        expect: {error: amout}
      - transfer: {amount: x}
        expect: {error: amount, action: pass}
"""
        )
    )
    assert text.splitlines() == [
        'F:9:25: cases[0].events[0].expect.error (case "one"): `transfer` events have no field `amout`; '
        "did you mean `amount`?",
        'F:11:18: cases[0].events[1].expect.error (case "one"): `error` expects the event to be rejected: '
        "it cannot be combined with action",
    ]


def test_settings_problems(suite):
    text = _problems(
        suite(
            HEAD
            + """\
timezone: Mars/Olympus
params: {bigg: 5, big: lots}
lists: {blak: [], black: [1]}
cases:
  - name: one
    events:
      - transfer: {amount: 1}
  - name: one
    events: []
  - name: three
    expect_each: {fired: [new_device_login]}
    events:
      - transfer: {amount: 1}
"""
        )
    )
    assert text.splitlines() == [
        "F:5:11: timezone: unknown time zone 'Mars/Olympus' (use an IANA name like Asia/Shanghai)",
        "F:6:10: params.bigg: unknown parameter `bigg`; did you mean `big`?",
        "F:6:24: params.big: bad value for decimal parameter `big`: not a number: 'lots'",
        "F:7:9: lists.blak: unknown list `blak`; did you mean `black`?",
        "F:7:26: lists.black: bad entry for list `black`: list entry 0 (1): expected a string, got int "
        '(YAML read it as a number: quote it, e.g. "6222000000001001")',
        "F:12:11: cases[1].name (case \"one\"): case name 'one' is already used by cases[0]",
        'F:13:13: cases[1].events (case "one"): a case needs at least one event',
        'F:15:27: cases[2].expect_each.fired[0] (case "three"): rule `new_device_login` does not apply to '
        "`transfer` events (it is on login), so it can never fire here",
    ]


def test_duplicate_keys(suite):
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - transfer: {amount: 1}
        expect: {action: pass}
        expect: {action: block}
"""
        )
    )
    assert text == 'F:10:9: cases[0].events[0].expect (case "one"): `expect` is written twice in this mapping'


def test_ruleset_problems(suite, tmp_path):
    text = _problems(suite("ruleset: ../nowhere.rdsl\ncases: []\n"))
    assert text.startswith("F:1:10: ruleset: ruleset `") and "nowhere.rdsl` does not load:" in text
    assert "RD006" in text
    (tmp_path / "broken.rdsl").write_text("ruleset broken {}\nrule r { on transfer when x action block }\n")
    text = _problems(suite("ruleset: ../broken.rdsl\ncases: []\n"))
    assert "broken.rdsl` does not load:" in text and "error" in text


def test_io_problems(tmp_path):
    with pytest.raises(RuleTestError, match="cannot read the test file: No such file or directory"):
        load_test_file(tmp_path / "missing.test.yaml")
    bad = tmp_path / "bad.test.yaml"
    bad.write_bytes(b"ruleset: \xff\n")
    with pytest.raises(RuleTestError, match="not valid UTF-8"):
        load_test_file(bad)


def test_find_test_files(tmp_path):
    (tmp_path / "a" / "tests").mkdir(parents=True)
    for name in ("a/tests/x.test.yaml", "a/tests/y.test.yaml", "a/tests/notes.yaml", "a/x.rdsl"):
        (tmp_path / name).write_text("")
    found = find_test_files([tmp_path, tmp_path / "a" / "tests" / "x.test.yaml", tmp_path / "a" / "x.rdsl"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/tests/x.test.yaml", "a/tests/y.test.yaml"]


# ---------------------------------------------------------------- coverage


def test_coverage(suite):
    tf = load_test_file(
        suite(
            HEAD
            + """\
cases:
  - name: quiet day
    events:
      - transfer: {amount: 1}
      - login: {customer_id: C1, new_device: false}
  - name: rapid
    events:
      - repeat: 3
        transfer: {amount: 1}
  - name: failing still counts what ran
    events:
      - transfer: {amount: 1, payee: B1}
      - transfer: {amount: 1}
        expect: {action: block}
      - login: {customer_id: C1, new_device: true}
  - name: skipped counts nothing
    skip: later
    events:
      - login: {customer_id: C1, new_device: true}
"""
        )
    )
    cov = Coverage()
    results = [run_case(c) for c in tf.cases]
    assert [r.status for r in results] == ["passed", "passed", "failed", "skipped"]
    for r in results:
        cov.add(r)
    shown = tf.ruleset.shown
    table = cov.rulesets[shown]
    assert {r: (c.fired_cases, c.silent_cases) for r, c in table.items()} == {
        "black_payee": (1, 3),
        "rapid": (1, 3),
        "risky": (0, 3),
        "new_device_login": (0, 1),
    }
    assert (table["rapid"].fired_events, table["rapid"].silent_events) == (1, 5)
    assert cov.never_fired(shown) == ["risky", "new_device_login"]
    assert cov.never_silent(shown) == []
    assert not cov.complete
    report = cov.format()
    assert f"coverage: {shown} (4 rules, 3 cases run)" in report
    assert "  risky                 0       3  <- never fired" in report, report
    assert "  never fired: risky, new_device_login" in report
    assert "  2/4 rules covered (50%)" in report
    data = cov.to_dict()[shown]
    assert data["never_fired"] == ["risky", "new_device_login"] and data["covered"] == 2 and data["total"] == 4


# ---------------------------------------------------------------- the command line


def _cli(*args):
    result = CliRunner().invoke(app, ["test", *map(str, args)])
    return result.exit_code, result.output


def test_cli_pass(suite):
    path = suite(PASSING)
    code, out = _cli(path)
    assert code == 0, out
    assert out.splitlines()[-1] == "5 passed, 0 failed"
    assert re.search(r"mini\.test\.yaml \.\.\.\.\.$", out, re.M)


def test_cli_failures(suite):
    suite(PASSING)
    suite(FAILING, "failing.test.yaml")
    path = suite(FAILING, "failing.test.yaml").parent
    code, out = _cli(path)
    assert code == 1, out
    lines = out.splitlines()
    assert lines[-1] == "5 passed, 1 failed"
    assert re.search(r"failing\.test\.yaml F$", out, re.M)
    assert "=" * 35 + " FAILURES " + "=" * 35 in out
    assert "::期望告警却被挂起 _" in out
    assert "  action: expected alert, got hold" in out


def test_cli_select_and_skip(suite):
    path = suite(PASSING)
    code, out = _cli(path, "-k", "fraud")
    assert code == 0 and out.splitlines()[-1] == "2 passed, 0 failed, 3 deselected", out
    code, out = _cli(path, "-k", "no such case")
    assert code == 2
    assert "no case selected by -k 'no such case'" in out


def test_cli_invalid_file_is_exit_2(suite):
    suite(PASSING)
    suite(HEAD + "cases:\n  - name: x\n    events: [{transfr: {}}]\n", "bad.test.yaml")
    code, out = _cli(suite(PASSING).parent)
    assert code == 2, out
    assert re.search(r"bad\.test\.yaml E$", out, re.M)
    assert "ERRORS" in out and "unknown event type `transfr`" in out
    assert out.splitlines()[-1] == "5 passed, 0 failed, 1 error"


def test_cli_usage_errors(tmp_path):
    code, out = _cli(tmp_path / "nowhere")
    assert code == 2 and "path not found" in out
    code, out = _cli(tmp_path)
    assert code == 2 and "no *.test.yaml files found in directory" in out
    (tmp_path / "x.rdsl").write_text("")
    code, out = _cli(tmp_path / "x.rdsl")
    assert code == 2 and "no test file for ruleset" in out
    code, out = _cli()
    assert code == 2


def test_cli_coverage(suite):
    path = suite(PASSING)
    code, out = _cli(path, "--coverage")
    assert code == 0, out
    assert " coverage " in out and "never fired: (none)" in out and "never silent: (none)" in out
    assert "4/4 rules covered (100%)" in out
    only = suite(HEAD + "cases:\n  - name: x\n    events: [{transfer: {amount: 1}}]\n", "one.test.yaml")
    code, out = _cli(only, "--coverage")
    assert code == 0 and "never fired: black_payee, rapid, risky, new_device_login" in out
    code, out = _cli(only, "--fail-under-coverage")
    assert code == 1 and "0/4 rules covered (0%)" in out


def test_cli_json(suite):
    suite(PASSING)
    path = suite(FAILING, "failing.test.yaml")
    code, out = _cli(path.parent, "--format", "json", "--coverage")
    assert code == 1
    doc = json.loads(out)
    assert doc["summary"] == {"passed": 5, "failed": 1, "skipped": 0, "deselected": 0, "errors": 0}
    failed = [c for c in doc["cases"] if c["status"] == "failed"]
    assert len(failed) == 1
    failure = failed[0]["failure"]
    assert failure["step"] == 3 and failure["event"]["amount"] == "100.00"
    assert failure["mismatches"][0] == {"key": "action", "message": "expected alert, got hold", "source": "expect"}
    assert failure["decision"]["action"] == "hold"
    assert failure["decision"]["rules"][0]["features"] == {"n_5m": 3}
    assert next(iter(doc["coverage"].values()))["total"] == 4


def test_cli_echannel_full_coverage():
    code, out = _cli(ROOT / "rulesets" / "tests" / "echannel_monitoring.test.yaml", "--fail-under-coverage")
    assert code == 0, out
    assert re.search(r"\n  (\d+)/\1 rules covered \(100%\)\n", out), out


def test_docs_example(tmp_path):
    """The complete example in docs/testing.md is a valid, passing test file."""
    doc = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", doc, re.S).group(1)
    ruleset = (ROOT / "rulesets" / "echannel_monitoring.rdsl").as_posix()
    path = tmp_path / "example.test.yaml"
    path.write_text(block.replace("../echannel_monitoring.rdsl", ruleset), encoding="utf-8")
    tf = load_test_file(path)
    results = [run_case(c) for c in tf.cases]
    assert [r.status for r in results] == ["passed"] * len(results), "\n".join(map(format_failure, results))


# ---------------------------------------------------------------- the pytest plugin


def _entry_point_active() -> bool:
    eps = importlib.metadata.entry_points(group="pytest11")
    return any(ep.name == "ruledsl" for ep in eps) and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")


@pytest.fixture
def plugin_args():
    """How to activate the plugin in a pytester run: the entry point if installed, else ``-p``."""
    return [] if _entry_point_active() else ["-p", "ruledsl.ruletest.pytest_plugin"]


def _pytester_suite(pytester, *files):
    pytester.path.joinpath("mini.rdsl").write_text(MINI, encoding="utf-8")
    tests = pytester.path / "tests"
    tests.mkdir()
    for name, text in files:
        (tests / name).write_text(text, encoding="utf-8")


def test_pytest_collects_cases(pytester, plugin_args):
    _pytester_suite(pytester, ("mini.test.yaml", PASSING), ("failing.test.yaml", FAILING))
    result = pytester.runpytest("-p", "no:cacheprovider", *plugin_args)
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ 期望告警却被挂起 _*",
            "event 3 of 4 (*failing.test.yaml:12): transfer at 2026-11-20 09:02:00+08:00",
            "  action: expected alert, got hold",
            "*rapid  hold  T-H1  5分钟内多笔",
            "      n_5m = 3",
            "FAILED tests/failing.test.yaml::期望告警却被挂起 - event 3: action: expected*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_pytest_select_by_tag_and_skip(pytester, plugin_args):
    _pytester_suite(
        pytester,
        (
            "mini.test.yaml",
            PASSING
            + """\
  - name: later
    skip: waiting for the list
    events:
      - transfer: {amount: 1}
""",
        ),
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "fraud", *plugin_args)
    result.assert_outcomes(passed=2, deselected=4)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs", *plugin_args)
    result.assert_outcomes(passed=5, skipped=1)
    result.stdout.fnmatch_lines(["*waiting for the list*"])


def test_pytest_invalid_file_is_a_collection_error(pytester, plugin_args):
    _pytester_suite(pytester, ("bad.test.yaml", HEAD + "cases:\n  - name: x\n    events: [{transfr: {}}]\n"))
    result = pytester.runpytest("-p", "no:cacheprovider", *plugin_args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*invalid rule test file:*",
            '*bad.test.yaml:7:15: cases?0?.events?0?.transfr (case "x"): unknown event type `transfr`*',
        ]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("autoload", [True, False])
def test_pytest_in_checkout(autoload):
    """From the repository root, plain pytest collects rulesets/tests: by the entry point or by conftest.py."""
    env = dict(os.environ)
    env["RULEDSL_NO_EXTENSIONS"] = env.get("RULEDSL_NO_EXTENSIONS", "")
    env.pop("PYTEST_ADDOPTS", None)
    if autoload:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--co",
            "rulesets/tests/echannel_monitoring.test.yaml",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rulesets/tests/echannel_monitoring.test.yaml::上班族的普通一天" in proc.stdout
    assert re.search(r"^\d+ tests collected", proc.stdout, re.M), proc.stdout


def test_misspelt_step_key(suite):
    text = _problems(
        suite(
            HEAD
            + """\
cases:
  - name: one
    events:
      - transfer: {amount: 1}
        expct: {action: pass}
"""
        )
    )
    assert text == (
        'F:9:9: cases[0].events[0].expct (case "one"): unknown key `expct`; did you mean `expect`? '
        "(a step has one event type key and at/after/ts/repeat/expect)"
    )


def test_engine_crash_fails_the_case(suite, monkeypatch):
    tf = load_test_file(suite(PASSING))
    rs = tf.ruleset
    real = rs.engine

    def broken_engine(**kwargs):
        engine = real(**kwargs)

        def evaluate(event):
            raise ZeroDivisionError("boom")

        engine.evaluate = evaluate
        return engine

    monkeypatch.setattr(rs, "engine", broken_engine)
    result = run_case(tf.cases[0])
    assert result.status == "failed"
    assert [f"{m.key}: {m.message}" for m in result.mismatches] == [
        "engine: internal error: ZeroDivisionError: boom (a bug in ruledsl, not in the test: please report it)"
    ]
    assert "#1 2026-11-20 09:00:00 transfer -> internal error (ZeroDivisionError)  <- failed here" in format_failure(
        result
    )
