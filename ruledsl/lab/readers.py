"""Reading recorded events in bounded batches: JSON Lines (plain or gzip) with msgspec, Parquet with pyarrow.

``iter_chunks(paths)`` yields ``Chunk``s of at most ``batch_rows`` events,
file after file, so memory stays bounded whatever the files' size.  A
``Chunk`` knows how to put itself through an engine's fastest batch path
(``Chunk.evaluate``): a JSON Lines chunk is a list of dicts for
``Engine.evaluate_many``, a Parquet chunk a ``RecordBatch`` for
``Engine.evaluate_arrow`` (string columns read dictionary-encoded, so each
distinct key is decoded once per batch).

The format is told by the file's first bytes, not its name: ``PAR1`` is
Parquet, the gzip magic is gzip'd JSON Lines, anything else JSON Lines.  A
malformed line (not JSON, not an object) is counted in ``ReadStats`` with
its line number and skipped, as ``ruledsl run`` does; blank lines are
ignored.  A missing, unreadable or corrupt file raises ``LabError``.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

import msgspec

from ruledsl.kernels.values import EventError
from ruledsl.lab import LabError

BATCH_ROWS = 16_384
"""Events per chunk: large enough that per-batch costs vanish, small enough to keep memory flat."""
MAX_REPORTED = 20
"""Malformed lines kept (with their messages) to report; the rest are counted."""

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"


class ReadStats:
    """What the readers saw besides events: lines, malformed lines, bytes read."""

    def __init__(self) -> None:
        self.lines = 0
        self.malformed = 0
        self.malformed_lines: list[tuple[str, int, str]] = []  # (file, line, message)
        self.bytes_total = 0
        self.bytes_done = 0

    def bad_line(self, source: str, line: int, message: str) -> None:
        """Count a malformed line; the first ``MAX_REPORTED`` are kept with their message."""
        self.malformed += 1
        if len(self.malformed_lines) < MAX_REPORTED:
            self.malformed_lines.append((source, line, message))


class Chunk:
    """A batch of events from one file: dicts (JSON Lines) or an Arrow ``RecordBatch`` (Parquet).

    ``lines[i]`` is event ``i``'s line number in the file (JSON Lines) or its
    row number from 1 (Parquet); ``file`` is the file's index in the list
    read, so ``(file, lines[i])`` names one event of the stream even when a
    file is given twice (``lab/explain_pass.py`` finds samples again by it).
    """

    __slots__ = ("batch", "events", "file", "lines", "source")

    def __init__(
        self, source: str, lines: Sequence[int], events: Optional[list[dict]] = None, batch: Any = None, file: int = 0
    ) -> None:
        self.source = source
        self.lines = lines
        self.events = events
        self.batch = batch
        self.file = file

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def is_arrow(self) -> bool:
        """True for a Parquet chunk (an Arrow record batch)."""
        return self.batch is not None

    def evaluate(self, engine: Any) -> list[Any]:
        """The engine's decisions for every event, in order, an ``EventError`` in a refused event's place."""
        if self.batch is not None:
            return engine.evaluate_arrow(self.batch, errors="return").decisions()
        return engine.evaluate_many(self.events, errors="return")

    def column(self, name: str, utc: bool = False) -> list:
        """Every event's value of field ``name`` (None where absent), as a dict event would carry it."""
        if self.batch is not None:
            from ruledsl.runtime.arrow_decode import python_column

            names = self.batch.schema.names
            if name not in names:
                return [None] * len(self.lines)
            return python_column(self.batch.column(names.index(name)), utc)
        assert self.events is not None
        return [ev.get(name) for ev in self.events]

    def has_field(self, name: str) -> bool:
        """Whether any event of the chunk can carry ``name`` (a Parquet column exists; for dicts, always)."""
        return self.batch is None or name in self.batch.schema.names

    def row(self, i: int) -> dict:
        """Event ``i`` as a dict (for samples and cases: off the hot path)."""
        if self.batch is not None:
            row = self.batch.slice(i, 1).to_pylist()[0]
            return {k: v for k, v in row.items() if v is not None}
        assert self.events is not None
        return self.events[i]

    def only_types(self, known: frozenset, skipped: Counter) -> Chunk:
        """This chunk without the events whose ``type`` is a string not in ``known`` (counted in ``skipped``)."""
        types = self.column("type")
        keep = [i for i, t in enumerate(types) if not (type(t) is str and t not in known)]
        if len(keep) == len(types):
            return self
        for t in types:
            if type(t) is str and t not in known:
                skipped[t] += 1
        lines = [self.lines[i] for i in keep]
        if self.batch is not None:
            import pyarrow as pa

            return Chunk(self.source, lines, batch=self.batch.take(pa.array(keep, pa.int64())), file=self.file)
        assert self.events is not None
        events = self.events
        return Chunk(self.source, lines, events=[events[i] for i in keep], file=self.file)

    def slice(self, start: int, stop: int) -> Chunk:
        """Events ``start`` to ``stop - 1`` as a chunk of their own (zero-copy for Arrow)."""
        lines = self.lines[start:stop]
        if self.batch is not None:
            return Chunk(self.source, lines, batch=self.batch.slice(start, stop - start), file=self.file)
        assert self.events is not None
        return Chunk(self.source, lines, events=self.events[start:stop], file=self.file)


def sniff(path: Path) -> str:
    """``"parquet"``, ``"gzip"`` (gzip'd JSON Lines) or ``"jsonl"``, from the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == _PARQUET_MAGIC:
        return "parquet"
    if head[:2] == _GZIP_MAGIC:
        return "gzip"
    return "jsonl"


def check_inputs(paths: Iterable[Path], what: str = "events file") -> list[Path]:
    """The paths as a list, after checking each is an existing, readable file (``LabError`` naming it if not)."""
    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise LabError(f"{what} not found: {p}")
        if p.is_dir():
            raise LabError(f"{what} must be a file, not a directory: {p}")
        if not os.access(p, os.R_OK):
            raise LabError(f"{what} is not readable: {p}")
        out.append(p)
    if not out:
        raise LabError(f"no {what} given")
    return out


def iter_chunks(
    paths: Sequence[Path], stats: ReadStats, *, batch_rows: int = BATCH_ROWS, shown: Optional[Sequence[str]] = None
) -> Iterator[Chunk]:
    """The events of every file, in order, in chunks of at most ``batch_rows``; counts in ``stats``.

    ``shown`` gives the names to report for the files (default: the paths).
    """
    paths = check_inputs(paths)
    names = list(shown) if shown is not None else [str(p) for p in paths]
    sizes = [p.stat().st_size for p in paths]
    stats.bytes_total = sum(sizes)
    base = 0
    for index, (path, name, size) in enumerate(zip(paths, names, sizes, strict=True)):
        try:
            kind = sniff(path)
        except OSError as err:
            raise LabError(f"cannot read {name}: {err.strerror or err}") from None
        if kind == "parquet":
            chunks = _parquet_chunks(path, name, stats, batch_rows, base, size)
        else:
            chunks = _jsonl_chunks(path, name, stats, batch_rows, base, kind == "gzip")
        try:
            for chunk in chunks:
                chunk.file = index
                yield chunk
        finally:
            chunks.close()  # a reader stopped early (Ctrl-C, the explanations' pass) closes its file now
        base += size
        stats.bytes_done = base


def _jsonl_chunks(
    path: Path, name: str, stats: ReadStats, batch_rows: int, base: int, gzipped: bool
) -> Generator[Chunk, None, None]:
    decode = msgspec.json.Decoder().decode
    raw = open(path, "rb")  # noqa: SIM115 -- closed in the finally below
    try:
        f: Any = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        events: list[dict] = []
        lines: list[int] = []
        lineno = 0
        counted = 0  # lines of this file already added to stats.lines
        try:
            for lineno, text in enumerate(f, 1):
                try:
                    ev = decode(text)
                except msgspec.DecodeError as err:
                    if text.strip():
                        stats.bad_line(name, lineno, f"not valid JSON: {err}")
                    continue
                if type(ev) is not dict:
                    stats.bad_line(name, lineno, f"not a JSON object but {_json_kind(ev)}")
                    continue
                events.append(ev)
                lines.append(lineno)
                if len(events) >= batch_rows:
                    stats.bytes_done = base + raw.tell()
                    stats.lines += lineno - counted
                    counted = lineno
                    yield Chunk(name, lines, events=events)
                    events, lines = [], []
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            raise LabError(f"cannot read {name} (line {lineno + 1}): {getattr(err, 'strerror', None) or err}") from None
        stats.bytes_done = base + raw.tell()
        stats.lines += lineno - counted
        if events:
            yield Chunk(name, lines, events=events)
    finally:
        raw.close()


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _parquet_chunks(
    path: Path, name: str, stats: ReadStats, batch_rows: int, base: int, size: int
) -> Generator[Chunk, None, None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        pf = pq.ParquetFile(path, read_dictionary=strings)
    except (pa.ArrowException, OSError) as err:
        raise LabError(f"{name}: not a readable Parquet file ({err})") from None
    with pf:
        total = max(pf.metadata.num_rows, 1)
        row0 = 0
        batches = pf.iter_batches(batch_size=batch_rows)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as err:
                raise LabError(f"{name}: cannot read row {row0 + 1} on ({err})") from None
            n = batch.num_rows
            if not n:
                continue
            stats.lines += n
            stats.bytes_done = base + size * min(row0 + n, total) // total
            yield Chunk(name, range(row0 + 1, row0 + n + 1), batch=batch)
            row0 += n


def events_of(chunk: Chunk, decisions: list[Any]) -> Iterator[tuple[int, Any]]:
    """``(i, decision)`` for every event of the chunk the engine accepted."""
    for i, d in enumerate(decisions):
        if not isinstance(d, EventError):
            yield i, d
