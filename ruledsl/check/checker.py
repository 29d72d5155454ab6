"""The checker: names, types, schema, windows, sequences, scorecards, rule logic.

``check(program)`` runs every pass over every module and collects all the
problems it finds (it never stops at the first).  The AST is not changed:
types and resolved names are side tables keyed by ``id(node)`` in the
result, which keeps the program alive so those ids stay valid.

Passes, in order: declarations (``symbols.collect``), constants (in
dependency order), parameters, lists, windows, sequences, scorecards,
rules, then the whole-program checks (redundant rules, unused declarations,
lateness).  Expressions are typed by ``exprs.ExprChecker``; every message
text lives in ``messages``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Union

import msgspec

from ruledsl.check import messages as m
from ruledsl.check.controls import check_controls
from ruledsl.check.exemptions import check_exempt_by
from ruledsl.check.exprs import ExprChecker, Scope, structure_key
from ruledsl.check.fold import NOTCONST, convert_value
from ruledsl.check.logic import check_logic
from ruledsl.check.suppress import apply_suppressions
from ruledsl.check.symbols import LIST_TYPES, VALUE_KINDS, Context, Symbols, check_list_file, collect, type_of_ref
from ruledsl.check.types import (
    AGG_ARG_WORDS,
    AGG_ARITY,
    ANY,
    BOOL,
    KEY_TYPES,
    Type,
    aggregate_accepts,
    aggregate_result,
    assignable,
    list_of,
    scalar,
    scorecard_score_type,
    with_optional,
)
from ruledsl.syntax import nodes as n
from ruledsl.syntax.diagnostics import Diagnostic, RuleDSLError, sort_key, suggest
from ruledsl.syntax.durations import DURATION_UNITS, format_duration
from ruledsl.syntax.loader import Program, load_program

__all__ = ["CheckResult", "Symbols", "Type", "check", "check_files", "load_and_check"]

Paths = Union[str, Path, Iterable[Union[str, Path]]]
"""One ruleset file or several (``load_program`` follows their includes)."""

MAX_SPAN_MS = 400 * DURATION_UNITS["d"]
"""Longest window or sequence span (400 days), except for ``since()`` windows."""
MAX_SINCE_SPAN_MS = 36_500_000 * DURATION_UNITS["d"]
"""Longest ``since()`` window span (100 000 years).  Such a window keeps one
timestamp per key (the newest), so a long span costs no more entries per key
and the 400-day limit of other windows does not apply; this bound only keeps
millisecond event-time arithmetic exact (below 2**53) in every store."""

_CONST_TYPES = frozenset({"int", "decimal", "string", "bool", "duration", "any"})
_PARAM_TYPES = frozenset({"int", "decimal", "float", "string", "bool", "duration", "enum", "any"})
_FEED_KINDS = ("const", "param", "list")  # what windows and sequences may read
_SCORE_KINDS = ("const", "param", "list", "window", "sequence")  # what scorecard items may read
_CASCADE_CODES = frozenset({"RD101", "RD102", "RD103", "RD307"})
"""Dropped when the program has syntax errors: a skipped declaration causes them."""


class CheckResult(msgspec.Struct):
    """What the checker found.

    ``types`` maps ``id(expr)`` to the type of every expression node of
    every condition, argument, key, score, threshold, constant, parameter
    default and list entry; ``refs`` maps ``id(Name)`` to ``(kind, name)``.
    ``const_values`` holds the value of every ``const`` by name, and
    ``const_values_by_node`` the value of every expression node the checker
    folded (literals, constants and whatever is computed from them only:
    const values, parameter defaults, list entries, scores, level
    thresholds, and constant parts of conditions), keyed like ``types``.
    Values are in the runtime representation of the node's type in
    ``types`` (see ``ruledsl.check.fold``: decimal scaled by 10 000,
    timestamp and duration in ms, a list literal as a ``frozenset`` of its
    entries in the element type); ``fold.convert_value`` widens them.
    ``diagnostics`` includes the program's syntax diagnostics.
    """

    diagnostics: list[Diagnostic]
    symbols: Symbols
    types: dict[int, Type]
    refs: dict[int, tuple[str, str]]
    const_values: dict[str, object]
    const_values_by_node: dict[int, object] = {}
    program: Optional[Program] = None

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def folded(self) -> dict[int, object]:
        """The former name of ``const_values_by_node``."""
        return self.const_values_by_node

    @property
    def sources(self) -> dict[str, str]:
        """The text of every file of the program, by displayed path (for rendering diagnostics)."""
        return self.program.sources if self.program is not None else {}


def check(program: Program, *, list_dir_override: Union[str, Path, None] = None) -> CheckResult:
    """Check a loaded program; ``list_dir_override`` resolves list files from that directory instead."""
    ctx = Context(program, list_dir_override)
    collect(ctx)
    ec = ExprChecker(ctx)
    _check_consts(ctx, ec)
    _check_params(ctx, ec)
    _check_lists(ctx, ec)
    _check_windows(ctx, ec)
    _check_sequences(ctx, ec)
    _check_scorecards(ctx, ec)
    same_condition = _check_rules(ctx, ec)
    _check_redundant(ctx, same_condition)
    _check_unused(ctx)
    _check_lateness(ctx)
    _check_hold_timeout(ctx)
    check_exempt_by(ctx)
    check_logic(ctx)  # RD407-RD409: check/logic.py
    diags = ctx.diags
    if program.has_syntax_errors:
        diags = [d for d in diags if d.code not in _CASCADE_CODES]
    diags = sorted(apply_suppressions(program, list(program.diagnostics) + diags), key=sort_key)  # check/suppress.py
    return CheckResult(
        diagnostics=diags,
        symbols=ctx.sym,
        types=ctx.types,
        refs=ctx.refs,
        const_values=ctx.const_values,
        const_values_by_node=ctx.node_values,
        program=program,
    )


def load_and_check(
    paths: Paths, *, sources: Optional[dict[str, str]] = None, list_dir_override: Union[str, Path, None] = None
) -> CheckResult:
    """Load ruleset files (with everything they include) and check them; never raises for their problems.

    Unreadable files, include cycles and syntax errors are diagnostics like
    any other.  When a file does not parse, the checker is not run (what it
    would say about a program with holes is mostly noise): the result then
    holds the load and syntax diagnostics only, and empty tables.
    ``sources`` gives text to use instead of reading some files (see
    ``load_program``); ``list_dir_override`` is passed to ``check``.
    """
    program = load_program(paths, sources=sources)
    if program.has_syntax_errors:
        return CheckResult(
            diagnostics=list(program.diagnostics),
            symbols=Symbols(),
            types={},
            refs={},
            const_values={},
            program=program,
        )
    return check(program, list_dir_override=list_dir_override)


def check_files(
    paths: Paths, *, sources: Optional[dict[str, str]] = None, list_dir_override: Union[str, Path, None] = None
) -> CheckResult:
    """``load_and_check``, raising ``RuleDSLError`` with every diagnostic when there is an error.

    The boundary every loader of rulesets goes through (``ruledsl.load``,
    ``Engine.reload``, rule tests): a result it returns has no error, though
    it may have warnings.
    """
    result = load_and_check(paths, sources=sources, list_dir_override=list_dir_override)
    if not result.ok:
        raise RuleDSLError(result.diagnostics, result.sources)
    return result


# ---------------------------------------------------------------- constants, parameters, lists


def _const_order(ctx: Context) -> tuple[list[str], set[str]]:
    """Constants in dependency order (iterative DFS), and those on a cycle."""
    consts = ctx.sym.consts
    deps = {
        name: [
            x.name
            for x in n.walk(c.value)
            if isinstance(x, n.Name) and x.name in consts and ctx.globals[x.name][0] == "const"
        ]
        for name, c in consts.items()
    }
    order: list[str] = []
    state: dict[str, int] = {}
    cyclic: set[str] = set()
    for start in consts:
        if start in state:
            continue
        state[start] = 0
        stack = [(start, iter(deps[start]))]
        while stack:
            cur, it = stack[-1]
            for d in it:
                if d not in state:
                    state[d] = 0
                    stack.append((d, iter(deps[d])))
                    break
                if state[d] == 0:  # on the current path: a cycle from d to cur
                    names = [s for s, _ in stack]
                    cyclic.update(names[names.index(d) :])
            else:
                stack.pop()
                state[cur] = 1
                order.append(cur)
    return order, cyclic


def _check_consts(ctx: Context, ec: ExprChecker) -> None:
    order, cyclic = _const_order(ctx)
    for name in cyclic:
        ctx.sym.value_types[name] = ANY
    for _name, decl, primary in ctx.decls["const"]:
        if not primary:  # a duplicate: check its value, record nothing
            ec.check(decl.value, Scope(ctx.path_of(decl), const="the value of a constant"))
    for name in order:
        decl = ctx.sym.consts[name]
        path = ctx.path_of(decl)
        before = len(ctx.diags)
        t, v = ec.check(decl.value, Scope(path, const="the value of a constant"))
        if name in cyclic:
            del ctx.diags[before:]
            ctx.report(path, decl.name.span, m.const_cycle(name))
            continue
        if t.name not in _CONST_TYPES:
            ctx.report(path, decl.value.span, m.const_bad_type(name, t))
            t, v = ANY, NOTCONST
        ctx.sym.value_types[name] = with_optional(t, False)
        if v is not NOTCONST:
            ctx.const_values[name] = v


def _check_params(ctx: Context, ec: ExprChecker) -> None:
    for name, decl, primary in ctx.decls["param"]:
        path = ctx.path_of(decl)
        t = with_optional(type_of_ref(ctx, decl.type, path), False)
        if t.name not in _PARAM_TYPES:
            ctx.report(path, decl.type.span, m.param_bad_type(name, t.name))
            t = ANY
        if primary:
            ctx.sym.value_types[name] = t
        dt, v = ec.check(decl.default, Scope(path, const="a parameter default"))
        if not assignable(dt, t):
            ctx.report(path, decl.default.span, m.param_default_mismatch(name, t, dt))
        elif t.name == "enum" and isinstance(v, str) and v not in t.enum_values:
            ctx.report(path, decl.default.span, m.not_in_enum(v, t, suggest(v, t.enum_values)))


def _check_lists(ctx: Context, ec: ExprChecker) -> None:
    for name, decl, primary in ctx.decls["list"]:
        path = ctx.path_of(decl)
        elem = with_optional(type_of_ref(ctx, decl.type, path), False)
        if elem.name not in LIST_TYPES and elem.name != "any":
            ctx.report(path, decl.type.span, m.list_type_not_allowed(elem.name))
            elem = ANY
        if primary:
            ctx.sym.value_types[name] = list_of(elem)
        if decl.file is not None:
            check_list_file(ctx, decl, elem, path, record=primary)
            continue
        scope = Scope(path, const="a list entry")
        for item in decl.items or ():
            t, v = ec.check(item, scope)
            if not assignable(t, elem) or t.name == "list":
                ctx.report(path, item.span, m.list_item_mismatch(elem, t))
            elif elem.name == "enum" and isinstance(v, str) and v not in elem.enum_values:
                ctx.report(path, item.span, m.not_in_enum(v, elem, suggest(v, elem.enum_values)))


# ---------------------------------------------------------------- windows and sequences


def _check_span(ctx: Context, path: str, span: n.Span, ms: int, what: str, longest_ms: int = MAX_SPAN_MS) -> None:
    if ms <= 0 or ms > longest_ms:
        text = ctx.program.sources.get(path, "")[span.start : span.end] or format_duration(ms)
        ctx.report(path, span, m.bad_duration(what, text, longest_ms // DURATION_UNITS["d"]))


def _check_keys(ctx: Context, ec: ExprChecker, keys: list[n.Expr], scope: Scope) -> bool:
    """Type the keys (RD302 for a bad key type); True when some key may be missing."""
    optional = False
    for key in keys:
        t, _v = ec.check(key, scope)
        if t.name not in KEY_TYPES:
            ctx.report(scope.path, key.span, m.bad_key(t))
        optional = optional or t.optional
    return optional


def _condition(ctx: Context, ec: ExprChecker, expr: n.Expr, scope: Scope, what: str) -> tuple[Type, Any]:
    """Type a condition and require bool (RD203); returns (type, constant value)."""
    t, v = ec.check(expr, scope)
    if t.name not in ("bool", "any"):
        ctx.report(scope.path, expr.span, m.not_bool(what, t))
    return t, v


def _find_span(source: str, word: str, start: int) -> Optional[n.Span]:
    """The span of the first ``word`` at or after ``start`` in ``source``."""
    pos = source.find(word, start)
    if pos < 0:
        return None
    line = source.count("\n", 0, pos) + 1
    col = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return n.Span(pos, pos + len(word), line, col, line, col + len(word))


def _check_windows(ctx: Context, ec: ExprChecker) -> None:
    for name, w, primary in ctx.decls["window"]:
        path = ctx.path_of(w)
        events = ctx.events_of[id(w)]
        lenient = bool(w.events) and len(events) < len({e.name for e in w.events})
        scope = Scope(path, events, "window", _FEED_KINDS, owner=f"window `{name}`", lenient=lenient)
        agg = w.agg.name
        arg_t: Optional[Type] = None
        valid = True
        if w.arg is not None:
            arg_t, _v = ec.check(w.arg, scope)
        if agg not in AGG_ARITY:
            ctx.report(path, w.agg.span, m.unknown_aggregate(agg, suggest(agg, AGG_ARITY)))
            valid = False
        elif AGG_ARITY[agg] == 0 and w.arg is not None:
            ctx.report(path, w.arg.span, m.aggregate_arity(agg, 0))
            valid = False
        elif AGG_ARITY[agg] == 1 and w.arg is None:
            ctx.report(path, w.agg.span, m.aggregate_arity(agg, 1))
            valid = False
        elif w.arg is not None and arg_t is not None and not aggregate_accepts(agg, arg_t):
            ctx.report(path, w.arg.span, m.bad_aggregate_arg(agg, arg_t, AGG_ARG_WORDS[agg]))
            valid = False
        if w.where is not None:
            _condition(ctx, ec, w.where, scope, "a `where` condition")
        key_optional = _check_keys(ctx, ec, w.by, scope)
        longest = MAX_SINCE_SPAN_MS if agg == "since" else MAX_SPAN_MS
        _check_span(ctx, path, w.over_span, w.over_ms, "window span", longest)
        if w.exclude_current and agg in ("last", "since"):
            span = _find_span(ctx.program.sources.get(path, ""), "excluding", w.over_span.end) or w.name.span
            ctx.report(path, span, m.useless_excluding(agg))
        t = aggregate_result(agg, arg_t) if valid else ANY
        if primary:
            ctx.sym.value_types[name] = with_optional(t, True) if key_optional and t.name != "any" else t


def _check_sequences(ctx: Context, ec: ExprChecker) -> None:
    for name, s, primary in ctx.decls["sequence"]:
        path = ctx.path_of(s)
        events = ctx.events_of[id(s)]
        lenient = len(events) < len({st.event.name for st in s.steps})
        if len(s.steps) < 2:
            ctx.report(path, s.name.span, m.short_sequence(name, len(s.steps)))
        _check_span(ctx, path, s.within_span, s.within_ms, "sequence span")
        owner = f"sequence `{name}`"
        _check_keys(ctx, ec, s.by, Scope(path, events, "sequence", _FEED_KINDS, owner=owner, lenient=lenient))
        for step in s.steps:
            if step.where is None:
                continue
            known = step.event.name in ctx.sym.events
            scope = Scope(
                path, (step.event.name,) if known else (), "step", _FEED_KINDS, owner=owner, lenient=not known
            )
            _condition(ctx, ec, step.where, scope, "a `where` condition")
        if primary:
            ctx.sym.value_types[name] = BOOL


# ---------------------------------------------------------------- scorecards


def _duplicate_clauses(ctx: Context, path: str, owner: str, clauses: list[n.Clause], once: tuple[str, ...]) -> None:
    first: dict[str, int] = {}
    for clause in clauses:
        if clause.keyword not in once:
            continue
        if clause.keyword in first:
            ctx.report(path, clause.span, m.duplicate_clause(clause.keyword, owner, first[clause.keyword]))
        else:
            first[clause.keyword] = clause.span.line


def _scaled(t: Type, v: Any) -> Optional[int]:
    if v is NOTCONST or t.name not in ("int", "decimal"):
        return None
    return convert_value(v, t.name, "decimal")


def _check_scorecards(ctx: Context, ec: ExprChecker) -> None:
    for name, sc, primary in ctx.decls["scorecard"]:
        path = ctx.path_of(sc)
        _duplicate_clauses(ctx, path, name, sc.clauses, ("on",))
        if sc.events is None:
            ctx.report(path, sc.name.span, m.scorecard_no_on(name))
        if not sc.items:
            ctx.report(path, sc.name.span, m.scorecard_no_items(name))
        score_scope = Scope(path, const="a score")
        item_types: list[str] = []
        for item in sc.items:
            t, _v = ec.check(item.score, score_scope)
            if t.name not in ("int", "decimal", "any"):
                ctx.report(path, item.score.span, m.score_not_number("a score", t))
            item_types.append(t.name)
        if primary:
            ctx.sym.value_types[name] = scalar(scorecard_score_type(item_types))
        events = ctx.events_of[id(sc)]
        # without `on` (reported) or with an unknown event type, do not pile up field errors
        lenient = sc.events is None or len(events) < len({e.name for e in sc.events})
        scope = Scope(path, events, "scorecard", _SCORE_KINDS, owner=f"scorecard `{name}`", lenient=lenient)
        for item in sc.items:
            _condition(ctx, ec, item.when, scope, "an item condition")
        _check_levels(ctx, ec, sc, path)


def _check_levels(ctx: Context, ec: ExprChecker, sc: n.ScorecardDecl, path: str) -> None:
    seen: dict[str, int] = {}
    prev: Optional[tuple[str, int, Optional[int]]] = None  # name, rank, scaled threshold
    scope = Scope(path, const="a level threshold")
    for level in sc.levels:
        t, v = ec.check(level.threshold, scope)
        if t.name not in ("int", "decimal", "any"):
            ctx.report(path, level.threshold.span, m.score_not_number("a level threshold", t))
        lname = level.name.name
        if level.op != ">=":
            ctx.report(path, level.span, m.level_op(level.op))
        if lname not in n.LEVELS:
            ctx.report(path, level.name.span, m.unknown_level(lname, suggest(lname, n.LEVELS)))
            continue
        if lname in seen:
            ctx.report(path, level.name.span, m.duplicate_level(lname, sc.name.name, seen[lname]))
            continue
        seen[lname] = level.span.line
        rank = n.LEVELS.index(lname)
        value = _scaled(t, v)
        if prev is not None:
            if rank < prev[1]:
                ctx.report(path, level.name.span, m.level_out_of_order(lname, prev[0]))
            elif value is not None and prev[2] is not None and value >= prev[2]:
                ctx.report(path, level.threshold.span, m.threshold_not_decreasing(lname, prev[0]))
        prev = (lname, rank, value)


# ---------------------------------------------------------------- rules


_RULE_ONCE = ("reason", "code", "on", "when", "action", "priority", "tags", "shadow")  # `control` repeats


_Candidate = tuple[n.RuleDecl, frozenset[str], int]
"""A rule that may repeat another (RD404): the rule, its event types, its action's rank in ``ACTIONS``."""


def _check_rules(ctx: Context, ec: ExprChecker) -> dict[tuple[Any, ...], list[_Candidate]]:
    """Check every rule; return RD404 candidates: condition structure -> rules."""
    groups: dict[tuple[Any, ...], list[_Candidate]] = {}
    # rules on the same event types share a scope (and its name memo)
    scopes: dict[tuple[str, tuple[str, ...], bool], Scope] = {}
    for name, rule, _primary in ctx.decls["rule"]:  # duplicates too: RD404 may concern them
        path = ctx.path_of(rule)
        _duplicate_clauses(ctx, path, name, rule.clauses, _RULE_ONCE)
        for keyword in ("when", "action", "reason"):
            if getattr(rule, keyword) is None:
                ctx.report(path, rule.name.span, m.missing_clause(name, keyword))
        action = rule.action.name if rule.action is not None else None
        action_ok = action in n.ACTIONS
        if rule.action is not None and not action_ok:
            ctx.report(path, rule.action.span, m.unknown_action(rule.action.name, suggest(rule.action.name, n.ACTIONS)))
        if rule.when is None:
            continue
        events = ctx.events_of[id(rule)]
        lenient = bool(rule.events) and len(events) < len({e.name for e in rule.events or ()})
        scope_key = (path, tuple(events), lenient)
        scope = scopes.get(scope_key)
        if scope is None:
            scope = scopes[scope_key] = Scope(path, events, "rule", VALUE_KINDS, lenient=lenient)
        check_controls(ctx, ec, rule, path, events, lenient)  # check/controls.py
        t, v = _condition(ctx, ec, rule.when, scope, "the condition of a rule")
        if t.name != "bool":
            continue
        if v is False:
            ctx.report(path, rule.when.span, m.never_fires(name))
        elif v is True:
            ctx.report(path, rule.when.span, m.always_true(name))
        if action is not None and action_ok and not rule.shadow:
            key = structure_key(ec.last_order)
            groups.setdefault(key, []).append((rule, frozenset(events), n.ACTIONS.index(action)))
    return groups


def _check_redundant(ctx: Context, groups: dict[tuple[Any, ...], list[_Candidate]]) -> None:
    """RD404: a rule whose condition repeats a rule at least as strong on at least its events.

    Linear in the number of rules: rules with one condition are grouped by
    their event set, and only the strongest (then earliest) rule of each
    set is compared with the other sets of that condition.
    """
    for members in groups.values():
        if len(members) < 2:
            continue
        best: dict[frozenset[str], _Candidate] = {}
        for member in members:  # declaration order: the first of equal strength wins
            current = best.get(member[1])
            if current is None or member[2] < current[2]:
                best[member[1]] = member
        for rule, events, strength in members:
            cover: Optional[_Candidate] = best[events]
            if best[events][0] is rule:
                cover = next((b for evs, b in best.items() if evs > events and b[2] <= strength), None)
            if cover is not None:
                other, _events, rank = cover
                ctx.report(
                    ctx.path_of(rule),
                    rule.name.span,
                    m.redundant_rule(
                        rule.name.name, other.name.name, n.ACTIONS[rank], ctx.path_of(other), other.name.span.line
                    ),
                )


# ---------------------------------------------------------------- whole program


def _check_unused(ctx: Context) -> None:
    entry = set(ctx.program.entry_paths)
    sym = ctx.sym
    for kind, table in (
        ("constant", sym.consts),
        ("parameter", sym.params),
        ("list", sym.lists),
        ("window", sym.windows),
        ("sequence", sym.sequences),
    ):
        for name, decl in table.items():
            if name not in ctx.used and ctx.path_of(decl) in entry:
                ctx.report(ctx.path_of(decl), decl.name.span, m.unused(kind, name))


def _check_hold_timeout(ctx: Context) -> None:
    header = ctx.sym.header
    if header is None or header.hold_timeout_ms is None or header.hold_timeout_ms > 0:
        return
    span = next(
        (s for k, s in zip(header.item_names, header.item_spans, strict=False) if k == "hold_timeout_ms"), header.span
    )
    ctx.report(ctx.path_of(header), span, m.hold_timeout_not_positive(format_duration(header.hold_timeout_ms)))


def _check_lateness(ctx: Context) -> None:
    header = ctx.sym.header
    if header is None or not header.lateness_ms or not ctx.sym.windows:
        return
    spans = [w for w in ctx.sym.windows.values() if w.over_ms > 0]
    if not spans:
        return
    shortest = min(spans, key=lambda w: w.over_ms)
    if header.lateness_ms <= shortest.over_ms:
        return
    span = next(
        (s for k, s in zip(header.item_names, header.item_spans, strict=False) if k == "lateness_ms"), header.span
    )
    ctx.report(
        ctx.path_of(header),
        span,
        m.lateness_too_long(format_duration(header.lateness_ms), shortest.name.name, format_duration(shortest.over_ms)),
    )
