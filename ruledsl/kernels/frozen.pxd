# A read-only copy of a WindowState (WindowState.copy()); its own module to keep windows.pyx to one concern.
from libc.stdint cimport int64_t

from ruledsl.kernels.slots cimport FrozenSlots


cdef class FrozenWindow(FrozenSlots):
    # _buf: an int32 entry count per slot (padded to 8 bytes), then the entries of every
    # active slot, slot after slot, each in ts order: (ts, value) pairs, or ts alone
    # (count windows, whose values are all 0)
    cdef int64_t* _out         # the entries in _buf
    cdef size_t _words         # int64 words per entry: 1 (ts) or 2 (an Entry)
    cdef bint _isf             # the window's values are doubles
