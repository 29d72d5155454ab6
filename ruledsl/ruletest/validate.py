"""Loading a rule-test file: YAML, structure and every value checked against the ruleset.

``load_test_file`` parses and validates a file completely before anything
runs: YAML syntax, the structure (msgspec Structs), and everything that can
be checked against the ruleset (event types, fields, rule ids, feature
names, parameter and list values).  Problems become a ``RuleTestError``
whose lines read ``file:line:col: key.path (case "name"): message``.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any, Optional, Union

import msgspec
import yaml
from msgspec import UNSET

from ruledsl.kernels.values import get_zone, parse_timestamp
from ruledsl.ruletest.control_expect import expected_controls
from ruledsl.ruletest.exempt_steps import exempt_step
from ruledsl.ruletest.positions import (
    MISSING,
    YamlPositions,
    duplicate_keys,
    follow_path,
    parse_key_path,
    show_key_path,
)
from ruledsl.ruletest.ruleset import load_ruleset
from ruledsl.ruletest.spec import (
    DEFAULT_START,
    DEFAULT_STEP_MS,
    EXEMPT_STEP_KEY,
    HOLD_STEP_KEYS,
    MAX_REPEAT,
    STEP_KEYS,
    CaseSpec,
    Expectation,
    ExpectSpec,
    FileSpec,
    Problem,
    RuleCase,
    RuleTestError,
    RuleTestFile,
    ScoreSpec,
    Step,
    struct_keys,
)
from ruledsl.ruletest.values import canonical_value, describe_value, parse_duration, quote_hint
from ruledsl.syntax.diagnostics import render, suggest
from ruledsl.syntax.encoding import NotUtf8Error, read_utf8
from ruledsl.syntax.loader import display_path
from ruledsl.syntax.nodes import ACTIONS, LEVELS

_FEATURE_KINDS = ("params", "windows", "sequences", "scorecards")


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
        self.positions = YamlPositions(None)
        self.case_names: list[Optional[str]] = []
        self.data: Any = None

    # ---- reporting
    def problem(self, path: list, message: str, *, key: bool = False) -> None:
        line, col = self.positions.mark(path, key=key)
        case = None
        if len(path) >= 2 and path[0] == "cases" and isinstance(path[1], int) and path[1] < len(self.case_names):
            case = self.case_names[path[1]]
        self.problems.append(Problem(self.shown, message, line, col, show_key_path(path), case))

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
        self.positions = YamlPositions(root)
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
        duplicate_keys(root, [], dups)
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
            text, kpath = m.group(1), prefix + parse_key_path(m.group(2))
            text = _friendly(text)
            self.problem(kpath, f"keys must be strings: {text}")
            return
        m = re.match(r"^(.*) - at `(\$[^`]*)`$", message, re.S)
        text, kpath = (m.group(1), prefix + parse_key_path(m.group(2))) if m else (message, prefix)
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
            self.problem([*kpath, name], text, key=True)
            return
        if missing:
            self.problem(kpath, f"missing required key `{missing.group(1)}`")
            return
        if enum:
            choices = ACTIONS if kpath and kpath[-1] in ("action", "action_at_least") else LEVELS
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
                    target = follow_path(v, rest)
                    if target is not MISSING and (unknown is None or (isinstance(target, dict) and unknown in target)):
                        chosen = k
                        break
                if chosen is None:
                    return out + kpath[i:]
                tok = chosen
            out.append(tok)
            node = follow_path(node, [tok])
            if node is MISSING:
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
                self.problem([*where, "name"], f"case name {cs.name!r} is already used by cases[{seen[cs.name]}]")
            seen.setdefault(cs.name, i)
            if not cs.name.strip():
                self.problem([*where, "name"], "a case needs a non-empty name")
            start = self._start(cs.start, [*where, "start"]) if cs.start is not None else file_start
            params = {**file_params, **self._params(cs.params, [*where, "params"])}
            self._lists(cs.lists, [*where, "lists"])
            lists = {**spec.lists, **cs.lists}
            defaults = {k: dict(v) for k, v in file_defaults.items()}
            for etype, fields in self._defaults(cs.defaults, [*where, "defaults"]).items():
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
                self.problem([*where, name], f"unknown parameter `{name}`" + (f"; {hint}" if hint else ""), key=True)
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
                self.problem([*where, name], f"bad value for {type_name} parameter `{name}`: {why}{quote_hint(value)}")
        return out

    def _lists(self, lists: dict, where: list) -> None:
        from ruledsl.runtime.lists import convert_values

        comp = self.rs.compiled
        for name, values in lists.items():
            if name not in comp.list_types:
                hint = suggest(name, comp.list_types)
                self.problem([*where, name], f"unknown list `{name}`" + (f"; {hint}" if hint else ""), key=True)
                continue
            try:
                convert_values(comp.list_types[name], values)
            except (TypeError, ValueError, ArithmeticError) as err:
                bad = next((v for v in values if type(v) is not str), None)
                why = "an entry is not a number" if isinstance(err, ArithmeticError) else str(err)
                self.problem([*where, name], f"bad entry for list `{name}`: {why}{quote_hint(bad)}")

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
            self.problem(where, f"the fields of a `{etype}` event must be a mapping, not {describe_value(body)}")
            return {}
        schema = self.rs.symbols.fields[etype]
        out = {}
        for name, value in body.items():
            if name in ("ts", "type"):
                self.problem(
                    [*where, name],
                    f"`{name}` is not written in the event: give the time with `at`, `after` or `ts` on the step"
                    if name == "ts"
                    else "`type` is not written in the event: the step's key is the event type",
                    key=True,
                )
                continue
            if name not in schema:
                hint = suggest(str(name), [f for f in schema if f != "ts"])
                self.problem(
                    [*where, name], f"`{etype}` events have no field `{name}`" + (f"; {hint}" if hint else ""), key=True
                )
                continue
            out[name] = value
        return out

    def _defaults(self, defaults: dict, where: list) -> dict[str, dict]:
        out = {}
        for etype, body in defaults.items():
            if self._event_type(etype, [*where, etype]):
                out[etype] = self._fields(etype, body, [*where, etype])
        return out

    # ---- steps
    def _steps(self, cs: CaseSpec, where: list, start: int, defaults: dict) -> list[Step]:
        steps: list[Step] = []
        if not cs.events:
            self.problem([*where, "events"], "a case needs at least one event")
            return steps
        prev: Optional[int] = None
        for j, raw in enumerate(cs.events):
            sw = [*where, "events", j]
            line, _col = self.positions.mark(sw)
            if EXEMPT_STEP_KEY in raw and EXEMPT_STEP_KEY not in self.rs.symbols.events:
                prev = exempt_step(self, raw, sw, line, start, prev, steps)  # ruletest/exempt_steps.py
                continue
            hold_keys = [k for k in raw if k in HOLD_STEP_KEYS and k not in self.rs.symbols.events]
            if hold_keys:
                hold_step = self._hold_step(raw, sw, line, hold_keys, start, prev, len(steps))
                if hold_step is not None:
                    prev = hold_step.ts
                    steps.append(hold_step)
                continue
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
                            self._step_key(t, [*sw, t])
                    if all(t in self.rs.symbols.events for t in types):
                        self.problem(
                            sw,
                            f"a step is one event; this one has {len(types)} event types: "
                            + ", ".join(map(str, types)),
                        )
                continue
            etype = types[0]
            if etype not in self.rs.symbols.events:
                self._step_key(etype, [*sw, etype])
                continue
            fields = {**defaults.get(etype, {}), **self._fields(etype, raw[etype], [*sw, etype])}
            repeat = self._repeat(raw, sw)
            own = None
            if "expect" in raw and raw["expect"] is not None:
                own = self._expectation(raw["expect"], [*sw, "expect"], etype)
            elif "expect" in raw:
                self.problem([*sw, "expect"], "`expect` is empty: leave it out, or say what to check")
            each = None
            if cs.expect_each is not None and not (own is not None and own.error not in (None, False)):
                each = self._checked(cs.expect_each, [*where, "expect_each"], etype, each=True)
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
        events = [s for s in steps if s.hold_op is None]
        if events and cs.expect_last is not None:
            last = events[-1]
            last.expect_last = self._checked(cs.expect_last, [*where, "expect_last"], last.event_type)
        return steps

    def _hold_step(
        self, raw: dict, sw: list, line: int, keys: list, start: int, prev: Optional[int], index: int
    ) -> Optional[Step]:
        """A hold step: ``expire_due: true`` or ``confirm_hold: release|block``, at the step's virtual time."""
        others = [k for k in raw if k not in (*keys, "at", "after", "ts", "expect")]
        if len(keys) > 1 or others:
            self.problem(
                sw,
                "a hold step has one of expire_due, confirm_hold and at/after/ts/expect; this one also has "
                + ", ".join(map(str, [*keys[1:], *others])),
            )
            return None
        key = keys[0]
        value = raw[key]
        if key == "expire_due":
            if value is not True:
                self.problem(
                    [*sw, key], f"write `expire_due: true` (it expires the holds due at the step's time), not {value!r}"
                )
                return None
            op, fields = "expire_due", {}
        else:
            if value not in ("release", "block"):
                self.problem(
                    [*sw, key],
                    f"`confirm_hold` is release or block (it confirms the case's latest hold), not {value!r}",
                )
                return None
            op, fields = value, {"outcome": value}
        expect = None
        if raw.get("expect") is not None:
            expect = self._hold_expectation(raw["expect"], [*sw, "expect"])
        elif "expect" in raw:
            self.problem([*sw, "expect"], "`expect` is empty: leave it out, or say what to check")
        ts = self._step_time(raw, sw, start, prev)
        return Step(index=index, line=line, event_type=key, fields=fields, ts=ts, expect=expect, hold_op=op)

    def _hold_expectation(self, raw: Any, where: list) -> Optional[Expectation]:
        """A hold step's ``expect``: ``action`` (of the case's latest hold) and ``hold`` (its state) only."""
        try:
            spec = msgspec.convert(raw, ExpectSpec)
        except msgspec.ValidationError as err:
            self._structure_error(str(err), where, ExpectSpec)
            return None
        others = [k for k in struct_keys(ExpectSpec) if getattr(spec, k) is not UNSET and k not in ("action", "hold")]
        if others:
            self.problem(
                [*where, others[0]],
                "a hold step checks only `action` (the case's latest hold: block or pass once closed, hold while "
                "open) and `hold` (its state: open, released, blocked or expired), not " + ", ".join(others),
                key=True,
            )
            return None
        return Expectation(
            action=None if spec.action is UNSET else spec.action, hold=None if spec.hold is UNSET else spec.hold
        )

    def _repeat(self, raw: dict, sw: list) -> int:
        if "repeat" not in raw:
            return 1
        n = raw["repeat"]
        if type(n) is not int or not 1 <= n <= MAX_REPEAT:
            self.problem([*sw, "repeat"], f"`repeat` is a whole number from 1 to {MAX_REPEAT}, not {n!r}")
            return 1
        if n > 1 and ("at" in raw or "ts" in raw):
            self.problem(
                [*sw, "repeat"],
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
                [*sw, given[1]], f"give at most one of at, after, ts (this step has {', '.join(given)})", key=True
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
                    [*sw, "ts"],
                    f'bad timestamp {value!r}: write ISO 8601 (e.g. "2026-11-20T09:00:00+08:00") or epoch milliseconds',
                )
            else:
                self._once([*sw, key], f"`{key}`: {err}")
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
        given = [k for k in struct_keys(ExpectSpec) if getattr(spec, k) is not UNSET]
        if spec.error is not UNSET and spec.error is not False:
            others = [k for k in given if k != "error"]
            if others:
                self.problem(
                    [*where, "error"],
                    "`error` expects the event to be rejected: it cannot be combined with " + ", ".join(others),
                    key=True,
                )
            if isinstance(spec.error, str):
                fields = sym.fields[etype]
                if spec.error not in fields and spec.error != "type":
                    hint = suggest(spec.error, fields)
                    self.problem(
                        [*where, "error"],
                        f"`{etype}` events have no field `{spec.error}`" + (f"; {hint}" if hint else ""),
                    )
            out.error = spec.error
            return out if len(self.problems) == n_before else None
        if spec.action is not UNSET:
            out.action = spec.action
        if spec.action_at_least is not UNSET:
            if spec.action is not UNSET:
                self._once(
                    [*where, "action_at_least"],
                    "`action_at_least` cannot be combined with `action`: give one of them",
                    key=True,
                )
            out.action_at_least = spec.action_at_least
        if spec.hold_timeout is not UNSET:
            out.hold_timeout = self._hold_timeout(spec, where)
        for key in ("fired", "silent", "rules", "exempted"):
            ids = getattr(spec, key)
            if ids is UNSET:
                continue
            kept = []
            for k, rule in enumerate(ids):
                if rule not in sym.rules:
                    hint = suggest(rule, sym.rules)
                    self._once([*where, key, k], f"unknown rule `{rule}`" + (f"; {hint}" if hint else ""))
                    continue
                if not rs.applies(rule, etype):
                    if each and key == "silent":
                        continue  # vacuous for this event type: fine in expect_each
                    on = ", ".join(sym.rule_events[rule])
                    self._once(
                        [*where, key, k],
                        f"rule `{rule}` does not apply to `{etype}` events (it is on {on}), "
                        f"so it can never {'fire' if key != 'silent' else 'stay silent'} here",
                    )
                    continue
                kept.append(rule)
            setattr(out, key, tuple(kept))
        if spec.features is not UNSET:
            out.features = {}
            for name, value in spec.features.items():
                type_name = self._feature_type(name, etype, [*where, "features", name])
                if type_name is None:
                    continue
                try:
                    out.features[name] = (self._canonical(value, type_name, name), type_name)
                except (TypeError, ValueError, ArithmeticError) as err:
                    self._once([*where, "features", name], f"bad expected value for `{name}` ({type_name}): {err}")
        if spec.scores is not UNSET:
            out.scores = {}
            for card, sc in spec.scores.items():
                if card not in sym.scorecards:
                    hint = suggest(card, sym.scorecards)
                    self._once(
                        [*where, "scores", card],
                        f"unknown scorecard `{card}`" + (f"; {hint}" if hint else ""),
                        key=True,
                    )
                    continue
                if etype not in sym.scorecard_events.get(card, ()):
                    self._once(
                        [*where, "scores", card], f"scorecard `{card}` does not apply to `{etype}` events", key=True
                    )
                    continue
                score = UNSET
                if sc.score is not UNSET:
                    type_name = sym.value_types[card].name
                    try:
                        score = self._canonical(sc.score, type_name, card)
                    except (TypeError, ValueError, ArithmeticError) as err:
                        self._once([*where, "scores", card, "score"], f"bad expected score: {err}")
                        continue
                out.scores[card] = (score, None if sc.level is UNSET else sc.level)
        if spec.hold is not UNSET:
            if spec.hold != "open":
                self._once(
                    [*where, "hold"],
                    f"an event's hold is open when it is opened: `hold: {spec.hold}` is checked on a later "
                    "confirm_hold or expire_due step",
                )
            out.hold = spec.hold
        if spec.late is not UNSET:
            out.late = spec.late
        if spec.controls is not UNSET:  # ruletest/control_expect.py
            out.controls = expected_controls(spec.controls)
        if spec.codes is not UNSET:
            for k, code in enumerate(spec.codes):
                if code not in rs.codes:
                    hint = suggest(code, rs.codes)
                    self._once(
                        [*where, "codes", k], f"no rule has the reason code `{code}`" + (f"; {hint}" if hint else "")
                    )
            out.codes = tuple(spec.codes)
        return out if len(self.problems) == n_before else None

    def _hold_timeout(self, spec: ExpectSpec, where: list) -> Optional[tuple[int, str]]:
        """The expected hold timeout as (ms, as written); only a ``hold`` decision carries one."""
        value = spec.hold_timeout
        try:
            ms = parse_duration(value)
        except ValueError as err:
            self._once([*where, "hold_timeout"], f"`hold_timeout`: {err}")
            return None
        if ms <= 0:
            self._once([*where, "hold_timeout"], f"`hold_timeout`: a hold timeout is longer than 0, not {value!r}")
            return None
        never = None
        if spec.action is not UNSET and spec.action != "hold":
            never = f"`action: {spec.action}`"
        elif spec.action_at_least == "block":
            never = "`action_at_least: block`"
        if never is not None:
            self._once(
                [*where, "hold_timeout"],
                f"only a hold decision carries a hold timeout, so `hold_timeout` cannot be checked with {never}",
                key=True,
            )
            return None
        return ms, str(value).strip()

    def _once(self, path: list, message: str, *, key: bool = False) -> None:
        """Report a problem unless the same one was reported (``expect_each`` is checked per step)."""
        text = show_key_path(path)
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
        candidates = list(fields) + [x for kind in _FEATURE_KINDS for x in getattr(sym, kind)]
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
    return struct_keys(t) if isinstance(t, type) and issubclass(t, msgspec.Struct) else []


def _friendly(text: str) -> str:
    m = re.match(r"Expected `([^`]*)`, got `([^`]*)`(.*)", text, re.S)
    if not m:
        return text
    want, got, rest = m.groups()
    return f"expected {_MSGSPEC_TYPES.get(want, want)}, got {_MSGSPEC_TYPES.get(got, got)}{rest}"


def load_test_file(path: Union[str, Path]) -> RuleTestFile:
    """Read and validate a test file; raises ``RuleTestError`` listing every problem.

    I/O errors (missing file, not UTF-8) are also reported as a ``RuleTestError``.
    """
    path = Path(path)
    shown = display_path(path)
    try:
        text = read_utf8(path, shown)
    except NotUtf8Error as err:
        problem = Problem(shown, f"cannot read the test file: {err}; {err.hint}", err.line, err.col)
        raise RuleTestError([problem]) from None
    except OSError as err:
        raise RuleTestError([Problem(shown, f"cannot read the test file: {err.strerror or err}")]) from None
    return _Validator(path, text).run()
