"""The engine's life inside the service process.

Start-up loads the ruleset (restoring ``--state`` if the snapshot exists),
SIGHUP reloads it keeping state, a background task expires holds on the
wall clock when the ruleset has holds, and shutdown - after uvicorn has
drained the requests in flight - writes the snapshot to ``--state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, Optional

from ruledsl.runtime.holds import HoldOutcome
from ruledsl.serve.config import ServeConfig, ServeError, Tokens
from ruledsl.serve.logs import log
from ruledsl.serve.metrics import Metrics


def load_engine(config: ServeConfig) -> Any:
    """The engine for ``config``: its rulesets, the snapshot at ``--state`` if there is one, Redis and the audit log if given.

    Raises ``ServeError`` for a missing file, a ruleset with errors (the
    diagnostics rendered), a snapshot that does not fit, or a Redis URL that
    cannot be used.
    """
    from ruledsl.runtime.engine import load
    from ruledsl.runtime.persistence import SnapshotError
    from ruledsl.syntax.diagnostics import RuleDSLError, render

    for p in config.rulesets:
        if not Path(p).is_file():
            raise ServeError(f"ruleset file not found: {p}")
    state = config.state if config.state and Path(config.state).exists() else None
    store = None
    if config.redis:
        from ruledsl.stores.redis import RedisStore

        try:
            store = RedisStore(config.redis, timeout_ms=200)
        except (ValueError, ImportError) as err:
            raise ServeError(f"--redis {config.redis}: {err}") from None
    from ruledsl.runtime.audit import AuditError

    try:
        engine = load(config.rulesets, timezone=config.timezone, state=state, store=store, audit_log=config.audit_log)
    except AuditError as err:
        raise ServeError(f"--audit-log {config.audit_log}: {err}") from None
    except RuleDSLError as err:
        shown = "\n".join(render(d, err.sources.get(d.path)) for d in err.diagnostics)
        raise ServeError(f"{shown}\nthe ruleset has errors; not serving it") from None
    except SnapshotError as err:
        raise ServeError(f"cannot restore --state {config.state}: {err}") from None
    except (OSError, ValueError) as err:
        raise ServeError(f"cannot load {', '.join(config.rulesets)}: {err}") from None
    if state:
        log(logging.INFO, "state restored", snapshot=state, events=engine.stats()["events"])
    return engine


def has_hold_rules(engine: Any) -> bool:
    """Whether the engine's ruleset can open holds (a rule with ``action hold``), or holds are open."""
    rules = engine.result.symbols.rules.values()
    return any(r.action.name == "hold" for r in rules) or bool(engine.holds_waiting) or _any_open(engine)


def _any_open(engine: Any) -> bool:
    try:
        return bool(engine.holds())
    except Exception:  # holds in Redis while it is down: the task will find out
        return True


class Service:
    """One process's engine, tokens, metrics and background work."""

    def __init__(self, config: ServeConfig, engine: Any, tokens: Tokens) -> None:
        self.config = config
        self.engine = engine
        self.tokens = tokens
        self.metrics = Metrics(lambda: self.engine)
        self.draining = False
        self.started = time.time()
        self._expiry: Optional[asyncio.Task] = None
        self._reload_lock = threading.Lock()

    # ---------------------------------------------------------------- lifespan
    async def start(self) -> None:
        """Install the SIGHUP handler and start the hold expiry task (from the ASGI lifespan)."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._sighup()))
        self._expiry = asyncio.create_task(self._expire_loop())
        log(
            logging.INFO,
            "serving",
            rulesets=self.config.rulesets,
            host=self.config.host,
            port=self.config.port,
            evaluator=self.engine.evaluator,
            redis=bool(self.config.redis),
            state=self.config.state,
            channel_open=self.tokens.open_channel,
        )

    async def stop(self) -> None:
        """After the drain: stop the expiry task, write the snapshot to ``--state``."""
        self.draining = True
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        if self.config.state:
            try:
                size = await asyncio.to_thread(self.engine.snapshot, self.config.state)
            except Exception as err:  # the log says so; exiting anyway is better than hanging
                log(logging.ERROR, "snapshot on shutdown failed", snapshot=self.config.state, error=str(err))
            else:
                log(logging.INFO, "snapshot written", snapshot=self.config.state, bytes=size)
        log(logging.INFO, "stopped")

    # ---------------------------------------------------------------- reload
    def reload(self, by: Optional[str] = None, reason: Optional[str] = None) -> list[str]:
        """Reload the ruleset files, keeping state; ``RuleDSLError`` keeps the old ruleset running."""
        with self._reload_lock:
            kept = self.engine.reload(by=by, reason=reason)
        log(logging.INFO, "ruleset reloaded", kept=len(kept), by=by, reason=reason)
        return kept

    async def _sighup(self) -> None:
        from ruledsl.syntax.diagnostics import RuleDSLError

        try:
            await asyncio.to_thread(self.reload, "SIGHUP")
        except RuleDSLError as err:
            log(
                logging.ERROR,
                "reload refused: the ruleset has errors; the old one keeps running",
                diagnostics=[f"{d.path}:{d.span.line}:{d.span.col}: {d.code} {d.message}" for d in err.diagnostics],
            )
        except Exception as err:
            log(logging.ERROR, "reload failed; the old ruleset keeps running", error=f"{type(err).__name__}: {err}")

    # ---------------------------------------------------------------- holds on the wall clock
    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.expire_every)
            if not has_hold_rules(self.engine):
                continue
            try:
                expired = await asyncio.to_thread(self.engine.expire_due, int(time.time() * 1000))
            except Exception as err:  # Redis down, an audit line that cannot be written: try again next tick
                log(logging.WARNING, "expiring holds failed", error=f"{type(err).__name__}: {err}")
                continue
            for out in expired:
                self.metrics.holds_expired += 1
                log(logging.INFO, "hold expired into a block", **_outcome_fields(out))


def _outcome_fields(out: HoldOutcome) -> dict[str, Any]:
    return {"hold_id": out.hold_id, "action": out.action, "codes": out.codes, "hold_expires_at": out.hold_expires_at}
