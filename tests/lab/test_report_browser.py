"""The backtest report in a real browser: headless Chromium, no network.

On generated traffic with its labels in a separate file and a baseline one
parameter apart, ``ruledsl backtest`` writes the report; Chromium (the
Debian package ``chromium``, installed by ``.ci/run``) loads it with every
host unresolvable and no proxy reachable, and the DOM it builds must hold
the tables and the charts' SVG; a screenshot must show a page, not a blank.
Skipped, with the reason, only where Chromium is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruledsl.cli.app import app
from ruledsl.lab.labels import extract_labels
from ruledsl.runtime.engine import load
from ruledsl.sim import generate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ECHANNEL = ROOT / "rulesets" / "echannel_monitoring.rdsl"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)"
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    offline = [
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: any fetch would fail
        "--proxy-server=http://127.0.0.1:9",
    ]
    return subprocess.run([CHROMIUM, *offline, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    events = tmp / "events.jsonl"
    with open(events, "wb") as f:
        write_jsonl(generate(150, 2, seed=8, fraud_rate=0.08, warmup_days=1), f)
    labels = tmp / "labels.csv"
    extract_labels([events], "account_no", labels, zone=load(ECHANNEL, clock=None)._zone)
    html = tmp / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "backtest", str(ECHANNEL), "--events", str(events), "--labels", str(labels),
            "--baseline", str(ECHANNEL), "--baseline-params", "repeat_txn_count=4",
            "--report", str(html), "--callback-capacity", "2/h", "--quiet", "--sweep", "repeat_txn_count=1:5:1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return html


def test_report_renders_offline_with_tables_and_charts(report, tmp_path):
    proc = chromium(tmp_path, "--dump-dom", report.as_uri())
    dom = proc.stdout
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
    for table in ("rules-table", "matrix-table", "holds-table", "labels-table", "actions-table", "affected-table"):
        assert f'id="{table}"' in dom, table
    assert 'id="sweep-table-repeat_txn_count"' in dom
    assert dom.count("<svg") >= 5  # actions, rules, transition matrix, hold queue, sweep curve
    for title in (
        "decisions by action",
        "rules by hits",
        "decision transitions (events)",
        "hold queue by hour",
        "sweep of repeat_txn_count",
    ):
        assert title in dom, title
    assert "<script" not in dom
    # the sample events' explanations (a second pass, lab/explain_pass.py): margins and counterfactuals in the DOM
    assert dom.count('class="explained"') >= 3
    assert re.search(r"would not have fired with [^<]+", dom)
    assert re.search(r"✓ [a-z_0-9]+ [0-9,.]+ (&gt;=|&gt;|&lt;=|&lt;) [a-z_0-9]+ [0-9,.]+ by [0-9,.]+", dom), "a margin"
    assert 'id="explain-cost"' in dom and "by a second pass over" in dom


def test_report_screenshot_is_a_page(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # text, tables and charts, not a blank page
