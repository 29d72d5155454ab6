"""Exemptions run by the engine: the appeal path (docs/semantics.md, "Exemptions").

``Engine`` inherits these methods.  ``exempt(key, rule=..., until=...)``
grants an exemption: for a ruleset with an ``exempt by`` declaration, the
rule (every rule with ``rule="all"``) does not fire for an event whose
``exempt by`` fields hold ``key`` while the event's ``ts`` is before
``until`` - no hold, no control comes from it - and the decision lists the
exemption in ``Decision.exemptions`` (not in the channel view).
``revoke_exemption`` ends one early; ``exemptions()`` lists the live ones.

Time is event time: an exemption applies to an event while
``max(ts, latest event time) < until``, so it expires for good once the
engine has seen an event dated at or after ``until`` (expired exemptions are
then dropped: from the list, from snapshots).  ``until`` must be after the
engine's latest event time when it has seen one.

Grants and revocations are written to the audit log, if any
(``exemption.grant``, ``exemption.revoke``), with ``engine_audit``'s lock
order; a change whose line cannot be written is undone.  Exemptions are
state: snapshots keep them, a reload keeps them (rules are named by id: an
exemption for a rule the new ruleset lacks is kept but cannot apply).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ruledsl.compile.exemptkeys import exempt_key_fields
from ruledsl.kernels.last import NEVER
from ruledsl.runtime import audit as auditing
from ruledsl.runtime.exemptions import (
    ALL_RULES,
    Exemption,
    ExemptionBook,
    ExemptionError,
    Key,
    exemption_summary,
    filter_hits,
)
from ruledsl.runtime.holds import HoldError
from ruledsl.syntax.diagnostics import suggest

_KEY_TYPES = {"string": str, "enum": str, "int": int}
"""``exempt by`` field types -> the Python type of the keys they can match."""


class ExemptionsMixin:
    """Exemptions for ``Engine``: ``exempt``, ``revoke_exemption``, ``exemptions`` and the event functions' filter."""

    # set by Engine.__init__ (and HoldsMixin, AuditMixin)
    compiled: Any
    result: Any
    _lock: Any
    _clock_state: list[int]
    _audit_lock: Callable[[], Any]
    _audit_record: Callable[..., Any]
    _hold_time: Callable[[Any, str], int]

    def _init_exemptions(self, carry: Any = None) -> None:
        """Start the exemption book (or share the replaced engine's, on a reload) and the fields per event type."""
        self._exemption_book: ExemptionBook = carry._exemption_book if carry is not None else ExemptionBook()
        sym = self.result.symbols
        self._exempt_fields: dict[str, list[str]] = {e: exempt_key_fields(sym, e) for e in self.compiled.event_types}

    def _exemption_bindings(self) -> dict[str, Any]:
        """``EXM`` (the book's any-granted flag) and ``_exempt`` (the filter) for the generated code."""
        book, fields, clk = self._exemption_book, self._exempt_fields, self._clock_state
        rule_ids = [m.id for m in self.compiled.rules]
        order = [m.index for m in self.compiled.rules]

        def exempt(event_type: str, hits: list, ts: int, keys: tuple) -> tuple:
            now = clk[0]  # the latest event time: an exemption expired by a later event stays expired
            if ts > now:
                now = ts
            return filter_hits(book.index, fields[event_type], rule_ids, order, hits, now, keys)

        return {"EXM": book.flag, "_exempt": exempt}

    # ---------------------------------------------------------------- public
    def exemptions(self) -> list[Exemption]:
        """The live exemptions, in the order they were granted (a replaced one as granted last; expired ones dropped)."""
        with self._lock:
            book = self._exemption_book
            book.drop_expired(self._event_now())
            return list(book.granted.values())

    def exempt(
        self,
        key: Key,
        *,
        rule: str,
        until: Any,
        by: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> Exemption:
        """Exempt ``key`` from ``rule`` (a rule id, or ``"all"`` for every rule) until ``until``; returns it.

        ``key`` (a string or an int) is matched against the event's ``exempt
        by`` fields; ``until`` is epoch ms, an ISO 8601 string or a datetime,
        in event time.  Granting the same ``(key, rule)`` again replaces the
        exemption (a new ``until``).  ``by``/``reason`` go to the audit log.
        Raises ``ExemptionError`` (nothing changed) for a ruleset without
        ``exempt by``, a key of a type no ``exempt by`` field has, an unknown
        rule (with a suggestion), or an ``until`` that is not a time or not
        after the engine's latest event time.
        """
        self._check_key(key, rule)
        self._check_rule(key, rule)
        try:
            until_ms = self._hold_time(until, "until")
        except HoldError as err:
            raise ExemptionError(str(err), key=key, rule=rule) from None
        auditing.check_who(by, reason)
        target = _target(key, rule)
        with self._audit_lock():
            with self._lock:
                now = self._event_now()
                if now != NEVER and until_ms <= now:
                    raise ExemptionError(
                        f"until ({until_ms}) is not after the engine's event time ({now}, its latest event's ts): "
                        "the exemption would never apply",
                        key=key,
                        rule=rule,
                    )
                book = self._exemption_book
                book.drop_expired(now)
                old = book.granted.pop((key, rule), None)  # a new grant: listed last
                granted = Exemption(
                    key=key, rule=rule, until=until_ms, since=None if now == NEVER else now, by=by, reason=reason
                )
                book.granted[(key, rule)] = granted
                book.reindex()
            try:
                self._audit_record(
                    "exemption.grant", target, exemption_summary(old), exemption_summary(granted), by=by, reason=reason
                )
            except BaseException:
                with self._lock:  # no change without its line
                    _put_back(self._exemption_book, (key, rule), old)
                raise
        return granted

    def revoke_exemption(
        self, key: Key, *, rule: str, by: Optional[str] = None, reason: Optional[str] = None
    ) -> Exemption:
        """End the live exemption of ``key`` from ``rule`` (or ``"all"``) now; returns it.

        Raises ``ExemptionError`` (nothing changed) when there is none (never
        granted, revoked, or expired); ``by``/``reason`` go to the audit log.
        """
        if not isinstance(rule, str):
            raise ExemptionError(f"rule must be a rule id or {ALL_RULES!r}, not {type(rule).__name__}", key=key)
        auditing.check_who(by, reason)
        with self._audit_lock():
            with self._lock:
                book = self._exemption_book
                book.drop_expired(self._event_now())
                old = book.granted.pop((key, rule), None) if _is_key(key) else None
                if old is None:
                    raise ExemptionError(
                        f"no live exemption of key {key!r} from rule {rule!r} to revoke "
                        f"({len(book.granted)} exemption(s) live)",
                        key=key,
                        rule=rule,
                    )
                book.reindex()
            try:
                self._audit_record(
                    "exemption.revoke", _target(key, rule), exemption_summary(old), None, by=by, reason=reason
                )
            except BaseException:
                with self._lock:
                    _put_back(self._exemption_book, (key, rule), old)
                raise
        return old

    # ---------------------------------------------------------------- helpers
    def _event_now(self) -> int:
        """The engine's event time: its latest event's ``ts`` (``NEVER`` before any)."""
        return self._clock_state[0]

    def _check_key(self, key: Any, rule: Any) -> None:
        sym = self.result.symbols
        if not sym.exempt_by:
            raise ExemptionError(
                "this ruleset has no `exempt by` declaration: no event field says whom an exemption is for "
                "(add e.g. `exempt by customer_id`; docs/language.md, Exemptions)",
                key=key,
                rule=rule,
            )
        if not _is_key(key):
            raise ExemptionError(
                f"an exemption key is a string or an int, not {type(key).__name__}", key=key, rule=rule
            )
        kinds = {_KEY_TYPES[sym.fields[e][f].name]: f for e, fields in self._exempt_fields.items() for f in fields}
        if type(key) not in kinds:
            names = ", ".join(f"`{f}`" for f in sym.exempt_by)
            want = " or ".join(sorted({"a string" if k is str else "an int" for k in kinds}))
            raise ExemptionError(
                f"key {key!r} is {'an int' if type(key) is int else 'a string'}, but the `exempt by` fields "
                f"({names}) hold {want}: it would match no event",
                key=key,
                rule=rule,
            )

    def _check_rule(self, key: Any, rule: Any) -> None:
        if not isinstance(rule, str):
            raise ExemptionError(
                f"rule must be a rule id or {ALL_RULES!r}, not {type(rule).__name__}", key=key, rule=rule
            )
        ids = [m.id for m in self.compiled.rules]
        if rule != ALL_RULES and rule not in ids:
            hint = suggest(rule, ids)
            raise ExemptionError(
                f"unknown rule {rule!r}" + (f": {hint}" if hint else f" (use a rule id, or {ALL_RULES!r})"),
                key=key,
                rule=rule,
            )


def _is_key(key: Any) -> bool:
    return type(key) is str or type(key) is int


def _target(key: Key, rule: str) -> str:
    return f"{rule} {key!r}"


def _put_back(book: ExemptionBook, slot: tuple[Key, str], old: Optional[Exemption]) -> None:
    if old is None:
        book.granted.pop(slot, None)
    else:
        book.granted[slot] = old
    book.reindex()
