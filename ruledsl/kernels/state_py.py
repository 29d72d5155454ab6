"""The pure-Python state kernels in one namespace (what :mod:`ruledsl.kernels.state` selects without the extensions).

Each module here is the twin of one Cython module, with the same class and
method names and identical results:

========================  =================================================
``slots_py``              ``slots.pyx``: the shared slot table, ``advance_all``
``windows_py``            ``windows.pyx``: ``WindowState``, ``AGGREGATES``
``sequences_py``          ``sequences.pyx``: ``SequenceState``
``hashing_py``            ``hashing.pyx``: ``stable_hash``
``convert_py``            ``convert.pxd``: argument conversions
========================  =================================================

(``entries.pxd`` and ``accel.pyx`` are the extension's memory layout and
large-key accelerators; they change speed, not results, and have no twin.)
"""

from __future__ import annotations

from ruledsl.kernels.convert_py import to_f64 as _f64  # (also used by ruledsl.stores.redis)
from ruledsl.kernels.convert_py import to_i64 as _i64  # (also used by ruledsl.stores.redis)
from ruledsl.kernels.hashing_py import stable_hash
from ruledsl.kernels.sequences_py import SequenceState, _as_mask  # (_as_mask: used by ruledsl.stores.redis)
from ruledsl.kernels.slots_py import DEFAULT_SWEEP_BUDGET, advance_all
from ruledsl.kernels.windows_py import AGGREGATES, WindowState

__all__ = [
    "AGGREGATES",
    "COMPILED",
    "DEFAULT_SWEEP_BUDGET",
    "SequenceState",
    "WindowState",
    "_as_mask",
    "_f64",
    "_i64",
    "advance_all",
    "stable_hash",
]

COMPILED = False
