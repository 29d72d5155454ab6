"""The backtest's sample events explained with margins (``ruledsl.lab.explain_pass``), exactly as replayed.

The explanations come from a second pass over the same files on fresh
engines, split just before each sample: each must be what ``engine.explain``
gives on engines that evaluated every earlier event one at a time, and its
fired rules must be the replay's decision's (candidate and baseline).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labfiles import RULESET, hand_events, write_parquet
from test_cli_lab import invoke

import ruledsl.lab.readers as readers
from ruledsl.lab.explain_pass import closest_check, digest
from ruledsl.runtime.engine import load
from ruledsl.sim import generate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"


def samples_of(data: dict) -> list[dict]:
    return [s for cell in data["comparison"]["cells"] for s in cell["samples"]]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 50 events, so samples fall inside and at the edges of chunks."""
    real = readers.iter_chunks
    monkeypatch.setattr(readers, "iter_chunks", lambda paths, stats, **kw: real(paths, stats, batch_rows=50))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_explanations_are_those_of_the_state_just_before_each_sample(fmt, tmp_path, small_chunks):
    with open(tmp_path / "all.jsonl", "wb") as f:
        write_jsonl(generate(120, 2, seed=8, fraud_rate=0.08, warmup_days=1), f)
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    history, stream = rows[:300], rows[300:]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in history), encoding="utf-8")
    events = tmp_path / f"events.{fmt}"
    if fmt == "jsonl":
        events.write_text("".join(json.dumps(e) + "\n" for e in stream), encoding="utf-8")
    else:
        write_parquet(stream, events)
    js, html = tmp_path / "out.json", tmp_path / "out.html"
    result = invoke(
        "backtest", ECHANNEL, "-e", events, "--history", tmp_path / "history.jsonl",
        "--baseline-params", "repeat_txn_count=4", "--baseline-params", "night_large_amount=5000",
        "--json", js, "--report", html, "--samples", "2", code=0,
    )  # fmt: skip
    data = json.loads(js.read_text(encoding="utf-8"))
    samples = samples_of(data)
    assert len({(s["old_rules"] == s["new_rules"]) for s in samples}) == 2  # cells that change and cells that do not
    ex = data["explain"]
    assert ex["enabled"] and ex["explained"] == ex["samples"] == len(samples) and ex["mismatches"] == ex["errors"] == 0
    assert f"samples explained: {len(samples)} of {len(samples)}" in result.stdout
    last = max(stream.index(_find(stream, s)) for s in samples) + 1
    assert ex["events_evaluated"] == last and ex["history_events"] == 300  # stopped after the last sample

    # the same explanations from plain evaluate(), one event at a time, explained just before each sample
    new, old = load(ECHANNEL, clock=None), load(ECHANNEL, clock=None)
    old.set_param("repeat_txn_count", 4)
    old.set_param("night_large_amount", 5000)
    for e in history:
        new.evaluate(e), old.evaluate(e)
    by_line = {s["line"]: s for s in samples}
    margins = 0
    for line, e in enumerate(stream, 1):
        s = by_line.get(line)
        if s is not None:
            x_new, x_old = new.explain(e), old.explain(e)
            fired_new = {r.rule for r in x_new.rules if r.fired}
            fired_old = {r.rule for r in x_old.rules if r.fired}
            assert fired_new == {r["rule"] for r in s["new_rules"]}, line
            assert fired_old == {r["rule"] for r in s["old_rules"]}, line
            got = s["explanation"]
            assert got["matches_replay"] is True
            assert got["candidate"] == _json(digest(x_new, fired_old)), line
            assert got["baseline"] == _json(digest(x_old, fired_new)), line
            margins += sum(c["margin"] is not None for r in got["candidate"]["fired"] for c in r["checks"])
        new.evaluate(e), old.evaluate(e)
    assert margins > 0  # the JSON carries the margins

    page = html.read_text(encoding="utf-8")
    assert page.count('class="explained"') == len(samples)
    assert "would not have fired with" in page and " by " in page
    assert "not fired (fired under the" in page  # a rule only one version fired, with its closest comparison
    assert 'id="explain-cost"' in page and f"over {last:,} events up to the last sample" in page


def _find(stream: list[dict], sample: dict) -> dict:
    return stream[sample["line"] - 1]


def _json(value: dict) -> dict:
    return json.loads(json.dumps(value, default=str))


def test_the_pass_stops_after_the_last_sample_and_no_explain_skips_it(ruleset, events_file, tmp_path):
    js = tmp_path / "o.json"
    invoke("backtest", ruleset, "-e", events_file, "--baseline-params", "huge=6500", "--samples", "1", "--json", js,
           "-q", code=0)  # fmt: skip
    data = json.loads(js.read_text())
    assert sorted(s["line"] for s in samples_of(data)) == [1, 2, 3, 7]  # pass, alert, alert->hold, hold
    assert data["explain"]["events_evaluated"] == 7  # of 10
    hold = next(c for c in data["comparison"]["cells"] if (c["old"], c["new"]) == ("alert", "hold"))
    baseline = hold["samples"][0]["explanation"]["baseline"]
    assert baseline["missed"] == [
        {
            "rule": "huge_hold",
            "action": "hold",
            "exempted": False,
            "closest": {
                "text": "amount >= huge",
                "holds": False,
                "detail": "amount 6,000.00, needed 6,500.00 (huge): 500.00 short",
                "margin": "-500.0000",
            },
        }
    ]
    invoke("backtest", ruleset, "-e", events_file, "--baseline-params", "huge=6500", "--json", js, "--no-explain",
           "-q", code=0)  # fmt: skip
    data = json.loads(js.read_text())
    assert data["explain"] == {"enabled": False, "samples": 8}
    assert all("explanation" not in s for s in samples_of(data))


def test_a_file_given_twice_has_its_samples_found_in_each_copy(ruleset, tmp_path):
    events = tmp_path / "e.parquet"
    write_parquet(hand_events(), events)
    js = tmp_path / "o.json"
    invoke("backtest", ruleset, "-e", events, "-e", events, "--baseline-params", "huge=6500", "--json", js, "-q",
           code=0)  # fmt: skip
    data = json.loads(js.read_text())
    seen = {(s["file_index"], s["line"]) for s in samples_of(data)}
    assert (0, 7) in seen and (1, 7) in seen  # hold -> hold: e7 of each copy
    assert (
        data["explain"]["explained"] == len(seen) and data["explain"]["events_evaluated"] == 17
    )  # up to e7 of the copy


def test_closest_check_counts_negation(tmp_path):
    path = tmp_path / "r.rdsl"
    path.write_text(
        RULESET.replace("when amount >= huge", 'when amount >= huge and not (amount < 5500) and customer_id != "C9"'),
        encoding="utf-8",
    )
    engine = load(path, clock=None)
    event = {"type": "transfer", "ts": 0, "customer_id": "C1", "account_no": "A1", "amount": "5200.00"}
    ex = engine.explain(event)
    rule = next(r for r in ex.rules if r.rule == "huge_hold")
    assert not rule.fired
    closest = closest_check(rule.condition)
    assert closest is not None and closest.text == "amount < 5500"  # true, but under a not: it is what fails
    assert closest_check(next(r for r in ex.rules if r.rule == "big").condition) is None  # big holds


def test_ctrl_c_in_the_explanations_pass_keeps_the_figures_and_exits_130(ruleset, events_file, tmp_path, monkeypatch):
    import os
    import signal

    import ruledsl.lab.explain_pass as explain_pass

    real_chunks, real_one = readers.iter_chunks, explain_pass._explain_one
    monkeypatch.setattr(readers, "iter_chunks", lambda paths, stats, **kw: real_chunks(paths, stats, batch_rows=2))

    def then_interrupt(*args):
        real_one(*args)
        if args[3] == 0:  # one Ctrl-C after the first sample: the pass stops before the next chunk
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(explain_pass, "_explain_one", then_interrupt)
    js, html = tmp_path / "o.json", tmp_path / "o.html"
    invoke("backtest", ruleset, "-e", events_file, "--baseline-params", "huge=6500", "--json", js, "--report", html,
           "-q", code=130)  # fmt: skip
    data = json.loads(js.read_text())
    assert data["partial"] is False and data["metrics"]["events"] == 10  # the replay's figures are whole
    ex = data["explain"]
    assert ex["interrupted"] is True and ex["samples"] == 8
    assert ex["explained"] == ex["events_evaluated"] == 2  # e1 and e2, both samples of the first chunk
    assert "(interrupted)" in html.read_text(encoding="utf-8")
