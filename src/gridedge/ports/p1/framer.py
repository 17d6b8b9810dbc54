"""Split a P1 byte stream into telegrams, resynchronising after garbage or a telegram cut short.

A telegram is `/` at the start of a line up to `!`, the CRC (4 hex digits, 3 from one heat meter,
none in DSMR 2.2/3.0) and the line end (DSMR 5.0.2 §6.2). The framer searches with `bytes.find`
(no per-byte Python loop) and keeps at most `max_size` bytes: an endless telegram is reported as
`P1OverflowError` and dropped, never grows memory (cf. the Wassasin/dsmr5 overflow test).

Events come out in stream order: a telegram's bytes, or a `P1Error` saying what was lost and at
which stream offset. Bytes between telegrams (the idle line, trailing bytes such as EasyMeter's
`  25803103` or `\\xff` padding) are skipped and counted, not reported as errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.ports.p1.crc import crc16_arc
from gridedge.ports.p1.decoder import EMBEDDED_HEADER, HEADER, LIKELY_HEADER
from gridedge.ports.p1.errors import P1Error, P1OverflowError, P1TruncatedError

_HEX = b"0123456789ABCDEFabcdef"
HEADER_SIZE = 5  # bytes the HEADER pattern needs: '/' + flag + one character


@dataclass
class FramerStats:
    """Counters a reader can show: telegrams framed, errors, bytes skipped between telegrams."""

    telegrams: int = 0
    truncated: int = 0
    overflows: int = 0
    skipped_bytes: int = 0


class TelegramFramer:
    """Incremental framer: `feed(chunk)` returns the complete telegrams and errors so far.

    `telegram_end`: after '!' the framer waits for the line end; when a chunk ends right after
    '!' plus CRC digits it waits for more bytes, and `flush()` at end of stream emits what is left.
    """

    def __init__(self, max_size: int = 16384, *, partial_at_end: bool = False) -> None:
        """`partial_at_end`: at `flush()`, hand out a telegram still open (no '!') as bytes
        instead of a `P1TruncatedError`, for lenient decoding of captures cut at their end."""
        if max_size < 64:
            raise ValueError(f"max_size must be at least 64 bytes, got {max_size}")
        self.max_size = max_size
        self.partial_at_end = partial_at_end
        self.stats = FramerStats()
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self._synced = False  # _buf starts with a telegram header '/'
        self._gap_start: int | None = None  # stream offset where skipped bytes began
        self._gap_has_end = False  # the skipped bytes contain a telegram end '!'
        self._lf_due = False  # a telegram ended with CR at the end of a chunk
        self._scan = 1  # _buf[1:_scan] holds no '!' and no embedded header

    def feed(self, chunk: bytes) -> list[bytes | P1Error]:
        """Add bytes from the stream; return telegrams (bytes, '/' .. CRC) and errors in order."""
        out: list[bytes | P1Error] = []
        self._buf += chunk
        while True:
            if not self._synced and not self._sync(out):
                break
            if not self._frame(out):
                break
        return out

    def flush(self) -> list[bytes | P1Error]:
        """End of stream: a telegram still open is reported as truncated; return it all."""
        out: list[bytes | P1Error] = []
        if self._synced and self._buf:
            end = self._buf.find(b"!")
            if end >= 0 or self.partial_at_end:
                out.append(bytes(self._buf).rstrip(b"\r\n"))
                self.stats.telegrams += 1
            else:
                self.stats.truncated += 1
                out.append(
                    P1TruncatedError(
                        f"stream ended inside a telegram that began at byte {self._offset}"
                        f" ({len(self._buf)} bytes, no end '!')",
                        offset=self._offset,
                    )
                )
        elif self._buf or self._gap_start is not None:
            if self._gap_start is None:
                self._gap_start = self._offset
            self._gap_has_end = self._gap_has_end or self._buf.find(b"!") >= 0
            self._close_gap(out, self._offset + len(self._buf))
        self._offset += len(self._buf)
        self._buf.clear()
        self._synced = False
        return out

    # -- internals ---------------------------------------------------------------------------

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._offset += n
        self._scan = 1

    def _sync(self, out: list[bytes | P1Error]) -> bool:
        """Drop bytes up to the next header '/'.

        Skipped bytes that contain a telegram end '!' were the tail of a telegram whose start was
        missed (a capture that begins mid-telegram): reported as truncated, not silently lost.
        """
        buf = self._buf
        if self._lf_due and buf:
            if buf[:1] == b"\n":
                self._drop(1)  # the LF of a telegram's CR LF, split across chunks
            self._lf_due = False
        match = HEADER.search(buf)
        pos = -1 if match is None else match.start()
        # without a header drop all but a last few bytes that may begin one: bounded memory
        skip = max(0, len(buf) - (HEADER_SIZE - 1)) if pos < 0 else pos
        if skip:
            if self._gap_start is None:
                self._gap_start = self._offset
            self._gap_has_end = self._gap_has_end or buf.find(b"!", 0, skip) >= 0
        if pos >= 0 and self._gap_start is not None:
            self._close_gap(out, self._offset + skip)
        self._drop(skip)
        if pos < 0:
            return False
        self._synced = True
        return True

    def _crc_verdict(self, end: int) -> bool | None:
        """Does the 4-digit CRC after the '!' at `end` match? None while its digits are pending."""
        digits = bytes(self._buf[end + 1 : end + 5])
        if len(digits) < 4:
            return None
        try:
            return crc16_arc(bytes(self._buf[: end + 1])) == int(digits, 16)
        except ValueError:
            return False

    def _close_gap(self, out: list[bytes | P1Error], gap_end: int) -> None:
        """Account for the bytes skipped since `_gap_start`: idle bytes, or a headless telegram."""
        assert self._gap_start is not None
        if self._gap_has_end:
            self.stats.truncated += 1
            out.append(
                P1TruncatedError(
                    f"bytes {self._gap_start}..{gap_end - 1} are the end of a telegram"
                    " whose header was not received",
                    offset=self._gap_start,
                )
            )
        else:
            self.stats.skipped_bytes += gap_end - self._gap_start
        self._gap_start = None
        self._gap_has_end = False

    def _frame(self, out: list[bytes | P1Error]) -> bool:
        """With `_buf` starting at '/': emit one telegram or error; False when more bytes needed.

        Bytes already searched are not searched again (`_scan`), so a telegram that arrives in
        10-byte chunks costs linear, not quadratic, time.
        """
        buf = self._buf
        scan = self._scan
        end = buf.find(b"!", scan)
        limit = end if end >= 0 else len(buf)
        # a second header: this telegram was cut short (maybe mid-line, after dropped bytes)
        since = max(1, scan - HEADER_SIZE)
        match = EMBEDDED_HEADER.search(buf, since, limit)
        if match is None:
            match = LIKELY_HEADER.search(buf, since, limit)
            if match is not None and end >= 0:
                # a header-like text inside a value: a valid CRC over the whole says it is text
                verdict = self._crc_verdict(end)
                if verdict is None and len(buf) <= self.max_size:
                    self._scan = match.start()
                    return False  # wait for the CRC
                if verdict:
                    match = None
            elif match is not None and len(buf) <= self.max_size:
                self._scan = match.start()
                return False  # decide when the end '!' and the CRC arrive
        if match is not None:
            newheader = match.start()
            self.stats.truncated += 1
            line = buf.count(b"\n", 0, newheader) + 1
            out.append(
                P1TruncatedError(
                    f"telegram at byte {self._offset} cut short: a new header starts at line {line}"
                    f" (byte {self._offset + newheader})",
                    offset=self._offset,
                )
            )
            self._drop(newheader)
            return True
        if limit > self.max_size:
            self.stats.overflows += 1
            out.append(
                P1OverflowError(
                    f"telegram at byte {self._offset} exceeds {self.max_size} bytes without its end '!'",
                    offset=self._offset,
                )
            )
            self._drop(limit)
            self._synced = False
            return True
        if end < 0:
            self._scan = max(1, len(buf) - 1)
            return False
        # after '!': up to 4 CRC hex digits, then the line end
        i = end + 1
        n = len(buf)
        while i < n and i <= end + 4 and buf[i] in _HEX:
            i += 1
        if i >= n:
            self._scan = end
            return False  # wait for the line end
        telegram = bytes(buf[:i])
        self.stats.telegrams += 1
        out.append(telegram)
        # the line end after the CRC belongs to the telegram, not to skipped bytes
        if buf[i : i + 1] == b"\r":
            i += 1
            self._lf_due = True
        if buf[i : i + 1] == b"\n":
            i += 1
            self._lf_due = False
        self._drop(i)
        self._synced = False
        return True
