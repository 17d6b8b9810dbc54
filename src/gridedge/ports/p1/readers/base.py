"""What every P1 reader offers: an async stream of byte chunks, counters, and one error type.

Why chunks and not telegrams: framing belongs to the pipeline (`ports.p1.pipeline`), which is the
same for a serial line, a TCP bridge and a capture file. A reader only moves bytes, and says
with an empty chunk `b""` that the stream was broken (a reconnect), so that the pipeline does
not glue the first half of one telegram to the second half of another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ChunkSource", "ReaderError", "ReaderStats"]


class ReaderError(Exception):
    """The source cannot deliver bytes: a device that cannot be opened, a file that is missing.

    Not a telegram error (those are `P1Error` and never stop a reader); the message says which
    source failed and why, for the user to fix.
    """


@dataclass
class ReaderStats:
    """Bytes and chunks delivered so far."""

    bytes: int = 0
    chunks: int = 0


@runtime_checkable
class ChunkSource(Protocol):
    """A P1 byte source: `chunks()` yields bytes as they arrive; `b""` marks a break."""

    @property
    def name(self) -> str:
        """The source as the user named it (`/dev/ttyUSB0`, `host:port`, a path), for messages."""
        ...

    @property
    def stats(self) -> ReaderStats:
        """Counters of what was read."""
        ...

    def chunks(self) -> AsyncIterator[bytes]: ...


def describe_error(exc: BaseException) -> str:
    """A one-line reason for an I/O failure: the OS message and errno, else the exception text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" (errno {exc.errno})" if exc.errno else "")
    return str(exc) or type(exc).__name__
