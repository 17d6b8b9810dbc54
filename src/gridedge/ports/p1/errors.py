"""Errors of the P1 port: what went wrong and where, so a reader can log, count and carry on.

Every error is a `P1Error` (a `ValueError`); nothing else escapes the decoder or the framer for
any input bytes.
"""

from __future__ import annotations


class P1Error(ValueError):
    """Base class. `offset` is the byte position in the telegram (or stream) when known."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class P1CrcError(P1Error):
    """The CRC-16 after '!' does not match the telegram (DSMR 5.0.2 §6.2)."""

    def __init__(
        self, expected: int | None, found: int | None, *, offset: int | None = None, message: str = ""
    ) -> None:
        """`found` is None when a telegram that must carry a CRC has none."""
        if not message:
            message = f"CRC mismatch: telegram computes to {expected:04X} but carries {found:04X}"
        super().__init__(message, offset=offset)
        self.expected = expected
        self.found = found


class P1SyntaxError(P1Error):
    """A line that is not `OBIS(value)...`, or a value that does not fit its format."""

    def __init__(self, reason: str, *, line: int, column: int, text: str, offset: int | None = None) -> None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        super().__init__(f"line {line}, column {column}: {reason}: {shown!r}", offset=offset)
        self.reason = reason
        self.line = line
        self.column = column
        self.text = text


class P1TruncatedError(P1Error):
    """The telegram ends before its '!' (cut short, or a new header '/' started)."""


class P1OverflowError(P1Error):
    """A telegram grew past the framer's bound without its end '!': an error, not growing memory."""


class P1EncryptionError(P1Error):
    """An encrypted (DLMS general-glo-ciphering) telegram could not be decrypted or authenticated."""
