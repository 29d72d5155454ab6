"""Snapshots of an engine's window and sequence state, written atomically.

File layout: an 8-byte magic ``RDSLSNAP``, a 4-byte big-endian format
version, the 32-byte SHA-256 of the payload, then the payload (msgspec
MessagePack).  A file with another magic, another version, a wrong checksum
or an undecodable payload is refused whole with ``SnapshotError``: a
snapshot is never half-loaded.

Writing goes to a temporary file in the same directory, which is flushed,
fsynced and renamed over the target (then the directory is fsynced), so a
crash at any point leaves either the previous snapshot or the new one.

Each window and sequence is stored under its *signature* (its definition,
canonically printed), so state is restored into windows whose definition is
unchanged even if they were renamed, and dropped for windows that changed.
Entries that fell out of their window are swept before writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import msgspec

MAGIC = b"RDSLSNAP"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">8sI32s")


class SnapshotError(Exception):
    """A snapshot file that cannot be used: missing, foreign, corrupt or from another version."""


class KernelState(msgspec.Struct, array_like=True):
    """One window's or sequence's dumped content."""

    signature: str
    watermark: Optional[int]
    items: list[tuple[Any, list]]


class Snapshot(msgspec.Struct):
    """The payload of a snapshot file."""

    ruledsl_version: str
    clock: list[int]  # max ts, watermark, committed events, late events
    lateness_ms: int
    windows: list[KernelState]
    sequences: list[KernelState]


def _key_from_wire(key: Any) -> Any:
    # MessagePack has no tuple: tuple keys come back as lists
    if isinstance(key, list):
        return tuple(_key_from_wire(k) for k in key)
    return key


def encode(snapshot: Snapshot) -> bytes:
    """Snapshot -> file bytes (header + payload)."""
    payload = msgspec.msgpack.encode(snapshot)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, hashlib.sha256(payload).digest()) + payload


def decode(data: bytes, *, source: str = "snapshot") -> Snapshot:
    """File bytes -> Snapshot; raises SnapshotError if anything is off."""
    if len(data) < _HEADER.size:
        raise SnapshotError(f"{source}: too short to be a ruledsl snapshot")
    magic, version, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError(f"{source}: not a ruledsl snapshot")
    if version != FORMAT_VERSION:
        raise SnapshotError(f"{source}: snapshot format {version}, this ruledsl reads format {FORMAT_VERSION}")
    payload = data[_HEADER.size :]
    if hashlib.sha256(payload).digest() != digest:
        raise SnapshotError(f"{source}: checksum mismatch (the file is corrupt or truncated)")
    try:
        snap = msgspec.msgpack.decode(payload, type=Snapshot)
    except msgspec.DecodeError as err:
        raise SnapshotError(f"{source}: cannot decode: {err}") from None
    for kernel in snap.windows + snap.sequences:
        kernel.items = [(_key_from_wire(k), v) for k, v in kernel.items]
    return snap


def write_atomic(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read(path: Union[str, Path]) -> Snapshot:
    """Read and verify a snapshot file."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SnapshotError(f"{path}: cannot read: {err.strerror or err}") from None
    return decode(data, source=str(path))
