"""Every diagnostic code, its severity and its explanation (``ruledsl explain``).

Codes are grouped: ``RD0xx`` syntax and files, ``RD1xx`` names,
``RD2xx`` types, ``RD3xx`` windows, sequences and state, ``RD4xx`` rule logic.
A code, once published, keeps its meaning.
"""

from __future__ import annotations

import msgspec


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
    _c("RD001", "error", "syntax error", """
What: the parser met a word or symbol it did not expect at this place.
Why: the rule cannot be understood; nothing in the file is compiled.
Example:
    rule r1 { when amount > > 100 }
Fix: the caret shows where the parser stopped; the help line lists what it
expected there (a value, a comparison, a keyword such as `action`)."""),
    _c("RD002", "error", "unexpected end of file", """
What: the file ended in the middle of a declaration, usually a missing `}`.
Example:
    rule r1 { when amount > 100 action block
Fix: close the block that the help line names."""),
    _c("RD003", "error", "unrecognised character", """
What: a character that the language does not use, e.g. `$`, `;` or a
full-width bracket typed with a Chinese input method.
Example:
    when amount ＞ 100
Fix: use ASCII operators (`>`, `(`, `,`) outside of strings and comments."""),
    _c("RD004", "error", "invalid string literal", """
What: a string with an unknown escape sequence, or one that is not closed
on the same line.
Example:
    reason "bad \\q escape"
Fix: allowed escapes are \\" \\\\ \\n \\t \\uXXXX."""),
    _c("RD005", "error", "expression nested too deeply", """
What: an expression nests parentheses or operators more than the limit
(64 levels).
Why: such expressions cannot be reviewed by a person; the limit also keeps
the checker and compiler safe from stack exhaustion.
Fix: split the condition into named windows, constants or several rules."""),
    _c("RD006", "error", "cannot read file", """
What: a ruleset file, or a file named by `include`, cannot be read or is
not valid UTF-8.
Fix: check the path (relative to the including file) and its encoding."""),
    _c("RD007", "error", "include cycle", """
What: files include each other in a cycle.
Example: a.rdsl includes b.rdsl, which includes a.rdsl.
Fix: move the shared declarations into a third file that both include."""),
]

CODES: dict[str, Code] = {c.code: c for c in _ALL}

