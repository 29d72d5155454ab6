"""``ruledsl lint --budget``: the memory table of each ruleset, RD313 warnings, and the budget check.

The model is ``ruledsl.compile.budget`` (docs/bench.md, "The budget model");
this module reads the options, prints the table (rich) and turns the
estimate into diagnostics and an exit code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ruledsl.syntax.diagnostics import Diagnostic, make
from ruledsl.syntax.loader import display_path

DEFAULT_RATE = "10/1d"
"""Events per key value per span when the schema declares no rate and there is no sample."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(text: str) -> int:
    """``"2GiB"`` -> 2147483648, ``"500MB"`` -> 500000000, ``"1.5g"`` -> 1500000000.  ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if m is None or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 2GiB, 512MiB, 500MB)")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if value <= 0:
        raise ValueError(f"a size must be positive: {text!r}")
    return int(value)


def parse_rate(text: str) -> float:
    """``"10/1d"`` (events per key value per duration) -> events per ms.  ValueError otherwise."""
    from ruledsl.syntax.budget_syntax import count_value
    from ruledsl.syntax.durations import parse_duration

    count, sep, per = str(text).partition("/")
    try:
        value, ms = count_value(count.strip()), parse_duration(per.strip())
    except ValueError:
        value, ms = 0, 0  # type: ignore[assignment]
    if not sep or value <= 0 or ms <= 0:
        raise ValueError(f"not a rate: {text!r} (events per key value per span, e.g. 10/1d)")
    return float(value) / ms


def human_bytes(b: Optional[float]) -> str:
    """1536 -> '1.5 KiB'; None -> '?'."""
    if b is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(b) < 1024 or unit == "TiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} TiB"  # pragma: no cover - the loop returns


def _num(x: Optional[float]) -> str:
    if x is None:
        return "?"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def _span(ms: int) -> str:
    from ruledsl.syntax.durations import format_duration_compound

    return format_duration_compound(ms)


def budget_table(title: str, budget: Any, limit: Optional[int]) -> Any:
    """The rich table of one ruleset's estimate."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col, just in (
        ("window / sequence", "left"),
        ("state", "left"),
        ("key", "left"),
        ("span", "right"),
        ("cardinality", "right"),
        ("events/s", "right"),
        ("live keys", "right"),
        ("entries/key", "right"),
        ("B/key", "right"),
        ("B/entry", "right"),
        ("bytes", "right"),
        ("source", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in budget.rows:
        rate = None if r.events_per_ms is None else r.events_per_ms * 1000
        size = f"= {r.shares_state_of}" if r.shares_state_of else human_bytes(r.bytes)
        table.add_row(
            r.name,
            r.agg,
            r.key or "-",
            _span(r.span_ms),
            _num(r.cardinality),
            _num(rate),
            _num(r.keys),
            _num(r.entries_per_key),
            f"{r.per_key:.0f}",
            f"{r.per_entry:.1f}",
            size,
            r.source,
        )
    total = human_bytes(budget.total) + (" (+ unknown)" if budget.unknown else "")
    table.add_section()
    table.add_row("total", "", "", "", "", "", "", "", "", "", total, f"budget {human_bytes(limit)}" if limit else "")
    return table


def lint_budget(
    files: list[Path],
    *,
    limits: dict[str, Optional[int]],
    sample: Optional[Path],
    rate: str,
    show_table: bool,
) -> tuple[list[Diagnostic], bool]:
    """Estimate each file's state; print the tables; RD313 diagnostics and whether a budget is broken.

    A file with errors gets no estimate (its diagnostics come from lint itself).
    """
    from rich.console import Console

    from ruledsl.check.checker import load_and_check
    from ruledsl.compile.budget import Declared, estimate, large_rows
    from ruledsl.sim.budget_sample import Sample, SampleError, read_sample

    try:
        default_rate = parse_rate(rate)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--rate") from None
    events = None
    if sample is not None:
        try:
            events = read_sample(sample)
        except SampleError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
    console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)
    diags: list[Diagnostic] = []
    broken = False
    for f in files:
        limit = limits.get(str(f))
        result = load_and_check([f])
        shown = display_path(f)
        if not result.ok:
            typer.echo(f"{shown}: no budget (the ruleset has errors)")
            continue
        traffic: Any = Declared(result, default_rate)
        if events is not None:
            try:
                traffic = Sample(events, result, path=str(sample))
            except SampleError as err:
                typer.echo(f"error: {err}", err=True)
                raise typer.Exit(2) from None
        budget = estimate(result, traffic)
        if show_table:
            console.print(budget_table(f"{shown}: state budget", budget, limit))
        for row, why in large_rows(budget, limit):
            what = (
                f"{row.kind} `{row.name}` keeps state for {_span(row.span_ms)}"
                if why == "long"
                else f"{row.kind} `{row.name}` is estimated at {human_bytes(row.bytes)}"
            )
            est = f"estimated {human_bytes(row.bytes)}" if row.bytes is not None else "size unknown"
            share = f" ({row.bytes / limit:.0%} of the {human_bytes(limit)} budget)" if limit and row.bytes else ""
            diags.append(make("RD313", what + ("" if why == "large" else f" ({est})"), row.path, row.span, est + share))
        if limit is not None and budget.total > limit:
            broken = True
            typer.echo(f"{shown}: budget exceeded: {human_bytes(budget.total)} > {human_bytes(limit)}", err=True)
        elif budget.unknown and show_table:
            typer.echo(f"{shown}: no estimate for {', '.join(budget.unknown)}: declare `cardinality` or give --sample")
    return diags, broken


def lint_budget_cli(
    files: list[Path],
    budget_limit: Optional[str],
    sample: Optional[Path],
    rate: str,
    *,
    show_table: bool,
    opts: Any = None,
) -> tuple[list[Diagnostic], bool]:
    """``lint --budget``'s options; a bad size or rate is a usage error (exit 2).

    The limit is ``--budget-limit``, else the ``budget`` key of ``[tool.ruledsl]``
    (``ruledsl.toml`` or ``pyproject.toml``, found upward from each file, as
    ``lint`` finds its configuration: ``opts.resolver``).
    """
    limits: dict[str, Optional[int]] = {}
    for f in files:
        text, where = budget_limit, "--budget-limit"
        if text is None and opts is not None:
            cfg = opts.resolver.for_file(display_path(f))
            text = cfg.extra.get("budget")
            where = f"{cfg.path}: `budget`"
        limits[str(f)] = None
        if text is not None:
            try:
                limits[str(f)] = parse_bytes(str(text))
            except ValueError as err:
                typer.echo(f"error: {where}: {err}", err=True)
                raise typer.Exit(2) from None
    return lint_budget(files, limits=limits, sample=sample, rate=rate, show_table=show_table)
