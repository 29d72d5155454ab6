"""The `control` rule clause: parsing, formatting (round trip), keywords that stay names."""

from __future__ import annotations

from ruledsl.syntax import nodes as n
from ruledsl.syntax.formatter import format_module, strip_spans
from ruledsl.syntax.parser import parse

SOURCE = """\
event login { account_no: string  risk: int  as_of: int }

rule risky_login {
  control account_no as "restricted" for 1d  # first
  on login
  # a comment above the second control
  control lower(account_no) as "watch" for 30d
  when risk >= 80
  action alert
  reason "risky log-in"
}
"""


def test_control_clauses_parse_in_order():
    module, diags = parse(SOURCE)
    assert diags == [] and module is not None
    rule = module.decls[1]
    assert isinstance(rule, n.RuleDecl)
    assert [c.kind.value for c in rule.controls] == ["restricted", "watch"]  # type: ignore[union-attr]
    assert [c.duration.value for c in rule.controls] == [86_400_000, 30 * 86_400_000]  # type: ignore[union-attr]
    assert isinstance(rule.controls[0].key, n.Name) and rule.controls[0].key.name == "account_no"
    assert isinstance(rule.controls[1].key, n.Call) and rule.controls[1].key.func == "lower"
    assert [c.keyword for c in rule.clauses].count("control") == 2


def test_format_round_trip_keeps_controls_and_comments():
    module, _ = parse(SOURCE)
    out = format_module(module, SOURCE)
    assert '  action alert\n  control account_no as "restricted" for 1d  # first\n' in out
    assert '  # a comment above the second control\n  control lower(account_no) as "watch" for 30d\n' in out
    again, diags = parse(out)
    assert diags == [] and again is not None
    assert strip_spans(again) == strip_spans(module)
    assert format_module(again, out) == out  # idempotent


def test_control_words_stay_names_where_no_clause_can_start():
    # `control`, `as` and `for` are keywords only where a rule clause can take them
    text = 'event e { k: string  n: int }\nrule r { on e when n > 1 action alert reason "x" control k as "a" for 1h }\n'
    module, diags = parse(text)
    assert diags == [] and module is not None
    src = 'event e { control: string }\nrule r { on e when control == "x" action alert reason "x" }\n'
    module, diags = parse(src)
    assert diags == [], diags


def test_a_control_clause_needs_kind_and_duration():
    _module, diags = parse(
        'event e { k: string }\nrule r { on e when true action alert reason "x" control k for 1d }\n'
    )
    assert [d.code for d in diags] == ["RD001"]
    assert "`as`" in (diags[0].help or "")
