"""``ruledsl run``: replay a file of events through rulesets and summarise.

::

    ruledsl run rulesets/echannel_monitoring.rdsl --events events.jsonl --out decisions.jsonl

Each ``RULESET`` is loaded into its own engine (a directory stands for the
rulesets in it that have a ``ruleset`` header); every event of the JSON Lines
file goes through every engine, in file order.  A ``.parquet`` file is read
in record batches through ``Engine.evaluate_arrow`` (``ruledsl.cli.run_parquet``;
``line`` is then the row number).

Output
------
``--out FILE`` (``-``: standard output) gets one JSON object per decision and
line: the msgspec encoding of ``ruledsl.Decision`` (``action``,
``event_type``, ``rules`` with reasons and features, ``scores``, ``late``,
...) with ``line`` (the event's line number in the events file) and
``ruleset`` first, and the event's ``label``/``scenario_id`` (and
``"warmup": true``) copied when present.  Rejected (and skipped) events get no
decision line.

The summary (rich text, or ``--format json``) gives per ruleset: events,
actions by count, the top rules by hits (with, on labelled traffic, their hits
on fraud and on normal events and the precision), late and rejected events
and the throughput (the JSON summary also gives events and alerts per event
type).  When events carry ``label`` (and ``scenario_id``), it
also gives, per scenario type, the number of scenarios, how many were caught
(any event of the scenario got an action other than ``pass``) and the share
caught, and the alerts (non-``pass`` decisions) per 10,000 events overall and
on unlabelled, normal traffic: the false-positive load the bank's reviewers see.
(A ``label`` that is absent, null, ``""`` or ``"normal"`` means normal traffic;
a labelled event without ``scenario_id`` is a scenario of its own.)

Warm-up
-------
Events marked ``"warmup": true`` (see ``ruledsl.sim``), and with
``--warmup DURATION`` the events within DURATION of the first event's time,
are evaluated (they fill windows and baselines) but left out of every
statistic; their decisions are written with ``"warmup": true``.

Errors
------
A malformed line (not JSON, not an object) or an event a ruleset rejects
(``EventError``: unknown type, missing field, wrong type, bad timestamp) is
counted and reported with its line number on standard error; the run goes on.

Mixed streams
-------------
With ``--skip-unknown-types`` an event whose ``type`` a ruleset does not
declare is skipped by that ruleset instead of rejected: counted (per type) but
not evaluated, written or scored, so each ruleset's statistics cover only the
event types it knows.  ``python -m ruledsl.sim --profile all`` makes
such a stream (account opening, ledger postings, e-channel and retail events).

On a terminal a progress bar is drawn on stderr; the first Ctrl-C stops the
replay between two events, writes the decisions so far, prints the summary of
those events and exits with 130 (``ruledsl.cli.progress``).

Exit codes: ``0`` every event evaluated; ``1`` some events were rejected (the
rest were evaluated and written); ``2`` usage or I/O error: a missing or
unreadable events or ruleset file, a ruleset with errors (its diagnostics are
printed), a bad ``--params``/``--timezone``/``--warmup`` value, an unwritable
``--out``, or an internal error.
"""

from __future__ import annotations

import datetime as _dt
import enum
import gzip
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Optional

import msgspec
import typer

from ruledsl.cli.report import (  # noqa: F401  (re-exported for the demo and tests)
    MAX_REPORTED_REJECTIONS,
    NORMAL_LABELS,
    LoadedRuleset,
    RulesetStats,
    RunReport,
    flag_true,
    make_console,
    render_report,
    report_rejections,
)
from ruledsl.kernels.values import EventError


class SummaryFormat(str, enum.Enum):
    """How ``run`` prints its summary."""

    text = "text"
    json = "json"


# ---------------------------------------------------------------- loading


class LoadProblem(Exception):
    """A ruleset could not be loaded: carries the diagnostics or an I/O message."""

    def __init__(self, message: str, diagnostics=None, sources=None):
        super().__init__(message)
        self.diagnostics = diagnostics or []
        self.sources = sources or {}


def load_ruleset(path: Path, *, timezone: Optional[str] = None, shown: Optional[str] = None) -> LoadedRuleset:
    """Load one ruleset file; raises ``LoadProblem`` with its diagnostics when it has errors."""
    from ruledsl.runtime.engine import load
    from ruledsl.syntax.diagnostics import RuleDSLError

    shown = shown or str(path)
    try:
        engine = load(path, timezone=timezone, clock=None)  # a replay of recorded traffic: no wall-clock guard
    except RuleDSLError as err:
        raise LoadProblem(f"{shown}: the ruleset has errors", err.diagnostics, err.sources) from None
    header = engine.result.symbols.header
    name = header.name.name if header is not None else path.stem
    return LoadedRuleset(name, shown, engine)


def has_ruleset_header(engine) -> bool:
    """True when the loaded program declares ``ruleset NAME { ... }`` (a top-level ruleset)."""
    return engine.result.symbols.header is not None


# ---------------------------------------------------------------- parameters


def parse_param_value(engine, name: str, text: str) -> Any:
    """A ``--params`` value, given as text, converted for the parameter's declared type."""
    from ruledsl.kernels.values import parse_timestamp
    from ruledsl.syntax.durations import parse_duration

    type_name = engine.compiled.param_types[name]
    text = text.strip()
    if type_name == "bool":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, not {text!r}")
    if type_name == "duration":
        if text.isdigit():
            return int(text)
        try:
            return parse_duration(text)
        except ValueError:
            raise ValueError(f"expected a duration such as 30m, 24h or 180d, not {text!r}") from None
    if type_name == "timestamp":
        return parse_timestamp(int(text) if text.lstrip("-").isdigit() else text, engine._zone)
    if type_name == "float":
        return float(text)
    return text


def apply_params(rulesets: list[LoadedRuleset], assignments: Iterable[str]) -> None:
    """Apply ``name=value`` assignments; raises ValueError naming the problem."""
    for item in assignments:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--params takes name=value, not {item!r}")
        used = False
        for rs in rulesets:
            if name not in rs.engine.compiled.params:
                continue
            try:
                rs.engine.set_param(name, parse_param_value(rs.engine, name, value))
            except (ValueError, TypeError, ArithmeticError) as err:
                kind = rs.engine.compiled.param_types[name]
                raise ValueError(f"parameter `{name}` ({kind}) in {rs.name}: bad value {value!r}: {err}") from None
            used = True
        if not used:
            known = sorted({p for rs in rulesets for p in rs.engine.compiled.params})
            from ruledsl.syntax.diagnostics import suggest

            hint = suggest(name, known)
            raise ValueError(f"no ruleset has a parameter `{name}`" + (f"; {hint}" if hint else ""))


# ---------------------------------------------------------------- the replay


def replay(
    rulesets: list[LoadedRuleset],
    lines: Iterable[bytes],
    *,
    events_name: str = "<events>",
    out: Optional[IO[bytes]] = None,
    warmup_ms: Optional[int] = None,
    skip_unknown_types: bool = False,
) -> RunReport:
    """Evaluate JSON Lines through every ruleset, in order; write decisions to ``out``.

    ``lines`` yields raw lines (bytes, numbered from 1 in order).  Never raises
    for a bad event: malformed lines and rejected events are counted in the report.
    With ``skip_unknown_types`` a ruleset skips (counts, does not evaluate) the
    events whose ``type`` it does not declare instead of rejecting them.
    """
    from ruledsl.kernels.values import parse_timestamp

    report = RunReport(events_name, rulesets)
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    perf = time.perf_counter
    stats = report.stats
    engines = [
        (
            s,
            s.rs.engine.evaluate,
            encode(s.rs.name),
            frozenset(s.rs.engine.compiled.event_types) if skip_unknown_types else None,
        )
        for s in stats
    ]
    # the zone of naive ISO timestamps when finding where warm-up ends (with no ruleset nothing is scored)
    zone = rulesets[0].engine._zone if rulesets else _dt.timezone.utc
    warmup_until: Optional[int] = None
    pass_cache: dict[tuple[int, str], bytes] = {}
    buf: list[bytes] = []
    began = perf()
    lineno = 0
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            event = decode(raw)
        except msgspec.DecodeError as err:
            report.malformed += 1
            if len(report.malformed_lines) < MAX_REPORTED_REJECTIONS:
                report.malformed_lines.append((lineno, f"not valid JSON: {err}"))
            continue
        if type(event) is not dict:
            report.malformed += 1
            if len(report.malformed_lines) < MAX_REPORTED_REJECTIONS:
                report.malformed_lines.append((lineno, f"not a JSON object but {_json_kind(event)}"))
            continue
        label = event.get("label")
        if label is not None:
            label = None if label in NORMAL_LABELS else str(label)
        sid = event.get("scenario_id") if label is not None else None
        if label is not None:
            sid = f"{label}@{lineno}" if sid is None else str(sid)
        warm = flag_true(event.get("warmup"))
        if warmup_ms is not None and not warm:
            try:
                ts = parse_timestamp(event.get("ts"), zone)
            except (TypeError, ValueError, OverflowError):
                ts = None  # the engine will reject it
            if ts is not None:
                if warmup_until is None:
                    warmup_until = ts + warmup_ms
                warm = ts < warmup_until
        tail = b""
        if out is not None and (warm or label is not None):
            tail = (b',"warmup":true' if warm else b"") + (
                b',"label":' + encode(label) + b',"scenario_id":' + encode(sid) if label is not None else b""
            )
        etype = event.get("type")
        for st, evaluate, name_json, known in engines:
            if known is not None and type(etype) is str and etype not in known:
                st.skipped[etype] += 1
                continue
            t0 = perf()
            try:
                decision = evaluate(event)
            except EventError as err:
                st.seconds += perf() - t0
                st.reject(lineno, str(err))
                continue
            except Exception as err:  # a bug in the engine: report it, keep going
                st.seconds += perf() - t0
                st.internal_errors += 1
                st.reject(lineno, f"internal error: {type(err).__name__}: {err}")
                continue
            st.seconds += perf() - t0
            if warm:
                st.warmup += 1
            else:
                st.record(decision, label, sid)
            if out is not None:
                if not decision.rules and not decision.scores and not decision.late and decision.action == "pass":
                    key = (id(name_json), decision.event_type)
                    body = pass_cache.get(key)
                    if body is None:
                        body = pass_cache[key] = encode(decision)[1:-1]
                else:
                    body = encode(decision)[1:-1]
                buf.append(b'{"line":%d,"ruleset":%s,%s%s}\n' % (lineno, name_json, body, tail))
                if len(buf) >= 2048:
                    out.write(b"".join(buf))
                    buf.clear()
    if out is not None and buf:
        out.write(b"".join(buf))
    report.lines = lineno
    report.seconds = perf() - began
    return report


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def iter_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of a JSON Lines file (``.gz`` is decompressed; ``-`` is standard input)."""
    if str(path) == "-":
        yield from sys.stdin.buffer
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        yield from f


# ---------------------------------------------------------------- the command


def register(app) -> None:
    """Add ``ruledsl run`` to the CLI app."""
    from ruledsl.cli.app import EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS, echo_diagnostics, guarded, usage_error
    from ruledsl.syntax.loader import RULESET_SUFFIX, display_path, find_ruleset_files

    @app.command()
    @guarded
    def run(
        rulesets: Annotated[
            list[Path],
            typer.Argument(
                help="Ruleset files, or directories of rulesets (files with a `ruleset` header).",
                show_default=False,
                metavar="RULESET",
            ),
        ],
        events: Annotated[
            Path,
            typer.Option(
                "--events",
                "-e",
                help="JSON Lines file of events (.gz is decompressed; - for stdin), or a Parquet file (.parquet).",
                show_default=False,
                metavar="FILE",
            ),
        ],
        out: Annotated[
            Optional[Path],
            typer.Option(
                "--out",
                "-o",
                help="Write one decision per line (JSON Lines) here; - for stdout.",
                show_default=False,
                metavar="FILE",
            ),
        ] = None,
        params: Annotated[
            Optional[list[str]],
            typer.Option(
                "--params",
                "-p",
                help="Set a business parameter: name=value (repeatable).",
                show_default=False,
                metavar="NAME=VALUE",
            ),
        ] = None,
        timezone: Annotated[
            Optional[str],
            typer.Option(
                "--timezone",
                help="Override the rulesets' time zone (IANA name, e.g. Asia/Shanghai).",
                show_default=False,
                metavar="TZ",
            ),
        ] = None,
        warmup: Annotated[
            Optional[str],
            typer.Option(
                "--warmup",
                help="Evaluate but do not score the events within DURATION (e.g. 2d) of the "
                'first event; events marked "warmup": true are never scored.',
                show_default=False,
                metavar="DURATION",
            ),
        ] = None,
        summary_format: Annotated[
            SummaryFormat, typer.Option("--format", help="Summary format.", case_sensitive=False)
        ] = SummaryFormat.text,
        top: Annotated[int, typer.Option("--top", help="How many rules to list by hits (0: all).", min=0)] = 10,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", help="Print no summary (errors still go to stderr).")
        ] = False,
        skip_unknown_types: Annotated[
            bool,
            typer.Option(
                "--skip-unknown-types",
                help="Skip (count, do not evaluate or score) events whose type a ruleset does not declare, "
                "instead of rejecting them: for streams that mix event families.",
            ),
        ] = False,
    ) -> None:
        """Evaluate a JSON Lines (or Parquet) file of events; print a summary and write the decisions.

        Malformed or rejected events are reported with their line numbers and
        skipped.  Exit codes: 0 all events evaluated, 1 some events rejected,
        2 usage or I/O error (missing file, ruleset with errors, bad option).
        """
        from ruledsl.cli.progress import exit_if_interrupted, track_events
        from ruledsl.cli.run_parquet import is_parquet, iter_batches, replay_arrow
        from ruledsl.kernels.values import get_zone
        from ruledsl.syntax.durations import parse_duration

        if timezone is not None:
            try:
                get_zone(timezone)
            except ValueError as err:
                usage_error(str(err))
        warmup_ms = None
        if warmup is not None:
            try:
                warmup_ms = parse_duration(warmup.strip())
                if warmup_ms < 0:
                    raise ValueError(warmup)
            except ValueError:
                usage_error(f"--warmup takes a duration such as 12h or 2d, not {warmup!r}")
        events_name = "-" if str(events) == "-" else display_path(events)
        if str(events) != "-":
            if not events.exists():
                usage_error(f"events file not found: {events}")
            if events.is_dir():
                usage_error(f"--events must be a file, not a directory: {events}")

        # rulesets: explicit files always; from directories, the files with a ruleset header
        loaded: list[LoadedRuleset] = []
        for p in rulesets:
            if not p.exists():
                usage_error(f"path not found: {p}")
        for p in rulesets:
            explicit = not p.is_dir()
            files = [p] if explicit else find_ruleset_files([p])
            if not explicit and not files:
                usage_error(f"no {RULESET_SUFFIX} files found in directory {p}")
            for f in files:
                try:
                    rs = load_ruleset(f, timezone=timezone, shown=display_path(f))
                except LoadProblem as err:
                    echo_diagnostics(err.diagnostics, err.sources, err=True)
                    typer.echo(f"error: {err}; nothing was evaluated", err=True)
                    raise typer.Exit(EXIT_ERROR) from None
                if explicit or has_ruleset_header(rs.engine):
                    loaded.append(rs)
        if not loaded:
            usage_error("no ruleset to run (directories are searched for files with a `ruleset` header)")
        names = Counter(rs.name for rs in loaded)
        for rs in loaded:  # two files may declare the same ruleset name
            if names[rs.name] > 1:
                rs.name = rs.path
        try:
            apply_params(loaded, params or [])
        except ValueError as err:
            usage_error(str(err))

        to_stdout = out is not None and str(out) == "-"
        sink: Optional[IO[bytes]] = None
        if out is not None:
            if to_stdout:
                sink = sys.stdout.buffer
            else:
                try:
                    sink = open(out, "wb")  # noqa: SIM115 -- closed in the finally below, which reports a full disk
                except OSError as err:
                    usage_error(f"cannot write {out}: {err.strerror or err}")
        try:
            if is_parquet(events):
                report = replay_arrow(
                    loaded,
                    track_events(events, iter_batches(events), parquet=True),  # a bar; Ctrl-C stops between batches
                    events_name=events_name,
                    out=sink,
                    warmup_ms=warmup_ms,
                    skip_unknown_types=skip_unknown_types,
                )
            else:
                report = replay(
                    loaded,
                    track_events(events, iter_lines(events), parquet=False),  # a bar; Ctrl-C stops between lines
                    events_name=events_name,
                    out=sink,
                    warmup_ms=warmup_ms,
                    skip_unknown_types=skip_unknown_types,
                )
        except OSError as err:
            usage_error(f"cannot read {events_name}: {err.strerror or err}")
        finally:
            if sink is not None:
                try:
                    sink.flush()
                    if not to_stdout:
                        sink.close()
                except OSError as err:  # a full disk
                    usage_error(f"cannot write {out}: {err.strerror or err}")

        report_rejections(report, events_name)
        if not quiet:
            summary_stream = sys.stderr if to_stdout else sys.stdout
            if summary_format == SummaryFormat.json:
                summary_stream.write(json.dumps(report.to_dict(top), ensure_ascii=False, indent=2) + "\n")
                summary_stream.flush()
            else:
                render_report(report, make_console(summary_stream), top=top)
        exit_if_interrupted()  # after Ctrl-C: the summary above is of the events read so far; exit 130
        if report.internal_errors:
            typer.echo(
                f"ruledsl: internal error on {report.internal_errors} event(s) (see above); this is a bug in "
                "ruledsl, please report it",
                err=True,
            )
            raise typer.Exit(EXIT_ERROR)
        raise typer.Exit(EXIT_PROBLEMS if report.rejected_any else EXIT_OK)
