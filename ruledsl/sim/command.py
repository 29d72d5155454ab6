"""The generator's command line: ``write_stream`` (shared with ``ruledsl generate``) and ``python -m ruledsl.sim``.

Both write JSON Lines to standard output unless given ``--out``, and refuse
a path inside the package or the source checkout without ``--force``
(``ruledsl.sim.output``).  ``python -m ruledsl.sim`` keeps its argparse
options for scripts written against it; ``ruledsl generate`` has the same
options.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Optional

from ruledsl.sim.catalog import ALL_SCENARIOS, FAMILIES
from ruledsl.sim.generate import generate, write_jsonl
from ruledsl.sim.output import protected_location

TS_FORMATS = ("mixed", "iso", "epoch")
PROFILE_HELP = (
    "event families: echannel (default), all, or a comma-separated list of "
    f"{', '.join(FAMILIES)} (e-channel traffic is always included)"
)


class GeneratorUsageError(ValueError):
    """A bad option value or a refused ``--out``: the message says which (exit code 2)."""


def write_stream(
    *,
    customers: int = 2000,
    days: int = 7,
    seed: int = 1,
    fraud_rate: float = 0.01,
    warmup_days: int = 0,
    start: str = "2026-11-16",
    profile: str = "echannel",
    scenarios: Optional[str] = None,
    ts_format: str = "mixed",
    out: str = "-",
    force: bool = False,
) -> int:
    """Generate a stream and write it (``out``: a path, or ``-`` for stdout); returns the exit status.

    Raises ``GeneratorUsageError`` before writing anything for a bad option
    or a protected ``out``.  A file is written whole or not at all (a
    temporary file renamed at the end).  A summary line goes to stderr.
    """
    try:
        _dt.date.fromisoformat(start)
    except ValueError:
        raise GeneratorUsageError(f"--start must be a date YYYY-MM-DD, not {start!r}") from None
    for name, value in (("--customers", customers), ("--days", days), ("--warmup-days", warmup_days)):
        if value < 0:
            raise GeneratorUsageError(f"{name} must be 0 or more, not {value}")
    if not fraud_rate >= 0:
        raise GeneratorUsageError(f"--fraud-rate must be 0 or more, not {fraud_rate}")
    if ts_format not in TS_FORMATS:
        raise GeneratorUsageError(f"--ts-format must be one of {', '.join(TS_FORMATS)}, not {ts_format!r}")
    if out != "-" and not force:
        why = protected_location(out)
        if why is not None:
            raise GeneratorUsageError(why)
    if out != "-" and Path(out).is_dir():
        raise GeneratorUsageError(f"--out must be a file, not a directory: {out}")
    kinds = None if scenarios is None else [s.strip() for s in scenarios.split(",") if s.strip()]
    try:
        events = generate(
            customers,
            days,
            seed,
            fraud_rate,
            start=start,
            warmup_days=warmup_days,
            scenarios=kinds,
            ts_format=ts_format,
            profile=profile,
        )
        first = next(events, None)  # the generator checks its arguments when it starts
    except ValueError as err:
        raise GeneratorUsageError(str(err)) from None
    scenario_ids: dict[str, str] = {}

    def counted(stream: Iterable[dict]) -> Iterator[dict]:
        for ev in stream:
            sid = ev.get("scenario_id")
            if sid is not None and sid not in scenario_ids:
                scenario_ids[sid] = ev["label"]
            yield ev

    stream = counted(_chain(first, events))
    began = time.perf_counter()
    try:
        if out == "-":
            n = write_jsonl(stream, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            n = _write_file(out, stream)
    except OSError as err:
        print(f"error: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    labels: Counter[str] = Counter(scenario_ids.values())
    took = time.perf_counter() - began
    detail = ", ".join(f"{k} {labels[k]}" for k in ALL_SCENARIOS if labels[k])
    print(
        f"{n} events, {len(scenario_ids)} scenarios ({detail or 'none'}) in {took:.1f}s"
        + ("" if out == "-" else f" -> {out}"),
        file=sys.stderr,
    )
    return 0


def _chain(first: Optional[dict], rest: Iterator[dict]) -> Iterator[dict]:
    if first is not None:
        yield first
        yield from rest


def _write_file(out: str, events: Iterable[dict]) -> int:
    """Write to a temporary file beside ``out``, then rename: an interrupted run leaves no half file."""
    target = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent or "."))
    try:
        with os.fdopen(fd, "wb") as f:
            n = write_jsonl(events, f)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return n


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ruledsl.sim",
        description="Generate seeded, realistic bank events (e-channel; with --profile also account opening, "
        "ledger postings, retail steps, counter transfers) with labelled fraud scenarios (JSON Lines). "
        "The same as `ruledsl generate`.",
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
    p.add_argument("--profile", default="echannel", help=PROFILE_HELP)
    p.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenario types to inject (default: every type of the profile)",
    )
    p.add_argument(
        "--ts-format",
        choices=TS_FORMATS,
        default="mixed",
        help="mixed: ISO 8601 (+08:00), epoch ms for ATM/POS card events (default)",
    )
    p.add_argument(
        "--out",
        default="-",
        help="output file (default: standard output); refused inside the package or the source checkout "
        "(except its out/ directory) unless --force",
    )
    p.add_argument("--force", action="store_true", help="write --out even inside the package or the checkout")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m ruledsl.sim``: write a labelled event stream as JSON Lines; returns the exit status."""
    p = _parser()
    args = p.parse_args(argv)
    try:
        return write_stream(
            customers=args.customers,
            days=args.days,
            seed=args.seed,
            fraud_rate=args.fraud_rate,
            warmup_days=args.warmup_days,
            start=args.start,
            profile=args.profile,
            scenarios=args.scenarios,
            ts_format=args.ts_format,
            out=args.out,
            force=args.force,
        )
    except GeneratorUsageError as err:
        p.error(str(err))
