"""``ruledsl generate`` (the generator as a subcommand), ``python -m ruledsl.sim`` delegating, the demo anywhere."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl.cli.app import app
from ruledsl.sim import generate, write_jsonl
from ruledsl.sim import output as sim_output

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--customers", "30", "--days", "1", "--seed", "4"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _expected(**kw) -> bytes:
    buf = io.BytesIO()
    write_jsonl(generate(30, 1, seed=4, **kw), buf)
    return buf.getvalue()


def test_generate_writes_the_stream_to_stdout_by_default(runner):
    result = runner.invoke(app, ["generate", *SMALL])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == _expected()
    assert "events," in result.stderr and "scenarios" in result.stderr


def test_generate_takes_the_generator_options(runner, tmp_path):
    out = tmp_path / "all.jsonl"
    args = ["generate", *SMALL, "--profile", "all", "--warmup-days", "1", "--ts-format", "iso", "--out", str(out)]
    result = runner.invoke(app, [*args, "--fraud-rate", "0.2", "--start", "2026-12-01"])
    assert result.exit_code == 0, result.output
    expected = _expected(profile="all", warmup_days=1, ts_format="iso", fraud_rate=0.2, start="2026-12-01")
    assert out.read_bytes() == expected
    assert result.stdout == ""  # the stream went to the file
    assert f"-> {out}" in result.stderr


def test_python_dash_m_ruledsl_sim_is_the_same_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ruledsl.sim", *SMALL, "--profile", "all"],
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == _expected(profile="all")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-13-01"], "--start must be a date YYYY-MM-DD"),
        (["--profile", "nope"], "unknown profile or event family 'nope'"),
        (["--scenarios", "no_such_scenario"], "no_such_scenario"),
        (["--customers", "-1"], "--customers"),
    ],
)
def test_bad_options_exit_2_naming_the_option(runner, tmp_path, args, message):
    out = tmp_path / "x.jsonl"
    result = runner.invoke(app, ["generate", *SMALL, *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.fixture
def fake_checkout(tmp_path, monkeypatch) -> Path:
    """A source checkout (pyproject naming ruledsl, the package inside) the generator believes it runs from."""
    root = tmp_path / "checkout"
    (root / "ruledsl").mkdir(parents=True)
    (root / "rulesets").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "ruledsl"\n', encoding="utf-8")
    monkeypatch.setattr(sim_output, "PACKAGE_DIR", root / "ruledsl")
    return root


@pytest.mark.parametrize("where", ["events.jsonl", "rulesets/events.jsonl", "ruledsl/events.jsonl"])
def test_generate_refuses_to_write_into_the_checkout(runner, fake_checkout, monkeypatch, where):
    monkeypatch.chdir(fake_checkout)
    result = runner.invoke(app, ["generate", *SMALL, "--out", where])
    assert result.exit_code == 2
    assert "inside the ruledsl source checkout" in result.stderr and "--force" in result.stderr
    assert not (fake_checkout / where).exists()
    # --force writes it anyway, and out/ (ignored by git) is always allowed
    assert runner.invoke(app, ["generate", *SMALL, "--out", where, "--force"]).exit_code == 0
    assert (fake_checkout / where).read_bytes() == _expected()
    (fake_checkout / "out").mkdir()
    assert runner.invoke(app, ["generate", *SMALL, "--out", "out/events.jsonl"]).exit_code == 0


def test_generate_refuses_the_installed_package(runner, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    (site / "ruledsl").mkdir(parents=True)
    monkeypatch.setattr(sim_output, "PACKAGE_DIR", site / "ruledsl")
    result = runner.invoke(app, ["generate", *SMALL, "--out", str(site / "ruledsl" / "e.jsonl")])
    assert result.exit_code == 2 and "inside the installed ruledsl package" in result.stderr
    assert runner.invoke(app, ["generate", *SMALL, "--out", str(site / "e.jsonl")]).exit_code == 0


def test_the_real_checkout_is_protected():
    if sim_output.checkout_dir() != ROOT:
        pytest.skip("ruledsl is not imported from this checkout")
    assert sim_output.protected_location(str(ROOT / "rulesets" / "e.jsonl")) is not None
    assert sim_output.protected_location(str(ROOT / "e.jsonl")) is not None
    assert sim_output.protected_location(str(ROOT / "out" / "e.jsonl")) is None
    assert sim_output.protected_location("/tmp/e.jsonl") is None


def test_python_dash_m_ruledsl_sim_refuses_the_checkout_too(fake_checkout, monkeypatch, capsys):
    from ruledsl.sim.command import main

    monkeypatch.chdir(fake_checkout)
    with pytest.raises(SystemExit) as info:
        main([*SMALL, "--out", "events.jsonl"])
    assert info.value.code == 2 and "inside the ruledsl source checkout" in capsys.readouterr().err
    assert main([*SMALL, "--out", "events.jsonl", "--force"]) == 0


def test_an_unwritable_out_leaves_nothing(runner, tmp_path):
    result = runner.invoke(app, ["generate", *SMALL, "--out", str(tmp_path / "missing" / "e.jsonl")])
    assert result.exit_code == 2 and "cannot write" in result.stderr
    assert not (tmp_path / "missing").exists()


# ---------------------------------------------------------------- the demo


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COLUMNS")}


def test_demo_help():
    done = subprocess.run(
        [sys.executable, "-m", "ruledsl.cli.demo", "--help"], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m ruledsl.cli.demo")
    for option in ("RULESETS_DIR", "--customers", "--days", "--warmup-days", "--seed"):
        assert option in done.stdout


def test_demo_runs_outside_the_repository(tmp_path):
    args = [sys.executable, "-m", "ruledsl.cli.demo", "--customers", "40", "--days", "1", "--warmup-days", "0"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=300, env=_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "echannel_monitoring.rdsl × echannel_monitoring.jsonl" in done.stdout  # the examples were found
    assert "ruledsl generate --profile all" in done.stdout
    for name in ("account_opening_scorecard", "chain_defense", "counterparty_screening", "gambling_fraud_t1"):
        assert name in done.stdout
    assert list(tmp_path.iterdir()) == []  # it writes nothing


def test_demo_refuses_a_directory_without_rulesets(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ruledsl.cli.demo", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "no .rdsl rulesets in" in done.stderr
