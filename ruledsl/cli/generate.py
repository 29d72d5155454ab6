"""``ruledsl generate``: seeded, labelled bank traffic as JSON Lines (``ruledsl.sim``).

::

    ruledsl generate --profile all --customers 2000 --days 7 --warmup-days 30 > events.jsonl
    ruledsl generate --customers 500 --days 3 --out /tmp/events.jsonl

The options are those of ``python -m ruledsl.sim`` (which stays, for scripts).
The stream goes to standard output unless ``--out FILE`` names a file; a
path inside the installed package or the source checkout is refused unless
``--force`` (the checkout's ``out/`` directory, ignored by git, is allowed),
so a generated stream never lands in the repository by accident.  A file
is written whole or not at all.  Exit codes: 0 written, 2 bad option,
refused or unwritable ``--out``.
"""

from __future__ import annotations

import enum
from typing import Annotated, Optional

import typer

from ruledsl.sim.command import PROFILE_HELP, GeneratorUsageError, write_stream


class TsFormat(str, enum.Enum):
    """How ``ts`` is written."""

    mixed = "mixed"
    iso = "iso"
    epoch = "epoch"


def register(app: typer.Typer) -> None:
    """Add ``ruledsl generate`` to the CLI app."""
    from ruledsl.cli.app import guarded, usage_error

    @app.command()
    @guarded
    def generate(
        customers: Annotated[int, typer.Option("--customers", help="Number of customers.", min=0)] = 2000,
        days: Annotated[int, typer.Option("--days", help="Days of traffic.", min=0)] = 7,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same stream).")] = 1,
        fraud_rate: Annotated[
            float,
            typer.Option(
                "--fraud-rate", help="Injected scenarios per customer over the period, per event family.", min=0
            ),
        ] = 0.01,
        warmup_days: Annotated[
            int,
            typer.Option(
                "--warmup-days", help='Days of unscored traffic before the period, marked "warmup": true.', min=0
            ),
        ] = 0,
        start: Annotated[
            str, typer.Option("--start", help="First day of the period, YYYY-MM-DD.", metavar="DATE")
        ] = "2026-11-16",
        profile: Annotated[str, typer.Option("--profile", help=PROFILE_HELP.capitalize() + ".")] = "echannel",
        scenarios: Annotated[
            Optional[str],
            typer.Option(
                "--scenarios",
                help="Comma-separated scenario types to inject (default: every type of the profile).",
                show_default=False,
            ),
        ] = None,
        ts_format: Annotated[
            TsFormat,
            typer.Option("--ts-format", help="mixed: ISO 8601 (+08:00), epoch ms for ATM/POS card events."),
        ] = TsFormat.mixed,
        out: Annotated[
            str,
            typer.Option(
                "--out",
                "-o",
                help="Output file; - (the default) for standard output. Refused inside the package or the "
                "source checkout (except its out/ directory) unless --force.",
                metavar="FILE",
            ),
        ] = "-",
        force: Annotated[
            bool, typer.Option("--force", help="Write --out even inside the package or the source checkout.")
        ] = False,
    ) -> None:
        """Generate seeded bank events with labelled fraud scenarios, as JSON Lines.

        E-channel traffic; with --profile all (or a list of families) also
        account opening, ledger postings, retail steps and counter transfers.
        Writes to standard output unless --out is given; a summary line goes
        to standard error.  Exit codes: 0 written, 2 bad option or --out refused.
        """
        fmt = ts_format.value if isinstance(ts_format, TsFormat) else str(ts_format)
        try:
            status = write_stream(
                customers=customers,
                days=days,
                seed=seed,
                fraud_rate=fraud_rate,
                warmup_days=warmup_days,
                start=start,
                profile=profile,
                scenarios=scenarios,
                ts_format=fmt,
                out=out,
                force=force,
            )
        except GeneratorUsageError as err:
            usage_error(str(err))
        raise typer.Exit(status)
