"""The reference interpreter's lists: entries with attributes and expiries (docs/semantics.md, "Lists").

Read literally from the documentation, sharing nothing with the engine's
``ListTable``: a list is ``{value: RefEntry}``; membership and the
attribute functions compare the looked-up value with every entry (numbers
across types, as ``==`` does) and an entry counts only while the event's
``ts`` is before its ``expires_at``.  List files are parsed here again, with
``csv``/``json`` and ``datetime``, not with ``ruledsl.check.listfiles``.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, Optional
from zoneinfo import ZoneInfo

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_RESERVED = ("value", "category", "source", "expires_at")


class RefEntry(NamedTuple):
    """One entry's attributes (all missing for a plain entry)."""

    category: Optional[str] = None
    source: Optional[str] = None
    expires_at: Optional[int] = None
    attrs: tuple[tuple[str, str], ...] = ()


PLAIN = RefEntry()


class RefListsMixin:
    """Lists for ``ReferenceEngine``: reading, run-time changes, membership and attribute lookups."""

    sym: Any
    zone: Any
    lists: dict[str, dict[Any, RefEntry]]
    _app_value: Any
    _ref_equal: Any  # the interpreter's ``==`` (numbers across types)

    # ------------------------------------------------------------ building
    def _ref_list_from_runtime(self, type_name: str, table: Iterable[Any]) -> dict[Any, RefEntry]:
        """A list given in ``resolve_lists`` form (a ListTable: decimals scaled by 10_000, meta tuples)."""
        metas = getattr(table, "get", None)
        out: dict[Any, RefEntry] = {}
        for v in table:
            value = (
                decimal.Decimal(v).scaleb(-4) if type_name == "decimal" and not isinstance(v, decimal.Decimal) else v
            )
            meta = metas(v) if metas is not None else None
            out[value] = PLAIN if meta is None else RefEntry(meta[0], meta[1], meta[2], tuple(meta[3]))
        return out

    def _ref_list_plain(self, values: Iterable[Any]) -> dict[Any, RefEntry]:
        return dict.fromkeys(values, PLAIN)

    def _ref_read_list_file(self, name: str, type_name: str) -> dict[Any, RefEntry]:
        path = self.sym.list_files[name]
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            with open(path, encoding="utf-8-sig", newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if any((c or "").strip() for c in r.values())]
            return {
                self._app_value(type_name, r["value"].strip()): self._ref_entry(
                    r.get("category"),
                    r.get("source"),
                    (r.get("expires_at") or "").strip(),
                    {k: v for k, v in r.items() if k not in _RESERVED and v},
                )
                for r in rows
            }
        if suffix in (".jsonl", ".ndjson"):
            out: dict[Any, RefEntry] = {}
            with open(path, encoding="utf-8-sig") as fh:
                for line in fh:
                    if line.strip():
                        o = json.loads(line)
                        out[self._app_value(type_name, o["value"])] = self._ref_entry(
                            o.get("category"), o.get("source"), o.get("expires_at"), o.get("attrs") or {}
                        )
            return out
        with open(path, encoding="utf-8-sig") as fh:
            lines = [line.strip() for line in fh]
        return self._ref_list_plain(self._app_value(type_name, e) for e in lines if e and not e.startswith("#"))

    def _ref_entry(self, category: Any, source: Any, expires_at: Any, attrs: dict[str, str]) -> RefEntry:
        return RefEntry(
            category or None,
            source or None,
            self._ref_time(expires_at),
            tuple(sorted((k, v) for k, v in attrs.items() if v != "")),
        )

    def _ref_time(self, raw: Any) -> Optional[int]:
        """``expires_at``: epoch ms (int or digits) or ISO 8601 (no offset: the ruleset's zone); empty: never."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, int):
            return raw
        text = str(raw).strip()
        if text.lstrip("-").isdigit():
            return int(text)
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=self.zone if self.zone is not None else ZoneInfo("UTC"))
        return (stamp - _EPOCH) // dt.timedelta(milliseconds=1)

    # ------------------------------------------------------------ run-time changes
    def update_list(
        self,
        name: str,
        values: Optional[Iterable[Any]] = None,
        *,
        add: Optional[Iterable[Any]] = None,
        remove: Optional[Iterable[Any]] = None,
    ) -> None:
        """Replace a list, or add/remove entries (as given to ``Engine.update_list``)."""
        type_name = self.sym.lists[name].type.name
        if values is not None:
            self.lists[name] = self._ref_entries(type_name, values)
            return
        current = dict(self.lists[name])
        for r in remove or ():
            raw = r.get("value") if isinstance(r, dict) else getattr(r, "value", r)
            current.pop(self._app_value(type_name, raw), None)
        current.update(self._ref_entries(type_name, add or ()))
        self.lists[name] = current

    def _ref_entries(self, type_name: str, entries: Iterable[Any]) -> dict[Any, RefEntry]:
        out: dict[Any, RefEntry] = {}
        for e in entries:
            if isinstance(e, dict) or hasattr(e, "category"):
                get = e.get if isinstance(e, dict) else (lambda k, _e=e: getattr(_e, k, None))
                out[self._app_value(type_name, get("value"))] = self._ref_entry(
                    get("category"), get("source"), get("expires_at"), dict(get("attrs") or {})
                )
            else:
                out[self._app_value(type_name, e)] = PLAIN
        return out

    # ------------------------------------------------------------ evaluation
    def _ref_lookup(self, table: dict[Any, RefEntry], x: Any, ts: int) -> Optional[RefEntry]:
        """The live entry equal to ``x`` at event time ``ts`` (expired: ``expires_at <= ts``), or None."""
        for value, entry in table.items():
            if self._ref_equal(x, value):
                if entry.expires_at is not None and entry.expires_at <= ts:
                    return None
                return entry
        return None

    def _ref_list_call(self, f: str, table: dict[Any, RefEntry], args: list[Any], ts: int) -> Any:
        """``list_category`` & co.: missing when ``x`` is missing, not listed, or its entry expired."""
        if args[0] is None or (f == "list_attr" and args[1] is None):
            return None
        entry = self._ref_lookup(table, args[0], ts)
        if entry is None:
            return None
        if f == "list_category":
            return entry.category
        if f == "list_source":
            return entry.source
        if f == "list_expires_at":
            return entry.expires_at
        return dict(entry.attrs).get(args[1])
