"""``ruledsl backtest``: what a ruleset (or a change to one) does on recorded traffic, as a report.

::

    ruledsl backtest rulesets/echannel_monitoring.rdsl --events day1.jsonl.gz --events day2.parquet \\
        --labels confirmed_fraud.csv --baseline old/echannel_monitoring.rdsl \\
        --report out.html --json out.json --callback-capacity 40/h

``RULESET...`` are the files of one ruleset (loaded together into one
engine, ``clock=None``: a replay); ``--baseline OLD_RULESET...`` likewise
for the version to compare with (with ``--params`` / ``--baseline-params``
the same files can be compared under different parameters).  The events go
through the engines in file order (``ruledsl.lab``: Parquet through
``evaluate_arrow``, JSON Lines decoded with msgspec through
``evaluate_many``), streamed in batches.  The figures are defined in
docs/lab.md.

A progress bar is drawn on a terminal; Ctrl-C stops the replay after the
current batch, prints a partial summary and writes the reports marked
partial (exit code 130).  Exit codes otherwise: 0 every event evaluated,
1 some lines were malformed or events rejected (the rest were scored),
2 usage or I/O error (a missing file, a bad labels file, a ruleset with
errors, a bad option value).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer

from ruledsl.cli.progress import bar, bar_wanted
from ruledsl.lab import LabError

EXIT_INTERRUPTED = 130


# ---------------------------------------------------------------- shared with `ruledsl cases`


def fail(message: str) -> NoReturn:
    """``error: message`` on stderr, exit code 2."""
    from ruledsl.cli.app import usage_error

    usage_error(message)


def load_engine(paths: list[Path], *, timezone: Optional[str], params: list[str], what: str) -> Any:
    """The engine of one ruleset's files, for a replay (``clock=None``); exits 2 on any problem."""
    from ruledsl.cli.app import EXIT_ERROR, echo_diagnostics
    from ruledsl.cli.report import LoadedRuleset
    from ruledsl.cli.run import apply_params
    from ruledsl.runtime.engine import load
    from ruledsl.syntax.diagnostics import RuleDSLError

    for p in paths:
        if not p.exists():
            fail(f"{what} not found: {p}")
        if p.is_dir():
            fail(f"{what} must be ruleset files, not a directory: {p}")
    try:
        engine = load(paths, timezone=timezone, clock=None)  # a replay of recorded traffic: no wall-clock guard
    except RuleDSLError as err:
        echo_diagnostics(err.diagnostics, err.sources, err=True)
        typer.echo(f"error: {what} {', '.join(map(str, paths))} has errors; nothing was evaluated", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    except (OSError, ValueError) as err:
        fail(f"cannot load {what} {', '.join(map(str, paths))}: {err}")
    try:
        apply_params([LoadedRuleset(what, str(paths[0]), engine)], params)
    except ValueError as err:
        fail(str(err))
    return engine


def check_timezone(timezone: Optional[str]) -> None:
    """Exit 2 when ``--timezone`` names no zone."""
    from ruledsl.kernels.values import get_zone

    if timezone is not None:
        try:
            get_zone(timezone)
        except ValueError as err:
            fail(str(err))


def shown_params(items: list[str]) -> dict[str, str]:
    """``--params`` as the report shows them."""
    return dict(item.partition("=")[::2] for item in items)


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[Any], None]]:
    """A progress bar on stderr (by bytes of the events files) when ``enabled``; yields the update."""
    if not enabled:
        yield lambda result: None
        return
    with bar(label, None, percent=True) as step:

        def update(result: Any) -> None:
            stats = result.stats
            step(stats.bytes_done, f"{result.events + result.history:,} events", total=stats.bytes_total or None)

        yield update


def use_progress(quiet: bool) -> bool:
    """Draw a progress bar: unless ``--quiet``, where ``bar_wanted`` says (a terminal, not CI)."""
    return not quiet and bar_wanted()


def report_problems(result: Any) -> None:
    """``FILE:LINE: problem`` lines on stderr for malformed lines and rejected events."""
    stats = result.stats
    for source, line, msg in stats.malformed_lines:
        typer.echo(f"{source}:{line}: malformed event: {msg}", err=True)
    if stats.malformed > len(stats.malformed_lines):
        typer.echo(f"... and {stats.malformed - len(stats.malformed_lines)} more malformed lines", err=True)
    for which, source, line, msg in result.rejections:
        typer.echo(f"{source}:{line}: rejected by the {which}: {msg}", err=True)
    listed = len(result.rejections)
    total = sum(result.rejected.values())
    if total > listed:
        typer.echo(f"... and {total - listed} more rejected events", err=True)


def finish(result: Any) -> NoReturn:
    """Exit with 130 (interrupted), 1 (malformed or rejected events) or 0."""
    from ruledsl.cli.app import EXIT_OK, EXIT_PROBLEMS

    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_PROBLEMS if result.stats.malformed or sum(result.rejected.values()) else EXIT_OK)


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:,}"


# ---------------------------------------------------------------- the command


def run_backtest(
    rulesets: list[Path],
    events: list[Path],
    *,
    labels: Optional[Path] = None,
    baseline: Optional[list[Path]] = None,
    report: Optional[Path] = None,
    json_out: Optional[Path] = None,
    capacity: str = "40/h",
    params: Optional[list[str]] = None,
    baseline_params: Optional[list[str]] = None,
    by: Optional[list[str]] = None,
    id_field: str = "event_id",
    history: Optional[list[Path]] = None,
    timezone: Optional[str] = None,
    skip_unknown_types: bool = False,
    samples: int = 3,
    quiet: bool = False,
    sweep: Optional[list[str]] = None,
    explain: bool = True,
) -> NoReturn:
    """The body of ``ruledsl backtest`` (exits with its code)."""
    from ruledsl.lab.compare import DEFAULT_ENTITY_FIELDS, Comparison
    from ruledsl.lab.holdqueue import HoldQueue, parse_capacity
    from ruledsl.lab.labels import read_labels
    from ruledsl.lab.metrics import RuleMetrics
    from ruledsl.lab.readers import ReadStats, check_inputs, iter_chunks
    from ruledsl.lab.replay import replay
    from ruledsl.lab.report import backtest_data, check_writable, describe_engine, render_backtest, write_json

    if report is None and json_out is None:
        fail("give --report FILE.html and/or --json FILE.json: the backtest's figures go there")
    check_timezone(timezone)
    fields = list(by or DEFAULT_ENTITY_FIELDS)
    try:
        per_hour = parse_capacity(capacity)
        check_inputs(events)
        if history:
            check_inputs(history, "history file")
        for path, what in ((report, "report"), (json_out, "JSON report")):
            if path is not None:
                check_writable(path, what)
    except LabError as err:
        fail(str(err))
    if baseline_params and not baseline:
        baseline = list(rulesets)
    engine = load_engine(rulesets, timezone=timezone, params=params or [], what="ruleset")
    old = load_engine(baseline, timezone=timezone, params=baseline_params or [], what="baseline") if baseline else None
    zone = engine._zone
    label_set = None
    try:
        if labels is not None:
            label_set = read_labels(labels, zone, id_field=id_field, entity_field=fields[0])
    except LabError as err:
        fail(str(err))
    if label_set is None:
        from ruledsl.lab.labels import Labels

        label_set = Labels("inline", None, fields[0])  # the events' own labels, if they carry any
    metrics = RuleMetrics(label_set, zone)
    consumers: list[Any] = [metrics, HoldQueue()]
    curves = _sweep_curves(rulesets, sweep or [], timezone, params or [], label_set, zone)
    consumers += curves
    old_metrics = old_holds = comparison = None
    if old is not None:
        old_metrics = RuleMetrics(label_set, zone, "old")
        old_holds = HoldQueue("old")
        comparison = Comparison(fields, samples=samples)
        consumers += [old_metrics, old_holds, comparison]
    stats = ReadStats()
    history_stats = ReadStats()
    try:
        with progress_bar(use_progress(quiet), "backtest") as update:
            result = replay(
                engine,
                iter_chunks(events, stats),
                consumers,
                stats,
                baseline=old,
                history=iter_chunks(history, history_stats) if history else (),
                skip_unknown_types=skip_unknown_types,
                progress=update,
            )
    except LabError as err:
        fail(str(err))
    report_problems(result)
    compared = comparison.to_dict() if comparison is not None else None
    explained = None
    if compared is not None:
        explained = _explain_samples(
            compared, explain and not result.interrupted, rulesets, events, baseline or [], params, baseline_params,
            history=history, timezone=timezone, skip_unknown_types=skip_unknown_types, quiet=quiet,
        )  # fmt: skip
    new_dict = metrics.to_dict()
    old_dict = old_metrics.to_dict() if old_metrics is not None else None
    label_view = label_set.describe() if "labelled" in new_dict else None
    holds = consumers[1].simulate(per_hour)
    data = backtest_data(
        candidate=describe_engine(engine, [str(p) for p in rulesets], shown_params(params or [])),
        baseline=describe_engine(old, [str(p) for p in baseline or []], shown_params(baseline_params or []))
        if old is not None
        else None,
        events_files=[str(p) for p in events],
        labels=label_view,
        replay=result.to_dict(),
        metrics=new_dict,
        baseline_metrics=old_dict,
        comparison=compared,
        explain=explained,
        hold_queue={"candidate": holds, "baseline": old_holds.simulate(per_hour) if old_holds is not None else None},
        timezone=str(zone),
        sweeps=[c.to_dict() for c in curves],
    )
    try:
        if json_out is not None:
            write_json(json_out, data)
        if report is not None:
            from ruledsl.lab.report import write_text

            write_text(report, render_backtest(data, zone))
    except LabError as err:
        fail(str(err))
    if not quiet:
        print_summary(data, report, json_out)
    if explained is not None and explained.get("interrupted"):
        raise typer.Exit(EXIT_INTERRUPTED)
    finish(result)


def _explain_samples(
    compared: dict,
    enabled: bool,
    rulesets: list[Path],
    events: list[Path],
    baseline: list[Path],
    params: Optional[list[str]],
    baseline_params: Optional[list[str]],
    *,
    history: Optional[list[Path]],
    timezone: Optional[str],
    skip_unknown_types: bool,
    quiet: bool,
) -> dict:
    """The samples' explanations (``lab/explain_pass.py``): a second pass on fresh engines; its figures."""
    from ruledsl.lab.explain_pass import explain_samples, sample_positions
    from ruledsl.lab.readers import ReadStats, iter_chunks

    positions = sample_positions(compared["cells"])
    if not enabled or not positions:
        return {"enabled": False, "samples": len(positions)}
    began = time.perf_counter()
    engine = load_engine(rulesets, timezone=timezone, params=params or [], what="ruleset")
    old = load_engine(baseline, timezone=timezone, params=baseline_params or [], what="baseline")
    stats = ReadStats()
    try:
        with progress_bar(use_progress(quiet), "explaining samples") as update:
            done = explain_samples(
                engine,
                old,
                iter_chunks(events, stats),
                positions,
                stats,
                history=iter_chunks(history, ReadStats()) if history else (),
                skip_unknown_types=skip_unknown_types,
                progress=update,
            )
    except LabError as err:
        fail(str(err))
    done.seconds = time.perf_counter() - began  # engines' loading included: the whole extra cost
    return done.to_dict()


def _sweep_curves(
    rulesets: list[Path], specs: list[str], timezone: Optional[str], params: list[str], labels: Any, zone: Any
) -> list[Any]:
    """One ``SweepCurve`` per ``--sweep`` (each on its own engine of the candidate's files); exits 2 when refused."""
    from ruledsl.lab.sweep import SweepCurve, SweepEvaluator, plan

    curves = []
    seen: set[str] = set()
    for spec in specs:
        engine = load_engine(rulesets, timezone=timezone, params=params, what="ruleset")
        try:
            planned = plan(engine, spec)
            if planned.param in seen:
                fail(f"--sweep {spec}: {planned.param} is swept twice")
            seen.add(planned.param)
            curves.append(SweepCurve(SweepEvaluator(engine, planned), labels, zone))
        except LabError as err:
            fail(str(err))
    return curves


def print_summary(data: dict, report: Optional[Path], json_out: Optional[Path]) -> None:
    """A few lines on stdout: what was replayed, the headline figures, where the report is."""
    r = data["replay"]
    m = data["metrics"]
    out = typer.echo
    head = "interrupted: partial summary of the events replayed so far\n" if data["partial"] else ""
    out(
        f"{head}{_fmt(r['events'])} events ({_fmt(r['scored'])} scored, {_fmt(r['warmup'])} warm-up, "
        f"{_fmt(r['malformed'])} malformed, {_fmt(sum(r['rejected'].values()))} rejected) in {r['seconds']:.1f} s"
    )
    out(
        f"alerts: {_fmt(m['alerts'])} = {m['alerts_per_10k'] or 0:.1f} per 10,000 events; {m['rules_fired']} rules fired"
    )
    lab = m.get("labelled")
    if lab:
        out(
            f"labelled: precision {_fmt(lab['precision'], True)}, recall {_fmt(lab['recall'], True)}, "
            f"{lab['alerts_per_10k_normal'] or 0:.1f} alerts per 10,000 normal events, "
            f"{_fmt(lab['entities_warned_before_share'], True)} of {lab['fraud_entities']} fraud entities warned "
            "before their label date"
        )
    c = data["comparison"]
    if c is not None:
        out(
            f"vs baseline: {_fmt(c['changed_events'])} events change action ({_fmt(c['escalated_events'])} stronger, "
            f"{_fmt(c['relaxed_events'])} weaker); "
            + ", ".join(f"{f} newly affected {a['escalated']:,}" for f, a in c["affected"].items())
        )
    hq = data["hold_queue"]["candidate"]
    out(
        f"holds: {_fmt(hq['holds'])} at {hq['capacity_per_hour']:g}/h call-back capacity: "
        f"{_fmt(hq['expired_to_block'])} would expire into blocks"
        + (
            f" (baseline {data['hold_queue']['baseline']['expired_to_block']:,})"
            if data["hold_queue"]["baseline"]
            else ""
        )
    )
    for sw in data["sweeps"]:
        pts = sw["points"]
        out(
            f"sweep of {sw['param']} ({len(pts)} values, one pass, {sw['seconds']:.1f} s): alerts per 10,000 "
            f"from {pts[0]['alerts_per_10k'] or 0:.1f} ({pts[0]['value']}) to {pts[-1]['alerts_per_10k'] or 0:.1f} "
            f"({pts[-1]['value']})"
        )
    ex = data.get("explain")
    if ex and ex.get("enabled"):
        out(
            f"samples explained: {ex['explained']:,} of {ex['samples']:,} in {ex['seconds']:.1f} s "
            f"(a second pass over {ex['events_evaluated']:,} events" + (", interrupted)" if ex["interrupted"] else ")")
        )
    for path, what in ((report, "report"), (json_out, "JSON")):
        if path is not None:
            out(f"{what}: {path}")


def register(app: typer.Typer) -> None:
    """Add ``ruledsl backtest`` to the CLI app."""
    from ruledsl.cli.app import guarded

    @app.command()
    @guarded
    def backtest(
        rulesets: Annotated[
            list[Path],
            typer.Argument(help="The ruleset's files (loaded together).", show_default=False, metavar="RULESET"),
        ],
        events: Annotated[
            list[Path],
            typer.Option(
                "--events",
                "-e",
                help="Events: JSON Lines (plain or gzip) or Parquet; repeat for several files, replayed in order.",
                show_default=False,
                metavar="FILE",
            ),
        ],
        labels: Annotated[
            Optional[Path],
            typer.Option(
                "--labels",
                help="Fraud labels (CSV or Parquet): a key column (event_id or an entity field), label, label_date.",
                show_default=False,
                metavar="FILE",
            ),
        ] = None,
        baseline: Annotated[
            Optional[list[Path]],
            typer.Option(
                "--baseline",
                help="The version to compare with: its ruleset files (repeat for several).",
                show_default=False,
                metavar="OLD_RULESET",
            ),
        ] = None,
        report: Annotated[
            Optional[Path],
            typer.Option("--report", help="Write the HTML report here.", show_default=False, metavar="FILE.html"),
        ] = None,
        json_out: Annotated[
            Optional[Path],
            typer.Option("--json", help="Write the figures as JSON here.", show_default=False, metavar="FILE.json"),
        ] = None,
        capacity: Annotated[
            str,
            typer.Option(
                "--callback-capacity",
                help="Holds the call-back desk confirms per hour (40/h; or per day: 960/d).",
                metavar="N/h",
            ),
        ] = "40/h",
        params: Annotated[
            Optional[list[str]],
            typer.Option("--params", "-p", help="Set a parameter of the ruleset: name=value.", metavar="NAME=VALUE"),
        ] = None,
        baseline_params: Annotated[
            Optional[list[str]],
            typer.Option(
                "--baseline-params",
                help="Set a parameter of the baseline (without --baseline: of the same ruleset's files).",
                metavar="NAME=VALUE",
            ),
        ] = None,
        by: Annotated[
            Optional[list[str]],
            typer.Option(
                "--by",
                help="Entity fields for 'newly affected' and for event labels' entities "
                "(default customer_id, account_no).",
                show_default=False,
                metavar="FIELD",
            ),
        ] = None,
        id_field: Annotated[
            str, typer.Option("--id-field", help="The events' id field that event labels name.", metavar="FIELD")
        ] = "event_id",
        history: Annotated[
            Optional[list[Path]],
            typer.Option(
                "--history",
                help="Earlier events to evaluate first (they fill windows), not scored.",
                show_default=False,
                metavar="FILE",
            ),
        ] = None,
        timezone: Annotated[
            Optional[str],
            typer.Option("--timezone", help="Override the rulesets' time zone.", show_default=False, metavar="TZ"),
        ] = None,
        skip_unknown_types: Annotated[
            bool,
            typer.Option("--skip-unknown-types", help="Skip events whose type the ruleset does not declare."),
        ] = False,
        samples: Annotated[
            int, typer.Option("--samples", help="Sample events per transition cell.", min=0, max=100)
        ] = 3,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")] = False,
        explain: Annotated[
            bool,
            typer.Option(
                "--explain/--no-explain",
                help="Explain the sample events with margins (a second pass up to the last sample).",
            ),
        ] = True,
        sweep: Annotated[
            Optional[list[str]],
            typer.Option(
                "--sweep",
                help="Sweep a parameter of the ruleset over FROM..TO by STEP in one pass: a curve of alerts "
                "against fraud caught (repeatable).",
                show_default=False,
                metavar="PARAM=FROM:TO:STEP",
            ),
        ] = None,
    ) -> None:
        """Replay events through a ruleset (and a baseline); write an HTML report and JSON figures.

        Per rule: hits, hit rate, precision and recall against labels, alerts
        per 10,000 normal events, rules that fire together, fraud entities
        warned before their label date.  With --baseline: the transition
        matrix, newly affected customers and accounts, samples, and the hold
        queue against the call-back capacity.  Exit codes: 0 all events
        evaluated, 1 some malformed or rejected, 2 usage or I/O error, 130
        interrupted (the reports are written, marked partial).
        """
        run_backtest(
            rulesets,
            events,
            labels=labels,
            baseline=baseline,
            report=report,
            json_out=json_out,
            capacity=capacity,
            params=params,
            baseline_params=baseline_params,
            by=by,
            id_field=id_field,
            history=history,
            timezone=timezone,
            skip_unknown_types=skip_unknown_types,
            samples=samples,
            quiet=quiet,
            sweep=sweep,
            explain=explain,
        )
