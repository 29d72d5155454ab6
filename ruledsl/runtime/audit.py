"""The audit trail: an append-only, hash-chained JSON Lines log of administrative changes.

Every change an operator makes to a running engine - ``set_param``,
``update_list``, ``reload``, the snapshot restore at ``load`` and, later,
hold confirmations, controls and exemptions - can be recorded as one line:
who (``by``), when (``at``, UTC wall-clock time), what (``action`` on
``target``), ``old`` -> ``new`` and why (``reason``).  Each line carries the
hash of the line before it (``prev``) and its own hash (``hash``: SHA-256 of
the canonical encoding of the line without ``hash``), so the lines form a
chain (docs/audit.md).

Threat model
------------
The chain makes these visible to ``verify`` (``ruledsl audit verify``): a
line edited, removed, inserted or moved anywhere but at the very end, and a
line that is not valid JSON.  It cannot, on its own, detect

* the *tail* being cut off (the remaining lines are still a valid chain), or
* the whole file being rewritten with a fresh, self-consistent chain,

because anyone who can write the file can recompute every hash - there is
no secret.  Both are caught by anchoring the head elsewhere: ``head()``
(``seq:hash`` of the last line, printed by ``ruledsl audit verify``) is
recorded outside the machine (a ticket, a SIEM, a second host) and given
back as ``--expect-head SEQ:HASH`` (``verify(path, expect_head=...)``):
the line with that ``seq`` must still be there with that hash.  The log
records changes made *through the engine*; someone with the process's
memory or the snapshot files can change state without it.

Durability and concurrency: each append is one ``write`` of a whole line
followed by ``os.fsync`` and is serialised by a thread lock and an
exclusive ``flock`` on the file, so several ``AuditLog`` objects - in one
process or several - extend one chain rather than forking it (each re-reads
the last line when the file grew behind its back).  Opening a log whose
last line is damaged (a torn write, an edit) raises ``AuditError``: the
chain is never silently forked; repair or archive the file first.

Strings UTF-8 cannot encode
---------------------------
A Python ``str`` may hold a lone surrogate (``"\\ud800"``: a dict event can
carry one into a hold's held keys, a caller into ``set_param``, ``by``...).
JSON text cannot carry it, so such a string is written as the tagged object
``{"$str": TEXT}``: ``TEXT`` is the string with each backslash doubled and
each surrogate written ``\\uXXXX`` (lower-case hex) - readable in the file,
UTF-8-encodable, and undone exactly.  A dict JSON cannot carry as is (a key
with a surrogate, or a one-key dict whose key is ``"$str"`` or ``"$obj"``,
which would read back as a tag) is written ``{"$obj": [[key, value], ...]}``.
The tags are part of the line, so the hash covers them; readers
(``read_entries``, ``replay_settings``, ``decode_line``) turn them back into
the original values.  A line that needs no tag is written byte for byte as
before, so older logs verify unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

import msgspec

GENESIS = "0" * 64
"""The ``prev`` of the first line."""

ACTIONS = (
    "set_param",
    "update_list",
    "reload",
    "restore",
    "hold.confirm",
    "control.set",
    "control.lift",
    "exempt",
)
"""The actions the engine records; the last four are reserved for holds, controls and exemptions.

``AuditLog.append`` accepts any name of the same shape (``word`` or ``word.word``,
lower case) so a new kind of change needs no change here."""

DEFAULT_BY = "unknown"
"""``by`` when the caller names nobody (and the log has no ``default_by``)."""

FULL_LIST_LIMIT = 10_000
"""A list change records the list's full contents when it has at most this many entries
(then ``replay_settings`` can rebuild it); a bigger list is recorded as its count and
digest only, and a restart needs the snapshot for it."""

DIFF_LIMIT = 1_000
"""A list change records the entries added and removed when there are at most this many of them together."""

_ACTION_SHAPE = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)?\Z")
_FIELDS = ("seq", "at", "by", "action", "target", "old", "new", "reason", "prev", "hash")
_TAIL_BLOCK = 64 * 1024
STR_TAG = "$str"
"""The key of the object that carries a string UTF-8 cannot encode (module docstring)."""
OBJ_TAG = "$obj"
"""The key of the object that carries a dict JSON cannot carry as is, as ``[key, value]`` pairs."""
_TAGS = (STR_TAG, OBJ_TAG)
_TAG_BYTES = (b'"$str"', b'"$obj"')
_SURROGATE_OR_BACKSLASH = re.compile("[\\\\\ud800-\udfff]")
_ESCAPE = re.compile(r"\\(\\|u[0-9a-f]{4})")


class AuditError(Exception):
    """The audit log cannot be used: a damaged last line, a bad argument, an I/O failure."""


class AuditEntry(msgspec.Struct, omit_defaults=False):
    """One line of the log, fields in the order they are written."""

    seq: int
    at: str
    by: str
    action: str
    target: str
    old: Any
    new: Any
    reason: Optional[str]
    prev: str
    hash: str


class Head(msgspec.Struct, frozen=True):
    """The last line's ``seq`` and ``hash``: record it elsewhere to detect truncation or a rewrite."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """``SEQ:HASH`` (as printed by ``ruledsl audit verify``) -> ``Head``; ValueError if malformed."""
        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"expected SEQ:HASH (a number, a colon and 64 hex digits), not {text!r}")
        return cls(int(seq), digest)


class VerifyReport(msgspec.Struct):
    """What ``verify`` found: ``ok``, the entries read, the head, and the first problem (1-based ``line``)."""

    path: str
    ok: bool
    entries: int
    head: Head
    line: Optional[int] = None
    error: Optional[str] = None

    def __str__(self) -> str:
        if self.ok:
            return f"{self.path}: ok, {self.entries} entries, head {self.head}"
        return f"{self.path}:{self.line}: {self.error}"


# ---------------------------------------------------------------- hashing


def _canonical(fields: dict[str, Any]) -> bytes:
    """The bytes hashed: JSON with sorted keys at every level, no white space."""
    return msgspec.json.encode(fields, order="sorted")


def _escape_str(text: str) -> str:
    return _SURROGATE_OR_BACKSLASH.sub(lambda m: "\\\\" if m[0] == "\\" else f"\\u{ord(m[0]):04x}", text)


def _unescape_str(text: str) -> str:
    return _ESCAPE.sub(lambda m: "\\" if m[1] == "\\" else chr(int(m[1][1:], 16)), text)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _tagged(value: Any) -> Any:
    """``value`` with every string UTF-8 cannot encode, and every dict JSON cannot carry as is, tagged.

    Everything else is left as it is (msgspec converts it as before), so the
    untagged parts encode to the same bytes."""
    if isinstance(value, str):
        return value if _encodable(value) else {STR_TAG: _escape_str(value)}
    if isinstance(value, dict):
        plain = not any(isinstance(k, str) and not _encodable(k) for k in value)
        plain = plain and not (len(value) == 1 and _is_tag_key(value))
        if plain:
            return {k: _tagged(v) for k, v in value.items()}
        return {OBJ_TAG: [[_tagged(k), _tagged(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_tagged(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_tagged(v) for v in value]
    return value


def _is_tag_key(value: dict) -> bool:
    key = next(iter(value))
    return isinstance(key, str) and key in _TAGS


def _untagged(value: Any) -> Any:
    """A decoded value with its tags turned back into the strings and dicts they carry."""
    if isinstance(value, list):
        return [_untagged(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        key, inner = next(iter(value.items()))
        if key == STR_TAG and isinstance(inner, str):
            return _unescape_str(inner)
        if key == OBJ_TAG and isinstance(inner, list) and all(isinstance(p, list) and len(p) == 2 for p in inner):
            return {_untagged(k): _untagged(v) for k, v in inner}
    return {k: _untagged(v) for k, v in value.items()}


def _encode(value: Any, **options: Any) -> bytes:
    """JSON of ``value``; tags what JSON cannot carry only when the plain encoding fails or holds a tag key."""
    try:
        data = msgspec.json.encode(value, **options)
    except UnicodeEncodeError:
        return msgspec.json.encode(_tagged(value), **options)
    if any(tag in data for tag in _TAG_BYTES):  # a one-key {"$str": ...} dict of the caller's would read as a tag
        return msgspec.json.encode(_tagged(value), **options)
    return data


def decode_line(raw: bytes) -> dict[str, Any]:
    """One log line's fields with tagged strings and dicts read back (``show``); raises ``msgspec.DecodeError``."""
    fields = msgspec.json.decode(raw)
    if any(tag in raw for tag in _TAG_BYTES):
        return _untagged(fields)
    return fields


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical encoding of an entry's fields other than ``hash``."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _sorted_unique(values: Iterable[Any]) -> tuple[list[Any], frozenset]:
    """The distinct entries sorted, and as a set.  A list given already sorted (as list files often
    are) sorts in linear time: a million entries in 0.05 s, against 1.7 s from a set's order."""
    items = values if isinstance(values, list) else list(values)
    unique = frozenset(items)
    entries = sorted(items)
    if len(entries) != len(unique):
        entries = sorted(unique)
    return entries, unique


def _digest(entries: list[Any]) -> str:
    return "sha256:" + hashlib.sha256(_encode(entries)).hexdigest()


def list_digest(values: Iterable[Any]) -> str:
    """An order-independent digest of a list's entries (as ``update_list`` takes them): ``sha256:<hex>``.

    SHA-256 of the JSON array of the distinct entries, sorted: equal contents
    give equal digests whatever the order or the duplicates they were given in.
    """
    return _digest(_sorted_unique(values)[0])


def list_summary(new: Iterable[Any], old: Optional[Iterable[Any]] = None) -> dict[str, Any]:
    """How a list's contents are recorded: ``count``, ``digest``, ``entries`` when small, and
    ``added``/``removed`` (against ``old``) when the difference is small."""
    entries, new_set = _sorted_unique(new)
    out: dict[str, Any] = {"count": len(new_set), "digest": _digest(entries)}
    if old is not None:
        old_set = old if isinstance(old, frozenset) else frozenset(old)
        added, removed = new_set - old_set, old_set - new_set
        if len(added) + len(removed) <= DIFF_LIMIT:
            out["added"] = sorted(added)
            out["removed"] = sorted(removed)
    if len(new_set) <= FULL_LIST_LIMIT:
        out["entries"] = entries
    return out


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _builtins(value: Any) -> Any:
    """``value`` as plain JSON types (Decimal -> str, tuples -> lists, ...), as it is written: strings
    and dicts JSON cannot carry are tagged (module docstring)."""
    try:
        return msgspec.json.decode(_encode(value))
    except (TypeError, msgspec.EncodeError) as err:
        raise AuditError(f"audit values must be JSON-able: {err}") from None


# ---------------------------------------------------------------- reading


def _check_entry(raw: bytes) -> tuple[Optional[dict[str, Any]], str]:
    """Decode one line; returns (fields, "") or (None, what is wrong)."""
    try:
        fields = msgspec.json.decode(raw)
    except msgspec.DecodeError as err:
        return None, f"not valid JSON ({err})"
    if not isinstance(fields, dict):
        return None, "not a JSON object"
    missing = [f for f in _FIELDS if f not in fields]
    if missing:
        return None, f"missing field(s): {', '.join(missing)}"
    extra = sorted(set(fields) - set(_FIELDS))
    if extra:
        return None, f"unknown field(s): {', '.join(extra)}"
    if type(fields["seq"]) is not int or not isinstance(fields["hash"], str) or not isinstance(fields["prev"], str):
        return None, "seq must be an integer and prev, hash strings"
    if fields["hash"] != entry_hash(fields):
        return None, "hash does not match the line's content (the line was edited)"
    return fields, ""


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(1-based number, line without newline, whether it ended with a newline) for each line."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            complete = line.endswith(b"\n")
            yield number, line.rstrip(b"\n"), complete


def verify(path: Union[str, Path], *, expect_head: Union[Head, str, None] = None) -> VerifyReport:
    """Walk the chain of ``path``; the report names the first bad line and what is wrong with it.

    Checked for each line: valid JSON with exactly the entry's fields, its
    hash matching its content, ``seq`` one more than the line before's and
    ``prev`` equal to that line's hash.  ``expect_head`` (a ``Head`` or
    ``"SEQ:HASH"`` recorded earlier) must still be in the log with that hash:
    this catches a cut-off tail or a rewritten file (see the module docstring).
    A log that does not exist is an error; an empty log is a valid chain with
    head ``0:<GENESIS>``.
    """
    p = Path(path)
    name = str(path)
    head = Head(0, GENESIS)
    if isinstance(expect_head, str):
        expect_head = Head.parse(expect_head)

    def bad(line: int, error: str, entries: int) -> VerifyReport:
        return VerifyReport(path=name, ok=False, entries=entries, head=head, line=line, error=error)

    if not p.is_file():
        return bad(0, "no such log file", 0)
    count = 0
    seen_expected = False
    last_line = 0
    for number, raw, complete in _lines(p):
        last_line = number
        if not complete:
            return bad(number, "incomplete last line (no newline at the end: a torn write or a cut)", count)
        if not raw.strip():
            return bad(number, "empty line", count)
        fields, error = _check_entry(raw)
        if fields is None:
            return bad(number, error, count)
        if fields["seq"] != head.seq + 1:
            return bad(
                number,
                f"seq {fields['seq']} where {head.seq + 1} was expected (a line removed, inserted or moved here)",
                count,
            )
        if fields["prev"] != head.hash:
            return bad(
                number,
                "prev does not match the previous line's hash (a line removed, inserted or moved here)",
                count,
            )
        head = Head(fields["seq"], fields["hash"])
        count += 1
        if expect_head is not None and head.seq == expect_head.seq:
            if head.hash != expect_head.hash:
                return bad(number, f"seq {head.seq} has hash {head.hash}, not the expected {expect_head.hash}", count)
            seen_expected = True
    if expect_head is not None and not seen_expected and expect_head.seq != 0:
        return bad(
            last_line + 1,
            f"the log ends at seq {head.seq} but the expected head is seq {expect_head.seq} (the tail was cut off)",
            count,
        )
    if expect_head is not None and expect_head.seq == 0 and expect_head.hash != GENESIS:
        return bad(1, "the expected head seq 0 must have the genesis hash", count)
    return VerifyReport(path=name, ok=True, entries=count, head=head)


def read_entries(path: Union[str, Path]) -> list[AuditEntry]:
    """The entries of a log whose chain is intact; raises ``AuditError`` naming the first bad line."""
    report = verify(path)
    if not report.ok:
        raise AuditError(str(report))
    return [AuditEntry(**decode_line(raw)) for _n, raw, _c in _lines(Path(path))]


def replay_settings(path: Union[str, Path]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The latest parameter values and list contents recorded in the log: ``(params, lists)``.

    Both are in the form ``load(params=..., lists=...)`` takes.  A list appears
    only when its latest recorded change holds its full contents (at most
    ``FULL_LIST_LIMIT`` entries); a bigger one is left out - its contents are in
    the snapshot, and its digest in the log.  A log with a broken chain raises
    ``AuditError``: settings are never taken from a tampered log.
    To restart with both: ``params, lists = replay_settings(log)`` then
    ``ruledsl.load(files, state=snapshot, params=params, lists=lists, audit_log=log)``;
    explicit values win over the snapshot's, so changes logged after the
    snapshot was taken are kept (docs/audit.md).
    """
    params: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}

    def take_list(name: str, summary: Any) -> None:
        if isinstance(summary, dict) and "entries" in summary:
            lists[name] = summary["entries"]
        else:
            lists.pop(name, None)  # its latest contents are not in the log: an older record would be wrong

    for entry in read_entries(path):
        new = entry.new
        if entry.action == "set_param":
            params[entry.target] = new
        elif entry.action == "update_list":
            take_list(entry.target, new)
        elif entry.action in ("reload", "restore") and isinstance(new, dict):
            params.update(new.get("params") or {})
            for name, summary in (new.get("lists") or {}).items():
                take_list(name, summary)
    return params, lists


def _read_tail(fd: int, size: int) -> tuple[Head, str]:
    """The head of the log open as ``fd`` (``size`` bytes) from its last line; (head, error)."""
    if size == 0:
        return Head(0, GENESIS), ""
    block = min(size, _TAIL_BLOCK)
    while True:
        data = os.pread(fd, block, size - block)
        if not data.endswith(b"\n"):
            return Head(0, GENESIS), "its last line is incomplete (no newline at the end: a torn write or a cut)"
        start = data.rfind(b"\n", 0, len(data) - 1)
        if start >= 0 or block == size:
            break
        block = min(size, block * 4)
    fields, error = _check_entry(data[start + 1 : -1])
    if fields is None:
        return Head(0, GENESIS), f"its last line is damaged: {error}"
    return Head(fields["seq"], fields["hash"]), ""


# ---------------------------------------------------------------- writing


class AuditLog:
    """An open audit log, appended to by the engine (``ruledsl.load(..., audit_log=...)``).

    ``path`` is created if missing; an existing log continues its chain from
    its last line (``AuditError`` if that line is damaged).  ``default_by`` is
    recorded when a change names nobody (default ``"unknown"``).  ``now``
    returns the ``at`` text (tests fix it); by default UTC wall-clock time with
    milliseconds, ``2026-12-06T18:58:30.123Z``.
    """

    def __init__(
        self,
        path: Union[str, Path],
        *,
        default_by: str = DEFAULT_BY,
        now: Callable[[], str] = _now_iso,
    ) -> None:
        self.path = Path(path)
        self.default_by = _check_by(default_by)
        self._now = now
        self._lock = threading.RLock()
        created = not self.path.exists()
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as err:
            raise AuditError(f"{self.path}: cannot open the audit log: {err.strerror}") from None
        if created:
            _fsync_dir(self.path.parent)
        with self._file_lock():
            self._size = os.fstat(self._fd).st_size
            self._head, error = _read_tail(self._fd, self._size)
        if error:
            os.close(self._fd)
            self._fd = -1
            raise AuditError(
                f"{self.path}: {error}; refusing to continue the chain (run `ruledsl audit verify` "
                "and repair or archive the file)"
            )

    @property
    def lock(self) -> threading.RLock:
        """Held while a change is applied and recorded, so the lines are in the order of the changes."""
        return self._lock

    def head(self) -> Head:
        """``seq`` and ``hash`` of the file's last line (``0:<GENESIS>`` for an empty log), whoever wrote it."""
        with self._lock, self._file_lock():
            self._sync()
            return self._head

    def _sync(self) -> int:
        # under both locks: if another writer extended the chain, continue from its last line
        size = os.fstat(self._fd).st_size
        if size != self._size:
            head, error = _read_tail(self._fd, size)
            if error:
                raise AuditError(f"{self.path}: {error}; refusing to continue the chain")
            self._head, self._size = head, size
        return size

    def append(
        self,
        action: str,
        target: str,
        old: Any,
        new: Any,
        *,
        by: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> AuditEntry:
        """Append one entry, fsync'ed before returning; returns it (with its ``seq`` and ``hash``).

        ``old``/``new`` must be JSON-able.  Raises ``AuditError`` (nothing is
        written) for a bad argument or when the file cannot be written; a
        partly written line is cut off again.
        """
        if not isinstance(action, str) or not _ACTION_SHAPE.match(action):
            raise AuditError(f"action must be a lower-case name such as 'set_param' or 'hold.confirm', not {action!r}")
        if not isinstance(target, str):
            raise AuditError(f"target must be a string, not {type(target).__name__}")
        if reason is not None and not isinstance(reason, str):
            raise AuditError(f"reason must be a string, not {type(reason).__name__}")
        who = self.default_by if by is None else _check_by(by)
        old, new = _builtins(old), _builtins(new)
        target, who, reason = _builtins(target), _builtins(who), _builtins(reason)  # tagged if UTF-8 cannot encode
        with self._lock, self._file_lock():
            size = self._sync()
            fields = {
                "seq": self._head.seq + 1,
                "at": self._now(),
                "by": who,
                "action": action,
                "target": target,
                "old": old,
                "new": new,
                "reason": reason,
                "prev": self._head.hash,
            }
            entry = AuditEntry(**fields, hash=entry_hash(fields))
            line = msgspec.json.encode(entry) + b"\n"
            if any(isinstance(fields[k], dict) for k in ("by", "target", "reason")):
                entry = AuditEntry(**decode_line(line))  # the caller gets the strings it gave, not their tags
            try:
                written = os.write(self._fd, line)
                if written != len(line):
                    raise OSError(0, f"short write ({written} of {len(line)} bytes)")
                os.fsync(self._fd)
            except OSError as err:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)  # no torn line left behind
                raise AuditError(f"{self.path}: cannot append to the audit log: {err.strerror or err}") from None
            self._size = size + len(line)
            self._head = Head(entry.seq, entry.hash)
            return entry

    def close(self) -> None:
        """Close the file; later appends raise."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, head={self._head})"

    def _file_lock(self) -> _FileLock:
        if self._fd < 0:
            raise AuditError(f"{self.path}: the audit log is closed")
        return _FileLock(self._fd)


class _FileLock:
    """An exclusive ``flock`` for the duration of a ``with`` block (other processes writing the same log wait)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)


def _check_by(by: Any) -> str:
    if not isinstance(by, str) or not by.strip():
        raise AuditError(f"by must name who makes the change (a non-empty string), not {by!r}")
    return by


def check_who(by: Any, reason: Any) -> None:
    """Raise ``AuditError`` for a ``by``/``reason`` that ``append`` would refuse (check before changing anything)."""
    if by is not None:
        _check_by(by)
    if reason is not None and not isinstance(reason, str):
        raise AuditError(f"reason must be a string, not {type(reason).__name__}")


def file_digest(path: Union[str, Path]) -> str:
    """``sha256:<hex>`` of a file's bytes (a snapshot's, in a ``restore`` entry)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    # a new file's directory entry must be durable too, or a crash can lose the whole log
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_log(audit_log: Union[AuditLog, str, Path, None]) -> Optional[AuditLog]:
    """``load``'s ``audit_log=``: an ``AuditLog`` as is, a path opened, ``None`` for none."""
    if audit_log is None or isinstance(audit_log, AuditLog):
        return audit_log
    if isinstance(audit_log, (str, os.PathLike)):
        return AuditLog(audit_log)
    raise TypeError(f"audit_log must be a path or an AuditLog, not {type(audit_log).__name__}")
