"""A-XDR decoding of the COSEM ``Data`` CHOICE (IEC 62056-6-2 §4.1.5, IEC 61334-6 A-XDR).

Every value is a tag byte followed by its encoding (DLMS UA 1000-2 "Green Book" Ed. 8.3 §9.5,
"Data ::= CHOICE"); lengths and element counts use the A-XDR variable-length form: one byte below
0x80, or 0x8N followed by N big-endian bytes.  Multi-byte integers and floats are big-endian.

A ``date-time`` is an octet-string of 12 bytes (IEC 62056-6-2 §4.1.6.1): year (2), month, day,
weekday, hour, minute, second, hundredths, deviation (2, signed minutes, 0x8000 = not specified),
clock status; 0xFF / 0xFFFF mean "not specified".  :func:`date_time` reads it.

:func:`decode` is strict.  ``partial=True`` is for push messages cut short by the meter (the
``iskra-1`` and ``described-list`` samples): an array or structure whose elements run out keeps the
elements decoded so far and fills the rest with ``None``, and ``Data.truncated`` is set.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum
from typing import Final

from gridedge.ports.dlms.errors import DlmsFrameError, DlmsTruncatedError

__all__ = ["BitString", "Data", "DataTag", "date_time", "decode", "read_length"]

MAX_DEPTH: Final = 32
"""Nesting limit for arrays/structures: deeper input is rejected, not recursed into."""
_PARTIAL_SLACK: Final = 64
"""A partial message may announce this many more elements than it has bytes left, no more."""


class DataTag(IntEnum):
    """Tags of the ``Data`` CHOICE (IEC 62056-6-2 §4.1.5, Green Book Ed. 8.3 Table 2)."""

    NULL = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27


_FIXED: Final[dict[DataTag, str]] = {
    DataTag.DOUBLE_LONG: ">i",
    DataTag.DOUBLE_LONG_UNSIGNED: ">I",
    DataTag.INTEGER: ">b",
    DataTag.LONG: ">h",
    DataTag.UNSIGNED: ">B",
    DataTag.LONG_UNSIGNED: ">H",
    DataTag.LONG64: ">q",
    DataTag.LONG64_UNSIGNED: ">Q",
    DataTag.ENUM: ">B",
    DataTag.BCD: ">B",
    DataTag.FLOAT32: ">f",
    DataTag.FLOAT64: ">d",
}
_FIXED_OCTETS: Final[dict[DataTag, int]] = {DataTag.DATE_TIME: 12, DataTag.DATE: 5, DataTag.TIME: 4}


@dataclass(frozen=True, slots=True)
class BitString:
    """A bit-string: ``bits`` counts the bits, ``data`` holds them MSB first, padded to whole bytes."""

    bits: int
    data: bytes

    def __str__(self) -> str:
        value = int.from_bytes(self.data, "big") >> (len(self.data) * 8 - self.bits) if self.bits else 0
        return format(value, f"0{self.bits}b") if self.bits else ""


DataValue = None | bool | int | float | bytes | str | BitString | tuple["Data | None", ...]


@dataclass(frozen=True, slots=True)
class Data:
    """One decoded value: its tag, Python value and where it started in the buffer.

    Python values: null -> None; boolean -> bool; integers and enum -> int; floats -> float;
    octet-string, date-time, date, time -> bytes; visible/utf8-string -> str; bit-string ->
    :class:`BitString`; array and structure -> tuple of elements (``None`` for missing elements
    of a partial message).
    """

    tag: DataTag
    value: DataValue
    offset: int
    truncated: bool = False

    @property
    def elements(self) -> tuple[Data | None, ...]:
        """The elements of an array or structure (empty for any other type)."""
        return self.value if isinstance(self.value, tuple) else ()


def _name(tag: DataTag) -> str:
    return tag.name.lower().replace("_", "-")


def read_length(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an A-XDR length/count at ``pos`` (IEC 61334-6 §5, variable-length integer)."""
    if pos >= len(buf):
        raise DlmsTruncatedError("expected a length byte, found end of data", pos, pos + 1)
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 4:
        raise DlmsFrameError(f"expected a length of 0x00..0x7F or 0x81..0x84 nn.., found 0x{first:02X}", pos)
    if pos + 1 + size > len(buf):
        raise DlmsTruncatedError(f"length 0x{first:02X} needs {size} more bytes, found {len(buf) - pos - 1}",
                                 len(buf), pos + 1 + size)
    return int.from_bytes(buf[pos + 1:pos + 1 + size], "big"), pos + 1 + size


def _take(buf: bytes, pos: int, size: int, what: str) -> bytes:
    if pos + size > len(buf):
        raise DlmsTruncatedError(f"{what}: expected {size} bytes, found {len(buf) - pos}", len(buf),
                                 pos + size)
    return bytes(buf[pos:pos + size])


def decode(buf: bytes, pos: int = 0, *, partial: bool = False) -> tuple[Data, int]:
    """Decode one ``Data`` value at ``buf[pos]``; return it and the position after it.

    Raises :class:`DlmsTruncatedError` if the buffer ends early (unless ``partial``, see the
    module docstring) and :class:`DlmsFrameError` for an unknown tag or a bad length.
    """
    return _decode(buf, pos, partial, 0)


def _decode(buf: bytes, pos: int, partial: bool, depth: int) -> tuple[Data, int]:
    if pos >= len(buf):
        raise DlmsTruncatedError("expected a data tag, found end of data", pos, pos + 1)
    raw_tag = buf[pos]
    try:
        tag = DataTag(raw_tag)
    except ValueError:
        raise DlmsFrameError(f"expected a COSEM data tag, found 0x{raw_tag:02X}", pos) from None
    start, pos = pos, pos + 1
    if tag in (DataTag.ARRAY, DataTag.STRUCTURE):
        if depth >= MAX_DEPTH:
            raise DlmsFrameError(f"expected nesting below {MAX_DEPTH} levels, found deeper", start)
        count, pos = read_length(buf, pos)
        if count > len(buf) - pos:  # every element takes at least its tag byte
            if not partial:
                raise DlmsTruncatedError(f"{_name(tag)} of {count} elements: expected at least {count} "
                                         f"bytes, found {len(buf) - pos}", len(buf), pos + count)
            limit = len(buf) - pos + _PARTIAL_SLACK
            if count > limit:
                raise DlmsFrameError(f"{_name(tag)}: expected at most {limit} elements in "
                                     f"{len(buf) - pos} bytes, found count {count}", start + 1)
        items: list[Data | None] = []
        truncated = False
        while len(items) < count:
            try:
                item, pos = _decode(buf, pos, partial, depth + 1)
            except DlmsTruncatedError:
                if not partial:
                    raise
                truncated = True
                items.extend([None] * (count - len(items)))
                pos = len(buf)
                break
            items.append(item)
            truncated = truncated or item.truncated
        return Data(tag, tuple(items), start, truncated), pos
    if tag is DataTag.NULL:
        return Data(tag, None, start), pos
    if tag is DataTag.BOOLEAN:
        return Data(tag, _take(buf, pos, 1, "boolean")[0] != 0, start), pos + 1
    if tag in _FIXED:
        fmt = _FIXED[tag]
        size = struct.calcsize(fmt)
        (number,) = struct.unpack(fmt, _take(buf, pos, size, _name(tag)))
        return Data(tag, number, start), pos + size
    if tag in _FIXED_OCTETS:
        size = _FIXED_OCTETS[tag]
        return Data(tag, _take(buf, pos, size, _name(tag)), start), pos + size
    if tag is DataTag.BIT_STRING:
        bits, pos = read_length(buf, pos)
        size = (bits + 7) // 8
        return Data(tag, BitString(bits, _take(buf, pos, size, "bit-string")), start), pos + size
    size, pos = read_length(buf, pos)
    octets = _take(buf, pos, size, _name(tag))
    if tag is DataTag.OCTET_STRING:
        return Data(tag, octets, start), pos + size
    try:
        text = octets.decode("utf-8" if tag is DataTag.UTF8_STRING else "latin-1")
    except UnicodeDecodeError as exc:
        raise DlmsFrameError(f"utf8-string: expected UTF-8, found invalid byte at {exc.start}",
                             pos + exc.start) from None
    return Data(tag, text, start), pos + size


def date_time(octets: bytes, offset: int = 0) -> datetime | None:
    """Read a 12-byte COSEM date-time (IEC 62056-6-2 §4.1.6.1); None when date or time is unspecified.

    The result is aware when the deviation is specified (Blue Book: deviation = UTC minus local time
    in minutes, so CET is -60), naive when it is 0x8000 "not specified" as in the Aidon and
    Kamstrup samples.
    """
    if len(octets) != 12:
        raise DlmsFrameError(f"date-time: expected 12 octets, found {len(octets)}", offset)
    year = int.from_bytes(octets[0:2], "big")
    month, day, _weekday, hour, minute, second, hundredths = octets[2:9]
    deviation = int.from_bytes(octets[9:11], "big", signed=True)
    if year == 0xFFFF or 0xFF in (month, day, hour, minute) or month > 12 or month == 0:
        return None
    second = 0 if second == 0xFF else second
    micro = 0 if hundredths == 0xFF else hundredths * 10_000
    try:
        stamp = datetime(year, month, day, hour, minute, second, micro)
    except ValueError as exc:
        raise DlmsFrameError(f"date-time: expected a valid date, found {octets.hex()} ({exc})",
                             offset) from None
    if deviation == -0x8000:
        return stamp
    if not -720 <= deviation <= 840:
        raise DlmsFrameError(f"date-time: expected a deviation of -720..840 min, found {deviation}",
                             offset + 9)
    return stamp.replace(tzinfo=timezone(-timedelta(minutes=deviation)) if deviation else UTC)
