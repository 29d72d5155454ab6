"""The embedding API: ``load`` a ruleset, ``evaluate`` events, get decisions.

``Engine`` binds the generated evaluator (``compiler``) to its state: window
and sequence kernels (``state``), parameters and lists.  Parameters and lists
live in plain Python lists that the generated code indexes on every event,
so ``set_param`` and ``update_list`` take effect from the next event with no
recompilation.

Thread safety: every public method takes the engine's lock, so several
threads may evaluate on one engine; each event is evaluated atomically
against the state left by the previous one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import msgspec
import re2

from ruledsl._version import __version__
from ruledsl.compile import Compiled, compile_ruleset, const_value
from ruledsl.compile import linemap as _linemap
from ruledsl.compile import runtime as _runtime
from ruledsl.kernels import state as _state
from ruledsl.kernels.last import NEVER, LastState
from ruledsl.kernels.values import (
    EventError,
    LocalClock,
    decimal_to_python,
    get_zone,
)
from ruledsl.runtime import persistence
from ruledsl.runtime.decision import ACTION_RANK, DEFAULT_HOLD_TIMEOUT_MS, Decision, MatchedRule, ScoreResult
from ruledsl.runtime.lists import convert_item, convert_values, resolve_lists
from ruledsl.syntax.diagnostics import RuleDSLError

ADVANCE_EVERY = 64
"""Events between two incremental eviction sweeps of the window state."""

SWEEP_BUDGET = 128
"""Expiry-queue entries each kernel may pop per sweep: two per event, more than
the at most one add per event per kernel that creates or re-queues a key (keys
that cannot have expired are never visited)."""


class Engine:
    """A compiled ruleset with its state.  Build one with ``ruledsl.load``."""

    def __init__(
        self,
        result,
        compiled: Compiled,
        *,
        params=None,
        lists=None,
        timezone: Optional[str] = None,
        state: Union[str, Path, None] = None,
        _carry: Optional[Engine] = None,
        store=None,
        on_store_error: str = "fail_open",
        fail_closed_action: str = "hold",
    ):
        if on_store_error not in STORE_POLICIES:
            raise ValueError(f"on_store_error must be one of {', '.join(STORE_POLICIES)}")
        if fail_closed_action not in ACTION_RANK:
            raise ValueError(f"fail_closed_action must be one of {', '.join(ACTION_RANK)}")
        if store is not None and not compiled.batched:
            compiled = compile_ruleset(result, batched=True)
        self._store = store
        self.on_store_error = on_store_error
        self.fail_closed_action = fail_closed_action
        self.store_errors = 0
        self._deg = [False]
        self.result = result
        self.paths: list[str] = []
        self.compiled = compiled
        header = result.symbols.header
        tz_name = timezone or (header.timezone if header and header.timezone else "UTC")
        self.timezone = tz_name
        self._zone = get_zone(tz_name)
        self.lateness_ms = header.lateness_ms if header and header.lateness_ms else 0
        self.hold_timeout_ms = header.hold_timeout_ms if header and header.hold_timeout_ms else DEFAULT_HOLD_TIMEOUT_MS
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()

        self._params: list[Any] = []
        for name in compiled.params:
            decl = result.symbols.params[name]
            self._params.append(const_value(result, decl.default, decl.type.name))
        for name, value in (params or {}).items():
            self._set_param(name, value)
        self._lists: list[frozenset] = [None] * len(compiled.lists)  # type: ignore[list-item]
        resolved = resolve_lists(result, lists)
        for i, name in enumerate(compiled.lists):
            self._lists[i] = resolved[name]

        self._param_overrides = dict(params or {})
        self._list_overrides = dict(lists or {})
        self._clock_state = [NEVER, NEVER, 0, 0]  # max ts, watermark, committed events, late events
        self._windows = [self._new_window(spec) for spec in compiled.windows]
        self._sequences = [_state.SequenceState(s.n_steps, s.within_ms) for s in compiled.sequences]
        self.kept_state: list[str] = []  # names of windows/sequences whose state was carried or restored
        if _carry is not None:
            self._carry_state(_carry)
        if state is not None:
            self._restore(persistence.read(state))
        self._local_store = None
        if store is not None:
            from ruledsl.stores.local import LocalStore

            namespace = result.symbols.header.name.name if result.symbols.header else "default"
            store.configure(compiled.windows, compiled.sequences, self.lateness_ms, namespace)
            # the in-process state doubles as the `local` fallback
            self._local_store = LocalStore.from_kernels(compiled.windows, self._windows, self._sequences)
        self._bind()

    # ---------------------------------------------------------------- state across reloads and restarts
    def _carry_state(self, old: Engine) -> None:
        # windows and sequences whose definition did not change keep their kernel
        self._clock_state = old._clock_state
        if old.lateness_ms != self.lateness_ms:
            return  # kernels hold the lateness: every window starts empty
        pairs: tuple[tuple[Any, list[Any], list[Any], Any], ...] = (
            (self.compiled.windows, self._windows, old._windows, old.compiled.windows),
            (self.compiled.sequences, self._sequences, old._sequences, old.compiled.sequences),
        )
        for specs, mine, theirs, their_specs in pairs:
            olds = _by_signature(their_specs, theirs)
            for i, spec in enumerate(specs):
                if olds.get(spec.signature):
                    # identical definitions each keep their own kernel, in order
                    mine[i] = olds[spec.signature].pop(0)
                    self.kept_state.append(spec.name)

    def _restore(self, snap: persistence.Snapshot) -> None:
        self._clock_state[:] = snap.clock
        wm = snap.clock[1]
        triples: tuple[tuple[Any, list[Any], Any], ...] = (
            (self.compiled.windows, self._windows, snap.windows),
            (self.compiled.sequences, self._sequences, snap.sequences),
        )
        for specs, kernels, saved_list in triples:
            saved_by_sig = _by_signature(saved_list, saved_list)
            for spec, kernel in zip(specs, kernels, strict=True):
                if saved_by_sig.get(spec.signature):
                    saved = saved_by_sig[spec.signature].pop(0)
                    kernel.load(saved.items)
                    if wm != NEVER:
                        kernel.advance(wm, 0)
                    self.kept_state.append(spec.name)

    def snapshot(self, path: Union[str, Path]) -> int:
        """Write the window and sequence state to ``path`` atomically; returns its size in bytes.

        Entries that left their window are not written.  Restore with
        ``ruledsl.load(..., state=path)``; the restored engine continues
        exactly where this one stopped.
        """
        with self._lock:
            wm = self._clock_state[1]
            windows = []
            for spec, kernel in zip(self.compiled.windows, self._windows, strict=True):
                cutoff = wm - spec.duration_ms
                items = []
                for key, entries in kernel.dump():
                    live = [e for e in entries if e[0] > cutoff]
                    if live:
                        items.append((key, live))
                windows.append(persistence.KernelState(spec.signature, kernel.watermark, items))
            sequences = []
            for sspec, kernel in zip(self.compiled.sequences, self._sequences, strict=True):
                cutoff = wm - sspec.within_ms
                items = []
                for key, starts in kernel.dump():
                    live = [st if st is not None and st > cutoff else None for st in starts]
                    if any(st is not None for st in live):
                        items.append((key, live))
                sequences.append(persistence.KernelState(sspec.signature, kernel.watermark, items))
            snap = persistence.Snapshot(
                ruledsl_version=__version__,
                clock=list(self._clock_state),
                lateness_ms=self.lateness_ms,
                windows=windows,
                sequences=sequences,
            )
            data = persistence.encode(snap)
        persistence.write_atomic(path, data)
        return len(data)

    def reload(self, paths=None, *, params=None, lists=None) -> list[str]:
        """Load a new version of the ruleset into this running engine.

        Windows and sequences whose definition did not change keep their
        state; new ones start empty; removed ones are dropped.  Parameters
        and lists set at run time are kept when the new ruleset still has
        them.  The swap is atomic: every event is evaluated entirely by the
        old or entirely by the new ruleset.  A ruleset with errors raises
        ``RuleDSLError`` and the old one keeps running.  Returns the names of
        the windows and sequences that kept their state.
        """
        from ruledsl.check.checker import check_files

        paths = paths if paths is not None else self.paths
        result = check_files(paths)
        compiled = compile_ruleset(result)
        keep_params = {k: v for k, v in self._param_overrides.items() if k in result.symbols.params}
        keep_params.update(params or {})
        keep_lists = {k: v for k, v in self._list_overrides.items() if k in result.symbols.lists}
        keep_lists.update(lists or {})
        with self._reload_lock:
            # Built outside the evaluation lock: carried kernels are the same
            # objects, so events evaluated meanwhile are not lost.
            new = Engine(result, compiled, params=keep_params, lists=keep_lists, timezone=self.timezone, _carry=self)
            new.paths = [str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
            with self._lock:
                locks = (self._lock, self._reload_lock)
                self.__dict__.update(new.__dict__)
                self._lock, self._reload_lock = locks
        return list(self.kept_state)

    # ---------------------------------------------------------------- building
    def _new_window(self, spec):
        if spec.agg == "last":
            return LastState(spec.duration_ms, self.lateness_ms)
        return _state.WindowState(spec.agg, spec.duration_ms, self.lateness_ms, spec.is_float)

    def _bind(self) -> None:
        comp = self.compiled
        ns: dict[str, Any] = _runtime.namespace(self._zone, LocalClock(self._zone))
        ns.update(comp.constants)
        ns["P"] = self._params
        ns["LS"] = self._lists
        ns["CLK"] = self._clock_state
        ns["_SR"] = ScoreResult
        for name, kernel in zip(comp.window_names, self._windows, strict=True):
            ns[name] = kernel
        for name, kernel in zip(comp.sequence_names, self._sequences, strict=True):
            ns[name] = kernel
        for name, pattern in zip(comp.regex_names, comp.regexes, strict=True):
            ns[name] = re2.compile(pattern)
        ns["_advance"] = self._advance
        ns["LATENESS"] = self.lateness_ms
        ns["ADVANCE_EVERY"] = ADVANCE_EVERY
        ns["PASS"] = {e: Decision(action="pass", event_type=e) for e in comp.event_types}
        ns["_decide"] = self._make_decide()
        ns["_run"] = self._run_ops
        ns["DEG"] = self._deg
        ns["_degraded"] = _mark_degraded
        code = compile(comp.source, comp.filename, "exec")
        _linemap.register(comp.linemap, comp.source)
        exec(code, ns)  # noqa: S102 -- generated by ruledsl.compile: user values enter only via repr() or bound constants
        self._fns: dict[Any, Any] = {event: ns[name] for event, name in comp.functions.items()}
        if self._store is not None:
            self._fns = {event: self._guard_store(event, fn) for event, fn in self._fns.items()}
        self._ns = ns

    def _run_ops(self, ops: list) -> list:
        # an external store's answer for one event, or the configured policy when it fails
        try:
            return self._store.run(ops)
        except Exception:  # a store failure must never escape evaluate()
            self.store_errors += 1
            self._deg[0] = True
            if self.on_store_error == "local" and self._local_store is not None:
                return self._local_store.run(ops)
            if self.on_store_error == "fail_closed":
                raise _FailClosed from None
            return [None if op[0] == "w" else False for op in ops]

    def _guard_store(self, event_type: str, fn):
        def guarded(event, commit):
            try:
                return fn(event, commit)
            except _FailClosed:
                self._deg[0] = False
                return Decision(action=self.fail_closed_action, event_type=event_type, degraded=True)

        return guarded

    def _advance(self) -> None:
        # an incremental eviction sweep of every kernel (called every ADVANCE_EVERY events):
        # the state kernels in one advance_all call, the Python last() windows one by one
        wm = self._clock_state[1]
        kernels = [k for k in self._windows if not isinstance(k, LastState)]
        if len(kernels) != len(self._windows):
            for k in self._windows:
                if isinstance(k, LastState):
                    k.advance(wm, SWEEP_BUDGET)
        kernels += self._sequences
        _state.advance_all(kernels, wm, SWEEP_BUDGET)

    def _make_decide(self):
        metas = self.compiled.rules
        hold_timeout = self.hold_timeout_ms
        passes = {e: Decision(action="pass", event_type=e) for e in self.compiled.event_types}
        rank = ACTION_RANK

        def decide(event_type, hits, scores, late):
            if hits is None:
                if not scores and not late:
                    return passes[event_type]
                return Decision(action="pass", event_type=event_type, scores=scores, late=late)
            matched = []
            best = 0
            for i, feats in hits:
                m = metas[i]
                matched.append(
                    MatchedRule(
                        id=m.id,
                        action=m.action,
                        reason=m.reason,
                        code=m.code,
                        shadow=m.shadow,
                        priority=m.priority,
                        features=feats,
                    )
                )
                if not m.shadow and rank[m.action] > best:
                    best = rank[m.action]
            if len(hits) > 1:
                order = {id(r): metas[i].index for r, (i, _f) in zip(matched, hits, strict=True)}
                matched.sort(key=lambda r: (-rank[r.action], -r.priority, order[id(r)]))
            action = _ACTIONS_BY_RANK[best]
            return Decision(
                action=action,
                event_type=event_type,
                rules=matched,
                scores=scores,
                late=late,
                hold_timeout_ms=hold_timeout if action == "hold" else None,
            )

        return decide

    # ---------------------------------------------------------------- evaluating
    def _coerce(self, event) -> dict:
        if isinstance(event, dict):
            return event
        if isinstance(event, (bytes, bytearray, memoryview, str)):
            try:
                decoded = msgspec.json.decode(event)
            except msgspec.DecodeError as err:
                raise EventError(f"event is not valid JSON: {err}") from None
            if not isinstance(decoded, dict):
                raise EventError("event must be a JSON object")
            return decoded
        if isinstance(event, msgspec.Struct):
            return msgspec.to_builtins(event, builtin_types=(type(None),))
        if isinstance(event, Mapping):
            return dict(event)
        raise EventError(f"event must be a dict, a msgspec Struct or JSON bytes, not {type(event).__name__}")

    def _function_for(self, event: dict):
        fn = self._fns.get(event.get("type"))
        if fn is None:
            etype = event.get("type")
            if etype is None:
                raise EventError("event has no `type` field", field="type")
            raise EventError(
                f"unknown event type {etype!r}; this ruleset knows {', '.join(self._fns)}",
                field="type",
                event_type=str(etype),
            )
        return fn

    def evaluate(self, event) -> Decision:
        """Evaluate one event and update the state; returns the decision.

        Raises ``EventError`` for a malformed event, leaving the state untouched.
        """
        if type(event) is not dict:
            event = self._coerce(event)
        with self._lock:
            fn = self._fns.get(event.get("type")) or self._function_for(event)
            try:
                return fn(event, True)
            except EventError:
                raise
            except Exception as exc:  # a bug, not bad input: point the traceback at the DSL
                raise _linemap.rewrite_traceback(exc) from None

    def peek(self, event) -> Decision:
        """Evaluate as ``evaluate`` would, without changing any state (what-if)."""
        if type(event) is not dict:
            event = self._coerce(event)
        with self._lock:
            fn = self._fns.get(event.get("type")) or self._function_for(event)
            try:
                return fn(event, False)
            except EventError:
                raise
            except Exception as exc:
                raise _linemap.rewrite_traceback(exc) from None

    def evaluate_many(self, events: Iterable[Any]) -> list[Decision]:
        """Evaluate events in order; one lock acquisition for the whole batch.

        A malformed event raises ``EventError`` after the events before it were
        applied; the ones after it are not evaluated.
        """
        out: list[Decision] = []
        append = out.append
        with self._lock:
            fns = self._fns
            try:
                for event in events:
                    if type(event) is not dict:
                        event = self._coerce(event)
                    fn = fns.get(event.get("type")) or self._function_for(event)
                    append(fn(event, True))
            except EventError:
                raise
            except Exception as exc:  # a bug, not bad input: point the traceback at the DSL
                raise _linemap.rewrite_traceback(exc) from None
        return out

    def evaluate_columns(self, columns: Mapping[str, Sequence[Any]]) -> list[Decision]:
        """Evaluate a columnar batch: ``{"type": [...], "ts": [...], "amount": [...], ...}``.

        Columns may be lists, NumPy arrays or Arrow arrays (anything with
        ``tolist()`` or indexable); every column has one value per event, None
        where a field is absent.
        """
        names = list(columns)
        cols = [
            c.tolist() if hasattr(c, "tolist") else (c.to_pylist() if hasattr(c, "to_pylist") else list(c))
            for c in columns.values()
        ]
        if len({len(c) for c in cols}) > 1:
            raise EventError("columns have different lengths")
        return self.evaluate_many(
            {k: v for k, v in zip(names, row, strict=True) if v is not None} for row in zip(*cols, strict=True)
        )

    # ---------------------------------------------------------------- run-time changes
    def _set_param(self, name: str, value: Any) -> None:
        try:
            i = self.compiled.params.index(name)
        except ValueError:
            raise KeyError(f"unknown parameter {name!r}") from None
        type_name = self.compiled.param_types[name]
        if type_name in ("duration", "timestamp"):
            if type(value) is not int:
                raise TypeError(f"parameter {name!r} is a {type_name}: give milliseconds as an int")
            self._params[i] = value
        else:
            self._params[i] = convert_item(type_name, value)

    def set_param(self, name: str, value: Any) -> None:
        """Change a business parameter; effective from the next event."""
        with self._lock:
            self._set_param(name, value)
            self._param_overrides[name] = value

    def get_param(self, name: str) -> Any:
        """A parameter's current value (decimals as ``decimal.Decimal``)."""
        i = self.compiled.params.index(name)
        value = self._params[i]
        return decimal_to_python(value) if self.compiled.param_types[name] == "decimal" else value

    def update_list(self, name: str, values: Iterable[Any]) -> None:
        """Replace a list's entries; effective from the next event."""
        try:
            i = self.compiled.lists.index(name)
        except ValueError:
            raise KeyError(f"unknown list {name!r}") from None
        values = list(values)
        new = convert_values(self.compiled.list_types[name], values)
        with self._lock:
            self._lists[i] = new
            self._list_overrides[name] = values

    # ---------------------------------------------------------------- introspection
    @property
    def late_events(self) -> int:
        """How many events arrived later than the allowed lateness."""
        return self._clock_state[3]

    def stats(self) -> dict[str, Any]:
        """Counters and memory: events, late events, active keys and bytes per window."""
        with self._lock:
            return {
                "events": self._clock_state[2],
                "late_events": self._clock_state[3],
                "compiled": _state.COMPILED,
                "windows": {
                    spec.name: {"keys": len(w), "bytes": w.nbytes()}
                    for spec, w in zip(self.compiled.windows, self._windows, strict=True)
                },
                "sequences": {
                    spec.name: {"keys": len(s), "bytes": s.nbytes()}
                    for spec, s in zip(self.compiled.sequences, self._sequences, strict=True)
                },
            }

    @property
    def generated_source(self) -> str:
        """The generated evaluator source (for debugging; it contains rule logic)."""
        return self.compiled.source


_ACTIONS_BY_RANK = {v: k for k, v in ACTION_RANK.items()}

STORE_POLICIES = ("fail_open", "fail_closed", "local")
"""What evaluate() does when an external state store fails: evaluate without
window state and mark the decision degraded; return ``fail_closed_action``;
or fall back to this process's own state."""


class _FailClosed(Exception):
    """Raised inside generated code when the store failed and the policy is fail_closed."""


def _by_signature(specs, items) -> dict[str, list]:
    """Group ``items`` by their spec's signature, keeping declaration order."""
    out: dict[str, list] = {}
    for spec, item in zip(specs, items, strict=True):
        out.setdefault(spec.signature, []).append(item)
    return out


def _mark_degraded(decision: Decision) -> Decision:
    return msgspec.structs.replace(decision, degraded=True)


def build_engine(result, *, params=None, lists=None, timezone: Optional[str] = None, **options) -> Engine:
    """Compile a checked ruleset into an engine; raises RuleDSLError if it has errors.

    ``options`` are the ``Engine`` keywords ``state``, ``store``,
    ``on_store_error`` and ``fail_closed_action`` (see ``load``).
    """
    if not result.ok:
        raise RuleDSLError(list(result.diagnostics), getattr(result, "sources", None))
    compiled = compile_ruleset(result, batched=options.get("store") is not None)
    return Engine(result, compiled, params=params, lists=lists, timezone=timezone, **options)


def load(
    path_or_paths: Union[str, Path, Iterable[Union[str, Path]]],
    *,
    params: Optional[dict[str, Any]] = None,
    lists: Optional[dict[str, Iterable[Any]]] = None,
    timezone: Optional[str] = None,
    state: Union[str, Path, None] = None,
    store=None,
    on_store_error: str = "fail_open",
    fail_closed_action: str = "hold",
) -> Engine:
    """Load, check and compile ruleset files into an ``Engine``.

    ``state`` names a snapshot (``Engine.snapshot``) to continue from.
    ``store`` puts window and sequence state in an external store (e.g.
    ``ruledsl.stores.redis.RedisStore``) shared by several processes; if it
    fails, ``on_store_error`` decides: ``fail_open`` (evaluate without window
    state, decision marked degraded), ``fail_closed`` (return
    ``fail_closed_action``, degraded) or ``local`` (this process's state).
    Raises ``RuleDSLError`` carrying every diagnostic if the ruleset is not
    clean (warnings do not stop loading; errors do), and
    ``persistence.SnapshotError`` for a snapshot that cannot be used.
    """
    from ruledsl.check.checker import check_files

    result = check_files(path_or_paths)
    engine = Engine(
        result,
        compile_ruleset(result, batched=store is not None),
        params=params,
        lists=lists,
        timezone=timezone,
        state=state,
        store=store,
        on_store_error=on_store_error,
        fail_closed_action=fail_closed_action,
    )
    engine.paths = [str(p) for p in ([path_or_paths] if isinstance(path_or_paths, (str, Path)) else path_or_paths)]
    return engine
