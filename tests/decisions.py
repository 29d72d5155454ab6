"""Comparing two decisions field by field: the engine's and the reference interpreter's.

Shared by the differential tests (``tests/oracle/test_differential.py``) and
the corpus test (``tests/test_corpus.py``).
"""

from __future__ import annotations

import decimal
import math

import msgspec

from ruledsl.runtime.decision import Decision


def same_value(a, b) -> bool:
    """Equal values of the same kind: a Decimal only equals a Decimal (any exponent), a bool a bool.

    A float NaN equals a NaN: when both evaluators produce one (a NaN field, a
    max over NaNs), they agree.  ``-0.0`` equals ``0.0``, as IEEE comparison says.
    """
    if isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
        return isinstance(a, decimal.Decimal) and isinstance(b, decimal.Decimal) and a == b
    if type(a) is float and type(b) is float and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def differences(engine: Decision, ref: Decision, *, hold_ids: bool = True) -> list[str]:
    """What differs between two decisions, in words (empty when they agree).

    Hold ids are random: with ``hold_ids`` both decisions must have one or
    neither (an opened hold or none); ``hold_ids=False`` ignores them (a
    peek, which opens nothing, compared with the evaluation after it).
    """
    out = []
    for attr in ("action", "event_type", "late", "hold_timeout_ms", "held_keys", "hold_expires_at", "exemptions"):
        if getattr(engine, attr) != getattr(ref, attr):
            out.append(f"{attr}: engine {getattr(engine, attr)!r}, reference {getattr(ref, attr)!r}")
    if hold_ids and (engine.hold_id is None) != (ref.hold_id is None):
        out.append(f"hold_id: engine {engine.hold_id!r}, reference {ref.hold_id!r}")
    if engine.matched != ref.matched:
        out.append(f"matched rules: engine {engine.matched}, reference {ref.matched}")
    else:
        for a, b in zip(engine.rules, ref.rules, strict=True):
            for attr in ("action", "reason", "code", "shadow", "priority"):
                if getattr(a, attr) != getattr(b, attr):
                    out.append(f"rule {a.id} {attr}: engine {getattr(a, attr)!r}, reference {getattr(b, attr)!r}")
            if a.features.keys() != b.features.keys():
                out.append(f"rule {a.id} feature names: engine {list(a.features)}, reference {list(b.features)}")
            for name in a.features.keys() & b.features.keys():
                if not same_value(a.features[name], b.features[name]):
                    out.append(
                        f"rule {a.id} feature {name}: engine {a.features[name]!r}, reference {b.features[name]!r}"
                    )
    if [s.name for s in engine.scores] != [s.name for s in ref.scores]:
        out.append(f"scorecards: engine {[s.name for s in engine.scores]}, reference {[s.name for s in ref.scores]}")
    else:
        for a, b in zip(engine.scores, ref.scores, strict=True):
            if not same_value(a.score, b.score) or a.level != b.level:
                out.append(f"scorecard {a.name}: engine {a.score!r}/{a.level}, reference {b.score!r}/{b.level}")
    # anything else (e.g. the degraded flag); rules and scores were compared above, NaN-aware
    rest_e, rest_r = (
        msgspec.structs.replace(engine, rules=[], scores=[], hold_id=None),
        msgspec.structs.replace(ref, rules=[], scores=[], hold_id=None),
    )
    if not out and rest_e != rest_r:
        out.append(f"decisions differ: engine {engine}, reference {ref}")
    return out
