"""``ruledsl serve``: the engine as an HTTP service for channels not written in Python (docs/serve.md).

A Starlette application on uvicorn (uvloop, httptools), JSON in and out
through msgspec: ``POST /v1/decide``, ``POST /v1/decide/batch``, health,
readiness, Prometheus metrics, the OpenAPI document and the admin calls
under ``/v1/admin/``.  ``config`` holds the settings and tokens, ``service``
the engine's life in the process (restore, snapshot on shutdown, reload on
SIGHUP, hold expiry on the wall clock), ``app`` the routes, ``admin`` the
admin routes, ``openapi`` the document, ``metrics`` and ``logs`` the
operations side, ``server`` starts uvicorn.
"""

from __future__ import annotations

from ruledsl.serve.config import ServeConfig, ServeError, Tokens

__all__ = ["ServeConfig", "ServeError", "Tokens"]
