"""The replay loop: chunks of events through a candidate engine (and a baseline), decisions to consumers.

``replay`` evaluates every chunk (``readers.Chunk.evaluate``: the engine's
batch path) on the candidate engine and, when given, on the baseline engine,
then hands the chunk and both lists of decisions to each consumer
(``Consumer.add``) with the indices of the *scored* events: those both
engines accepted that are not warm-up events.  Warm-up events (``"warmup":
true``, as ``ruledsl.sim`` marks them, and every event of the ``history``
chunks) are evaluated - they fill windows and baselines - but never scored.
A refused event (``EventError``) is counted with its file and line.

Ctrl-C (``KeyboardInterrupt``) stops the replay after the chunks already
handed to the consumers: the result says ``interrupted`` and the figures
cover the events replayed so far.  Engines are expected to be built with
``clock=None`` (a replay of recorded traffic: no wall-clock guard).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Optional, Protocol

from ruledsl.kernels.values import EventError
from ruledsl.lab.readers import MAX_REPORTED, Chunk, ReadStats


class Consumer(Protocol):
    """Something that keeps a bounded summary of the decisions."""

    def add(self, chunk: Chunk, new: list[Any], old: Optional[list[Any]], scored: Optional[Sequence[int]]) -> None:
        """Take a chunk's decisions; ``scored`` lists the indices to count (None: every event).

        A consumer may also have ``add_history(chunk)``: called with every history chunk.
        """


class ReplayResult:
    """Counts of a replay besides what the consumers keep."""

    def __init__(self, stats: ReadStats) -> None:
        self.stats = stats
        self.events = 0  # events read from the events files (history excluded)
        self.history = 0  # events of the history files, evaluated, not scored
        self.scored = 0
        self.warmup = 0
        self.rejected: Counter = Counter()  # "candidate" / "baseline" -> events refused
        self.rejections: list[tuple[str, str, int, str]] = []  # (engine, file, line, message)
        self.skipped: Counter = Counter()  # event type -> events skipped (--skip-unknown-types)
        self.seconds = 0.0
        self.interrupted = False

    def reject(self, which: str, source: str, line: int, err: EventError) -> None:
        """Count an event an engine refused; the first ``MAX_REPORTED`` are kept with their message."""
        self.rejected[which] += 1
        if len(self.rejections) < MAX_REPORTED:
            self.rejections.append((which, source, line, str(err)))

    def to_dict(self) -> dict:
        """The counts as JSON-ready data."""
        return {
            "lines": self.stats.lines,
            "events": self.events,
            "history_events": self.history,
            "scored": self.scored,
            "warmup": self.warmup,
            "malformed": self.stats.malformed,
            "malformed_lines": [{"file": f, "line": n, "error": m} for f, n, m in self.stats.malformed_lines],
            "rejected": dict(self.rejected),
            "rejections": [{"engine": w, "file": f, "line": n, "error": m} for w, f, n, m in self.rejections],
            "skipped_types": dict(sorted(self.skipped.items())),
            "seconds": round(self.seconds, 3),
            "events_per_second": round((self.events + self.history) / self.seconds) if self.seconds > 0 else None,
            "interrupted": self.interrupted,
        }


class _StopFlag:
    """Ctrl-C during a replay: the first one stops it after the current chunk, a second one at once.

    Stopping between chunks keeps every consumer's figures consistent (each
    saw the same chunks).  Only the main thread can take signals; elsewhere
    a ``KeyboardInterrupt`` still stops the replay, wherever it lands.
    """

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handle)
            except ValueError:  # not the main interpreter
                self._old = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def restore(self) -> None:
        """Put back the SIGINT handler that was there before."""
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


def _until(chunks: Iterable[Chunk], stop: _StopFlag) -> Iterator[Chunk]:
    for chunk in chunks:
        if stop.hit:
            return
        yield chunk


def _flag(value: Any) -> bool:
    return value is True or value == 1 or value == "true"


def replay(
    engine: Any,
    chunks: Iterable[Chunk],
    consumers: Sequence[Consumer],
    stats: ReadStats,
    *,
    baseline: Any = None,
    history: Iterable[Chunk] = (),
    skip_unknown_types: bool = False,
    progress: Optional[Callable[[ReplayResult], None]] = None,
) -> ReplayResult:
    """Replay ``history`` (evaluated only) then ``chunks`` through the engines, feeding ``consumers``.

    Never raises for a bad event; a ``LabError`` from a reader (an unreadable
    file) propagates.  ``progress`` is called after each chunk.
    """
    result = ReplayResult(stats)
    known = frozenset(engine.compiled.event_types) if skip_unknown_types else None
    engines = [("candidate", engine)] + ([("baseline", baseline)] if baseline is not None else [])
    began = time.perf_counter()
    stop = _StopFlag()
    try:
        for chunk in _until(history, stop):
            if known is not None:
                chunk = chunk.only_types(known, result.skipped)
            for which, eng in engines:
                for i, d in enumerate(chunk.evaluate(eng)):
                    if isinstance(d, EventError):
                        result.reject(which, chunk.source, chunk.lines[i], d)
            for consumer in consumers:  # a consumer with its own engine (lab/sweep.py) fills its windows too
                hist = getattr(consumer, "add_history", None)
                if hist is not None:
                    hist(chunk)
            result.history += len(chunk)
            if progress is not None:
                progress(result)
        for chunk in _until(chunks, stop):
            if known is not None:
                chunk = chunk.only_types(known, result.skipped)
            n = len(chunk)
            new = chunk.evaluate(engine)
            old = chunk.evaluate(baseline) if baseline is not None else None
            bad: set[int] = set()
            for which, decisions in (("candidate", new), ("baseline", old)):
                if decisions is None:
                    continue
                for i, d in enumerate(decisions):
                    if isinstance(d, EventError):
                        bad.add(i)
                        result.reject(which, chunk.source, chunk.lines[i], d)
            warm = [i for i, v in enumerate(chunk.column("warmup")) if _flag(v)] if chunk.has_field("warmup") else []
            scored: Optional[list[int]] = None
            if warm or bad:
                skip = bad.union(warm)
                scored = [i for i in range(n) if i not in skip]
                result.warmup += sum(1 for i in warm if i not in bad)
            result.events += n
            result.scored += n if scored is None else len(scored)
            for consumer in consumers:
                consumer.add(chunk, new, old, scored)
            if progress is not None:
                progress(result)
    except KeyboardInterrupt:
        stop.hit = True
    finally:
        stop.restore()
    result.interrupted = stop.hit
    result.seconds = time.perf_counter() - began
    return result
