"""benchmarks/load_bench.py runs (one small case, one run each) and gives run_bench its rows; no timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import lintgen  # noqa: E402
import load_bench  # noqa: E402


def test_one_case_measures_cold_cached_stages_and_auto(tmp_path: Path) -> None:
    path = lintgen.write_ruleset(tmp_path, 30)
    case = load_bench.measure_case("generated 30", [str(path)], 1, False, tmp_path)
    assert case["rules"] == 30
    assert set(case["stages_s"]) == {"tables_s", "parse_s", "check_s", "compile_s", "bind_s"}
    times = [case[k] for k in ("cold_load_s", "cached_load_s", "auto_load_s", "import_s")]
    assert all(t > 0 for t in [*times, *case["stages_s"].values()])
    # the cold run filled the cache directory it was given; the cached run read it
    assert list((tmp_path / "generated 30-cache-0").glob("parser-*.lark-cache"))

    rows = load_bench.rows({"cases": [case], "repeat": 1, "python": "3"})
    assert all(isinstance(a, str) and isinstance(b, str) for a, b in rows)
    assert rows[0][0] == "load generated 30 (30 rules)"
    assert "cold" in rows[0][1] and "cached" in rows[0][1]
    assert rows[-2][0] == "import ruledsl"
