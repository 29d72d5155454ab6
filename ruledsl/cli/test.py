"""``ruledsl test``: run rule tests (``*.test.yaml``, see docs/testing.md).

Output is pytest-like: a line per test file with ``.`` (passed), ``F``
(failed), ``s`` (skipped) or ``E`` (the file is invalid), then the failures
with expected vs actual and the feature values, the invalid files' problems,
the coverage report with ``--coverage``, and a summary line such as
``41 passed, 1 failed``.

Exit codes: 0 every selected case passed (and, with
``--fail-under-coverage``, every rule is covered); 1 a case failed or a
rule is uncovered; 2 usage or I/O error, an invalid test file, or no case
selected.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import msgspec
import typer

_RULE = 80


class TestFormat(str, enum.Enum):
    """How ``test`` reports."""

    __test__ = False  # not a pytest test class

    text = "text"
    json = "json"


def _banner(title: str, fill: str = "=") -> str:
    title = f" {title} "
    left = max(3, (_RULE - len(title)) // 2)
    right = max(3, _RULE - len(title) - left)
    return fill * left + title + fill * right


def _summary(passed: int, failed: int, skipped: int, deselected: int, errors: int) -> str:
    parts = [f"{passed} passed", f"{failed} failed"]
    if skipped:
        parts.append(f"{skipped} skipped")
    if deselected:
        parts.append(f"{deselected} deselected")
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    return ", ".join(parts)


def _case_json(result) -> dict:
    from ruledsl.ruletest import format_failure

    case = result.case
    out = {
        "file": case.file.shown,
        "name": case.name,
        "line": case.line,
        "tags": case.tags,
        "status": result.status,
    }
    if case.skip is not None:
        out["skip"] = case.skip
    if result.failed_step is not None:
        step = result.failed_step
        record = result.records[-1]
        out["failure"] = {
            "step": step.index + 1,
            "line": step.line,
            "event": step.event(),
            "mismatches": [{"key": m.key, "message": m.message, "source": m.source} for m in result.mismatches],
            "decision": record.decision,
            "error": str(record.error) if record.error is not None else None,
            "internal_error": f"{type(record.crash).__name__}: {record.crash}" if record.crash is not None else None,
            "report": format_failure(result),
        }
    return out


def run_tests(
    paths: list[Path],
    *,
    coverage: bool = False,
    fail_under_coverage: bool = False,
    select: Optional[str] = None,
    output_format: str = "text",
) -> int:
    """Run the test files below ``paths``; print the report; return the exit code."""
    from ruledsl.cli.app import EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS, usage_error
    from ruledsl.ruletest import (
        TEST_SUFFIX,
        Coverage,
        RuleTestError,
        find_test_files,
        format_failure,
        load_test_file,
        run_case,
    )
    from ruledsl.syntax.loader import display_path

    if not paths:
        usage_error("no path given")
    for p in paths:
        if not p.exists():
            usage_error(f"path not found: {p}")
        if p.is_dir() and not find_test_files([p]):
            usage_error(f"no *{TEST_SUFFIX} files found in directory {p}")
    files = find_test_files(paths)
    for f in files:
        if not f.exists():
            usage_error(f"no test file for ruleset: {f} does not exist")
    if fail_under_coverage:
        coverage = True
    as_json = output_format == "json"

    results = []
    problems = []
    bad_files: list[str] = []
    cov = Coverage()
    deselected = 0
    for f in files:
        try:
            test_file = load_test_file(f)
        except RuleTestError as err:
            problems.extend(err.problems)
            bad_files.append(str(f))
            if not as_json:
                typer.echo(f"{display_path(f)} E")
            continue
        selected = [c for c in test_file.cases if select is None or c.matches(select)]
        deselected += len(test_file.cases) - len(selected)
        if not selected:
            continue
        if not as_json:
            typer.echo(f"{test_file.shown} ", nl=False)
        for case in selected:
            result = run_case(case)
            results.append(result)
            cov.add(result)
            if not as_json:
                typer.echo({"passed": ".", "failed": "F", "skipped": "s"}[result.status], nl=False)
        if not as_json:
            typer.echo("")

    passed = sum(1 for r in results if r.status == "passed")
    failed = [r for r in results if r.status == "failed"]
    skipped = sum(1 for r in results if r.status == "skipped")
    summary = _summary(passed, len(failed), skipped, deselected, len(bad_files))
    uncovered = coverage and not cov.complete

    if as_json:
        doc = {
            "summary": {
                "passed": passed,
                "failed": len(failed),
                "skipped": skipped,
                "deselected": deselected,
                "errors": len(bad_files),
            },
            "cases": [_case_json(r) for r in results],
            "errors": [p.to_dict() for p in problems],
        }
        if coverage:
            doc["coverage"] = cov.to_dict()
        typer.echo(msgspec.json.format(msgspec.json.encode(doc), indent=2).decode("utf-8"))
    else:
        if failed:
            typer.echo(_banner("FAILURES"))
            for r in failed:
                typer.echo(_banner(r.case.id, "_"))
                typer.echo(format_failure(r))
        if problems:
            typer.echo(_banner("ERRORS"))
            for problem in problems:
                typer.echo(str(problem))
        if coverage and cov.rulesets:
            typer.echo(_banner("coverage"))
            typer.echo(cov.format())
        typer.echo(summary)

    if problems:
        return EXIT_ERROR
    if not results:
        typer.echo(f"error: no case selected{f' by -k {select!r}' if select else ''}", err=True)
        return EXIT_ERROR
    if failed or (fail_under_coverage and uncovered):
        return EXIT_PROBLEMS
    return EXIT_OK


def register(app) -> None:
    """Add this module's commands to the CLI app."""
    from ruledsl.cli.app import guarded

    @app.command("test")
    @guarded
    def test(
        paths: Annotated[
            list[Path],
            typer.Argument(
                help="Test files (*.test.yaml), directories to search for them, or rulesets (their tests/<stem>.test.yaml).",
                show_default=False,
                metavar="PATH",
            ),
        ],
        coverage: Annotated[
            bool, typer.Option("--coverage", help="Report the rules that never fired and never stayed silent.")
        ] = False,
        fail_under_coverage: Annotated[
            bool,
            typer.Option("--fail-under-coverage", help="Exit 1 when some rule is not covered (implies --coverage)."),
        ] = False,
        select: Annotated[
            Optional[str],
            typer.Option("-k", help="Only the cases whose file, name or tags contain this text.", metavar="TEXT"),
        ] = None,
        output_format: Annotated[TestFormat, typer.Option("--format", "-f", help="text or json.")] = TestFormat.text,
    ) -> None:
        """Run rule tests: event sequences and the decisions expected after them.

        Exit code 0 when every selected case passes, 1 when a case fails (or,
        with --fail-under-coverage, a rule is not covered), 2 on a usage or
        I/O error or an invalid test file.
        """
        fmt = output_format.value if isinstance(output_format, TestFormat) else str(output_format)
        code = run_tests(
            paths, coverage=coverage, fail_under_coverage=fail_under_coverage, select=select, output_format=fmt
        )
        raise typer.Exit(code)
