"""What ``ruledsl lint`` and ``ruledsl fmt`` do besides checking: configuration, stdin, ``--watch``, colour.

See docs/lint.md.  ``app.lint`` builds a ``LintOptions`` with ``lint_options``
and runs one pass per change; this module keeps that logic out of ``app.py``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Optional

import msgspec
import typer

from ruledsl.cli.lint_config import FORMATS, ConfigError, LintConfig, Resolver, filter_diagnostics
from ruledsl.syntax.codes import CODES
from ruledsl.syntax.diagnostics import Diagnostic, render, sort_key
from ruledsl.syntax.loader import find_ruleset_files

STDIN = "-"
DEFAULT_STDIN_NAME = "<stdin>"


class PromotedDiagnostic(Diagnostic, frozen=True, kw_only=True):
    """A warning reported as an error (``warnings-as-errors``)."""

    @property
    def severity(self) -> str:
        """Always ``error``."""
        return "error"


class LintOptions(msgspec.Struct):
    """The command line of one ``lint`` run, merged with the configuration files."""

    resolver: Resolver
    cli: LintConfig  # select/ignore given on the command line
    output_format: str = "text"
    exit_zero: bool = False
    warnings_as_errors: bool = False
    color: bool = False
    stdin_filename: Optional[str] = None


def split_codes(text: Optional[str]) -> Optional[list[str]]:
    """``"RD307,RD4"`` -> ``["RD307", "RD4"]``; ``None`` stays ``None``."""
    if text is None:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def use_color(mode: str, stream: object = None) -> bool:
    """``--color``: ``always``/``never``, or ``auto``: ``FORCE_COLOR``, then ``NO_COLOR``, then a terminal.

    As in Node.js, a set ``FORCE_COLOR`` (other than ``0``/``false``) wins over ``NO_COLOR``.
    """
    if mode in ("always", "never"):
        return mode == "always"
    force = os.environ.get("FORCE_COLOR")
    if force and force.strip().lower() not in ("0", "false"):
        return True
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(getattr(stream or sys.stdout, "isatty", lambda: False)())
    except (AttributeError, ValueError):
        return False


def lint_options(
    paths: list[Path],
    *,
    select: Optional[str],
    ignore: Optional[str],
    exit_zero: Optional[bool],
    warnings_as_errors: Optional[bool],
    config: Optional[Path],
    output_format: Optional[str],
    color: str,
    stdin_filename: Optional[str],
) -> LintOptions:
    """Merge the command line with the configuration; ``ConfigError`` for a bad file or code."""
    from ruledsl.cli.lint_config import _codes

    resolver = Resolver(config)
    sel, ign = split_codes(select), split_codes(ignore)
    cli = LintConfig(
        select=_codes(sel, "--select") if sel is not None else None,
        ignore=_codes(ign, "--ignore") if ign else [],
    )
    reading_stdin = [str(p) for p in paths] == [STDIN]
    first = (stdin_filename or DEFAULT_STDIN_NAME) if reading_stdin else (str(paths[0]) if paths else None)
    if first is not None and not reading_stdin and Path(first).is_dir():
        first = str(Path(first) / "x")  # a directory's own config governs it
    run = resolver.run_wide(first)
    fmt = output_format or run.output_format or "text"
    if fmt not in FORMATS:
        raise ConfigError(f"unknown output format `{fmt}`")
    return LintOptions(
        resolver=resolver,
        cli=cli,
        output_format=fmt,
        exit_zero=run.exit_zero if exit_zero is None else exit_zero,
        warnings_as_errors=run.warnings_as_errors if warnings_as_errors is None else warnings_as_errors,
        color=use_color(color),
        stdin_filename=stdin_filename,
    )


def read_stdin() -> str:
    """All of standard input as text (UTF-8, undecodable bytes kept as U+FFFD so positions stay)."""
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    return data.decode("utf-8-sig", errors="replace")


def check_stdin(name: str, text: str) -> tuple[list[Diagnostic], dict[str, str]]:
    """Check ``text`` as if it were the file ``name`` (its includes resolve from its directory)."""
    from ruledsl.check.checker import load_and_check

    result = load_and_check([name], sources={name: text})
    return sorted(result.diagnostics, key=sort_key), result.sources


def finish(diags: list[Diagnostic], opts: LintOptions) -> list[Diagnostic]:
    """Apply select/ignore/per-file-ignores, then ``warnings-as-errors``."""
    kept = filter_diagnostics(diags, opts.resolver, opts.cli)
    if opts.warnings_as_errors:
        kept = [
            PromotedDiagnostic(code=d.code, message=d.message, path=d.path, span=d.span, help=d.help)
            if CODES[d.code].severity == "warning"
            else d
            for d in kept
        ]
    return kept


def exit_code(diags: list[Diagnostic], opts: LintOptions, failed: bool, other_problem: bool = False) -> int:
    """0/1/2: 2 on I/O or internal errors; 1 on errors, or warnings unless ``exit-zero``; else 0."""
    if failed:
        return 2
    if other_problem or any(d.severity == "error" for d in diags):
        return 1
    return 0 if opts.exit_zero or not diags else 1


def snapshot(paths: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of each existing file: what ``--watch`` compares between polls."""
    out: dict[str, tuple[int, int]] = {}
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        out[str(p.resolve())] = (st.st_mtime_ns, st.st_size)
    return out


def watch(paths: list[Path], once: Callable[[], tuple[int, list[str]]], interval: float = 0.5) -> int:
    """Lint, then lint again whenever a linted or included file or a config file changes; Ctrl-C ends (exit 0).

    ``once`` lints and returns its exit code and the files it read (includes
    and configuration files too).  Files are polled (``interval`` seconds): no watcher library, and it works
    on network and container mounts where file events do not arrive.
    """

    def watched(extra: list[str]) -> dict[str, tuple[int, int]]:
        found = list(find_ruleset_files([p for p in paths if p.exists()]))
        return snapshot([*found, *(Path(x) for x in extra)])

    try:
        _code, used = once()
        last = watched(used)
        typer.echo("[watch] waiting for changes (Ctrl-C to stop)", err=True)
        while True:
            time.sleep(interval)
            now = watched(used)
            if now == last:
                continue
            while True:  # let a save that is still being written settle first
                time.sleep(interval)
                settled = watched(used)
                if settled == now:
                    break
                now = settled
            typer.echo("[watch] change detected, linting again", err=True)
            _code, used = once()
            sys.stdout.flush()
            last = watched(used)
    except KeyboardInterrupt:
        typer.echo("[watch] stopped", err=True)
        return 0


# the colours of `git diff`: bold file names, cyan hunk headers, red removals, green additions
_DIFF_STYLES = (("--- ", "\x1b[1m"), ("+++ ", "\x1b[1m"), ("@@", "\x1b[36m"), ("-", "\x1b[31m"), ("+", "\x1b[32m"))


def echo_diff(old: str, new: str, name: str, color: bool) -> None:
    """Print the unified diff ``fmt --diff`` shows for ``name``, coloured as ``git diff`` when ``color``."""
    import difflib

    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{name} (original)",
        tofile=f"{name} (formatted)",
    )
    if not color:
        typer.echo("".join(lines), nl=False)
        return
    out = []
    for line in lines:
        body = line.rstrip("\n")
        style = next((code for prefix, code in _DIFF_STYLES if body.startswith(prefix)), "")
        # the reset goes before the newline, so a pager that cuts lines leaves no colour running
        out.append(f"{style}{body}\x1b[0m{line[len(body) :]}" if style else line)
    # click strips escape codes when stdout is no terminal unless told otherwise
    typer.echo("".join(out), nl=False, color=True)


def fmt_stdin(name: str, check: bool, diff: bool, color: bool = False) -> int:
    """``ruledsl fmt -``: format stdin to stdout (``--check``: print nothing; ``--diff``: the diff, ``color``ed).

    Exit 1 when the text has syntax errors (diagnostics on stderr, nothing on
    stdout) or, with ``--check``/``--diff``, when it would change.
    """
    from ruledsl.syntax.formatter import FormatError, format_module
    from ruledsl.syntax.parser import parse

    text = read_stdin()
    module, diags = parse(text, name)
    if diags or module is None:
        for d in sorted(diags, key=sort_key):
            typer.echo(render(d, text) + "\n", err=True)
        typer.echo(f"error: {name}: not formatted, it has syntax errors", err=True)
        return 1
    try:
        new = format_module(module, text)
    except FormatError as err:
        typer.echo(f"error: {name}:{err.span.line}:{err.span.col}: cannot format: {err.message}", err=True)
        return 1
    if check or diff:
        if diff and new != text:
            echo_diff(text, new, name, color)
        if check and new != text:
            typer.echo(f"would reformat {name}", err=True)
        return 1 if new != text else 0
    typer.echo(new, nl=False)
    return 0
