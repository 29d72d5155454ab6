"""Hypothesis strategies: random but valid rulesets, and event streams for them.

``scenarios()`` draws a ``Scenario``: ruleset source text over a fixed schema
(2-3 event types), plus a stream of operations (events, and now and then a
parameter or list change) that fill its windows.  Expressions are generated
well-typed by construction from a table of what is in scope, so the checker
should accept every ruleset; source text is built directly with every
sub-expression parenthesised, so precedence never matters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Optional

from hypothesis import strategies as st

# ---------------------------------------------------------------- fixed schema

CITIES = ("北京", "上海", "gz")
CHANNELS = ("app", "web")

# event type -> field -> (type, optional)
SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "transfer": {
        "customer_id": ("string", False),
        "card_no": ("string", False),
        "amount": ("decimal", False),
        "n": ("int", False),
        "city": ("enum", False),
        "phone": ("string", True),
        "flag": ("bool", False),
        "fee": ("decimal", True),
        "score": ("float", False),
    },
    "login": {
        "customer_id": ("string", False),
        "device": ("string", False),
        "city": ("enum", False),
        "new_device": ("bool", False),
        "phone": ("string", True),
    },
    "reset": {
        "customer_id": ("string", False),
        "channel": ("enum", False),
    },
}

ENUMS = {"city": CITIES, "channel": CHANNELS}

SCHEMA_TEXT = {
    "transfer": """event transfer {
  customer_id: string
  card_no: string
  amount: decimal
  n: int
  city: enum("北京", "上海", "gz")
  phone: string?
  flag: bool
  fee: decimal?
  score: float
}""",
    "login": """event login {
  customer_id: string
  device: string
  city: enum("北京", "上海", "gz")
  new_device: bool
  phone: string?
}""",
    "reset": """event reset {
  customer_id: string
  channel: enum("app", "web")
}""",
}

DURATIONS = {"1s": 1_000, "2s": 2_000, "5s": 5_000, "10s": 10_000, "30s": 30_000, "1m": 60_000, "10m": 600_000}
LATENESS = {None: 0, "0ms": 0, "1s": 1_000, "5s": 5_000}
TIMEZONES = (None, "UTC", "Asia/Shanghai", "America/New_York", "America/St_Johns", "Australia/Lord_Howe")
"""Lord Howe and St John's change their offset at half past a UTC hour."""

# values the stream draws from: a small key space so windows fill
CUSTOMERS = ("c1", "c2")
CARDS = ("k1", "k2")
DEVICES = ("d1", "d2", "d3")
PHONES = ("p1", "p2", "13800000000")
AMOUNTS = ("0.1", 0.1, 100, "99999.9999", "0.00005", 0.00015, 1, "1000.50", 0, "-5", "12.3456", 2.5, "3")
FEES = (None, "0", "0.5", 1, 0.25)
SCORES = (0.0, 0.5, 1.5, 99.9, 3)

# Local-time anchors: a UTC midnight, a Shanghai 22:00, a New York DST switch, a Sunday 23:59 UTC
BASE_TS = (1_767_225_600_000, 1_767_276_000_000, 1_772_953_200_000 - 60_000, 1_767_484_790_000)
# per time zone, moments just before an offset change (St John's and Lord Howe switch at half past a UTC hour)
ZONE_BASE_TS = {
    "America/New_York": (1_772_953_200_000 - 60_000,),
    "America/St_Johns": (1_772_947_800_000 - 5_000, 1_772_947_800_000 - 1),
    "Australia/Lord_Howe": (1_791_041_400_000 - 5_000, 1_791_041_400_000 - 1),
}


# ---------------------------------------------------------------- the scope


@dataclass
class Sym:
    """A name in scope for expressions: its type and where it may be read."""

    name: str
    type: str  # int decimal float string bool timestamp duration, or an enum field's name (city, channel)
    optional: bool = False


@dataclass
class Scope:
    """Everything a ruleset declared so far that expressions may read."""

    consts: list[Sym] = field(default_factory=list)
    params: list[Sym] = field(default_factory=list)
    lists: list[tuple[str, str]] = field(default_factory=list)  # (name, element type)
    windows: list[Sym] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    scorecards: list[str] = field(default_factory=list)


def fields_of(events: tuple[str, ...]) -> list[Sym]:
    """Fields readable in a rule or window over ``events``: those every one of the types has."""
    out = []
    names = [f for f in SCHEMA[events[0]] if all(f in SCHEMA[e] for e in events)]
    for f in names:
        t, opt = SCHEMA[events[0]][f]
        out.append(Sym(f, f if t == "enum" else t, opt))  # enums: their own type (`city`, `channel`)
    out.append(Sym("ts", "timestamp"))
    return out


def p(text: str) -> str:
    return f"({text})"


def nonzero_literal(text: str) -> str:
    """A divisor: a literal zero would be a compile-time error (RD211); other zeros are run-time."""
    try:
        zero = float(text.strip("()")) == 0
    except ValueError:
        zero = False
    return "3" if zero else text


# ---------------------------------------------------------------- expressions

DEC_LITERALS = ("0.1", "0.5", "1.0", "2.5", "10.0", "100.00", "1000.0", "0.3333", "99999.9999", "0.0001")


class ExprGen:
    """Draws well-typed expression text for one context (a rule's event types)."""

    def __init__(self, draw, scope: Scope, events: tuple[str, ...], *, allow_state: bool = True):
        self.draw = draw
        self.scope = scope
        self.events = events
        self.fields = fields_of(events)
        self.allow_state = allow_state  # windows, sequences, scorecards may be read

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def names(self, t: str) -> list[str]:
        out = [f.name for f in self.fields if f.type == t]
        out += [c.name for c in self.scope.consts if c.type == t]
        out += [c.name for c in self.scope.params if c.type == t]
        if self.allow_state:
            out += [w.name for w in self.scope.windows if w.type == t]
            if t == "int":
                out += self.scope.scorecards  # a score is an int (or a decimal: numbers mix freely)
        return out

    def optional_names(self) -> list[str]:
        out = [f.name for f in self.fields if f.optional]
        if self.allow_state:
            out += [w.name for w in self.scope.windows if w.optional]
        return out

    # -- by type
    def expr(self, t: str, depth: int) -> str:
        return getattr(self, "e_" + t)(depth)

    def leaf_or(self, t: str, depth: int, compound) -> str:
        names = self.names(t)
        if depth <= 0 or self.draw(st.integers(0, 2)) == 0:
            if names and self.draw(st.booleans()):
                return self.choice(names)
            return self.literal(t)
        return compound()

    def literal(self, t: str) -> str:
        if t == "int":
            return str(self.draw(st.integers(-3, 12)))
        if t == "decimal":
            return self.choice(DEC_LITERALS)
        if t == "float":
            return self.choice(("0.5", "1.0", "50.0"))  # decimal literals compared with a float
        if t == "string":
            return '"' + self.choice(CUSTOMERS + CARDS + DEVICES + PHONES + CITIES + ("",)) + '"'
        if t == "bool":
            return self.choice(("true", "false"))
        if t == "duration":
            return self.choice(("0ms", "500ms", "1s", "2s", "5s", "10s", "1m"))
        if t == "timestamp":
            return "ts"
        raise ValueError(t)

    def e_int(self, depth: int) -> str:
        def compound():
            kind = self.draw(st.integers(0, 6))
            a, b = self.expr("int", depth - 1), self.expr("int", depth - 1)
            if kind <= 2:
                return p(f"{a} {self.choice(('+', '-', '*', '%'))} {nonzero_literal(b)}")
            if kind == 3:
                return f"{self.choice(('hour', 'minute', 'weekday', 'day'))}({self.e_timestamp(depth - 1)})"
            if kind == 4:
                return f"abs({a})"
            if kind == 5:
                return f"{self.choice(('min', 'max'))}({a}, {b})"
            return f"len({self.e_string(depth - 1)})"

        return self.leaf_or("int", depth, compound)

    def e_decimal(self, depth: int) -> str:
        def compound():
            kind = self.draw(st.integers(0, 5))
            if kind <= 2:
                a = self.expr(self.choice(("decimal", "int")), depth - 1)
                b = self.expr("decimal", depth - 1)
                a, b = (a, b) if self.draw(st.booleans()) else (b, a)
                return p(f"{a} {self.choice(('+', '-', '*', '/', '%'))} {nonzero_literal(b)}")
            if kind == 3:
                return p(f"{self.e_int(depth - 1)} / {nonzero_literal(self.e_int(depth - 1))}")
            if kind == 4:
                return (
                    f"abs({self.e_decimal(depth - 1)})"
                    if self.draw(st.booleans())
                    else p(f"-{self.e_decimal(depth - 1)}")
                )
            return f"{self.choice(('min', 'max'))}({self.e_decimal(depth - 1)}, {self.expr(self.choice(('int', 'decimal')), depth - 1)})"

        return self.leaf_or("decimal", depth, compound)

    def e_float(self, depth: int) -> str:
        names = self.names("float")
        if not names:
            return p(f"{self.e_decimal(depth)} * 1.0")  # never reached by the comparisons below
        if depth > 0 and self.draw(st.integers(0, 3)) == 0:
            return p(
                f"{self.choice(names)} {self.choice(('+', '-', '*'))} {self.expr(self.choice(('int', 'decimal')), depth - 1)}"
            )
        return self.choice(names)

    def e_string(self, depth: int) -> str:
        def compound():
            inner = self.e_string(depth - 1)
            if self.names("city") and self.draw(st.integers(0, 2)) == 0:
                inner = self.choice(self.names("city"))
            return f"{self.choice(('lower', 'upper'))}({inner})"

        return self.leaf_or("string", depth, compound)

    def e_timestamp(self, depth: int) -> str:
        names = self.names("timestamp")
        base = self.choice(names) if names else "ts"
        if depth > 0 and self.draw(st.integers(0, 3)) == 0:
            return p(f"{base} {self.choice(('+', '-'))} {self.e_duration(depth - 1)}")
        return base

    def e_duration(self, depth: int) -> str:
        def compound():
            kind = self.draw(st.integers(0, 2))
            if kind == 0:
                return p(f"{self.e_timestamp(depth - 1)} - {self.e_timestamp(depth - 1)}")
            if kind == 1:
                return p(f"{self.e_duration(depth - 1)} * {self.draw(st.integers(0, 3))}")
            return p(f"{self.e_duration(depth - 1)} {self.choice(('+', '-'))} {self.e_duration(depth - 1)}")

        return self.leaf_or("duration", depth, compound)

    def e_bool(self, depth: int) -> str:
        kinds = ["num_cmp", "str_cmp", "in_list", "in_lit", "present", "hours", "text", "bool_name", "dur_cmp"]
        if depth > 0:
            kinds += ["and", "or", "not", "and", "or"]
        if self.allow_state and self.scope.sequences:
            kinds.append("sequence")
        if self.allow_state and self.scope.scorecards:
            kinds.append("level")
        kind = self.choice(kinds)
        d = max(depth - 1, 0)
        if kind in ("and", "or"):
            return p(f"{self.e_bool(d)} {kind} {self.e_bool(d)}")
        if kind == "not":
            return p(f"not {self.e_bool(d)}")
        if kind == "num_cmp":
            ta = self.choice(("int", "decimal", "decimal", "float"))
            tb = self.choice(("int", "decimal"))
            a, b = self.expr(ta, d), self.expr(tb, d)
            if self.draw(st.booleans()):
                a, b = b, a
            return p(f"{a} {self.choice(('==', '!=', '<', '<=', '>', '>='))} {b}")
        if kind == "str_cmp":
            enums = [e for e in ENUMS if self.names(e)]
            if enums and self.draw(st.booleans()):
                e = self.choice(enums)
                lit = '"' + self.choice(ENUMS[e]) + '"'
                a, b = (
                    (self.choice(self.names(e)), lit)
                    if self.draw(st.integers(0, 3))
                    else (self.choice(self.names(e)), self.choice(self.names(e)))
                )
                return p(f"{a} {self.choice(('==', '!='))} {b}")
            return p(f"{self.e_string(d)} {self.choice(('==', '!='))} {self.e_string(0)}")
        if kind == "dur_cmp":
            if self.draw(st.booleans()):
                return p(f"{self.e_duration(d)} {self.choice(('<', '<=', '>', '>=', '=='))} {self.e_duration(0)}")
            return p(f"{self.e_timestamp(d)} {self.choice(('<', '<=', '>', '>=', '==', '!='))} {self.e_timestamp(d)}")
        if kind == "in_list":
            if not self.scope.lists:
                return self.e_bool(0)
            name, elem = self.choice(self.scope.lists)
            op = self.choice(("in", "not in"))
            return p(f"{self.expr(elem, d)} {op} {name}")
        if kind == "in_lit":
            op = self.choice(("in", "not in"))
            if self.names("city") and self.draw(st.integers(0, 2)) == 0:
                items = self.draw(st.lists(st.sampled_from(CITIES), min_size=1, max_size=2))
                return p(f"{self.choice(self.names('city'))} {op} [{', '.join(chr(34) + i + chr(34) for i in items)}]")
            if self.draw(st.booleans()):
                items = self.draw(
                    st.lists(st.sampled_from(CUSTOMERS + CARDS + CITIES + PHONES), min_size=1, max_size=3)
                )
                return p(f"{self.e_string(d)} {op} [{', '.join(chr(34) + i + chr(34) for i in items)}]")
            items = self.draw(st.lists(st.sampled_from(("0", "1", "2", "5")), min_size=1, max_size=3))
            return p(f"{self.e_int(d)} {op} [{', '.join(items)}]")
        if kind == "present":
            opts = self.optional_names()
            if opts and self.draw(st.integers(0, 3)):
                return f"present({self.choice(opts)})"
            return f"present({self.expr(self.choice(('int', 'decimal', 'string')), d)})"
        if kind == "hours":
            a, b = self.draw(st.integers(0, 23)), self.draw(st.integers(0, 23))
            return f"between_hours({self.e_timestamp(0)}, {a}, {b})"
        if kind == "text":
            fn = self.choice(("startswith", "endswith", "contains", "matches"))
            s = self.e_string(d)
            if fn == "matches":
                return f'matches({s}, "{self.choice(("^c[0-9]$", "[12]", "^$", "北", "d[13]"))}")'
            return f'{fn}({s}, "{self.choice(("c", "1", "k", "", "北京", "d2"))}")'
        if kind == "sequence":
            return self.choice(self.scope.sequences)
        if kind == "level":
            op = self.choice(("==", "!="))
            return p(
                f'level({self.choice(self.scope.scorecards)}) {op} "{self.choice(("high", "elevated", "medium", "low", "minimal"))}"'
            )
        # bool_name
        names = self.names("bool")
        if names:
            return self.choice(names)
        return self.literal("bool")


# ---------------------------------------------------------------- rulesets

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
    keys_opts = [("customer_id",), ("customer_id", "city"), ("phone",)]
    if "reset" in key_events:
        keys_opts = [("customer_id",)]
    elif key_events == ("transfer",):
        keys_opts += [("card_no",), ("customer_id", "card_no"), ("customer_id", "flag"), ("n",)]
    elif key_events == ("login",):
        keys_opts += [("device",)]
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
    for _ in range(n_steps):
        ev = draw(st.sampled_from(("transfer", "login", "login", "reset")))
        where = ""
        if draw(st.booleans()):
            g = ExprGen(draw, scope, (ev,), allow_state=False)
            where = f" where {g.e_bool(1)}"
        steps.append(f"  step {ev}{where}")
    within = draw(st.sampled_from(sorted(DURATIONS)))
    body = "\n".join(steps)
    return f"sequence s{i} by customer_id within {within} {{\n{body}\n}}"


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


def _clock_scorecard() -> str:
    items = [f'  item "h{h}" when hour(ts) >= {h} score 1' for h in range(1, 24)]
    items += [f'  item "m{m}" when minute(ts) >= {m} score 100' for m in (1, 15, 30, 31, 45, 59)]
    items += [f'  item "w{w}" when weekday(ts) >= {w} score 1000' for w in range(2, 8)]
    items += [f'  item "d{d}" when day(ts) >= {d} score 10000' for d in (2, 8, 15, 22, 28, 29, 30, 31)]
    return "scorecard clock {\n  on any\n" + "\n".join(items) + "\n  level high >= 1000000\n}"


CLOCK_SCORECARD = _clock_scorecard()
"""Reports the local hour, minute, weekday and day of every event as one score (a time-zone probe)."""


@st.composite
def rulesets(draw) -> Scenario:
    """A random valid ruleset (source text) with its metadata; ops are left empty."""
    scope = Scope()
    lines: list[str] = []
    header = []
    tz = draw(st.sampled_from(TIMEZONES))
    if tz:
        header.append(f'  timezone "{tz}"')
    lat_name = draw(st.sampled_from(list(LATENESS)))
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
    if draw(st.integers(0, 2)) == 0:
        lines.append(_scorecard(draw, 0, scope))
        scope.scorecards.append("sc0")
    if draw(st.integers(0, 3)) == 0:
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
        lines.append(f"rule r{i} {{\n" + "\n".join(clauses) + "\n}")
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
    return Scenario(
        source="\n\n".join(lines) + "\n",
        windows_ms=windows_ms,
        lateness_ms=LATENESS[lat_name],
        timezone=tz,
        params=params,
        lists=lists,
    )


# ---------------------------------------------------------------- events


def _event_fields(draw, etype: str) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": etype}
    pick = lambda xs: draw(st.sampled_from(xs))
    ev["customer_id"] = pick(CUSTOMERS)
    if etype == "transfer":
        ev.update(
            card_no=pick(CARDS),
            amount=pick(AMOUNTS),
            n=draw(st.integers(0, 4)),
            city=pick(CITIES),
            flag=draw(st.booleans()),
            score=pick(SCORES),
        )
        phone = pick((*PHONES, None, None))
        if phone is not None or draw(st.booleans()):
            ev["phone"] = phone  # absent or explicitly null
        fee = pick(FEES)
        if fee is not None:
            ev["fee"] = fee
    elif etype == "login":
        ev.update(device=pick(DEVICES), city=pick(CITIES), new_device=draw(st.booleans()))
        phone = pick((*PHONES, None))
        if phone is not None:
            ev["phone"] = phone
    else:
        ev["channel"] = pick(CHANNELS)
    if draw(st.integers(0, 9)) == 0:
        ev["unknown_extra"] = {"ignored": True}
    return ev


BAD_CHANGES = (
    ("type", "payment"),
    ("type", None),
    ("ts", "yesterday"),
    ("ts", 1.5),
    ("ts", True),
    ("ts", None),
    ("customer_id", None),
    ("customer_id", 7),
    ("amount", "abc"),
    ("amount", True),
    ("amount", float("nan")),
    ("n", "5"),
    ("n", 2.0),
    ("city", "广州"),
    ("flag", "yes"),
    ("device", None),
    ("new_device", 1),
    ("channel", "atm"),
    ("score", "1.5"),
    ("phone", 13800000000),
    ("fee", "x"),
)


def _iso(ts: int, draw) -> str:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(ts / 1000, dt.timezone(dt.timedelta(hours=8)))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return stamp.isoformat(timespec="milliseconds")
    utc = dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
    if kind == 1:
        return utc.replace("+00:00", "Z")
    return utc.replace("+00:00", "")  # no offset: read in the ruleset's time zone (a different instant)


@st.composite
def streams(draw, scenario: Scenario, max_events: int = 60) -> list[tuple]:
    """Operations for ``scenario``: mostly events, timestamps mostly increasing with jitter,
    some exactly on window boundaries, some out of order (within lateness or later)."""
    ops: list[tuple] = []
    n_events = draw(st.integers(1, max_events))
    zone_base = ZONE_BASE_TS.get(scenario.timezone or "", ())
    now = draw(st.sampled_from(zone_base if zone_base and draw(st.booleans()) else BASE_TS))
    seen: list[int] = []
    durations = scenario.windows_ms or [1000]
    lateness = scenario.lateness_ms
    for _ in range(n_events):
        kind = draw(st.integers(0, 39))
        if kind <= 21 or not seen:
            now += draw(st.sampled_from((0, 1, 250, 499, 500, 999, 1000, 2000, 5000, 30_000)))
            ts = now
        elif kind <= 30:
            # exactly on (or just inside) a window boundary of a recent event
            ts = draw(st.sampled_from(seen[-6:])) + draw(st.sampled_from(durations)) - draw(st.sampled_from((0, 0, 1)))
            now = max(now, ts)
        elif kind <= 35:
            # out of order but within lateness (or exactly on the watermark)
            ts = now - draw(st.integers(0, lateness))
        elif kind <= 37:
            ts = now - lateness - draw(st.sampled_from((1, 500, 10_000)))  # late
        else:
            now += draw(st.sampled_from((600_000, 3_600_000, 86_400_000)))  # a long gap
            ts = now
        seen.append(ts)
        etype = draw(st.sampled_from(("transfer", "transfer", "login", "reset")))
        ev = _event_fields(draw, etype)
        ev["ts"] = _iso(ts, draw) if draw(st.integers(0, 14)) == 0 else ts
        if draw(st.integers(0, 29)) == 0:
            fname, bad = draw(st.sampled_from(BAD_CHANGES))
            if fname in ("type", "ts") or fname in SCHEMA[etype]:
                if bad is None:
                    ev.pop(fname, None)
                else:
                    ev[fname] = bad
        ops.append(("event", ev))
        # now and then a parameter or list changes between events
        if draw(st.integers(0, 24)) == 0 and (scenario.params or scenario.lists):
            if scenario.params and (not scenario.lists or draw(st.booleans())):
                name = draw(st.sampled_from(sorted(scenario.params)))
                t = scenario.params[name]
                value = {
                    "decimal": st.sampled_from(("0.1", 100, "250.5", 0.3)),
                    "int": st.integers(0, 4),
                    "duration": st.sampled_from((0, 1000, 5000)),
                    "bool": st.booleans(),
                    "float": st.sampled_from((0.25, 1, 2.5)),
                    "string": st.sampled_from(CUSTOMERS),
                }[t]
                ops.append(("param", name, draw(value)))
            else:
                name = draw(st.sampled_from(sorted(scenario.lists)))
                t = scenario.lists[name]
                values = {
                    "string": st.lists(st.sampled_from(CUSTOMERS + CARDS + PHONES + CITIES), max_size=3),
                    "decimal": st.lists(st.sampled_from(("0.1", "100", 2.5, 1)), max_size=3),
                    "int": st.lists(st.integers(-1, 5), max_size=3),
                }[t]
                ops.append(("list", name, draw(values)))
    return ops


@st.composite
def scenarios(draw, max_events: int = 60) -> Scenario:
    """A ruleset and a stream of operations for it."""
    scenario = draw(rulesets())
    scenario.ops = draw(streams(scenario, max_events))
    return scenario


# ---------------------------------------------------------------- long streams


def random_event(rnd, etype: str, ts: int) -> dict[str, Any]:
    """One valid event drawn with a ``random.Random`` (for streams too long for hypothesis' buffer)."""
    ev: dict[str, Any] = {"type": etype, "ts": ts, "customer_id": rnd.choice(CUSTOMERS)}
    if etype == "transfer":
        ev.update(
            card_no=rnd.choice(CARDS),
            amount=rnd.choice(AMOUNTS),
            n=rnd.randint(0, 4),
            city=rnd.choice(CITIES),
            flag=rnd.random() < 0.5,
            score=rnd.choice(SCORES),
        )
        for name, values in (("phone", (*PHONES, None)), ("fee", FEES)):
            value = rnd.choice(values)
            if value is not None:
                ev[name] = value
    elif etype == "login":
        ev.update(device=rnd.choice(DEVICES), city=rnd.choice(CITIES), new_device=rnd.random() < 0.5)
        phone = rnd.choice((*PHONES, None))
        if phone is not None:
            ev["phone"] = phone
    else:
        ev["channel"] = rnd.choice(CHANNELS)
    return ev


@st.composite
def long_scenarios(draw, min_events: int = 1200, max_events: int = 3000) -> Scenario:
    """A ruleset and a long stream with no late events: enough events for the engine to evict state.

    Timestamps move forward (or back by at most the lateness), so every event is on time and
    every decision is fully determined by docs/semantics.md.
    """
    scenario = draw(rulesets())
    rnd = random.Random(draw(st.integers(0, 2**32)))  # hypothesis' own randoms would draw from its buffer
    zone_base = ZONE_BASE_TS.get(scenario.timezone or "", ())
    now = rnd.choice(zone_base or BASE_TS)
    top = now
    ops: list[tuple] = []
    for _ in range(rnd.randint(min_events, max_events)):
        r = rnd.random()
        if r < 0.7:
            now += rnd.choice((0, 1, 250, 500, 999, 1000, 2000, 4000))
        elif r < 0.85:
            now = max(
                now,
                rnd.choice([ts for _op, ev in ops[-8:] for ts in [ev["ts"]]] or [now])
                + rnd.choice(scenario.windows_ms)
                - rnd.choice((0, 1)),
            )
        elif r < 0.97:
            now = top - rnd.randint(0, scenario.lateness_ms)  # out of order, within lateness
        else:
            now += rnd.choice((60_000, 600_000, 3_600_000))
        top = max(top, now)
        ops.append(("event", random_event(rnd, rnd.choice(("transfer", "transfer", "login", "reset")), now)))
    scenario.ops = ops
    return scenario
