"""The ``ruledsl`` command line: lint (all formats), fmt, explain, exit codes.

Text output is compared with snapshots in ``tests/cli/snapshots/``; regenerate
them with ``RULEDSL_UPDATE_SNAPSHOTS=1 pytest tests/cli/test_cli.py`` and review
the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl import __version__
from ruledsl.cli.app import app
from ruledsl.syntax.codes import CODES

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

try:  # the checker is written concurrently; lint of valid files needs it
    import ruledsl.check.checker  # noqa: F401

    HAVE_CHECKER = True
except ImportError:  # pragma: no cover
    HAVE_CHECKER = False

needs_checker = pytest.mark.skipif(not HAVE_CHECKER, reason="ruledsl.check.checker not available yet")

CLEAN = """\
ruleset demo {
  timezone "Asia/Shanghai"
}

event transfer {
  customer_id: string
  amount: decimal
  city: string?
}

param big_amount: decimal = 50000.00

window amount_1h = sum(amount) of transfer by customer_id over 1h

rule big_transfer {
  reason "大额转账"
  on transfer
  when amount > big_amount or amount_1h > 2 * big_amount
  action hold
}
"""

# names, types, actions and an unused parameter: errors and warnings from the checker
PROBLEMS = """\
event transfer {
  customer_id: string
  amount: decimal
  city: string?
}

param big_amount: decimal = 50000.00
param unused_limit: int = 3

rule big_transfer {
  reason "大额转账"
  on transfer
  when amount > big_amont and city == 5
  action blok
}
"""

# syntax errors: the parser recovers and reports each broken declaration
SYNTAX = """\
rule r1 {
  when amount > > 100
  action block
}

rule r2 { when amount = 100 action block }

const ok = 1

rule r3 { when amount > 100；action block }
"""

UNFORMATTED = 'rule r {action block when x>1\n  reason "为什么"}\n'


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("RULEDSL_DEBUG", raising=False)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def invoke(runner: CliRunner, *args: str, code: int):
    """Run the CLI; check the exit code and that it failed the way a user should see."""
    result = runner.invoke(app, list(args))
    detail = f"exit {result.exit_code}\n--- output\n{result.output}\n--- exception\n{result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), detail
    assert "Traceback" not in result.output, detail
    assert "internal error" not in result.output, detail
    assert result.exit_code == code, detail
    return result


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("RULEDSL_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"snapshot {path} is missing; run with RULEDSL_UPDATE_SNAPSHOTS=1 to create it")
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"


# ---------------------------------------------------------------- lint


@needs_checker
def test_lint_clean_file(runner, workdir):
    write(workdir / "clean.rdsl", CLEAN)
    result = invoke(runner, "lint", "clean.rdsl", code=0)
    assert result.stdout == "All checks passed (1 file).\n"


@needs_checker
def test_lint_directory_recursively(runner, workdir):
    write(workdir / "rules" / "a.rdsl", CLEAN)
    write(workdir / "rules" / "deep" / "b.rdsl", CLEAN)
    write(workdir / "rules" / "notes.txt", "not a ruleset")
    result = invoke(runner, "lint", "rules", code=0)
    assert result.stdout == "All checks passed (2 files).\n"


@needs_checker
def test_lint_checker_problems_snapshot(runner, workdir):
    write(workdir / "problems.rdsl", PROBLEMS)
    write(workdir / "clean.rdsl", CLEAN)
    result = invoke(runner, "lint", "problems.rdsl", "clean.rdsl", code=1)
    assert result.stdout.endswith("Found 3 errors and 2 warnings in 1 file.\n")
    assert_snapshot("lint_problems", result.stdout)


def test_lint_syntax_errors_snapshot(runner, workdir):
    write(workdir / "syntax.rdsl", SYNTAX)
    result = invoke(runner, "lint", "syntax.rdsl", code=1)
    assert "RD001" in result.stdout and "RD003" in result.stdout
    assert_snapshot("lint_syntax", result.stdout)


@needs_checker
def test_lint_warnings_alone_exit_1(runner, workdir):
    write(workdir / "w.rdsl", CLEAN + "\nparam spare: int = 1\n")
    result = invoke(runner, "lint", "w.rdsl", code=1)
    assert "RD307 warning" in result.stdout
    assert result.stdout.endswith("Found 1 warning in 1 file.\n")


@needs_checker
def test_lint_json(runner, workdir):
    write(workdir / "problems.rdsl", PROBLEMS)
    result = invoke(runner, "lint", "--format", "json", "problems.rdsl", code=1)
    data = json.loads(result.stdout)
    assert isinstance(data, list) and len(data) == 5
    assert {d["code"] for d in data} >= {"RD101", "RD108", "RD307"}
    for d in data:
        assert set(d) == {"path", "line", "col", "end_line", "end_col", "code", "severity", "message", "help"}
        assert d["path"] == "problems.rdsl"
        assert d["severity"] == CODES[d["code"]].severity
    unknown = next(d for d in data if d["code"] == "RD101")
    assert (unknown["line"], unknown["col"], unknown["end_col"]) == (13, 17, 26)
    assert "big_amont" in unknown["message"] and "big_amount" in unknown["help"]


def test_lint_json_clean_syntax_is_list(runner, workdir):
    write(workdir / "syntax.rdsl", SYNTAX)
    data = json.loads(invoke(runner, "lint", "-f", "json", "syntax.rdsl", code=1).stdout)
    assert [d["code"] for d in data][:1] == ["RD001"]


def test_lint_github(runner, workdir):
    write(workdir / "syntax.rdsl", SYNTAX)
    result = invoke(runner, "lint", "--format", "github", "syntax.rdsl", code=1)
    lines = result.stdout.splitlines()
    annotations = [line for line in lines if line.startswith("::")]
    assert annotations and len(annotations) == len(lines) - 1
    first = annotations[0]
    assert first.startswith("::error file=syntax.rdsl,line=2,col=17,endLine=2,endColumn=18,title=RD001::")
    assert "\n" not in first and "%0Ahelp: " in first
    assert_snapshot("lint_github", result.stdout)


@needs_checker
def test_lint_github_warning_level(runner, workdir):
    write(workdir / "problems.rdsl", PROBLEMS)
    out = invoke(runner, "lint", "-f", "github", "problems.rdsl", code=1).stdout
    assert "::warning file=problems.rdsl,line=7,col=7," in out
    assert "::error file=problems.rdsl,line=13,col=17,endLine=13,endColumn=26,title=RD101::" in out


@needs_checker
def test_lint_sarif(runner, workdir):
    write(workdir / "problems.rdsl", PROBLEMS)
    result = invoke(runner, "lint", "--format", "sarif", "problems.rdsl", code=1)
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0" and "sarif" in log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ruledsl" and driver["version"] == __version__
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == sorted(CODES)
    for r in driver["rules"]:
        assert r["shortDescription"]["text"] == CODES[r["id"]].title
        assert r["defaultConfiguration"]["level"] in ("error", "warning")
        assert r["name"].isalnum()
    assert len(run["results"]) == 5
    for res in run["results"]:
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == CODES[res["ruleId"]].severity
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "problems.rdsl"
        assert loc["region"]["startLine"] >= 1 and loc["region"]["startColumn"] >= 1
    unknown = next(r for r in run["results"] if r["ruleId"] == "RD101")
    assert unknown["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 13,
        "startColumn": 17,
        "endLine": 13,
        "endColumn": 26,
    }


@needs_checker
def test_lint_sarif_clean_has_no_results(runner, workdir):
    write(workdir / "clean.rdsl", CLEAN)
    log = json.loads(invoke(runner, "lint", "-f", "sarif", "clean.rdsl", code=0).stdout)
    assert log["runs"][0]["results"] == []


def test_lint_missing_path_exits_2(runner, workdir):
    result = invoke(runner, "lint", "nowhere.rdsl", code=2)
    assert "path not found: nowhere.rdsl" in result.stderr
    assert result.stdout == ""


def test_lint_directory_without_rulesets_exits_2(runner, workdir):
    (workdir / "empty").mkdir()
    write(workdir / "empty" / "readme.txt", "x")
    result = invoke(runner, "lint", "empty", code=2)
    assert "no .rdsl files found in directory empty" in result.stderr


def test_lint_unreadable_file_exits_2(runner, workdir):
    (workdir / "bad.rdsl").write_bytes(b'rule r { reason "\xff\xfe" }')
    result = invoke(runner, "lint", "bad.rdsl", code=2)
    assert "bad.rdsl:1:18: RD008" in result.stdout and "not valid UTF-8: byte 0xFF" in result.stdout


def test_lint_bad_format_and_no_args_are_usage_errors(runner, workdir):
    write(workdir / "syntax.rdsl", SYNTAX)
    invoke(runner, "lint", "--format", "xml", "syntax.rdsl", code=2)
    invoke(runner, "lint", code=2)


@needs_checker
def test_lint_missing_include_is_a_problem_not_an_io_error(runner, workdir):
    write(workdir / "main.rdsl", 'include "gone.rdsl"\n' + CLEAN)
    result = invoke(runner, "lint", "main.rdsl", code=1)
    assert "RD006" in result.stdout and "gone.rdsl" in result.stdout


@needs_checker
def test_lint_shared_include_reported_once(runner, workdir):
    write(workdir / "common.rdsl", "event login {\n  customer_id: string\n}\nparam spare: int = 1\n")
    rule = 'rule r {\n  on login\n  when customer_id == "x"\n  action alert\n}\n'
    write(workdir / "a.rdsl", 'include "common.rdsl"\n\n' + rule)
    write(workdir / "b.rdsl", 'include "common.rdsl"\n\n' + rule)
    out = invoke(runner, "lint", "a.rdsl", "b.rdsl", "common.rdsl", code=1).stdout
    assert out.count("parameter `spare` is never used") == 1


def test_internal_error_is_reported_without_traceback(runner, workdir, monkeypatch):
    import ruledsl.cli.app as cli

    def boom(program):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli, "_check", boom)
    write(workdir / "clean.rdsl", CLEAN)
    result = runner.invoke(app, ["lint", "clean.rdsl"])
    assert result.exit_code == 2
    assert "internal error" in result.stderr and "simulated bug" in result.stderr
    assert "Traceback" not in result.output


def test_colour_is_off_when_not_a_terminal(runner, workdir):
    write(workdir / "syntax.rdsl", SYNTAX)
    out = invoke(runner, "lint", "syntax.rdsl", code=1).stdout
    assert "\x1b[" not in out


# ---------------------------------------------------------------- fmt


def test_fmt_check_lists_files_and_changes_nothing(runner, workdir):
    write(workdir / "messy.rdsl", UNFORMATTED)
    write(workdir / "tidy.rdsl", "const a = 1\n")
    result = invoke(runner, "fmt", "--check", ".", code=1)
    assert "would reformat messy.rdsl" in result.stderr
    assert "tidy.rdsl" not in result.stderr.replace("1 file already formatted", "")
    assert "1 file would be reformatted, 1 file already formatted." in result.stderr
    assert (workdir / "messy.rdsl").read_text(encoding="utf-8") == UNFORMATTED


def test_fmt_rewrites_in_place_then_check_passes(runner, workdir):
    path = write(workdir / "messy.rdsl", UNFORMATTED)
    result = invoke(runner, "fmt", "messy.rdsl", code=0)
    assert "reformatted messy.rdsl" in result.stderr
    assert path.read_text(encoding="utf-8") == textwrap.dedent("""\
        rule r {
          reason "为什么"
          when x > 1
          action block
        }
        """)
    invoke(runner, "fmt", "--check", "messy.rdsl", code=0)
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]


def test_fmt_diff(runner, workdir):
    write(workdir / "messy.rdsl", UNFORMATTED)
    result = invoke(runner, "fmt", "--diff", "messy.rdsl", code=1)
    assert result.stdout.startswith("--- messy.rdsl (original)\n+++ messy.rdsl (formatted)\n")
    assert "+  when x > 1\n" in result.stdout
    assert (workdir / "messy.rdsl").read_text(encoding="utf-8") == UNFORMATTED


def test_fmt_normalises_crlf_and_bom(runner, workdir):
    path = workdir / "win.rdsl"
    path.write_bytes("\ufeffconst a = 1\r\nconst b = 2\r\n".encode("utf-8"))
    invoke(runner, "fmt", "--check", "win.rdsl", code=1)
    invoke(runner, "fmt", "win.rdsl", code=0)
    assert path.read_bytes() == b"const a = 1\nconst b = 2\n"


def test_fmt_leaves_files_with_syntax_errors_untouched(runner, workdir):
    write(workdir / "syntax.rdsl", SYNTAX)
    write(workdir / "messy.rdsl", UNFORMATTED)
    result = invoke(runner, "fmt", "syntax.rdsl", "messy.rdsl", code=1)
    assert "syntax.rdsl:2:17: RD001 error" in result.stderr
    assert "not formatted, it has syntax errors" in result.stderr
    assert (workdir / "syntax.rdsl").read_text(encoding="utf-8") == SYNTAX
    assert (workdir / "messy.rdsl").read_text(encoding="utf-8") != UNFORMATTED  # the good file is still done


def test_fmt_refuses_duplicate_clauses(runner, workdir):
    src = "rule r { when a when b action block }\n"
    write(workdir / "dup.rdsl", src)
    result = invoke(runner, "fmt", "dup.rdsl", code=1)
    assert "more than one `when`" in result.stderr
    assert (workdir / "dup.rdsl").read_text(encoding="utf-8") == src


def test_fmt_missing_path_exits_2(runner, workdir):
    result = invoke(runner, "fmt", "gone.rdsl", code=2)
    assert "path not found" in result.stderr


def test_fmt_keeps_comments(runner, workdir):
    src = "# header\nconst a = 1  # one\n# tail\n"
    path = write(workdir / "c.rdsl", src)
    invoke(runner, "fmt", "c.rdsl", code=0)
    assert path.read_text(encoding="utf-8") == src


def test_repository_rulesets_are_formatted():
    rulesets = ROOT / "rulesets"
    if not rulesets.is_dir() or not list(rulesets.rglob("*.rdsl")):
        pytest.skip("no rulesets yet")
    result = CliRunner().invoke(app, ["fmt", "--diff", str(rulesets)])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), result.output
    # a diff is a style finding, not a failure of the formatter; it must never be a syntax error
    assert "syntax errors" not in result.stderr


# ---------------------------------------------------------------- explain, version


def test_explain_known_code(runner):
    result = invoke(runner, "explain", "RD001", code=0)
    info = CODES["RD001"]
    assert result.stdout == f"RD001 (error): {info.title}\n\n{info.explanation}\n"


@pytest.mark.parametrize("spelling", ["rd001", "RD01", "1", " RD001 "])
def test_explain_accepts_loose_spellings(runner, spelling):
    assert invoke(runner, "explain", spelling, code=0).stdout.startswith("RD001 (error)")


def test_explain_every_code(runner):
    for code in CODES:
        out = invoke(runner, "explain", code, code=0).stdout
        assert out.startswith(f"{code} ({CODES[code].severity}): {CODES[code].title}\n")


def test_explain_unknown_code_suggests(runner):
    result = invoke(runner, "explain", "RD0001", code=2)
    assert "unknown code `RD0001`" in result.stderr and "did you mean `RD001`?" in result.stderr
    result = invoke(runner, "explain", "XYZ", code=2)
    assert "ruledsl explain --list" in result.stderr


def test_explain_list(runner):
    out = invoke(runner, "explain", "--list", code=0).stdout
    lines = out.splitlines()
    assert len(lines) == len(CODES)
    assert lines[0].split()[0] == "RD001"
    assert all(line.split()[1] in ("error", "warning") for line in lines)


def test_explain_needs_a_code(runner):
    invoke(runner, "explain", code=2)
    invoke(runner, "explain", "RD001", "--list", code=2)


def test_version(runner):
    from ruledsl.kernels.state import COMPILED

    out = invoke(runner, "--version", code=0).stdout
    assert out.startswith(f"ruledsl {__version__}\nkernels: ")
    assert ("kernels: compiled (Cython)" in out) == COMPILED


def test_module_entry_point_runs_as_a_program(workdir):
    write(workdir / "syntax.rdsl", SYNTAX)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NO_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "ruledsl", "lint", "syntax.rdsl"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=workdir,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == (SNAPSHOTS / "lint_syntax.txt").read_text(encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ruledsl", "lint", "missing.rdsl"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=workdir,
        timeout=60,
    )
    assert proc.returncode == 2 and "path not found" in proc.stderr and "Traceback" not in proc.stderr
