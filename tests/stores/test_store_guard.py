"""GuardedStore: the circuit breaker and the outage buffer, against a scripted store and a hand-moved clock.

The same behaviour against real redis-server processes (stall, kill, restart)
is in ``test_redis_outages.py``.
"""

from __future__ import annotations

import pytest

from ruledsl.compile import SequenceSpec, WindowSpec
from ruledsl.stores.guard import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, GuardedStore, StoreUnavailable
from ruledsl.stores.local import LocalStore, StoreError

MIN = 60_000
WINDOWS = [
    WindowSpec("cnt", "count", 10 * MIN, False, False, "int", "sig-cnt"),
    WindowSpec("total", "sum", 60 * MIN, False, False, "int", "sig-total"),
]
SEQUENCES = [SequenceSpec("chain", 3, 30 * MIN, "sig-chain")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedStore:
    """Records every call; fails while ``down`` is set, with ``maybe_applied`` as given."""

    def __init__(self) -> None:
        self.calls: list[list] = []
        self.pings = 0
        self.down = False
        self.maybe_applied = False
        self.configured: list = []

    def configure(self, windows, sequences, lateness_ms, namespace) -> None:
        self.configured.append(([w.name for w in windows], [s.name for s in sequences], namespace))

    def run(self, ops: list) -> list:
        if self.down:
            raise StoreError("down", maybe_applied=self.maybe_applied)
        self.calls.append(list(ops))
        return [0 if op[0] == "w" else False for op in ops]

    def ping(self) -> None:
        self.pings += 1
        if self.down:
            raise StoreError("down", maybe_applied=False)

    def advance(self, watermark: int) -> None:
        return None

    def clear(self) -> None:
        return None


def guarded(**kw) -> tuple[GuardedStore, ScriptedStore, Clock]:
    store, clock = ScriptedStore(), Clock()
    g = GuardedStore(store, clock=clock, **kw)
    g.configure(WINDOWS, SEQUENCES, 0, "ns")
    return g, store, clock


def w(i: int, key: str, ts: int, value: int = 1, add: bool = True) -> tuple:
    return ("w", i, key, ts, value, True, add)


def s(key: str, ts: int, mask: int, add: bool = True) -> tuple:
    return ("s", 0, key, ts, mask, add)


def fails(g: GuardedStore, ops: list, exc: type = StoreError) -> None:
    with pytest.raises(exc):
        g.run(ops)


# ---------------------------------------------------------------- the breaker
def test_the_breaker_opens_after_n_consecutive_failures_and_then_refuses_without_calling():
    g, store, _ = guarded(failures_to_open=3)
    store.down = True
    for n in range(1, 3):
        fails(g, [w(0, "a", n)])
        assert g.breaker.state == CLOSED and g.failures == n
    fails(g, [w(0, "a", 3)])
    assert g.breaker.state == OPEN and g.breaker.opened == 1
    store.down = False  # even a healthy store is not called while the breaker is open
    fails(g, [w(0, "a", 4)], StoreUnavailable)
    assert store.calls == [] and g.rejected == 1


def test_a_success_resets_the_count_of_consecutive_failures():
    g, store, _ = guarded(failures_to_open=2)
    store.down = True
    fails(g, [w(0, "a", 1)])
    store.down = False
    g.run([w(0, "a", 2)])
    store.down = True
    fails(g, [w(0, "a", 3)])
    assert g.breaker.state == CLOSED


def test_after_the_cool_down_one_probe_goes_out_and_failed_probes_back_off():
    g, store, clock = guarded(cooldown_ms=1_000, max_cooldown_ms=5_000)
    store.down = True
    fails(g, [w(0, "a", 1)])
    assert g.breaker.retry_in_ms() == 1_000
    clock.now += 0.999
    fails(g, [w(0, "a", 2)], StoreUnavailable)
    assert store.pings == 0
    waits = []
    for _ in range(4):
        clock.now += g.breaker.cooldown_ms / 1000
        fails(g, [w(0, "a", 3)])  # the probe (a ping) fails: open again, twice as long, at most 5 s
        waits.append(g.breaker.retry_in_ms())
    assert waits == [2_000, 4_000, 5_000, 5_000] and store.pings == 4
    store.down = False
    clock.now += 5.0
    g.run([w(0, "a", 4)])
    assert g.breaker.state == CLOSED and g.breaker.cooldown_ms == 1_000 and store.pings == 5


def test_the_probe_of_a_store_without_ping_is_the_call_itself():
    store = LocalStore()
    g = GuardedStore(store)
    g.configure(WINDOWS, SEQUENCES, 0, "ns")
    assert g.run([w(0, "a", 1)]) == [1]
    b = CircuitBreaker(clock=lambda: 0.0, cooldown_ms=0)
    b.record_failure()
    assert b.state == OPEN and b.allow() and b.state == HALF_OPEN
    assert not b.allow()  # one probe at a time


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        CircuitBreaker(failures_to_open=0)
    with pytest.raises(ValueError):
        CircuitBreaker(cooldown_ms=2_000, max_cooldown_ms=1_000)
    with pytest.raises(ValueError):
        GuardedStore(ScriptedStore(), buffer_limit=-1)
    with pytest.raises(TypeError):
        GuardedStore(GuardedStore(ScriptedStore()))


# ---------------------------------------------------------------- the buffer
def test_updates_that_never_reached_the_store_are_replayed_in_order_before_the_next_call():
    g, store, clock = guarded()
    store.down = True
    fails(g, [w(0, "a", 1), w(1, "a", 1, 50), w(0, None, 1), w(0, "q", 1, add=False)])  # refused connection
    fails(g, [w(0, "b", 2)], StoreUnavailable)
    assert g.buffered == 3  # a missing key and a query-only op are not updates
    store.down = False
    clock.now += 1.0
    g.run([w(0, "c", 3)])
    replay, current = store.calls
    assert replay == [
        ("w", 0, "a", 1, 1, False, True),
        ("w", 1, "a", 1, 50, False, True),
        ("w", 0, "b", 2, 1, False, True),
    ]
    assert current == [w(0, "c", 3)]
    assert g.replayed == 3 and g.buffered == 0 and g.lost_updates == 0


def test_only_chain_starts_of_sequence_updates_are_replayed():
    g, store, clock = guarded()
    store.down = True
    fails(g, [s("a", 1, 0b001)])  # a start: replayed
    fails(g, [s("a", 2, 0b010)], StoreUnavailable)  # advances a chain: not replayed
    fails(g, [s("a", 3, 0b011)], StoreUnavailable)  # both: its start is replayed
    fails(g, [s("a", 4, 0b100, add=False)], StoreUnavailable)  # a query: nothing to keep
    assert g.sequence_steps_dropped == 2 and g.buffered == 2
    store.down = False
    clock.now += 1.0
    g.run([])  # no ops: nothing to do, not even the replay
    assert store.calls == []
    g.run([w(0, "x", 5)])
    assert store.calls[0] == [("s", 0, "a", 1, 1, True), ("s", 0, "a", 3, 1, True)]


def test_updates_of_a_call_that_may_have_been_applied_are_not_replayed():
    g, store, _ = guarded()
    store.down, store.maybe_applied = True, True  # e.g. a socket timeout after the request was sent
    fails(g, [w(0, "a", 1), w(1, "a", 1, 5), w(0, "a", 1, add=False)])
    assert g.uncertain_updates == 2 and g.buffered == 0
    fails(g, [w(0, "b", 2)], StoreUnavailable)  # refused by the open breaker: certainly not applied
    assert g.buffered == 1


def test_a_full_buffer_drops_the_oldest_updates_and_counts_them(caplog):
    g, store, clock = guarded(buffer_limit=5)
    store.down = True
    fails(g, [w(0, "a", 0)])
    for ts in range(1, 8):
        fails(g, [w(0, "a", ts)], StoreUnavailable)
    assert g.buffered == 5 and g.lost_updates == 3
    assert sum("buffer full" in r.getMessage() for r in caplog.records) == 1  # said once, not per update
    store.down = False
    clock.now += 1.0
    g.run([])
    g.run([w(0, "z", 9)])
    assert [op[3] for op in store.calls[0]] == [3, 4, 5, 6, 7]


def test_the_buffer_drains_one_chunk_per_call_and_a_failed_chunk_stays_in_order():
    g, store, clock = guarded(replay_chunk=2)
    store.down = True
    fails(g, [w(0, "a", ts) for ts in range(5)])
    store.down = False
    clock.now += 1.0
    real_run = store.run
    refused = []

    def refuse_once(ops):
        if not refused:
            refused.append(ops)
            raise StoreError("down again", maybe_applied=False)
        return real_run(ops)

    store.run = refuse_once  # type: ignore[method-assign]
    fails(g, [w(0, "b", 9)])  # the first chunk fails: it goes back in front, the call joins the end
    assert [op[3] for op in refused[0]] == [0, 1] and g.breaker.state == OPEN
    assert g.buffered == 6 and store.calls == []
    left = []
    for ts in (10, 11, 12):
        clock.now += 10.0
        g.run([w(0, "c", ts)])
        left.append(g.buffered)
    assert left == [4, 2, 0]
    # each call: one chunk of the oldest updates, then its own op
    assert [op[3] for call in store.calls for op in call] == [0, 1, 10, 2, 3, 11, 4, 9, 12]
    assert g.replayed == 6


def test_buffered_updates_follow_their_windows_across_a_reconfigure():
    g, store, clock = guarded()
    store.down = True
    fails(g, [w(0, "a", 1), w(1, "a", 1, 7)])
    # a reload: a new window first, `cnt` removed, `total` kept (same identity)
    new_windows = [WindowSpec("fresh", "max", MIN, False, False, "int", "sig-fresh"), WINDOWS[1]]
    g.configure(new_windows, SEQUENCES, 0, "ns")
    store.down = False
    clock.now += 1.0
    g.run([w(0, "b", 2)])
    assert store.calls[0] == [("w", 1, "a", 1, 7, False, True)]  # total is index 1 now; cnt's update is gone


def test_another_namespace_drops_the_buffer():
    g, store, _ = guarded()
    store.down = True
    fails(g, [w(0, "a", 1)])
    g.configure(WINDOWS, SEQUENCES, 0, "other")
    assert g.buffered == 0


def test_stats_name_every_counter():
    g, store, _ = guarded()
    store.down = True
    fails(g, [w(0, "a", 1)])
    stats = g.stats()
    assert stats["breaker"] == OPEN and stats["failures"] == 1 and stats["buffered"] == 1
    assert stats["last_error"] == "down" and stats["data_losses"] == 0 and stats["retry_in_ms"] == 1_000
    assert set(stats) >= {"rejected", "replayed", "lost_updates", "sequence_steps_dropped", "uncertain_updates"}
