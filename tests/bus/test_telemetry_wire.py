"""Telemetry records on the wire: CBOR round trips, checked decoding, COSE_Encrypt0 sealing."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

import cbor2
import pytest
from cwt import COSE, COSEKey
from hypothesis import given
from hypothesis import strategies as st

from gridedge.bus.security import Reason, Rejected
from gridedge.bus.telemetry import (
    Opener,
    Sealer,
    TelemetryDecodeError,
    decode_ack,
    decode_record,
    encode_ack,
    encode_record,
    new_key,
)
from gridedge.model.telemetry import (
    EventCode,
    GridPointSample,
    LoadCurve,
    MeterEvent,
    SampleKind,
    TelemetryAck,
    WanReport,
    merge_ranges,
)

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def records() -> list[object]:
    return [
        GridPointSample(
            "m1", 1, T0, SampleKind.MONITORING, 1234.0, 0.0, 12_345_678, 2_345, (230.1, None, 229.0),
            (5.2, None, 1.0), 50.01,
        ),
        GridPointSample("m1", 2, T0, SampleKind.NRTD, 0, 800, 1, 2),
        LoadCurve("m1", 3, T0, 10, (*(float(i) for i in range(89)), None), (0.0,) * 90),
        MeterEvent("m1", 4, T0, EventCode.VOLTAGE_SAG, 2, 71.5, 0.12, "L2"),
        MeterEvent("m1", 5, T0, EventCode.BREAKER_OPEN),
        WanReport("m1", 6, T0 + timedelta(minutes=15), T0, True, 23.5, 180.0, 1, 42.0, 90, 3),
    ]


@pytest.mark.parametrize("record", records(), ids=lambda r: type(r).__name__)
def test_records_round_trip(record: object) -> None:
    assert decode_record(encode_record(record)) == record  # type: ignore[arg-type]


def test_times_are_milliseconds_utc() -> None:
    t = datetime(2026, 3, 29, 1, 59, 59, 999_000, tzinfo=UTC)
    rec = MeterEvent("m", 1, t, EventCode.POWER_FAILURE)
    assert cbor2.loads(encode_record(rec))[3] == round(t.timestamp() * 1000)
    assert decode_record(encode_record(rec)).time == t


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([7, "m", 1, 0], "record.type: expected 1 (sample)"),
        ([1, "m", 1, 0], "expected 12 elements, found '4 elements'"),
        ([1, "m", "1", 0, 0, 1, 1, 1, 1, [], [], None], "sequence: expected an integer, found '1'"),
        ([1, "m", 1, 0, 5, 1, 1, 1, 1, [], [], None], "kind: expected 0 (monitoring) or 1 (nrtd), found 5"),
        ([1, "m", 1, 0, 0, 1, 1, 1.5, 1, [], [], None], "import_wh: expected an integer, found 1.5"),
        ([1, "m", 1, 0, 0, 1, 1, 1, 1, [230, "x"], [], None], "voltage_v[1]: expected a number, found 'x'"),
        ([3, "m", 1, 0, "meltdown", None, None, None, ""], "code: expected one of"),
        ([3, "m", 1, 0, "power-failure", 4, None, None, ""], "phase must be 1..3"),
        ([2, "m", 0, 0, 10, [], []], "sequence must be >= 1"),
        ([2, "m", 1, 0, 10, [1], []], "same length"),
        ([4, "m", 1, 0, 0, 1, None, None, 0, 0, 0, 0], "link_up: expected true or false, found 1"),
    ],
)
def test_bad_records_name_the_field(body: list[object], message: str) -> None:
    with pytest.raises(TelemetryDecodeError, match=re.escape(message)):
        decode_record(cbor2.dumps(body))


@given(st.binary(max_size=200))
def test_garbage_never_crashes_the_decoder(data: bytes) -> None:
    with contextlib.suppress(TelemetryDecodeError):
        decode_record(data)


def test_ack_round_trip_and_ranges() -> None:
    ack = TelemetryAck("m1", merge_ranges([5, 1, 2, 3, 9, 8]))
    assert ack.ranges == ((1, 3), (5, 5), (8, 9))
    assert decode_ack(encode_ack(ack)) == ack
    assert ack.covers(2) and not ack.covers(4) and ack.count == 6
    with pytest.raises(TelemetryDecodeError, match=r"ranges\[0\]: expected \[first, last\]"):
        decode_ack(cbor2.dumps([9, "m1", [[1]]]))
    with pytest.raises(TelemetryDecodeError, match="bad sequence range"):
        decode_ack(cbor2.dumps([9, "m1", [[3, 1]]]))


def test_seal_and_open() -> None:
    key = new_key()
    sealed = Sealer("m1", key).seal(b"hello")
    assert b"hello" not in sealed  # encrypted, not only authenticated
    opener = Opener({"m1": key}.get)
    assert opener.open(sealed, "m1") == b"hello"
    # interoperates with a plain COSE_Encrypt0 decoder given the same key
    cose_key = COSEKey.from_symmetric_key(key, alg="A128GCM", kid=b"m1")
    assert COSE.new().decode(sealed, cose_key) == b"hello"
    assert Sealer("m1", key).seal(b"hello") != sealed  # fresh IV each time
    # the hand-assembled CBOR is exactly what a CBOR encoder writes for the same structure
    for meter, size in (("m1", 0), ("m1", 23), ("m" * 30, 300), ("m" * 300, 70_000)):
        msg = Sealer(meter, key).seal(bytes(size))
        decoded = cbor2.loads(msg)
        assert decoded.tag == 16 and cbor2.dumps(cbor2.CBORTag(16, decoded.value)) == msg
    # and opens what cwt seals (untagged protected header order, cwt's own IV)
    from_cwt = COSE.new().encode(
        b"from cwt", cose_key, protected={"alg": "A128GCM"}, unprotected={"kid": b"m1"}
    )
    assert opener.open(from_cwt, "m1") == b"from cwt"


def test_open_refuses_other_algorithms_and_headers() -> None:
    key = new_key()
    opener = Opener({"m1": key}.get)
    other_alg = cbor2.dumps(cbor2.CBORTag(16, [cbor2.dumps({1: 3}), {4: b"m1", 5: bytes(12)}, bytes(32)]))
    with pytest.raises(Rejected) as err:
        opener.open(other_alg, "m1")
    assert err.value.reason is Reason.UNSUPPORTED and "A128GCM" in str(err.value)
    crit = cbor2.dumps(cbor2.CBORTag(16, [cbor2.dumps({1: 1, 2: [99]}), {4: b"m1", 5: bytes(12)}, bytes(32)]))
    with pytest.raises(Rejected) as err:
        opener.open(crit, "m1")
    assert err.value.reason is Reason.UNSUPPORTED
    sign1 = cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"x", b"sig"]))
    with pytest.raises(Rejected) as err:
        opener.open(sign1, "m1")
    assert err.value.reason is Reason.MALFORMED and "tag 18" in str(err.value)
    short_iv = cbor2.dumps(cbor2.CBORTag(16, [cbor2.dumps({1: 1}), {4: b"m1", 5: bytes(8)}, bytes(32)]))
    with pytest.raises(Rejected, match="IV must be 12 bytes"):
        opener.open(short_iv, "m1")


def test_a_rotated_key_still_opens_during_the_grace_period() -> None:
    old, new = new_key(), new_key()
    keys = {"m1": new}
    previous = {"m1": old}
    opener = Opener(keys.get, previous.get)
    assert opener.open(Sealer("m1", old).seal(b"before"), "m1") == b"before"
    assert opener.open(Sealer("m1", new).seal(b"after"), "m1") == b"after"
    previous.clear()
    with pytest.raises(Rejected):
        opener.open(Sealer("m1", old).seal(b"late"), "m1")


def test_open_rejects_and_counts() -> None:
    keys = {"m1": new_key(), "m2": new_key()}
    opener = Opener(keys.get)
    sealed = bytearray(Sealer("m1", keys["m1"]).seal(b"reading"))
    cases = [
        (bytes(sealed), "m9", Reason.UNKNOWN_KID),
        (bytes(sealed), "m2", Reason.KEY_NOT_FOR_SOURCE),  # m1's message on m2's topic
        (bytes(sealed[:-1]) + bytes([sealed[-1] ^ 1]), "m1", Reason.BAD_SIGNATURE),  # altered
        (Sealer("m1", new_key()).seal(b"forged"), "m1", Reason.BAD_SIGNATURE),  # wrong key
        (b"\x00\x01garbage", "m1", Reason.MALFORMED),
        (b"\x00" * (65 * 1024), "m1", Reason.OVERSIZE),
    ]
    for message, meter, reason in cases:
        with pytest.raises(Rejected) as err:
            opener.open(message, meter)
        assert err.value.reason is reason, (meter, err.value)
    assert sum(opener.rejected.values()) == len(cases)
    assert opener.rejected[Reason.BAD_SIGNATURE] == 2
