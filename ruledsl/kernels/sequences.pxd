# The C entry points of the sequence kernel (sequences.pyx), for compiled evaluators.
#
# As windows.pxd: `s` must be a SequenceState (checked); same conversions and
# errors as the methods `query` and `add`.

from libc.stdint cimport int64_t

cdef object sequence_query(object s, object key, int64_t t, object matches)
cdef int sequence_add(object s, object key, int64_t t, object matches) except -1
