"""What evaluating an event returns: the decision and its parts.

Decisions are msgspec Structs: cheap to build on the hot path and cheap to
serialise.  ``Decision.channel_view()`` is what a channel may see: the action
and reason codes only, never rule logic or thresholds.
"""

from __future__ import annotations

from typing import Any, Optional

import msgspec

from ruledsl.runtime.controls import ChannelControl, Control, channel_controls
from ruledsl.runtime.exemptions import AppliedExemption
from ruledsl.syntax.nodes import ACTIONS

ACTION_RANK = {action: rank for rank, action in enumerate(reversed(ACTIONS))}
"""Action strength, ``pass`` 0 up to ``block``: a decision takes the strongest action of its fired rules."""

DEFAULT_HOLD_TIMEOUT_MS = 24 * 3_600_000


class MatchedRule(msgspec.Struct, frozen=True, kw_only=True):
    """A rule that fired for the event, with the feature values that made it fire."""

    id: str
    action: str
    reason: str
    code: Optional[str] = None
    shadow: bool = False
    priority: int = 0
    features: dict[str, Any] = {}


class ScoreResult(msgspec.Struct, frozen=True, kw_only=True):
    """A scorecard's score and level for the event."""

    name: str
    score: Any
    level: str


class ChannelDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The channel-facing view: an action and reason codes, no rule content.

    A hold also gives its id (to confirm it: ``Engine.confirm_hold``) and when
    it expires into a block; not what it holds (which fields a ruleset keys
    state by is rule content).  The controls the decision set are shown (key,
    kind, until, reason code): the channel acts on them and tells the customer.
    """

    action: str
    codes: list[str] = []
    hold_timeout_ms: Optional[int] = None
    hold_id: Optional[str] = None
    hold_expires_at: Optional[int] = None
    controls: list[ChannelControl] = []  # the controls this decision set: key, kind, until, reason code


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The engine's answer for one event."""

    action: str
    event_type: str
    rules: list[MatchedRule] = []
    scores: list[ScoreResult] = []
    late: bool = False
    degraded: bool = False
    hold_timeout_ms: Optional[int] = None
    # a hold only (docs/semantics.md, "Holds"): its id (None under peek: nothing opened), the event's
    # entity fields it holds, and when it expires into a block (event time: ts + hold_timeout)
    hold_id: Optional[str] = None
    held_keys: Optional[dict[str, Any]] = None
    hold_expires_at: Optional[int] = None
    # the exemptions that kept rules from firing (docs/semantics.md, "Exemptions"); analysts only, not channel_view
    exemptions: list[AppliedExemption] = []
    # the controls this decision set (docs/semantics.md, "Controls"; under peek: would set)
    controls: list[Control] = []

    @property
    def matched(self) -> list[str]:
        """Ids of every matched rule, shadow rules included, in decision order."""
        return [r.id for r in self.rules]

    def channel_view(self) -> ChannelDecision:
        """Action and reason codes of the non-shadow rules that fired; nothing else."""
        codes = [r.code for r in self.rules if not r.shadow and r.code]
        return ChannelDecision(
            action=self.action,
            codes=codes,
            hold_timeout_ms=self.hold_timeout_ms,
            hold_id=self.hold_id,
            hold_expires_at=self.hold_expires_at,
            controls=channel_controls(self.controls) if self.controls else [],
        )


def rule_order_key(rule: MatchedRule, decl_index: int):
    """Sort key for matched rules: strongest action, then higher priority, then declaration order."""
    return (-ACTION_RANK[rule.action], -rule.priority, decl_index)


def final_action(rules: list[MatchedRule]) -> str:
    """The strongest action among non-shadow rules; ``pass`` when none fired."""
    best = "pass"
    for r in rules:
        if not r.shadow and ACTION_RANK[r.action] > ACTION_RANK[best]:
            best = r.action
    return best
