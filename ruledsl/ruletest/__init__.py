"""Rule tests: YAML files of named cases, each a sequence of events on a virtual clock.

A test file (``rulesets/tests/<ruleset>.test.yaml``, format in
``docs/testing.md``) names a ruleset and lists cases.  The package is split
by concern:

- ``spec``: the format's constants, its structure (msgspec Structs) and the
  checked model (``Expectation``, ``Step``, ``RuleCase``, ``RuleTestFile``);
- ``validate``: ``load_test_file`` checks a file completely before anything
  runs; problems become a ``RuleTestError`` whose lines read
  ``file:line:col: key.path (case "name"): message``;
- ``runner``: ``run_case`` runs one case on a fresh engine and returns a
  ``CaseResult``;
- ``report``: ``format_failure`` renders a failed case (expected vs actual,
  the decision with its feature values, the values behind the rules that
  should have fired, the case's timeline);
- ``coverage``: ``Coverage`` collects which rules fired and which stayed
  silent over the cases run;
- ``values``, ``positions``, ``ruleset``: values and durations, YAML
  positions, the ruleset under test.

The CLI (``ruledsl test``) and the pytest plugin (``pytest_plugin``) are thin
layers over the names re-exported here.
"""

from ruledsl.ruletest.coverage import Coverage
from ruledsl.ruletest.report import failure_summary, format_failure
from ruledsl.ruletest.runner import CaseResult, run_case, run_file
from ruledsl.ruletest.spec import TEST_SUFFIX, Problem, RuleCase, RuleTestError, RuleTestFile, find_test_files
from ruledsl.ruletest.validate import load_test_file
from ruledsl.ruletest.values import parse_duration

__all__ = [
    "TEST_SUFFIX",
    "CaseResult",
    "Coverage",
    "Problem",
    "RuleCase",
    "RuleTestError",
    "RuleTestFile",
    "failure_summary",
    "find_test_files",
    "format_failure",
    "load_test_file",
    "parse_duration",
    "run_case",
    "run_file",
]
