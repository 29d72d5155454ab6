"""Black/grey lists: load list files and turn entries into runtime values.

A list file has one entry per line; blank lines and lines starting with ``#``
are ignored; surrounding white space is stripped.  Entries become a
``frozenset`` so a lookup on the hot path is one set membership test.
A million-entry file loads in about a second (one ``str.split`` and a set
build).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from ruledsl.kernels.values import to_decimal


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


def read_list_file(path: str, type_name: str) -> frozenset:
    """Read a list file into a frozenset of runtime values."""
    text = Path(path).read_text(encoding="utf-8-sig")
    entries = [line.strip() for line in text.splitlines()]
    entries = [e for e in entries if e and not e.startswith("#")]
    if type_name in ("string", "enum"):
        return frozenset(entries)
    return frozenset(convert_item(type_name, e) for e in entries)


def convert_values(type_name: str, values: Iterable[Any]) -> frozenset:
    """Values given by the embedding application (``engine.update_list``) as a frozenset."""
    if type_name in ("string", "enum"):
        out = frozenset(values)
        bad = next((v for v in out if type(v) is not str), None)
        if bad is not None:
            raise TypeError(f"list entries must be strings, got {bad!r}")
        return out
    return frozenset(convert_item(type_name, v) for v in values)


def resolve_lists(result, overrides: Optional[dict[str, Iterable[Any]]] = None) -> dict[str, frozenset]:
    """Every declared list as a frozenset: an override, else its file, else its inline items."""
    from ruledsl.compile import const_value

    overrides = overrides or {}
    unknown = set(overrides) - set(result.symbols.lists)
    if unknown:
        raise KeyError(f"unknown list(s): {', '.join(sorted(unknown))}")
    out: dict[str, frozenset] = {}
    for name, decl in result.symbols.lists.items():
        type_name = decl.type.name
        if name in overrides:
            out[name] = convert_values(type_name, overrides[name])
        elif decl.file is not None:
            out[name] = read_list_file(result.symbols.list_files[name], type_name)
        else:
            out[name] = frozenset(const_value(result, item, type_name) for item in decl.items or [])
    return out
