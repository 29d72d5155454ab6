"""The report's charts: matplotlib (Agg backend) figures as inline SVG text.

Every function takes the JSON-ready figures the report shows in its tables
(the same ones ``--json`` writes) and returns an ``<svg>`` element's text,
or "" when there is nothing to draw.  Text stays text (``svg.fonttype:
none``) and the output is deterministic (a fixed hash salt, no date), so a
report is the same for the same replay.  No chart needs a font, a script
or a network.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from collections.abc import Sequence
from typing import Any, Optional

from ruledsl.syntax.nodes import ACTIONS

ACTION_COLOURS = {"block": "#b2182b", "hold": "#ef8a62", "step_up": "#f4c542", "alert": "#67a9cf", "pass": "#7fbf7b"}
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "ruledsl-lab",
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display, no GUI toolkit: the report is made on servers
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = _METADATA.sub("", text)  # the Dublin Core block: bytes a reader never sees
    return text[text.index("<svg") :]


def _figure(width: float, height: float) -> tuple[Any, Any]:
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def rules_chart(rules: Sequence[dict], top: int = 15) -> str:
    """Horizontal bars: the rules by hits, split into hits on fraud and on normal events when labelled."""
    rows = list(rules[:top])
    if not rows:
        return ""
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, ax = _figure(7.5, 0.32 * len(rows) + 0.9)
        names = [r["rule"] for r in rows][::-1]
        y = range(len(rows))
        if "fraud_hits" in rows[0]:
            fraud = [r["fraud_hits"] for r in rows][::-1]
            normal = [r["normal_hits"] for r in rows][::-1]
            ax.barh(y, fraud, color="#b2182b", label="on fraud events")
            ax.barh(y, normal, left=fraud, color="#9ecae1", label="on normal events")
            ax.legend(loc="lower right", frameon=False)
        else:
            ax.barh(y, [r["hits"] for r in rows][::-1], color="#4393c3", label="hits")
        ax.set_yticks(list(y), names)
        ax.set_xlabel("hits (events the rule fired on)")
        ax.set_title("rules by hits", loc="left")
        return _svg(fig)


def actions_chart(new: dict, old: Optional[dict] = None) -> str:
    """Grouped bars: events per action (log scale), the candidate beside the baseline when there is one."""
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, ax = _figure(6.5, 2.6)
        x = list(range(len(ACTIONS)))
        width = 0.38 if old is not None else 0.6
        shift = width / 2 if old is not None else 0.0
        if old is not None:
            ax.bar([i - shift for i in x], [old.get(a, 0) for a in ACTIONS], width, color="#bdbdbd", label="baseline")
        ax.bar(
            [i + shift for i in x],
            [new.get(a, 0) for a in ACTIONS],
            width,
            color=[ACTION_COLOURS[a] for a in ACTIONS],
            label="candidate",
        )
        ax.set_yscale("symlog", linthresh=1)
        ax.set_xticks(x, list(ACTIONS))
        ax.set_ylabel("events")
        ax.set_title("decisions by action", loc="left")
        if old is not None:
            ax.legend(frameon=False)
        return _svg(fig)


def matrix_chart(matrix: Sequence[Sequence[int]], actions: Sequence[str] = ACTIONS) -> str:
    """A heat map of the transition matrix: baseline action (rows) -> candidate action (columns)."""
    import math

    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, ax = _figure(4.6, 3.8)
        shade = [[math.log10(1 + n) for n in row] for row in matrix]
        ax.imshow(shade, cmap="Blues")
        top = max((v for row in shade for v in row), default=0) or 1
        for i, row in enumerate(matrix):
            for j, n in enumerate(row):
                if n:
                    colour = "white" if shade[i][j] > top * 0.6 else "black"
                    ax.text(j, i, f"{n:,}", ha="center", va="center", color=colour, fontsize=8)
        ax.set_xticks(range(len(actions)), list(actions))
        ax.set_yticks(range(len(actions)), list(actions))
        ax.set_xlabel("candidate")
        ax.set_ylabel("baseline")
        ax.set_title("decision transitions (events)", loc="left")
        ax.spines[:].set_visible(False)
        return _svg(fig)


def holdqueue_chart(new: dict, old: Optional[dict], zone: _dt.tzinfo) -> str:
    """Holds per hour (bars), the call-back capacity (line) and the backlog (line); the baseline's holds dashed."""
    hours = new.get("hours") or []
    old_hours = (old or {}).get("hours") or []
    if not hours and not old_hours:
        return ""
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        import matplotlib.dates as mdates

        fig, ax = _figure(8.0, 3.0)

        def when(rows: Sequence[dict]) -> list:
            return [_dt.datetime.fromtimestamp(r["hour"] / 1000, zone).replace(tzinfo=None) for r in rows]

        width = 1 / 24 * 0.9
        if hours:
            t = when(hours)
            ax.bar(t, [r["arrived"] for r in hours], width, align="edge", color="#ef8a62", label="holds (candidate)")
            ax.step(t, [r["backlog"] for r in hours], where="post", color="#b2182b", label="backlog (candidate)")
            expired = [r["expired"] for r in hours]
            if any(expired):
                ax.bar(t, expired, width, align="edge", color="#67001f", label="expired into block")
        if old_hours:
            ax.step(
                when(old_hours),
                [r["arrived"] for r in old_hours],
                where="post",
                color="#636363",
                linestyle="--",
                label="holds (baseline)",
            )
        ax.axhline(new["capacity_per_hour"], color="#2166ac", linewidth=1, label="call-back capacity per hour")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        fig.autofmt_xdate()
        ax.set_ylabel("holds per hour")
        ax.set_title("hold queue by hour", loc="left")
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _svg(fig)


def cases_chart(by_action: dict, by_rule: Sequence[tuple[str, int]]) -> str:
    """Two panels: cases by strongest action, and the rules that opened most cases."""
    if not by_action:
        return ""
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 2.8), gridspec_kw={"width_ratios": [1, 2]})
        acts = [a for a in ACTIONS if by_action.get(a)]
        a1.bar(acts, [by_action[a] for a in acts], color=[ACTION_COLOURS[a] for a in acts])
        a1.set_title("cases by strongest action", loc="left")
        rows = list(by_rule[:12])[::-1]
        a2.barh(range(len(rows)), [n for _, n in rows], color="#4393c3")
        a2.set_yticks(range(len(rows)), [r for r, _ in rows])
        a2.set_title("cases per rule", loc="left")
        return _svg(fig)


def sweep_chart(sweep: dict) -> str:
    """A parameter sweep's curve: alerts per 10,000 normal events (x) against fraud caught (y), one point per value.

    Without labels the y axis is not known: alerts per 10,000 events against the value instead.
    """
    points = sweep["points"]
    if not points:
        return ""
    plt = _pyplot()
    labels = [str(p["value"]) for p in points]
    with plt.rc_context(_STYLE):
        fig, ax = _figure(6.5, 3.6)
        if sweep.get("labelled"):
            x = [p["alerts_per_10k_normal"] or 0.0 for p in points]
            ent = [100 * (p["entities_warned_before_share"] or 0.0) for p in points]
            rec = [100 * (p["recall"] or 0.0) for p in points]
            ax.plot(x, ent, "o-", color="#b2182b", label="fraud entities warned before their label date")
            ax.plot(x, rec, "s--", color="#4393c3", label="fraud events alerted (recall)")
            for xi, yi, text in zip(x, ent, labels, strict=True):
                ax.annotate(text, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
            ax.set_xlabel("alerts per 10,000 normal events")
            ax.set_ylabel("fraud caught (%)")
            ax.legend(frameon=False, loc="lower right")
        else:
            ax.plot(range(len(points)), [p["alerts_per_10k"] or 0.0 for p in points], "o-", color="#4393c3")
            ax.set_xticks(list(range(len(points))), labels)
            ax.set_xlabel(sweep["param"])
            ax.set_ylabel("alerts per 10,000 events")
        ax.set_title(f"sweep of {sweep['param']}", loc="left")
        return _svg(fig)
