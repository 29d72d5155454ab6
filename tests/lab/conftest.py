"""Fixtures of the replay lab's tests: the files of ``labfiles`` (a small ruleset, a hand-made stream)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labfiles import ENTITY_LABELS, RULESET, hand_events


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    path = tmp_path / "lab_test.rdsl"
    path.write_text(RULESET, encoding="utf-8")
    return path


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in hand_events()), encoding="utf-8")
    return path


@pytest.fixture
def entity_labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(ENTITY_LABELS, encoding="utf-8")
    return path


@pytest.fixture
def labelled_events_file(tmp_path: Path) -> Path:
    """The stream with its own labels, as generated traffic carries them: C4's events (e6, e9) are fraud."""
    path = tmp_path / "labelled.jsonl"
    rows = []
    for e in hand_events():
        if e["customer_id"] == "C4":
            e = {**e, "label": "fraud", "scenario_id": "fraud-1"}
        rows.append(json.dumps(e) + "\n")
    path.write_text("".join(rows), encoding="utf-8")
    return path
