"""A compiled ruleset -> a Cython evaluator module: the second emitter over the same plan.

The Cython module is written from the pieces the Python emitter keeps
(``Compiled.event_code``: each event's decoding, clock guard and the rest,
with the DSL location of every line), so the two evaluators cannot drift
apart: the same statements, in the same order, over the same runtime
helpers.  What changes is where the names live and how the kernels are
called:

- the names generated code loads (kernels, parameters, lists, clock, the
  runtime helpers) become typed attributes of one ``Evaluator`` object per
  engine (``self.P``, ``self.W_card_txn_10m``), so two engines running the
  same ruleset in one process share the compiled code and nothing else;
- window and sequence kernel calls go straight to the kernels' C entry
  points (``ruledsl/kernels/windows.pxd``, ``sequences.pxd``): no method
  lookup, no argument tuple;
- each event type is a C method ``b_<event>`` taking the decoded values,
  called by ``ev_<event>(ev, commit)`` (decodes a dict) and by
  ``row_<event>(ts, fields..., commit)`` (values decoded by a columnar path).

Values stay Python objects wherever a C type could change a result: numbers
that may leave 64 bits (a product of two amounts, a sum over a window) are
never C integers, so an overflow cannot give a wrong answer - the C types
are for the dict, the lists, the kernels and the flags.  Python builtins the
code uses (``type``, ``str``...) are left to Cython, which turns
``type(x) is str`` into a pointer comparison.

The module text is a function of the compiled ruleset only: the engine
caches the built module by a digest of the generated Python and of these
emitters' code (``runtime/engine_compiled.py``, ``evaluator_name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from ruledsl.compile.chunks import names_in, split_body
from ruledsl.compile.emit import Writer, comment_text
from ruledsl.compile.linemap import LineMap
from ruledsl.compile.plan import Compiled
from ruledsl.compile.runtime import EXPORTED
from ruledsl.kernels.values import SCALE

_BUILTINS = frozenset({"min", "max", "abs", "len", "type", "int", "str", "float", "bool"})
"""Names in ``EXPORTED`` that are the Python builtins themselves: left to Cython to optimise."""

_LISTS = ("P", "LS", "CLK", "FUT", "DEG")
"""Bound names that are Python lists (typed ``list``: indexing without a lookup)."""
_USED_LISTS = ("EXM",)
"""Python lists bound (and typed ``list``) only where the code loads them: exemptions' flag."""

_IN_C = {
    # runtime helpers with a C version in the module (_PRELUDE) or the Evaluator: same results
    "_cv_dec": "_dec(self._cv_dec, ",  # a float amount converted in C before the converter
    "_between": "_between(",
    "_imod": "_imod(",
    "_local": "self._lt(",  # the clock's last segment kept in C
}
_WINDOW_CALLS = {"query": "window_query", "query_add": "window_query_add", "add": "window_add"}
_SEQUENCE_CALLS = {"query": "sequence_query", "add": "sequence_add"}

DIRECTIVES = (
    "language_level=3, infer_types=False, cdivision=False, binding=False, embedsignature=False, "
    "boundscheck=True, wraparound=False"
)
"""Compiler directives of every evaluator module; ``infer_types=False`` keeps every untyped local a Python object."""


@dataclass
class CythonModule:
    """A Cython evaluator's text, what it binds, and its line map."""

    source: str
    bindings: list[str]  # the names copied from the engine's namespace into the Evaluator
    functions: dict[str, str] = field(default_factory=dict)  # event type -> dict-path method (ev_...)
    rows: dict[str, str] = field(default_factory=dict)  # event type -> row method (row_...)
    linemap: Optional[LineMap] = None


_PRELUDE = """

cdef object _dec(object slow, object event, object field, object v):
    # a decimal field sent as a float: the fast path of values.to_decimal in C (a float written with
    # at most 4 decimals is within 1e-6 of a whole number of units; rint rounds half to even as
    # Python's round does); anything else goes to the converter itself
    cdef double x, scaled, r
    if type(v) is float:
        x = v
        if -1e9 < x < 1e9:
            scaled = x * {scale}.0
            r = rint(scaled)
            if fabs(scaled - r) < 1e-6:
                return <long long>r
    return slow(event, field, v)


cdef object _between(object hour, object start, object end):
    # values.between_hours
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


cdef object _imod(object a, object b):
    # compile/runtime.py _imod: Python's % on Python ints (cdivision applies to C types only)
    return None if b == 0 else a % b
"""


def bound_names(compiled: Compiled) -> list[str]:
    """The global names the generated code loads that the Evaluator binds, sorted."""
    candidates = (set(EXPORTED) - _BUILTINS) | compiled.bound_names()
    used = {name for line in compiled.source.splitlines() for _start, _end, name in names_in(line)}
    return sorted((candidates & used) | {"PASS", *_LISTS})


_CALL = re.compile(r"\s*\(")
_METHOD_CALL = re.compile(r"\s*\.\s*(\w+)\s*\(")


def _rewrite(line: str, bound: set[str], windows: set[str], sequences: set[str]) -> str:
    """One generated Python line with its global names made ``self.`` attributes and kernel calls made C calls."""
    if not line.strip() or line.lstrip().startswith("#"):
        return line
    out: list[str] = []
    pos = 0
    for start, end, name in names_in(line):
        if name in _IN_C:
            call = _CALL.match(line, end)
            if call is not None:
                out += [line[pos:start], _IN_C[name]]
                pos = call.end()
                continue
        if name in windows or name in sequences:
            method = _METHOD_CALL.match(line, end)
            c_call = None
            if method is not None:
                c_call = (_WINDOW_CALLS if name in windows else _SEQUENCE_CALLS).get(method.group(1))
            if method is not None and c_call is not None:
                out += [line[pos:start], f"{c_call}(self.{name}, "]
                pos = method.end()
                continue
        if name in bound:
            out += [line[pos:start], f"self.{name}"]
            pos = end
    out.append(line[pos:])
    return "".join(out)


def _emit_local_time(w: Writer) -> None:
    # LocalClock.local_ms with the clock's last segment (start, end, offset) copied into C: a hit
    # costs no Python call; a miss asks the clock, which finds and caches the next segment
    w(0, "")
    w(1, "cdef object _lt(self, object ts):")
    w(2, "cdef long long t = ts")
    w(2, "if self._seg_lo <= t < self._seg_hi:")
    w(3, "return t + self._seg_off")
    w(2, "local = self._local(ts)")
    w(2, "if self._clock is not None:")
    w(3, "lo, hi, off = self._clock._seg")
    w(3, "self._seg_lo = lo if lo > -9223372036854775807 else -9223372036854775807")
    w(3, "self._seg_hi = hi if hi < 9223372036854775807 else 9223372036854775807")
    w(3, "self._seg_off = off")
    w(2, "return local")


def _emit_evaluate(w: Writer, compiled: Compiled) -> None:
    # Engine.evaluate in C: the type dispatch is an int switch, the lock is taken by calling the
    # engine's lock methods directly; anything unusual (not a dict, an unknown type) goes back to
    # the engine's own methods so every error message is the Python evaluator's.
    w(0, "")
    w(1, "def evaluate(self, event):")
    w(2, '"""Engine.evaluate for this evaluator (the engine binds it when it swaps this evaluator in)."""')
    w(2, "cdef dict ev = event if type(event) is dict else self._coerce(event)")
    w(2, "t = ev.get('type')")
    w(2, "i = self.TYPES.get(t) if type(t) is str else None")
    w(2, "if i is None:")
    w(3, "fn = self._function_for(ev)  # raises the EventError that says what is wrong with `type`")
    w(3, "self._acquire()")
    w(3, "try:")
    w(4, "return fn(ev, True)")
    w(3, "finally:")
    w(4, "self._release()")
    w(2, "cdef int k = i")
    w(2, "self._acquire()")
    w(2, "try:")
    for k, code in enumerate(compiled.event_code):
        w(3, f"{'if' if k == 0 else 'elif'} k == {k}:")
        w(4, f"return self.d{code.function[2:]}(ev, True)")
    w(3, "return None")
    w(2, "except self.EventError:")
    w(3, "raise")
    w(2, "except Exception as exc:  # a bug, not bad input: the traceback points at the DSL")
    w(3, "raise self._rewrite_error(exc) from None")
    w(2, "finally:")
    w(3, "self._release()")


def cython_module(compiled: Compiled, module_name: str) -> CythonModule:
    """The Cython source of ``compiled``'s evaluator, to be built as extension module ``module_name``."""
    if not compiled.event_code:
        raise ValueError("the compiled ruleset has no event functions in pieces (compile it with emit.compile_module)")
    bindings = bound_names(compiled)
    bound = set(bindings)
    windows = {name for name, spec in zip(compiled.window_names, compiled.windows, strict=True) if spec.agg != "last"}
    sequences = set(compiled.sequence_names)
    w = Writer()
    w(0, f"# cython: {DIRECTIVES}")
    w(0, f"# ruledsl generated Cython evaluator: {comment_text(compiled.filename)}")
    w(0, "# the Python evaluator's statements (ruledsl compile shows them), with the names it loads bound")
    w(0, "# to this Evaluator and kernel calls made C calls (see ruledsl/compile/emit_cy.py)")
    w(0, "")
    w(0, "from ruledsl.kernels.windows cimport window_add, window_query, window_query_add")
    w(0, "from ruledsl.kernels.sequences cimport sequence_add, sequence_query")
    w(0, "from libc.math cimport fabs, rint")
    w(0, "")
    for line in _PRELUDE.format(scale=SCALE).splitlines():
        w(0, line)
    w(0, "")
    w(0, "cdef class Evaluator:")
    w(1, '"""One engine\'s evaluator: the bound names are this engine\'s state and helpers."""')
    w(0, "")
    lists = [b for b in bindings if b in _LISTS or b in _USED_LISTS]
    objects = [b for b in bindings if b not in lists and b != "PASS"]
    w(1, f"cdef list {', '.join(lists)}")
    w(1, "cdef dict PASS")
    for i in range(0, len(objects), 8):
        w(1, f"cdef object {', '.join(objects[i : i + 8])}")
    w(1, "cdef long long _seg_lo, _seg_hi, _seg_off  # the local clock's last segment (_lt)")
    w(1, "cdef object _clock")
    w(1, "cdef dict TYPES")
    w(1, "cdef object _acquire, _release, _coerce, _function_for, _rewrite_error, EventError")
    w(0, "")
    w(1, "def __init__(self, dict ns, engine=None):")
    for b in bindings:
        w(2, f"self.{b} = ns.get({b!r})")
    types = {code.event: i for i, code in enumerate(compiled.event_code)}
    w(2, f"self.TYPES = {types!r}")
    w(2, "self._clock = getattr(ns.get('_local'), '__self__', None)  # the LocalClock behind _local")
    w(2, "self._seg_lo = self._seg_hi = self._seg_off = 0")
    w(2, "if engine is not None:  # evaluate() below: the engine's lock, fallbacks and error rewriting")
    w(3, "self._acquire = engine._lock.acquire")
    w(3, "self._release = engine._lock.release")
    w(3, "self._coerce = engine._coerce")
    w(3, "self._function_for = engine._function_for")
    w(3, "self._rewrite_error = engine._rewrite_error")
    w(3, "self.EventError = engine._event_error")
    _emit_evaluate(w, compiled)
    _emit_local_time(w)
    functions, rows = {}, {}
    for code in compiled.event_code:
        body_name = "b" + code.function[2:]
        args = ", ".join(code.args)
        w(0, "")
        with w.at(code.location):
            w(1, f"cdef object {body_name}(self, {', '.join('object ' + a for a in code.args)}, bint commit):")
        w(2, "cdef bint late")
        rest = [_rewrite(line, bound, windows, sequences) for line in code.rest.lines]
        split = split_body(rest, code.rest.locations, code.args)
        crossing = sorted({p for c in split.chunks for p in c.params + c.returns} - set(code.args) - {"late", "commit"})
        for i in range(0, len(crossing), 8):  # passed between the parts: bound before the statements assigning them
            w(2, f"{' = '.join(crossing[i : i + 8])} = None")
        for line, loc in split.head:
            with w.at(loc):
                w(1, line)
        for n_chunk, chunk in enumerate(split.chunks):
            call = f"self.r{code.function[2:]}_{n_chunk}({', '.join(chunk.params)})"
            if not chunk.returns:
                w(2, call)
            elif len(chunk.returns) == 1:
                w(2, f"{chunk.returns[0]} = {call}")
            else:
                w(2, f"{', '.join(chunk.returns)} = {call}")
        for line, loc in split.tail:
            with w.at(loc):
                w(1, line)
        for n_chunk, chunk in enumerate(split.chunks):
            w(0, "")
            params = ", ".join(f"object {p}" for p in chunk.params)
            w(1, f"cdef object r{code.function[2:]}_{n_chunk}(self{', ' if params else ''}{params}):")
            w(2, f"# part {n_chunk + 1} of {len(split.chunks)} of event {comment_text(code.event)} (chunks.py)")
            for line, loc in zip(chunk.lines, chunk.locations, strict=True):
                with w.at(loc):
                    w(1, line)
            w(2, f"return {', '.join(chunk.returns)}" if chunk.returns else "return None")
        w(0, "")
        decode_name = "d" + code.function[2:]
        with w.at(code.location):
            w(1, f"cdef object {decode_name}(self, dict ev, bint commit):")
        for line, loc in zip(code.decode.lines, code.decode.locations, strict=True):
            with w.at(loc):
                w(1, _rewrite(line, bound, windows, sequences))
        w(2, f"return self.{body_name}({args}, commit)")
        w(0, "")
        with w.at(code.location):
            w(1, f"def {code.function}(self, dict ev, bint commit):")
        w(2, f"return self.{decode_name}(ev, commit)")
        w(0, "")
        row = "row" + code.function[2:]
        with w.at(code.location):
            w(1, f"def {row}(self, {args}, bint commit):")
        for line, loc in zip(code.guard.lines, code.guard.locations, strict=True):
            with w.at(loc):
                w(1, _rewrite(line, bound, windows, sequences))
        w(2, f"return self.{body_name}({args}, commit)")
        functions[code.event] = code.function
        rows[code.event] = row
    filename = f"{module_name}.pyx"
    return CythonModule(
        source="\n".join(w.lines) + "\n",
        bindings=bindings,
        functions=functions,
        rows=rows,
        linemap=LineMap(filename, w.locations),
    )
