"""Admin routes under ``/v1/admin/``: parameters, lists, reload, snapshot, holds, controls, exemptions.

Each calls the engine's own API with ``by`` and ``reason`` (the audit log's
fields: ``--audit-log``) and answers with what the engine returned.  ``by``
is the admin token's name (``config.Tokens``), so the log says which token
made the change whatever the body claims; a ``by`` in the body is kept
beside it (``ops-alice (zhang.wei)``: the person the token holder acts
for).  ``reason`` comes from the body.  Bodies are
decoded into the Structs below (unknown fields refused, the wrong type
named by its JSON path); the engine's errors become 422 with the engine's
message, nothing changed.  With ``--workers > 1`` the calls that change one
process only (parameters, lists, exemptions, reload, snapshot) are refused
with 409: change the files and send SIGHUP, which restarts every worker.
"""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import Callable
from typing import Any, Optional, Union

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ruledsl.serve.http import HTTPError, bearer, json_response, read_body, scope_of
from ruledsl.serve.service import Service

Key = Union[str, int]
Time = Union[int, str]  # epoch ms or ISO 8601, as an event's ts


class Who(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Why the change is made, and for whom (to the audit log).

    The log's ``by`` is the admin token's name; a ``by`` given here is kept
    beside it: ``ops-alice (zhang.wei)``.
    """

    by: Optional[str] = None
    reason: Optional[str] = None


class SetParam(Who, forbid_unknown_fields=True, kw_only=True):
    """``PUT /v1/admin/params/{name}``: the parameter's new value (a decimal as a string keeps its digits)."""

    value: Union[str, int, float, bool]


class ListUpdate(Who, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/admin/lists/{name}``: ``values`` replaces the list, or ``add``/``remove`` change entries."""

    values: Optional[list[Any]] = None
    add: Optional[list[Any]] = None
    remove: Optional[list[Any]] = None


class Confirm(Who, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/admin/holds/{hold_id}/confirm``: release (pass) or block the held event."""

    outcome: str = "release"
    at: Optional[Time] = None


class ControlSet(Who, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/admin/controls``: put a control on ``key`` until ``until`` (event time)."""

    key: Key
    kind: str
    until: Time


class ControlLift(Who, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/admin/controls/lift``: lift the control on ``key``."""

    key: Key


class ExemptionGrant(Who, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/admin/exemptions``: exempt ``key`` from ``rule`` (or ``"all"``) until ``until``."""

    key: Key
    rule: str
    until: Time


class ExemptionRevoke(Who, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/admin/exemptions/revoke``: end the exemption of ``key`` from ``rule``."""

    key: Key
    rule: str


class Reloaded(msgspec.Struct, kw_only=True):
    """What a reload kept: the windows and sequences whose state carried over."""

    kept: list[str]


class SnapshotWritten(msgspec.Struct, kw_only=True):
    """Where the snapshot went and its size."""

    path: str
    bytes: int


REQUEST_BODIES: tuple[type, ...] = (
    SetParam,
    ListUpdate,
    Who,
    Confirm,
    ControlSet,
    ControlLift,
    ExemptionGrant,
    ExemptionRevoke,
)
RESPONSE_BODIES: tuple[type, ...] = (Reloaded, SnapshotWritten)


# ---------------------------------------------------------------- plumbing


def _admin(handler: Callable[[Request, Service], Any], *, per_process: bool = False) -> Callable:
    """Wrap ``handler``: admin token, the one-worker rule, the engine's errors as 4xx/503."""

    async def endpoint(request: Request) -> Response:
        service: Service = request.app.state.service
        try:
            scope_of(request, service, ("admin",))
            request.state.by = service.tokens.name_of(bearer(request.headers.get("authorization")))
            if per_process and service.config.workers > 1:
                raise HTTPError(
                    409,
                    "per_process",
                    "with --workers > 1 this would change one worker only; change the ruleset files and send "
                    "SIGHUP to the server (every worker restarts with them)",
                )
            return await handler(request, service)
        except HTTPError as err:
            return err.response()
        except Exception as err:
            mapped = engine_error(err)
            if mapped is None:
                raise
            return mapped.response()

    return endpoint


def engine_error(err: Exception) -> Optional[HTTPError]:
    """The HTTP answer for an error the engine raised for an admin call, or None for a bug."""
    from ruledsl.runtime.audit import AuditError
    from ruledsl.runtime.persistence import SnapshotError
    from ruledsl.stores.local import StoreError
    from ruledsl.syntax.diagnostics import RuleDSLError

    if isinstance(err, StoreError):
        return HTTPError(503, "store_unavailable", str(err))
    if isinstance(err, AuditError):
        return HTTPError(503, "audit_failed", f"not changed: {err}")
    if isinstance(err, RuleDSLError):
        lines = [f"{d.path}:{d.span.line}:{d.span.col}: {d.code} {d.message}" for d in err.diagnostics]
        return HTTPError(
            422, "ruleset_errors", "the ruleset has errors; the old one keeps running:\n" + "\n".join(lines)
        )
    if isinstance(err, (SnapshotError, OSError)):
        return HTTPError(503, "snapshot_failed", str(err))
    if isinstance(err, (ValueError, TypeError, KeyError)):
        return HTTPError(422, "rejected", str(err))
    return None


async def _body(request: Request, service: Service, kind: type) -> Any:
    from ruledsl.runtime.audit import AuditError, check_who

    raw = await read_body(request, service)
    try:
        body: Any = msgspec.json.decode(raw or b"{}", type=kind)
        for name, who in (("by", (body.by, None)), ("reason", (None, body.reason))):
            try:  # the audit log's rules for who and why, checked here: a bad value is the caller's, not a 503
                check_who(*who)
            except AuditError as err:
                raise HTTPError(422, "bad_request", str(err), name) from None
        token = request.state.by
        body.by = token if body.by is None or body.by == token else f"{token} ({body.by})"
        return body
    except msgspec.ValidationError as err:
        field = str(err).rpartition("at `$.")[2].rstrip("`") if "at `$." in str(err) else None
        raise HTTPError(422, "bad_request", str(err), field) from None
    except msgspec.DecodeError as err:
        raise HTTPError(400, "bad_json", f"the body is not valid JSON: {err}") from None


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, decimal.Decimal) else value


# ---------------------------------------------------------------- handlers


async def params_list(request: Request, service: Service) -> Response:
    """``GET /v1/admin/params``: every parameter's current value (decimals as strings)."""
    engine = service.engine
    return json_response({name: _plain(engine.get_param(name)) for name in engine.compiled.params})


async def params_set(request: Request, service: Service) -> Response:
    """``PUT /v1/admin/params/{name}``."""
    body = await _body(request, service, SetParam)
    name = request.path_params["name"]
    service.engine.set_param(name, body.value, by=body.by, reason=body.reason)
    return json_response({"name": name, "value": _plain(service.engine.get_param(name))})


async def lists_update(request: Request, service: Service) -> Response:
    """``POST /v1/admin/lists/{name}``."""
    body = await _body(request, service, ListUpdate)
    name = request.path_params["name"]
    service.engine.update_list(name, body.values, add=body.add, remove=body.remove, by=body.by, reason=body.reason)
    return json_response({"name": name, "updated": True})


async def reload(request: Request, service: Service) -> Response:
    """``POST /v1/admin/reload``: the ruleset files again, keeping state."""
    body = await _body(request, service, Who)
    kept = await asyncio.to_thread(service.reload, body.by, body.reason)
    return json_response(Reloaded(kept=kept))


async def snapshot(request: Request, service: Service) -> Response:
    """``POST /v1/admin/snapshot``: write the snapshot to ``--state`` now."""
    await _body(request, service, Who)
    path = service.config.state
    if not path:
        raise HTTPError(409, "no_state", "the service was started without --state: there is nowhere to write")
    size = await asyncio.to_thread(service.engine.snapshot, path)
    return json_response(SnapshotWritten(path=path, bytes=size))


async def holds_list(request: Request, service: Service) -> Response:
    """``GET /v1/admin/holds``: the open holds, oldest first."""
    return json_response(await asyncio.to_thread(service.engine.holds))


async def holds_confirm(request: Request, service: Service) -> Response:
    """``POST /v1/admin/holds/{hold_id}/confirm``."""
    body = await _body(request, service, Confirm)
    engine = service.engine
    out = engine.confirm_hold(request.path_params["hold_id"], body.outcome, by=body.by, reason=body.reason, at=body.at)
    return json_response(out)


async def controls_list(request: Request, service: Service) -> Response:
    """``GET /v1/admin/controls``: the live controls."""
    return json_response(service.engine.controls())


async def controls_set(request: Request, service: Service) -> Response:
    """``POST /v1/admin/controls``."""
    body = await _body(request, service, ControlSet)
    ctl = service.engine.set_control(body.key, body.kind, until=body.until, by=body.by, reason=body.reason)
    return json_response(ctl)


async def controls_lift(request: Request, service: Service) -> Response:
    """``POST /v1/admin/controls/lift``."""
    body = await _body(request, service, ControlLift)
    return json_response(service.engine.lift_control(body.key, by=body.by, reason=body.reason))


async def exemptions_list(request: Request, service: Service) -> Response:
    """``GET /v1/admin/exemptions``: the live exemptions."""
    return json_response(service.engine.exemptions())


async def exemptions_grant(request: Request, service: Service) -> Response:
    """``POST /v1/admin/exemptions``."""
    body = await _body(request, service, ExemptionGrant)
    ex = service.engine.exempt(body.key, rule=body.rule, until=body.until, by=body.by, reason=body.reason)
    return json_response(ex)


async def exemptions_revoke(request: Request, service: Service) -> Response:
    """``POST /v1/admin/exemptions/revoke``."""
    body = await _body(request, service, ExemptionRevoke)
    return json_response(service.engine.revoke_exemption(body.key, rule=body.rule, by=body.by, reason=body.reason))


def admin_routes() -> list[Route]:
    """The admin routes (each needs an admin token)."""
    return [
        Route("/v1/admin/params", _admin(params_list), methods=["GET"]),
        Route("/v1/admin/params/{name}", _admin(params_set, per_process=True), methods=["PUT"]),
        Route("/v1/admin/lists/{name}", _admin(lists_update, per_process=True), methods=["POST"]),
        Route("/v1/admin/reload", _admin(reload, per_process=True), methods=["POST"]),
        Route("/v1/admin/snapshot", _admin(snapshot, per_process=True), methods=["POST"]),
        Route("/v1/admin/holds", _admin(holds_list), methods=["GET"]),
        Route("/v1/admin/holds/{hold_id}/confirm", _admin(holds_confirm), methods=["POST"]),
        Route("/v1/admin/controls", _admin(controls_list), methods=["GET"]),
        Route("/v1/admin/controls", _admin(controls_set), methods=["POST"]),
        Route("/v1/admin/controls/lift", _admin(controls_lift), methods=["POST"]),
        Route("/v1/admin/exemptions", _admin(exemptions_list, per_process=True), methods=["GET"]),
        Route("/v1/admin/exemptions", _admin(exemptions_grant, per_process=True), methods=["POST"]),
        Route("/v1/admin/exemptions/revoke", _admin(exemptions_revoke, per_process=True), methods=["POST"]),
    ]
