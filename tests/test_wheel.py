"""An installed wheel finds its grammar (no checkout beside it) and works end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ, RULEDSL_NO_EXTENSIONS="1")  # a pure build is enough to test packaging, and fast
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (built,) = out.glob("ruledsl-*.whl")
    return built


def test_wheel_ships_the_grammar(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "ruledsl/grammar/ruledsl.lark" in names
    assert "ruledsl/stores/redis.lua" in names  # RedisStore reads its script with importlib.resources
    assert "ruledsl/lab/templates/backtest.html.j2" in names  # the lab's reports (jinja2.PackageLoader)
    assert "ruledsl/lab/templates/base.html.j2" in names
    # the example rulesets, their includes, lists and example events: the demo runs from an installed wheel
    for shipped in (
        "ruledsl/rulesets/echannel_monitoring.rdsl",
        "ruledsl/rulesets/common/echannel_events.rdsl",
        "ruledsl/rulesets/examples/echannel_monitoring.jsonl",
        "ruledsl/rulesets/lists/risk_accounts_sample.txt",
        "ruledsl/rulesets/lists/risk_accounts_categorised_sample.csv",
        "ruledsl/rulesets/tests/echannel_monitoring.test.yaml",
        "ruledsl/cli/lsp/server.py",
    ):
        assert shipped in names, shipped
    assert any(n.endswith((".dist-info/licenses/LICENSE", ".dist-info/LICENSE")) for n in names)


def test_installed_wheel_parses_and_evaluates_outside_the_checkout(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    ruleset = tmp_path / "r.rdsl"
    ruleset.write_text(
        'event transfer { amount: decimal }\nrule big { reason "大额" on transfer when amount > 100 action hold }\n',
        encoding="utf-8",
    )
    script = (
        "import ruledsl, ruledsl.syntax.parser as p\n"
        "assert 'site' in ruledsl.__file__, ruledsl.__file__\n"
        f"e = ruledsl.load({str(ruleset)!r})\n"
        "print(e.evaluate({'type': 'transfer', 'ts': 0, 'amount': '150'}).action)\n"
    )
    # run from an empty directory with only the installed copy on the path
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    env["RULEDSL_NO_EXTENSIONS"] = "1"
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            script.replace("import ruledsl,", f"import sys; sys.path.insert(0, {str(target)!r}); import ruledsl,"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hold"


def test_the_demo_and_generate_run_from_the_installed_wheel(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COLUMNS")}
    env["PYTHONPATH"] = str(target)
    work = tmp_path / "elsewhere"
    work.mkdir()
    demo = subprocess.run(
        [sys.executable, "-m", "ruledsl.cli.demo", "--customers", "40", "--days", "1", "--warmup-days", "0"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr
    assert str(target / "ruledsl" / "rulesets") in demo.stdout  # the shipped rulesets, not a checkout's
    assert "echannel_monitoring.rdsl × echannel_monitoring.jsonl" in demo.stdout
    # the stream is the checkout's: the sample lists ship with the package
    gen = subprocess.run(
        [sys.executable, "-m", "ruledsl", "generate", "--customers", "200", "--days", "2", "--profile", "counter"],
        capture_output=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert gen.returncode == 0, gen.stderr.decode()
    here = subprocess.run(
        [sys.executable, "-m", "ruledsl.sim", "--customers", "200", "--days", "2", "--profile", "counter"],
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )
    assert gen.stdout == here.stdout
