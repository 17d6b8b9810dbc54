"""Errors raised while reading and (de)ciphering DLMS/COSEM APDUs.

Every error is a :class:`ValueError` (bad input, not a bug) and carries, where it applies, the byte
``offset`` into the caller's buffer where the problem was seen.  Messages name what was expected
and what was found, e.g. ``byte 10: length 0x8205 = 517 bytes but only 300 remain``, so that a
log line alone is enough to locate the fault in a capture.

No exception from ``cryptography``, ``struct`` or indexing escapes the DLMS code: everything is
mapped onto this hierarchy, so a port can ``except DlmsError`` around untrusted meter bytes.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "DlmsAuthenticationError",
    "DlmsError",
    "DlmsFrameError",
    "DlmsKeyError",
    "DlmsTruncatedError",
    "HexDumpError",
]

_Reduced = tuple[Callable[..., "DlmsError"], tuple[object, ...]]


class DlmsError(ValueError):
    """Base class: a DLMS input (bytes, keys or text dump) is not what the standard allows.

    ``detail`` is the message without position; ``offset`` is the byte index into the buffer the
    caller passed (``None`` when the error is not tied to a position, e.g. a bad argument).
    """

    def __init__(self, detail: str, offset: int | None = None) -> None:
        self.detail = detail
        self.offset = offset
        super().__init__(self._format())

    def _format(self) -> str:
        return self.detail if self.offset is None else f"byte {self.offset}: {self.detail}"

    def __reduce__(self) -> _Reduced:
        # keeps pickling (multiprocessing, logging queues) working despite the custom __init__
        return (type(self), (self.detail, self.offset))


class DlmsFrameError(DlmsError):
    """The APDU framing is wrong: unexpected tag, bad or short length, unsupported security control."""


class DlmsTruncatedError(DlmsFrameError):
    """The buffer ends before the APDU does: a stream reader should wait for more bytes.

    ``required`` is the number of bytes, counted from the start of the buffer, that the APDU needs
    (a lower bound while its length field is itself incomplete).
    """

    def __init__(self, detail: str, offset: int | None = None, required: int = 0) -> None:
        self.required = required
        super().__init__(detail, offset)

    def __reduce__(self) -> _Reduced:
        return (type(self), (self.detail, self.offset, self.required))


class DlmsAuthenticationError(DlmsError):
    """The GCM authentication tag does not match, or an authenticated frame was required.

    A mismatch means a wrong encryption key, a wrong authentication key, or bytes altered on the
    way (line noise or tampering): GCM cannot tell these apart.
    """


class DlmsKeyError(DlmsError):
    """A key is missing, of the wrong type or of the wrong length for security suite 0."""


class HexDumpError(DlmsError):
    """A hex-dump text holds something that is neither a hex digit, a separator nor a comment.

    ``line`` and ``column`` are 1-based; ``offset`` is the 0-based character index into the text.
    """

    def __init__(self, detail: str, line: int, column: int, offset: int | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(detail, offset)

    def _format(self) -> str:
        return f"line {self.line}, column {self.column}: {self.detail}"

    def __reduce__(self) -> _Reduced:
        return (type(self), (self.detail, self.line, self.column, self.offset))
