"""Argument conversions of the state kernels (pure-Python twin of ``convert.pxd``).

Both raise exactly where the Cython conversions raise, so the two kernel
implementations accept and reject the same arguments.
"""

from __future__ import annotations

from operator import index as _index
from typing import Any

__all__ = ["I64_MAX", "I64_MIN", "to_f64", "to_i64"]

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1


def to_i64(x: Any) -> int:
    """int64 from an int or any object with ``__index__`` (never truncates floats)."""
    v = _index(x)
    if v < I64_MIN or v > I64_MAX:
        raise OverflowError("value does not fit in a signed 64-bit integer")
    return v


def to_f64(x: Any) -> float:
    """float from a real number; str/bytes/bytearray are refused (float() would parse them)."""
    if isinstance(x, (str, bytes, bytearray)):
        raise TypeError(f"must be real number, not {type(x).__name__}")
    return float(x)
