"""The engine's lists at run time: replace, add and remove entries, read one back (docs/semantics.md, "Lists").

``Engine`` inherits these methods.  A list is a ``ListTable``
(``ruledsl.kernels.listtable``) that is never changed once the generated
code can see it: a change builds the new table outside the engine's lock
and swaps it in, so an event sees the old list or the new one, a snapshot
encoded outside the lock sees a consistent one, and an audit record's
``old`` is still there to undo the change if its line cannot be written.
Changes to one engine's lists are serialised (``_list_lock``) so two
``add`` calls cannot lose each other's entries.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from typing import Any, Optional

import msgspec

from ruledsl.kernels.listtable import ListTable, Meta, earliest_expiry
from ruledsl.runtime import audit as auditing
from ruledsl.runtime.lists import ListEntry, convert_entries, convert_item, convert_values, resolve_lists
from ruledsl.runtime.persistence import user_value, user_values
from ruledsl.runtime.settings import SettingError, list_error, unknown_name

SMALL_CHANGE = 20
"""An incremental change records the entries added and the values removed when there are at most this many."""


class ListsMixin:
    """``update_list`` (replace / add / remove) and ``list_entry`` for ``Engine``."""

    # set by Engine.__init__
    compiled: Any
    timezone: str
    _audit: Optional[auditing.AuditLog]
    _lock: Any
    _lists: list[Any]
    _list_overrides: dict[str, Any]

    def _init_lists(
        self, result: Any, lists: Optional[dict[str, Iterable[Any]]], call: str = "load(lists=...)"
    ) -> None:
        """Every declared list as its table (``lists=`` given here win over files and inline items)."""
        resolved = resolve_lists(result, lists, call=call)
        self._lists = [resolved[name] for name in self.compiled.lists]
        # the lists the application set: kept by a reload, written to snapshots (as their tables)
        self._list_overrides = {name: resolved[name] for name in lists or {}}
        self._list_lock = threading.Lock()

    def update_list(
        self,
        name: str,
        values: Optional[Iterable[Any]] = None,
        *,
        add: Optional[Iterable[Any]] = None,
        remove: Optional[Iterable[Any]] = None,
        by: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> None:
        """Change a list from the next event on: ``values`` replaces it, ``add``/``remove`` change entries.

        Entries are plain values, dicts with ``value`` and optionally
        ``category``, ``source``, ``expires_at`` (epoch ms or ISO 8601) and
        ``attrs``, or ``ListEntry`` structs; an added value already listed
        takes the new attributes.  ``remove`` takes values (or entries: their
        value); a value that is not listed is skipped.  An unknown list, a bad
        entry or a bad combination of arguments raises a ``SettingError``
        naming the list, its type and the entry, and changes nothing.  Audited
        (``by``, ``reason``) when the engine has a log: the count and digest
        of the contents before and after, and the change itself when small.
        """
        i, type_name = self._list_slot(name, "update_list")
        if values is not None and (add is not None or remove is not None):
            raise SettingError(
                f"update_list: list `{name}`: give values (to replace the list) or add=/remove=, not both",
                kind="list",
                name=name,
                expected=type_name,
            )
        if values is None and add is None and remove is None:
            raise SettingError(
                f"update_list: list `{name}`: give values (to replace the list) or add=/remove=",
                kind="list",
                name=name,
                expected=type_name,
            )
        if self._audit is not None:
            auditing.check_who(by, reason)
        try:
            for what, given in (("values", values), ("add", add), ("remove", remove)):
                if isinstance(given, (str, bytes)):  # list("C1") would be the entries "C" and "1"
                    raise TypeError(f"{what} must be a collection of entries, not a {type(given).__name__}")
            if values is not None:
                values = values if isinstance(values, ListTable) else list(values)
            adds = convert_entries(type_name, add, self.timezone) if add is not None else {}
            removes = _removed_values(type_name, remove) if remove is not None else []
            new_table = convert_values(type_name, values, self.timezone) if values is not None else None
        except (TypeError, ValueError, OverflowError) as err:
            raise list_error(name, type_name, err, call="update_list") from None
        both = set(adds).intersection(removes) if adds and removes else set()
        if both:
            raise SettingError(
                f"update_list: list `{name}`: {_few(both)} both added and removed",
                kind="list",
                name=name,
                expected=type_name,
            )
        with self._audit_lock(), self._list_lock:  # type: ignore[attr-defined]
            old = self._lists[i]
            if new_table is not None:  # values given: the table built above, outside the locks
                new = new_table
                change: dict[str, Any] = {}
            else:
                new, removed = _changed(old, adds, removes)
                change = _change_summary(type_name, adds, removed)
            had, old_override = name in self._list_overrides, self._list_overrides.get(name)
            with self._lock:
                self._lists[i] = new
                self._list_overrides[name] = new
            if self._audit is None:
                return
            try:
                old_summary = {"count": len(old), "digest": self._table_digest(name, old)}
                new_summary = self._table_summary(name, new, old if values is not None else None)
                new_summary.update(change)
                self._audit.append("update_list", name, old_summary, new_summary, by=by, reason=reason)
            except BaseException:
                with self._lock:  # no change without its line
                    self._lists[i] = old
                    if had:
                        self._list_overrides[name] = old_override
                    else:
                        self._list_overrides.pop(name, None)
                raise

    def list_entry(self, name: str, value: Any) -> Optional[ListEntry]:
        """The entry of ``value`` in list ``name`` with its attributes, or None when it is not listed.

        An expired entry is returned as it is stored (its ``expires_at`` says
        so): it no longer matches in rules, but stays until removed or replaced.
        """
        i, type_name = self._list_slot(name, "list_entry")
        try:
            key = convert_item(type_name, value)
        except (TypeError, ValueError, OverflowError) as err:
            raise list_error(name, type_name, err, call="list_entry") from None
        table = self._lists[i]
        if key not in table:
            return None
        return entry_of(type_name, key, table[key])

    def _list_slot(self, name: Any, call: str) -> tuple[int, str]:
        """The index and type of list ``name``; ``UnknownSettingError`` (with a did-you-mean) if undeclared."""
        lists = self.compiled.lists
        if not isinstance(name, str) or name not in self.compiled.list_types:
            raise unknown_name("list", name, lists, call=call)
        return lists.index(name), self.compiled.list_types[name]

    # ---------------------------------------------------------------- audit and snapshots
    def _table_summary(self, name: str, table: ListTable, old: Optional[ListTable]) -> dict[str, Any]:
        """``count``, ``digest``, the entries when at most ``FULL_LIST_LIMIT`` (``replay_settings`` rebuilds
        the list from them) and, for a replacement, what was added and removed when that is small."""
        type_name = self.compiled.list_types[name]
        if not table.has_attributes() and (old is None or not old.has_attributes()):
            plain = user_values(type_name, table)
            old_values = None if old is None else self._user_set(type_name, old)  # type: ignore[attr-defined]
            summary = auditing.list_summary(plain, old_values)
            self._remember_digest(name, table, summary["digest"])  # type: ignore[attr-defined]
            return summary
        entries = user_entries(type_name, table)
        digest = _entries_digest(entries)
        self._remember_digest(name, table, digest)  # type: ignore[attr-defined]
        out: dict[str, Any] = {"count": len(table), "digest": digest}
        if len(entries) <= auditing.FULL_LIST_LIMIT:
            out["entries"] = entries
        return out

    def _table_digest(self, name: str, table: ListTable) -> str:
        """The digest ``_table_summary`` gives (the last one is remembered: big lists take seconds)."""
        cached = getattr(self, "_list_digests", {}).get(name)
        if cached is not None and cached[0] is table:
            return str(cached[1])
        if not table.has_attributes():
            return str(self._list_digest(name, table))  # type: ignore[attr-defined]
        digest = _entries_digest(user_entries(self.compiled.list_types[name], table))
        self._remember_digest(name, table, digest)  # type: ignore[attr-defined]
        return digest


def entry_of(type_name: str, value: Any, meta: Meta) -> ListEntry:
    """A table entry as the ``ListEntry`` the application sees (decimals as ``Decimal``)."""
    shown = user_value(type_name, value)
    if type_name == "decimal":
        import decimal

        shown = decimal.Decimal(shown)
    if meta is None:
        return ListEntry(shown)
    return ListEntry(shown, category=meta[0], source=meta[1], expires_at=meta[2], attrs=dict(meta[3]))


def user_entries(type_name: str, table: ListTable) -> list[Any]:
    """A table as ``update_list`` takes it, sorted by value: plain values, dicts for entries with attributes."""
    out: list[Any] = []
    for value in sorted(table):
        meta = table[value]
        shown = user_value(type_name, value)
        out.append(shown if meta is None else _entry_dict(shown, meta))
    return out


def saved_meta(type_name: str, table: ListTable) -> list[list[Any]]:
    """The attributes of a table's entries that have any, for a snapshot: ``[value, category, source,
    expires_at, [[name, value], ...]]`` each (its ``lists`` entry keeps every value)."""
    return [
        [user_value(type_name, v), m[0], m[1], m[2], [list(p) for p in m[3]]] for v, m in table.items() if m is not None
    ]


def restored_entries(values: list[Any], meta: Optional[list[Any]]) -> list[Any]:
    """A snapshot's list back as ``update_list`` entries: the values, those with attributes as dicts."""
    if not meta:
        return values
    by_value = {row[0]: row for row in meta}
    out: list[Any] = []
    for v in values:
        row = by_value.get(v)
        if row is None:
            out.append(v)
        else:
            out.append({"value": v, "category": row[1], "source": row[2], "expires_at": row[3], "attrs": dict(row[4])})
    return out


def _entry_dict(value: Any, meta: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"value": value}
    for key, v in zip(("category", "source", "expires_at"), meta, strict=False):
        if v is not None:
            d[key] = v
    if meta[3]:
        d["attrs"] = dict(meta[3])
    return d


def _entries_digest(entries: list[Any]) -> str:
    return "sha256:" + hashlib.sha256(msgspec.json.encode(entries)).hexdigest()


def _removed_values(type_name: str, remove: Iterable[Any]) -> list[Any]:
    out = []
    for i, r in enumerate(remove):
        raw = r.value if isinstance(r, ListEntry) else (r.get("value") if isinstance(r, dict) else r)
        try:
            out.append(convert_item(type_name, raw))
        except (TypeError, ValueError, OverflowError) as err:
            raise type(err)(f"update_list remove {i} ({raw!r}): {err}") from None
    return out


def _changed(old: ListTable, adds: dict[Any, Meta], removes: list[Any]) -> tuple[ListTable, list[Any]]:
    """The new table: ``old`` without ``removes`` and with ``adds``; and the values actually removed."""
    new = old.copy()
    removed = [v for v in removes if new.pop(v, new) is not new]
    new.update(adds)
    new.first_exp = min(old.first_exp, earliest_expiry(adds.values()))
    return new, removed


def _change_summary(type_name: str, adds: dict[Any, Meta], removed: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"added_count": len(adds), "removed_count": len(removed)}
    if len(adds) + len(removed) <= SMALL_CHANGE:
        out["added"] = [
            user_value(type_name, v) if m is None else _entry_dict(user_value(type_name, v), m) for v, m in adds.items()
        ]
        out["removed"] = user_values(type_name, removed)
    return out


def _few(values: Iterable[Any]) -> str:
    shown = sorted(map(repr, values))
    return ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
