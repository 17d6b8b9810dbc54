"""DLMS/COSEM symmetric ciphering with AES-128-GCM (security suite 0).

Why this exists: the Luxembourg Smarty P1 port wraps every DSMR telegram in a DLMS
``general-glo-ciphering`` APDU (Luxmetering "E-Meter P1 specification" v1.1.3 §3.2.5), and DLMS
HAN push ports (Aidon, Kamstrup, the wired M-Bus customer interfaces of Austrian meters) use the same
ciphering around their
data-notification APDUs.  This module parses, deciphers and enciphers those APDUs; it knows
nothing about what is inside (a DSMR telegram or an xDLMS APDU).

Layout of ``general-glo-ciphering`` (tag 0xDB = [219]) and ``general-ded-ciphering`` (0xDC = [220],
same layout, dedicated instead of global key), IEC 62056-5-3 / DLMS UA 1000-2 "Green Book"
xDLMS APDU syntax; offsets for the 0x82 length form::

    0      tag 0xDB
    1      system-title length, always 8
    2..9   system title (3-letter manufacturer FLAG id + 5 bytes)
    10     A-XDR length of what follows: one byte < 0x80, or 0x81 nn, 0x82 nn nn, ... 0x84
    13     security control SC: bits 0-3 suite (0), bit 4 authenticated, bit 5 encrypted,
           bit 6 broadcast key, bit 7 compressed.  0x30 = auth+enc, 0x20 = enc, 0x10 = auth
    14..17 frame (invocation) counter, big-endian
    18..   ciphertext (for SC 0x10: the plaintext itself)
    last 12 bytes: GCM authentication tag, only when bit 4 is set

The length counts SC, frame counter, ciphertext and tag.  Cryptography (Green Book / IEC 62056-5-3
§9.2.7; NIST SP 800-38D for GCM):

* IV = system title (8) || frame counter (4), a 96-bit GCM IV;
* AAD = SC || AK for authenticated+encrypted frames ("AAD = 0x30 followed by the AK", Luxmetering
  §3.2.5), SC || AK || plaintext for authenticated-only frames, none for encrypted-only frames;
* the tag is truncated to 12 bytes, so the decryptor is ``modes.GCM(iv, tag, min_tag_length=12)``
  (``AESGCM`` insists on 16-byte tags);
* encrypted-only frames carry no tag: their ciphertext is GCM's CTR part, keystream starting at
  counter block IV || 0x00000002 (SP 800-38D §7.2, inc32(J0) with J0 = IV || 0^31 || 1).

The two public Luxembourg samples (node-dsmr-parser ``tests/telegrams/dsmr/encrypted``, in
``shared/corpus/p1/athombv_node-dsmr-parser/encrypted/``) were taken apart byte by byte:

* both are 1515 bytes: tag 0xDB, system title ``b"systitle"`` (73 79 73 74 69 74 6c 65), length
  ``82 05 de`` = 1502 = 1 (SC) + 4 (counter) + 1485 (ciphertext) + 12 (tag), SC 0x30, frame
  counter 0x11223344.  They differ only in the last 12 bytes, the tag.
* ``with-aad``: the tag verifies with AAD = 0x30 || AK (``ffeeddcc...1100``) as the standard says.
* ``without-aad``: SC still says 0x30, yet its tag was computed over *no* AAD at all (neither SC
  nor AK): node-dsmr-parser only feeds AAD when it is given an AK.  This is not conformant, no
  authentication key makes it verify the standard way.  Decipher it with ``TagPolicy.IGNORE``
  (plain CTR, integrity then rests on the telegram CRC) or check the quirk with
  ``TagPolicy.EMPTY_AAD``.
* The plaintext of both is the 1485-byte Luxembourg spec example telegram *without* its final
  CR LF: it ends in ``!8B52``.  That printed CRC is wrong (CRC-16/ARC over ``/``..``!`` is 0x6DA1),
  as node-dsmr-parser's own expected result says (``crcValid: false``).

The Aidon HDLC samples in ``shared/corpus/dlms/`` follow the same pattern (APDU at byte 11,
length ``82 02 47``, SC 0x30, frame counter 0x11223344, same keys, ``without-aad`` tag over no AAD).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gridedge.ports.dlms.errors import (
    DlmsAuthenticationError,
    DlmsFrameError,
    DlmsKeyError,
    DlmsTruncatedError,
    HexDumpError,
)

__all__ = [
    "AUTH_TAG_LENGTH",
    "GENERAL_DED_CIPHERING",
    "GENERAL_GLO_CIPHERING",
    "KEY_LENGTH",
    "LUXEMBOURG_SMARTY_AUTHENTICATION_KEY",
    "SC_AUTHENTICATED",
    "SC_AUTHENTICATED_ENCRYPTED",
    "SC_BROADCAST_KEY",
    "SC_COMPRESSED",
    "SC_ENCRYPTED",
    "SERVICE_SPECIFIC_CIPHERING_TAGS",
    "SYSTEM_TITLE_LENGTH",
    "CipheredApdu",
    "SecurityKeys",
    "TagPolicy",
    "decrypt",
    "encrypt",
    "parse_general_glo_ciphering",
    "parse_hex_dump",
    "parse_service_specific_ciphering",
]

GENERAL_GLO_CIPHERING: Final = 0xDB
GENERAL_DED_CIPHERING: Final = 0xDC
SYSTEM_TITLE_LENGTH: Final = 8
FRAME_COUNTER_LENGTH: Final = 4
AUTH_TAG_LENGTH: Final = 12
KEY_LENGTH: Final = 16

SC_AUTHENTICATED: Final = 0x10
SC_ENCRYPTED: Final = 0x20
SC_AUTHENTICATED_ENCRYPTED: Final = 0x30
SC_BROADCAST_KEY: Final = 0x40
SC_COMPRESSED: Final = 0x80
_SC_SUITE_MASK: Final = 0x0F

#: The authentication key every Smarty meter uses, published in Luxmetering P1 spec v1.1.3 §3.2.5
#: (as quoted by dsmr_parser's ``MSN`` telegram specification and node-dsmr-parser's default AAD).
LUXEMBOURG_SMARTY_AUTHENTICATION_KEY: Final = bytes.fromhex("00112233445566778899aabbccddeeff")

_GENERAL_NAMES: Final = {
    GENERAL_GLO_CIPHERING: "general-glo-ciphering",
    GENERAL_DED_CIPHERING: "general-ded-ciphering",
}

#: Service-specific ciphered APDUs of the xDLMS syntax (IEC 62056-5-3): the plain tag plus 32
#: (glo-) or 64 (ded-) for initiate and short-name services, plus 8 (glo-) or 16 (ded-) for the
#: logical-name get/set/event/action services.  They carry no system title: it is the peer's,
#: learnt in the association (AARQ/AARE).
SERVICE_SPECIFIC_CIPHERING_TAGS: Final[dict[int, str]] = {
    33: "glo-initiateRequest",
    37: "glo-readRequest",
    38: "glo-writeRequest",
    40: "glo-initiateResponse",
    44: "glo-readResponse",
    45: "glo-writeResponse",
    46: "glo-confirmedServiceError",
    54: "glo-unconfirmedWriteRequest",
    56: "glo-informationReportRequest",
    65: "ded-initiateRequest",
    69: "ded-readRequest",
    70: "ded-writeRequest",
    72: "ded-initiateResponse",
    76: "ded-readResponse",
    77: "ded-writeResponse",
    78: "ded-confirmedServiceError",
    86: "ded-unconfirmedWriteRequest",
    88: "ded-informationReportRequest",
    200: "glo-get-request",
    201: "glo-set-request",
    202: "glo-event-notification-request",
    203: "glo-action-request",
    204: "glo-get-response",
    205: "glo-set-response",
    207: "glo-action-response",
    208: "ded-get-request",
    209: "ded-set-request",
    210: "ded-event-notification-request",
    211: "ded-action-request",
    212: "ded-get-response",
    213: "ded-set-response",
    215: "ded-action-response",
}

_MAX_COUNTER: Final = 0xFFFF_FFFF
_MAX_LENGTH_BYTES: Final = 4


class TagPolicy(enum.Enum):
    """How :func:`decrypt` treats the GCM authentication tag.

    ``REQUIRE`` (default) insists on an authenticated frame and verifies its tag over
    AAD = SC || AK.  Because SC itself is only protected when bit 4 is set, accepting
    encrypted-only frames would let one flipped bit strip authentication, hence the separate
    ``VERIFY_IF_PRESENT`` for meters that really send SC 0x20 (Austrian M-Bus customer interfaces,
    corpus ``m-bus__austria-example-1``: SC 0x20, no tag at all).  So ``REQUIRE`` refuses an
    encrypted-only frame with :class:`DlmsAuthenticationError` instead of silently accepting it:
    a caller who asks for authentication never gets unauthenticated data.  Encrypted-only frames
    decipher as GCM's CTR part (keystream from inc32(J0), J0 = IV || 0x00000001).
    ``IGNORE`` deciphers without verifying, for Smarty users who have no AK: integrity must then
    come from the payload (DSMR CRC-16).  ``EMPTY_AAD`` verifies the tag over no AAD at all, the
    non-standard convention of node-dsmr-parser's ``without-aad`` test vectors.
    """

    REQUIRE = "require"
    VERIFY_IF_PRESENT = "verify-if-present"
    IGNORE = "ignore"
    EMPTY_AAD = "empty-aad"


def _key_bytes(value: object, name: str, *, optional: bool) -> bytes | None:
    if value is None:
        if optional:
            return None
        raise DlmsKeyError(f"{name} is missing: a {KEY_LENGTH}-byte AES-128 key is required")
    if not isinstance(value, bytes | bytearray | memoryview):
        raise DlmsKeyError(
            f"{name} must be bytes, found {type(value).__name__} (use SecurityKeys.from_hex for hex text)"
        )
    key = bytes(value)
    if len(key) != KEY_LENGTH:
        raise DlmsKeyError(
            f"{name} is {len(key)} bytes, expected {KEY_LENGTH} (AES-128, DLMS security suite 0)"
        )
    return key


def _key_from_hex(text: str, name: str) -> bytes:
    if not isinstance(text, str):
        raise DlmsKeyError(f"{name} must be hex text, found {type(text).__name__}")
    digits = "".join(text.split())
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    for index, char in enumerate(digits):
        if char not in _HEX_DIGITS:
            # the key is secret: name the position, never echo the text
            raise DlmsKeyError(f"{name}: character {index + 1} of the hex text is not a hex digit")
    if len(digits) != 2 * KEY_LENGTH:
        raise DlmsKeyError(
            f"{name} has {len(digits)} hex digits, expected {2 * KEY_LENGTH} "
            f"({KEY_LENGTH} bytes, AES-128, DLMS security suite 0)"
        )
    return bytes.fromhex(digits)


@dataclass(frozen=True, repr=False)
class SecurityKeys:
    """The AES-128 keys of one DLMS security context (security suite 0).

    ``encryption_key`` is the global unicast (or, for SC bit 6, broadcast) encryption key, the
    "EK" a Luxembourg customer obtains from the grid operator.  ``authentication_key`` ("AK") is
    only used inside the AAD, never as a cipher key (Green Book / IEC 62056-5-3 §9.2.7); ``None``
    means it is unknown, so authenticated frames can only be deciphered with
    ``TagPolicy.IGNORE``.  ``repr`` never shows key bytes, so keys do not leak into logs.
    """

    encryption_key: bytes
    authentication_key: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "encryption_key", _key_bytes(self.encryption_key, "encryption key", optional=False)
        )
        object.__setattr__(
            self,
            "authentication_key",
            _key_bytes(self.authentication_key, "authentication key", optional=True),
        )

    @classmethod
    def from_hex(cls, encryption_key: str, authentication_key: str | None = None) -> SecurityKeys:
        """Build from hex text as printed on meter key letters (spaces and a ``0x`` prefix allowed)."""
        ak = None if authentication_key is None else _key_from_hex(authentication_key, "authentication key")
        return cls(_key_from_hex(encryption_key, "encryption key"), ak)

    def __repr__(self) -> str:
        ak = "None" if self.authentication_key is None else f"<{len(self.authentication_key)} bytes>"
        return f"SecurityKeys(encryption_key=<{len(self.encryption_key)} bytes>, authentication_key={ak})"


def _check_security_control(sc: int, offset: int | None) -> None:
    if sc & SC_COMPRESSED:
        raise DlmsFrameError(f"security control 0x{sc:02X}: compression (bit 7) is not supported", offset)
    suite = sc & _SC_SUITE_MASK
    if suite != 0:
        raise DlmsFrameError(
            f"security control 0x{sc:02X}: security suite {suite} is not supported, "
            "expected suite 0 (AES-GCM-128)",
            offset,
        )
    if not sc & (SC_AUTHENTICATED | SC_ENCRYPTED):
        raise DlmsFrameError(
            f"security control 0x{sc:02X} sets neither authentication (bit 4) nor encryption "
            "(bit 5): expected 0x10, 0x20 or 0x30 (+0x40 for the broadcast key)",
            offset,
        )


@dataclass(frozen=True, repr=False)
class CipheredApdu:
    """One ciphered APDU as found on the wire, before deciphering.

    ``tag`` is the APDU tag (0xDB, 0xDC or a service-specific one), ``frame_counter`` the
    invocation counter, ``ciphertext`` the protected information (plaintext for SC 0x10) and
    ``auth_tag`` the 12-byte GCM tag, ``None`` for encrypted-only frames.  For service-specific
    APDUs ``system_title`` is the peer's, supplied by the caller since the frame omits it.
    """

    tag: int
    system_title: bytes
    security_control: int
    frame_counter: int
    ciphertext: bytes
    auth_tag: bytes | None

    def __post_init__(self) -> None:
        if self.tag not in _GENERAL_NAMES and self.tag not in SERVICE_SPECIFIC_CIPHERING_TAGS:
            raise DlmsFrameError(f"APDU tag 0x{self.tag:02X} is not a ciphered APDU tag")
        if not isinstance(self.system_title, bytes) or len(self.system_title) != SYSTEM_TITLE_LENGTH:
            raise DlmsFrameError(
                f"system title must be {SYSTEM_TITLE_LENGTH} bytes, found {_describe(self.system_title)}"
            )
        _check_security_control(self.security_control, None)
        if not 0 <= self.frame_counter <= _MAX_COUNTER:
            raise DlmsFrameError(f"frame counter {self.frame_counter} does not fit in 4 bytes")
        if not isinstance(self.ciphertext, bytes):
            raise DlmsFrameError(f"ciphertext must be bytes, found {type(self.ciphertext).__name__}")
        if self.authenticated:
            if not isinstance(self.auth_tag, bytes) or len(self.auth_tag) != AUTH_TAG_LENGTH:
                raise DlmsFrameError(
                    f"security control 0x{self.security_control:02X} needs a {AUTH_TAG_LENGTH}-byte "
                    f"authentication tag, found {_describe(self.auth_tag)}"
                )
        elif self.auth_tag is not None:
            raise DlmsFrameError(
                f"security control 0x{self.security_control:02X} has no authentication, "
                "so auth_tag must be None"
            )

    @property
    def name(self) -> str:
        """The xDLMS name of the APDU, e.g. ``general-glo-ciphering``."""
        return _GENERAL_NAMES.get(self.tag) or SERVICE_SPECIFIC_CIPHERING_TAGS[self.tag]

    @property
    def authenticated(self) -> bool:
        return bool(self.security_control & SC_AUTHENTICATED)

    @property
    def encrypted(self) -> bool:
        return bool(self.security_control & SC_ENCRYPTED)

    @property
    def broadcast_key(self) -> bool:
        """SC bit 6: the broadcast, not the unicast, encryption key was used."""
        return bool(self.security_control & SC_BROADCAST_KEY)

    @property
    def iv(self) -> bytes:
        """The 96-bit GCM IV: system title || frame counter (IEC 62056-5-3 §9.2.7)."""
        return self.system_title + self.frame_counter.to_bytes(FRAME_COUNTER_LENGTH, "big")

    def to_bytes(self) -> bytes:
        """Serialise with the shortest A-XDR length form (what :func:`encrypt` emits)."""
        content = (
            bytes((self.security_control,))
            + self.frame_counter.to_bytes(FRAME_COUNTER_LENGTH, "big")
            + self.ciphertext
            + (self.auth_tag or b"")
        )
        head = bytes((self.tag,))
        if self.tag in _GENERAL_NAMES:
            head += bytes((SYSTEM_TITLE_LENGTH,)) + self.system_title
        return head + _encode_length(len(content)) + content

    def __repr__(self) -> str:
        return (
            f"CipheredApdu({self.name}, system_title={self.system_title!r}, "
            f"security_control=0x{self.security_control:02X}, frame_counter=0x{self.frame_counter:08X}, "
            f"ciphertext=<{len(self.ciphertext)} bytes>, "
            f"auth_tag={'None' if self.auth_tag is None else self.auth_tag.hex()})"
        )


def _describe(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    return type(value).__name__


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    size = (length.bit_length() + 7) // 8
    if size > _MAX_LENGTH_BYTES:
        raise DlmsFrameError(f"content of {length} bytes is too long for an A-XDR length")
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def _read_length(data: bytes, offset: int, what: str) -> tuple[int, int]:
    """Decode an A-XDR length at ``offset``; return (length, offset after it)."""
    if offset >= len(data):
        raise DlmsTruncatedError(f"{what}: data ends before its length byte", offset, offset + 1)
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    size = first & 0x7F
    if not 1 <= size <= _MAX_LENGTH_BYTES:
        raise DlmsFrameError(
            f"{what}: A-XDR length prefix 0x{first:02X} is not supported, "
            f"expected < 0x80 or 0x81..0x{0x80 + _MAX_LENGTH_BYTES:02X}",
            offset,
        )
    end = offset + 1 + size
    if end > len(data):
        raise DlmsTruncatedError(
            f"{what}: length prefix 0x{first:02X} announces {size} length bytes "
            f"but only {len(data) - offset - 1} remain",
            offset,
            end,
        )
    return int.from_bytes(data[offset + 1 : end], "big"), end


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(data).__name__}")


def _parse_ciphered_content(
    data: bytes, tag: int, system_title: bytes, length_offset: int
) -> tuple[CipheredApdu, int]:
    """Parse ``length || SC || FC || ciphertext || [tag]`` starting at ``length_offset``."""
    length, start = _read_length(data, length_offset, "ciphered content")
    raw_length = data[length_offset:start].hex()
    minimum = 1 + FRAME_COUNTER_LENGTH
    if start < len(data):
        sc = data[start]
        _check_security_control(sc, start)
        if sc & SC_AUTHENTICATED:
            minimum += AUTH_TAG_LENGTH
    if length < minimum:
        raise DlmsFrameError(
            f"length 0x{raw_length} = {length} bytes is too short: security control, "
            f"frame counter{' and authentication tag' if minimum > 5 else ''} need {minimum}",
            length_offset,
        )
    remaining = len(data) - start
    if remaining < length:
        raise DlmsTruncatedError(
            f"length 0x{raw_length} = {length} bytes but only {remaining} remain",
            length_offset,
            start + length,
        )
    sc = data[start]
    counter = int.from_bytes(data[start + 1 : start + 5], "big")
    end = start + length
    body_start = start + 1 + FRAME_COUNTER_LENGTH
    if sc & SC_AUTHENTICATED:
        ciphertext, auth_tag = data[body_start : end - AUTH_TAG_LENGTH], data[end - AUTH_TAG_LENGTH : end]
        return CipheredApdu(tag, system_title, sc, counter, ciphertext, auth_tag), end
    return CipheredApdu(tag, system_title, sc, counter, data[body_start:end], None), end


def _tag_hint(found: int) -> str:
    if found == 0x7E:
        return " (0x7E is an HDLC flag: strip the HDLC frame and its E6 E7 00 LLC header first)"
    if found == 0x2F:
        return " (0x2F is '/': this looks like a plain, unencrypted DSMR telegram)"
    return ""


def parse_general_glo_ciphering(data: bytes | bytearray | memoryview) -> tuple[CipheredApdu, int]:
    """Parse a ``general-glo-ciphering`` (0xDB) or ``general-ded-ciphering`` (0xDC) APDU.

    ``data`` must start at the tag and may hold more bytes after the APDU; the second return
    value is how many bytes the APDU used, so a stream reader can step to the next frame.  A
    buffer that ends too early raises :class:`DlmsTruncatedError` (``required`` tells how much is
    needed); any other malformation raises :class:`DlmsFrameError`, both with the byte offset.
    """
    buf = _as_bytes(data, "data")
    if not buf:
        raise DlmsTruncatedError("expected APDU tag 0xDB (general-glo-ciphering), found no data", 0, 1)
    tag = buf[0]
    if tag not in _GENERAL_NAMES:
        raise DlmsFrameError(
            f"expected APDU tag 0xDB (general-glo-ciphering) or 0xDC (general-ded-ciphering), "
            f"found 0x{tag:02X}{_tag_hint(tag)}",
            0,
        )
    if len(buf) < 2:
        raise DlmsTruncatedError("data ends before the system-title length", 1, 2)
    if buf[1] != SYSTEM_TITLE_LENGTH:
        raise DlmsFrameError(
            f"system-title length must be {SYSTEM_TITLE_LENGTH} (it forms the GCM IV), found {buf[1]}",
            1,
        )
    title_end = 2 + SYSTEM_TITLE_LENGTH
    if len(buf) < title_end:
        raise DlmsTruncatedError(
            f"system title needs {SYSTEM_TITLE_LENGTH} bytes but only {len(buf) - 2} remain", 2, title_end
        )
    return _parse_ciphered_content(buf, tag, buf[2:title_end], title_end)


def parse_service_specific_ciphering(
    data: bytes | bytearray | memoryview, system_title: bytes
) -> tuple[CipheredApdu, int]:
    """Parse a service-specific glo-/ded- ciphered APDU (e.g. 0xC8 glo-get-request).

    These APDUs omit the system title; pass the sender's, known from the association, because it
    forms the IV.  Returns the APDU and the number of bytes it used, like
    :func:`parse_general_glo_ciphering`.
    """
    buf = _as_bytes(data, "data")
    if not isinstance(system_title, bytes) or len(system_title) != SYSTEM_TITLE_LENGTH:
        raise DlmsFrameError(
            f"system title must be {SYSTEM_TITLE_LENGTH} bytes, found {_describe(system_title)}"
        )
    if not buf:
        raise DlmsTruncatedError("expected a service-specific ciphered APDU tag, found no data", 0, 1)
    tag = buf[0]
    if tag not in SERVICE_SPECIFIC_CIPHERING_TAGS:
        raise DlmsFrameError(
            f"expected a service-specific glo-/ded- ciphered APDU tag (e.g. 0xC8 glo-get-request), "
            f"found 0x{tag:02X}{_tag_hint(tag)}",
            0,
        )
    return _parse_ciphered_content(buf, tag, system_title, 1)


def _aad(apdu_sc: int, ak: bytes, info: bytes) -> bytes:
    # SC || AK, plus the information itself when it is authenticated but sent in clear
    return bytes((apdu_sc,)) + ak + (b"" if apdu_sc & SC_ENCRYPTED else info)


def _ctr_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    # GCM's encryption is CTR from inc32(J0) = IV || 00000002 (SP 800-38D §7.2)
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def decrypt(apdu: CipheredApdu, keys: SecurityKeys, *, policy: TagPolicy = TagPolicy.REQUIRE) -> bytes:
    """Decipher ``apdu`` and return the protected information (a DSMR telegram or an xDLMS APDU).

    With the default ``TagPolicy.REQUIRE`` the frame must be authenticated and its 12-byte tag
    must verify over AAD = SC || AK (Green Book / IEC 62056-5-3 §9.2.7; Luxmetering P1 v1.1.3
    §3.2.5), otherwise :class:`DlmsAuthenticationError`.  Without an authentication key in
    ``keys`` an authenticated frame raises :class:`DlmsKeyError` unless ``policy`` is
    ``TagPolicy.IGNORE``, which skips verification: then nothing detects a wrong key or altered
    bytes, and the caller must check the payload's own CRC.  See :class:`TagPolicy`.
    """
    if not isinstance(apdu, CipheredApdu):
        raise TypeError(f"apdu must be a CipheredApdu, not {type(apdu).__name__}")
    if not isinstance(keys, SecurityKeys):
        raise TypeError(f"keys must be SecurityKeys, not {type(keys).__name__}")
    sc = apdu.security_control
    if not apdu.authenticated:
        if policy in (TagPolicy.REQUIRE, TagPolicy.EMPTY_AAD):
            raise DlmsAuthenticationError(
                f"security control 0x{sc:02X}: the frame is not authenticated (bit 4 clear) but "
                f"policy {policy.name} requires an authentication tag; pass "
                "policy=TagPolicy.VERIFY_IF_PRESENT only for meters that really send "
                "encrypted-only frames"
            )
        return _ctr_decrypt(keys.encryption_key, apdu.iv, apdu.ciphertext)
    if policy is TagPolicy.IGNORE:
        if apdu.encrypted:
            return _ctr_decrypt(keys.encryption_key, apdu.iv, apdu.ciphertext)
        return apdu.ciphertext
    if policy is TagPolicy.EMPTY_AAD:
        if not apdu.encrypted:
            raise DlmsFrameError(
                f"security control 0x{sc:02X}: TagPolicy.EMPTY_AAD only applies to encrypted frames"
            )
        aad = b""
    else:
        if keys.authentication_key is None:
            raise DlmsKeyError(
                f"security control 0x{sc:02X} marks the frame authenticated and its tag covers "
                "SC || authentication key, so an authentication key is needed to verify it "
                "(Luxembourg Smarty: LUXEMBOURG_SMARTY_AUTHENTICATION_KEY); or pass "
                "policy=TagPolicy.IGNORE and check the payload's CRC instead"
            )
        aad = _aad(sc, keys.authentication_key, apdu.ciphertext)
    auth_tag = apdu.auth_tag
    if auth_tag is None:  # CipheredApdu.__post_init__ rules this out
        raise DlmsFrameError(f"security control 0x{sc:02X} needs an authentication tag, found none")
    decryptor = Cipher(
        algorithms.AES(keys.encryption_key),
        modes.GCM(apdu.iv, auth_tag, min_tag_length=AUTH_TAG_LENGTH),
    ).decryptor()
    if aad:
        decryptor.authenticate_additional_data(aad)
    plaintext = decryptor.update(apdu.ciphertext if apdu.encrypted else b"")
    try:
        plaintext += decryptor.finalize()
    except InvalidTag:
        raise DlmsAuthenticationError(
            f"{apdu.name} with system title {apdu.system_title.hex()} and frame counter "
            f"0x{apdu.frame_counter:08X}: GCM authentication tag {auth_tag.hex()} does not "
            "match: wrong encryption key, wrong authentication key, or the data was altered"
        ) from None
    return plaintext if apdu.encrypted else apdu.ciphertext


def encrypt(
    plaintext: bytes | bytearray | memoryview,
    keys: SecurityKeys,
    system_title: bytes,
    frame_counter: int,
    security_control: int = SC_AUTHENTICATED_ENCRYPTED,
    *,
    tag: int = GENERAL_GLO_CIPHERING,
) -> bytes:
    """Cipher ``plaintext`` and return the complete APDU bytes, as a meter would send them.

    Used by the virtual Luxembourg meter (and HAN simulators); the inverse of
    :func:`parse_general_glo_ciphering` followed by :func:`decrypt`.  GCM must never see the
    same IV twice under one key, so a sender must never reuse a ``frame_counter`` with the same
    ``system_title`` and encryption key: doing so reveals plaintexts and allows forgeries.
    """
    info = _as_bytes(plaintext, "plaintext")
    if not isinstance(keys, SecurityKeys):
        raise TypeError(f"keys must be SecurityKeys, not {type(keys).__name__}")
    if not isinstance(security_control, int) or not 0 <= security_control <= 0xFF:
        raise DlmsFrameError(f"security control must be one byte, found {security_control!r}")
    _check_security_control(security_control, None)
    if not isinstance(frame_counter, int) or not 0 <= frame_counter <= _MAX_COUNTER:
        raise DlmsFrameError(f"frame counter must be 0..0xFFFFFFFF, found {frame_counter!r}")
    probe = CipheredApdu(
        tag,
        system_title,
        security_control,
        frame_counter,
        b"",
        b"\x00" * AUTH_TAG_LENGTH if security_control & SC_AUTHENTICATED else None,
    )
    encryptor = Cipher(algorithms.AES(keys.encryption_key), modes.GCM(probe.iv)).encryptor()
    auth_tag: bytes | None = None
    if security_control & SC_AUTHENTICATED:
        if keys.authentication_key is None:
            raise DlmsKeyError(
                f"security control 0x{security_control:02X} asks for authentication, "
                "which needs an authentication key"
            )
        encryptor.authenticate_additional_data(_aad(security_control, keys.authentication_key, info))
    body = encryptor.update(info if security_control & SC_ENCRYPTED else b"") + encryptor.finalize()
    if security_control & SC_AUTHENTICATED:
        auth_tag = encryptor.tag[:AUTH_TAG_LENGTH]
    ciphertext = body if security_control & SC_ENCRYPTED else info
    return CipheredApdu(tag, system_title, security_control, frame_counter, ciphertext, auth_tag).to_bytes()


_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_SEPARATORS: Final = frozenset(" \t\r\n\v\f,:")


def parse_hex_dump(text: str) -> bytes:
    """Read a hex dump such as the corpus ``*.txt`` samples into bytes.

    Accepted: hex digits in either case, grouped freely (``db 08``, ``0883``, ``4B464D67...``);
    whitespace, blank lines, ``,`` and ``:`` as separators; ``#`` and ``//`` comments to the end
    of the line; a ``0x`` prefix on a group.  Digits pair up across separators and lines, because
    the DLMS corpus splits long runs at odd positions (``m-bus__austria-example-1.txt`` wraps a
    105-digit run onto the next line); only a ``0x`` group must hold whole bytes.  Anything else
    raises :class:`HexDumpError` naming the line and column (1-based).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    digits: list[str] = []
    last_digit: tuple[int, int, int] | None = None  # line, column, offset of an unpaired digit
    line_no, line_start = 1, 0
    index = 1 if text.startswith("\ufeff") else 0
    size = len(text)
    while index < size:
        char = text[index]
        column = index - line_start + 1
        if char == "\n":
            line_no, line_start = line_no + 1, index + 1
            index += 1
        elif char in _SEPARATORS:
            index += 1
        elif char == "#" or text.startswith("//", index):
            newline = text.find("\n", index)
            index = size if newline < 0 else newline
        elif char in _HEX_DIGITS and not (
            char == "0" and text[index + 1 : index + 2] in ("x", "X") and _at_group_start(text, index)
        ):
            if len(digits) % 2 == 0:
                last_digit = (line_no, column, index)
            digits.append(char)
            index += 1
        elif char == "0":  # a 0x prefix at the start of a group
            if len(digits) % 2 and last_digit is not None:
                raise HexDumpError(
                    f"'0x' group starts while the hex digit at line {last_digit[0]}, column "
                    f"{last_digit[1]} has no partner",
                    line_no,
                    column,
                    index,
                )
            end = index + 2
            while end < size and text[end] in _HEX_DIGITS:
                end += 1
            group = text[index + 2 : end]
            if not group or len(group) % 2:
                raise HexDumpError(
                    f"expected an even number of hex digits after '0x', found {len(group)}",
                    line_no,
                    column,
                    index,
                )
            digits.extend(group)
            index = end
        else:
            raise HexDumpError(
                f"expected a hex digit, separator, '#' or '//' comment, found {char!r}",
                line_no,
                column,
                index,
            )
    if len(digits) % 2 and last_digit is not None:
        raise HexDumpError(
            f"odd number of hex digits ({len(digits)}): this digit has no partner",
            last_digit[0],
            last_digit[1],
            last_digit[2],
        )
    return bytes.fromhex("".join(digits))


def _at_group_start(text: str, index: int) -> bool:
    return index == 0 or text[index - 1] in _SEPARATORS or text[index - 1] == "\ufeff"
