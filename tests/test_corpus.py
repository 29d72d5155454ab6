"""Every shipped ruleset, end to end: lint, format, engine against reference, rule tests.

A shipped ruleset is a ``rulesets/*.rdsl`` file with a ``ruleset`` header
(``rulesets/common/*.rdsl`` are includes; they are linted and formatted as part
of the rulesets that include them).  For each one:

* it loads and checks with no diagnostic at all (errors or warnings), as
  ``ruledsl lint`` requires for "All checks passed";
* formatting it and every file it includes keeps the AST (spans aside) and the
  comments, formatting again changes nothing, and the shipped text is already
  in the canonical layout (``ruledsl fmt --check``);
* the compiled engine and the reference interpreter (``ruledsl.oracle``) agree
  on every event of generated traffic (``ruledsl.sim``) made for that ruleset:
  the same events rejected, for the same field, and otherwise the same action,
  matched rules, their features, scores; a disagreement fails with the
  shortest event sequence found that still shows one;
* its rule tests (``rulesets/tests/<name>.test.yaml``) pass under
  ``ruledsl test``.

The traffic is 300 customers over two days plus a day of warm-up, with dense fraud scenarios,
seeded, with the generator's event families whose scenarios target the
ruleset (``TARGET_RULESET``); events of types the ruleset does not declare are
skipped, as ``ruledsl run --skip-unknown-types`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import pytest
from decisions import differences  # tests/ is on sys.path (tests/conftest.py)
from typer.testing import CliRunner

from ruledsl.check.checker import check
from ruledsl.cli.app import app
from ruledsl.kernels.values import EventError
from ruledsl.oracle.reference import ReferenceEngine
from ruledsl.runtime.engine import build_engine
from ruledsl.syntax import nodes as n
from ruledsl.syntax.diagnostics import render
from ruledsl.syntax.formatter import format_module, scan_comments, strip_spans
from ruledsl.syntax.loader import load_program
from ruledsl.syntax.parser import parse

try:
    from ruledsl.sim import FAMILIES, FAMILY_SCENARIOS, TARGET_RULESET, generate
except ImportError:  # the package does not re-export the generator's names
    from ruledsl.sim.generator import FAMILIES, FAMILY_SCENARIOS, TARGET_RULESET, generate

ROOT = Path(__file__).resolve().parents[1]
RULESETS_DIR = ROOT / "rulesets"

CUSTOMERS = 300
DAYS = 2
WARMUP_DAYS = 1
SEED = 20261116
FRAUD_RATE = 0.15  # dense scenarios: more of the rules fire on a small stream
MINIMISE_SECONDS = 120.0


def _has_header(path: Path) -> bool:
    module, _ = parse(path.read_text(encoding="utf-8-sig"), str(path))
    return module is not None and any(isinstance(d, n.RulesetDecl) for d in module.decls)


RULESETS = sorted(p for p in RULESETS_DIR.glob("*.rdsl") if _has_header(p))
IDS = [p.stem for p in RULESETS]


def test_the_corpus_is_found():
    # the five shipped rulesets at least; a glob gone wrong must not pass vacuously
    assert len(RULESETS) >= 5, RULESETS
    assert all(p.name != "echannel_events.rdsl" for p in RULESETS)  # includes have no header


@pytest.fixture(scope="module", params=RULESETS, ids=IDS)
def checked(request):
    """(path, program, check result) of one shipped ruleset, checked once for the module."""
    path = request.param
    program = load_program([path])
    result = None if program.has_syntax_errors else check(program)
    return path, program, result


# ---------------------------------------------------------------- lint


def test_lint_clean(checked):
    path, program, result = checked
    diags = list(program.diagnostics) if result is None else list(result.diagnostics)
    shown = "\n".join(render(d, program.sources.get(d.path)) for d in diags)
    assert not diags, f"{path.name} is not lint clean:\n{shown}"
    assert result is not None and result.ok


# ---------------------------------------------------------------- fmt


def test_format_round_trip(checked):
    _, program, _ = checked
    assert len(program.sources) >= 1
    for shown, text in program.sources.items():
        module, diags = parse(text, shown)
        assert module is not None and not diags, shown
        out = format_module(module, text)
        again, again_diags = parse(out, shown)
        assert again is not None and not again_diags, f"{shown}: the formatted text does not parse: {again_diags}"
        assert strip_spans(again) == strip_spans(module), f"{shown}: formatting changed the AST"
        assert sorted(c.text for c in scan_comments(out)) == sorted(c.text for c in scan_comments(text)), (
            f"{shown}: formatting lost or changed comments"
        )
        assert format_module(again, out) == out, f"{shown}: formatting is not idempotent"
        assert out == text, f"{shown}: not in the canonical layout (run `ruledsl fmt {shown}`)"


# ---------------------------------------------------------------- engine vs reference


def families_for(ruleset: str) -> list[str]:
    """The generator's event families with scenarios made for ``ruleset`` (every family if none is)."""
    chosen = [f for f in FAMILIES if any(TARGET_RULESET.get(s) == ruleset for s in FAMILY_SCENARIOS[f])]
    return chosen or list(FAMILIES)


def traffic(result, ruleset: str) -> list[dict]:
    """Seeded generated events for ``ruleset``, only of the event types it declares."""
    declared = set(result.symbols.events)
    events = generate(
        CUSTOMERS,
        DAYS,
        SEED,
        FRAUD_RATE,
        warmup_days=WARMUP_DAYS,
        profile=families_for(ruleset),
    )
    return [e for e in events if e["type"] in declared]


def _call(fn: Callable[[Any], Any], event: dict) -> tuple[Any, Optional[EventError]]:
    try:
        return fn(dict(event)), None
    except EventError as err:
        return None, err


def first_disagreement(
    result, events: Sequence[dict], reference: Callable[[Any], Any] = ReferenceEngine
) -> Optional[tuple[int, str]]:
    """(index, what differs) at the first event on which a fresh engine and reference disagree, else None."""
    engine = build_engine(result)
    ref = reference(result)
    for i, event in enumerate(events):
        (da, ea), (db, eb) = _call(engine.evaluate, event), _call(ref.evaluate, event)
        if ea is not None or eb is not None:
            if ea is None or eb is None:
                said = [
                    f"{who} {'raised ' + repr(e) if e else 'accepted it'}"
                    for who, e in (("engine", ea), ("reference", eb))
                ]
                return i, ", ".join(said)
            if ea.field != eb.field:
                return i, f"EventError field: engine {ea.field!r}, reference {eb.field!r}"
            continue
        diffs = differences(da, db)
        if diffs:
            return i, "\n".join(diffs)
    if engine.late_events != ref.late_events:
        return len(events) - 1, f"late events: engine {engine.late_events}, reference {ref.late_events}"
    return None


def shortest_failing(
    events: Sequence[Any], fails: Callable[[list[Any]], bool], *, budget_s: float = MINIMISE_SECONDS
) -> list[Any]:
    """A shorter sequence (a subsequence, order kept) on which ``fails`` still holds.

    Greedy delta debugging: drop runs of events, long runs first, until no
    single event can be dropped (1-minimal) or the time budget is spent.
    ``fails(events)`` must hold on the input.
    """
    deadline = time.monotonic() + budget_s
    current = list(events)
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        chunk = max(len(current) // 2, 1)
        while chunk >= 1 and time.monotonic() < deadline:
            i = len(current) - chunk
            while i >= 0:
                candidate = current[:i] + current[i + chunk :]
                if candidate and fails(candidate):
                    current, changed = candidate, True
                i = min(i, len(current)) - chunk
            chunk //= 2
    return current


def disagreement_report(
    name: str, result, events: Sequence[dict], reference: Callable[[Any], Any] = ReferenceEngine
) -> Optional[str]:
    """None when engine and reference agree on ``events``; else the first disagreement and a shortest sequence showing one."""
    found = first_disagreement(result, events, reference)
    if found is None:
        return None
    at, message = found
    small = shortest_failing(events[: at + 1], lambda evs: first_disagreement(result, evs, reference) is not None)
    _, small_message = first_disagreement(result, small, reference) or (0, message)
    shown = "\n  ".join(repr(e) for e in small)
    return (
        f"{name}: engine and reference disagree at generated event {at}: {events[at]!r}\n{message}\n\n"
        f"shortest sequence found ({len(small)} events):\n  {shown}\nwhich shows:\n{small_message}"
    )


def test_engine_agrees_with_reference(checked):
    path, _, result = checked
    assert result is not None and result.ok, f"{path.name} does not check"
    events = traffic(result, path.stem)
    assert len(events) >= 20, f"{path.name}: the generator made only {len(events)} events for it"
    report = disagreement_report(path.name, result, events)
    if report is not None:
        pytest.fail(report, pytrace=False)

    # the traffic must exercise the ruleset, or agreeing would prove little
    engine = build_engine(result)
    decisions = [d for d, err in (_call(engine.evaluate, e) for e in events) if err is None]
    fired = {rule for d in decisions for rule in d.matched}
    assert fired, f"{path.name}: no rule fired on {len(events)} generated events"


def test_shortest_failing_finds_a_minimal_subsequence():
    events = list(range(200))

    def fails(evs):
        return 17 in evs and 142 in evs and evs.index(17) < evs.index(142)

    assert shortest_failing(events, fails) == [17, 142]
    assert shortest_failing([5], lambda evs: evs == [5]) == [5]


def test_a_disagreement_is_reported_with_a_short_sequence():
    # a reference that runs with another threshold must be caught, and the report must be short
    path = RULESETS_DIR / "echannel_monitoring.rdsl"
    result = check(load_program([path]))
    events = traffic(result, path.stem)

    def skewed(res):
        return ReferenceEngine(res, params={"repeat_txn_count": 1})

    report = disagreement_report(path.name, result, events, skewed)
    assert report is not None
    assert "matched rules: engine" in report or "action: engine" in report, report
    shortest = int(report.split("shortest sequence found (")[1].split(" ")[0])
    assert 1 <= shortest <= 3, report


# ---------------------------------------------------------------- rule tests


def test_rule_tests_pass(checked):
    path, _, _ = checked
    spec = RULESETS_DIR / "tests" / f"{path.stem}.test.yaml"
    assert spec.is_file(), f"{path.name} has no rule tests ({spec.relative_to(ROOT)})"
    outcome = CliRunner().invoke(app, ["test", str(spec)])
    assert outcome.exit_code == 0, (
        f"`ruledsl test {spec.relative_to(ROOT)}` exited {outcome.exit_code}:\n{outcome.output}"
    )
    assert " passed" in outcome.output and " 0 failed" in outcome.output, outcome.output
