"""CRC-16/ARC of P1 telegrams.

DSMR 5.0.2 §6.2: "CRC16 value calculated over the preceding characters in the data message (from
'/' to '!' using the polynomial x16+x15+x2+1) ... no XOR in, no XOR out ... least significant bit
first", shown as 4 hex digits, MSB first: CRC-16/ARC (reflected 0xA001, init 0). A pure-Python
table CRC costs ~47 us per telegram, the whole decode budget, so the compiled `fastcrc` is used.
"""

from __future__ import annotations

from fastcrc import crc16


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC of `data` (for a telegram: from '/' up to and including '!')."""
    result: int = crc16.arc(data)
    return result


def format_crc(value: int) -> str:
    """The 4 upper-case hex digits a DSMR 4/5 telegram carries after '!'."""
    return f"{value:04X}"
