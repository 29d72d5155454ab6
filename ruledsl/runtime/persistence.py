"""Snapshots of an engine's operational state, written atomically.

File layout: an 8-byte magic ``RDSLSNAP``, a 4-byte big-endian format
version, the 32-byte SHA-256 of the payload, then the payload (msgspec
MessagePack, the ``Snapshot`` struct).  A file with another magic, another
version, a wrong checksum, an undecodable payload or a payload whose content
is out of shape or range is refused whole with ``SnapshotError``: a snapshot
is never half-loaded, and nothing in it can reach the engine unchecked.
A string UTF-8 cannot encode (a lone surrogate, which a dict event may carry
into a key or a value) is written as a MessagePack extension
(``ESCAPED_STR``) and read back as the same string; files without one are
msgspec's plain encoding, byte for byte.

What a snapshot holds (docs/semantics.md, "Snapshots"):

- the ruleset's identity: its name, ``lateness`` and time zone, and the state
  identity (``WindowSpec.signature``) of every window and sequence;
- the clock: the greatest event time, the watermark and the event counters;
- the parameters and lists the embedding application set (``params=`` and
  ``lists=`` at load, ``set_param`` and ``update_list`` at run time), in full;
  lists read from the ruleset (inline or from a list file) are not stored;
- every window's and sequence's entries that are still inside their span.

Writing goes to a temporary file in the same directory, which is flushed,
fsynced and renamed over the target (then the directory is fsynced), so a
crash at any point leaves either the previous snapshot or the new one.  The
temporary files of writers that died (``kill -9``) are removed by the next
write to the same path.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
import select
import signal
import struct
import tempfile
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import msgspec

from ruledsl.kernels.values import decimal_to_python
from ruledsl.runtime.controls import Control
from ruledsl.runtime.exemptions import Exemption
from ruledsl.runtime.holds import Hold, HoldOutcome
from ruledsl.syntax.durations import format_duration

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

MAGIC = b"RDSLSNAP"
FORMAT_VERSION = 2
_HEADER = struct.Struct(">8sI32s")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
TIME_LIMIT = 2**62
"""Every time in a snapshot (clock, entry, sequence start) is within +-2^62 ms: the
engine's "never" is -2^62, and real event times are far inside."""

Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
Time = Annotated[int, msgspec.Meta(ge=-TIME_LIMIT, le=TIME_LIMIT)]
Counter64 = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Scalar = Union[str, Int64, float, bool]
Key = Union[str, Int64, float, bool, Annotated[tuple[Scalar, ...], msgspec.Meta(min_length=1)]]
"""A window or sequence key: one field's value, or a tuple for a key of several fields."""

CHUNK = 4096
"""Keys per chunk when a snapshot is built and encoded (a few milliseconds of work each)."""


def _entry_ts(entry: Any) -> Any:
    return entry[0]


SavedListMeta = tuple[Scalar, Optional[str], Optional[str], Optional[Time], list[tuple[str, str]]]


class SnapshotError(Exception):
    """A snapshot file that cannot be used: missing, foreign, corrupt, from another version or ruleset."""


class SavedWindow(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One window's entries still inside its span: ``[(key, [(ts, value), ...]), ...]``."""

    signature: str
    items: list[tuple[Key, list[tuple[Time, Scalar]]]]


class SavedSequence(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One sequence's partial chains: ``[(key, [start or None, ...]), ...]``."""

    signature: str
    items: list[tuple[Key, list[Optional[Time]]]]


class RulesetIdentity(msgspec.Struct, forbid_unknown_fields=True):
    """Which ruleset wrote the snapshot (the window and sequence identities are in their entries)."""

    name: str
    lateness_ms: Annotated[int, msgspec.Meta(ge=0, le=TIME_LIMIT)]
    timezone: str


class SavedHolds(msgspec.Struct, forbid_unknown_fields=True):
    """The hold book (``ruledsl.runtime.holds``): its counter, the open holds, the remembered outcomes."""

    seq: Counter64 = 0
    open: list[Hold] = []
    closed: list[HoldOutcome] = []


class Snapshot(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The payload of a snapshot file (``holds``: absent from snapshots written before holds existed)."""

    ruledsl_version: str
    ruleset: RulesetIdentity
    clock: tuple[Time, Time, Counter64, Counter64]  # max ts, watermark, committed events, late events
    params: dict[str, Scalar]  # parameters the application set, as ``set_param`` takes them
    lists: dict[str, list[Scalar]]  # lists the application set, as ``update_list`` takes them
    windows: list[SavedWindow]
    sequences: list[SavedSequence]
    holds: SavedHolds = msgspec.field(default_factory=SavedHolds)
    exemptions: Optional[list[Exemption]] = None  # the live exemptions; absent from older snapshots
    # the attributes of the application's list entries that have any: [value, category, source, expires_at,
    # [[name, text], ...]] (engine_lists.saved_meta); absent from older snapshots and when no entry has one
    list_meta: Optional[dict[str, list[SavedListMeta]]] = None
    controls: Optional[list[Control]] = None  # the controls in place (runtime/controls.py); absent from older ones


# ---------------------------------------------------------------- encoding


def encode(snapshot: Snapshot) -> bytes:
    """Snapshot -> file bytes (header + payload)."""
    return _framed(_encode(snapshot))


def _framed(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, FORMAT_VERSION, hashlib.sha256(payload).digest()) + payload


def encode_parts(
    *,
    ruledsl_version: str,
    ruleset: RulesetIdentity,
    clock: list[int],
    params: dict[str, Any],
    lists: dict[str, Sequence[Any]],
    windows: Iterable[tuple[str, Iterable[Sequence[Any]]]],
    sequences: Iterable[tuple[str, Iterable[Sequence[Any]]]],
    holds: Optional[SavedHolds] = None,
    optional: Optional[dict[str, Any]] = None,
) -> list[Any]:
    """The file of a snapshot whose large arrays come in chunks (``windows``/``sequences``:
    ``(signature, chunks of items)``), as a list of byte parts to write in order; joined, they
    are what ``encode`` would write for the same ``Snapshot``.

    Each chunk is encoded by its own short call and no part is ever joined
    into one large buffer (copying tens of MB in one call holds the GIL for
    tens of milliseconds), so a snapshot of millions of keys never stalls
    the threads evaluating meanwhile for long.
    """
    enc = _encode
    # the optional Snapshot fields given (``exemptions``...) that are not None, after ``holds`` in the Struct's
    # order: the bytes msgspec writes for the same Snapshot (omit_defaults: a None field is left out, so a
    # snapshot without them is byte for byte what was written before they existed)
    given = optional or {}
    tail = {name: given[name] for name in Snapshot.__struct_fields__ if given.get(name) is not None}
    payload: list[Any] = [_map_header(8 + len(tail))]  # a map of Snapshot's fields, in their order
    payload += [enc("ruledsl_version"), enc(ruledsl_version), enc("ruleset"), enc(ruleset)]
    payload += [enc("clock"), enc(clock), enc("params"), enc(params), enc("lists"), _map_header(len(lists))]
    for name, values in lists.items():
        payload.append(enc(name))
        payload += encode_array_parts(chunked(values))
    for field, kernels in (("windows", list(windows)), ("sequences", list(sequences))):
        payload += [enc(field), _array_header(len(kernels))]
        for signature, chunks in kernels:
            payload += [b"\x92", enc(signature)]  # [signature, items]: SavedWindow/SavedSequence as arrays
            payload += encode_array_parts(chunks)
    payload += [enc("holds"), enc(holds if holds is not None else SavedHolds())]
    for name, value in tail.items():
        payload += [enc(name), enc(value)]
    digest = hashlib.sha256()
    for part in payload:
        digest.update(part)  # hashlib releases the GIL on large parts
    return [_HEADER.pack(MAGIC, FORMAT_VERSION, digest.digest()), *payload]


_ENCODER = msgspec.msgpack.Encoder()

ESCAPED_STR = 1
"""The MessagePack extension code of a string UTF-8 cannot encode (a lone surrogate, possible in a
dict event): its ``surrogatepass`` bytes.  Nothing else in a snapshot is an extension."""


def _encode(obj: Any) -> bytes:
    """MessagePack of ``obj``; strings with lone surrogates (only then) become ``ESCAPED_STR`` extensions."""
    try:
        return _ENCODER.encode(obj)
    except UnicodeEncodeError:  # rare: the object is walked only when it holds such a string
        return _ENCODER.encode(_escaped(obj))


def _escaped(obj: Any) -> Any:
    """``obj`` with every string UTF-8 cannot encode replaced by its ``ESCAPED_STR`` extension; encoded,
    everything else is byte for byte what ``obj`` gives (structs become their fields, in order).

    Mapping keys are left alone: in a snapshot they are names from the ruleset, never event data.
    """
    if isinstance(obj, str):
        if obj.isascii():
            return obj
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return msgspec.msgpack.Ext(ESCAPED_STR, obj.encode("utf-8", "surrogatepass"))
        return obj
    if isinstance(obj, (list, tuple)):
        return [_escaped_part(item) for item in obj]
    if isinstance(obj, dict):
        return {key: _escaped_part(value) for key, value in obj.items()}
    if isinstance(obj, msgspec.Struct):
        names = obj.__struct_fields__
        if obj.__struct_config__.omit_defaults:  # as msgspec writes it: a field at its None default is left out
            names = tuple(
                f.name for f in msgspec.structs.fields(obj) if f.default is not None or getattr(obj, f.name) is not None
            )
        fields = {name: _escaped_part(getattr(obj, name)) for name in names}
        return list(fields.values()) if obj.__struct_config__.array_like else fields
    return obj


def _escaped_part(part: Any) -> Any:
    # a part of a container: kept as it is when it encodes (nearly all do: a key's entries, the other keys of
    # its chunk), walked only when it does not: a chunk of 4096 keys with one such string takes ~4 times as
    # long as a plain one (1.2 ms instead of 0.3), one with such a string in every key ~35 times
    if isinstance(part, (str, int, float)) or part is None:
        return _escaped(part)
    try:
        _ENCODER.encode(part)
    except UnicodeEncodeError:
        return _escaped(part)
    return part


def _unescaped(code: int, data: memoryview) -> str:
    # the decoder's ext_hook: an ESCAPED_STR extension is its string again
    if code != ESCAPED_STR:
        raise ValueError(f"unknown MessagePack extension {code}")
    return bytes(data).decode("utf-8", "surrogatepass")


_DECODER = msgspec.msgpack.Decoder(Snapshot, ext_hook=_unescaped)


def encode_array(chunks: Iterable[Sequence[Any]]) -> msgspec.Raw:
    """One MessagePack array of every item of ``chunks``, each chunk encoded separately."""
    return msgspec.Raw(b"".join(encode_array_parts(chunks)))


def encode_array_parts(chunks: Iterable[Sequence[Any]]) -> list[Any]:
    """``encode_array`` as parts: the array header, then each chunk's encoded items."""
    parts: list[Any] = []
    n = 0
    for chunk in chunks:
        if chunk:
            encoded = _encode(chunk)
            parts.append(memoryview(encoded)[_array_header_size(encoded[0]) :])
            n += len(chunk)
    return [_array_header(n), *parts]


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x80 | n])
    if n < 1 << 16:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def _array_header_size(first: int) -> int:
    # fixarray, array 16, array 32
    return 1 if first & 0xF0 == 0x90 else (3 if first == 0xDC else 5)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (if it runs) for the block.

    Dumping millions of keys creates millions of small lists and tuples, and
    every few thousand of them the collector would traverse them all: a
    snapshot of 1,000,000 keys then takes ten times longer, and each full
    collection stops every thread.  They hold no reference cycles: reference
    counting frees them; the collector resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decode(data: bytes, *, source: str = "snapshot") -> Snapshot:
    """File bytes -> Snapshot; raises SnapshotError if anything is off.

    Besides the checksum, the types say the content's shape and ranges
    (times within +-2^62 ms, integers in 64 bits, keys scalars or non-empty
    tuples of scalars, counters not negative).  What depends on the ruleset
    (each window's kind of values) is checked when the snapshot is restored
    (``check_window_items``).
    """
    if len(data) < _HEADER.size:
        raise SnapshotError(f"{source}: too short to be a ruledsl snapshot")
    magic, version, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError(f"{source}: not a ruledsl snapshot")
    if version != FORMAT_VERSION:
        raise SnapshotError(
            f"{source}: snapshot format {version}, this ruledsl reads format {FORMAT_VERSION} "
            "(start without the snapshot, or with the ruledsl version that wrote it)"
        )
    payload = data[_HEADER.size :]
    if hashlib.sha256(payload).digest() != digest:
        raise SnapshotError(f"{source}: checksum mismatch (the file is corrupt or truncated)")
    with gc_paused():
        try:
            try:
                return _DECODER.decode(payload)
            except msgspec.ValidationError:
                # ESCAPED_STR strings where the types say str (a key, a value): decoded untyped, each
                # extension becomes its string, then checked against the same types.  Only snapshots
                # with such strings (or invalid ones) take this slower way.
                return msgspec.convert(msgspec.msgpack.decode(payload, ext_hook=_unescaped), type=Snapshot)
        except (msgspec.DecodeError, ValueError) as err:  # ValidationError included: the wrong shape or range
            raise SnapshotError(f"{source}: cannot decode: {err}") from None


# ---------------------------------------------------------------- the content of one window


_LAST_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "enum": (str,),
    "int": (int,),
    "decimal": (int,),  # scaled
    "duration": (int,),
    "timestamp": (int,),
    "float": (float,),
    "bool": (bool,),
}


def check_window_items(
    items: Iterable[tuple[Any, list]], *, name: str, agg: str, is_float: bool, value_type: str
) -> None:
    """Raise ValueError unless every entry's value is what window ``name``'s kernel holds.

    ``count`` entries hold 0; int kernels 64-bit ints; float kernels floats;
    ``last`` windows a value of the window's type (decimals scaled).
    """
    if agg == "last":
        allowed = _LAST_VALUE_TYPES.get(value_type)
        if allowed is None:
            raise ValueError(f"window {name}: a last() window of type {value_type} cannot be restored")
    elif is_float:
        allowed = (float,)
    else:
        allowed = (int,)
    for _key, entries in items:
        for _ts, value in entries:
            if type(value) not in allowed or (agg == "count" and value != 0):
                raise ValueError(f"window {name}: {agg}() cannot hold the value {value!r:.40}")


def check_sequence_items(items: Iterable[tuple[Any, list]], *, name: str, n_steps: int) -> None:
    """Raise ValueError unless every partial chain of sequence ``name`` has a start per step but the last."""
    for _key, starts in items:
        if len(starts) != n_steps - 1:
            raise ValueError(
                f"sequence {name}: a partial chain with {len(starts)} start times (its {n_steps} steps keep "
                f"{n_steps - 1})"
            )


def live_window_chunks(chunks: Iterable[Sequence[Any]], cutoff: int) -> Iterator[list[Any]]:
    """The entries of a dumped window newer than ``cutoff`` (watermark - span), chunk by chunk;
    keys without any are dropped.  A key's entries are in time order (the kernels keep them so)."""
    for chunk in chunks:
        out = []
        for key, entries in chunk:
            if entries and entries[0][0] > cutoff:
                out.append((key, entries))
            elif entries and entries[-1][0] > cutoff:
                out.append((key, entries[bisect_right(entries, cutoff, key=_entry_ts) :]))
        yield out


def live_sequence_chunks(chunks: Iterable[Sequence[Any]], cutoff: int) -> Iterator[list[Any]]:
    """The partial chains of a dumped sequence started after ``cutoff``, chunk by chunk."""
    for chunk in chunks:
        out = []
        for key, starts in chunk:
            live = [st if st is not None and st > cutoff else None for st in starts]
            if any(st is not None for st in live):
                out.append((key, live))
        yield out


def chunked(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def drained(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """``items`` in slices of ``size``, each slice released from ``items`` once the next is asked for.

    A dump of a million keys is then freed a chunk at a time, in short steps
    other threads can interleave with, not in one long deallocation at the end.
    """
    for i in range(0, len(items), size):
        yield items[i : i + size]
        items[i : i + size] = [None] * len(items[i : i + size])


def user_value(type_name: str, runtime: Any) -> Any:
    """A parameter's or list entry's runtime value as ``set_param``/``update_list`` take it."""
    if type_name == "decimal":
        return str(decimal_to_python(runtime))  # exact text: a scaled int would be read as whole units
    return runtime


def user_values(type_name: str, runtime: Iterable[Any]) -> list[Any]:
    """A list's runtime entries as ``update_list`` takes them."""
    if type_name == "decimal":
        return [str(decimal_to_python(v)) for v in runtime]
    return list(runtime)


# ---------------------------------------------------------------- identity


def identity_differences(
    snap: Snapshot, mine: RulesetIdentity, windows: Sequence[Any], sequences: Sequence[Any]
) -> list[str]:
    """How the ruleset that wrote ``snap`` differs from this one (``mine``, with its window and
    sequence specs), in words; empty when it is the same ruleset as far as state goes.

    Rules, parameters' defaults and lists may change freely; the name, the
    lateness, the time zone and the definition of every window and sequence
    (their ``signature``) may not.
    """
    theirs = snap.ruleset
    out = []
    if theirs.name != mine.name:
        out.append(f"it is of ruleset {theirs.name or '(unnamed)'!r}, this is {mine.name or '(unnamed)'!r}")
    if theirs.lateness_ms != mine.lateness_ms:
        out.append(
            f"its lateness is {format_duration(theirs.lateness_ms)}, this one's {format_duration(mine.lateness_ms)} "
            "(window state kept under one lateness is not valid under another)"
        )
    if theirs.timezone != mine.timezone:
        out.append(f"its time zone is {theirs.timezone}, this one's {mine.timezone}")
    # one state per definition: windows with equal signatures share it (a snapshot holds it once)
    saved = {w.signature for w in snap.windows} | {s.signature for s in snap.sequences}
    mine_sigs = {spec.signature for spec in [*windows, *sequences]}
    new = [spec.name for spec in [*windows, *sequences] if spec.signature not in saved]
    if new:
        out.append(f"{', '.join(new)} {'is' if len(new) == 1 else 'are'} not in it and would start empty")
    gone = len(saved - mine_sigs)
    if gone:
        out.append(f"{gone} of its windows and sequences are not in this ruleset")
    return out


# ---------------------------------------------------------------- files

_TMP_RANDOM = re.compile(r"[a-z0-9_]{8}")  # the random part tempfile.mkstemp puts in a name


def write_atomic(path: Union[str, Path], data: Union[bytes, Sequence[Any]]) -> int:
    """Write ``data`` (bytes, or byte parts in order) to ``path`` so that readers see the old file
    or the new one, never a mix; returns the size written.

    Temporary files of earlier writers to the same path that died before
    renaming theirs (``kill -9``, a crash, a full disk) are removed first;
    a writer that is still alive holds a lock on its file and keeps it.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    started = time.time()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file is closed or the writer dies
            remove_stale_temporaries(path, before=started, keep=tmp)
            size = 0
            parts: Sequence[Any] = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
            for part in parts:
                size += f.write(part)  # each part a few hundred KB: the GIL is free between them
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:
                os.replace(tmp, path)  # still locked: no cleaner can take the file before it is renamed
        if fcntl is None:
            os.replace(tmp, path)  # (where files cannot be renamed while open)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return size
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return size


def remove_stale_temporaries(
    path: Union[str, Path], *, before: float, keep: Union[str, Path, None] = None
) -> list[str]:
    """Remove the temporary files ``write_atomic`` left beside ``path`` that no live writer holds.

    A candidate is a file named like this module's temporary files for
    ``path``, last modified before ``before`` (a Unix time), and - where
    ``fcntl`` exists - not locked by a writer.  Returns the names removed;
    errors (a file another cleaner removed first, a read-only directory)
    are ignored: cleaning is a courtesy, never a reason to fail a snapshot.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    prefix = f".{path.name}."
    keep_name = Path(keep).name if keep is not None else None
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if name == keep_name or not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        if not _TMP_RANDOM.fullmatch(name[len(prefix) : -len(".tmp")]):
            continue
        candidate = directory / name
        with contextlib.suppress(OSError):
            if candidate.stat().st_mtime >= before:
                continue  # a writer that started after this one
            if _unlink_if_unlocked(candidate):
                removed.append(name)
    return removed


def _unlink_if_unlocked(candidate: Path) -> bool:
    if fcntl is None:
        candidate.unlink()
        return True
    fd = os.open(candidate, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive and still writing
        candidate.unlink()
        return True
    finally:
        os.close(fd)


CHILD_TIMEOUT_S = 600.0
"""How long ``write_in_child`` waits for its child before killing it."""


def write_in_child(
    path: Union[str, Path],
    lock: Any,
    produce: Callable[[], Any],
    *,
    timeout_s: float = CHILD_TIMEOUT_S,
) -> int:
    """Fork while holding ``lock``; the child calls ``produce`` and writes its bytes to ``path``
    (``write_atomic``).  Returns the size written; raises what the child met.

    The child sees the process's memory as it was at the fork - a consistent
    copy-on-write image of the state, taken in the time of one ``fork()`` -
    so the lock is released as soon as the fork returns, and the parent only
    waits (without the GIL) for the child's answer.  The child has one
    thread: ``produce`` must not need a lock another thread might have held
    at the fork (the engine's own lock is held by the forking thread, so it
    is free to ignore it).  A child that does not answer within
    ``timeout_s`` is killed and the snapshot fails.
    """
    if not hasattr(os, "fork"):
        raise SnapshotError(f"{path}: fork=True needs os.fork (POSIX)")
    r, w = os.pipe()
    with lock:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            _child(path, produce, r, w)
    os.close(w)
    try:
        answer = _read_answer(r, timeout_s)
    finally:
        os.close(r)
    if answer is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if answer is None:
        raise SnapshotError(f"{path}: the snapshot process did not finish within {timeout_s:g} s and was killed")
    kind, _, rest = answer.partition(" ")
    if kind == "OK":
        return int(rest)
    if kind == "OSERROR":
        code, _, message = rest.partition(" ")
        raise OSError(int(code), message, str(path))
    raise SnapshotError(f"{path}: the snapshot process failed: {rest or 'it died without saying why'}")


def _child(path: Union[str, Path], produce: Callable[[], Any], r: int, w: int) -> None:  # pragma: no cover
    code = 1
    try:
        os.close(r)
        gc.disable()  # a collection would write to every object: copies of pages the parent shares
        try:
            size = write_atomic(path, produce())
            answer = f"OK {size}"
            code = 0
        except OSError as err:
            answer = f"OSERROR {err.errno or 0} {err.strerror or err}"
        except BaseException as err:  # everything is reported to the parent
            answer = f"ERROR {type(err).__name__}: {err}"
        os.write(w, answer.encode("utf-8", "replace")[:4000])
    finally:
        os._exit(code)


def _read_answer(r: int, timeout_s: float) -> Optional[str]:
    # the child's one message, read until it closes the pipe (None: it did not within the timeout)
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([r], [], [], left)
        if not ready:
            return None
        chunk = os.read(r, 4096)
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(chunk)


def read(path: Union[str, Path]) -> Snapshot:
    """Read and verify a snapshot file."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SnapshotError(f"{path}: cannot read: {err.strerror or err}") from None
    return decode(data, source=str(path))
