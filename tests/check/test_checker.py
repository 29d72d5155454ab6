"""Checker tests: table-driven cases, clean rulesets, side tables, golden files.

Each case is a snippet appended to a shared schema prelude and the exact
list of diagnostics it must give, as ``(code, line, col, text)`` with the
line counted from the first line of the snippet and ``text`` a substring of
the message or help.

Golden files (``tests/check/golden/RDxxx.rdsl`` -> ``RDxxx.txt``) pin the full
rendered output.  Regenerate them after an intended change with::

    RULEDSL_UPDATE_GOLDEN=1 pytest tests/check/test_checker.py
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from ruledsl.check.checker import CheckResult, check
from ruledsl.check.types import BUILTINS, DECIMAL, INT, LEVEL, STRING, Type
from ruledsl.syntax import nodes as n
from ruledsl.syntax.codes import CODES
from ruledsl.syntax.diagnostics import render
from ruledsl.syntax.loader import load_program, load_text

GOLDEN = Path(__file__).parent / "golden"

PRELUDE = """\
event transfer {
    customer: string
    account: string
    payee: string
    amount: decimal
    city: string?
    channel: enum("atm", "pos", "web", "mobile")
    device: string?
    rate: float
}
event login {
    customer: string
    device: string
    city: string?
    ip: string
}
"""
OFFSET = PRELUDE.count("\n")


def lint(snippet: str) -> CheckResult:
    """Check a snippet followed by the prelude (declarations may come in any order)."""
    return check(load_text(textwrap.dedent(snippet).lstrip("\n").rstrip("\n") + "\n" + PRELUDE, "case.rdsl"))


def found(result: CheckResult) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.col) for d in result.diagnostics]


def R(body: str, on: str = "transfer", action: str = "block") -> str:
    """A one-line rule with the given condition."""
    return f'rule r {{ on {on} when {body} action {action} reason "x" }}'


# (id, snippet, [(code, line, col, text in message or help)])
CASES = [
    # ---- RD0xx (from the parser, reported through check())
    ("RD001", 'rule r { when amount > > 1 action block reason "x" }', [("RD001", 1, 24, "unexpected `>`")]),
    ("RD003", 'rule r { on transfer when amount > 1; action block reason "x" }', [("RD003", 1, 37, ";")]),
    ("RD004", 'rule r { on transfer when city == "a\\q" action block reason "x" }', [("RD004", 1, 35, "escape")]),
    ("RD005", R("-" * 120 + "amount > 1"), [("RD005", 1, 46, "nested")]),
    # ---- RD1xx names
    ("RD101", R("amount > limt"), [("RD101", 1, 36, "unknown name `limt`")]),
    ("RD101-event", R("login"), [("RD101", 1, 27, "is an event type")]),
    (
        "RD101-const",
        'const a = b + 1\nrule r { on transfer when amount > a action block reason "x" }',
        [("RD101", 1, 11, "unknown name `b`")],
    ),
    ("RD102", R("amount > 1", on="tranfser"), [("RD102", 1, 13, "did you mean `transfer`")]),
    (
        "RD102-window",
        "window w = count() of logon by customer over 1h\n" + R("w > 1", on="login"),
        [("RD102", 1, 23, "unknown event type `logon`")],
    ),
    ("RD103", R("amout > 1"), [("RD103", 1, 27, "`amout` is not a field of `transfer`")]),
    ("RD103-other-event", R('ip == "1.2.3.4"'), [("RD103", 1, 27, "`ip` is a field of `login`")]),
    (
        "RD103-some",
        R("amount > 1", on="transfer, login"),
        [("RD103", 1, 34, "not a field of every event type this rule applies to: missing in `login`")],
    ),
    ("RD103-any", R('ip == "x"', on="any"), [("RD103", 1, 22, "missing in `transfer`")]),
    (
        "RD103-window-key",
        "window w = count() of transfer, login by ip over 1h\n" + R("w > 1", on="login"),
        [("RD103", 1, 42, "missing in `transfer`")],
    ),
    (
        "RD103-seq-step",
        "sequence s by customer within 1h { step login where amount > 1 step transfer }\n" + R("s", on="transfer"),
        [("RD103", 1, 53, "`amount` is not a field of `login`")],
    ),
    (
        "RD104",
        "const limit = 1\nparam limit: int = 2\n" + R("amount > limit"),
        [("RD104", 2, 7, "first defined as a constant at case.rdsl:1")],
    ),
    ("RD104-event", "event login { x: int }", [("RD104", 12, 7, "first defined as an event type at case.rdsl:1")]),
    (
        "RD104-window",
        "window transfer_count = count() of transfer by customer over 1h\n"
        'list transfer_count: string = ["a"]\n' + R("transfer_count > 1"),
        [("RD104", 2, 6, "first defined as a window")],
    ),
    ("RD105", R("amount > 1") + "\n" + R("amount > 2"), [("RD105", 2, 6, "rule `r` is defined more than once")]),
    ("RD106", R("hours(ts) > 1"), [("RD106", 1, 27, "did you mean `hour`")]),
    ("RD106-aggregate", R("sum(amount) > 1"), [("RD106", 1, 27, "declare a window")]),
    ("RD107", "event x { a: money }", [("RD107", 1, 14, "did you mean `decimal`")]),
    ("RD107-param", "param p: integer = 1\n" + R("amount > p"), [("RD107", 1, 10, "did you mean `int`")]),
    ("RD107-list", "list l: timestamp = []\n" + R("payee in l"), [("RD107", 1, 9, "a list cannot hold")]),
    ("RD108", R("amount > 1", action="deny"), [("RD108", 1, 45, "unknown action `deny`")]),
    ("RD108-suggest", R("amount > 1", action="stepup"), [("RD108", 1, 45, "did you mean `step_up`")]),
    (
        "RD109",
        "window w = total(amount) of transfer by customer over 1h\n" + R("w > 1"),
        [("RD109", 1, 12, "unknown aggregate `total`")],
    ),
    (
        "RD110",
        'param device: string = "x"\n' + R('device == "y"', on="login"),
        [("RD110", 2, 24, "`device` is both a field of `transfer`, `login` and a parameter")],
    ),
    (
        "RD111",
        'scorecard s { on transfer item "a" when amount > 1 score 10 level severe >= 5 }\n' + R("s > 1"),
        [("RD111", 1, 67, "unknown scorecard level `severe`")],
    ),
    ("RD112-reason", "rule r { on transfer when amount > 1 action block }", [("RD112", 1, 6, "no `reason`")]),
    (
        "RD112-all",
        "rule r { on transfer }",
        [("RD112", 1, 6, "no `when`"), ("RD112", 1, 6, "no `action`"), ("RD112", 1, 6, "no `reason`")],
    ),
    (
        "RD113",
        'rule r { on transfer when amount > 1 action block reason "x" when amount > 2 }',
        [("RD113", 1, 62, "`when` is written more than once in `r`")],
    ),
    (
        "RD113-action",
        'rule r { on transfer when amount > 1 action block action alert reason "x" }',
        [("RD113", 1, 51, "`action` is written more than once")],
    ),
    (
        "RD113-level",
        'scorecard s { on transfer item "a" when amount > 1 score 10 level high >= 5 level high >= 3 }\n' + R("s > 1"),
        [("RD113", 1, 83, "level `high` is written more than once")],
    ),
    (
        "RD113-scorecard-on",
        'scorecard s { on transfer on login item "a" when true score 1 }\n' + R("s > 1"),
        [("RD113", 1, 27, "`on` is written more than once")],
    ),
    (
        "RD114",
        'list l: string = file("no/such/file.txt")\n' + R("payee in l"),
        [("RD114", 1, 23, "cannot read list file `no/such/file.txt`")],
    ),
    ("RD115-dup", 'ruleset a { version "1" }\nruleset b { version "2" }', [("RD115", 2, 1, "declared more than once")]),
    ("RD115-item", 'ruleset a { version "1" version "2" }', [("RD115", 1, 25, "`version` is written more than once")]),
    (
        "RD115-misplaced",
        'const a = 1\nruleset x { version "1" }\n' + R("amount > a"),
        [("RD115", 2, 1, "must be the first declaration")],
    ),
    ("RD116", "event x { a: int  a: string }", [("RD116", 1, 19, "field `a` is declared more than once in `x`")]),
    ("RD117", "event x { ts: string }", [("RD117", 1, 15, "`ts` in `x` is declared as `string`")]),
    ("RD117-optional", "event x { ts: timestamp? }", [("RD117", 1, 15, "timestamp?")]),
    ("RD119", "exempt by customer, custmer", [("RD119", 1, 21, "did you mean `customer`?")]),
    ("RD119-none", "exempt by zzz", [("RD119", 1, 11, "not a field of any event type")]),
    (
        "RD120",
        "exempt by customer, account\nexempt by account",
        [("RD120", 2, 11, "already named at case.rdsl:1")],
    ),
    # ---- RD2xx types
    ("RD201", R("city == 100"), [("RD201", 1, 27, "cannot compare `string` with `int`")]),
    (
        "RD201-in",
        "list bins: int = [1, 2]\n" + R("payee in bins"),
        [("RD201", 2, 27, "cannot look up `string` in a list of `int`")],
    ),
    ("RD201-duration", R("ts - ts > 5"), [("RD201", 1, 27, "cannot compare `duration` with `int`")]),
    ("RD202", R('payee + "x" == "y"'), [("RD202", 1, 27, "texts cannot be added")]),
    ("RD202-and", R("amount and true"), [("RD202", 1, 27, "`and` cannot be applied to `decimal` and `bool`")]),
    ("RD202-order", R('payee < "m"'), [("RD202", 1, 27, "`<` cannot be applied to `string`")]),
    ("RD202-in", R('payee in "abc"'), [("RD202", 1, 36, "contains(text, part)")]),
    ("RD202-mod-float", R("rate % 2 > 1"), [("RD202", 1, 27, "`%` works on whole numbers")]),
    ("RD202-not", R("not amount"), [("RD202", 1, 27, "`not` cannot be applied to `decimal`")]),
    ("RD202-neg", R('-payee == "x"'), [("RD202", 1, 27, "`-` cannot be applied to `string`")]),
    ("RD202-time", R("ts + ts > ts"), [("RD202", 1, 27, "`timestamp - timestamp` is a duration")]),
    ("RD202-list", 'list l: string = ["a"]\n' + R('l == "a"'), [("RD201", 2, 27, "list of string")]),
    ("RD203", R("amount"), [("RD203", 1, 27, "the condition of a rule must be true/false, not `decimal`")]),
    (
        "RD203-where",
        "window w = count() of transfer where amount by customer over 1h\n" + R("w > 1"),
        [("RD203", 1, 38, "a `where` condition must be true/false")],
    ),
    (
        "RD203-item",
        'scorecard s { on transfer item "a" when 1 score 10 }\n' + R("s > 1"),
        [("RD203", 1, 41, "an item condition must be true/false")],
    ),
    ("RD204", R("between_hours(ts, 22) "), [("RD204", 1, 27, "`between_hours` takes 3 arguments, not 2")]),
    ("RD204-none", R("hour() > 1"), [("RD204", 1, 27, "`hour` takes 1 argument, not 0")]),
    ("RD205", R("hour(amount) > 1"), [("RD205", 1, 32, "argument 1 of `hour` must be a timestamp")]),
    ("RD205-level", R('level(amount) == "high"'), [("RD205", 1, 33, "must be the name of a scorecard")]),
    ("RD205-hours", R("between_hours(ts, 22, 25)"), [("RD205", 1, 49, "hour `25` is out of range")]),
    ("RD205-len", R("len(amount) > 1"), [("RD205", 1, 31, "must be a text or a list")]),
    ("RD206", R('matches(payee, "(62")'), [("RD206", 1, 42, "invalid regular expression: missing )")]),
    ("RD206-backref", R('matches(payee, "(a)\\\\1")'), [("RD206", 1, 42, "invalid escape sequence")]),
    (
        "RD207",
        'param limit: int = "100"\n' + R("amount > limit"),
        [("RD207", 1, 20, "the default of `limit` is `string` but the parameter is `int`")],
    ),
    ("RD207-decimal-for-int", "param limit: int = 1.5\n" + R("amount > limit"), [("RD207", 1, 20, "`decimal`")]),
    (
        "RD207-score",
        'scorecard s { on transfer item "a" when amount > 1 score "ten" }\n' + R("s > 1"),
        [("RD207", 1, 58, "a score must be a number")],
    ),
    (
        "RD207-threshold",
        'scorecard s { on transfer item "a" when amount > 1 score 1 level high >= true }\n' + R("s > 1"),
        [("RD207", 1, 74, "a level threshold must be a number")],
    ),
    ("RD207-const-list", "const l = [1, 2]\n" + R("amount in l"), [("RD207", 1, 11, "use `list` for a set")]),
    (
        "RD207-param-timestamp",
        "param p: timestamp = 1\n" + R("ts > p"),
        [("RD207", 1, 10, "parameter `p` cannot have type `timestamp`")],
    ),
    (
        "RD208",
        'list bins: int = [622848, "6228"]\n' + R("amount in bins"),
        [("RD208", 1, 27, "list entry is `string` but the list holds `int`")],
    ),
    ("RD208-literal", R('channel in ["atm", 2]'), [("RD208", 1, 46, "the first entry is `string`")]),
    (
        "RD209-param",
        "param limit: int = 5\nconst double = limit * 2\n" + R("amount > double"),
        [("RD209", 2, 16, "but `limit` is a parameter")],
    ),
    ("RD209-field", "const c = amount\n" + R("amount > c"), [("RD209", 1, 11, "but `amount` is a field")]),
    (
        "RD209-list-item",
        "const a = 1\nparam p: int = 2\nlist l: int = [a, p]\n" + R("amount in l"),
        [("RD209", 3, 19, "a list entry must be constant, but `p` is a parameter")],
    ),
    (
        "RD209-score",
        'param p: int = 2\nscorecard s { on transfer item "a" when amount > 1 score p }\n' + R("s > 1"),
        [("RD209", 2, 58, "a score must be constant")],
    ),
    (
        "RD209-cycle",
        "const a = b + 1\nconst b = a + 1\n" + R("amount > a"),
        [("RD209", 1, 7, "`a` is defined in terms of itself"), ("RD209", 2, 7, "`b` is defined in terms of itself")],
    ),
    ("RD209-pattern", R("matches(payee, payee)"), [("RD209", 1, 42, "must be a string literal")]),
    ("RD209-call", "const c = hour(5)\n" + R("amount > c"), [("RD205", 1, 16, "must be a timestamp")]),
    ("RD210", R('channel == "ATM"'), [("RD210", 1, 38, "did you mean `atm`")]),
    ("RD210-left", R('"cash" != channel'), [("RD210", 1, 27, "is not a value of `enum(")]),
    ("RD210-in", R('channel in ["atm", "branch"]'), [("RD210", 1, 46, '`"branch"` is not a value')]),
    (
        "RD210-level",
        'scorecard s { on transfer item "a" when amount > 1 score 10 }\n' + R('level(s) == "hi"'),
        [("RD210", 2, 39, "did you mean `high`")],
    ),
    (
        "RD210-list",
        'list ch: enum("atm", "pos") = ["atm", "bank"]\n' + R("channel in ch"),
        [("RD210", 1, 39, '`"bank"` is not a value')],
    ),
    ("RD211", R("amount / 0 > 1"), [("RD211", 1, 36, "division by zero")]),
    ("RD211-const", "const zero = 0\nconst c = 10 % zero\n" + R("amount > c"), [("RD211", 2, 16, "division by zero")]),
    ("RD212", R("amount > 0.00001"), [("RD212", 1, 36, "more than 4 digits")]),
    ("RD213", R("amount > 99999999999999999999"), [("RD213", 1, 36, "out of range")]),
    ("RD214", "exempt by customer, amount", [("RD214", 1, 21, "`amount` is `decimal` in `transfer`")]),
    ("RD214-ts", "exempt by ts", [("RD214", 1, 11, "`timestamp`")]),
    ("RD213-folded", "const big = 9000000000000000000 * 10\n" + R("amount > big"), [("RD213", 1, 13, "out of range")]),
    # ---- RD3xx windows, sequences
    (
        "RD301",
        "window w = count() of login by customer over 0s\n" + R("w > 1", on="login"),
        [("RD301", 1, 46, "window span `0s` is zero")],
    ),
    (
        "RD301-long",
        "window w = count() of login by customer over 401d\n" + R("w > 1", on="login"),
        [("RD301", 1, 46, "longer than 400 days")],
    ),
    (
        "RD301-sequence",
        "sequence s by customer within 0m { step login step transfer }\n" + R("s"),
        [("RD301", 1, 31, "sequence span `0m` is zero")],
    ),
    (
        "RD302",
        "window w = count() of transfer by amount over 1h\n" + R("w > 1"),
        [("RD302", 1, 35, "a key cannot be `decimal`")],
    ),
    ("RD302-float", "window w = count() of transfer by rate over 1h\n" + R("w > 1"), [("RD302", 1, 35, "`float`")]),
    (
        "RD303",
        "window w = sum(payee) of transfer by customer over 1h\n" + R("w > 1"),
        [("RD303", 1, 16, "`sum` cannot aggregate `string`")],
    ),
    (
        "RD303-min",
        "window w = min(city) of transfer by customer over 1h\n" + R("w > 1"),
        [("RD303", 1, 16, "`min` takes a number, a timestamp or a duration")],
    ),
    (
        "RD304",
        "window w = count(amount) of transfer by customer over 1h\n" + R("w > 1"),
        [("RD304", 1, 18, "`count()` takes no argument")],
    ),
    (
        "RD304-sum",
        "window w = sum() of transfer by customer over 1h\n" + R("w > 1"),
        [("RD304", 1, 12, "`sum` takes one argument")],
    ),
    (
        "RD305",
        "window w = last(city) of login by customer over 30d excluding current\n" + R('w != "x"', on="login"),
        [("RD305", 1, 53, "`excluding current` has no effect on `last`")],
    ),
    (
        "RD306",
        "sequence s by customer within 30m { step login }\n" + R("s"),
        [("RD306", 1, 10, "sequence `s` has 1 step")],
    ),
    ("RD307", "const unused = 1\n" + R("amount > 1"), [("RD307", 1, 7, "constant `unused` is never used")]),
    (
        "RD307-window",
        "window w = count() of login by customer over 1h\n" + R("amount > 1"),
        [("RD307", 1, 8, "window `w` is never used")],
    ),
    (
        "RD308",
        "ruleset demo { lateness 2h }\nwindow w = count() of login by customer over 10m\n" + R("w > 1", on="login"),
        [("RD308", 1, 16, "lateness `2h` is longer than window `w` (`10m`)")],
    ),
    (
        "RD310",
        "ruleset demo { hold_timeout 0ms }\n" + R("amount > 1", action="hold"),
        [("RD310", 1, 16, "hold_timeout `0ms` is not positive")],
    ),
    (
        "RD309",
        "window a = count() of login by customer over 1h\n"
        "window b = count() of login where a > 1 by customer over 1h\n" + R("b > 1", on="login"),
        [("RD309", 2, 35, "a window (`a`) cannot be read inside window `b`")],
    ),
    (
        "RD309-scorecard",
        'scorecard s { on transfer item "a" when amount > 1 score 1 }\n'
        'scorecard t { on transfer item "b" when s > 1 score 1 }\n' + R("s > 1"),
        [("RD309", 2, 41, "a scorecard (`s`) cannot be read inside scorecard `t`")],
    ),
    # ---- controls (check/controls.py)
    (
        "RD302-control",
        'rule r { on transfer when amount > 1 action block reason "x" control amount as "restricted" for 1d }',
        [("RD302", 1, 70, "a control key cannot be `decimal`")],
    ),
    (
        "RD302-controlled",
        R("controlled(rate)"),
        [("RD205", 1, 38, "a text, an enum or a whole number")],
    ),
    (
        "RD311",
        'const k = "x"\nrule r { on transfer when amount > 1 action block reason "x" control account as k for 1d }',
        [("RD311", 2, 81, "must be a quoted, non-empty text")],
    ),
    (
        "RD311-empty",
        'rule r { on transfer when amount > 1 action block reason "x" control account as "" for 1d }',
        [("RD311", 1, 81, "quoted, non-empty text")],
    ),
    (
        "RD312",
        'rule r { on transfer when amount > 1 action block reason "x" control account as "a" for 0d }',
        [("RD312", 1, 89, "is not above zero")],
    ),
    (
        "RD312-type",
        'rule r { on transfer when amount > 1 action block reason "x" control account as "a" for 5 }',
        [("RD312", 1, 89, "is `int`, not a duration")],
    ),
    (
        "RD309-controlled",
        "window w = count() of transfer where controlled(account) by customer over 1h\n" + R("w > 1"),
        [("RD309", 1, 38, "`controlled` cannot be used inside window `w`")],
    ),
    # ---- RD4xx rule logic
    ("RD401", "const enabled = false\n" + R("enabled and amount > 1"), [("RD401", 2, 27, "rule `r` can never fire")]),
    ("RD402", R("amount > 1 or 1 < 2"), [("RD402", 1, 27, "always true")]),
    (
        "RD404",
        'rule a { on transfer when amount > 100 action block reason "x" }\n'
        'rule b { on transfer when amount  >  100 action alert reason "y" }',
        [("RD404", 2, 6, "rule `a` (case.rdsl:1) has the same condition")],
    ),
    (
        "RD404-subset",
        'rule a { on any when device == "d" action hold reason "x" }\n'
        'rule b { on login when (device == "d") action hold reason "y" }',
        [("RD404", 2, 6, "rule `b` never")],
    ),
    (
        "RD404-weaker-first",
        'rule a { on transfer when amount > 100 action alert reason "x" }\n'
        'rule b { on transfer when amount > 100 action block reason "y" }',
        [("RD404", 1, 6, "rule `b`")],
    ),
    ("RD407", R("amount > 10 and amount < 5"), [("RD407", 1, 27, "no value of `amount`")]),
    ("RD408", R('channel != "atm" or channel != "web"'), [("RD408", 1, 27, "every value of `channel`")]),
    (
        "RD409",
        'rule a { on transfer when amount > 1 action block reason "x" code "C" }\n'
        'rule b { on login when city == "x" action alert reason "y" code "C" }',
        [("RD409", 2, 60, "same reason code `C`")],
    ),
    ("RD010", "const c = 1  # ruledsl: ignore[RD401]\n" + R("amount > c"), [("RD010", 1, 14, "nothing")]),
    (
        "RD405",
        'scorecard s { on transfer item "a" when amount > 1 score 10 level medium >= 40 level high >= 80 }\n'
        + R("s > 1"),
        [("RD405", 1, 86, "level `high` comes after `medium`")],
    ),
    (
        "RD405-threshold",
        'scorecard s { on transfer item "a" when amount > 1 score 10 level high >= 40 level low >= 40 }\n' + R("s > 1"),
        [("RD405", 1, 91, "not below the threshold of `high`")],
    ),
    (
        "RD405-op",
        'scorecard s { on transfer item "a" when amount > 1 score 10 level high > 40 }\n' + R("s > 1"),
        [("RD405", 1, 61, "chosen by `>=`")],
    ),
    ("RD406", "scorecard s { on transfer }\n" + R("s > 1"), [("RD406", 1, 11, "has no items")]),
    (
        "RD406-on",
        'scorecard s { item "a" when amount > 1 score 10 }\n' + R("s > 1"),
        [("RD406", 1, 11, "has no `on` clause")],
    ),
    (
        "RD314",
        'event e2 { k: enum("a", "b") cardinality 3 }',
        [("RD314", 1, 12, "declares cardinality 3 but can take at most 2 values")],
    ),
    ("RD314-zero", "event e2 { k: string cardinality 0 }", [("RD314", 1, 22, "not a whole number from 1")]),
    ("RD314-rate", "event e2 { k: string cardinality 5k rate 3 * 1d }", [("RD314", 1, 22, "not a positive count per")]),
]


@pytest.mark.parametrize("case_id,snippet,expected", CASES, ids=[c[0] for c in CASES])
def test_case(case_id, snippet, expected):
    result = lint(snippet)
    assert found(result) == [(c, line, col) for c, line, col, _t in expected], "\n\n".join(
        render(d, result.program.sources.get(d.path)) for d in result.diagnostics
    )
    for d, (_c, _l, _col, text) in zip(result.diagnostics, expected, strict=True):
        assert text in d.message + "\n" + (d.help or ""), render(d, None)
        assert d.message == d.message.rstrip(".") and d.message[:1] == d.message[:1].lower()


def test_every_checker_code_has_a_case():
    covered = {c.split("-")[0] for c, _s, _e in CASES}
    # see the tests below, the golden files and tests/syntax/test_encoding.py (RD008, RD009)
    # RD313 comes from `lint --budget` (tests/cli/test_budget.py)
    assert set(CODES) - covered <= {"RD002", "RD006", "RD007", "RD008", "RD009", "RD118", "RD313"}


def test_unexpected_end_of_file():
    result = check(load_text("rule r { on transfer when amount > 1", "eof.rdsl"))
    assert [(d.code, d.line, d.col) for d in result.diagnostics] == [("RD002", 1, 37)]
    assert "add `}`" in result.diagnostics[0].help or "expected" in result.diagnostics[0].help


def test_unknown_timezone():
    result = check(load_text('ruleset demo { timezone "Beijing" }\n', "tz.rdsl"))
    assert [(d.code, d.line, d.col) for d in result.diagnostics] == [("RD118", 1, 16)]
    assert check(load_text('ruleset demo { timezone "Asia/Shanghai" }\n', "tz.rdsl")).diagnostics == []


# ---------------------------------------------------------------- clean rulesets

CLEAN = r"""
ruleset echannel {
    version "2026.11"
    description "电子渠道交易监控 e-channel monitoring"
    timezone "Asia/Shanghai"
    lateness 5s
}

event login {
    customer: string
    device: string
    city: string?
    phone: string
    new_device: bool
}
event transfer {
    customer: string
    account: string
    payee: string
    amount: decimal
    city: string?
    channel: enum("atm", "pos", "web", "mobile")
    phone: string
}
event withdraw {
    card: string
    device: string
    amount: decimal
}

const large = 50000.00
const small = 500
const night_start = 22
param daily_limit: decimal = 200000
param max_phones: int = 3
list blacklist: string = ["6222000011112222", "6222000033334444"]
list greylist: string = ["6222000055556666"]
list online: enum("atm", "pos", "web", "mobile") = ["web", "mobile"]

window day_total = sum(amount) of transfer by customer over 1d
window phones_per_customer = distinct(phone) of login, transfer by customer over 1h
window customers_per_phone = distinct(customer) of login, transfer by phone over 1h
window small_count = count() of transfer where amount < small by customer over 10m
window devices_per_card = distinct(device) of withdraw by card over 1h
window last_city = last(city) of login, transfer by customer over 30d
window idle = since() of transfer by customer over 180d
window avg_amount = avg(amount) of transfer by customer over 30d

sequence takeover by customer within 30m {
    step login where new_device
    step transfer where amount >= large
}

rule blacklisted_payee {
    on transfer
    when payee in blacklist
    action block
    reason "收款账户在黑名单"
    code "BL01"
}
rule greylisted_payee {
    on transfer
    when payee in greylist and amount > 1000
    action hold
    reason "收款账户在灰名单"
}
rule city_hop {
    on login, transfer
    when present(city) and present(last_city) and city != last_city
    action step_up
    reason "异地登录或转账"
    priority 5
}
rule many_phones { on login, transfer when phones_per_customer > max_phones action alert reason "一户多机" }
rule shared_phone { on login, transfer when customers_per_phone >= 3 action alert reason "一机多户" }
rule many_small { on transfer when small_count >= 10 action alert reason "频繁小额" tags "structuring", "aml" }
rule cash_devices { on withdraw when devices_per_card > 2 and amount > 3000 action hold reason "多设备取现" }
rule over_daily { on transfer when day_total > daily_limit action hold reason "超出日限额" }
rule night_signing {
    on transfer
    when between_hours(ts, night_start, 6) and channel in online and amount >= large / 10
    action step_up
    reason "敏感时段大额"
}
rule above_norm { on transfer when amount > avg_amount * 5 and amount > 10000 action alert reason "超出客户日常" }
rule dormant { on transfer when idle > 90d and amount > large action hold reason "久未活动账户突然大额" }
rule chain { on transfer when takeover action block reason "新设备登录后大额转账" }
rule odd_payee {
    on transfer
    when matches(payee, "^62[0-9]{14}$") == false and not startswith(lower(payee), "acct")
    action alert
    reason "收款账号格式异常"
    shadow
}

scorecard open_risk {
    on transfer
    item "大额" when amount > large score 30
    item "夜间" when hour(ts) < 6 score 15.5
    item "灰名单" when payee in greylist score 40
    level high >= 80
    level elevated >= 60
    level medium >= 40
    level low >= 20
}
rule risky_account { on transfer when level(open_risk) == "high" or open_risk >= 70 action hold reason "开户风险高" }
"""


def test_clean_ruleset_has_no_diagnostics():
    result = check(load_text(CLEAN, "clean.rdsl"))
    assert result.diagnostics == [], "\n".join(render(d, CLEAN) for d in result.diagnostics)
    assert result.ok


def test_empty_program_only_warns_that_it_declares_nothing():
    result = check(load_text("", "empty.rdsl"))
    assert [(d.code, d.severity) for d in result.diagnostics] == [("RD009", "warning")] and result.ok


def test_generated_ruleset_is_clean():
    text = generate_ruleset(300)
    result = check(load_text(text, "gen.rdsl"))
    assert result.diagnostics == [], [str(d) for d in result.diagnostics[:5]]
    assert len(result.symbols.rules) == 300


def generate_ruleset(n_rules: int) -> str:
    """A large ruleset without mistakes: every rule has its own condition (see benchmarks for timing)."""
    out = [
        'ruleset big { version "1" timezone "Asia/Shanghai" lateness 5s }',
        "event transfer { customer: string account: string payee: string amount: decimal city: string? "
        'channel: enum("atm", "pos", "web", "mobile") device: string? }',
        "event login { customer: string device: string city: string? ip: string }",
    ]
    for i in range(10):
        out.append(f"const c{i} = {1000 * (i + 1)}.50")
        out.append(f"param p{i}: decimal = {2000 * (i + 1)}")
        out.append(f"window ws{i} = sum(amount) of transfer where amount > c{i} by customer over {i + 1}h")
        out.append(f"window wc{i} = count() of login, transfer by customer over {i + 5}m")
    out.append('list black: string = ["a1", "a2", "a3"]')
    out.append("sequence chain by customer within 30m { step login step transfer where amount > 1000 }")
    acts = ("block", "hold", "step_up", "alert", "pass")
    for i in range(n_rules):
        k = i % 10
        cond = (
            f"amount > c{k} + {i} and ws{k} > p{k} * 2 and (wc{(i * 7) % 10} >= {i % 13 + 2} or payee in black)"
            f' and channel != "atm" and not between_hours(ts, 22, 6)' + (" and chain" if i % 3 == 0 else "")
        )
        out.append(f'rule r{i} {{ on transfer when {cond} action {acts[i % 5]} reason "规则 {i}" priority {i % 10} }}')
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- side tables


def _all_exprs(result: CheckResult):
    """Every expression root the checker must type, with its sub-expressions."""
    for module in result.program.modules:
        for d in module.decls:
            roots = []
            if isinstance(d, n.ConstDecl):
                roots = [d.value]
            elif isinstance(d, n.ParamDecl):
                roots = [d.default]
            elif isinstance(d, n.ListDecl):
                roots = list(d.items or [])
            elif isinstance(d, n.WindowDecl):
                roots = [x for x in [d.arg, d.where] if x is not None] + list(d.by)
            elif isinstance(d, n.SequenceDecl):
                roots = list(d.by) + [s.where for s in d.steps if s.where is not None]
            elif isinstance(d, n.RuleDecl):
                roots = [d.when] if d.when is not None else []
            elif isinstance(d, n.ScorecardDecl):
                roots = [x for i in d.items for x in (i.when, i.score)] + [lv.threshold for lv in d.levels]
            for root in roots:
                yield from n.walk(root)


def test_every_expression_is_typed():
    for text in (CLEAN, generate_ruleset(20)):
        result = check(load_text(text, "x.rdsl"))
        nodes = list(_all_exprs(result))
        assert nodes and all(id(x) in result.types for x in nodes)
        assert all(result.types[id(x)].name != "any" for x in nodes)
        names = [x for x in nodes if isinstance(x, n.Name)]
        assert all(id(x) in result.refs for x in names)


def test_types_refs_and_symbols():
    result = check(load_text(CLEAN, "clean.rdsl"))
    sym = result.symbols
    rules = sym.rules
    assert list(rules)[:3] == ["blacklisted_payee", "greylisted_payee", "city_hop"]
    assert sym.header is not None and sym.header.timezone == "Asia/Shanghai"
    assert sym.fields["login"]["ts"] == Type("timestamp")
    assert sym.fields["transfer"]["city"] == Type("string", optional=True)
    assert sym.fields["transfer"]["channel"].enum_values == ("atm", "pos", "web", "mobile")
    assert sym.rule_events["city_hop"] == ["login", "transfer"]
    assert sym.window_events["phones_per_customer"] == ["login", "transfer"]
    assert sym.sequence_events["takeover"] == ["login", "transfer"]
    assert sym.scorecard_events["open_risk"] == ["transfer"]
    assert sym.source_dir["clean.rdsl"] == "."
    assert sym.value_types["open_risk"] == DECIMAL  # one score is a decimal
    assert sym.value_types["day_total"] == DECIMAL
    assert sym.value_types["last_city"] == Type("string", optional=True)
    assert sym.value_types["idle"] == Type("duration", optional=True)
    assert sym.value_types["phones_per_customer"] == INT
    assert sym.value_types["blacklist"] == Type("list", elem=STRING)
    assert result.const_values == {"large": 500_000_000, "small": 500, "night_start": 22}

    when = rules["risky_account"].when  # level(open_risk) == "high" or open_risk >= 70
    assert result.types[id(when.left.left)] == LEVEL
    assert result.refs[id(when.left.left.args[0])] == ("scorecard", "open_risk")
    assert result.types[id(when.right.left)] == DECIMAL
    night = rules["night_signing"].when.right  # amount >= large / 10
    assert result.types[id(night.right)] == DECIMAL
    assert result.refs[id(night.right.left)] == ("const", "large")
    hop = rules["city_hop"].when.right  # city != last_city
    assert result.refs[id(hop.left)] == ("field", "city")
    assert result.refs[id(hop.right)] == ("window", "last_city")
    assert result.types[id(hop.left)].optional


def test_optional_and_arithmetic_types():
    result = lint("""
        const d = 10 / 4
        const t = 90m * 2
        const m = max(1, 2.5)
        window w = max(amount) of transfer by customer over 1h
        rule r { on transfer when ts - 1h < ts and (amount + w) * 2 > d and min(amount, 3) > m and t > 1h
                 action block reason "x" }
    """)
    assert result.diagnostics == []
    assert result.const_values == {"d": 25_000, "t": 10_800_000, "m": 25_000}
    cond = result.symbols.rules["r"].when
    terms = []
    stack = [cond]
    while stack:
        x = stack.pop()
        if isinstance(x, n.Binary) and x.op == "and":
            stack += [x.right, x.left]
        else:
            terms.append(x)
    assert result.types[id(terms[0].left)] == Type("timestamp")
    product = terms[1].left
    assert result.types[id(product)] == Type("decimal", optional=True)  # max() of an empty window
    assert result.types[id(terms[2].left)] == DECIMAL


def test_window_read_on_other_events_is_optional():
    result = lint("""
        window w = count() of transfer by customer over 1h
        rule r { on login when w > 1 action block reason "x" }
        rule s { on transfer when w > 1 action alert reason "y" }
    """)
    assert result.diagnostics == []
    r, s = result.symbols.rules["r"].when.left, result.symbols.rules["s"].when.left
    assert result.types[id(r)] == Type("int", optional=True)
    assert result.types[id(s)] == INT


def test_decimal_folding_rounds_half_even():
    result = lint("""
        const a = 1 / 3
        const b = 2 / 3
        const c = 0.0001 * 0.5
        const d = 0.0003 * 0.5
        const e = -7 % 3
        rule r { on transfer when amount > a + b + c + d + e action block reason "x" }
    """)
    assert result.diagnostics == []
    assert result.const_values == {"a": 3333, "b": 6667, "c": 0, "d": 2, "e": 2}


def test_param_defaults_list_items_and_scores_are_folded():
    result = lint("""
        const base = 100
        param limit: decimal = base * 3
        list bins: int = [base, base + 1]
        scorecard s { on transfer item "a" when amount > limit score base / 4 level high >= base - 50 }
        rule r { on transfer when amount in bins or s > 10 action block reason "x" }
    """)
    assert result.diagnostics == []
    p = result.symbols.params["limit"]
    assert result.folded[id(p.default)] == 300
    assert [result.folded[id(i)] for i in result.symbols.lists["bins"].items] == [100, 101]
    sc = result.symbols.scorecards["s"]
    assert result.folded[id(sc.items[0].score)] == 250_000  # decimal 25.0000
    assert result.symbols.value_types["s"] == DECIMAL
    assert result.folded[id(sc.levels[0].threshold)] == 50


# ---------------------------------------------------------------- files: includes and lists


def test_list_files_resolve_from_the_declaring_file(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "lists").mkdir()
    (tmp_path / "shared" / "lists" / "black.txt").write_text("# blacklist\n\n6222 \n6223\n", encoding="utf-8")
    (tmp_path / "shared" / "lists" / "bins.txt").write_text("622848\n# c\n  \n62x8\n1.5\n", encoding="utf-8")
    (tmp_path / "shared" / "common.rdsl").write_text(
        'list black: string = file("lists/black.txt")\nlist bins: int = file("lists/bins.txt")\n', encoding="utf-8"
    )
    main = tmp_path / "main.rdsl"
    main.write_text(
        PRELUDE + 'include "shared/common.rdsl"\n' + R("payee in black or 622848 in bins") + "\n", encoding="utf-8"
    )
    result = check(load_program(main))
    assert [d.code for d in result.diagnostics] == ["RD114"]
    d = result.diagnostics[0]
    assert d.path.endswith("common.rdsl") and d.line == 2
    assert d.message == "line 4 of `lists/bins.txt`: `62x8` is not a value of type `int` (and 1 more bad line)"
    files = result.symbols.list_files
    assert Path(files["black"]).resolve() == (tmp_path / "shared" / "lists" / "black.txt").resolve()

    override = tmp_path / "elsewhere"
    override.mkdir()
    result = check(load_program(main), list_dir_override=str(override))
    assert sorted(d.code for d in result.diagnostics) == ["RD114", "RD114"]
    assert Path(result.symbols.list_files["bins"]) == override / "lists" / "bins.txt"


def test_enum_and_decimal_list_files(tmp_path):
    (tmp_path / "ch.txt").write_text("atm\npos\r\nweb\n", encoding="utf-8")
    (tmp_path / "amounts.txt").write_text("1\n-2.5\n3.12345\n", encoding="utf-8")
    main = tmp_path / "m.rdsl"
    main.write_text(
        PRELUDE + 'list ch: enum("atm", "pos", "web") = file("ch.txt")\n'
        'list am: decimal = file("amounts.txt")\n' + R("channel in ch and amount in am") + "\n",
        encoding="utf-8",
    )
    result = check(load_program(main))
    assert [(d.code, d.line - OFFSET) for d in result.diagnostics] == [("RD114", 2)]
    assert "line 3" in result.diagnostics[0].message


def test_include_declarations_are_shared_and_unused_only_in_entry_files(tmp_path):
    (tmp_path / "schema.rdsl").write_text(PRELUDE + "const spare = 1\nconst big = 100\n", encoding="utf-8")
    (tmp_path / "main.rdsl").write_text('include "schema.rdsl"\n' + R("amount > big") + "\n", encoding="utf-8")
    result = check(load_program(tmp_path / "main.rdsl"))
    assert result.diagnostics == []  # `spare` is in an included file: maybe other rulesets use it
    assert set(result.symbols.source_dir) == set(result.program.sources)
    alone = check(load_program(tmp_path / "schema.rdsl"))
    assert [d.message for d in alone.diagnostics] == ["constant `spare` is never used", "constant `big` is never used"]


def test_header_in_included_file_is_a_duplicate(tmp_path):
    (tmp_path / "inc.rdsl").write_text('ruleset inc { version "1" }\n' + PRELUDE, encoding="utf-8")
    (tmp_path / "main.rdsl").write_text(
        'ruleset main { version "2" }\ninclude "inc.rdsl"\n' + R("amount > 1") + "\n", encoding="utf-8"
    )
    result = check(load_program(tmp_path / "main.rdsl"))
    assert [(d.code, d.path.endswith("inc.rdsl")) for d in result.diagnostics] == [("RD115", True)]
    assert result.symbols.header.name.name == "main"


def test_syntax_errors_do_not_cascade():
    text = PRELUDE + "const limit = )\n" + R("amount > limit") + "\n"
    result = check(load_text(text, "s.rdsl"))
    assert [d.code for d in result.diagnostics] == ["RD001"]
    assert not result.ok


def test_duplicates_are_still_checked():
    result = lint("""
        window w = count() of transfer by customer over 1h
        window w = sum(payee) of transfer by customer over 1h
        rule r { on transfer when w > 1 action block reason "x" }
        rule r { on transfer when amout > 1 action block reason "y" }
    """)
    assert [(d.code, d.line) for d in result.diagnostics] == [("RD104", 2), ("RD303", 2), ("RD105", 4), ("RD103", 4)]
    assert result.symbols.value_types["w"] == INT


def test_every_use_is_reported_not_only_the_first():
    result = lint("""
        param device: string = "x"
        rule a { on transfer when amout > 1 and amout < 5 action block reason "x" }
        rule b { on transfer when amout > 2 action alert reason "y" }
        rule c { on login when device == "d" or device == "e" action hold reason "z" }
    """)
    assert [(d.code, d.line, d.col) for d in result.diagnostics] == [
        ("RD103", 2, 27),
        ("RD103", 2, 41),
        ("RD103", 3, 27),
        ("RD110", 4, 24),
        ("RD110", 4, 41),
    ]


def test_shadow_rules_are_not_redundant_and_do_not_cover():
    result = lint("""
        rule a { on transfer when amount > 100 action block reason "x" shadow }
        rule b { on transfer when amount > 100 action alert reason "y" }
        rule c { on transfer when amount > 100 action pass reason "z" shadow }
    """)
    assert result.diagnostics == []


def test_scorecard_read_on_other_events_is_optional():
    result = lint("""
        scorecard s { on transfer item "a" when amount > 1 score 10 }
        rule r { on login when s > 5 or level(s) == "high" action alert reason "x" }
    """)
    assert result.diagnostics == []
    when = result.symbols.rules["r"].when
    assert result.types[id(when.left.left)] == Type("int", optional=True)
    assert result.types[id(when.right.left)] == Type("enum", True, LEVEL.enum_values)


def test_double_negation_of_a_decimal():
    result = lint("""
        const a = - -1.5
        rule r { on transfer when amount > a action block reason "x" }
    """)
    assert result.const_values == {"a": 15_000}


def test_builtin_table_is_complete():
    assert set(BUILTINS) == {
        "hour",
        "minute",
        "weekday",
        "day",
        "between_hours",
        "lower",
        "upper",
        "len",
        "startswith",
        "endswith",
        "contains",
        "matches",
        "abs",
        "min",
        "max",
        "present",
        "level",
        "controlled",
        "control_kind",
        "list_category",
        "list_source",
        "list_attr",
        "list_expires_at",
    }


def test_every_code_is_explained():
    for code in CODES.values():
        text = code.explanation
        assert "What:" in text and "Fix:" in text, code.code
        assert code.severity in ("error", "warning")


# ---------------------------------------------------------------- golden files


def _golden_cases():
    return sorted(p.stem for p in GOLDEN.glob("RD[0-9][0-9][0-9].rdsl"))


def render_all(path: Path) -> str:
    result = check(load_program(path.name))
    return "\n\n".join(render(d, result.program.sources.get(d.path)) for d in result.diagnostics) + "\n"


@pytest.mark.parametrize("code", _golden_cases())
def test_golden(code, monkeypatch):
    monkeypatch.chdir(GOLDEN)  # paths in the output are relative to the working directory
    got = render_all(GOLDEN / f"{code}.rdsl")
    expected_file = GOLDEN / f"{code}.txt"
    if os.environ.get("RULEDSL_UPDATE_GOLDEN"):
        expected_file.write_text(got, encoding="utf-8")
    assert f" {code} " in got, f"{code}.rdsl does not produce {code}"
    assert got == expected_file.read_text(encoding="utf-8")


def test_every_code_has_a_golden_file():
    # RD313 is reported by `lint --budget`, not the checker: tests/cli/test_budget.py pins its output
    assert set(_golden_cases()) == set(CODES) - {"RD313"}
