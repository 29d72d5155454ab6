"""A declared list at run time: its entries and their attributes (docs/semantics.md, "Lists").

``ListTable`` is a ``dict`` from an entry's runtime value to its *meta*:
``None`` for an entry without attributes (every entry of a one-per-line
text file), else the tuple ``(category, source, expires_at, attrs)`` where
``attrs`` is a tuple of ``(name, value)`` pairs sorted by name.  Equal metas
are one shared tuple (``MetaInterner``): a 10-million-entry list with a few
categories and sources costs a dict slot per entry, no tuple each.

Generated code tests ``x in table`` (a dict lookup: what a set costs) and,
only on a hit, ``table.first_exp > ts`` - a lower bound of every entry's
expiry, ``NO_EXPIRY`` when none expires - so a list without expiries pays
one comparison per hit and nothing per miss.  An entry whose ``expires_at``
is at or before the event's ``ts`` does not match (``live``).

Tables are never changed once an engine uses them: ``update_list`` builds a
new one and swaps it in (a snapshot encoded outside the engine's lock, or an
audit record's ``old``, keeps seeing a consistent table).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

NO_EXPIRY = 1 << 62
"""``first_exp`` of a table none of whose entries expires: beyond every event's ``ts``."""

Meta = Optional[tuple[Optional[str], Optional[str], Optional[int], tuple[tuple[str, str], ...]]]


class ListTable(dict):
    """value -> meta (None or ``(category, source, expires_at, attrs)``); ``first_exp`` bounds the expiries."""

    __slots__ = ("first_exp", "type_name")

    def __init__(self, type_name: str, items: Iterable[tuple[Any, Meta]] = (), first_exp: Optional[int] = None):
        super().__init__(items)
        self.type_name = type_name
        self.first_exp = first_exp if first_exp is not None else earliest_expiry(self.values())

    def copy(self) -> ListTable:
        """A new table with the same entries (``dict.copy`` would lose the class and the slots)."""
        new = ListTable(self.type_name, (), NO_EXPIRY)
        new.update(self)
        new.first_exp = self.first_exp
        return new

    def has_attributes(self) -> bool:
        """Whether any entry carries a category, source, expiry or attribute."""
        return any(m is not None for m in self.values())

    def __reduce__(self) -> tuple[Any, ...]:
        return (ListTable, (self.type_name, list(self.items()), self.first_exp))


def earliest_expiry(metas: Iterable[Meta]) -> int:
    """The smallest ``expires_at`` among ``metas`` (``NO_EXPIRY`` when none expires)."""
    first = NO_EXPIRY
    for m in metas:
        if m is not None and m[2] is not None and m[2] < first:
            first = m[2]
    return first


class MetaInterner:
    """One shared meta tuple per distinct combination (and one string object per category/source text)."""

    def __init__(self) -> None:
        self._metas: dict[Any, Meta] = {}
        self._texts: dict[str, str] = {}

    def text(self, s: Optional[str]) -> Optional[str]:
        """The shared copy of a category, source or attribute text."""
        if s is None:
            return None
        return self._texts.setdefault(s, s)

    def meta(
        self,
        category: Optional[str],
        source: Optional[str],
        expires_at: Optional[int],
        attrs: tuple[tuple[str, str], ...] = (),
    ) -> Meta:
        """The meta tuple of these attributes; ``None`` when there are none."""
        if category is None and source is None and expires_at is None and not attrs:
            return None
        key = (category, source, expires_at, attrs)
        found = self._metas.get(key)
        if found is None:
            t = self.text
            found = (t(category), t(source), expires_at, tuple((t(k), t(v)) for k, v in attrs))  # type: ignore[misc]
            self._metas[key] = found
        return found


# ---------------------------------------------------------------- what generated code calls


def live(table: ListTable, x: Any, ts: int) -> bool:
    """Whether listed value ``x`` has not expired at ``ts`` (called only after ``x in table``)."""
    m = table[x]
    return m is None or m[2] is None or m[2] > ts


def live_meta(table: ListTable, x: Any, ts: int) -> Meta:
    """``x``'s meta when it is listed and not expired at ``ts``, else None (no attributes: None too)."""
    m = table.get(x)
    if m is None or (m[2] is not None and m[2] <= ts):
        return None
    return m


def category(table: ListTable, x: Any, ts: int) -> Optional[str]:
    """``list_category(L, x)``."""
    m = live_meta(table, x, ts)
    return None if m is None else m[0]


def source(table: ListTable, x: Any, ts: int) -> Optional[str]:
    """``list_source(L, x)``."""
    m = live_meta(table, x, ts)
    return None if m is None else m[1]


def expires_at(table: ListTable, x: Any, ts: int) -> Optional[int]:
    """``list_expires_at(L, x)``."""
    m = live_meta(table, x, ts)
    return None if m is None else m[2]


def attr(table: ListTable, x: Any, ts: int, name: str) -> Optional[str]:
    """``list_attr(L, x, name)``."""
    m = live_meta(table, x, ts)
    if m is None:
        return None
    for k, v in m[3]:
        if k == name:
            return v
    return None
