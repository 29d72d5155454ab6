"""A field's memory-budget clause: ``card_no: string cardinality 10M rate 3/1d``.

``cardinality`` is how many distinct values the field takes (``10M`` = ten
million; suffixes ``k``/``K`` thousand, ``M`` million, ``G`` billion), ``rate``
how many events of this type one value sees per duration.  Both only feed
``ruledsl lint --budget`` (docs/bench.md); they change no decision.  Kept out
of parser.py so the parser stays one screenful of grammar actions.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ruledsl.syntax.durations import parse_duration

COUNT_SUFFIXES: dict[str, int] = {"k": 1_000, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000}
"""Multipliers of a count's suffix."""

MAX_CARDINALITY = 10**15
"""Beyond any real key space; keeps the budget arithmetic in range."""


def count_value(text: str) -> Decimal:
    """The value of a count token: ``"10M"`` -> 10 000 000, ``"1.5k"`` -> 1500, ``"2_000"`` -> 2000."""
    text = text.replace("_", "")
    mult = 1
    if text and text[-1] in COUNT_SUFFIXES:
        mult = COUNT_SUFFIXES[text[-1]]
        text = text[:-1]
    try:
        return Decimal(text) * mult
    except InvalidOperation:
        raise ValueError(f"not a count: {text!r}") from None


class BudgetClauseError(ValueError):
    """A budget clause the grammar accepts but the language does not (the parser reports it as RD314)."""

    def __init__(self, message: str, help: str):
        super().__init__(message)
        self.help = help


def field_budget_values(ch: list[Any]) -> dict[str, Any]:
    """The ``FieldDecl`` keywords of a parsed ``cardinality N [rate R/D]`` clause.

    Raises ``BudgetClauseError`` for a cardinality that is not a whole number
    from 1 up to 10^15, a rate that is not positive, or a rate written with
    another operator than ``/``.
    """
    card_tok, rate_tok, op_tok, per_tok = (list(ch) + [None] * 4)[:4]
    card = count_value(str(card_tok))
    if card != card.to_integral_value() or not 1 <= card <= MAX_CARDINALITY:
        raise BudgetClauseError(
            f"cardinality `{card_tok}` is not a whole number from 1 to 10^15",
            "write how many distinct values the field takes, e.g. `cardinality 10M`",
        )
    out: dict[str, Any] = {"cardinality": int(card), "cardinality_text": str(card_tok)}
    if rate_tok is not None:
        if str(op_tok) != "/" or count_value(str(rate_tok)) <= 0:
            raise BudgetClauseError(
                f"rate `{rate_tok} {op_tok} {per_tok}` is not a positive count per duration",
                "write how many events one value sees per span, e.g. `rate 3/1d`",
            )
        per = parse_duration(str(per_tok))
        if per <= 0:
            raise BudgetClauseError("a rate's duration must be positive", "e.g. `rate 3/1d`")
        out["rate_text"] = str(rate_tok)
        out["rate_per_ms"] = per
    return out
