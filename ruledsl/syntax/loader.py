"""Read ruleset files, follow ``include``s, parse each file once.

The result is a ``Program``: the entry files and every included file, in
dependency order (an included file comes before the file that includes it),
with their sources kept for rendering diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Union

import msgspec

from ruledsl.syntax import nodes as n
from ruledsl.syntax.diagnostics import Diagnostic, make
from ruledsl.syntax.encoding import NotUtf8Error, read_utf8
from ruledsl.syntax.parser import parse

RULESET_SUFFIX = ".rdsl"


class Program(msgspec.Struct, kw_only=True):
    """Parsed modules plus their sources, ready for the checker."""

    modules: list[n.Module] = []
    sources: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    entry_paths: list[str] = []

    @property
    def has_syntax_errors(self) -> bool:
        """True when some file did not parse; the checker is then skipped."""
        return any(d.severity == "error" for d in self.diagnostics)


def read_source(path: str, shown: str | None = None) -> str:
    """Read a file as UTF-8 (a BOM is tolerated); raises OSError or ``NotUtf8Error`` (a UnicodeDecodeError)."""
    return read_utf8(path, shown)


def not_utf8_diagnostic(shown: str, err: NotUtf8Error) -> Diagnostic:
    """RD008 at the first bad byte of ``shown``, with the likely encoding and how to convert it."""
    span = n.Span(err.offset, err.offset + 1, err.line, err.col, err.line, err.col + 1)
    return make("RD008", f"`{shown}` is not valid UTF-8: {err.where()}", shown, span, err.hint)


def empty_file_diagnostic(shown: str) -> Diagnostic:
    """RD009: a file without a single declaration."""
    return make(
        "RD009",
        f"`{shown}` declares nothing (it is empty or only comments)",
        shown,
        help="loaded alone it gives an engine with no rules; check the path or delete the file",
    )


def display_path(path: Path) -> str:
    """A path as shown in diagnostics: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_program(
    paths: Union[str, Path, Iterable[Union[str, Path]]], *, sources: dict[str, str] | None = None
) -> Program:
    """Parse the given entry files and everything they include.

    ``sources`` maps a path to text to use instead of reading the file (for
    tests and editors).  I/O problems and include cycles become diagnostics.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    program = Program()
    done: dict[Path, str] = {}
    overrides = {Path(p).resolve(): t for p, t in (sources or {}).items()}

    def visit(path: Path, chain: tuple[Path, ...], where: tuple[str, n.Span] | None) -> None:
        real = path.resolve()
        if real in chain:
            shown, span = where if where else (display_path(path), n.NO_SPAN)
            program.diagnostics.append(
                make(
                    "RD007",
                    f"include cycle: {' -> '.join(display_path(p) for p in (*chain, real))}",
                    shown,
                    span,
                    "move the shared declarations into a file that both include",
                )
            )
            return
        if real in done:
            return
        shown = display_path(path)
        try:
            text = overrides[real] if real in overrides else read_source(str(path), shown)
        except NotUtf8Error as err:
            program.diagnostics.append(not_utf8_diagnostic(shown, err))
            done[real] = shown
            return
        except (OSError, UnicodeDecodeError) as err:
            at_path, span = where if where else (shown, n.NO_SPAN)
            reason = "not valid UTF-8" if isinstance(err, UnicodeDecodeError) else (err.strerror or str(err))
            program.diagnostics.append(make("RD006", f"cannot read `{shown}`: {reason}", at_path, span))
            done[real] = shown
            return
        done[real] = shown
        program.sources[shown] = text
        module, diags = parse(text, shown)
        program.diagnostics.extend(diags)
        if module is None:
            return
        if not module.decls and not diags:
            program.diagnostics.append(empty_file_diagnostic(shown))
        for decl in module.decls:
            if isinstance(decl, n.IncludeDecl):
                visit(path.parent / decl.path, (*chain, real), (shown, decl.span))
        program.modules.append(module)

    for p in paths:
        p = Path(p)
        program.entry_paths.append(display_path(p))
        visit(p, (), None)
    return program


def load_text(text: str, path: str = "<string>") -> Program:
    """Parse source text that is not (necessarily) on disk; includes resolve from the cwd."""
    return load_program([path], sources={path: text})


def find_ruleset_files(paths: Iterable[Union[str, Path]]) -> list[Path]:
    """Expand directories into the ``*.rdsl`` files below them, sorted."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob(f"*{RULESET_SUFFIX}") if q.is_file()))
        else:
            found.append(p)
    return found
