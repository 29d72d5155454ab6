"""Which rule or window makes a ruleset slow: ``ruledsl bench``'s cost shares, by ablation.

For each rule, the ruleset is checked and compiled again without it; for
each window and sequence, without it and everything that reads it (the rules
and scorecards naming it, then the rules naming those scorecards).  Each
variant replays the same events on a fresh engine, and a part's share is
``(T_full - T_without) / T_full``: the time per event the part adds, the
rules' conditions and the windows' feeding and queries included.  T is the
sum over the events of each event's fastest call over ``repeats`` replays
(so a pause caused by another process, which hits one replay, drops out),
and the full ruleset is timed before and after the variants (the faster
counts).  A difference below the noise can come out slightly negative and
is shown as 0.  The shares need not sum to
100%: the parsing of events, the decision and the common work of the
generated function belong to no rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import msgspec

from ruledsl.check.checker import CheckResult, check
from ruledsl.runtime.benchtime import latency_pass
from ruledsl.syntax import nodes as n
from ruledsl.syntax.loader import Program


@dataclass
class Share:
    """One part's cost: its kind, name, what was removed with it and its share of the time per event."""

    kind: str  # "rule", "window", "sequence"
    name: str
    removed: list[str]  # the declarations removed with it (readers of a window)
    us_per_event: Optional[float]  # the time it adds per event; None when the variant does not compile
    share: Optional[float]  # of the full ruleset's time per event


def _names_in(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, n.Name):
        out.add(node.name)
    elif isinstance(node, msgspec.Struct):
        for f in node.__struct_fields__:
            _names_in(getattr(node, f), out)
    elif isinstance(node, list):
        for x in node:
            _names_in(x, out)
    return out


def _decl_name(d: Any) -> Optional[str]:
    ident = getattr(d, "name", None)
    return ident.name if isinstance(ident, n.Ident) else None


def without(program: Program, names: set[str]) -> tuple[Program, list[str]]:
    """``program`` without the declarations ``names`` and the rules/scorecards that read them (to a fixpoint)."""
    gone = set(names)
    decls = [d for m in program.modules for d in m.decls]
    changed = True
    while changed:
        changed = False
        for d in decls:
            name = _decl_name(d)
            if name in gone or not isinstance(d, (n.RuleDecl, n.ScorecardDecl)):
                continue
            if _names_in(d, set()) & gone:
                gone.add(name or "")
                changed = True
    modules = [
        n.Module(path=m.path, decls=[d for d in m.decls if _decl_name(d) not in gone or _is_schema(d)])
        for m in program.modules
    ]
    variant = Program(
        modules=modules,
        sources=program.sources,
        diagnostics=program.diagnostics,
        entry_paths=program.entry_paths,
    )
    return variant, sorted(gone - names)


def _is_schema(d: Any) -> bool:
    # an event type or a parameter/list/const may share a name with a removed part: keep it
    return not isinstance(d, (n.RuleDecl, n.ScorecardDecl, n.WindowDecl, n.SequenceDecl))


def measure_shares(
    result: CheckResult,
    events: Sequence[dict],
    make_engine: Callable[[CheckResult], Any],
    *,
    repeats: int = 2,
) -> tuple[float, list[Share]]:
    """(the full ruleset's seconds over ``events``, each rule's, window's and sequence's ``Share``)."""
    assert result.program is not None

    def replay_seconds(res: CheckResult) -> float:
        runs = [latency_pass(make_engine(res), events) for _ in range(max(1, repeats))]
        return sum(min(times) for times in zip(*runs, strict=True)) / 1e9

    first = replay_seconds(result)
    sym = result.symbols
    parts = [("rule", r) for r in sym.rules]
    parts += [("window", w) for w in sym.windows] + [("sequence", s) for s in sym.sequences]
    timed: list[tuple[str, str, list[str], Optional[float]]] = []
    for kind, name in parts:
        variant, removed = without(result.program, {name})
        res = check(variant)
        timed.append((kind, name, removed, replay_seconds(res) if res.ok else None))
    full = min(first, replay_seconds(result))
    per_event = 1e6 / max(1, len(events))
    shares = []
    for kind, name, removed, t in timed:
        if t is None:
            shares.append(Share(kind, name, removed, None, None))
            continue
        delta = max(0.0, full - t)
        shares.append(Share(kind, name, removed, delta * per_event, delta / full if full > 0 else 0.0))
    return full, shares
