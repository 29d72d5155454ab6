"""The ``controls:`` expectation of a rule-test step (docs/testing.md, "Controls").

``controls: {A1: restricted}`` expects the event's decision to set exactly
these controls (key -> kind; ``{}``: none).  Keys are compared as text, so
an int key is written as its digits.  A later event blocked by a control an
earlier step set needs nothing new: its ``action``/``fired`` say so.
"""

from __future__ import annotations

from typing import Any, Optional


def expected_controls(raw: dict[Any, str]) -> dict[str, str]:
    """The checked expectation: key (as text) -> kind."""
    return {str(key): kind for key, kind in raw.items()}


def controls_problem(want: dict[str, str], decision: Any) -> Optional[str]:
    """What differs between the expected controls and those the decision set, or ``None``."""
    got = {str(c.key): c.kind for c in decision.controls}
    if got == want:
        return None
    return f"expected {_show(want)}, the decision set {_show(got)}"


def _show(controls: dict[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in controls.items()) or "none"
