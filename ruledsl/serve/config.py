"""The service's settings and its access tokens.

Tokens come from a token file (``--tokens FILE``: JSON or YAML mapping each
scope to a token or a list of tokens) and from the environment
(``RULEDSL_CHANNEL_TOKENS``, ``RULEDSL_ANALYST_TOKENS``,
``RULEDSL_ADMIN_TOKENS``: comma-separated); both are merged.  A token is
kept only as its SHA-256 digest, so a lookup costs the same whatever the
token and the process never holds the tokens' text after start-up.

Scopes: ``channel`` tokens get the channel view of a decision, ``analyst``
tokens the full decision (matched rules, features, scores); ``admin``
tokens the admin calls and nothing else (docs/serve.md, "Tokens").  With no
channel token configured, deciding is open to anyone who can reach the
port (the channel view only) - allowed on a loopback address alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from pathlib import Path
from typing import Optional

import msgspec

SCOPES = ("channel", "analyst", "admin")
ENV_VARS = {scope: f"RULEDSL_{scope.upper()}_TOKENS" for scope in SCOPES}
CONFIG_ENV = "RULEDSL_SERVE_CONFIG"  # how the settings reach uvicorn's worker processes

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: a batch of 1,000 typical events is about 400 KB
DEFAULT_MAX_BATCH = 1000


class ServeError(Exception):
    """A setting that keeps the service from starting (the CLI prints it and exits 2)."""


class ServeConfig(msgspec.Struct, kw_only=True):
    """Everything ``ruledsl serve`` was told; JSON-encodable so worker processes get the same."""

    rulesets: list[str]
    state: Optional[str] = None
    redis: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    tokens_file: Optional[str] = None
    timezone: Optional[str] = None
    max_body: int = DEFAULT_MAX_BODY
    max_batch: int = DEFAULT_MAX_BATCH
    expire_every: float = 1.0  # seconds between expire_due calls, when the ruleset has holds
    access_log: bool = False
    log_level: str = "info"
    ssl_certfile: Optional[str] = None
    ssl_keyfile: Optional[str] = None
    drain_timeout: float = 10.0  # seconds SIGTERM waits for requests in flight

    def check(self) -> None:
        """Raise ``ServeError`` for settings that cannot work together."""
        if self.workers < 1:
            raise ServeError("--workers must be at least 1")
        if self.workers > 1 and not self.redis:
            raise ServeError(
                f"--workers {self.workers} needs --redis URL: with in-process state each worker would keep its "
                "own windows, holds and controls and count alone, so limits would be multiplied by the number "
                "of workers; run one worker, or share the state in Redis"
            )
        if self.workers > 1 and self.state:
            raise ServeError(
                "--state is for one worker: with --workers > 1 the shared state lives in Redis, and each "
                "worker's snapshot would overwrite the others'"
            )
        if not 0 < self.port < 65536:
            raise ServeError(f"--port must be 1-65535, not {self.port}")
        if self.max_body < 1024:
            raise ServeError("--max-body must be at least 1024 bytes")
        if self.max_batch < 1:
            raise ServeError("--max-batch must be at least 1")
        if self.expire_every <= 0:
            raise ServeError("--expire-every must be > 0 seconds")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ServeError("--ssl-certfile and --ssl-keyfile go together")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def digest(token: str) -> bytes:
    """The SHA-256 digest a token is kept and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class Tokens:
    """Token digests -> scope."""

    def __init__(self, by_scope: dict[str, list[str]]) -> None:
        self._scope: dict[bytes, str] = {}
        self.counts = dict.fromkeys(SCOPES, 0)
        for scope, tokens in by_scope.items():
            if scope not in SCOPES:
                raise ServeError(f"unknown token scope {scope!r}; the scopes are {', '.join(SCOPES)}")
            for token in tokens:
                if not isinstance(token, str) or len(token) < 16:
                    raise ServeError(f"a {scope} token must be a string of at least 16 characters")
                key = digest(token)
                if self._scope.get(key, scope) != scope:
                    raise ServeError(f"one token is given for two scopes ({self._scope[key]} and {scope})")
                self._scope[key] = scope
                self.counts[scope] += 1

    @property
    def open_channel(self) -> bool:
        """No channel token configured: deciding (channel view) needs no token."""
        return self.counts["channel"] == 0

    def scope_of(self, token: str) -> Optional[str]:
        """The scope of ``token``, or None if it is not a configured token."""
        return self._scope.get(digest(token))

    @classmethod
    def load(cls, tokens_file: Optional[str], environ: Optional[dict[str, str]] = None) -> Tokens:
        """Tokens from the token file (if any) and the environment variables, merged."""
        env = os.environ if environ is None else environ
        by_scope: dict[str, list[str]] = {scope: [] for scope in SCOPES}
        if tokens_file:
            for scope, tokens in _read_tokens_file(Path(tokens_file)).items():
                if scope not in by_scope:
                    raise ServeError(
                        f"{tokens_file}: unknown token scope {scope!r}; the scopes are {', '.join(SCOPES)}"
                    )
                by_scope[scope].extend(tokens)
        for scope, var in ENV_VARS.items():
            by_scope[scope].extend(t.strip() for t in env.get(var, "").split(",") if t.strip())
        return cls(by_scope)


def _read_tokens_file(path: Path) -> dict[str, list[str]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except OSError as err:
        raise ServeError(f"cannot read the token file {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ServeError(f"the token file {path} is not valid JSON or YAML: {err}") from None
    if not isinstance(data, dict):
        raise ServeError(f"the token file {path} must map scopes ({', '.join(SCOPES)}) to tokens")
    out: dict[str, list[str]] = {}
    for scope, value in data.items():
        tokens = [value] if isinstance(value, str) else value
        if not isinstance(tokens, list):
            raise ServeError(f"{path}: `{scope}` must be a token or a list of tokens")
        out[str(scope)] = tokens
    return out
