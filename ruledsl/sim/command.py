"""The generator's command line, ``python -m ruledsl.sim`` (``main``)."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Optional

from ruledsl.sim.catalog import ALL_SCENARIOS, FAMILIES
from ruledsl.sim.generate import generate, write_jsonl


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m ruledsl.sim``: write a labelled event stream as JSON Lines; returns the exit status."""
    p = argparse.ArgumentParser(
        prog="python -m ruledsl.sim",
        description="Generate seeded, realistic bank events (e-channel; with --profile also account opening, "
        "ledger postings, retail steps, counter transfers) with labelled fraud scenarios (JSON Lines).",
    )
    p.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    p.add_argument("--days", type=int, default=7, help="days of traffic (default 7)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--fraud-rate",
        type=float,
        default=0.01,
        help="injected scenarios per customer over the period, per event family (default 0.01)",
    )
    p.add_argument(
        "--warmup-days",
        type=int,
        default=0,
        help='days of unscored traffic before the period, marked "warmup": true (default 0)',
    )
    p.add_argument("--start", default="2026-11-16", help="first day of the period, YYYY-MM-DD (default 2026-11-16)")
    p.add_argument(
        "--profile",
        default="echannel",
        help="event families: echannel (default), all, or a comma-separated list of "
        f"{', '.join(FAMILIES)} (e-channel traffic is always included)",
    )
    p.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenario types to inject (default: every type of the profile)",
    )
    p.add_argument(
        "--ts-format",
        choices=("mixed", "iso", "epoch"),
        default="mixed",
        help="mixed: ISO 8601 (+08:00), epoch ms for ATM/POS card events (default)",
    )
    p.add_argument("--out", default="-", help="output file (default: standard output)")
    args = p.parse_args(argv)
    try:
        _dt.date.fromisoformat(args.start)
    except ValueError:
        p.error(f"--start must be a date YYYY-MM-DD, not {args.start!r}")
    kinds = None if args.scenarios is None else [s.strip() for s in args.scenarios.split(",") if s.strip()]
    try:
        events = generate(
            args.customers,
            args.days,
            args.seed,
            args.fraud_rate,
            start=args.start,
            warmup_days=args.warmup_days,
            scenarios=kinds,
            ts_format=args.ts_format,
            profile=args.profile,
        )
    except ValueError as err:
        p.error(str(err))
    labels: Counter[str] = Counter()
    scenario_ids: dict[str, str] = {}

    def counted(stream: Iterable[dict]) -> Iterator[dict]:
        for ev in stream:
            sid = ev.get("scenario_id")
            if sid is not None and sid not in scenario_ids:
                scenario_ids[sid] = ev["label"]
            yield ev

    began = time.perf_counter()
    try:
        if args.out == "-":
            n = write_jsonl(counted(events), sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with open(args.out, "wb") as out:
                n = write_jsonl(counted(events), out)
    except OSError as err:
        print(f"error: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    labels.update(scenario_ids.values())
    took = time.perf_counter() - began
    detail = ", ".join(f"{k} {labels[k]}" for k in ALL_SCENARIOS if labels[k])
    print(
        f"{n} events, {len(scenario_ids)} scenarios ({detail or 'none'}) in {took:.1f}s"
        + ("" if args.out == "-" else f" -> {args.out}"),
        file=sys.stderr,
    )
    return 0
