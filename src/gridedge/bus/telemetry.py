"""Telemetry on the wire: compact CBOR records, sealed per message with COSE_Encrypt0.

Upstream data (meter -> head-end) is the bulk of a smart-metering system's traffic: a city of a
million meters at one grid-point sample every 10 s is 100,000 messages a second. Commands are
signed (`gridedge.bus.security`, Ed25519: anyone may verify, only the grid operator can sign);
telemetry instead is authenticated *and* encrypted per message with a symmetric key per meter,
as DLMS/COSEM does with its per-meter global unicast encryption key (IEC 62056-5-3 §9.2.7, the
"general-glo-ciphering" the P1 issue decodes). AES-GCM costs a few microseconds; an Ed25519
verification ~130 us, so a per-message signature would need ~13 cores for that city
(bench/bus_sign.py).

Wire format (all CBOR, RFC 8949):

- the plaintext is one array whose first element is the record type
  (1 grid-point sample, 2 load curve, 3 event, 4 WAN report, 9 head-end acknowledgement);
  times are integer milliseconds since the Unix epoch, UTC;
- it is sealed as COSE_Encrypt0 (RFC 9052 §5.2) with AES-128-GCM (alg 1, RFC 9053 §4.1): the
  protected header holds the algorithm, the unprotected header the key id (the meter id, UTF-8)
  and a fresh random 96-bit IV. A random IV is safe for 2^32 messages per key (NIST SP 800-38D
  §8.3): 1,300 years of 10 s samples.

Replays need no window here: records are stored idempotently on (meter, sequence), so a replayed
message adds nothing, and the head-end's security monitor counts sequences it has already seen.
Decoding is checked: errors name the field, what was expected and what was found.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gridedge.bus.security import Reason, Rejected
from gridedge.model.telemetry import (
    EventCode,
    GridPointSample,
    LoadCurve,
    MeterEvent,
    SampleKind,
    TelemetryAck,
    TelemetryRecord,
    WanReport,
)

__all__ = [
    "KEY_BYTES",
    "MAX_MESSAGE_BYTES",
    "Opener",
    "Sealer",
    "TelemetryDecodeError",
    "decode_ack",
    "decode_record",
    "encode_ack",
    "encode_record",
    "new_key",
]

KEY_BYTES = 16
"""AES-128: the key size DLMS/COSEM security suite 0 and 1 use for meters."""

MAX_MESSAGE_BYTES = 64 * 1024
"""A load curve of 90 values is ~1 kB; bounding the input bounds an unauthenticated sender's cost."""

_SAMPLE, _CURVE, _EVENT, _WAN, _ACK = 1, 2, 3, 4, 9
_KINDS = {SampleKind.MONITORING: 0, SampleKind.NRTD: 1}
_KINDS_BACK = {v: k for k, v in _KINDS.items()}
_EVENT_CODES = {c.value: c for c in EventCode}


class TelemetryDecodeError(ValueError):
    """A telemetry plaintext that is not a valid record; the message names the field."""


def new_key() -> bytes:
    """A fresh random AES-128 key for one meter."""
    return secrets.token_bytes(KEY_BYTES)


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def encode_record(record: TelemetryRecord) -> bytes:
    """The CBOR plaintext of one record."""
    r = record
    if isinstance(r, GridPointSample):
        body: list[Any] = [
            _SAMPLE, r.meter_id, r.sequence, _ms(r.time), _KINDS[r.kind], r.import_w, r.export_w,
            r.import_wh, r.export_wh, list(r.voltage_v), list(r.current_a), r.frequency_hz,
        ]  # fmt: skip
    elif isinstance(r, LoadCurve):
        body = [
            _CURVE, r.meter_id, r.sequence, _ms(r.start), r.interval_s, list(r.import_wh), list(r.export_wh),
        ]  # fmt: skip
    elif isinstance(r, MeterEvent):
        body = [
            _EVENT, r.meter_id, r.sequence, _ms(r.time), r.code.value, r.phase, r.value, r.duration_s,
            r.detail,
        ]  # fmt: skip
    elif isinstance(r, WanReport):
        body = [
            _WAN, r.meter_id, r.sequence, _ms(r.time), _ms(r.since), r.link_up, r.latency_ms_median,
            r.latency_ms_max, r.outages, r.outage_s, r.sent, r.resent,
        ]  # fmt: skip
    else:  # pragma: no cover - exhaustive over TelemetryRecord
        raise TypeError(f"not a telemetry record: {type(record).__name__}")
    return cbor2.dumps(body)


_NAMES = {
    _SAMPLE: ("type", "meter_id", "sequence", "time", "kind", "import_w", "export_w", "import_wh",
              "export_wh", "voltage_v", "current_a", "frequency_hz"),
    _CURVE: ("type", "meter_id", "sequence", "start", "interval_s", "import_wh", "export_wh"),
    _EVENT: ("type", "meter_id", "sequence", "time", "code", "phase", "value", "duration_s", "detail"),
    _WAN: ("type", "meter_id", "sequence", "time", "since", "link_up", "latency_ms_median",
           "latency_ms_max", "outages", "outage_s", "sent", "resent"),
    _ACK: ("type", "meter_id", "ranges"),
}  # fmt: skip
_TYPE_NAMES = {_SAMPLE: "grid-point sample", _CURVE: "load curve", _EVENT: "event", _WAN: "WAN report"}


def _fail(field: str, expected: str, found: object) -> TelemetryDecodeError:
    return TelemetryDecodeError(f"{field}: expected {expected}, found {found!r}"[:300])


def _int(v: object, field: str) -> int:
    if type(v) is not int:
        raise _fail(field, "an integer", v)
    return v


def _num(v: object, field: str) -> float:
    if type(v) is not int and type(v) is not float:
        raise _fail(field, "a number", v)
    return v


def _opt_num(v: object, field: str) -> float | None:
    return None if v is None else _num(v, field)


def _str(v: object, field: str) -> str:
    if type(v) is not str:
        raise _fail(field, "a text string", v)
    return v


def _nums(v: object, field: str) -> tuple[float | None, ...]:
    if type(v) is not list:
        raise _fail(field, "an array", v)
    for x in v:  # the hot path: a check per element, a name only on failure
        t = type(x)
        if t is not float and t is not int and x is not None:
            i = next(i for i, y in enumerate(v) if y is x)
            raise _fail(f"{field}[{i}]", "a number", x)
    return tuple(v)


def _array(data: bytes, what: str) -> list[Any]:
    try:
        body = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types on garbage
        raise TelemetryDecodeError(f"{what}: not CBOR ({exc})") from None
    if type(body) is not list or not body:
        raise _fail(what, "a non-empty CBOR array", body)
    return body


def decode_record(data: bytes) -> TelemetryRecord:
    """The record in a plaintext; TelemetryDecodeError naming the field otherwise."""
    body = _array(data, "record")
    kind = body[0]
    names = _NAMES.get(kind) if type(kind) is int and kind != _ACK else None
    if names is None:
        raise _fail("record.type", "1 (sample), 2 (load curve), 3 (event) or 4 (WAN report)", kind)
    if len(body) != len(names):
        raise _fail(f"record ({_TYPE_NAMES[kind]})", f"{len(names)} elements", f"{len(body)} elements")
    meter_id = _str(body[1], "meter_id")
    sequence = _int(body[2], "sequence")
    time = _time(_int(body[3], names[3]))
    try:
        if kind == _SAMPLE:
            k = _KINDS_BACK.get(body[4])
            if k is None:
                raise _fail("kind", "0 (monitoring) or 1 (nrtd)", body[4])
            return GridPointSample(
                meter_id, sequence, time, k, _num(body[5], "import_w"), _num(body[6], "export_w"),
                _int(body[7], "import_wh"), _int(body[8], "export_wh"), _nums(body[9], "voltage_v"),
                _nums(body[10], "current_a"), _opt_num(body[11], "frequency_hz"),
            )  # fmt: skip
        if kind == _CURVE:
            return LoadCurve(
                meter_id, sequence, time, _int(body[4], "interval_s"), _nums(body[5], "import_wh"),
                _nums(body[6], "export_wh"),
            )  # fmt: skip
        if kind == _EVENT:
            code = _EVENT_CODES.get(body[4]) if type(body[4]) is str else None
            if code is None:
                raise _fail("code", f"one of {sorted(_EVENT_CODES)}", body[4])
            phase = None if body[5] is None else _int(body[5], "phase")
            return MeterEvent(
                meter_id, sequence, time, code, phase, _opt_num(body[6], "value"),
                _opt_num(body[7], "duration_s"), _str(body[8], "detail"),
            )  # fmt: skip
        if type(body[5]) is not bool:
            raise _fail("link_up", "true or false", body[5])
        return WanReport(
            meter_id, sequence, time, _time(_int(body[4], "since")), body[5],
            _opt_num(body[6], "latency_ms_median"), _opt_num(body[7], "latency_ms_max"),
            _int(body[8], "outages"), _num(body[9], "outage_s"), _int(body[10], "sent"),
            _int(body[11], "resent"),
        )  # fmt: skip
    except TelemetryDecodeError:
        raise
    except ValueError as exc:  # the model's own checks
        raise TelemetryDecodeError(f"{_TYPE_NAMES[kind]} of {meter_id!r} #{sequence}: {exc}") from None


def encode_ack(ack: TelemetryAck) -> bytes:
    return cbor2.dumps([_ACK, ack.meter_id, [list(r) for r in ack.ranges]])


def decode_ack(data: bytes) -> TelemetryAck:
    body = _array(data, "ack")
    if body[0] != _ACK or len(body) != 3:
        raise _fail("ack", "[9, meter_id, ranges]", body)
    ranges_raw = body[2]
    if type(ranges_raw) is not list:
        raise _fail("ranges", "an array", ranges_raw)
    ranges = []
    for i, r in enumerate(ranges_raw):
        if type(r) is not list or len(r) != 2:
            raise _fail(f"ranges[{i}]", "[first, last]", r)
        ranges.append((_int(r[0], f"ranges[{i}][0]"), _int(r[1], f"ranges[{i}][1]")))
    try:
        return TelemetryAck(_str(body[1], "meter_id"), tuple(ranges))
    except ValueError as exc:
        raise TelemetryDecodeError(f"ack: {exc}") from None


# COSE_Encrypt0 (RFC 9052 §5.2) with AES-128-GCM (alg 1, RFC 9053 §4.1), built directly on
# `cryptography`'s AESGCM. cwt (used for the commands' COSE_Sign1) does the same in ~22 us per seal
# and ~10 us per open; the head-end does one open and one seal (the ack) per reading, so cwt alone
# would cost ~0.6 core at 20,000 readings/s. Done here: ~4 us each (bench/README.md, "HES").
# tests/bus/test_telemetry_wire.py checks both directions against cwt.
_ALG_A128GCM = 1
_HDR_ALG, _HDR_KID, _HDR_IV = 1, 4, 5
_PROTECTED_BYTES = cbor2.dumps({_HDR_ALG: _ALG_A128GCM})
_COSE_ENCRYPT0_TAG = 16


def _enc_structure(protected: bytes) -> bytes:
    """The AAD of COSE_Encrypt0: Enc_structure ["Encrypt0", protected, external_aad] (§5.3)."""
    return cbor2.dumps(["Encrypt0", protected, b""])


_AAD = _enc_structure(_PROTECTED_BYTES)


def _aead(meter_id: str, key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise ValueError(f"key of {meter_id!r}: expected {KEY_BYTES} bytes, found {len(key)}")
    return AESGCM(key)


class Sealer:
    """Seals plaintexts of one meter (the gateway's side, and the head-end's for acks)."""

    def __init__(self, meter_id: str, key: bytes) -> None:
        self.meter_id = meter_id
        self._aead = _aead(meter_id, key)
        self._kid = meter_id.encode()
        # tag 16, array(3), protected, map(2) {4: kid, 5: <the IV follows>}
        self._head = b"".join((
            b"\xd0\x83", _bstr_head(len(_PROTECTED_BYTES)), _PROTECTED_BYTES,
            b"\xa2\x04", _bstr_head(len(self._kid)), self._kid, b"\x05\x4c",
        ))  # fmt: skip

    def seal(self, plaintext: bytes) -> bytes:
        """COSE_Encrypt0 of `plaintext`, with a fresh random 96-bit IV.

        The CBOR is assembled here (tag 16, [protected, {4: kid, 5: iv}, ciphertext]): it is the
        same bytes cbor2 would write for that structure (the tests decode it with cbor2 and cwt),
        at a third of the cost, and the head-end seals one acknowledgement per reading.
        """
        iv = os.urandom(12)
        ciphertext = self._aead.encrypt(iv, plaintext, _AAD)
        return b"".join((self._head, iv, _bstr_head(len(ciphertext)), ciphertext))


def _bstr_head(n: int) -> bytes:
    """The CBOR head of a byte string of length n (RFC 8949 §3.1, major type 2)."""
    if n < 24:
        return bytes((0x40 | n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return b"\x59" + n.to_bytes(2, "big")
    return b"\x5a" + n.to_bytes(4, "big")


class Opener:
    """Opens sealed messages, looking the key up by meter id; counts what it rejects.

    `keys(meter_id)` returns the meter's key or None (unknown meter); `previous(meter_id)` the key
    it had before a rotation, tried when the current one fails, so records sealed before the
    gateway switched still open. COSE keys are built once and cached (`forget` drops a meter's
    after its key changed).
    """

    def __init__(
        self,
        keys: Callable[[str], bytes | None],
        previous: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self._keys = keys
        self._previous = previous
        self._cache: dict[str, AESGCM] = {}
        self.rejected: dict[Reason, int] = {}

    def forget(self, meter_id: str) -> None:
        self._cache.pop(meter_id, None)

    def open(self, message: bytes, meter_id: str) -> bytes:
        """The plaintext of a message claimed to come from `meter_id`; Rejected otherwise.

        UNKNOWN_KID when the meter has no key, BAD_SIGNATURE when authentication fails (altered or
        sealed with another key), KEY_NOT_FOR_SOURCE when the key id is another meter's,
        MALFORMED when it is not COSE_Encrypt0, OVERSIZE above MAX_MESSAGE_BYTES.
        """
        if len(message) > MAX_MESSAGE_BYTES:
            raise self._reject(
                Reason.OVERSIZE, f"meter {meter_id!r}: {len(message)} bytes > {MAX_MESSAGE_BYTES}"
            )
        aead = self._cache.get(meter_id)
        if aead is None:
            raw = self._keys(meter_id)
            if raw is None:
                raise self._reject(Reason.UNKNOWN_KID, f"no key for meter {meter_id!r}")
            aead = self._cache[meter_id] = _aead(meter_id, raw)
        try:
            iv, ciphertext, aad = _parse_encrypt0(message, meter_id)
        except Rejected as exc:
            raise self._reject(exc.reason, exc.detail) from None
        try:
            return aead.decrypt(iv, ciphertext, aad)
        except InvalidTag:
            pass
        if self._previous is not None:
            old = self._previous(meter_id)
            if old is not None:
                try:
                    return _aead(meter_id, old).decrypt(iv, ciphertext, aad)
                except InvalidTag:
                    pass
        raise self._reject(Reason.BAD_SIGNATURE, f"meter {meter_id!r}: authentication tag does not verify")

    def _reject(self, reason: Reason, detail: str) -> Rejected:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return Rejected(reason, detail)


def _parse_encrypt0(message: bytes, meter_id: str) -> tuple[bytes, bytes, bytes]:
    """IV, ciphertext and AAD of a COSE_Encrypt0 for `meter_id`; Rejected naming what is wrong."""
    try:
        obj = cbor2.loads(message)
    except Exception as exc:  # cbor2 raises several types on garbage
        raise Rejected(Reason.MALFORMED, f"meter {meter_id!r}: not CBOR ({exc})") from None
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != _COSE_ENCRYPT0_TAG:
            detail = f"meter {meter_id!r}: CBOR tag {obj.tag}, expected 16 (COSE_Encrypt0)"
            raise Rejected(Reason.MALFORMED, detail)
        obj = obj.value
    if type(obj) is not list or len(obj) != 3:
        raise Rejected(Reason.MALFORMED, f"meter {meter_id!r}: expected [protected, unprotected, ciphertext]")
    protected, unprotected, ciphertext = obj
    if type(protected) is not bytes or type(unprotected) is not dict or type(ciphertext) is not bytes:
        raise Rejected(Reason.MALFORMED, f"meter {meter_id!r}: COSE_Encrypt0 fields of the wrong types")
    if protected == _PROTECTED_BYTES:
        aad = _AAD
    else:
        try:
            headers = cbor2.loads(protected) if protected else {}
        except Exception:
            raise Rejected(Reason.MALFORMED, f"meter {meter_id!r}: protected header is not CBOR") from None
        if type(headers) is not dict or headers.get(_HDR_ALG) != _ALG_A128GCM:
            raise Rejected(Reason.UNSUPPORTED, f"meter {meter_id!r}: algorithm must be A128GCM (1)")
        if any(k not in (_HDR_ALG, _HDR_KID, _HDR_IV) for k in headers):
            detail = f"meter {meter_id!r}: unknown protected header in {sorted(headers)}"
            raise Rejected(Reason.UNSUPPORTED, detail)
        aad = _enc_structure(protected)
    kid = unprotected.get(_HDR_KID)
    if kid != meter_id.encode():
        raise Rejected(Reason.KEY_NOT_FOR_SOURCE, f"meter {meter_id!r}: key id {kid!r} is not this meter's")
    iv = unprotected.get(_HDR_IV)
    if type(iv) is not bytes or len(iv) != 12:
        raise Rejected(Reason.MALFORMED, f"meter {meter_id!r}: IV must be 12 bytes, found {iv!r}")
    return iv, ciphertext, aad
