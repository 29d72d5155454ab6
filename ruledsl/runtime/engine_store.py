"""The engine's side of an external state store: the fault policy, outages, data loss.

``Engine`` inherits these methods; they are here so that the engine module
holds evaluation and this one holds what happens when the store misbehaves
(docs/semantics.md, "Shared state and outages").
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import msgspec

from ruledsl.runtime.decision import ACTION_RANK, Decision
from ruledsl.stores.guard import GuardedStore
from ruledsl.stores.local import LocalStore

MAX_REFILL_MS = 400 * 86_400_000
"""After the store lost its data, decisions are degraded for the longest span, at most this
(a since() window may span decades: it would never count as refilled)."""


class _Outage:
    """An engine's store counters: one object, shared by the engines a reload builds
    (generated code calls the methods of the engine it was bound to)."""

    __slots__ = ("data_losses", "errors", "refill")

    def __init__(self) -> None:
        self.errors = 0  # events evaluated without the store
        self.data_losses = 0  # the store's data-loss count when last looked at
        self.refill: Optional[int] = None  # after a data loss: decisions before this event time are degraded


class StoreMixin:
    """Store handling for ``Engine``: attach and configure the store, run one event's ops, apply the policy."""

    # set by Engine.__init__
    _store: Any
    _guard: Optional[GuardedStore]
    _local_store: Optional[LocalStore]
    _outage: _Outage
    _deg: list[bool]
    _closed: list[bool]
    _windows: list[Any]
    _sequences: list[Any]
    _clock_state: list[int]
    _refill_span: int
    _fns: dict[Any, Any]
    _shared_holds: Any  # engine_holds: the holds in Redis (SharedHolds), or None
    _shared_controls: Any  # the control table when it is mirrored in Redis (shared_controls), or None
    _ctl_quiet: list[bool]
    _ctl_readers: frozenset[str]
    compiled: Any
    result: Any
    lateness_ms: int
    hold_timeout_ms: int
    on_store_error: str
    fail_closed_action: str

    def _attach_store(self, store: Any, carry: Any) -> None:  # carry: the Engine a reload replaces
        # A reload (carry) keeps the guard - breaker, outage buffer, counters - and configures
        # the store only when it swaps engines, under the lock (see reload).
        if isinstance(store, GuardedStore):
            guard = store
        elif carry is not None and carry._store is store and carry._guard is not None:
            guard = carry._guard
        else:
            guard = GuardedStore(store)
        self._guard = guard
        if carry is not None and carry._guard is guard:
            self._outage = carry._outage
        else:
            self._configure_store()
            self._outage.data_losses = guard.data_losses
        # the in-process state is the `local` fallback (and, under `local`, a mirror of this process's updates)
        self._local_store = LocalStore.from_kernels(self.compiled.windows, self._windows, self._sequences)
        self._share_controls(guard)
        spans = [w.duration_ms for w in self.compiled.windows] + [s.within_ms for s in self.compiled.sequences]
        self._refill_span = min(max(spans, default=0), MAX_REFILL_MS) + self.lateness_ms

    def _share_controls(self, guard: GuardedStore) -> None:
        # with a RedisStore, a ruleset that sets or reads controls mirrors its control table in Redis
        from ruledsl.runtime.shared_controls import SharedControlTable

        self._shared_controls = None
        self._ctl_quiet = [False]  # this event's type reads no control: an event with no window op skips the feed
        self._ctl_readers = _control_readers(self.compiled)
        table = getattr(self, "_control_table", None)  # engine_controls
        if isinstance(table, SharedControlTable):  # a reload: the same table, the same store
            table.guard, table.lateness_ms = guard, self.lateness_ms
            self._shared_controls = table
            return
        from ruledsl.stores.redis import RedisStore
        from ruledsl.stores.redis_controls import RedisControlTable

        uses = any(getattr(m, "controls", ()) for m in self.compiled.rules) or "_ctl_" in self.compiled.source
        if table is None or not uses or not isinstance(guard.store, RedisStore):
            return
        shared = SharedControlTable.adopt(table, RedisControlTable(guard.store), guard, self.lateness_ms)
        self._control_table = self._shared_controls = shared

    def _configure_store(self) -> None:
        if self._guard is not None:
            header = self.result.symbols.header
            namespace = header.name.name if header else "default"
            self._guard.configure(self.compiled.windows, self.compiled.sequences, self.lateness_ms, namespace)

    @property
    def store_errors(self) -> int:
        """Events evaluated without the external store (its fault policy applied)."""
        return self._outage.errors

    def _run_ops(self, ops: list) -> list:
        # an external store's answer for one event, or the configured policy when it is unavailable
        ctl = self._shared_controls  # controls in Redis: their change feed is read in the same call
        if not ops and (ctl is None or self._ctl_quiet[0]):
            return []
        guard = self._guard
        try:
            results = guard.run(ops if ctl is None else [*ops, ctl.feed_op()])  # type: ignore[union-attr]
        except Exception:  # a store failure must never escape evaluate()
            self._outage.errors += 1
            self._deg[0] = True
            if self.on_store_error == "local":
                return self._local_store.run(ops)  # type: ignore[union-attr]
            if self.on_store_error == "fail_closed":
                self._closed[0] = True  # _degraded_decision raises the action
            return [None if op[0] == "w" else False for op in ops]
        if ctl is not None:
            ctl.after_run(results.pop())
        if self.on_store_error == "local":
            self._local_store.apply_updates(ops)  # type: ignore[union-attr]  # history for the next outage
        if guard.buffered:  # type: ignore[union-attr]  # the outage's updates are still being replayed
            self._deg[0] = True
        shared = self._shared_holds
        if shared is not None and shared.pending:  # holds opened during an outage: Redis answers again
            shared.flush_quietly(guard)
        outage = self._outage
        if ops and (outage.refill is not None or guard.data_losses != outage.data_losses):  # type: ignore[union-attr]
            self._refilling(ops[0][3])
        return results

    def _refilling(self, ts: int) -> None:
        # The store lost its data: every decision is degraded until the longest window (and
        # sequence) has refilled with events seen since the loss, i.e. until the watermark
        # has moved a span (plus the lateness) past the event time of the loss.
        outage = self._outage
        losses = self._guard.data_losses  # type: ignore[union-attr]
        if losses != outage.data_losses:
            outage.data_losses = losses
            outage.refill = max(self._clock_state[0], ts) + self._refill_span
            logging.getLogger("ruledsl.stores").warning(
                "the state store lost its data: decisions are marked degraded until event time %d", outage.refill
            )
        if outage.refill is None:
            return
        if self._clock_state[1] >= outage.refill:
            outage.refill = None
        elif ts < outage.refill:
            self._deg[0] = True

    def _degraded_decision(self, decision: Decision) -> Decision:
        # _degraded in generated code: the decision of an event whose DEG flag was set
        if self._closed[0]:
            self._closed[0] = False
            floor = self.fail_closed_action
            if ACTION_RANK[floor] > ACTION_RANK[decision.action]:
                hold_timeout = self.hold_timeout_ms if floor == "hold" else None
                return msgspec.structs.replace(decision, action=floor, degraded=True, hold_timeout_ms=hold_timeout)
        return msgspec.structs.replace(decision, degraded=True)

    def _guard_store(self, event_type: str, fn: Any) -> Any:
        # the flags never outlive the event, even when it raises
        deg, closed = self._deg, self._closed
        if self._shared_controls is not None and event_type not in self._ctl_readers:
            quiet = self._ctl_quiet

            def quiet_guarded(*args: Any) -> Any:  # its rules read no control: no round trip just for the feed
                quiet[0] = True
                try:
                    return fn(*args)
                finally:
                    deg[0] = False
                    closed[0] = False
                    quiet[0] = False

            return quiet_guarded

        def guarded(*args: Any) -> Any:  # (event, commit) or a row function's (ts, fields..., commit)
            try:
                return fn(*args)
            finally:
                deg[0] = False
                closed[0] = False

        return guarded


def _control_readers(compiled: Any) -> frozenset[str]:
    """The event types whose generated function reads a control (``controlled``/``control_kind``)."""
    src, out = compiled.source, set()
    for event, name in compiled.functions.items():
        start = src.find(f"def {name}(")
        end = src.find("\ndef ", start + 1)
        if start >= 0 and "_ctl_" in src[start : end if end >= 0 else len(src)]:
            out.add(event)
    return frozenset(out)
