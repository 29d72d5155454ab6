"""Key cardinalities and rates measured from a sample of events (``ruledsl lint --budget --sample FILE``).

A sample is a JSON Lines file of events as the engine takes them (``type``,
``ts``, fields).  It is replayed through the ruleset's own engine (the
generated-Python evaluator, no clock guard) with every window and sequence
kernel behind a recorder that notes each key it is fed: so a window's
``where``, its key expressions (``day(ts)``, several fields) and the events it
is fed by are exactly the engine's.  For each window and sequence:

* C = the distinct keys it was fed;
* R = the events it was fed, divided by the sample's span.

The span runs from the 1st to the 99th percentile of ``ts`` (98% of the
events inside it), so a sparse history at either end (a year of warm-up for
a few dormant accounts) does not dilute the rate.  The estimate then
extrapolates to each window's full span (``ruledsl.compile.budget``): a
one-day sample of 2 000 customers measures 2 000 customers at one day's rate.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Optional

from ruledsl.check.checker import CheckResult
from ruledsl.kernels.values import parse_timestamp


class SampleError(ValueError):
    """A sample file that cannot be read: the message names the file and line."""


def read_sample(path: Path | str) -> list[dict[str, Any]]:
    """The events of a JSON Lines file; SampleError naming the line for anything else."""
    shown = str(path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115  (closed below; errors name the line)
    except OSError as err:
        raise SampleError(f"cannot read sample {shown}: {err.strerror or err}") from None
    events = []
    with handle:
        try:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError as err:
                    raise SampleError(f"{shown}:{lineno}: not JSON: {err.msg}") from None
                if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
                    raise SampleError(f"{shown}:{lineno}: an event is a JSON object with a string `type`")
                events.append(ev)
        except UnicodeDecodeError as err:
            raise SampleError(f"sample {shown} is not UTF-8: {err.reason}") from None
    if not events:
        raise SampleError(f"sample {shown} has no events")
    return events


class _Recorder:
    """A kernel as the generated code sees it: every ``add``/``query_add`` key noted, the rest passed on."""

    def __init__(self, kernel: Any, keys: set, counts: list[int]) -> None:
        self._kernel, self._keys, self._counts = kernel, keys, counts

    def add(self, key: Any, ts: int, value: Any = 0) -> Any:
        self._keys.add(key)
        self._counts[0] += 1
        return self._kernel.add(key, ts, value)

    def query_add(self, key: Any, ts: int, value: Any = 0, *rest: Any) -> Any:
        self._keys.add(key)
        self._counts[0] += 1
        return self._kernel.query_add(key, ts, value, *rest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kernel, name)


class Sample:
    """A sample replayed through one ruleset: distinct keys and events fed per window and sequence."""

    def __init__(self, events: list[dict[str, Any]], result: CheckResult, *, path: str = "<sample>") -> None:
        from ruledsl.compile import compile_ruleset
        from ruledsl.runtime.engine import Engine

        self.path = path
        engine = Engine(result, compile_ruleset(result), clock=None, evaluator_mode="never")
        zone = getattr(engine, "_zone", _dt.timezone.utc)
        comp = engine.compiled
        self.keys: dict[str, set] = {}
        self.fed: dict[str, list[int]] = {}
        names = [(s.name, g) for s, g in zip(comp.windows, comp.window_names, strict=True)]
        names += [(s.name, g) for s, g in zip(comp.sequences, comp.sequence_names, strict=True)]
        for name, global_name in names:
            self.keys[name], self.fed[name] = set(), [0]
            engine._ns[global_name] = _Recorder(engine._ns[global_name], self.keys[name], self.fed[name])
        engine._bind_python()  # the generated functions now load the recorders
        stamps: list[int] = []
        self.rejected = 0
        for ev in events:
            try:
                stamps.append(parse_timestamp(ev.get("ts"), zone))
                engine.evaluate(ev)
            except Exception:  # an event the engine refuses feeds nothing: counted, not fatal
                self.rejected += 1
        if not stamps:
            raise SampleError(f"sample {path}: no event has a valid `ts`")
        stamps.sort()
        self.start_ms, self.end_ms = stamps[0], stamps[-1]
        cut = len(stamps) // 100
        self.span_ms = max(1, stamps[len(stamps) - 1 - cut] - stamps[cut])
        self.central_share = (len(stamps) - 2 * cut) / len(stamps)
        self.engine = engine

    def key_traffic(self, name: str, events: list[str], fields: list[str]) -> Optional[tuple[float, float, str]]:
        """(C distinct keys fed, R events fed per ms, "sample") for the window or sequence ``name``."""
        if name not in self.keys:
            return None
        return float(len(self.keys[name])), self.fed[name][0] * self.central_share / self.span_ms, "sample"
