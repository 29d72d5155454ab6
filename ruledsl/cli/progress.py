"""Progress bars and Ctrl-C for ``run``, ``lint`` and ``fmt``; ``bar`` and ``bar_wanted`` also serve ``backtest`` and ``cases``.

A bar is drawn on standard error only when it is a terminal (not in a pipe,
a file or CI: ``CI`` set, ``TERM=dumb``), and only for work worth watching:
two files or more for ``lint``/``fmt``, an events file for ``run``.  It is
transient: nothing of it stays in the output.

The first Ctrl-C stops the work between two items (files, event lines or
batches), so what was done is complete and consistent; the command then
prints its usual summary of that part, says on stderr that it is partial,
and exits with 130.  A second Ctrl-C stops at once (``KeyboardInterrupt``).

Hooks: ``for f in FileProgress(files, "checking"):`` (on interruption the
list is cut to the files done, so a summary counting ``len(files)`` counts
what was really done), then ``exit_if_interrupted()`` before the command
exits; ``StreamProgress(...).wrap(lines, size)`` for a stream of events.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer

T = TypeVar("T")

EXIT_INTERRUPTED = 130
MIN_FILES = 2
"""``lint``/``fmt``: fewer files than this get no bar (one file is done before a bar would help)."""

_last: list[Any] = []  # the most recent tracker of this process (one command per process; tests reset it)
_catch = [True]  # False inside ctrl_c_passes_through()


def bar_wanted() -> bool:
    """True when a progress bar may be drawn: stderr is a terminal, not CI, not a dumb terminal."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class StopFlag:
    """The first Ctrl-C sets ``hit``; a second one raises ``KeyboardInterrupt``.  Main thread only."""

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None

    def __enter__(self) -> StopFlag:
        if _catch[0] and threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handle)
            except ValueError:  # not the main interpreter
                self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


@contextmanager
def ctrl_c_passes_through() -> Iterator[None]:
    """Within: Ctrl-C is a plain ``KeyboardInterrupt`` (``lint --watch``: it ends the watch, not one pass)."""
    _catch[0] = False
    try:
        yield
    finally:
        _catch[0] = True


@contextmanager
def bar(label: str, total: Optional[float], *, percent: Optional[bool] = None) -> Iterator[Callable[..., None]]:
    """A transient rich bar on stderr; yields ``update(completed, detail, total=None)``.

    ``percent`` shows the percentage column (default: when ``total`` is known); a caller
    that learns the total as it goes (``ruledsl backtest``: bytes of the files) passes it to ``update``.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%" if (bool(total) if percent is None else percent) else ""),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=total, detail="")

        def update(completed: float, detail: str, total: Optional[float] = None) -> None:
            if total is not None:
                progress.update(task, total=total)
            progress.update(task, completed=completed, detail=detail)

        yield update


class FileProgress:
    """Iterate files for ``lint``/``fmt`` with a bar on a terminal; Ctrl-C stops after the current file."""

    def __init__(self, files: list[Path], label: str) -> None:
        self.files = files
        self.label = label
        self.total = len(files)
        self.done = 0
        self.interrupted = False
        _last[:] = [self]

    def __iter__(self) -> Iterator[Path]:
        with StopFlag() as stop:
            if bar_wanted() and self.total >= MIN_FILES:
                with bar(self.label, self.total) as update:
                    yield from self._each(stop, update)
            else:
                yield from self._each(stop, None)

    def _each(self, stop: StopFlag, update: Optional[Callable[[float, str], None]]) -> Iterator[Path]:
        for f in list(self.files):
            if stop.hit:
                break
            if update is not None:
                update(self.done, f"{self.done}/{self.total} {f.name}")
            yield f
            self.done += 1
        if stop.hit and self.done < self.total:
            self.interrupted = True
            del self.files[self.done :]  # the caller's summary counts the files really done

    def note(self) -> str:
        """The line saying the summary is partial."""
        return f"interrupted: {self.label} stopped after {self.done} of {self.total} files; the summary is partial"


class StreamProgress:
    """Items of an events stream (lines, record batches) with a bar on a terminal; Ctrl-C stops between items."""

    def __init__(self, label: str, total: Optional[float], unit: str) -> None:
        self.label = label
        self.total = total or None
        self.unit = unit
        self.items = 0
        self.interrupted = False
        _last[:] = [self]

    def wrap(self, items: Iterable[T], size: Callable[[T], float], every: int = 4096) -> Iterator[T]:
        """Yield ``items``; ``size(item)`` advances the bar (bytes, rows), redrawn every ``every`` items."""
        with StopFlag() as stop:
            if bar_wanted():
                with bar(self.label, self.total) as update:
                    yield from self._each(items, size, stop, update, every)
            else:
                yield from self._each(items, size, stop, None, every)

    def _each(
        self,
        items: Iterable[T],
        size: Callable[[T], float],
        stop: StopFlag,
        update: Optional[Callable[[float, str], None]],
        every: int,
    ) -> Iterator[T]:
        done = 0.0
        for item in items:
            if stop.hit:
                self.interrupted = True
                return
            yield item
            self.items += 1
            if update is not None:
                done += size(item)
                if self.items % every == 0:
                    update(done, f"{self.items:,} {self.unit}")
        # Ctrl-C while the last item was processed: the work is complete, not partial

    def note(self) -> str:
        """The line saying the summary is partial."""
        return f"interrupted: stopped after {self.items:,} {self.unit}; the summary is partial"


def interrupted() -> Optional[Any]:
    """The most recent tracker if it was interrupted, else None."""
    last = _last[0] if _last else None
    return last if last is not None and last.interrupted else None


def exit_if_interrupted() -> None:
    """After the partial summary: say it is partial (stderr) and exit 130, when the last tracker was stopped."""
    last = interrupted()
    _last.clear()
    if last is not None:
        typer.echo(last.note(), err=True)
        raise typer.Exit(EXIT_INTERRUPTED)


def track_events(path: Path, items: Iterable[Any], *, parquet: bool) -> Iterator[Any]:
    """``run``'s events with a bar: by bytes of a plain JSON Lines file, by rows of a Parquet file.

    A gzip file or stdin has no known total: the bar then only counts.
    """
    if parquet:
        try:
            import pyarrow.parquet as pq

            rows: Optional[int] = pq.read_metadata(path).num_rows
        except Exception:  # an unreadable file: the reader reports it
            rows = None
        return StreamProgress("running", rows, "rows").wrap(items, lambda batch: batch.num_rows, every=1)
    total: Optional[int] = None
    if str(path) != "-" and path.suffix != ".gz":
        try:
            total = path.stat().st_size
        except OSError:
            total = None
    return StreamProgress("running", total, "lines").wrap(items, len)
