"""``ruledsl bench``: what a ruleset costs per event, in the rule authors' CI (docs/bench.md).

    ruledsl bench RULESET... --events FILE [--json OUT] [--compare BASE] [--max-p99 20us]
                  [--max-regression 20%] [--short] [--passes N] [--evaluator python|cython]

For each ruleset (each file is benchmarked on its own, as ``run`` treats
them), on the events of its types from FILE:

* latency: ``perf_counter_ns`` around each ``evaluate()``, fresh engine per
  pass, each event's fastest over ``--passes`` (the work per event is the same
  in each pass; the minimum drops pauses caused by other processes);
  p50/p99/p99.9, mean, max;
* events/s: one untimed pass (no per-call timer);
* memory per active key: ``engine.stats()`` bytes over keys after the replay;
* cost shares: each rule, window and sequence removed in turn
  (``bench_shares``);
* calibration: a fixed pure-Python loop (``runtime.benchtime``) timed in the
  same run; every time is also given in calibration units, so a comparison
  with a base file from another run (or machine) is a ratio of ratios.

Exit 1 when ``--max-p99`` is exceeded or, with ``--compare``, when the cost
per event, p50, p99 (in calibration units) or the bytes per active key grew
by more than ``--max-regression``; 2 for usage errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ruledsl._version import __version__
from ruledsl.cli.app import EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS, guarded, usage_error

BENCH_FORMAT = 1
"""Version of the JSON written by ``--json`` (``format``)."""

SHORT_EVENTS = 2000
"""Events per ruleset in ``--short`` mode (a few seconds each)."""

COMPARED = ("cost_per_event", "p50", "p99")
"""Normalised figures compared with ``--compare`` (plus ``bytes_per_active_key``)."""


def parse_time_us(text: str) -> float:
    """``"20us"`` / ``"20µs"`` / ``"1.5ms"`` / ``"800ns"`` / ``"20"`` (µs) -> µs; ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?\s*", text)
    if m is None:
        raise ValueError(f"not a time: {text!r} (e.g. 20us, 1.5ms)")
    scale = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6, None: 1.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_percent(text: str) -> float:
    """``"20%"`` -> 0.2, ``"0.2"`` -> 0.2; ValueError for anything else or a negative value."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ValueError(f"not a percentage: {text!r} (e.g. 20%)") from None
    if value < 0:
        raise ValueError(f"a regression threshold cannot be negative: {text!r}")
    return value


def _engine_factory(evaluator: str) -> Any:
    from ruledsl.compile import compile_ruleset
    from ruledsl.runtime.engine import Engine

    mode = {"python": "never", "cython": "require"}[evaluator]

    def make(result: Any) -> Any:
        return Engine(result, compile_ruleset(result), clock=None, evaluator_mode=mode)

    return make


def _usable_events(make: Any, result: Any, events: list[dict]) -> tuple[list[dict], int, Any]:
    """The events the ruleset takes (its types, accepted by a first replay), the number skipped, that engine."""
    from ruledsl.kernels.values import EventError

    engine = make(result)
    types = set(engine.compiled.event_types)
    kept: list[dict] = []
    for ev in events:
        if ev.get("type") not in types:
            continue
        try:
            engine.evaluate(ev)
        except EventError:
            continue
        kept.append(ev)
    return kept, len(events) - len(kept), engine


def bench_one(
    path: Path,
    events: list[dict],
    *,
    passes: int,
    evaluator: str,
    shares: bool,
    share_repeats: int,
    calibration: float,
) -> dict[str, Any]:
    """Every figure of one ruleset (the dict written to JSON)."""
    from ruledsl.check.checker import load_and_check
    from ruledsl.cli.bench_shares import measure_shares
    from ruledsl.runtime.benchtime import gc_state, latency_pass, percentiles, timed_loop

    result = load_and_check([path])
    if not result.ok:
        raise ValueError(f"{path} has errors: see `ruledsl lint {path}`")
    make = _engine_factory(evaluator)
    used, skipped, probe = _usable_events(make, result, events)
    if not used:
        raise ValueError(f"{path}: none of the events has one of its event types")
    stats = probe.stats()
    parts = [*stats["windows"].values(), *stats["sequences"].values()]
    own = [p for p in parts if "shares_state_of" not in p]
    mem_bytes = sum(p["bytes"] for p in own)
    keys = sum(p["keys"] for p in own)
    runs = [latency_pass(make(result), used) for _ in range(max(1, passes))]
    lat = percentiles([min(times) for times in zip(*runs, strict=True)])
    seconds = timed_loop(make(result).evaluate, used)
    mean_ns = seconds * 1e9 / len(used)
    out: dict[str, Any] = {
        "ruleset": str(path),
        "events": len(used),
        "skipped_events": skipped,
        "evaluator": evaluator,
        "passes": max(1, passes),
        "gc": gc_state(),
        "events_per_s": len(used) / seconds if seconds > 0 else 0.0,
        "mean_us": mean_ns / 1000,
        "p50_us": lat["p50_us"],
        "p99_us": lat["p99_us"],
        "p99.9_us": lat["p99.9_us"],
        "max_us": lat["max_us"],
        "memory": {
            "bytes": mem_bytes,
            "active_keys": keys,
            "bytes_per_active_key": mem_bytes / keys if keys else 0.0,
        },
        "normalised": {
            # the mean of each event's fastest call: robust to pauses, unlike the untimed pass's mean
            "cost_per_event": lat["mean_us"] * 1000 / calibration,
            "p50": lat["p50_us"] * 1000 / calibration,
            "p99": lat["p99_us"] * 1000 / calibration,
            "p99.9": lat["p99.9_us"] * 1000 / calibration,
        },
        "shares": [],
    }
    if shares:
        _full, found = measure_shares(result, used, make, repeats=share_repeats)
        out["shares"] = [
            {"kind": s.kind, "name": s.name, "removed": s.removed, "us_per_event": s.us_per_event, "share": s.share}
            for s in sorted(found, key=lambda s: -(s.share or 0.0))
        ]
    return out


def compare_runs(current: dict[str, Any], base: dict[str, Any], threshold: float) -> list[dict[str, Any]]:
    """Per ruleset in both, the ratio current/base of each compared figure; ``regression`` when above 1+threshold."""
    base_by = {r["ruleset"]: r for r in base.get("rulesets", [])}
    rows = []
    for r in current["rulesets"]:
        b = base_by.get(r["ruleset"])
        if b is None:
            continue
        figures = [(k, r["normalised"][k], b.get("normalised", {}).get(k)) for k in COMPARED]
        figures.append(
            (
                "bytes_per_active_key",
                r["memory"]["bytes_per_active_key"],
                b.get("memory", {}).get("bytes_per_active_key"),
            )
        )
        for name, cur, old in figures:
            if not isinstance(old, (int, float)) or old <= 0:
                continue
            ratio = cur / old
            rows.append({"ruleset": r["ruleset"], "figure": name, "ratio": ratio, "regression": ratio > 1 + threshold})
    return rows


def _print(report: dict[str, Any], comparison: list[dict[str, Any]], top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=160 if not Console().is_terminal else None)
    t = Table(title=f"ruledsl bench ({report['evaluator']} evaluator; gc {report['gc']})")
    for col in ("ruleset", "events", "events/s", "p50 µs", "p99 µs", "p99.9 µs", "B/active key", "cost/event (cal)"):
        t.add_column(col, justify="left" if col == "ruleset" else "right")
    for r in report["rulesets"]:
        t.add_row(
            Path(r["ruleset"]).name,
            str(r["events"]),
            f"{r['events_per_s']:,.0f}",
            f"{r['p50_us']:.1f}",
            f"{r['p99_us']:.1f}",
            f"{r['p99.9_us']:.1f}",
            f"{r['memory']['bytes_per_active_key']:.0f}",
            f"{r['normalised']['cost_per_event']:.2f}",
        )
    console.print(t)
    console.print(f"calibration: {report['calibration_ns']:.1f} ns per loop iteration (cal = one iteration)")
    for r in report["rulesets"]:
        if not r["shares"]:
            continue
        s = Table(title=f"{Path(r['ruleset']).name}: cost share (removed in turn)")
        for col in ("part", "name", "µs/event", "share", "removed with it"):
            s.add_column(col, justify="right" if col in ("µs/event", "share") else "left")
        for row in r["shares"][:top]:
            us = "-" if row["us_per_event"] is None else f"{row['us_per_event']:.2f}"
            share = "n/a" if row["share"] is None else f"{row['share']:.1%}"
            s.add_row(row["kind"], row["name"], us, share, ", ".join(row["removed"]))
        console.print(s)
    if comparison:
        c = Table(title="against the base (ratios in calibration units)")
        for col in ("ruleset", "figure", "ratio", ""):
            c.add_column(col)
        for row in comparison:
            c.add_row(
                Path(row["ruleset"]).name,
                row["figure"],
                f"{row['ratio']:.2f}",
                "REGRESSION" if row["regression"] else "",
            )
        console.print(c)


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the CLI."""

    @app.command()
    @guarded
    def bench(
        rulesets: Annotated[
            list[Path], typer.Argument(help="Ruleset files (each benchmarked on its own).", metavar="RULESET")
        ],
        events: Annotated[
            Path, typer.Option("--events", "-e", help="JSON Lines events (e.g. from `ruledsl generate`).")
        ],
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Write every figure here (JSON).")] = None,
        compare: Annotated[
            Optional[Path], typer.Option("--compare", help="A base --json file to compare with.")
        ] = None,
        max_p99: Annotated[Optional[str], typer.Option("--max-p99", help="Exit 1 above this p99 (e.g. 20us).")] = None,
        max_regression: Annotated[
            str, typer.Option("--max-regression", help="With --compare: exit 1 above this growth.")
        ] = "20%",
        short: Annotated[bool, typer.Option("--short", help=f"First {SHORT_EVENTS} events, one pass.")] = False,
        passes: Annotated[
            Optional[int], typer.Option("--passes", help="Latency passes (default 3; 1 with --short).")
        ] = None,
        limit: Annotated[Optional[int], typer.Option("--limit", help="Use only the first N events.")] = None,
        evaluator: Annotated[str, typer.Option("--evaluator", help="python (default) or cython.")] = "python",
        no_shares: Annotated[bool, typer.Option("--no-shares", help="Skip the cost shares.")] = False,
        top: Annotated[int, typer.Option("--top", help="Cost-share rows shown per ruleset.")] = 15,
    ) -> None:
        """Benchmark rulesets on recorded events: events/s, latency, memory per key, cost share per rule and window."""
        from ruledsl.runtime.benchtime import calibration_ns, gc_state
        from ruledsl.sim.budget_sample import SampleError, read_sample

        if evaluator not in ("python", "cython"):
            usage_error(f"--evaluator must be python or cython, not {evaluator!r}")
        try:
            p99_limit = parse_time_us(max_p99) if max_p99 is not None else None
            threshold = parse_percent(max_regression)
        except ValueError as err:
            usage_error(str(err))
        base = None
        if compare is not None:
            try:
                base = json.loads(compare.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                usage_error(f"cannot read base {compare}: {err}")
            if not isinstance(base, dict) or base.get("format") != BENCH_FORMAT:
                usage_error(f"{compare} is not a `ruledsl bench --json` file (format {BENCH_FORMAT})")
        for p in rulesets:
            if not p.is_file():
                usage_error(f"no such ruleset file: {p}")
        try:
            evs = read_sample(events)
        except SampleError as err:
            usage_error(str(err))
        n = limit if limit is not None else (SHORT_EVENTS if short else None)
        if n is not None:
            evs = evs[: max(1, n)]
        n_passes = passes if passes is not None else (1 if short else 3)
        cal = calibration_ns()
        report: dict[str, Any] = {
            "format": BENCH_FORMAT,
            "ruledsl": __version__,
            "events_file": str(events),
            "evaluator": evaluator,
            "gc": gc_state(),
            "rulesets": [],
        }
        for p in rulesets:
            try:
                report["rulesets"].append(
                    bench_one(
                        p,
                        evs,
                        passes=n_passes,
                        evaluator=evaluator,
                        shares=not no_shares,
                        share_repeats=2 if short else 3,
                        calibration=cal,
                    )
                )
            except ValueError as err:
                usage_error(str(err))
        # timed again at the end: the fastest of both is the machine's speed during this run
        cal_end = calibration_ns()
        report["calibration_ns"] = min(cal, cal_end)
        if cal_end < cal:
            for r in report["rulesets"]:
                for k in r["normalised"]:
                    r["normalised"][k] *= cal / cal_end
        comparison = compare_runs(report, base, threshold) if base is not None else []
        report["comparison"] = {
            "base": str(compare) if compare else None,
            "max_regression": threshold,
            "rows": comparison,
        }
        broken = [r["ruleset"] for r in report["rulesets"] if p99_limit is not None and r["p99_us"] > p99_limit]
        report["budget"] = {"max_p99_us": p99_limit, "broken": broken}
        if json_out is not None:
            try:
                json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            except OSError as err:
                typer.echo(f"error: cannot write {json_out}: {err.strerror or err}", err=True)
                raise typer.Exit(EXIT_ERROR) from None
        _print(report, comparison, top)
        failed = False
        for name in broken:
            typer.echo(f"{name}: p99 above the budget of {p99_limit:g} µs", err=True)
            failed = True
        for row in comparison:
            if row["regression"]:
                typer.echo(
                    f"{row['ruleset']}: {row['figure']} regressed by {row['ratio'] - 1:.0%} (limit {threshold:.0%})",
                    err=True,
                )
                failed = True
        raise typer.Exit(EXIT_PROBLEMS if failed else EXIT_OK)
