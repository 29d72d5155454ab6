"""The HTTP application: health, readiness, metrics, the OpenAPI document; decide in ``decide``, admin in ``admin``.

``ServeApp`` hands the two decide calls straight to their ASGI endpoints
(``decide``: the hot path skips Starlette's layers) and everything else to
Starlette's routing.  Slow engine calls (reload, snapshot, expiry) go to a
thread.  Errors are JSON
``{"error": {"code", "message", "field"?}}``: 400 bad JSON, 401 no token,
403 wrong scope, 413 too large, 422 a bad event or admin argument (the
engine's message), 503 while draining or when a shared store is down.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ruledsl.serve.admin import admin_routes
from ruledsl.serve.config import CONFIG_ENV, ServeConfig, Tokens
from ruledsl.serve.decide import Decide, DecideBatch, Receive, Scope, Send
from ruledsl.serve.http import JSON, HTTPError, json_response
from ruledsl.serve.logs import log
from ruledsl.serve.metrics import CONTENT_TYPE
from ruledsl.serve.service import Service, load_engine

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


class ServeApp(Starlette):
    """Starlette, with a shortcut for the decide calls: ``POST`` to their paths goes straight to their endpoint."""

    fast: dict[str, Any]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI call."""
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.fast.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(service: Service) -> ServeApp:
    """The application serving ``service``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    fast = {"/v1/decide": Decide(service), "/v1/decide/batch": DecideBatch(service)}
    routes = [  # the decide paths too: another method gets its 405 from the router
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in fast.items()),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *admin_routes(),
    ]
    app = ServeApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found, 500: server_error, Exception: server_error},
    )
    app.state.service = service
    app.fast = fast
    return app


def app_from_env() -> ServeApp:
    """The application for a uvicorn worker process: settings from ``RULEDSL_SERVE_CONFIG`` (set by the CLI)."""
    config = msgspec.json.decode(os.environ[CONFIG_ENV], type=ServeConfig)
    service = Service(config, load_engine(config), Tokens.load(config.tokens_file))
    return create_app(service)
