"""Snapshots of state keyed by several fields: windows and sequences come back with their tuple keys.

MessagePack has no tuple, so a key of two fields is written as a list and
must be read back as the tuple the kernels hashed; a sequence keyed by two
fields whose chain is half-way at the snapshot must complete after the
restore exactly as it would have without one.  Both kernel builds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engines import KERNELS, kernel_build
from strategies import CLOCK_MS

import ruledsl
from ruledsl.runtime import persistence

RULESET = """\
ruleset keys { lateness 1m }
event login {
  customer_id: string
  device: string
  city: string?
  new_device: bool
}
event transfer {
  customer_id: string
  card_no: string
  device: string
  city: string?
  amount: decimal
}
window per_card = count() of transfer by customer_id, card_no over 10m
window per_place = count() of login, transfer where present(city) by customer_id, city over 1h
sequence takeover by customer_id, device within 30m {
  step login where new_device
  step transfer where amount > 1000
}
sequence hop by device, customer_id, city within 30m {
  step login
  step login
  step transfer
}
rule chain { reason "链" on transfer when takeover action block }
rule hopping { reason "跳" on transfer when hop action hold }
rule busy { reason "频" on transfer when per_card > 1 or per_place > 5 action alert }
"""

T0 = 1_767_225_600_000


def _clock() -> int:
    return CLOCK_MS  # the events are in 2026: behind the clock guard on any day


def _events() -> list[dict]:
    login = {"type": "login", "customer_id": "A", "device": "d1", "city": "北京", "new_device": True}
    pay = {"type": "transfer", "customer_id": "A", "card_no": "k1", "device": "d1", "city": "北京", "amount": "1200"}
    return [
        {**login, "ts": T0},
        {**login, "ts": T0 + 1_000, "new_device": False},
        {**login, "ts": T0 + 2_000, "customer_id": "B"},  # another customer on the same device
        {**pay, "ts": T0 + 60_000},  # A: takeover and hop both complete
        {**login, "ts": T0 + 120_000, "device": "d2"},
        {**login, "ts": T0 + 121_000, "device": "d2", "new_device": False},
        {**pay, "ts": T0 + 180_000, "device": "d2", "card_no": "k2"},
        {**pay, "ts": T0 + 181_000, "device": "d2", "card_no": "k1", "amount": "5000"},
        {**pay, "ts": T0 + 182_000, "customer_id": "B", "card_no": "k9", "amount": "1500"},  # B: takeover
        {**pay, "ts": T0 + 183_000, "city": None, "amount": "10"},  # no city: `hop` and `per_place` unkeyed
    ]


@pytest.fixture()
def ruleset_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.rdsl"
    path.write_text(RULESET, encoding="utf-8")
    return path


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("cut", range(len(_events()) + 1))
def test_restore_of_multi_field_keys_continues_like_the_uninterrupted_run(ruleset_file, tmp_path, kernels, cut):
    events = _events()
    with kernel_build(kernels):
        whole = ruledsl.load(ruleset_file, clock=_clock)
        expected = [whole.evaluate(e) for e in events]
        first = ruledsl.load(ruleset_file, clock=_clock)
        for e in events[:cut]:
            first.evaluate(e)
        snap = tmp_path / "state.snap"
        first.snapshot(snap)
        second = ruledsl.load(ruleset_file, state=snap, clock=_clock)
        assert [second.evaluate(e) for e in events[cut:]] == expected[cut:]
    assert [d.action for d in expected] == ["pass"] * 3 + ["block", "pass", "pass", "block", "block", "block", "alert"]
    assert expected[3].matched == ["chain", "hopping"]  # both chains complete across any cut before them


@pytest.mark.parametrize("kernels", KERNELS)
def test_snapshot_holds_tuple_keys_for_windows_and_sequences(ruleset_file, tmp_path, kernels):
    with kernel_build(kernels):
        engine = ruledsl.load(ruleset_file, clock=_clock)
        for e in _events()[:3]:  # both sequences half-way, for A and for B
            engine.evaluate(e)
        engine.snapshot(tmp_path / "s.snap")
    snap = persistence.read(tmp_path / "s.snap")
    seq_keys = {
        name: [key for key, _starts in k.items] for name, k in zip(("takeover", "hop"), snap.sequences, strict=True)
    }
    assert sorted(seq_keys["takeover"]) == [("A", "d1"), ("B", "d1")]
    assert sorted(seq_keys["hop"]) == [("d1", "A", "北京"), ("d1", "B", "北京")]
    assert sorted(key for key, _entries in snap.windows[1].items) == [("A", "北京"), ("B", "北京")]
