"""benchmarks/serve_bench.py: wrk's output read right, and its Lua script keeps time going round the stream."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import serve_bench

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:41234/v1/decide
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    3.90ms  61.21ms   93.05%
    Req/Sec     5.72k   512.33     6.41k    75.00%
  Latency Distribution
     50%  812.00us
     75%    1.64ms
     90%    4.93ms
     99%   20.01s
  11391 requests in 2.00s, 1.94MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   5693.28
Transfer/sec:      0.97MB
"""


def test_parse_wrk():
    res = serve_bench.parse_wrk(WRK_OUTPUT)
    assert res["requests_per_s"] == 5693.28 and res["requests"] == 11391
    assert res["p50_ms"] == pytest.approx(0.812) and res["p75_ms"] == 1.64 and res["p99_ms"] == 20010.0
    assert res["non_2xx"] == 7 and res["socket_errors"] == 3
    with pytest.raises(RuntimeError, match="no rate"):
        serve_bench.parse_wrk("wrk: connection refused")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (the benchmark skips without it)")
def test_the_stream_goes_round_without_late_events(tmp_path):
    # 1,000 events sent several times over on one connection: every round moves time on, so nothing is late
    out = tmp_path / "serve.json"
    args = ["--only", "single", "--rounds", "1", "--duration", "1", "--events", "1000", "--connections", "1"]
    assert serve_bench.main([*args, "--compiled", "never", "--json", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]["single"]
    assert run["requests"] > 1000 and run["non_2xx"] == 0 and run["socket_errors"] == 0
    assert run["late_events"] == 0
