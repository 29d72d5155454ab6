"""``POST /v1/decide`` and ``POST /v1/decide/batch`` as plain ASGI applications.

The two decide calls are the service's hot path, so they skip Starlette's
layers (error middlewares, the router, Request and Response objects): the
application (``app.ServeApp``) hands a POST to either path straight to
these, which read the headers and body from the ASGI messages, decide, and
send one start and one body message.  What they answer is the same as any
other route's: JSON errors ``{"error": {...}}`` (``http.HTTPError``), a bug
logged with its traceback and answered 500.  Starlette still routes the
paths (the same objects), so another method gets its 405.

Handlers call the engine directly on the event loop: a decision takes
microseconds, less than a hand-off to a thread would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Optional

from ruledsl.kernels.values import EventError
from ruledsl.serve.http import HTTPError, decode, encode, event_error, role_of
from ruledsl.serve.logs import log
from ruledsl.serve.service import Service

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADER = (b"content-type", b"application/json")
_DECIDERS = ("channel", "analyst")


class _Gone(Exception):
    """The client closed the connection before its body arrived: nothing to answer."""


async def _send(send: Send, status: int, body: bytes, auth: bool = False) -> None:
    headers = [_JSON_HEADER, (b"content-length", b"%d" % len(body))]
    if auth:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _request(scope: Scope, receive: Receive, service: Service) -> tuple[str, bytes]:
    """The caller's role (401/403 as ``HTTPError``) and the body (at most ``--max-body`` bytes, else 413)."""
    authorization: Optional[bytes] = None
    length: Optional[bytes] = None
    for name, value in scope["headers"]:  # the server gives header names in lower case
        if name == b"authorization":
            authorization = value
        elif name == b"content-length":
            length = value
    role = role_of(None if authorization is None else authorization.decode("latin-1"), service.tokens, _DECIDERS)
    if service.draining:
        raise HTTPError(503, "draining", "the service is shutting down; send this to another instance")
    limit = service.config.max_body
    if length is not None and length.isdigit() and int(length) > limit:
        service.metrics.rejected["too_large"] += 1
        raise HTTPError(413, "too_large", f"the request body is {int(length)} bytes; the limit is {limit} (--max-body)")
    message = await receive()
    if message["type"] != "http.request":
        raise _Gone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            service.metrics.rejected["too_large"] += 1
            raise HTTPError(413, "too_large", f"the request body is over {limit} bytes (--max-body)")
        return role, body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            service.metrics.rejected["too_large"] += 1
            raise HTTPError(413, "too_large", f"the request body is over {limit} bytes (--max-body)")
        chunks.append(chunk)
    return role, b"".join(chunks)


def _json(body: bytes, service: Service) -> Any:
    try:
        return decode(body)
    except ValueError as err:  # msgspec.DecodeError is a ValueError
        service.metrics.rejected["bad_json"] += 1
        raise HTTPError(400, "bad_json", f"the body is not valid JSON: {err}") from None


def json_kind(value: Any) -> str:
    """What a JSON value is, for a message saying it is not an object."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "a boolean"


class _Endpoint:
    """A decide endpoint: the request read, the answer sent, errors as JSON, a bug as a logged 500."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request."""
        started = time.perf_counter()
        try:
            try:
                role, body = await _request(scope, receive, self.service)
                answer = self.answer(role, _json(body, self.service), started)
            except HTTPError as err:
                await _send(send, err.status, err.body(), err.status == 401)
                return
            except _Gone:
                return
        except Exception as err:
            log(logging.ERROR, "internal error", path=scope.get("path"), error=f"{type(err).__name__}: {err}")
            logging.getLogger("ruledsl.serve").exception("internal error")
            error = HTTPError(500, "internal", "internal error (a bug in ruledsl; see the service's log)")
            await _send(send, 500, error.body())
            return
        await _send(send, 200, answer)

    def answer(self, role: str, payload: Any, started: float) -> bytes:
        """The 200 answer's body for ``payload``; ``HTTPError`` for a refusal."""
        raise NotImplementedError


class Decide(_Endpoint):
    """``POST /v1/decide``: one event -> its decision (channel view, or the full decision for analysts)."""

    def answer(self, role: str, payload: Any, started: float) -> bytes:
        """The decision's JSON."""
        service = self.service
        if type(payload) is not dict:
            service.metrics.rejected["bad_event"] += 1
            raise HTTPError(422, "bad_event", f"an event is a JSON object, not {json_kind(payload)}")
        try:
            decision = service.engine.evaluate(payload)
        except EventError as err:
            service.metrics.rejected["bad_event"] += 1
            raise HTTPError(422, "bad_event", str(err), err.field) from None
        metrics = service.metrics
        metrics.decisions[decision.action] += 1
        body = encode(decision if role == "analyst" else decision.channel_view())
        metrics.latency_one.observe(time.perf_counter() - started)
        return body


class DecideBatch(_Endpoint):
    """``POST /v1/decide/batch``: ``{"events": [...]}`` -> ``{"results": [...]}`` in the same order.

    A bad event gets ``{"error": {...}}`` in its place; the others are decided.
    """

    def answer(self, role: str, payload: Any, started: float) -> bytes:
        """The results' JSON."""
        service = self.service
        metrics = service.metrics
        events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(events, list):
            raise HTTPError(422, "bad_batch", 'a batch is a JSON object {"events": [event, ...]}', "events")
        if len(events) > service.config.max_batch:
            metrics.rejected["too_large"] += len(events)
            raise HTTPError(
                413, "too_large", f"{len(events)} events in one batch; the limit is {service.config.max_batch}"
            )
        results: list[Any] = []
        counts = metrics.decisions
        analyst = role == "analyst"
        objects = [e for e in events if type(e) is dict]
        decided = iter(service.engine.evaluate_many(objects, errors="return"))
        bad = 0
        for event in events:
            if type(event) is not dict:  # the engine would read a string as JSON text: not what a batch means
                bad += 1
                results.append(
                    {"error": {"code": "bad_event", "message": f"an event is a JSON object, not {json_kind(event)}"}}
                )
                continue
            out = next(decided)
            if isinstance(out, EventError):
                bad += 1
                results.append({"error": event_error(out)})
                continue
            counts[out.action] += 1
            results.append(out if analyst else out.channel_view())
        metrics.rejected["bad_event"] += bad
        body = encode({"results": results})
        metrics.latency_batch.observe(time.perf_counter() - started)
        return body
