"""The README's Python examples run as written (issue 14): the embedding example and the state one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from docblocks import ROOT, python_blocks, run_python_blocks

import ruledsl

README = ROOT / "README.md"


def test_readme_has_its_examples():
    blocks = python_blocks(README)
    assert sum(b.runs for b in blocks) >= 2
    assert any("engine.evaluate(" in b.source and b.runs for b in blocks)


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch):
    ns = run_python_blocks(README, tmp_path, monkeypatch)
    # what the text around the example says it shows
    decision = ns["decision"]
    assert isinstance(decision, ruledsl.Decision) and decision.action in ("block", "hold", "step_up", "alert", "pass")
    # the engine restored from the snapshot kept what set_param and update_list set
    assert ns["engine"].get_param("night_large_amount") == Decimal("8000")
    assert ns["engine"].list_entry("black_accounts", "6222000000009001") is not None
    entry = ns["screening"].list_entry("shared_risk_records", "6217000000000001")
    assert entry is not None and entry.category == "fraud_account"
    assert ns["screening"].list_entry("shared_risk_records", "6217000000770000001") is None
    assert [e.key for e in ns["opening"].exemptions()] == ["C002"]
    assert ns["opening"].controls() == []
    assert (tmp_path / "state.snap").exists()  # the snapshot went to the working directory, not the repository
    assert not (ROOT / "state.snap").exists()
