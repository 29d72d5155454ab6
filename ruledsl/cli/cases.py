"""``ruledsl cases``: the T+1 case list, one case per entity per day, from a day of traffic.

::

    ruledsl cases rulesets/gambling_fraud_t1.rdsl --events 2026-11-20.jsonl.gz \\
        --history 2026-10-*.parquet --by account_no --by customer_id \\
        --previous cases-2026-11-19.csv --out cases-2026-11-20.csv --report cases.html

The ruleset's files are loaded into one engine (``clock=None``); the
``--history`` files are evaluated first (they fill the windows a T+1 model
needs: 30-day norms, dormancy) and open no case, then the day's events
(``--events``), whose decisions make the cases (``ruledsl.lab.cases``;
docs/lab.md, "Cases").  ``--out`` gets the list (CSV, or Parquet for
``.parquet``), ``--report`` an HTML page of it, ``--json`` its figures.
Progress bar, Ctrl-C and exit codes as ``ruledsl backtest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer

from ruledsl.cli.backtest import (
    check_timezone,
    fail,
    finish,
    load_engine,
    progress_bar,
    report_problems,
    use_progress,
)
from ruledsl.lab import LabError


def run_cases(
    rulesets: list[Path],
    events: list[Path],
    *,
    by: list[str],
    out: Path,
    report: Optional[Path] = None,
    json_out: Optional[Path] = None,
    history: Optional[list[Path]] = None,
    previous: Optional[Path] = None,
    params: Optional[list[str]] = None,
    timezone: Optional[str] = None,
    skip_unknown_types: bool = False,
    top: int = 200,
    quiet: bool = False,
) -> NoReturn:
    """The body of ``ruledsl cases`` (exits with its code)."""
    from ruledsl.lab.cases import CaseBook, read_previous, write_cases
    from ruledsl.lab.readers import ReadStats, check_inputs, iter_chunks
    from ruledsl.lab.replay import replay
    from ruledsl.lab.report import check_writable, describe_engine, render_cases, write_json, write_text

    if not by:
        fail("give the entity field(s) to open cases by: --by account_no, --by customer_id ...")
    check_timezone(timezone)
    try:
        check_inputs(events)
        if history:
            check_inputs(history, "history file")
        for path, what in ((out, "case list"), (report, "report"), (json_out, "JSON report")):
            if path is not None:
                check_writable(path, what)
        earlier = read_previous(previous) if previous is not None else set()
    except LabError as err:
        fail(str(err))
    engine = load_engine(rulesets, timezone=timezone, params=params or [], what="ruleset")
    zone = engine._zone
    book = CaseBook(by, zone, earlier)
    stats = ReadStats()
    try:
        with progress_bar(use_progress(quiet), "cases") as update:
            result = replay(
                engine,
                iter_chunks(events, stats),
                [book],
                stats,
                history=iter_chunks(history, ReadStats()) if history else (),
                skip_unknown_types=skip_unknown_types,
                progress=update,
            )
    except LabError as err:
        fail(str(err))
    report_problems(result)
    rows = book.rows()
    data: dict[str, Any] = book.to_dict(rows, top=top)
    data.update(
        ruledsl=_version(),
        timezone=str(zone),
        partial=result.interrupted,
        ruleset=describe_engine(engine, [str(p) for p in rulesets]),
        events_files=[str(p) for p in events],
        history_files=[str(p) for p in history or []],
        out=str(out),
        replay=result.to_dict(),
    )
    try:
        write_cases(rows, out)
        if json_out is not None:
            write_json(json_out, data)
        if report is not None:
            write_text(report, render_cases(data, zone))
    except LabError as err:
        fail(str(err))
    if not quiet:
        r = data["replay"]
        if result.interrupted:
            typer.echo("interrupted: partial case list of the events replayed so far")
        typer.echo(
            f"{r['events']:,} events ({r['scored']:,} scored, {r['history_events']:,} history, "
            f"{r['warmup']:,} warm-up) in {r['seconds']:.1f} s"
        )
        typer.echo(
            f"{data['cases']:,} cases ({data['open_before']:,} open the day before) over {len(data['days'])} day(s): "
            + ", ".join(f"{a} {n:,}" for a, n in data["by_action"].items())
        )
        for path, what in ((out, "cases"), (report, "report"), (json_out, "JSON")):
            if path is not None:
                typer.echo(f"{what}: {path}")
    finish(result)


def _version() -> str:
    from ruledsl._version import __version__

    return __version__


def register(app: typer.Typer) -> None:
    """Add ``ruledsl cases`` to the CLI app."""
    from ruledsl.cli.app import guarded

    @app.command()
    @guarded
    def cases(
        rulesets: Annotated[
            list[Path],
            typer.Argument(help="The ruleset's files (loaded together).", show_default=False, metavar="RULESET"),
        ],
        events: Annotated[
            list[Path],
            typer.Option(
                "--events",
                "-e",
                help="The day's events: JSON Lines (plain or gzip) or Parquet; repeat for several files.",
                show_default=False,
                metavar="DAY",
            ),
        ],
        by: Annotated[
            list[str],
            typer.Option(
                "--by",
                help="Entity field to open cases by (account_no, customer_id ...); repeat for several.",
                show_default=False,
                metavar="FIELD",
            ),
        ],
        out: Annotated[
            Path,
            typer.Option("--out", "-o", help="The case list: .csv or .parquet.", show_default=False, metavar="FILE"),
        ],
        report: Annotated[
            Optional[Path],
            typer.Option("--report", help="Write an HTML page of the cases here.", show_default=False, metavar="FILE"),
        ] = None,
        json_out: Annotated[
            Optional[Path],
            typer.Option("--json", help="Write the figures as JSON here.", show_default=False, metavar="FILE"),
        ] = None,
        history: Annotated[
            Optional[list[Path]],
            typer.Option(
                "--history",
                help="Earlier events to evaluate first (they fill the windows), opening no case.",
                show_default=False,
                metavar="FILE",
            ),
        ] = None,
        previous: Annotated[
            Optional[Path],
            typer.Option(
                "--previous",
                help="The previous day's case list: its entities' cases are marked open the day before.",
                show_default=False,
                metavar="FILE",
            ),
        ] = None,
        params: Annotated[
            Optional[list[str]],
            typer.Option("--params", "-p", help="Set a parameter: name=value.", metavar="NAME=VALUE"),
        ] = None,
        timezone: Annotated[
            Optional[str],
            typer.Option("--timezone", help="Override the ruleset's time zone.", show_default=False, metavar="TZ"),
        ] = None,
        skip_unknown_types: Annotated[
            bool,
            typer.Option("--skip-unknown-types", help="Skip events whose type the ruleset does not declare."),
        ] = False,
        top: Annotated[int, typer.Option("--top", help="Cases listed in the report (by score).", min=1)] = 200,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")] = False,
    ) -> None:
        """The T+1 case list: one case per entity per day with its rules, features, counts, times and score.

        Exit codes: 0 all events evaluated, 1 some malformed or rejected,
        2 usage or I/O error, 130 interrupted (the list is written, marked
        partial in the report).
        """
        run_cases(
            rulesets,
            events,
            by=by,
            out=out,
            report=report,
            json_out=json_out,
            history=history,
            previous=previous,
            params=params,
            timezone=timezone,
            skip_unknown_types=skip_unknown_types,
            top=top,
            quiet=quiet,
        )
