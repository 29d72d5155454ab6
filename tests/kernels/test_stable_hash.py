"""stable_hash: known encodings, compiled == pure, nesting limit."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from state_kernel_cases import COMPILED, I64_MAX, I64_MIN, NAN, PURE, both_impls, needs_compiled

# ---------------------------------------------------------------------------
# stable_hash
# ---------------------------------------------------------------------------


def _fnv_ref(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) % (1 << 64)
    return h - (1 << 64) if h >= 1 << 63 else h


hashables = st.recursive(
    st.one_of(
        st.text(), st.integers(), st.integers(-(2**70), 2**70), st.floats(), st.none(), st.booleans(), st.binary()
    ),
    lambda children: st.tuples(children, children) | st.lists(children, max_size=3).map(tuple),
    max_leaves=8,
)


@both_impls
def test_stable_hash_known_values(impl):
    h = impl.stable_hash
    assert h("abc") == _fnv_ref(b"sabc")
    assert h("") == _fnv_ref(b"s")
    assert h("héllo") == _fnv_ref(b"s" + "héllo".encode())
    assert h(1) == _fnv_ref(b"i" + (1).to_bytes(8, "little", signed=True))
    assert h(-5) == _fnv_ref(b"i" + (-5).to_bytes(8, "little", signed=True))
    assert h(2**64) == _fnv_ref(b"I" + str(2**64).encode())
    assert h(None) == _fnv_ref(b"n")
    assert h(b"xy") == _fnv_ref(b"bxy") == h(bytearray(b"xy"))
    assert h(1.5) == _fnv_ref(b"f" + struct.pack("<d", 1.5))
    assert h(()) == _fnv_ref(b"t" + bytes(8))
    assert h("1") != h(1) and h(("a", "b")) != h(("ab",)) and h(("a",)) != h("a")
    assert h(1) == h(True) == h(1.0) and h(0) == h(-0.0) and h(NAN) == h(-NAN)
    assert h("\ud800") == _fnv_ref(b"s" + "\ud800".encode("utf-8", "surrogatepass"))
    with pytest.raises(TypeError):
        h([1, 2])
    with pytest.raises(TypeError):
        h(object())


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(hashables)
def test_stable_hashCOMPILED_equals_pure(value):
    a = COMPILED.stable_hash(value)
    assert a == PURE.stable_hash(value)
    assert I64_MIN <= a <= I64_MAX


@both_impls
def test_stable_hash_nesting_limit(impl):
    v = ()
    for _ in range(99):  # 100 levels of tuples: fine
        v = (v,)
    assert impl.stable_hash(v) == PURE.stable_hash(v)
    for depth in (100, 100000):
        v = ()
        for _ in range(depth):
            v = (v,)
        with pytest.raises(ValueError):
            impl.stable_hash(v)
