"""Snapshots carry the whole operational state and refuse what they cannot restore (issue #9, finding 8).

Parameters and lists set by the application survive a restart; a snapshot of
another ruleset, another lateness or another time zone is refused unless asked
for; a payload that checks out but is malformed is a ``SnapshotError`` (never
another exception, never a broken engine); stale temporary files of killed
writers are removed; a snapshot taken while other threads evaluate is
consistent.  docs/semantics.md, "Snapshots", states these rules.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ruledsl
import ruledsl.kernels.state_py as state_py
import ruledsl.runtime.engine as engine_module
from ruledsl.runtime import persistence
from ruledsl.runtime.persistence import SnapshotError

RULESET = """\
ruleset snap_ops {
  timezone "Asia/Shanghai"
  lateness 1m
}
event transfer {
  customer_id: string
  card_no: string
  amount: decimal
  city: string
  payee: string
}
event login {
  customer_id: string
  city: string
  new_device: bool
  risk: float
}
param big: decimal = 1000.00
param max_count: int = 3
param quiet: duration = 1h
list blocked_payees: string = ["P-BAD"]
list watched_amounts: decimal = [13.13]
window cnt_10m = count() of transfer by card_no over 10m
window amt_sum = sum(amount) of transfer by customer_id, card_no over 1d
window max_risk = max(risk) of login by customer_id over 1h
window last_amount = last(amount) of transfer by customer_id over 1d
window last_city = last(city) of login by customer_id over 1d
window cities = distinct(city) of login, transfer by customer_id over 1h
window idle = since() of transfer by customer_id over 30d
sequence ato by customer_id, city within 30m {
  step login where new_device
  step transfer where amount > big
}
rule payee_blocked {
  reason "收款人在黑名单"
  on transfer
  when payee in blocked_payees
  action block
}
rule watched {
  reason "关注金额"
  on transfer
  when amount in watched_amounts
  action alert
}
rule many {
  reason "频繁"
  on transfer
  when cnt_10m > max_count or amt_sum > big * 10 or cities > 1
  action hold
}
rule chain {
  reason "链"
  on transfer
  when ato
  action block
}
rule risky {
  reason "风险登录"
  on login
  when max_risk > 0.9 and city != last_city
  action step_up
}
rule back {
  reason "沉睡后同额"
  on transfer
  when idle > quiet and amount == last_amount
  action alert
}
"""

T0 = 1_700_000_000_000  # 2023-11: recorded history, behind the engine's clock guard


def events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """A stream over every window and the sequence, with a few late events (lateness is 1m)."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    ts = T0
    for _ in range(n):
        ts += rnd.choice([200, 5_000, 60_000, 700_000, 4_000_000])
        cust = rnd.choice("ABCDE")
        city = rnd.choice(["北京", "上海"])
        if rnd.random() < 0.3:
            out.append(
                {
                    "type": "login",
                    "ts": ts,
                    "customer_id": cust,
                    "city": city,
                    "new_device": rnd.random() < 0.4,
                    "risk": rnd.choice([0.1, 0.5, 0.95, 0.99]),
                }
            )
        else:
            out.append(
                {
                    "type": "transfer",
                    "ts": ts - rnd.choice([0, 0, 0, 30_000, 90_000]),  # 90 s behind: late
                    "customer_id": cust,
                    "card_no": cust + rnd.choice("12"),
                    "amount": rnd.choice(["13.13", "250.00", "1200.50", "4000"]),
                    "city": city,
                    "payee": rnd.choice(["P-1", "P-2", "P-BAD", "P-3"]),
                }
            )
    return out


@pytest.fixture()
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "ops.rdsl"
    path.write_text(RULESET, encoding="utf-8")
    return path


def variant(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = RULESET
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.rdsl"
    path.write_text(text, encoding="utf-8")
    return path


def fed(rules: Path, evs: list[dict[str, Any]], **options: Any) -> ruledsl.Engine:
    engine = ruledsl.load(rules, **options)
    for e in evs:
        engine.evaluate(e)
    return engine


@contextlib.contextmanager
def python_kernels() -> Iterator[None]:
    """Engines built inside use the pure-Python twins of the state kernels."""
    saved = engine_module._state
    engine_module._state = state_py
    try:
        yield
    finally:
        engine_module._state = saved


# ---------------------------------------------------------------- parameters and lists


def test_params_and_lists_set_at_run_time_survive_a_restart(rules: Path, tmp_path: Path):
    evs = events(120)
    engine = fed(rules, evs[:80])
    engine.set_param("max_count", 1)
    engine.set_param("big", Decimal("5.55"))
    engine.set_param("quiet", 60_000)
    engine.update_list("blocked_payees", ["P-1", "P-2"])
    engine.update_list("watched_amounts", [Decimal("250.00"), "4000"])
    path = tmp_path / "s.snap"
    engine.snapshot(path)
    restored = ruledsl.load(rules, state=path)
    assert restored.get_param("max_count") == 1
    assert restored.get_param("big") == Decimal("5.55")
    assert restored.get_param("quiet") == 60_000
    assert [restored.evaluate(e) for e in evs[80:]] == [engine.evaluate(e) for e in evs[80:]]
    probe = dict(evs[0], type="transfer", ts=evs[-1]["ts"] + 1, payee="P-2", amount="250.00", card_no="Z9")
    probe.pop("new_device", None), probe.pop("risk", None)
    assert {r.id for r in restored.evaluate(probe).rules} >= {"payee_blocked", "watched"}
    # the settings are carried on: the next snapshot has them too
    restored.snapshot(tmp_path / "again.snap")
    again = persistence.read(tmp_path / "again.snap")
    assert again.params.keys() == {"max_count", "big", "quiet"}
    assert (again.params["max_count"], Decimal(again.params["big"])) == (1, Decimal("5.55"))
    assert sorted(map(Decimal, again.lists["watched_amounts"])) == [250, 4000]


def test_without_the_snapshot_a_restart_would_revert_them(rules: Path, tmp_path: Path):
    engine = fed(rules, events(10))
    engine.set_param("max_count", 1)
    engine.snapshot(tmp_path / "s.snap")
    assert ruledsl.load(rules).get_param("max_count") == 3
    assert ruledsl.load(rules, state=tmp_path / "s.snap").get_param("max_count") == 1


def test_explicit_params_and_lists_win_over_the_snapshot_name_by_name(rules: Path, tmp_path: Path):
    engine = fed(rules, events(10))
    engine.set_param("max_count", 1)
    engine.set_param("big", 77)
    engine.update_list("blocked_payees", ["P-1"])
    engine.update_list("watched_amounts", ["250"])
    engine.snapshot(tmp_path / "s.snap")
    restored = ruledsl.load(
        rules, state=tmp_path / "s.snap", params={"max_count": 9}, lists={"blocked_payees": ["P-9"]}
    )
    assert restored.get_param("max_count") == 9  # given: wins
    assert restored.get_param("big") == Decimal(77)  # not given: from the snapshot
    transfer = {"type": "transfer", "ts": T0 + 10**9, "customer_id": "Q", "card_no": "Q1", "city": "x"}
    assert restored.evaluate(dict(transfer, payee="P-9", amount="1")).action == "block"
    assert restored.evaluate(dict(transfer, payee="P-1", amount="1")).action == "pass"
    assert restored.evaluate(dict(transfer, payee="P-3", amount="250")).action == "alert"


def test_a_list_read_from_a_file_is_not_stored_but_a_list_changed_at_run_time_is(tmp_path: Path):
    payees = tmp_path / "payees.txt"
    payees.write_text("\n".join(f"P{i:07d}" for i in range(200_000)) + "\n", encoding="utf-8")
    rules = variant(
        tmp_path,
        "filed",
        ('list blocked_payees: string = ["P-BAD"]', 'list blocked_payees: string = file("payees.txt")'),
    )
    engine = fed(rules, events(20))
    small = engine.snapshot(tmp_path / "s.snap")
    assert persistence.read(tmp_path / "s.snap").lists == {}
    assert small < 50_000  # the 200,000 entries are not in it
    # the file is the list's source: a restart reads it as it is then
    payees.write_text("P-NEW\n", encoding="utf-8")
    restored = ruledsl.load(rules, state=tmp_path / "s.snap")
    transfer = {"type": "transfer", "ts": T0 + 10**9, "customer_id": "Q", "card_no": "Q1", "city": "x", "amount": 1}
    assert restored.evaluate(dict(transfer, payee="P-NEW")).action == "block"
    assert restored.evaluate(dict(transfer, payee="P0000001", card_no="Q2")).action == "pass"
    # a list the application replaced is operational state: it is stored
    engine.update_list("blocked_payees", ["P-RUNTIME"])
    engine.snapshot(tmp_path / "t.snap")
    assert persistence.read(tmp_path / "t.snap").lists == {"blocked_payees": ["P-RUNTIME"]}
    again = ruledsl.load(rules, state=tmp_path / "t.snap")
    assert again.evaluate(dict(transfer, payee="P-RUNTIME", card_no="Q3")).action == "block"


# ---------------------------------------------------------------- identity


def test_a_snapshot_of_another_ruleset_is_refused(rules: Path, tmp_path: Path):
    evs = events(80)
    engine = fed(rules, evs[:60])
    engine.set_param("max_count", 1)
    engine.snapshot(tmp_path / "s.snap")
    other = variant(tmp_path, "other", ("ruleset snap_ops {", "ruleset other_ops {"))
    with pytest.raises(SnapshotError, match="of ruleset 'snap_ops', this is 'other_ops'") as err:
        ruledsl.load(other, state=tmp_path / "s.snap")
    assert "allow_other_ruleset=True" in str(err.value)
    assert str(tmp_path / "s.snap") in str(err.value)
    # asked for: everything that matches is restored, and it continues exactly
    forced = ruledsl.load(other, state=tmp_path / "s.snap", allow_other_ruleset=True)
    assert set(forced.kept_state) == {w.name for w in forced.compiled.windows} | {"ato"}
    assert forced.get_param("max_count") == 1
    assert [forced.evaluate(e) for e in evs[60:]] == [engine.evaluate(e) for e in evs[60:]]


def test_a_changed_window_is_refused_unless_asked_for_then_unchanged_windows_keep_their_state(
    rules: Path, tmp_path: Path
):
    evs = events(80)
    engine = fed(rules, evs)
    engine.snapshot(tmp_path / "s.snap")
    v2 = variant(tmp_path, "v2", ("by card_no over 10m", "by card_no over 20m"))
    with pytest.raises(SnapshotError, match="cnt_10m is not in it and would start empty"):
        ruledsl.load(v2, state=tmp_path / "s.snap")
    forced = ruledsl.load(v2, state=tmp_path / "s.snap", allow_other_ruleset=True)
    assert "cnt_10m" not in forced.kept_state
    assert {"amt_sum", "max_risk", "last_amount", "last_city", "cities", "idle", "ato"} <= set(forced.kept_state)
    assert forced.stats()["windows"]["cnt_10m"]["keys"] == 0
    assert forced.stats()["windows"]["amt_sum"]["keys"] == engine.stats()["windows"]["amt_sum"]["keys"] > 0
    # a change of the rules alone is the same ruleset as far as state goes
    v3 = variant(tmp_path, "v3", ('reason "频繁"', 'reason "频繁 v3"'))
    assert len(ruledsl.load(v3, state=tmp_path / "s.snap").kept_state) == 8


def test_a_changed_lateness_is_refused_unless_asked_for_then_only_the_clock_is_restored(rules: Path, tmp_path: Path):
    engine = fed(rules, events(80))
    engine.set_param("max_count", 1)
    engine.snapshot(tmp_path / "s.snap")
    later = variant(tmp_path, "later", ("lateness 1m", "lateness 5m"))
    with pytest.raises(SnapshotError, match="its lateness is 1m, this one's 5m"):
        ruledsl.load(later, state=tmp_path / "s.snap")
    forced = ruledsl.load(later, state=tmp_path / "s.snap", allow_other_ruleset=True)
    assert forced.kept_state == []  # window state kept under one lateness is not valid under another
    assert all(w["keys"] == 0 for w in forced.stats()["windows"].values())
    max_ts, _watermark, committed, late = engine._clock_state
    assert forced._clock_state == [max_ts, max_ts - 300_000, committed, late]  # the watermark under 5m
    assert forced.get_param("max_count") == 1


def test_a_changed_time_zone_is_refused(rules: Path, tmp_path: Path):
    fed(rules, events(10)).snapshot(tmp_path / "s.snap")
    with pytest.raises(SnapshotError, match="its time zone is Asia/Shanghai, this one's UTC"):
        ruledsl.load(rules, state=tmp_path / "s.snap", timezone="UTC")
    assert ruledsl.load(rules, state=tmp_path / "s.snap", timezone="UTC", allow_other_ruleset=True).kept_state


def test_a_snapshot_in_an_older_format_is_refused_with_advice(rules: Path, tmp_path: Path):
    payload = msgspec.msgpack.encode({"ruledsl_version": "0", "clock": [0, 0, 0, 0], "lateness_ms": 0})
    data = persistence.MAGIC + (1).to_bytes(4, "big") + hashlib.sha256(payload).digest() + payload
    (tmp_path / "old.snap").write_bytes(data)
    with pytest.raises(SnapshotError, match="snapshot format 1, this ruledsl reads format 2"):
        ruledsl.load(rules, state=tmp_path / "old.snap")


def test_a_snapshot_whose_clock_is_ahead_of_the_engines_is_refused(rules: Path, tmp_path: Path):
    # an engine without the clock guard (a replay) saw events dated ten years ahead
    ahead = [dict(e, ts=e["ts"] + 10 * 365 * 86_400_000) for e in events(20)]
    fed(rules, ahead, clock=None).snapshot(tmp_path / "s.snap")
    with pytest.raises(SnapshotError, match=r"ahead of this engine's clock \(at most 5m: max_future_skew\)"):
        ruledsl.load(rules, state=tmp_path / "s.snap")
    assert ruledsl.load(rules, state=tmp_path / "s.snap", clock=None).kept_state  # a replay may


# ---------------------------------------------------------------- malformed payloads


def reframe(payload: bytes) -> bytes:
    """A payload with a valid header and checksum, whatever it holds."""
    return (
        persistence.MAGIC + persistence.FORMAT_VERSION.to_bytes(4, "big") + hashlib.sha256(payload).digest() + payload
    )


def snapshot_tree(rules: Path, tmp_path: Path, n: int = 60) -> dict[str, Any]:
    engine = fed(rules, events(n))
    engine.set_param("big", 12)
    engine.update_list("watched_amounts", ["1.5"])
    engine.snapshot(tmp_path / "good.snap")
    tree = msgspec.msgpack.decode((tmp_path / "good.snap").read_bytes()[44:])
    assert isinstance(tree, dict)
    return tree


def window_index(tree: dict[str, Any], rules: Path, name: str) -> int:
    engine = ruledsl.load(rules)
    sig = next(w.signature for w in engine.compiled.windows if w.name == name)
    return next(i for i, w in enumerate(tree["windows"]) if w[0] == sig)


BAD_PAYLOADS = {
    # each was an IndexError, TypeError, ValueError or OverflowError (or a later crash) before
    "short clock": lambda t, ix: t.update(clock=t["clock"][:3]),
    "clock far out": lambda t, ix: t.update(clock=[2**63 - 1, *t["clock"][1:]]),
    "negative counter": lambda t, ix: t.update(clock=[*t["clock"][:2], -1, 0]),
    "no windows": lambda t, ix: t.pop("windows"),
    "unknown field": lambda t, ix: t.update(extra=1),
    "key is a map": lambda t, ix: t["windows"][ix("cnt_10m")][1].append([{"a": 1}, [[T0, 0]]]),
    "key is empty": lambda t, ix: t["windows"][ix("cnt_10m")][1].append([[], [[T0, 0]]]),
    "entry of one value": lambda t, ix: t["windows"][ix("cnt_10m")][1].append(["k", [[T0]]]),
    "text in a sum": lambda t, ix: t["windows"][ix("amt_sum")][1].append([["k", "k1"], [[T0, "12"]]]),
    "int in a float max": lambda t, ix: t["windows"][ix("max_risk")][1].append(["k", [[T0, 1]]]),
    "number in a last(city)": lambda t, ix: t["windows"][ix("last_city")][1].append(["k", [[T0, 5]]]),
    "count with a value": lambda t, ix: t["windows"][ix("cnt_10m")][1].append(["k", [[T0, 3]]]),
    "entry time beyond 64 bits": lambda t, ix: t["windows"][ix("cnt_10m")][1].append(["k", [[2**64 - 1, 0]]]),
    "chain too long": lambda t, ix: t["sequences"][0][1].append([["k", "北京"], [T0, T0]]),
    "chain start is text": lambda t, ix: t["sequences"][0][1].append([["k", "北京"], ["x"]]),
    "param of the wrong type": lambda t, ix: t["params"].update(big=[1]),
    "param not a number": lambda t, ix: t["params"].update(big="lots"),
    "list entry of the wrong type": lambda t, ix: t["lists"].update(watched_amounts=[True]),
    "lateness negative": lambda t, ix: t["ruleset"].update(lateness_ms=-1),
}


@pytest.mark.parametrize("damage", sorted(BAD_PAYLOADS))
def test_a_malformed_payload_with_a_valid_checksum_is_a_snapshot_error(rules: Path, tmp_path: Path, damage: str):
    tree = snapshot_tree(rules, tmp_path)
    BAD_PAYLOADS[damage](tree, lambda name: window_index(tree, rules, name))
    path = tmp_path / "bad.snap"
    path.write_bytes(reframe(msgspec.msgpack.encode(tree)))
    with pytest.raises(SnapshotError) as err:
        ruledsl.load(rules, state=path)
    assert str(path) in str(err.value)


def spots(tree: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) of a decoded MessagePack tree: each node can be picked alike, deep ones too."""
    children = enumerate(tree) if isinstance(tree, list) else tree.items() if isinstance(tree, dict) else ()
    for key, child in list(children):
        out.append((tree, key))
        spots(child, out)
    return out


def changed(node: Any, rnd: random.Random, fresh: Any) -> Any:
    """``node`` replaced by ``fresh``, nudged within its type, or (a container) shortened or lengthened."""
    move = rnd.randrange(5)
    if move == 0:
        return fresh
    if type(node) is int:
        nudged = rnd.choice([node + 1, node - 1, -node, node * 1000, node + 2**40, 0])
        return nudged if -(2**63) <= nudged < 2**64 else fresh  # what MessagePack can carry
    if type(node) is float:
        return rnd.choice([node * 2, -node, float("nan"), float("inf"), 0.0])
    if type(node) is str:
        return rnd.choice([node + "x", node[:-1], "", "北京"])
    if isinstance(node, list) and node:
        if move == 1:
            del node[rnd.randrange(len(node))]
        elif move == 2:
            node.append(rnd.choice(node))
        else:
            del node[rnd.randrange(len(node)) :]
        return node
    if isinstance(node, dict) and node:
        node.pop(rnd.choice(list(node)))
        return node
    return fresh


def mutate(tree: Any, rnd: random.Random, fresh: Any) -> Any:
    """One random change at a node picked uniformly over the whole tree (the root included)."""
    where = spots(tree, [(None, None)])
    parent, key = rnd.choice(where)
    if parent is None:
        return changed(tree, rnd, fresh)
    parent[key] = changed(parent[key], rnd, fresh)
    return tree


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.sampled_from([0, 1, -1, T0, 2**62, -(2**62), 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.binary(max_size=3),
)
fresh_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=6,
)


@pytest.mark.parametrize("kernels", ["compiled", "python"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), fresh=st.lists(fresh_values, min_size=1, max_size=4), cut=st.integers(0, 400))
def test_fuzz_a_mutated_snapshot_is_refused_or_restores_a_working_engine(
    rules: Path, tmp_path: Path, kernels: str, seed: int, fresh: list[Any], cut: int
):
    evs = events(140)
    good = tmp_path / f"good-{kernels}.snap"
    if not good.exists():
        fed(rules, evs[:100]).snapshot(good)
    data = good.read_bytes()
    rnd = random.Random(seed)
    if rnd.random() < 0.25:  # raw bytes: truncated or flipped, then checksummed again
        payload = bytearray(data[44:])
        if rnd.random() < 0.5:
            del payload[cut * len(payload) // 401 :]
        else:
            payload[cut * len(payload) // 401 % len(payload)] ^= 1 << rnd.randrange(8)
        mutated = bytes(payload)
    else:
        tree = msgspec.msgpack.decode(data[44:])
        for value in fresh:
            tree = mutate(tree, rnd, value)
        mutated = msgspec.msgpack.encode(tree)
    path = tmp_path / "mutated.snap"
    path.write_bytes(reframe(mutated))
    with python_kernels() if kernels == "python" else contextlib.nullcontext():
        try:
            engine = ruledsl.load(rules, state=path)
        except SnapshotError:
            return
        # restored: the engine works (a malformed event is an EventError, nothing else escapes)
        for e in evs[100:]:
            with contextlib.suppress(ruledsl.EventError):
                engine.evaluate(e)
        engine.snapshot(tmp_path / "after.snap")
        ruledsl.load(rules, state=tmp_path / "after.snap")


# ---------------------------------------------------------------- temporary files


def stale_tmp(directory: Path, target: str, random_part: str, age_s: float = 3600) -> Path:
    path = directory / f".{target}.{random_part}.tmp"
    path.write_bytes(b"half a snapshot")
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def test_the_next_snapshot_removes_temporary_files_left_by_dead_writers(rules: Path, tmp_path: Path):
    engine = fed(rules, events(20))
    stale = stale_tmp(tmp_path, "s.snap", "k2j_9xq1")
    other_target = stale_tmp(tmp_path, "other.snap", "abcdefgh")
    not_ours = stale_tmp(tmp_path, "s.snap", "notes")  # not a name write_atomic makes
    newer = stale_tmp(tmp_path, "s.snap", "zzzzzzzz", age_s=-3600)  # a writer that started after this one
    engine.snapshot(tmp_path / "s.snap")
    assert not stale.exists()
    assert other_target.exists() and not_ours.exists() and newer.exists()
    assert ruledsl.load(rules, state=tmp_path / "s.snap").kept_state


HOLDER = """
import fcntl, os, sys, tempfile, time
fd, name = tempfile.mkstemp(prefix=".s.snap.", suffix=".tmp", dir=sys.argv[1])
fcntl.flock(fd, fcntl.LOCK_EX)  # as write_atomic does
os.utime(name, (time.time() - 3600,) * 2)
print(name, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(persistence.fcntl is None, reason="writers are told apart by their file lock (POSIX)")
def test_a_live_writers_file_is_kept_and_removed_once_the_writer_is_killed(rules: Path, tmp_path: Path):
    engine = fed(rules, events(20))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        tmp = Path(holder.stdout.readline().strip())  # type: ignore[union-attr]
        engine.snapshot(tmp_path / "s.snap")
        assert tmp.exists()  # its writer is alive (and as old as a dead one's would be)
        holder.kill()  # kill -9: the lock goes with the process
        holder.wait(timeout=10)
        engine.snapshot(tmp_path / "s.snap")
        assert not tmp.exists()
    finally:
        if holder.poll() is None:
            holder.kill()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".s.snap.")] == []


# ---------------------------------------------------------------- consistency while others evaluate


@pytest.mark.parametrize("kernels", ["compiled", "python"])
def test_a_snapshot_taken_while_another_thread_evaluates_is_consistent(rules: Path, tmp_path: Path, kernels: str):
    evs = events(3000, seed=5)
    with python_kernels() if kernels == "python" else contextlib.nullcontext():
        engine = ruledsl.load(rules)
        engine.set_param("max_count", 2)
        decisions: list[Any] = []
        started = threading.Event()

        def evaluate_all() -> None:
            for i, e in enumerate(evs):
                decisions.append(engine.evaluate(e))
                if i == 200:
                    started.set()

        worker = threading.Thread(target=evaluate_all)
        worker.start()
        started.wait(timeout=30)
        paths = []
        for k in range(4):
            paths.append(tmp_path / f"s{k}.snap")
            engine.snapshot(paths[-1])
        worker.join()
        cuts = set()
        for path in paths:
            snap = persistence.read(path)
            cut = snap.clock[2] + snap.clock[3]  # on-time and late events: every event before the snapshot
            cuts.add(cut)
            restored = ruledsl.load(rules, state=path)
            assert restored.get_param("max_count") == 2
            assert [restored.evaluate(e) for e in evs[cut:]] == decisions[cut:], f"cut at {cut}"
        assert len(cuts) > 1 or cuts == {len(evs)}  # snapshots were taken mid-stream (unless the machine is slow)


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="snapshot(fork=True) needs os.fork")


@needs_fork
def test_a_forked_snapshot_taken_while_another_thread_evaluates_is_consistent(rules: Path, tmp_path: Path):
    evs = events(3000, seed=9)
    engine = ruledsl.load(rules)
    engine.update_list("blocked_payees", ["P-3"])
    decisions: list[Any] = []
    started = threading.Event()

    def evaluate_all() -> None:
        for i, e in enumerate(evs):
            decisions.append(engine.evaluate(e))
            if i == 200:
                started.set()

    worker = threading.Thread(target=evaluate_all)
    worker.start()
    started.wait(timeout=30)
    sizes = [engine.snapshot(tmp_path / f"f{k}.snap", fork=True) for k in range(3)]
    worker.join()
    for k, size in enumerate(sizes):
        path = tmp_path / f"f{k}.snap"
        assert path.stat().st_size == size
        snap = persistence.read(path)
        cut = snap.clock[2] + snap.clock[3]
        restored = ruledsl.load(rules, state=path)
        assert [restored.evaluate(e) for e in evs[cut:]] == decisions[cut:], f"cut at {cut}"
    # the child wrote what the engine itself would have
    engine.snapshot(tmp_path / "plain.snap")
    engine.snapshot(tmp_path / "forked.snap", fork=True)
    assert persistence.read(tmp_path / "plain.snap") == persistence.read(tmp_path / "forked.snap")


@needs_fork
def test_a_forked_snapshot_reports_what_went_wrong_in_the_child(rules: Path, tmp_path: Path):
    engine = fed(rules, events(10))
    with pytest.raises(FileNotFoundError):
        engine.snapshot(tmp_path / "no such directory" / "s.snap", fork=True)

    def fails() -> bytes:
        raise ValueError("out of luck")

    with pytest.raises(SnapshotError, match="the snapshot process failed: ValueError: out of luck"):
        persistence.write_in_child(tmp_path / "s.snap", threading.Lock(), fails)

    def hangs() -> bytes:
        time.sleep(60)
        return b""

    t0 = time.monotonic()
    with pytest.raises(SnapshotError, match=r"did not finish within 0\.5 s and was killed"):
        persistence.write_in_child(tmp_path / "s.snap", threading.Lock(), hangs, timeout_s=0.5)
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "s.snap").exists()


# ---------------------------------------------------------------- how the state is copied


class CopyingWindow(state_py.WindowState):
    """A window kernel with the copy protocol the engine uses when a kernel has it."""

    copies = 0

    def copy(self) -> CopyingWindow:
        CopyingWindow.copies += 1
        twin = CopyingWindow(self.agg, self.duration_ms, self.lateness_ms, self.is_float)
        twin.load(self.dump())
        return twin

    def dump_chunks(self, n: int) -> Iterator[list[Any]]:
        dumped = self.dump()
        for i in range(0, len(dumped), n):
            yield dumped[i : i + n]


def test_kernels_with_copy_are_copied_under_the_lock_and_dumped_outside_it(rules: Path, tmp_path: Path):
    evs = events(200)
    with python_kernels():  # the engine's sweeps call the twins' advance_all on CopyingWindow
        engine = fed(rules, evs[:150])
        engine.snapshot(tmp_path / "dumped.snap")
        for i, kernel in enumerate(engine._windows):
            if isinstance(kernel, state_py.WindowState):
                twin = CopyingWindow(kernel.agg, kernel.duration_ms, kernel.lateness_ms, kernel.is_float)
                twin.load(kernel.dump())
                twin.advance(engine._clock_state[1], 0)
                engine._windows[i] = twin
        engine._bind()
        engine._bind_python()
        CopyingWindow.copies = 0
        engine.snapshot(tmp_path / "copied.snap")
        assert CopyingWindow.copies == sum(isinstance(k, CopyingWindow) for k in engine._windows) > 0
        dumped, copied = persistence.read(tmp_path / "dumped.snap"), persistence.read(tmp_path / "copied.snap")
        for a, b in zip(dumped.windows, copied.windows, strict=True):
            assert sorted(map(repr, a.items)) == sorted(map(repr, b.items))
        restored = ruledsl.load(rules, state=tmp_path / "copied.snap")
        assert [restored.evaluate(e) for e in evs[150:]] == [engine.evaluate(e) for e in evs[150:]]


def test_the_garbage_collector_is_left_as_it_was(rules: Path, tmp_path: Path):
    engine = fed(rules, events(30))
    assert gc.isenabled()
    engine.snapshot(tmp_path / "a.snap")
    assert gc.isenabled()
    gc.disable()
    try:
        engine.snapshot(tmp_path / "b.snap")
        ruledsl.load(rules, state=tmp_path / "b.snap")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_large_arrays_are_encoded_in_chunks_to_the_same_bytes():
    items = [(f"k{i}", [(T0 + i, i)]) for i in range(3 * persistence.CHUNK + 5)]
    for n in (0, 1, 15, 16, 65_535, 65_536):
        part = items[:n] if n <= len(items) else [("k", [(T0, 0)])] * n
        raw = persistence.encode_array(persistence.chunked(part))
        assert bytes(raw) == msgspec.msgpack.encode(part)
