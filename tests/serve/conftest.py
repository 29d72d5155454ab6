"""The real ``ruledsl serve`` process for the tests, and ``curl`` to talk to it.

Each server runs as a user would start it (``.venv/bin/ruledsl serve ...``)
on a free port of 127.0.0.1, with the generated-Python evaluator
(``RULEDSL_COMPILED=never``: no C build in the tests) and the three scopes'
tokens in the environment.  Requests go through ``curl`` (a client not
written in Python); several requests share one curl process (``--next``),
on one kept-alive connection, in order.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import msgspec
import pytest

ROOT = Path(__file__).resolve().parents[2]
RULESET = ROOT / "rulesets" / "echannel_monitoring.rdsl"
RULEDSL = Path(sys.executable).with_name("ruledsl")
CURL = shutil.which("curl")
REDIS_SERVER = shutil.which("redis-server")

TOKENS = {
    "channel": "channel-token-for-tests-0001",
    "analyst": "analyst-token-for-tests-0001",
    "admin": "admin-token-for-tests-00001",
}

SEPARATOR = "\n@@status "

if CURL is None or not RULEDSL.exists():  # pragma: no cover - CI has both
    if os.environ.get("CI"):
        raise RuntimeError("tests/serve need curl and the ruledsl console script; CI must install them")
    pytest.skip("needs curl and the ruledsl console script", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``ruledsl serve`` child process."""

    def __init__(self, args: list[str], *, tokens: bool = True, env: Optional[dict[str, str]] = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = dict(os.environ, RULEDSL_COMPILED="never", **(env or {}))
        for scope in TOKENS:
            self.env.pop(f"RULEDSL_{scope.upper()}_TOKENS", None)
        if tokens:
            self.env.update({f"RULEDSL_{scope.upper()}_TOKENS": token for scope, token in TOKENS.items()})
        self.proc: Optional[subprocess.Popen] = None
        self.log = b""

    def start(self, timeout: float = 30.0) -> Server:
        cmd = [str(RULEDSL), "serve", *self.args, "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ruledsl serve exited: {self.proc.stdout.read().decode()}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("ruledsl serve did not start")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.log += out or b""
        return self.proc.returncode

    def log_lines(self) -> list[dict[str, Any]]:
        return [msgspec.json.decode(line) for line in self.log.splitlines() if line.startswith(b"{")]

    # ---------------------------------------------------------------- curl
    def call(
        self, method: str, path: str, body: Any = None, token: Optional[str] = None, raw: Optional[bytes] = None
    ) -> tuple[int, Any]:
        """One request through curl: (status, decoded JSON body, or text for non-JSON answers)."""
        return self.calls([(method, path, body, token, raw)])[0]

    def calls(self, requests: list[tuple]) -> list[tuple[int, Any]]:
        """Several requests in order through one curl process (one kept-alive connection)."""
        args: list[str] = [str(CURL), "-sS"]
        stdin: Optional[bytes] = None
        for k, (method, path, body, token, raw) in enumerate(requests):
            if k:
                args.append("--next")
            args += ["-X", method, "-w", f"{SEPARATOR}%{{http_code}}\n", "-H", "Content-Type: application/json"]
            if token:
                args += ["-H", f"Authorization: Bearer {TOKENS.get(token, token)}"]
            if raw is not None:  # a large body: from stdin (one per call)
                args += ["--data-binary", "@-"]
                stdin = raw
            elif body is not None:
                args += ["--data-binary", msgspec.json.encode(body).decode()]
            args.append(self.url + path)
        done = subprocess.run(args, input=stdin, capture_output=True, check=True, timeout=120)
        out: list[tuple[int, Any]] = []
        rest = done.stdout
        while rest:
            text, _, rest = rest.partition(SEPARATOR.encode())
            status, _, rest = rest.partition(b"\n")
            try:
                value: Any = msgspec.json.decode(text)
            except msgspec.DecodeError:
                value = text.decode()
            out.append((int(status), value))
        assert len(out) == len(requests), done.stdout[-500:]
        return out


@pytest.fixture
def start_server(tmp_path) -> Iterator[Any]:
    """Start servers (``start_server(*args, tokens=True)``); all are stopped at the end."""
    servers: list[Server] = []

    def start(*args: str, tokens: bool = True, env: Optional[dict[str, str]] = None) -> Server:
        server = Server([str(a) for a in args], tokens=tokens, env=env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One server on the e-channel ruleset, shared by a module's read-mostly tests."""
    s = Server([str(RULESET)]).start()
    yield s
    s.stop()


def sim_events(customers: int = 40, days: int = 2, seed: int = 3) -> list[dict[str, Any]]:
    """Generated e-channel traffic (every action occurs), in time order."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruledsl.sim",
            "--customers",
            str(customers),
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--fraud-rate",
            "0.5",
            "--out",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return [msgspec.json.decode(line) for line in done.stdout.splitlines() if line.strip()]


class Redis:
    """A redis-server child process on a free port of 127.0.0.1 (no persistence)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            cwd=directory,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline and self.proc.poll() is None, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (a store outage for the services using it)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis(tmp_path) -> Iterator[Redis]:
    """A real redis-server for the test (skipped without one locally; CI must have it)."""
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; CI must install it")
        pytest.skip("redis-server is not on PATH")
    server = Redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis: Redis) -> str:
    """The URL of the test's redis-server."""
    return redis.url
