"""Prometheus metrics of one service process (``GET /metrics``).

Counters kept by the service: decisions by action, rejected events by
reason, request latency by endpoint, holds expired by the wall-clock task.
Read from the engine at scrape time: late events, events evaluated without
the store (its fault policy applied), the circuit breaker's state.  Each
worker process has its own registry: with ``--workers > 1`` a scrape sees
the worker that answered it (docs/serve.md, "Metrics").

The service's own figures are plain integers and floats, rendered by a
collector at scrape time, not ``prometheus_client`` Counters and
Histograms: those take a lock per increment and walk their buckets in
Python, a few microseconds a request on the decide path.  Only the event
loop's thread changes them (every handler runs there), so no lock is needed.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ruledsl.syntax.nodes import ACTIONS

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
REJECT_REASONS = ("bad_json", "bad_event", "too_large")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Latency:
    """A latency histogram without locks: counts per bucket, the sum, updated on the event loop's thread."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: over the largest bound (+Inf)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative counts by upper bound, as Prometheus wants them."""
        out, total = [], 0
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), self.counts, strict=True):
            total += n
            out.append((floatToGoString(bound), total))
        return out


class _Collector(Collector):
    """The service's counters and the figures the engine keeps itself, read when Prometheus scrapes."""

    def __init__(self, metrics: Metrics, engine: Callable[[], Any]) -> None:
        self._metrics = metrics
        self._engine = engine

    def collect(self) -> Iterator[Any]:
        """Every metric of the service (docs/serve.md, "Metrics")."""
        m = self._metrics
        decisions = CounterMetricFamily("ruledsl_decisions", "Decisions by action", labels=["action"])
        for action, n in m.decisions.items():
            decisions.add_metric([action], n)
        yield decisions
        rejected = CounterMetricFamily(
            "ruledsl_rejected_events", "Events refused (bad JSON, bad event, too large), by reason", labels=["reason"]
        )
        for reason, n in m.rejected.items():
            rejected.add_metric([reason], n)
        yield rejected
        latency = HistogramMetricFamily(
            "ruledsl_request_seconds", "Time to answer a decide request, by endpoint", labels=["endpoint"]
        )
        for endpoint, hist in m.latency.items():
            latency.add_metric([endpoint], hist.buckets(), hist.sum)
        yield latency
        expired = CounterMetricFamily("ruledsl_holds_expired", "Holds the wall-clock task expired into blocks")
        expired.add_metric([], m.holds_expired)
        yield expired
        yield from engine_metrics(self._engine())


def engine_metrics(engine: Any) -> Iterator[Any]:
    """Late events, store errors and, with a state store, its circuit breaker's state."""
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
    """The registry and the service's own counters (plain numbers: see the module's docstring)."""

    def __init__(self, engine: Callable[[], Any]) -> None:
        disable_created_metrics()  # the *_created series double the output and tell an operator nothing
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        self.rejected: dict[str, int] = dict.fromkeys(REJECT_REASONS, 0)
        self.latency_one = Latency()
        self.latency_batch = Latency()
        self.latency = {"decide": self.latency_one, "decide_batch": self.latency_batch}
        self.holds_expired = 0
        self.registry.register(_Collector(self, engine))

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
