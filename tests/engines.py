"""The compiled engine on either kernel build: the Cython extensions or their pure-Python twins.

``ruledsl.runtime.engine`` reads its kernel classes (and ``advance_all``) from
the module it bound as ``_state``; ``python_kernels()`` binds the twins
(``ruledsl.kernels.state_py``) while it lasts, whatever
``RULEDSL_NO_EXTENSIONS`` selected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import ruledsl.kernels.state_py
import ruledsl.runtime.engine as engine_module

KERNELS = ("compiled", "python")
"""The two kernel builds: ``compiled`` is what ``ruledsl.kernels.state`` selected (Cython when built)."""


@contextlib.contextmanager
def python_kernels() -> Iterator[None]:
    """Build and run engines on the pure-Python twin of the Cython state kernels (``state_py``).

    Run them inside the block too: the engine's periodic sweep calls the selected
    module's ``advance_all``, which only accepts its own build's kernels.
    """
    saved = engine_module._state
    engine_module._state = ruledsl.kernels.state_py
    try:
        yield
    finally:
        engine_module._state = saved


def kernel_build(kernels: str) -> contextlib.AbstractContextManager[None]:
    """The context to build and run engines on ``kernels`` (one of ``KERNELS``) in."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, not {kernels!r}")
    return python_kernels() if kernels == "python" else contextlib.nullcontext()
