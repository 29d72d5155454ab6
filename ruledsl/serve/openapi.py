"""The service's OpenAPI 3.1 document, built from the Structs the service encodes and decodes.

The document does not depend on the ruleset served: an event is a JSON
object with ``type`` and ``ts`` and the fields of its event type (the
ruleset's ``event`` declarations say which).  ``docs/openapi.json`` is this
document, shipped so a Java or C team generates its client without running
the service (``python -m ruledsl.serve.openapi > docs/openapi.json``; a test
checks the two are equal).
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from ruledsl._version import __version__
from ruledsl.runtime.controls import Control
from ruledsl.runtime.decision import ChannelDecision, Decision
from ruledsl.runtime.exemptions import Exemption
from ruledsl.runtime.holds import Hold, HoldOutcome
from ruledsl.serve import admin

REF = "#/components/schemas/{name}"

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Event",
    "description": "One event: its type, its time (epoch ms or ISO 8601) and the fields its event type declares.",
    "required": ["type", "ts"],
    "properties": {
        "type": {"type": "string", "description": "An event type the ruleset declares, e.g. transfer"},
        "ts": {"anyOf": [{"type": "integer"}, {"type": "string"}], "description": "epoch ms or ISO 8601"},
    },
    "additionalProperties": True,
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the field at fault, when known"},
            },
        }
    },
}

ERROR_TEXT = {
    400: "The body is not JSON",
    401: "No bearer token, or an unknown one",
    403: "The token's scope may not make this call",
    409: "Not possible in this configuration (see the message)",
    413: "The body or the batch is over the limit",
    422: "A bad event or argument; the message (and field) say what",
    503: "Draining, or a shared store or the audit log is unavailable; nothing changed",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(name=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str, ok: dict[str, Any], *, body: Any = None, errors: tuple[int, ...] = (), secure: bool = True
) -> dict:
    responses = {"200": ok, **{str(s): _json(_ref("Error"), ERROR_TEXT[s]) for s in sorted(set(errors))}}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if not secure:
        op["security"] = []
    return op


def _admin_op(
    summary: str, ok: dict[str, Any], body: Any = None, *, extra: tuple[int, ...] = (), path: str = ""
) -> dict:
    errors = (401, 403, *((400, 413, 422) if body is not None else ()), *extra, 503)
    op = _op(summary, _json(ok, "Done"), body=body, errors=errors)
    op["tags"] = ["admin"]
    if path:
        op["parameters"] = [{"name": path, "in": "path", "required": True, "schema": {"type": "string"}}]
    return op


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def document() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    structs = (ChannelDecision, Decision, Hold, HoldOutcome, Control, Exemption)
    _, components = msgspec.json.schema_components(
        (*structs, *admin.REQUEST_BODIES, *admin.RESPONSE_BODIES), ref_template=REF
    )
    components["Event"] = EVENT_SCHEMA
    components["Error"] = ERROR_SCHEMA
    components["Batch"] = {
        "type": "object",
        "title": "Batch",
        "required": ["events"],
        "properties": {"events": _array("Event")},
    }
    one = [_ref("ChannelDecision"), _ref("Decision")]
    components["BatchResults"] = {
        "type": "object",
        "title": "BatchResults",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": {"anyOf": [*one, _ref("Error")]}}},
    }
    decide_errors = (400, 401, 403, 413, 422, 503)
    health = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
    obj = {"type": "object"}
    paths: dict[str, Any] = {
        "/v1/decide": {
            "post": _op(
                "Decide one event: the channel view, or the full decision with an analyst token",
                _json({"anyOf": one}, "The decision"),
                body=_ref("Event"),
                errors=decide_errors,
            )
        },
        "/v1/decide/batch": {
            "post": _op(
                "Decide a batch in order; a bad event gets its own error in its place",
                _json(_ref("BatchResults"), "One result per event, in order"),
                body=_ref("Batch"),
                errors=decide_errors,
            )
        },
        "/healthz": {"get": _op("The process answers", _json(health, "Alive"), secure=False)},
        "/readyz": {
            "get": {
                "summary": "Ready to decide (503 while draining)",
                "security": [],
                "responses": {"200": _json(health, "Ready"), "503": _json(health, "Draining")},
            }
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics",
                {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                secure=False,
            )
        },
        "/openapi.json": {"get": _op("This document", _json(obj, "The OpenAPI document"), secure=False)},
        "/v1/admin/params": {"get": _admin_op("Every parameter's current value", obj)},
        "/v1/admin/params/{name}": {
            "put": _admin_op(
                "Set a parameter (from the next event on)", obj, _ref("SetParam"), extra=(409,), path="name"
            )
        },
        "/v1/admin/lists/{name}": {
            "post": _admin_op("Replace or change a list", obj, _ref("ListUpdate"), extra=(409,), path="name")
        },
        "/v1/admin/reload": {
            "post": _admin_op("Reload the ruleset files keeping state", _ref("Reloaded"), _ref("Who"), extra=(409,))
        },
        "/v1/admin/snapshot": {
            "post": _admin_op("Write the snapshot to --state", _ref("SnapshotWritten"), _ref("Who"), extra=(409,))
        },
        "/v1/admin/holds": {"get": _admin_op("The open holds", _array("Hold"))},
        "/v1/admin/holds/{hold_id}/confirm": {
            "post": _admin_op("Release or block a held event", _ref("HoldOutcome"), _ref("Confirm"), path="hold_id")
        },
        "/v1/admin/controls": {
            "get": _admin_op("The live controls", _array("Control")),
            "post": _admin_op("Put a control on a key", _ref("Control"), _ref("ControlSet")),
        },
        "/v1/admin/controls/lift": {"post": _admin_op("Lift a control", _ref("Control"), _ref("ControlLift"))},
        "/v1/admin/exemptions": {
            "get": _admin_op("The live exemptions", _array("Exemption"), extra=(409,)),
            "post": _admin_op("Grant an exemption", _ref("Exemption"), _ref("ExemptionGrant"), extra=(409,)),
        },
        "/v1/admin/exemptions/revoke": {
            "post": _admin_op("Revoke an exemption", _ref("Exemption"), _ref("ExemptionRevoke"), extra=(409,))
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ruledsl serve",
            "version": __version__,
            "description": "The ruledsl anti-fraud engine as an HTTP service (docs/serve.md).",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@functools.cache
def document_bytes() -> bytes:
    """The document as indented JSON (what ``/openapi.json`` serves and docs/openapi.json holds)."""
    return msgspec.json.format(msgspec.json.encode(document()), indent=2) + b"\n"


if __name__ == "__main__":
    import sys

    sys.stdout.buffer.write(document_bytes())
