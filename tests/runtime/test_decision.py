"""Decisions: action strength comes from the language's list of actions."""

from __future__ import annotations

from ruledsl.runtime.decision import ACTION_RANK, MatchedRule, final_action
from ruledsl.syntax.nodes import ACTIONS


def test_action_strength_follows_the_language_order():
    assert sorted(ACTION_RANK, key=ACTION_RANK.__getitem__, reverse=True) == list(ACTIONS)
    assert ACTION_RANK["pass"] == 0 and ACTION_RANK["block"] == len(ACTIONS) - 1


def test_final_action_is_the_strongest_non_shadow_action():
    rules = [
        MatchedRule(id="a", action="alert", reason="x"),
        MatchedRule(id="b", action="block", reason="x", shadow=True),
        MatchedRule(id="c", action="hold", reason="x"),
    ]
    assert final_action(rules) == "hold"
    assert final_action([]) == "pass"
