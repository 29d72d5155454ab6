"""The ``ruledsl`` command line: ``lint``, ``fmt``, ``explain``.

Exit codes, for every command:

* ``0`` success: nothing to report (``lint``: no diagnostics, warnings included);
* ``1`` problems found: diagnostics (``lint``), files that would change
  (``fmt --check``/``--diff``) or files that cannot be formatted;
* ``2`` usage or I/O error: bad option, path not found, directory without
  ``.rdsl`` files, unreadable file, or an internal error.  No command ever
  prints a Python traceback (set ``RULEDSL_DEBUG=1`` to get one).

Adding a command
----------------
Put it in its own module with a ``register(app: typer.Typer) -> None``
function that decorates its commands with ``@app.command()`` (and, for the
boundary behaviour above, ``@guarded``), then add the module's name to
``COMMAND_MODULES``.  Helpers for commands: ``expand_paths`` (files and
directories to ``.rdsl`` files, exit 2 on a bad path), ``usage_error``,
``echo_diagnostics`` and the ``EXIT_*`` codes.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import importlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional
from urllib.parse import quote as url_quote

import typer

from ruledsl._version import __version__
from ruledsl.cli.progress import FileProgress, ctrl_c_passes_through, exit_if_interrupted
from ruledsl.syntax.codes import CODES
from ruledsl.syntax.diagnostics import Diagnostic, make, render, sort_key, suggest
from ruledsl.syntax.encoding import NotUtf8Error
from ruledsl.syntax.loader import RULESET_SUFFIX, display_path, find_ruleset_files, not_utf8_diagnostic, read_source

if TYPE_CHECKING:
    from ruledsl.check.checker import CheckResult

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_ERROR = 2

COMMAND_MODULES: tuple[str, ...] = (
    "ruledsl.cli.run",
    "ruledsl.cli.test",
    "ruledsl.cli.compile",
    "ruledsl.cli.audit",
    "ruledsl.cli.backtest",
    "ruledsl.cli.cases",
    "ruledsl.cli.explain_event",
    "ruledsl.cli.serve",
    "ruledsl.cli.lsp",
    "ruledsl.cli.generate",
    "ruledsl.cli.bench",
)
"""Modules whose ``register(app)`` adds further commands (``run``, ``test``, ...)."""

app = typer.Typer(
    name="ruledsl",
    help="Lint, format, explain, test and run ruledsl anti-fraud rulesets.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# ---------------------------------------------------------------- boundary helpers


def usage_error(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def _internal_error(err: BaseException, what: str = "") -> None:
    where = f" while {what}" if what else ""
    typer.echo(
        f"ruledsl: internal error{where}: {type(err).__name__}: {err}\n"
        "This is a bug in ruledsl, not in your ruleset; please report it "
        "(set RULEDSL_DEBUG=1 to see the traceback).",
        err=True,
    )


def _debug() -> bool:
    return os.environ.get("RULEDSL_DEBUG", "") not in ("", "0")


def guarded(func: Callable) -> Callable:
    """Turn an unexpected exception in a command into ``internal error`` and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            _silence_stdout()
            raise typer.Exit(EXIT_PROBLEMS) from None
        except Exception as err:
            if _debug():
                raise
            _internal_error(err)
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again on a closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files and directories given on the command line -> ``.rdsl`` files.

    Directories expand recursively to the ``*.rdsl`` files below them; a file
    named explicitly is taken whatever its suffix.  A path that does not exist,
    or a directory without ruleset files, is a usage error (exit 2).  A file
    reached twice is kept once.
    """
    paths = list(paths)
    if not paths:
        usage_error("no path given")
    for p in paths:
        if not p.exists():
            usage_error(f"path not found: {p}")
        if p.is_dir() and not find_ruleset_files([p]):
            usage_error(f"no {RULESET_SUFFIX} files found in directory {p}")
    seen: set[Path] = set()
    out: list[Path] = []
    for f in find_ruleset_files(paths):
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _use_color() -> bool:
    from ruledsl.cli.lint_run import use_color  # FORCE_COLOR, NO_COLOR, a terminal

    return use_color("auto")


_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow"}


def echo_diagnostics(
    diags: list[Diagnostic], sources: dict[str, str], *, err: bool = False, color: Optional[bool] = None
) -> None:
    """Print rendered diagnostics, a blank line after each; coloured on a terminal (or as ``color`` says)."""
    if not diags:
        return
    if not (_use_color() if color is None else color) or err:
        for d in diags:
            typer.echo(render(d, sources.get(d.path)) + "\n", err=err)
        return
    from rich.console import Console
    from rich.text import Text

    forced = {"force_terminal": True, "no_color": False} if color else {}
    console = Console(highlight=False, soft_wrap=True, **forced)  # type: ignore[arg-type]
    for d in diags:
        style = _SEVERITY_STYLE.get(d.severity, "bold")
        for i, line in enumerate(render(d, sources.get(d.path)).split("\n")):
            text = Text(line)
            if i == 0:
                head = f"{d.path}:{d.span.line}:{d.span.col}:"
                text.stylize("bold", 0, len(head))
                text.stylize(style, len(head) + 1, len(head) + 1 + len(d.code) + 1 + len(d.severity) + 1)
            elif line.startswith("  = help:"):
                text.stylize("cyan")
            elif " | " in line and set(line.split(" | ", 1)[1].strip()) == {"^"}:
                text.stylize(style, line.index(" | ") + 3)
            elif line.rstrip().endswith("|"):
                text.stylize("blue")
            console.print(text)
        console.print()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ---------------------------------------------------------------- version


def _version_callback(value: bool) -> None:
    if value:
        from ruledsl.kernels.state import COMPILED

        typer.echo(f"ruledsl {__version__}")
        # says whether the install fell back to the pure-Python kernels (setup.py: no C compiler)
        typer.echo(
            "kernels: compiled (Cython)"
            if COMPILED
            else "kernels: pure Python (slower; the C extensions were not built or RULEDSL_NO_EXTENSIONS is set)"
        )
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", help="Show the version and exit.", callback=_version_callback, is_eager=True),
    ] = False,
) -> None:
    """Lint, format and explain ruledsl anti-fraud rulesets."""


# ---------------------------------------------------------------- lint


class ColorMode(str, enum.Enum):
    """``--color``: when to colour the output."""

    auto = "auto"
    always = "always"
    never = "never"


class OutputFormat(str, enum.Enum):
    """How ``lint`` reports diagnostics."""

    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


@app.command()
@guarded
def lint(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Ruleset files, or directories to search for *.rdsl files.", show_default=False, metavar="PATH"
        ),
    ],
    output_format: Annotated[
        Optional[OutputFormat],
        typer.Option(
            "--format", "-f", help="text, json, github (workflow annotations) or sarif (2.1.0); default: text."
        ),
    ] = None,
    budget: Annotated[bool, typer.Option("--budget", help="Estimate window/sequence memory (docs/bench.md).")] = False,
    budget_limit: Annotated[
        Optional[str], typer.Option("--budget-limit", help="With --budget: exit 1 above this size (e.g. 2GiB).")
    ] = None,
    sample: Annotated[
        Optional[Path], typer.Option("--sample", help="With --budget: measure keys and rates from events (JSONL).")
    ] = None,
    rate: Annotated[
        str, typer.Option("--rate", help="With --budget: events per key value when none is declared.")
    ] = "10/1d",
    # ---- configuration, suppression, stdin, watch, colour (cli/lint_run.py, docs/lint.md)
    select: Annotated[
        Optional[str], typer.Option("--select", help="Only these warning codes/prefixes (RD307,RD4).")
    ] = None,
    ignore: Annotated[Optional[str], typer.Option("--ignore", help="Not these warning codes/prefixes.")] = None,
    exit_zero: Annotated[
        Optional[bool], typer.Option("--exit-zero/--no-exit-zero", help="Exit 0 when only warnings are found.")
    ] = None,
    warnings_as_errors: Annotated[
        Optional[bool],
        typer.Option("--warnings-as-errors/--no-warnings-as-errors", help="Report warnings as errors."),
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", help="Use this ruledsl.toml/pyproject.toml, no discovery.")
    ] = None,
    stdin_filename: Annotated[
        Optional[str], typer.Option("--stdin-filename", help="With PATH `-`: the name of the text on stdin.")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Lint again whenever a file changes.")] = False,
    color: Annotated[ColorMode, typer.Option("--color", help="auto (FORCE_COLOR, NO_COLOR, tty), always, never.")] = (
        "auto"  # type: ignore[assignment]
    ),
    watch_interval: Annotated[float, typer.Option("--watch-interval", hidden=True)] = 0.5,
) -> None:
    """Check rulesets: syntax, names, types, windows, rule logic.

    Every file is checked as an entry point with the files it includes;
    `-` reads one ruleset from stdin.  Settings come from `[tool.ruledsl]`
    in pyproject.toml or a ruledsl.toml found upward (docs/lint.md).
    Exit code 0 when nothing is reported, 1 when there are errors or
    warnings (0 for warnings only with --exit-zero), 2 on a usage or I/O error.
    """
    from ruledsl.cli import lint_run

    reading_stdin = [str(p) for p in paths] == [lint_run.STDIN]
    if reading_stdin and watch:
        usage_error("--watch cannot read stdin")

    def once() -> tuple[int, list[str]]:
        try:
            opts = lint_run.lint_options(
                paths,
                select=select,
                ignore=ignore,
                exit_zero=exit_zero,
                warnings_as_errors=warnings_as_errors,
                config=config,
                output_format=output_format.value if isinstance(output_format, OutputFormat) else output_format,
                color=color.value if isinstance(color, ColorMode) else str(color),
                stdin_filename=stdin_filename,
            )
        except lint_run.ConfigError as err:
            usage_error(str(err))
        if reading_stdin:
            files: list[Path] = []
            name = stdin_filename or lint_run.DEFAULT_STDIN_NAME
            diags, sources = lint_run.check_stdin(name, lint_run.read_stdin())
            io_error = crashed = False
            n_files = 1
        else:
            files = expand_paths(paths)
            diags, sources, io_error, crashed = _lint_files(files)
            n_files = len(files)
        over_budget = False
        if budget:  # before finish(): RD313 obeys select/ignore and suppression comments like any warning
            from ruledsl.cli.budget import lint_budget_cli  # the memory budget (cli/budget.py)

            show = opts.output_format in ("text", "github")
            more, over_budget = lint_budget_cli(files, budget_limit, sample, rate, show_table=show, opts=opts)
            diags = sorted(diags + more, key=sort_key)
        diags = lint_run.finish(diags, opts)
        code = _lint_report(diags, sources, n_files, opts, io_error or crashed, over_budget)
        return code, [*sources, *(str(p) for p in opts.resolver.config_files())]

    if watch:
        with ctrl_c_passes_through():  # Ctrl-C ends the watch, not one pass (cli/progress.py)
            raise typer.Exit(lint_run.watch(list(paths), once, watch_interval))
    code = once()[0]
    exit_if_interrupted()
    raise typer.Exit(code)


def _lint_report(
    diags: list[Diagnostic], sources: dict[str, str], n_files: int, opts: Any, failed: bool, over_budget: bool
) -> int:
    """Print one lint run in the chosen format; returns the exit code."""
    from ruledsl.cli import lint_run

    fmt = opts.output_format
    if fmt == "json":
        typer.echo(json.dumps([d.to_dict() for d in diags], ensure_ascii=False, indent=2))
    elif fmt == "sarif":
        typer.echo(json.dumps(sarif_report(diags), ensure_ascii=False, indent=2))
    elif fmt == "github":
        for d in diags:
            typer.echo(github_annotation(d))
        typer.echo(_lint_summary(diags, n_files))
    else:
        echo_diagnostics(diags, sources, color=opts.color)
        typer.echo(_lint_summary(diags, n_files))
    return lint_run.exit_code(diags, opts, failed, over_budget)


def _lint_files(files: list[Path]) -> tuple[list[Diagnostic], dict[str, str], bool, bool]:
    """Load and check each file; diagnostics deduplicated (shared includes) and sorted."""
    seen: set = set()
    out: list[Diagnostic] = []
    sources: dict[str, str] = {}
    io_error = crashed = False
    for f in FileProgress(files, "checking"):  # a bar on a terminal; Ctrl-C: a partial summary (cli/progress.py)
        shown = display_path(f)
        try:
            # the checker's diagnostics include the program's own (I/O, syntax)
            result = _check(f)
        except Exception as err:  # one broken file must not hide the others' results
            if _debug():
                raise
            _internal_error(err, f"checking {shown}")
            crashed = True
            continue
        sources.update(result.sources)
        if shown not in result.sources:
            io_error = True  # the entry file itself cannot be read (RD006)
        for d in result.diagnostics:
            key = (d.code, d.path, d.span, d.message)
            if key not in seen:
                seen.add(key)
                out.append(d)
    out.sort(key=sort_key)
    return out, sources, io_error, crashed


def _check(path: Path) -> CheckResult:
    from ruledsl.check.checker import load_and_check  # imported late: the checker is the heaviest import

    return load_and_check([path])


def _lint_summary(diags: list[Diagnostic], n_files: int) -> str:
    if not diags:
        return f"All checks passed ({_plural(n_files, 'file')})."
    errors = sum(1 for d in diags if d.severity == "error")
    warnings = len(diags) - errors
    parts = [_plural(errors, "error")] if errors else []
    if warnings:
        parts.append(_plural(warnings, "warning"))
    files_with = len({d.path for d in diags})
    return f"Found {' and '.join(parts)} in {_plural(files_with, 'file')}."


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(d: Diagnostic) -> str:
    """A GitHub Actions workflow command: ``::error file=F,line=L,...,title=RD101::message``."""
    level = "error" if d.severity == "error" else "warning"
    sp = d.span
    props = (
        f"file={_gh_property(d.path)},line={sp.line},col={sp.col},"
        f"endLine={sp.end_line},endColumn={sp.end_col},title={_gh_property(d.code)}"
    )
    message = d.message + (f"\nhelp: {d.help}" if d.help else "")
    return f"::{level} {props}::{_gh_data(message)}"


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_report(diags: list[Diagnostic]) -> dict:
    """A SARIF 2.1.0 log with one run; ``tool.driver.rules`` lists every registered code."""
    codes = sorted(CODES)
    index = {c: i for i, c in enumerate(codes)}
    rules = []
    for c in codes:
        info = CODES[c]
        rules.append(
            {
                "id": c,
                "name": "".join(w.capitalize() for w in re.sub(r"[^0-9A-Za-z]+", " ", info.title).split()),
                "shortDescription": {"text": info.title},
                "fullDescription": {"text": info.explanation},
                "help": {"text": info.explanation},
                "defaultConfiguration": {"level": "error" if info.severity == "error" else "warning"},
            }
        )
    results = []
    for d in diags:
        sp = d.span
        result: dict[str, Any] = {
            "ruleId": d.code,
            "level": "error" if d.severity == "error" else "warning",
            "message": {"text": d.message + (f"\nhelp: {d.help}" if d.help else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": url_quote(Path(d.path).as_posix(), safe="/:")},
                        "region": {
                            "startLine": max(sp.line, 1),
                            "startColumn": max(sp.col, 1),
                            "endLine": max(sp.end_line, sp.line, 1),
                            "endColumn": max(sp.end_col, 1),
                        },
                    },
                }
            ],
        }
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ruledsl",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


# ---------------------------------------------------------------- fmt


@app.command()
@guarded
def fmt(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Ruleset files, or directories to search for *.rdsl files.", show_default=False, metavar="PATH"
        ),
    ],
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; list the files that would be reformatted (exit 1 if any).")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Change nothing; print a unified diff of the changes (exit 1 if any).")
    ] = False,
    stdin_filename: Annotated[
        Optional[str], typer.Option("--stdin-filename", help="With PATH `-`: the name of the text on stdin.")
    ] = None,
    color: Annotated[
        ColorMode, typer.Option("--color", help="The --diff output: auto (FORCE_COLOR, NO_COLOR, tty), always, never.")
    ] = "auto",  # type: ignore[assignment]
) -> None:
    """Rewrite rulesets in the canonical layout, keeping comments.

    Files with syntax errors are reported and left untouched (exit 1).
    `ruledsl fmt -` formats stdin to stdout.
    """
    from ruledsl.cli.lint_run import DEFAULT_STDIN_NAME, echo_diff, fmt_stdin, use_color  # cli/lint_run.py

    colored = use_color(color.value if isinstance(color, ColorMode) else str(color))
    if [str(p) for p in paths] == ["-"]:
        raise typer.Exit(fmt_stdin(stdin_filename or DEFAULT_STDIN_NAME, check, diff, colored))
    from ruledsl.syntax.formatter import FormatError, format_module, scan_comments, strip_spans
    from ruledsl.syntax.parser import parse

    files = expand_paths(paths)
    changed: list[str] = []
    unchanged = failed = 0
    io_error = False
    dry = check or diff
    for f in FileProgress(files, "formatting"):  # a bar on a terminal; Ctrl-C: a partial summary (cli/progress.py)
        shown = display_path(f)
        try:
            raw = f.read_bytes()
            text = read_source(str(f), shown)
        except NotUtf8Error as err:
            echo_diagnostics([not_utf8_diagnostic(shown, err)], {}, err=True)
            io_error = True
            continue
        except (OSError, UnicodeDecodeError) as err:
            reason = "not valid UTF-8" if isinstance(err, UnicodeDecodeError) else (err.strerror or str(err))
            echo_diagnostics([make("RD006", f"cannot read `{shown}`: {reason}", shown)], {}, err=True)
            io_error = True
            continue
        module, diags = parse(text, shown)
        if diags or module is None:
            echo_diagnostics(sorted(diags, key=sort_key), {shown: text}, err=True)
            typer.echo(f"error: {shown}: not formatted, it has syntax errors", err=True)
            failed += 1
            continue
        try:
            new = format_module(module, text)
        except FormatError as err:
            typer.echo(f"error: {shown}:{err.span.line}:{err.span.col}: cannot format: {err.message}", err=True)
            failed += 1
            continue
        # never write a file whose meaning or comments the formatter would change
        again, again_diags = parse(new, shown)
        if (
            again_diags
            or again is None
            or strip_spans(again) != strip_spans(module)
            or sorted(c.text for c in scan_comments(new)) != sorted(c.text for c in scan_comments(text))
        ):
            _internal_error(
                RuntimeError("the formatted text does not say the same as the original"), f"formatting {shown}"
            )
            typer.echo(f"error: {shown}: left unchanged", err=True)
            io_error = True
            continue
        if new.encode("utf-8") == raw:
            unchanged += 1
            continue
        changed.append(shown)
        if diff:
            echo_diff(text, new, shown, colored)
        if check:
            typer.echo(f"would reformat {shown}", err=True)
        elif not dry:
            try:
                _write_atomically(f, new)
            except OSError as err:
                typer.echo(f"error: cannot write {shown}: {err.strerror or err}", err=True)
                io_error = True
                changed.pop()
                continue
            typer.echo(f"reformatted {shown}", err=True)
    typer.echo(_fmt_summary(len(changed), unchanged, failed, dry), err=True)
    exit_if_interrupted()
    if io_error:
        raise typer.Exit(EXIT_ERROR)
    if failed or (dry and changed):
        raise typer.Exit(EXIT_PROBLEMS)
    raise typer.Exit(EXIT_OK)


def _fmt_summary(changed: int, unchanged: int, failed: int, dry: bool) -> str:
    parts = []
    if changed:
        verb = "would be reformatted" if dry else "reformatted"
        parts.append(f"{_plural(changed, 'file')} {verb}")
    if unchanged:
        parts.append(f"{_plural(unchanged, 'file')} {'already formatted' if dry else 'left unchanged'}")
    if failed:
        parts.append(f"{_plural(failed, 'file')} could not be formatted")
    return (", ".join(parts) or "No files") + "."


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path``'s content; a crash never leaves a half-written ruleset."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------- explain


@app.command()
@guarded
def explain(
    code: Annotated[
        Optional[str], typer.Argument(help="A diagnostic code such as RD001.", show_default=False, metavar="CODE")
    ] = None,
    list_codes: Annotated[bool, typer.Option("--list", help="List every diagnostic code.")] = False,
) -> None:
    """Explain a diagnostic code: what it means, why, and how to fix it."""
    if list_codes:
        if code is not None:
            usage_error("give either a code or --list, not both")
        for c in sorted(CODES):
            listed = CODES[c]
            typer.echo(f"{c}  {listed.severity:<7}  {listed.title}")
        raise typer.Exit(EXIT_OK)
    if code is None:
        usage_error("give a code to explain (e.g. `ruledsl explain RD001`) or --list")
    wanted = _normalise_code(code)
    info = CODES.get(wanted)
    if info is None:
        hint = suggest(wanted, CODES) or "run `ruledsl explain --list` to see every code"
        usage_error(f"unknown code `{code}`; {hint}")
    typer.echo(f"{info.code} ({info.severity}): {info.title}\n")
    typer.echo(info.explanation)
    raise typer.Exit(EXIT_OK)


def _normalise_code(code: str) -> str:
    text = code.strip().upper()
    if text.isdigit():
        text = "RD" + text
    if text.startswith("RD") and text[2:].isdigit():
        text = "RD" + text[2:].zfill(3)
    return text


# ---------------------------------------------------------------- entry point


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point (``ruledsl = ruledsl.cli.app:main``)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        app(args=argv, prog_name="ruledsl")
    except SystemExit:
        try:
            sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe ends quietly
        except BrokenPipeError:
            _silence_stdout()
        except (OSError, ValueError):
            pass
        raise
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_PROBLEMS)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as err:  # outside any command: option parsing, command registration
        if _debug():
            raise
        _internal_error(err)
        sys.exit(EXIT_ERROR)


_register_commands()
