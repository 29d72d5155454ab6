"""Diagnostic codes of ``ruledsl lint``'s suppressions and rule-logic checks (registered by ``codes``).

Kept apart from ``codes.py`` so that module stays readable; the entries are
plain tuples ``(code, severity, title, explanation)``.
"""

from __future__ import annotations

LINT_CODES: tuple[tuple[str, str, str, str], ...] = (
    (
        "RD010",
        "warning",
        "suppression comment suppresses nothing",
        """
What: a `# ruledsl: ignore[CODE]` comment for which no CODE diagnostic is
reported on its line (or, on the first line of a declaration, in that
declaration); or a malformed one: no code, an unknown code, or an error code.
Why: a suppression left behind after the problem was fixed would hide the
next, unrelated, problem of that kind.  Errors cannot be suppressed: a
ruleset with an error does not load.
Example:
    const limit = 100  # ruledsl: ignore[RD307]   (while `limit` is used)
Fix: delete the comment, or name the code that is reported there.""",
    ),
    (
        "RD407",
        "warning",
        "condition is never true",
        """
What: a condition, or a part of one, that no value can make true: comparisons
of the same value with constants that exclude each other, or an enum field
compared so that none of its values passes.
Example:
    when amount > 10000 and amount < 5000
    when channel not in ["atm", "pos", "web"]     (every value of the enum)
Why: the rule (or that branch of it) can never fire; usually `<` for `>`,
`and` for `or`, or swapped bounds.
Fix: correct the comparison.  Values compare exactly (int and decimal, no
float rounding); a field that may be missing makes every comparison false.""",
    ),
    (
        "RD408",
        "warning",
        "condition is always true",
        """
What: a condition, or a part of one, that every value makes true:
comparisons of the same value with constants that cover every value, or an
enum field compared so that all of its values pass.
Example:
    when amount > 10000 or amount <= 10000
    when channel != "atm" or channel != "web"
Why: the rule fires on every event of its types, or that part of the
condition tests nothing.  An optional field is not flagged: when it is
missing every comparison with it is false.
Fix: correct the comparison (often `or` for `and`).""",
    ),
    (
        "RD409",
        "warning",
        "reason code shared by two rules",
        """
What: two rules (neither `shadow`) have the same `code`.
Why: the channel receives the action and the code only; with a shared code
it cannot tell which rule fired, and reports by code mix the two.
Example:
    rule a { ... code "EC-S010" ... }
    rule b { ... code "EC-S010" ... }
Fix: give each rule its own code; a trial version of a rule that keeps its
code should be marked `shadow`.""",
    ),
)
