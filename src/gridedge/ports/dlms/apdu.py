"""The xDLMS ``data-notification`` APDU (IEC 62056-5-3 §6.2.30 / Green Book Ed. 8.3 §9.5).

::

    Data-Notification ::= SEQUENCE {              -- tag [15] = 0x0F
        long-invoke-id-and-priority  Long-Invoke-Id-And-Priority,   -- Unsigned32
        date-time                    OCTET STRING,                  -- length 0 or 12
        notification-body            Notification-Body              -- one Data value
    }

``Long-Invoke-Id-And-Priority`` (IEC 62056-5-3 §8.4): bits 0..23 invoke id, bit 28
self-descriptive, bit 29 processing option (break on error), bit 30 service class (1 = confirmed),
bit 31 priority (1 = high).  Aidon sends 0x40000000: invoke id 0, confirmed.

Ciphered APDUs (general-glo-ciphering 0xDB, general-ded-ciphering 0xDC) are refused here with a
pointer to :mod:`gridedge.ports.dlms.cipher`, which deciphers them into a plain APDU first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from gridedge.ports.dlms.axdr import Data, date_time, decode, read_length
from gridedge.ports.dlms.errors import DlmsFrameError, DlmsTruncatedError

__all__ = ["DATA_NOTIFICATION", "DataNotification", "parse_data_notification"]

DATA_NOTIFICATION: Final = 0x0F
_CIPHERED: Final = (0xDB, 0xDC)


@dataclass(frozen=True, slots=True)
class DataNotification:
    """A decoded data-notification; ``date_time_raw`` is the octet-string as sent (maybe empty)."""

    long_invoke_id: int
    date_time_raw: bytes
    body: Data

    @property
    def invoke_id(self) -> int:
        return self.long_invoke_id & 0xFFFFFF

    @property
    def self_descriptive(self) -> bool:
        return bool(self.long_invoke_id & (1 << 28))

    @property
    def break_on_error(self) -> bool:
        return bool(self.long_invoke_id & (1 << 29))

    @property
    def confirmed(self) -> bool:
        return bool(self.long_invoke_id & (1 << 30))

    @property
    def high_priority(self) -> bool:
        return bool(self.long_invoke_id & (1 << 31))

    @property
    def timestamp(self) -> datetime | None:
        """The date-time as a datetime, None when absent or unspecified."""
        if len(self.date_time_raw) != 12:
            return None
        return date_time(self.date_time_raw)


def parse_data_notification(apdu: bytes, *, partial: bool = True) -> DataNotification:
    """Parse a data-notification APDU starting at ``apdu[0]``.

    ``partial`` (default) keeps a body whose structure runs out of bytes, see
    :func:`gridedge.ports.dlms.axdr.decode`; the header itself must be complete.
    """
    if not apdu:
        raise DlmsTruncatedError("expected APDU tag 0x0F, found end of data", 0, 1)
    if apdu[0] in _CIPHERED:
        raise DlmsFrameError(f"expected a plain data-notification 0x0F, found ciphered APDU 0x{apdu[0]:02X} "
                             "(decipher it with gridedge.ports.dlms.cipher first)", 0)
    if apdu[0] != DATA_NOTIFICATION:
        raise DlmsFrameError(f"expected data-notification tag 0x0F, found 0x{apdu[0]:02X}", 0)
    if len(apdu) < 5:
        found = len(apdu) - 1
        raise DlmsTruncatedError(f"expected a 4-byte long-invoke-id-and-priority, found {found} bytes",
                                 len(apdu), 5)
    long_invoke_id = int.from_bytes(apdu[1:5], "big")
    size, pos = read_length(apdu, 5)
    if size not in (0, 12):
        raise DlmsFrameError(f"date-time: expected length 0 or 12, found {size}", 5)
    if pos + size > len(apdu):
        raise DlmsTruncatedError(f"date-time: expected {size} bytes, found {len(apdu) - pos}", len(apdu),
                                 pos + size)
    stamp = bytes(apdu[pos:pos + size])
    if size:
        date_time(stamp, pos)  # validate early: an impossible date is a framing fault
    body, end = decode(apdu, pos + size, partial=partial)
    if end != len(apdu) and not body.truncated:
        raise DlmsFrameError(f"expected the APDU to end after the notification body, found {len(apdu) - end} "
                             "more bytes", end)
    return DataNotification(long_invoke_id, stamp, body)
