"""The engine's state across reloads and restarts: carrying kernels, snapshots, restoring.

``Engine`` inherits these methods (docs/semantics.md, "Snapshots").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Optional, Union

from ruledsl._version import __version__
from ruledsl.kernels.last import NEVER
from ruledsl.runtime import persistence
from ruledsl.runtime.engine_lists import restored_entries, saved_meta
from ruledsl.runtime.lists import convert_values
from ruledsl.syntax.durations import format_duration, format_duration_compound


def _frozen_dump(kernel: Any) -> Callable[[], Iterable[Sequence[Any]]]:
    """Under the engine's lock: what a snapshot needs of a kernel, as a function to call outside the lock.

    A kernel with ``copy()`` is copied now and dumped later, from the copy,
    in chunks if it has ``dump_chunks(n)``; any other kernel is dumped now.
    Either way the chunks are the kernel's content at this instant,
    consistent with the clock read under the same lock.
    """
    copy = getattr(kernel, "copy", None)
    if copy is not None:
        frozen = copy()
        by_chunks = getattr(frozen, "dump_chunks", None)
        if by_chunks is not None:
            return lambda: by_chunks(persistence.CHUNK)
        return lambda: persistence.drained(frozen.dump())
    dumped = kernel.dump()
    return lambda: persistence.drained(dumped)


def _by_signature(specs, items) -> dict[str, Any]:
    """The first of ``items`` with each spec signature: equal definitions are one state."""
    out: dict[str, Any] = {}
    for spec, item in zip(specs, items, strict=True):
        out.setdefault(spec.signature, item)
    return out


class StateMixin:
    """Snapshot and restore for ``Engine``."""

    # set by Engine.__init__
    compiled: Any
    result: Any
    timezone: str
    lateness_ms: int
    clock: Optional[Callable[[], int]]
    max_future_skew_ms: int
    kept_state: list[str]
    _windows: list[Any]
    _sequences: list[Any]
    _clock_state: list[int]
    _params: list[Any]
    _lists: list[Any]
    _param_overrides: dict[str, Any]
    _list_overrides: dict[str, Any]
    _lock: Any
    _set_param: Callable[[str, Any], None]
    _hold_book: Any  # engine_holds: the open holds (snapshotted and restored here)
    _exemption_book: Any  # engine_exemptions: the granted exemptions (likewise)
    _control_table: Any  # engine_controls: the controls in place (likewise)

    def _carry_state(self, old: Any) -> None:  # old: the Engine being replaced
        # windows and sequences whose definition did not change keep their kernel
        self._clock_state = old._clock_state
        if old.lateness_ms != self.lateness_ms:
            return  # kernels hold the lateness: every window starts empty
        comp = self.compiled
        pairs: tuple[tuple[Any, list[int], list[Any], list[Any], Any], ...] = (
            (comp.windows, comp.window_state, self._windows, old._windows, old.compiled.windows),
            (comp.sequences, comp.sequence_state, self._sequences, old._sequences, old.compiled.sequences),
        )
        for specs, state, mine, theirs, their_specs in pairs:
            olds = _by_signature(their_specs, theirs)
            carried: set[int] = set()
            for i, spec in enumerate(specs):
                if state[i] != i:  # the same definition as an earlier one: its kernel, carried or new
                    mine[i] = mine[state[i]]
                elif spec.signature in olds:
                    mine[i] = olds[spec.signature]
                    carried.add(i)
                if state[i] in carried:
                    self.kept_state.append(spec.name)

    def _identity(self) -> persistence.RulesetIdentity:
        header = self.result.symbols.header
        name = header.name.name if header is not None and header.name is not None else ""
        return persistence.RulesetIdentity(name=name, lateness_ms=self.lateness_ms, timezone=self.timezone)

    def _restore(
        self, snap: persistence.Snapshot, *, source: str = "snapshot", allow_other_ruleset: bool = False
    ) -> None:
        # All checked before anything is applied; any failure is a SnapshotError and no engine is built.
        comp = self.compiled
        now = self.clock() if self.clock is not None else None
        if now is not None and snap.clock[0] > now + self.max_future_skew_ms:
            # the clock guard applies to restored clocks too: a poisoned watermark must not come back
            raise persistence.SnapshotError(
                f"{source}: its event time is {format_duration_compound(snap.clock[0] - now)} ahead of this "
                f"engine's clock (at most {format_duration(self.max_future_skew_ms)}: max_future_skew); every "
                "event would be late. Start without it, or with clock=None to replay recorded traffic"
            )
        differences = persistence.identity_differences(snap, self._identity(), comp.windows, comp.sequences)
        if differences and not allow_other_ruleset:
            raise persistence.SnapshotError(
                f"{source}: the snapshot is not of this ruleset: {'; '.join(differences)}. Start without it, or "
                "pass allow_other_ruleset=True to restore its clock and settings and the windows that did not change"
            )
        try:
            # explicit params= and lists= win; names this ruleset does not declare are dropped
            params = {k: v for k, v in snap.params.items() if k in comp.param_types and k not in self._param_overrides}
            for name, value in params.items():
                try:
                    self._set_param(name, value)
                except (ValueError, TypeError) as err:
                    raise ValueError(f"parameter {name}: not a {comp.param_types[name]} ({err})") from None
            lists = {}
            for name, values in snap.lists.items():
                if name in comp.list_types and name not in self._list_overrides:
                    try:
                        entries = restored_entries(values, (snap.list_meta or {}).get(name))  # engine_lists
                        lists[name] = convert_values(comp.list_types[name], entries, self.timezone)
                    except (ValueError, TypeError) as err:
                        raise ValueError(f"list {name}: an entry is not a {comp.list_types[name]} ({err})") from None
            loads = []  # (kernel, items, name): kernels hold the lateness, so a changed one restores none
            if snap.ruleset.lateness_ms == self.lateness_ms:
                # one saved entry per definition restores every window with it (they share one kernel)
                saved_windows = _by_signature(snap.windows, snap.windows)
                for i, spec in enumerate(comp.windows):
                    if spec.signature in saved_windows:
                        items = saved_windows[spec.signature].items
                        if comp.window_state[i] == i:
                            persistence.check_window_items(
                                items, name=spec.name, agg=spec.agg, is_float=spec.is_float, value_type=spec.result_type
                            )
                        loads.append((self._windows[i], items, spec.name))
                saved_sequences = _by_signature(snap.sequences, snap.sequences)
                for i, sspec in enumerate(comp.sequences):
                    if sspec.signature in saved_sequences:
                        items = saved_sequences[sspec.signature].items
                        if comp.sequence_state[i] == i:
                            persistence.check_sequence_items(items, name=sspec.name, n_steps=sspec.n_steps)
                        loads.append((self._sequences[i], items, sspec.name))
            wm = snap.clock[1]
            loaded: set[int] = set()
            with persistence.gc_paused():  # millions of entries: see gc_paused
                for kernel, items, name in loads:
                    if id(kernel) not in loaded:  # a kernel shared by equal definitions loads once
                        loaded.add(id(kernel))
                        kernel.load(items)
                        if wm != NEVER:
                            kernel.advance(wm, 0)
                    self.kept_state.append(name)
        except (ValueError, TypeError, OverflowError) as err:
            raise persistence.SnapshotError(f"{source}: {err}") from None
        self._clock_state[:] = snap.clock
        if snap.ruleset.lateness_ms != self.lateness_ms and snap.clock[0] != NEVER:
            self._clock_state[1] = snap.clock[0] - self.lateness_ms  # the watermark under this lateness
        for name in snap.lists:
            if name in lists:
                self._lists[comp.lists.index(name)] = lists[name]
                self._list_overrides[name] = lists[name]
        self._param_overrides.update(params)
        # open holds and remembered outcomes come back whatever the ruleset: a held transaction still waits
        self._hold_book.replace(snap.holds.seq, snap.holds.open, snap.holds.closed)
        self._exemption_book.replace(snap.exemptions or ())  # engine_exemptions: whatever the ruleset, like holds
        self._control_table.replace(snap.controls or ())  # engine_controls: whatever the ruleset, like holds

    def snapshot(self, path: Union[str, Path], *, fork: bool = False) -> int:
        """Write the engine's operational state to ``path`` atomically; returns its size in bytes.

        The snapshot holds the ruleset's identity, the clock, the parameters
        and lists the application set (``params=``/``lists=``, ``set_param``,
        ``update_list``), the window and sequence entries still inside
        their span, and the holds: the open ones, the remembered outcomes
        (docs/semantics.md, "Snapshots").  Restore with
        ``ruledsl.load(..., state=path)``; the restored engine continues
        exactly where this one stopped.

        The state is taken under the engine's lock in one step, consistent
        with the clock; it is encoded and written outside the lock while
        other threads keep evaluating.  Taking it means copying every kernel
        (``copy()``, where the kernels have it) or dumping it.  ``fork=True``
        (POSIX) takes it by forking the process instead - the lock is held
        for the ``fork()`` alone, a few milliseconds whatever the state's
        size - and a child process dumps, encodes and writes; see
        docs/semantics.md for when to use it.
        """
        if fork:
            return persistence.write_in_child(path, self._lock, lambda: self._capture()())
        with persistence.gc_paused():
            with self._lock:
                build = self._capture()
            parts = build()  # the lock is released: other threads evaluate while the copy is encoded
        return persistence.write_atomic(path, parts)

    def _capture(self) -> Callable[[], list[Any]]:
        # Under the lock: take the state; returns the function that encodes it (to call outside the lock).
        comp = self.compiled
        identity = self._identity()
        clock = list(self._clock_state)
        params = {name: self._params[comp.params.index(name)] for name in self._param_overrides}
        lists = {name: self._lists[comp.lists.index(name)] for name in self._list_overrides}
        # one entry per state: windows (sequences) with the same definition share their kernel and entry
        windows = [(spec, self._windows[i]) for i, spec in enumerate(comp.windows) if comp.window_state[i] == i]
        sequences = [(spec, self._sequences[i]) for i, spec in enumerate(comp.sequences) if comp.sequence_state[i] == i]
        window_dumps = [(spec, _frozen_dump(kernel)) for spec, kernel in windows]
        sequence_dumps = [(spec, _frozen_dump(kernel)) for spec, kernel in sequences]
        book = self._hold_book
        holds = persistence.SavedHolds(seq=book.seq, open=list(book.open.values()), closed=list(book.closed.values()))
        wm = clock[1]
        exemptions = [ex for ex in self._exemption_book.granted.values() if ex.until > clock[0]] or None
        controls = [c for c in self._control_table.live.values() if c.until > wm] or None  # the ones events can see

        def build() -> list[Any]:
            return persistence.encode_parts(
                ruledsl_version=__version__,
                ruleset=identity,
                clock=clock,
                params={name: persistence.user_value(comp.param_types[name], v) for name, v in params.items()},
                lists={name: persistence.user_values(comp.list_types[name], v) for name, v in lists.items()},
                windows=[
                    (spec.signature, persistence.live_window_chunks(dump(), wm - spec.duration_ms))
                    for spec, dump in window_dumps
                ],
                sequences=[
                    (spec.signature, persistence.live_sequence_chunks(dump(), wm - spec.within_ms))
                    for spec, dump in sequence_dumps
                ],
                holds=holds,
                optional={"exemptions": exemptions, "list_meta": _list_meta(comp, lists), "controls": controls},
            )

        return build


def _list_meta(comp: Any, lists: dict[str, Any]) -> Optional[dict[str, list[Any]]]:
    """The attributes of the saved lists' entries (``Snapshot.list_meta``), None when no entry has any."""
    out = {name: saved_meta(comp.list_types[name], table) for name, table in lists.items() if table.has_attributes()}
    return out or None
