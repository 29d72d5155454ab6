"""Rule coverage over the cases run: which rules fired in some case and stayed silent in another."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ruledsl.ruletest.runner import CaseResult


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
        """Fired in some case and stayed silent in another."""
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
        """The ruleset's rules that fired in no case."""
        return [r.rule for r in self.rulesets[ruleset].values() if r.fired_cases == 0]

    def never_silent(self, ruleset: str) -> list[str]:
        """The ruleset's rules that stayed silent in no case (where they apply)."""
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
