"""The Cython evaluator on the Redis store: the batched code compiled, decisions as in memory, outages alike.

Starts its own redis-server on 127.0.0.1 (skips without one locally; CI installs it).
"""

from __future__ import annotations

import pytest
from test_redis_engine import SOURCE, _events, _redis_store, redis_server  # noqa: F401 -- the fixture
from test_redis_store import _require_redis

from ruledsl.check.checker import check
from ruledsl.compile import build as _build
from ruledsl.runtime.engine import build_engine
from ruledsl.syntax.loader import load_text

pytestmark = pytest.mark.skipif(_build.unavailable_reason() is not None, reason="no compiled evaluator here")


def _engine(store=None, compiled="never"):
    result = check(load_text(SOURCE, "redis_demo.rdsl"))
    return build_engine(result, store=store, evaluator_mode=compiled, on_store_error="fail_closed")


def test_compiled_evaluator_on_redis_decides_like_memory(redis_server):  # noqa: F811 -- the fixture
    _require_redis()
    memory = _engine()
    shared = _engine(_redis_store(redis_server), compiled="require")
    assert shared.evaluator == "cython"
    events = _events(300)
    for event in events[:200]:
        assert shared.evaluate(event) == memory.evaluate(event)
    # an outage: the compiled evaluator takes the fault policy's path (fail_closed: at least hold, degraded)
    redis_server.close()
    d = shared.evaluate(events[200])
    assert d.degraded and d.action in ("hold", "block")
    assert shared.store_errors >= 1
