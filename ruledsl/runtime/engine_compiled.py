"""The compiled (Cython) evaluator of an engine: built in the background, swapped in when ready.

``load(..., compiled=)`` chooses:

- ``"auto"`` (default): a module already in the cache is used at once;
  otherwise the engine starts on the generated-Python evaluator, builds the
  module in a background thread (the compiler runs in its own process) and
  swaps it in under the evaluation lock when it is ready - every event is
  evaluated entirely by one evaluator or the other, and both share the same
  state.  If it cannot be built (no Cython, no C compiler, pure-Python
  kernels) the engine stays on Python with one ``RuntimeWarning`` per process.
- ``"require"``: build (or find) the module before ``load`` returns;
  ``BuildError`` if impossible.
- ``"never"``: the generated-Python evaluator only.

``RULEDSL_COMPILED`` sets the default for callers that pass nothing (the
test suite sets ``never``; tests of the compiled evaluator ask for it).
A mixin of ``Engine``.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any, Optional

from ruledsl.compile import build as _build
from ruledsl.compile import linemap as _linemap
from ruledsl.compile.emit_cy import CythonModule, cython_module
from ruledsl.compile.linemap import LineMap

MODES = ("auto", "require", "never")

_warned: set[str] = set()  # reasons already warned about in this process


def default_mode() -> str:
    """The mode used when ``load`` is given none: ``RULEDSL_COMPILED``, else ``"auto"``."""
    mode = os.environ.get("RULEDSL_COMPILED", "").strip() or "auto"
    if mode not in MODES:
        raise ValueError(f"RULEDSL_COMPILED must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def evaluator_module(compiled: Any) -> tuple[str, CythonModule]:
    """The module name and text of a compiled ruleset's Cython evaluator (the name carries the cache key)."""
    module = cython_module(compiled, "ruledsl_ev")
    name = "ruledsl_ev_" + _build.module_key(module.source)
    if module.linemap is not None:
        module.linemap = LineMap(f"{name}.pyx", module.linemap.locations)
    return name, module


class CompiledMixin:
    """Start, wait for and swap in the Cython evaluator."""

    compiled: Any
    _lock: Any
    _ns: dict[str, Any]
    _fns: dict[str, Any]
    _rows: Optional[dict[str, Any]]
    _store: Any
    _guard_store: Any
    _windows: list[Any]
    _sequences: list[Any]

    def _start_evaluator(self, mode: Optional[str]) -> None:
        # called at the end of Engine.__init__, after the Python evaluator is bound
        mode = default_mode() if mode is None else mode
        if mode not in MODES:
            raise ValueError(f"compiled must be one of {', '.join(MODES)}, not {mode!r}")
        self.evaluator = "python"  # which evaluator runs: "python" or "cython"
        self.evaluator_module: Optional[str] = None  # the Cython module's name (its cache key) once in use
        self.evaluator_error: Optional[str] = None  # why the compiled evaluator is not used, if it was tried
        self._evaluator_obj: Any = None
        self._evaluator_done = threading.Event()
        self._evaluator_box = [self]  # the engine to swap into; reload points it at the live engine
        if mode == "never":
            self._evaluator_done.set()
            return
        if not self._kernels_compiled():
            if mode == "require":
                raise _build.BuildError("the engine runs on the pure-Python state kernels")
            self._give_up("the engine runs on the pure-Python state kernels")
            return
        if mode == "require":
            self._install(self.compiled, *self._build_evaluator())
            self._evaluator_done.set()
            return
        try:
            name, module = evaluator_module(self.compiled)
        except Exception as err:  # a bug in the Cython emitter must not fail a load in auto mode: warn
            self._give_up(f"{type(err).__name__}: {err}")
            return
        path = _build.cached_module(name)
        if path is not None:
            try:
                self._install(self.compiled, name, module, _build.load_module(name, path))
            except _build.BuildError as err:
                self._give_up(str(err))
            self._evaluator_done.set()
            return
        reason = _build.unavailable_reason()
        if reason is not None:
            self._give_up(reason)
            return
        box, done, compiled = self._evaluator_box, self._evaluator_done, self.compiled

        def work() -> None:
            try:
                path = _build.build_module(name, module.source)
                loaded = _build.load_module(name, path)
                box[0]._install(compiled, name, module, loaded)
            except _build.BuildError as err:
                box[0]._give_up(str(err))
            finally:
                done.set()

        threading.Thread(target=work, name=f"ruledsl-build-{name}", daemon=True).start()

    def _kernels_compiled(self) -> bool:
        # the C entry points accept the Cython kernels only (last() windows are Python in both builds)
        kernels = [k for k in self._windows if type(k).__name__ != "LastState"] + list(self._sequences)
        return all(type(k).__module__ in ("ruledsl.kernels.windows", "ruledsl.kernels.sequences") for k in kernels)

    def _build_evaluator(self) -> tuple[str, CythonModule, Any]:
        name, module = evaluator_module(self.compiled)
        path = _build.build_module(name, module.source)
        return name, module, _build.load_module(name, path)

    def _install(self, compiled: Any, name: str, module: CythonModule, loaded: Any) -> None:
        # Swap the compiled evaluator in under the engine's lock.  A reload copies a new engine's
        # attributes into the live one under both engines' locks and points the shared box at the
        # live engine, so a build finishing meanwhile lands in whichever engine is live.
        if module.linemap is not None:
            _linemap.register(module.linemap, module.source)
        while True:
            engine = self._evaluator_box[0]
            with engine._lock:
                if engine._evaluator_box[0] is not engine:
                    continue  # moved by a reload meanwhile
                if engine.compiled is not compiled:
                    return  # a reload replaced the ruleset: this module is for the old one
                evaluator = loaded.Evaluator(engine._ns, engine)
                fns = {event: getattr(evaluator, fn) for event, fn in module.functions.items()}
                rows = {event: getattr(evaluator, fn) for event, fn in module.rows.items()}
                if engine._store is not None:
                    fns = {event: engine._guard_store(event, fn) for event, fn in fns.items()}
                    rows = {event: engine._guard_store(event, fn) for event, fn in rows.items()}
                engine._fns = fns
                engine._rows = rows
                if engine._store is None:  # evaluate() in C; with a store, through the guarded functions
                    engine.__dict__["evaluate"] = evaluator.evaluate  # shadows Engine.evaluate for this engine
                engine._evaluator_obj = evaluator
                engine.evaluator = "cython"
                engine.evaluator_module = name
                return

    def _give_up(self, reason: str) -> None:
        self.evaluator_error = reason
        self._evaluator_done.set()
        if reason not in _warned:
            _warned.add(reason)
            warnings.warn(
                f"ruledsl: using the Python evaluator; the compiled one is unavailable: {reason}",
                RuntimeWarning,
                stacklevel=3,
            )

    def wait_compiled(self, timeout: Optional[float] = None) -> bool:
        """Wait until the compiled evaluator is in use or given up; True when it is in use.

        ``evaluator`` says which evaluator runs (``"python"`` or ``"cython"``);
        ``evaluator_error`` why the compiled one is not used, if it was tried.
        """
        self._evaluator_done.wait(timeout)
        return self.evaluator == "cython"
