"""``ruledsl serve`` operations: SIGTERM -> snapshot -> restart, SIGHUP reload, hold expiry, start-up refusals, Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import msgspec
import pytest
from test_serve import engine, plain, without_hold_id

import ruledsl
from conftest import RULEDSL, RULESET, free_port, sim_events


@pytest.fixture(scope="module")
def events():
    return sim_events()


def test_sigterm_writes_a_snapshot_and_a_restart_continues(start_server, events, tmp_path):
    state = tmp_path / "state.snap"
    half = len(events) // 2
    first = start_server(RULESET, "--state", state)
    a = first.calls([("POST", "/v1/decide", e, "channel", None) for e in events[:half]])
    rc = first.stop(signal.SIGTERM)
    assert rc in (0, -signal.SIGTERM), first.log  # uvicorn ends by the signal after a clean shutdown
    assert state.exists()
    assert any(line["msg"] == "snapshot written" for line in first.log_lines())
    second = start_server(RULESET, "--state", state)
    b = second.calls([("POST", "/v1/decide", e, "channel", None) for e in events[half:]])
    # the same stream through one engine that never stopped
    reference = engine()
    expected = [plain(reference.evaluate(e).channel_view()) for e in events]
    assert [without_hold_id(body) for _, body in a + b] == expected
    assert {"block", "hold"} <= {body["action"] for _, body in b}
    # the restored holds are the same ones: the first server's open holds are still listed
    held_before = [body["hold_id"] for _, body in a if body["action"] == "hold"]
    listed = [h["hold_id"] for h in second.call("GET", "/v1/admin/holds", None, "admin")[1]]
    assert held_before and listed[: len(held_before)] == held_before
    second.stop()
    assert any(line["msg"] == "state restored" for line in second.log_lines())


def test_holds_expire_on_the_wall_clock(start_server, events):
    srv = start_server(RULESET, "--expire-every", "0.2")
    answers = srv.calls([("POST", "/v1/decide", e, "channel", None) for e in events])
    held = {body["hold_id"] for _, body in answers if body["action"] == "hold"}
    assert held and all(body["hold_expires_at"] < time.time() * 1000 for _, body in answers if body["hold_id"])
    deadline = time.monotonic() + 10
    while srv.call("GET", "/v1/admin/holds", None, "admin")[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.call("GET", "/v1/admin/holds", None, "admin")[1] == []
    _, text = srv.call("GET", "/metrics")
    assert f"ruledsl_holds_expired_total {float(len(held))}" in text
    srv.stop()
    expired = {line["hold_id"] for line in srv.log_lines() if line["msg"] == "hold expired into a block"}
    assert expired == held


def test_sighup_reloads_keeping_state_and_a_broken_ruleset_is_refused(start_server, tmp_path, events):
    for sub in ("common", "lists"):
        shutil.copytree(RULESET.parent / sub, tmp_path / sub)
    path = tmp_path / RULESET.name
    text = RULESET.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    srv = start_server(path)
    night = {
        "type": "transfer",
        "ts": "2026-11-20T02:10:00+08:00",
        "customer_id": "C9001",
        "account_no": "6222000000009001",
        "channel": "mobile",
        "amount": "5000.00",
        "payee_account": "6222000000009002",
        "same_name": False,
        "city": "广州",
    }
    assert srv.call("POST", "/v1/decide", night, "channel")[1]["action"] == "pass"
    lowered = text.replace(
        "param night_large_amount: decimal = 10000.00", "param night_large_amount: decimal = 1000.00"
    )
    assert lowered != text
    path.write_text(lowered, encoding="utf-8")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while srv.call("GET", "/v1/admin/params", None, "admin")[1]["night_large_amount"] != "1000.0000":
        assert time.monotonic() < deadline, "SIGHUP did not reload"
        time.sleep(0.1)
    later = {**night, "ts": "2026-11-20T02:20:00+08:00"}
    assert srv.call("POST", "/v1/decide", later, "channel")[1]["action"] != "pass"
    # a ruleset with errors: the old one keeps running
    path.write_text(lowered + "\nrule broken {\n", encoding="utf-8")
    srv.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert srv.proc.poll() is None
    assert srv.call("GET", "/v1/admin/params", None, "admin")[1]["night_large_amount"] == "1000.0000"
    srv.stop()
    assert any(line["msg"].startswith("reload refused") for line in srv.log_lines())


def _refused(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKENS")}
    full_env.update(env or {}, RULEDSL_COMPILED="never")
    return subprocess.run(
        [str(RULEDSL), "serve", str(RULESET), "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
    )


def test_start_up_refusals():
    done = _refused("--workers", "2")
    assert done.returncode == 2
    assert "--workers 2 needs --redis" in done.stderr and "count alone" in done.stderr
    done = _refused("--host", "0.0.0.0")
    assert done.returncode == 2 and "no channel token is configured" in done.stderr
    done = _refused("--tokens", "/nonexistent/tokens.yaml")
    assert done.returncode == 2 and "cannot read the token file" in done.stderr
    done = _refused(env={"RULEDSL_ADMIN_TOKENS": "short"})
    assert done.returncode == 2 and "at least 16 characters" in done.stderr


def test_a_ruleset_with_errors_never_listens(tmp_path):
    bad = tmp_path / "bad.rdsl"
    bad.write_text("ruleset bad {\n  version 1\n}\nrule r {\n", encoding="utf-8")
    done = subprocess.run(
        [str(RULEDSL), "serve", str(bad), "--port", str(free_port())], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "bad.rdsl" in done.stderr and "not serving it" in done.stderr


def test_token_file(start_server, tmp_path, events):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("channel: [chan-from-file-0000001]\nadmin: admin-from-file-000001\n", encoding="utf-8")
    srv = start_server(RULESET, "--tokens", tokens, tokens=False)
    assert srv.call("POST", "/v1/decide", events[0], "chan-from-file-0000001")[0] == 200
    assert srv.call("POST", "/v1/decide", events[0])[0] == 401
    assert srv.call("GET", "/v1/admin/holds", None, "admin-from-file-000001")[0] == 200
    assert srv.call("GET", "/v1/admin/holds", None, "chan-from-file-0000001")[0] == 403


# ---------------------------------------------------------------- Redis


def test_two_servers_on_one_redis_share_counts(start_server, redis_url, events):
    # two processes on one Redis, events alternating between them: each decides as one engine that saw them all
    a = start_server(RULESET, "--redis", redis_url)
    b = start_server(RULESET, "--redis", redis_url)
    stream = [e for e in events if not e.get("warmup")][:160]
    answers = []
    for i in range(0, len(stream), 20):  # 20 events to one process, the next 20 to the other
        srv = a if (i // 20) % 2 == 0 else b
        answers += srv.calls([("POST", "/v1/decide", e, "channel", None) for e in stream[i : i + 20]])
    reference = engine()
    expected = [plain(reference.evaluate(e).channel_view()) for e in stream]
    assert [without_hold_id(body) for _, body in answers] == expected
    alone = engine()  # what one process would have decided on only its own share: different
    own = [plain(alone.evaluate(e).channel_view()) for i, e in enumerate(stream) if (i // 20) % 2 == 0]
    assert own != [x for i, x in enumerate(expected) if (i // 20) % 2 == 0]


def test_two_workers_on_redis(start_server, redis_url, events):
    srv = start_server(RULESET, "--redis", redis_url, "--workers", "2")
    stream = [e for e in events if not e.get("warmup")][:60]
    answers = []
    for e in stream:  # one connection per event: the kernel hands them to either worker
        answers += srv.calls([("POST", "/v1/decide", e, "channel", None)])
    reference = engine()
    assert [without_hold_id(body) for _, body in answers] == [
        plain(reference.evaluate(e).channel_view()) for e in stream
    ]
    status, body = srv.call("PUT", "/v1/admin/params/night_large_amount", {"value": "1"}, "admin")
    assert status == 409 and "one worker only" in body["error"]["message"]
    srv.stop()
    started = [line for line in srv.log_lines() if line["msg"] == "serving"]
    assert len(started) == 2  # two worker processes each loaded the ruleset
    assert msgspec.json.decode(msgspec.json.encode(started[0]))["redis"] is True
    _ = ruledsl
