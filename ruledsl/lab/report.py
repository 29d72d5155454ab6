"""The lab's reports: one self-contained HTML file (Jinja2 templates, inline SVG charts) and the same figures as JSON.

``backtest_data`` and the case list's ``CaseBook.to_dict`` gather the
figures as JSON-ready dicts: that dict is what ``--json`` writes and what
the templates (``templates/*.html.j2``, shipped with the package) render.
The HTML carries its style inline and its charts as ``<svg>`` elements: no
script, no font, no link to load, so it opens in a browser on an air-gapped
machine.  Files are written whole (a temporary file renamed over the
target), so a failed write never leaves half a report.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from ruledsl._version import __version__
from ruledsl.lab import LabError, charts


def describe_engine(engine: Any, paths: list[str], params: Optional[dict] = None) -> dict:
    """A ruleset as the report names it: name, version, files, the parameters set for the run."""
    header = engine.result.symbols.header
    name = header.name.name if header is not None else Path(paths[0]).stem if paths else "ruleset"
    version = None
    if header is not None:
        version = getattr(header, "version", None)
        version = getattr(version, "value", version)
    return {
        "ruleset": name,
        "version": None if version is None else str(version),
        "paths": list(paths),
        "rules": len(engine.compiled.rules) if hasattr(engine.compiled, "rules") else None,
        "params": dict(params or {}),
    }


def backtest_data(
    *,
    candidate: dict,
    baseline: Optional[dict],
    events_files: list[str],
    labels: Optional[dict],
    replay: dict,
    metrics: dict,
    baseline_metrics: Optional[dict],
    comparison: Optional[dict],
    hold_queue: dict,
    timezone: str,
    sweeps: Optional[list[dict]] = None,
    explain: Optional[dict] = None,
) -> dict:
    """Every figure of a backtest as JSON-ready data (what ``--json`` writes and the HTML shows)."""
    if baseline_metrics is not None:  # each candidate rule's hits under the baseline, for the rules table
        old_hits = {r["rule"]: r["hits"] for r in baseline_metrics["rules"]}
        for r in metrics["rules"]:
            r["baseline_hits"] = old_hits.get(r["rule"], 0)
    hold_queue = {"candidate": hold_queue["candidate"], "baseline": hold_queue.get("baseline")}
    return {
        "kind": "backtest",
        "ruledsl": __version__,
        "timezone": timezone,
        "partial": bool(replay.get("interrupted")),
        "candidate": candidate,
        "baseline": baseline,
        "events_files": events_files,
        "labels": labels,
        "replay": replay,
        "metrics": metrics,
        "baseline_metrics": baseline_metrics,
        "comparison": comparison,
        "hold_queue": hold_queue,
        "sweeps": list(sweeps or []),
        "explain": explain,  # the samples' explanations' pass (lab/explain_pass.py); None without a baseline
    }


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ruledsl.lab", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["jsontext"] = _jsontext
    return env


def _jsontext(value: Any) -> str:
    # an event as readable JSON: Chinese as itself (Jinja's tojson writes \\uXXXX); autoescape makes it safe HTML
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return str(value)


def _pct(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _when(zone: _dt.tzinfo) -> Any:
    def fmt(ms: Optional[int]) -> str:
        if ms is None:
            return "–"
        return _dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")

    return fmt


def render_backtest(data: dict, zone: _dt.tzinfo) -> str:
    """The backtest report as one HTML page."""
    metrics = data["metrics"]
    old = data["baseline_metrics"]
    comparison = data["comparison"]
    hq = data["hold_queue"]
    figures = {
        "actions": charts.actions_chart(metrics["actions"], old["actions"] if old else None),
        "rules": charts.rules_chart(metrics["rules"]),
        "matrix": charts.matrix_chart(comparison["matrix"]) if comparison else "",
        "holds": charts.holdqueue_chart(hq["candidate"], hq.get("baseline"), zone) if hq else "",
        "sweeps": [charts.sweep_chart(s) for s in data.get("sweeps", [])],
    }
    env = _environment()
    env.filters["when"] = _when(zone)
    return env.get_template("backtest.html.j2").render(d=data, charts=figures)


def render_cases(data: dict, zone: _dt.tzinfo) -> str:
    """The case list's report as one HTML page."""
    figure = charts.cases_chart(data["by_action"], [(r["rule"], r["cases"]) for r in data["by_rule"]])
    env = _environment()
    env.filters["when"] = _when(zone)
    return env.get_template("cases.html.j2").render(d=data, chart=figure)


def write_text(path: Path, text: str) -> None:
    """Write a whole file or nothing (a temporary file beside it, renamed); ``LabError`` when impossible."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    except OSError as err:
        raise LabError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise LabError(f"cannot write {path}: {err.strerror or err}") from None


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON (UTF-8, Chinese text as is), written whole."""
    write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def check_writable(path: Path, what: str) -> None:
    """``LabError`` now, before a long replay, when ``path`` cannot be written later."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise LabError(f"{what} {path} is a directory")
    if not parent.is_dir():
        raise LabError(f"cannot write {what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise LabError(f"cannot write {what} {path}: permission denied")
