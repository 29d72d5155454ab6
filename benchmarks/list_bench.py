"""Loading and looking up big lists (issue 11.4): a measure of ``run_bench.py`` (section ``lists``).

    python benchmarks/list_bench.py [--short] [--entries N] [--json]

Generates a risk list of ``N`` accounts (default 10,000,000; ``--short``
200,000) twice, into a temporary directory: a categorised CSV
(``value,category,source,expires_at``: four categories, three sources, every
tenth entry expiring) and today's one-account-per-line text.  For each, in a
fresh process:

- the time ``ruledsl.load()`` takes (check + engine: the CSV is read once,
  by the check), entries per second, the process's peak RSS
  (``resource.getrusage``) and its RSS growth over the load (/proc/self/statm);
- the cost per event of ``evaluate()`` on the generated-Python evaluator for
  a rule testing membership (``payee in risk``) and, for the CSV, for three
  rules reading the category (``list_category``), half the events listed;
- for the CSV, an incremental ``update_list`` (one entry added, one removed).

Times are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CATEGORIES = ("fraud", "suspect", "name_match", "court_defaulter")
SOURCES = ("icbc", "pboc", "police")
T0 = 1_767_225_600_000

RULES = {
    "member": 'rule listed { reason "listed" on transfer when payee in risk action block }',
    "category": "\n".join(
        f'rule {c} {{ reason "{c}" on transfer when list_category(risk, payee) == "{c}" action {a} }}'
        for c, a in (("fraud", "block"), ("suspect", "hold"), ("name_match", "alert"))
    ),
}


def account(i: int) -> str:
    """The i-th account: 19 digits, distinct for every i < 10**15."""
    return f"6222{i * 7919 % 10**15:015d}"


def write_lists(root: Path, n: int) -> dict[str, Path]:
    """The CSV and the text list of ``n`` accounts."""
    csv_path, txt_path = root / "risk.csv", root / "risk.txt"
    with open(csv_path, "w", encoding="utf-8") as c, open(txt_path, "w", encoding="utf-8") as t:
        c.write("value,category,source,expires_at\n")
        step = 100_000
        for start in range(0, n, step):
            ids = range(start, min(n, start + step))
            accounts = [account(i) for i in ids]
            c.write(
                "".join(
                    f"{a},{CATEGORIES[i % 4]},{SOURCES[i % 3]},{T0 + 86_400_000 * 30 if i % 10 == 0 else ''}\n"
                    for i, a in zip(ids, accounts, strict=True)
                )
            )
            t.write("\n".join(accounts) + "\n")
    return {"csv": csv_path, "text": txt_path}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(fmt: str, list_path: str, n: int, rules: str, events: int) -> dict[str, Any]:
    """In a fresh process: load a ruleset reading ``list_path`` and evaluate ``events`` events."""
    import gc

    import ruledsl

    root = Path(list_path).parent
    ruleset = root / f"bench_{fmt}_{rules}.rdsl"
    ruleset.write_text(
        'ruleset list_bench { timezone "UTC" }\nevent transfer { payee: string }\n'
        f'list risk: string = file("{Path(list_path).name}")\n{RULES[rules]}\n',
        encoding="utf-8",
    )
    gc.collect()
    before = _rss_bytes()
    t0 = time.perf_counter()
    engine = ruledsl.load(ruleset, clock=None, compiled="never")
    load_s = time.perf_counter() - t0
    grown = _rss_bytes() - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    stream = [
        {"type": "transfer", "ts": T0 + i, "payee": account(i * 7 % n) if i % 2 else account(n + i)}
        for i in range(events)
    ]
    hits = 0
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for ev in stream:
            hits += engine.evaluate(ev).action != "pass"
        best = min(best, time.perf_counter() - t0)
    out: dict[str, Any] = {
        "format": fmt,
        "rules": rules,
        "entries": n,
        "load_s": load_s,
        "entries_per_s": n / load_s,
        "rss_growth_bytes": grown,
        "peak_rss_bytes": peak,
        "us_per_event": best / events * 1e6,
        "hit_rate": hits / (3 * events),
    }
    if fmt == "csv":
        t0 = time.perf_counter()
        engine.update_list("risk", add=[{"value": account(n + 1), "category": "fraud"}], remove=[account(1)])
        out["update_add1_remove1_s"] = time.perf_counter() - t0
    return out


def measure(n: int, events: int) -> dict[str, Any]:
    """Every case, each in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = write_lists(Path(tmp), n)
        generated = time.perf_counter() - t0
        cases = []
        for fmt, rules in (("text", "member"), ("csv", "member"), ("csv", "category")):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", fmt, str(paths[fmt]), str(n), rules, str(events)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"list_bench child {fmt}/{rules} failed: {proc.stderr[-2000:]}")
            cases.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        sizes = {fmt: p.stat().st_size for fmt, p in paths.items()}
    return {"entries": n, "events": events, "generate_s": generated, "file_bytes": sizes, "cases": cases}


def rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) rows for run_bench's table."""
    out = []
    for c in res["cases"]:
        label = f"{c['format']} list, {c['entries']:,} entries, rule: {c['rules']}"
        value = (
            f"load {c['load_s']:.2f} s ({c['entries_per_s'] / 1e6:.2f} M entries/s), "
            f"peak RSS {c['peak_rss_bytes'] / 2**20:,.0f} MiB (+{c['rss_growth_bytes'] / 2**20:,.0f} MiB), "
            f"{c['us_per_event']:.2f} µs/event"
        )
        if "update_add1_remove1_s" in c:
            value += f", update_list(add 1, remove 1) {c['update_add1_remove1_s'] * 1e3:.0f} ms"
        out.append((label, value))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: print the numbers (``--json``: one JSON line, for run_bench.py)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="200,000 entries, 20,000 events")
    p.add_argument("--entries", type=int, default=None, help="list entries (default 10,000,000)")
    p.add_argument("--events", type=int, default=None, help="events timed per case (default 100,000)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        fmt, path, n, rules, events = args.child
        print(json.dumps(child(fmt, path, int(n), rules, int(events))))
        return 0
    n = args.entries or (200_000 if args.short else 10_000_000)
    events = args.events or (20_000 if args.short else 100_000)
    res = measure(n, events)
    if args.json:
        print(json.dumps(res))
    else:
        for measure_name, value in rows(res):
            print(f"{measure_name:<52} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
