"""``ruledsl serve``: the engine as an HTTP service (docs/serve.md).

::

    ruledsl serve rulesets/echannel_monitoring.rdsl --state state.snap --port 8080

SIGTERM (or Ctrl-C) drains the requests in flight, writes ``--state`` and
ends the process by that signal, as uvicorn does (exit status 143 for
SIGTERM).  Exit code 2 when it cannot start (a ruleset with errors, a bad
option, ``--workers > 1`` without ``--redis``); 1 when the port is in use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command."""
    from ruledsl.cli.app import guarded

    @app.command()
    @guarded
    def serve(
        rulesets: Annotated[
            list[Path], typer.Argument(help="The ruleset's files.", show_default=False, metavar="RULESET...")
        ],
        state: Annotated[
            Optional[Path],
            typer.Option("--state", help="Snapshot file: restored at start if it exists, written on SIGTERM."),
        ] = None,
        redis: Annotated[
            Optional[str], typer.Option("--redis", help="Share window state, holds and controls in Redis (URL).")
        ] = None,
        host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 8080,
        workers: Annotated[int, typer.Option("--workers", help="Worker processes (more than 1 needs --redis).")] = 1,
        tokens: Annotated[
            Optional[Path], typer.Option("--tokens", help="Token file (JSON or YAML: scope -> tokens).")
        ] = None,
        timezone: Annotated[Optional[str], typer.Option("--timezone", help="The ruleset's time zone.")] = None,
        max_body: Annotated[int, typer.Option("--max-body", help="Largest request body, bytes (413 beyond).")] = 1
        << 20,
        max_batch: Annotated[int, typer.Option("--max-batch", help="Most events in one batch (413 beyond).")] = 1000,
        expire_every: Annotated[
            float, typer.Option("--expire-every", help="Seconds between hold expiry runs (wall clock).")
        ] = 1.0,
        access_log: Annotated[bool, typer.Option("--access-log", help="Log every request (JSON).")] = False,
        log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error.")] = "info",
        ssl_certfile: Annotated[Optional[Path], typer.Option("--ssl-certfile", help="TLS certificate (PEM).")] = None,
        ssl_keyfile: Annotated[Optional[Path], typer.Option("--ssl-keyfile", help="TLS private key (PEM).")] = None,
        audit_log: Annotated[
            Optional[Path],
            typer.Option(
                "--audit-log",
                help="Record admin changes in this hash-chained audit log (by: the admin token's name).",
            ),
        ] = None,
        drain_timeout: Annotated[
            float, typer.Option("--drain-timeout", help="Seconds SIGTERM waits for requests in flight.")
        ] = 10.0,
    ) -> None:
        """Serve decisions over HTTP: POST /v1/decide, /v1/decide/batch, admin under /v1/admin/."""
        from ruledsl.cli.app import usage_error
        from ruledsl.serve.config import ServeConfig, ServeError
        from ruledsl.serve.server import serve as run

        config = ServeConfig(
            rulesets=[str(p) for p in rulesets],
            state=str(state) if state else None,
            redis=redis,
            host=host,
            port=port,
            workers=workers,
            tokens_file=str(tokens) if tokens else None,
            timezone=timezone,
            max_body=max_body,
            max_batch=max_batch,
            expire_every=expire_every,
            access_log=access_log,
            log_level=log_level.lower(),
            ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
            ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
            drain_timeout=drain_timeout,
            audit_log=str(audit_log) if audit_log else None,
        )
        if config.log_level not in ("debug", "info", "warning", "error"):
            usage_error(f"--log-level must be debug, info, warning or error, not {log_level!r}")
        try:
            run(config)
        except ServeError as err:
            usage_error(str(err))
