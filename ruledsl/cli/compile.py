"""``ruledsl compile``: show the Python code a ruleset compiles to (``--cython``: its Cython evaluator).

Rule authors read it to see what their rules do per event type (which
windows an event feeds and reads, the order of the tests); engineers read it
when a profile or a traceback points into generated code.  Each line can be
followed by its DSL location (``--linemap``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def compile_paths(
    paths: list[Path], *, batched: bool, event: Optional[str], linemap: bool, cython: bool = False
) -> int:
    """Load, check and compile ``paths`` as one ruleset; print its generated code; return the exit code.

    ``cython`` prints the Cython evaluator's module instead of the Python one (the whole module).
    """
    from ruledsl.cli.app import EXIT_OK, EXIT_PROBLEMS, usage_error

    if cython and event is not None:
        usage_error("--event shows a Python function; --cython shows the whole Cython module: use one of them")
    compiled = _compile(paths, batched)
    if compiled is None:
        return EXIT_PROBLEMS
    lines = compiled.source.splitlines()
    lines_map = compiled.linemap
    if cython:
        from ruledsl.runtime.engine_compiled import evaluator_module

        _name, module = evaluator_module(compiled)
        lines, lines_map = module.source.splitlines(), module.linemap
    if event is not None:
        if event not in compiled.functions:
            usage_error(f"unknown event type {event!r}; this ruleset has {', '.join(compiled.functions)}")
        lines, first = _function_lines(lines, compiled.functions[event])
    else:
        first = 1
    for i, line in enumerate(lines, start=first):
        if linemap:
            loc: Any = lines_map.lookup(i)
            where = f"{loc.path}:{loc.line}" if loc is not None else ""
            typer.echo(f"{i:5d} {where:<40} {line}")
        else:
            typer.echo(line)
    return EXIT_OK


def _function_lines(lines: list[str], function: str) -> tuple[list[str], int]:
    """The lines of one generated function, and the line number of its first line."""
    head = f"def {function}("
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    end = start + 1
    while end < len(lines) and not lines[end].startswith("def "):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end], start + 1


def register(app: typer.Typer) -> None:
    """Add the ``compile`` command to the CLI app."""
    from ruledsl.cli.app import guarded

    @app.command("compile")
    @guarded
    def compile_command(
        paths: Annotated[
            list[Path],
            typer.Argument(help="The ruleset's files (one ruleset).", show_default=False, metavar="RULESET"),
        ],
        show: Annotated[
            bool, typer.Option("--show/--check", help="Print the generated code (default), or only check it compiles.")
        ] = True,
        event: Annotated[
            Optional[str], typer.Option("--event", help="Only the function for this event type.", metavar="TYPE")
        ] = None,
        batched: Annotated[
            bool,
            typer.Option("--store", help="The variant for an external state store (Redis): one round trip per event."),
        ] = False,
        linemap: Annotated[
            bool, typer.Option("--linemap", help="Prefix each line with its number and its DSL file:line.")
        ] = False,
        cython: Annotated[
            bool,
            typer.Option("--cython", help="The Cython evaluator's module instead (what compiled='auto' builds)."),
        ] = False,
    ) -> None:
        """Show the Python code a ruleset compiles to: one function per event type, DSL names, file:line comments."""
        if not show:
            raise typer.Exit(_check_only(paths, batched))
        raise typer.Exit(compile_paths(paths, batched=batched, event=event, linemap=linemap, cython=cython))


def _check_only(paths: list[Path], batched: bool) -> int:
    """Compile without printing; report the size of the generated module."""
    from ruledsl.cli.app import EXIT_OK, EXIT_PROBLEMS

    compiled = _compile(paths, batched)
    if compiled is None:
        return EXIT_PROBLEMS
    n_lines = compiled.source.count("\n")
    typer.echo(
        f"compiled {len(compiled.functions)} event functions, {len(compiled.rules)} rules, "
        f"{len(compiled.windows)} windows, {len(compiled.sequences)} sequences: {n_lines} lines"
    )
    return EXIT_OK


def _compile(paths: list[Path], batched: bool) -> Any:
    """The compiled ruleset, or None after printing its diagnostics."""
    from ruledsl.check.checker import load_and_check
    from ruledsl.cli.app import echo_diagnostics, usage_error
    from ruledsl.compile import compile_ruleset

    for p in paths:
        if not p.is_file():
            usage_error(f"not a ruleset file: {p}")
    result = load_and_check(paths)
    if not result.ok:
        echo_diagnostics(result.diagnostics, result.sources, err=True)
        return None
    return compile_ruleset(result, batched=batched)
