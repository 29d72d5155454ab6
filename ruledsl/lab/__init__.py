"""The replay lab: what a rule change will do before it goes live (``ruledsl backtest``, ``ruledsl cases``).

Recorded traffic (JSON Lines, plain or gzip, and Parquet) is streamed in
batches (``readers``) through an engine's batch paths (``replay``: Parquet
through ``Engine.evaluate_arrow``, JSON Lines decoded with msgspec through
``Engine.evaluate_many``), and every batch's decisions go to consumers that
keep bounded summaries: ``metrics`` (per rule and per ruleset, against the
labels of ``labels``), ``compare`` (a baseline's decisions against the
candidate's: the transition matrix, newly affected entities, samples),
``holdqueue`` (the call-back team's load) and ``cases`` (the T+1 case list).
``report`` renders the figures as one self-contained HTML file (templates in
``templates/``, charts from ``charts``) and as JSON.

The lab sits above ``sim`` and below ``cli`` in the layer order: the
commands in ``ruledsl/cli`` load the engines and call it.  The figures are
defined in docs/lab.md.
"""

from __future__ import annotations


class LabError(Exception):
    """Bad input to the lab (a missing or unreadable file, a bad label file, a bad option value).

    The message names the file and what is wrong; the command prints it
    without a traceback.
    """
