"""pytest plugin: collect rule test files (``*.test.yaml``) as test items, one per case.

Registered by the ``pytest11`` entry point ``ruledsl`` when ruledsl is
installed; in a checkout the root ``conftest.py`` registers it when the entry
point is not active; elsewhere: ``pytest -p ruledsl.ruletest.pytest_plugin``.

A failing case shows the same report as ``ruledsl test`` (expected vs
actual, the decision and its feature values, the timeline); an invalid test
file is a collection error listing its problems, never a traceback.
``-k`` matches case names and tags.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional, Union

import pytest
from _pytest._code.code import ReprFileLocation, TerminalRepr
from _pytest._io import TerminalWriter

from ruledsl.ruletest.report import failure_summary, format_failure
from ruledsl.ruletest.runner import CaseResult, run_case
from ruledsl.ruletest.spec import TEST_SUFFIX, RuleCase, RuleTestError
from ruledsl.ruletest.validate import load_test_file


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    """Collect ``*.test.yaml`` files."""
    if file_path.name.endswith(TEST_SUFFIX):
        return RuleTestYamlFile.from_parent(parent, path=file_path)
    return None


class RuleTestYamlFile(pytest.File):
    """A rule test file: one item per case."""

    def collect(self) -> Iterator[RuleTestItem]:
        """One item per case; an invalid file is a collection error listing its problems."""
        try:
            test_file = load_test_file(self.path)
        except RuleTestError as err:
            raise self.CollectError(f"invalid rule test file:\n{err}") from None
        for case in test_file.cases:
            yield RuleTestItem.from_parent(self, name=case.name, case=case)


class RuleCaseFailed(Exception):
    """Raised by a failing case; carries the result for the report."""

    def __init__(self, result: CaseResult):
        super().__init__(result.case.id)
        self.result = result


class RuleTestItem(pytest.Item):
    """One case of a rule test file."""

    def __init__(self, *, case: RuleCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.extra_keyword_matches.update(case.tags)  # `pytest -k fraud`

    def runtest(self) -> None:
        """Run the case; a failed case raises ``RuleCaseFailed`` carrying its result."""
        if self.case.skip is not None:
            pytest.skip(self.case.skip)
        result = run_case(self.case)
        if result.status == "failed":
            raise RuleCaseFailed(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Optional[Any] = None
    ) -> Union[str, TerminalRepr]:
        """The same report as ``ruledsl test`` for a failed case."""
        if isinstance(excinfo.value, RuleCaseFailed):
            result = excinfo.value.result
            line = result.failed_step.line if result.failed_step is not None else self.case.line
            return CaseFailureRepr(format_failure(result), str(self.path), line, failure_summary(result))
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, Optional[int], str]:
        """Where the case is written (0-based line) and its name."""
        return self.path, self.case.line - 1 if self.case.line else None, self.case.name


class CaseFailureRepr(TerminalRepr):
    """The failure report; ``reprcrash`` gives pytest's one-line summary (``-ra``, JUnit XML)."""

    def __init__(self, text: str, path: str, line: int, summary: str):
        self.text = text
        self.reprcrash = ReprFileLocation(path, line, summary)

    def toterminal(self, tw: TerminalWriter) -> None:
        """Write the report, line by line."""
        for line in self.text.splitlines():
            tw.line(line)
