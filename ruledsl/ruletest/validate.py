"""Rule tests: YAML files of named cases, each a sequence of events on a virtual clock.

A test file (``rulesets/tests/<ruleset>.test.yaml``, format in
``docs/testing.md``) names a ruleset and lists cases.  ``load_test_file``
parses and validates it completely before anything runs: YAML syntax, the
structure (msgspec Structs), and everything that can be checked against the
ruleset (event types, fields, rule ids, feature names, parameter and list
values).  Problems become a ``RuleTestError`` whose lines read
``file:line:col: key.path (case "name"): message``.

``run_case`` runs one case on a fresh engine and returns a ``CaseResult``;
``format_failure`` renders a failed case (expected vs actual, the decision
with its feature values, the values behind the rules that should have
fired, the case's timeline).  ``Coverage`` collects which rules fired and
which stayed silent over the cases run.  The CLI (``ruledsl test``,
``cli_test``) and the pytest plugin (``pytest_plugin``) are thin layers over
these functions.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import msgspec
import yaml
from msgspec import UNSET, UnsetType

from ruledsl.kernels.values import EventError, get_zone, parse_timestamp
from ruledsl.runtime.decision import Decision
from ruledsl.syntax.diagnostics import render, suggest
from ruledsl.syntax.loader import display_path

__all__ = [
    "TEST_SUFFIX",
    "CaseResult",
    "Coverage",
    "Problem",
    "RuleCase",
    "RuleTestError",
    "RuleTestFile",
    "find_test_files",
    "format_failure",
    "load_test_file",
    "parse_duration",
    "run_case",
    "run_file",
]

TEST_SUFFIX = ".test.yaml"
DEFAULT_START = "2026-01-05T09:00:00"
"""The virtual clock's start when neither the file nor the case gives one (a Monday, 09:00 local)."""
DEFAULT_STEP_MS = 1000
"""Time between two events when a step says neither ``at``, ``after`` nor ``ts``."""

ACTIONS = ("block", "hold", "step_up", "alert", "pass")
LEVELS = ("high", "elevated", "medium", "low", "minimal")
STEP_KEYS = ("at", "after", "ts", "repeat", "expect")
MAX_REPEAT = 10_000
_FEATURE_KINDS = ("params", "windows", "sequences", "scorecards")

# ---------------------------------------------------------------- structure (msgspec)


class ScoreSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``scores: {card: {score: N, level: L}}``: either key may be left out."""

    score: Any = UNSET
    level: Union[Literal["high", "elevated", "medium", "low", "minimal"], UnsetType] = UNSET


class ExpectSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a step (or ``expect_each`` / ``expect_last``) expects of the decision."""

    action: Union[Literal["block", "hold", "step_up", "alert", "pass"], UnsetType] = UNSET
    fired: Union[list[str], UnsetType] = UNSET
    silent: Union[list[str], UnsetType] = UNSET
    rules: Union[list[str], UnsetType] = UNSET
    features: Union[dict[str, Any], UnsetType] = UNSET
    scores: Union[dict[str, ScoreSpec], UnsetType] = UNSET
    late: Union[bool, UnsetType] = UNSET
    codes: Union[list[str], UnsetType] = UNSET
    error: Union[bool, str, UnsetType] = UNSET


class CaseSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One case as written; ``events`` are checked by hand (their key is the event type)."""

    name: str
    events: list[dict[str, Any]]
    tags: list[str] = []
    description: Optional[str] = None
    skip: Optional[str] = None
    start: Optional[Union[str, int]] = None
    params: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    defaults: dict[str, Optional[dict[str, Any]]] = {}
    expect_each: Optional[ExpectSpec] = None
    expect_last: Optional[ExpectSpec] = None


class FileSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A test file as written."""

    ruleset: str
    cases: list[CaseSpec]
    description: Optional[str] = None
    timezone: Optional[str] = None
    start: Optional[Union[str, int]] = None
    params: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    defaults: dict[str, Optional[dict[str, Any]]] = {}


def _struct_keys(struct) -> list[str]:
    return list(struct.__struct_fields__)


# ---------------------------------------------------------------- problems


@dataclass
class Problem:
    """One thing wrong with a test file, with its position when known (1-based; 0 = unknown)."""

    path: str
    message: str
    line: int = 0
    col: int = 0
    key: str = ""
    case: Optional[str] = None

    def __str__(self) -> str:
        where = self.path + (f":{self.line}:{self.col}" if self.line else "")
        key = self.key + (f' (case "{self.case}")' if self.case is not None else "")
        return f"{where}: {key + ': ' if key else ''}{self.message}"

    def to_dict(self) -> dict:
        """A JSON-ready view."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "key": self.key,
            "case": self.case,
            "message": self.message,
        }


class RuleTestError(Exception):
    """A test file that cannot be run: every problem found in it."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------- durations and times

_DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_DURATION_FULL = re.compile(r"-?(?:\d+(?:ms|s|m|h|d|w))+")


def parse_duration(text: Any) -> int:
    """``"1h30m"`` -> 5 400 000 ms; a leading ``-`` negates.  Raises ValueError otherwise."""
    if type(text) is not str:
        raise ValueError(f"a duration is written with a unit, like `10s` or `5m`, not {text!r}")
    s = text.replace(" ", "").replace("_", "")
    if not _DURATION_FULL.fullmatch(s):
        raise ValueError(
            f"bad duration {text!r}: write a number and a unit (ms, s, m, h, d, w), e.g. `500ms`, `10s`, `1h30m`"
        )
    ms = sum(int(num) * _DURATION_UNITS[unit] for num, unit in _DURATION_PART.findall(s))
    return -ms if s.startswith("-") else ms


def format_duration(ms: int) -> str:
    """5 400 000 -> ``1h30m``; negative durations get a leading ``-``."""
    if ms == 0:
        return "0s"
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _DURATION_UNITS[unit]
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return sign + "".join(parts)


def _iso_local(ts: int, zone) -> str:
    stamp = _dt.datetime.fromtimestamp(ts / 1000, _dt.timezone.utc).astimezone(zone)
    text = stamp.isoformat(sep=" ", timespec="milliseconds" if ts % 1000 else "seconds")
    return text


def _clock(ts: int, zone) -> str:
    stamp = _dt.datetime.fromtimestamp(ts / 1000, _dt.timezone.utc).astimezone(zone)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + (f".{ts % 1000:03d}" if ts % 1000 else "")


def _normalise(value: Any) -> Any:
    """YAML timestamps and dates -> ISO 8601 text; containers recursively."""
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


# ---------------------------------------------------------------- YAML positions

_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\.\.\.\]")


def _parse_key_path(text: str) -> list:
    """``$.cases[0].expect`` -> ``["cases", 0, "expect"]`` (``[...]`` -> ``...``)."""
    out: list = []
    for m in _PATH_TOKEN.finditer(text):
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        else:
            out.append(...)
    return out


def _show_key_path(path: list) -> str:
    text = ""
    for tok in path:
        if isinstance(tok, int):
            text += f"[{tok}]"
        elif tok is ...:
            text += "[...]"
        else:
            text += ("." if text else "") + str(tok)
    return text


class _Positions:
    """Line:col of keys and values in a YAML document, from its composed node tree."""

    def __init__(self, root):
        self.root = root

    def find(self, path: list, *, key: bool = False):
        """The node at ``path`` (or, with ``key``, the key node of its last step); the nearest found."""
        node = self.root
        for i, tok in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode) and isinstance(tok, str):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == tok:
                        node = k if (key and last) else v
                        break
                else:
                    return node
            elif isinstance(node, yaml.SequenceNode) and isinstance(tok, int) and tok < len(node.value):
                node = node.value[tok]
            else:
                return node
        return node

    def mark(self, path: list, *, key: bool = False) -> tuple[int, int]:
        if self.root is None:
            return 0, 0
        node = self.find(path, key=key)
        if node is None:
            return 0, 0
        return node.start_mark.line + 1, node.start_mark.column + 1


def _duplicate_keys(node, path: list, out: list) -> None:
    """Find mapping keys written twice (YAML keeps the last one silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                if k.value in seen:
                    out.append((path + [k.value], k))
                seen.add(k.value)
            _duplicate_keys(v, path + [k.value if isinstance(k, yaml.ScalarNode) else "?"], out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _duplicate_keys(v, path + [i], out)


# ---------------------------------------------------------------- the ruleset under test


class RulesetUnderTest:
    """A checked and compiled ruleset; engines for cases are built from it cheaply."""

    def __init__(self, path: Path, result, compiled):
        self.path = path
        self.shown = display_path(path)
        self.result = result
        self.compiled = compiled
        self.symbols = result.symbols
        header = self.symbols.header
        self.timezone = header.timezone if header is not None and header.timezone else "UTC"
        self.rule_ids = list(self.symbols.rules)
        self.codes = {d.code for d in self.symbols.rules.values() if d.code}

    def engine(self, *, params=None, lists=None, timezone=None):
        """A fresh engine: empty state, the given parameters and lists."""
        from ruledsl.runtime.engine import Engine

        return Engine(self.result, self.compiled, params=params, lists=lists, timezone=timezone)

    def reference(self, *, params=None, lists=None, timezone=None):
        """The reference interpreter on the same ruleset and settings."""
        from ruledsl.oracle.reference import ReferenceEngine
        from ruledsl.runtime.lists import resolve_lists

        return ReferenceEngine(self.result, params=params, lists=resolve_lists(self.result, lists), timezone=timezone)

    def applies(self, rule: str, event_type: str) -> bool:
        return event_type in self.symbols.rule_events.get(rule, ())

    def condition_text(self, rule: str) -> Optional[str]:
        """The source text of a rule's ``when`` (for failure reports)."""
        decl = self.symbols.rules.get(rule)
        if decl is None or decl.when is None:
            return None
        source = self.result.program.sources.get(self.symbols.decl_paths.get(id(decl), ""))
        if source is None:
            return None
        sp = decl.when.span
        return " ".join(source[sp.start : sp.end].split())


_RULESET_CACHE: dict[tuple, RulesetUnderTest] = {}


def load_ruleset(path: Path) -> RulesetUnderTest:
    """Load, check and compile a ruleset once per (file, modification time).

    Raises ``RuleDSLError`` when it does not load cleanly.
    """
    from ruledsl.check.checker import check
    from ruledsl.compile.compiler import compile_ruleset
    from ruledsl.syntax.diagnostics import RuleDSLError
    from ruledsl.syntax.loader import load_program

    real = path.resolve()
    try:
        st = real.stat()
        key = (str(real), st.st_mtime_ns, st.st_size)
    except OSError:
        key = (str(real), None, None)
    cached = _RULESET_CACHE.get(key)
    if cached is not None:
        return cached
    program = load_program([path])
    if program.has_syntax_errors:
        raise RuleDSLError(program.diagnostics, program.sources)
    result = check(program)
    if not result.ok:
        raise RuleDSLError(result.diagnostics, program.sources)
    loaded = RulesetUnderTest(path, result, compile_ruleset(result))
    _RULESET_CACHE[key] = loaded
    return loaded


# ---------------------------------------------------------------- validated model


@dataclass
class Expectation:
    """A checked expectation; ``None`` means "not checked"."""

    action: Optional[str] = None
    fired: Optional[tuple[str, ...]] = None
    silent: Optional[tuple[str, ...]] = None
    rules: Optional[tuple[str, ...]] = None
    features: Optional[dict[str, tuple[Any, str]]] = None  # name -> (canonical value, type name)
    scores: Optional[dict[str, tuple[Any, Optional[str]]]] = None  # card -> (score or UNSET, level or None)
    late: Optional[bool] = None
    codes: Optional[tuple[str, ...]] = None
    error: Union[bool, str, None] = None  # True: any EventError; str: naming that field

    def merged_over(self, base: Expectation) -> Expectation:
        """This expectation's keys, falling back to ``base``'s where this one says nothing."""
        if self.error not in (None, False):
            return self
        out = Expectation()
        for name in self.__dataclass_fields__:
            mine = getattr(self, name)
            setattr(out, name, mine if mine is not None else getattr(base, name))
        return out


@dataclass
class Step:
    """One event of a case: what is sent, when, and what is expected after it."""

    index: int  # 0-based
    line: int
    event_type: str
    fields: dict[str, Any]
    ts: int
    expect: Optional[Expectation] = None
    expect_last: Optional[Expectation] = None
    repeat: Optional[tuple[int, int]] = None  # (n, of) for a step written with `repeat`

    def event(self) -> dict[str, Any]:
        """The event as sent to the engine (a fresh dict)."""
        return {"type": self.event_type, "ts": self.ts, **self.fields}


@dataclass
class RuleCase:
    """A validated case, ready to run."""

    file: RuleTestFile
    name: str
    line: int
    tags: list[str]
    steps: list[Step]
    start: int
    params: dict[str, Any]
    lists: dict[str, list[Any]]
    skip: Optional[str] = None
    description: Optional[str] = None

    @property
    def id(self) -> str:
        """``file::case name``, as shown in reports."""
        return f"{self.file.shown}::{self.name}"

    def matches(self, text: str) -> bool:
        """``-k``: the case's file, name or tags contain ``text`` (case-insensitive)."""
        hay = " ".join([self.id, *self.tags]).casefold()
        return text.casefold() in hay


@dataclass
class RuleTestFile:
    """A validated test file."""

    path: Path
    shown: str
    ruleset: RulesetUnderTest
    timezone: str
    cases: list[RuleCase] = field(default_factory=list)
    description: Optional[str] = None

    @property
    def zone(self):
        return get_zone(self.timezone)


# ---------------------------------------------------------------- loading and validating


_MSGSPEC_TYPES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "nothing (null)",
    "bool | str": "true, false or a field name",
    "str | int": "a string or an integer",
    "str | null": "a string",
    "int | str | null": "a string or an integer",
    "str | int | null": "a string or an integer",
    "object | null": "a mapping",
}


class _Validator:
    """Builds a ``RuleTestFile`` from YAML text, collecting every problem."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.shown = display_path(path)
        self.text = text
        self.problems: list[Problem] = []
        self.positions = _Positions(None)
        self.case_names: list[Optional[str]] = []
        self.data: Any = None

    # ---- reporting
    def problem(self, path: list, message: str, *, key: bool = False) -> None:
        line, col = self.positions.mark(path, key=key)
        case = None
        if len(path) >= 2 and path[0] == "cases" and isinstance(path[1], int) and path[1] < len(self.case_names):
            case = self.case_names[path[1]]
        self.problems.append(Problem(self.shown, message, line, col, _show_key_path(path), case))

    def _fail(self) -> None:
        if self.problems:
            raise RuleTestError(sorted(self.problems, key=lambda p: (p.line, p.col)))

    # ---- the whole file
    def run(self) -> RuleTestFile:
        try:
            root = yaml.compose(self.text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(self.text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
            problem = getattr(err, "problem", None) or str(err)
            context = getattr(err, "context", None)
            message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
            raise RuleTestError([Problem(self.shown, message, line, col)]) from None
        self.positions = _Positions(root)
        if data is None:
            raise RuleTestError([Problem(self.shown, "empty test file: expected a mapping with `ruleset` and `cases`")])
        if not isinstance(data, dict):
            raise RuleTestError([Problem(self.shown, "a test file is a mapping with `ruleset` and `cases`", 1, 1)])
        raw_cases = data.get("cases")
        if isinstance(raw_cases, list):
            self.case_names = [
                c.get("name") if isinstance(c, dict) and isinstance(c.get("name"), str) else None for c in raw_cases
            ]
        dups: list = []
        _duplicate_keys(root, [], dups)
        for kpath, node in dups:
            self.problem(kpath, f"`{kpath[-1]}` is written twice in this mapping", key=True)
            self.problems[-1].line = node.start_mark.line + 1
            self.problems[-1].col = node.start_mark.column + 1
        self._fail()

        data = _normalise(data)
        self.data = data
        try:
            spec = msgspec.convert(data, FileSpec)
        except msgspec.ValidationError as err:
            self._structure_error(str(err), [], FileSpec)
            self._fail()
            raise  # unreachable
        return self._file(spec)

    def _structure_error(self, message: str, prefix: list, root_type) -> None:
        """Turn a msgspec validation message into a problem at the right line."""
        m = re.match(r"^(.*) - at `key` in `(\$[^`]*)`$", message, re.S)
        if m:
            text, kpath = m.group(1), prefix + _parse_key_path(m.group(2))
            text = _friendly(text)
            self.problem(kpath, f"keys must be strings: {text}")
            return
        m = re.match(r"^(.*) - at `(\$[^`]*)`$", message, re.S)
        text, kpath = (m.group(1), prefix + _parse_key_path(m.group(2))) if m else (message, prefix)
        unknown = re.match(r"Object contains unknown field `([^`]*)`", text)
        kpath = self._resolve_ellipsis(kpath, unknown.group(1) if unknown else None)
        missing = re.match(r"Object missing required field `([^`]*)`", text)
        enum = re.match(r"Invalid enum value (.*)", text)
        if unknown:
            name = unknown.group(1)
            allowed = _keys_at(root_type, kpath[len(prefix) :])
            hint = suggest(name, allowed) if allowed else None
            text = f"unknown key `{name}`" + (f"; {hint}" if hint else "")
            if allowed:
                text += f" (allowed: {', '.join(allowed)})"
            self.problem(kpath + [name], text, key=True)
            return
        if missing:
            self.problem(kpath, f"missing required key `{missing.group(1)}`")
            return
        if enum:
            choices = ACTIONS if kpath and kpath[-1] == "action" else LEVELS
            self.problem(kpath, f"invalid value {enum.group(1)}: expected one of {', '.join(choices)}")
            return
        self.problem(kpath, _friendly(text))

    def _resolve_ellipsis(self, kpath: list, unknown: Optional[str]) -> list:
        """msgspec writes ``[...]`` for a dict value: find the key in the data where we can."""
        if ... not in kpath:
            return kpath
        out: list = []
        node: Any = self.data
        for i, tok in enumerate(kpath):
            if tok is ... and isinstance(node, dict):
                rest = kpath[i + 1 :]
                chosen = None
                for k, v in node.items():
                    target = _follow(v, rest)
                    if target is not _MISSING and (unknown is None or (isinstance(target, dict) and unknown in target)):
                        chosen = k
                        break
                if chosen is None:
                    return out + kpath[i:]
                tok = chosen
            out.append(tok)
            node = _follow(node, [tok])
            if node is _MISSING:
                return out + kpath[i + 1 :]
        return out

    def _file(self, spec: FileSpec) -> RuleTestFile:
        from ruledsl.syntax.diagnostics import RuleDSLError

        ruleset_path = self.path.parent / spec.ruleset
        try:
            rs = load_ruleset(ruleset_path)
        except RuleDSLError as err:
            errors = [d for d in err.diagnostics if d.severity == "error"]
            rendered = "\n".join(render(d, err.sources.get(d.path)) for d in errors[:20])
            self.problem(["ruleset"], f"ruleset `{display_path(ruleset_path)}` does not load:\n{rendered}")
            self._fail()
            raise  # unreachable
        self.rs = rs

        timezone = rs.timezone
        if spec.timezone is not None:
            try:
                get_zone(spec.timezone)
                timezone = spec.timezone
            except ValueError:
                self.problem(["timezone"], f"unknown time zone {spec.timezone!r} (use an IANA name like Asia/Shanghai)")
        self.zone = get_zone(timezone)
        file_start = self._start(spec.start, ["start"]) if spec.start is not None else self._start(DEFAULT_START, [])
        file_params = self._params(spec.params, ["params"])
        self._lists(spec.lists, ["lists"])
        file_defaults = self._defaults(spec.defaults, ["defaults"])

        out = RuleTestFile(
            path=self.path, shown=self.shown, ruleset=rs, timezone=timezone, description=spec.description
        )
        if not spec.cases:
            self.problem(["cases"], "no cases: write at least one")
        seen: dict[str, int] = {}
        for i, cs in enumerate(spec.cases):
            where = ["cases", i]
            if cs.name in seen:
                self.problem(where + ["name"], f"case name {cs.name!r} is already used by cases[{seen[cs.name]}]")
            seen.setdefault(cs.name, i)
            if not cs.name.strip():
                self.problem(where + ["name"], "a case needs a non-empty name")
            start = self._start(cs.start, where + ["start"]) if cs.start is not None else file_start
            params = {**file_params, **self._params(cs.params, where + ["params"])}
            self._lists(cs.lists, where + ["lists"])
            lists = {**spec.lists, **cs.lists}
            defaults = {k: dict(v) for k, v in file_defaults.items()}
            for etype, fields in self._defaults(cs.defaults, where + ["defaults"]).items():
                defaults[etype] = {**defaults.get(etype, {}), **fields}
            steps = self._steps(cs, where, start, defaults)
            line, _col = self.positions.mark(where)
            out.cases.append(
                RuleCase(
                    file=out,
                    name=cs.name,
                    line=line,
                    tags=list(cs.tags),
                    steps=steps,
                    start=start,
                    params=params,
                    lists=lists,
                    skip=cs.skip,
                    description=cs.description,
                )
            )
        self._fail()
        return out

    # ---- settings
    def _start(self, value, where: list) -> int:
        try:
            return parse_timestamp(value, self.zone)
        except (TypeError, ValueError, OverflowError):
            self.problem(where, f'bad start time {value!r}: write ISO 8601, e.g. "2026-11-20T09:00:00+08:00"')
            return 0

    def _params(self, params: dict, where: list) -> dict:
        from ruledsl.runtime.lists import convert_item

        comp = self.rs.compiled
        out = {}
        for name, value in params.items():
            if name not in comp.param_types:
                hint = suggest(name, comp.param_types)
                self.problem(where + [name], f"unknown parameter `{name}`" + (f"; {hint}" if hint else ""), key=True)
                continue
            type_name = comp.param_types[name]
            try:
                if type_name == "duration":
                    out[name] = value if type(value) is int else parse_duration(value)
                elif type_name == "timestamp":
                    out[name] = parse_timestamp(value, self.zone)
                else:
                    convert_item(type_name, value)
                    enum_values = self.rs.symbols.value_types[name].enum_values
                    if type_name == "enum" and enum_values and value not in enum_values:
                        raise ValueError(f"{value!r} is not one of {', '.join(enum_values)}")
                    out[name] = value
            except (TypeError, ValueError, ArithmeticError) as err:
                why = f"{value!r} is not a number" if isinstance(err, ArithmeticError) else str(err)
                self.problem(where + [name], f"bad value for {type_name} parameter `{name}`: {why}{_quote_hint(value)}")
        return out

    def _lists(self, lists: dict, where: list) -> None:
        from ruledsl.runtime.lists import convert_values

        comp = self.rs.compiled
        for name, values in lists.items():
            if name not in comp.list_types:
                hint = suggest(name, comp.list_types)
                self.problem(where + [name], f"unknown list `{name}`" + (f"; {hint}" if hint else ""), key=True)
                continue
            try:
                convert_values(comp.list_types[name], values)
            except (TypeError, ValueError, ArithmeticError) as err:
                bad = next((v for v in values if type(v) is not str), None)
                why = "an entry is not a number" if isinstance(err, ArithmeticError) else str(err)
                self.problem(where + [name], f"bad entry for list `{name}`: {why}{_quote_hint(bad)}")

    def _event_type(self, etype: Any, where: list) -> bool:
        events = self.rs.symbols.events
        if etype in events:
            return True
        hint = suggest(str(etype), events)
        self.problem(
            where,
            f"unknown event type `{etype}`"
            + (f"; {hint}" if hint else "")
            + f" (this ruleset has: {', '.join(events)})",
            key=True,
        )
        return False

    def _fields(self, etype: str, body: Any, where: list) -> dict:
        if body is None:
            return {}
        if not isinstance(body, dict):
            self.problem(where, f"the fields of a `{etype}` event must be a mapping, not {_kind(body)}")
            return {}
        schema = self.rs.symbols.fields[etype]
        out = {}
        for name, value in body.items():
            if name in ("ts", "type"):
                self.problem(
                    where + [name],
                    f"`{name}` is not written in the event: give the time with `at`, `after` or `ts` on the step"
                    if name == "ts"
                    else "`type` is not written in the event: the step's key is the event type",
                    key=True,
                )
                continue
            if name not in schema:
                hint = suggest(str(name), [f for f in schema if f != "ts"])
                self.problem(
                    where + [name], f"`{etype}` events have no field `{name}`" + (f"; {hint}" if hint else ""), key=True
                )
                continue
            out[name] = value
        return out

    def _defaults(self, defaults: dict, where: list) -> dict[str, dict]:
        out = {}
        for etype, body in defaults.items():
            if self._event_type(etype, where + [etype]):
                out[etype] = self._fields(etype, body, where + [etype])
        return out

    # ---- steps
    def _steps(self, cs: CaseSpec, where: list, start: int, defaults: dict) -> list[Step]:
        steps: list[Step] = []
        if not cs.events:
            self.problem(where + ["events"], "a case needs at least one event")
            return steps
        prev: Optional[int] = None
        for j, raw in enumerate(cs.events):
            sw = where + ["events", j]
            line, _col = self.positions.mark(sw)
            types = [k for k in raw if k not in STEP_KEYS]
            if len(types) != 1:
                if not types:
                    self.problem(
                        sw,
                        "a step needs an event type key (one of: "
                        + ", ".join(self.rs.symbols.events)
                        + ") besides at/after/ts/repeat/expect",
                    )
                else:
                    for t in types:
                        if t not in self.rs.symbols.events:
                            self._step_key(t, sw + [t])
                    if all(t in self.rs.symbols.events for t in types):
                        self.problem(
                            sw,
                            f"a step is one event; this one has {len(types)} event types: "
                            + ", ".join(map(str, types)),
                        )
                continue
            etype = types[0]
            if etype not in self.rs.symbols.events:
                self._step_key(etype, sw + [etype])
                continue
            fields = {**defaults.get(etype, {}), **self._fields(etype, raw[etype], sw + [etype])}
            repeat = self._repeat(raw, sw)
            own = None
            if "expect" in raw and raw["expect"] is not None:
                own = self._expectation(raw["expect"], sw + ["expect"], etype)
            elif "expect" in raw:
                self.problem(sw + ["expect"], "`expect` is empty: leave it out, or say what to check")
            each = None
            if cs.expect_each is not None and not (own is not None and own.error not in (None, False)):
                each = self._checked(cs.expect_each, where + ["expect_each"], etype, each=True)
            expect = own.merged_over(each) if own is not None and each is not None else (own or each)
            for r in range(repeat):
                ts = self._step_time(raw, sw, start, prev)
                prev = ts
                steps.append(
                    Step(
                        index=len(steps),
                        line=line,
                        event_type=etype,
                        fields=dict(fields),
                        ts=ts,
                        expect=expect,
                        repeat=(r + 1, repeat) if repeat > 1 else None,
                    )
                )
        if steps and cs.expect_last is not None:
            last = steps[-1]
            last.expect_last = self._checked(cs.expect_last, where + ["expect_last"], last.event_type)
        return steps

    def _repeat(self, raw: dict, sw: list) -> int:
        if "repeat" not in raw:
            return 1
        n = raw["repeat"]
        if type(n) is not int or not 1 <= n <= MAX_REPEAT:
            self.problem(sw + ["repeat"], f"`repeat` is a whole number from 1 to {MAX_REPEAT}, not {n!r}")
            return 1
        if n > 1 and ("at" in raw or "ts" in raw):
            self.problem(
                sw + ["repeat"],
                "a repeated step is spaced by `after` (default 1s): it cannot have "
                + ("`at`" if "at" in raw else "`ts`"),
                key=True,
            )
        return n

    def _step_key(self, key: Any, where: list) -> None:
        """A step key that is no event type: a misspelt step key, or an unknown event type."""
        hint = suggest(str(key), STEP_KEYS) if isinstance(key, str) else None
        if hint and not suggest(str(key), self.rs.symbols.events):
            self.problem(
                where,
                f"unknown key `{key}`; {hint} (a step has one event type key and at/after/ts/repeat/expect)",
                key=True,
            )
            return
        self._event_type(key, where)

    def _step_time(self, raw: dict, sw: list, start: int, prev: Optional[int]) -> int:
        given = [k for k in ("at", "after", "ts") if k in raw]
        if len(given) > 1:
            self._once(
                sw + [given[1]], f"give at most one of at, after, ts (this step has {', '.join(given)})", key=True
            )
        if not given:
            return start if prev is None else prev + DEFAULT_STEP_MS
        key = given[0]
        value = raw[key]
        try:
            if key == "ts":
                return parse_timestamp(value, self.zone)
            ms = parse_duration(value)
        except (TypeError, ValueError, OverflowError) as err:
            if key == "ts":
                self._once(
                    sw + ["ts"],
                    f'bad timestamp {value!r}: write ISO 8601 (e.g. "2026-11-20T09:00:00+08:00") or epoch milliseconds',
                )
            else:
                self._once(sw + [key], f"`{key}`: {err}")
            return start if prev is None else prev
        if key == "at":
            return start + ms
        return (start if prev is None else prev) + ms

    # ---- expectations
    def _expectation(self, raw: Any, where: list, etype: str) -> Optional[Expectation]:
        try:
            spec = msgspec.convert(raw, ExpectSpec)
        except msgspec.ValidationError as err:
            self._structure_error(str(err), where, ExpectSpec)
            return None
        return self._checked(spec, where, etype)

    def _checked(self, spec: ExpectSpec, where: list, etype: str, *, each: bool = False) -> Optional[Expectation]:
        """Check an expectation against the ruleset for an event type; canonical values."""
        rs = self.rs
        sym = rs.symbols
        n_before = len(self.problems)
        out = Expectation()
        given = [k for k in _struct_keys(ExpectSpec) if getattr(spec, k) is not UNSET]
        if spec.error is not UNSET and spec.error is not False:
            others = [k for k in given if k != "error"]
            if others:
                self.problem(
                    where + ["error"],
                    "`error` expects the event to be rejected: it cannot be combined with " + ", ".join(others),
                    key=True,
                )
            if isinstance(spec.error, str):
                fields = sym.fields[etype]
                if spec.error not in fields and spec.error != "type":
                    hint = suggest(spec.error, fields)
                    self.problem(
                        where + ["error"],
                        f"`{etype}` events have no field `{spec.error}`" + (f"; {hint}" if hint else ""),
                    )
            out.error = spec.error
            return out if len(self.problems) == n_before else None
        if spec.action is not UNSET:
            out.action = spec.action
        for key in ("fired", "silent", "rules"):
            ids = getattr(spec, key)
            if ids is UNSET:
                continue
            kept = []
            for k, rule in enumerate(ids):
                if rule not in sym.rules:
                    hint = suggest(rule, sym.rules)
                    self._once(where + [key, k], f"unknown rule `{rule}`" + (f"; {hint}" if hint else ""))
                    continue
                if not rs.applies(rule, etype):
                    if each and key == "silent":
                        continue  # vacuous for this event type: fine in expect_each
                    on = ", ".join(sym.rule_events[rule])
                    self._once(
                        where + [key, k],
                        f"rule `{rule}` does not apply to `{etype}` events (it is on {on}), "
                        f"so it can never {'fire' if key != 'silent' else 'stay silent'} here",
                    )
                    continue
                kept.append(rule)
            setattr(out, key, tuple(kept))
        if spec.features is not UNSET:
            out.features = {}
            for name, value in spec.features.items():
                type_name = self._feature_type(name, etype, where + ["features", name])
                if type_name is None:
                    continue
                try:
                    out.features[name] = (self._canonical(value, type_name, name), type_name)
                except (TypeError, ValueError, ArithmeticError) as err:
                    self._once(where + ["features", name], f"bad expected value for `{name}` ({type_name}): {err}")
        if spec.scores is not UNSET:
            out.scores = {}
            for card, sc in spec.scores.items():
                if card not in sym.scorecards:
                    hint = suggest(card, sym.scorecards)
                    self._once(
                        where + ["scores", card],
                        f"unknown scorecard `{card}`" + (f"; {hint}" if hint else ""),
                        key=True,
                    )
                    continue
                if etype not in sym.scorecard_events.get(card, ()):
                    self._once(
                        where + ["scores", card], f"scorecard `{card}` does not apply to `{etype}` events", key=True
                    )
                    continue
                score = UNSET
                if sc.score is not UNSET:
                    type_name = sym.value_types[card].name
                    try:
                        score = self._canonical(sc.score, type_name, card)
                    except (TypeError, ValueError, ArithmeticError) as err:
                        self._once(where + ["scores", card, "score"], f"bad expected score: {err}")
                        continue
                out.scores[card] = (score, None if sc.level is UNSET else sc.level)
        if spec.late is not UNSET:
            out.late = spec.late
        if spec.codes is not UNSET:
            for k, code in enumerate(spec.codes):
                if code not in rs.codes:
                    hint = suggest(code, rs.codes)
                    self._once(
                        where + ["codes", k], f"no rule has the reason code `{code}`" + (f"; {hint}" if hint else "")
                    )
            out.codes = tuple(spec.codes)
        return out if len(self.problems) == n_before else None

    def _once(self, path: list, message: str, *, key: bool = False) -> None:
        """Report a problem unless the same one was reported (``expect_each`` is checked per step)."""
        text = _show_key_path(path)
        if any(p.key == text and p.message == message for p in self.problems):
            return
        self.problem(path, message, key=key)

    def _feature_type(self, name: str, etype: str, where: list) -> Optional[str]:
        sym = self.rs.symbols
        fields = sym.fields[etype]
        if name in fields:
            return fields[name].name
        for kind in _FEATURE_KINDS:
            if name in getattr(sym, kind):
                return sym.value_types[name].name
        candidates = [f for f in fields] + [x for kind in _FEATURE_KINDS for x in getattr(sym, kind)]
        hint = suggest(name, candidates)
        other = [e for e, fs in sym.fields.items() if name in fs]
        extra = f" (it is a field of {', '.join(other)})" if other else ""
        self._once(
            where,
            f"`{name}` is not a feature of `{etype}` events: features are the event's fields, "
            f"windows, sequences, parameters and scorecards{extra}" + (f"; {hint}" if hint else ""),
            key=True,
        )
        return None

    def _canonical(self, value: Any, type_name: str, name: str) -> Any:
        return canonical_value(value, type_name, self.zone)


def canonical_value(value: Any, type_name: str, zone) -> Any:
    """An expected value (as written in YAML) in the form the engine reports it."""
    if value is None:
        return None
    if type_name == "decimal":
        if type(value) is bool or not isinstance(value, (int, float, str)):
            raise TypeError(f"expected a number, got {_kind(value)}")
        try:
            return _decimal.Decimal(str(value).strip())
        except _decimal.InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    if type_name == "int":
        if type(value) is int:
            return value
        if type(value) in (float, str):
            try:
                d = _decimal.Decimal(str(value).strip())
            except _decimal.InvalidOperation:
                d = None
            if d is not None and d.is_finite() and d == d.to_integral_value():
                return int(d)
        raise TypeError(f"expected an integer, got {_kind(value)}")
    if type_name == "float":
        if type(value) is bool or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {_kind(value)}")
        return float(value)
    if type_name == "bool":
        if type(value) is not bool:
            raise TypeError(f"expected true or false, got {_kind(value)}")
        return value
    if type_name == "duration":
        if type(value) is int:
            return value
        return parse_duration(value)
    if type_name == "timestamp":
        if type(value) is bool:
            raise TypeError("expected a timestamp")
        return parse_timestamp(value, zone)
    if type_name in ("string", "enum"):
        if type(value) is not str:
            raise TypeError(f"expected a string, got {_kind(value)}{_quote_hint(value)}")
        return value
    return value


_MISSING = object()


def _follow(node: Any, path: list) -> Any:
    for tok in path:
        if (isinstance(node, dict) and tok in node) or (
            isinstance(node, list) and isinstance(tok, int) and tok < len(node)
        ):
            node = node[tok]
        else:
            return _MISSING
    return node


def _keys_at(root_type, path: list) -> list[str]:
    """The keys allowed in the mapping at ``path`` below a Struct type."""
    t = root_type
    for tok in path:
        if t is FileSpec and tok == "cases":
            t = list
        elif t is list and isinstance(tok, int):
            t = CaseSpec
        elif t is CaseSpec and tok in ("expect_each", "expect_last"):
            t = ExpectSpec
        elif t is ExpectSpec and tok == "scores":
            t = dict
        elif t is dict:
            t = ScoreSpec
        else:
            return []
    return _struct_keys(t) if isinstance(t, type) and issubclass(t, msgspec.Struct) else []


def _friendly(text: str) -> str:
    m = re.match(r"Expected `([^`]*)`, got `([^`]*)`(.*)", text, re.S)
    if not m:
        return text
    want, got, rest = m.groups()
    return f"expected {_MSGSPEC_TYPES.get(want, want)}, got {_MSGSPEC_TYPES.get(got, got)}{rest}"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if type(value) is bool:
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _quote_hint(value: Any) -> str:
    if type(value) in (int, float):
        return ' (YAML read it as a number: quote it, e.g. "6222000000001001")'
    return ""


def load_test_file(path: Union[str, Path]) -> RuleTestFile:
    """Read and validate a test file; raises ``RuleTestError`` listing every problem.

    I/O errors (missing file, not UTF-8) are also reported as a ``RuleTestError``.
    """
    path = Path(path)
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RuleTestError([Problem(shown, "cannot read the test file: not valid UTF-8")]) from None
    except OSError as err:
        raise RuleTestError([Problem(shown, f"cannot read the test file: {err.strerror or err}")]) from None
    return _Validator(path, text).run()


def find_test_files(paths: Iterable[Union[str, Path]]) -> list[Path]:
    """Test files named or below the given directories (``*.test.yaml``, sorted, each once).

    A ``.rdsl`` file stands for ``tests/<stem>.test.yaml`` beside it.  Paths
    that do not exist are returned as they are (loading them reports the error).
    """
    out: list[Path] = []
    seen: set = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(q for q in p.rglob(f"*{TEST_SUFFIX}") if q.is_file())
        elif p.suffix == ".rdsl":
            found = [p.parent / "tests" / f"{p.stem}{TEST_SUFFIX}"]
        else:
            found = [p]
        for q in found:
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out


# ---------------------------------------------------------------- running


@dataclass
class Mismatch:
    """One expectation that the decision did not meet."""

    key: str
    message: str
    source: str = "expect"


@dataclass
class StepRecord:
    """What happened at one step."""

    step: Step
    decision: Optional[Decision] = None
    error: Optional[EventError] = None
    crash: Optional[BaseException] = None  # anything else the engine raised: a bug in ruledsl


@dataclass
class CaseResult:
    """The outcome of running one case."""

    case: RuleCase
    status: str  # "passed" | "failed" | "skipped"
    records: list[StepRecord] = field(default_factory=list)
    failed_step: Optional[Step] = None
    mismatches: list[Mismatch] = field(default_factory=list)
    fired: Counter = field(default_factory=Counter)  # rule -> events where it matched
    silent: Counter = field(default_factory=Counter)  # rule -> events of its types where it did not
    explanation: Optional[dict] = None  # filled by ``explain`` for failure reports

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _engine_settings(case: RuleCase) -> dict:
    return {"params": case.params or None, "lists": case.lists or None, "timezone": case.file.timezone}


def run_case(case: RuleCase, *, explain: bool = True) -> CaseResult:
    """Run a case on a fresh engine; stops at the first event whose expectation fails.

    With ``explain`` a failure is enriched (``result.explanation``) by
    replaying the case on the reference interpreter: the values behind the
    rules that were expected to fire and did not.
    """
    result = CaseResult(case=case, status="passed")
    if case.skip is not None:
        result.status = "skipped"
        return result
    rs = case.file.ruleset
    engine = rs.engine(**_engine_settings(case))
    rule_events = rs.symbols.rule_events
    for step in case.steps:
        record = StepRecord(step)
        try:
            record.decision = engine.evaluate(step.event())
        except EventError as err:
            record.error = err
        except Exception as err:  # an engine bug: report it as this case's failure, keep running the others
            record.crash = err
            result.records.append(record)
            result.status = "failed"
            result.failed_step = step
            result.mismatches = [
                Mismatch(
                    "engine",
                    f"internal error: {type(err).__name__}: {err} "
                    "(a bug in ruledsl, not in the test: please report it)",
                )
            ]
            break
        result.records.append(record)
        if record.decision is not None:
            matched = set(record.decision.matched)
            for rule, events in rule_events.items():
                if step.event_type in events:
                    (result.fired if rule in matched else result.silent)[rule] += 1
        mismatches = check_step(step, record, case.file.zone)
        if mismatches:
            result.status = "failed"
            result.failed_step = step
            result.mismatches = mismatches
            if explain:
                result.explanation = _explain(case, step, mismatches, record)
            break
    return result


def check_step(step: Step, record: StepRecord, zone) -> list[Mismatch]:
    """Every way the step's outcome differs from its expectations."""
    out: list[Mismatch] = []
    checks = [(e, label) for e, label in ((step.expect, "expect"), (step.expect_last, "expect_last")) if e is not None]
    if record.error is not None:
        err = record.error
        if not any(e.error not in (None, False) for e, _ in checks):
            return [Mismatch("event", f"rejected by the engine: {err}{_event_error_hint(err)}")]
        for exp, label in checks:
            if exp.error in (None, False):
                out.append(Mismatch("event", f"rejected by the engine: {err}", label))
            elif exp.error is not True and err.field != exp.error:
                named = f"`{err.field}`" if err.field else "no field"
                out.append(
                    Mismatch(
                        "error",
                        f"expected an EventError naming field `{exp.error}`, got one naming {named}: {err}",
                        label,
                    )
                )
        return out
    decision = record.decision
    assert decision is not None
    for exp, label in checks:
        out.extend(compare(exp, decision, zone, label))
    return out


def compare(exp: Expectation, decision: Decision, zone, label: str = "expect") -> list[Mismatch]:
    """Compare one expectation with a decision."""
    out: list[Mismatch] = []
    matched = decision.matched
    by_id = {r.id: r for r in decision.rules}
    if exp.error not in (None, False):
        what = "any EventError" if exp.error is True else f"an EventError naming field `{exp.error}`"
        out.append(
            Mismatch(
                "error",
                f"expected the event to be rejected ({what}), but it was accepted: {_decision_line(decision)}",
                label,
            )
        )
        return out
    if exp.action is not None and exp.action != decision.action:
        out.append(Mismatch("action", f"expected {exp.action}, got {decision.action}", label))
    if exp.fired is not None:
        missing = [r for r in exp.fired if r not in by_id]
        if missing:
            out.append(Mismatch("fired", f"expected to fire, but stayed silent: {', '.join(missing)}", label))
    if exp.silent is not None:
        loud = [r for r in exp.silent if r in by_id]
        if loud:
            out.append(
                Mismatch(
                    "silent",
                    "expected to stay silent, but fired: " + ", ".join(f"{r} ({by_id[r].action})" for r in loud),
                    label,
                )
            )
    if exp.rules is not None:
        want, got = set(exp.rules), set(matched)
        if want != got:
            parts = []
            if want - got:
                parts.append("missing " + ", ".join(sorted(want - got)))
            if got - want:
                parts.append("unexpected " + ", ".join(r for r in matched if r not in want))
            out.append(
                Mismatch(
                    "rules",
                    f"expected exactly [{', '.join(exp.rules)}], got [{', '.join(matched)}] ({'; '.join(parts)})",
                    label,
                )
            )
    if exp.features is not None:
        actual: dict[str, Any] = {}
        for r in decision.rules:
            for k, v in r.features.items():
                actual.setdefault(k, v)
        for name, (want_v, type_name) in exp.features.items():
            if name not in actual:
                out.append(
                    Mismatch(
                        f"features.{name}",
                        "not reported by any matched rule"
                        + (f" (matched: {', '.join(matched)})" if matched else " (no rule matched)"),
                        label,
                    )
                )
                continue
            got_v = actual[name]
            if not values_equal(want_v, got_v, type_name):
                out.append(
                    Mismatch(
                        f"features.{name}",
                        f"expected {format_value(want_v, type_name, zone)}, got {format_value(got_v, type_name, zone)}",
                        label,
                    )
                )
    if exp.scores is not None:
        actual_scores = {s.name: s for s in decision.scores}
        for card, (want_score, want_level) in exp.scores.items():
            got = actual_scores.get(card)
            if got is None:
                out.append(Mismatch(f"scores.{card}", "no score reported for this event", label))
                continue
            if want_score is not UNSET and not values_equal(want_score, got.score, "decimal"):
                out.append(
                    Mismatch(f"scores.{card}.score", f"expected {_num(want_score)}, got {_num(got.score)}", label)
                )
            if want_level is not None and want_level != got.level:
                out.append(Mismatch(f"scores.{card}.level", f"expected {want_level}, got {got.level}", label))
    if exp.late is not None and exp.late != decision.late:
        out.append(Mismatch("late", f"expected {_yaml_bool(exp.late)}, got {_yaml_bool(decision.late)}", label))
    if exp.codes is not None:
        codes = decision.channel_view().codes
        if list(exp.codes) != list(codes):
            out.append(Mismatch("codes", f"expected [{', '.join(exp.codes)}], got [{', '.join(codes)}]", label))
    return out


def values_equal(want: Any, got: Any, type_name: str) -> bool:
    """Compare an expected (canonical) value with a reported one, by the feature's type."""
    if want is None or got is None:
        return want is None and got is None
    if type_name == "float" or type(got) is float or type(want) is float:
        try:
            return math.isclose(float(want), float(got), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    if type_name in ("decimal", "int") or isinstance(got, _decimal.Decimal):
        if type(want) is bool or type(got) is bool:
            return want is got
        try:
            return _decimal.Decimal(str(want)) == _decimal.Decimal(str(got))
        except _decimal.InvalidOperation:
            return False
    return want == got and type(want) is type(got)


# ---------------------------------------------------------------- formatting values and decisions


def format_value(value: Any, type_name: Optional[str], zone=None) -> str:
    """A value as shown in reports: strings quoted, decimals plain, times local, durations with units."""
    if value is None:
        return "missing"
    if type(value) is bool:
        return _yaml_bool(value)
    if type_name == "timestamp" and type(value) is int and zone is not None:
        return _iso_local(value, zone)
    if type_name == "duration" and type(value) is int:
        return format_duration(value)
    if isinstance(value, _decimal.Decimal):
        return _num(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _num(value: Any) -> str:
    if isinstance(value, _decimal.Decimal):
        text = format(value, "f")
        if "." in text:
            whole, frac = text.split(".")
            frac = frac.rstrip("0")
            frac = frac + "0" * (2 - len(frac)) if frac or whole else frac
            return f"{whole}.{frac}" if frac else whole
        return text
    return str(value)


def _yaml_bool(value: bool) -> str:
    return "true" if value else "false"


def _feature_type(rs: RulesetUnderTest, name: str, event_type: str) -> Optional[str]:
    sym = rs.symbols
    ftype = sym.fields.get(event_type, {}).get(name)
    if ftype is not None:
        return ftype.name
    vt = sym.value_types.get(name)
    return vt.name if vt is not None else None


def _decision_line(decision: Decision) -> str:
    rules = decision.matched
    return decision.action + (f" [{', '.join(rules)}]" if rules else "")


def _event_error_hint(err: EventError) -> str:
    text = str(err)
    if "must be a string, got int" in text or "must be a string, got float" in text:
        return " (YAML read the value as a number: quote it)"
    return ""


def format_event_fields(fields: dict[str, Any], zone=None) -> str:
    """``key=value`` pairs as sent (strings quoted)."""
    parts = []
    for k, v in fields.items():
        if isinstance(v, str):
            shown = json.dumps(v, ensure_ascii=False)
        elif v is None:
            shown = "null"
        elif type(v) is bool:
            shown = _yaml_bool(v)
        else:
            shown = repr(v)
        parts.append(f"{k}={shown}")
    return " ".join(parts)


def format_decision(decision: Decision, rs: RulesetUnderTest, zone, indent: str = "") -> list[str]:
    """The decision: action, then each matched rule with its reason, code and feature values."""
    head = f"{indent}decision: {decision.action}"
    extras = []
    if decision.hold_timeout_ms:
        extras.append(f"hold timeout {decision.hold_timeout_ms / 3_600_000:g}h")
    if decision.late:
        extras.append("late event")
    lines = [head + (f" ({', '.join(extras)})" if extras else "")]
    for r in decision.rules:
        bits = [r.id, r.action + (" (shadow)" if r.shadow else "")]
        if r.code:
            bits.append(r.code)
        bits.append(r.reason)
        lines.append(f"{indent}  " + "  ".join(bits))
        for name, value in r.features.items():
            lines.append(
                f"{indent}      {name} = {format_value(value, _feature_type(rs, name, decision.event_type), zone)}"
            )
    if not decision.rules:
        lines.append(f"{indent}  (no rule matched)")
    for s in decision.scores:
        lines.append(f"{indent}  scorecard {s.name}: {_num(s.score)} ({s.level})")
    return lines


def _explain(case: RuleCase, step: Step, mismatches: list[Mismatch], record: StepRecord) -> Optional[dict]:
    """Replay the case on the reference interpreter up to the failing step.

    Returns ``{"silent": {rule: {name: value}}, "reference": Decision | None}``:
    the values of the names in the conditions of the rules that were expected
    to fire and did not, and the reference's own decision when it differs
    from the engine's.  Any problem here only loses the explanation.
    """
    if record.decision is None:
        return None
    wanted: list[str] = []
    for exp in (step.expect, step.expect_last):
        if exp is None:
            continue
        for rule in (exp.fired or ()) + (exp.rules or ()):
            if rule not in record.decision.matched and rule not in wanted:
                wanted.append(rule)
    rs = case.file.ruleset
    try:
        from ruledsl.oracle.reference import _Ctx  # the reference's evaluation context

        ref = rs.reference(**_engine_settings(case))
        for prev in case.steps:
            if prev is step:
                break
            try:
                ref.evaluate(prev.event())
            except EventError:
                pass
        event = step.event()
        ref_decision = ref.peek(event)
        silent: dict[str, dict] = {}
        if wanted:
            etype, ts, fields = ref.decode(event)
            watermark = None if ref.max_ts is None else ref.max_ts - ref.lateness_ms
            ctx = _Ctx(etype, ts, fields, watermark is not None and ts < watermark)
            for rule in wanted:
                decl = rs.symbols.rules[rule]
                silent[rule] = ref._features(decl.when, ctx) if decl.when is not None else {}
    except Exception:  # the explanation is a courtesy: never let it hide the failure
        return None
    same = ref_decision.action == record.decision.action and sorted(ref_decision.matched) == sorted(
        record.decision.matched
    )
    return {"silent": silent, "reference": None if same else ref_decision}


def failure_summary(result: CaseResult) -> str:
    """One line: where the case failed and its first mismatch."""
    step = result.failed_step
    if step is None or not result.mismatches:
        return result.status
    first = result.mismatches[0]
    more = f" (+{len(result.mismatches) - 1} more)" if len(result.mismatches) > 1 else ""
    return f"event {step.index + 1}: {first.key}: {first.message}{more}"


def format_failure(result: CaseResult) -> str:
    """The report for a failed case (without the ``___ id ___`` header)."""
    case = result.case
    step = result.failed_step
    if step is None:
        return ""
    rs = case.file.ruleset
    zone = case.file.zone
    record = result.records[-1]
    rep = f", repetition {step.repeat[0]} of {step.repeat[1]}" if step.repeat else ""
    lines = [
        f"event {step.index + 1} of {len(case.steps)} ({case.file.shown}:{step.line}{rep}): "
        f"{step.event_type} at {_iso_local(step.ts, zone)}",
    ]
    if step.fields:
        lines.append("  " + format_event_fields(step.fields))
    lines.append("expected vs actual:")
    for m in result.mismatches:
        suffix = " (expect_last)" if m.source == "expect_last" else ""
        lines.append(f"  {m.key}{suffix}: {m.message}")
    if record.decision is not None:
        lines.extend(format_decision(record.decision, rs, zone))
    explanation = result.explanation or {}
    silent = explanation.get("silent") or {}
    if silent:
        lines.append("expected to fire but silent (values from the reference interpreter):")
        for rule, feats in silent.items():
            decl = rs.symbols.rules[rule]
            bits = [rule, decl.action.name if decl.action else "?"]
            if decl.code:
                bits.append(decl.code)
            if decl.reason:
                bits.append(decl.reason)
            lines.append("  " + "  ".join(bits))
            cond = rs.condition_text(rule)
            if cond:
                lines.append(f"      when {cond}")
            for name, value in feats.items():
                lines.append(f"      {name} = {format_value(value, _feature_type(rs, name, step.event_type), zone)}")
    ref_decision = explanation.get("reference")
    if ref_decision is not None:
        lines.append(
            f"note: the reference interpreter decides {_decision_line(ref_decision)} for this event, "
            f"the engine {_decision_line(record.decision)}: this looks like an engine bug, please report it"
        )
    lines.append("timeline:")
    shown = result.records[-20:]
    if len(result.records) > len(shown):
        lines.append(f"  ... {len(result.records) - len(shown)} earlier events")
    for rec in shown:
        s = rec.step
        if rec.decision is not None:
            outcome = _decision_line(rec.decision)
        elif rec.error is not None:
            outcome = f"rejected ({rec.error})"
        else:
            outcome = f"internal error ({type(rec.crash).__name__})"
        if rec.decision is not None and rec.decision.late:
            outcome += " (late)"
        mark = "  <- failed here" if s is step else ""
        lines.append(f"  #{s.index + 1} {_clock(s.ts, zone)} {s.event_type} -> {outcome}{mark}")
    if step.index + 1 < len(case.steps):
        rest = len(case.steps) - step.index - 1
        lines.append(f"  ({rest} later event{'s' if rest != 1 else ''} not run)")
    return "\n".join(lines)


# ---------------------------------------------------------------- files and coverage


def run_file(test_file: RuleTestFile, *, select: Optional[str] = None) -> list[CaseResult]:
    """Run the file's cases (those matching ``select`` when given), in order."""
    return [run_case(c) for c in test_file.cases if select is None or c.matches(select)]


@dataclass
class RuleCoverage:
    """One rule's coverage: cases (and events) where it fired and where it stayed silent."""

    rule: str
    events: list[str]
    fired_cases: int = 0
    silent_cases: int = 0
    fired_events: int = 0
    silent_events: int = 0

    @property
    def covered(self) -> bool:
        return self.fired_cases > 0 and self.silent_cases > 0


class Coverage:
    """Rule coverage per ruleset over the cases run."""

    def __init__(self) -> None:
        self.rulesets: dict[str, dict[str, RuleCoverage]] = {}
        self.cases: Counter = Counter()

    def add(self, result: CaseResult) -> None:
        """Count a case's outcome (skipped cases count for nothing)."""
        rs = result.case.file.ruleset
        table = self.rulesets.get(rs.shown)
        if table is None:
            table = {rule: RuleCoverage(rule, list(rs.symbols.rule_events.get(rule, []))) for rule in rs.rule_ids}
            self.rulesets[rs.shown] = table
        if result.status == "skipped":
            return
        self.cases[rs.shown] += 1
        for rule, n in result.fired.items():
            table[rule].fired_cases += 1
            table[rule].fired_events += n
        for rule, n in result.silent.items():
            table[rule].silent_cases += 1
            table[rule].silent_events += n

    def never_fired(self, ruleset: str) -> list[str]:
        return [r.rule for r in self.rulesets[ruleset].values() if r.fired_cases == 0]

    def never_silent(self, ruleset: str) -> list[str]:
        return [r.rule for r in self.rulesets[ruleset].values() if r.silent_cases == 0]

    @property
    def complete(self) -> bool:
        """Every rule of every ruleset fired in some case and stayed silent in some case."""
        return all(r.covered for table in self.rulesets.values() for r in table.values())

    def to_dict(self) -> dict:
        """A JSON-ready view."""
        out = {}
        for shown, table in self.rulesets.items():
            covered = sum(1 for r in table.values() if r.covered)
            out[shown] = {
                "cases": self.cases[shown],
                "rules": [
                    {
                        "id": r.rule,
                        "on": r.events,
                        "fired_cases": r.fired_cases,
                        "silent_cases": r.silent_cases,
                        "fired_events": r.fired_events,
                        "silent_events": r.silent_events,
                        "covered": r.covered,
                    }
                    for r in table.values()
                ],
                "never_fired": self.never_fired(shown),
                "never_silent": self.never_silent(shown),
                "covered": covered,
                "total": len(table),
            }
        return out

    def format(self) -> str:
        """The text report: a table per ruleset, then what is missing."""
        lines = []
        for shown, table in self.rulesets.items():
            total = len(table)
            covered = sum(1 for r in table.values() if r.covered)
            pct = 100.0 * covered / total if total else 100.0
            lines.append(f"coverage: {shown} ({total} rules, {self.cases[shown]} cases run)")
            width = max([len("rule")] + [len(r) for r in table])
            lines.append(f"  {'rule':<{width}}  {'fired':>5}  {'silent':>6}")
            for r in table.values():
                flag = (
                    ""
                    if r.covered
                    else "  <- "
                    + (
                        "never fired, never silent"
                        if not r.fired_cases and not r.silent_cases
                        else "never fired"
                        if not r.fired_cases
                        else "never silent"
                    )
                )
                lines.append(f"  {r.rule:<{width}}  {r.fired_cases:>5}  {r.silent_cases:>6}{flag}")
            nf, ns = self.never_fired(shown), self.never_silent(shown)
            lines.append(f"  never fired: {', '.join(nf) if nf else '(none)'}")
            lines.append(f"  never silent: {', '.join(ns) if ns else '(none)'}")
            lines.append(f"  {covered}/{total} rules covered ({pct:.0f}%)")
        return "\n".join(lines)
