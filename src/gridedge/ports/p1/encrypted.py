"""Encrypted P1 telegrams (Luxembourg Smarty): DSMR text inside DLMS general-glo-ciphering.

Why: the Smarty P1 port does not send the telegram in clear; every telegram travels as one
`general-glo-ciphering` APDU (tag 0xDB), AES-128-GCM with the customer's encryption key and the
published authentication key (Luxmetering "E-Meter P1 specification" v1.1.3 §3.2.5). The APDUs
follow each other on the line with nothing in between, so a reader needs its own framer: the
`/` .. `!` framing of DSMR 5.0.2 §6.2 does not apply to ciphertext.

This module is the bridge between `gridedge.ports.dlms` (which knows APDUs, not telegrams) and the
P1 decoder: every DLMS error becomes a `P1EncryptionError` whose `__cause__` is the DLMS error, so
P1 readers catch one hierarchy (`P1Error`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.model.reading import MeterReading, P1Variant
from gridedge.ports.dlms import (
    GENERAL_GLO_CIPHERING,
    SC_AUTHENTICATED_ENCRYPTED,
    DlmsError,
    DlmsTruncatedError,
    SecurityKeys,
    TagPolicy,
    decrypt,
    encrypt,
    parse_general_glo_ciphering,
)
from gridedge.ports.p1.encoder import encode
from gridedge.ports.p1.errors import P1EncryptionError, P1Error, P1OverflowError, P1TruncatedError

__all__ = [
    "EncryptedFramer",
    "EncryptedFramerStats",
    "decrypt_telegram",
    "encode_encrypted",
]


def decrypt_telegram(
    data: bytes | bytearray | memoryview,
    keys: SecurityKeys,
    *,
    policy: TagPolicy = TagPolicy.REQUIRE,
) -> bytes:
    """Decipher one general-glo-ciphering APDU and return the plain telegram bytes.

    `policy` is passed to `dlms.decrypt`: the default verifies the GCM tag over SC || AK as the
    standard says; `TagPolicy.IGNORE` deciphers without an authentication key (integrity then
    rests on the telegram's CRC-16). The result must start with the telegram header '/'
    (DSMR 5.0.2 §6.2), which catches a wrong key when the tag is not verified.
    Raises `P1EncryptionError` (cause: the `DlmsError`) for anything that is not such an APDU.
    """
    buf = bytes(data)
    try:
        apdu, used = parse_general_glo_ciphering(buf)
        if apdu.tag != GENERAL_GLO_CIPHERING:
            raise P1EncryptionError(
                f"expected a general-glo-ciphering APDU (tag 0xDB), found {apdu.name} (0x{apdu.tag:02X})",
                offset=0,
            )
        plain = decrypt(apdu, keys, policy=policy)
    except DlmsError as exc:
        raise P1EncryptionError(f"cannot decipher telegram: {exc}", offset=exc.offset) from exc
    if used != len(buf):
        raise P1EncryptionError(
            f"{len(buf) - used} bytes follow the {used}-byte APDU: expected exactly one APDU",
            offset=used,
        )
    if not plain.startswith(b"/"):
        raise P1EncryptionError(
            "deciphered data does not start with the telegram header '/'"
            f" (starts with {plain[:8].hex()}): wrong encryption key?",
            offset=0,
        )
    return plain


def encode_encrypted(
    reading: MeterReading,
    keys: SecurityKeys,
    system_title: bytes,
    frame_counter: int,
    *,
    security_control: int = SC_AUTHENTICATED_ENCRYPTED,
) -> bytes:
    """The APDU a Smarty meter would send for `reading`: the Luxembourg telegram, enciphered.

    The virtual meter uses it. A sender must never reuse `frame_counter` with the same system
    title and key (GCM nonce reuse reveals plaintexts, see `dlms.encrypt`).
    """
    telegram = encode(reading, profile=P1Variant.LUXEMBOURG)
    try:
        return encrypt(telegram, keys, system_title, frame_counter, security_control)
    except DlmsError as exc:
        raise P1EncryptionError(f"cannot encipher telegram: {exc}", offset=exc.offset) from exc


@dataclass
class EncryptedFramerStats:
    """Counters: APDUs framed, APDUs too large, APDUs cut by the end of the stream, bytes skipped."""

    apdus: int = 0
    overflows: int = 0
    truncated: int = 0
    skipped_bytes: int = 0


_TAG = bytes((GENERAL_GLO_CIPHERING,))


class EncryptedFramer:
    """Split a byte stream of back-to-back general-glo-ciphering APDUs into single APDUs.

    An APDU starts with 0xDB, 0x08 (system-title length) and carries its own A-XDR length
    (IEC 62056-5-3 xDLMS syntax), so the framer needs no delimiter. Bytes that cannot start an
    APDU (line noise, the tail of an APDU whose start was missed) are skipped and counted, and
    the framer resynchronises on the next 0xDB that parses. At most `max_size` bytes are waited
    for: an APDU announcing more is reported as `P1OverflowError` and its first byte skipped, so
    a false 0xDB with a huge length cannot stall the stream or grow memory.

    Limit: a false 0xDB 0x08 in garbage whose length field is plausible swallows the bytes it
    announces; its GCM tag then fails (a decryption error) and the real APDU inside is lost.
    """

    def __init__(self, max_size: int = 16384) -> None:
        if max_size < 64:
            raise ValueError(f"max_size must be at least 64 bytes, got {max_size}")
        self.max_size = max_size
        self.stats = EncryptedFramerStats()
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]

    def feed(self, chunk: bytes) -> list[bytes | P1Error]:
        """Add bytes; return the complete APDUs and errors, in stream order."""
        return [item for _, item in self.feed_positions(chunk)]

    def flush(self) -> list[bytes | P1Error]:
        """End of stream (or a break in it): report an APDU still open as truncated."""
        return [item for _, item in self.flush_positions()]

    def feed_positions(self, chunk: bytes) -> list[tuple[int, bytes | P1Error]]:
        """Like `feed`, each item paired with its stream offset (where the APDU or error begins)."""
        out: list[tuple[int, bytes | P1Error]] = []
        self._buf += chunk
        self._scan(out)
        return out

    def flush_positions(self) -> list[tuple[int, bytes | P1Error]]:
        """Like `flush`, each item paired with its stream offset."""
        out: list[tuple[int, bytes | P1Error]] = []
        buf = self._buf
        if buf:
            if buf[:1] == _TAG:
                self.stats.truncated += 1
                out.append(
                    (
                        self._offset,
                        P1TruncatedError(
                            f"stream ended inside the APDU that began at byte {self._offset}"
                            f" ({len(buf)} bytes received)",
                            offset=self._offset,
                        ),
                    )
                )
            else:
                self.stats.skipped_bytes += len(buf)
            self._drop(len(buf))
        return out

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._offset += n

    def _skip(self, n: int) -> None:
        self.stats.skipped_bytes += n
        self._drop(n)

    def _scan(self, out: list[tuple[int, bytes | P1Error]]) -> None:
        while self._buf:
            start = self._buf.find(_TAG)
            if start < 0:
                self._skip(len(self._buf))
                return
            if start:
                self._skip(start)
            try:
                _, used = parse_general_glo_ciphering(bytes(self._buf[: self.max_size + 1]))
            except DlmsTruncatedError as exc:
                if exc.required <= self.max_size:
                    return  # wait for more bytes
                self.stats.overflows += 1
                out.append(
                    (
                        self._offset,
                        P1OverflowError(
                            f"APDU at byte {self._offset} needs at least {exc.required} bytes,"
                            f" more than the bound of {self.max_size}",
                            offset=self._offset,
                        ),
                    )
                )
                self._drop(1)
                continue
            except DlmsError:
                self._skip(1)  # not an APDU start: resynchronise on the next 0xDB
                continue
            self.stats.apdus += 1
            out.append((self._offset, bytes(self._buf[:used])))
            self._drop(used)
