"""The backtest's sample events explained with margins, exactly as the replay saw them.

``engine.explain(event)`` explains an event against the engine's *current*
state without changing it, so a sample must be explained with the state just
before it, as in the replay.  Keeping every sample's state during the main
replay would slow its hot path; instead, after it, ``explain_samples`` runs a
second streaming pass over the same inputs with fresh engines (the
candidate's and the baseline's files and parameters, the same history):
every chunk is evaluated through the same batch path as the replay
(``Chunk.evaluate``), split just before each sample, which both engines
explain (``engine.explain``) before evaluating it; the pass stops after the
last sample, so it costs at most one more replay up to that point.

Samples are found by their position in the stream: the file's index in
``--events`` and the line (JSON Lines) or row (Parquet), as ``Comparison``
records them (``file_index``, ``line``).  Each sample gets an
``explanation``: per version a digest of the ``Explanation`` small enough
for a report (``digest``): the fired rules with every comparison's margin
and the counterfactual sentence, and the rules that fired under the other
version only, with their closest comparison.  ``matches_replay`` says the
explanation's fired rules are the replay's (they are, by construction: the
state is the replay's; a difference would be a bug, shown, not hidden).
"""

from __future__ import annotations

import decimal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional

from ruledsl.kernels.values import EventError
from ruledsl.lab.readers import Chunk, ReadStats
from ruledsl.lab.replay import _StopFlag

Position = tuple[int, int]
"""(index of the events file, line or row): one event of the stream."""


class ExplainResult:
    """What the explanations' pass did: samples explained, events evaluated, time; a progress target."""

    def __init__(self, stats: ReadStats, samples: int) -> None:
        self.stats = stats
        self.samples = samples
        self.explained = 0
        self.mismatches = 0  # samples whose explained fired rules differ from the replay's (a bug if ever > 0)
        self.errors = 0
        self.events = 0  # events of the events files evaluated again (up to the last sample)
        self.history = 0
        self.seconds = 0.0
        self.interrupted = False

    def to_dict(self) -> dict:
        """The pass as JSON-ready data (the report's ``explain``)."""
        return {
            "enabled": True,
            "samples": self.samples,
            "explained": self.explained,
            "mismatches": self.mismatches,
            "errors": self.errors,
            "events_evaluated": self.events,
            "history_events": self.history,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
        }


def sample_positions(cells: Iterable[dict]) -> dict[Position, dict]:
    """The samples of a comparison's cells (``Comparison.to_dict()["cells"]``) by their stream position."""
    return {(s["file_index"], s["line"]): s for cell in cells for s in cell["samples"]}


def explain_samples(
    engine: Any,
    baseline: Any,
    chunks: Iterable[Chunk],
    samples: dict[Position, dict],
    stats: ReadStats,
    *,
    history: Iterable[Chunk] = (),
    skip_unknown_types: bool = False,
    progress: Optional[Callable[[ExplainResult], None]] = None,
) -> ExplainResult:
    """Replay ``history`` then ``chunks`` on fresh ``engine`` and ``baseline`` up to the last sample, explaining each.

    Each sample dict gets ``explanation`` (``{"candidate": digest, "baseline": digest,
    "matches_replay": bool}``).  The engines must be fresh (as the replay's were
    before it).  Ctrl-C stops the pass: the samples reached keep their
    explanations, the result says ``interrupted``.
    """
    result = ExplainResult(stats, len(samples))
    wanted = dict(samples)
    known = frozenset(engine.compiled.event_types) if skip_unknown_types else None
    engines = (engine, baseline)
    began = time.perf_counter()
    stop = _StopFlag()
    try:
        if wanted:
            for chunk in _until(history, stop):
                if known is not None:
                    chunk = chunk.only_types(known, Counter())  # counted by the main replay already
                for eng in engines:
                    chunk.evaluate(eng)
                result.history += len(chunk)
                if progress is not None:
                    progress(result)
        for chunk in _until(chunks if wanted else (), stop):
            if known is not None:
                chunk = chunk.only_types(known, Counter())  # counted by the main replay already
            file, lines = chunk.file, chunk.lines
            hits = [i for i, line in enumerate(lines) if (file, line) in wanted]
            start = 0  # events before it are evaluated on both engines (counted as they are)
            for i in hits:
                if i > start:
                    part = chunk.slice(start, i)
                    for eng in engines:
                        part.evaluate(eng)
                    result.events += i - start
                _explain_one(engine, baseline, chunk, i, wanted.pop((file, lines[i])), result)
                start = i
                if not wanted:
                    result.events += 1  # the last sample: explained, no need to evaluate it
                    break
            if wanted:
                part = chunk.slice(start, len(chunk)) if start else chunk
                for eng in engines:
                    part.evaluate(eng)
                result.events += len(chunk) - start
            if progress is not None:
                progress(result)
            if not wanted:
                break
    except KeyboardInterrupt:
        stop.hit = True
    finally:
        stop.restore()
    result.interrupted = stop.hit
    result.seconds = time.perf_counter() - began
    return result


def _until(chunks: Iterable[Chunk], stop: _StopFlag) -> Iterator[Chunk]:
    for chunk in chunks:
        if stop.hit:
            return
        yield chunk


def _explain_one(engine: Any, baseline: Any, chunk: Chunk, i: int, sample: dict, result: ExplainResult) -> None:
    event = explainable_event(chunk, i)
    try:
        new = engine.explain(event)
        old = baseline.explain(event)
    except (EventError, ValueError, TypeError, ArithmeticError) as err:  # shown in the report, never a traceback
        sample["explanation"] = {"error": f"could not be explained: {err}"}
        result.errors += 1
        return
    new_fired = {r.rule for r in new.rules if r.fired}
    old_fired = {r.rule for r in old.rules if r.fired}
    matches = new_fired == {r["rule"] for r in sample["new_rules"]} and old_fired == {
        r["rule"] for r in sample["old_rules"]
    }
    sample["explanation"] = {
        "candidate": digest(new, old_fired),
        "baseline": digest(old, new_fired),
        "matches_replay": matches,
    }
    result.explained += 1
    if not matches:
        result.mismatches += 1


def explainable_event(chunk: Chunk, i: int) -> dict:
    """Event ``i`` as a dict ``explain`` reads as the replay's batch path did.

    A JSON Lines event is the decoded dict itself.  A Parquet row takes the
    values ``python_column`` gives the dict path (timestamps as epoch ms, a
    zone-less one as local wall-clock time), with decimals as their exact
    text and local times as ISO text: the reference interpreter, which the
    explanation evaluates conditions on, reads JSON-like values.
    """
    if chunk.batch is None:
        assert chunk.events is not None
        return chunk.events[i]
    from ruledsl.runtime.arrow_decode import python_column

    row = chunk.batch.slice(i, 1)
    out: dict[str, Any] = {}
    for name, column in zip(row.schema.names, row.columns, strict=True):
        value = python_column(column, False)[0]
        if value is None:
            continue
        if isinstance(value, decimal.Decimal):
            value = format(value, "f")
        elif hasattr(value, "isoformat") and not isinstance(value, str):
            value = value.isoformat()
        out[name] = value
    return out


# ---------------------------------------------------------------- the digest a report shows


def digest(explanation: Any, other_fired: set[str]) -> dict:
    """An ``Explanation`` as the report shows it: fired rules in full, and those only the other version fired.

    ``fired``: per fired rule its comparisons and tests (``holds``, ``text``,
    ``detail``: the margin sentence, ``margin``: exact) and its counterfactual
    sentence (and the other inputs' ones).  ``missed``: the rules of
    ``other_fired`` that did not fire here, each with its closest comparison
    (the failing one with the smallest relative margin) or ``exempted``.
    """
    fired = []
    missed = []
    for r in explanation.rules:
        if r.fired:
            fired.append(
                {
                    "rule": r.rule,
                    "action": r.action,
                    "shadow": r.shadow,
                    "checks": [_leaf(c) for c, _neg in _leaves(r.condition)] if r.condition is not None else [],
                    "counterfactual": r.counterfactual.text if r.counterfactual is not None else None,
                    "other_counterfactuals": [
                        c.text for c in r.counterfactuals if r.counterfactual is None or c.text != r.counterfactual.text
                    ],
                }
            )
        elif r.rule in other_fired:
            closest = closest_check(r.condition) if r.condition is not None and not r.exempted else None
            missed.append(
                {
                    "rule": r.rule,
                    "action": r.action,
                    "exempted": r.exempted,
                    "closest": _leaf(closest) if closest is not None else None,
                }
            )
    return {
        "action": explanation.action,
        "late": explanation.late,
        "note": explanation.note,
        "fired": fired,
        "missed": missed,
    }


def _leaves(cond: Any, negated: bool = False) -> list[tuple[Any, bool]]:
    """The comparisons and tests of a condition tree, each with whether an odd number of ``not`` wraps it."""
    if cond.kind in ("and", "or", "not"):
        flip = negated != (cond.kind == "not")
        return [leaf for child in cond.children for leaf in _leaves(child, flip)]
    return [(cond, negated)]


def _leaf(cond: Any) -> dict:
    comp = cond.comparison
    return {
        "text": cond.text,
        "holds": cond.holds,
        "detail": cond.detail or cond.text,
        "margin": comp.margin if comp is not None else None,
    }


def closest_check(cond: Any) -> Optional[Any]:
    """The check that kept a condition from holding with the smallest relative margin, or None.

    A check counts against the condition when it is false (true under an odd
    number of ``not``).  Among those, a comparison of numbers ranks by
    ``|margin| / max(|right side|, 1)``; checks without a margin come after,
    in the order written.
    """
    against = [c for c, negated in _leaves(cond) if c.holds == negated]
    if not against:
        return None

    def rank(c: Any) -> float:
        comp = c.comparison
        if comp is None or comp.margin is None:
            return float("inf")
        scale: Any = comp.right_value if isinstance(comp.right_value, (int, float, decimal.Decimal)) else 1
        return float(abs(comp.margin)) / max(float(abs(scale)), 1.0)

    return min(against, key=rank)


__all__ = ["ExplainResult", "closest_check", "digest", "explain_samples", "explainable_event", "sample_positions"]
