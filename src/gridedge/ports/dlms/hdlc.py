"""HDLC frame format type 3 as DLMS meters use it on HAN push ports (IEC 62056-46 §6.4).

Layout of one frame (IEC 62056-46:2002 §6.4.1, DLMS UA 1000-2 "Green Book" Ed. 8.3 §8.4)::

    7E                      opening flag
    Ax xx                   frame format: 4 bits type (0xA = type 3), 1 bit segmentation S,
                            11 bits frame length (all bytes between the two flags)
    dst ...                 destination address, 1..4 bytes, last byte has bit 0 set
    src ...                 source address, 1..4 bytes, same rule
    ctl                     control field (0x13 = UI frame, poll/final set)
    HCS (2, LSB first)      header check sequence, only when an information field follows
    info ...                information field; the first segment starts with LLC E6 E7 00
    FCS (2, LSB first)      frame check sequence over format .. info
    7E                      closing flag (may be shared as the next frame's opening flag)

HCS and FCS are CRC-16/X-25 (IEC 62056-46 §6.4.4.6, "FCS-16" of RFC 1662), computed with the
compiled ``fastcrc``.  DLMS frames are length-delimited and not byte-stuffed: 0x7E may appear inside
a frame (the ``described-list`` sample carries one in its invoke id), so frames are found by their
length and header check sequence, never by scanning for the closing flag.

An address byte holds 7 bits of address (bits 7..1); a two-byte address is upper (7 bits) and
lower (7 bits) HDLC address, reported here as the single integer ``upper << 7 | lower``, the way
node-dsmr-parser reports them (e.g. ``08 83`` -> 577).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from fastcrc import crc16

from gridedge.ports.dlms.errors import DlmsError, DlmsFrameError, DlmsTruncatedError

__all__ = [
    "FLAG",
    "LLC_RESPONSE",
    "Deframer",
    "FrameFault",
    "HdlcFrame",
    "fcs16",
    "parse_frame",
    "reassemble",
]

FLAG: Final = 0x7E
LLC_RESPONSE: Final = b"\xe6\xe7\x00"
"""LLC header of a frame from the server (meter) side (IEC 62056-46 §6.3, Green Book §8.4.2.1)."""
_LLC_COMMAND: Final = b"\xe6\xe6\x00"
_FORMAT_TYPE_3: Final = 0xA
_MAX_ADDRESS_BYTES: Final = 4


def fcs16(data: bytes) -> int:
    """CRC-16/X-25 of ``data`` (``fastcrc``'s ``ibm_sdlc`` is this algorithm)."""
    value: int = crc16.ibm_sdlc(data)
    return value


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One HDLC frame, checked: ``offset`` is where its opening flag is in the caller's buffer."""

    offset: int
    segmented: bool
    destination: int
    source: int
    control: int
    hcs: int | None
    hcs_valid: bool
    fcs: int
    fcs_valid: bool
    information: bytes
    raw: bytes
    """The whole frame, both flags included."""


@dataclass(frozen=True, slots=True)
class FrameFault:
    """Something the deframer skipped or could not complete, with the reason (never raised)."""

    offset: int
    data: bytes
    error: DlmsError


def _address(buf: bytes, pos: int, frame_end: int, what: str) -> tuple[int, int]:
    """Decode an HDLC address starting at ``pos``; return (value, next position)."""
    value = 0
    for count in range(_MAX_ADDRESS_BYTES):
        if pos >= frame_end - 2:
            raise DlmsFrameError(f"{what} address: expected an address byte, found the end of the frame "
                                 f"(its length field says {frame_end - 1} bytes)", pos)
        if pos >= len(buf):
            raise DlmsTruncatedError(f"{what} address: expected an address byte, found end of data", pos,
                                     pos + 1)
        byte = buf[pos]
        value = (value << 7) | (byte >> 1)
        pos += 1
        if byte & 1:
            return value, pos
        if count == _MAX_ADDRESS_BYTES - 1:
            break
    raise DlmsFrameError(f"{what} address: expected at most {_MAX_ADDRESS_BYTES} bytes ending in a byte with "
                         f"bit 0 set, found 0x{buf[pos - 1]:02X} as 4th byte", pos - 1)


def _header(buf: bytes, start: int) -> tuple[bool, int, int, int, int, int]:
    """Check the header of the frame whose opening flag is at ``start``.

    Returns (segmented, length, destination, source, control, position after control). Raises
    :class:`DlmsTruncatedError` if the buffer ends inside the header.
    """
    if start >= len(buf) or buf[start] != FLAG:
        found = "end of data" if start >= len(buf) else f"0x{buf[start]:02X}"
        raise DlmsFrameError(f"expected opening flag 0x7E, found {found}", start)
    if start + 3 > len(buf):
        raise DlmsTruncatedError("expected a 2-byte frame format field, found end of data", start + 1, 3)
    fmt = (buf[start + 1] << 8) | buf[start + 2]
    if fmt >> 12 != _FORMAT_TYPE_3:
        raise DlmsFrameError(f"expected frame format type 0xA (type 3), found 0x{fmt >> 12:X}", start + 1)
    length = fmt & 0x7FF
    end = start + 1 + length
    destination, pos = _address(buf, start + 3, end, "destination")
    source, pos = _address(buf, pos, end, "source")
    if pos >= end - 2:
        raise DlmsFrameError(f"frame length {length} leaves no room for the control field", start + 1)
    if pos >= len(buf):
        raise DlmsTruncatedError("expected the control field, found end of data", pos, pos + 1 - start)
    return bool(fmt & 0x800), length, destination, source, buf[pos], pos + 1


def parse_frame(buf: bytes, start: int = 0) -> HdlcFrame:
    """Parse the frame whose opening flag is at ``buf[start]`` (IEC 62056-46 §6.4).

    A bad HCS, a missing closing flag or an impossible length raise :class:`DlmsFrameError`; a
    buffer ending early raises :class:`DlmsTruncatedError` with ``required`` bytes from ``start``.
    A bad FCS does not raise: the frame is returned with ``fcs_valid`` False.
    """
    segmented, length, destination, source, control, pos = _header(buf, start)
    end = start + 1 + length  # index of the closing flag
    fcs_at = end - 2
    if pos > fcs_at:
        raise DlmsFrameError(f"frame length {length} is shorter than its header ({pos - start - 1} bytes) "
                             f"plus FCS", start + 1)
    hcs: int | None = None
    hcs_valid = True
    info_at = pos
    if pos < fcs_at:
        # an information field follows: an HCS comes first (IEC 62056-46 §6.4.4.6)
        if pos + 2 > fcs_at:
            raise DlmsFrameError(f"frame length {length} leaves no room for the HCS", start + 1)
        if pos + 2 > len(buf):
            raise DlmsTruncatedError("expected the 2-byte HCS, found end of data", pos, pos + 2 - start)
        hcs = buf[pos] | (buf[pos + 1] << 8)
        computed = fcs16(bytes(buf[start + 1:pos]))
        hcs_valid = computed == hcs
        if not hcs_valid:
            raise DlmsFrameError(f"HCS: expected 0x{computed:04X}, found 0x{hcs:04X}", pos)
        info_at = pos + 2
    if end >= len(buf):
        raise DlmsTruncatedError(f"frame length {length} needs {length + 2} bytes, found {len(buf) - start}",
                                 len(buf), length + 2)
    if buf[end] != FLAG:
        raise DlmsFrameError(f"expected closing flag 0x7E after {length} bytes, found 0x{buf[end]:02X}", end)
    fcs = buf[fcs_at] | (buf[fcs_at + 1] << 8)
    fcs_valid = fcs16(bytes(buf[start + 1:fcs_at])) == fcs
    return HdlcFrame(start, segmented, destination, source, control, hcs, hcs_valid, fcs, fcs_valid,
                     bytes(buf[info_at:fcs_at]), bytes(buf[start:end + 1]))


class Deframer:
    """Streaming HDLC deframer: feed bytes as they arrive, get frames and faults back.

    Garbage before, between or after frames is skipped and reported as a :class:`FrameFault`;
    a candidate frame is only accepted when its length, HCS and closing flag agree, so a 0x7E inside
    garbage does not derail it.  A frame with a bad FCS is returned (``fcs_valid`` False), not
    dropped: the caller decides.  Offsets count bytes since the deframer was created.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of self._buf[0]
        self._garbage_from: int | None = None

    def feed(self, data: bytes) -> list[HdlcFrame | FrameFault]:
        """Add ``data`` and return every frame (and skipped run) that is now complete."""
        self._buf += data
        return list(self._drain())

    def flush(self) -> list[FrameFault]:
        """End of stream: report the bytes still held (a truncated frame or trailing garbage)."""
        out: list[FrameFault] = []
        held = bytes(self._buf)
        if held and held != bytes([FLAG]):
            error: DlmsError
            try:
                parse_frame(held, 0)
                error = DlmsFrameError("unexpected bytes at end of stream", self._base)
            except DlmsTruncatedError as exc:
                error = DlmsTruncatedError(f"stream ends inside a frame: {exc.detail}", self._base,
                                           exc.required)
            except DlmsError as exc:
                error = DlmsFrameError(f"unexpected bytes at end of stream: {exc.detail}", self._base)
            out.append(FrameFault(self._base, held, error))
        self._base += len(self._buf)
        self._buf.clear()
        return out

    def _drain(self) -> Iterator[HdlcFrame | FrameFault]:
        buf = self._buf
        while buf:
            flag = buf.find(FLAG)
            if flag < 0:
                yield self._skip(len(buf), "no flag 0x7E")
                continue
            if flag > 0:
                yield self._skip(flag, "bytes before the flag 0x7E")
                continue
            if len(buf) >= 2 and buf[1] == FLAG:
                # closing flag of the previous frame followed by the next opening flag
                self._discard(1)
                continue
            try:
                frame = parse_frame(bytes(buf), 0)
            except DlmsTruncatedError:
                return  # wait for more bytes
            except DlmsFrameError as exc:
                next_flag = buf.find(FLAG, 1)
                yield self._skip(next_flag if next_flag > 0 else len(buf), exc.detail)
                continue
            size = len(frame.raw) - 1  # keep the closing flag: it may open the next frame
            stream_frame = HdlcFrame(self._base, frame.segmented, frame.destination, frame.source,
                                     frame.control, frame.hcs, frame.hcs_valid, frame.fcs, frame.fcs_valid,
                                     frame.information, frame.raw)
            self._discard(size)
            yield stream_frame

    def _skip(self, count: int, why: str) -> FrameFault:
        data = bytes(self._buf[:count])
        fault = FrameFault(self._base, data, DlmsFrameError(f"skipped {count} byte(s): {why}", self._base))
        self._discard(count)
        return fault

    def _discard(self, count: int) -> None:
        del self._buf[:count]
        self._base += count


def reassemble(frames: Iterable[HdlcFrame]) -> bytes:
    """Join the information fields of a segmented message and strip the LLC header.

    IEC 62056-46 §6.4.3.1 (segmentation): every frame but the last has the S bit set; only the first
    segment carries the LLC header (Green Book §8.4.2.1).  Raises :class:`DlmsFrameError` when the
    frames do not form one message.
    """
    parts: list[bytes] = []
    last: HdlcFrame | None = None
    for frame in frames:
        if last is not None and not last.segmented:
            raise DlmsFrameError("expected no frame after the last segment (S bit clear), found another",
                                 frame.offset)
        parts.append(frame.information)
        last = frame
    if last is None:
        raise DlmsFrameError("expected at least one frame, found none", 0)
    if last.segmented:
        raise DlmsTruncatedError("expected a final segment (S bit clear), found the S bit set",
                                 last.offset + len(last.raw))
    data = b"".join(parts)
    if data[:3] in (LLC_RESPONSE, _LLC_COMMAND):
        return data[3:]
    return data
