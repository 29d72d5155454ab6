"""Random valid rulesets over the fixed schema (``rulesets()``), with what a stream needs to know of them.

Windows and sequences are keyed by one or several fields (optional ones
too), constants mix ints and decimals, and every ruleset has a lateness
now and then, so that streams exercise out-of-order events.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from hypothesis import strategies as st

from strategies.exprs import ExprGen, Scope, Sym, const_decl
from strategies.schema import (
    CARDS,
    CITIES,
    CUSTOMERS,
    DEVICES,
    DURATIONS,
    LATENESS,
    PHONES,
    SCHEMA,
    SCHEMA_TEXT,
    TIMEZONES,
)

# ---------------------------------------------------------------- rulesets

EXEMPT_BY = (("customer_id",), ("customer_id", "card_no"), ("phone", "customer_id"), ("device", "card_no", "phone"))
"""``exempt by`` field lists drawn by ``rulesets(exempt=True)`` (optional fields and fields of one event type too)."""

EVENT_SETS = (("transfer",), ("transfer",), ("login",), ("transfer", "login"))


@dataclass
class Scenario:
    """A generated ruleset and a stream of operations to run through it."""

    source: str
    ops: list[tuple] = field(default_factory=list)  # ("event", dict) | ("param", name, value) | ("list", name, values)
    windows_ms: list[int] = field(default_factory=list)
    lateness_ms: int = 0
    timezone: Optional[str] = None
    params: dict[str, str] = field(default_factory=dict)  # name -> type
    lists: dict[str, str] = field(default_factory=dict)  # name -> element type
    exempt_by: tuple[str, ...] = ()  # the `exempt by` fields (``rulesets(exempt=True)``)
    rules: list[str] = field(default_factory=list)  # rule ids, in declaration order
    controls: bool = False  # rules set and test controls (``rulesets(controls=True)``)

    def __repr__(self) -> str:  # readable in hypothesis' falsifying example
        ops = "\n".join("    " + repr(op) for op in self.ops)
        return f"Scenario(source='''\n{self.source}''', ops=[\n{ops}\n])"


def _window(draw, i: int, scope: Scope) -> tuple[str, Sym, int]:
    name = f"w{i}"
    agg = draw(
        st.sampled_from(("count", "count", "sum", "sum", "avg", "min", "max", "distinct", "distinct", "last", "since"))
    )
    # which events, and the argument
    if agg in ("sum", "avg"):
        events = ("transfer",)
        arg, arg_t = draw(
            st.sampled_from(
                (("amount", "decimal"), ("amount", "decimal"), ("n", "int"), ("fee", "decimal"), ("score", "float"))
            )
        )
    elif agg in ("min", "max"):
        events = draw(st.sampled_from((("transfer",), ("transfer", "login"))))
        opts = (
            (("ts", "timestamp"),)
            if len(events) > 1
            else (("amount", "decimal"), ("n", "int"), ("ts", "timestamp"), ("score", "float"), ("fee", "decimal"))
        )
        arg, arg_t = draw(st.sampled_from(opts))
    elif agg == "distinct":
        events = draw(st.sampled_from((("transfer",), ("login",), ("transfer", "login"))))
        opts = [("customer_id", "string"), ("city", "city"), ("phone", "string")]
        if events == ("transfer",):
            opts += [
                ("card_no", "string"),
                ("n", "int"),
                ("amount", "decimal"),
                ("flag", "bool"),
                ("score", "float"),
                ("ts", "timestamp"),
                ("fee", "decimal"),
            ]
        if events == ("login",):
            opts += [("device", "string")]
        arg, arg_t = draw(st.sampled_from(opts))
    elif agg == "last":
        events = draw(st.sampled_from((("transfer",), ("login",), ("transfer", "login"), None)))
        opts = [("customer_id", "string")]
        if events is not None:
            opts += [("city", "city"), ("ts", "timestamp")]
        if events == ("transfer",):
            opts += [
                ("amount", "decimal"),
                ("flag", "bool"),
                ("n", "int"),
                ("score", "float"),
                ("fee", "decimal"),
                ("phone", "string"),
            ]
        if events == ("login",):
            opts += [("device", "string"), ("new_device", "bool")]
        arg, arg_t = draw(st.sampled_from(opts))
    else:  # count, since
        events = draw(st.sampled_from((("transfer",), ("login",), ("transfer", "login"), None)))
        arg, arg_t = None, None
    of = "any" if events is None else ", ".join(events)
    key_events = events or tuple(SCHEMA)
    # keys: fields all its event types have, never decimal/float
    # (optional fields in keys: an event without one feeds nothing and reads the window as missing)
    keys_opts = [("customer_id",), ("customer_id", "city"), ("phone",), ("customer_id", "phone"), ("city", "phone")]
    if "reset" in key_events:
        keys_opts = [("customer_id",)]
        if key_events == ("reset",):
            keys_opts += [("customer_id", "channel")]
    elif key_events == ("transfer",):
        keys_opts += [
            ("card_no",),
            ("customer_id", "card_no"),
            ("customer_id", "card_no"),
            ("card_no", "customer_id", "city"),
            ("customer_id", "flag"),
            ("n",),
            ("phone", "card_no"),
        ]
    elif key_events == ("login",):
        keys_opts += [("device",), ("customer_id", "device"), ("device", "new_device")]
    keys = list(draw(st.sampled_from(keys_opts)))
    if "reset" not in key_events and draw(st.integers(0, 9)) == 0:
        keys.append("hour(ts)")
    where = ""
    if draw(st.integers(0, 2)) == 0:
        g = ExprGen(draw, scope, key_events, allow_state=False)
        where = f" where {g.e_bool(1)}"
    dur_name = draw(st.sampled_from(sorted(DURATIONS)))
    excluding = " excluding current" if draw(st.integers(0, 3)) == 0 else ""
    text = f"window {name} = {agg}({arg or ''}) of {of}{where} by {', '.join(keys)} over {dur_name}{excluding}"
    if agg in ("count", "distinct"):
        t, opt = "int", False
    elif agg == "since":
        t, opt = "duration", True
    elif agg == "avg":
        t, opt = ("float" if arg_t == "float" else "decimal"), True
    elif agg == "sum":
        t, opt = arg_t, False
    else:
        t, opt = arg_t, True
    return text, Sym(name, t, opt), DURATIONS[dur_name]


def _sequence(draw, i: int, scope: Scope) -> str:
    n_steps = draw(st.integers(2, 3))
    steps = []
    step_events = []
    for _ in range(n_steps):
        ev = draw(st.sampled_from(("transfer", "login", "login", "reset")))
        step_events.append(ev)
        where = ""
        if draw(st.booleans()):
            g = ExprGen(draw, scope, (ev,), allow_state=False)
            where = f" where {g.e_bool(1)}"
        steps.append(f"  step {ev}{where}")
    within = draw(st.sampled_from(sorted(DURATIONS)))
    body = "\n".join(steps)
    return f"sequence s{i} by {', '.join(_sequence_keys(draw, step_events))} within {within} {{\n{body}\n}}"


def _sequence_keys(draw, step_events: list[str]) -> list[str]:
    """``customer_id``, often with a second field every step's event has (optional ones too)."""
    shared = [
        f
        for f, (t, _opt) in SCHEMA[step_events[0]].items()
        if f != "customer_id" and t not in ("decimal", "float") and all(f in SCHEMA[e] for e in step_events)
    ]
    if not shared or draw(st.integers(0, 2)) == 0:
        return ["customer_id"]
    second = draw(st.sampled_from(shared))
    return ["customer_id", second] if draw(st.booleans()) else [second, "customer_id"]


def _scorecard(draw, i: int, scope: Scope) -> str:
    events = draw(st.sampled_from(EVENT_SETS))
    g = ExprGen(draw, scope, events, allow_state=False)
    g.scope = Scope(scope.consts, scope.params, scope.lists, scope.windows, [], [])
    g.allow_state = True  # items may read windows
    items = []
    for j in range(draw(st.integers(1, 5))):
        score = (
            draw(st.sampled_from(("10", "20", "25", "40", "5", "12.5")))
            if j == 0
            else draw(st.sampled_from(("10", "20", "25", "40", "5")))
        )
        items.append(f'  item "项{j}" when {g.e_bool(2)} score {score}')
    thresholds = sorted(draw(st.lists(st.integers(0, 100), min_size=1, max_size=5, unique=True)), reverse=True)
    levels = [
        f"  level {lvl} >= {t}"
        for lvl, t in zip(("high", "elevated", "medium", "low", "minimal"), thresholds, strict=False)
    ]
    return f"scorecard sc{i} {{\n  on {', '.join(events)}\n" + "\n".join(items + levels) + "\n}"


def _copies(draw, lines: list[str], scope: Scope, windows_ms: list[int]) -> None:
    """Windows and sequences declared again under other names (sometimes differently spaced): the same state."""
    originals = len(scope.windows)
    for j in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, originals - 1))
        original = next(line for line in lines if line.startswith(f"window w{i} = "))
        text = original.replace(f"window w{i} = ", f"window wc{j} = ", 1)
        if draw(st.booleans()):
            text = text.replace(" by ", "  by ", 1)
        lines.append(text)
        scope.windows.append(Sym(f"wc{j}", scope.windows[i].type, scope.windows[i].optional))
        windows_ms.append(windows_ms[i])
    if scope.sequences and draw(st.booleans()):  # before any copy: s0, s1 are the originals
        i = draw(st.integers(0, len(scope.sequences) - 1))
        original = next(line for line in lines if line.startswith(f"sequence s{i} by "))
        lines.append(original.replace(f"sequence s{i} by ", "sequence sq0 by ", 1))
        scope.sequences.append("sq0")


def _shared_rules(draw, scope: Scope) -> list[str]:
    """Families of rules: several behind one shared condition, several comparing one string field
    with different values (a lookup in the engine, missing values included), each with a condition of its own.
    """
    out = []
    events = draw(st.sampled_from(EVENT_SETS))
    g = ExprGen(draw, scope, events)
    shared = g.e_bool(draw(st.integers(0, 2)))
    subject = draw(st.sampled_from(("customer_id", "phone")))
    # the values events carry, and some they never do: a lookup needs four or more values
    pool = (*CUSTOMERS, "c8", "c9", "c10") if subject == "customer_id" else (*PHONES, "p8", "p9")
    values = draw(st.lists(st.sampled_from(pool), min_size=4, max_size=5, unique=True))
    heads: list[Optional[str]] = [*values, *draw(st.lists(st.sampled_from(values), max_size=3))]
    heads += [None] * draw(st.integers(2, 4))  # None: the shared condition
    for j, value in enumerate(draw(st.permutations(heads))):
        if value is None:
            head = shared
        else:
            head = f'{subject} == "{value}"' if draw(st.integers(0, 3)) else f'"{value}" == {subject}'
        tail = [g.e_bool(draw(st.integers(0, 2))) for _ in range(draw(st.integers(0, 2)))]
        if tail and draw(st.booleans()):
            tail.insert(0, shared)  # shared further down too: nested groups
        when = " and ".join(f"({c})" for c in [head, *tail])
        action = draw(st.sampled_from(("block", "hold", "step_up", "alert", "pass")))
        out.append(
            f'rule f{j} {{\n  reason "family {j}"\n  on {", ".join(events)}\n  when {when}\n  action {action}\n}}'
        )
    return out


CONTROL_KINDS = ("restricted", "refused", "watch")
CONTROL_DURATIONS = ("1ms", "1s", "5s", "30s", "1m", "10m", "1d")


def _control_keys(events: Sequence[str]) -> list[str]:
    """Key expressions every one of ``events`` can compute (an optional field may be missing: no control)."""
    keys = ["customer_id", "upper(customer_id)"]
    if set(events) <= {"transfer"}:
        keys += ["card_no", "n"]
    if set(events) <= {"transfer", "login"}:
        keys += ["phone"]
    if set(events) <= {"login"}:
        keys += ["device"]
    return keys


def _control_clauses(draw, events: Sequence[str]) -> list[str]:
    """Zero to two ``control`` clauses for a rule on ``events``."""
    out = []
    for _ in range(draw(st.sampled_from((0, 0, 1, 1, 2)))):
        key = draw(st.sampled_from(_control_keys(events)))
        kind = draw(st.sampled_from(CONTROL_KINDS))
        out.append(f'  control {key} as "{kind}" for {draw(st.sampled_from(CONTROL_DURATIONS))}')
    return out


def _control_rules(draw) -> list[str]:
    """Rules reading the controls (``controlled``, ``control_kind``), one of them setting one too."""
    out = []
    for j in range(draw(st.integers(1, 3))):
        events = draw(st.sampled_from((*EVENT_SETS, ("login", "transfer", "reset"))))
        key = draw(st.sampled_from(_control_keys(events)))
        test = draw(
            st.sampled_from(
                (
                    f"controlled({key})",
                    f"not controlled({key})",
                    f'control_kind({key}) == "{draw(st.sampled_from(CONTROL_KINDS))}"',
                    f'control_kind({key}) != "watch"',
                    f"present(control_kind({key}))",
                )
            )
        )
        action = draw(st.sampled_from(("block", "hold", "step_up", "alert")))
        clauses = [f'  reason "control {j}"', f"  on {', '.join(events) if len(events) < 3 else 'any'}"]
        clauses += [f"  when {test}", f"  action {action}"]
        if draw(st.booleans()):
            clauses.append(f"  priority {draw(st.integers(-1, 2))}")
        clauses += _control_clauses(draw, events)
        out.append(f"rule ctl{j} {{\n" + "\n".join(clauses) + "\n}")
    return out


def _clock_scorecard() -> str:
    items = [f'  item "h{h}" when hour(ts) >= {h} score 1' for h in range(1, 24)]
    items += [f'  item "m{m}" when minute(ts) >= {m} score 100' for m in (1, 15, 30, 31, 45, 59)]
    items += [f'  item "w{w}" when weekday(ts) >= {w} score 1000' for w in range(2, 8)]
    items += [f'  item "d{d}" when day(ts) >= {d} score 10000' for d in (2, 8, 15, 22, 28, 29, 30, 31)]
    return "scorecard clock {\n  on any\n" + "\n".join(items) + "\n  level high >= 1000000\n}"


CLOCK_SCORECARD = _clock_scorecard()
"""Reports the local hour, minute, weekday and day of every event as one score (a time-zone probe)."""


@st.composite
def rulesets(
    draw,
    lateness: Sequence[Optional[str]] = tuple(LATENESS),
    *,
    clock_scorecard: bool = True,
    shared: bool = False,
    exempt: bool = False,
    controls: bool = False,
) -> Scenario:
    """A random valid ruleset (source text) with its metadata; ops are left empty.

    ``lateness``: the header values to draw from (None: no lateness item).
    ``clock_scorecard``: now and then add ``CLOCK_SCORECARD`` (slow in the reference interpreter).
    ``shared``: also declare copies of windows and sequences under other names (one state in the
    engine) and families of rules sharing conditions (``_shared_rules``); False draws exactly as before.
    ``exempt``: also declare ``exempt by`` over string fields (streams then grant and revoke
    exemptions); False draws exactly as before.
    ``controls``: random rules also set controls (``_control_clauses``) and rules test them
    (``_control_rules``); streams set and lift controls by hand too.  False draws exactly as before.
    """
    scope = Scope()
    lines: list[str] = []
    header = []
    tz = draw(st.sampled_from(TIMEZONES))
    if tz:
        header.append(f'  timezone "{tz}"')
    lat_name = draw(st.sampled_from(list(lateness)))
    if lat_name:
        header.append(f"  lateness {lat_name}")
    lines.append("ruleset gen {\n" + "\n".join(header) + ("\n" if header else "") + "}")
    for ev in ("transfer", "login", "reset"):
        lines.append(SCHEMA_TEXT[ev])

    # constants, parameters, lists
    if draw(st.booleans()):
        lines.append(f"const big = {draw(st.sampled_from(('1000.00', '100', '99.9999', '0.1')))}")
        scope.consts.append(Sym("big", "decimal"))
    if draw(st.booleans()):
        lines.append(f"const few = {draw(st.integers(1, 4))}")  # a divisor: 0 would be RD211
        scope.consts.append(Sym("few", "int"))
    for i in range(draw(st.integers(0, 3))):
        lines.append(const_decl(draw, scope, f"k{i}"))
    params: dict[str, str] = {}
    if draw(st.booleans()):
        lines.append(f"param limit: decimal = {draw(st.sampled_from(('100.00', '0.3', '5000')))}")
        scope.params.append(Sym("limit", "decimal"))
        params["limit"] = "decimal"
    if draw(st.booleans()):
        lines.append(f"param max_n: int = {draw(st.integers(0, 5))}")
        scope.params.append(Sym("max_n", "int"))
        params["max_n"] = "int"
    if draw(st.booleans()):
        lines.append(f"param gap: duration = {draw(st.sampled_from(('1s', '5s', '1m')))}")
        scope.params.append(Sym("gap", "duration"))
        params["gap"] = "duration"
    if draw(st.integers(0, 2)) == 0:
        lines.append(f"param strict: bool = {draw(st.sampled_from(('true', 'false')))}")
        scope.params.append(Sym("strict", "bool"))
        params["strict"] = "bool"
    if draw(st.integers(0, 2)) == 0:
        lines.append(f"param ratio: float = {draw(st.sampled_from(('0.5', '2', '1.25')))}")
        scope.params.append(Sym("ratio", "float"))
        params["ratio"] = "float"
    if draw(st.integers(0, 2)) == 0:
        lines.append(f'param home: string = "{draw(st.sampled_from(CUSTOMERS))}"')
        scope.params.append(Sym("home", "string"))
        params["home"] = "string"
    lists: dict[str, str] = {}
    if draw(st.booleans()):
        items = draw(st.lists(st.sampled_from(CUSTOMERS + CARDS + DEVICES + PHONES + CITIES), max_size=4, unique=True))
        lines.append(f"list blocked: string = [{', '.join(chr(34) + i + chr(34) for i in items)}]")
        scope.lists.append(("blocked", "string"))
        lists["blocked"] = "string"
    if draw(st.booleans()):
        items = draw(
            st.lists(st.sampled_from(("0.1", "100", "1000.50", "2.5", "0")), min_size=1, max_size=3, unique=True)
        )
        lines.append(f"list amounts: decimal = [{', '.join(items)}]")
        scope.lists.append(("amounts", "decimal"))
        lists["amounts"] = "decimal"
    if draw(st.booleans()):
        items = draw(st.lists(st.integers(-1, 6), min_size=1, max_size=3, unique=True))
        lines.append(f"list small_ns: int = [{', '.join(map(str, items))}]")
        scope.lists.append(("small_ns", "int"))
        lists["small_ns"] = "int"

    windows_ms = []
    for i in range(draw(st.integers(1, 4))):
        text, sym, ms = _window(draw, i, scope)
        lines.append(text)
        scope.windows.append(sym)
        windows_ms.append(ms)
    for i in range(draw(st.integers(0, 2))):
        lines.append(_sequence(draw, i, scope))
        scope.sequences.append(f"s{i}")
    if shared:
        _copies(draw, lines, scope, windows_ms)
    if draw(st.integers(0, 2)) == 0:
        lines.append(_scorecard(draw, 0, scope))
        scope.scorecards.append("sc0")
    if clock_scorecard and draw(st.integers(0, 3)) == 0:
        lines.append(CLOCK_SCORECARD)

    for i in range(draw(st.integers(1, 8))):
        events = draw(st.sampled_from((*EVENT_SETS, ("login", "transfer", "reset"))))
        g = ExprGen(draw, scope, events)
        when = g.e_bool(draw(st.integers(0, 3)))
        action = draw(st.sampled_from(("block", "hold", "step_up", "alert", "pass")))
        clauses = [f'  reason "规则 {i} \\"r{i}\\""']
        if draw(st.booleans()):
            clauses.append(f'  code "R-{i:03d}"')
        clauses.append(f"  on {', '.join(events) if len(events) < 3 else 'any'}")
        clauses.append(f"  when {when}")
        clauses.append(f"  action {action}")
        if draw(st.booleans()):
            clauses.append(f"  priority {draw(st.integers(-2, 3))}")
        if draw(st.integers(0, 3)) == 0:
            clauses.append("  shadow")
        if controls:
            clauses += _control_clauses(draw, events)
        lines.append(f"rule r{i} {{\n" + "\n".join(clauses) + "\n}")
    if shared:
        lines.extend(_shared_rules(draw, scope))
    flags = [c.name for c in scope.consts if c.type == "bool"]
    if flags and draw(st.integers(0, 2)):
        # a rule that fires exactly when a folded constant condition is true (a folding slip flips it)
        flag = draw(st.sampled_from(flags))
        lines.append(f'rule folded {{\n  reason "常量 {flag}"\n  on transfer, login\n  when {flag}\n  action alert\n}}')
    if draw(st.booleans()):
        # a rule that always fires and reports every window, sequence and scorecard as features,
        # so their values are compared on every event, not only when a random rule fires
        events = draw(st.sampled_from((*EVENT_SETS, ("login", "transfer", "reset"))))
        reads = [f"(present({w.name}) or not present({w.name}))" for w in scope.windows]
        reads += [f"({s} or not {s})" for s in scope.sequences]
        reads += [f"(present({c}) or not present({c}))" for c in scope.scorecards]
        lines.append(
            f'rule probe {{\n  reason "probe"\n  on {", ".join(events) if len(events) < 3 else "any"}\n'
            f"  when {' and '.join(reads)}\n  action pass\n}}"
        )
    if controls:
        lines.extend(_control_rules(draw))
    exempt_by: tuple[str, ...] = ()
    if exempt:
        exempt_by = draw(st.sampled_from(EXEMPT_BY))
        lines.append("exempt by " + ", ".join(exempt_by))
    source = "\n\n".join(lines) + "\n"
    return Scenario(
        source=source,
        exempt_by=exempt_by,
        controls=controls,
        rules=re.findall(r"^rule (\w+)", source, re.MULTILINE),
        windows_ms=windows_ms,
        lateness_ms=LATENESS[lat_name],
        timezone=tz,
        params=params,
        lists=lists,
    )
