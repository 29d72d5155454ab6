"""No C compiler: setup.py's build_ext falls back to the pure-Python kernels with one clear message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _copy_source(dest: Path) -> None:
    """The files setup.py builds from, without compiled extensions (the generated .c are kept: faster)."""
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("grammar", "rulesets"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copytree(ROOT / "ruledsl", dest / "ruledsl", ignore=shutil.ignore_patterns("*.so", "__pycache__"))


@pytest.mark.skipif(not (ROOT / "setup.py").is_file(), reason="needs the source checkout")
def test_build_ext_without_a_compiler_falls_back_to_the_pure_kernels(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _copy_source(src)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RULEDSL_NO_EXTENSIONS")}
    env["CC"] = "/nonexistent/cc"
    done = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "ruledsl: the Cython kernels were NOT compiled" in done.stderr
    assert "/nonexistent/cc" in done.stderr  # the reason, in one line
    assert "pure-Python kernels" in done.stderr and "apt-get install gcc python3-dev" in done.stderr
    assert "Traceback" not in output
    assert not list((src / "ruledsl").rglob("*.so"))  # nothing half-built: all pure or all compiled

    ruleset = tmp_path / "r.rdsl"
    ruleset.write_text(
        "event transfer { customer: string amount: decimal }\n"
        "window n = count() of transfer by customer over 1h\n"
        'rule many { on transfer when n >= 2 action hold reason "many" }\n',
        encoding="utf-8",
    )
    script = (
        "import ruledsl, ruledsl.kernels.state as k\n"
        f"assert ruledsl.__file__.startswith({str(src)!r}), ruledsl.__file__\n"
        "assert not k.COMPILED\n"
        f"e = ruledsl.load({str(ruleset)!r})\n"
        "ev = {'type': 'transfer', 'customer': 'c', 'amount': '1'}\n"
        "print([e.evaluate(dict(ev, ts=t)).action for t in (0, 1000, 2000)])\n"
    )
    env.pop("CC")
    env["PYTHONPATH"] = str(src)
    ran = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "['pass', 'hold', 'hold']"
    version = subprocess.run(
        [sys.executable, "-m", "ruledsl", "--version"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert "kernels: pure Python" in version.stdout, version.stdout + version.stderr
