"""A plan -> the generated module's text, one function per event type.

Text only: what to compute was decided in ``plan.py``.  The text is meant to
be read by rule authors (``ruledsl compile --show``): DSL names
(``w_card_txn_10m``, ``f_amount``, ``p_large_amount``), a comment heading
each window, sequence, scorecard and rule with its file and line, and every
line mapped back to the DSL declaration it comes from (``linemap.py``), so a
traceback or a profile inside generated code points at the ruleset.

Shared structure is written, not hidden: a window (sequence) with the same
definition as another is that one's value (``w_b = w_a`` under a comment
saying so; one kernel call), and rules sharing tests are written as the
tree ``ruletree.py`` builds (an ``if`` per shared test, a dict lookup per
field compared with many values), each rule still under its own comment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from ruledsl.check.checker import CheckResult
from ruledsl.compile.controlcode import control_appends, event_has_controls
from ruledsl.compile.exemptkeys import exempt_key_fields
from ruledsl.compile.exprs import ConstantTable, ExprEmitter
from ruledsl.compile.holdkeys import held_key_fields
from ruledsl.compile.linemap import LineMap, Location
from ruledsl.compile.plan import (
    Compiled,
    Constants,
    EventCode,
    EventPlan,
    FieldSpec,
    Names,
    SequenceUse,
    plan_event,
    ruleset_tables,
    score_type,
    window_type,
)
from ruledsl.compile.ruletree import Branch, Dispatch, Leaf, Node, RuleTree
from ruledsl.compile.sweepcode import split_rules, write_loop
from ruledsl.kernels.values import DECIMAL_LIMIT, SCALE, TS_MAX, TS_MIN
from ruledsl.syntax import nodes as n
from ruledsl.syntax.durations import format_duration
from ruledsl.syntax.formatter import format_expr

_FIELD_CHECK = {
    # type -> the fast test that the raw value is NOT already right and in range, the slow converter
    # (which raises the EventError).  Literal bounds: a constant load is cheaper than a global.
    "string": ("type({v}) is not str", "_cv_str"),
    "int": ("type({v}) is not int or not -9223372036854775808 <= {v} <= 9223372036854775807", "_cv_int"),
    "duration": ("type({v}) is not int or not -9223372036854775808 <= {v} <= 9223372036854775807", "_cv_int"),
    "float": ("type({v}) is not float or not -1.7976931348623157e308 <= {v} <= 1.7976931348623157e308", "_cv_float"),
    "bool": ("type({v}) is not bool", "_cv_bool"),
    "timestamp": (f"type({{v}}) is not int or not {TS_MIN} <= {{v}} < {TS_MAX}", "_cv_ts"),
}
_DECIMAL_INT_LIMIT = DECIMAL_LIMIT  # an int sent for a decimal field is scaled on the fast path when below this


def comment_text(text: str) -> str:
    """DSL text made safe for a one-line comment: no character may end the line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class Writer:
    """Lines of generated code, each with the DSL location it comes from."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.locations: list[Optional[Location]] = []
        self.location: Optional[Location] = None

    def __call__(self, indent: int, line: str) -> None:
        """Append one line at ``indent`` levels, mapped to the current location."""
        self.lines.append("    " * indent + line if line else "")
        self.locations.append(self.location)

    def comment(self, indent: int, text: str) -> None:
        """Append a comment line (DSL text made safe)."""
        self(indent, "# " + comment_text(text))

    @contextmanager
    def at(self, location: Optional[Location]) -> Iterator[None]:
        """Map the lines written inside the block to ``location``."""
        saved = self.location
        self.location = location
        try:
            yield
        finally:
            self.location = saved

    def extend(self, other: Writer) -> None:
        """Append another writer's lines with their locations."""
        self.lines.extend(other.lines)
        self.locations.extend(other.locations)


class _Module:
    """Shared state while writing one module."""

    def __init__(self, result: CheckResult, names: Names, consts: Constants, out: Compiled, sweep: Any = None):
        self.sweep = sweep  # the swept parameter's name (compile/sweepcode.py), or None
        self.result = result
        self.sym = result.symbols
        self.names = names
        self.consts = consts
        self.out = out
        self.table = ConstantTable()
        self.regexes: list[str] = []

    def where(self, decl: Any, label: str) -> Location:
        """The location of a declaration, labelled for tracebacks (``rule rapid_card_use``)."""
        path = self.sym.decl_paths.get(id(decl), "")
        return Location(path, decl.span.line, label)

    def where_expr(self, decl: Any, expr: Optional[n.Expr], label: str) -> Location:
        """The location of an expression inside a declaration (its own line, the declaration's file)."""
        path = self.sym.decl_paths.get(id(decl), "")
        line = expr.span.line if expr is not None and expr.span.line > 0 else decl.span.line
        return Location(path, line, label)

    def at_text(self, decl: Any) -> str:
        """``file:line`` of a declaration, for comments."""
        path = self.sym.decl_paths.get(id(decl), "")
        return f"{path}:{decl.span.line}" if path else f"line {decl.span.line}"


def compile_module(
    result: CheckResult, *, batched: bool = False, filename: Optional[str] = None, sweep: Optional[str] = None
) -> Compiled:
    """Generate the evaluator module for a checked ruleset (``result.ok`` must be true).

    ``batched`` generates code for an external state store: each event's
    window and sequence operations go to the store in one call (``_run``).
    ``sweep`` names a parameter: the variant of ``compile/sweepcode.py`` (not for ``batched``).
    """
    if not result.ok:
        raise ValueError("cannot compile a ruleset with errors")
    names = Names(result.symbols)
    consts = Constants(result)
    out = ruleset_tables(result, names, consts, batched=batched)
    mod = _Module(result, names, consts, out, sweep)
    w = Writer()
    header = result.symbols.header
    title = header.name.name if header is not None else "ruleset"
    w(0, f"# ruledsl generated code for ruleset {comment_text(title)}{' (external store)' if batched else ''}")
    w(0, "# one function per event type; see docs/ARCHITECTURE.md for the names it uses")
    w(0, "")
    for event in result.symbols.events:
        _emit_event(mod, w, plan_event(result, names, event))
    out.source = "\n".join(w.lines) + "\n"
    out.regexes = mod.regexes
    out.regex_names = [f"RX{i}" for i in range(len(mod.regexes))]
    out.constants = mod.table.values
    out.filename = filename or f"<ruledsl {comment_text(title)}{' batched' if batched else ''}>"
    out.linemap = LineMap(out.filename, w.locations)
    return out


def _describe_window(decl: n.WindowDecl, result_type: str) -> str:
    arg = format_expr(decl.arg) if decl.arg is not None else ""
    events = ", ".join(e.name for e in decl.events) or "any event"
    text = f"{decl.agg.name}({arg}) of {events}"
    if decl.where is not None:
        text += f" where {format_expr(decl.where)}"
    text += f" by {', '.join(format_expr(k) for k in decl.by)} over {format_duration(decl.over_ms)}"
    if decl.exclude_current:
        text += " excluding current"
    return f"{text} -> {result_type}"


def _emit_event(mod: _Module, emit: Writer, ep: EventPlan) -> None:
    result, names, sym = mod.result, mod.names, mod.sym
    event = ep.event
    gen = ExprEmitter(result, names, mod.consts, mod.table, mod.regexes, event)
    gen.scored_here = set(ep.scorecards)
    body = Writer()  # everything after field decoding, written first to learn what it uses
    batched = mod.out.batched

    # rule and scorecard conditions first: the windows they read are known from the plan;
    # rules as a tree of shared conditions (ruletree.py), their code in the order it is written
    fixed, swept = split_rules(result, ep.rules, mod.sweep)  # swept: the rules reading a swept parameter
    tree = RuleTree(result, mod.consts).build(fixed)
    swept_tree = RuleTree(result, mod.consts).build(swept)
    codes: dict[int, str] = {}
    _rule_codes(gen, tree, codes)
    _rule_codes(gen, swept_tree, codes)
    card_codes = []
    for cname in ep.scorecards:
        d = sym.scorecards[cname]
        st = score_type(result, d)
        items = [(gen.test(it.when), mod.consts.converted(it.score, st), it) for it in d.items]
        levels = [(lv.name.name, mod.consts.converted(lv.threshold, st)) for lv in d.levels]
        card_codes.append((cname, d, st, items, levels))

    batch_ops: list[str] = []
    batch_reads: list[tuple[Any, int, bool]] = []  # (use, op index, read)
    batch_seq_reads: list[tuple[Any, int]] = []
    direct_adds: list[tuple[Any, str]] = []  # (use, kernel) of windows fed by add() at commit (not query_add)
    seq_adds: list[tuple[Any, str]] = []

    # ---- windows; one with the same state identity as another of this event is that one's value
    state = mod.out.window_state
    leaders: dict[int, Any] = {}  # shared state index -> the first use of it in this event
    group_read: dict[int, bool] = {}
    for use in ep.windows:
        leaders.setdefault(state[use.index], use)
        group_read[state[use.index]] = group_read.get(state[use.index], False) or use.read
    aliases: list[tuple[Any, Any]] = []  # (use, leader): values copied once the leader's is known
    for use in ep.windows:
        decl = use.decl
        shared = state[use.index]
        leader = leaders[shared]
        spec = mod.out.windows[shared]
        w_, k_, a_, v_, d_ = (names.window(use.name, x) for x in ("w", "k", "a", "v", "d"))
        kernel = names.window(spec.name, "W")
        with body.at(mod.where(decl, f"window {use.name}")):
            body(1, "")
            body.comment(
                1, f"window {use.name} ({mod.at_text(decl)}): {_describe_window(decl, window_type(result, decl))}"
            )
            if not use.keyed:
                body.comment(1, f"event {event} lacks a key field: the window reads as missing")
                body(1, f"{w_} = None")
                continue
            if leader is not use:
                body.comment(
                    1, f"the same definition as window {leader.name}: one state, computed once, as {leader.name}"
                )
                if use.read and not batched:
                    body(1, f"{w_} = {names.window(leader.name)}")
                elif use.read:
                    aliases.append((use, leader))
                continue
            read = group_read[shared]
            if shared != use.index:
                body.comment(1, f"the same definition as window {spec.name}: its state")
            key_parts = [gen.expr(k) for k in decl.by]
            if len(key_parts) == 1:
                key_code, key_null = key_parts[0]
            else:
                key_code = "(" + ", ".join(c for c, _ in key_parts) + ",)"
                key_null = any(nl for _, nl in key_parts)
                if key_null:
                    key_code = gen.guard(key_parts, lambda *xs: "(" + ", ".join(xs) + ",)")[0]
            body(1, f"{k_} = {key_code}")
            if use.fed:
                cond = gen.test(decl.where) if decl.where is not None else "True"
                if decl.arg is not None and decl.agg.name not in ("count", "since"):
                    arg_code, arg_null = gen.expr(decl.arg)
                    hashed = decl.agg.name == "distinct" and gen.ty(decl.arg) in ("string", "enum")
                    if _may_leave_64_bits(result, decl.arg):
                        # a computed number outside 64 bits is missing (decoded fields never are)
                        arg_code, arg_null = f"_a64({arg_code})", True
                    if arg_null:  # a missing value feeds nothing (tested before it is hashed)
                        held = v_ if hashed else a_
                        body(1, f"{held} = {arg_code}")
                        if cond != f"({arg_code} is not None)":  # else `where present(x)` tested it
                            cond = f"{cond} and {held} is not None" if cond != "True" else f"{held} is not None"
                        arg_code = held
                    if hashed:
                        arg_code = f"(None if {v_} is None else _hash({v_}))" if arg_null else f"_hash({arg_code})"
                    if arg_code != a_:
                        body(1, f"{a_} = {arg_code}")
                else:
                    body(1, f"{a_} = 0")
                terms = ["not late"]
                if cond != "True":
                    terms.append(cond)
                if key_null:
                    terms.append(f"{k_} is not None")
                body(1, f"{d_} = {' and '.join(terms)}")
            if batched:
                # one store round trip per event: queue the op, read its result after the loop
                inc = "False" if spec.exclude_current else "True"
                if use.fed:
                    op = f'("w", {shared}, {k_}, ts, {a_} if {d_} else 0, {d_} and {inc}, commit and {d_})'
                else:
                    op = f'("w", {shared}, {k_}, ts, 0, False, False)'
                batch_reads.append((use, len(batch_ops), read))
                batch_ops.append(op)
                continue
            if not read:
                direct_adds.append((use, kernel))
                continue
            wrap = _avg_wrapper(result, decl, spec.is_float)
            quiet = wrap(f"{kernel}.query({k_}, ts, 0, False)")
            if use.fed:
                # reading and feeding in one kernel call when the event is committed
                inc = "False" if spec.exclude_current else "True"
                fused = wrap(f"{kernel}.query_add({k_}, ts, {a_}, {inc})")
                peek = wrap(f"{kernel}.query({k_}, ts, {a_}, {inc})")
                query = f"(({fused} if commit else {peek}) if {d_} else {quiet})"
            else:
                query = quiet
            missing = f"late or {k_} is None" if key_null else "late"
            body(1, f"{w_} = None if {missing} else {query}")

    # ---- sequences
    seq_state = mod.out.sequence_state
    seq_leaders: dict[int, Any] = {}
    for suse in ep.sequences:
        seq_leaders.setdefault(seq_state[suse.index], suse)
    for suse in ep.sequences:
        sdecl = suse.decl
        s_, sk_, m_ = (names.sequence(suse.name, x) for x in ("s", "sk", "m"))
        shared = seq_state[suse.index]
        sleader = seq_leaders[shared]
        kernel = names.sequence(mod.out.sequences[shared].name, "S")
        with body.at(mod.where(sdecl, f"sequence {suse.name}")):
            body(1, "")
            steps = " then ".join(st.event.name for st in sdecl.steps)
            body.comment(
                1, f"sequence {suse.name} ({mod.at_text(sdecl)}): {steps} within {format_duration(sdecl.within_ms)}"
            )
            if not suse.keyed:
                body(1, f"{s_} = False")
                continue
            if sleader is not suse:
                body.comment(
                    1, f"the same definition as sequence {sleader.name}: one state, computed once, as {sleader.name}"
                )
                if batched:
                    aliases.append((suse, sleader))
                else:
                    body(1, f"{s_} = {names.sequence(sleader.name)}")
                continue
            if shared != suse.index:
                body.comment(1, f"the same definition as sequence {mod.out.sequences[shared].name}: its state")
            key_parts = [gen.expr(k) for k in sdecl.by]
            key_code = (
                key_parts[0][0]
                if len(key_parts) == 1
                else gen.guard(key_parts, lambda *xs: "(" + ", ".join(xs) + ",)")[0]
            )
            key_null = any(nl for _, nl in key_parts)
            body(1, f"{sk_} = {key_code}")
            bits = []
            for bit, where in suse.step_bits:
                bits.append(str(bit) if where is None else f"({bit} if {gen.test(where)} else 0)")
            body(1, f"{m_} = {' | '.join(bits) if bits else '0'}")
            if batched:
                batch_seq_reads.append((suse, len(batch_ops)))
                batch_ops.append(f'("s", {shared}, {sk_}, ts, {m_}, commit and not late and {m_} != 0)')
                continue
            if suse.fed:
                seq_adds.append((suse, kernel))
            missing = f"not late and {sk_} is not None" if key_null else "not late"
            body(1, f"{s_} = {missing} and {kernel}.query({sk_}, ts, {m_})")

    if batched:
        with body.at(None):
            body(1, "")
            body.comment(1, "one round trip to the store; a late event reads no state and costs none")
            body(1, "R = None if late else _run([" + ", ".join(batch_ops) + "])")
            for use, j, read in batch_reads:
                if not read:
                    continue
                wrap = _avg_wrapper(result, use.decl, mod.out.windows[use.index].is_float)
                body(1, f"{names.window(use.name)} = None if late else {wrap(f'R[{j}]')}")
            for suse, j in batch_seq_reads:
                body(1, f"{names.sequence(suse.name)} = not late and R[{j}]")
            for use, leader in aliases:  # windows and sequences with the same state as an earlier one
                if isinstance(use, SequenceUse):
                    body(1, f"{names.sequence(use.name)} = {names.sequence(leader.name)}")
                else:
                    body(1, f"{names.window(use.name)} = {names.window(leader.name)}")
        direct_adds, seq_adds = [], []  # the store adds entries itself

    # ---- scorecards
    for cname in ep.missing_scorecards:
        body(1, f"{names.scorecard(cname)} = None  # scorecard {comment_text(cname)} is not scored on {event}")
        body(1, f"{names.scorecard(cname, 'lv')} = None")
    for cname, d, _st, items, levels in card_codes:
        sc, lv = names.scorecard(cname), names.scorecard(cname, "lv")
        with body.at(mod.where(d, f"scorecard {cname}")):
            body(1, "")
            body.comment(1, f"scorecard {cname} ({mod.at_text(d)})")
            terms = []
            for cond, value, _it in items:
                terms.append(f"({value!r} if {cond} else 0)")
            body(1, f"{sc} = " + (" + ".join(terms) if terms else "0"))
            chain = "'minimal'"
            for lname, threshold in reversed(levels):
                chain = f"({lname!r} if {sc} >= {threshold!r} else {chain})"
            body(1, f"{lv} = {chain}")

    # ---- rules
    body(1, "")
    body(1, "hits = None")
    ctl = ", ctl=ctl" if event_has_controls(sym, event) else ""  # compile/controlcode.py
    if ctl:
        body(1, "ctl = []  # (rule index, key, clause) of the controls of the rules that fire")
    _write_top(mod, gen, body, event, tree, codes, None)
    if mod.sweep is not None:
        write_loop(
            body,
            names.param(mod.sweep),
            bool(ctl),
            Writer,
            lambda w: _write_top(mod, gen, w, event, swept_tree, codes, None),
            lambda w: _exemptions(w, names, event, exempt_key_fields(sym, event), True),
        )

    # ---- commit: feed the windows not fed by query_add, move the clock
    body(1, "")
    body(1, "if commit:")
    body(2, "if late:")
    body(3, "CLK[3] += 1")
    body(2, "else:")
    for use, kernel in direct_adds:
        d_ = names.window(use.name, "d")
        body(3, f"if {d_}:")
        body(4, f"{kernel}.add({names.window(use.name, 'k')}, ts, {names.window(use.name, 'a')})")
    for suse, kernel in seq_adds:
        m_, sk_ = names.sequence(suse.name, "m"), names.sequence(suse.name, "sk")
        body(3, f"if {m_} and {sk_} is not None:")
        body(4, f"{kernel}.add({sk_}, ts, {m_})")
    body(3, "if ts > CLK[0]:")
    body(4, "CLK[0] = ts")
    body(4, "CLK[1] = ts - LATENESS")
    body(3, "CLK[2] += 1")
    body(3, "if not CLK[2] % ADVANCE_EVERY: _advance()")
    scores = ", ".join(
        f"_SR(name={cname!r}, score="
        + (f"_D({names.scorecard(cname)})" if st == "decimal" else names.scorecard(cname))
        + f", level={names.scorecard(cname, 'lv')})"
        for cname, _d, st, _i, _l in card_codes
    )
    # a hold decision holds these fields' values (ruledsl/compile/holdkeys.py)
    held = "(" + "".join(names.field(event, f) + ", " for f in held_key_fields(sym, result.refs, event)) + ")"
    write_exm = (batched or bool(card_codes)) and mod.sweep is None
    exm = _exemptions(body, names, event, exempt_key_fields(sym, event), write_exm)
    if mod.sweep is not None:
        body(1, f"return _sweep({event!r}, SWH, [{scores}], late, ts, commit, {held})")
    elif batched:
        body(1, f"dec = _decide({event!r}, hits, [{scores}], late, ts, commit, {held}{exm}{ctl})")
        body(1, "if DEG[0]:")
        body(2, "DEG[0] = False")
        body(2, "return _degraded(dec)")
        body(1, "return dec")
    else:
        if not card_codes:
            body(1, f"if hits is None and not late: return PASS[{event!r}]")
            _exemptions(body, names, event, exempt_key_fields(sym, event), True)
        body(1, f"return _decide({event!r}, hits, [{scores}], late, ts, commit, {held}{exm}{ctl})")

    # ---- the function head: decode the fields (every one is validated), then per-event values
    edecl = sym.events[event]
    where_event = mod.where(edecl, f"event {event}")
    decode, prologue = Writer(), Writer()
    guard = f"if ts > FUT[0]: _future({event!r}, ts)  # the clock guard: see docs/semantics.md"
    with decode.at(where_event):
        decode.comment(1, f"event {event} ({mod.at_text(edecl)}): decode and validate every field")
        decode(1, "ts = ev.get('ts')")
        decode(1, f"if {_FIELD_CHECK['timestamp'][0].format(v='ts')}: ts = _cv_ts({event!r}, 'ts', ts)")
        decode(1, guard)
        args = ["ts"]
        for fname, ftype in ep.fields.items():
            if fname == "ts":
                continue
            var = names.field(event, fname)
            args.append(var)
            decode(1, f"{var} = ev.get({fname!r})")
            check = _field_check(mod, event, fname, ftype, var)
            if ftype.optional:
                decode(1, f"if {var} is not None:")
                decode(2, check)
            else:
                decode(1, check)
    with prologue.at(where_event):
        prologue(1, "late = ts < CLK[1]")
        if gen.uses_local_time:
            prologue(1, "lt = _local(ts)")
        for p in sorted(gen.used_params, key=names.params.index):
            prologue(1, f"{names.param(p)} = P[{names.params.index(p)}]")
        for lname in sorted(gen.used_lists, key=names.lists.index):
            prologue(1, f"{names.list(lname)} = LS[{names.lists.index(lname)}]")
    rest = Writer()
    rest.extend(prologue)
    rest.extend(body)
    with emit.at(where_event):
        emit(0, f"def {ep.function}(ev, commit):")
    emit.extend(decode)
    emit.extend(rest)
    emit(0, "")
    emit(0, "")
    guard_w = Writer()
    with guard_w.at(where_event):
        guard_w(1, guard)
    mod.out.event_code.append(
        EventCode(
            event=event,
            function=ep.function,
            args=args,
            fields=[
                FieldSpec(fname, ftype.name, bool(ftype.optional), tuple(ftype.enum_values or ()))
                for fname, ftype in ep.fields.items()
            ],
            decode=decode,
            guard=guard_w,
            rest=rest,
            location=where_event,
        )
    )


def _exemptions(body: Writer, names: Names, event: str, fields: list[str], write: bool) -> str:
    """Filter ``hits`` by the exemptions granted (``write``); the ``_decide`` argument passing those applied.

    Only for an event type with ``exempt by`` fields (else nothing, and the code is as without
    exemptions); ``EXM[0]`` is false while no exemption is granted: one test per event with hits.
    """
    if not fields:
        return ""
    if write:
        keys = "(" + "".join(names.field(event, f) + ", " for f in fields) + ")"
        body(1, "exm = None  # the exemptions that applied (docs/semantics.md, Exemptions)")
        body(1, "if EXM[0] and hits is not None:")
        body(2, f"hits, exm = _exempt({event!r}, hits, ts, {keys})")
    return ", exm=exm"


def _rule_codes(gen: ExprEmitter, nodes: list[Node], codes: dict[int, str]) -> None:
    """The test code of every node of a rule tree, generated in the order the nodes are written."""
    for node in nodes:
        if isinstance(node, Leaf):
            if node.whole:
                codes[id(node)] = gen.test(node.decl.when)  # type: ignore[arg-type]  # rules with a condition
            else:
                codes[id(node)] = " and ".join(gen.test(c) for c in node.rest)
        elif isinstance(node, Branch):
            codes[id(node)] = gen.test(node.test)
            _rule_codes(gen, node.children, codes)
        else:
            codes[id(node)] = gen.expr(node.subject)[0]
            for case in node.cases:
                _rule_codes(gen, case, codes)


def _rule_list(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return f"{shown}, ... ({len(names)} rules)" if len(names) > 5 else shown


BLOCK_LINES = 300
"""The most lines one top-level statement of the rule tests may take: a larger shared test or
lookup is written as several top-level statements (its test or case number in a local), so
that the Cython evaluator can cut the tests into methods of bounded size (``chunks.py``)."""


def _size(node: Node) -> int:
    """The lines ``_write_rules`` writes for a node (kept in step with it)."""
    if isinstance(node, Leaf):
        return 4 if node.rest or node.whole else 3
    if isinstance(node, Branch):
        return 2 + sum(_size(c) for c in node.children)
    return 3 + _cases_size(node, 0, len(node.values))


def _cases_size(node: Dispatch, lo: int, hi: int) -> int:
    if hi - lo == 1:
        return 1 + sum(_size(c) for c in node.cases[lo])
    mid = (lo + hi) // 2
    return 2 + _cases_size(node, lo, mid) + _cases_size(node, mid, hi)


def _write_top(
    mod: _Module,
    gen: ExprEmitter,
    body: Writer,
    event: str,
    nodes: list[Node],
    codes: dict[int, str],
    guard: Optional[str],
) -> None:
    """Write a rule tree as top-level statements of at most ``BLOCK_LINES`` lines each (under ``guard``)."""
    block: list[Node] = []
    size = 0

    def flush() -> None:
        if block and guard is not None:
            body(1, f"if {guard}:")
        _write_rules(mod, gen, body, event, list(block), codes, 1 if guard is None else 2)
        block.clear()

    for node in nodes:
        n_lines = _size(node)
        if n_lines <= BLOCK_LINES or isinstance(node, Leaf):
            if size + n_lines > BLOCK_LINES:
                flush()
                size = 0
            block.append(node)
            size += n_lines
            continue
        flush()
        size = 0
        first = mod.sym.rules[node.rules[0]]
        if isinstance(node, Branch):
            var = gen.fresh()
            test = codes[id(node)] if guard is None else f"{guard} and {codes[id(node)]}"
            label = f"rule {node.rules[0]} (a test shared by {len(node.rules)})"
            with body.at(mod.where_expr(first, node.test, label)):
                body.comment(1, f"shared by rules {_rule_list(node.rules)}: {format_expr(node.test)} (in parts)")
                body(1, f"{var} = {test}")
            _write_top(mod, gen, body, event, node.children, codes, var)
            continue
        var = gen.fresh()
        table = mod.table.ref({v: i for i, v in enumerate(node.values)}, "cases")
        lookup = f"{table}.get({codes[id(node)]}, -1)"
        label = f"rule {node.rules[0]} (a lookup shared by {len(node.rules)})"
        with body.at(mod.where_expr(first, node.subject, label)):
            body.comment(
                1,
                f"{format_expr(node.subject)} == one of {len(node.values)} values, in rules "
                f"{_rule_list(node.rules)}: one lookup (-1: none), its cases in parts",
            )
            body(1, f"{var} = {lookup}" if guard is None else f"{var} = {lookup} if {guard} else -1")
            lo = 0
            while lo < len(node.values):  # the widest runs of cases that fit in a block
                hi = lo + 1
                while hi < len(node.values) and 3 + _cases_size(node, lo, hi + 1) <= BLOCK_LINES:
                    hi += 1
                if hi - lo == 1 and _cases_size(node, lo, hi) > BLOCK_LINES:
                    case = gen.fresh()
                    body.comment(1, f"{format_expr(node.subject)} == {node.values[lo]!r}")
                    body(1, f"{case} = {var} == {lo}")
                    _write_top(mod, gen, body, event, node.cases[lo], codes, case)
                else:
                    body(1, f"if {var} == {lo}:" if hi - lo == 1 else f"if {lo} <= {var} < {hi}:")
                    _write_cases(mod, gen, body, event, node, codes, var, lo, hi, 2)
                lo = hi
    flush()


def _write_rules(
    mod: _Module, gen: ExprEmitter, body: Writer, event: str, nodes: list[Node], codes: dict[int, str], indent: int
) -> None:
    """Write a rule tree: each rule's test and hit, under the tests and lookups its rules share."""
    result, sym = mod.result, mod.sym
    for node in nodes:
        if isinstance(node, Leaf):
            rd, test = node.decl, codes[id(node)]
            feats = []
            for kind, fname in _feature_names(result, rd.when):  # type: ignore[arg-type]  # rules with a condition
                if kind == "param":  # shown as a feature even where folding dropped it from the test
                    gen.used_params.add(fname)
                var, ftype = _feature_var(mod, event, kind, fname)
                feats.append(f"{fname!r}: " + (f"_D({var})" if ftype == "decimal" else var))
            with body.at(mod.where_expr(rd, rd.when, f"rule {node.name}")):
                body.comment(indent, f"rule {node.name} ({mod.at_text(rd)}) -> {rd.action.name if rd.action else '?'}")
                inner = indent
                if test:
                    body(indent, f"if {test}:")
                    inner += 1
                body(inner, "if hits is None: hits = []")
                body(inner, f"hits.append(({node.index}, {{{', '.join(feats)}}}))")
                for line in control_appends(gen, rd, node.index):
                    body(inner, line)
        elif isinstance(node, Branch):
            first = sym.rules[node.rules[0]]
            with body.at(
                mod.where_expr(first, node.test, f"rule {node.rules[0]} (a test shared by {len(node.rules)})")
            ):
                body.comment(indent, f"shared by rules {_rule_list(node.rules)}: {format_expr(node.test)}")
                body(indent, f"if {codes[id(node)]}:")
            _write_rules(mod, gen, body, event, node.children, codes, indent + 1)
        else:
            first = sym.rules[node.rules[0]]
            var = gen.fresh()
            table = mod.table.ref({v: i for i, v in enumerate(node.values)}, "cases")
            subject = format_expr(node.subject)
            label = f"rule {node.rules[0]} (a lookup shared by {len(node.rules)})"
            with body.at(mod.where_expr(first, node.subject, label)):
                body.comment(
                    indent,
                    f"{subject} == one of {len(node.values)} values, in rules {_rule_list(node.rules)}: one lookup",
                )
                body(indent, f"{var} = {table}.get({codes[id(node)]})")
                body(indent, f"if {var} is not None:")
                _write_cases(mod, gen, body, event, node, codes, var, 0, len(node.values), indent + 1)


def _write_cases(
    mod: _Module,
    gen: ExprEmitter,
    body: Writer,
    event: str,
    node: Dispatch,
    codes: dict[int, str],
    var: str,
    lo: int,
    hi: int,
    indent: int,
) -> None:
    # cases lo..hi-1 of a lookup, by halves: log2(cases) tests reach any one
    if hi - lo == 1:
        body.comment(indent, f"{format_expr(node.subject)} == {node.values[lo]!r}")
        _write_rules(mod, gen, body, event, node.cases[lo], codes, indent)
        return
    mid = (lo + hi) // 2
    body(indent, f"if {var} < {mid}:")
    _write_cases(mod, gen, body, event, node, codes, var, lo, mid, indent + 1)
    body(indent, "else:")
    _write_cases(mod, gen, body, event, node, codes, var, mid, hi, indent + 1)


def rows_module(compiled: Compiled) -> tuple[str, LineMap]:
    """The row functions of a compiled ruleset: ``row_<event>(ts, f_..., commit)`` for already decoded values.

    The columnar paths (``Engine.evaluate_arrow``) decode a whole column at
    once and call these per row; each is the event function after its
    decoding, with the same text and the same line map, so the two paths
    cannot drift apart.  Generated on first use: most engines never need it.
    """
    w = Writer()
    w(0, "# ruledsl generated row functions: the event functions after decoding (see rows_module)")
    w(0, "")
    for code in compiled.event_code:
        with w.at(code.location):
            w(0, f"def {row_function(code.function)}({', '.join(code.args)}, commit):")
        w.extend(code.guard)
        w.extend(code.rest)
        w(0, "")
        w(0, "")
    filename = compiled.filename[:-1] + " rows>" if compiled.filename.endswith(">") else compiled.filename + ".rows"
    return "\n".join(w.lines) + "\n", LineMap(filename, w.locations)


def row_function(function: str) -> str:
    """The row function's name for an event function's name (``ev_transfer`` -> ``row_transfer``)."""
    return "row" + function[2:]


def _may_leave_64_bits(result: CheckResult, arg: n.Expr) -> bool:
    """True for a window argument computed from arithmetic on 64-bit numbers (a plain field never leaves)."""
    if result.types[id(arg)].name not in ("int", "decimal", "timestamp", "duration"):
        return False
    if isinstance(arg, n.Name):
        return result.refs.get(id(arg), ("",))[0] != "field"
    return True


def _avg_wrapper(result: CheckResult, decl: n.WindowDecl, is_float: bool) -> Any:
    if decl.agg.name != "avg":
        return lambda q: q
    arg_t = result.types[id(decl.arg)].name
    helper = "_avg_f" if is_float else ("_avg_i" if arg_t == "int" else "_avg_d")
    return lambda q: f"{helper}({q})"


def _field_check(mod: _Module, event: str, fname: str, ftype: Any, var: str) -> str:
    if ftype.name == "enum":
        allowed = mod.table.ref(frozenset(ftype.enum_values), f"{event}_{fname}")
        return (
            f"if type({var}) is not str or {var} not in {allowed}: "
            f"{var} = _cv_enum({event!r}, {fname!r}, {var}, {tuple(ftype.enum_values)!r})"
        )
    if ftype.name == "decimal":
        lim = _DECIMAL_INT_LIMIT
        return (
            f"{var} = {var} * {SCALE} if type({var}) is int and -{lim} < {var} < {lim} "
            f"else _cv_dec({event!r}, {fname!r}, {var})"
        )
    fast, slow = _FIELD_CHECK[ftype.name]
    return f"if {fast.format(v=var)}: {var} = {slow}({event!r}, {fname!r}, {var})"


def _feature_names(result: CheckResult, expr: n.Expr) -> list[tuple[str, str]]:
    """(kind, name) of every field/window/sequence/param/scorecard named in ``expr``, first use first."""
    seen: dict[tuple[str, str], None] = {}
    for sub in n.walk(expr):
        if isinstance(sub, n.Name):
            ref = result.refs[id(sub)]
            if ref[0] in ("field", "window", "sequence", "param", "scorecard"):
                seen.setdefault(ref, None)
    return list(seen)


def _feature_var(mod: _Module, event: str, kind: str, name: str) -> tuple[str, str]:
    names, sym = mod.names, mod.sym
    if kind == "field":
        return names.field(event, name), sym.fields[event][name].name
    if kind == "param":
        return names.param(name), sym.params[name].type.name
    if kind == "window":
        return names.window(name), window_type(mod.result, sym.windows[name])
    if kind == "sequence":
        return names.sequence(name), "bool"
    return names.scorecard(name), score_type(mod.result, sym.scorecards[name])
