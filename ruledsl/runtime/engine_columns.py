"""The columnar ways into an engine: ``evaluate_columns`` (and, next, ``evaluate_arrow``).

A mixin of ``Engine``: it uses the engine's ``evaluate_many`` and
``row_functions`` and holds no state of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ruledsl.kernels.values import EventError


class ColumnsMixin:
    """Columnar batches in, decisions out."""

    evaluate_many: Any  # provided by Engine

    def evaluate_columns(self, columns: Mapping[str, Sequence[Any]]) -> list[Any]:
        """Evaluate a columnar batch: ``{"type": [...], "ts": [...], "amount": [...], ...}``.

        Columns may be lists, NumPy arrays or Arrow arrays (anything with
        ``tolist()`` or indexable); every column has one value per event, None
        where a field is absent.
        """
        names = list(columns)
        cols = [
            c.tolist() if hasattr(c, "tolist") else (c.to_pylist() if hasattr(c, "to_pylist") else list(c))
            for c in columns.values()
        ]
        if len({len(c) for c in cols}) > 1:
            raise EventError("columns have different lengths")
        return self.evaluate_many(
            {k: v for k, v in zip(names, row, strict=True) if v is not None} for row in zip(*cols, strict=True)
        )

    # ---------------------------------------------------------------- run-time changes
