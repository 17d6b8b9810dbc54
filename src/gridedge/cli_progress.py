"""Progress bars for the command line's long work: file imports, plans, benchmarks.

A bar (size known: count, rate, ETA) or a spinner (size unknown: count, rate, elapsed time) is drawn
with `rich` on **stderr only**, and only when stderr is a terminal, so stdout (tables, `--json`
lines, a benchmark's figures) is never touched and pipes stay clean. It is off with the command's
`--no-progress` flag or with the environment variable `GRIDEDGE_NO_PROGRESS` set to anything but
empty or `0` (scripts, CI, the benchmarks). Decided without importing `rich`: a command whose
bar is off never imports it.

The bar is cheap for hot loops: `advance()` adds to a counter and hands the figures to `rich` at
most every `UPDATE_EVERY_S`; `rich` redraws `REFRESH_PER_SECOND` times a second in its own thread.
A disabled bar is a `NullProgress` whose methods do nothing.

While a bar is shown, `print(..., file=sys.stderr)` lines and log records appear above it; with
`proxy_stdout=True` (the benchmarks) so do stdout lines when stdout is the same terminal. Those
lines are written through the bar's console verbatim (no markup, no re-wrapping). When stdout is
not a terminal it is never redirected.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

ENV_VAR = "GRIDEDGE_NO_PROGRESS"
"""Set (to anything but "" or "0") to turn every progress bar off."""

REFRESH_PER_SECOND = 10
UPDATE_EVERY_S = 0.1


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """The `--no-progress` flag, the same in every command that shows progress."""
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help=f"no progress bar on stderr (also: {ENV_VAR}=1); shown only when stderr is a terminal",
    )


def disabled_by_env(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return value.strip() not in ("", "0")


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # closed
        return False


def progress_wanted(
    no_progress: bool = False,
    *,
    stdout_streams: bool = False,
    stderr: Any = None,
    stdout: Any = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Whether to show progress: not turned off, stderr a terminal (TERM not dumb), and, for a
    command that streams its results to stdout while working (`stdout_streams`), stdout not a
    terminal: a table scrolling past is its own progress, and a bar drawn between its lines would
    garble both."""
    env = os.environ if environ is None else environ
    if no_progress or disabled_by_env(env) or env.get("TERM") == "dumb":
        return False
    if not _isatty(sys.stderr if stderr is None else stderr):
        return False
    return not (stdout_streams and _isatty(sys.stdout if stdout is None else stdout))


class NullProgress:
    """Progress turned off: every method does nothing (and costs next to nothing)."""

    enabled = False
    items = 0

    def advance(self, n: int | float = 1) -> None:
        pass

    def update(self, completed: int | float | None = None, *, items: int | None = None) -> None:
        pass

    def describe(self, description: str) -> None:
        pass

    def set_total(self, total: int | float | None) -> None:
        pass

    def refresh(self) -> None:
        pass


class LiveProgress(NullProgress):
    """A `rich` progress bar (or spinner) on a terminal console; use through `progress()`."""

    enabled = True

    def __init__(self, rich_progress: RichProgress, task: TaskID, total: int | float | None) -> None:
        self._progress = rich_progress
        self._task = task
        self.total = total
        self.completed: int | float = 0
        self.items = 0
        self._due = 0.0

    def advance(self, n: int | float = 1) -> None:
        self.completed += n
        now = time.monotonic()
        if now >= self._due:
            self._due = now + UPDATE_EVERY_S
            self._push()

    def update(self, completed: int | float | None = None, *, items: int | None = None) -> None:
        if completed is not None:
            self.completed = completed
        if items is not None:
            self.items = items
        now = time.monotonic()
        if now >= self._due:
            self._due = now + UPDATE_EVERY_S
            self._push()

    def describe(self, description: str) -> None:
        """A new phase of the work: the bar's text."""
        self._progress.update(self._task, description=description)
        self._push()

    def set_total(self, total: int | float | None) -> None:
        """The size of the work once it is known (None: back to a spinner's count)."""
        self.total = total
        self._progress.update(self._task, total=total)
        self._push()

    def refresh(self) -> None:
        """Hand the latest figures to the bar now (at the end of a phase)."""
        self._push()

    def _push(self) -> None:
        self._progress.update(self._task, completed=self.completed, items=self.items)


class _LineProxy(io.TextIOBase):
    """A text stream that prints complete lines above the live bar, verbatim; the rest at close."""

    def __init__(self, console: Console, file: TextIO) -> None:
        self._console = console
        self._file = file
        self._pending = ""

    def write(self, text: str) -> int:
        data = self._pending + text
        head, sep, self._pending = data.rpartition("\n")
        if sep:
            self._print(head)
        return len(text)

    def _print(self, text: str) -> None:
        from rich.text import Text

        self._console.print(Text(text, end="\n"), soft_wrap=True, highlight=False, markup=False, emoji=False)

    def flush(self) -> None:
        """Lines are printed as they complete; a partial line waits for its end (or `drain`)."""

    def drain(self) -> None:
        if self._pending:
            self._print(self._pending)
            self._pending = ""

    @property
    def buffer(self) -> _BinaryLineProxy:
        """For code that writes bytes to `sys.stdout.buffer` (UTF-8, as orjson writes)."""
        return _BinaryLineProxy(self)

    def isatty(self) -> bool:
        return _isatty(self._file)

    def fileno(self) -> int:
        return self._file.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._file, "encoding", "utf-8") or "utf-8"

    def writable(self) -> bool:
        return True


class _BinaryLineProxy:
    def __init__(self, text: _LineProxy) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        self._text.write(bytes(data).decode("utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        pass


def _same_terminal(a: Any, b: Any) -> bool:
    """Whether two streams are the same terminal (stdout and stderr on one screen)."""
    try:
        sa, sb = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return _isatty(a) and _isatty(b)  # test doubles: no descriptor
    return (sa.st_dev, sa.st_ino, sa.st_rdev) == (sb.st_dev, sb.st_ino, sb.st_rdev)


def _columns(total: int | float | None, unit: str, items_unit: str | None) -> list[Any]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        ProgressColumn,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class CountColumn(ProgressColumn):
        """`12,345 telegrams` (or `12,345/86,400 days` with a total)."""

        def render(self, task: Any) -> Text:
            if task.total is None and not task.completed:
                return Text("")  # a spinner over phases: nothing counted
            done = f"{int(task.completed):,}"
            if task.total is not None:
                done += f"/{int(task.total):,}"
            return Text(f"{done} {unit}".rstrip(), style="progress.download")

    class RateColumn(ProgressColumn):
        """`1,234 telegrams/s` from rich's own speed estimate."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("")
            figure = f"{speed:,.0f}" if speed >= 10 else f"{speed:.2f}"
            return Text(f"{figure} {unit or 'it'}/s", style="progress.data.speed")

    class ItemsColumn(ProgressColumn):
        """A second count beside a byte bar: `12,340 telegrams`."""

        def render(self, task: Any) -> Text:
            n = task.fields.get("items", 0)
            return Text(f"{n:,} {items_unit}", style="progress.download")

    keep = Column(no_wrap=True)
    columns: list[Any] = [
        SpinnerColumn(),
        TextColumn(
            "{task.description}",
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=32 if total is not None else 60),
        ),
    ]
    if total is not None:
        columns += [BarColumn(bar_width=20), TaskProgressColumn()]
    if items_unit:
        columns.append(ItemsColumn(table_column=keep))
    elif unit == "B":
        columns.append(DownloadColumn(table_column=keep))
    else:
        columns.append(CountColumn(table_column=keep))
    columns.append(TransferSpeedColumn() if unit == "B" else RateColumn(table_column=keep))
    columns.append(TimeRemainingColumn() if total is not None else TimeElapsedColumn())
    return columns


@contextmanager
def progress(
    description: str,
    *,
    total: int | float | None = None,
    unit: str = "",
    items_unit: str | None = None,
    enabled: bool = True,
    console: Console | None = None,
    proxy_stdout: bool = False,
) -> Iterator[NullProgress]:
    """A bar for the work inside the `with` block; a `NullProgress` when `enabled` is False or the
    console is not a terminal.

    `total`: the size of the work (None: a spinner); `unit`: "B" for bytes (sizes and transfer
    speed), otherwise the word counted (`telegrams`, `days`); `items_unit`: a second count shown
    beside it (`bar.update(items=...)`). `console`: where to draw (default: stderr; tests pass a
    forced terminal). `proxy_stdout`: while the bar is shown and stdout is the same terminal,
    stdout's lines go above the bar instead of through it (for commands that print a few lines
    while working; a stdout that is not a terminal is left alone). The bar disappears at the end.
    """
    if not enabled:
        yield NullProgress()
        return
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    if console is None:
        console = Console(file=sys.stderr, stderr=True)
    if not console.is_terminal or console.is_dumb_terminal:
        yield NullProgress()
        return
    rich_progress = RichProgress(
        *_columns(total, unit, items_unit),
        console=console,
        transient=True,
        refresh_per_second=REFRESH_PER_SECOND,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = rich_progress.add_task(description, total=total, items=0)
    bar = LiveProgress(rich_progress, task, total)
    restore = _redirect(console, proxy_stdout)
    rich_progress.start()
    try:
        yield bar
    finally:
        try:
            bar.refresh()
            rich_progress.stop()
        finally:
            restore()


def _redirect(console: Console, proxy_stdout: bool) -> Any:
    """Route stderr (and a terminal stdout, if asked) through `console` while the bar is shown;
    returns the function that undoes it."""
    import logging

    saved_err, saved_out = sys.stderr, sys.stdout
    err = _LineProxy(console, saved_err)
    sys.stderr = err
    out = None
    if proxy_stdout and _isatty(saved_out) and _same_terminal(saved_out, saved_err):
        out = _LineProxy(console, saved_out)
        sys.stdout = out
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (saved_err, saved_out)
    ]
    streams = [h.stream for h in handlers]
    for h in handlers:
        h.setStream(err if h.stream is saved_err else (out or h.stream))

    def restore() -> None:
        for h, s in zip(handlers, streams, strict=True):
            h.setStream(s)
        sys.stderr = saved_err
        sys.stdout = saved_out
        err.drain()
        if out is not None:
            out.drain()

    return restore
