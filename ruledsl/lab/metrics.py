"""Per-rule and per-ruleset figures of a replay, against labels (docs/lab.md, "Figures").

``RuleMetrics`` is a replay consumer for one engine's decisions (the
candidate's, or with ``which="old"`` the baseline's).  Over the *scored*
events it counts actions, alerts (decisions other than ``pass``), each
rule's hits and the rules that fire together; with ``Labels`` it also
counts the hits on fraud and on normal events and follows every labelled
fraud entity: when it was first warned (any decision other than ``pass``)
and when each rule first fired on it, to compare with its label date.

Everything kept is bounded by the number of rules, of fraud entities and
(for event labels, whose entities are known only when met) of entities
that some rule fired on; nothing grows with the number of events.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Sequence
from typing import Any, Optional

from ruledsl.kernels.values import parse_timestamp
from ruledsl.lab.labels import Labels
from ruledsl.lab.readers import Chunk
from ruledsl.runtime.decision import ACTION_RANK
from ruledsl.syntax.nodes import ACTIONS


def per10k(n: int, total: int) -> Optional[float]:
    """``n`` per 10,000 of ``total``, one decimal; None when ``total`` is 0."""
    return round(n * 10_000 / total, 1) if total else None


def ratio(n: int, total: int) -> Optional[float]:
    """``n / total`` to 4 decimals; None when ``total`` is 0."""
    return round(n / total, 4) if total else None


class TsColumn:
    """A chunk's event times (epoch ms), decoded only when first asked for."""

    __slots__ = ("_chunk", "_values", "_zone")

    def __init__(self, chunk: Chunk, zone: _dt.tzinfo) -> None:
        self._chunk = chunk
        self._zone = zone
        self._values: Optional[list] = None

    def __getitem__(self, i: int) -> Optional[int]:
        if self._values is None:
            self._values = self._chunk.column("ts", self._zone is _dt.timezone.utc)
        try:
            return parse_timestamp(self._values[i], self._zone)
        except (TypeError, ValueError, OverflowError):
            return None


class _Entity:
    """A labelled fraud entity: its label, label date, first warning and each rule's first hit."""

    __slots__ = ("date", "first_rule", "first_warn", "label")

    def __init__(self, label: str, date: Optional[int]) -> None:
        self.label = label
        self.date = date
        self.first_warn: Optional[int] = None
        self.first_rule: dict[str, int] = {}


def _earlier(a: Optional[int], b: Optional[int]) -> Optional[int]:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class _Fired:
    """An entity some rule fired on (event labels: entities are known only when their fraud events come)."""

    __slots__ = ("first_rule", "first_warn")

    def __init__(self) -> None:
        self.first_warn: Optional[int] = None
        self.first_rule: dict[str, int] = {}


class RuleMetrics:
    """Per-rule and overall figures of one engine's decisions (``which``: ``"new"`` or ``"old"``)."""

    def __init__(self, labels: Optional[Labels], zone: _dt.tzinfo, which: str = "new") -> None:
        self.labels = labels
        self.zone = zone
        self.which = which
        self.events = 0
        self.actions: Counter = Counter()
        self.rule_hits: Counter = Counter()
        self.rule_meta: dict[str, tuple[str, Optional[str], str, bool]] = {}  # action, code, reason, shadow
        self.rule_alone: Counter = Counter()  # hits where no other rule fired
        self.pairs: Counter = Counter()  # (rule a, rule b), a < b -> events where both fired
        self.fraud_events = 0
        self.fraud_alerts = 0
        self.rule_fraud_hits: Counter = Counter()
        self.entities: dict[str, _Entity] = {}  # labelled fraud entities met in the events
        self.fired: dict[str, _Fired] = {}  # event/inline labels: entities a rule fired on

    # ------------------------------------------------------------ counting
    def add(self, chunk: Chunk, new: list[Any], old: Optional[list[Any]], scored: Optional[Sequence[int]]) -> None:
        """Count the scored decisions of a chunk."""
        decisions = new if self.which == "new" else old
        if decisions is None:
            return
        ds = decisions if scored is None else [decisions[i] for i in scored]
        self.events += len(ds)
        self.actions.update([d.action for d in ds])
        if scored is None:  # no refused events in the chunk
            fired = [i for i, d in enumerate(decisions) if d.rules]
        else:
            fired = [i for i in scored if decisions[i].rules]
        hits = self.rule_hits
        meta = self.rule_meta
        for i in fired:
            rules = decisions[i].rules
            for r in rules:
                hits[r.id] += 1
                if r.id not in meta:
                    meta[r.id] = (r.action, r.code, r.reason, r.shadow)
            if len(rules) == 1:
                self.rule_alone[rules[0].id] += 1
            else:
                ids = sorted({r.id for r in rules})
                for a in range(len(ids)):
                    for b in range(a + 1, len(ids)):
                        self.pairs[(ids[a], ids[b])] += 1
        if self.labels is not None:
            self._add_labelled(chunk, decisions, scored, fired)

    def _add_labelled(
        self, chunk: Chunk, decisions: list[Any], scored: Optional[Sequence[int]], fired: list[int]
    ) -> None:
        labels = self.labels
        assert labels is not None
        rows, keys = labels.fraud_rows(chunk)
        if scored is not None and rows:
            keep = set(scored)
            rows = [i for i in rows if i in keep]
        ts = TsColumn(chunk, self.zone)
        by_entity = labels.kind == "entity"
        entity_col = keys if by_entity else (chunk.column(labels.entity_field) if (rows or fired) else [])
        for i in rows:
            d = decisions[i]
            self.fraud_events += 1
            if d.action != "pass":
                self.fraud_alerts += 1
            for r in d.rules:
                self.rule_fraud_hits[r.id] += 1
            entity = entity_col[i]
            if entity is None:
                continue
            entity = entity if type(entity) is str else str(entity)
            ent = self.entities.get(entity)
            date = labels.date_for(keys[i])
            if ent is None:
                ent = self.entities[entity] = _Entity(labels.label_for(keys[i]), date)
            elif not by_entity:
                ent.date = _earlier(ent.date, date)
            if by_entity and d.rules:
                self._note(ent, d, ts[i])
        if not by_entity:  # a warning on any event of the entity counts, labelled or not
            for i in fired:
                entity = entity_col[i]
                if entity is None:
                    continue
                entity = entity if type(entity) is str else str(entity)
                f = self.fired.get(entity)
                if f is None:
                    f = self.fired[entity] = _Fired()
                self._note(f, decisions[i], ts[i])

    @staticmethod
    def _note(ent: Any, d: Any, t: Optional[int]) -> None:
        if t is None:
            return
        if d.action != "pass":
            ent.first_warn = _earlier(ent.first_warn, t)
        first = ent.first_rule
        for r in d.rules:
            old = first.get(r.id)
            if old is None or t < old:
                first[r.id] = t

    # ------------------------------------------------------------ figures
    def _entity_view(self) -> dict[str, tuple[Optional[int], Optional[int], dict[str, int]]]:
        # labelled fraud entity -> (label date, first warning, rule -> first hit)
        out = {}
        for key, ent in self.entities.items():
            if self.labels is not None and self.labels.kind != "entity":
                f = self.fired.get(key)
                out[key] = (ent.date, f.first_warn if f else None, f.first_rule if f else {})
            else:
                out[key] = (ent.date, ent.first_warn, ent.first_rule)
        return out

    @staticmethod
    def _before(first: Optional[int], date: Optional[int]) -> bool:
        return first is not None and (date is None or first < date)

    def to_dict(self, top: int = 0) -> dict:
        """The figures as JSON-ready data (docs/lab.md); ``top`` rules by hits (0: every rule that fired)."""
        # the events' own labels (no labels file) count only when some event carried one
        labelled = self.labels is not None and (self.labels.kind != "inline" or self.fraud_events > 0)
        normal_events = self.events - self.fraud_events
        alerts = self.events - self.actions.get("pass", 0)
        normal_alerts = alerts - self.fraud_alerts
        view = self._entity_view() if labelled else {}
        partners: dict[str, Counter] = {}
        for (a, b), n in self.pairs.items():
            partners.setdefault(a, Counter())[b] += n
            partners.setdefault(b, Counter())[a] += n
        rules = []
        order = sorted(self.rule_hits.items(), key=lambda kv: (-kv[1], kv[0]))
        for rid, hits in order[: top or None]:
            action, code, reason, shadow = self.rule_meta[rid]
            row: dict[str, Any] = {
                "rule": rid,
                "action": action,
                "code": code,
                "shadow": shadow,
                "reason": reason,
                "hits": hits,
                "hit_rate": ratio(hits, self.events),
                "alone": self.rule_alone[rid],
                "fires_with": [{"rule": r, "events": n} for r, n in partners.get(rid, Counter()).most_common(3)],
            }
            if labelled:
                fraud = self.rule_fraud_hits[rid]
                # a rule whose action is pass warns nobody
                warned = (
                    None
                    if action == "pass"
                    else sum(1 for date, _, first in view.values() if self._before(first.get(rid), date))
                )
                row.update(
                    fraud_hits=fraud,
                    normal_hits=hits - fraud,
                    precision=ratio(fraud, hits),
                    recall=ratio(fraud, self.fraud_events),
                    alerts_per_10k_normal=per10k(hits - fraud, normal_events),
                    entities_warned_before=warned,
                    entities_warned_before_share=None if warned is None else ratio(warned, len(view)),
                )
            rules.append(row)
        d: dict[str, Any] = {
            "events": self.events,
            "actions": {a: self.actions.get(a, 0) for a in ACTIONS},
            "alerts": alerts,
            "alerts_per_10k": per10k(alerts, self.events),
            "rules_fired": len(self.rule_hits),
            "rules": rules,
            "overlap": [
                {"rules": [a, b], "events": n}
                for (a, b), n in sorted(self.pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
            ],
        }
        if labelled:
            warned = sum(1 for date, first, _ in view.values() if self._before(first, date))
            by_label: dict[str, list[int]] = {}
            for key, (date, first, _) in view.items():
                row2 = by_label.setdefault(self.entities[key].label, [0, 0])
                row2[0] += 1
                row2[1] += self._before(first, date)
            d["labelled"] = {
                "fraud_events": self.fraud_events,
                "normal_events": normal_events,
                "fraud_alerts": self.fraud_alerts,
                "normal_alerts": normal_alerts,
                "precision": ratio(self.fraud_alerts, alerts),
                "recall": ratio(self.fraud_alerts, self.fraud_events),
                "alerts_per_10k_normal": per10k(normal_alerts, normal_events),
                "fraud_entities": len(view),
                "entities_warned_before": warned,
                "entities_warned_before_share": ratio(warned, len(view)),
                "by_label": [
                    {"label": k, "entities": n, "warned_before": w, "share": ratio(w, n)}
                    for k, (n, w) in sorted(by_label.items())
                ],
            }
        return d


def strongest(actions: Sequence[str]) -> str:
    """The strongest of some actions (``pass`` for none)."""
    return max(actions, key=ACTION_RANK.__getitem__, default="pass")
