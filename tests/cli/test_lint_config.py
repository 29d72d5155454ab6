"""ruledsl lint/fmt like ruff: configuration files, --select/--ignore, exit-zero, warnings-as-errors,
stdin, --watch, --color, and a reader that closes the pipe (docs/lint.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl.cli.app import app

SCHEMA = """event transfer {
  customer: string
  amount: decimal
}
"""
# RD407 on line 5, RD409 on line 6, RD307 on line 7
WARNINGS = SCHEMA + (
    'rule a { on transfer when amount > 10 and amount < 5 action alert reason "a" code "C" }\n'
    'rule b { on transfer when amount > 20 action block reason "b" code "C" }\n'
    "const spare = 1\n"
)
CLEAN = SCHEMA + 'rule a { on transfer when amount > 10 action alert reason "a" }\n'


def run(args, cwd: Path, stdin: str | None = None, env: dict | None = None):
    """The real console script, in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "ruledsl", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "", "FORCE_COLOR": "", **(env or {})},
        timeout=120,
    )


def lint_codes(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["lint", "--format", "json", *args], catch_exceptions=False)
    return result.exit_code, [d["code"] for d in json.loads(result.stdout or "[]")]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.rdsl").write_text(WARNINGS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_config_every_warning_fails(project):
    assert lint_codes(project, "rules") == (1, ["RD407", "RD409", "RD307"])


def test_pyproject_select_ignore_and_per_file_ignores(project):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.ruledsl]\nselect = ["RD4"]\nignore = ["RD409"]\n', encoding="utf-8"
    )
    assert lint_codes(project, "rules") == (1, ["RD407"])
    (project / "pyproject.toml").write_text(
        '[tool.ruledsl]\nselect = ["RD4"]\n[tool.ruledsl.per-file-ignores]\n"rules/*.rdsl" = ["RD407"]\n',
        encoding="utf-8",
    )
    assert lint_codes(project, "rules") == (1, ["RD409"])


def test_the_nearest_config_wins_and_ruledsl_toml_beats_pyproject(project):
    (project / "pyproject.toml").write_text('[tool.ruledsl]\nignore = ["RD4"]\n', encoding="utf-8")
    assert lint_codes(project, "rules") == (1, ["RD307"])
    (project / "rules" / "ruledsl.toml").write_text('ignore = ["RD307"]\n', encoding="utf-8")
    assert lint_codes(project, "rules") == (1, ["RD407", "RD409"])  # nearer: replaces the pyproject one
    (project / "rules" / "pyproject.toml").write_text('[tool.ruledsl]\nignore = ["RD407"]\n', encoding="utf-8")
    assert lint_codes(project, "rules") == (1, ["RD407", "RD409"])  # ruledsl.toml first in one directory


def test_a_pyproject_without_the_table_is_skipped(project):
    (project / "pyproject.toml").write_text('[tool.ruledsl]\nignore = ["RD4"]\n', encoding="utf-8")
    (project / "rules" / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert lint_codes(project, "rules") == (1, ["RD307"])


def test_command_line_overrides_the_file(project):
    (project / "ruledsl.toml").write_text('select = ["RD307"]\nexit-zero = true\n', encoding="utf-8")
    assert lint_codes(project, "rules") == (0, ["RD307"])
    assert lint_codes(project, "rules", "--no-exit-zero") == (1, ["RD307"])
    assert lint_codes(project, "rules", "--select", "RD409,RD407") == (0, ["RD407", "RD409"])
    assert lint_codes(project, "rules", "--select", "RD4", "--ignore", "RD407") == (0, ["RD409"])
    other = project / "other.toml"
    other.write_text('ignore = ["RD3"]\n', encoding="utf-8")
    assert lint_codes(project, "rules", "--config", str(other)) == (1, ["RD407", "RD409"])


def test_exit_zero_never_hides_errors_and_warnings_as_errors(project):
    (project / "rules" / "bad.rdsl").write_text(SCHEMA + "const c = nope\n", encoding="utf-8")
    assert lint_codes(project, "rules/bad.rdsl", "--exit-zero") == (1, ["RD307", "RD101"])
    result = CliRunner().invoke(app, ["lint", "rules/r.rdsl", "--exit-zero", "--warnings-as-errors", "-f", "json"])
    assert result.exit_code == 1
    assert {d["severity"] for d in json.loads(result.stdout)} == {"error"}
    (project / "ruledsl.toml").write_text('warnings-as-errors = true\noutput-format = "github"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["lint", "rules/r.rdsl"])
    assert result.stdout.startswith("::error file=rules/r.rdsl,line=5")


@pytest.mark.parametrize(
    "toml,message",
    [
        ('selct = ["RD4"]\n', "unknown key `selct`; did you mean `select`?"),
        ('ignore = ["RD9999"]\n', "unknown code `RD9999`"),
        ('ignore = ["RD2"]\n', "names only errors"),
        ("exit-zero = 1\n", "expected true or false"),
        ('output-format = "xml"\n', "one of text, json, github, sarif"),
        ("select = [\n", "not valid TOML"),
    ],
)
def test_a_bad_config_is_a_usage_error(project, toml, message):
    (project / "ruledsl.toml").write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(app, ["lint", "rules"])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_codes_on_the_command_line(project):
    result = CliRunner().invoke(app, ["lint", "rules", "--ignore", "RD40x"])
    assert result.exit_code == 2 and "unknown code `RD40x`" in result.stderr


def test_suppression_comments_through_the_cli(project):
    text = WARNINGS.replace("const spare = 1\n", "const spare = 1  # ruledsl: ignore[RD307] -- next release\n")
    text = text.replace('code "C" }\n', 'code "C" }  # ruledsl: ignore[RD407]\n', 1)
    (project / "rules" / "r.rdsl").write_text(text, encoding="utf-8")
    assert lint_codes(project, "rules") == (1, ["RD409"])


# ---------------------------------------------------------------- stdin


def test_lint_stdin_with_a_filename_uses_its_config_and_includes(project):
    (project / "rules" / "schema.rdsl").write_text(SCHEMA, encoding="utf-8")
    (project / "rules" / "ruledsl.toml").write_text('ignore = ["RD409"]\n', encoding="utf-8")
    text = 'include "schema.rdsl"\n' + WARNINGS[len(SCHEMA) :]
    result = run(["lint", "-", "--stdin-filename", "rules/new.rdsl", "-f", "json"], project, stdin=text)
    assert result.returncode == 1, result.stderr
    found = json.loads(result.stdout)
    assert [(d["code"], d["path"], d["line"]) for d in found] == [
        ("RD407", "rules/new.rdsl", 2),
        ("RD307", "rules/new.rdsl", 4),
    ]
    clean = run(["lint", "-"], project, stdin=CLEAN)
    assert clean.returncode == 0 and "All checks passed (1 file)" in clean.stdout


def test_fmt_stdin(project):
    result = run(["fmt", "-"], project, stdin="const   x = 1\n")
    assert (result.returncode, result.stdout) == (0, "const x = 1\n")
    assert run(["fmt", "-", "--check"], project, stdin="const   x = 1\n").returncode == 1
    diff = run(["fmt", "-", "--diff", "--stdin-filename", "a.rdsl"], project, stdin="const   x = 1\n")
    assert diff.returncode == 1 and "+const x = 1" in diff.stdout and "a.rdsl (formatted)" in diff.stdout
    broken = run(["fmt", "-"], project, stdin="const x = \n")
    assert broken.returncode == 1 and broken.stdout == "" and "RD00" in broken.stderr


# ---------------------------------------------------------------- colour, pipes, watch


def test_color_modes(project):
    colored = run(["lint", "rules", "--color", "always"], project)
    assert "\x1b[" in colored.stdout
    assert "\x1b[" not in run(["lint", "rules"], project).stdout  # not a terminal
    assert "\x1b[" in run(["lint", "rules"], project, env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run(["lint", "rules", "--color", "never"], project, env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run(["lint", "rules"], project, env={"NO_COLOR": "1"}).stdout


def test_fmt_diff_color_modes(project):
    (project / "a.rdsl").write_text("const x=1\n", encoding="utf-8")
    colored = run(["fmt", "--diff", "--color", "always", "a.rdsl"], project)
    assert colored.returncode == 1
    # git's colours, each line reset before its newline
    assert "\x1b[31m-const x=1\x1b[0m\n" in colored.stdout and "\x1b[32m+const x = 1\x1b[0m\n" in colored.stdout
    assert "\x1b[1m--- a.rdsl (original)\x1b[0m\n" in colored.stdout and "\x1b[36m@@ " in colored.stdout
    plain = run(["fmt", "--diff", "--color", "never", "a.rdsl"], project, env={"FORCE_COLOR": "1"})
    assert plain.returncode == 1 and "-const x=1\n+const x = 1\n" in plain.stdout and "\x1b[" not in plain.stdout
    assert "\x1b[" not in run(["fmt", "--diff", "a.rdsl"], project).stdout  # auto: not a terminal
    assert "\x1b[31m" in run(["fmt", "--diff", "a.rdsl"], project, env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run(["fmt", "--diff", "a.rdsl"], project, env={"NO_COLOR": "1"}).stdout
    piped = run(["fmt", "-", "--diff", "--color", "always"], project, stdin="const x=1\n")
    assert "\x1b[32m+const x = 1\x1b[0m" in piped.stdout
    # --check prints file names only, --color or not; the file is never written
    check = run(["fmt", "--check", "--color", "always", "a.rdsl"], project)
    assert check.returncode == 1 and check.stdout == "" and "would reformat a.rdsl" in check.stderr
    assert (project / "a.rdsl").read_text(encoding="utf-8") == "const x=1\n"


def test_a_closed_pipe_ends_quietly(project):
    many = SCHEMA + "".join(
        f'rule r{i} {{ on transfer when amount > 10 and amount < 5 action alert reason "r" }}\n' for i in range(400)
    )
    (project / "rules" / "r.rdsl").write_text(many, encoding="utf-8")
    env = {**os.environ, "NO_COLOR": "1"}
    lint = subprocess.Popen(
        [sys.executable, "-m", "ruledsl", "lint", "rules"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    head = subprocess.Popen(["head", "-1"], stdin=lint.stdout, stdout=subprocess.PIPE)
    assert lint.stdout is not None
    lint.stdout.close()  # only head reads it now
    first, _ = head.communicate(timeout=120)
    err = lint.stderr.read().decode() if lint.stderr else ""
    code = lint.wait(timeout=120)
    assert b"RD407" in first
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    assert code in (0, 1)


def test_watch_lints_again_after_a_change(project):
    target = project / "rules" / "r.rdsl"
    target.write_text(CLEAN, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ruledsl", "lint", "rules", "--watch", "--watch-interval", "0.1"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout is not None
    try:
        assert "All checks passed" in proc.stdout.readline()
        time.sleep(0.3)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(CLEAN + "const spare = 1\n", encoding="utf-8")
        os.replace(tmp, target)  # as editors save: the watcher never sees half a file
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("Found"):
                break
        assert any("RD307" in line for line in lines), lines
        assert lines[-1].startswith("Found 1 warning")
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "[watch] change detected" in err
