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
    """RD101: a name that is not declared; ``other_kind`` says what it is instead (event, rule, aggregate)."""
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
    """RD102: an event type that is not declared."""
    return ("RD102", f"unknown event type `{name}`", suggestion or "declare it with `event NAME { field: type ... }`")


def not_a_field(name: str, events: list[str], suggestion: Optional[str], elsewhere: list[str]) -> Msg:
    """RD103: a name that is not a field of ``events``; ``elsewhere`` lists event types that have it."""
    where = _ticks(events) if len(events) <= 3 else f"{_ticks(events[:3])}, …"
    help_ = suggestion
    if help_ is None and elsewhere:
        help_ = f"`{name}` is a field of {_ticks(elsewhere[:3])}; add that to the `on` clause or the schema"
    return ("RD103", f"`{name}` is not a field of {where}", help_)


def field_missing_in_some(name: str, what: str, missing: list[str]) -> Msg:
    """RD103: a field that some of the event types a ``what`` applies to lack."""
    shown = _ticks(missing[:3]) + (", …" if len(missing) > 3 else "")
    return (
        "RD103",
        f"`{name}` is not a field of every event type this {what} applies to: missing in {shown}",
        f"narrow the `on` clause to the event types that have `{name}`, or add it to their schemas",
    )


def duplicate_definition(name: str, kind: str, first_kind: str, first_path: str, first_line: int) -> Msg:
    """RD104: a second declaration of a name already declared (as ``first_kind``)."""
    return (
        "RD104",
        f"`{name}` is defined more than once",
        f"first defined as {_KIND_WORDS.get(first_kind, first_kind)} at {_at(first_path, first_line)}; rename one",
    )


def duplicate_rule(name: str, first_path: str, first_line: int) -> Msg:
    """RD105: a second rule with the same name."""
    return (
        "RD105",
        f"rule `{name}` is defined more than once",
        f"first defined at {_at(first_path, first_line)}; give every rule its own name",
    )


def unknown_function(name: str, suggestion: Optional[str]) -> Msg:
    """RD106: a call of a function that is not built in (an aggregate needs a window)."""
    if name in AGGREGATES and name not in BUILTINS:
        return (
            "RD106",
            f"unknown function `{name}`",
            f"`{name}` is an aggregate: declare a window, e.g. `window w = {name}(...) of EVENT by KEY over 1h`",
        )
    return ("RD106", f"unknown function `{name}`", suggestion or f"built-in functions are {_ticks(BUILTINS)}")


def unknown_type(name: str, suggestion: Optional[str]) -> Msg:
    """RD107: a type name that does not exist (``str`` suggests ``string``, and so on)."""
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
    """RD107: a list of a type lists cannot hold."""
    return ("RD107", f"a list cannot hold `{t}` values", "lists hold texts, enums, whole numbers or decimals")


def unknown_action(name: str, suggestion: Optional[str]) -> Msg:
    """RD108: a rule action that is not one of ``ACTIONS``."""
    return ("RD108", f"unknown action `{name}`", suggestion or f"actions are {_ticks(ACTIONS)} (strongest first)")


def unknown_aggregate(name: str, suggestion: Optional[str]) -> Msg:
    """RD109: a window aggregate that is not one of ``AGGREGATES``."""
    return ("RD109", f"unknown aggregate `{name}`", suggestion or f"aggregates are {_ticks(AGGREGATES)}")


def ambiguous_name(name: str, kind: str, events: list[str]) -> Msg:
    """RD110: a name that is both a field of the event types and a declaration."""
    noun = _KIND_WORDS.get(kind, kind).split(" ", 1)[-1]
    return (
        "RD110",
        f"`{name}` is both a field of {_ticks(events[:3])} and {_KIND_WORDS.get(kind, kind)}",
        f"rename the {noun} so that the condition says which one it means",
    )


def unknown_level(name: str, suggestion: Optional[str]) -> Msg:
    """RD111: a scorecard level that is not one of ``LEVELS``."""
    return ("RD111", f"unknown scorecard level `{name}`", suggestion or f"levels are {_ticks(LEVELS)}")


def missing_clause(rule: str, keyword: str) -> Msg:
    """RD112: a rule without its ``when``, ``action`` or ``reason`` clause."""
    helps = {
        "when": "add `when CONDITION`",
        "action": f"add `action ACTION` with one of {_ticks(ACTIONS)}",
        "reason": 'add `reason "..."`: reviewers see it with every case the rule raises',
    }
    return ("RD112", f"rule `{rule}` has no `{keyword}` clause", helps[keyword])


def duplicate_clause(keyword: str, owner: str, first_line: int) -> Msg:
    """RD113: a clause written twice in a rule or scorecard."""
    return (
        "RD113",
        f"`{keyword}` is written more than once in `{owner}`",
        f"the first is on line {first_line}; keep one",
    )


def duplicate_level(level: str, owner: str, first_line: int) -> Msg:
    """RD113: a scorecard level written twice."""
    return (
        "RD113",
        f"level `{level}` is written more than once in `{owner}`",
        f"the first is on line {first_line}; keep one",
    )


def list_file_unreadable(shown: str, reason: str) -> Msg:
    """RD114: a list file that cannot be read."""
    return (
        "RD114",
        f"cannot read list file `{shown}`: {reason}",
        "the path is relative to the directory of the file that declares the list",
    )


def list_file_not_utf8(shown: str, where: str, hint: str) -> Msg:
    """RD114: a list file that is not UTF-8 (GBK exports are common): the first bad byte and how to convert."""
    return ("RD114", f"cannot read list file `{shown}`: not valid UTF-8: {where}", hint)


def list_file_entry(shown: str, line: int, entry: str, declared: Type, more: int) -> Msg:
    """RD114: a list file entry that is not a value of the list's type (the first one, and how many more)."""
    extra = f" (and {more} more bad line{'s' if more != 1 else ''})" if more else ""
    return (
        "RD114",
        f"line {line} of `{shown}`: `{entry[:40]}` is not a value of type `{display(declared)}`{extra}",
        "fix or delete the line; blank lines and lines starting with `#` are ignored",
    )


def list_file_row(shown: str, line: int, problem: str, more: int) -> Msg:
    """RD114: a bad line of a CSV or JSON Lines list file (the first one, and how many more)."""
    extra = f" (and {more} more bad line{'s' if more != 1 else ''})" if more else ""
    return (
        "RD114",
        f"line {line} of `{shown}`: {problem}{extra}",
        "a CSV list has a header row with a `value` column; a JSON Lines list one object per line "
        '(docs/language.md, "List files")',
    )


def duplicate_header(first_path: str, first_line: int) -> Msg:
    """RD115: a second ruleset header in the program."""
    return (
        "RD115",
        "the ruleset header is declared more than once",
        f"the header is at {_at(first_path, first_line)}; an included file must not declare its own",
    )


def misplaced_header() -> Msg:
    """RD115: a ruleset header that is not the first declaration of its file."""
    return ("RD115", "the ruleset header must be the first declaration of the file", "move it to the top")


def duplicate_header_item(item: str) -> Msg:
    """RD115: a header item written twice."""
    return ("RD115", f"`{item}` is written more than once in the ruleset header", "keep one")


def cardinality_above_values(name: str, declared: int, most: int) -> Msg:
    """RD314: a budget clause declares more distinct values than the field's type has."""
    return (
        "RD314",
        f"field `{name}` declares cardinality {declared} but can take at most {most} values",
        f"write `cardinality {most}` or less (or drop the clause: the budget counts the values itself)",
    )


def duplicate_field(name: str, event: str, first_line: int) -> Msg:
    """RD116: a field declared twice in an event type."""
    return (
        "RD116",
        f"field `{name}` is declared more than once in `{event}`",
        f"the first is on line {first_line}; delete or rename one",
    )


def bad_ts(event: str, t: str) -> Msg:
    """RD117: an event type declaring ``ts`` with a type other than ``timestamp``."""
    return (
        "RD117",
        f"`ts` in `{event}` is declared as `{t}`",
        "`ts` is the event time: leave it out or declare it `ts: timestamp`",
    )


def unknown_timezone(name: str) -> Msg:
    """RD118: a header time zone that is not an IANA name."""
    return ("RD118", f"unknown time zone `{name}`", 'use an IANA name such as "Asia/Shanghai" or "UTC"')


# ---------------------------------------------------------------- RD2xx types


def cannot_compare(op: str, left: Type, right: Type) -> Msg:
    """RD201: a comparison of values of different kinds."""
    return (
        "RD201",
        f"cannot compare `{display(left)}` with `{display(right)}` using `{op}`",
        "compare numbers with numbers, texts with texts, timestamps with timestamps",
    )


def field_types_differ(name: str, a: str, ta: Type, b: str, tb: Type) -> Msg:
    """RD201: a field read across event types that declare it with incompatible types."""
    return (
        "RD201",
        f"`{name}` is `{display(ta)}` in `{a}` but `{display(tb)}` in `{b}`",
        "give the field one type in every schema, or narrow the `on` clause",
    )


def in_elem_mismatch(left: Type, elem: Type) -> Msg:
    """RD201: ``in`` with a value that cannot equal the list's entries."""
    return (
        "RD201",
        f"cannot look up `{display(left)}` in a list of `{display(elem)}`",
        "the value and the list entries must be of the same kind",
    )


def bad_operator(op: str, left: Type, right: Optional[Type] = None) -> Msg:
    """RD202: an operator applied to operands it does not take (one operand for ``-x`` and ``not x``)."""
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
    """RD202: ``in``/``not in`` whose right side is not a list."""
    help_ = 'use a list name or a list such as `["a", "b"]`'
    if right.name in ("string", "enum"):
        help_ = "to look for a text inside a text use `contains(text, part)`"
    return ("RD202", f"the right side of `{op}` must be a list, not `{display(right)}`", help_)


def not_bool(what: str, t: Type) -> Msg:
    """RD203: a condition (``what``) that is not true/false."""
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
    "key": "key",
    "list": "list",
}


def _signature(b: Builtin) -> str:
    return f"{b.name}({', '.join(_SIG_WORDS[k] for k in b.params)})"


def wrong_arity(b: Builtin, got: int) -> Msg:
    """RD204: a built-in function called with the wrong number of arguments."""
    n = len(b.params)
    return ("RD204", f"`{b.name}` takes {n} argument{'s' if n != 1 else ''}, not {got}", f"{_signature(b)}: {b.doc}")


def wrong_arg(b: Builtin, index: int, t: Type) -> Msg:
    """RD205: argument ``index`` of a built-in function of a type it does not take."""
    kind = b.params[index]
    return (
        "RD205",
        f"argument {index + 1} of `{b.name}` must be {KIND_WORDS[kind]}, not `{display(t)}`",
        f"{_signature(b)}: {b.doc}",
    )


def list_function_needs_list(name: str) -> Msg:
    """RD205: the first argument of ``list_category`` & co. that is not a declared list's name."""
    return (
        "RD205",
        f"the first argument of `{name}` must be the name of a declared list",
        f"write `{name}(LIST_NAME, x)`",
    )


def list_lookup_mismatch(name: str, got: Type, elem: Type) -> Msg:
    """RD205: a value looked up in a list whose entries cannot equal it without rounding (or of another kind)."""
    return (
        "RD205",
        f"`{name}` looks up a `{display(got)}` in a list of `{display(elem)}`",
        "look up a value of the list's entry type (a whole number may be looked up in a decimal list)",
    )


def level_needs_scorecard() -> Msg:
    """RD205: ``level(x)`` where ``x`` is not a scorecard name."""
    return ("RD205", "the argument of `level` must be the name of a scorecard", "write `level(SCORECARD_NAME)`")


def hour_out_of_range(b: Builtin, value: int) -> Msg:
    """RD205: a constant hour outside 0-24 in ``between_hours``."""
    return ("RD205", f"hour `{value}` is out of range in `{b.name}`", "hours are 0-23 (24 for the end of the day)")


def bad_regex(reason: str) -> Msg:
    """RD206: a ``matches`` pattern that RE2 does not accept."""
    return (
        "RD206",
        f"invalid regular expression: {reason}",
        "patterns are RE2: no back-references or look-around; escape `\\` as `\\\\` in the string",
    )


def pattern_not_literal() -> Msg:
    """RD209: a ``matches`` pattern that is not a string literal."""
    return ("RD209", "the pattern of `matches` must be a string literal", 'write it in place: `matches(x, "^62")`')


def param_default_mismatch(name: str, declared: Type, got: Type) -> Msg:
    """RD207: a parameter default whose type does not fit the declared type."""
    return (
        "RD207",
        f"the default of `{name}` is `{display(got)}` but the parameter is `{display(declared)}`",
        f"write a value of type `{display(declared)}`",
    )


def param_bad_type(name: str, t: str) -> Msg:
    """RD207: a parameter of a type parameters cannot have."""
    return (
        "RD207",
        f"parameter `{name}` cannot have type `{t}`",
        "parameters are int, decimal, float, string, bool, duration or an enum",
    )


def score_not_number(what: str, got: Type) -> Msg:
    """RD207: a score or level threshold (``what``) that is not a number."""
    return ("RD207", f"{what} must be a number, not `{display(got)}`", "write a whole number or a decimal")


def const_bad_type(name: str, got: Type) -> Msg:
    """RD207: a constant whose value has a type constants cannot have."""
    return (
        "RD207",
        f"constant `{name}` cannot be `{display(got)}`",
        "a constant is a number, a text, true/false or a duration; use `list` for a set of values",
    )


def list_item_mismatch(declared: Type, got: Type) -> Msg:
    """RD208: an inline list entry whose type does not fit the list's type."""
    return (
        "RD208",
        f"list entry is `{display(got)}` but the list holds `{display(declared)}`",
        f"write a value of type `{display(declared)}`",
    )


def list_mixed(first: Type, got: Type) -> Msg:
    """RD208: a list literal mixing entries of different kinds."""
    return (
        "RD208",
        f"list entry is `{display(got)}` but the first entry is `{display(first)}`",
        "every entry of a list has the same type",
    )


def not_constant(name: str, kind: str, what: str) -> Msg:
    """RD209: a non-constant name where a constant is required (``what`` says where)."""
    return (
        "RD209",
        f"{what} must be constant, but `{name}` is {_KIND_WORDS.get(kind, kind)}",
        "use literals and constants only; values known at run time belong in rule conditions",
    )


def not_constant_expr(what: str) -> Msg:
    """RD209: an expression that is not constant where a constant is required."""
    return ("RD209", f"{what} must be constant", "use literals and constants only")


def const_cycle(name: str) -> Msg:
    """RD209: a constant defined in terms of itself."""
    return ("RD209", f"constant `{name}` is defined in terms of itself", "break the cycle with a literal value")


def not_in_enum(value: str, t: Type, suggestion: Optional[str]) -> Msg:
    """RD210: a text compared with or given to an enum that is not one of its values."""
    return (
        "RD210",
        f'`"{value}"` is not a value of `{display(t)}`',
        suggestion or f"the values are {', '.join(chr(34) + v + chr(34) for v in t.enum_values[:8])}",
    )


def division_by_zero() -> Msg:
    """RD211: a division or remainder by a constant zero."""
    return ("RD211", "division by zero", "the result would always be missing; divide by a non-zero value")


def too_many_digits(text: str) -> Msg:
    """RD212: a decimal literal with more than 4 digits after the point."""
    return (
        "RD212",
        f"decimal `{text}` has more than 4 digits after the point",
        "decimals are exact to 4 places (0.0001)",
    )


def out_of_range(text: str) -> Msg:
    """RD213: a number (literal or folded) outside the 64-bit range."""
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
    """RD302: a window or sequence key of a type that cannot be a key."""
    return (
        "RD302",
        f"a key cannot be `{display(t)}`",
        "key by an identity such as a customer, account, card, device or phone (text, enum, whole number)",
    )


def bad_aggregate_arg(agg: str, t: Type, wanted: str) -> Msg:
    """RD303: an aggregate over values it cannot aggregate (``wanted`` says what it takes)."""
    return ("RD303", f"`{agg}` cannot aggregate `{display(t)}`", f"`{agg}` takes {wanted}")


def aggregate_arity(agg: str, arity: int) -> Msg:
    """RD304: an aggregate with an argument it does not take, or without the one it needs."""
    if arity == 0:
        return ("RD304", f"`{agg}()` takes no argument", f"write `{agg}()`")
    return ("RD304", f"`{agg}` takes one argument", f"write `{agg}(FIELD)`")


def useless_excluding(agg: str) -> Msg:
    """RD305: ``excluding current`` on an aggregate it does not change."""
    return (
        "RD305",
        f"`excluding current` has no effect on `{agg}`",
        f"`{agg}` always looks at earlier events only; delete `excluding current`",
    )


def short_sequence(name: str, steps: int) -> Msg:
    """RD306: a sequence with fewer than two steps."""
    return (
        "RD306",
        f"sequence `{name}` has {steps} step, it needs at least 2",
        "add the later steps, or write the condition in a rule",
    )


def unused(kind: str, name: str) -> Msg:
    """RD307: a declaration (of ``kind``) that nothing reads."""
    return ("RD307", f"{kind} `{name}` is never used", "use it in a rule or delete it")


def hold_timeout_not_positive(value: str) -> Msg:
    """RD310: a header hold_timeout of zero or less."""
    return (
        "RD310",
        f"hold_timeout `{value}` is not positive: a hold must wait for its call-back",
        "give the time the call-back team has to confirm, e.g. `hold_timeout 24h`",
    )


def lateness_too_long(lateness: str, window: str, over: str) -> Msg:
    """RD308: a header lateness longer than the shortest window."""
    return (
        "RD308",
        f"lateness `{lateness}` is longer than window `{window}` (`{over}`)",
        "lower the lateness or lengthen the window",
    )


def not_allowed_in(name: str, kind: str, where: str) -> Msg:
    """RD309: a name of a kind that cannot be read where it stands (e.g. a window in a window)."""
    return (
        "RD309",
        f"{_KIND_WORDS.get(kind, kind)} (`{name}`) cannot be read inside {where}",
        "windows and sequences may use the event's fields, constants, parameters and lists; "
        "combine windows in a rule's condition",
    )


def bad_control_key(t: Type) -> Msg:
    """RD302: a control key (or ``controlled()`` argument) that is not a text, enum or whole number."""
    return (
        "RD302",
        f"a control key cannot be `{display(t)}`",
        "control an identity such as an account, card, customer, device or phone (text, enum, whole number)",
    )


def control_kind_not_literal() -> Msg:
    """RD311: a control clause's kind that is not a string literal."""
    return (
        "RD311",
        "the kind of a control must be a quoted, non-empty text",
        'write it as a literal, e.g. `control account_no as "restricted" for 30d`',
    )


def control_duration(text: str, problem: str) -> Msg:
    """RD312: a control clause's duration that is not a positive constant duration."""
    return ("RD312", f"control duration `{text}` {problem}", "give how long the control lasts, e.g. `for 30d`")


def control_function_in(func: str, where: str) -> Msg:
    """RD309: ``controlled()``/``control_kind()`` in a window or sequence definition."""
    return (
        "RD309",
        f"`{func}` cannot be used inside {where}",
        "windows and sequences are fed event by event; test controls in a rule's condition or a scorecard item",
    )


# ---------------------------------------------------------------- RD4xx rule logic


def never_fires(rule: str) -> Msg:
    """RD401: a rule whose condition is always false."""
    return (
        "RD401",
        f"rule `{rule}` can never fire: its condition is always false",
        "correct the condition, or delete the rule",
    )


def always_true(rule: str) -> Msg:
    """RD402: a rule whose condition is always true."""
    return (
        "RD402",
        f"the condition of rule `{rule}` is always true",
        "the rule fires on every event of its types; correct the condition",
    )


def redundant_rule(rule: str, other: str, action: str, path: str, line: int) -> Msg:
    """RD404: a rule repeating the condition of ``other``, at least as strong on at least its events."""
    return (
        "RD404",
        f"rule `{rule}` never changes a decision",
        f"rule `{other}` ({_at(path, line)}) has the same condition on its events and action `{action}`; "
        "change the condition, delete the rule or mark it `shadow`",
    )


def level_out_of_order(level: str, previous: str) -> Msg:
    """RD405: scorecard levels not written from highest to lowest."""
    return (
        "RD405",
        f"level `{level}` comes after `{previous}`",
        "write levels strongest first: high, elevated, medium, low, minimal",
    )


def threshold_not_decreasing(level: str, previous: str) -> Msg:
    """RD405: a level threshold not below the threshold of the level above."""
    return (
        "RD405",
        f"the threshold of `{level}` is not below the threshold of `{previous}`",
        "thresholds must strictly decrease from high to minimal",
    )


def level_op(op: str) -> Msg:
    """RD405: a level chosen with an operator other than ``>=``."""
    return ("RD405", f"a level is chosen by `>=`, not `{op}`", "write `level high >= N`")


def scorecard_no_items(name: str) -> Msg:
    """RD406: a scorecard without items."""
    return ("RD406", f"scorecard `{name}` has no items", 'add `item "label" when CONDITION score N`')


def scorecard_no_on(name: str) -> Msg:
    """RD406: a scorecard without an ``on`` clause."""
    return ("RD406", f"scorecard `{name}` has no `on` clause", "add `on EVENT_TYPES` (or `on any`)")


# ---------------------------------------------------------------- exemptions (`exempt by`)


def exempt_unknown_field(name: str, suggestion: Optional[str]) -> Msg:
    """RD119: an `exempt by` name that is no event's field."""
    return (
        "RD119",
        f"`exempt by` names `{name}`, which is not a field of any event type",
        suggestion or "name the fields an exemption key is matched against, e.g. `exempt by customer_id`",
    )


def exempt_duplicate_field(name: str, first_path: str, first_line: int) -> Msg:
    """RD120: an `exempt by` field named twice (in one declaration or across declarations)."""
    return (
        "RD120",
        f"`exempt by` names `{name}` more than once",
        f"it is already named at {_at(first_path, first_line)}; delete this one",
    )


def exempt_field_type(name: str, event: str, t: Type) -> Msg:
    """RD214: an `exempt by` field whose type cannot hold an exemption key."""
    return (
        "RD214",
        f"`exempt by` field `{name}` is `{display(t)}` in `{event}`: an exemption key is a string or an int",
        "name identifier fields (string, int or enum), e.g. a customer id or an account number",
    )


# ---------------------------------------------------------------- RD407-RD409 (check/logic.py)


def contradiction(text: str, operands: str, consequence: str) -> Msg:
    """RD407: a condition, or part of one, that no value of its operands makes true."""
    return (
        "RD407",
        f"`{text}` is never true: no value of {operands} satisfies these comparisons",
        f"check the operators and bounds (`<` for `>`? `and` for `or`?); as written, {consequence or 'this part is dead'}",
    )


def tautology(text: str, operands: str, whole: bool) -> Msg:
    """RD408: a condition, or part of one, that every value of its operands makes true."""
    what = "the rule fires on every event of its types" if whole else "this part tests nothing"
    return (
        "RD408",
        f"`{text}` is always true: every value of {operands} satisfies it",
        f"check the operators and bounds (`or` for `and`?); as written, {what}",
    )


def shared_code(rule: str, other: str, code: str, path: str, line: int) -> Msg:
    """RD409: a rule whose reason code another (non-shadow) rule already uses."""
    return (
        "RD409",
        f"rules `{rule}` and `{other}` ({_at(path, line)}) have the same reason code `{code}`",
        "the channel gets only the code: give each rule its own, or mark the trial version `shadow`",
    )
