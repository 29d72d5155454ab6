"""Durations: the unit table, and reading and writing durations as text.

The language writes a duration as a whole number and a unit (``10m``,
``24h``, ``180d``); the grammar's ``DURATION`` token is exactly that.
Elsewhere (command-line options, rule-test files) a duration may also be
written in several parts (``1h30m``), with a leading ``-``, blanks or ``_``
between digits: ``parse_duration`` reads every form.  ``format_duration``
writes the form the grammar reads back; ``format_duration_compound`` the
``1h30m`` form for people.
"""

from __future__ import annotations

import re

DURATION_UNITS: dict[str, int] = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
"""Milliseconds per unit, by the unit's suffix."""

UNIT_PATTERN = "|".join(sorted(DURATION_UNITS, key=len, reverse=True))
"""A regular-expression alternation of the units, longest first (``ms`` before ``m``)."""

_PART = re.compile(rf"(\d+)({UNIT_PATTERN})")
_WHOLE = re.compile(rf"-?(?:\d+(?:{UNIT_PATTERN}))+")
_LARGEST_FIRST = sorted(DURATION_UNITS, key=DURATION_UNITS.__getitem__, reverse=True)
_COMPOUND_UNITS = ("d", "h", "m", "s", "ms")  # 14d reads more easily than 2w in a report


def parse_duration(text: str) -> int:
    """A duration in milliseconds: ``"10m"`` -> 600 000, ``"1h30m"`` -> 5 400 000, ``"-2m"`` -> -120 000.

    Blanks and ``_`` are ignored.  Raises ValueError for anything else
    (a bare number, an unknown unit, a fraction such as ``1.5h``, a value
    that is not a string).
    """
    if type(text) is not str:
        raise ValueError(f"a duration is written with a unit, like `10s` or `5m`, not {text!r}")
    s = text.replace(" ", "").replace("_", "")
    if not _WHOLE.fullmatch(s):
        raise ValueError(
            f"bad duration {text!r}: write a number and a unit (ms, s, m, h, d, w), e.g. `500ms`, `10s`, `1h30m`"
        )
    ms = sum(int(num) * DURATION_UNITS[unit] for num, unit in _PART.findall(s))
    return -ms if s.startswith("-") else ms


def format_duration(ms: int) -> str:
    """A duration as the language writes it, in the largest unit that divides it exactly: 600 000 -> ``10m``.

    ``0`` is ``0ms``; a negative duration gets a leading ``-``.
    """
    for unit in _LARGEST_FIRST:
        size = DURATION_UNITS[unit]
        if ms and size > 1 and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def format_duration_compound(ms: int) -> str:
    """A duration for people, in several units: 5 400 000 -> ``1h30m``, 0 -> ``0s``.

    Days are the largest unit; a negative duration gets a leading ``-``.
    """
    if ms == 0:
        return "0s"
    sign, rest = ("-" if ms < 0 else ""), abs(ms)
    parts = []
    for unit in _COMPOUND_UNITS:
        size = DURATION_UNITS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return sign + "".join(parts)
