"""Every message the checker reports, in one place (like cel-go's checker/errors.go).

Each function returns ``(code, message, help)``.  Messages are lowercase,
without a trailing period, and put names in backticks; the help line says
how to fix the problem.  The checker never formats a message itself.
"""

from __future__ import annotations

from typing import Optional

from ruledsl.check.types import BUILTINS, KIND_WORDS, Builtin, Type, display
from ruledsl.syntax.nodes import ACTIONS, AGGREGATES, LEVELS

Msg = tuple[str, str, Optional[str]]

_KIND_WORDS = {
    "const": "a constant",
    "param": "a parameter",
    "list": "a list",
    "window": "a window",
    "sequence": "a sequence",
    "scorecard": "a scorecard",
    "field": "a field",
    "event": "an event type",
    "rule": "a rule",
}


def _ticks(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _at(path: str, line: int) -> str:
    return f"{path}:{line}"


# ---------------------------------------------------------------- RD1xx names


def unknown_name(name: str, suggestion: Optional[str], other_kind: Optional[str] = None) -> Msg:
    if other_kind == "event":
        return (
            "RD101",
            f"unknown name `{name}`",
            f"`{name}` is an event type; a rule selects event types with `on {name}`",
        )
    if other_kind == "rule":
        return ("RD101", f"unknown name `{name}`", f"`{name}` is a rule; rules cannot be read by other rules")
    if other_kind == "aggregate":
        return (
            "RD101",
            f"unknown name `{name}`",
            f"`{name}` is an aggregate: declare a window, e.g. `window w = {name}(...) of EVENT by KEY over 1h`",
        )
    return ("RD101", f"unknown name `{name}`", suggestion or "declare it, or check the spelling")


def unknown_event(name: str, suggestion: Optional[str]) -> Msg:
    return ("RD102", f"unknown event type `{name}`", suggestion or "declare it with `event NAME { field: type ... }`")


def not_a_field(name: str, events: list[str], suggestion: Optional[str], elsewhere: list[str]) -> Msg:
    where = _ticks(events) if len(events) <= 3 else f"{_ticks(events[:3])}, …"
    help_ = suggestion
    if help_ is None and elsewhere:
        help_ = f"`{name}` is a field of {_ticks(elsewhere[:3])}; add that to the `on` clause or the schema"
    return ("RD103", f"`{name}` is not a field of {where}", help_)


def field_missing_in_some(name: str, what: str, missing: list[str]) -> Msg:
    shown = _ticks(missing[:3]) + (", …" if len(missing) > 3 else "")
    return (
        "RD103",
        f"`{name}` is not a field of every event type this {what} applies to: missing in {shown}",
        f"narrow the `on` clause to the event types that have `{name}`, or add it to their schemas",
    )


def duplicate_definition(name: str, kind: str, first_kind: str, first_path: str, first_line: int) -> Msg:
    return (
        "RD104",
        f"`{name}` is defined more than once",
        f"first defined as {_KIND_WORDS.get(first_kind, first_kind)} at {_at(first_path, first_line)}; rename one",
    )


def duplicate_rule(name: str, first_path: str, first_line: int) -> Msg:
    return (
        "RD105",
        f"rule `{name}` is defined more than once",
        f"first defined at {_at(first_path, first_line)}; give every rule its own name",
    )


def unknown_function(name: str, suggestion: Optional[str]) -> Msg:
    if name in AGGREGATES and name not in BUILTINS:
        return (
            "RD106",
            f"unknown function `{name}`",
            f"`{name}` is an aggregate: declare a window, e.g. `window w = {name}(...) of EVENT by KEY over 1h`",
        )
    return ("RD106", f"unknown function `{name}`", suggestion or f"built-in functions are {_ticks(BUILTINS)}")


def unknown_type(name: str, suggestion: Optional[str]) -> Msg:
    hints = {
        "str": "string",
        "text": "string",
        "integer": "int",
        "long": "int",
        "number": "decimal",
        "money": "decimal",
        "double": "float",
        "boolean": "bool",
        "datetime": "timestamp",
        "date": "timestamp",
        "time": "timestamp",
    }
    if name.lower() in hints:
        suggestion = f"did you mean `{hints[name.lower()]}`?"
    return (
        "RD107",
        f"unknown type `{name}`",
        suggestion or 'types are int, decimal, float, string, bool, timestamp, duration and enum("a", "b")',
    )


def list_type_not_allowed(t: str) -> Msg:
    return ("RD107", f"a list cannot hold `{t}` values", "lists hold texts, enums, whole numbers or decimals")


def unknown_action(name: str, suggestion: Optional[str]) -> Msg:
    return ("RD108", f"unknown action `{name}`", suggestion or f"actions are {_ticks(ACTIONS)} (strongest first)")


def unknown_aggregate(name: str, suggestion: Optional[str]) -> Msg:
    return ("RD109", f"unknown aggregate `{name}`", suggestion or f"aggregates are {_ticks(AGGREGATES)}")


def ambiguous_name(name: str, kind: str, events: list[str]) -> Msg:
    noun = _KIND_WORDS.get(kind, kind).split(" ", 1)[-1]
    return (
        "RD110",
        f"`{name}` is both a field of {_ticks(events[:3])} and {_KIND_WORDS.get(kind, kind)}",
        f"rename the {noun} so that the condition says which one it means",
    )


def unknown_level(name: str, suggestion: Optional[str]) -> Msg:
    return ("RD111", f"unknown scorecard level `{name}`", suggestion or f"levels are {_ticks(LEVELS)}")


def missing_clause(rule: str, keyword: str) -> Msg:
    helps = {
        "when": "add `when CONDITION`",
        "action": f"add `action ACTION` with one of {_ticks(ACTIONS)}",
        "reason": 'add `reason "..."`: reviewers see it with every case the rule raises',
    }
    return ("RD112", f"rule `{rule}` has no `{keyword}` clause", helps[keyword])


def duplicate_clause(keyword: str, owner: str, first_line: int) -> Msg:
    return (
        "RD113",
        f"`{keyword}` is written more than once in `{owner}`",
        f"the first is on line {first_line}; keep one",
    )


def duplicate_level(level: str, owner: str, first_line: int) -> Msg:
    return (
        "RD113",
        f"level `{level}` is written more than once in `{owner}`",
        f"the first is on line {first_line}; keep one",
    )


def list_file_unreadable(shown: str, reason: str) -> Msg:
    return (
        "RD114",
        f"cannot read list file `{shown}`: {reason}",
        "the path is relative to the directory of the file that declares the list",
    )


def list_file_entry(shown: str, line: int, entry: str, declared: Type, more: int) -> Msg:
    extra = f" (and {more} more bad line{'s' if more != 1 else ''})" if more else ""
    return (
        "RD114",
        f"line {line} of `{shown}`: `{entry[:40]}` is not a value of type `{display(declared)}`{extra}",
        "fix or delete the line; blank lines and lines starting with `#` are ignored",
    )


def duplicate_header(first_path: str, first_line: int) -> Msg:
    return (
        "RD115",
        "the ruleset header is declared more than once",
        f"the header is at {_at(first_path, first_line)}; an included file must not declare its own",
    )


def misplaced_header() -> Msg:
    return ("RD115", "the ruleset header must be the first declaration of the file", "move it to the top")


def duplicate_header_item(item: str) -> Msg:
    return ("RD115", f"`{item}` is written more than once in the ruleset header", "keep one")


def duplicate_field(name: str, event: str, first_line: int) -> Msg:
    return (
        "RD116",
        f"field `{name}` is declared more than once in `{event}`",
        f"the first is on line {first_line}; delete or rename one",
    )


def bad_ts(event: str, t: str) -> Msg:
    return (
        "RD117",
        f"`ts` in `{event}` is declared as `{t}`",
        "`ts` is the event time: leave it out or declare it `ts: timestamp`",
    )


def unknown_timezone(name: str) -> Msg:
    return ("RD118", f"unknown time zone `{name}`", 'use an IANA name such as "Asia/Shanghai" or "UTC"')


# ---------------------------------------------------------------- RD2xx types


def cannot_compare(op: str, left: Type, right: Type) -> Msg:
    return (
        "RD201",
        f"cannot compare `{display(left)}` with `{display(right)}` using `{op}`",
        "compare numbers with numbers, texts with texts, timestamps with timestamps",
    )


def field_types_differ(name: str, a: str, ta: Type, b: str, tb: Type) -> Msg:
    return (
        "RD201",
        f"`{name}` is `{display(ta)}` in `{a}` but `{display(tb)}` in `{b}`",
        "give the field one type in every schema, or narrow the `on` clause",
    )


def in_elem_mismatch(left: Type, elem: Type) -> Msg:
    return (
        "RD201",
        f"cannot look up `{display(left)}` in a list of `{display(elem)}`",
        "the value and the list entries must be of the same kind",
    )


def bad_operator(op: str, left: Type, right: Optional[Type] = None) -> Msg:
    if right is None:
        return ("RD202", f"`{op}` cannot be applied to `{display(left)}`", _op_help(op, left, left))
    return ("RD202", f"`{op}` cannot be applied to `{display(left)}` and `{display(right)}`", _op_help(op, left, right))


def _op_help(op: str, left: Type, right: Type) -> str:
    if op in ("and", "or", "not"):
        return f"`{op}` combines conditions (true/false); compare the value first, e.g. `x > 0`"
    if op == "+" and left.name in ("string", "enum"):
        return "texts cannot be added; compare them with `==` or test them with startswith/contains"
    if op in ("<", "<=", ">", ">=") and left.name in ("string", "enum", "bool"):
        return "texts and true/false values are compared with `==` and `!=` only"
    if op == "%":
        return "`%` works on whole numbers and decimals"
    if left.name in ("timestamp", "duration") or right.name in ("timestamp", "duration"):
        return (
            "`timestamp - timestamp` is a duration, `timestamp ± duration` a timestamp; durations add, "
            "subtract and multiply by a whole number"
        )
    return "arithmetic works on numbers"


def in_needs_list(op: str, right: Type) -> Msg:
    help_ = 'use a list name or a list such as `["a", "b"]`'
    if right.name in ("string", "enum"):
        help_ = "to look for a text inside a text use `contains(text, part)`"
    return ("RD202", f"the right side of `{op}` must be a list, not `{display(right)}`", help_)


def not_bool(what: str, t: Type) -> Msg:
    return ("RD203", f"{what} must be true/false, not `{display(t)}`", 'compare the value, e.g. `x > 0` or `x == "a"`')


_SIG_WORDS = {
    "timestamp": "timestamp",
    "int": "int",
    "string": "string",
    "pattern": '"regex"',
    "num": "number",
    "string|list": "string or list",
    "value": "value",
    "scorecard": "scorecard",
}


def _signature(b: Builtin) -> str:
    return f"{b.name}({', '.join(_SIG_WORDS[k] for k in b.params)})"


def wrong_arity(b: Builtin, got: int) -> Msg:
    n = len(b.params)
    return ("RD204", f"`{b.name}` takes {n} argument{'s' if n != 1 else ''}, not {got}", f"{_signature(b)}: {b.doc}")


def wrong_arg(b: Builtin, index: int, t: Type) -> Msg:
    kind = b.params[index]
    return (
        "RD205",
        f"argument {index + 1} of `{b.name}` must be {KIND_WORDS[kind]}, not `{display(t)}`",
        f"{_signature(b)}: {b.doc}",
    )


def level_needs_scorecard() -> Msg:
    return ("RD205", "the argument of `level` must be the name of a scorecard", "write `level(SCORECARD_NAME)`")


def hour_out_of_range(b: Builtin, value: int) -> Msg:
    return ("RD205", f"hour `{value}` is out of range in `{b.name}`", "hours are 0-23 (24 for the end of the day)")


def bad_regex(reason: str) -> Msg:
    return (
        "RD206",
        f"invalid regular expression: {reason}",
        "patterns are RE2: no back-references or look-around; escape `\\` as `\\\\` in the string",
    )


def pattern_not_literal() -> Msg:
    return ("RD209", "the pattern of `matches` must be a string literal", 'write it in place: `matches(x, "^62")`')


def param_default_mismatch(name: str, declared: Type, got: Type) -> Msg:
    return (
        "RD207",
        f"the default of `{name}` is `{display(got)}` but the parameter is `{display(declared)}`",
        f"write a value of type `{display(declared)}`",
    )


def param_bad_type(name: str, t: str) -> Msg:
    return (
        "RD207",
        f"parameter `{name}` cannot have type `{t}`",
        "parameters are int, decimal, float, string, bool, duration or an enum",
    )


def score_not_number(what: str, got: Type) -> Msg:
    return ("RD207", f"{what} must be a number, not `{display(got)}`", "write a whole number or a decimal")


def const_bad_type(name: str, got: Type) -> Msg:
    return (
        "RD207",
        f"constant `{name}` cannot be `{display(got)}`",
        "a constant is a number, a text, true/false or a duration; use `list` for a set of values",
    )


def list_item_mismatch(declared: Type, got: Type) -> Msg:
    return (
        "RD208",
        f"list entry is `{display(got)}` but the list holds `{display(declared)}`",
        f"write a value of type `{display(declared)}`",
    )


def list_mixed(first: Type, got: Type) -> Msg:
    return (
        "RD208",
        f"list entry is `{display(got)}` but the first entry is `{display(first)}`",
        "every entry of a list has the same type",
    )


def not_constant(name: str, kind: str, what: str) -> Msg:
    return (
        "RD209",
        f"{what} must be constant, but `{name}` is {_KIND_WORDS.get(kind, kind)}",
        "use literals and constants only; values known at run time belong in rule conditions",
    )


def not_constant_expr(what: str) -> Msg:
    return ("RD209", f"{what} must be constant", "use literals and constants only")


def const_cycle(name: str) -> Msg:
    return ("RD209", f"constant `{name}` is defined in terms of itself", "break the cycle with a literal value")


def not_in_enum(value: str, t: Type, suggestion: Optional[str]) -> Msg:
    return (
        "RD210",
        f'`"{value}"` is not a value of `{display(t)}`',
        suggestion or f"the values are {', '.join(chr(34) + v + chr(34) for v in t.enum_values[:8])}",
    )


def division_by_zero() -> Msg:
    return ("RD211", "division by zero", "the result would always be missing; divide by a non-zero value")


def too_many_digits(text: str) -> Msg:
    return (
        "RD212",
        f"decimal `{text}` has more than 4 digits after the point",
        "decimals are exact to 4 places (0.0001)",
    )


def out_of_range(text: str) -> Msg:
    return ("RD213", f"number `{text}` is out of range", "numbers must fit in 64 bits (decimals: ±922,337,203,685,477)")


# ---------------------------------------------------------------- RD3xx windows, sequences


def bad_duration(what: str, text: str, longest_days: int = 400) -> Msg:
    """RD301: a span of zero, or longer than ``longest_days`` (400; more for ``since()``)."""
    return (
        "RD301",
        f"{what} `{text}` is {'zero' if text.startswith('0') else f'longer than {longest_days:,} days'}",
        f"use a duration between 1ms and {longest_days}d",
    )


def bad_key(t: Type) -> Msg:
    return (
        "RD302",
        f"a key cannot be `{display(t)}`",
        "key by an identity such as a customer, account, card, device or phone (text, enum, whole number)",
    )


def bad_aggregate_arg(agg: str, t: Type, wanted: str) -> Msg:
    return ("RD303", f"`{agg}` cannot aggregate `{display(t)}`", f"`{agg}` takes {wanted}")


def aggregate_arity(agg: str, arity: int) -> Msg:
    if arity == 0:
        return ("RD304", f"`{agg}()` takes no argument", f"write `{agg}()`")
    return ("RD304", f"`{agg}` takes one argument", f"write `{agg}(FIELD)`")


def useless_excluding(agg: str) -> Msg:
    return (
        "RD305",
        f"`excluding current` has no effect on `{agg}`",
        f"`{agg}` always looks at earlier events only; delete `excluding current`",
    )


def short_sequence(name: str, steps: int) -> Msg:
    return (
        "RD306",
        f"sequence `{name}` has {steps} step, it needs at least 2",
        "add the later steps, or write the condition in a rule",
    )


def unused(kind: str, name: str) -> Msg:
    return ("RD307", f"{kind} `{name}` is never used", "use it in a rule or delete it")


def lateness_too_long(lateness: str, window: str, over: str) -> Msg:
    return (
        "RD308",
        f"lateness `{lateness}` is longer than window `{window}` (`{over}`)",
        "lower the lateness or lengthen the window",
    )


def not_allowed_in(name: str, kind: str, where: str) -> Msg:
    return (
        "RD309",
        f"{_KIND_WORDS.get(kind, kind)} (`{name}`) cannot be read inside {where}",
        "windows and sequences may use the event's fields, constants, parameters and lists; "
        "combine windows in a rule's condition",
    )


# ---------------------------------------------------------------- RD4xx rule logic


def never_fires(rule: str) -> Msg:
    return (
        "RD401",
        f"rule `{rule}` can never fire: its condition is always false",
        "correct the condition, or delete the rule",
    )


def always_true(rule: str) -> Msg:
    return (
        "RD402",
        f"the condition of rule `{rule}` is always true",
        "the rule fires on every event of its types; correct the condition",
    )


def redundant_rule(rule: str, other: str, action: str, path: str, line: int) -> Msg:
    return (
        "RD404",
        f"rule `{rule}` never changes a decision",
        f"rule `{other}` ({_at(path, line)}) has the same condition on its events and action `{action}`; "
        "change the condition, delete the rule or mark it `shadow`",
    )


def level_out_of_order(level: str, previous: str) -> Msg:
    return (
        "RD405",
        f"level `{level}` comes after `{previous}`",
        "write levels strongest first: high, elevated, medium, low, minimal",
    )


def threshold_not_decreasing(level: str, previous: str) -> Msg:
    return (
        "RD405",
        f"the threshold of `{level}` is not below the threshold of `{previous}`",
        "thresholds must strictly decrease from high to minimal",
    )


def level_op(op: str) -> Msg:
    return ("RD405", f"a level is chosen by `>=`, not `{op}`", "write `level high >= N`")


def scorecard_no_items(name: str) -> Msg:
    return ("RD406", f"scorecard `{name}` has no items", 'add `item "label" when CONDITION score N`')


def scorecard_no_on(name: str) -> Msg:
    return ("RD406", f"scorecard `{name}` has no `on` clause", "add `on EVENT_TYPES` (or `on any`)")
