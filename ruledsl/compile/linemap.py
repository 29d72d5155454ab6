"""Generated line -> DSL location, and tracebacks that point at the ruleset.

The model is Jinja's ``debug.py``: the generated source is registered with
``linecache`` under its own file name (so tracebacks, ``pdb`` and profilers
can show it), and an exception raised inside generated code has each
generated frame replaced by a frame located at the DSL file and line it came
from, named after the rule, window or event it was evaluating.
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Sequence
from types import CodeType, TracebackType
from typing import NamedTuple, Optional


class Location(NamedTuple):
    """Where a generated line comes from."""

    path: str  # the DSL file, as shown in diagnostics ("" when unknown)
    line: int  # 1-based
    label: str  # what was being evaluated: "rule rapid_card_use", "window card_txn_10m", "event transfer"


class LineMap:
    """The DSL location of every line of one generated module."""

    def __init__(self, filename: str, locations: Sequence[Optional[Location]]):
        self.filename = filename
        self.locations = list(locations)

    def lookup(self, line: int) -> Optional[Location]:
        """The DSL location of generated line ``line`` (1-based), or None for plumbing lines."""
        if 1 <= line <= len(self.locations):
            return self.locations[line - 1]
        return None

    def register(self, source: str) -> None:
        """Make ``source`` visible to ``linecache`` (tracebacks, pdb, profilers) under ``filename``."""
        # mtime None: linecache.checkcache never drops an entry that has no file behind it
        linecache.cache[self.filename] = (len(source), None, source.splitlines(True), self.filename)


_REGISTRY: dict[str, LineMap] = {}


def register(linemap: LineMap, source: str) -> None:
    """Register a generated module so tracebacks through it can be rewritten."""
    linemap.register(source)
    _REGISTRY[linemap.filename] = linemap


def _dsl_frame(exc: BaseException, loc: Location, generated: str, gen_line: int) -> Optional[TracebackType]:
    """A traceback entry located at the DSL line (Jinja's fake_traceback)."""
    path = loc.path or "<ruledsl>"
    code: CodeType = compile("\n" * (loc.line - 1) + "raise __ruledsl_exception__", path, "exec")
    name = f"{loc.label} [{generated}:{gen_line}]"
    try:
        code = code.replace(co_name=name, co_qualname=name)  # type: ignore[call-arg]
    except TypeError:  # Python 3.10 has no co_qualname
        code = code.replace(co_name=name)
    try:
        exec(code, {"__ruledsl_exception__": exc})  # noqa: S102 -- our own one-line `raise`, no user text
    except BaseException:
        tb = sys.exc_info()[2]
        return tb.tb_next if tb is not None else None
    return None


def rewrite_traceback(exc: BaseException) -> BaseException:
    """Replace every generated frame of ``exc``'s traceback by one at its DSL file and line.

    Frames of generated modules without a DSL location (decoding plumbing)
    are kept as they are; all other frames are untouched.
    """
    tb = exc.__traceback__
    entries: list[TracebackType] = []
    while tb is not None:
        linemap = _REGISTRY.get(tb.tb_frame.f_code.co_filename)
        loc = linemap.lookup(tb.tb_lineno) if linemap is not None else None
        if linemap is not None and loc is not None:
            fake = _dsl_frame(exc, loc, linemap.filename, tb.tb_lineno)
            entries.append(fake if fake is not None else tb)
        else:
            entries.append(tb)
        tb = tb.tb_next
    head: Optional[TracebackType] = None
    for entry in reversed(entries):
        entry.tb_next = head
        head = entry
    return exc.with_traceback(head)
