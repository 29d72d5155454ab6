"""Build and import ``handwritten_cy.pyx`` on the fly (a benchmark baseline, never part of the package).

    python benchmarks/cybuild.py          # build (or find in the cache) and print the module's path

``load()`` returns the built module, compiling it first when needed: Cython
translates the ``.pyx`` and the C compiler builds it with ``-O2`` (the flags
the package's own kernels use) in a fresh interpreter, its output captured.
The result is cached under ``benchmarks/.cache/cython/`` by a hash of the
source, the Cython and Python versions, the platform and the flags, so later
runs import it at once.  Without Cython or a C compiler ``load()`` raises
``BuildError`` with the reason, and the benchmarks report the baseline as
missing instead of failing.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import platform
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
PYX = HERE / "handwritten_cy.pyx"
CACHE_DIR = HERE / ".cache" / "cython"
CFLAGS = ["-O2"]
DIRECTIVES = {"language_level": 3}

_loaded: dict[Path, ModuleType] = {}


class BuildError(RuntimeError):
    """The module could not be built (no Cython, no C compiler, a compile error)."""


def _tag(pyx: Path) -> str:
    try:
        import Cython
    except ImportError as err:
        raise BuildError("Cython is not installed") from err
    h = hashlib.sha256(pyx.read_bytes())
    for part in (Cython.__version__, sys.version, platform.platform(), sysconfig.get_config_var("EXT_SUFFIX"), *CFLAGS):
        h.update(str(part).encode())
    return h.hexdigest()[:16]


def build(pyx: Path = PYX, cache_dir: Path = CACHE_DIR) -> Path:
    """The path of the built extension for ``pyx``, compiling it unless the cache has it.

    The build itself is the package's (``ruledsl.compile.build.compile_extension``:
    a fresh interpreter, staged and moved into place atomically).
    """
    from ruledsl.compile.build import BuildError as _PackageBuildError
    from ruledsl.compile.build import cached_module, compile_extension

    name = pyx.stem
    out = cache_dir / f"{name}-{_tag(pyx)}"
    found = cached_module(name, out.parent, folder=out.name)
    if found is not None:
        return found
    try:
        return compile_extension(name, pyx.read_text(encoding="utf-8"), out, tuple(CFLAGS))
    except _PackageBuildError as err:
        raise BuildError(str(err)) from None


def load(pyx: Path = PYX, cache_dir: Path = CACHE_DIR) -> ModuleType:
    """The built module for ``pyx`` (``handwritten_cy`` by default), built first if needed."""
    path = build(pyx, cache_dir)
    module = _loaded.get(path)
    if module is None:
        spec = importlib.util.spec_from_file_location(pyx.stem, path)
        if spec is None or spec.loader is None:
            raise BuildError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[path] = module
    return module


def handwritten_cy():
    """A fresh ``HandwrittenRulesCy`` (the hand-written Cython baseline) over ``benchmarks/lists``."""
    return load().HandwrittenRulesCy(HERE / "lists")


if __name__ == "__main__":
    print(build())
