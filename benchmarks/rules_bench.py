"""Cost per event as rules and windows multiply: shared predicates, identical windows, and the latency tail.

    python benchmarks/rules_bench.py [--short] [--json OUT] [--rounds 5] [--events N] [--compiled never|require]

On the standard workload stream (``workload.py``), each ruleset a fresh
engine, the heap frozen (``gc.freeze()``) before every timed pass, the
rulesets' passes interleaved round by round; per ruleset the best and the
median of the rounds, in CPU µs per ``evaluate()`` (process time of a whole
pass over the stream, divided by its events):

- **rules that share predicates**, 30, 300 and 3,000 of them, written the
  way large rulesets are: one rule per merchant (``merchant_id == "M..." and
  amount > T``), per city and channel (``city == "..." and channel == "..."
  and amount > T``), and behind one shared test (``amount >= 50000 and
  counterparty_account == "..."``);
- **rules that do not**: as many rules with nothing in common
  (``amount > T_i and city != "..."``, a different threshold in each);
- **windows**: 1 window, 100 windows with the same definition under 100
  names, 100 different windows (100 spans), each read by a rule on transfers;
- **latency** of ``standard.rdsl``: p50/p99 of single ``evaluate()`` calls
  (``perf_counter_ns`` around each) over the first events of the stream, each
  event's fastest of three passes on fresh engines (the work per event is
  the same in every pass: the minimum drops other processes' pauses), and
  the first pass as measured (``raw``); on the evaluator of ``--compiled``
  and, where the engine has one, on the Cython evaluator too.

The rule and window figures are of ``--compiled`` (default ``never``: the
generated Python, where the shared structure is written; the Cython
evaluator compiles the same text, and 3,000 rules take it minutes of C
compiler per ruleset).

The targets (issue 10): 3,000 sharing rules cost at most 3x the 30 sharing
rules; p99 at most 10 µs.  ``rows(results)`` gives run_bench.py's table.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import workload  # noqa: E402
from sweep_bench import latency_pass  # noqa: E402  (the benchmarks' one timed-call loop)

STANDARD = HERE / "standard.rdsl"
EVENTS_RDSL = HERE / "events.rdsl"
RULE_COUNTS = (30, 300, 3000)
CITIES = ("上海", "北京", "广州", "深圳", "杭州", "南京", "成都", "武汉", "重庆", "西安", "天津", "苏州")
CHANNELS = ("mobile", "web", "corporate", "third_party", "atm", "pos")


# ---------------------------------------------------------------- rulesets


def _header(name: str) -> str:
    return f'ruleset {name} {{\n  timezone "Asia/Shanghai"\n}}\n\ninclude "events.rdsl"\n'


def _rule(name: str, on: str, when: str, action: str = "alert") -> str:
    return f'rule {name} {{\n  reason "{name}"\n  on {on}\n  when {when}\n  action {action}\n}}\n'


def shared_rules(n: int, merchants: list[str], payees: list[str]) -> str:
    """``n`` rules in three families that share their leading tests (see the module docstring)."""
    rnd = random.Random(n)
    out = [_header(f"shared_{n}")]
    for i in range(n):
        family = i % 3
        threshold = rnd.choice((500, 1000, 2000, 5000, 10000, 20000)) + i % 97
        if family == 0:
            when = f'merchant_id == "{merchants[i // 3 % len(merchants)]}" and amount > {threshold}'
            out.append(_rule(f"merchant_{i}", "payment", when))
        elif family == 1:
            city, channel = CITIES[i // 3 % len(CITIES)], CHANNELS[i // 3 // len(CITIES) % len(CHANNELS)]
            when = f'city == "{city}" and channel == "{channel}" and amount > {threshold * 10}'
            out.append(_rule(f"city_{i}", "transfer", when))
        else:
            when = f'amount >= 50000 and counterparty_account == "{payees[i // 3 % len(payees)]}"'
            out.append(_rule(f"payee_{i}", "transfer", when, "hold"))
    return "\n".join(out)


def unshared_rules(n: int) -> str:
    """``n`` rules with nothing in common: a different threshold first in each."""
    out = [_header(f"unshared_{n}")]
    for i in range(n):
        when = f'amount > {100000 + i} and city != "{CITIES[i % len(CITIES)]}"'
        out.append(_rule(f"r_{i}", "transfer, payment", when))
    return "\n".join(out)


def windows_ruleset(n: int, identical: bool) -> str:
    """``n`` count windows on transfers by customer, each read by a rule: one definition, or ``n`` spans."""
    out = [_header(f"windows_{n}_{'same' if identical else 'different'}")]
    for i in range(n):
        span = "10m" if identical else f"{10 * 60 + i}s"
        out.append(f"window w{i} = count() of transfer by customer_id over {span}\n")
    for i in range(n):
        out.append(_rule(f"busy_{i}", "transfer", f"w{i} > {1000 + i}"))
    return "\n".join(out)


# ---------------------------------------------------------------- measuring


def _load(path: Path, compiled: Optional[str]):
    from ruledsl.runtime.engine import load

    kw: dict[str, Any] = {"clock": None}
    if compiled is not None and "compiled" in inspect.signature(load).parameters:
        kw["compiled"] = compiled
    return load(path, **kw)


def cpu_pass(engine, events: list[dict]) -> float:
    """CPU µs per event of ``evaluate()`` over ``events``, the heap frozen."""
    evaluate = engine.evaluate
    gc.collect()
    gc.freeze()
    try:
        c0 = time.process_time()
        for ev in events:
            evaluate(ev)
        dc = time.process_time() - c0
    finally:
        gc.unfreeze()
    return dc / len(events) * 1e6


def _pct(lat: list[int], p: float) -> float:
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] / 1000


def measure(
    events: list[dict],
    rounds: int,
    latency_sample: int,
    compiled: Optional[str],
    counts=RULE_COUNTS,
    cython_latency: bool = True,
) -> dict[str, Any]:
    """Every figure of the module docstring (see there)."""
    merchants = sorted({e["merchant_id"] for e in events if e["type"] == "payment"})
    payees = sorted({e["counterparty_account"] for e in events if e["type"] == "transfer"})
    rnd = random.Random(7)
    merchants = rnd.sample(merchants, min(len(merchants), 1000))
    payees = rnd.sample(payees, min(len(payees), 1000))
    texts = {}
    for n in counts:
        texts[f"shared_{n}"] = shared_rules(n, merchants, payees)
        texts[f"unshared_{n}"] = unshared_rules(n)
    texts["windows_1"] = windows_ruleset(1, True)
    texts["windows_100_same"] = windows_ruleset(100, True)
    texts["windows_100_different"] = windows_ruleset(100, False)
    res: dict[str, Any] = {"events": len(events), "rounds": rounds, "compiled": compiled}
    with tempfile.TemporaryDirectory(prefix="rules-bench-") as tmp:
        shutil.copy(EVENTS_RDSL, Path(tmp) / "events.rdsl")
        paths = {}
        for name, text in texts.items():
            paths[name] = Path(tmp) / f"{name}.rdsl"
            paths[name].write_text(text, encoding="utf-8")
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(rounds):  # interleaved: each round runs every ruleset once
            for name, path in paths.items():
                cpu[name].append(cpu_pass(_load(path, compiled), events))
        for name, values in cpu.items():
            res[f"{name}_best_us"] = min(values)
            res[f"{name}_median_us"] = statistics.median(values)
    sample = events[:latency_sample]
    evaluators = [("standard", compiled)]
    if cython_latency and compiled != "require" and _has_cython_evaluator():
        evaluators.append(("standard_cython", "require"))
    for label, mode in evaluators:
        runs = [latency_pass(_load(STANDARD, mode), sample) for _ in range(3)]
        fastest = [min(times) for times in zip(*runs, strict=True)]
        for p in (50, 99, 99.9):
            res[f"{label}_p{p}_us"] = _pct(fastest, p)
            res[f"{label}_raw_p{p}_us"] = _pct(runs[0], p)
        res[f"{label}_mean_us"] = statistics.fmean(fastest) / 1000
    return res


def _has_cython_evaluator() -> bool:
    from ruledsl.runtime.engine import load

    return "compiled" in inspect.signature(load).parameters


# ---------------------------------------------------------------- reporting


def rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) rows for run_bench's table."""
    counts = sorted({int(k.split("_")[1]) for k in res if k.startswith("shared_") and k.endswith("_best_us")})
    out = []

    def fig(name: str) -> str:
        return f"{res[name + '_best_us']:.2f} µs (median {res[name + '_median_us']:.2f})"

    for kind in ("shared", "unshared"):
        parts = [f"{n:,}: {fig(f'{kind}_{n}')}" for n in counts]
        lo, hi = counts[0], counts[-1]
        ratio = res[f"{kind}_{hi}_best_us"] / res[f"{kind}_{lo}_best_us"]
        label = "rules sharing predicates" if kind == "shared" else "rules sharing nothing"
        out.append((label, "; ".join(parts) + f"; {hi:,}/{lo:,} = {ratio:.2f}x"))
    out.append(
        (
            "windows read per transfer",
            f"1: {fig('windows_1')}; 100 identical: {fig('windows_100_same')}; "
            f"100 different: {fig('windows_100_different')}",
        )
    )
    for label, title in (("standard", "standard latency"), ("standard_cython", "same, Cython evaluator")):
        if f"{label}_p50_us" in res:
            out.append(
                (
                    title,
                    f"p50 {res[label + '_p50_us']:.2f} µs, p99 {res[label + '_p99_us']:.2f} µs, "
                    f"p99.9 {res[label + '_p99.9_us']:.2f} µs (first pass: p99 {res[label + '_raw_p99_us']:.2f} µs)",
                )
            )
    return out


def main(argv: Optional[list[str]] = None) -> int:
    """Command line: print the table (``--json OUT``: also the figures as JSON)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="a quick run: 20,000 events, 2 rounds, 30 and 300 rules")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    p.add_argument("--events", type=int, default=workload.DEFAULT_EVENTS, help="events per pass (200,000)")
    p.add_argument("--latency-sample", type=int, default=100_000, help="events timed one by one (100,000)")
    p.add_argument("--compiled", default="never", help="the evaluator: never (generated Python) or require (Cython)")
    p.add_argument("--no-cython", action="store_true", help="no latency row for the Cython evaluator")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON ('-': stdout)")
    args = p.parse_args(argv)
    events = workload.generate(cache=True)
    counts = RULE_COUNTS
    if args.short:
        args.events, args.rounds, args.latency_sample, counts = 20_000, 2, 10_000, RULE_COUNTS[:2]
    events = events[: args.events]
    res = measure(events, args.rounds, args.latency_sample, args.compiled, counts, not args.no_cython)
    for name, value in rows(res):
        print(f"{name:<28} {value}")
    if args.json == "-":
        print(json.dumps(res))
    elif args.json:
        Path(args.json).write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
