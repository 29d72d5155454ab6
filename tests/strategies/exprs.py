"""Well-typed expression text for generated rulesets: in rules and windows (``ExprGen``), and constants.

Expressions are generated well-typed by construction from a table of what is
in scope (``Scope``), so the checker should accept every one; every
sub-expression is parenthesised, so precedence never matters.  Constant
declarations (``const_decl``) mix ints and decimals on purpose (``2 > 1.5``,
``3 in [1.5, 3.0]``): the checker folds them, the reference interpreter
evaluates them itself, so a folding slip shows as a disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from strategies.schema import CARDS, CITIES, CUSTOMERS, DEVICES, ENUMS, PHONES, SCHEMA

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
EXTREME_LITERALS = ("9223372036854775807", "(-9223372036854775807)", "99999999999999.9999", "(-99999999999999.9999)")
"""The 64-bit int range and (well inside it) the largest decimals, written as literals."""
NUMBER_ITEMS = ("0", "1", "2", "5", "1.5", "2.0", "0.0001", "(1 + 1)", "(2 * 0.5)", "(3 / 2)", "(7 % 4)", "(0.1 * 3)")
"""Entries of number lists written in rules: int and decimal, literals and constant arithmetic."""


class ExprGen:
    """Draws well-typed expression text for one context (a rule's event types)."""

    def __init__(self, draw, scope: Scope, events: tuple[str, ...], *, allow_state: bool = True):
        self.draw = draw
        self.scope = scope
        self.events = events
        self.fields = fields_of(events)
        self.allow_state = allow_state  # windows, sequences, scorecards may be read
        self.exact_ints = False  # while True, an int operand never reads a scorecard (list_attribute)

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def names(self, t: str) -> list[str]:
        out = [f.name for f in self.fields if f.type == t]
        out += [c.name for c in self.scope.consts if c.type == t]
        out += [c.name for c in self.scope.params if c.type == t]
        if self.allow_state:
            out += [w.name for w in self.scope.windows if w.type == t]
            if t == "int" and not self.exact_ints:
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
            if ta in ("int", "decimal") and self.draw(st.integers(0, 9)) == 0:
                b = self.choice(EXTREME_LITERALS)  # the ends of the ranges, as literals
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
            if self.draw(st.integers(0, 2)) == 0:
                return p(self.list_attribute(name, elem, d))
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
            # numbers: ints and decimals mixed, constant arithmetic and constants among the entries
            consts = [c.name for c in self.scope.consts if c.type in ("int", "decimal")]
            items = self.draw(st.lists(st.sampled_from(NUMBER_ITEMS + tuple(consts)), min_size=1, max_size=4))
            return p(f"{self.expr(self.choice(('int', 'int', 'decimal')), d)} {op} [{', '.join(items)}]")
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

    def list_attribute(self, name: str, elem: str, d: int) -> str:
        """A test of a list entry's attributes (issue 11.4): category, source, a free attribute, the expiry."""
        # a list function refuses a decimal looked up in an int list (RD205), and a score may be a decimal
        self.exact_ints = elem == "int"
        try:
            x = self.expr(self.choice(("int", "decimal")) if elem == "decimal" else elem, d)
        finally:
            self.exact_ints = False
        fn = self.choice(("list_category", "list_source", "list_attr", "list_expires_at", "present"))
        if fn == "list_expires_at":
            return f"list_expires_at({name}, {x}) {self.choice(('<', '>=', '=='))} {self.e_timestamp(0)}"
        if fn == "present":
            return f"present(list_category({name}, {x}))"
        attr = f', "{self.choice(LIST_ATTRS)}"' if fn == "list_attr" else ""
        value = self.choice(LIST_CATEGORIES if fn != "list_source" else LIST_SOURCES)
        return f'{fn}({name}, {x}{attr}) {self.choice(("==", "!="))} "{value}"'


LIST_CATEGORIES = ("fraud", "suspect", "")
LIST_SOURCES = ("icbc", "pboc")
LIST_ATTRS = ("note", "branch")
"""Attribute texts of list entries (strategies/streams.py draws entries with these)."""


# ---------------------------------------------------------------- constant declarations

INT_LEAVES = ("0", "1", "2", "3", "7", "10", "12")
DEC_LEAVES = ("0.5", "1.5", "1.0", "2.0", "1.9999", "2.0001", "0.0001", "0.0003", "0.3333", "2.5")
DIVISORS = ("2", "3", "4", "0.5", "1.5", "0.3")
"""Literal divisors only: a constant divisor that folds to zero would be an error (RD211)."""


def _promote(a: str, b: str) -> str:
    return "decimal" if "decimal" in (a, b) else "int"


def const_number(draw, scope: Scope, depth: int) -> tuple[str, str]:
    """Constant number text over literals and earlier constants, with its type (``int`` or ``decimal``)."""
    kind = draw(st.integers(0, 7)) if depth > 0 else draw(st.integers(0, 1))
    if kind <= 1:
        t = ("int", "decimal")[kind]
        names = [c.name for c in scope.consts if c.type == t]
        if names and draw(st.booleans()):
            return draw(st.sampled_from(names)), t
        return draw(st.sampled_from(INT_LEAVES if t == "int" else DEC_LEAVES)), t
    a, ta = const_number(draw, scope, depth - 1)
    if kind <= 3:
        b, tb = const_number(draw, scope, depth - 1)
        return p(f"{a} {draw(st.sampled_from(('+', '-', '*')))} {b}"), _promote(ta, tb)
    if kind == 4:
        op, d = draw(st.sampled_from(("/", "%"))), draw(st.sampled_from(DIVISORS))
        return p(f"{a} {op} {d}"), "decimal" if op == "/" or "." in d else ta
    if kind == 5:
        b, tb = const_number(draw, scope, depth - 1)
        return f"{draw(st.sampled_from(('min', 'max')))}({a}, {b})", _promote(ta, tb)
    if kind == 6:
        return f"abs({a})", ta
    return p(f"-{a}"), ta


def const_bool(draw, scope: Scope, depth: int) -> str:
    """Constant condition text: mostly int-against-decimal comparisons and memberships."""
    bools = [c.name for c in scope.consts if c.type == "bool"]
    kind = draw(st.integers(0, 4)) if depth > 0 else draw(st.integers(0, 2))
    if kind <= 1:
        a, ta = const_number(draw, scope, depth)
        b, tb = const_number(draw, scope, max(depth - 1, 0))
        if ta == tb and draw(st.integers(0, 2)):  # mostly int against decimal, the case that needs scaling
            b = draw(st.sampled_from(DEC_LEAVES if ta == "int" else INT_LEAVES))
        if draw(st.booleans()):
            a, b = b, a
        return p(f"{a} {draw(st.sampled_from(('==', '!=', '<', '<=', '>', '>=')))} {b}")
    if kind == 2:
        a, _ta = const_number(draw, scope, depth)
        items = [const_number(draw, scope, max(depth - 1, 0))[0] for _ in range(draw(st.integers(1, 4)))]
        return p(f"{a} {draw(st.sampled_from(('in', 'not in')))} [{', '.join(items)}]")
    if kind == 3 and bools:
        name = draw(st.sampled_from(bools))
        return p(f"not {name}") if draw(st.booleans()) else name
    a, b = const_bool(draw, scope, depth - 1), const_bool(draw, scope, depth - 1)
    return p(f"{a} {draw(st.sampled_from(('and', 'or')))} {b}")


def const_decl(draw, scope: Scope, name: str) -> str:
    """``const NAME = ...`` with a constant number or condition; declares ``name`` in ``scope``."""
    if draw(st.booleans()):
        text, t = const_bool(draw, scope, draw(st.integers(0, 2))), "bool"
    else:
        text, t = const_number(draw, scope, draw(st.integers(0, 2)))
    scope.consts.append(Sym(name, t))
    return f"const {name} = {text}"
