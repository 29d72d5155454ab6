"""``ruledsl audit verify`` and ``ruledsl audit show``: check and read an engine's audit log.

``verify LOG`` walks the hash chain (``ruledsl.runtime.audit.verify``) and
exits 0 printing the head (``SEQ:HASH``: record it elsewhere and give it
back as ``--expect-head`` to detect a cut-off tail or a rewritten file), or
exits 1 printing ``LOG:LINE: what is wrong`` for the first bad line.
``show LOG`` prints the entries as a table.  Exit 2: usage error (no such
file, a malformed ``--expect-head``).  See docs/audit.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

_CELL = 60  # characters of an old/new value shown in a table cell


def verify_command(log: Path, expect_head: Optional[str]) -> int:
    """Verify ``log``; print the outcome; return the exit code."""
    from ruledsl.cli.app import EXIT_OK, EXIT_PROBLEMS, usage_error
    from ruledsl.runtime.audit import Head, verify

    if not log.is_file():
        usage_error(f"{log}: no such audit log")
    head = None
    if expect_head is not None:
        try:
            head = Head.parse(expect_head)
        except ValueError as err:
            usage_error(f"--expect-head: {err}")
    try:
        report = verify(log, expect_head=head)
    except OSError as err:
        usage_error(f"{log}: cannot read: {err.strerror}")
    if not report.ok:
        typer.echo(f"{log}:{report.line}: {report.error}")
        return EXIT_PROBLEMS
    anchored = f" (contains the expected head {head})" if head is not None else ""
    typer.echo(f"{log}: ok, {report.entries} entries{anchored}")
    typer.echo(f"head {report.head}")
    return EXIT_OK


def show_command(log: Path, limit: Optional[int]) -> int:
    """Print the entries of ``log`` as a table (up to the first bad line, then the problem); the exit code."""
    from rich.console import Console
    from rich.table import Table

    from ruledsl.cli.app import EXIT_OK, EXIT_PROBLEMS, usage_error
    from ruledsl.runtime.audit import decode_line, verify

    if not log.is_file():
        usage_error(f"{log}: no such audit log")
    report = verify(log)
    good = report.entries if report.ok else (report.line or 1) - 1
    rows: list[dict[str, Any]] = []
    with open(log, "rb") as f:
        for i, raw in enumerate(f):
            if i >= good:
                break
            rows.append(decode_line(raw))
    if limit is not None:
        rows = rows[-limit:]
    table = Table(title=str(log), show_lines=False)
    for column in ("seq", "at", "by", "action", "target"):
        table.add_column(column, no_wrap=True)
    for column in ("old", "new", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = (
            str(row["seq"]),
            row["at"],
            row["by"],
            row["action"],
            row["target"],
            _cell(row["old"]),
            _cell(row["new"]),
            row["reason"] or "",
        )
        table.add_row(*(_printable(str(cell)) for cell in cells))
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=200)  # a file or a pipe: no wrapping at 80
    console.print(table)
    if not report.ok:
        typer.echo(f"{log}:{report.line}: {report.error}", err=True)
        return EXIT_PROBLEMS
    typer.echo(f"head {report.head}")
    return EXIT_OK


def _printable(text: str) -> str:
    """``text`` with each lone surrogate (possible in a dict event's strings) shown as ``\\udXXX``: a terminal
    cannot print one.  In the JSON of ``old``/``new`` a real backslash is already doubled, so this is unambiguous."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _cell(value: Any) -> str:
    """A value for a table cell: lists shown by their count and changes, long JSON cut."""
    if isinstance(value, dict) and "count" in value and "digest" in value:
        parts = [f"{value['count']} entries"]
        if "added" in value:
            parts.append(f"+{len(value['added'])} -{len(value['removed'])}")
        return ", ".join(parts) + f" {value['digest'][:15]}…"
    if isinstance(value, dict):  # reload, restore: the fields, each value cut
        text = ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command group (``verify``, ``show``) to the CLI app."""
    from ruledsl.cli.app import guarded

    audit_app = typer.Typer(
        name="audit",
        help="Check and read an engine's hash-chained audit log (docs/audit.md).",
        no_args_is_help=True,
    )

    @audit_app.command("verify")
    @guarded
    def verify_cmd(
        log: Annotated[Path, typer.Argument(help="The audit log (JSON Lines).", show_default=False, metavar="LOG")],
        expect_head: Annotated[
            Optional[str],
            typer.Option(
                "--expect-head",
                help="A head recorded earlier (SEQ:HASH): it must still be in the log (catches a cut or rewrite).",
                metavar="SEQ:HASH",
            ),
        ] = None,
    ) -> None:
        """Check the hash chain: exit 0 and print the head, or exit 1 naming the first bad line."""
        raise typer.Exit(verify_command(log, expect_head))

    @audit_app.command("show")
    @guarded
    def show_cmd(
        log: Annotated[Path, typer.Argument(help="The audit log (JSON Lines).", show_default=False, metavar="LOG")],
        last: Annotated[Optional[int], typer.Option("--last", help="Only the last N entries.", min=1)] = None,
    ) -> None:
        """Print the entries as a table: who changed what, when, old -> new, why."""
        raise typer.Exit(show_command(log, last))

    app.add_typer(audit_app)
