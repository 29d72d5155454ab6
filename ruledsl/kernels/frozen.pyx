# cython: language_level=3, cdivision=True, nonecheck=False, overflowcheck=False
# cython: infer_types=False, auto_pickle=False, embedsignature=True, binding=False
"""``FrozenWindow``: the read-only copy ``WindowState.copy()`` returns, for snapshots.

Pure-Python twin: :mod:`ruledsl.kernels.frozen_py`.
"""

from libc.stdint cimport int32_t, int64_t

from ruledsl.kernels.entries cimport Entry

__all__ = ["FrozenWindow"]


cdef class FrozenWindow(FrozenSlots):
    """A read-only copy of a WindowState, as ``WindowState.copy()`` returns it.

    ``dump()``, ``dump_chunks(n)``, ``len()`` and ``watermark`` as the window
    had them when copied (see ``FrozenSlots``).
    """

    cdef object _entries(self, Py_ssize_t slot, int64_t* pos):
        cdef list out = []
        cdef int64_t i, start = pos[0], end = start + (<int32_t*>self._buf)[slot]
        cdef Entry* e
        pos[0] = end
        if self._words == 1:
            for i in range(start, end):
                out.append((self._out[i], 0))
            return out
        for i in range(start, end):
            e = (<Entry*>self._out) + i
            if self._isf:
                out.append((e.ts, e.v.f))
            else:
                out.append((e.ts, e.v.i))
        return out
