"""Wired M-Bus long frames carrying DLMS/COSEM push messages (EN 13757-2, IEC 62056-7-3).

Why this exists: Austrian customer interfaces ("Kundenschnittstelle", e.g. EVN / Netz NÖ with Kaifa
MA309 and Sagemcom T210 meters) push their DLMS data-notification not in HDLC frames but in M-Bus
long frames, segmented by the DLMS/COSEM transport layer for M-Bus.  The frames are those of the
wired M-Bus link layer, EN 13757-2 (the FT 1.2 format of IEC 60870-5-1/-2).  They are *not*
wireless M-Bus (EN 13757-4), whose frames start with an L-field followed by C, manufacturer and
address and carry a CRC per block.  Some sources (our corpus notes, issue texts) call the Austrian
samples "wireless M-Bus"; the ``68 L L 68`` layout with an 8-bit sum says otherwise.

Long frame (EN 13757-2:2018 §5, "Telegram formats"; the 1998 M-Bus documentation §5.2)::

    68        start character
    L         length: number of bytes from C to the last user-data byte (3..255)
    L         the same length, repeated
    68        start character, repeated
    C         control field (0x53 / 0x73 = SND_UD, what push meters send)
    A         address field (0xFF = broadcast)
    CI        control-information field
    data ...  L - 3 bytes of user data
    CS        checksum: arithmetic sum of C .. last data byte, modulo 256
    16        stop character

A frame whose checksum, repeated length, repeated start or stop character is wrong is discarded
(EN 13757-2 / IEC 60870-5-1 FT 1.2: a receiver ignores a frame with any such error): with only
an 8-bit sum to protect it there is nothing to repair.  :func:`parse_mbus_frame` raises
:class:`DlmsFrameError` naming the byte offset, what was expected and what was found.

DLMS transport layer over M-Bus (IEC 62056-7-3:2017, the "DLMS/COSEM transport layer for M-Bus";
EN 13757-3:2018 Table 2 reserves CI 0x00..0x1F for "DLMS-based applications")::

    CI        bit 4 (0x10) FIN: set in the final segment of an APDU
              bits 3..0: segment sequence number, 0 for the first segment, counting modulo 16
    STSAP     source transport service access point (0x01: the meter's management logical device)
    DTSAP     destination TSAP (0x67 = 103: the push client of the consumer information interface)
    segment   the next part of the APDU

Every segment carries STSAP/DTSAP; the APDU is the concatenation of the segments in sequence
order.  A single-frame message has CI 0x10.  The CI layout above is what the standard's use of
this CI range describes and what every public Austrian capture shows (first frame ``53 FF 00 01
67``, last ``53 FF 11 01 67``: DomiStyle/esphome-dlms-meter issue 12, Netz NÖ; the corpus sample
``m-bus__austria-example-1``); a frame with CI above 0x1F is an M-Bus frame but not DLMS
transport, and is reported, not joined.

:class:`MBusDeframer` finds frames in a byte stream the way :class:`gridedge.ports.dlms.hdlc.Deframer`
does for HDLC: garbage is skipped and reported as a :class:`FrameFault`, a candidate is accepted
only when its repeated length, repeated start, checksum and stop character agree, and after a
rejected candidate the search resumes one byte after its start (a real frame may begin inside a
false one).  It holds at most one maximal frame (261 bytes) plus one pending report of skipped
bytes (4 KiB), whatever the input.  :class:`MBusSegmentJoiner` turns the frames into messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Final

from gridedge.ports.dlms.errors import DlmsError, DlmsFrameError, DlmsTruncatedError
from gridedge.ports.dlms.hdlc import FrameFault

__all__ = [
    "CI_DLMS_LAST",
    "CI_FINAL",
    "CI_SEQUENCE_MASK",
    "MAX_FRAME",
    "MBUS_START",
    "MBUS_STOP",
    "MBusDeframer",
    "MBusFrame",
    "MBusSegmentJoiner",
    "join_mbus_segments",
    "mbus_checksum",
    "mbus_frame",
    "parse_mbus_frame",
]

MBUS_START: Final = 0x68
MBUS_STOP: Final = 0x16
CI_DLMS_LAST: Final = 0x1F
"""CI 0x00..0x1F: DLMS-based applications (EN 13757-3:2018 Table 2)."""
CI_FINAL: Final = 0x10
"""CI bit 4: final segment of the APDU (IEC 62056-7-3 DLMS transport over M-Bus)."""
CI_SEQUENCE_MASK: Final = 0x0F
"""CI bits 3..0: segment sequence number, modulo 16."""

_HEADER: Final = 4  # 68 L L 68
_OVERHEAD: Final = 6  # header + CS + stop
_MIN_LENGTH: Final = 3  # C, A, CI
_TSAP_BYTES: Final = 2  # STSAP, DTSAP
MAX_FRAME: Final = 255 + _OVERHEAD
"""The longest long frame: L = 255 plus start, lengths, checksum and stop (261 bytes)."""
_MAX_GARBAGE: Final = 4096
_MAX_MESSAGE: Final = 65536
_MAX_REASONS: Final = 3


def mbus_checksum(data: bytes) -> int:
    """The M-Bus / FT 1.2 checksum: arithmetic sum of the bytes modulo 256 (EN 13757-2)."""
    return sum(data) & 0xFF


@dataclass(frozen=True, slots=True)
class MBusFrame:
    """One checked M-Bus long frame; ``offset`` is where its first start character is.

    ``data`` is the user data after CI (for DLMS transport: STSAP, DTSAP, then the APDU segment).
    """

    offset: int
    control: int
    address: int
    ci: int
    data: bytes
    checksum: int
    raw: bytes
    """The whole frame, start to stop character."""

    @property
    def is_dlms(self) -> bool:
        """CI in 0x00..0x1F: the user data is a DLMS transport segment."""
        return self.ci <= CI_DLMS_LAST

    @property
    def final(self) -> bool:
        """The FIN bit: the last segment of its APDU."""
        return bool(self.ci & CI_FINAL)

    @property
    def sequence(self) -> int:
        """The segment sequence number (0..15)."""
        return self.ci & CI_SEQUENCE_MASK

    @property
    def stsap(self) -> int | None:
        return self.data[0] if self.data else None

    @property
    def dtsap(self) -> int | None:
        return self.data[1] if len(self.data) >= _TSAP_BYTES else None

    @property
    def segment(self) -> bytes:
        """The APDU segment: the user data after STSAP and DTSAP."""
        return self.data[_TSAP_BYTES:]


def mbus_frame(data: bytes, *, ci: int = CI_FINAL, control: int = 0x53, address: int = 0xFF) -> bytes:
    """Build a long frame around ``data`` (user data after CI): what a meter or a test sends."""
    length = _MIN_LENGTH + len(data)
    if length > 0xFF:
        raise DlmsFrameError(f"user data of {len(data)} bytes does not fit one long frame (at most 252)")
    body = bytes((control & 0xFF, address & 0xFF, ci & 0xFF)) + bytes(data)
    return bytes((MBUS_START, length, length, MBUS_START)) + body + bytes((mbus_checksum(body), MBUS_STOP))


def parse_mbus_frame(buf: bytes, start: int = 0) -> MBusFrame:
    """Parse the long frame whose first start character is at ``buf[start]`` (EN 13757-2 §5).

    Raises :class:`DlmsTruncatedError` when the buffer ends inside the frame (``required`` counts
    bytes from ``start``) and :class:`DlmsFrameError` for anything else that is wrong, with the
    offset of the offending byte.  Checks, in order: start character, repeated length, second
    start character, length at least 3, stop character, checksum.
    """
    size = len(buf)
    if start >= size or buf[start] != MBUS_START:
        found = "end of data" if start >= size else f"0x{buf[start]:02X}"
        raise DlmsFrameError(f"expected start character 0x68, found {found}", start)
    if size - start < _HEADER:
        _check_partial_header(buf, start)
        raise DlmsTruncatedError(f"expected the 4-byte header 68 L L 68, found {size - start} byte(s)",
                                 size, _HEADER)
    _check_partial_header(buf, start)
    length = buf[start + 1]
    total = length + _OVERHEAD
    if size - start < total:
        raise DlmsTruncatedError(f"L = {length} needs a frame of {total} bytes, found {size - start}", size,
                                 total)
    cs_at = start + _HEADER + length
    if buf[cs_at + 1] != MBUS_STOP:
        raise DlmsFrameError(f"expected stop character 0x16 after L = {length} bytes and the checksum, "
                             f"found 0x{buf[cs_at + 1]:02X}", cs_at + 1)
    body = bytes(buf[start + _HEADER:cs_at])
    computed = mbus_checksum(body)
    if buf[cs_at] != computed:
        raise DlmsFrameError(f"checksum: expected 0x{computed:02X} (sum of C..data modulo 256), "
                             f"found 0x{buf[cs_at]:02X}", cs_at)
    return MBusFrame(start, body[0], body[1], body[2], body[3:], computed, bytes(buf[start:cs_at + 2]))


def _check_partial_header(buf: bytes, start: int) -> None:
    """Reject as early as possible what cannot be a long-frame header (as much as is there)."""
    end = min(len(buf), start + _HEADER)
    if end > start + 1 and buf[start + 1] < _MIN_LENGTH:
        raise DlmsFrameError(f"L = {buf[start + 1]}: a long frame needs at least C, A and CI (L >= 3)",
                             start + 1)
    if end > start + 2 and buf[start + 2] != buf[start + 1]:
        raise DlmsFrameError(f"repeated length: expected 0x{buf[start + 1]:02X} (the first L), "
                             f"found 0x{buf[start + 2]:02X}", start + 2)
    if end > start + 3 and buf[start + 3] != MBUS_START:
        raise DlmsFrameError(f"expected the repeated start character 0x68, found 0x{buf[start + 3]:02X}",
                             start + 3)


class MBusDeframer:
    """Streaming M-Bus long-frame deframer: feed bytes as they arrive, get frames and faults back.

    Skipped bytes (garbage, false starts, frames with a bad checksum) are reported as one
    :class:`FrameFault` per run, when the next frame is found, at :meth:`flush`, or every 4 KiB;
    the fault's error names the first three distinct reasons (a false start with its offset, what
    was expected and what was found) and counts the others.  Offsets count bytes since the
    deframer was created.  Single characters (0xE5) and short frames (0x10 ...) are not push data
    and count as garbage.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of self._buf[0]
        self._garbage = bytearray()
        self._garbage_at = 0
        self._reasons: list[str] = []
        self._more_reasons = 0
        self._truncated: DlmsTruncatedError | None = None

    def feed(self, data: bytes) -> list[MBusFrame | FrameFault]:
        """Add ``data`` and return every frame (and run of skipped bytes) that is now complete."""
        self._buf += data
        return list(self._drain(final=False))

    def flush(self) -> list[MBusFrame | FrameFault]:
        """End of stream: frames still findable, then what is left (a cut frame or garbage)."""
        out = list(self._drain(final=True))
        fault = self._garbage_fault()
        if fault is not None:
            out.append(fault)
        return out

    def _drain(self, *, final: bool) -> Iterator[MBusFrame | FrameFault]:
        buf = self._buf
        while buf:
            start = buf.find(MBUS_START)
            if start < 0:
                yield from self._skip(len(buf), "no start character 0x68")
                continue
            if start > 0:
                yield from self._skip(start, "no start character 0x68")
                continue
            try:
                frame = parse_mbus_frame(bytes(buf[:MAX_FRAME]), 0)
            except DlmsTruncatedError as exc:
                if not final:
                    return  # wait for more bytes: at most MAX_FRAME are held
                fault = self._garbage_fault()  # the cut frame gets a run (and an offset) of its own
                if fault is not None:
                    yield fault
                yield from self._skip(1, f"stream ends inside a frame: {exc.detail}", truncated=exc)
                continue
            except DlmsFrameError as exc:
                where = self._base + (exc.offset or 0)
                yield from self._skip(1, f"false start at byte {self._base}: {exc.detail} (byte {where})")
                continue
            fault = self._garbage_fault()
            if fault is not None:
                yield fault
            size = len(frame.raw)
            yield replace(frame, offset=self._base)
            self._discard(size)

    def _skip(
        self, count: int, why: str, truncated: DlmsTruncatedError | None = None
    ) -> Iterator[FrameFault]:
        if not self._garbage:
            self._garbage_at = self._base
        if why in self._reasons:
            pass
        elif len(self._reasons) < _MAX_REASONS:
            self._reasons.append(why)
        else:
            self._more_reasons += 1
        if truncated is not None and self._truncated is None:
            self._truncated = truncated
        self._garbage += self._buf[:count]
        self._discard(count)
        if len(self._garbage) >= _MAX_GARBAGE:
            fault = self._garbage_fault()
            if fault is not None:
                yield fault

    def _garbage_fault(self) -> FrameFault | None:
        if not self._garbage:
            return None
        data = bytes(self._garbage)
        self._garbage.clear()
        count = len(data)
        why = "; ".join(self._reasons) + (f"; {self._more_reasons} more" if self._more_reasons else "")
        self._reasons.clear()
        self._more_reasons = 0
        error: DlmsError
        truncated = self._truncated
        if truncated is not None:
            error = DlmsTruncatedError(f"skipped {count} byte(s): {why}", self._garbage_at,
                                       truncated.required)
        else:
            error = DlmsFrameError(f"skipped {count} byte(s): {why}", self._garbage_at)
        self._truncated = None
        return FrameFault(self._garbage_at, data, error)

    def _discard(self, count: int) -> None:
        del self._buf[:count]
        self._base += count


def _check_segment(frame: MBusFrame) -> None:
    if not frame.is_dlms:
        raise DlmsFrameError(f"CI 0x{frame.ci:02X} is not DLMS transport (expected 0x00..0x1F, "
                             "EN 13757-3 Table 2)", frame.offset + _HEADER + 2)
    if len(frame.data) < _TSAP_BYTES:
        raise DlmsFrameError(f"DLMS transport segment: expected STSAP and DTSAP after CI, found "
                             f"{len(frame.data)} byte(s)", frame.offset + _HEADER + 3)


def join_mbus_segments(frames: Iterable[MBusFrame]) -> bytes:
    """Join the segments of one APDU (IEC 62056-7-3): sequence 0, 1, ... with FIN only on the last.

    Raises :class:`DlmsFrameError` when the frames are not one message (non-DLMS CI, missing
    STSAP/DTSAP, a gap in the sequence numbers, TSAPs that change, a frame after the final one)
    and :class:`DlmsTruncatedError` when the final segment is missing.
    """
    parts: list[bytes] = []
    first: MBusFrame | None = None
    last: MBusFrame | None = None
    for index, frame in enumerate(frames):
        _check_segment(frame)
        if last is not None and last.final:
            raise DlmsFrameError("expected no segment after the final one (FIN bit 0x10 set), found "
                                 f"CI 0x{frame.ci:02X}", frame.offset + _HEADER + 2)
        expected = index & CI_SEQUENCE_MASK
        if frame.sequence != expected:
            raise DlmsFrameError(f"segment sequence: expected {expected}, found {frame.sequence} "
                                 f"(CI 0x{frame.ci:02X})", frame.offset + _HEADER + 2)
        if first is not None and frame.data[:_TSAP_BYTES] != first.data[:_TSAP_BYTES]:
            raise DlmsFrameError(f"STSAP/DTSAP: expected {first.data[:2].hex(' ')} as in the first segment, "
                                 f"found {frame.data[:2].hex(' ')}", frame.offset + _HEADER + 3)
        first = first or frame
        parts.append(frame.segment)
        last = frame
    if last is None:
        raise DlmsFrameError("expected at least one M-Bus frame, found none", 0)
    if not last.final:
        raise DlmsTruncatedError(f"expected a final segment (FIN bit 0x10 in CI), found CI 0x{last.ci:02X} "
                                 "as the last frame", last.offset + len(last.raw))
    return b"".join(parts)


class MBusSegmentJoiner:
    """Group a stream of frames into messages: each complete message is a tuple of its frames.

    A frame that does not continue the message in progress (wrong sequence number, other TSAPs)
    ends it: the incomplete message is reported as a :class:`FrameFault` and the frame starts a
    new one if its sequence number is 0, else it is reported too.  Messages are limited to 64 KiB.
    """

    def __init__(self) -> None:
        self._pending: list[MBusFrame] = []
        self._size = 0

    def add(self, frame: MBusFrame) -> list[tuple[MBusFrame, ...] | FrameFault]:
        """Take the next frame; return the message it completes and/or what had to be dropped."""
        out: list[tuple[MBusFrame, ...] | FrameFault] = []
        try:
            _check_segment(frame)
        except DlmsFrameError as exc:
            out.extend(self._drop(f"interrupted by a non-DLMS frame at byte {frame.offset}"))
            out.append(FrameFault(frame.offset, frame.raw, exc))
            return out
        if self._pending:
            head = self._pending[0]
            expected = (self._pending[-1].sequence + 1) & CI_SEQUENCE_MASK
            if frame.sequence != expected or frame.data[:_TSAP_BYTES] != head.data[:_TSAP_BYTES] \
                    or self._size + len(frame.segment) > _MAX_MESSAGE:
                out.extend(self._drop(f"expected segment {expected} next, found segment {frame.sequence} "
                                      f"at byte {frame.offset}"))
        if not self._pending and frame.sequence != 0:
            out.append(FrameFault(frame.offset, frame.raw, DlmsFrameError(
                f"segment {frame.sequence} (CI 0x{frame.ci:02X}) without the segments before it: "
                "expected segment 0 to start a message", frame.offset + _HEADER + 2)))
            return out
        self._pending.append(frame)
        self._size += len(frame.segment)
        if frame.final:
            out.append(tuple(self._pending))
            self._pending.clear()
            self._size = 0
        return out

    def flush(self) -> list[FrameFault]:
        """End of stream: report a message still waiting for its final segment."""
        return self._drop("the stream ended")

    def _drop(self, why: str) -> list[FrameFault]:
        if not self._pending:
            return []
        frames, self._pending = self._pending, []
        self._size = 0
        end = frames[-1].offset + len(frames[-1].raw)
        error = DlmsTruncatedError(f"message of {len(frames)} segment(s) without its final segment "
                                   f"(FIN bit 0x10): {why}", frames[0].offset, end - frames[0].offset)
        return [FrameFault(frames[0].offset, b"".join(f.raw for f in frames), error)]
