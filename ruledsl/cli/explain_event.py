"""``ruledsl explain-event``: why each rule fired or not for one event, with margins (docs/explain.md).

::

    ruledsl explain-event rulesets/echannel_monitoring.rdsl --event @event.json --history day.jsonl

The ruleset files make one engine (as ``ruledsl.load`` of them all; a
directory stands for the ``.rdsl`` files below it).  ``--state`` continues from
a snapshot; ``--history`` events (JSON Lines, ``.gz`` too) are then evaluated
in order to build the state the event is explained against (a rejected
history line is reported on stderr with its number and skipped).  The event
(``--event``: JSON text, or ``@FILE``) is explained with ``Engine.explain``:
nothing is committed.  ``--json`` prints the explanation as JSON (decimals as
text, every digit kept); otherwise rich text: the decision, then per rule
its condition as a tree of comparisons with their margins and, for a fired
rule, the smallest change of one input that would not have fired it.

Exit codes: ``0`` explained; ``1`` the ruleset rejected the event
(``EventError``: the message names the field); ``2`` usage or I/O error (a
missing file, a ruleset with errors, a bad snapshot, event or ``--params``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def read_event(text: str) -> dict[str, Any]:
    """``--event``: JSON text, or ``@FILE`` holding it; ValueError naming the problem."""
    source = "--event"
    if text.startswith("@"):
        path = Path(text[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        event = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source} is not valid JSON: {err}") from None
    if not isinstance(event, dict):
        raise ValueError(f"{source} must be a JSON object (one event)")
    return event


def render(explanation: Any, console: Any) -> None:
    """An explanation as rich text: the decision, then each rule's condition tree and counterfactual."""
    from rich.markup import escape
    from rich.tree import Tree

    ex = explanation
    head = f"[bold]{escape(ex.event_type)}[/bold] at {escape(ex.time or str(ex.ts))}: [bold]{escape(ex.action)}[/bold]"
    if ex.late:
        head += " [yellow](late)[/yellow]"
    console.print(head)
    if ex.note:
        console.print(f"[dim]{escape(ex.note)}[/dim]")
    for r in ex.rules:
        if r.fired:
            mark = "[red]fired[/red]"
        elif r.exempted:
            mark = "[yellow]exempted[/yellow]"
        else:
            mark = "[green]not fired[/green]"
        label = f"[bold]{escape(r.rule)}[/bold] ({escape(r.action)}{', shadow' if r.shadow else ''}): {mark}"
        tree = Tree(label)
        if r.condition is not None:
            _branch(tree, r.condition, escape)
        if r.counterfactual is not None:
            others = [c.text for c in r.counterfactuals if c is not r.counterfactual]
            line = f"[cyan]would not have fired with[/cyan] {escape(r.counterfactual.text)}"
            if others:
                line += f" [dim](or {escape('; '.join(others))})[/dim]"
            tree.add(line)
        elif r.fired:
            tree.add("[dim]no single change of one input stops it[/dim]")
        console.print(tree)


def _branch(parent: Any, cond: Any, escape: Any) -> None:
    sign = "[green]✓[/green]" if cond.holds else "[red]✗[/red]"
    if cond.kind in ("and", "or", "not"):
        node = parent.add(f"{sign} [bold]{cond.kind}[/bold]")
        for child in cond.children:
            _branch(node, child, escape)
        return
    text = cond.detail or cond.text
    parent.add(f"{sign} {escape(text)}")


def register(app: Any) -> None:
    """Add ``ruledsl explain-event`` to the CLI app."""
    from ruledsl.cli.app import EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS, echo_diagnostics, expand_paths, guarded, usage_error

    @app.command("explain-event")
    @guarded
    def explain_event(
        rulesets: Annotated[
            list[Path],
            typer.Argument(
                help="Ruleset files (or directories) making one engine.", show_default=False, metavar="RULESET"
            ),
        ],
        event: Annotated[
            str,
            typer.Option(
                "--event", "-e", help="The event: JSON text, or @FILE.", show_default=False, metavar="JSON|@FILE"
            ),
        ],
        state: Annotated[
            Optional[Path],
            typer.Option("--state", help="Continue from this snapshot.", show_default=False, metavar="SNAPSHOT"),
        ] = None,
        history: Annotated[
            Optional[Path],
            typer.Option(
                "--history",
                help="JSON Lines events evaluated first, in order, to build the state.",
                show_default=False,
                metavar="EVENTS.jsonl",
            ),
        ] = None,
        params: Annotated[
            Optional[list[str]],
            typer.Option(
                "--params", "-p", help="Set a business parameter: name=value (repeatable).", metavar="NAME=VALUE"
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
    ) -> None:
        """Explain one event: each rule's comparisons with their margins, and what would not have fired it."""
        import msgspec

        from ruledsl.cli.report import LoadedRuleset, make_console
        from ruledsl.cli.run import apply_params, iter_lines
        from ruledsl.kernels.values import EventError
        from ruledsl.runtime.engine import load
        from ruledsl.runtime.persistence import SnapshotError
        from ruledsl.syntax.diagnostics import RuleDSLError

        try:
            the_event = read_event(event)
        except ValueError as err:
            usage_error(str(err))
        files = expand_paths(rulesets)
        if state is not None and not state.exists():
            usage_error(f"snapshot not found: {state}")
        if history is not None and not history.exists():
            usage_error(f"history file not found: {history}")
        try:
            engine = load(files, state=state, clock=None)  # recorded traffic: no wall-clock guard
        except RuleDSLError as err:
            echo_diagnostics(err.diagnostics, err.sources, err=True)
            typer.echo("error: the ruleset has errors; nothing was explained", err=True)
            raise typer.Exit(EXIT_ERROR) from None
        except SnapshotError as err:
            usage_error(f"cannot use the snapshot {state}: {err}")
        try:
            apply_params([LoadedRuleset("ruleset", "ruleset", engine)], params or [])
        except ValueError as err:
            usage_error(str(err))
        if history is not None:
            try:
                for number, line in enumerate(iter_lines(history), 1):
                    if not line.strip():
                        continue
                    try:
                        engine.evaluate(line)
                    except EventError as err:
                        typer.echo(f"{history}:{number}: event rejected: {err}", err=True)
            except OSError as err:
                usage_error(f"cannot read {history}: {err.strerror or err}")
        try:
            explanation = engine.explain(the_event)
        except EventError as err:
            typer.echo(f"error: the event is rejected: {err}", err=True)
            raise typer.Exit(EXIT_PROBLEMS) from None
        if as_json:
            sys.stdout.write(msgspec.json.format(msgspec.json.encode(explanation), indent=2).decode() + "\n")
        else:
            render(explanation, make_console())
        raise typer.Exit(EXIT_OK)
