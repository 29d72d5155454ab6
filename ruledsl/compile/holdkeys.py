"""Which fields of an event a ``hold`` decision holds (``Decision.held_keys``).

A hold holds the event's *entities*: every field of the event type that the
ruleset keys state by, i.e. a plain field named in the ``by`` clause of a
window or sequence that the event type feeds (``of``/``step``).  For the
e-channel ruleset a transfer holds ``customer_id``, ``payee_account``,
``card_no`` and ``phone``.  Derived keys (``day(ts)``) are not entities and
are left out; so is the list when the ruleset keys nothing by the event's
fields (then ``held_keys`` is empty).  The set is fixed per event type, so
the generated evaluator passes exactly these values to ``_decide`` and the
reference interpreter computes the same (docs/semantics.md, "Holds").
"""

from __future__ import annotations

from typing import Any

from ruledsl.syntax import nodes as n


def held_key_fields(symbols: Any, refs: dict[int, tuple[str, str]], event: str) -> list[str]:
    """The fields of ``event`` a hold holds, in the event's declaration order (``ts`` never)."""
    keyed: set[str] = set()
    decls: list[tuple[list[n.Expr], list[str]]] = [
        (w.by, symbols.window_events.get(name, [])) for name, w in symbols.windows.items()
    ]
    decls += [(s.by, symbols.sequence_events.get(name, [])) for name, s in symbols.sequences.items()]
    for by, events in decls:
        if event not in events:
            continue
        for expr in by:
            if isinstance(expr, n.Name) and refs.get(id(expr), ("", ""))[0] == "field":
                keyed.add(expr.name)
    fields = symbols.fields.get(event, {})
    return [name for name in fields if name in keyed and name != "ts"]
