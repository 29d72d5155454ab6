"""Windows with the same definition share one state: one kernel, one snapshot entry, carried across reloads.

Two windows whose state identity (``WindowSpec.signature``) is equal hold the
same entries, so the engine keeps one kernel for both names
(``Compiled.window_state``).  Snapshots, restores and reloads must treat it
as one state while the two stay identical, and as the state of each
definition when they stop being identical (or start being).
"""

from __future__ import annotations

from pathlib import Path

from ruledsl.check.checker import check
from ruledsl.runtime import persistence
from ruledsl.runtime.engine import build_engine
from ruledsl.stores.local import LocalStore
from ruledsl.syntax.loader import load_text

T0 = 1_790_000_000_000

SPLIT = "window b = count() of transfer where amount > 10 by customer_id over 10m"
MERGED = "window b = count() of transfer by customer_id over 10m"

SOURCE = """\
ruleset shared_state {{}}
event transfer {{
  customer_id: string
  amount: decimal
}}
window a = count() of transfer by customer_id over 10m
{b}
sequence s1 by customer_id within 10m {{
  step transfer where amount > 1000
  step transfer
}}
sequence s2 by customer_id within 10m {{
  step transfer where amount > 1000
  step transfer
}}
rule probe {{ reason "探针" on transfer when present(a) and present(b) and (s1 or not s2) action pass }}
"""


def _engine(b: str, **kw):
    result = check(load_text(SOURCE.format(b=b), "shared_state.rdsl"))
    assert result.ok, [d.message for d in result.diagnostics]
    return build_engine(result, clock=None, **kw)


def _event(i: int, amount: str = "50") -> dict:
    return {"type": "transfer", "ts": T0 + i * 1000, "customer_id": "c", "amount": amount}


def _counts(engine, i: int, amount: str = "50") -> tuple:
    """Evaluate one event; the values of a, b, s1 and s2 it saw."""
    d = engine.evaluate(_event(i, amount))
    f = d.rules[0].features
    return f["a"], f["b"], f.get("s1"), f.get("s2")


def test_identical_windows_and_sequences_share_one_kernel_and_one_snapshot_entry(tmp_path: Path):
    engine = _engine(MERGED)
    assert engine.compiled.window_state == [0, 0] and engine.compiled.sequence_state == [0, 0]
    assert engine._windows[0] is engine._windows[1] and engine._sequences[0] is engine._sequences[1]
    assert _counts(engine, 0, "5000") == (1, 1, False, False)
    assert _counts(engine, 1) == (2, 2, True, True)
    engine.snapshot(tmp_path / "s.snap")
    snap = persistence.read(tmp_path / "s.snap")
    assert len(snap.windows) == 1 and len(snap.sequences) == 1  # one state, written once
    again = _engine(MERGED, state=tmp_path / "s.snap")  # the same ruleset: no difference reported
    assert again._windows[0] is again._windows[1]
    assert sorted(again.kept_state) == ["a", "b", "s1", "s2"]
    assert _counts(again, 2)[:2] == (3, 3)  # restored once, not twice


def test_a_merged_snapshot_restores_into_a_ruleset_where_they_differ(tmp_path: Path):
    engine = _engine(MERGED)
    for i in range(3):
        _counts(engine, i, "5")
    engine.snapshot(tmp_path / "s.snap")
    split = _engine(SPLIT, state=tmp_path / "s.snap", allow_other_ruleset=True)
    assert split._windows[0] is not split._windows[1]
    assert "a" in split.kept_state and "b" not in split.kept_state
    assert _counts(split, 3)[:2] == (4, 1)  # a continues; b (a new definition) starts empty


def test_a_split_snapshot_restores_into_a_ruleset_where_they_are_identical(tmp_path: Path):
    engine = _engine(SPLIT)
    assert _counts(engine, 0, "5")[:2] == (1, 0)
    assert _counts(engine, 1)[:2] == (2, 1)
    engine.snapshot(tmp_path / "s.snap")
    merged = _engine(MERGED, state=tmp_path / "s.snap", allow_other_ruleset=True)
    assert {"a", "b"} <= set(merged.kept_state)
    assert _counts(merged, 2)[:2] == (3, 3)  # b has a's definition now, so a's state


def test_reload_carries_the_shared_state_across_merging_and_splitting(tmp_path: Path):
    path = tmp_path / "r.rdsl"
    path.write_text(SOURCE.format(b=SPLIT), encoding="utf-8")
    engine = _engine(SPLIT)
    engine.paths = [str(path)]
    assert _counts(engine, 0, "5")[:2] == (1, 0)
    path.write_text(SOURCE.format(b=MERGED), encoding="utf-8")
    assert {"a", "b"} <= set(engine.reload())
    assert engine._windows[0] is engine._windows[1]
    assert _counts(engine, 1)[:2] == (2, 2)
    path.write_text(SOURCE.format(b=SPLIT), encoding="utf-8")
    kept = engine.reload()
    assert "a" in kept and "b" not in kept
    assert _counts(engine, 2)[:2] == (3, 1)


def test_merged_windows_on_a_store_decide_like_the_in_memory_engine_across_reloads(tmp_path: Path):
    path = tmp_path / "r.rdsl"
    path.write_text(SOURCE.format(b=MERGED), encoding="utf-8")
    memory, stored = _engine(MERGED), _engine(MERGED, store=LocalStore())
    for engine in (memory, stored):
        engine.paths = [str(path)]
    for i in range(4):
        assert _counts(stored, i, "5000" if i % 2 else "5") == _counts(memory, i, "5000" if i % 2 else "5")
    for step, b in enumerate((SPLIT, MERGED), start=1):
        path.write_text(SOURCE.format(b=b), encoding="utf-8")
        assert memory.reload() == stored.reload()
        for i in range(4 * step, 4 * step + 4):
            assert _counts(stored, i) == _counts(memory, i)


def test_stats_name_the_state_a_window_shares():
    engine = _engine(MERGED)
    for i in range(5):
        engine.evaluate(_event(i))
    stats = engine.stats()
    assert stats["windows"]["b"] == {"keys": 1, "bytes": stats["windows"]["a"]["bytes"], "shares_state_of": "a"}
    assert "shares_state_of" not in stats["windows"]["a"]
    assert stats["sequences"]["s2"]["shares_state_of"] == "s1"
    assert stats["evaluator"] == "python"
    split = _engine(SPLIT).stats()["windows"]
    assert "shares_state_of" not in split["b"]
