"""ruledsl: an anti-fraud rule language and engine for banks' channel services.

Embedding in a channel service::

    import ruledsl
    engine = ruledsl.load("rulesets/echannel_monitoring.rdsl")
    decision = engine.evaluate({"type": "transfer", "ts": 1700000000000, ...})
    decision.action            # "block" | "hold" | "step_up" | "alert" | "pass"
    decision.channel_view()    # action + reason codes only, for the channel
"""

from ruledsl._version import __version__
from ruledsl.kernels.values import EventError
from ruledsl.runtime.decision import ChannelDecision, Decision, MatchedRule, ScoreResult
from ruledsl.runtime.engine import Engine, load
from ruledsl.syntax.diagnostics import Diagnostic, RuleDSLError

__all__ = [
    "ChannelDecision",
    "Decision",
    "Diagnostic",
    "Engine",
    "EventError",
    "MatchedRule",
    "RuleDSLError",
    "ScoreResult",
    "__version__",
    "load",
]
