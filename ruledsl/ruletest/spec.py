"""The rule-test format: its constants, its structure as written, and the checked model.

``*Spec`` Structs are the file as written (msgspec validates the shape);
``Expectation``, ``Step``, ``RuleCase`` and ``RuleTestFile`` are what the
validator builds from them, with every value checked against the ruleset.
``Problem`` and ``RuleTestError`` report what is wrong with a file.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import msgspec
from msgspec import UNSET, UnsetType

from ruledsl.kernels.values import get_zone
from ruledsl.ruletest.ruleset import RulesetUnderTest

TEST_SUFFIX = ".test.yaml"
DEFAULT_START = "2026-01-05T09:00:00"
"""The virtual clock's start when neither the file nor the case gives one (a Monday, 09:00 local)."""
DEFAULT_STEP_MS = 1000
"""Time between two events when a step says neither ``at``, ``after`` nor ``ts``."""

STEP_KEYS = ("at", "after", "ts", "repeat", "expect")
HOLD_STEP_KEYS = ("expire_due", "confirm_hold")
"""Keys of a hold step, written in place of an event type (docs/testing.md, "Holds on the virtual clock")."""
HOLD_STATES = ("open", "released", "blocked", "expired")
EXEMPT_STEP_KEY = "exempt"
"""Key of an exemption step (docs/testing.md, "Exemptions"): ``exempt: {key, rule, until, reason}``."""
MAX_REPEAT = 10_000

# ---------------------------------------------------------------- structure (msgspec)


class ScoreSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``scores: {card: {score: N, level: L}}``: either key may be left out."""

    score: Any = UNSET
    level: Union[Literal["high", "elevated", "medium", "low", "minimal"], UnsetType] = UNSET


class ExpectSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a step (or ``expect_each`` / ``expect_last``) expects of the decision."""

    action: Union[Literal["block", "hold", "step_up", "alert", "pass"], UnsetType] = UNSET
    action_at_least: Union[Literal["block", "hold", "step_up", "alert", "pass"], UnsetType] = UNSET
    hold_timeout: Any = UNSET
    fired: Union[list[str], UnsetType] = UNSET
    silent: Union[list[str], UnsetType] = UNSET
    rules: Union[list[str], UnsetType] = UNSET
    features: Union[dict[str, Any], UnsetType] = UNSET
    scores: Union[dict[str, ScoreSpec], UnsetType] = UNSET
    late: Union[bool, UnsetType] = UNSET
    codes: Union[list[str], UnsetType] = UNSET
    error: Union[bool, str, UnsetType] = UNSET
    hold: Union[Literal["open", "released", "blocked", "expired"], UnsetType] = UNSET
    exempted: Union[list[str], UnsetType] = UNSET
    controls: Union[dict[Any, str], UnsetType] = UNSET  # key -> kind: the controls the decision set


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


def struct_keys(struct: type[msgspec.Struct]) -> list[str]:
    """The keys a Struct accepts, in declaration order."""
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


# ---------------------------------------------------------------- validated model


@dataclass
class Expectation:
    """A checked expectation; ``None`` means "not checked"."""

    action: Optional[str] = None
    action_at_least: Optional[str] = None  # the decision's action is this one or stronger
    hold_timeout: Optional[tuple[int, str]] = None  # (milliseconds, as written)
    fired: Optional[tuple[str, ...]] = None
    silent: Optional[tuple[str, ...]] = None
    rules: Optional[tuple[str, ...]] = None
    features: Optional[dict[str, tuple[Any, str]]] = None  # name -> (canonical value, type name)
    scores: Optional[dict[str, tuple[Any, Optional[str]]]] = None  # card -> (score or UNSET, level or None)
    late: Optional[bool] = None
    codes: Optional[tuple[str, ...]] = None
    error: Union[bool, str, None] = None  # True: any EventError; str: naming that field
    hold: Optional[str] = None  # the state of the case's latest hold after the step (HOLD_STATES)
    exempted: Optional[tuple[str, ...]] = None  # exactly these rules were kept from firing by exemptions
    controls: Optional[dict[str, str]] = None  # exactly these controls set: key (as text) -> kind

    def merged_over(self, base: Expectation) -> Expectation:
        """This expectation's keys, falling back to ``base``'s where this one says nothing."""
        if self.error not in (None, False):
            return self
        out = Expectation()
        for name in self.__dataclass_fields__:
            mine = getattr(self, name)
            rival = _EITHER_ACTION.get(name)
            if mine is None and rival is not None and getattr(self, rival) is not None:
                continue  # `action` and `action_at_least` are one slot: the step's own replaces the base's
            setattr(out, name, mine if mine is not None else getattr(base, name))
        return out


_EITHER_ACTION = {"action": "action_at_least", "action_at_least": "action"}


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
    # a step that is no event: "expire_due", "release" or "block" (a hold step), "exempt" (an exemption
    # step, ``fields`` are its key, rule, until and reason); event_type names the step
    hold_op: Optional[str] = None

    def event(self) -> dict[str, Any]:
        """The event as sent to the engine (a fresh dict); for a hold step, what the step does."""
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
    def zone(self) -> _dt.tzinfo:
        """The file's time zone (its own, else the ruleset's)."""
        return get_zone(self.timezone)


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
