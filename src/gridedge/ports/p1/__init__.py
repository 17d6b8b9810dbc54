"""The P1 port: DSMR 2.2-5.0.2 and e-MUCS H telegrams, bytes to `MeterReading` and back."""

from gridedge.ports.p1.decoder import decode
from gridedge.ports.p1.errors import (
    P1CrcError,
    P1EncryptionError,
    P1Error,
    P1OverflowError,
    P1SyntaxError,
    P1TruncatedError,
)

__all__ = [
    "P1CrcError",
    "P1EncryptionError",
    "P1Error",
    "P1OverflowError",
    "P1SyntaxError",
    "P1TruncatedError",
    "decode",
]
