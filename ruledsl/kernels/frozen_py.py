"""``FrozenWindow`` (pure-Python twin of :mod:`ruledsl.kernels.frozen`): the copy ``WindowState.copy()`` returns."""

from __future__ import annotations

from ruledsl.kernels.slots_py import FrozenSlots

__all__ = ["FrozenWindow"]


class FrozenWindow(FrozenSlots):
    """A read-only copy of a WindowState, as ``WindowState.copy()`` returns it (see ``FrozenSlots``)."""

    __slots__ = ()
