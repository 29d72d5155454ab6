# cython: language_level=3, cdivision=True, nonecheck=False, overflowcheck=False
# cython: infer_types=False, auto_pickle=False, embedsignature=True, binding=False
"""stable_hash: a process-independent 64-bit FNV-1a hash of keys (Cython).

Pure-Python twin, with the exact byte encoding documented:
:mod:`ruledsl.kernels.hashing_py`.
"""

from libc.stdint cimport int64_t, uint64_t
from cpython.long cimport PyLong_AsLongLongAndOverflow

cdef extern from "Python.h":
    bint PyFloat_CheckExact(object o)
    double PyFloat_AS_DOUBLE(object o)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    char* PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)
    char* PyByteArray_AS_STRING(object o)
    Py_ssize_t PyByteArray_GET_SIZE(object o)

__all__ = ["stable_hash"]

cdef enum:
    _MAX_HASH_DEPTH = 100

cdef uint64_t _FNV_OFFSET = <uint64_t>0xCBF29CE484222325
cdef uint64_t _FNV_PRIME = <uint64_t>0x100000001B3
cdef uint64_t _CANON_NAN = <uint64_t>0x7FF8000000000000


cdef union _Bits:
    int64_t i
    double f


cdef inline uint64_t _fnv_bytes(uint64_t h, const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * _FNV_PRIME
    return h


cdef inline uint64_t _fnv_byte(uint64_t h, unsigned char b) noexcept nogil:
    return (h ^ b) * _FNV_PRIME


cdef inline uint64_t _fnv_u64(uint64_t h, uint64_t x) noexcept nogil:
    cdef int i
    for i in range(8):
        h = (h ^ (x & 0xFF)) * _FNV_PRIME
        x >>= 8
    return h


cdef uint64_t _hash_obj(object value, int depth) except? 0:
    cdef uint64_t h
    cdef Py_ssize_t n
    cdef const char* p
    cdef int overflow = 0
    cdef long long iv
    cdef double d
    cdef _Bits u
    if isinstance(value, str):
        h = _fnv_byte(_FNV_OFFSET, b's')
        if PyUnicode_IS_COMPACT_ASCII(value):
            return _fnv_bytes(h, <const unsigned char*>PyUnicode_DATA(value), PyUnicode_GET_LENGTH(value))
        try:
            p = PyUnicode_AsUTF8AndSize(value, &n)
        except UnicodeEncodeError:
            b = (<str>value).encode("utf-8", "surrogatepass")
            return _fnv_bytes(h, <const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        return _fnv_bytes(h, <const unsigned char*>p, n)
    if isinstance(value, int):
        iv = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0:
            return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'i'), <uint64_t>iv)
        b = str(int(value)).encode("ascii")
        return _fnv_bytes(_fnv_byte(_FNV_OFFSET, b'I'), <const unsigned char*>PyBytes_AS_STRING(b),
                          PyBytes_GET_SIZE(b))
    if isinstance(value, float):
        d = PyFloat_AS_DOUBLE(value) if PyFloat_CheckExact(value) else float(value)
        if d == d and d >= -9223372036854775808.0 and d < 9223372036854775808.0 \
                and d == <double>(<int64_t>d):
            return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'i'), <uint64_t>(<int64_t>d))
        if d != d:
            return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'f'), _CANON_NAN)
        u.f = d
        return _fnv_u64(_fnv_byte(_FNV_OFFSET, b'f'), <uint64_t>u.i)
    if value is None:
        return _fnv_byte(_FNV_OFFSET, b'n')
    if isinstance(value, bytes):
        return _fnv_bytes(_fnv_byte(_FNV_OFFSET, b'b'), <const unsigned char*>PyBytes_AS_STRING(value),
                          PyBytes_GET_SIZE(value))
    if isinstance(value, bytearray):
        return _fnv_bytes(_fnv_byte(_FNV_OFFSET, b'b'), <const unsigned char*>PyByteArray_AS_STRING(value),
                          PyByteArray_GET_SIZE(value))
    if isinstance(value, tuple):
        if depth >= _MAX_HASH_DEPTH:
            raise ValueError("stable_hash: tuples nested deeper than %d" % _MAX_HASH_DEPTH)
        h = _fnv_u64(_fnv_byte(_FNV_OFFSET, b't'), <uint64_t>len(<tuple>value))
        for item in <tuple>value:
            h = _fnv_u64(h, _hash_obj(item, depth + 1))
        return h
    raise TypeError("stable_hash: unsupported type %s" % type(value).__name__)


def stable_hash(value):
    """stable_hash(value) -> int

    Stable, process-independent signed 64-bit FNV-1a hash of str, int, bool,
    float, None, bytes, bytearray and tuples of those nested at most 100
    deep (deeper raises ValueError).  See
    ruledsl.kernels.hashing_py.stable_hash for the exact byte encoding.
    """
    return <int64_t>_hash_obj(value, 0)
