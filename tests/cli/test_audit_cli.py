"""``ruledsl audit verify`` / ``ruledsl audit show``: exit codes and messages, in process and as a real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl.cli.app import app
from ruledsl.runtime.audit import AuditLog, verify

ROOT = Path(__file__).resolve().parents[2]
RULEDSL = Path(sys.executable).parent / "ruledsl"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append("set_param", "big", "50000.0000", "60000.0000", by="alice", reason="旺季提高阈值")
        log.append(
            "update_list",
            "black",
            {"count": 1, "digest": "sha256:" + "a" * 64},
            {"count": 2, "digest": "sha256:" + "b" * 64, "added": ["X"], "removed": []},
            by="bob",
        )
        log.append("reload", "echannel", {"paths": ["a.rdsl"]}, {"paths": ["a.rdsl"], "kept_state": []}, by="carol")
        log.append("hold.confirm", "H-1", {"state": "open"}, {"state": "released"}, by="dan")
    return path


def invoke(runner: CliRunner, *args, code: int):
    result = runner.invoke(app, ["audit", *map(str, args)])
    detail = f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), detail
    assert "Traceback" not in result.output and "internal error" not in result.output, detail
    assert result.exit_code == code, detail
    return result


def tamper(path: Path, index: int, **changes) -> None:
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    entries[index].update(changes)
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")


def test_verify_an_intact_log_prints_the_head(runner: CliRunner, log_path: Path):
    head = verify(log_path).head
    result = invoke(runner, "verify", log_path, code=0)
    assert f"{log_path}: ok, 4 entries" in result.stdout
    assert f"head {head}" in result.stdout
    result = invoke(runner, "verify", log_path, "--expect-head", str(head), code=0)
    assert "contains the expected head" in result.stdout


def test_verify_a_tampered_log_names_the_line(runner: CliRunner, log_path: Path):
    tamper(log_path, 1, by="mallory")
    result = invoke(runner, "verify", log_path, code=1)
    assert result.stdout.strip() == f"{log_path}:2: hash does not match the line's content (the line was edited)"


def test_expect_head_catches_a_cut_tail(runner: CliRunner, log_path: Path):
    head = verify(log_path).head
    text = log_path.read_text(encoding="utf-8").splitlines(keepends=True)
    log_path.write_text("".join(text[:-1]), encoding="utf-8")
    invoke(runner, "verify", log_path, code=0)  # alone, a cut tail is still a valid chain
    result = invoke(runner, "verify", log_path, "--expect-head", str(head), code=1)
    assert result.stdout.startswith(f"{log_path}:4: the log ends at seq 3 but the expected head is seq 4")


@pytest.mark.parametrize("args", [["verify", "missing.jsonl"], ["show", "missing.jsonl"]])
def test_a_missing_log_is_a_usage_error(runner: CliRunner, tmp_path: Path, args: list[str]):
    result = invoke(runner, args[0], tmp_path / args[1], code=2)
    assert "no such audit log" in result.stderr


def test_a_malformed_expect_head_is_a_usage_error(runner: CliRunner, log_path: Path):
    result = invoke(runner, "verify", log_path, "--expect-head", "4:nothex", code=2)
    assert "--expect-head" in result.stderr and "SEQ:HASH" in result.stderr


def test_show_prints_the_entries(runner: CliRunner, log_path: Path):
    result = invoke(runner, "show", log_path, code=0)
    for text in ("alice", "旺季提高阈值", "set_param", "update_list", "2 entries, +1 -0", "hold.confirm", "released"):
        assert text in result.stdout
    result = invoke(runner, "show", log_path, "--last", "1", code=0)
    assert "hold.confirm" in result.stdout and "alice" not in result.stdout


def test_show_stops_at_the_first_bad_line(runner: CliRunner, log_path: Path):
    tamper(log_path, 2, by="mallory")
    result = invoke(runner, "show", log_path, code=1)
    assert "alice" in result.stdout and "mallory" not in result.stdout
    assert f"{log_path}:3: hash does not match" in result.stderr


def test_verify_as_a_real_command(log_path: Path):
    ok = subprocess.run([RULEDSL, "audit", "verify", log_path], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == f"head {verify(log_path).head}"
    swapped = log_path.read_text(encoding="utf-8").splitlines(keepends=True)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    log_path.write_text("".join(swapped), encoding="utf-8")
    bad = subprocess.run([RULEDSL, "audit", "verify", log_path], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stdout.strip() == f"{log_path}:2: seq 3 where 2 was expected (a line removed, inserted or moved here)"
