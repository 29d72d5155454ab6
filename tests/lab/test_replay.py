"""The replay itself: the lab's decisions are ``engine.evaluate``'s, whatever the format and batching.

Generated e-channel traffic (every scenario type, warm-up days, ISO and
epoch-ms timestamps) goes through ``ruledsl.lab.replay`` in small chunks,
from JSON Lines, gzip'd JSON Lines and Parquet; every decision must equal the
one a fresh engine's ``evaluate`` gives the same events one by one.
"""

from __future__ import annotations

import gzip
import os
import signal
from pathlib import Path

import msgspec
import pytest
from decisions import differences
from labfiles import write_parquet

from ruledsl.kernels.values import EventError
from ruledsl.lab import LabError
from ruledsl.lab.readers import ReadStats, iter_chunks
from ruledsl.lab.replay import replay
from ruledsl.runtime.engine import load
from ruledsl.sim import generate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"


class Collect:
    """A consumer that keeps every decision and the scored indices."""

    def __init__(self):
        self.new: list = []
        self.old: list = []
        self.scored = 0
        self.lines: list[tuple[str, int]] = []

    def add(self, chunk, new, old, scored):
        self.new.extend(new)
        self.old.extend(old or [])
        self.scored += len(new) if scored is None else len(scored)
        self.lines.extend((chunk.source, line) for line in chunk.lines)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> tuple[list[dict], Path]:
    path = tmp_path_factory.mktemp("traffic") / "events.jsonl"
    events = list(generate(120, 2, seed=5, fraud_rate=0.08, warmup_days=1))
    with open(path, "wb") as f:
        write_jsonl(events, f)
    return events, path


def reference(events: list[dict]) -> list:
    engine = load(ECHANNEL, clock=None)
    return [engine.evaluate(msgspec.json.decode(msgspec.json.encode(e))) for e in events]


def replayed(paths: list[Path], *, baseline: bool = False, batch_rows: int = 700):
    engine = load(ECHANNEL, clock=None)
    old = load(ECHANNEL, clock=None) if baseline else None
    collect = Collect()
    stats = ReadStats()
    result = replay(engine, iter_chunks(paths, stats, batch_rows=batch_rows), [collect], stats, baseline=old)
    return result, collect


def assert_same(got: list, want: list) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        diff = differences(a, b)
        assert not diff, f"event {i}: {diff}"


def test_jsonl_decisions_equal_evaluate(traffic):
    events, path = traffic
    want = reference(events)
    assert {d.action for d in want} >= {"pass", "alert", "hold", "step_up"}  # the stream exercises the rules
    result, collect = replayed([path], baseline=True)
    assert_same(collect.new, want)
    assert_same(collect.old, want)  # the baseline is the same ruleset: the same decisions
    assert result.events == len(events) and result.scored + result.warmup == len(events)
    assert result.warmup == sum(1 for e in events if e.get("warmup"))
    assert collect.lines[:3] == [(str(path), 1), (str(path), 2), (str(path), 3)]


def test_gzip_and_parquet_decisions_equal_evaluate(traffic, tmp_path):
    events, path = traffic
    want = reference(events)
    gz = tmp_path / "events.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    _, collect = replayed([gz])
    assert_same(collect.new, want)
    pq_path = tmp_path / "events.parquet"
    write_parquet(events, pq_path)
    result, collect = replayed([pq_path])
    assert_same(collect.new, want)
    assert result.scored + result.warmup == len(events)
    assert collect.lines[-1] == (str(pq_path), len(events))


def test_files_replay_in_order_on_one_engine(traffic, tmp_path):
    # the stream split in two files (JSON Lines then Parquet) decides as the whole stream does
    events, _ = traffic
    half = len(events) // 2
    first, second = tmp_path / "a.jsonl", tmp_path / "b.parquet"
    with open(first, "wb") as f:
        write_jsonl(events[:half], f)
    write_parquet(events[half:], second)
    _, collect = replayed([first, second])
    assert_same(collect.new, reference(events))


def test_malformed_and_rejected_events_are_counted_not_scored(tmp_path):
    path = tmp_path / "events.jsonl"
    good = {
        "type": "login",
        "ts": "2026-11-16T09:00:00+08:00",
        "customer_id": "C1",
        "channel": "web",
        "trusted_device": True,
    }
    lines = [
        msgspec.json.encode(good),
        b"{not json",
        b"",
        b"[1, 2]",
        msgspec.json.encode({**good, "channel": "fax"}),  # refused by the schema
        msgspec.json.encode({**good, "ts": "2026-11-16T09:01:00+08:00"}),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result, collect = replayed([path], baseline=True)
    assert result.stats.malformed == 2
    assert [(n, m.split(":")[0]) for _, n, m in result.stats.malformed_lines] == [
        (2, "not valid JSON"),
        (4, "not a JSON object but an array"),
    ]
    assert result.rejected == {"candidate": 1, "baseline": 1}
    assert {(w, n) for w, _, n, _ in result.rejections} == {("candidate", 5), ("baseline", 5)}
    assert result.events == 3 and result.scored == 2
    assert isinstance(collect.new[1], EventError)


def test_history_is_evaluated_but_not_scored(traffic, tmp_path):
    events, _ = traffic
    half = len(events) // 2
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for p, part in ((first, events[:half]), (second, events[half:])):
        with open(p, "wb") as f:
            write_jsonl(part, f)
    engine = load(ECHANNEL, clock=None)
    collect = Collect()
    stats = ReadStats()
    result = replay(engine, iter_chunks([second], stats), [collect], stats, history=iter_chunks([first], ReadStats()))
    assert result.history == half and result.events == len(events) - half
    assert_same(collect.new, reference(events)[half:])  # the windows saw the history


def test_skip_unknown_types(tmp_path):
    path = tmp_path / "mixed.jsonl"
    with open(path, "wb") as f:
        write_jsonl(generate(40, 1, seed=3, profile="all"), f)
    engine = load(ECHANNEL, clock=None)
    collect = Collect()
    stats = ReadStats()
    result = replay(engine, iter_chunks([path], stats), [collect], stats, skip_unknown_types=True)
    assert result.skipped and not result.rejected
    assert set(result.skipped) & {"account_open", "account_txn"}
    assert all(d.event_type in engine.compiled.event_types for d in collect.new)


def test_ctrl_c_stops_after_the_current_chunk(traffic):
    _, path = traffic
    engine = load(ECHANNEL, clock=None)
    collect = Collect()
    stats = ReadStats()

    def interrupting(chunks):
        for n, chunk in enumerate(chunks):
            if n == 2:
                os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C
            yield chunk

    before = signal.getsignal(signal.SIGINT)
    result = replay(engine, interrupting(iter_chunks([path], stats, batch_rows=500)), [collect], stats)
    assert result.interrupted
    # the two chunks handed over before it were replayed in full; nothing after
    assert result.events == 1000 == len(collect.new)
    assert signal.getsignal(signal.SIGINT) is before


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(LabError, match="events file not found"):
        list(iter_chunks([tmp_path / "nope.jsonl"], ReadStats()))
    with pytest.raises(LabError, match="must be a file"):
        list(iter_chunks([tmp_path], ReadStats()))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is no parquet file")
    with pytest.raises(LabError, match="not a readable Parquet file"):
        list(iter_chunks([bad], ReadStats()))
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"type": "login"}\n' * 1000)[:60])
    with pytest.raises(LabError, match="cannot read"):
        list(iter_chunks([gz], ReadStats()))
