"""From a P1 byte stream to events: decoded readings, or errors that say what was lost and where.

Why a pipeline: serial, TCP and file readers all deliver arbitrary chunks; framing, optional
deciphering (Luxembourg Smarty), decoding and counting are the same for all of them and live
here once. A bad telegram (CRC-16 mismatch, DSMR 5.0.2 §6.2; a malformed object; a telegram cut
short; one that never ends) becomes an `ErrorEvent` and the stream goes on: a meter sends the
next telegram a second later (DSMR 5.0.2 §6), so stopping would lose good data.

Decoding one telegram takes about 50 µs, so the pipeline runs on the event loop.

Chunk sources follow one convention: an empty chunk `b""` marks a break in the stream (a TCP
reconnect), where bytes before and after are not contiguous. The pipeline then reports a
telegram left open as truncated instead of gluing it to the next one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from gridedge.model.reading import MeterReading
from gridedge.ports.p1.decoder import decode
from gridedge.ports.p1.errors import (
    P1CrcError,
    P1EncryptionError,
    P1Error,
    P1OverflowError,
    P1SyntaxError,
    P1TruncatedError,
)
from gridedge.ports.p1.framer import TelegramFramer

if TYPE_CHECKING:  # the DLMS modules load `cryptography`: only imported for encrypted streams
    from gridedge.ports.dlms import SecurityKeys, TagPolicy
    from gridedge.ports.p1.encrypted import EncryptedFramer

__all__ = [
    "ErrorEvent",
    "ErrorKind",
    "Event",
    "PipelineStats",
    "TelegramEvent",
    "TelegramPipeline",
    "decode_stream",
    "error_kind",
]

log = logging.getLogger(__name__)


class ErrorKind(StrEnum):
    """What went wrong with a telegram; one counter each in `PipelineStats`."""

    CRC = "crc"
    SYNTAX = "syntax"
    TRUNCATED = "truncated"
    OVERFLOW = "overflow"
    DECRYPTION = "decryption"


def error_kind(error: P1Error) -> ErrorKind:
    """The kind of a P1 error (a plain `P1Error` counts as a syntax error)."""
    if isinstance(error, P1CrcError):
        return ErrorKind.CRC
    if isinstance(error, P1TruncatedError):
        return ErrorKind.TRUNCATED
    if isinstance(error, P1OverflowError):
        return ErrorKind.OVERFLOW
    if isinstance(error, P1EncryptionError):
        return ErrorKind.DECRYPTION
    return ErrorKind.SYNTAX


@dataclass(frozen=True, slots=True)
class TelegramEvent:
    """A decoded telegram: the reading, the telegram bytes as received (deciphered when
    encrypted), and `index`, its 1-based number among the telegrams framed in the stream."""

    reading: MeterReading
    raw: bytes
    index: int


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A telegram (or stretch of stream) that did not give a reading, and where it was.

    `index` is the number of the framed telegram the error concerns (None when the framer lost
    bytes before a telegram could be framed); `stream_offset` is the byte offset in the stream
    where the lost telegram or APDU began, when known; `raw` the telegram bytes when framed.
    """

    error: P1Error
    kind: ErrorKind
    index: int | None = None
    stream_offset: int | None = None
    raw: bytes | None = None

    def describe(self) -> str:
        """One line for a log or a terminal: position, then the error's own explanation."""
        where = []
        if self.index is not None:
            where.append(f"telegram {self.index}")
        if self.stream_offset is not None:
            where.append(f"byte {self.stream_offset}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.kind.value} error: {self.error.message}"


Event = TelegramEvent | ErrorEvent


@dataclass
class PipelineStats:
    """Counters of one stream. `telegrams` counts telegrams (or APDUs) framed, good or bad."""

    telegrams: int = 0
    decoded: int = 0
    crc_errors: int = 0
    syntax_errors: int = 0
    truncated: int = 0
    overflows: int = 0
    decryption_errors: int = 0
    skipped_bytes: int = 0

    @property
    def errors(self) -> int:
        """All errors together."""
        return sum(self.by_kind().values())

    def by_kind(self) -> dict[ErrorKind, int]:
        """Error counts keyed by kind, in a stable order."""
        return {
            ErrorKind.CRC: self.crc_errors,
            ErrorKind.SYNTAX: self.syntax_errors,
            ErrorKind.TRUNCATED: self.truncated,
            ErrorKind.OVERFLOW: self.overflows,
            ErrorKind.DECRYPTION: self.decryption_errors,
        }

    def count(self, kind: ErrorKind) -> None:
        """Add one error of `kind`."""
        if kind is ErrorKind.CRC:
            self.crc_errors += 1
        elif kind is ErrorKind.SYNTAX:
            self.syntax_errors += 1
        elif kind is ErrorKind.TRUNCATED:
            self.truncated += 1
        elif kind is ErrorKind.OVERFLOW:
            self.overflows += 1
        else:
            self.decryption_errors += 1

    def summary(self) -> str:
        """`566 telegrams, 566 decoded, 1 error (truncated 1)` style text."""
        errors = self.errors
        text = f"{self.telegrams} telegram{'s' if self.telegrams != 1 else ''}, {self.decoded} decoded"
        if errors:
            parts = ", ".join(f"{k.value} {n}" for k, n in self.by_kind().items() if n)
            text += f", {errors} error{'s' if errors != 1 else ''} ({parts})"
        else:
            text += ", no errors"
        return text


class TelegramPipeline:
    """Frame, decipher (when `keys` are given), decode and count; never stops on a bad telegram.

    `check_crc` and `lenient` are passed to `decode`; `--no-crc` in the CLI is
    `check_crc=False, lenient=True`, for anonymised captures and specification examples whose
    CRC was not recomputed. With `keys` the stream is taken as back-to-back general-glo-ciphering
    APDUs (Luxembourg Smarty) and `tag_policy` says how their GCM tags are checked (default
    `TagPolicy.REQUIRE`).

    `feed` / `flush` work without an event loop (the `p1 check` command); `events` drives them
    from an async chunk source.
    """

    def __init__(
        self,
        *,
        check_crc: bool = True,
        lenient: bool | None = None,
        keys: SecurityKeys | None = None,
        tag_policy: TagPolicy | None = None,
        max_size: int = 16384,
    ) -> None:
        self.check_crc = check_crc
        self.lenient = lenient
        self.keys = keys
        self.stats = PipelineStats()
        self._framer = TelegramFramer(max_size, partial_at_end=bool(lenient))
        self._apdu_framer: EncryptedFramer | None = None
        if keys is not None:
            from gridedge.ports.dlms import TagPolicy
            from gridedge.ports.p1.encrypted import EncryptedFramer

            self._apdu_framer = EncryptedFramer(max_size)
            tag_policy = tag_policy or TagPolicy.REQUIRE
        self.tag_policy = tag_policy

    @property
    def encrypted(self) -> bool:
        """True when the stream is taken as enciphered APDUs."""
        return self._apdu_framer is not None

    def feed(self, chunk: bytes) -> list[Event]:
        """Add stream bytes; an empty chunk marks a break in the stream (see module docstring)."""
        if not chunk:
            return self.flush()
        out: list[Event] = []
        if self._apdu_framer is not None:
            for offset, item in self._apdu_framer.feed_positions(chunk):
                self._apdu(offset, item, out)
            self.stats.skipped_bytes = self._apdu_framer.stats.skipped_bytes
        else:
            for item in self._framer.feed(chunk):
                self._telegram(item, out)
            self.stats.skipped_bytes = self._framer.stats.skipped_bytes
        return out

    def flush(self) -> list[Event]:
        """End of stream (or a break in it): report what is left open."""
        out: list[Event] = []
        if self._apdu_framer is not None:
            for offset, item in self._apdu_framer.flush_positions():
                self._apdu(offset, item, out)
            self.stats.skipped_bytes = self._apdu_framer.stats.skipped_bytes
        else:
            for item in self._framer.flush():
                self._telegram(item, out)
            self.stats.skipped_bytes = self._framer.stats.skipped_bytes
        return out

    async def events(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
        """Events for every chunk of `chunks`, then those of the final flush.

        When the consumer stops early (or is cancelled) the source is closed at once, so a
        serial port or socket is released without waiting for garbage collection.
        """
        source = aiter(chunks)
        try:
            async for chunk in source:
                for event in self.feed(chunk):
                    yield event
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
        for event in self.flush():
            yield event

    # -- internals ---------------------------------------------------------------------------

    def _error(
        self,
        out: list[Event],
        error: P1Error,
        *,
        index: int | None = None,
        stream_offset: int | None = None,
        raw: bytes | None = None,
    ) -> None:
        event = ErrorEvent(error, error_kind(error), index, stream_offset, raw)
        self.stats.count(event.kind)
        out.append(event)

    def _decode(self, raw: bytes, index: int, offset: int | None, out: list[Event]) -> None:
        try:
            reading = decode(raw, check_crc=self.check_crc, lenient=self.lenient)
        except P1Error as exc:
            self._error(out, exc, index=index, stream_offset=offset, raw=raw)
            return
        except Exception as exc:  # a decoder bug must not stop the stream; keep the evidence
            log.exception("decoder failed on telegram %d", index)
            error = P1SyntaxError(f"decoder failed ({exc!r})", line=1, column=1, text="")
            self._error(out, error, index=index, stream_offset=offset, raw=raw)
            return
        self.stats.decoded += 1
        out.append(TelegramEvent(reading, raw, index))

    def _telegram(self, item: bytes | P1Error, out: list[Event]) -> None:
        if isinstance(item, P1Error):
            self._error(out, item, stream_offset=item.offset)
            return
        self.stats.telegrams += 1
        self._decode(item, self.stats.telegrams, None, out)

    def _apdu(self, offset: int, item: bytes | P1Error, out: list[Event]) -> None:
        if isinstance(item, P1Error):
            self._error(out, item, stream_offset=offset)
            return
        self.stats.telegrams += 1
        index = self.stats.telegrams
        from gridedge.ports.p1.encrypted import decrypt_telegram

        assert self.keys is not None and self.tag_policy is not None
        try:
            plain = decrypt_telegram(item, self.keys, policy=self.tag_policy)
        except P1EncryptionError as exc:
            self._error(out, exc, index=index, stream_offset=offset, raw=item)
            return
        self._decode(plain, index, offset, out)


async def decode_stream(
    chunks: AsyncIterable[bytes],
    *,
    check_crc: bool = True,
    lenient: bool | None = None,
    keys: SecurityKeys | None = None,
    tag_policy: TagPolicy | None = None,
    stats: PipelineStats | None = None,
) -> AsyncIterator[Event]:
    """Shorthand for `TelegramPipeline(...).events(chunks)`; pass `stats` to read the counters."""
    pipeline = TelegramPipeline(check_crc=check_crc, lenient=lenient, keys=keys, tag_policy=tag_policy)
    if stats is not None:
        pipeline.stats = stats
    async for event in pipeline.events(chunks):
        yield event
