"""Progress bars (a terminal only) and Ctrl-C (a partial summary, exit 130) for ``run``, ``lint`` and ``fmt``."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from ruledsl.cli import progress
from ruledsl.cli.app import app
from ruledsl.sim import generate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"
CLEAN = 'event transfer { customer: string amount: decimal }\nrule big { on transfer when amount > 10 action hold reason "big" }\n'
UGLY = (
    'event transfer {customer:string amount:decimal}\nrule big {on transfer when amount>10 action hold reason "big"}\n'
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _files(tmp_path: Path, n: int, text: str) -> list[Path]:
    out = []
    for i in range(n):
        path = tmp_path / f"r{i:04d}.rdsl"  # sorted as created
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out


def _ctrl_c_on_call(monkeypatch, module, name: str, at: int) -> list[int]:
    """Wrap ``module.name`` so that its ``at``-th call is followed by a real SIGINT to this process."""
    calls = [0]
    real = getattr(module, name)

    def wrapped(*args, **kwargs):
        calls[0] += 1
        result = real(*args, **kwargs)
        if calls[0] == at:
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs at once, in the main thread
        return result

    monkeypatch.setattr(module, name, wrapped)
    return calls


# ---------------------------------------------------------------- in-process, deterministic


def test_ctrl_c_during_lint_checks_the_current_file_then_summarises_those_done(runner, tmp_path, monkeypatch):
    import ruledsl.cli.app as cli_app

    files = _files(tmp_path, 10, CLEAN + "const unused = 3\n")  # one warning each
    calls = _ctrl_c_on_call(monkeypatch, cli_app, "_check", 4)
    result = runner.invoke(app, ["lint", *map(str, files)])
    assert result.exit_code == 130, result.output
    assert calls[0] == 4  # stopped after the file being checked
    assert "Found 4 warnings in 4 files." in result.stdout  # the partial summary counts what was checked
    assert "interrupted: checking stopped after 4 of 10 files; the summary is partial" in result.stderr
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_ctrl_c_during_fmt_leaves_every_file_whole(runner, tmp_path, monkeypatch):
    import ruledsl.syntax.formatter as formatter

    files = _files(tmp_path, 8, UGLY)
    _ctrl_c_on_call(monkeypatch, formatter, "format_module", 3)
    result = runner.invoke(app, ["fmt", *map(str, files)])
    assert result.exit_code == 130, result.output
    assert "3 files reformatted." in result.stderr
    assert "interrupted: formatting stopped after 3 of 8 files" in result.stderr
    texts = [f.read_text(encoding="utf-8") for f in files]
    assert texts[3:] == [UGLY] * 5 and all(t != UGLY for t in texts[:3])


def test_ctrl_c_during_run_summarises_the_events_read(runner, tmp_path, monkeypatch):
    import ruledsl.cli.run as run_module

    events = tmp_path / "events.jsonl"
    with open(events, "wb") as f:
        n = write_jsonl(generate(40, 1, seed=3), f)
    real = run_module.replay

    def replay(rulesets, lines, **kw):
        def interrupting():
            for i, line in enumerate(lines, 1):
                if i == 50:
                    os.kill(os.getpid(), signal.SIGINT)
                yield line

        return real(rulesets, interrupting(), **kw)

    monkeypatch.setattr(run_module, "replay", replay)
    out = tmp_path / "decisions.jsonl"
    result = runner.invoke(app, ["run", str(ECHANNEL), "--events", str(events), "--out", str(out), "--format", "json"])
    assert result.exit_code == 130, result.output
    summary = msgspec.json.decode(result.stdout)
    assert summary["lines"] == 50 < n  # (events + warm-up events)
    assert len(out.read_bytes().splitlines()) == 50  # every decision of the events read, each whole
    assert "interrupted: stopped after 50 lines; the summary is partial" in result.stderr


def test_no_bar_and_no_change_when_stderr_is_not_a_terminal(runner, tmp_path):
    files = _files(tmp_path, 5, CLEAN)
    result = runner.invoke(app, ["lint", *map(str, files)])
    assert result.exit_code == 0 and result.stderr == ""
    assert "All checks passed (5 files)." in result.stdout
    assert progress.interrupted() is None


def test_bar_only_on_a_terminal_outside_ci(monkeypatch):
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert progress.bar_wanted()
    monkeypatch.setenv("CI", "true")
    assert not progress.bar_wanted()
    monkeypatch.delenv("CI")
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.bar_wanted()


# ---------------------------------------------------------------- real processes: a terminal, SIGINT


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "PYTHONPATH")}
    env.update(TERM="xterm", COLUMNS="120", LINES="40")
    return env


def _start_on_a_terminal(args: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    """Start ``args`` with stderr on a pseudo-terminal (stdout a pipe); returns the process and the pty's end."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=slave, env=_env())
    os.close(slave)
    return proc, master


def _read_until(master: int, wanted: bytes, timeout: float) -> bytes:
    """What the terminal got until the regular expression ``wanted`` matched (or the timeout)."""
    seen = b""
    end = time.monotonic() + timeout
    while re.search(wanted, seen) is None and time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    return seen


def _drain(master: int) -> bytes:
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            return out
        try:
            chunk = os.read(master, 65536)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


@pytest.fixture(scope="module")
def big_events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "events.jsonl"
    with open(path, "wb") as f:
        write_jsonl(generate(3000, 4, seed=5), f)
    return path


def test_run_shows_a_bar_on_a_terminal_and_sigint_gives_a_partial_summary(tmp_path, big_events):
    total = sum(1 for _ in big_events.open("rb"))
    out = tmp_path / "decisions.jsonl"
    args = [sys.executable, "-m", "ruledsl", "run", str(ECHANNEL), "--events", str(big_events), "--out", str(out)]
    proc, master = _start_on_a_terminal([*args, "--format", "json"], tmp_path)
    try:
        seen = _read_until(master, rb"running.*[1-9][\d,]* lines", timeout=120)
        assert re.search(rb"running.*[1-9][\d,]* lines", seen), seen[-2000:]  # the bar, on the terminal
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
        seen += _drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 130, seen.decode(errors="replace")[-3000:]
    assert b"interrupted: stopped after" in seen and b"the summary is partial" in seen
    summary = msgspec.json.decode(stdout)
    events = summary["lines"]
    assert 0 < events < total
    decisions = out.read_bytes().splitlines()
    assert len(decisions) == events  # the decisions of exactly the events summarised, each a whole line
    assert msgspec.json.decode(decisions[-1])["line"] == events


def test_lint_sigint_on_a_terminal(tmp_path):
    _files(tmp_path, 3000, CLEAN + "const unused = 3\n")
    proc, master = _start_on_a_terminal([sys.executable, "-m", "ruledsl", "lint", str(tmp_path)], tmp_path)
    try:
        wanted = rb"checking.* [1-9]\d*/3000 r\d+\.rdsl"  # the bar names the file being checked
        seen = _read_until(master, wanted, timeout=120)
        assert re.search(wanted, seen), seen[-2000:]
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
        seen += _drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    if proc.returncode == 1:
        pytest.skip("every file was checked before the signal arrived (a very fast machine)")
    assert proc.returncode == 130, seen.decode(errors="replace")[-3000:]
    assert b"interrupted: checking stopped after" in seen
    text = stdout.decode()
    assert "Found" in text and "RD307" in text and "r0000.rdsl" in text and "r2999.rdsl" not in text


def test_lint_in_a_pipe_draws_no_bar(tmp_path):
    files = _files(tmp_path, 30, CLEAN)
    done = subprocess.run(
        [sys.executable, "-m", "ruledsl", "lint", *map(str, files)], capture_output=True, cwd=tmp_path, env=_env()
    )
    assert done.returncode == 0
    assert done.stderr == b"" and b"\x1b[" not in done.stdout


def test_lint_watch_leaves_ctrl_c_to_the_watch(runner, tmp_path, monkeypatch):
    import ruledsl.cli.app as cli_app

    files = _files(tmp_path, 3, CLEAN)
    _ctrl_c_on_call(monkeypatch, cli_app, "_check", 2)  # during the first pass: it ends the watch
    result = runner.invoke(app, ["lint", "--watch", *map(str, files)])
    assert result.exit_code == 0, result.output
    assert "[watch] stopped" in result.stderr and "interrupted:" not in result.stderr
    assert progress.interrupted() is None
