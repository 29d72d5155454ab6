"""Exemptions in the reference interpreter, read from docs/semantics.md ("Exemptions") literally.

A rule whose condition holds does not fire when one of the event's ``exempt
by`` fields (those the event type has, in ``exempt by`` order) holds a key
with an exemption for that rule or for ``"all"`` whose ``until`` is after
both the event's ``ts`` and the latest event time seen.  The first such
field shows the exemption (one for the rule itself before one for all
rules); the decision lists them in the rules' declaration order.  Shares
nothing with the engine's filter but the result structs.
"""

from __future__ import annotations

from typing import Any, Optional

from ruledsl.runtime.decision import MatchedRule
from ruledsl.runtime.exemptions import AppliedExemption, Exemption


class RefExemptionsMixin:
    """``exempt``/``revoke_exemption``/``exemptions`` for ``ReferenceEngine`` (times in epoch ms only)."""

    sym: Any
    max_ts: Optional[int]

    def _exemption_table(self) -> dict[tuple[Any, str], Exemption]:
        table = self.__dict__.get("_exemption_table_")
        if table is None:
            table = self.__dict__["_exemption_table_"] = {}
        return table

    def exempt(
        self, key: Any, *, rule: str, until: int, by: Optional[str] = None, reason: Optional[str] = None
    ) -> Exemption:
        """Grant (or replace) the exemption of ``key`` from ``rule`` (or ``"all"``) until ``until``."""
        if not self.sym.exempt_by:
            raise ValueError("no `exempt by`")
        if rule != "all" and rule not in self.sym.rules:
            raise ValueError(f"unknown rule {rule!r}")
        if self.max_ts is not None and until <= self.max_ts:
            raise ValueError("until is not after the latest event time")
        granted = Exemption(key=key, rule=rule, until=until, since=self.max_ts, by=by, reason=reason)
        table = self._exemption_table()
        table.pop((key, rule), None)  # a new grant is listed last
        table[(key, rule)] = granted
        return granted

    def revoke_exemption(
        self, key: Any, *, rule: str, by: Optional[str] = None, reason: Optional[str] = None
    ) -> Exemption:
        """End a live exemption; ValueError when there is none."""
        table = self._exemption_table()
        old = table.get((key, rule))
        if old is None or not self._live(old, None):
            raise ValueError(f"no live exemption of {key!r} from {rule!r}")
        del table[(key, rule)]
        return old

    def exemptions(self) -> list[Exemption]:
        """The live exemptions, in the order they were granted."""
        return [ex for ex in self._exemption_table().values() if self._live(ex, None)]

    def _live(self, ex: Exemption, ts: Optional[int]) -> bool:
        times = [t for t in (ts, self.max_ts) if t is not None]
        return all(t < ex.until for t in times)

    def _apply_exemptions(
        self, etype: str, ts: int, fields: dict[str, Any], matched: list[tuple[MatchedRule, int]]
    ) -> tuple[list[tuple[MatchedRule, int]], list[AppliedExemption]]:
        """The matched rules that still fire, and the exemptions that kept the others from firing."""
        table = self._exemption_table()
        if not table:
            return matched, []
        keyed = [f for f in self.sym.exempt_by if f in self.sym.fields[etype]]
        kept: list[tuple[MatchedRule, int]] = []
        applied: list[tuple[int, AppliedExemption]] = []
        for rule, index in matched:
            shown = self._exemption_for(rule.id, keyed, fields, ts)
            if shown is None:
                kept.append((rule, index))
            else:
                applied.append((index, shown))
        applied.sort(key=lambda pair: pair[0])
        return kept, [a for _i, a in applied]

    def _exemption_for(
        self, rule: str, keyed: list[str], fields: dict[str, Any], ts: int
    ) -> Optional[AppliedExemption]:
        table = self._exemption_table()
        for field in keyed:
            key = fields.get(field)
            if key is None:
                continue
            for which in (rule, "all"):
                ex = table.get((key, which))
                if ex is not None and self._live(ex, ts):
                    return AppliedExemption(
                        rule=rule, key=key, field=field, exempted=which, until=ex.until, by=ex.by, reason=ex.reason
                    )
        return None
