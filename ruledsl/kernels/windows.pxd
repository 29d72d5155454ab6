# The C entry points of the window kernel (windows.pyx), for compiled evaluators.
#
# A compiled evaluator (ruledsl/compile/emit_cy.py) cimports these and calls a
# kernel without a Python method call.  `w` must be a WindowState (checked);
# `t` is the event's epoch-ms timestamp; the value is converted as the
# methods `query`, `query_add` and `add` convert it, with the same errors.

from libc.stdint cimport int64_t

cdef object window_query(object w, object key, int64_t t, object value, bint include_current)
cdef object window_query_add(object w, object key, int64_t t, object value, bint include_current)
cdef int window_add(object w, object key, int64_t t, object value) except -1
