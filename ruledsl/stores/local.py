"""State stores: where window and sequence state lives.

A *store* answers the engine's window and sequence operations for one event
in a single call, :meth:`run`, so a remote store (:class:`ruledsl.stores.redis.RedisStore`)
costs one network round trip per event whatever the number of rules.

Protocol (every store)::

    store.configure(windows, sequences, lateness_ms, namespace)   # once, and again on reload
    store.run(ops) -> list          # one call per event, one result per op, in order
    store.advance(watermark)        # the engine's watermark moved (may be a no-op)
    store.clear()                   # drop all state of this namespace

Ops:

``("w", wi, key, ts, value, include_current, add)``
    Window ``wi`` (index into the ``windows`` given to ``configure``).  ``key`` is
    a str/int/bool or a tuple of those; ``None`` gives the result ``None`` and
    stores nothing.  The result is what :meth:`ruledsl.kernels.state.WindowState.query`
    (or ``engine.LastState.query`` for ``last``) returns for ``(key, ts, value,
    include_current)``; when ``add`` is true the entry ``(ts, value)`` is stored
    afterwards.
``("s", si, key, ts, mask, add)``
    Sequence ``si``: ``SequenceState.query(key, ts, mask)`` (``False`` when
    ``key`` is ``None``), then ``.add(key, ts, mask)`` when ``add`` is true.

:class:`LocalStore` implements the protocol over the in-process kernels; it
is the reference the Redis store is tested against.  Any failure of a remote
store (connection refused, timeout, server error) raises :class:`StoreError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from ruledsl.kernels import state as _state
from ruledsl.kernels.last import LastState

__all__ = ["LocalStore", "StoreError", "state_ids"]


class StoreError(Exception):
    """The state store failed (unreachable, timed out, or answered with an error).

    When it is raised by ``run`` the event's updates may or may not have been
    applied (a timed-out request can still be executed by the server):
    ``maybe_applied`` is true then, false when the request certainly never
    reached the store (e.g. the connection could not be opened).
    """

    def __init__(self, message: str = "", *, maybe_applied: bool = True) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


def state_ids(specs: Sequence[Any], lateness_ms: int) -> list[tuple[str, int]]:
    """Identity of each window/sequence's state: ``(signature, occurrence)``.

    Equal signatures mean compatible state, but two specs with the same
    signature in one ruleset are still two states (each is fed once per
    event), hence the occurrence number.  The lateness is part of the identity:
    the engine drops all state when it changes.
    """
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        sig = spec.signature or _fallback_signature(spec)
        sig = f"{sig}\x00lateness={lateness_ms}"
        n = seen.get(sig, 0)
        seen[sig] = n + 1
        out.append((sig, n))
    return out


def _fallback_signature(spec: Any) -> str:
    if hasattr(spec, "agg"):
        return (
            f"window {spec.name}: {spec.agg} float={spec.is_float} over {spec.duration_ms}ms"
            f" excluding={spec.exclude_current}"
        )
    return f"sequence {spec.name}: steps={spec.n_steps} within {spec.within_ms}ms"


class LocalStore:
    """The store protocol over the in-process kernels (the default setup).

    Windows use :class:`ruledsl.kernels.state.WindowState` (``last`` windows use
    ``engine.LastState``, whose values may be strings); sequences use
    :class:`ruledsl.kernels.state.SequenceState`.  On ``configure`` again (a reload),
    windows and sequences whose signature and lateness did not change keep
    their state, exactly like ``Engine.reload``.
    """

    def __init__(self) -> None:
        self.windows: list[Any] = []
        self.sequences: list[Any] = []
        self.lateness_ms = 0
        self.namespace = ""
        self._wids: list[tuple[str, int]] = []
        self._sids: list[tuple[str, int]] = []
        self._watermark: Optional[int] = None

    @classmethod
    def from_kernels(
        cls,
        window_specs,
        window_kernels,
        sequence_kernels,
        sequence_specs=None,
        lateness_ms: int = 0,
        namespace: str = "",
    ) -> LocalStore:
        """A store over existing kernels (shared, not copied): e.g. an engine's own state."""
        store = cls()
        store.windows = list(window_kernels)
        store.sequences = list(sequence_kernels)
        store._wids = state_ids(window_specs, lateness_ms)
        if sequence_specs is not None:
            store._sids = state_ids(sequence_specs, lateness_ms)
        else:
            store._sids = [("", i) for i in range(len(store.sequences))]
        store.lateness_ms = lateness_ms
        store.namespace = namespace
        return store

    def configure(self, windows, sequences, lateness_ms: int, namespace: str) -> None:
        """Set up state for the ruleset's window and sequence specs, keeping what is still compatible.

        A kernel is reused when its spec's identity (``state_ids``: signature,
        occurrence and lateness) is unchanged; new kernels start empty at the
        store's current watermark.
        """
        old_w = dict(zip(self._wids, self.windows, strict=True))
        old_s = dict(zip(self._sids, self.sequences, strict=True))
        wids = state_ids(windows, lateness_ms)
        sids = state_ids(sequences, lateness_ms)
        new_w = []
        for spec, wid in zip(windows, wids, strict=True):
            kernel = old_w.get(wid)
            if kernel is None:
                if spec.agg == "last":
                    kernel = LastState(spec.duration_ms, lateness_ms)
                else:
                    kernel = _state.WindowState(spec.agg, spec.duration_ms, lateness_ms, spec.is_float)
                if self._watermark is not None:
                    kernel.advance(self._watermark, 0)
            new_w.append(kernel)
        new_s = []
        for spec, sid in zip(sequences, sids, strict=True):
            kernel = old_s.get(sid)
            if kernel is None:
                kernel = _state.SequenceState(spec.n_steps, spec.within_ms)
                if self._watermark is not None:
                    kernel.advance(self._watermark, 0)
            new_s.append(kernel)
        self.windows, self.sequences = new_w, new_s
        self._wids, self._sids = wids, sids
        self.lateness_ms = lateness_ms
        self.namespace = namespace

    def run(self, ops: list[tuple]) -> list:
        """Answer one event's window and sequence ops in order (see the module docstring), one result each."""
        windows = self.windows
        sequences = self.sequences
        out: list[Any] = []
        append = out.append
        for op in ops:
            if op[0] == "w":
                _, wi, key, ts, value, inc, add = op
                if key is None:
                    append(None)
                elif add:
                    append(windows[wi].query_add(key, ts, value, inc))
                else:
                    append(windows[wi].query(key, ts, value, inc))
            else:
                _, si, key, ts, mask, add = op
                if key is None:
                    append(False)
                    continue
                s = sequences[si]
                if add:
                    append(s.query_add(key, ts, mask))
                else:
                    append(s.query(key, ts, mask))
        return out

    def apply_updates(self, ops: list[tuple]) -> None:
        """Apply only the updates of ``ops`` (those with ``add``), without querying: a mirror of another store."""
        windows = self.windows
        sequences = self.sequences
        for op in ops:
            if op[-1] and op[2] is not None:
                if op[0] == "w":
                    windows[op[1]].add(op[2], op[3], op[4])
                else:
                    sequences[op[1]].add(op[2], op[3], op[4])

    def advance(self, watermark: int, budget: int = 128) -> None:
        """Move the watermark; each kernel sweeps up to ``budget`` key slots."""
        if self._watermark is None or watermark > self._watermark:
            self._watermark = watermark
        for k in self.windows:
            k.advance(watermark, budget)
        for k in self.sequences:
            k.advance(watermark, budget)

    def clear(self) -> None:
        """Drop all state: every window and sequence entry, and the watermark; the kernels stay configured."""
        for k in self.windows:
            k.clear()
        for k in self.sequences:
            k.clear()
        self._watermark = None
