"""A window's state identity is a digest of its checked definition, not of its text (issue 8).

Snapshots and the Redis store keep state under it, so formatting, comments,
parentheses, renaming and declaration order never drop saved state; a change
of meaning (span, filter, key, argument type, a constant's value) always does.
"""

from __future__ import annotations

import re
from pathlib import Path

import ruledsl
from ruledsl.check.checker import check
from ruledsl.compile import compile_ruleset
from ruledsl.syntax.loader import load_text

HEAD = 'ruleset idt { timezone "UTC" }\nevent transfer { customer_id: string  amount: decimal  channel: string }\n'
RULE = 'rule r {{ reason "r" on transfer when {w} > 1 action alert }}\n'

A = HEAD + "const BIG = 1000\n" + "window w = sum(amount) of transfer where amount > BIG by customer_id over 1h\n"


def _sig(text: str) -> str:
    result = check(load_text(text + RULE.format(w=_name(text)), "idt.rdsl"))
    assert result.ok, [d.message for d in result.diagnostics]
    return compile_ruleset(result).windows[0].signature


def _name(text: str) -> str:
    return re.search(r"window\s+(\w+)", text).group(1)  # type: ignore[union-attr]


def test_formatting_parentheses_comments_and_names_keep_the_identity():
    same = [
        HEAD + "const BIG = 1000\n# 大额\nwindow   w   =  sum( amount )  of transfer\n"
        "  where (amount > (BIG))  by customer_id over 60m\n",
        HEAD
        + "const LIMIT = 1000\nwindow renamed = sum(amount) of transfer where amount > LIMIT by customer_id over 1h\n",
        HEAD + "const BIG = 500 * 2\nwindow w = sum(amount) of transfer where amount > BIG by customer_id over 3600s\n",
    ]
    for text in same:
        assert _sig(text) == _sig(A), text


def test_a_change_of_meaning_changes_the_identity():
    different = [
        A.replace("over 1h", "over 2h"),
        A.replace("const BIG = 1000", "const BIG = 2000"),
        A.replace("amount > BIG", "amount >= BIG"),
        A.replace("by customer_id", "by channel"),
        A.replace("sum(amount)", "max(amount)"),
    ]
    sigs = {_sig(text) for text in different}
    assert _sig(A) not in sigs and len(sigs) == len(different)


def test_a_snapshot_restores_into_the_reformatted_ruleset(tmp_path: Path):
    first, second = tmp_path / "a.rdsl", tmp_path / "b.rdsl"
    first.write_text(A + RULE.format(w="w"), encoding="utf-8")
    reformatted = HEAD + "const LIMIT = 1000\n# renamed and re-spaced\nwindow big_sum_1h =\n  sum(amount) of transfer\n"
    reformatted += "  where (amount > LIMIT) by customer_id over 60m\n"
    second.write_text(reformatted + RULE.format(w="big_sum_1h"), encoding="utf-8")
    engine = ruledsl.load(first, clock=None)
    for i in range(3):
        engine.evaluate(
            {"type": "transfer", "ts": 1_700_000_000_000 + i, "customer_id": "c", "amount": "1500", "channel": "web"}
        )
    snap = tmp_path / "s.snap"
    engine.snapshot(snap)
    restored = ruledsl.load(second, clock=None, state=snap)  # the same ruleset to the snapshot: no override needed
    assert restored.kept_state == ["big_sum_1h"]
    probe = {"type": "transfer", "ts": 1_700_000_000_010, "customer_id": "c", "amount": "1", "channel": "web"}
    got = restored.peek(probe).rules[0].features["big_sum_1h"]
    assert str(got) == "4500.0000"
