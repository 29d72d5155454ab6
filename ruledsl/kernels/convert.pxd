# Argument conversions shared by the Cython kernels.
#
# Inline only (no module behind this .pxd): each kernel module that cimports
# these gets its own copy, so a conversion costs no cross-module call.
# Pure-Python twin: ruledsl/kernels/convert_py.py.

from libc.stdint cimport int64_t
from cpython.number cimport PyNumber_Index

cdef extern from "Python.h":
    bint PyLong_CheckExact(object o)
    bint PyFloat_CheckExact(object o)
    double PyFloat_AS_DOUBLE(object o)


cdef inline int64_t to_i64(object o) except? -1:
    """int64 from an int or any object with __index__ (never truncates floats)."""
    if PyLong_CheckExact(o):
        return <int64_t>o
    return <int64_t>PyNumber_Index(o)


cdef inline double to_f64(object o) except? -1.0:
    """double from a real number; str/bytes/bytearray are refused (float() would parse them)."""
    if PyFloat_CheckExact(o):
        return PyFloat_AS_DOUBLE(o)
    if isinstance(o, (str, bytes, bytearray)):
        raise TypeError("must be real number, not %s" % type(o).__name__)
    return float(o)
