"""ruledsl: an anti-fraud rule language and engine for banks' channel services.

Embedding in a channel service::

    import ruledsl
    engine = ruledsl.load("rulesets/echannel_monitoring.rdsl")
    decision = engine.evaluate({"type": "transfer", "ts": 1700000000000, ...})
    decision.action            # "block" | "hold" | "step_up" | "alert" | "pass"
    decision.channel_view()    # action + reason codes only, for the channel
"""

from ruledsl._version import __version__
from ruledsl.compile.build import BuildError
from ruledsl.kernels.values import EventError

# importing oracle.explain registers the implementation of Engine.explain (runtime/engine_explain.py)
from ruledsl.oracle.explain import Comparison, Condition, Counterfactual, Explanation, RuleExplanation
from ruledsl.runtime.audit import AuditError, AuditLog
from ruledsl.runtime.controls import ChannelControl, Control, ControlError
from ruledsl.runtime.decision import ChannelDecision, Decision, MatchedRule, ScoreResult
from ruledsl.runtime.engine import Engine, load
from ruledsl.runtime.engine_columns import ArrowResult
from ruledsl.runtime.engine_holds import ExpiryError
from ruledsl.runtime.exemptions import AppliedExemption, Exemption, ExemptionError
from ruledsl.runtime.holds import Hold, HoldError, HoldOutcome, HoldStoreError
from ruledsl.runtime.lists import ListEntry
from ruledsl.runtime.settings import SettingError, SettingTypeError, UnknownSettingError
from ruledsl.syntax.diagnostics import Diagnostic, RuleDSLError

__all__ = [
    "AppliedExemption",
    "ArrowResult",
    "AuditError",
    "AuditLog",
    "BuildError",
    "ChannelControl",
    "ChannelDecision",
    "Comparison",
    "Condition",
    "Control",
    "ControlError",
    "Counterfactual",
    "Decision",
    "Diagnostic",
    "Engine",
    "EventError",
    "Exemption",
    "ExemptionError",
    "ExpiryError",
    "Explanation",
    "Hold",
    "HoldError",
    "HoldOutcome",
    "HoldStoreError",
    "ListEntry",
    "MatchedRule",
    "RuleDSLError",
    "RuleExplanation",
    "ScoreResult",
    "SettingError",
    "SettingTypeError",
    "UnknownSettingError",
    "__version__",
    "load",
]
