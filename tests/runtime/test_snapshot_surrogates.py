"""Snapshots round-trip any Python str, lone surrogates included.

A dict event may carry a str UTF-8 cannot encode (``"\\ud800"``); it becomes a
window key, a tuple key's part, a ``last()`` value, a sequence key, a held key,
and the application may set such a string as a parameter or a list entry, or
as who/why of a hold's confirmation.  A snapshot must write them all (as
``ESCAPED_STR`` extensions) and give them back as the same strings; snapshots
without such strings keep exactly the bytes they had before.  Both kernel builds.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from engines import KERNELS, kernel_build

import ruledsl
from ruledsl.runtime import persistence

RULESET = """\
ruleset surrogates { lateness 1m }
event transfer {
  customer_id: string
  card_no: string
  payee: string
}
param vip: string = "nobody"
list blocked: string = ["P-BAD"]
window per_customer = count() of transfer by customer_id over 10m
window per_card = count() of transfer by customer_id, card_no over 10m
window last_payee = last(payee) of transfer by customer_id over 1h excluding current
window payees = distinct(payee) of transfer by customer_id over 1h
sequence twice by customer_id, card_no within 30m {
  step transfer
  step transfer where payee in blocked
}
rule chain { reason "c" on transfer when twice action block }
rule busy { reason "b" on transfer when per_customer >= 3 or per_card >= 2 action hold }
rule vip_seen { reason "v" on transfer when customer_id == vip action alert }
rule payee_changed { reason "p" on transfer when last_payee != payee and payees >= 2 action alert }
"""

T0 = 1_767_225_600_000
BAD = "\ud800"  # a lone high surrogate
ALSO_BAD = "x\udfffy"  # a lone low surrogate inside other text
PAYEE = "P\udc80"


def _events() -> list[dict]:
    pay = {"type": "transfer", "customer_id": BAD, "card_no": ALSO_BAD, "payee": PAYEE}
    return [
        {**pay, "ts": T0},  # the sequence's first step for (BAD, ALSO_BAD)
        {**pay, "ts": T0 + 1_000, "card_no": "k1", "payee": "P-ok"},
        {**pay, "ts": T0 + 2_000, "customer_id": "plain", "card_no": "k1"},
        {**pay, "ts": T0 + 60_000},  # per_card (BAD, ALSO_BAD) = 2: hold; twice completes: block
        {**pay, "ts": T0 + 61_000, "payee": "P-ok"},
        {**pay, "ts": T0 + 120_000, "customer_id": ALSO_BAD, "card_no": BAD},
        {**pay, "ts": T0 + 121_000, "customer_id": ALSO_BAD, "card_no": BAD, "payee": "P-ok"},
    ]


def _set_up(engine: ruledsl.Engine) -> None:
    engine.set_param("vip", ALSO_BAD)
    engine.update_list("blocked", [PAYEE, "P-BAD"])


@pytest.fixture()
def ruleset_file(tmp_path: Path) -> Path:
    path = tmp_path / "surrogates.rdsl"
    path.write_text(RULESET, encoding="utf-8")
    return path


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("cut", range(len(_events()) + 1))
def test_restore_with_surrogate_strings_continues_like_the_uninterrupted_run(ruleset_file, tmp_path, kernels, cut):
    events = _events()
    with kernel_build(kernels):
        whole = ruledsl.load(ruleset_file, clock=None)
        _set_up(whole)
        expected = [whole.evaluate(e) for e in events]
        first = ruledsl.load(ruleset_file, clock=None)
        _set_up(first)
        for e in events[:cut]:
            first.evaluate(e)
        snap = tmp_path / "state.snap"
        first.snapshot(snap)
        second = ruledsl.load(ruleset_file, state=snap, clock=None)
        assert [second.evaluate(e) for e in events[cut:]] == expected[cut:]
        assert second.holds() == whole.holds()
    assert [d.action for d in expected] == ["pass", "alert", "pass", "block", "hold", "alert", "hold"]


@pytest.mark.parametrize("kernels", KERNELS)
def test_every_place_of_a_string_comes_back_as_the_same_string(ruleset_file, tmp_path, kernels):
    with kernel_build(kernels):
        engine = ruledsl.load(ruleset_file, clock=None)
        _set_up(engine)
        decisions = [engine.evaluate(e) for e in _events()]
        held = [d.hold_id for d in decisions if d.hold_id is not None]
        assert len(held) == 2
        engine.confirm_hold(held[0], "block", by=BAD, reason=ALSO_BAD, at=T0 + 170_000)
        path = tmp_path / "s.snap"
        size = engine.snapshot(path)
        # the fork path writes the same escaped strings
        assert engine.snapshot(tmp_path / "f.snap", fork=True) == size
    data = path.read_bytes()
    assert (tmp_path / "f.snap").read_bytes() == data
    snap = persistence.decode(data)
    assert snap.params == {"vip": ALSO_BAD}
    assert {name: sorted(values) for name, values in snap.lists.items()} == {"blocked": sorted([PAYEE, "P-BAD"])}
    per_customer, per_card, last_payee, payees = snap.windows
    assert sorted(key for key, _ in per_customer.items) == sorted(["plain", BAD, ALSO_BAD])
    assert sorted(key for key, _ in per_card.items) == sorted(
        [(BAD, ALSO_BAD), (BAD, "k1"), ("plain", "k1"), (ALSO_BAD, BAD)]
    )
    assert [value for _, value in dict(last_payee.items)[BAD]] == [PAYEE, "P-ok", PAYEE, "P-ok"]
    assert sorted(key for key, _ in payees.items) == sorted(["plain", BAD, ALSO_BAD])
    assert sorted(key for key, _ in snap.sequences[0].items) == sorted(
        [(BAD, ALSO_BAD), (BAD, "k1"), ("plain", "k1"), (ALSO_BAD, BAD)]
    )
    assert [h.held_keys for h in snap.holds.open] == [{"customer_id": ALSO_BAD, "card_no": BAD}]
    (closed,) = snap.holds.closed
    assert (closed.by, closed.reason) == (BAD, ALSO_BAD)
    assert closed.held_keys == {"customer_id": BAD, "card_no": ALSO_BAD}
    # encoded in one go, the decoded snapshot gives the file's bytes: the chunked writer escapes alike
    assert persistence.encode(snap) == data


def test_an_escaped_string_is_an_extension_only_where_needed():
    plain = ["a", ("b", 1), {"k": "c"}]
    assert persistence._escaped(plain) == ["a", ("b", 1), {"k": "c"}]  # parts that encode are kept as they are
    assert msgspec.msgpack.encode(persistence._escaped(plain)) == msgspec.msgpack.encode(plain)
    mixed = [BAD, ("b", ALSO_BAD), {"k": PAYEE}]
    encoded = persistence._encode(mixed)
    ext = msgspec.msgpack.Ext
    assert encoded == msgspec.msgpack.encode(
        [
            ext(persistence.ESCAPED_STR, BAD.encode("utf-8", "surrogatepass")),
            ["b", ext(persistence.ESCAPED_STR, ALSO_BAD.encode("utf-8", "surrogatepass"))],
            {"k": ext(persistence.ESCAPED_STR, PAYEE.encode("utf-8", "surrogatepass"))},
        ]
    )
    assert msgspec.msgpack.decode(encoded, ext_hook=persistence._unescaped) == [BAD, ["b", ALSO_BAD], {"k": PAYEE}]


def test_snapshots_without_surrogates_keep_their_bytes(ruleset_file, tmp_path):
    engine = ruledsl.load(ruleset_file, clock=None)
    engine.set_param("vip", "v1")
    engine.update_list("blocked", ["P-1"])
    for i in range(5000):  # more keys than one chunk
        engine.evaluate(
            {"type": "transfer", "ts": T0 + i * 10, "customer_id": f"c{i}", "card_no": f"k{i % 7}", "payee": "P-1"}
        )
    path = tmp_path / "s.snap"
    engine.snapshot(path)
    data = path.read_bytes()
    snap = persistence.decode(data)
    assert max(len(w.items) for w in snap.windows) > persistence.CHUNK
    assert persistence.FORMAT_VERSION == 2  # files from before the escapes are still format 2
    # msgspec's plain encoding, as every snapshot was written before strings were escaped
    assert persistence._framed(msgspec.msgpack.encode(snap)) == data
    assert persistence.encode(snap) == data


def _framed_raw(payload: object) -> bytes:
    return persistence._framed(msgspec.msgpack.encode(payload))


def test_bad_extensions_are_refused_whole(ruleset_file, tmp_path):
    engine = ruledsl.load(ruleset_file, clock=None)
    engine.evaluate({"type": "transfer", "ts": T0, "customer_id": BAD, "card_no": "k", "payee": "P"})
    engine.snapshot(tmp_path / "s.snap")
    raw = msgspec.msgpack.decode((tmp_path / "s.snap").read_bytes()[persistence._HEADER.size :])
    ext = msgspec.msgpack.Ext
    escaped = raw["windows"][0][1][0][0]
    assert escaped == ext(persistence.ESCAPED_STR, BAD.encode("utf-8", "surrogatepass"))
    for wrong, message in [
        (ext(7, b"\xed\xa0\x80"), "unknown MessagePack extension 7"),  # another extension
        (ext(persistence.ESCAPED_STR, b"\xff"), "can't decode"),  # not even surrogatepass UTF-8
    ]:
        raw["windows"][0][1][0][0] = wrong
        with pytest.raises(persistence.SnapshotError, match=message):
            persistence.decode(_framed_raw(raw))
    raw["windows"][0][1][0][0] = escaped
    for wrong in (escaped, "plain"):  # a string where a time goes
        raw["clock"][0] = wrong
        with pytest.raises(persistence.SnapshotError, match="cannot decode"):
            persistence.decode(_framed_raw(raw))
