"""Shared test set-up: ``tests/`` on ``sys.path`` so stage folders can import ``strategies``.

The tests are organised by pipeline stage, one folder per package of
``ruledsl/`` (``tests/syntax`` for ``ruledsl/syntax`` and so on); tests of the
project as a whole (docs, wheel, benchmarks) stay at the top.
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
