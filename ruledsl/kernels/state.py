"""Windowed aggregation / sequence state kernels (implementation selector).

Uses the Cython extensions (:mod:`ruledsl.kernels.windows`, ``.sequences``,
``.slots``, ``.hashing``) when they are built and the environment variable
``RULEDSL_NO_EXTENSIONS`` is unset, empty or ``"0"``; otherwise their
pure-Python twins, gathered in :mod:`ruledsl.kernels.state_py` (identical API
and results, slower).  ``COMPILED`` tells which one is in use.

Public API (both implementations)::

    WindowState(agg, duration_ms, lateness_ms=0, is_float=False)
        .query(key, ts, value=0, include_current=False)
        .add(key, ts, value=0)
        .query_add(key, ts, value=0, include_current=False)
        .advance(watermark_ts, budget=DEFAULT_SWEEP_BUDGET)
        .sweep()  .clear()  .keys()  .dump()  .load(items)  .copy()
        len(w)  .nbytes()  .entry_count()  .watermark
    SequenceState(n_steps, within_ms)
        .query(key, ts, matches)  .add(key, ts, matches)  .query_add(key, ts, matches)
        .advance(watermark_ts, budget=DEFAULT_SWEEP_BUDGET)
        .sweep()  .clear()  .keys()  .dump()  .load(items)  .copy()  len(s)  .nbytes()  .watermark
    .copy() -> a read-only copy (FrozenWindow / FrozenSequence), quick enough for
        the engine's lock: .dump() (the kernel's dump() then, keys in slot order)
        .dump_chunks(n)  len(c)  .watermark
    stable_hash(value) -> int   (signed 64-bit FNV-1a, process independent)
    advance_all(states, watermark_ts, budget=DEFAULT_SWEEP_BUDGET)
        s.advance(watermark_ts, budget) for every state, in one call
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = [
    "AGGREGATES",
    "COMPILED",
    "DEFAULT_SWEEP_BUDGET",
    "SequenceState",
    "WindowState",
    "advance_all",
    "stable_hash",
]

COMPILED = False

if TYPE_CHECKING:  # both implementations have the twins' API
    from ruledsl.kernels.state_py import (
        AGGREGATES,
        DEFAULT_SWEEP_BUDGET,
        SequenceState,
        WindowState,
        advance_all,
        stable_hash,
    )
elif os.environ.get("RULEDSL_NO_EXTENSIONS", "").strip() in ("", "0"):
    try:
        from ruledsl.kernels.hashing import stable_hash
        from ruledsl.kernels.sequences import SequenceState
        from ruledsl.kernels.slots import DEFAULT_SWEEP_BUDGET, advance_all
        from ruledsl.kernels.windows import AGGREGATES, WindowState

        COMPILED = True
    except ImportError:
        COMPILED = False

if not COMPILED:
    from ruledsl.kernels.state_py import (
        AGGREGATES,
        DEFAULT_SWEEP_BUDGET,
        SequenceState,
        WindowState,
        advance_all,
        stable_hash,
    )
