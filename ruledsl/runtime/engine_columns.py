"""The columnar ways into an engine: ``evaluate_arrow`` and ``evaluate_columns``.

A mixin of ``Engine``: it uses the engine's lock, dict path (``_fns``) and
``row_functions``, and holds no state of its own besides a cached decoding
plan.  The decoding is in ``ruledsl.runtime.arrow_decode``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from ruledsl.compile import linemap as _linemap
from ruledsl.kernels.values import EventError


class ArrowResult:
    """The decisions of a columnar batch, in row order.

    - ``len(result)``: the number of events (rows).
    - ``result.actions``: one action name per event (``"pass"``, ``"alert"``
      ...; None for a rejected event), a Python list: the row loop produces
      Python objects anyway, and a list is what most callers index or count;
      ``result.action_array()`` gives them as a dictionary-encoded Arrow
      array to join back onto the batch.
    - ``result.matches``: the indices of the events where at least one rule
      fired (shadow rules included), ascending.
    - ``result.decision(i)``: the full ``Decision`` of event ``i`` (raises its
      ``EventError`` if it was rejected); ``result.decisions()``: all of them
      as ``evaluate_many`` returns them.
    - ``result.errors``: ``{index: EventError}`` of the rejected events (with
      ``errors="return"``; with ``"raise"`` the first one is raised).

    Events where nothing fired share one pass decision per event type, so
    keeping every decision costs a reference per event.
    """

    __slots__ = ("_actions", "_decisions", "_matches", "errors")

    def __init__(self, decisions: list[Any], errors: dict[int, EventError]):
        self._decisions = decisions
        self.errors = errors
        self._actions: Optional[list[Optional[str]]] = None
        self._matches: Optional[list[int]] = None

    def __len__(self) -> int:
        return len(self._decisions)

    def __repr__(self) -> str:
        return f"ArrowResult({len(self)} events, {len(self.matches)} matched, {len(self.errors)} rejected)"

    @property
    def actions(self) -> list[Optional[str]]:
        """One action name per event, in order (None where the event was rejected)."""
        if self._actions is None:
            if self.errors:
                self._actions = [None if isinstance(d, EventError) else d.action for d in self._decisions]
            else:
                self._actions = [d.action for d in self._decisions]
        return self._actions

    @property
    def matches(self) -> list[int]:
        """Indices of the events whose decision matched at least one rule."""
        if self._matches is None:
            errors = self.errors
            self._matches = [i for i, d in enumerate(self._decisions) if i not in errors and d.rules]
        return self._matches

    def decision(self, i: int) -> Any:
        """The ``Decision`` of event ``i``; raises the event's ``EventError`` if it was rejected."""
        d = self._decisions[i]
        if isinstance(d, EventError):
            raise d
        return d

    def decisions(self) -> list[Any]:
        """Every decision in order, an ``EventError`` in a rejected event's place (as ``evaluate_many``)."""
        return list(self._decisions)

    def action_array(self) -> Any:
        """The actions as a dictionary-encoded ``pyarrow`` string array (null where rejected)."""
        import pyarrow as pa

        return pa.array(self.actions, pa.string()).dictionary_encode()


class ColumnsMixin:
    """Columnar batches in, decisions out."""

    _lock: Any
    _fns: dict[str, Any]
    _function_for: Any
    _zone: Any
    compiled: Any
    _ns: dict[str, Any]
    row_functions: Any

    def evaluate_arrow(self, batch: Any, *, errors: str = "raise") -> ArrowResult:
        """Evaluate a ``pyarrow.RecordBatch`` or ``Table``, row by row in order; returns an ``ArrowResult``.

        Columns: ``type`` (strings, plain or dictionary-encoded), ``ts`` (int64
        epoch ms, or an Arrow timestamp of any unit: floored to the
        millisecond; without a time zone it is wall-clock time in the
        ruleset's zone, as a naive ISO timestamp is) and the fields by name:
        strings plain or dictionary-encoded, decimals as ``decimal128``,
        float64 or integers, bools, null where absent.  A field with no
        column is absent on every row; unknown columns are ignored.  Each
        event is accepted or refused exactly as ``evaluate`` would accept or
        refuse the dict of its row's values, and state persists across
        batches as across ``evaluate`` calls (late events included).

        A refused event changes no state; ``errors`` as ``evaluate_many``:
        ``"raise"`` evaluates the rows before it and raises its
        ``EventError`` with ``index`` and ``decisions`` (those rows'
        decisions); ``"return"`` goes on and lists it in ``result.errors``.
        """
        import pyarrow as pa

        if errors not in ("raise", "return"):
            raise ValueError('errors must be "raise" or "return"')
        if isinstance(batch, pa.Table):
            batches = batch.to_batches()
            if len(batches) > 1 and batch.num_rows < 4096 * len(batches):  # many small chunks: one batch
                batches = batch.combine_chunks().to_batches()
        elif isinstance(batch, pa.RecordBatch):
            batches = [batch]
        else:
            raise TypeError(f"evaluate_arrow takes a pyarrow RecordBatch or Table, not {type(batch).__name__}")
        out: list[Any] = []
        errs: dict[int, EventError] = {}
        for b in batches:
            columns = {name: b.column(i) for i, name in enumerate(b.schema.names)}
            self._evaluate_decoded(columns, b.num_rows, errors == "return", out, errs)
        return ArrowResult(out, errs)

    def evaluate_columns(self, columns: Mapping[str, Sequence[Any]]) -> list[Any]:
        """Evaluate a columnar batch: ``{"type": [...], "ts": [...], "amount": [...], ...}``.

        Columns may be lists, NumPy arrays or Arrow arrays (anything with
        ``tolist()`` or indexable); every column has one value per event, None
        where a field is absent.  Decoded as ``evaluate_arrow`` decodes (a
        Python column of one type becomes an Arrow array; a mixed one is read
        value by value); returns the decisions, raising the first
        ``EventError`` as ``evaluate_many`` does.
        """
        import pyarrow as pa

        from ruledsl.runtime.arrow_decode import faithful_array

        cols: dict[str, Any] = {}
        for name, c in columns.items():
            if isinstance(c, pa.ChunkedArray):
                c = c.combine_chunks()
            if not isinstance(c, pa.Array):
                c = faithful_array(c.tolist() if hasattr(c, "tolist") else list(c))
            cols[name] = c
        if len({len(c) for c in cols.values()}) > 1:
            raise EventError("columns have different lengths")
        n = len(next(iter(cols.values()))) if cols else 0
        out: list[Any] = []
        self._evaluate_decoded(cols, n, False, out, {})
        return out

    # ---------------------------------------------------------------- the row loop

    def _batch_plan(self) -> Any:
        from ruledsl.runtime.arrow_decode import BatchPlan

        plan = getattr(self, "_arrow_plan", None)
        rows = self.row_functions()
        if plan is None or plan[0] is not self.compiled or plan[1] is not rows:
            utc = self._zone is _dt.timezone.utc
            plan = (self.compiled, rows, BatchPlan(self.compiled, rows, self._ns, utc))
            self._arrow_plan = plan
        return plan[2]

    def _evaluate_decoded(
        self, columns: dict[str, Any], n: int, keep_going: bool, out: list[Any], errs: dict[int, EventError]
    ) -> None:
        """Decode one batch and evaluate its rows, appending to ``out`` (indices continue from ``len(out)``)."""
        from ruledsl.runtime.arrow_decode import decode_batch, row_event

        def by_dict(i: int) -> Any:
            # a row the decoding found bad: the dict path raises its EventError (or, if the check
            # here was stricter than the dict path, evaluates it)
            event = row_event(columns, i, plan.utc)
            try:
                fn = self._fns[event["type"]]
            except (KeyError, TypeError):
                fn = self._function_for(event)
            return fn(event, True)

        # decoded outside the lock (other threads evaluate meanwhile); again under it if the
        # evaluator changed in between (a reload, or the compiled evaluator swapped in)
        plan = self._batch_plan()
        batch = decode_batch(plan, columns, n, by_dict)
        with self._lock:
            if self._batch_plan() is not plan:
                plan = self._batch_plan()
                batch = decode_batch(plan, columns, n, by_dict)
            fns, nexts = batch.fns, batch.nexts
            append = out.append
            rows = iter(batch.codes)
            while True:  # once, and again after each refused row with errors="return"
                try:
                    for c in rows:
                        append(fns[c](*nexts[c]()))
                    return
                except EventError as err:
                    i = len(out)
                    if not keep_going:
                        err.index = i  # type: ignore[attr-defined]
                        err.decisions = out  # type: ignore[attr-defined]
                        raise
                    append(err)
                    errs[i] = err
                except Exception as exc:  # a bug, not bad input: point the traceback at the DSL
                    raise _linemap.rewrite_traceback(exc) from None
