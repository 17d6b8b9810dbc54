"""Message security for the bus: COSE_Sign1 / Ed25519 signatures with replay protection, on bytes.

What this module promises (issue 6, item 2): every command is signed, and a receiver rejects, counts
and never acts on a message that is not COSE_Sign1, names an unknown key, uses a key outside its
validity period or outside the sites/sources it was provisioned for, was altered (bad signature),
replays an earlier sequence number, or was issued too long ago or in the future.

Wire format (RFC 9052 §4.2, COSE_Sign1, CBOR tag 18)::

    COSE_Sign1 = [ protected: bstr .cbor header_map, unprotected: {}, payload: bstr, signature: bstr ]

The protected header carries:

==========  =========================  ==============================================================
label       name                       value
==========  =========================  ==============================================================
1           alg                        -8, EdDSA (RFC 9053 §2.2); here always Ed25519 (RFC 8032 §5.1)
2           crit                       the private labels below, so that a generic COSE verifier
                                       that does not understand them must reject (RFC 9052 §3.1)
4           kid                        key id (bstr)
-65537      gridedge sequence          uint, per source, strictly increasing
-65538      gridedge issued-at         int, milliseconds since 1970-01-01T00:00:00Z
-65539      gridedge batch count       uint, only on batches (see `Signer.sign_batch`)
-65540      gridedge audience          tstr, optional: the one receiver a command is meant for
==========  =========================  ==============================================================

Labels below -65536 are the private-use range of the IANA "COSE Header Parameters" registry.

Why the sequence number and issue time are protected header parameters, not a CBOR wrapper inside the
payload: the payload stays the envelope codec's bytes, untouched (this module is independent of the
codec); the signature still covers them, because the protected bucket is part of the Sig_structure
(RFC 9052 §4.4); and the verifier can read them without parsing the payload. The unprotected bucket is
required to be empty: nothing a receiver acts on travels unauthenticated.

Why `kid` is protected although RFC 9052 §3.1 says it "can be placed in the unprotected bucket" since
it is only a hint: here the kid also selects the authorisation that comes with the key (which sources,
from when, until when). Protecting it stops an attacker from re-labelling a message with another kid
that maps to the same public key under a more permissive registration. It costs ~12 bytes.

The signature is Ed25519 (pure EdDSA, RFC 8032 §5.1.6 sign, §5.1.7 verify). `cryptography` rejects
non-canonical S values (RFC 8032 §5.1.7 step 1), so a valid signature cannot be altered into another
valid one; the protected header and payload bytes are signed as transmitted, so no byte of a message
other than the CBOR framing can change without failing verification, and framing changes fail
parsing (the message must be exactly one CBOR item, no trailing bytes).

Time is always injected (`issued_at`, `now`); nothing here reads the wall clock.

Not thread-safe: a `Verifier` keeps per-source replay state and counters, and is meant to be used by
one event loop (DESIGN.md: one loop per process).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cwt import COSE, COSEKey, VerifyError
from cwt.cose_key_interface import COSEKeyInterface

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_FUTURE",
    "KeyEntry",
    "KeyRing",
    "Reason",
    "Rejected",
    "Signer",
    "TimeSeededSequence",
    "Verified",
    "VerifiedBatch",
    "Verifier",
    "export_public_cose_key",
    "export_public_pem",
    "import_public_cose_key",
    "import_public_pem",
    "key_thumbprint",
]

# COSE header labels (RFC 9052 §3.1) and algorithm/key values (RFC 9053 §2.2, §7.2).
_ALG: Final = 1
_CRIT: Final = 2
_KID: Final = 4
_EDDSA: Final = -8
_KTY_OKP: Final = 1
_CRV_ED25519: Final = 6
_COSE_SIGN1_TAG: Final = 18

# Private-use header labels (< -65536) of this protocol.
SEQ: Final = -65537
IAT: Final = -65538
BATCH: Final = -65539
AUD: Final = -65540
_KNOWN_CRIT: Final = frozenset({SEQ, IAT, BATCH, AUD})

MAX_SEQUENCE: Final = 2**64 - 1
DEFAULT_MAX_AGE: Final = timedelta(seconds=120)
DEFAULT_MAX_FUTURE: Final = timedelta(seconds=120)
# A command is a few hundred bytes; a batch of readings a few tens of kB. Bounding the input bounds
# the work an unauthenticated sender can make the CBOR decoder do.
DEFAULT_MAX_MESSAGE_BYTES: Final = 1 << 20

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Reason(StrEnum):
    """Why a message was rejected; also the keys of `Verifier.rejected`."""

    MALFORMED = "malformed"  # not a well-formed, single COSE_Sign1 of this protocol
    OVERSIZE = "oversize"
    UNSUPPORTED = "unsupported"  # other alg than EdDSA, unknown critical header, batch/single mix-up
    UNKNOWN_KID = "unknown_kid"
    KEY_NOT_FOR_SOURCE = "key_not_for_source"
    KEY_NOT_VALID = "key_not_valid"  # outside the key's not-before/not-after
    BAD_SIGNATURE = "bad_signature"
    TOO_OLD = "too_old"
    IN_FUTURE = "in_future"
    WRONG_AUDIENCE = "wrong_audience"
    REPLAY = "replay"


class Rejected(Exception):
    """A message that must not be acted on. `reason` says which check failed, `detail` says how."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Verified:
    """An accepted single message: the signed payload and the authenticated metadata."""

    payload: bytes
    kid: bytes
    sequence: int
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class VerifiedBatch:
    """An accepted batch: its items in signing order and the authenticated metadata."""

    items: list[bytes]
    kid: bytes
    sequence: int
    issued_at: datetime


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


def _to_millis(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _from_millis(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_thumbprint(public_key: Ed25519PublicKey) -> bytes:
    """SHA-256 COSE Key Thumbprint (RFC 9679): the hash of the deterministic CBOR encoding of the
    key's required parameters {kty: OKP, crv: Ed25519, x}. Used to derive default key ids."""
    required = {_KTY_OKP: _KTY_OKP, -1: _CRV_ED25519, -2: _raw_public(public_key)}
    return hashlib.sha256(cbor2.dumps(required, canonical=True)).digest()


class TimeSeededSequence:
    """Sequence numbers that stay increasing across restarts without persisting a counter.

    The bus envelope's sequence restarts at 1 with the process, which a verifier would reject as a
    replay. Seeding from the clock, `next = max(last + 1, now in ms)`, keeps the numbers strictly
    increasing as long as the signer's clock does not step back by more than the gap and it signs
    fewer than 1000 messages per second on average (otherwise it runs ahead of the clock, harmlessly).
    """

    def __init__(self) -> None:
        self._last = 0

    def next(self, now: datetime) -> int:
        _require_aware("now", now)
        self._last = max(self._last + 1, _to_millis(now))
        return self._last


class Signer:
    """Holds one Ed25519 private key and its key id; produces COSE_Sign1 messages (RFC 9052 §4.2).

    The caller supplies `sequence` (strictly increasing per source; see `TimeSeededSequence`) and
    `issued_at` (from its injected clock), so signing is deterministic (Ed25519 is, RFC 8032 §5.1.6)
    and testable.
    """

    def __init__(self, private_key: Ed25519PrivateKey, kid: bytes | None = None) -> None:
        public = private_key.public_key()
        self.kid: bytes = kid if kid is not None else key_thumbprint(public)[:8]
        if not self.kid:
            raise ValueError("kid must not be empty")
        self._private_key = private_key
        self._cose_key = COSEKey.new(
            {
                1: _KTY_OKP,
                2: self.kid,
                3: _EDDSA,
                -1: _CRV_ED25519,
                -2: _raw_public(public),
                -4: private_key.private_bytes(
                    serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
                ),
            }
        )
        self._cose = COSE()

    @classmethod
    def generate(cls, kid: bytes | None = None) -> Signer:
        """A fresh key pair (provisioning a site). The default kid is the first 8 bytes of the key's
        RFC 9679 thumbprint, so two sites never share a kid by accident."""
        return cls(Ed25519PrivateKey.generate(), kid)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private_key.public_key()

    def export_private_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with `password` when given (store it on the site, never send it)."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_private_pem(cls, pem: bytes, kid: bytes | None = None, password: bytes | None = None) -> Signer:
        key = serialization.load_pem_private_key(pem, password=password)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
        return cls(key, kid)

    def _protected(self, sequence: int, issued_at: datetime, audience: str | None) -> dict[int, Any]:
        if isinstance(sequence, bool) or not isinstance(sequence, int) or not 1 <= sequence <= MAX_SEQUENCE:
            raise ValueError(f"sequence must be an integer in [1, 2**64-1], got {sequence!r}")
        _require_aware("issued_at", issued_at)
        protected: dict[int, Any] = {
            _ALG: _EDDSA,
            _CRIT: [SEQ, IAT],
            _KID: self.kid,
            SEQ: sequence,
            IAT: _to_millis(issued_at),
        }
        if audience is not None:
            if not audience:
                raise ValueError("audience must be a non-empty string or None")
            protected[_CRIT].append(AUD)
            protected[AUD] = audience
        return protected

    def _sign(self, payload: bytes, protected: dict[int, Any]) -> bytes:
        message = self._cose.encode_and_sign(payload, self._cose_key, protected=protected, unprotected={})
        assert isinstance(message, bytes)
        return message

    def sign(
        self, payload: bytes, *, sequence: int, issued_at: datetime, audience: str | None = None
    ) -> bytes:
        """One COSE_Sign1 over `payload`, with sequence, issue time and optional audience protected.

        `audience` names the one receiver a command is for (e.g. a site id), so that a command meant
        for site A cannot be replayed to site B (whose replay state has not seen that sequence).
        """
        return self._sign(payload, self._protected(sequence, issued_at, audience))

    def sign_batch(
        self, items: Iterable[bytes], *, sequence: int, issued_at: datetime, audience: str | None = None
    ) -> bytes:
        """One COSE_Sign1 whose payload is a CBOR array of the items (each a bstr).

        Telemetry: a gateway signs once per batch instead of once per reading; the verifier checks
        one signature per batch (see bench/bus_sign.py for what that buys). The item count is a
        protected critical header, so a single-message verifier rejects a batch and vice versa.
        """
        item_list = list(items)
        if not item_list:
            raise ValueError("a batch needs at least one item")
        if not all(isinstance(item, bytes) for item in item_list):
            raise TypeError("batch items must be bytes")
        protected = self._protected(sequence, issued_at, audience)
        protected[_CRIT].append(BATCH)
        protected[BATCH] = len(item_list)
        return self._sign(cbor2.dumps(item_list), protected)


# --- key ring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One provisioned public key: who may use it (sources) and when (not_before <= t < not_after)."""

    kid: bytes
    public_key: Ed25519PublicKey
    sources: frozenset[str]
    not_before: datetime | None = None
    not_after: datetime | None = None
    cose_key: COSEKeyInterface = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.kid:
            raise ValueError("kid must not be empty")
        if not self.sources or not all(self.sources):
            raise ValueError("a key must be provisioned for at least one non-empty source")
        for name in ("not_before", "not_after"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(name, value)
        if self.not_before is not None and self.not_after is not None and self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        cose_key = COSEKey.new(
            {1: _KTY_OKP, 2: self.kid, 3: _EDDSA, -1: _CRV_ED25519, -2: _raw_public(self.public_key)}
        )
        object.__setattr__(self, "cose_key", cose_key)

    def valid_at(self, when: datetime) -> bool:
        if self.not_before is not None and when < self.not_before:
            return False
        return self.not_after is None or when < self.not_after


class KeyRing:
    """The public keys a receiver trusts: kid -> key, with validity and the sources it may speak for.

    Key ids are unique within a ring (RFC 9052 §3.1 allows non-unique kids and then asks to try all
    of them; we refuse duplicates at provisioning instead, so one lookup decides). A key is bound to
    the sources (sites, gateways, the DSO head-end...) it was provisioned for: a site's key is
    worthless for another site. Rotation = `provision` the new key with a not-before, `retire` the
    old one with a not-after; the overlap covers messages in flight and clock skew.
    """

    def __init__(self, entries: Iterable[KeyEntry] = ()) -> None:
        self._entries: dict[bytes, KeyEntry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: KeyEntry) -> None:
        if entry.kid in self._entries:
            raise ValueError(f"kid {entry.kid.hex()} is already provisioned")
        self._entries[entry.kid] = entry

    def provision(
        self,
        public_key: Ed25519PublicKey,
        *,
        kid: bytes,
        sources: Iterable[str],
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> KeyEntry:
        entry = KeyEntry(kid, public_key, frozenset(sources), not_before, not_after)
        self.add(entry)
        return entry

    def retire(self, kid: bytes, not_after: datetime) -> KeyEntry:
        """End a key's validity at `not_after` (it stays known, so late messages get a precise reason)."""
        entry = replace(self._entries[kid], not_after=not_after)
        self._entries[kid] = entry
        return entry

    def revoke(self, kid: bytes) -> None:
        """Forget a key at once (compromise); its messages then count as `unknown_kid`."""
        del self._entries[kid]

    def rotate(
        self,
        old_kid: bytes,
        new_public_key: Ed25519PublicKey,
        *,
        new_kid: bytes,
        at: datetime,
        overlap: timedelta = timedelta(minutes=10),
    ) -> KeyEntry:
        """Provision a new key for the old key's sources, valid from `at`; retire the old one at
        `at + overlap`."""
        old = self._entries[old_kid]
        new = self.provision(new_public_key, kid=new_kid, sources=old.sources, not_before=at)
        self.retire(old_kid, at + overlap)
        return new

    def get(self, kid: bytes) -> KeyEntry | None:
        return self._entries.get(kid)

    def for_source(self, source: str) -> list[KeyEntry]:
        return [entry for entry in self._entries.values() if source in entry.sources]

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def export_public_cose_key(public_key: Ed25519PublicKey, kid: bytes) -> bytes:
    """A COSE_Key (RFC 9052 §7; OKP parameters RFC 9053 §7.2) holding the public key only."""
    cose_key = COSEKey.new({1: _KTY_OKP, 2: kid, 3: _EDDSA, -1: _CRV_ED25519, -2: _raw_public(public_key)})
    return cbor2.dumps(cose_key.to_dict(), canonical=True)


def import_public_cose_key(data: bytes) -> tuple[bytes, Ed25519PublicKey]:
    """(kid, public key) from a COSE_Key. Refuses private keys (a `d` parameter): a key ring must
    never receive one, and accepting it silently would hide a provisioning mistake."""
    params = cbor2.loads(data)
    if not isinstance(params, dict):
        raise ValueError("a COSE_Key is a CBOR map")
    if -4 in params:
        raise ValueError("COSE_Key contains a private key (d); export the public key only")
    if params.get(1) != _KTY_OKP or params.get(-1) != _CRV_ED25519 or params.get(3, _EDDSA) != _EDDSA:
        raise ValueError("expected an OKP Ed25519 COSE_Key for EdDSA")
    kid = params.get(2)
    if not isinstance(kid, bytes) or not kid:
        raise ValueError("COSE_Key has no kid")
    key = COSEKey.new(params).key
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("expected an Ed25519 public key")
    return kid, key


def export_public_pem(public_key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM (RFC 8410), for tooling that does not speak COSE."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def import_public_pem(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


# --- verification -----------------------------------------------------------------------------

# payload, batch items (empty for a single message), kid, sequence, issued_at
_Checked = tuple[bytes, list[bytes], bytes, int, datetime]


@dataclass(slots=True)
class _ReplayWindow:
    """Highest accepted sequence and a bitmap of accepted ones just below it (RFC 4303 §3.4.3)."""

    top: int = 0
    seen: int = 0  # bit i set = sequence (top - 1 - i) was accepted

    def check(self, sequence: int, window: int) -> bool:
        if sequence > self.top:
            return True
        offset = self.top - sequence  # >= 0
        if offset == 0 or offset > window:
            return False
        return not (self.seen >> (offset - 1)) & 1

    def accept(self, sequence: int, window: int) -> None:
        if sequence > self.top:
            shift = sequence - self.top
            if not self.top or shift > window:
                # nothing below the new top is inside the window; shifting would build an int of
                # `shift` bits (a jump of 10**13 in a signed sequence ran out of memory)
                self.seen = 0
            else:
                self.seen = (self.seen << shift) | (1 << (shift - 1))
            self.top = sequence
        else:
            self.seen |= 1 << (self.top - sequence - 1)
        self.seen &= (1 << window) - 1 if window else 0


class Verifier:
    """Checks COSE_Sign1 messages against a `KeyRing` and per-source replay state.

    Order of checks, chosen so that no state changes and no reason is attributed on the strength of
    unauthenticated data: size -> structure -> kid known -> key for this source -> key valid now ->
    signature -> (now authenticated) batch/single kind, audience, time window -> replay -> accept.

    `reorder_window` (default 0: strictly increasing) lets the last N sequence numbers below the
    highest accepted one through once each, RFC 4303-style. Keep 0 for commands: a limit that
    arrives after a newer limit must not override it. A small window (e.g. 64) suits telemetry
    over MQTT with shared subscriptions or QoS 1 redelivery, where order across batches is not
    guaranteed and each batch stands alone.

    The replay state lives in memory: after a verifier restart, a message replayed within the time
    window would be accepted once. Persist `last_sequences()` and pass it back as `initial` if that
    matters for the deployment.
    """

    def __init__(
        self,
        keyring: KeyRing,
        *,
        audience: str | None = None,
        max_age: timedelta = DEFAULT_MAX_AGE,
        max_future: timedelta = DEFAULT_MAX_FUTURE,
        reorder_window: int = 0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        initial: dict[str, int] | None = None,
    ) -> None:
        if max_age < timedelta(0) or max_future < timedelta(0):
            raise ValueError("time window bounds must be >= 0")
        if reorder_window < 0:
            raise ValueError("reorder_window must be >= 0")
        self.keyring = keyring
        self.audience = audience
        self.max_age = max_age
        self.max_future = max_future
        self.reorder_window = reorder_window
        self.max_message_bytes = max_message_bytes
        self._cose = COSE()
        self._replay: dict[str, _ReplayWindow] = {
            source: _ReplayWindow(top=top) for source, top in (initial or {}).items()
        }
        self.accepted = 0
        self.rejected: dict[str, int] = {reason.value: 0 for reason in Reason}

    def last_sequences(self) -> dict[str, int]:
        """Highest accepted sequence per source (to persist the replay state)."""
        return {source: window.top for source, window in self._replay.items()}

    def verify(self, message: bytes, *, source: str, now: datetime) -> Verified:
        """Accept a single message from `source` at `now`, or raise `Rejected` (and count it)."""
        payload, _, kid, sequence, issued_at = self._verify(message, source, now, batch=False)
        return Verified(payload, kid, sequence, issued_at)

    def verify_batch(self, message: bytes, *, source: str, now: datetime) -> VerifiedBatch:
        """Accept a batch from `Signer.sign_batch`, returning its items, or raise `Rejected`."""
        _, items, kid, sequence, issued_at = self._verify(message, source, now, batch=True)
        return VerifiedBatch(items, kid, sequence, issued_at)

    def _verify(self, message: bytes, source: str, now: datetime, *, batch: bool) -> _Checked:
        _require_aware("now", now)
        try:
            result = self._check(message, source, now, batch)
        except Rejected as rejected:
            self.rejected[rejected.reason.value] += 1
            raise
        self.accepted += 1
        return result

    def _check(self, message: bytes, source: str, now: datetime, batch: bool) -> _Checked:
        if not isinstance(message, bytes | bytearray | memoryview):
            raise Rejected(Reason.MALFORMED, f"expected bytes, got {type(message).__name__}")
        if len(message) > self.max_message_bytes:
            raise Rejected(Reason.OVERSIZE, f"{len(message)} bytes > {self.max_message_bytes}")
        tag, protected = _parse_sign1(bytes(message))

        if protected.get(_ALG) != _EDDSA:
            raise Rejected(Reason.UNSUPPORTED, f"alg {protected.get(_ALG)!r}, expected EdDSA (-8)")
        kid = protected.get(_KID)
        if not isinstance(kid, bytes):
            raise Rejected(Reason.MALFORMED, "no kid in the protected header")
        entry = self.keyring.get(kid)
        if entry is None:
            raise Rejected(Reason.UNKNOWN_KID, kid.hex())
        if source not in entry.sources:
            raise Rejected(Reason.KEY_NOT_FOR_SOURCE, f"kid {kid.hex()} is not provisioned for {source!r}")
        if not entry.valid_at(now):
            raise Rejected(
                Reason.KEY_NOT_VALID,
                f"kid {kid.hex()} valid [{entry.not_before}, {entry.not_after}), now {now.isoformat()}",
            )
        try:
            # RFC 9052 §4.4: cwt rebuilds Sig_structure ["Signature1", protected, b"", payload] and
            # checks the Ed25519 signature (RFC 8032 §5.1.7) with the one key the kid selected.
            _, _, payload = self._cose.decode_with_headers(tag, entry.cose_key)
        except VerifyError as error:
            raise Rejected(Reason.BAD_SIGNATURE, f"kid {kid.hex()}") from error
        except Exception as error:  # cwt's own structural checks; we already ran ours
            raise Rejected(Reason.MALFORMED, str(error)) from error

        # Everything below reads authenticated data.
        crit = protected.get(_CRIT)
        if not isinstance(crit, list) or not set(crit) <= _KNOWN_CRIT or not {SEQ, IAT} <= set(crit):
            raise Rejected(Reason.UNSUPPORTED, f"critical headers {crit!r}")
        sequence, millis = protected.get(SEQ), protected.get(IAT)
        if not isinstance(sequence, int) or isinstance(sequence, bool) or not 1 <= sequence <= MAX_SEQUENCE:
            raise Rejected(Reason.MALFORMED, f"sequence {sequence!r}")
        if not isinstance(millis, int) or isinstance(millis, bool):
            raise Rejected(Reason.MALFORMED, f"issued-at {millis!r}")
        try:
            issued_at = _from_millis(millis)
        except OverflowError as error:
            raise Rejected(Reason.MALFORMED, f"issued-at {millis} out of range") from error

        if (BATCH in protected) != batch:
            raise Rejected(
                Reason.UNSUPPORTED,
                "batch where a single message was expected"
                if not batch
                else "single message where a batch was expected",
            )
        items = _parse_batch(payload, protected[BATCH]) if batch else []

        audience = protected.get(AUD)
        if audience != self.audience:
            raise Rejected(
                Reason.WRONG_AUDIENCE, f"message for {audience!r}, this receiver is {self.audience!r}"
            )

        if issued_at < now - self.max_age:
            raise Rejected(Reason.TOO_OLD, f"issued {issued_at.isoformat()}, now {now.isoformat()}")
        if issued_at > now + self.max_future:
            raise Rejected(Reason.IN_FUTURE, f"issued {issued_at.isoformat()}, now {now.isoformat()}")

        window = self._replay.get(source)
        if window is None:
            window = _ReplayWindow()
        if not window.check(sequence, self.reorder_window):
            raise Rejected(
                Reason.REPLAY, f"sequence {sequence} from {source!r}, highest accepted {window.top}"
            )
        window.accept(sequence, self.reorder_window)
        self._replay[source] = window
        return payload, items, kid, sequence, issued_at


def _decode_one(data: bytes, what: str) -> Any:
    """Decode exactly one CBOR item. `cbor2.loads` ignores trailing bytes, so a decoder on a stream
    is used and the position checked. Any decoder failure on untrusted input becomes `malformed`."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except Exception as error:
        raise Rejected(Reason.MALFORMED, f"{what} is not CBOR: {error}") from error
    if stream.tell() != len(data):
        raise Rejected(Reason.MALFORMED, f"{what}: {len(data) - stream.tell()} trailing bytes")
    return item


def _parse_sign1(message: bytes) -> tuple[cbor2.CBORTag, dict[Any, Any]]:
    """Check `message` is exactly one COSE_Sign1 of this protocol (RFC 9052 §4.2); return the tag
    (handed to cwt as is, so the bytes are parsed once) and the decoded protected header."""
    item = _decode_one(message, "message")
    if not isinstance(item, cbor2.CBORTag) or item.tag != _COSE_SIGN1_TAG:
        raise Rejected(Reason.MALFORMED, "not a tagged COSE_Sign1 (CBOR tag 18)")
    value = item.value
    if not isinstance(value, list) or len(value) != 4:
        raise Rejected(Reason.MALFORMED, "COSE_Sign1 is an array of 4")
    protected_bytes, unprotected, payload, signature = value
    if not isinstance(protected_bytes, bytes) or not protected_bytes:
        raise Rejected(Reason.MALFORMED, "empty or non-bstr protected header")
    if unprotected != {}:
        raise Rejected(Reason.MALFORMED, "unprotected header must be empty")
    if not isinstance(payload, bytes):
        raise Rejected(Reason.MALFORMED, "payload must be an attached bstr")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise Rejected(Reason.MALFORMED, "Ed25519 signature must be 64 bytes")
    protected = _decode_one(protected_bytes, "protected header")
    if not isinstance(protected, dict):
        raise Rejected(Reason.MALFORMED, "protected header is not a map")
    return item, protected


def _parse_batch(payload: bytes, count: Any) -> list[bytes]:
    items = _decode_one(payload, "batch payload")  # signed, so a signer bug, but still not acted on
    if not isinstance(items, list) or not all(isinstance(item, bytes) for item in items):
        raise Rejected(Reason.MALFORMED, "batch payload must be an array of bstr")
    if count != len(items):
        raise Rejected(Reason.MALFORMED, f"batch header says {count!r} items, payload has {len(items)}")
    return items
