"""``ruledsl serve`` under a real load generator (issue 13): decisions/s, latency at half load, batches, Redis.

Usage::

    python benchmarks/serve_bench.py [--short] [--json OUT] [--duration S] [--rounds N]
                                     [--only floor,single,half,batch,redis] [--compiled require|never]
                                     [--pythonpath DIR]

Starts ``python -m ruledsl serve benchmarks/standard.rdsl`` (one worker, the
open channel on loopback, the Cython evaluator unless ``--compiled never``)
as a subprocess on a free port and drives it with ``wrk`` (Debian's package:
``apt-get install wrk``), keep-alive, one wrk thread, the standard workload's
events (``workload.py``) in time order, one JSON body per request from a Lua
script:

- **asgi**: microseconds per decide call through the application's ASGI
  callable in one process, no sockets (and per engine call alone): what the
  HTTP layer above uvicorn costs, without the noise of a shared machine's
  scheduler - measured without wrk too;
- **floor**: a bare uvicorn ASGI app answering a constant 60-byte JSON body
  (uvloop, httptools, no access log) - the most this machine gives any
  Python HTTP service with wrk on the same cores;
- **single**: the most single-event decisions per second (``POST /v1/decide``);
- **half**: p50/p99 with wrk paced to half of that rate - a Lua ``delay()``
  per request of ``connections / rate`` seconds (dithered to wrk's whole
  milliseconds), so the latency is that of a service at 50 % load, not of a
  saturated queue;
- **batch**: events/s through ``POST /v1/decide/batch`` with 100 events a
  request;
- **redis**: single and batch again with ``--workers 2 --redis URL`` on a
  redis-server this script starts on a free port.

Each measure starts a fresh server (so every run begins at the stream's
first event; a run that wraps round the stream makes late events, which the
result counts from ``/metrics``).  ``--rounds N`` repeats the sections
interleaved and reports the median of each measure.  Without ``wrk`` the
script says so, measures only **asgi** and exits 0 (``--require-wrk``: exit 1).  Speed is never
checked here: the figures are recorded (benchmarks/README.md, docs/serve.md).

``--short`` (2 s per run, 20,000 events, one round, asgi/floor/single/batch) is
the section ``serve`` of ``run_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STANDARD = HERE / "standard.rdsl"
WRK = shutil.which("wrk")
REDIS_SERVER = shutil.which("redis-server")
SECTIONS = ("asgi", "floor", "single", "half", "batch", "redis")
SHORT_SECTIONS = ("asgi", "floor", "single", "batch")
NEEDS_WRK = ("floor", "single", "half", "batch", "redis")
BATCH = 100
WEEK_MS = 7 * 86_400_000
FIRST_LAP_MS = 694_224_000_000  # 1992-01-01 UTC: after the last summer time of the ruleset's zone (Asia/Shanghai)
LAP_SHIFT: dict[Path, int] = {}  # bodies file -> ms each time round the stream moves its events on

# One Lua state per wrk thread: the bodies are read once and sent in order, round and round.  Each
# round after the first moves every "ts" on by args[3] ms (``lap_shift``), so the server sees time
# go on instead of late events: each body is kept split round its ts values for that.
LUA = r"""
local plain, pieces, stamps, n, i, lap, shift, pace = {}, {}, {}, 0, 0, 0, 0, 0
local headers = {["Content-Type"] = "application/json"}
init = function(args)
  for line in io.lines(args[1]) do
    n = n + 1
    plain[n] = line
    local p, t, last = {}, {}, 1
    for s, num, e in line:gmatch('()"ts":(%d+)()') do
      p[#p + 1] = line:sub(last, s + 4)
      local v = tonumber(num)
      t[#t + 1] = v
      last = e
    end
    p[#p + 1] = line:sub(last)
    pieces[n], stamps[n] = p, t
  end
  shift = tonumber(args[3] or "0")
  pace = tonumber(args[2] or "0")  -- ms between two requests of one connection; 0: as fast as possible
end
request = function()
  i = i + 1
  if i > n then i = 1; lap = lap + 1 end
  if lap == 0 then return wrk.format("POST", nil, headers, plain[i]) end
  local p, t, out = pieces[i], stamps[i], {}
  for k = 1, #t do
    out[#out + 1] = p[k]
    out[#out + 1] = string.format("%.0f", t[k] + lap * shift)
  end
  out[#out + 1] = p[#p]
  return wrk.format("POST", nil, headers, table.concat(out))
end
if tonumber(os.getenv("RDSL_PACE") or "0") > 0 then
  delay = function()
    -- wrk waits whole milliseconds: dither between floor and ceil so the mean is exact
    local whole = math.floor(pace)
    if math.random() < pace - whole then return whole + 1 end
    return whole
  end
end
"""

FLOOR_APP = r"""
import sys, uvicorn
BODY = b'{"action":"pass","codes":[],"hold_timeout_ms":null,"hold_id":null}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            access_log=False, log_level="warning", lifespan="off")
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until ``url`` answers (the process may be building the Cython evaluator)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def http_get(url: str) -> bytes:
    """The body of a GET."""
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serve(args: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    """``python -m ruledsl serve ARGS`` on a free port until the block ends; yields its base URL."""
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ruledsl", "serve", *args, "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=out,
            cwd=tempfile.gettempdir(),  # not the checkout: `-m` puts the cwd first, before --pythonpath
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/readyz", proc)
        SERVER_PID[url] = proc.pid
        yield url
    finally:
        SERVER_PID.pop(url, None)
        _stop(proc)


SERVER_PID: dict[str, int] = {}  # base URL -> the server's process (one worker: the process that decides)


def cpu_seconds(url: str) -> Optional[float]:
    """User + system CPU time of the server at ``url`` so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{SERVER_PID[url]}/stat").read_text().rsplit(")", 1)[1].split()
    except (KeyError, OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_wrk(url: str, path: str, per_request: int, **kwargs: Any) -> dict:
    """``run_wrk`` on ``url + path``, with the server's CPU time per event (µs): what a decision costs it.

    On a shared machine the rate depends on what the other jobs leave; the
    server's own CPU time per event does much less.
    """
    before = cpu_seconds(url)
    res = run_wrk(url + path, **kwargs)
    after = cpu_seconds(url)
    if before is not None and after is not None and res["requests"]:
        res["server_cpu_us_per_event"] = (after - before) / (res["requests"] * per_request) * 1e6
    return res


@contextmanager
def floor_server(env: dict[str, str]) -> Iterator[str]:
    """The bare ASGI app on uvicorn (uvloop, httptools): the floor any Python service stands on."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port)], env=env, cwd=tempfile.gettempdir())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc)
        SERVER_PID[url] = proc.pid
        yield url
    finally:
        SERVER_PID.pop(url, None)
        _stop(proc)


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free port of 127.0.0.1 (no persistence) until the block ends; yields its URL."""
    assert REDIS_SERVER is not None
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="rdsl-bench-redis-")
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), request count and errors from ``wrk --latency`` output."""
    res: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    res["requests_per_s"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            res[f"p{pct}_ms"] = _ms(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return res


def run_wrk(url: str, lua: Path, bodies: Path, *, connections: int, seconds: float, pace_ms: float = 0.0) -> dict:
    """One wrk run (one thread, keep-alive) posting ``bodies`` in turn; ``pace_ms`` per connection between requests."""
    assert WRK is not None
    env = dict(os.environ, RDSL_PACE="1" if pace_ms > 0 else "0")
    cmd = [WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(lua), url]
    cmd += ["--", str(bodies), f"{pace_ms:.4f}", str(LAP_SHIFT[bodies])]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr}")
    res = parse_wrk(done.stdout)
    path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
    res["command"] = f"wrk -t1 -c{connections} -d{seconds:g}s --latency -s serve.lua http://127.0.0.1:PORT{path}"
    return res


def late_events(base: str) -> int:
    """``ruledsl_late_events_total`` of the server at ``base`` (checking no event was refused on the way)."""
    text = http_get(base + "/metrics")
    refused = re.search(rb'^ruledsl_rejected_events_total\{reason="bad_event"\} (\S+)', text, re.M)
    if refused and float(refused.group(1)):  # a batch answers 200 with the refusals inside: not a fair figure
        raise RuntimeError(f"the server refused {int(float(refused.group(1)))} events of the benchmark's stream")
    m = re.search(rb"^ruledsl_late_events_total (\S+)", text, re.M)
    return int(float(m.group(1))) if m else 0


# ---------------------------------------------------------------- the measures


def lap_shift(events: list[dict]) -> int:
    """How far each time round the stream moves its events on: the span, rounded up to whole weeks.

    Whole weeks keep each event's hour and weekday (rules read ``hour(ts)``).
    """
    span = events[-1]["ts"] - events[0]["ts"] + 1
    return -(-span // WEEK_MS) * WEEK_MS


def place_laps(events: list[dict]) -> list[dict]:
    """The events moved back by whole weeks to start in 1992, so that many rounds stay in the past.

    The service refuses an event more than a few minutes ahead of the wall
    clock (``max_future_skew``): rounds of a one-year stream from 1992 reach
    the present after about 34 rounds, far more than a run sends.
    """
    back = (events[0]["ts"] - FIRST_LAP_MS) // WEEK_MS * WEEK_MS
    return [dict(e, ts=e["ts"] - back) for e in events]


class Bench:
    """The runs, their results and the files they share."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="rdsl-serve-bench-"))
        self.lua = self.tmp / "serve.lua"
        self.lua.write_text(LUA, encoding="utf-8")
        self.log = self.tmp / "server.log"
        self.env = dict(os.environ, RULEDSL_COMPILED=args.compiled)
        for scope in ("CHANNEL", "ANALYST", "ADMIN"):
            self.env.pop(f"RULEDSL_{scope}_TOKENS", None)  # the open channel: no token check per request
        if args.pythonpath:
            self.env["PYTHONPATH"] = os.pathsep.join([args.pythonpath, self.env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            )
        self.singles, self.batches = self._write_bodies()
        self.runs: dict[str, list[dict]] = {}

    def _write_bodies(self) -> tuple[Path, Path]:
        sys.path.insert(0, str(HERE))
        import workload

        events = place_laps(workload.generate(n_events=self.args.events, cache=True))
        singles = self.tmp / "events.jsonl"
        batches = self.tmp / "batches.jsonl"
        with open(singles, "w", encoding="utf-8") as f:
            for e in events:
                f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
        with open(batches, "w", encoding="utf-8") as f:
            for i in range(0, len(events) - BATCH + 1, BATCH):
                body = {"events": events[i : i + BATCH]}
                f.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
        LAP_SHIFT[singles] = LAP_SHIFT[batches] = lap_shift(events)
        return singles, batches

    def record(self, name: str, res: dict) -> None:
        """Keep one run's result under ``name`` and print it."""
        self.runs.setdefault(name, []).append(res)
        shown = ", ".join(
            f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items() if k != "command"
        )
        print(f"  {name}: {shown}", flush=True)

    def server_args(self) -> list[str]:
        """The ``ruledsl serve`` arguments for one worker on the standard ruleset."""
        return [str(STANDARD), "--max-batch", str(BATCH)]

    def floor(self) -> None:
        """The bare ASGI app's requests/s at the same concurrency."""
        with floor_server(self.env) as url:
            res = timed_wrk(
                url,
                "/",
                1,
                lua=self.lua,
                bodies=self.singles,
                connections=self.args.connections,
                seconds=self.args.duration,
            )
        self.record("floor", res)

    def single(self) -> dict:
        """The most single decisions/s on one worker."""
        with serve(self.server_args(), self.env, self.log) as url:
            res = timed_wrk(
                url,
                "/v1/decide",
                1,
                lua=self.lua,
                bodies=self.singles,
                connections=self.args.connections,
                seconds=self.args.duration,
            )
            res["late_events"] = late_events(url)
        self.record("single", res)
        return res

    def half(self, peak: float) -> None:
        """p50/p99 with wrk paced to half of ``peak`` decisions/s.

        wrk's ``delay()`` is the pause between a response and the connection's
        next request, so the rate is ``connections / (pause + latency)``: a
        short paced run measures the latency part, and the pause of the real
        run is what is left of ``connections / target`` after it.
        """
        target = peak / 2
        conns = self.args.connections
        cycle_ms = 1000.0 * conns / target
        with serve(self.server_args(), self.env, self.log) as url:
            probe = run_wrk(
                url + "/v1/decide",
                self.lua,
                self.singles,
                connections=conns,
                seconds=max(1.0, self.args.duration / 4),
                pace_ms=cycle_ms,
            )
        overhead = 1000.0 * conns / max(probe["requests_per_s"], 1.0) - cycle_ms
        pace_ms = max(0.05, cycle_ms - max(overhead, 0.0))
        with serve(self.server_args(), self.env, self.log) as url:
            res = run_wrk(
                url + "/v1/decide",
                self.lua,
                self.singles,
                connections=conns,
                seconds=self.args.duration,
                pace_ms=pace_ms,
            )
            res["late_events"] = late_events(url)
        res["target_per_s"] = target
        res["pace_ms"] = pace_ms
        self.record("half", res)

    def asgi(self) -> None:
        """Microseconds per decide call through the whole application in this machine's process, no sockets."""
        env = dict(self.env)
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--asgi-child", str(self.singles)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the in-process measure failed: {done.stderr[-2000:]}")
        self.record("asgi", json.loads(done.stdout.strip().splitlines()[-1]))

    def batch(self, extra: Optional[list[str]] = None, name: str = "batch") -> None:
        """Events/s through the batch endpoint, 100 events a request."""
        with serve(self.server_args() + (extra or []), self.env, self.log) as url:
            res = timed_wrk(
                url,
                "/v1/decide/batch",
                BATCH,
                lua=self.lua,
                bodies=self.batches,
                connections=4,
                seconds=self.args.duration,
            )
            res["late_events"] = late_events(url)
        res["events_per_s"] = res["requests_per_s"] * BATCH
        self.record(name, res)

    def redis(self) -> None:
        """Single and batch with two workers sharing a real redis-server."""
        if REDIS_SERVER is None:
            print("  redis: skipped (no redis-server on PATH)")
            return
        with redis_server() as redis_url:
            extra = ["--workers", "2", "--redis", redis_url]
            with serve(self.server_args() + extra, self.env, self.log) as url:
                res = run_wrk(
                    url + "/v1/decide",
                    self.lua,
                    self.singles,
                    connections=self.args.connections,
                    seconds=self.args.duration,
                )
            self.record("redis_single", res)
        with redis_server() as redis_url:
            self.batch(["--workers", "2", "--redis", redis_url], name="redis_batch")

    def run(self) -> dict:
        """Every chosen section, ``--rounds`` times interleaved; the medians."""
        only = self.args.only
        for r in range(self.args.rounds):
            print(f"round {r + 1} of {self.args.rounds}", flush=True)
            if "asgi" in only:
                self.asgi()
            if "floor" in only:
                self.floor()
            peak = None
            if "single" in only or "half" in only:
                peak = self.single()["requests_per_s"]
            if "half" in only and peak:
                self.half(peak)
            if "batch" in only:
                self.batch()
            if "redis" in only:
                self.redis()
        return self.summary()

    def summary(self) -> dict:
        """The median of each measure over the rounds, with the runs themselves."""
        out: dict[str, Any] = {
            "mode": "short" if self.args.short else "full",
            "duration_s": self.args.duration,
            "connections": self.args.connections,
            "events": self.args.events,
            "compiled": self.args.compiled,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "runs": self.runs,
        }
        for name, runs in self.runs.items():
            med: dict[str, Any] = {}
            for key in runs[0]:
                values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
                if values:
                    med[key] = statistics.median(values)
            out[name] = med
        return out


def asgi_child(bodies_file: str, n: int = 10_000) -> dict:
    """In a fresh process: µs per ``POST /v1/decide`` through the application's ASGI callable, and per engine call.

    The same events as the wrk runs, in order, on a fresh engine each; the
    application's figure includes the engine's (and reading the body,
    tokens, metrics, encoding the answer), the difference is what the HTTP
    layer above uvicorn costs.  Best of three passes of ``n`` calls.
    """
    import asyncio

    import msgspec

    from ruledsl.serve.app import create_app
    from ruledsl.serve.config import ServeConfig, Tokens
    from ruledsl.serve.service import Service, load_engine

    bodies = Path(bodies_file).read_bytes().splitlines()[:n]
    config = ServeConfig(rulesets=[str(STANDARD)])

    def ready_engine() -> Any:
        engine = load_engine(config)
        deadline = time.monotonic() + 300
        while os.environ.get("RULEDSL_COMPILED") == "require" and engine.evaluator != "cython":
            if time.monotonic() > deadline:
                raise RuntimeError("the Cython evaluator was not ready")
            time.sleep(0.05)
        return engine

    async def calls(app: Any) -> float:
        async def send(message: Any) -> None:
            pass

        t0 = time.perf_counter()
        for body in bodies:
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive(messages: list = messages) -> Any:
                return messages.pop()

            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/v1/decide",
                "raw_path": b"/v1/decide",
                "query_string": b"",
                "root_path": "",
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 8080),
                "state": {},
            }
            await app(scope, receive, send)
        return (time.perf_counter() - t0) / len(bodies) * 1e6

    app_us, engine_us = [], []
    decode = msgspec.json.Decoder().decode
    for _ in range(3):
        app_us.append(asyncio.run(calls(create_app(Service(config, ready_engine(), Tokens({}))))))
        engine = ready_engine()
        t0 = time.perf_counter()
        for body in bodies:
            engine.evaluate(decode(body))
        engine_us.append((time.perf_counter() - t0) / len(bodies) * 1e6)
    return {"app_us": min(app_us), "engine_us": min(engine_us), "http_layer_us": min(app_us) - min(engine_us)}


def rows(res: dict) -> list[tuple[str, str]]:
    """(measure, figure) rows for run_bench.py's table."""
    out = []
    if "asgi" in res:
        a = res["asgi"]
        out.append(
            (
                "in-process decide call (no sockets)",
                f"{a['app_us']:.1f} µs = engine {a['engine_us']:.1f} + HTTP layer {a['http_layer_us']:.1f}",
            )
        )
    if "floor" in res:
        f = res["floor"]
        cpu = f"; server CPU {f['server_cpu_us_per_event']:.0f} µs each" if "server_cpu_us_per_event" in f else ""
        out.append(
            ("bare uvicorn ASGI app (the floor)", f"{f['requests_per_s']:,.0f} req/s, p99 {f['p99_ms']:.1f} ms{cpu}")
        )
    if "single" in res:
        s = res["single"]
        out.append(
            (
                "single decisions/s, one worker",
                f"{s['requests_per_s']:,.0f}/s, p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.1f} ms"
                + (
                    f"; server CPU {s['server_cpu_us_per_event']:.0f} µs each" if "server_cpu_us_per_event" in s else ""
                ),
            )
        )
    if "half" in res:
        h = res["half"]
        out.append(
            (
                "latency at half that rate",
                f"{h['requests_per_s']:,.0f}/s paced: p50 {h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms",
            )
        )
    if "batch" in res:
        b = res["batch"]
        cpu = f"; server CPU {b['server_cpu_us_per_event']:.1f} µs an event" if "server_cpu_us_per_event" in b else ""
        out.append(("batch of 100, one worker", f"{b['events_per_s']:,.0f} events/s{cpu}"))
    if "redis_single" in res:
        out.append(("two workers on Redis, single", f"{res['redis_single']['requests_per_s']:,.0f}/s"))
    if "redis_batch" in res:
        out.append(("two workers on Redis, batch of 100", f"{res['redis_batch']['events_per_s']:,.0f} events/s"))
    return out


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="2 s runs, 20,000 events, floor/single/batch, one round")
    p.add_argument("--json", help="write the results as JSON to this file ('-': the last line of stdout)")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 8; short 2)")
    p.add_argument("--rounds", type=int, help="rounds of the sections, interleaved; medians reported (default 3)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections for single decisions (default 16)")
    p.add_argument("--events", type=int, help="events of the standard workload (default 200,000; short 20,000)")
    p.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    p.add_argument(
        "--compiled", default="require", choices=("require", "never"), help="the evaluator (RULEDSL_COMPILED)"
    )
    p.add_argument("--pythonpath", help="put DIR first on the server's PYTHONPATH (to measure another ruledsl tree)")
    p.add_argument("--require-wrk", action="store_true", help="exit 1 instead of 0 when wrk is not installed")
    p.add_argument("--asgi-child", help=argparse.SUPPRESS)  # internal: the in-process measure, in a fresh process
    a = p.parse_args(argv)
    a.duration = a.duration or (2.0 if a.short else 8.0)
    a.rounds = a.rounds or (1 if a.short else 3)
    a.events = a.events or (20_000 if a.short else 200_000)
    a.only = tuple(a.only.split(",")) if a.only else (SHORT_SECTIONS if a.short else SECTIONS)
    unknown = set(a.only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}; the sections are {', '.join(SECTIONS)}")
    return a


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark; 0 unless it could not run (wrk missing with ``--require-wrk``, a server failing)."""
    args = parse_args(argv)
    if args.asgi_child:
        print(json.dumps(asgi_child(args.asgi_child)))
        return 0
    if WRK is None:
        print("serve_bench: wrk is not installed (apt-get install wrk); only the in-process measure", file=sys.stderr)
        if args.require_wrk:
            return 1
        args.only = tuple(s for s in args.only if s not in NEEDS_WRK)
        if not args.only:
            return 0
    if hasattr(os, "sched_setaffinity"):  # run_bench.py pins itself to one core: the server and wrk need both
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    bench = Bench(args)
    try:
        res = bench.run()
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    print()
    for measure, figure in rows(res):
        print(f"{measure:<40} {figure}")
    if args.json == "-":
        print(json.dumps(res))
    elif args.json:
        Path(args.json).write_text(json.dumps(res, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
