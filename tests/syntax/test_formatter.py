"""The canonical formatter: layout, comments, round trips, idempotence."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ruledsl.syntax import nodes as n
from ruledsl.syntax.formatter import FormatError, format_expr, format_module, quote, scan_comments, strip_spans
from ruledsl.syntax.parser import MAX_DEPTH, parse

ROOT = Path(__file__).resolve().parents[2]


def parse_ok(text: str, path: str = "<test>") -> n.Module:
    module, diags = parse(text, path)
    assert not diags, "\n".join(f"{d.code} {d.line}:{d.col} {d.message}" for d in diags)
    assert module is not None
    return module


def fmt(text: str) -> str:
    return format_module(parse_ok(text), text)


def comments_of(text: str) -> list[str]:
    return sorted(c.text for c in scan_comments(text))


def assert_round_trip(text: str, path: str = "<test>") -> str:
    """Format, re-parse: same AST, same comments, and formatting again changes nothing."""
    module = parse_ok(text, path)
    out = format_module(module, text)
    again = parse_ok(out, path)
    assert strip_spans(again) == strip_spans(module)
    assert comments_of(out) == comments_of(text)
    assert format_module(again, out) == out
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert "\x00" not in out
    return out


# ---------------------------------------------------------------- layout

MESSY = """\
# Header comment for the file

# about the ruleset
ruleset 电子渠道 { version "1.0"   # trailing on version
  timezone "Asia/Shanghai" description "e-channel \\"rules\\"" lateness 60000ms }
include "common.rdsl"
event transfer {
  # the amount
  amount: decimal
  city: string?   # may be absent
  channel: enum("atm","pos", "mobile",)
  }
const  LIMIT=50_000.00
param small_amount : decimal = 100.00
list blacklist : string = ["6222000011112222", "6222000011113333", "6222000011114444", "6222000011115555", "x"]
list greylist: string = [
  "a", # first
  "b"
]
list big: string = file("lists/big.txt")
window cnt_1h = count() of transfer, login where amount > small_amount by account, phone over 3600000ms excluding current
sequence chain by customer within 30m { step login where new_device step transfer }
rule 大额转账 {
  when amount>LIMIT and not (city == last_city) or -amount < -5 # why
  action block
  reason "大额\\t转账"  priority -3 tags "a","b" shadow
  on transfer
  # before end
}
scorecard acct_risk { level high >= 80 on account_open item "age" when age < 18 or age > 70 score 20
  level elevated >= 50 item "x" when true score 5 }
rule empty {}
# trailing comment 1

# trailing comment 2
"""

CANONICAL = """\
# Header comment for the file

# about the ruleset
ruleset 电子渠道 {
  version "1.0"  # trailing on version
  description "e-channel \\"rules\\""
  timezone "Asia/Shanghai"
  lateness 1m
}

include "common.rdsl"

event transfer {
  # the amount
  amount: decimal
  city: string?  # may be absent
  channel: enum("atm", "pos", "mobile")
}

const LIMIT = 50000.00
param small_amount: decimal = 100.00

list blacklist: string = [
  "6222000011112222",
  "6222000011113333",
  "6222000011114444",
  "6222000011115555",
  "x",
]

list greylist: string = [
  "a",  # first
  "b",
]

list big: string = file("lists/big.txt")
window cnt_1h = count() of transfer, login where amount > small_amount
  by account, phone over 1h excluding current

sequence chain by customer within 30m {
  step login where new_device
  step transfer
}

rule 大额转账 {
  reason "大额\\t转账"
  on transfer
  when amount > LIMIT and not city == last_city or -amount < -5  # why
  action block
  priority -3
  tags "a", "b"
  shadow
  # before end
}

scorecard acct_risk {
  on account_open
  item "age" when age < 18 or age > 70 score 20
  item "x" when true score 5
  level high >= 80
  level elevated >= 50
}

rule empty {}
# trailing comment 1

# trailing comment 2
"""


def test_messy_file_gets_the_canonical_layout():
    assert fmt(MESSY) == CANONICAL
    assert_round_trip(MESSY)


def test_canonical_file_is_a_fixed_point():
    assert fmt(CANONICAL) == CANONICAL


def test_rule_clauses_in_canonical_order():
    src = 'rule r { shadow tags "t" priority 2 action alert when x > 1 on a, b code "C1" reason "why" }'
    assert fmt(src) == textwrap.dedent("""\
        rule r {
          reason "why"
          code "C1"
          on a, b
          when x > 1
          action alert
          priority 2
          tags "t"
          shadow
        }
        """)


def test_on_any_and_priority_zero_written_explicitly_are_kept():
    out = fmt("rule r { on any when true action pass priority 0 }")
    assert "  on any\n" in out and "  priority 0\n" in out
    assert_round_trip("rule r { on any when true action pass priority 0 }")


def test_empty_bodies():
    assert fmt("event e {}\nrule r {}\nscorecard s {}\nruleset x {}") == (
        "event e {}\n\nrule r {}\n\nscorecard s {}\n\nruleset x {}\n"
    )


def test_empty_file_and_comment_only_file():
    assert fmt("") == ""
    assert fmt("\n\n") == ""
    assert fmt("# only\n\n\n# comments\n") == "# only\n\n# comments\n"


def test_numbers_and_durations():
    out = fmt("const a = 10_000 + 0.10 + 1_000.50 + 90000ms + 1500ms + 0s + 14d")
    assert out == "const a = 10000 + 0.10 + 1000.50 + 90s + 1500ms + 0ms + 2w\n"


def test_window_forms():
    src = "window w = since() of any by k over 1d\nwindow v = sum(amount) of a where x by k, hour(ts) over 60m excluding current"
    assert fmt(src) == (
        "window w = since() of any by k over 1d\n"
        "window v = sum(amount) of a where x by k, hour(ts) over 1h excluding current\n"
    )


def test_body_less_declarations_keep_the_authors_grouping():
    src = "const a = 1\nconst b = 2\n\n\n\nconst c = 3\nparam p: int = 1\nrule r {}\nconst d = 4\n"
    assert fmt(src) == "const a = 1\nconst b = 2\n\nconst c = 3\nparam p: int = 1\n\nrule r {}\n\nconst d = 4\n"


def test_built_ast_without_source_separates_every_declaration():
    module = parse_ok("const a = 1\nconst b = 2")
    assert format_module(strip_spans(module), "") == "const a = 1\n\nconst b = 2\n"


def test_types_and_params():
    src = 'event e { a: enum("x","y")? b: string? c: timestamp }\nparam p : enum("lo", "hi") = "lo"'
    assert (
        fmt(src)
        == 'event e {\n  a: enum("x", "y")?\n  b: string?\n  c: timestamp\n}\n\nparam p: enum("lo", "hi") = "lo"\n'
    )


def test_long_when_breaks_before_top_level_operators():
    conds = " and ".join(f"field_number_{i} > {i * 1000}" for i in range(6))
    src = f"rule r {{ when {conds} or (a and b) action block }}"
    out = assert_round_trip(src)
    assert out == textwrap.dedent("""\
        rule r {
          when field_number_0 > 0 and field_number_1 > 1000 and field_number_2 > 2000 and field_number_3 > 3000 and field_number_4 > 4000 and field_number_5 > 5000
            or a and b
          action block
        }
        """)
    src2 = f"rule r {{ when {conds} action block }}"
    out2 = assert_round_trip(src2)
    assert out2.splitlines()[1:4] == [
        "  when field_number_0 > 0",
        "    and field_number_1 > 1000",
        "    and field_number_2 > 2000",
    ]


def test_long_list_is_one_item_per_line_and_short_one_inline():
    items = ", ".join(f'"62220000{i:08d}"' for i in range(8))
    out = assert_round_trip(f"list bl: string = [{items}]")
    assert out.count("\n") == 10 and out.startswith('list bl: string = [\n  "6222000000000000",\n')
    assert fmt('list s: string = ["a",\n "b",]') == 'list s: string = ["a", "b"]\n'
    assert fmt("list e: string = []") == "list e: string = []\n"


# ---------------------------------------------------------------- strings


@pytest.mark.parametrize(
    "value, written",
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\tnew\nline", '"tab\\tnew\\nline"'),
        ("中文原样", '"中文原样"'),
        ("bidi\u202eevil", '"bidi\\u202eevil"'),
        ("zero\u200bwidth", '"zero\\u200bwidth"'),
        ("lone\ud800surrogate", '"lone\\ud800surrogate"'),
        ("tag\U000e0041", '"tag\\udb40\\udc41"'),
        ("emoji 😀", '"emoji 😀"'),
    ],
)
def test_quote(value, written):
    assert quote(value) == written
    module = parse_ok(f"const s = {written}")
    assert module.decls[0].value.value == value


@given(st.text())
def test_any_string_round_trips(value):
    lit = n.Literal(kind="string", value=value)
    module = parse_ok(f"const s = {format_expr(lit)}")
    assert module.decls[0].value.value == value
    format_module(module, "").encode("utf-8")  # always writable as UTF-8


# ---------------------------------------------------------------- comments


def test_comments_between_and_after_declarations():
    src = textwrap.dedent("""\
        # a

        # b
        const x = 1 # on x


        # c
        const y = 2
        # end
        """)
    assert fmt(src) == "# a\n\n# b\nconst x = 1  # on x\n\n# c\nconst y = 2\n# end\n"


def test_comment_inside_expression_moves_above_the_declaration():
    src = "const x = 1 +   # one\n  2 # two\nconst y = [1, # in list\n 2]\n"
    out = assert_round_trip(src)
    assert out == "# one\nconst x = 1 + 2  # two\n# in list\nconst y = [1, 2]\n"


def test_comment_inside_multiline_when_moves_above_the_clause():
    src = textwrap.dedent("""\
        rule r {
          when a > 1   # first condition
            and b < 2  # second condition
          action block   # stop it
        }
        """)
    out = assert_round_trip(src)
    assert out == textwrap.dedent("""\
        rule r {
          # first condition
          when a > 1 and b < 2  # second condition
          action block          # stop it
        }
        """)


def test_comments_travel_with_reordered_clauses():
    src = textwrap.dedent("""\
        rule r {
          # why we block
          action block
          # the condition
          when x
          reason "r" # text
        }
        """)
    assert fmt(src) == textwrap.dedent("""\
        rule r {
          reason "r"  # text
          # the condition
          when x
          # why we block
          action block
        }
        """)


def test_comments_in_every_block_kind():
    src = textwrap.dedent("""\
        ruleset rs { # after brace
          # tz
          timezone "UTC" version "1" # v
          # footer
        }
        sequence s by k within 1h {
          step a # first
          # second
          step b where x
        }
        scorecard sc {
          level high >= 1 # lvl
          # an item
          item "i" when x score 1
        }
        """)
    out = assert_round_trip(src)
    assert out == textwrap.dedent("""\
        ruleset rs {
          version "1"  # v
          # after brace
          # tz
          timezone "UTC"
          # footer
        }

        sequence s by k within 1h {
          step a  # first
          # second
          step b where x
        }

        scorecard sc {
          # an item
          item "i" when x score 1
          level high >= 1  # lvl
        }
        """)


def test_trailing_comment_after_closing_brace_and_hash_in_string():
    src = 'rule r { reason "#1 not a comment" } # closing\n'
    out = assert_round_trip(src)
    assert out == 'rule r {\n  reason "#1 not a comment"\n}  # closing\n'
    assert [c.text for c in scan_comments(src)] == ["# closing"]


def test_trailing_comments_are_aligned_in_runs():
    src = "event e {\n  a: int # one\n  longer_name: string # two\n  c: int\n  d: int # three\n}\n"
    assert fmt(src) == (
        "event e {\n  a: int               # one\n  longer_name: string  # two\n  c: int\n  d: int               # three\n}\n"
    )


def _without_comments(text: str) -> str:
    for c in reversed(scan_comments(text)):
        text = text[: c.start] + text[c.end :]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([MESSY, CANONICAL]), st.data())
def test_comments_anywhere_are_kept_and_formatting_is_stable(base, data):
    bare = _without_comments(base)
    assert not scan_comments(bare)
    out_lines = []
    for i, line in enumerate(bare.split("\n")):
        if data.draw(st.booleans()):
            out_lines.append(f"{' ' * data.draw(st.integers(0, 4))}# own {i}")
        if data.draw(st.booleans()):
            out_lines.append("")
        out_lines.append(line + (f" # end {i}" if line.strip() and data.draw(st.booleans()) else ""))
    assert_round_trip("\n".join(out_lines))


def test_duplicate_clause_refuses_to_format():
    module = parse_ok("rule r { when a when b action block }")
    with pytest.raises(FormatError, match="more than one `when`"):
        format_module(module, "rule r { when a when b action block }")
    with pytest.raises(FormatError, match="lateness"):
        fmt("ruleset x { lateness 1s lateness 2s }")
    with pytest.raises(FormatError, match="`on`"):
        fmt("scorecard s { on a on b }")


# ---------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    "src, printed",
    [
        ("a + b * c", "a + b * c"),
        ("(a + b) * c", "(a + b) * c"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("a / (b * c)", "a / (b * c)"),
        ("a or b and c", "a or b and c"),
        ("(a or b) and c", "(a or b) and c"),
        ("a and (b and c)", "a and (b and c)"),
        ("not (a and b)", "not (a and b)"),
        ("not a == b", "not a == b"),
        ("(not a) == b", "(not a) == b"),
        ("not not a", "not not a"),
        ("(a == b) == c", "(a == b) == c"),
        ("a == (b < c)", "a == (b < c)"),
        ("-(a + b)", "-(a + b)"),
        ("- -a", "-(-a)"),
        ("-(not a)", "-(not a)"),
        ("a - -5", "a - -5"),
        ("-5 * -x", "-5 * -x"),
        ("-2.50 % 3", "-2.50 % 3"),
        ("-10m", "-10m"),
        ("x in [1, 2,]", "x in [1, 2]"),
        ("x not in (a + b)", "x not in a + b"),
        ("(x in a) in b", "(x in a) in b"),
        ("f()", "f()"),
        ("between_hours(ts, 22, 6) and hour(ts) >= 1", "between_hours(ts, 22, 6) and hour(ts) >= 1"),
        ("g((a or b), [c and d])", "g(a or b, [c and d])"),
        ("[]", "[]"),
        ("true != false", "true != false"),
        ("金额 > 1_000", "金额 > 1000"),
    ],
)
def test_format_expr_minimal_parentheses(src, printed):
    expr = parse_ok(f"const c = {src}").decls[0].value
    assert format_expr(expr) == printed
    again = parse_ok(f"const c = {printed}").decls[0].value
    assert strip_spans(again) == strip_spans(expr)


KEYWORDS = {
    "ruleset",
    "include",
    "event",
    "const",
    "param",
    "list",
    "window",
    "sequence",
    "rule",
    "scorecard",
    "version",
    "description",
    "timezone",
    "lateness",
    "enum",
    "file",
    "of",
    "where",
    "by",
    "over",
    "excluding",
    "current",
    "any",
    "within",
    "step",
    "reason",
    "code",
    "on",
    "when",
    "action",
    "priority",
    "tags",
    "shadow",
    "item",
    "score",
    "level",
    "and",
    "or",
    "not",
    "in",
    "true",
    "false",
}

names = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
    st.sampled_from(["金额", "城市_1", "ts", "amount"]),
).filter(lambda s: s not in KEYWORDS)

literals = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(lambda v: n.Literal(kind="int", value=v)),
    st.builds(
        lambda sign, whole, frac: n.Literal(kind="decimal", value=f"{sign}{whole}.{frac}"),
        st.sampled_from(["", "-"]),
        st.integers(0, 10**9),
        st.from_regex(r"[0-9]{1,4}", fullmatch=True),
    ),
    st.text(max_size=8).map(lambda v: n.Literal(kind="string", value=v)),
    st.booleans().map(lambda v: n.Literal(kind="bool", value=v)),
    st.integers(0, 10**11).map(lambda v: n.Literal(kind="duration", value=v)),
)

BINARY_OPS = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%"]


def _negate(e: n.Expr) -> n.Expr:
    # the parser folds `-` into number literals, so that AST shape is never produced
    if isinstance(e, n.Literal) and e.kind in ("int", "decimal"):
        return n.Unary(op="not", operand=e)
    return n.Unary(op="-", operand=e)


def _extend(children):
    return st.one_of(
        st.builds(lambda e: n.Unary(op="not", operand=e), children),
        st.builds(_negate, children),
        st.builds(lambda op, a, b: n.Binary(op=op, left=a, right=b), st.sampled_from(BINARY_OPS), children, children),
        st.builds(lambda f, args: n.Call(func=f, args=args), names, st.lists(children, max_size=3)),
        st.builds(lambda items: n.ListLit(items=items), st.lists(children, max_size=3)),
    )


exprs = st.recursive(st.one_of(literals, names.map(lambda s: n.Name(name=s))), _extend, max_leaves=24)


def _depth(e: n.Expr) -> int:
    kids = []
    if isinstance(e, n.Binary):
        kids = [e.left, e.right]
    elif isinstance(e, n.Unary):
        kids = [e.operand]
    elif isinstance(e, n.Call):
        kids = e.args
    elif isinstance(e, n.ListLit):
        kids = e.items
    return 1 + max((_depth(k) for k in kids), default=0)


@settings(max_examples=400, deadline=None)
@given(exprs)
def test_generated_expressions_print_and_parse_back(expr):
    assume(_depth(expr) * 3 < MAX_DEPTH)
    text = format_expr(expr)
    module = parse_ok(f"rule r {{\n  when {text}\n  action block\n}}\n")
    assert strip_spans(module.decls[0].when) == strip_spans(expr)
    out = format_module(module, f"rule r {{\n  when {text}\n  action block\n}}\n")
    assert format_module(parse_ok(out), out) == out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, exprs), min_size=1, max_size=4))
def test_generated_modules_are_idempotent(rules):
    decls = [
        n.RuleDecl(name=n.Ident(name=f"r{i}_{name}"), when=e, action=n.Ident(name="alert"))
        for i, (name, e) in enumerate(rules)
    ]
    assume(all(_depth(d.when) * 3 < MAX_DEPTH for d in decls))
    module = n.Module(path="<gen>", decls=decls)
    out = format_module(module, "")
    parsed = parse_ok(out)
    assert [strip_spans(d.when) for d in parsed.decls] == [strip_spans(d.when) for d in decls]
    assert format_module(parsed, out) == out


# ---------------------------------------------------------------- real files


def _ruleset_files() -> list[Path]:
    return sorted((ROOT / "rulesets").rglob("*.rdsl")) if (ROOT / "rulesets").is_dir() else []


def _doc_examples() -> list[tuple[str, str]]:
    """Fenced ```rdsl blocks of the docs that are complete files."""
    found = []
    for md in sorted((ROOT / "docs").glob("**/*.md")) if (ROOT / "docs").is_dir() else []:
        text = md.read_text(encoding="utf-8")
        fences = re.finditer(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", text, re.MULTILINE | re.DOTALL)
        for i, m in enumerate(f for f in fences if f.group(1) in ("rdsl", "rdsl-error")):
            found.append((f"{md.relative_to(ROOT)}#{i}", m.group(2)))
    return found


@pytest.mark.parametrize("path", _ruleset_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_ruleset_files_round_trip(path):
    assert_round_trip(path.read_text(encoding="utf-8-sig"), str(path))


@pytest.mark.parametrize("name, text", _doc_examples(), ids=lambda x: x if isinstance(x, str) and "#" in x else "")
def test_doc_examples_round_trip(name, text):
    module, diags = parse(text, name)
    if diags or module is None:
        pytest.skip("a fragment, not a complete file")
    assert_round_trip(text, name)


def test_strip_spans_ignores_layout_but_not_content():
    a = parse_ok('rule r { when x action block reason "a" }')
    b = parse_ok('rule r {\n  reason "a"\n  when x\n  action block\n}')
    c = parse_ok('rule r { when x action alert reason "a" }')
    assert strip_spans(a) == strip_spans(b)
    assert strip_spans(a) != strip_spans(c)


def test_single_item_ruleset_header_is_one_line():
    assert fmt('ruleset demo {\n  timezone "Asia/Shanghai"\n}') == 'ruleset demo { timezone "Asia/Shanghai" }\n'
    assert fmt('ruleset demo { timezone "UTC" # why\n}') == 'ruleset demo {\n  timezone "UTC"  # why\n}\n'
    assert fmt('ruleset demo { lateness 30s version "1" }') == 'ruleset demo {\n  version "1"\n  lateness 30s\n}\n'
