"""The service's settings and its access tokens.

Tokens come from a token file (``--tokens FILE``: JSON or YAML mapping each
scope to a token, a list of tokens, or a mapping of names to tokens) and from the environment
(``RULEDSL_CHANNEL_TOKENS``, ``RULEDSL_ANALYST_TOKENS``,
``RULEDSL_ADMIN_TOKENS``: comma-separated); both are merged.  A token is
kept only as its SHA-256 digest, so a lookup costs the same whatever the
token and the process never holds the tokens' text after start-up.

Scopes: ``channel`` tokens get the channel view of a decision, ``analyst``
tokens the full decision (matched rules, features, scores); ``admin``
tokens the admin calls and nothing else (docs/serve.md, "Tokens").  With no
channel token configured, deciding is open to anyone who can reach the
port (the channel view only) - allowed on a loopback address alone.

Each token has a name: the one the token file gives it, else its scope and
the first 8 hex digits of its digest (``admin-3fa2b1c0``: it names the token
without revealing it).  Admin calls are recorded under that name (``by``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from pathlib import Path
from typing import Any, Optional

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
    audit_log: Optional[str] = None  # the engine's hash-chained audit log (admin changes)

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
        if self.workers > 1 and self.audit_log:
            raise ServeError(
                "--audit-log is for one worker: with --workers > 1 every worker would append its own "
                "hash chain to the one file and break it"
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
    """Token digests -> scope and name."""

    def __init__(self, by_scope: dict[str, list[Any]]) -> None:
        self._who: dict[bytes, tuple[str, str]] = {}
        self.counts = dict.fromkeys(SCOPES, 0)
        for scope, tokens in by_scope.items():
            if scope not in SCOPES:
                raise ServeError(f"unknown token scope {scope!r}; the scopes are {', '.join(SCOPES)}")
            for entry in tokens:
                name, token = entry if isinstance(entry, tuple) else (None, entry)
                if not isinstance(token, str) or len(token) < 16:
                    raise ServeError(f"a {scope} token must be a string of at least 16 characters")
                key = digest(token)
                if key in self._who and self._who[key][0] != scope:
                    raise ServeError(f"one token is given for two scopes ({self._who[key][0]} and {scope})")
                self._who[key] = (scope, name or f"{scope}-{key[:4].hex()}")
                self.counts[scope] += 1

    @property
    def open_channel(self) -> bool:
        """No channel token configured: deciding (channel view) needs no token."""
        return self.counts["channel"] == 0

    def scope_of(self, token: str) -> Optional[str]:
        """The scope of ``token``, or None if it is not a configured token."""
        who = self._who.get(digest(token))
        return None if who is None else who[0]

    def name_of(self, token: str) -> Optional[str]:
        """The name of ``token`` (the token file's, or ``scope-<8 hex of its digest>``), or None if unknown."""
        who = self._who.get(digest(token))
        return None if who is None else who[1]

    @classmethod
    def load(cls, tokens_file: Optional[str], environ: Optional[dict[str, str]] = None) -> Tokens:
        """Tokens from the token file (if any) and the environment variables, merged."""
        env = os.environ if environ is None else environ
        by_scope: dict[str, list[Any]] = {scope: [] for scope in SCOPES}
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


def _read_tokens_file(path: Path) -> dict[str, list[Any]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except OSError as err:
        raise ServeError(f"cannot read the token file {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ServeError(f"the token file {path} is not valid JSON or YAML: {err}") from None
    if not isinstance(data, dict):
        raise ServeError(f"the token file {path} must map scopes ({', '.join(SCOPES)}) to tokens")
    out: dict[str, list[Any]] = {}
    for scope, value in data.items():
        if isinstance(value, dict):  # name -> token: the name is who the audit log records
            named = []
            for name, token in value.items():
                if not isinstance(name, str) or not name.strip():
                    raise ServeError(f"{path}: `{scope}`: a token's name must be a non-empty string, not {name!r}")
                named.append((name, token))
            out[str(scope)] = named
            continue
        tokens = [value] if isinstance(value, str) else value
        if not isinstance(tokens, list):
            raise ServeError(f"{path}: `{scope}` must be a token, a list of tokens or a mapping of names to tokens")
        out[str(scope)] = tokens
    return out
