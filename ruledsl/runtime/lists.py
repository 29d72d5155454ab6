"""Black/grey lists: load list files and turn entries into runtime values.

A list is a ``ListTable`` (``ruledsl.kernels.listtable``): entry value ->
its attributes (category, source, expiry, free attributes) or None, so a
lookup on the hot path is one dict membership test.  List files:

- one entry per line (any extension but the two below); blank lines and
  lines starting with ``#`` are ignored; surrounding white space is
  stripped.  A million-entry file loads in about a second;
- ``.csv`` and ``.jsonl``/``.ndjson`` with attributes
  (``ruledsl.check.listfiles``): the check reads them once and the engine
  takes the table it built.

Entries given by the application (``lists=``, ``update_list``) are plain
values, dicts with the keys of a JSON Lines line, or ``ListEntry`` structs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

import msgspec

from ruledsl.check.listfiles import JSON_KEYS, EntryReader, file_format, read_table
from ruledsl.kernels.listtable import ListTable, Meta, earliest_expiry
from ruledsl.kernels.values import to_decimal
from ruledsl.runtime.settings import SettingTypeError, list_error, unknown_name


class ListEntry(msgspec.Struct, frozen=True):
    """One list entry with its attributes (``engine.list_entry`` returns these; ``update_list`` takes them).

    ``expires_at`` is epoch milliseconds (an ISO 8601 string is accepted on
    input); the entry stops matching from that event time on.  Decimal
    values come back as ``decimal.Decimal``.
    """

    value: Any
    category: Optional[str] = None
    source: Optional[str] = None
    expires_at: Optional[int] = None
    attrs: dict[str, str] = {}


def convert_item(type_name: str, value: Any) -> Any:
    """One list entry as its runtime value; raises ValueError/TypeError on a bad entry."""
    if type_name in ("string", "enum"):
        if type(value) is not str:
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return value
    if type_name == "int":
        if type(value) is int:
            return value
        if type(value) is str:
            return int(value.strip())
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if type_name == "decimal":
        return to_decimal(value)
    if type_name == "float":
        return float(value)
    if type_name == "bool":
        if type(value) is bool:
            return value
        raise TypeError("expected true or false")
    raise TypeError(f"lists of {type_name} are not supported")


def read_list_file(path: str, type_name: str, enum_values: tuple[str, ...] = (), zone: str = "UTC") -> ListTable:
    """Read a list file (one per line, CSV or JSON Lines) into a ``ListTable``."""
    if file_format(path) != "text":
        return read_table(path, type_name, enum_values, zone)
    text = Path(path).read_text(encoding="utf-8-sig")
    entries = [line.strip() for line in text.splitlines()]
    entries = [e for e in entries if e and not e.startswith("#")]
    if type_name not in ("string", "enum"):
        entries = [convert_item(type_name, e) for e in entries]
    table = ListTable(type_name, (), NO_EXPIRY_FIRST)
    table.update(dict.fromkeys(entries))  # a plain dict's fast paths: 20 times faster than from pairs
    return table


NO_EXPIRY_FIRST = earliest_expiry(())


def convert_entries(
    type_name: str, entries: Iterable[Any], zone: str = "UTC", reader: Optional[EntryReader] = None
) -> dict[Any, Meta]:
    """Application entries -> {runtime value: meta}; TypeError/ValueError naming the bad entry."""
    reader = reader or EntryReader(type_name, (), zone)
    out: dict[Any, Meta] = {}
    if not isinstance(entries, (list, tuple, set, frozenset, dict)):
        entries = list(entries)  # read once: a generator cannot be read again after a failed fast path
    if type_name in ("string", "enum"):
        try:
            # the common case: a big collection of plain strings, converted at C speed
            plain = dict.fromkeys(entries)
        except TypeError:
            plain = None  # a dict entry is unhashable: the general path says which
        if plain is not None and all(type(v) is str for v in plain):
            return plain
        entries = list(plain) if plain is not None else entries
    for i, e in enumerate(entries):
        try:
            if isinstance(e, ListEntry):
                out[convert_item(type_name, e.value)] = reader.meta(
                    e.category, e.source, e.expires_at, dict(e.attrs) or None
                )
            elif isinstance(e, dict):
                unknown = set(e) - JSON_KEYS
                if unknown:
                    raise ValueError(f"unknown key(s) {sorted(unknown)} (keys: {sorted(JSON_KEYS)})")
                if "value" not in e:
                    raise ValueError("no `value`")
                out[convert_item(type_name, e["value"])] = reader.meta(
                    e.get("category"), e.get("source"), e.get("expires_at"), e.get("attrs")
                )
            else:
                out[convert_item(type_name, e)] = None
        except (TypeError, ValueError, OverflowError) as err:
            again = type(err)(f"list entry {i} ({_short(e)}): {err}")
            again.entry_index, again.entry = i, e  # type: ignore[union-attr]  # for SettingError (settings.py)
            raise again from None
    return out


def convert_values(type_name: str, values: Iterable[Any], zone: str = "UTC") -> ListTable:
    """Entries given by the embedding application (``lists=``, ``update_list``) as a ``ListTable``."""
    if isinstance(values, ListTable) and values.type_name == type_name:
        return values  # already converted (a reload, a snapshot restore): tables are never changed
    entries = convert_entries(type_name, values, zone)
    table = ListTable(type_name, (), earliest_expiry(entries.values()))
    table.update(entries)
    return table


def resolve_lists(
    result, overrides: Optional[dict[str, Iterable[Any]]] = None, *, call: str = "load(lists=...)"
) -> dict[str, ListTable]:
    """Every declared list as a ``ListTable``: an override, else its file, else its inline items.

    A bad override raises a ``SettingError`` (``runtime.settings``) whose message starts with ``call``.
    """
    from ruledsl.compile import const_value

    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(result.symbols.lists), key=str)
    if unknown:
        raise unknown_name("list", unknown[0], list(result.symbols.lists), call=call)
    header = result.symbols.header
    zone = header.timezone if header is not None and header.timezone else "UTC"
    out: dict[str, ListTable] = {}
    for name, decl in result.symbols.lists.items():
        type_name = decl.type.name
        if name in overrides:
            given = overrides[name]
            if isinstance(given, (str, bytes)):
                raise SettingTypeError(
                    f"{call}: list `{name}` takes a collection of entries, not a {type(given).__name__} "
                    "(a str would be read as its characters)",
                    kind="list",
                    name=name,
                    expected=type_name,
                    value=given,
                )
            try:
                out[name] = convert_values(type_name, given, zone)
            except (TypeError, ValueError, OverflowError) as err:
                raise list_error(name, type_name, err, call=call) from None
        elif decl.file is not None:
            # the check read a CSV/JSON Lines file already: the first engine takes that table
            table = result.symbols.list_tables.pop(name, None)
            if table is None:
                enum_values = tuple(result.symbols.value_types[name].elem.enum_values) if type_name == "enum" else ()
                table = read_list_file(result.symbols.list_files[name], type_name, enum_values, zone)
            out[name] = table
        else:
            items = [const_value(result, item, type_name) for item in decl.items or []]
            out[name] = ListTable(type_name, dict.fromkeys(items).items(), NO_EXPIRY_FIRST)
    return out


def _short(e: Any) -> str:
    text = repr(e)
    return text if len(text) <= 60 else text[:57] + "..."
