"""The README's demo: evaluate the example events shipped beside each ruleset.

For every ``rulesets/examples/NAME.jsonl`` with a ``rulesets/NAME.rdsl``,
load the ruleset, evaluate the events in order and print one line per
decision: time, event type, action and the matched rules with their reasons.
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


def main() -> None:
    """Entry point for ``python -m ruledsl.demo [RULESETS_DIR]``."""
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("rulesets")
    console = Console(width=200)
    sys.exit(run_examples(root, console))


if __name__ == "__main__":
    main()
