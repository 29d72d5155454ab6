"""Prometheus metrics of one service process (``GET /metrics``).

Counters kept by the service: decisions by action, rejected events by
reason, request latency by endpoint, holds expired by the wall-clock task.
Read from the engine at scrape time: late events, events evaluated without
the store (its fault policy applied), the circuit breaker's state.  Each
worker process has its own registry: with ``--workers > 1`` a scrape sees
the worker that answered it (docs/serve.md, "Metrics").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ruledsl.syntax.nodes import ACTIONS

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _EngineCollector(Collector):
    """Figures the engine keeps itself, read when Prometheus scrapes."""

    def __init__(self, engine: Callable[[], Any]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Any]:
        """Late events, store errors and the circuit breaker's state of the current engine."""
        engine = self._engine()
        late = CounterMetricFamily("ruledsl_late_events", "Events later than the ruleset's allowed lateness")
        late.add_metric([], engine.late_events)
        yield late
        errors = CounterMetricFamily(
            "ruledsl_store_errors", "Events evaluated without the external state store (its fault policy applied)"
        )
        errors.add_metric([], engine.store_errors)
        yield errors
        guard = getattr(engine, "_guard", None)
        if guard is not None:
            state = GaugeMetricFamily(
                "ruledsl_store_circuit_state", "The state store's circuit breaker: 0 closed, 1 half-open, 2 open"
            )
            state.add_metric([], BREAKER_STATES.get(str(guard.breaker.state).lower().replace("-", "_"), -1))
            yield state


class Metrics:
    """The registry and the service's own metrics."""

    def __init__(self, engine: Callable[[], Any]) -> None:
        disable_created_metrics()  # the *_created series double the output and tell an operator nothing
        self.registry = CollectorRegistry(auto_describe=True)
        decisions = Counter("ruledsl_decisions", "Decisions by action", ["action"], registry=self.registry)
        # children bound once: the hot path increments without a label lookup
        self.decisions = {action: decisions.labels(action) for action in ACTIONS}
        self.rejected = Counter(
            "ruledsl_rejected_events",
            "Events refused (bad JSON, bad event, too large), by reason",
            ["reason"],
            registry=self.registry,
        )
        latency = Histogram(
            "ruledsl_request_seconds",
            "Time to answer a decide request, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.latency_one = latency.labels("decide")
        self.latency_batch = latency.labels("decide_batch")
        self.holds_expired = Counter(
            "ruledsl_holds_expired", "Holds the wall-clock task expired into blocks", registry=self.registry
        )
        self.registry.register(_EngineCollector(engine))

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
