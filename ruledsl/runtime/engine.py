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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import msgspec
import re2

from ruledsl.compile import Compiled, compile_ruleset, const_value
from ruledsl.compile import linemap as _linemap
from ruledsl.compile import runtime as _runtime
from ruledsl.compile.emit import row_function, rows_module
from ruledsl.kernels import state as _state
from ruledsl.kernels.last import NEVER, LastState
from ruledsl.kernels.values import (
    EventError,
    LocalClock,
    decimal_to_python,
    get_zone,
)
from ruledsl.runtime import persistence
from ruledsl.runtime.audit import open_log
from ruledsl.runtime.decision import ACTION_RANK, DEFAULT_HOLD_TIMEOUT_MS, Decision, MatchedRule, ScoreResult
from ruledsl.runtime.engine_audit import AuditMixin
from ruledsl.runtime.engine_columns import ColumnsMixin
from ruledsl.runtime.engine_compiled import CompiledMixin
from ruledsl.runtime.engine_controls import ControlsMixin
from ruledsl.runtime.engine_exemptions import ExemptionsMixin
from ruledsl.runtime.engine_explain import ExplainMixin
from ruledsl.runtime.engine_holds import HoldsMixin
from ruledsl.runtime.engine_lists import ListsMixin
from ruledsl.runtime.engine_state import StateMixin
from ruledsl.runtime.engine_store import StoreMixin, _Outage
from ruledsl.runtime.lists import convert_item
from ruledsl.runtime.settings import param_value, unknown_name
from ruledsl.stores.guard import GuardedStore
from ruledsl.stores.local import LocalStore
from ruledsl.syntax.diagnostics import RuleDSLError
from ruledsl.syntax.durations import format_duration, format_duration_compound, parse_duration

ADVANCE_EVERY = 16
"""Events between two incremental eviction sweeps of the window state.  Spread thin: each sweep
costs about 0.5 µs fixed plus what it evicts, so every 64 events (budget 128) made a sweep event
~9 µs (p99 of sweeps 53 µs), the p99 of evaluate(); every 16 it is ~2 µs at the same mean cost
(every 8 or 4: flatter still, but the fixed cost raises the mean; benchmarks/sweep_bench.py)."""

SWEEP_BUDGET = 32
"""Expiry-queue entries each kernel may pop per sweep: two per event, more than
the at most one add per event per kernel that creates or re-queues a key (keys
that cannot have expired are never visited)."""


DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60 * 1000
"""How far ahead of the engine's clock an event may be dated (5 minutes), unless the ruleset says otherwise."""


def wall_clock_ms() -> int:
    """The machine's clock in epoch milliseconds: the default ``clock`` of an engine."""
    return time.time_ns() // 1_000_000


class Engine(
    StateMixin,
    StoreMixin,
    ColumnsMixin,
    CompiledMixin,
    AuditMixin,
    HoldsMixin,
    ExemptionsMixin,
    ListsMixin,
    ControlsMixin,
    ExplainMixin,
):
    """A compiled ruleset with its state.  Build one with ``ruledsl.load``."""

    _rewrite_error = staticmethod(_linemap.rewrite_traceback)  # for the compiled evaluator's evaluate()
    _event_error = EventError

    def __init__(
        self,
        result,
        compiled: Compiled,
        *,
        params=None,
        lists=None,
        timezone: Optional[str] = None,
        state: Union[str, Path, None] = None,
        allow_other_ruleset: bool = False,
        _carry: Optional[Engine] = None,
        store=None,
        on_store_error: str = "fail_open",
        fail_closed_action: str = "hold",
        clock: Optional[Callable[[], int]] = wall_clock_ms,
        max_future_skew: Union[int, str, None] = None,
        evaluator_mode: Optional[str] = None,
        audit_log=None,
    ):
        if on_store_error not in STORE_POLICIES:
            raise ValueError(f"on_store_error must be one of {', '.join(STORE_POLICIES)}")
        if fail_closed_action not in ACTION_RANK:
            raise ValueError(f"fail_closed_action must be one of {', '.join(ACTION_RANK)}")
        if store is not None and not compiled.batched:
            compiled = compile_ruleset(result, batched=True)
        self._store = store  # the application's store; _guard wraps it (breaker, outage buffer)
        self._guard: Optional[GuardedStore] = None
        self.on_store_error = on_store_error
        self.fail_closed_action = fail_closed_action
        self._outage = _Outage()  # counters, shared with the engines a reload builds
        self._deg = [False]  # DEG in generated code: this event's decision is degraded
        self._closed = [False]  # ... and the store failed under fail_closed: raise it to fail_closed_action
        self._refill_span = 0
        self.result = result
        self.paths: list[str] = []
        self.compiled = compiled
        header = result.symbols.header
        tz_name = timezone or (header.timezone if header and header.timezone else "UTC")
        self.timezone = tz_name
        self._zone = get_zone(tz_name)
        self.lateness_ms = header.lateness_ms if header and header.lateness_ms else 0
        self.hold_timeout_ms = header.hold_timeout_ms if header and header.hold_timeout_ms else DEFAULT_HOLD_TIMEOUT_MS
        # the clock guard: an event dated beyond clock() + skew is refused (docs/semantics.md, "Clock guard")
        self.clock = clock
        self.max_future_skew_ms = _skew_ms(max_future_skew, header)
        self._skew_option = max_future_skew  # kept across reloads; the header's value may change
        self._future_limit = [NEVER if clock is not None else -NEVER]  # -NEVER: no clock, no guard
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._audit = open_log(audit_log)  # ruledsl.runtime.audit: administrative changes, never evaluate()
        self._init_holds(_carry)  # engine_holds: open holds (a reload keeps them)
        self._init_exemptions(_carry)  # engine_exemptions: granted exemptions (a reload keeps them)
        self._init_controls(_carry)  # engine_controls: the controls in place (a reload keeps them)

        self._params: list[Any] = []
        for name in compiled.params:
            decl = result.symbols.params[name]
            self._params.append(const_value(result, decl.default, decl.type.name))
        call = "reload" if _carry is not None else "load"
        for name, value in (params or {}).items():
            self._set_param(name, value, f"{call}(params=...)")
        self._init_lists(result, lists, f"{call}(lists=...)")  # engine_lists: the tables, those the app set

        self._param_overrides = dict(params or {})
        self._clock_state = [NEVER, NEVER, 0, 0]  # max ts, watermark, committed events, late events
        # windows (sequences) with the same definition share one kernel object (Compiled.window_state)
        self._windows = compiled.shared_kernels("w", self._new_window)
        self._sequences = compiled.shared_kernels("s", lambda s: _state.SequenceState(s.n_steps, s.within_ms))
        self.kept_state: list[str] = []  # names of windows/sequences whose state was carried or restored
        if _carry is not None:
            self._carry_state(_carry)
        if state is not None:
            self._restore(persistence.read(state), source=str(state), allow_other_ruleset=allow_other_ruleset)
        self._local_store: Optional[LocalStore] = None
        if store is not None:
            self._attach_store(store, _carry)
        self._bind()
        self._evaluator_mode = evaluator_mode
        self._start_evaluator(evaluator_mode)  # the compiled evaluator: now, from the cache, or in the background
        if state is not None:
            self._audit_restore(state)

    def reload(self, paths=None, *, params=None, lists=None, by=None, reason=None) -> list[str]:
        """Load a new version of the ruleset into this running engine.

        Windows and sequences whose definition did not change keep their
        state; new ones start empty; removed ones are dropped.  Parameters
        and lists set at run time are kept when the new ruleset still has
        them.  The swap is atomic: every event is evaluated entirely by the
        old or entirely by the new ruleset.  A ruleset with errors raises
        ``RuleDSLError`` and the old one keeps running.  Returns the names of
        the windows and sequences that kept their state.  ``by``/``reason``
        go to the audit log, if any (docs/audit.md).
        """
        if self._audit is not None:
            return self._audited_reload(paths, params, lists, by, reason)
        return self._reload(paths, params, lists)

    def _reload(self, paths=None, params=None, lists=None) -> list[str]:
        from ruledsl.check.checker import check_files

        paths = paths if paths is not None else self.paths
        result = check_files(paths)
        compiled = compile_ruleset(result, batched=self._store is not None)
        keep_params = {k: v for k, v in self._param_overrides.items() if k in result.symbols.params}
        keep_params.update(params or {})
        keep_lists = {k: v for k, v in self._list_overrides.items() if k in result.symbols.lists}
        keep_lists.update(lists or {})
        with self._reload_lock:
            # Built outside the evaluation lock: carried kernels are the same
            # objects, so events evaluated meanwhile are not lost.
            new = Engine(
                result,
                compiled,
                params=keep_params,
                lists=keep_lists,
                timezone=self.timezone,
                _carry=self,
                store=self._store,
                on_store_error=self.on_store_error,
                fail_closed_action=self.fail_closed_action,
                clock=self.clock,
                max_future_skew=self._skew_option,
                evaluator_mode=self._evaluator_mode,
                audit_log=self._audit,
            )
            new.paths = [str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
            with self._lock, new._lock:  # new's lock: a compiled evaluator finishing now lands here
                new._configure_store()  # the store's window indices change with the ruleset: at the swap
                locks = (self._lock, self._reload_lock)
                self.__dict__.clear()  # nothing of the old engine outlives the swap (e.g. its bound evaluate)
                self.__dict__.update(new.__dict__)
                self._lock, self._reload_lock = locks
                self._evaluator_box[0] = self
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
        ns["FUT"] = self._future_limit
        ns["_future"] = self._future
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
        ns["_degraded"] = self._degraded_decision
        ns.update(self._exemption_bindings())  # EXM, _exempt: engine_exemptions
        ns["CT"] = self._control_table.live  # engine_controls: read by controlled()/control_kind()
        self._ns = ns
        self._fns: dict[Any, Any] = {}  # the Python evaluator's (_bind_python) or the compiled one's
        self._rows: Optional[dict[str, Any]] = None  # the row functions, generated on first use

    def _bind_python(self) -> None:
        # The generated-Python evaluator: compiled and run in the namespace.  Skipped when a cached
        # Cython evaluator is used from the start (for 3,000 rules, compile() alone is half a second).
        comp = self.compiled
        code = compile(comp.source, comp.filename, "exec")
        _linemap.register(comp.linemap, comp.source)
        exec(code, self._ns)  # noqa: S102 -- generated by ruledsl.compile: user values enter only via repr() or bound constants
        fns = {event: self._ns[name] for event, name in comp.functions.items()}
        if self._store is not None:
            fns = {event: self._guard_store(event, fn) for event, fn in fns.items()}
        self._fns = fns

    def row_functions(self) -> dict[str, Any]:
        """Event type -> its row function ``row_<event>(ts, fields..., commit)`` taking decoded values.

        For the columnar paths, which decode whole columns at once: the
        arguments are ``ts`` (epoch ms) and the event type's fields in
        declaration order (``Compiled.event_code[i].fields``), each already
        in its runtime representation (decimals scaled by ``SCALE``, missing
        ``None``) and valid; the caller holds the engine's lock.
        """
        rows = self._rows
        if rows is None:
            source, linemap = rows_module(self.compiled)
            code = compile(source, linemap.filename, "exec")
            _linemap.register(linemap, source)
            exec(code, self._ns)  # noqa: S102 -- generated by ruledsl.compile, as in _bind
            rows = {ec.event: self._ns[row_function(ec.function)] for ec in self.compiled.event_code}
            if self._store is not None:
                rows = {event: self._guard_store(event, fn) for event, fn in rows.items()}
            self._rows = rows
        return rows

    def _future(self, event_type: str, ts: int) -> None:
        # called by generated code only when ts passes the cached limit: read the clock again
        now = self.clock() if self.clock is not None else None
        if now is None:
            return
        limit = now + self.max_future_skew_ms
        self._future_limit[0] = limit
        if ts > limit:
            ahead = format_duration_compound(ts - now)
            raise EventError(
                f"event `{event_type}`: field `ts` is {ahead} ahead of the engine's clock (at most "
                f"{format_duration(self.max_future_skew_ms)} is accepted: max_future_skew); a wrong device clock "
                "or a timestamp in seconds or microseconds?",
                field="ts",
                event_type=event_type,
            )

    def _advance(self) -> None:
        # An incremental eviction sweep of every kernel, called by generated code every ADVANCE_EVERY
        # events: the state kernels in one advance_all call, the Python last() windows one by one.
        # It runs every few events, so its fixed cost counts: the split of the kernels is made once
        # per pair of kernel lists (they are fixed once bound; a reload brings new lists).
        try:
            windows, sequences, kernels, lasts = self._sweep_plan
            if windows is not self._windows or sequences is not self._sequences:
                raise AttributeError("_sweep_plan")
        except AttributeError:
            windows, sequences = self._windows, self._sequences
            distinct = list({id(k): k for k in [*windows, *sequences]}.values())  # a shared kernel sweeps once
            lasts = [k for k in distinct if isinstance(k, LastState)]
            kernels = [k for k in distinct if not isinstance(k, LastState)]
            self._sweep_plan: tuple[list[Any], list[Any], list[Any], list[Any]] = (windows, sequences, kernels, lasts)
        wm = self._clock_state[1]
        for k in lasts:
            k.advance(wm, SWEEP_BUDGET)
        _state.advance_all(kernels, wm, SWEEP_BUDGET)
        self._sweep_controls(wm)  # engine_controls: controls the watermark has passed

    def _make_decide(self):
        metas = self.compiled.rules
        hold_timeout = self.hold_timeout_ms
        passes = {e: Decision(action="pass", event_type=e) for e in self.compiled.event_types}
        rank = ACTION_RANK
        hold = self._hold_decision  # engine_holds: a hold decision opens a hold
        control = self._control_decision

        def decide(event_type, hits, scores, late, ts=0, commit=False, held=(), *, exm=None, ctl=None):
            if ctl:  # the controls of the rules that fired (engine_controls): set when committed
                return control(decide(event_type, hits, scores, late, ts, commit, held, exm=exm), hits, ctl, ts, commit)
            if exm is not None:  # hits are what the exemptions left (engine_exemptions): show the exemptions
                dec = decide(event_type, hits, scores, late, ts, commit, held)
                return msgspec.structs.replace(dec, exemptions=exm)
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
            if action == "hold":
                return hold(event_type, matched, scores, late, ts, commit, held)
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

    def _function_for(self, event: dict) -> Any:
        # the slow path of the dispatch: every way `type` can be wrong gets its own message
        etype = event.get("type")
        if etype is None:
            raise EventError("event has no `type` field", field="type")
        if type(etype) is not str:
            raise EventError(f"event `type` must be a string, not {type(etype).__name__}", field="type")
        fn = self._fns.get(etype)
        if fn is None:
            raise EventError(
                f"unknown event type {etype[:60]!r}; this ruleset knows {', '.join(self._fns)}",
                field="type",
                event_type=etype[:60],
            )
        return fn

    def evaluate(self, event: Any) -> Decision:
        """Evaluate one event and update the state; returns the decision.

        Raises ``EventError`` for a malformed event, leaving the state untouched.
        """
        if type(event) is not dict:
            event = self._coerce(event)
        with self._lock:
            try:
                fn = self._fns[event["type"]]
            except (KeyError, TypeError):  # missing, unknown or unhashable
                fn = self._function_for(event)
            try:
                return fn(event, True)
            except EventError:
                raise
            except Exception as exc:  # a bug, not bad input: point the traceback at the DSL
                raise _linemap.rewrite_traceback(exc) from None

    def peek(self, event: Any) -> Decision:
        """Evaluate as ``evaluate`` would, without changing any state (what-if)."""
        if type(event) is not dict:
            event = self._coerce(event)
        with self._lock:
            try:
                fn = self._fns[event["type"]]
            except (KeyError, TypeError):
                fn = self._function_for(event)
            try:
                return fn(event, False)
            except EventError:
                raise
            except Exception as exc:
                raise _linemap.rewrite_traceback(exc) from None

    def evaluate_many(self, events: Iterable[Any], *, errors: str = "raise") -> list[Any]:
        """Evaluate events in order; one lock acquisition for the whole batch.

        A malformed event changes no state; what happens to the batch is ``errors``:

        - ``"raise"`` (default): the ``EventError`` is raised with ``index``
          (its position in the batch) and ``decisions`` (the decisions of the
          events before it, which were applied); the events after it are not
          evaluated.
        - ``"return"``: the batch goes on; the returned list holds the
          ``EventError`` in the bad event's place.
        """
        if errors not in ("raise", "return"):
            raise ValueError('errors must be "raise" or "return"')
        keep_going = errors == "return"
        out: list[Any] = []
        append = out.append
        fns = self._fns
        with self._lock:
            for event in events:
                try:
                    if type(event) is not dict:
                        event = self._coerce(event)
                    try:
                        fn = fns[event["type"]]
                    except (KeyError, TypeError):
                        fn = self._function_for(event)
                    append(fn(event, True))
                except EventError as err:
                    if keep_going:
                        append(err)
                        continue
                    err.index = len(out)  # type: ignore[attr-defined]
                    err.decisions = out  # type: ignore[attr-defined]
                    raise
                except Exception as exc:  # a bug, not bad input: point the traceback at the DSL
                    raise _linemap.rewrite_traceback(exc) from None
        return out

    def _set_param(self, name: str, value: Any, call: str = "set_param") -> None:
        # SettingError naming the parameter, its type, a did-you-mean (runtime/settings.py); converts, then assigns
        if not isinstance(name, str) or name not in self.compiled.param_types:
            raise unknown_name("parameter", name, self.compiled.params, call=call)
        type_name = self.compiled.param_types[name]
        choices = self.result.symbols.value_types[name].enum_values if type_name == "enum" else ()
        converted = param_value(name, type_name, value, convert_item, call=call, choices=choices)
        self._params[self.compiled.params.index(name)] = converted

    def set_param(self, name: str, value: Any, *, by: Optional[str] = None, reason: Optional[str] = None) -> None:
        """Change a business parameter; effective from the next event (audited: ``by``, ``reason``)."""
        if self._audit is not None:
            return self._audited_set_param(name, value, by, reason)
        with self._lock:
            self._set_param(name, value)
            self._param_overrides[name] = value

    def get_param(self, name: str) -> Any:
        """A parameter's current value (decimals as ``decimal.Decimal``)."""
        if not isinstance(name, str) or name not in self.compiled.param_types:
            raise unknown_name("parameter", name, self.compiled.params, call="get_param")
        i = self.compiled.params.index(name)
        value = self._params[i]
        return decimal_to_python(value) if self.compiled.param_types[name] == "decimal" else value

    # ---------------------------------------------------------------- introspection
    @property
    def late_events(self) -> int:
        """How many events arrived later than the allowed lateness."""
        return self._clock_state[3]

    def stats(self) -> dict[str, Any]:
        """Counters and memory: events, late events, active keys and bytes per window.

        ``evaluator`` is ``"python"`` or ``"cython"`` (the one running now).  A
        window (sequence) defined like an earlier one shares its state: its
        entry says ``shares_state_of`` that one, whose bytes are the same bytes.

        With an external store, ``"store"`` holds its fault policy, the events
        evaluated without it (``degraded_events``), the circuit breaker and
        outage buffer counters (``GuardedStore.stats``) and, after the store lost
        its data, the event time until which decisions are degraded (``refilling_until``).
        """
        with self._lock:
            store = {}
            if self._guard is not None:
                store = {
                    "store": {
                        "policy": self.on_store_error,
                        "fail_closed_action": self.fail_closed_action,
                        "degraded_events": self._outage.errors,
                        "refilling_until": self._outage.refill,
                        **self._guard.stats(),
                    }
                }
            return {
                "events": self._clock_state[2],
                "late_events": self._clock_state[3],
                "compiled": _state.COMPILED,
                "evaluator": getattr(self, "evaluator", "python"),
                "windows": _kernel_stats(self.compiled.windows, self._windows),
                "sequences": _kernel_stats(self.compiled.sequences, self._sequences),
                **store,
            }

    @property
    def generated_source(self) -> str:
        """The generated evaluator source (for debugging; it contains rule logic)."""
        return self.compiled.source


_ACTIONS_BY_RANK = {v: k for k, v in ACTION_RANK.items()}

STORE_POLICIES = ("fail_open", "fail_closed", "local")
"""What evaluate() does when the external state store is unavailable (docs/semantics.md,
"Shared state and outages"): evaluate with every window and sequence missing;
the same, then raise the action to at least ``fail_closed_action``; or
answer from this process's own state.  Every such decision is degraded."""


def _kernel_stats(specs: Sequence[Any], kernels: Sequence[Any]) -> dict[str, Any]:
    """Keys and bytes per window (sequence); one defined like an earlier one shares its state and says so."""
    out: dict[str, Any] = {}
    first: dict[int, str] = {}
    for spec, kernel in zip(specs, kernels, strict=True):
        entry: dict[str, Any] = {"keys": len(kernel), "bytes": kernel.nbytes()}
        if id(kernel) in first:
            entry["shares_state_of"] = first[id(kernel)]  # the bytes are counted there: do not add them twice
        else:
            first[id(kernel)] = spec.name
        out[spec.name] = entry
    return out


def _skew_ms(value: Union[int, str, None], header: Any) -> int:
    """The allowed future skew: the keyword, else the ruleset header's ``max_future_skew``, else 5 minutes."""
    if value is None:
        value = getattr(header, "max_future_skew_ms", None) if header is not None else None
    if value is None:
        return DEFAULT_MAX_FUTURE_SKEW_MS
    ms = parse_duration(value) if isinstance(value, str) else value
    if type(ms) is not int or ms < 0:
        raise ValueError(f"max_future_skew must be a duration of zero or more, not {value!r}")
    return ms


def build_engine(result, *, params=None, lists=None, timezone: Optional[str] = None, **options) -> Engine:
    """Compile a checked ruleset into an engine; raises RuleDSLError if it has errors.

    ``options`` are the ``Engine`` keywords ``state``, ``allow_other_ruleset``,
    ``store``, ``on_store_error`` and ``fail_closed_action`` (see ``load``).
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
    allow_other_ruleset: bool = False,
    store=None,
    on_store_error: str = "fail_open",
    fail_closed_action: str = "hold",
    clock: Optional[Callable[[], int]] = wall_clock_ms,
    max_future_skew: Union[int, str, None] = None,
    compiled: Optional[str] = None,
    audit_log=None,
) -> Engine:
    """Load, check and compile ruleset files into an ``Engine``.

    ``state`` names a snapshot (``Engine.snapshot``) to continue from: the
    clock, the window and sequence state, and the parameters and lists set
    by the application (``params=`` and ``lists=`` given here win over the
    snapshot's, name by name).  A snapshot written by another ruleset - another
    name, lateness or time zone, or a window or sequence defined differently -
    is refused unless ``allow_other_ruleset=True``; then the windows and
    sequences whose definition did not change keep their state
    (docs/semantics.md, "Snapshots").
    ``store`` puts window and sequence state in an external store (e.g.
    ``ruledsl.stores.redis.RedisStore``) shared by several processes; if it
    is unavailable, ``on_store_error`` decides: ``fail_open`` (evaluate with
    every window and sequence missing), ``fail_closed`` (the same, and the
    action is at least ``fail_closed_action``: a stronger decision of the rules
    that need no history stands) or ``local`` (this process's own state); the
    decision is marked degraded.  The store is wrapped in a circuit breaker
    with an outage buffer (``ruledsl.stores.guard.GuardedStore``; pass one to
    change its settings), and kept by ``reload`` (docs/semantics.md, "Shared
    state and outages").
    ``clock`` (epoch ms; default the machine's clock) and ``max_future_skew``
    (a duration such as ``"5m"`` or ms; default the header's, else 5 minutes)
    make the clock guard: an event dated further ahead is refused with an
    ``EventError`` and never moves the engine's event time.  ``clock=None``
    turns the guard off, for replays of recorded traffic.
    ``compiled`` chooses the evaluator: ``"auto"`` (default; ``RULEDSL_COMPILED``
    changes it) starts on the generated-Python evaluator and swaps in the
    Cython one when it is built (at once when it is cached), ``"require"``
    builds it before returning (``BuildError`` if impossible), ``"never"``
    stays on Python (docs/ARCHITECTURE.md, "Evaluators").
    ``audit_log`` (a path or a ``ruledsl.runtime.audit.AuditLog``) records every
    ``set_param``, ``update_list``, ``reload`` and this snapshot restore in a
    hash-chained log (docs/audit.md).
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
        allow_other_ruleset=allow_other_ruleset,
        store=store,
        on_store_error=on_store_error,
        fail_closed_action=fail_closed_action,
        clock=clock,
        max_future_skew=max_future_skew,
        evaluator_mode=compiled,
        audit_log=audit_log,
    )
    engine.paths = [str(p) for p in ([path_or_paths] if isinstance(path_or_paths, (str, Path)) else path_or_paths)]
    return engine
