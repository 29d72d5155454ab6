"""Shared by the state-kernel tests: both implementations, brute-force oracles, strategies.

``COMPILED`` gathers the Cython kernels (None when they are not built),
``PURE`` is :mod:`ruledsl.kernels.state_py` (the pure-Python twins); tests
parametrized with ``both_impls`` get either as ``impl`` and use its
``WindowState``, ``SequenceState``, ``stable_hash`` and ``advance_all``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import types

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ruledsl.kernels import state_py as PURE

try:
    from ruledsl.kernels import accel, hashing, sequences, slots, windows
except ImportError:  # extensions not built
    COMPILED = None
    set_tuning = None
else:
    COMPILED = types.SimpleNamespace(
        WindowState=windows.WindowState,
        SequenceState=sequences.SequenceState,
        stable_hash=hashing.stable_hash,
        advance_all=slots.advance_all,
        AGGREGATES=windows.AGGREGATES,
        DEFAULT_SWEEP_BUDGET=slots.DEFAULT_SWEEP_BUDGET,
    )
    set_tuning = accel._set_tuning

NOT_BUILT = "the Cython kernels are not built"
IMPLS = [
    pytest.param(COMPILED, id="compiled", marks=pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT)),
    pytest.param(PURE, id="pure"),
]
both_impls = pytest.mark.parametrize("impl", IMPLS)
needs_compiled = pytest.mark.skipif(COMPILED is None, reason=NOT_BUILT)

AGGS = ("count", "sum", "avg", "min", "max", "distinct", "last", "since")
I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
NAN = float("nan")
INF = float("inf")

# STATE_KERNEL_EXAMPLES=5000 for a long soak run
HSET = settings(
    max_examples=int(os.environ.get("STATE_KERNEL_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def canon(x):
    """Exact, NaN-tolerant comparison key (types, float bits incl. -0.0)."""
    if isinstance(x, float):
        if x != x:
            return ("float", "nan")
        return ("float", struct.pack("<d", x))
    if isinstance(x, tuple):
        return ("tuple", *(canon(i) for i in x))
    if isinstance(x, list):
        return ("list", *(canon(i) for i in x))
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, int):
        return ("int", x)
    return (type(x).__name__, x)


def assert_same(got, want, ctx=""):
    assert canon(got) == canon(want), f"got {got!r} want {want!r} {ctx}"


def oracle_window(entries, agg, D, ts, value, include_current, is_float):
    """Brute force over every entry ever added: entries = [(ts, value)] in arrival order."""
    inwin = sorted(((t, i, v) for i, (t, v) in enumerate(entries) if ts - D < t <= ts), key=lambda e: (e[0], e[1]))
    vals = [v for _, _, v in inwin]
    cur = bool(include_current) and agg not in ("last", "since")
    if agg == "count":
        return len(vals) + (1 if cur else 0)
    if agg in ("sum", "avg"):
        s = 0.0 if is_float else 0
        for v in vals:
            s += v
        n = len(vals)
        if cur:
            s += value
            n += 1
        if agg == "sum":
            return s
        return (s, n) if n else None
    if agg in ("min", "max"):
        if cur:
            vals.append(value)
        if not vals:
            return None
        if is_float and any(v != v for v in vals):
            return NAN  # NaN absorbs
        m = vals[0]
        for v in vals:
            if (v < m) if agg == "min" else (v > m):
                m = v  # first of equal values wins (0.0 vs -0.0)
        return m
    if agg == "distinct":
        if cur:
            vals.append(value)
        if is_float:
            return len({("nan" if v != v else (0.0 if v == 0 else v)) for v in vals})
        return len(set(vals))
    if not inwin:
        return None
    t, _, v = inwin[-1]
    return v if agg == "last" else ts - t


def oracle_sequence(hist, ts, mask, n_steps, within):
    """Chain completes at e iff earlier events e_0 < ... < e_{n-2} (arrival order)
    match steps 0..n-2 and e.ts - e_0.ts <= within.  hist = [(ts, mask)]."""
    if not (mask >> (n_steps - 1)) & 1:
        return False
    if n_steps == 1:
        return True
    need = n_steps - 1
    greedy = False
    for i0, (t0, m0) in enumerate(hist):
        if not (m0 & 1) or ts - t0 > within:
            continue
        step = 1
        for _, m in hist[i0 + 1 :]:
            if step >= need:
                break
            if (m >> step) & 1:
                step += 1
        if step >= need:
            greedy = True
            break
    if len(hist) <= 7:  # cross-check the greedy oracle with plain enumeration
        brute = any(
            all((hist[p][1] >> i) & 1 for i, p in enumerate(c)) and ts - hist[c[0]][0] <= within
            for c in itertools.combinations(range(len(hist)), need)
        )
        assert brute == greedy
    return greedy


def as_bools(mask, n):
    return tuple(bool((mask >> i) & 1) for i in range(n))


KEYS = ["a", "b", ("t", 1), 7]
INT_VALUES = st.one_of(
    st.integers(-4, 4), st.integers(-(10**6), 10**6), st.sampled_from([2**62, -(2**62), I64_MAX, I64_MIN, 2**61 + 3])
)
FLOAT_VALUES = st.one_of(
    st.sampled_from([0.0, -0.0, 1.5, -2.25, 3.0, 0.1, 1e300, -1e300]),
    st.sampled_from([NAN, INF, -INF]),
    st.floats(-1e6, 1e6, allow_nan=False),
)


@contextlib.contextmanager
def tiny_blocks(b1=1, b2=3):
    """Compiled kernel with tiny accelerator blocks (min/max block summaries,
    distinct multiset) so that short random streams exercise them."""
    set_tuning(b1_shift=b1, b2_shift=b2, mm_min_cap=max(4, 1 << b1), ms_min_n=4, scan_max=0)
    try:
        yield
    finally:
        set_tuning()


def same_window_state(a, b, ctx):
    assert len(a) == len(b) and a.entry_count() == b.entry_count(), ctx
    assert list(a.keys()) == list(b.keys()), ctx
    assert canon(a.dump()) == canon(b.dump()), ctx
    assert a.watermark == b.watermark, ctx
