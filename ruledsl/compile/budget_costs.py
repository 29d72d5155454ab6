"""Bytes per key and per entry of the state kernels, measured from the kernels themselves.

``ruledsl lint --budget`` multiplies key and entry counts by these figures.
They are not constants copied from a table: ``window_cost`` and
``sequence_cost`` build the kernel the engine would build (Cython or pure
Python, whichever ``ruledsl.kernels.state`` selects), fill it with
``KEYS`` keys of one entry, then of ``ENTRIES`` entries each, and read
``nbytes()`` - the same number ``engine.stats()`` reports.  So the model and
the engine's own accounting cannot drift apart when a kernel changes; the
measurement takes a few milliseconds per aggregate and is cached.

``python -m ruledsl.compile.budget_costs`` prints the table (docs/bench.md
quotes it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ruledsl.kernels import state as _state
from ruledsl.kernels.last import LastState

KEYS = 3000
"""Keys per measurement: the fixed part is amortised, and 3000 is not a power of two, so the
table's spare capacity (it doubles) is in the figure, as it is in a live engine's."""

ENTRIES = 24
"""Entries per key for the per-entry slope: past the inline single entry into the malloc'd
buffers, again between two powers of two."""

_SPAN_MS = 10**12  # nothing expires while measuring
_STEP_MS = 1_000


@dataclass(frozen=True)
class KernelCost:
    """Measured bytes: ``per_key`` for a key holding one entry, ``per_entry`` for each further entry."""

    per_key: float
    per_entry: float
    kernel: str  # which implementation was measured ("cython" or "python")
    base: int = 0  # an empty kernel's bytes (its table's initial capacity)


def _kernel_name() -> str:
    return "cython" if _state.COMPILED else "python"


def _new_window(agg: str, is_float: bool):
    if agg == "last":
        return LastState(_SPAN_MS, 0)
    return _state.WindowState(agg, _SPAN_MS, 0, is_float)


def _value(agg: str, is_float: bool, k: int, i: int):
    if agg == "distinct":
        return k * 1_000_003 + i  # every entry a new value: distinct's worst case
    if agg == "last":
        return f"v{i}"  # last(x) values are often strings (a city, a device)
    return float(i) + 0.5 if is_float else i * 100


def _fill(kernel, agg: str, is_float: bool, entries: int) -> int:
    for k in range(KEYS):
        key = f"key-{k}"
        for i in range(entries):
            kernel.add(key, 1_000_000 + i * _STEP_MS, _value(agg, is_float, k, i))
    return kernel.nbytes()


@functools.cache
def window_cost(agg: str, is_float: bool = False) -> KernelCost:
    """Bytes per key and per further entry of a window with aggregate ``agg``, measured now."""
    one = _fill(_new_window(agg, is_float), agg, is_float, 1)
    many = _fill(_new_window(agg, is_float), agg, is_float, ENTRIES)
    per_entry = max(0.0, (many - one) / (KEYS * (ENTRIES - 1)))
    if agg in ("last", "since"):
        # these keep about one entry per key (older ones are dominated), so the
        # slope measured with 32 ascending entries is not what a key costs
        per_entry = 0.0
    base = _new_window(agg, is_float).nbytes()
    return KernelCost(per_key=(one - base) / KEYS, per_entry=per_entry, kernel=_kernel_name(), base=base)


@functools.cache
def sequence_cost(n_steps: int) -> KernelCost:
    """Bytes per key of a sequence of ``n_steps`` steps (one record per key), measured now."""
    seq = _state.SequenceState(n_steps, _SPAN_MS)
    base = seq.nbytes()
    first = tuple(i == 0 for i in range(n_steps))
    for k in range(KEYS):
        seq.add(f"key-{k}", 1_000_000, first)
    return KernelCost(per_key=(seq.nbytes() - base) / KEYS, per_entry=0.0, kernel=_kernel_name(), base=base)


def cost_table() -> list[tuple[str, KernelCost]]:
    """Every aggregate's (and 2- to 4-step sequences') measured cost, for the docs."""
    rows = [(agg, window_cost(agg)) for agg in _state.AGGREGATES]
    rows += [(f"{agg} (float)", window_cost(agg, True)) for agg in ("sum", "avg", "min", "max")]
    rows += [(f"sequence/{n}", sequence_cost(n)) for n in (2, 3, 4)]
    return rows


def main() -> None:
    """Print the measured table (``python -m ruledsl.compile.budget_costs``)."""
    print(f"kernels: {_kernel_name()}; {KEYS} keys, 1 and {ENTRIES} entries per key")
    print(f"{'kernel':<16} {'B/key':>8} {'B/entry':>8} {'empty B':>8}")
    for name, c in cost_table():
        print(f"{name:<16} {c.per_key:>8.1f} {c.per_entry:>8.1f} {c.base:>8}")


if __name__ == "__main__":
    main()
