"""``Engine.explain``: the hook for explanations with margins (docs/explain.md).

The explanation itself is computed by ``ruledsl.oracle.explain`` on the
reference interpreter's expression semantics.  The oracle sits above the
runtime in the layer order, so the runtime never imports it: the oracle
*registers* its implementation here when it is imported, and the package
facade (``ruledsl/__init__.py``) imports it, so any program that can reach an
``Engine`` (importing ``ruledsl.runtime.engine`` initialises the ``ruledsl``
package first) has it registered.

What the runtime provides is a consistent view of the engine for one event:
``_explain_view`` runs ``peek`` and the explainer's probe under one
acquisition of the engine's lock, so no event evaluated by another thread
falls between the decision and the values that explain it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ruledsl.kernels.values import EventError

_EXPLAINER: list[Optional[Callable[[Any, Any], Any]]] = [None]


def register_explainer(fn: Callable[[Any, Any], Any]) -> None:
    """Install the implementation of ``Engine.explain`` (called by ``ruledsl.oracle.explain`` on import)."""
    _EXPLAINER[0] = fn


class ExplainMixin:
    """``explain(event)``: why each rule of the event's type fired or not, with margins."""

    _lock: Any
    _fns: dict[str, Any]
    _coerce: Any
    _function_for: Any

    def explain(self, event: Any) -> Any:
        """Explain what ``peek(event)`` decides: per rule, each comparison with its margin (docs/explain.md).

        Returns a ``ruledsl.oracle.explain.Explanation`` (msgspec structs, JSON-serialisable).  The
        engine's state is not changed.  Raises ``EventError`` for a malformed event, as ``evaluate``.
        """
        fn = _EXPLAINER[0]
        if fn is None:  # only when the facade was bypassed entirely (it registers the explainer)
            raise RuntimeError("explanations need ruledsl.oracle.explain: import ruledsl")
        return fn(self, event)

    def _explain_view(self, event: Any, probe: Callable[[dict[str, Any]], Any]) -> tuple[Any, Any]:
        """(``peek(event)``, ``probe(event)``) under one lock acquisition; the event as a dict is coerced first."""
        if type(event) is not dict:
            event = self._coerce(event)
        with self._lock:
            try:
                fn = self._fns[event["type"]]
            except (KeyError, TypeError):
                fn = self._function_for(event)
            decision = fn(event, False)  # raises EventError for a malformed event, as peek
            return decision, probe(event)


__all__ = ["EventError", "ExplainMixin", "register_explainer"]
