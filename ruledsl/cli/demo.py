"""The README's demo: example events, then a generated, labelled stream.

``python -m ruledsl.cli.demo [RULESETS_DIR]`` (``--help`` for the options) runs
from any directory: without ``RULESETS_DIR`` it uses the rulesets shipped with
ruledsl (``rulesets/`` of the source checkout, ``ruledsl/rulesets`` in a wheel).

1. For every ``rulesets/examples/NAME.jsonl`` with a ``rulesets/NAME.rdsl``,
   load the ruleset, evaluate the events in order and print one line per
   decision: time, event type, action and the matched rules with their reasons.
2. Generate a seeded stream of every event family with labelled fraud
   scenarios (``ruledsl generate --profile all``: 1,000 customers, 7 days,
   after 14 days of unscored warm-up traffic; e-channel events, account
   openings, ledger postings, retail steps and counter transfers), run it
   through every top-level ruleset in ``rulesets/`` by the code path of
   ``ruledsl run --skip-unknown-types`` (each ruleset skips the event types it
   does not declare), print that command's summary (actions, top rules, the
   share of each scenario type caught, alerts per 10,000 events), then one
   table: per ruleset, alerts per 10,000 events and the share of the injected
   scenarios caught, all it saw and those made for it
   (``ruledsl.sim.TARGET_RULESET``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import msgspec
from rich.console import Console
from rich.table import Table

from ruledsl.kernels.values import EventError
from ruledsl.runtime.engine import load
from ruledsl.syntax.diagnostics import RuleDSLError, render


def run_examples(root: Path, console: Console) -> int:
    """Evaluate every example file under ``root/examples``; returns an exit code."""
    status = 0
    examples = sorted((root / "examples").glob("*.jsonl"))
    if not examples:
        console.print(f"no example events under {root / 'examples'}")
        return 2
    for events_file in examples:
        ruleset = root / f"{events_file.stem}.rdsl"
        if not ruleset.exists():
            continue
        try:
            engine = load(ruleset)
        except RuleDSLError as err:
            for d in err.diagnostics:
                console.print(render(d, err.sources.get(d.path)), markup=False, highlight=False)
            status = 1
            continue
        table = Table(title=f"{ruleset.name} × {events_file.name}", show_lines=False)
        for col in ("#", "ts", "event", "action", "rules (reason / features)"):
            table.add_column(col)
        for i, line in enumerate(events_file.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = msgspec.json.decode(line)
                decision = engine.evaluate(event)
            except (msgspec.DecodeError, EventError) as err:
                table.add_row(str(i), "", "", "[red]rejected[/red]", str(err))
                status = 1
                continue
            detail = "; ".join(
                f"{r.id}{' (shadow)' if r.shadow else ''}: {r.reason} "
                + ", ".join(f"{k}={v}" for k, v in r.features.items())
                for r in decision.rules
            )
            table.add_row(str(i), str(event.get("ts", "")), decision.event_type, decision.action, detail)
        console.print(table)
    return status


DEMO_CUSTOMERS = 1000
DEMO_DAYS = 7
DEMO_WARMUP_DAYS = 14
DEMO_SEED = 20261121
DEMO_FRAUD_RATE = 0.03
DEMO_PROFILE = "all"


def rule_event_types(engine) -> list[str]:
    """The event types the ruleset's rules act on (the others only feed windows, or nothing)."""
    types: dict[str, None] = {}
    for rule in engine.result.symbols.rules.values():
        for ident in rule.events:
            types[ident.name] = None
    return list(types)


def load_rulesets(root: Path, sample: list[dict], console: Console) -> list:
    """Top-level rulesets in ``root`` (``*.rdsl`` with a ``ruleset`` header) that accept the sample events they declare.

    A ruleset skips the event types it does not declare (``ruledsl run --skip-unknown-types``);
    one that rejects a sample event of a type it declares is left out with the reason (a
    generator or schema bug).
    """
    from ruledsl.cli.run import LoadProblem, has_ruleset_header, load_ruleset

    fits = []
    for path in sorted(root.glob("*.rdsl")):
        try:
            rs = load_ruleset(path, shown=str(path))
        except LoadProblem as err:
            for d in err.diagnostics:
                console.print(render(d, err.sources.get(d.path)), markup=False, highlight=False)
            continue
        if not has_ruleset_header(rs.engine):
            continue
        known = set(rs.engine.compiled.event_types)
        try:
            for event in sample:
                if event["type"] in known:
                    rs.engine.peek(event)  # what-if: the engine's state is untouched
        except EventError as err:
            console.print(f"[dim]{path.name}: skipped, the generated events do not fit its schemas ({err})[/dim]")
            continue
        fits.append(rs)
    return fits


def _share(caught: int, total: int) -> str:
    return f"{caught}/{total} ({100 * caught / total:.0f}%)" if total else "-"


def _rate(x) -> str:
    return "-" if x is None else f"{x:,.1f}"


def summary_rows(report, scenario_types: dict[str, set]) -> list[dict]:
    """Per ruleset: events, alerts per 10,000 events, and the share of injected scenarios caught.

    ``scenario_types`` maps each scenario id to the event types it has: a ruleset is
    counted for the scenarios with events of a type its rules are on.
    """
    from ruledsl.sim import TARGET_RULESET

    rows = []
    for st in report.stats:
        d = st.to_dict(top=0)
        lab = d.get("labelled") or {}
        own_types = {k for k, v in TARGET_RULESET.items() if v == st.rs.name}
        by_scen = lab.get("by_scenario", [])
        own = [r for r in by_scen if r["scenario"] in own_types]
        acts_on = rule_event_types(st.rs.engine)
        relevant = [entry for sid, entry in st.scenarios.items() if scenario_types.get(sid, set()) & set(acts_on)]
        by_type = d["by_event_type"]
        ne = sum(by_type[t]["normal_events"] for t in acts_on if t in by_type)
        na = sum(by_type[t]["normal_alerts"] for t in acts_on if t in by_type)
        rows.append(
            {
                "ruleset": st.rs.name,
                "events": d["events"],
                "skipped": d["skipped"],
                "alerts_per_10k": d["alerts_per_10k"],
                "normal_alerts_per_10k": lab.get("normal_alerts_per_10k", d["alerts_per_10k"]),
                "rule_types": acts_on,
                "rule_type_normal_events": ne,
                "rule_type_normal_alerts_per_10k": round(na * 10_000 / ne, 1) if ne else None,
                "scenarios": len(relevant),
                "caught": sum(1 for entry in relevant if entry[1]),
                "own_scenarios": sum(r["scenarios"] for r in own),
                "own_caught": sum(r["caught"] for r in own),
                "own_by_type": {r["scenario"]: (r["caught"], r["scenarios"]) for r in own},
            }
        )
    return rows


def render_summary(rows: list[dict], console: Console) -> None:
    """Print ``summary_rows`` as one table: alert rates, and the scenarios each ruleset caught."""
    table = Table(
        title="per ruleset, on one generated stream (alerts: decisions other than pass; warm-up not scored)",
        title_justify="left",
    )
    table.add_column("ruleset")
    table.add_column("events", justify="right")
    table.add_column("skipped\n(other types)", justify="right")
    table.add_column("alerts /10k\nevents", justify="right")
    table.add_column("alerts /10k\nnormal events", justify="right")
    table.add_column("alerts /10k normal events\nof the types its rules are on", justify="right")
    table.add_column("scenarios caught\n(with events of those types)", justify="right")
    table.add_column("its own scenarios caught", justify="right")
    for r in rows:
        own = "\n".join(f"{k} {c}/{n}" for k, (c, n) in sorted(r["own_by_type"].items()))
        table.add_row(
            r["ruleset"],
            f"{r['events']:,}",
            f"{r['skipped']:,}",
            _rate(r["alerts_per_10k"]),
            _rate(r["normal_alerts_per_10k"]),
            f"[bold]{_rate(r['rule_type_normal_alerts_per_10k'])}[/bold]\n[dim]{', '.join(r['rule_types'])}[/dim]",
            _share(r["caught"], r["scenarios"]),
            f"[bold]{_share(r['own_caught'], r['own_scenarios'])}[/bold]" + (f"\n[dim]{own}[/dim]" if own else ""),
            end_section=True,
        )
    console.print(table)


def run_generated(
    root: Path,
    console: Console,
    *,
    customers: int = DEMO_CUSTOMERS,
    days: int = DEMO_DAYS,
    warmup_days: int = DEMO_WARMUP_DAYS,
    seed: int = DEMO_SEED,
    fraud_rate: float = DEMO_FRAUD_RATE,
    profile: str = DEMO_PROFILE,
) -> int:
    """Generate a labelled stream of every event family and replay it like ``ruledsl run`` through
    every ruleset (each skipping the types it does not declare); returns an exit code."""
    from ruledsl.cli.run import render_report, replay
    from ruledsl.sim import generate

    encode = msgspec.json.Encoder().encode
    lines: list[bytes] = []
    sample: list[dict] = []  # up to 20 events of each type, to check the rulesets' schemas
    per_type: dict[str, int] = {}
    scenario_types: dict[str, set] = {}  # scenario id -> its event types
    for event in generate(customers, days, seed, fraud_rate, warmup_days=warmup_days, profile=profile):
        if per_type.get(event["type"], 0) < 20:
            per_type[event["type"]] = per_type.get(event["type"], 0) + 1
            sample.append(dict(event))
        sid = event.get("scenario_id")
        if sid is not None:
            scenario_types.setdefault(sid, set()).add(event["type"])
        lines.append(encode(event))
    rulesets = load_rulesets(root, sample, console)
    command = (
        f"ruledsl generate --profile {profile} --customers {customers} --days {days} --seed {seed} "
        f"--fraud-rate {fraud_rate} --warmup-days {warmup_days} > events.jsonl"
    )
    console.print()
    console.rule("[bold]generated traffic with labelled fraud scenarios[/bold]")
    console.print(
        f"[dim]the same as: {command}\n"
        f"             ruledsl run {' '.join(rs.path for rs in rulesets) or 'RULESET'} "
        f"--skip-unknown-types --events events.jsonl[/dim]"
    )
    if not rulesets:
        console.print(f"no ruleset in {root} fits the generated events")
        return 1
    name = (
        f"generated ({profile}): {customers} customers × {days} days + {warmup_days} warm-up days, "
        f"seed {seed}, {len(lines):,} events"
    )
    report = replay(rulesets, lines, events_name=name, skip_unknown_types=True)
    render_report(report, console)
    console.print()
    render_summary(summary_rows(report, scenario_types), console)
    return 1 if report.rejected_any or report.internal_errors else 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ruledsl.cli.demo",
        description="The README's demo: evaluate the example events of the shipped rulesets, then generate "
        "a labelled stream of every event family (like `ruledsl generate --profile all`) and run it through "
        "every top-level ruleset (like `ruledsl run --skip-unknown-types`), with a summary per ruleset. "
        "Runs from any directory; writes nothing.",
    )
    p.add_argument(
        "rulesets",
        nargs="?",
        type=Path,
        default=None,
        metavar="RULESETS_DIR",
        help="directory of rulesets with examples/NAME.jsonl beside them (default: the rulesets shipped "
        "with ruledsl: rulesets/ of the source checkout, or ruledsl/rulesets in an installed wheel)",
    )
    p.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help=f"customers (default {DEMO_CUSTOMERS})")
    p.add_argument("--days", type=int, default=DEMO_DAYS, help=f"days of traffic (default {DEMO_DAYS})")
    p.add_argument(
        "--warmup-days", type=int, default=DEMO_WARMUP_DAYS, help=f"unscored days before (default {DEMO_WARMUP_DAYS})"
    )
    p.add_argument("--seed", type=int, default=DEMO_SEED, help=f"random seed (default {DEMO_SEED})")
    return p


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point for ``python -m ruledsl.cli.demo [RULESETS_DIR] [--customers N] [--days N] ...``."""
    from ruledsl.sim.output import shipped_rulesets

    p = _parser()
    args = p.parse_args(argv)
    root = args.rulesets if args.rulesets is not None else shipped_rulesets()
    if root is None:
        p.error(
            "no shipped rulesets found (neither ruledsl/rulesets nor a source checkout's rulesets/); give RULESETS_DIR"
        )
    if not root.is_dir() or not any(root.glob("*.rdsl")):
        p.error(f"no .rdsl rulesets in {root}")
    for name in ("customers", "days", "warmup_days"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be 0 or more")
    console = Console(width=200)
    status = run_examples(root, console)
    if status == 2:  # no example events: still show the generated traffic
        status = 0
    status = max(
        status,
        run_generated(
            root, console, customers=args.customers, days=args.days, warmup_days=args.warmup_days, seed=args.seed
        ),
    )
    sys.exit(status)


if __name__ == "__main__":
    main()
