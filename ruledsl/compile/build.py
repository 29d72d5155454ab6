"""Building Cython evaluator modules, and the cache that makes a second load instant.

A module is built in a fresh interpreter (Cython, then the C compiler at a
moderate ``-O1``: the evaluator is straight-line code whose time is spent in
the kernels, which are built with ``-O2``), its output captured, and moved
into the cache atomically: concurrent processes building the same module
both succeed, and a half-built module is never seen.  The cache key is a
digest of the module text, the ruledsl, Cython and Python versions, the ABI
(extension suffix), the flags and the kernels' ``.pxd`` declarations the
module is compiled against.

The cache lives in the user cache directory (``platformdirs``), under
``evaluators/``; ``RULEDSL_CACHE_DIR`` moves it.  Nothing here raises
anything but ``BuildError`` for a module that cannot be built.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Optional

from ruledsl._version import __version__

CFLAGS = ("-O1", "-g0")
"""C compiler flags of evaluator modules: -O1 (-O0 runs them almost as slowly as the Python evaluator);
-g0 drops the debug information Python's own flags ask for, a third of the build time."""

BUILD_TIMEOUT_S = 900
"""The longest a build may take before it is abandoned (a 3,000-rule module takes 2.5 min on one core)."""

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../ruledsl
_KERNEL_PXDS = ("windows.pxd", "sequences.pxd")


class BuildError(RuntimeError):
    """An evaluator module could not be built or loaded (no Cython, no C compiler, a compile error)."""


def cache_root() -> Path:
    """The ruledsl cache directory: ``RULEDSL_CACHE_DIR``, else the user cache directory (``platformdirs``)."""
    env = os.environ.get("RULEDSL_CACHE_DIR", "").strip()
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("ruledsl"))


def cython_version() -> Optional[str]:
    """The installed Cython's version, or None when Cython is missing."""
    try:
        import Cython
    except ImportError:
        return None
    return str(Cython.__version__)


def unavailable_reason() -> Optional[str]:
    """Why evaluator modules cannot be built here (None when they can): Cython, a C compiler, compiled kernels."""
    from ruledsl.kernels import state

    if not state.COMPILED:
        return "the state kernels are not compiled (pure-Python build or RULEDSL_NO_EXTENSIONS)"
    if cython_version() is None:
        return "Cython is not installed (pip install Cython)"
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(os.environ.get("CC", cc).split()[0]) is None:
        return f"no C compiler ({cc}) on PATH"
    return None


def module_key(source: str) -> str:
    """The cache key of an evaluator module made from ``source`` (its text, or a digest of what makes it)."""
    h = hashlib.sha256(source.encode("utf-8"))
    for part in (
        __version__,
        cython_version() or "",
        sys.version,
        sysconfig.get_config_var("EXT_SUFFIX") or "",
        *CFLAGS,
    ):
        h.update(b"\0" + str(part).encode())
    for pxd in _KERNEL_PXDS:
        h.update((_PACKAGE_ROOT / "kernels" / pxd).read_bytes())
    return h.hexdigest()[:16]


def _built(out: Path, name: str) -> Optional[Path]:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = out / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def cached_module(name: str, cache_dir: Optional[Path] = None, *, folder: Optional[str] = None) -> Optional[Path]:
    """The built extension of module ``name`` in the cache (``evaluators/<name>``, or ``cache_dir/folder``), or None."""
    where = (
        (cache_dir / folder) if cache_dir is not None and folder else (cache_dir or cache_root()) / "evaluators" / name
    )
    return _built(where, name)


_running: set[subprocess.Popen] = set()  # builds in flight, stopped when the interpreter exits


@atexit.register
def _stop_builds() -> None:
    # a background build must not outlive the program that started it (a short `ruledsl run`)
    for proc in list(_running):
        proc.kill()


_BUILD_SCRIPT = """
import sys
from Cython.Build import cythonize
from setuptools import Distribution, Extension

pyx, out, tmp, include, *flags = sys.argv[1:]
name = pyx.rsplit("/", 1)[-1].rsplit(".", 1)[0]
ext = Extension(name, [pyx], extra_compile_args=flags)
mods = cythonize([ext], quiet=True, build_dir=tmp, include_path=[include])
dist = Distribution({"ext_modules": mods, "script_name": "ruledsl-build"})
cmd = dist.get_command_obj("build_ext")
cmd.build_lib = out
cmd.build_temp = tmp
cmd.ensure_finalized()
cmd.run()
"""


def build_module(
    name: str, source: str, cache_dir: Optional[Path] = None, *, files: Optional[dict[str, bytes]] = None
) -> Path:
    """The path of extension module ``name`` built from Cython ``source``, building it unless cached.

    ``name`` should carry a cache key of what the text is made from, so
    that a changed text is a new module.  ``files`` (suffix -> bytes) are
    kept beside it as ``<name>.<suffix>`` (a line map).  Raises
    ``BuildError`` with the compiler's output on failure.
    """
    with _lock_for(name):  # one build per module in this process; other threads wait for it
        return _build_locked(name, source, cache_dir, files or {})


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def _build_locked(name: str, source: str, cache_dir: Optional[Path], files: dict[str, bytes]) -> Path:
    found = cached_module(name, cache_dir)
    if found is not None:
        return found
    reason = unavailable_reason()
    if reason is not None:
        raise BuildError(reason)
    return compile_extension(name, source, (cache_dir or cache_root()) / "evaluators" / name, CFLAGS, files)


def compile_extension(
    name: str, source: str, out: Path, cflags: tuple[str, ...], files: Optional[dict[str, bytes]] = None
) -> Path:
    """Build Cython ``source`` as extension module ``name`` into directory ``out``; its path.

    In a fresh interpreter (its output captured, stopped at exit or after
    ``BUILD_TIMEOUT_S``), staged beside ``out`` and moved there atomically:
    concurrent builders of the same module both succeed.  The ``.pyx`` and
    ``files`` (suffix -> bytes) are kept beside the module.  Also used by
    the benchmarks' hand-written Cython baseline (``benchmarks/cybuild.py``).
    """
    root = out.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BuildError(f"cannot create the cache directory {root}: {err}") from None
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        work = Path(tmp)
        staged = work / "out"
        staged.mkdir()
        pyx = work / f"{name}.pyx"
        pyx.write_text(source, encoding="utf-8")
        args = [sys.executable, "-c", _BUILD_SCRIPT, pyx.name, str(staged), "tmp", str(_PACKAGE_ROOT.parent)]
        proc = subprocess.Popen([*args, *cflags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
        _running.add(proc)
        try:
            output, _ = proc.communicate(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise BuildError(f"building {name} took longer than {BUILD_TIMEOUT_S} s") from None
        finally:
            _running.discard(proc)
        if proc.returncode != 0:
            raise BuildError(f"building {name} failed:\n{(output or '')[-4000:]}")
        shutil.copyfile(pyx, staged / pyx.name)  # kept beside the module: tracebacks and profilers show it
        for suffix, data in (files or {}).items():
            (staged / f"{name}.{suffix}").write_bytes(data)
        try:
            os.replace(staged, out)  # atomic; another process may have won the race
        except OSError:
            if _built(out, name) is None:
                raise BuildError(f"cannot move the built module into {out}") from None
    found = _built(out, name)
    if found is None:
        raise BuildError(f"building {name} produced no extension module in {out}")
    return found


_loaded: dict[str, ModuleType] = {}


def load_module(name: str, path: Path) -> ModuleType:
    """Import the built extension module ``name`` from ``path`` (once per process)."""
    with _lock_for(name):  # an extension module can be initialised once per process: one thread imports it
        return _load_locked(name, path)


def _load_locked(name: str, path: Path) -> ModuleType:
    module = _loaded.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as err:  # e.g. kernels rebuilt with another layout since the module was cached
        raise BuildError(f"cannot import {path}: {err}") from None
    _loaded[name] = module
    return module
