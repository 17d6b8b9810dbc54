"""HDLC deframer, A-XDR decoder and data-notification parser: unit and property tests."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridedge.ports.dlms import DlmsError, DlmsFrameError, DlmsTruncatedError
from gridedge.ports.dlms.apdu import parse_data_notification
from gridedge.ports.dlms.axdr import BitString, DataTag, date_time, decode, read_length
from gridedge.ports.dlms.hdlc import Deframer, FrameFault, HdlcFrame, fcs16, parse_frame, reassemble
from gridedge.ports.dlms.push import decode_apdu, decode_push


def make_frame(info: bytes, *, segmented: bool = False, dst: bytes = b"\x03", src: bytes = b"\x05",
               control: int = 0x13, bad_fcs: bool = False) -> bytes:
    """Build an IEC 62056-46 type 3 frame (test helper, independent of the parser)."""
    length = 2 + len(dst) + len(src) + 1 + (2 if info else 0) + len(info) + 2
    fmt = bytes([0xA0 | (0x08 if segmented else 0) | (length >> 8), length & 0xFF])
    head = fmt + dst + src + bytes([control])
    body = head + (fcs16(head).to_bytes(2, "little") + info if info else b"")
    fcs = fcs16(body) ^ (0xFFFF if bad_fcs else 0)
    return b"\x7e" + body + fcs.to_bytes(2, "little") + b"\x7e"


APDU = bytes.fromhex("0f00000005" "00" "0101" "0202" "09060100010700ff" "06000004d2")


def test_fcs16_check_value() -> None:
    assert fcs16(b"123456789") == 0x906E  # CRC-16/X-25 catalogue check value


def test_frame_round_trip_and_addresses() -> None:
    raw = make_frame(b"\xe6\xe7\x00" + APDU, dst=b"\x41", src=b"\x08\x83")
    frame = parse_frame(raw)
    assert (frame.destination, frame.source, frame.control) == (32, 577, 0x13)
    assert frame.hcs_valid and frame.fcs_valid and not frame.segmented
    assert reassemble([frame]) == APDU
    message = decode_push(raw)
    assert message.invoke_id == 5 and [str(o) for o in message.objects] == ["1-0:1.7.0(1234)"]


def test_frame_without_information_field() -> None:
    frame = parse_frame(make_frame(b""))
    assert frame.hcs is None and frame.information == b"" and frame.fcs_valid


def test_deframer_byte_by_byte_with_garbage() -> None:
    frames = [make_frame(b"\xe6\xe7\x00" + APDU[:6], segmented=True), make_frame(APDU[6:])]
    stream = b"\xff\x7e\x7e\xa0" + frames[0] + b"noise\x7e\xa0\x05\x00" + frames[1] + b"\x7e"
    deframer = Deframer()
    events: list[HdlcFrame | FrameFault] = []
    for byte in stream:
        events += deframer.feed(bytes([byte]))
    events += deframer.flush()
    got = [e for e in events if isinstance(e, HdlcFrame)]
    assert [f.raw for f in got] == frames
    assert got[0].offset == stream.index(frames[0])
    assert reassemble(got) == APDU
    faults = [e for e in events if isinstance(e, FrameFault)]
    assert faults and all(isinstance(f.error, DlmsFrameError) for f in faults)
    assert b"".join(f.data for f in faults).count(b"noise") == 1


def test_shared_flag_between_frames() -> None:
    a, b = make_frame(b"\xe6\xe7\x00" + APDU), make_frame(b"\xe6\xe7\x00" + APDU)
    events = Deframer().feed(a + b[1:])
    assert [e.raw for e in events if isinstance(e, HdlcFrame)] == [a, b]


def test_bad_fcs_is_reported() -> None:
    raw = make_frame(b"\xe6\xe7\x00" + APDU, bad_fcs=True)
    (frame,) = Deframer().feed(raw)
    assert isinstance(frame, HdlcFrame) and frame.hcs_valid and not frame.fcs_valid


def test_bad_hcs_is_skipped_with_offset() -> None:
    raw = bytearray(make_frame(b"\xe6\xe7\x00" + APDU))
    raw[6] ^= 0xFF  # HCS low byte
    with pytest.raises(DlmsFrameError, match=r"byte 6: HCS: expected 0x[0-9A-F]{4}, found"):
        parse_frame(bytes(raw))


def test_truncated_stream_is_reported_on_flush() -> None:
    raw = make_frame(b"\xe6\xe7\x00" + APDU)
    deframer = Deframer()
    (garbage,) = deframer.feed(b"xx" + raw[:-4])
    assert isinstance(garbage, FrameFault) and garbage.data == b"xx" and garbage.offset == 0
    (fault,) = deframer.flush()
    assert isinstance(fault.error, DlmsTruncatedError) and fault.offset == 2
    assert "stream ends inside a frame" in str(fault.error) and "found" in str(fault.error)


@pytest.mark.parametrize(
    ("hex_data", "tag", "value"),
    [
        ("00", DataTag.NULL, None),
        ("0301", DataTag.BOOLEAN, True),
        ("050000ffff", DataTag.DOUBLE_LONG, 65535),
        ("05ffffffff", DataTag.DOUBLE_LONG, -1),
        ("06ffffffff", DataTag.DOUBLE_LONG_UNSIGNED, 0xFFFFFFFF),
        ("0f80", DataTag.INTEGER, -128),
        ("10fffe", DataTag.LONG, -2),
        ("11ff", DataTag.UNSIGNED, 255),
        ("12ffff", DataTag.LONG_UNSIGNED, 65535),
        ("14ffffffffffffffff", DataTag.LONG64, -1),
        ("15ffffffffffffffff", DataTag.LONG64_UNSIGNED, 2**64 - 1),
        ("161b", DataTag.ENUM, 27),
        ("173fc00000", DataTag.FLOAT32, 1.5),
        ("18" + struct.pack(">d", -2.25).hex(), DataTag.FLOAT64, -2.25),
        ("0903010203", DataTag.OCTET_STRING, b"\x01\x02\x03"),
        ("0a03414243", DataTag.VISIBLE_STRING, "ABC"),
        ("0c02c3a9", DataTag.UTF8_STRING, "é"),
        ("040ba5e0", DataTag.BIT_STRING, BitString(11, b"\xa5\xe0")),
        ("19" + "07e30c1001073b28ff8000ff", DataTag.DATE_TIME, bytes.fromhex("07e30c1001073b28ff8000ff")),
    ],
)
def test_axdr_types(hex_data: str, tag: DataTag, value: object) -> None:
    data, end = decode(bytes.fromhex(hex_data))
    assert data.tag is tag and data.value == value and end == len(hex_data) // 2


def test_axdr_containers_and_long_length() -> None:
    data, _ = decode(bytes.fromhex("0102" "020211051200ff" "00"))
    first, second = data.elements
    assert first is not None and second is not None and second.tag is DataTag.NULL
    assert [e.value for e in first.elements if e is not None] == [5, 255]
    assert read_length(bytes.fromhex("820100"), 0) == (256, 3)
    assert str(BitString(11, b"\xa5\xe0")) == "10100101111"


def test_axdr_errors_name_offset_expected_found() -> None:
    with pytest.raises(DlmsFrameError, match=r"byte 2: expected a COSEM data tag, found 0x07"):
        decode(bytes.fromhex("020107"))
    with pytest.raises(DlmsTruncatedError, match=r"byte 2: double-long-unsigned: expected 4 bytes, found 1"):
        decode(bytes.fromhex("06ab"), 0)
    with pytest.raises(DlmsFrameError, match="expected a length of"):
        read_length(b"\x85", 0)


def test_partial_structure_fills_none() -> None:
    data, _ = decode(bytes.fromhex("0203" "1101" "0600"), partial=True)
    assert data.truncated and [e.value if e else None for e in data.elements] == [1, None, None]
    with pytest.raises(DlmsTruncatedError):
        decode(bytes.fromhex("0203" "1101" "0600"))


def test_date_time() -> None:
    assert date_time(bytes.fromhex("07e30c1001073b28ff8000ff")) == datetime(2019, 12, 16, 7, 59, 40)
    cest = date_time(bytes.fromhex("07e90514020 92b2d00ff8880".replace(" ", "")))
    assert cest == datetime(2025, 5, 20, 9, 43, 45, tzinfo=timezone(timedelta(hours=2)))
    assert date_time(bytes.fromhex("07e90514020 92b2d000000ff".replace(" ", ""))) is not None
    assert date_time(bytes.fromhex("07e90514020 92b2d000000ff".replace(" ", ""))).tzinfo is UTC  # type: ignore[union-attr]
    assert date_time(bytes.fromhex("ffffffffffffffffff8000ff")) is None
    with pytest.raises(DlmsFrameError, match="date-time: expected a valid date"):
        date_time(bytes.fromhex("07e3021e01073b28ff8000ff"))  # 30 February


def test_data_notification_errors() -> None:
    with pytest.raises(DlmsFrameError, match="ciphered APDU 0xDB"):
        parse_data_notification(b"\xdb\x08systitle")
    with pytest.raises(DlmsFrameError, match="byte 0: expected data-notification tag 0x0F, found 0xC4"):
        parse_data_notification(b"\xc4\x01")
    with pytest.raises(DlmsFrameError, match="date-time: expected length 0 or 12, found 3"):
        parse_data_notification(bytes.fromhex("0f0000000003aabbcc00"))
    with pytest.raises(DlmsFrameError, match="more bytes"):
        parse_data_notification(APDU + b"\x00")


def test_unknown_positional_list() -> None:
    message = decode_apdu(bytes.fromhex("0f0000000100" "0202" "1101" "1202ff"))
    assert message.shape == "positional" and [str(o) for o in message.objects] == ["?0(1)", "?1(767)"]


_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.lists(st.binary(max_size=64) | st.sampled_from([b"\x7e", b"\x7e\xa0", b"\x7e\xa8\x10"]),
                max_size=12))
def test_deframer_never_raises(chunks: list[bytes]) -> None:
    deframer = Deframer()
    consumed = 0
    for chunk in chunks:
        for event in deframer.feed(chunk):
            assert isinstance(event, HdlcFrame | FrameFault)
            consumed += len(event.raw if isinstance(event, HdlcFrame) else event.data)
    for fault in deframer.flush():
        assert isinstance(fault.error, DlmsError)


@_SETTINGS
@given(st.binary(max_size=128), st.booleans())
def test_axdr_decoder_raises_only_dlms_errors(data: bytes, partial: bool) -> None:
    try:
        decode(data, partial=partial)
    except DlmsError as exc:
        assert exc.offset is not None


@_SETTINGS
@given(st.binary(max_size=200))
def test_push_decoder_raises_only_dlms_errors(data: bytes) -> None:
    for candidate in (data, make_frame(b"\xe6\xe7\x00" + data), b"\x0f" + data):
        try:
            if candidate[:1] == b"\x0f":
                decode_apdu(candidate).to_reading()
            else:
                decode_push(candidate).to_reading()
        except DlmsError:
            pass


@_SETTINGS
@given(st.binary(max_size=40), st.binary(max_size=40), st.integers(0, 3))
def test_frames_survive_garbage(before: bytes, between: bytes, cut: int) -> None:
    frames = [make_frame(b"\xe6\xe7\x00" + APDU[:cut + 2], segmented=True), make_frame(APDU[cut + 2:])]
    events = Deframer().feed(before + frames[0] + between + frames[1] + b"\x7e")
    got = [e.raw for e in events if isinstance(e, HdlcFrame)]
    # garbage may by chance hold a valid frame of its own; ours must be found in order
    assert got[-2:] == frames or (got and got[-1] == frames[1])
