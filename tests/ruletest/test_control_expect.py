"""The ``controls:`` expectation and the account-controls rule-test example (tests/ruletest/controls/)."""

from __future__ import annotations

from pathlib import Path

from ruledsl.ruletest import load_test_file, run_case

EXAMPLE = Path(__file__).parent / "controls" / "account_controls.test.yaml"


def test_the_example_passes_every_case():
    suite = load_test_file(EXAMPLE)
    results = [run_case(case) for case in suite.cases]
    assert [r.passed for r in results] == [True] * 4


def test_a_wrong_controls_expectation_is_reported(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "ruleset: account_controls.rdsl", f"ruleset: {EXAMPLE.parent}/account_controls.rdsl"
    )
    text = text.replace('controls: {"6230580000100001": restricted}}', 'controls: {"6230580000100001": refused}}', 1)
    path = tmp_path / "wrong.test.yaml"
    path.write_text(text, encoding="utf-8")
    suite = load_test_file(path)
    result = run_case(suite.cases[0])
    assert not result.passed
    messages = [m.message for m in result.mismatches if m.key == "controls"]
    assert messages == ["expected 6230580000100001: refused, the decision set 6230580000100001: restricted"]
