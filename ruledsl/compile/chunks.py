"""Splitting a long event function into methods of bounded size (Cython evaluator).

A C compiler's time and memory grow faster than linearly with the size of
one function: the transfer function of a 3,000-rule ruleset is tens of
megabytes of C in one function, which ``gcc -O1`` needs gigabytes and
many minutes for.  So when an event function is longer than
``MAX_CHUNK_LINES``, everything before its commit (the windows, sequences,
scorecards and rule tests) is cut at statement boundaries into methods
``r_<event>_<n>`` that take the locals they read and return the locals
they assign that a later part of the function reads.  The statements are
the Python evaluator's, unchanged and in the same order; only where they
run changes.

``emit.py`` writes one statement per line at the function's top
indentation, deeper lines belonging to the statement above, and ends each
function with ``if commit:`` and the return.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_CHUNK_LINES = 300
"""Lines per method (a hundred or so rules' tests): small enough for the C compiler."""

_TOP = "    "  # the indentation of top-level statements in a generated function


@dataclass
class Chunk:
    """A run of whole statements of the rule region, moved into its own method."""

    lines: list[str] = field(default_factory=list)
    locations: list[Any] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # locals it reads
    returns: list[str] = field(default_factory=list)  # locals it assigns that are read later


@dataclass
class Split:
    """An event function's lines with the rule region cut out into chunks (no chunks: nothing cut)."""

    head: list[tuple[str, Any]]
    chunks: list[Chunk]
    tail: list[tuple[str, Any]]


_SCAN = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|#.*|[^\W\d]\w*""")


def names_in(line: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, name) of each name a line of generated Python loads or stores.

    Names inside string literals and comments are skipped, and so are
    attribute names (``x.name``) and the letters inside number literals
    (``1e5``).  A regular expression, not ``tokenize``: a 3,000-rule ruleset
    has tens of thousands of lines, and this runs on every one.
    """
    for m in _SCAN.finditer(line):
        text = m.group()
        if text[0] in "'\"#":
            continue
        start = m.start()
        if start and (line[start - 1].isalnum() or line[start - 1] == "_"):
            continue  # inside a number literal
        j = start - 1
        while j >= 0 and line[j] == " ":
            j -= 1
        if j >= 0 and line[j] == ".":
            continue  # an attribute or method name
        yield start, m.end(), text


_ASSIGNED = re.compile(r"\s*=(?!=)")


def _names(lines: list[str]) -> tuple[set[str], set[str]]:
    """(names read, names assigned) in lines of generated Python (attribute names excluded)."""
    read: set[str] = set()
    assigned: set[str] = set()
    for line in lines:
        for start, end, name in names_in(line):
            if _ASSIGNED.match(line, end):
                before = line[:start].rstrip()
                if not before or before[-1] in ":;":
                    assigned.add(name)  # a statement's target (also after `if ...:` on one line)
                    continue
                if before[-1] in "(,":
                    continue  # a keyword argument's name
            read.add(name)
    return read, assigned


def split_body(lines: list[str], locations: list[Any], args: list[str]) -> Split:
    """Cut one event function's body (``rest`` lines) into chunks when it is long.

    Everything before the final ``if commit:`` is cut at top-level statements;
    the commit and the return stay in the function, which calls the chunks in
    order, passing each the locals it reads and taking back those it assigns
    that a later part reads.
    """
    pairs = list(zip(lines, locations, strict=True))
    ends = [i for i, line in enumerate(lines) if line == _TOP + "if commit:"]
    if not ends or ends[-1] <= MAX_CHUNK_LINES:
        return Split(pairs, [], [])
    end = ends[-1]
    # whole statements: a top-level line that is code starts one; comments and blank lines join the next
    statements: list[list[tuple[str, Any]]] = []
    pending: list[tuple[str, Any]] = []
    for line, loc in pairs[:end]:
        top = line.startswith(_TOP) and not line.startswith(_TOP + " ")
        code = line.strip() and not line.strip().startswith("#")
        if top and code:
            statements.append([*pending, (line, loc)])
            pending = []
        elif not top and statements and not pending:
            statements[-1].append((line, loc))
        else:
            pending.append((line, loc))
    tail = pending + pairs[end:]
    chunks: list[Chunk] = []
    for st in statements:
        if not chunks or len(chunks[-1].lines) + len(st) > MAX_CHUNK_LINES:
            chunks.append(Chunk())
        chunks[-1].lines.extend(line for line, _ in st)
        chunks[-1].locations.extend(loc for _, loc in st)
    later_reads = [_names([line for line, _ in tail])[0]]
    for chunk in reversed(chunks):  # what each chunk must return: read after it
        later_reads.append(later_reads[-1] | _names(chunk.lines)[0])
    later_reads.reverse()  # later_reads[i + 1]: names read after chunk i
    local = set(args) | {"commit"}
    for i, chunk in enumerate(chunks):
        read, assigned = _names(chunk.lines)
        chunk.params = sorted(read & local)
        chunk.returns = sorted(assigned & later_reads[i + 1])
        local |= assigned
    return Split([], chunks, tail)
