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

import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Optional

import msgspec

from ruledsl.compile import build as _build
from ruledsl.compile import chunks
from ruledsl.compile import linemap as _linemap
from ruledsl.compile.emit_cy import CythonModule, cython_module
from ruledsl.compile.linemap import LineMap, Location

MODES = ("auto", "require", "never")

_warned: set[str] = set()  # reasons already warned about in this process


def default_mode() -> str:
    """The mode used when ``load`` is given none: ``RULEDSL_COMPILED``, else ``"auto"``."""
    mode = os.environ.get("RULEDSL_COMPILED", "").strip() or "auto"
    if mode not in MODES:
        raise ValueError(f"RULEDSL_COMPILED must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


_EMITTERS = ("emit_cy.py", "chunks.py")  # the modules that write the Cython text from a compiled ruleset


def evaluator_name(compiled: Any) -> str:
    """The Cython evaluator's module name for a compiled ruleset, carrying its cache key.

    The key is computed without writing the Cython text, so a cached module
    is found at the cost of a hash: the text is a function of the generated
    Python source (which fixes the event functions' pieces and the names they
    load), the kernels each window uses, and the code of the emitters
    themselves (plus what ``build.module_key`` adds: versions, ABI, flags).
    """
    import ruledsl.compile as _compile_pkg

    folder = Path(_compile_pkg.__file__).resolve().parent
    h = hashlib.sha256(compiled.source.encode("utf-8"))
    h.update(repr([(w.agg, name) for w, name in zip(compiled.windows, compiled.window_names, strict=True)]).encode())
    h.update(repr(compiled.sequence_names).encode())
    for emitter in _EMITTERS:
        h.update((folder / emitter).read_bytes())
    h.update(str(chunks.MAX_CHUNK_LINES).encode())
    return "ruledsl_ev_" + _build.module_key(h.hexdigest())


def evaluator_module(compiled: Any) -> tuple[str, CythonModule]:
    """The module name and the Cython text of a compiled ruleset's evaluator."""
    name = evaluator_name(compiled)
    return name, cython_module(compiled, name)


def _linemap_file(module_path: Path, name: str) -> Path:
    return module_path.parent / f"{name}.linemap.json"


def _register_linemap(name: str, module_path: Path) -> None:
    # tracebacks through the compiled evaluator point at the DSL, as through the Python one
    try:
        source = (module_path.parent / f"{name}.pyx").read_text(encoding="utf-8")
        raw = msgspec.json.decode(_linemap_file(module_path, name).read_bytes())
    except (OSError, msgspec.DecodeError):
        return  # a cache without them still runs; tracebacks show the .pyx lines
    locations = [Location(*loc) if loc is not None else None for loc in raw]
    _linemap.register(LineMap(f"{name}.pyx", locations), source)


def _build_files(module: CythonModule) -> dict[str, bytes]:
    # kept beside the built module: the line map, for tracebacks after a cached load
    locations = module.linemap.locations if module.linemap is not None else []
    return {"linemap.json": msgspec.json.encode([list(loc) if loc is not None else None for loc in locations])}


def _build_and_load(compiled: Any) -> tuple[str, Any, Path]:
    """Write, build (or find) and import the evaluator module of ``compiled``: (name, module, path)."""
    name, module = evaluator_module(compiled)
    path = _build.build_module(name, module.source, files=_build_files(module))
    return name, _build.load_module(name, path), path


class CompiledMixin:
    """Start, wait for and swap in the Cython evaluator."""

    compiled: Any
    _lock: Any
    _ns: dict[str, Any]
    _fns: dict[str, Any]
    _rows: Optional[dict[str, Any]]
    _store: Any
    _guard_store: Any
    _bind_python: Any
    _windows: list[Any]
    _sequences: list[Any]

    def _start_evaluator(self, mode: Optional[str]) -> None:
        # called at the end of Engine.__init__, once the namespace is bound: binds the evaluator(s)
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
            self._bind_python()
            self._evaluator_done.set()
            return
        if self._kernels_compiled() and self._use_cached():
            return  # the compiled evaluator from the cache; the Python one is never needed
        if mode == "auto":
            self._bind_python()  # serves until the compiled evaluator is built (or for good)
        if not self._kernels_compiled():
            if mode == "require":
                raise _build.BuildError("the engine runs on the pure-Python state kernels")
            self._give_up("the engine runs on the pure-Python state kernels")
            return
        if mode == "require":
            name, loaded, path = _build_and_load(self.compiled)
            self._install(self.compiled, name, loaded)
            _register_linemap(name, path)
            self._evaluator_done.set()
            return
        try:
            name = evaluator_name(self.compiled)
        except Exception as err:  # a bug in the Cython emitter must not fail a load in auto mode: warn
            self._give_up(f"{type(err).__name__}: {err}")
            return
        reason = _build.unavailable_reason()
        if reason is not None:
            self._give_up(reason)
            return
        box, done, compiled = self._evaluator_box, self._evaluator_done, self.compiled

        def work() -> None:
            try:
                name, loaded, path = _build_and_load(compiled)
                box[0]._install(compiled, name, loaded)
                _register_linemap(name, path)
            except _build.BuildError as err:
                box[0]._give_up(str(err))
            except Exception as err:  # the emitter failed: stay on Python, say why
                box[0]._give_up(f"{type(err).__name__}: {err}")
            finally:
                done.set()

        threading.Thread(target=work, name=f"ruledsl-build-{name}", daemon=True).start()

    def _use_cached(self) -> bool:
        # install the cached module if there is one; False (nothing changed) otherwise
        try:
            name = evaluator_name(self.compiled)
        except Exception:  # a bug in the Cython emitter: the Python path below says why
            return False
        path = _build.cached_module(name)
        if path is None:
            return False
        try:
            loaded = _build.load_module(name, path)
        except _build.BuildError:
            return False  # e.g. built against other kernels: build it again
        self._install(self.compiled, name, loaded)
        self._evaluator_done.set()
        threading.Thread(target=_register_linemap, args=(name, path), daemon=True).start()  # for tracebacks only
        return True

    def _kernels_compiled(self) -> bool:
        # the C entry points accept the Cython kernels only (last() windows are Python in both builds)
        kernels = [k for k in self._windows if type(k).__name__ != "LastState"] + list(self._sequences)
        return all(type(k).__module__ in ("ruledsl.kernels.windows", "ruledsl.kernels.sequences") for k in kernels)

    def _install(self, compiled: Any, name: str, loaded: Any) -> None:
        # Swap the compiled evaluator in under the engine's lock.  A reload copies a new engine's
        # attributes into the live one under both engines' locks and points the shared box at the
        # live engine, so a build finishing meanwhile lands in whichever engine is live.
        functions = {code.event: code.function for code in compiled.event_code}
        while True:
            engine = self._evaluator_box[0]
            with engine._lock:
                if engine._evaluator_box[0] is not engine:
                    continue  # moved by a reload meanwhile
                if engine.compiled is not compiled:
                    return  # a reload replaced the ruleset: this module is for the old one
                evaluator = loaded.Evaluator(engine._ns, engine)
                fns = {event: getattr(evaluator, fn) for event, fn in functions.items()}
                rows = {event: getattr(evaluator, "row" + fn[2:]) for event, fn in functions.items()}
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
