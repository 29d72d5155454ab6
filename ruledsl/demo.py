"""The README's demo: example events, then a generated, labelled stream.

1. For every ``rulesets/examples/NAME.jsonl`` with a ``rulesets/NAME.rdsl``,
   load the ruleset, evaluate the events in order and print one line per
   decision: time, event type, action and the matched rules with their reasons.
2. Generate a small seeded stream of channel traffic with labelled fraud
   scenarios (``ruledsl.generator``: 500 customers, 3 days, after 14 days of
   unscored warm-up traffic), run it through every top-level ruleset in
   ``rulesets/`` whose event schemas the stream fits, by the code path of
   ``ruledsl run``, and print that command's summary: actions, top rules,
   the share of each scenario type caught and the alerts per 10,000 events.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
from rich.console import Console
from rich.table import Table

from .diagnostics import RuleDSLError, render
from .engine import load
from .values import EventError


def run_examples(root: Path, console: Console) -> int:
    """Evaluate every example file under ``root/examples``; returns an exit code."""
    status = 0
    examples = sorted((root / "examples").glob("*.jsonl"))
    if not examples:
        console.print(f"no example events under {root / 'examples'}")
        return 2
    for events_file in examples:
        ruleset = root / f"{events_file.stem}.rdsl"
        if not ruleset.exists():
            continue
        try:
            engine = load(ruleset)
        except RuleDSLError as err:
            for d in err.diagnostics:
                console.print(render(d, err.sources.get(d.path)), markup=False, highlight=False)
            status = 1
            continue
        table = Table(title=f"{ruleset.name} × {events_file.name}", show_lines=False)
        for col in ("#", "ts", "event", "action", "rules (reason / features)"):
            table.add_column(col)
        for i, line in enumerate(events_file.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = msgspec.json.decode(line)
                decision = engine.evaluate(event)
            except (msgspec.DecodeError, EventError) as err:
                table.add_row(str(i), "", "", "[red]rejected[/red]", str(err))
                status = 1
                continue
            detail = "; ".join(
                f"{r.id}{' (shadow)' if r.shadow else ''}: {r.reason} "
                + ", ".join(f"{k}={v}" for k, v in r.features.items())
                for r in decision.rules
            )
            table.add_row(str(i), str(event.get("ts", "")), decision.event_type, decision.action, detail)
        console.print(table)
    return status


DEMO_CUSTOMERS = 500
DEMO_DAYS = 3
DEMO_WARMUP_DAYS = 14
DEMO_SEED = 20261121
DEMO_FRAUD_RATE = 0.03


def fitting_rulesets(root: Path, sample: list[dict], console: Console) -> list:
    """Top-level rulesets in ``root`` (``*.rdsl`` with a ``ruleset`` header) that accept every sample event."""
    from .cli_run import LoadProblem, has_ruleset_header, load_ruleset

    fits = []
    for path in sorted(root.glob("*.rdsl")):
        try:
            rs = load_ruleset(path, shown=str(path))
        except LoadProblem as err:
            for d in err.diagnostics:
                console.print(render(d, err.sources.get(d.path)), markup=False, highlight=False)
            continue
        if not has_ruleset_header(rs.engine):
            continue
        try:
            for event in sample:
                rs.engine.peek(event)  # what-if: the engine's state is untouched
        except EventError as err:
            console.print(f"[dim]{path.name}: skipped, the generated events do not fit its schemas ({err})[/dim]")
            continue
        fits.append(rs)
    return fits


def run_generated(root: Path, console: Console, *, customers: int = DEMO_CUSTOMERS, days: int = DEMO_DAYS,
                  warmup_days: int = DEMO_WARMUP_DAYS, seed: int = DEMO_SEED,
                  fraud_rate: float = DEMO_FRAUD_RATE) -> int:
    """Generate a labelled stream and replay it like ``ruledsl run``; returns an exit code."""
    from .cli_run import render_report, replay
    from .generator import generate

    encode = msgspec.json.Encoder().encode
    lines: list[bytes] = []
    sample: list[dict] = []  # up to 20 events of each type, to check which rulesets fit them
    per_type: dict[str, int] = {}
    for event in generate(customers, days, seed, fraud_rate, warmup_days=warmup_days):
        if per_type.get(event["type"], 0) < 20:
            per_type[event["type"]] = per_type.get(event["type"], 0) + 1
            sample.append(dict(event))
        lines.append(encode(event))
    rulesets = fitting_rulesets(root, sample, console)
    command = (
        f"python -m ruledsl.generator --customers {customers} --days {days} --seed {seed} "
        f"--fraud-rate {fraud_rate} --warmup-days {warmup_days} --out events.jsonl"
    )
    console.print()
    console.rule("[bold]generated traffic with labelled fraud scenarios[/bold]")
    console.print(f"[dim]the same as: {command}\n"
                  f"             ruledsl run {' '.join(rs.path for rs in rulesets) or 'RULESET'} "
                  f"--events events.jsonl[/dim]")
    if not rulesets:
        console.print(f"no ruleset in {root} fits the generated events")
        return 1
    name = f"generated: {customers} customers × {days} days + {warmup_days} warm-up days, seed {seed}"
    report = replay(rulesets, lines, events_name=name)
    render_report(report, console)
    return 1 if report.rejected_any or report.internal_errors else 0


def main() -> None:
    """Entry point for ``python -m ruledsl.demo [RULESETS_DIR]``."""
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("rulesets")
    console = Console(width=200)
    status = run_examples(root, console)
    if status == 2:  # no example events: still show the generated traffic
        status = 0
    status = max(status, run_generated(root, console))
    sys.exit(status)


if __name__ == "__main__":
    main()
