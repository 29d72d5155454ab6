"""A snapshot is written in parts (never one large buffer); the file is exactly msgspec's encoding."""

from __future__ import annotations

from pathlib import Path

import ruledsl
from ruledsl.runtime import persistence

RULES = Path(__file__).resolve().parents[1] / "compile" / "fixtures" / "windows.rdsl"


def test_parts_join_to_the_plain_encoding(tmp_path: Path):
    engine = ruledsl.load(RULES, clock=None, params={"max_txn_10m": 7})
    for i in range(5000):  # more keys than one chunk
        engine.evaluate(
            {
                "type": "transfer",
                "ts": 1_700_000_000_000 + i * 1000,
                "customer_id": f"c{i % 4500}",
                "amount": "12.5",
                "payee_account": f"p{i % 3}",
                "device_id": f"d{i % 7}",
                "card_no": f"k{i % 50}",
            }
        )
    path = tmp_path / "s.snap"
    size = engine.snapshot(path)
    data = path.read_bytes()
    assert size == len(data)
    snap = persistence.decode(data)
    assert max(len(w.items) for w in snap.windows) > persistence.CHUNK  # several chunks in one array
    assert persistence.encode(snap) == data  # the same bytes as encoding the decoded snapshot in one go
    restored = ruledsl.load(RULES, clock=None, state=path)
    assert restored.get_param("max_txn_10m") == 7
    probe = {
        "type": "transfer",
        "ts": 1_700_000_000_000 + 5001 * 1000,
        "customer_id": "c1",
        "amount": "1",
        "payee_account": "p0",
    }
    assert restored.peek(probe) == engine.peek(probe)


def test_write_atomic_takes_parts(tmp_path: Path):
    path = tmp_path / "f"
    assert persistence.write_atomic(path, [b"ab", memoryview(b"xcd")[1:], b""]) == 4
    assert path.read_bytes() == b"abcd"
    assert persistence.write_atomic(path, b"xyz") == 3
    assert path.read_bytes() == b"xyz"
