"""``ruledsl lsp``: the language server for editors (docs/editors.md).

``analysis`` answers the questions (diagnostics, hover, definition,
completion, outline, formatting) from the checker's view of a document;
``server`` speaks the protocol with pygls.  Both are imported only when the
command runs: pygls is not needed by any other command.
"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``lsp`` command."""
    from ruledsl.cli.app import guarded

    @app.command()
    @guarded
    def lsp(
        stdio: Annotated[
            bool,
            typer.Option("--stdio", help="Speak the protocol on stdin/stdout (the only transport; editors pass it)."),
        ] = False,
    ) -> None:
        """Run the language server on stdin/stdout (for editors: diagnostics, hover, definition, completion, formatting)."""
        try:
            from ruledsl.cli.lsp.server import serve_stdio
        except ImportError as err:  # pygls is a dependency, but a broken environment should say so plainly
            typer.echo(f"error: the language server needs pygls and lsprotocol ({err})", err=True)
            raise typer.Exit(2) from None
        serve_stdio()
