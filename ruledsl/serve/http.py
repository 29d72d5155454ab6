"""Request and response helpers shared by the routes: errors, tokens, bodies, JSON."""

from __future__ import annotations

from typing import Any, Optional

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ruledsl.kernels.values import EventError
from ruledsl.serve.config import Tokens
from ruledsl.serve.service import Service

JSON = "application/json"
encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder().decode


class HTTPError(Exception):
    """An answer other than 200, with its JSON error body."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> bytes:
        """The JSON error body."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return encode({"error": body})

    def response(self) -> Response:
        """The error as a JSON response."""
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return Response(self.body(), status_code=self.status, media_type=JSON, headers=headers)


def json_response(value: Any, status: int = 200) -> Response:
    """``value`` (msgspec Structs included) as a JSON response."""
    return Response(encode(value), status_code=status, media_type=JSON)


# ---------------------------------------------------------------- request helpers


def scope_of(request: Request, service: Service, allowed: tuple[str, ...]) -> str:
    """The scope of the request's bearer token (``role_of`` on its Authorization header)."""
    return role_of(request.headers.get("authorization"), service.tokens, allowed)


def bearer(authorization: Optional[str]) -> str:
    """The token of an ``Authorization: Bearer TOKEN`` header ("" without one)."""
    kind, _, token = (authorization or "").partition(" ")
    return token.strip() if kind.lower() == "bearer" else ""


def role_of(authorization: Optional[str], tokens: Tokens, allowed: tuple[str, ...]) -> str:
    """The scope of a bearer token; 401 without a valid one, 403 for a scope not in ``allowed``.

    With no channel token configured, a request without a token is a channel
    request when ``channel`` is allowed.
    """
    if authorization is None:
        if tokens.open_channel and "channel" in allowed:
            return "channel"
        raise HTTPError(401, "unauthorized", "this call needs a bearer token (Authorization: Bearer TOKEN)")
    token = bearer(authorization)
    scope = tokens.scope_of(token) if token else None
    if scope is None:
        raise HTTPError(401, "unauthorized", "the bearer token is not valid")
    if scope not in allowed:
        raise HTTPError(
            403,
            "forbidden",
            f"{'an' if scope[0] in 'aeiou' else 'a'} {scope} token cannot make this call; it needs {' or '.join(allowed)}",
        )
    return scope


async def read_body(request: Request, service: Service) -> bytes:
    """The request body, at most ``--max-body`` bytes (413 beyond, without reading the rest)."""
    limit = service.config.max_body
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        service.metrics.rejected["too_large"] += 1
        raise HTTPError(413, "too_large", f"the request body is {length} bytes; the limit is {limit} (--max-body)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            service.metrics.rejected["too_large"] += 1
            raise HTTPError(413, "too_large", f"the request body is over {limit} bytes (--max-body)")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes, service: Service) -> Any:
    """The body's JSON value; 400 naming the position when it is not JSON."""
    try:
        return decode(body)
    except msgspec.DecodeError as err:
        service.metrics.rejected["bad_json"] += 1
        raise HTTPError(400, "bad_json", f"the body is not valid JSON: {err}") from None


def event_error(err: EventError) -> dict[str, Any]:
    """An event's error as the JSON error object (``field`` when the engine named one)."""
    out: dict[str, Any] = {"code": "bad_event", "message": str(err)}
    if err.field is not None:
        out["field"] = err.field
    return out
