"""``ruledsl backtest --sweep PARAM=FROM:TO:STEP``: a threshold's curve of alerts against fraud caught, in one pass.

For every value of one parameter the sweep needs every event's decision.
Replaying the events once per value would compute every window and
sequence N times although only the rules' tests change.  Instead the
ruleset is compiled once more as a *sweep variant* (``compile/sweepcode.py``):
the same event functions, whose rules reading the parameter are tested once
per value inside a loop, after the windows, sequences and scorecards were
computed once.  The variant runs with ``commit=True`` on its own engine (the
candidate's files and parameters), so its state advances exactly as a
replay's; each value's hits become a decision through that engine's own
``_decide`` (the first value's with ``commit``, which only opens holds; the
others without).

This is exact only where the parameter changes nothing but rule tests, so
``plan`` refuses (``LabError`` naming why) a parameter that a window's
``where``, key or argument, a sequence step, or a scorecard reads (it would
change their state or score, which is computed once), and one read by a rule
with a ``control`` clause when the ruleset tests ``controlled()`` /
``control_kind()`` (each value would set other controls that later events
read).  The tests hold every value's actions equal to a plain replay with
that value (``engine.set_param``).

``SweepCurve`` is a replay consumer: it evaluates each chunk on the variant
and counts each value's decisions with a ``RuleMetrics`` (docs/lab.md).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

import re2

from ruledsl.compile import compile_ruleset
from ruledsl.compile.sweepcode import reads_param, rule_reads_param
from ruledsl.kernels.values import EventError
from ruledsl.lab import LabError
from ruledsl.lab.labels import Labels
from ruledsl.lab.metrics import RuleMetrics
from ruledsl.lab.readers import Chunk
from ruledsl.syntax import nodes as n
from ruledsl.syntax.durations import format_duration, parse_duration

MAX_VALUES = 200
"""The most values one sweep may take (each is a pass over the swept rules per event)."""
_NUMERIC = ("int", "decimal", "float", "duration")


class SweepSpec:
    """One ``--sweep``: the parameter and its values (as ``set_param`` takes them)."""

    def __init__(self, param: str, values: list[Any], text: str) -> None:
        self.param = param
        self.values = values
        self.text = text


def _number(part: str, what: str, spec: str) -> Decimal:
    try:
        d = Decimal(part.strip())
    except InvalidOperation:
        raise LabError(f"--sweep {spec}: {what} {part!r} is not a number") from None
    if not d.is_finite():
        raise LabError(f"--sweep {spec}: {what} {part!r} is not a number")
    return d


def parse_sweep(spec: str) -> tuple[str, list[str]]:
    """``PARAM=FROM:TO:STEP`` -> (param, [FROM, TO, STEP] texts); ``LabError`` naming what is wrong."""
    name, eq, rest = spec.partition("=")
    parts = rest.split(":")
    if not eq or not name.strip() or len(parts) != 3 or not all(p.strip() for p in parts):
        raise LabError(f"--sweep {spec!r}: expected PARAM=FROM:TO:STEP, e.g. large_amount=30000:80000:10000")
    return name.strip(), [p.strip() for p in parts]


def sweep_values(spec: str, type_name: str) -> list[Any]:
    """The values FROM, FROM+STEP, ... up to TO (inclusive) for a parameter of ``type_name``."""
    param, (a, b, c) = parse_sweep(spec)
    if type_name not in _NUMERIC:
        raise LabError(f"--sweep {spec}: parameter {param} is a {type_name}; only numbers and durations are swept")
    if type_name == "duration":
        try:
            lo, hi, step = (
                Decimal(parse_duration(x)) if not x.lstrip("-").isdigit() else Decimal(x) for x in (a, b, c)
            )
        except ValueError as err:
            raise LabError(f"--sweep {spec}: {err}") from None
    else:
        lo, hi, step = _number(a, "FROM", spec), _number(b, "TO", spec), _number(c, "STEP", spec)
    if step <= 0:
        raise LabError(f"--sweep {spec}: STEP must be positive")
    if hi < lo:
        raise LabError(f"--sweep {spec}: TO is below FROM")
    count = int((hi - lo) / step) + 1
    if count > MAX_VALUES:
        raise LabError(f"--sweep {spec}: {count} values; at most {MAX_VALUES}")
    out: list[Any] = []
    for i in range(count):
        v = lo + step * i
        if type_name in ("int", "duration"):
            if v != v.to_integral_value():
                raise LabError(
                    f"--sweep {spec}: {param} is a{'n' if type_name == 'int' else ''} {type_name}: {v} is not whole"
                )
            out.append(int(v))
        elif type_name == "float":
            out.append(float(v))
        else:
            out.append(v)
    return out


def _controls_read(result: Any) -> bool:
    # does any expression of the ruleset read the control table?
    sym = result.symbols
    exprs: list[Any] = [r.when for r in sym.rules.values()]
    exprs += [w.where for w in sym.windows.values()] + [st.where for s in sym.sequences.values() for st in s.steps]
    exprs += [it.when for c in sym.scorecards.values() for it in c.items]
    return any(
        isinstance(x, n.Call) and x.func in ("controlled", "control_kind")
        for e in exprs
        if e is not None
        for x in n.walk(e)
    )


def plan(engine: Any, spec: str) -> SweepSpec:
    """Check that ``spec`` can be swept in one pass on ``engine``'s ruleset; ``LabError`` saying why not."""
    param, _ = parse_sweep(spec)
    result = engine.result
    sym = result.symbols
    if param not in engine.compiled.param_types:
        known = ", ".join(engine.compiled.params) or "none"
        raise LabError(f"--sweep {spec}: the ruleset has no parameter {param!r} (its parameters: {known})")
    values = sweep_values(spec, engine.compiled.param_types[param])
    why = "cannot be swept in one pass: its windows would hold other events for each value"
    for name, w in sym.windows.items():
        if any(reads_param(result, e, param) for e in [w.where, w.arg, *w.by]):
            raise LabError(f"--sweep {spec}: window {name} reads {param} (where, key or argument): {param} {why}")
    for name, s in sym.sequences.items():
        if any(reads_param(result, e, param) for e in [*s.by, *(st.where for st in s.steps)]):
            raise LabError(f"--sweep {spec}: sequence {name} reads {param}: {param} {why}")
    for name, c in sym.scorecards.items():
        exprs = [e for it in c.items for e in (it.when, it.score)] + [lv.threshold for lv in c.levels]
        if any(reads_param(result, e, param) for e in exprs):
            raise LabError(
                f"--sweep {spec}: scorecard {name} reads {param}: its score is computed once per event, "
                "so it cannot be swept in one pass"
            )
    if engine.compiled.batched:
        raise LabError(f"--sweep {spec}: sweeps run on in-memory state, not an external store")
    if _controls_read(result):
        for name, r in sym.rules.items():
            if r.controls and rule_reads_param(result, r, param):
                raise LabError(
                    f"--sweep {spec}: rule {name} reads {param} and sets controls that rules read with "
                    "controlled(): each value would set other controls, so it cannot be swept in one pass"
                )
    return SweepSpec(param, values, spec)


class SweepEvaluator:
    """The sweep variant bound to ``engine`` (a scratch engine: the variant advances its state)."""

    def __init__(self, engine: Any, spec: SweepSpec) -> None:
        self.engine = engine
        self.spec = spec
        compiled = compile_ruleset(engine.result, sweep=spec.param)
        index = engine.compiled.params.index(spec.param)
        saved = engine.get_param(spec.param)
        converted = []
        try:
            for v in spec.values:  # each value as the engine holds it (checked like set_param)
                engine._set_param(spec.param, v, call="--sweep")
                converted.append(engine._params[index])
        except (TypeError, ValueError) as err:
            raise LabError(f"--sweep {spec.text}: {err}") from None
        finally:
            engine._set_param(spec.param, saved)
        ns = dict(engine._ns)
        ns.update(compiled.constants)
        for name, pattern in zip(compiled.regex_names, compiled.regexes, strict=True):
            ns[name] = re2.compile(pattern)
        ns["SWV"] = converted
        decide = engine._ns["_decide"]

        def sweep(event_type: str, swh: list, scores: list, late: bool, ts: int, commit: bool, held: tuple) -> list:
            out = []
            first = commit
            for hits, exm, ctl in swh:
                out.append(decide(event_type, hits, scores, late, ts, first, held, exm=exm, ctl=ctl))
                first = False
            return out

        ns["_sweep"] = sweep
        exec(compile(compiled.source, "<ruledsl sweep variant>", "exec"), ns)  # noqa: S102 -- generated by ruledsl.compile
        self.functions = {event: ns[name] for event, name in compiled.functions.items()}
        self.swept_rules = [
            name for name, r in engine.result.symbols.rules.items() if rule_reads_param(engine.result, r, spec.param)
        ]

    def evaluate(self, events: Sequence[dict]) -> list[Any]:
        """Each event's decisions, one per value (a list), or its ``EventError``; the state advances."""
        fns = self.functions
        engine = self.engine
        out: list[Any] = []
        append = out.append
        with engine._lock:
            for event in events:
                try:
                    try:
                        fn = fns[event["type"]]
                    except (KeyError, TypeError):
                        engine._function_for(event)  # raises the EventError evaluate would
                        raise EventError("unknown event type") from None
                    append(fn(event, True))
                except EventError as err:
                    append(err)
        return out


def chunk_events(chunk: Chunk) -> list[dict]:
    """A chunk's events as dicts, as ``evaluate`` takes them (a Parquet chunk's columns zipped)."""
    if chunk.events is not None:
        return chunk.events
    names = chunk.batch.schema.names
    cols = [chunk.column(name) for name in names]
    return [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in zip(*cols, strict=True)]


class SweepCurve:
    """A replay consumer: every value's decisions on the scored events, counted as the candidate's are."""

    def __init__(self, evaluator: SweepEvaluator, labels: Optional[Labels], zone: _dt.tzinfo) -> None:
        self.evaluator = evaluator
        self.spec = evaluator.spec
        self.metrics = [RuleMetrics(labels, zone) for _ in self.spec.values]
        self.seconds = 0.0
        self.mismatched = 0  # events the variant refused that the replay scored (none, unless a bug)

    def add_history(self, chunk: Chunk) -> None:
        """Evaluate a history chunk (fills windows), counting nothing."""
        began = time.perf_counter()
        self.evaluator.evaluate(chunk_events(chunk))
        self.seconds += time.perf_counter() - began

    def add(self, chunk: Chunk, new: list[Any], old: Optional[list[Any]], scored: Optional[Sequence[int]]) -> None:
        """Evaluate a chunk on the variant; count each value's decisions on the scored events."""
        began = time.perf_counter()
        results = self.evaluator.evaluate(chunk_events(chunk))
        index = range(len(results)) if scored is None else scored
        keep = [i for i in index if type(results[i]) is list]
        self.mismatched += len(index) - len(keep)
        for j, m in enumerate(self.metrics):
            ds = [r[j] if type(r) is list else r for r in results]
            m.add(chunk, ds, None, keep)
        self.seconds += time.perf_counter() - began

    def to_dict(self) -> dict:
        """The curve as JSON-ready data (docs/lab.md, "Sweeps")."""
        type_name = self.evaluator.engine.compiled.param_types[self.spec.param]
        points = []
        for v, m in zip(self.spec.values, self.metrics, strict=True):
            d = m.to_dict()
            lab = d.get("labelled") or {}
            points.append(
                {
                    "value": format_duration(v)
                    if type_name == "duration"
                    else (str(v) if isinstance(v, Decimal) else v),
                    "alerts": d["alerts"],
                    "alerts_per_10k": d["alerts_per_10k"],
                    "alerts_per_10k_normal": lab.get("alerts_per_10k_normal"),
                    "precision": lab.get("precision"),
                    "recall": lab.get("recall"),
                    "entities_warned_before": lab.get("entities_warned_before"),
                    "entities_warned_before_share": lab.get("entities_warned_before_share"),
                    "fraud_entities": lab.get("fraud_entities"),
                    "actions": d["actions"],
                }
            )
        return {
            "param": self.spec.param,
            "type": type_name,
            "spec": self.spec.text,
            "mode": "one_pass",
            "swept_rules": self.evaluator.swept_rules,
            "labelled": any(p["recall"] is not None for p in points),
            "points": points,
            "seconds": round(self.seconds, 3),
        }
