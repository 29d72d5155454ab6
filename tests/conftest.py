"""Shared test set-up: ``tests/`` on ``sys.path`` so stage folders can import ``strategies``; hypothesis profiles.

The tests are organised by pipeline stage, one folder per package of
``ruledsl/`` (``tests/syntax`` for ``ruledsl/syntax`` and so on); tests of the
project as a whole (docs, wheel, benchmarks) stay at the top.

Hypothesis runs under one of two profiles, chosen by
``HYPOTHESIS_PROFILE``; without it, ``ci`` when ``CI`` is set, else ``dev``:

- ``ci``: derandomized (every run tries the same examples, so a red build is
  reproducible and a green one is not luck), no example database, no
  shrinking (a failure is reported as found, with the blob to replay it:
  shrinking can take minutes on large examples); ``RULEDSL_HYPOTHESIS_SHRINK=1``
  turns shrinking back on.
- ``dev``: random examples, half as many again, shrinking on: the longer, varying
  hunt for local runs and a scheduled job.

A test that sets its own ``max_examples`` keeps it under both profiles.  The
differential and malformed-event tests scale theirs from
``RULEDSL_HYPOTHESIS_EXAMPLES``, by default from the profile's ``max_examples``
(the differential test runs one and a half times as many); the Redis store
tests read the same variable (default 150).  CONTRIBUTING.md, "Hypothesis
profiles", has the table.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

# cached builds (the parser's tables) go to a directory of this test session, never the user's cache
if not os.environ.get("RULEDSL_CACHE_DIR"):
    os.environ["RULEDSL_CACHE_DIR"] = tempfile.mkdtemp(prefix="ruledsl-test-cache-")
    atexit.register(shutil.rmtree, os.environ["RULEDSL_CACHE_DIR"], True)

# engines run the generated-Python evaluator unless a test asks for the compiled one: building a
# Cython evaluator takes seconds of C compiler, and most tests load many rulesets
os.environ.setdefault("RULEDSL_COMPILED", "never")

_SHRINK = bool(os.environ.get("RULEDSL_HYPOTHESIS_SHRINK"))
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    phases=[p for p in Phase if p is not Phase.shrink or _SHRINK],
    suppress_health_check=_SLOW_DATA,
)
settings.register_profile(
    "dev",
    max_examples=150,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_DATA,
)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)
