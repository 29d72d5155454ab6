"""Hypothesis strategies: random but valid rulesets, and event streams for them.

``scenarios()`` draws a ``Scenario``: ruleset source text over a fixed schema
(``schema``: 3 event types), plus a stream of operations (events, and now and
then a parameter or list change) that fill its windows.  Expressions are
generated well-typed by construction (``exprs``), rulesets declare
constants, parameters, lists, windows and sequences keyed by one or several
fields, scorecards and rules (``rulesets``); streams are short and drawn by
hypothesis, or long and drawn from a seed, with out-of-order, late, malformed
and (on request) dirty events (``streams``).
"""

from strategies.exprs import ExprGen, Scope, Sym, const_bool, const_decl, const_number
from strategies.rulesets import CLOCK_SCORECARD, EVENT_SETS, Scenario, rulesets
from strategies.schema import (
    BASE_TS,
    CARDS,
    CHANNELS,
    CITIES,
    CLOCK_MS,
    CUSTOMERS,
    DEVICES,
    DURATIONS,
    ENUMS,
    LATENESS,
    PHONES,
    SCHEMA,
    SCHEMA_TEXT,
    TIMEZONES,
    ZONE_BASE_TS,
)
from strategies.streams import (
    BAD_CHANGES,
    dirty_value,
    long_scenarios,
    malformed_pending,
    malformed_today,
    random_event,
    random_ops,
    scenarios,
    streams,
    with_malformed,
)

__all__ = [
    "BAD_CHANGES",
    "BASE_TS",
    "CARDS",
    "CHANNELS",
    "CITIES",
    "CLOCK_MS",
    "CLOCK_SCORECARD",
    "CUSTOMERS",
    "DEVICES",
    "DURATIONS",
    "ENUMS",
    "EVENT_SETS",
    "LATENESS",
    "PHONES",
    "SCHEMA",
    "SCHEMA_TEXT",
    "TIMEZONES",
    "ZONE_BASE_TS",
    "ExprGen",
    "Scenario",
    "Scope",
    "Sym",
    "const_bool",
    "const_decl",
    "const_number",
    "dirty_value",
    "long_scenarios",
    "malformed_pending",
    "malformed_today",
    "random_event",
    "random_ops",
    "rulesets",
    "scenarios",
    "streams",
    "with_malformed",
]
