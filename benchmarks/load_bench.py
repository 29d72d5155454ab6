"""How long ``ruledsl.load()`` takes in a new process (issue #10): a measure of ``run_bench.py``.

    python benchmarks/load_bench.py [--short] [--repeat N] [--compiled] [--json]

For the standard ruleset (``standard.rdsl`` + ``events.rdsl``, 30 rules) and
for generated rulesets of 30, 300 and 3,000 rules (``lintgen.py``), each
figure the median of ``N`` runs, every run in a fresh ``python -c``:

- **cold**: an empty cache directory (``RULEDSL_CACHE_DIR``), so the
  parser's LALR tables are built;
- **cached**: a second process on the same directory (the tables are read
  from the cache);
- where the cached load's time goes, measured in one more fresh process
  stage by stage: reading the parser's tables, parse, check, compile
  (the generated Python), bind (``Engine``: Python's ``compile()`` of the
  generated source and the state);
- the time to ``import ruledsl``, reported apart (it is not in the loads).

Loads use the generated-Python evaluator (``compiled="never"``): the load
path itself.  The default mode (``compiled="auto"``) is timed on the cached
parser too: it also generates the Cython evaluator's text (its cache key)
and starts building it in the background.  ``--compiled`` adds, per ruleset, a build of the Cython
evaluator (``compiled="require"`` on an empty cache: the one-off cost) and
a load with that module cached (``compiled="auto"``, fresh process); a
3,000-rule build takes minutes, so it is off by default.  Times are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import lintgen  # noqa: E402

STANDARD = [str(HERE / "standard.rdsl"), str(HERE / "events.rdsl")]
SIZES = (30, 300, 3000)

# one load, timed in a fresh interpreter: prints a JSON line
_LOAD = """
import json, sys, time
t0 = time.perf_counter()
import ruledsl
t1 = time.perf_counter()
paths, mode = json.loads(sys.argv[1]), sys.argv[2]
c1 = time.process_time()
try:
    engine = ruledsl.load(paths, compiled=mode)
except TypeError:  # a ruledsl without the compiled= option
    engine = ruledsl.load(paths)
t2 = time.perf_counter()
c2 = time.process_time()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "load_cpu_s": c2 - c1,
                  "evaluator": getattr(engine, "evaluator", "python")}))
"""

# the same load stage by stage (Engine as ruledsl.load builds it, Python evaluator)
_STAGES = """
import json, sys, time
import ruledsl
from ruledsl.check.checker import check
from ruledsl.compile import compile_ruleset
from ruledsl.runtime.engine import Engine
from ruledsl.syntax import parser
from ruledsl.syntax.loader import load_program
paths = json.loads(sys.argv[1])
clock = time.perf_counter
t0 = clock()
parser._lark()
t1 = clock()
program = load_program(paths)
t2 = clock()
result = check(program)
t3 = clock()
compiled = compile_ruleset(result)
t4 = clock()
try:
    Engine(result, compiled, evaluator_mode="never")
except TypeError:  # a ruledsl without evaluator modes
    Engine(result, compiled)
t5 = clock()
print(json.dumps({"tables_s": t1 - t0, "parse_s": t2 - t1, "check_s": t3 - t2, "compile_s": t4 - t3, "bind_s": t5 - t4}))
"""


def _child(code: str, args: list[str], cache: Path, timeout: float = 1800) -> dict[str, Any]:
    env = {**os.environ, "RULEDSL_CACHE_DIR": str(cache)}
    env.pop("RULEDSL_COMPILED", None)
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load_bench child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def measure_case(name: str, paths: list[str], repeat: int, compiled: bool, tmp: Path) -> dict[str, Any]:
    """Cold and cached loads of one ruleset (medians of ``repeat`` runs), the stages, and optionally Cython."""
    arg = json.dumps(paths)
    cold, cached = [], []
    for i in range(repeat):
        cache = tmp / f"{name}-cache-{i}"  # empty: nothing built yet
        cold.append(_child(_LOAD, [arg, "never"], cache))
        cached.append(_child(_LOAD, [arg, "never"], cache))
    stages = [_child(_STAGES, [arg], tmp / f"{name}-cache-0") for _ in range(repeat)]
    # the default mode: the Cython evaluator's text is generated (its cache key) and, not being built yet,
    # its build starts in the background (stopped when the process exits)
    auto = [_child(_LOAD, [arg, "auto"], tmp / f"{name}-cache-0") for _ in range(repeat)]
    res: dict[str, Any] = {
        "ruleset": name,
        "rules": _count_rules(paths),
        "cold_load_s": _median(cold, "load_s"),
        "cached_load_s": _median(cached, "load_s"),
        # CPU time of the same loads: steadier than wall time on a busy machine
        "cold_load_cpu_s": _median(cold, "load_cpu_s"),
        "cached_load_cpu_s": _median(cached, "load_cpu_s"),
        "import_s": _median(cold + cached, "import_s"),
        "stages_s": {k: _median(stages, k) for k in stages[0]},
        "auto_load_s": _median(auto, "load_s"),
        "repeat": repeat,
    }
    if compiled:
        cache = tmp / f"{name}-cython"
        try:
            build = _child(_LOAD, [arg, "require"], cache)
        except (RuntimeError, subprocess.TimeoutExpired) as err:  # no compiler, a build that failed or timed out
            res["cython_error"] = str(err).strip().splitlines()[-1][:200]
            return res
        loads = [_child(_LOAD, [arg, "auto"], cache) for _ in range(repeat)]
        res["cython_build_load_s"] = build["load_s"]
        res["cython_cached_load_s"] = _median(loads, "load_s")
        res["cython_evaluator"] = loads[0]["evaluator"]
    return res


def _count_rules(paths: list[str]) -> int:
    return sum(
        1 for p in paths for line in Path(p).read_text(encoding="utf-8").splitlines() if line.startswith("rule ")
    )


def measure(short: bool = False, repeat: int | None = None, compiled: bool = False) -> dict[str, Any]:
    """Every case; ``short``: one run each (a smoke run with rough numbers)."""
    n = repeat if repeat is not None else (1 if short else 5)
    with tempfile.TemporaryDirectory(prefix="ruledsl-load-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cases = [("standard", STANDARD)]
        for size in SIZES:
            cases.append((f"generated {size:,}", [str(lintgen.write_ruleset(tmp, size))]))
        results = [measure_case(name, paths, n, compiled, tmp) for name, paths in cases]
    return {"cases": results, "repeat": n, "python": sys.version.split()[0]}


def rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) rows for run_bench's table."""
    out = []
    for case in res["cases"]:
        st = case["stages_s"]
        stages = ", ".join(f"{k[:-2]} {v * 1e3:.0f}" for k, v in st.items())
        out.append(
            (
                f"load {case['ruleset']} ({case['rules']:,} rules)",
                f"cold {case['cold_load_s'] * 1e3:,.0f} ms, cached {case['cached_load_s'] * 1e3:,.0f} ms "
                f"(CPU {case['cold_load_cpu_s'] * 1e3:,.0f} / {case['cached_load_cpu_s'] * 1e3:,.0f} ms; "
                f"cached by stage, ms: {stages})",
            )
        )
        out.append(
            (
                "  same, default compiled='auto'",
                f"{case['auto_load_s'] * 1e3:,.0f} ms cached (Cython text generated, build started in the background)",
            )
        )
        if "cython_error" in case:
            out.append((f"  compiled evaluator, {case['ruleset']}", f"not built: {case['cython_error']}"))
        if "cython_cached_load_s" in case:
            out.append(
                (
                    f"  compiled evaluator, {case['ruleset']}",
                    f"build+load {case['cython_build_load_s']:,.1f} s; load with the module cached "
                    f"{case['cython_cached_load_s'] * 1e3:,.0f} ms ({case['cython_evaluator']})",
                )
            )
    imports = [c["import_s"] for c in res["cases"]]
    out.append(("import ruledsl", f"{statistics.median(imports) * 1e3:.0f} ms (not in the loads above)"))
    out.append(("runs", f"median of {res['repeat']} fresh processes each; Python {res['python']}"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: print the numbers (``--json``: one JSON line, for run_bench.py)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="one run per figure (default 5)")
    p.add_argument("--repeat", type=int, default=None, help="runs per figure (the median is reported)")
    p.add_argument("--compiled", action="store_true", help="also build and load the Cython evaluator (slow)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args(argv)
    res = measure(args.short, args.repeat, args.compiled)
    if args.json:
        print(json.dumps(res))
    else:
        for measure_name, value in rows(res):
            print(f"{measure_name:<44} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
