"""Which fields of an event an exemption key is matched against (docs/semantics.md, "Exemptions").

The ruleset's ``exempt by`` fields (``Symbols.exempt_by``, every declaration
merged) that the event type has, in ``exempt by`` order.  The generated
evaluator passes exactly these values to the engine's exemption filter, and
the reference interpreter reads the same list; an event type with none of
them is never exempted (its code does not look).
"""

from __future__ import annotations

from typing import Any


def exempt_key_fields(symbols: Any, event: str) -> list[str]:
    """The ``exempt by`` fields ``event`` has, in ``exempt by`` order (empty: the event is never exempted)."""
    fields = symbols.fields.get(event, {})
    return [name for name in getattr(symbols, "exempt_by", ()) if name in fields]
