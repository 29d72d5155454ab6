"""Symbol tables: the first pass of the checker.

Collects every declaration of a program into ``Symbols`` (declaration order
preserved), resolves the event types each rule, window, sequence and
scorecard applies to, converts schema types, and reports the problems that
need no expression typing: duplicates, unknown types and event types, the
ruleset header, list files.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypedDict, TypeVar, Union

import msgspec

from ruledsl.check import messages as m
from ruledsl.check.listfiles import ListFileError, file_format, read_table
from ruledsl.check.types import ANY, SCALAR_TYPE_NAMES, TIMESTAMP, Type, display, scalar, unify
from ruledsl.syntax import nodes as n
from ruledsl.syntax.diagnostics import Diagnostic, make, suggest
from ruledsl.syntax.encoding import NotUtf8Error, read_utf8
from ruledsl.syntax.loader import Program

VALUE_KINDS = ("const", "param", "list", "window", "sequence", "scorecard")
"""Kinds of declarations that share the value namespace (readable in conditions)."""

ValueDecl = Union[n.ConstDecl, n.ParamDecl, n.ListDecl, n.WindowDecl, n.SequenceDecl, n.ScorecardDecl]
"""A declaration whose name is a value (``VALUE_KINDS``)."""

FieldEntry = tuple[Type, tuple[str, ...], Optional[m.Msg]]
"""What a field name means for a set of event types: its type, the event types
lacking it, and the message when its types conflict."""

D = TypeVar("D", bound=Union[ValueDecl, n.RuleDecl])
V = TypeVar("V", bound=ValueDecl)


class Declarations(TypedDict):
    """Every declaration of each kind as ``(name, declaration, first definition?)``, in declaration order.

    Duplicates are listed too (their bodies may hold other mistakes) but never
    enter the ``Symbols`` tables.
    """

    const: list[tuple[str, n.ConstDecl, bool]]
    param: list[tuple[str, n.ParamDecl, bool]]
    list: list[tuple[str, n.ListDecl, bool]]
    window: list[tuple[str, n.WindowDecl, bool]]
    sequence: list[tuple[str, n.SequenceDecl, bool]]
    scorecard: list[tuple[str, n.ScorecardDecl, bool]]
    rule: list[tuple[str, n.RuleDecl, bool]]


LIST_TYPES = ("string", "enum", "int", "decimal")


class Symbols(msgspec.Struct):
    """Everything a program declares, by name, in declaration order (first definition wins)."""

    header: Optional[n.RulesetDecl] = None
    events: dict[str, n.EventDecl] = {}
    fields: dict[str, dict[str, Type]] = {}  # event -> field -> type, including the implicit `ts`
    consts: dict[str, n.ConstDecl] = {}
    params: dict[str, n.ParamDecl] = {}
    lists: dict[str, n.ListDecl] = {}
    windows: dict[str, n.WindowDecl] = {}
    sequences: dict[str, n.SequenceDecl] = {}
    rules: dict[str, n.RuleDecl] = {}
    scorecards: dict[str, n.ScorecardDecl] = {}
    list_files: dict[str, str] = {}  # list name -> resolved path of its file
    list_tables: dict[str, Any] = {}  # list name -> its CSV/JSON Lines file read by the check (check/listfiles.py)
    rule_events: dict[str, list[str]] = {}  # resolved event types ('any'/omitted: all)
    window_events: dict[str, list[str]] = {}
    sequence_events: dict[str, list[str]] = {}  # the distinct event types of the steps, in order
    scorecard_events: dict[str, list[str]] = {}
    source_dir: dict[str, str] = {}  # module path -> its directory
    value_types: dict[str, Type] = {}  # const/param/list/window/sequence/scorecard name -> type of its value
    decl_paths: dict[int, str] = {}  # id(declaration) -> path of the module declaring it
    exempt_by: list[str] = []  # the `exempt by` fields, every declaration merged (check/exemptions.py)


class Context:
    """State shared by the checker passes: symbols, side tables, diagnostics."""

    def __init__(self, program: Program, list_dir_override: Union[str, Path, None] = None):
        self.program = program
        self.list_dir_override = list_dir_override
        self.diags: list[Diagnostic] = []
        self.sym = Symbols()
        self.types: dict[int, Type] = {}
        self.refs: dict[int, tuple[str, str]] = {}
        self.const_values: dict[str, object] = {}
        self.node_values: dict[int, object] = {}  # id(expr) -> folded value, for every constant node
        self.used: set[str] = set()
        self.globals: dict[str, tuple[str, ValueDecl, str]] = {}  # name -> (kind, decl, path)
        self.events_of: dict[int, list[str]] = {}  # id(rule/window/sequence/scorecard) -> event types
        self.field_owners: dict[str, list[str]] = {}  # field name -> event types having it
        self._field_tables: dict[tuple[str, ...], dict[str, FieldEntry]] = {}
        self.decls = Declarations(const=[], param=[], list=[], window=[], sequence=[], scorecard=[], rule=[])

    def report(self, path: str, span: n.Span, msg: m.Msg) -> None:
        """Record a diagnostic at ``span`` of the file ``path``."""
        code, message, help_ = msg
        self.diags.append(make(code, message, path, span, help_))

    def path_of(self, decl: n.Node) -> str:
        """The path of the module that declares ``decl``."""
        return self.sym.decl_paths.get(id(decl), "<unknown>")

    def field_table(self, events: tuple[str, ...]) -> dict[str, FieldEntry]:
        """name -> (type, events missing it, conflict message or None) for a set of event types."""
        table = self._field_tables.get(events)
        if table is not None:
            return table
        table = {}
        seen: dict[str, list[tuple[str, Type]]] = {}
        for ev in events:
            for fname, ftype in self.sym.fields.get(ev, {}).items():
                seen.setdefault(fname, []).append((ev, ftype))
        for fname, owners in seen.items():
            t: Type = owners[0][1]
            conflict: Optional[m.Msg] = None
            for ev, ft in owners[1:]:
                u = unify(t, ft)
                if u is None:
                    conflict = m.field_types_differ(fname, owners[0][0], owners[0][1], ev, ft)
                    break
                t = u
            have = {ev for ev, _ in owners}
            missing = tuple(ev for ev in events if ev not in have)
            table[fname] = (ANY if conflict else t, missing, conflict)
        self._field_tables[events] = table
        return table


# ---------------------------------------------------------------- helpers


def type_of_ref(ctx: Context, ref: n.TypeRef, path: str) -> Type:
    """A schema/parameter/list type; unknown types are reported (RD107) and become ``any``."""
    if ref.name == "enum":
        values = tuple(dict.fromkeys(ref.enum_values))
        return Type("enum", ref.optional, values)
    if ref.name in SCALAR_TYPE_NAMES:
        return scalar(ref.name, ref.optional)
    ctx.report(path, ref.span, m.unknown_type(ref.name, suggest(ref.name, (*SCALAR_TYPE_NAMES, "enum"))))
    return ANY


def resolve_events(ctx: Context, idents: Optional[list[n.Ident]], path: str) -> list[str]:
    """Event type names of an `on`/`of` clause; omitted or `any` means every event type."""
    if not idents:
        return list(ctx.sym.events)
    out: list[str] = []
    for ident in idents:
        if ident.name in ctx.sym.events:
            if ident.name not in out:
                out.append(ident.name)
        else:
            ctx.report(path, ident.span, m.unknown_event(ident.name, suggest(ident.name, ctx.sym.events)))
    return out


# ---------------------------------------------------------------- the pass


def collect(ctx: Context) -> None:
    """Fill ``ctx.sym`` and ``ctx.globals`` from every module of the program."""
    sym = ctx.sym
    program = ctx.program
    entry = set(program.entry_paths)
    headers: list[tuple[n.RulesetDecl, str, bool]] = []
    rule_first: dict[str, tuple[str, int]] = {}
    event_first: dict[str, tuple[str, int]] = {}

    for module in program.modules:
        path = module.path
        sym.source_dir[path] = str(Path(path).parent)
        for i, decl in enumerate(module.decls):
            sym.decl_paths[id(decl)] = path
            if isinstance(decl, n.RulesetDecl):
                headers.append((decl, path, i == 0))
            elif isinstance(decl, n.EventDecl):
                name = decl.name.name
                if name in event_first:
                    fpath, fline = event_first[name]
                    ctx.report(path, decl.name.span, m.duplicate_definition(name, "event", "event", fpath, fline))
                else:
                    event_first[name] = (path, decl.name.span.line)
                    sym.events[name] = decl
            elif isinstance(decl, n.RuleDecl):
                name = decl.name.name
                ctx.decls["rule"].append((name, decl, name not in rule_first))
                if name in rule_first:
                    fpath, fline = rule_first[name]
                    ctx.report(path, decl.name.span, m.duplicate_rule(name, fpath, fline))
                else:
                    rule_first[name] = (path, decl.name.span.line)
                    sym.rules[name] = decl
            elif isinstance(decl, (n.IncludeDecl, n.ExemptDecl)):
                pass  # an `exempt by` is checked by ruledsl.check.exemptions
            else:
                _declare_value(ctx, decl, path)

    _collect_header(ctx, headers, entry)
    for decl in sym.events.values():
        _collect_fields(ctx, decl, ctx.path_of(decl))
    for ev, fields in sym.fields.items():
        for fname in fields:
            ctx.field_owners.setdefault(fname, []).append(ev)

    _resolve_all(ctx, ctx.decls["rule"], sym.rule_events, lambda d: d.events)
    _resolve_all(ctx, ctx.decls["window"], sym.window_events, lambda d: d.events)
    _resolve_all(ctx, ctx.decls["sequence"], sym.sequence_events, lambda d: [st.event for st in d.steps])
    _resolve_all(ctx, ctx.decls["scorecard"], sym.scorecard_events, lambda d: d.events)


def _resolve_all(
    ctx: Context,
    decls: list[tuple[str, D, bool]],
    table: dict[str, list[str]],
    of: Callable[[D], Optional[list[n.Ident]]],
) -> None:
    for name, decl, primary in decls:
        events = resolve_events(ctx, of(decl), ctx.path_of(decl))
        ctx.events_of[id(decl)] = events
        if primary:
            table[name] = events


def _declare_value(ctx: Context, decl: ValueDecl, path: str) -> None:
    sym, decls = ctx.sym, ctx.decls
    if isinstance(decl, n.ConstDecl):
        _declare(ctx, "const", decl, decls["const"], sym.consts, path)
    elif isinstance(decl, n.ParamDecl):
        _declare(ctx, "param", decl, decls["param"], sym.params, path)
    elif isinstance(decl, n.ListDecl):
        _declare(ctx, "list", decl, decls["list"], sym.lists, path)
    elif isinstance(decl, n.WindowDecl):
        _declare(ctx, "window", decl, decls["window"], sym.windows, path)
    elif isinstance(decl, n.SequenceDecl):
        _declare(ctx, "sequence", decl, decls["sequence"], sym.sequences, path)
    else:
        _declare(ctx, "scorecard", decl, decls["scorecard"], sym.scorecards, path)


def _declare(
    ctx: Context, kind: str, decl: V, entries: list[tuple[str, V, bool]], table: dict[str, V], path: str
) -> None:
    name = decl.name.name
    first = ctx.globals.get(name)
    entries.append((name, decl, first is None))
    if first is not None:
        fkind, fdecl, fpath = first
        ctx.report(path, decl.name.span, m.duplicate_definition(name, kind, fkind, fpath, fdecl.name.span.line))
        return
    ctx.globals[name] = (kind, decl, path)
    table[name] = decl


def _collect_header(ctx: Context, headers: list[tuple[n.RulesetDecl, str, bool]], entry: set[str]) -> None:
    if not headers:
        return
    primary = next((h for h in headers if h[1] in entry), headers[0])
    ctx.sym.header = primary[0]
    for decl, path, first_in_file in headers:
        if decl is not primary[0]:
            ctx.report(path, decl.span, m.duplicate_header(primary[1], primary[0].span.line))
            continue
        if not first_in_file:
            ctx.report(path, decl.span, m.misplaced_header())
        seen: set[str] = set()
        for item, span in zip(decl.item_names, decl.item_spans, strict=False):  # built by hand: may differ
            if item in seen:
                ctx.report(path, span, m.duplicate_header_item(item.replace("_ms", "")))
            seen.add(item)
            if item == "timezone" and decl.timezone is not None and not _valid_timezone(decl.timezone):
                ctx.report(path, span, m.unknown_timezone(decl.timezone))


def _valid_timezone(name: str) -> bool:
    if name == "UTC":
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _collect_fields(ctx: Context, decl: n.EventDecl, path: str) -> None:
    ev = decl.name.name
    fields: dict[str, Type] = {}
    first_line: dict[str, int] = {}
    for f in decl.fields:
        fname = f.name.name
        if fname in fields:
            ctx.report(path, f.name.span, m.duplicate_field(fname, ev, first_line[fname]))
            continue
        t = type_of_ref(ctx, f.type, path)
        if fname == "ts" and (t.name != "timestamp" or t.optional):
            if t.name != "any":
                ctx.report(path, f.type.span, m.bad_ts(ev, display(t) + ("?" if t.optional else "")))
            t = TIMESTAMP
        fields[fname] = t
        first_line[fname] = f.name.span.line
        if f.cardinality is not None:
            _check_cardinality(ctx, f, t, path)
    if "ts" not in fields:
        fields["ts"] = TIMESTAMP
    ctx.sym.fields[ev] = fields


def _check_cardinality(ctx: Context, f: n.FieldDecl, t: Type, path: str) -> None:
    """RD314: an enum or bool field cannot take more distinct values than it has."""
    most = len(f.type.enum_values) if t.name == "enum" else 2 if t.name == "bool" else None
    if most is not None and f.cardinality is not None and f.cardinality > most + int(t.optional):
        ctx.report(path, f.span, m.cardinality_above_values(f.name.name, f.cardinality, most + int(t.optional)))


# ---------------------------------------------------------------- list files

_BAD_LINE = {
    "int": r"-?\d{1,18}",
    "decimal": r"-?\d{1,14}(?:\.\d{1,4})?",
}


def check_list_file(ctx: Context, decl: n.ListDecl, elem: Type, path: str, record: bool = True) -> None:
    """Resolve a list's file, record it in ``list_files``, check it can be read and its entries parse.

    An entry is a line with surrounding blanks removed; blank lines and lines
    starting with ``#`` are skipped.
    """
    base = ctx.list_dir_override if ctx.list_dir_override is not None else ctx.sym.source_dir.get(path, ".")
    full = os.path.join(str(base), decl.file or "")
    if record:
        ctx.sym.list_files[decl.name.name] = full
    try:
        text = read_utf8(full, decl.file or full)
    except NotUtf8Error as err:  # where the bad byte is, and the iconv command (GBK lists are common)
        ctx.report(path, decl.file_span, m.list_file_not_utf8(decl.file or "", err.where(), err.hint))
        return
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = (
            "not valid UTF-8" if isinstance(err, UnicodeDecodeError) else (getattr(err, "strerror", None) or str(err))
        )
        ctx.report(path, decl.file_span, m.list_file_unreadable(decl.file or "", reason))
        return
    if elem.name == "any":
        return
    if file_format(full) != "text":
        _check_table_file(ctx, decl, elem, path, full, record)
        return
    if elem.name == "int" or elem.name == "decimal":
        good = _BAD_LINE[elem.name]
    elif elem.name == "enum":
        good = "|".join(re.escape(v) for v in elem.enum_values) or "(?!)"
    else:
        return  # any text is a string entry
    bad = re.compile(r"^(?![ \t]*(?:#.*|(?:" + good + r")[ \t]*\r?)?$).+$", re.MULTILINE)
    found = bad.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    more = sum(1 for _ in bad.finditer(text, found.end()))
    ctx.report(path, decl.file_span, m.list_file_entry(decl.file or "", line, found.group(0).strip(), elem, more))


def _check_table_file(ctx: Context, decl: n.ListDecl, elem: Type, path: str, full: str, record: bool) -> None:
    """A CSV or JSON Lines list: read it once here; the engine takes the table (``runtime.lists.resolve_lists``)."""
    header = ctx.sym.header
    zone = header.timezone if header is not None and header.timezone else "UTC"
    try:
        table = read_table(full, elem.name, elem.enum_values, zone)
    except ListFileError as err:
        ctx.report(path, decl.file_span, m.list_file_row(decl.file or "", err.line, err.problem, err.more))
        return
    except ValueError as err:  # an unknown time zone: reported on the header
        ctx.report(path, decl.file_span, m.list_file_unreadable(decl.file or "", str(err)))
        return
    if record:
        ctx.sym.list_tables[decl.name.name] = table
