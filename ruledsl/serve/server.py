"""Start the service on uvicorn: one process, or ``--workers N`` processes sharing Redis."""

from __future__ import annotations

import logging
import logging.config
import os
from typing import Any

import msgspec

from ruledsl.serve.config import CONFIG_ENV, ServeConfig, ServeError, Tokens, is_loopback
from ruledsl.serve.logs import log, log_config


def _uvicorn_options(config: ServeConfig) -> dict[str, Any]:
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_config": log_config(config.log_level, config.access_log),
        "access_log": config.access_log,
        "timeout_graceful_shutdown": config.drain_timeout,
        "lifespan": "on",
        "server_header": False,
        "proxy_headers": False,  # X-Forwarded-For is not used, and its middleware costs every request
        "loop": "auto",  # uvloop when installed
        "http": "auto",  # httptools when installed
    }
    if config.ssl_certfile:
        options["ssl_certfile"] = config.ssl_certfile
        options["ssl_keyfile"] = config.ssl_keyfile
    return options


def prepare(config: ServeConfig) -> Tokens:
    """Check the settings and read the tokens; ``ServeError`` when the service must not start."""
    config.check()
    tokens = Tokens.load(config.tokens_file)
    if tokens.open_channel and not is_loopback(config.host):
        raise ServeError(
            f"--host {config.host} accepts connections from other machines, and no channel token is configured: "
            "anyone could ask for decisions; give channel tokens (RULEDSL_CHANNEL_TOKENS or --tokens FILE)"
        )
    return tokens


def serve(config: ServeConfig) -> None:
    """Run the service until SIGTERM or SIGINT (blocking); ``ServeError`` before binding if it cannot start."""
    import uvicorn

    from ruledsl.serve.app import create_app
    from ruledsl.serve.service import Service, load_engine

    tokens = prepare(config)
    logging.config.dictConfig(log_config(config.log_level, config.access_log))
    options = _uvicorn_options(config)
    if config.workers == 1:
        engine = load_engine(config)  # before binding: a ruleset with errors never listens
        uvicorn.Server(uvicorn.Config(create_app(Service(config, engine, tokens)), **options)).run()
        return
    load_engine(config)  # fail here, once, rather than in every worker
    os.environ[CONFIG_ENV] = msgspec.json.encode(config).decode()
    log(logging.INFO, "starting workers", workers=config.workers, redis=True)
    uvicorn.run("ruledsl.serve.app:app_from_env", factory=True, workers=config.workers, **options)
