"""Every diagnostic code, its severity and its explanation (``ruledsl explain``).

Codes are grouped: ``RD0xx`` syntax and files, ``RD1xx`` names,
``RD2xx`` types, ``RD3xx`` windows, sequences and state, ``RD4xx`` rule logic.
A code, once published, keeps its meaning.
"""

from __future__ import annotations

import msgspec

from ruledsl.syntax.codes_lint import LINT_CODES


class Code(msgspec.Struct, frozen=True):
    """A registered diagnostic code."""

    code: str
    severity: str  # "error" or "warning"
    title: str
    explanation: str  # What / Why / Example, shown by `ruledsl explain`


def _c(code: str, severity: str, title: str, explanation: str) -> Code:
    return Code(code, severity, title, explanation.strip("\n"))


_ALL = [
    # ---- RD0xx: syntax and files
    _c(
        "RD001",
        "error",
        "syntax error",
        """
What: the parser met a word or symbol it did not expect at this place.
Why: the rule cannot be understood; nothing in the file is compiled.
Example:
    rule r1 { when amount > > 100 }
Fix: the caret shows where the parser stopped; the help line lists what it
expected there (a value, a comparison, a keyword such as `action`).""",
    ),
    _c(
        "RD002",
        "error",
        "unexpected end of file",
        """
What: the file ended in the middle of a declaration, usually a missing `}`.
Example:
    rule r1 { when amount > 100 action block
Fix: close the block that the help line names.""",
    ),
    _c(
        "RD003",
        "error",
        "unrecognised character",
        """
What: a character that the language does not use, e.g. `$`, `;` or a
full-width bracket typed with a Chinese input method.
Example:
    when amount ＞ 100
Fix: use ASCII operators (`>`, `(`, `,`) outside of strings and comments.""",
    ),
    _c(
        "RD004",
        "error",
        "invalid string literal",
        """
What: a string with an unknown escape sequence, or one that is not closed
on the same line.
Example:
    reason "bad \\q escape"
Fix: allowed escapes are \\" \\\\ \\n \\t \\uXXXX.""",
    ),
    _c(
        "RD005",
        "error",
        "expression nested too deeply",
        """
What: an expression nests parentheses or operators more than the limit
(100 levels; each operator of a chain such as `a or b or c` counts as a level).
Why: such expressions cannot be reviewed by a person; the limit also keeps
the checker and compiler safe from stack exhaustion.
Fix: split the condition into named windows, constants or several rules.""",
    ),
    _c(
        "RD006",
        "error",
        "cannot read file",
        """
What: a ruleset file, or a file named by `include`, cannot be read (it
does not exist, or permissions).  A file that is not UTF-8 is RD008.
Fix: check the path (relative to the including file).""",
    ),
    _c(
        "RD007",
        "error",
        "include cycle",
        """
What: files include each other in a cycle.
Example: a.rdsl includes b.rdsl, which includes a.rdsl.
Fix: move the shared declarations into a third file that both include.""",
    ),
    _c(
        "RD008",
        "error",
        "file is not UTF-8",
        """
What: a ruleset file (or a file it includes) has bytes that are not UTF-8;
the diagnostic points at the first one (line:column) and guesses the
encoding the file was saved in.
Why: ruledsl reads rulesets, list files and test files as UTF-8 only (a BOM
is tolerated).  Files saved by Chinese Windows editors are often GBK
(GB 2312 / GB 18030); reading them as anything else would silently change
reason texts and list entries.
Example: a file saved as GBK with `reason "大额转账"` in it.
Fix: convert the file, e.g. `iconv -f GBK -t UTF-8 rules.rdsl > rules.utf8.rdsl`,
or save it as UTF-8 in your editor.""",
    ),
    _c(
        "RD009",
        "warning",
        "file declares nothing",
        """
What: a ruleset file has no declarations at all: it is empty, or holds only
comments.
Why: loading it gives an engine with no rules, which passes every event; usually
the wrong file, a file truncated by a failed copy, or a file whose content
was commented out.
Fix: check that the path names the ruleset you meant, or delete the file.""",
    ),
    # ---- RD1xx: names
    _c(
        "RD101",
        "error",
        "unknown name",
        """
What: a name in an expression is not a field of the event types in scope,
nor a constant, parameter, list, window, sequence or scorecard.
Why: the rule cannot be evaluated; a typo would otherwise silently never match.
Example:
    rule r1 { on transfer when amout > 100 action block reason "big" }
Fix: correct the spelling (the help line suggests the closest name) or
declare the name.""",
    ),
    _c(
        "RD102",
        "error",
        "unknown event type",
        """
What: an `on`, `of` or `step` names an event type that no `event` declares.
Example:
    rule r1 { on tranfser when amount > 100 action block reason "big" }
Fix: correct the spelling, or declare the event type with its schema.""",
    ),
    _c(
        "RD103",
        "error",
        "unknown field",
        """
What: a name is used as a field, but the event type in scope has no such
field; or a rule, window or sequence applies to several event types and the
field is missing in some of them.
Why: an event of that type could never give the field a value.
Example:
    event login { customer: string }
    rule r1 { on login, transfer when amount > 100 action block reason "big" }
Fix: correct the spelling, add the field to the schema, or narrow the `on`
clause to the event types that have the field.""",
    ),
    _c(
        "RD104",
        "error",
        "duplicate definition",
        """
What: two declarations use the same name.  Constants, parameters, lists,
windows, sequences and scorecards share one namespace; event types have
their own.
Why: a rule reading the name could mean either one.
Example:
    const limit = 100
    param limit: int = 200
Fix: rename one of them; the help line points at the first definition.""",
    ),
    _c(
        "RD105",
        "error",
        "duplicate rule name",
        """
What: two rules have the same name.
Why: decisions, statistics and feedback are reported per rule name; two
rules with one name cannot be told apart.
Example:
    rule big_transfer { ... }
    rule big_transfer { ... }
Fix: give every rule its own name.""",
    ),
    _c(
        "RD106",
        "error",
        "unknown function",
        """
What: a call names a function that is not a built-in.
Example:
    when hours(ts) < 6
Fix: use one of the built-ins (hour, minute, weekday, day, between_hours,
lower, upper, len, startswith, endswith, contains, matches, abs, min, max,
present, level).  Aggregates such as `sum` or `count` are declared as
windows, not called in a condition.""",
    ),
    _c(
        "RD107",
        "error",
        "unknown type",
        """
What: a schema field, parameter or list names a type that does not exist.
Example:
    event transfer { amount: money }
Fix: use int, decimal, float, string, bool, timestamp, duration or
enum("a", "b"), optionally followed by `?`.""",
    ),
    _c(
        "RD108",
        "error",
        "unknown action",
        """
What: a rule's `action` is not one of the five actions.
Example:
    action deny
Fix: use block, hold, step_up, alert or pass (strongest first).""",
    ),
    _c(
        "RD109",
        "error",
        "unknown aggregate",
        """
What: a window uses an aggregate function that does not exist.
Example:
    window w = total(amount) of transfer by customer over 1d
Fix: use count(), sum(x), avg(x), min(x), max(x), distinct(x), last(x) or
since().""",
    ),
    _c(
        "RD110",
        "error",
        "ambiguous name",
        """
What: a name in a condition is both a field of the event types in scope
and a constant, parameter, list, window, sequence or scorecard.
Why: a reader cannot tell which one the rule means, and adding a field to a
schema would silently change old rules.
Example:
    event transfer { limit: decimal }
    param limit: decimal = 10000
    rule r1 { on transfer when amount > limit ... }
Fix: rename the declaration (fields come from the channel and are harder
to rename).""",
    ),
    _c(
        "RD111",
        "error",
        "unknown scorecard level",
        """
What: a scorecard `level` names a level that does not exist.
Example:
    level severe >= 80
Fix: use high, elevated, medium, low or minimal.""",
    ),
    _c(
        "RD112",
        "error",
        "missing clause",
        """
What: a rule lacks a required clause.  Every rule needs `when`, `action`
and `reason`.
Why: without `reason` the risk team reviewing a case cannot tell why the
rule fired; without `when` or `action` the rule means nothing.
Example:
    rule r1 { on transfer when amount > 100 action block }
Fix: add the clause the message names.""",
    ),
    _c(
        "RD113",
        "error",
        "duplicate clause",
        """
What: a clause is written twice in one rule or scorecard (two `when`, two
`action`, two `on`, or the same scorecard level twice).
Why: only one of them could count; the other would be silently ignored.
Example:
    rule r1 { when amount > 100 when amount > 200 action block reason "x" }
Fix: combine the two (e.g. with `and`) or delete one.""",
    ),
    _c(
        "RD114",
        "error",
        "list file problem",
        """
What: the file of a `list NAME: TYPE = file("...")` cannot be read, or an
entry in it is not a value of the list's type (the message gives the line).
Paths are relative to the directory of the file that declares the list.
Example:
    list black: string = file("lists/blak.txt")
    list bins: int = file("bins.txt")      # a line reads `6228-48`
Fix: correct the path or the entry.  The file is UTF-8 text, one entry per
line (surrounding blanks are ignored); blank lines and lines starting with
`#` are skipped.""",
    ),
    _c(
        "RD115",
        "error",
        "misplaced ruleset header",
        """
What: a second `ruleset` header, a header item written twice, or a header
that is not the first declaration of its file.
Example:
    ruleset demo { version "1" version "2" }
Fix: keep one header, at the top of the main ruleset file, with each item
once.""",
    ),
    _c(
        "RD116",
        "error",
        "duplicate field",
        """
What: an event schema declares the same field twice.
Example:
    event transfer { amount: decimal  amount: int }
Fix: delete or rename one of them.""",
    ),
    _c(
        "RD117",
        "error",
        "bad `ts` field",
        """
What: an event schema declares `ts` with a type other than `timestamp`.
Why: `ts` is the event time that every window and sequence is based on.
Example:
    event transfer { ts: string }
Fix: leave `ts` out (every event type has it) or declare it `ts: timestamp`.""",
    ),
    _c(
        "RD118",
        "error",
        "unknown time zone",
        """
What: the ruleset header's `timezone` is not an IANA time zone name.
Why: hour(), weekday(), between_hours() read local time in this zone.
Example:
    ruleset demo { timezone "Beijing" }
Fix: use a name such as "Asia/Shanghai" or "UTC".""",
    ),
    _c(
        "RD119",
        "error",
        "unknown `exempt by` field",
        """
What: an `exempt by` declaration names something that is not a field of
any event type.
Why: `exempt by` lists the event fields an exemption key is matched
against (`engine.exempt(key, rule=...)`); a name no event has matches nothing.
Example:
    exempt by custmer_id
Fix: use a field of at least one event type (the help line suggests one).""",
    ),
    _c(
        "RD120",
        "warning",
        "`exempt by` field named twice",
        """
What: an `exempt by` declaration names a field already named (in it, or in
another `exempt by` of the program: declarations of included files merge).
Example:
    exempt by customer_id, customer_id
Fix: delete the repetition.""",
    ),
    # ---- RD2xx: types
    _c(
        "RD201",
        "error",
        "incompatible comparison",
        """
What: two values of types that cannot be compared, e.g. a text with a
number, or a list entry of the wrong type in `in`.
Example:
    when city == 100
Fix: compare values of the same kind: numbers with numbers, texts (and
enums) with texts, timestamps with timestamps, durations with durations.""",
    ),
    _c(
        "RD202",
        "error",
        "operator not applicable",
        """
What: an operator is used on values it does not work on, e.g. `+` on texts,
`and` on numbers, `<` on texts, `in` with something that is not a list.
Example:
    when amount and city
Fix: see docs/semantics.md for what each operator accepts; texts are
compared with `==`/`!=` and tested with startswith/contains/matches.""",
    ),
    _c(
        "RD203",
        "error",
        "condition is not true/false",
        """
What: a `when` or `where` condition has a type other than bool.
Example:
    when amount
Fix: compare the value, e.g. `when amount > 0`.""",
    ),
    _c(
        "RD204",
        "error",
        "wrong number of arguments",
        """
What: a built-in function is called with too many or too few arguments.
Example:
    when between_hours(ts, 22)
Fix: the help line shows the signature.""",
    ),
    _c(
        "RD205",
        "error",
        "argument type mismatch",
        """
What: a built-in function gets an argument of the wrong type or value.
Example:
    when hour(amount) < 6
Fix: the help line shows what the function expects.""",
    ),
    _c(
        "RD206",
        "error",
        "invalid regular expression",
        """
What: the pattern of `matches(text, "...")` is not a valid RE2 expression.
Why: patterns are RE2 (linear time, no backtracking): back-references and
look-around are not supported.
Example:
    when matches(name, "(a")
Fix: correct the pattern; the message shows RE2's complaint.""",
    ),
    _c(
        "RD207",
        "error",
        "value does not match the declared type",
        """
What: a parameter's default does not have the parameter's type, or a
scorecard score or level threshold is not a number, or a constant is
something other than a number, text, true/false or duration.
Example:
    param limit: int = "100"
Fix: write a value of the declared type (a whole number may stand for a
decimal or float).""",
    ),
    _c(
        "RD208",
        "error",
        "list entry type mismatch",
        """
What: an entry of an inline list does not have the list's type, or a list
written in a condition mixes types.  (Entries of list files: RD114.)
Example:
    list bins: int = [622848, "6228"]
Fix: make every entry of the declared type.""",
    ),
    _c(
        "RD209",
        "error",
        "value is not constant",
        """
What: a constant, a parameter default, a list entry, a scorecard score or
a level threshold uses something that is only known at run time (a field,
a parameter, a window), or a constant is defined in terms of itself;
or the pattern of `matches` is not a string literal.
Example:
    const double_limit = limit * 2      # limit is a param
Fix: use literals and other constants only.  Run-time values belong in
rule conditions.""",
    ),
    _c(
        "RD210",
        "error",
        "value not in enum",
        """
What: an enum-typed value is compared with (or tested `in` a list holding)
a text that is not one of the enum's values.
Why: the comparison could never be true; usually a typo.
Example:
    event transfer { channel: enum("atm", "pos") }
    when channel == "ATM"
Fix: use one of the enum's values (the help line suggests the closest).""",
    ),
    _c(
        "RD211",
        "error",
        "division by zero",
        """
What: a division or `%` whose right side is a constant zero.
Why: the result would always be missing, so the rule could never fire.
Example:
    when amount / 0 > 1
Fix: divide by a non-zero value.""",
    ),
    _c(
        "RD212",
        "error",
        "decimal with too many digits",
        """
What: a decimal literal has more than 4 digits after the point.
Why: decimals are exact with 4 fractional digits; the literal cannot be
represented and would be silently rounded.
Example:
    const rate = 0.00015
Fix: write at most 4 fractional digits.""",
    ),
    _c(
        "RD213",
        "error",
        "number out of range",
        """
What: a number (a literal or a folded constant) does not fit the engine's
64-bit integers (decimals: about +/-922 trillion).
Example:
    const huge = 99999999999999999999
Fix: use a smaller number.""",
    ),
    _c(
        "RD214",
        "error",
        "`exempt by` field cannot hold a key",
        """
What: an `exempt by` field is not a string, int or enum field in some event
type (a decimal, float, bool, timestamp or duration).
Why: an exemption key (`engine.exempt(key, ...)`) is a string or an int,
matched by equality: an amount or a flag is not an identity.
Example:
    exempt by amount
Fix: name identifier fields, e.g. `exempt by customer_id, account_no`.""",
    ),
    # ---- RD3xx: windows, sequences, state
    _c(
        "RD301",
        "error",
        "bad duration",
        """
What: a window's `over` or a sequence's `within` is zero or longer than
400 days.  A `since()` window may be longer (up to 36500000d): it keeps
only the newest timestamp per key, so a long span costs no more memory per
key.
Why: a zero window holds nothing; other state older than 400 days is not kept.
Example:
    window w = count() of login by customer over 0s
Fix: use a duration between 1ms and 400d.""",
    ),
    _c(
        "RD302",
        "error",
        "bad key type",
        """
What: a window or sequence key has a type that cannot be a key: float or
decimal (two amounts that print the same may differ), a list or a duration.
A `control` clause's key (and the argument of `controlled()` and
`control_kind()`) must be a text, an enum or a whole number.
Example:
    window w = count() of transfer by amount over 1h
Fix: key by an identity: a customer, account, card, device, phone (texts,
enums, whole numbers).""",
    ),
    _c(
        "RD303",
        "error",
        "aggregate argument type mismatch",
        """
What: an aggregate gets a value it cannot aggregate, e.g. the sum of a text.
Example:
    window w = sum(city) of transfer by customer over 1d
Fix: sum/avg take numbers; min/max numbers, timestamps or durations;
distinct/last any value.""",
    ),
    _c(
        "RD304",
        "error",
        "aggregate arity",
        """
What: count() and since() take no argument; sum, avg, min, max, distinct
and last take exactly one.
Example:
    window w = count(amount) of transfer by customer over 1h
Fix: write count() to count events, or sum(amount) to add amounts.""",
    ),
    _c(
        "RD305",
        "warning",
        "`excluding current` has no effect",
        """
What: `excluding current` on a `last` or `since` window.
Why: last() and since() always look at earlier events only.
Example:
    window prev = last(city) of login by customer over 30d excluding current
Fix: delete `excluding current`.""",
    ),
    _c(
        "RD306",
        "error",
        "sequence too short",
        """
What: a sequence with fewer than two steps.
Why: a one-step "sequence" is just a condition on one event.
Example:
    sequence s by customer within 30m { step login }
Fix: add the later steps, or write the condition in a rule.""",
    ),
    _c(
        "RD307",
        "warning",
        "declared but never used",
        """
What: a constant, parameter, list, window or sequence that no rule,
scorecard or other declaration reads.
Why: dead declarations cost state (windows, sequences) or mislead readers.
Example:
    window unused = count() of login by customer over 1h
Fix: use it or delete it.""",
    ),
    _c(
        "RD308",
        "warning",
        "lateness longer than a window",
        """
What: the header's `lateness` is longer than the shortest window.
Why: windows must keep entries for their duration plus the lateness; a
lateness longer than a window's span multiplies its state and delays
eviction, which usually means the lateness is wrong.
Example:
    ruleset demo { lateness 2h }
    window w = count() of login by customer over 10m
Fix: lower the lateness, or lengthen the window.""",
    ),
    _c(
        "RD310",
        "error",
        "hold timeout not positive",
        """
What: the header's `hold_timeout` is zero or negative.
Why: a hold waits for a call-back or an inbound confirmation for this long
before it becomes a block; a zero wait would turn every hold into a block at
once (and before this check, `0ms` silently meant the 24-hour default).
Example:
    ruleset demo { hold_timeout 0ms }
Fix: give the time the call-back team has, e.g. `hold_timeout 24h`.""",
    ),
    _c(
        "RD309",
        "error",
        "not allowed in this declaration",
        """
What: a window or sequence definition reads a window, sequence or
scorecard (or calls `controlled()`/`control_kind()`); a scorecard item
reads a scorecard; or a `control` clause's key reads a window, sequence or
scorecard.
Why: windows and sequences are fed event by event and can only depend on
the event itself, constants, parameters and lists; scorecards cannot depend
on each other.
Example:
    window w2 = count() of transfer where w1 > 3 by customer over 1h
Fix: move the condition into a rule (`when w1 > 3 and w2 > ...`).""",
    ),
    _c(
        "RD311",
        "error",
        "control kind not a text literal",
        """
What: the kind of a rule's `control` clause is not a quoted text.
Why: the kind names the control later rules test (`control_kind(x) == "restricted"`)
and the channel shows; it is fixed when the ruleset is written.
Example:
    control account_no as channel for 30d
Fix: write the kind as a literal: `control account_no as "restricted" for 30d`.""",
    ),
    _c(
        "RD312",
        "error",
        "control duration not positive",
        """
What: the duration of a rule's `control` clause is not a constant duration
greater than zero (or is longer than 36500000d).
Why: a control lasts from the event's `ts` for this long (event time); a zero
control would never be live.
Example:
    control account_no as "restricted" for 0d
Fix: give how long the control lasts, e.g. `for 30d`.""",
    ),
    _c(
        "RD313",
        "warning",
        "window or sequence state very large",
        """
What: `ruledsl lint --budget` estimates that a window or sequence keeps
state for a very long time (a span of a year or more: effectively
unbounded) or holds a large share of the memory budget (a quarter or more,
or 1 GiB without a budget).  The message gives the estimate.
Why: its keys and entries stay in memory (or Redis) for the whole span; a
ruleset that fits in a test can exhaust a production host.
Example:
    window idle_gap = since() of transfer by customer_id over 36500d
Fix: shorten the span, narrow the key or the events (`where`), or raise the
budget knowingly (`--budget-limit`).  See docs/bench.md for the model.""",
    ),
    _c(
        "RD314",
        "error",
        "bad cardinality or rate",
        """
What: a field's budget clause has a cardinality that is not a whole number
from 1 to 10^15, a rate that is not a positive count per duration, or a
cardinality above the number of values an enum or bool field can take.
Why: `ruledsl lint --budget` multiplies these numbers into a memory
estimate; a nonsensical input would give a nonsensical budget.
Example:
    card_no: string cardinality 0
    channel: enum("atm", "pos") cardinality 10
Fix: `card_no: string cardinality 10M rate 3/1d` (ten million cards, about
three events per card per day).""",
    ),
    # ---- RD4xx: rule logic
    _c(
        "RD401",
        "warning",
        "rule can never fire",
        """
What: a rule's condition is always false (it folds to `false` from
literals and constants).  A condition that uses a field the rule's event
types do not have is an error (RD103) for the same reason.
Example:
    const enabled = false
    rule r1 { when enabled and amount > 100 ... }
Fix: correct the condition, or delete the rule (use `shadow` to evaluate
a rule without effect).""",
    ),
    _c(
        "RD402",
        "warning",
        "condition is always true",
        """
What: a rule's condition folds to `true`: the rule fires on every event of
its types.
Example:
    when amount > 100 or true
Fix: correct the condition.""",
    ),
    _c(
        "RD404",
        "warning",
        "redundant rule",
        """
What: a rule has the same condition (ignoring layout) as another
non-shadow rule that applies to at least the same event types and has an
action at least as strong.
Why: the rule never changes a decision; usually a copy-paste slip.
Example:
    rule a { on transfer when amount > 100 action block reason "x" }
    rule b { on transfer when amount > 100 action alert reason "y" }
Fix: change the condition, delete the rule, or mark it `shadow`.""",
    ),
    _c(
        "RD405",
        "error",
        "scorecard levels out of order",
        """
What: scorecard levels are not written strongest first (high, elevated,
medium, low, minimal) with strictly decreasing thresholds, or a level uses
a comparison other than `>=`.
Why: the level is the first one whose threshold the score reaches; out of
order, some levels could never be chosen.
Example:
    level high >= 60
    level elevated >= 80
Fix: order the levels strongest first, each threshold below the one before.""",
    ),
    _c(
        "RD406",
        "error",
        "incomplete scorecard",
        """
What: a scorecard has no `item`, or no `on` clause.
Example:
    scorecard open_risk { level high >= 80 }
Fix: add `on EVENT_TYPES` and at least one `item "label" when COND score N`.""",
    ),
]

_ALL.extend(_c(*entry) for entry in LINT_CODES)  # suppressions and rule-logic checks (codes_lint.py)

CODES: dict[str, Code] = {c.code: c for c in _ALL}
