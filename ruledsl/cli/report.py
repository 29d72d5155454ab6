"""The summary of a replay (``ruledsl run``, the demo): per-ruleset statistics and their rendering.

``RulesetStats`` counts a ruleset's decisions as the replay goes; ``RunReport``
holds every ruleset's; ``render_report`` prints them as rich tables (the JSON
summary is ``RunReport.to_dict``).
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Optional

import typer

from ruledsl.syntax.nodes import ACTIONS

NORMAL_LABELS = ("", "normal", False)
"""``label`` values that mean normal traffic, like an absent or null label."""
MAX_REPORTED_REJECTIONS = 20
"""Rejections printed on stderr (and kept in the JSON summary) per ruleset; the rest are counted."""


class LoadedRuleset:
    """A ruleset's name, path and engine."""

    def __init__(self, name: str, path: str, engine: Any):
        self.name = name
        self.path = path
        self.engine = engine


# ---------------------------------------------------------------- statistics


class RulesetStats:
    """What one ruleset did with the events."""

    def __init__(self, rs: LoadedRuleset):
        self.rs = rs
        self.events = 0  # scored (not warm-up, not rejected)
        self.warmup = 0
        self.rejected = 0
        self.rejections: list[tuple[int, str]] = []
        self.skipped: Counter = Counter()  # event type -> events skipped (a type the ruleset does not declare)
        self.by_type: dict[str, list[int]] = {}  # event type -> [events, alerts, normal events, normal alerts]
        self.internal_errors = 0
        self.late = 0
        self.actions: Counter = Counter()
        self.rule_hits: Counter = Counter()
        self.rule_fraud_hits: Counter = Counter()
        self.rule_meta: dict[str, tuple[str, Optional[str], str, bool]] = {}  # action, code, reason, shadow
        self.alerts = 0
        self.normal_events = 0
        self.normal_alerts = 0
        self.labelled_events = 0
        self.labelled_alerts = 0
        self.scenarios: dict[str, list] = {}  # scenario id -> [label, caught, Counter of rules that fired]
        self.seconds = 0.0

    def reject(self, line: int, message: str) -> None:
        """Count an event the ruleset rejected; the first ``MAX_REPORTED_REJECTIONS`` are kept to report."""
        self.rejected += 1
        if len(self.rejections) < MAX_REPORTED_REJECTIONS:
            self.rejections.append((line, message))

    def record(self, decision, label: Optional[str], sid: Optional[str]) -> None:
        """Count a scored decision: its action and rules, per event type, and for labelled fraud events per scenario.

        ``label`` is the event's fraud scenario type (None for normal traffic); a
        labelled event must come with ``sid``, the id of its scenario instance.
        """
        self.events += 1
        action = decision.action
        self.actions[action] += 1
        if decision.late:
            self.late += 1
        alert = action != "pass"
        if alert:
            self.alerts += 1
        fraud = label is not None
        per_type = self.by_type.get(decision.event_type)
        if per_type is None:
            per_type = self.by_type[decision.event_type] = [0, 0, 0, 0]
        per_type[0] += 1
        if alert:
            per_type[1] += 1
        if not fraud:
            per_type[2] += 1
            if alert:
                per_type[3] += 1
        for r in decision.rules:
            rid = r.id
            self.rule_hits[rid] += 1
            if fraud:
                self.rule_fraud_hits[rid] += 1
            if rid not in self.rule_meta:
                self.rule_meta[rid] = (r.action, r.code, r.reason, r.shadow)
        if not fraud:
            self.normal_events += 1
            if alert:
                self.normal_alerts += 1
            return
        if sid is None:
            raise ValueError("a labelled event needs its scenario id")
        self.labelled_events += 1
        entry = self.scenarios.get(sid)
        if entry is None:
            entry = self.scenarios[sid] = [label, False, Counter()]
        if alert:
            self.labelled_alerts += 1
            entry[1] = True
            entry[2].update(r.id for r in decision.rules if not r.shadow and r.action != "pass")

    # ------------------------------------------------------------ report
    def scenario_rows(self) -> list[dict]:
        """Per scenario type: how many scenarios, how many caught (any alert), and the rules that caught most."""
        by_type: dict[str, dict] = {}
        for label, caught, rules in self.scenarios.values():
            row = by_type.setdefault(label, {"scenario": label, "scenarios": 0, "caught": 0, "rules": Counter()})
            row["scenarios"] += 1
            if caught:
                row["caught"] += 1
                row["rules"].update(rules.keys())
        out = []
        for label in sorted(by_type):
            row = by_type[label]
            out.append(
                {
                    "scenario": label,
                    "scenarios": row["scenarios"],
                    "caught": row["caught"],
                    "share_caught": round(row["caught"] / row["scenarios"], 4),
                    "caught_by": [{"rule": r, "scenarios": n} for r, n in row["rules"].most_common(5)],
                }
            )
        return out

    def to_dict(self, top: int) -> dict:
        """The statistics as JSON-ready data; ``top`` rules by hits (0: every rule that fired)."""
        per10k = _per10k
        rules = []
        for rid, hits in self.rule_hits.most_common(top if top > 0 else None):
            action, code, reason, shadow = self.rule_meta[rid]
            row = {"rule": rid, "code": code, "action": action, "shadow": shadow, "reason": reason, "hits": hits}
            if self.labelled_events:
                fraud = self.rule_fraud_hits[rid]
                row.update(fraud_hits=fraud, normal_hits=hits - fraud, precision=round(fraud / hits, 4))
            rules.append(row)
        d: dict[str, Any] = {
            "ruleset": self.rs.name,
            "path": self.rs.path,
            "events": self.events,
            "warmup_events": self.warmup,
            "rejected": self.rejected,
            "rejections": [{"line": ln, "error": msg} for ln, msg in self.rejections],
            "skipped": sum(self.skipped.values()),
            "skipped_types": dict(sorted(self.skipped.items())),
            "by_event_type": {
                t: {
                    "events": n,
                    "alerts": a,
                    "alerts_per_10k": per10k(a, n),
                    "normal_events": ne,
                    "normal_alerts": na,
                    "normal_alerts_per_10k": per10k(na, ne),
                }
                for t, (n, a, ne, na) in sorted(self.by_type.items())
            },
            "late": self.late,
            "actions": {a: self.actions.get(a, 0) for a in ACTIONS},
            "alerts": self.alerts,
            "alerts_per_10k": per10k(self.alerts, self.events),
            "top_rules": rules,
            "seconds": round(self.seconds, 3),
            "events_per_second": round((self.events + self.warmup) / self.seconds) if self.seconds > 0 else None,
        }
        if self.labelled_events:
            scen = self.scenario_rows()
            total = sum(r["scenarios"] for r in scen)
            caught = sum(r["caught"] for r in scen)
            d["labelled"] = {
                "fraud_events": self.labelled_events,
                "normal_events": self.normal_events,
                "normal_alerts": self.normal_alerts,
                "normal_alerts_per_10k": per10k(self.normal_alerts, self.normal_events),
                "fraud_event_alert_share": round(self.labelled_alerts / self.labelled_events, 4),
                "scenarios": total,
                "caught": caught,
                "share_caught": round(caught / total, 4) if total else None,
                "by_scenario": scen,
            }
        return d


def flag_true(value: Any) -> bool:
    """A ``warmup`` flag of a replayed event (JSON Lines or Parquet): true, 1 or "true"."""
    return value is True or value == 1 or value == "true"


def _per10k(n: int, total: int) -> Optional[float]:
    return round(n * 10_000 / total, 1) if total else None


class RunReport:
    """The result of a replay: per-ruleset statistics plus file-level counts."""

    def __init__(self, events_name: str, rulesets: list[LoadedRuleset]):
        self.events_name = events_name
        self.stats = [RulesetStats(rs) for rs in rulesets]
        self.lines = 0
        self.malformed = 0
        self.malformed_lines: list[tuple[int, str]] = []
        self.seconds = 0.0

    @property
    def rejected_any(self) -> bool:
        """True when a line was malformed or some ruleset rejected an event."""
        return self.malformed > 0 or any(s.rejected for s in self.stats)

    @property
    def internal_errors(self) -> int:
        """Events on which some ruleset failed with an internal error (a bug), over every ruleset."""
        return sum(s.internal_errors for s in self.stats)

    def to_dict(self, top: int = 10) -> dict:
        """The report as JSON-ready data (``ruledsl run --format json``); ``top`` rules per ruleset."""
        return {
            "events_file": self.events_name,
            "lines": self.lines,
            "malformed": self.malformed,
            "malformed_lines": [{"line": ln, "error": msg} for ln, msg in self.malformed_lines],
            "seconds": round(self.seconds, 3),
            "rulesets": [s.to_dict(top) for s in self.stats],
        }


# ---------------------------------------------------------------- rendering


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def _fmt_rate(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:,.1f}"


_ACTION_STYLE = {"block": "bold red", "hold": "red", "step_up": "yellow", "alert": "cyan", "pass": "green"}


def render_report(report: RunReport, console, *, top: int = 10) -> None:
    """Print the summary with rich: one block per ruleset."""
    from rich.table import Table
    from rich.text import Text

    data = report.to_dict(top)
    head = f"{report.events_name}: {_fmt_int(report.lines)} lines"
    if report.malformed:
        head += f", [red]{_fmt_int(report.malformed)} malformed[/red]"
    if report.seconds > 0:
        head += f" in {report.seconds:.1f} s ({_fmt_int(round(report.lines / report.seconds))} lines/s, all rulesets)"
    console.print(head)
    for st, d in zip(report.stats, data["rulesets"], strict=True):
        console.print()
        console.rule(Text(f"{d['ruleset']}  ({d['path']})", style="bold"))
        parts = [f"events [bold]{_fmt_int(d['events'])}[/bold]"]
        if d["warmup_events"]:
            parts.append(f"warm-up {_fmt_int(d['warmup_events'])} (not scored)")
        parts.append(f"late {_fmt_int(d['late'])}")
        rej = d["rejected"]
        parts.append(f"[red]rejected {_fmt_int(rej)}[/red]" if rej else "rejected 0")
        if d["skipped"]:
            parts.append(f"skipped {_fmt_int(d['skipped'])} of types it does not declare")
        if d["events_per_second"]:
            parts.append(f"evaluate {_fmt_int(d['events_per_second'])} events/s")
        console.print(" · ".join(parts))
        longest = max((w.duration_ms for w in st.rs.engine.compiled.windows), default=0)
        if longest >= 86_400_000 and d["events"] and d["warmup_events"] < d["events"]:
            console.print(
                f"[dim]little or no warm-up ({_fmt_int(d['warmup_events'])} events): windows start empty, so "
                "per-customer baselines and histories are cold at first and alert more; give earlier traffic "
                'marked "warmup": true or use --warmup[/dim]'
            )
        console.print(
            f"alerts (non-pass decisions) [bold]{_fmt_int(d['alerts'])}[/bold] = "
            f"[bold]{_fmt_rate(d['alerts_per_10k'])}[/bold] per 10,000 events"
        )

        actions = Table(title="actions", title_justify="left", show_edge=False, pad_edge=False)
        actions.add_column("action")
        actions.add_column("events", justify="right")
        actions.add_column("share", justify="right")
        total = d["events"] or 1
        for a in ACTIONS:
            n = d["actions"][a]
            actions.add_row(Text(a, style=_ACTION_STYLE[a]), _fmt_int(n), f"{100 * n / total:.2f}%")
        console.print(actions)

        if d["top_rules"]:
            labelled = "labelled" in d
            rules = Table(title="top rules by hits", title_justify="left", show_edge=False, pad_edge=False)
            rules.add_column("rule")
            rules.add_column("code")
            rules.add_column("action")
            rules.add_column("hits", justify="right")
            if labelled:
                rules.add_column("on fraud", justify="right")
                rules.add_column("on normal", justify="right")
                rules.add_column("precision", justify="right")
            rules.add_column("reason", overflow="ellipsis", no_wrap=True, max_width=30)
            for r in d["top_rules"]:
                row = [
                    r["rule"] + (" (shadow)" if r["shadow"] else ""),
                    r["code"] or "",
                    Text(r["action"], style=_ACTION_STYLE.get(r["action"], "")),
                    _fmt_int(r["hits"]),
                ]
                if labelled:
                    row += [_fmt_int(r["fraud_hits"]), _fmt_int(r["normal_hits"]), f"{r['precision']:.2f}"]
                row.append(r["reason"])
                rules.add_row(*row)
            console.print(rules)

        lab = d.get("labelled")
        if lab:
            scen = Table(
                title="injected fraud scenarios (caught: any event got an action other than pass)",
                title_justify="left",
                show_edge=False,
                pad_edge=False,
            )
            scen.add_column("scenario")
            scen.add_column("scenarios", justify="right")
            scen.add_column("caught", justify="right")
            scen.add_column("share caught", justify="right")
            scen.add_column("caught by (scenarios)", overflow="fold")
            for r in lab["by_scenario"]:
                scen.add_row(
                    r["scenario"],
                    _fmt_int(r["scenarios"]),
                    _fmt_int(r["caught"]),
                    f"{100 * r['share_caught']:.0f}%",
                    ", ".join(f"{c['rule']} {c['scenarios']}" for c in r["caught_by"]),
                )
            share = lab["share_caught"]
            scen.add_row(
                Text("all", style="bold"),
                _fmt_int(lab["scenarios"]),
                _fmt_int(lab["caught"]),
                "-" if share is None else f"{100 * share:.0f}%",
                "",
                end_section=True,
            )
            console.print(scen)
            console.print(
                f"normal (unlabelled) traffic: {_fmt_int(lab['normal_events'])} events, "
                f"{_fmt_int(lab['normal_alerts'])} alerts = "
                f"[bold]{_fmt_rate(lab['normal_alerts_per_10k'])}[/bold] per 10,000 events"
                f"   ·   fraud events: {_fmt_int(lab['fraud_events'])}, "
                f"{100 * lab['fraud_event_alert_share']:.0f}% got an action other than pass"
            )


def report_rejections(report: RunReport, events_name: str) -> None:
    """``FILE:LINE: error`` lines on stderr for malformed and rejected events."""
    for ln, msg in report.malformed_lines:
        typer.echo(f"{events_name}:{ln}: malformed event: {msg}", err=True)
    if report.malformed > len(report.malformed_lines):
        typer.echo(
            f"{events_name}: ... and {report.malformed - len(report.malformed_lines)} more malformed lines", err=True
        )
    for st in report.stats:
        for ln, msg in st.rejections:
            typer.echo(f"{events_name}:{ln}: rejected by {st.rs.name}: {msg}", err=True)
        if st.rejected > len(st.rejections):
            typer.echo(
                f"{events_name}: ... and {st.rejected - len(st.rejections)} more events rejected by {st.rs.name}",
                err=True,
            )


def make_console(file=None):
    """A rich console for summaries: at least 120 columns when not on a terminal."""
    from rich.console import Console

    stream = file or sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return Console(file=stream, width=None if tty else 140, highlight=False, soft_wrap=False)
