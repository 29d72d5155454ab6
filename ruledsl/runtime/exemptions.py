"""Exemptions: the records of the appeal path (docs/semantics.md, "Exemptions").

An ``Exemption`` says that a rule (or every rule: ``rule="all"``) does not
fire for events whose ``exempt by`` fields hold ``key``, while the event's
``ts`` is before ``until`` (event time).  A decision lists the exemptions
that kept a rule from firing as ``AppliedExemption`` values
(``Decision.exemptions``).  ``ExemptionBook`` keeps the granted exemptions
by ``(key, rule)``; the engine mutates it in place under its lock and a
reload hands the same book to the new ruleset, whose rule indexes give a new
``index`` (an exemption for a rule the new ruleset lacks is kept, unused).

This module imports nothing of the engine: ``decision.py`` and the snapshot
format use its structs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

import msgspec

ALL_RULES = "all"
"""``rule=`` value exempting every rule of the ruleset."""

Key = Union[str, int]
"""An exemption key: matched by equality against the values of the ``exempt by`` fields."""


class Exemption(msgspec.Struct, frozen=True, kw_only=True):
    """A granted exemption: ``rule`` (a rule id or ``"all"``) does not fire for ``key`` while ``ts < until``.

    ``until`` and ``since`` are epoch milliseconds in event time; ``since`` is
    the engine's event time when it was granted (its latest event's ``ts``;
    ``None`` before any event).  ``by``/``reason``: who granted it and why.
    """

    key: Key
    rule: str
    until: int
    since: Optional[int] = None
    by: Optional[str] = None
    reason: Optional[str] = None


class AppliedExemption(msgspec.Struct, frozen=True, kw_only=True):
    """An exemption that kept ``rule`` from firing for one event (``Decision.exemptions``, analysts only).

    ``field`` is the ``exempt by`` field whose value is ``key``; ``exempted``
    the exemption's own ``rule`` (the rule id, or ``"all"``).
    """

    rule: str
    key: Key
    field: str
    exempted: str
    until: int
    by: Optional[str] = None
    reason: Optional[str] = None


class ExemptionError(ValueError):
    """An exemption call that cannot be done (nothing changed); the message names what is wrong.

    ``key`` and ``rule`` are the arguments the call was given.
    """

    def __init__(self, message: str, *, key: Any = None, rule: Any = None) -> None:
        super().__init__(message)
        self.key = key
        self.rule = rule


def exemption_summary(ex: Optional[Exemption]) -> Optional[dict[str, Any]]:
    """An exemption as the audit log records it (``None`` for none)."""
    if ex is None:
        return None
    return {"key": ex.key, "rule": ex.rule, "until": ex.until, "since": ex.since}


class ExemptionBook:
    """The granted exemptions by ``(key, rule)``, and the index the event functions read.

    ``flag`` is the generated code's ``EXM``: ``[True]`` while any exemption
    is granted, so an engine without exemptions pays one list test per event
    with hits.  ``index`` maps a key to its exemptions.  Both name rules by
    id, not by the compiled rule index, so a reload shares the book as it is:
    an exemption for a rule the new ruleset lacks is kept and matches nothing.
    """

    def __init__(self) -> None:
        self.granted: dict[tuple[Key, str], Exemption] = {}
        self.flag: list[bool] = [False]
        self.index: dict[Key, list[Exemption]] = {}

    def reindex(self) -> None:
        """Rebuild ``index`` and ``flag`` from ``granted`` (after every change)."""
        index: dict[Key, list[Exemption]] = {}
        for (key, _rule), ex in self.granted.items():
            index.setdefault(key, []).append(ex)
        self.index = index
        self.flag[0] = bool(index)

    def replace(self, exemptions: Iterable[Exemption]) -> None:
        """Make ``exemptions`` the granted ones (a snapshot restore)."""
        self.granted = {(ex.key, ex.rule): ex for ex in exemptions}
        self.reindex()

    def drop_expired(self, now: int) -> None:
        """Forget the exemptions whose ``until`` is at or before ``now`` (event time): they never apply again."""
        gone = [k for k, ex in self.granted.items() if ex.until <= now]
        if gone:
            for k in gone:
                del self.granted[k]
            self.reindex()


def filter_hits(
    index: Mapping[Key, list[Exemption]],
    fields: list[str],
    rule_ids: list[str],
    order: list[int],
    hits: list[tuple[int, Any]],
    now: int,
    keys: tuple[Any, ...],
) -> tuple[Optional[list[tuple[int, Any]]], Optional[list[AppliedExemption]]]:
    """``hits`` without the exempted rules, and the exemptions that applied (``None`` for none).

    ``keys`` are the event's values of ``fields`` (its ``exempt by`` fields);
    an exemption applies to a hit while ``now < until`` (``now``: the event's
    ``ts``, or the engine's latest event time if later).  For each rule, the
    first field (in ``exempt by`` order) whose value has a live exemption for
    that rule, else for all rules, is the one shown.  ``rule_ids[i]`` and
    ``order[i]`` are hit ``i``'s rule id and declaration index: applied
    exemptions are listed in declaration order of their rules.
    """
    found: list[tuple[str, Key, list[Exemption]]] = []
    for field, key in zip(fields, keys, strict=True):
        if key is not None:
            entries = index.get(key)
            if entries is not None:
                found.append((field, key, entries))
    if not found:
        return hits, None
    kept: list[tuple[int, Any]] = []
    applied: list[tuple[int, AppliedExemption]] = []
    for hit in hits:
        rule = rule_ids[hit[0]]
        match = _match(found, rule, now)
        if match is None:
            kept.append(hit)
            continue
        field, key, ex = match
        shown = AppliedExemption(
            rule=rule, key=key, field=field, exempted=ex.rule, until=ex.until, by=ex.by, reason=ex.reason
        )
        applied.append((order[hit[0]], shown))
    if not applied:
        return hits, None
    applied.sort(key=lambda pair: pair[0])
    return (kept or None), [a for _o, a in applied]


def _match(found: list[tuple[str, Key, list[Exemption]]], rule: str, now: int) -> Optional[tuple[str, Key, Exemption]]:
    for field, key, entries in found:
        every = None
        for ex in entries:
            if now < ex.until:
                if ex.rule == rule:
                    return field, key, ex
                if ex.rule == ALL_RULES:
                    every = ex
        if every is not None:
            return field, key, every
    return None
