"""The HTTP routes: decide, batch, health, readiness, metrics, the OpenAPI document; admin in ``admin``.

Handlers call the engine directly on the event loop: a decision takes
microseconds, less than a hand-off to a thread would.  Slow engine calls
(reload, snapshot, expiry) go to a thread.  Errors are JSON
``{"error": {"code", "message", "field"?}}``: 400 bad JSON, 401 no token,
403 wrong scope, 413 too large, 422 a bad event or admin argument (the
engine's message), 503 while draining or when a shared store is down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ruledsl.kernels.values import EventError
from ruledsl.serve.admin import admin_routes
from ruledsl.serve.config import CONFIG_ENV, ServeConfig, Tokens
from ruledsl.serve.http import JSON, HTTPError, decode_json, encode, event_error, json_response, read_body, scope_of
from ruledsl.serve.logs import log
from ruledsl.serve.metrics import CONTENT_TYPE
from ruledsl.serve.service import Service, load_engine

# ---------------------------------------------------------------- decide


async def decide(request: Request) -> Response:
    """``POST /v1/decide``: one event -> its decision (channel view, or the full decision for analysts)."""
    service: Service = request.app.state.service
    started = time.perf_counter()
    try:
        scope = scope_of(request, service, ("channel", "analyst"))
        _not_draining(service)
        event = decode_json(await read_body(request, service), service)
        if not isinstance(event, dict):
            service.metrics.rejected.labels("bad_event").inc()
            raise HTTPError(422, "bad_event", f"an event is a JSON object, not {_json_kind(event)}")
        try:
            decision = service.engine.evaluate(event)
        except EventError as err:
            service.metrics.rejected.labels("bad_event").inc()
            raise HTTPError(422, "bad_event", str(err), err.field) from None
    except HTTPError as err:
        return err.response()
    service.metrics.decisions[decision.action].inc()
    body = encode(decision if scope == "analyst" else decision.channel_view())
    service.metrics.latency_one.observe(time.perf_counter() - started)
    return Response(body, media_type=JSON)


async def decide_batch(request: Request) -> Response:
    """``POST /v1/decide/batch``: ``{"events": [...]}`` -> ``{"results": [...]}`` in the same order.

    A bad event gets ``{"error": {...}}`` in its place; the others are decided.
    """
    service: Service = request.app.state.service
    started = time.perf_counter()
    try:
        scope = scope_of(request, service, ("channel", "analyst"))
        _not_draining(service)
        payload = decode_json(await read_body(request, service), service)
        events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(events, list):
            raise HTTPError(422, "bad_batch", 'a batch is a JSON object {"events": [event, ...]}', "events")
        if len(events) > service.config.max_batch:
            service.metrics.rejected.labels("too_large").inc(len(events))
            raise HTTPError(
                413, "too_large", f"{len(events)} events in one batch; the limit is {service.config.max_batch}"
            )
    except HTTPError as err:
        return err.response()
    results: list[Any] = []
    counters = service.metrics.decisions
    rejected = service.metrics.rejected
    analyst = scope == "analyst"
    objects = [e for e in events if type(e) is dict]
    decided = iter(service.engine.evaluate_many(objects, errors="return"))
    for event in events:
        if type(event) is not dict:  # the engine would read a string as JSON text: not what a batch means
            rejected.labels("bad_event").inc()
            results.append(
                {"error": {"code": "bad_event", "message": f"an event is a JSON object, not {_json_kind(event)}"}}
            )
            continue
        out = next(decided)
        if isinstance(out, EventError):
            rejected.labels("bad_event").inc()
            results.append({"error": event_error(out)})
            continue
        counters[out.action].inc()
        results.append(out if analyst else out.channel_view())
    body = encode({"results": results})
    service.metrics.latency_batch.observe(time.perf_counter() - started)
    return Response(body, media_type=JSON)


def _not_draining(service: Service) -> None:
    if service.draining:
        raise HTTPError(503, "draining", "the service is shutting down; send this to another instance")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "a boolean"


# ---------------------------------------------------------------- health, metrics, OpenAPI


async def healthz(request: Request) -> Response:
    """``GET /healthz``: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """``GET /readyz``: 200 while deciding; 503 while draining (a load balancer stops sending)."""
    service: Service = request.app.state.service
    engine = service.engine
    guard = getattr(engine, "_guard", None)
    body = {
        "status": "draining" if service.draining else "ready",
        "evaluator": engine.evaluator,
        "store": None if guard is None else str(guard.breaker.state),
    }
    return json_response(body, 503 if service.draining else 200)


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus text format."""
    service: Service = request.app.state.service
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``: the API's OpenAPI 3.1 document (docs/openapi.json is the same)."""
    from ruledsl.serve.openapi import document_bytes

    return Response(document_bytes(), media_type=JSON)


async def not_found(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods as JSON errors."""
    status = getattr(exc, "status_code", 404)
    code = "method_not_allowed" if status == 405 else "not_found"
    response = HTTPError(status, code, f"{request.method} {request.url.path}: {code.replace('_', ' ')}").response()
    response.headers.update(getattr(exc, "headers", None) or {})  # a 405 keeps Starlette's Allow header
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered with a JSON 500."""
    log(logging.ERROR, "internal error", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
    logging.getLogger("ruledsl.serve").exception("internal error")
    return HTTPError(500, "internal", "internal error (a bug in ruledsl; see the service's log)").response()


# ---------------------------------------------------------------- the application


def create_app(service: Service) -> Starlette:
    """The Starlette application serving ``service``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    routes = [
        Route("/v1/decide", decide, methods=["POST"]),
        Route("/v1/decide/batch", decide_batch, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *admin_routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found, 500: server_error, Exception: server_error},
    )
    app.state.service = service
    return app


def app_from_env() -> Starlette:
    """The application for a uvicorn worker process: settings from ``RULEDSL_SERVE_CONFIG`` (set by the CLI)."""
    config = msgspec.json.decode(os.environ[CONFIG_ENV], type=ServeConfig)
    service = Service(config, load_engine(config), Tokens.load(config.tokens_file))
    return create_app(service)
