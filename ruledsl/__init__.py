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
from ruledsl.runtime.audit import AuditError, AuditLog
from ruledsl.runtime.controls import ChannelControl, Control, ControlError
from ruledsl.runtime.decision import ChannelDecision, Decision, MatchedRule, ScoreResult
from ruledsl.runtime.engine import Engine, load
from ruledsl.runtime.engine_columns import ArrowResult
from ruledsl.runtime.engine_holds import ExpiryError
from ruledsl.runtime.exemptions import AppliedExemption, Exemption, ExemptionError
from ruledsl.runtime.holds import Hold, HoldError, HoldOutcome, HoldStoreError
from ruledsl.runtime.lists import ListEntry
from ruledsl.syntax.diagnostics import Diagnostic, RuleDSLError

__all__ = [
    "AppliedExemption",
    "ArrowResult",
    "AuditError",
    "AuditLog",
    "BuildError",
    "ChannelControl",
    "ChannelDecision",
    "Control",
    "ControlError",
    "Decision",
    "Diagnostic",
    "Engine",
    "EventError",
    "Exemption",
    "ExemptionError",
    "ExpiryError",
    "Hold",
    "HoldError",
    "HoldOutcome",
    "HoldStoreError",
    "ListEntry",
    "MatchedRule",
    "RuleDSLError",
    "ScoreResult",
    "__version__",
    "load",
]
