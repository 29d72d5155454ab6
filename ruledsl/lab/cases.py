"""The T+1 case list (``ruledsl cases``): one case per entity per day, from a day's decisions.

``CaseBook`` is a replay consumer.  An event *opens* a case for each entity
field (``--by``: ``account_no``, ``customer_id`` ...) it carries when at
least one rule that is not a shadow rule and whose action is not ``pass``
fired on it; the case is the entity's for the event's local day (the
ruleset's time zone).  A case has:

- ``rules``: each such rule with its hits on the entity that day;
- ``features``: the feature values of those hits (a number: the largest
  seen; anything else: the last);
- ``events`` (every scored event of the entity that day), ``alerted_events``
  (those that opened or fed the case), ``first_time`` and ``last_time`` (of
  the alerted events);
- ``strongest_action``: the strongest action of the alerted events;
- ``open_before``: the entity had a case the day before (in this run or in
  the previous day's case list, ``--previous``);
- ``score``, to sort by: the sum over its distinct rules of their action's
  weight (``ACTION_WEIGHT``: block 40, hold 30, step_up 20, alert 10), plus
  the alerted events (at most 10), plus 5 for a case open the day before.

Warm-up and history events are evaluated (they fill the windows a T+1 model
needs) but open no case and are not counted.
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from ruledsl.kernels.values import parse_timestamp
from ruledsl.lab import LabError
from ruledsl.lab.readers import Chunk, check_inputs, sniff
from ruledsl.runtime.decision import ACTION_RANK
from ruledsl.syntax.nodes import ACTIONS

ACTION_WEIGHT = {"block": 40, "hold": 30, "step_up": 20, "alert": 10, "pass": 0}
"""A case's score: each distinct rule adds its action's weight."""
MAX_EVENT_POINTS = 10
OPEN_BEFORE_POINTS = 5
MAX_SAMPLES = 3
COLUMNS = (
    "day",
    "entity_field",
    "entity",
    "score",
    "strongest_action",
    "rules",
    "codes",
    "events",
    "alerted_events",
    "first_time",
    "last_time",
    "open_before",
    "features",
    "samples",
)
"""The columns of the case file, in order."""


class Case:
    """One entity's case for one day."""

    __slots__ = ("alerted", "features", "first", "last", "meta", "rank", "rules", "samples")

    def __init__(self) -> None:
        self.rules: Counter = Counter()
        self.meta: dict[str, tuple[str, Optional[str]]] = {}  # rule -> (action, code)
        self.features: dict[str, Any] = {}
        self.first: Optional[int] = None
        self.last: Optional[int] = None
        self.rank = 0
        self.alerted = 0
        self.samples: list[str] = []


def _number(v: Any) -> bool:
    return isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)


def _text(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


class CaseBook:
    """The cases of a replay, by (entity field, entity, day); the events per entity and day."""

    def __init__(self, by: Sequence[str], zone: _dt.tzinfo, previous: Optional[set[tuple[str, str, str]]] = None):
        if not by:
            raise LabError("cases need at least one entity field (--by account_no, --by customer_id ...)")
        self.by = tuple(by)
        self.zone = zone
        self.previous = previous or set()
        self.cases: dict[tuple[str, str, str], Case] = {}
        self.events: Counter = Counter()  # (field, entity, day) -> scored events
        self.days: Counter = Counter()  # day -> scored events
        self.undated = 0  # scored events whose ts could not be read (the engine accepted them: rare)
        self._day_cache: dict[int, str] = {}

    def _day(self, ms: int) -> str:
        # cached per quarter hour: every zone's offset is a multiple of 15 minutes, so a quarter hour
        # never straddles a local midnight
        quarter = ms // 900_000
        day = self._day_cache.get(quarter)
        if day is None:
            day = _dt.datetime.fromtimestamp(ms / 1000, self.zone).date().isoformat()
            if len(self._day_cache) > 10_000:
                self._day_cache.clear()
            self._day_cache[quarter] = day
        return day

    def add(self, chunk: Chunk, new: list[Any], old: Optional[list[Any]], scored: Optional[Sequence[int]]) -> None:
        """Count a chunk's scored events per entity and day; open or feed cases."""
        index = range(len(new)) if scored is None else scored
        zone = self.zone
        ts_col = chunk.column("ts", zone is _dt.timezone.utc)
        columns = [(f, chunk.column(f)) for f in self.by if chunk.has_field(f)]
        events = self.events
        days: list[Optional[str]] = [None] * len(new)
        for i in index:
            try:
                t = parse_timestamp(ts_col[i], zone)
            except (TypeError, ValueError, OverflowError):
                self.undated += 1
                continue
            day = days[i] = self._day(t)
            self.days[day] += 1
            for f, col in columns:
                v = col[i]
                if v is not None:
                    events[(f, v if type(v) is str else str(v), day)] += 1
            d = new[i]
            if not d.rules or d.action == "pass":
                continue
            rules = [r for r in d.rules if not r.shadow and r.action != "pass"]
            if not rules:
                continue
            for f, col in columns:
                v = col[i]
                if v is None:
                    continue
                key = (f, v if type(v) is str else str(v), day)
                case = self.cases.get(key)
                if case is None:
                    case = self.cases[key] = Case()
                self._feed(case, d, rules, t, f"{chunk.source}:{chunk.lines[i]}")

    @staticmethod
    def _feed(case: Case, d: Any, rules: list[Any], t: int, where: str) -> None:
        case.alerted += 1
        case.first = t if case.first is None else min(case.first, t)
        case.last = t if case.last is None else max(case.last, t)
        case.rank = max(case.rank, ACTION_RANK[d.action])
        if len(case.samples) < MAX_SAMPLES:
            case.samples.append(where)
        feats = case.features
        for r in rules:
            case.rules[r.id] += 1
            if r.id not in case.meta:
                case.meta[r.id] = (r.action, r.code)
            for name, value in r.features.items():
                old = feats.get(name)
                if old is not None and _number(value) and _number(old):
                    if value > old:
                        feats[name] = value
                else:
                    feats[name] = value

    # ------------------------------------------------------------ the list
    def rows(self) -> list[dict]:
        """The cases as rows (``COLUMNS``), by day, then score (highest first), then entity."""
        by_rank = {rank: action for action, rank in ACTION_RANK.items()}
        out: list[dict[str, Any]] = []
        for (f, key, day), case in self.cases.items():
            prev_day = (_dt.date.fromisoformat(day) - _dt.timedelta(days=1)).isoformat()
            before = (f, key, prev_day) in self.cases or (f, key, prev_day) in self.previous
            score = (
                sum(ACTION_WEIGHT[action] for action, _ in case.meta.values())
                + min(case.alerted, MAX_EVENT_POINTS)
                + (OPEN_BEFORE_POINTS if before else 0)
            )
            rules = sorted(case.rules.items(), key=lambda kv: (-kv[1], kv[0]))
            out.append(
                {
                    "day": day,
                    "entity_field": f,
                    "entity": key,
                    "score": score,
                    "strongest_action": by_rank[case.rank],
                    "rules": ";".join(f"{r}:{n}" for r, n in rules),
                    "codes": ";".join(sorted({c for _, c in case.meta.values() if c})),
                    "events": self.events.get((f, key, day), 0),
                    "alerted_events": case.alerted,
                    "first_time": self._iso(case.first),
                    "last_time": self._iso(case.last),
                    "open_before": before,
                    "features": json.dumps(
                        {k: _text(v) for k, v in case.features.items()}, ensure_ascii=False, sort_keys=True
                    ),
                    "samples": ";".join(case.samples),
                }
            )
        out.sort(key=lambda r: (r["day"], -r["score"], r["entity_field"], r["entity"]))
        return out

    def _iso(self, ms: Optional[int]) -> Optional[str]:
        if ms is None:
            return None
        return _dt.datetime.fromtimestamp(ms / 1000, self.zone).isoformat(timespec="seconds")

    def to_dict(self, rows: Optional[list[dict]] = None, top: int = 200) -> dict:
        """The case list's figures as JSON-ready data (the report's, and ``--json``); ``top`` cases listed."""
        rows = self.rows() if rows is None else rows
        by_action = Counter(r["strongest_action"] for r in rows)
        by_rule: Counter = Counter()
        for r in rows:
            by_rule.update(part.rsplit(":", 1)[0] for part in r["rules"].split(";") if part)
        per_day: dict[str, dict] = {}
        for r in rows:
            day = per_day.setdefault(r["day"], {"day": r["day"], "cases": 0, "open_before": 0})
            day["cases"] += 1
            day["open_before"] += r["open_before"]
        for day, n in self.days.items():
            per_day.setdefault(day, {"day": day, "cases": 0, "open_before": 0})["events"] = n
        return {
            "kind": "cases",
            "by": list(self.by),
            "cases": len(rows),
            "open_before": sum(1 for r in rows if r["open_before"]),
            "events": sum(self.days.values()),
            "undated_events": self.undated,
            "days": [per_day[d] for d in sorted(per_day)],
            "by_action": {a: by_action[a] for a in ACTIONS if by_action[a]},
            "by_rule": [{"rule": rule, "cases": n} for rule, n in by_rule.most_common()],
            "top": sorted(rows, key=lambda r: (-r["score"], r["day"], r["entity"]))[:top],
        }


# ---------------------------------------------------------------- files


def write_cases(rows: list[dict], path: Path) -> None:
    """The case list as CSV (UTF-8 with a header) or, for ``.parquet``, Parquet; written whole."""
    from ruledsl.lab.report import write_text

    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [
                ("day", pa.string()),
                ("entity_field", pa.string()),
                ("entity", pa.string()),
                ("score", pa.int64()),
                ("strongest_action", pa.string()),
                ("rules", pa.string()),
                ("codes", pa.string()),
                ("events", pa.int64()),
                ("alerted_events", pa.int64()),
                ("first_time", pa.string()),
                ("last_time", pa.string()),
                ("open_before", pa.bool_()),
                ("features", pa.string()),
                ("samples", pa.string()),
            ]
        )
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
            tmp.replace(path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise LabError(f"cannot write {path}: {err.strerror or err}") from None
        return
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def read_previous(path: Path) -> set[tuple[str, str, str]]:
    """(entity field, entity, day) of every case in a previous case list (CSV or Parquet, as written here)."""
    (path,) = check_inputs([path], "previous case list")
    needed = ("day", "entity_field", "entity")
    try:
        if sniff(path) == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            columns = table.schema.names
            rows = table.select([c for c in needed if c in columns]).to_pylist()
        else:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                columns = list(reader.fieldnames or [])
                rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as err:
        raise LabError(f"cannot read previous case list {path}: {err}") from None
    missing = [c for c in needed if c not in columns]
    if missing:
        raise LabError(f"previous case list {path}: no {', '.join(missing)} column (a file written by `ruledsl cases`)")
    return {(str(r["entity_field"]), str(r["entity"]), str(r["day"])) for r in rows}
