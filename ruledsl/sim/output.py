"""Where generated streams may be written, and where the shipped example rulesets are.

``ruledsl generate`` (and ``python -m ruledsl.sim``) write to standard output
unless given ``--out``, and refuse, without ``--force``, a path inside the
installed package or inside the source checkout it runs from (except the
checkout's ``out/`` directory, which git ignores): a generated stream there
ends up in a commit, in a wheel, or among the examples the demo reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The ``ruledsl`` package directory (site-packages/ruledsl, or ruledsl/ in a checkout)."""

SCRATCH_DIR = "out"
"""The checkout's directory for generated files (in .gitignore)."""


def checkout_dir() -> Optional[Path]:
    """The source checkout the package runs from (an editable install or ``PYTHONPATH``), or None."""
    root = PACKAGE_DIR.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "ruledsl"' in text else None


def shipped_rulesets() -> Optional[Path]:
    """The example rulesets: ``ruledsl/rulesets`` in a wheel, ``rulesets/`` in a checkout; None if neither."""
    candidates = [PACKAGE_DIR / "rulesets"]
    root = checkout_dir()
    if root is not None:
        candidates.append(root / "rulesets")
    for path in candidates:
        if path.is_dir() and any(path.glob("*.rdsl")):
            return path
    return None


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.relative_to(directory)
    except ValueError:
        return False
    return True


def protected_location(out: str) -> Optional[str]:
    """Why ``out`` must not be written without ``--force`` (it is in the package or the checkout), or None."""
    path = Path(os.path.abspath(out))
    # resolve the existing part: a symlink into the checkout counts as the checkout
    parent = path.parent.resolve() if path.parent.exists() else path.parent
    path = parent / path.name
    root = checkout_dir()
    if root is not None and _inside(path, root) and not _inside(path, root / SCRATCH_DIR):
        return (
            f"{out} is inside the ruledsl source checkout {root}: generated streams do not belong in the "
            f"repository; write to standard output, to {root / SCRATCH_DIR}/ (ignored by git) or outside, "
            "or pass --force"
        )
    if _inside(path, PACKAGE_DIR):
        return f"{out} is inside the installed ruledsl package ({PACKAGE_DIR}); write it elsewhere, or pass --force"
    return None
