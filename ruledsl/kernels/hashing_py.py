"""stable_hash: a process-independent 64-bit FNV-1a hash of keys (pure-Python twin of ``hashing.pyx``)."""

from __future__ import annotations

import struct
from typing import Any

from ruledsl.kernels.convert_py import I64_MAX, I64_MIN

__all__ = ["stable_hash"]

_U64 = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_CANON_NAN = 0x7FF8000000000000
_MAX_HASH_DEPTH = 100
_pack_q = struct.Struct("<q").pack
_pack_Q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack
_unpack_Q = struct.Struct("<Q").unpack


def _fnv(h: int, data: bytes) -> int:
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _U64
    return h


def _hash_u64(value: Any, depth: int = 0) -> int:
    t = type(value)
    if t is str or isinstance(value, str):
        return _fnv(_fnv(_FNV_OFFSET, b"s"), value.encode("utf-8", "surrogatepass"))
    if t is int or t is bool or isinstance(value, int):
        v = int(value)
        if I64_MIN <= v <= I64_MAX:
            return _fnv(_fnv(_FNV_OFFSET, b"i"), _pack_q(v))
        return _fnv(_fnv(_FNV_OFFSET, b"I"), str(v).encode("ascii"))
    if t is float or isinstance(value, float):
        f = float(value)
        if f == f and -9223372036854775808.0 <= f < 9223372036854775808.0 and f == int(f):
            # integral floats hash like the equal int (1.0 == 1, -0.0 == 0)
            return _fnv(_fnv(_FNV_OFFSET, b"i"), _pack_q(int(f)))
        bits = _CANON_NAN if f != f else _unpack_Q(_pack_d(f))[0]
        return _fnv(_fnv(_FNV_OFFSET, b"f"), _pack_Q(bits))
    if value is None:
        return _fnv(_FNV_OFFSET, b"n")
    if t is bytes or t is bytearray or isinstance(value, (bytes, bytearray)):
        return _fnv(_fnv(_FNV_OFFSET, b"b"), bytes(value))
    if t is tuple or isinstance(value, tuple):
        if depth >= _MAX_HASH_DEPTH:
            raise ValueError(f"stable_hash: tuples nested deeper than {_MAX_HASH_DEPTH}")
        h = _fnv(_fnv(_FNV_OFFSET, b"t"), _pack_q(len(value)))
        for item in value:
            h = _fnv(h, _pack_Q(_hash_u64(item, depth + 1)))
        return h
    raise TypeError(f"stable_hash: unsupported type {t.__name__}")


def stable_hash(value: Any) -> int:
    """Stable, process-independent signed 64-bit hash (FNV-1a 64).

    Encoding fed to FNV-1a 64 (offset 0xcbf29ce484222325, prime 0x100000001b3):

    * ``str``: ``b"s"`` + UTF-8 (``surrogatepass``) bytes
    * ``int``/``bool`` in int64 range: ``b"i"`` + 8-byte little-endian two's
      complement; bigger ints: ``b"I"`` + ASCII decimal ``str(v)``
    * ``float``: integral finite floats in int64 range hash exactly like the
      equal int (``1.0`` ~ ``1``, ``-0.0`` ~ ``0``); other floats ``b"f"`` +
      8-byte LE IEEE-754 bits (all NaNs canonicalised to 0x7ff8000000000000)
    * ``None``: ``b"n"``
    * ``bytes``/``bytearray``: ``b"b"`` + raw bytes
    * ``tuple``: ``b"t"`` + 8-byte LE length, then for each element the
      8-byte LE unsigned hash of the element (recursively)

    The unsigned 64-bit result is returned as a signed int64.  Other types
    raise ``TypeError``; tuples nested deeper than 100 raise ``ValueError``.
    """
    h = _hash_u64(value)
    return h - (1 << 64) if h >= (1 << 63) else h
