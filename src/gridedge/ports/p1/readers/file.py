"""Replay a P1 capture file: as fast as possible, or at the pace the meter sent it.

Why original pace: a capture replayed at its own rhythm drives the CEM, the store and the
dashboard as the real meter would, for demos and for timing bugs. The interval between two
telegrams is the difference of their timestamps (0-0:1.0.0); when a telegram has none (DSMR 2.2),
or it does not move forward, the nominal interval is used: 1 s for DSMR 5.0.x and e-MUCS H
(DSMR 5.0.2 §6), 10 s for DSMR 4.x and older (DSMR 4.2.2 §5.1, DSMR 3.0 §5.1). The waits are
slept on the injected `Clock`, so a `SimClock` replays a day in milliseconds.

Encrypted captures (Luxembourg Smarty) are replayed APDU by APDU, 10 s apart: the timestamps are
inside the ciphertext, and the telegram inside says DSMR 4.2 (1-3:0.2.8 = 42).

Reading a file is blocking I/O, so every read runs in a worker thread (`asyncio.to_thread`), in
chunks, never the whole of a large capture at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import BinaryIO

from gridedge.clock import Clock, RealClock
from gridedge.ports.p1.errors import P1Error
from gridedge.ports.p1.readers.base import ReaderError, ReaderStats
from gridedge.ports.p1.values import timestamp

__all__ = [
    "APDU_INTERVAL_S",
    "DSMR_4_INTERVAL_S",
    "DSMR_5_INTERVAL_S",
    "FileReader",
    "FileStats",
    "Pace",
    "looks_like_hex_dump",
    "nominal_interval",
]

DSMR_5_INTERVAL_S = 1.0
DSMR_4_INTERVAL_S = 10.0
APDU_INTERVAL_S = 10.0


class Pace(StrEnum):
    """How fast a file is replayed."""

    FAST = "fast"
    ORIGINAL = "original"


@dataclass
class FileStats(ReaderStats):
    """Counters: telegrams (or APDUs) paced, and the time slept between them on the clock."""

    paced: int = 0
    slept_s: float = 0.0


def nominal_interval(telegram: bytes) -> float:
    """The meter's telegram interval, from its version object: 1 s for DSMR 5 / e-MUCS H, else 10 s."""
    if b"1-3:0.2.8(5" in telegram or b"0-0:96.1.4(" in telegram:
        return DSMR_5_INTERVAL_S
    return DSMR_4_INTERVAL_S


_HEX_TEXT = frozenset(string.hexdigits + string.whitespace + ",:")


def looks_like_hex_dump(head: bytes) -> bool:
    """True when `head` (the start of a file) is hex text, as the encrypted corpus samples are.

    A plain telegram is never hex text (its '/', '(' and '*' are not hex digits), nor is a
    binary APDU capture (it is not ASCII).
    """
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    digits = 0
    for line in text.splitlines():
        line = line.split("#", 1)[0].split("//", 1)[0].replace("0x", "").replace("0X", "")
        if not set(line) <= _HEX_TEXT:
            return False
        digits += sum(c in string.hexdigits for c in line)
    return digits >= 2


class FileReader:
    """Chunks of a capture file, at `pace`. `apdus=True` for enciphered captures (pacing by APDU).

    `hex_dump`: True reads the file as a hex dump (`dlms.parse_hex_dump`), None detects it
    (`looks_like_hex_dump`), False takes the bytes as they are.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pace: Pace = Pace.FAST,
        clock: Clock | None = None,
        chunk_size: int = 65536,
        apdus: bool = False,
        hex_dump: bool | None = False,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.path = os.fspath(path)
        self.pace = Pace(pace)
        self.clock: Clock = clock or RealClock()
        self.chunk_size = chunk_size
        self.apdus = apdus
        self.hex_dump = hex_dump
        self.stats = FileStats()
        self._seen_telegram = False
        self._last_time: datetime | None = None

    @property
    def name(self) -> str:
        return self.path

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes; at original pace cut at telegram (or APDU) boundaries, with waits."""
        hex_dump = self.hex_dump
        if hex_dump is None:
            hex_dump = looks_like_hex_dump(await asyncio.to_thread(self._head))
        source = self._hex_chunks() if hex_dump else self._file_chunks()
        if self.pace is Pace.FAST:
            paced = source
        elif self.apdus:
            paced = self._paced_apdus(source)
        else:
            paced = self._paced_telegrams(source)
        async for chunk in paced:
            self.stats.bytes += len(chunk)
            self.stats.chunks += 1
            yield chunk

    # -- sources -----------------------------------------------------------------------------

    def _open(self) -> BinaryIO:
        try:
            return open(self.path, "rb")
        except OSError as exc:
            raise ReaderError(f"cannot open {self.path}: {exc.strerror or exc}") from exc

    def _head(self) -> bytes:
        with self._open() as f:
            return f.read(4096)

    def _read_all(self) -> bytes:
        with self._open() as f:
            return f.read()

    async def _file_chunks(self) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(self._open)
        try:
            while True:
                try:
                    data = await asyncio.to_thread(f.read, self.chunk_size)
                except OSError as exc:
                    raise ReaderError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
                if not data:
                    return
                yield data
        finally:
            f.close()

    async def _hex_chunks(self) -> AsyncIterator[bytes]:
        from gridedge.ports.dlms import HexDumpError, parse_hex_dump

        text = await asyncio.to_thread(self._read_all)
        try:
            data = parse_hex_dump(text.decode("ascii"))
        except (UnicodeDecodeError, HexDumpError) as exc:
            raise ReaderError(f"{self.path} is not a hex dump: {exc}") from exc
        for i in range(0, len(data), self.chunk_size):
            yield data[i : i + self.chunk_size]

    # -- pacing ------------------------------------------------------------------------------

    async def _paced_telegrams(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Cut before each header '/' at a line start; wait before each telegram but the first."""
        buf = bytearray()
        async for chunk in source:
            buf += chunk
            while (i := buf.find(b"\n/")) >= 0:
                segment = bytes(buf[: i + 1])
                del buf[: i + 1]
                await self._wait_for(segment)
                yield segment
            if len(buf) > _MAX_UNCUT:
                # no telegram boundary in sight (garbage, or one endless telegram): pass it on
                # unpaced rather than hold it; the framer reports what it is
                yield bytes(buf)
                buf.clear()
        if buf:
            await self._wait_for(bytes(buf))
            yield bytes(buf)

    async def _wait_for(self, segment: bytes) -> None:
        if not segment.startswith(b"/"):
            return  # bytes before the first telegram, or between telegrams
        when = _timestamp(segment)
        if self._seen_telegram:
            interval = nominal_interval(segment)
            if when is not None and self._last_time is not None:
                delta = (when - self._last_time).total_seconds()
                if delta > 0:
                    # a capture paused for a month is not replayed as a month of silence
                    interval = min(delta, MAX_GAP_FACTOR * interval)
            await self._sleep(interval)
        self._seen_telegram = True
        self._last_time = when
        self.stats.paced += 1

    async def _paced_apdus(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Cut after each APDU the framer finds; wait `APDU_INTERVAL_S` before each but the first."""
        from gridedge.ports.p1.encrypted import EncryptedFramer

        framer = EncryptedFramer()
        buf = bytearray()
        base = 0  # stream offset of buf[0]
        async for chunk in source:
            buf += chunk
            for offset, item in framer.feed_positions(chunk):
                if isinstance(item, P1Error):
                    continue  # reported by the pipeline's own framer
                end = offset + len(item) - base
                segment = bytes(buf[:end])
                del buf[:end]
                base += end
                if self.stats.paced:
                    await self._sleep(APDU_INTERVAL_S)
                self.stats.paced += 1
                yield segment
        if buf:
            yield bytes(buf)

    async def _sleep(self, seconds: float) -> None:
        self.stats.slept_s += seconds
        await self.clock.sleep(seconds)


_TIMESTAMP = re.compile(rb"0-0:1\.0\.0\((\d{12}[SWsw]?)\)")
_MAX_UNCUT = 65536
#: the longest wait between replayed telegrams, in nominal intervals
MAX_GAP_FACTOR = 10


def _timestamp(telegram: bytes) -> datetime | None:
    """The telegram's own time (0-0:1.0.0), found without decoding the whole telegram."""
    match = _TIMESTAMP.search(telegram)
    if match is None:
        return None
    try:
        return timestamp(match[1].decode("ascii"))
    except ValueError:
        return None
