"""DLMS push over wired M-Bus long frames (EN 13757-2 + IEC 62056-7-3): the Austrian corpus samples,
frame parsing and its errors, segment joining, the streaming deframer, and framing detection.

What the three corpus files (node-dsmr-parser ``tests/telegrams/m-bus``, see corpus/SOURCES.md)
really contain, established byte by byte in the tests below:

* ``m-bus__austria-example-1.txt``: a hand-edited hex dump (spaced and unspaced groups, lines cut
  at odd digit counts, one 105-digit line whose last digit pairs with the next line) of 282 bytes
  = two complete long frames, both with a valid checksum and stop character: frame 1 at byte 0
  (``68 FA FA 68 53 FF 00 01 67``, L = 250, 245 APDU bytes, CS 0x17) and frame 2 at byte 256
  (``68 14 14 68 53 FF 11 01 67``, L = 20, 15 APDU bytes, CS 0x83).  After a blank line the
  encryption key ``36C66639E48A8CA4D6BC8B282A793BBB`` follows twice; it is not frame data.
* ``m-bus__austria-example-1_copy.txt``: the same message with the M-Bus and transport headers
  and trailers removed: exactly the 260-byte general-glo-ciphering APDU (frame 1's 245 bytes
  followed by frame 2's 15), no key.
* ``m-bus__austria-decrypted-1.txt``: 243 bytes, exactly the plaintext of the APDU's 243-byte
  ciphertext (not truncated): a data-notification in clear.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridedge.model.reading import P1Variant
from gridedge.ports.dlms import (
    DlmsAuthenticationError,
    DlmsError,
    DlmsFrameError,
    DlmsTruncatedError,
    FrameFault,
    Framing,
    MBusDeframer,
    MBusFrame,
    MBusSegmentJoiner,
    PushMessage,
    PushStream,
    SecurityKeys,
    TagPolicy,
    UndecodedMessage,
    decode_apdu,
    decode_push,
    decrypt,
    detect_framing,
    join_mbus_segments,
    mbus_frame,
    parse_general_glo_ciphering,
    parse_hex_dump,
    parse_mbus_frame,
)

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "dlms" / "athombv_node-dsmr-parser"
KEY_LINE = re.compile(r"^[0-9A-Fa-f]{32}$")


def load_example(name: str = "m-bus__austria-example-1") -> tuple[bytes, list[str]]:
    """The frame bytes of a corpus example and the key lines appended to it.

    The key is appended after the frames as lines of exactly 32 hex digits; everything before the
    first such line is hex dump of frame data (any grouping, lines cut anywhere).
    """
    lines = (CORPUS / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    first_key = next((i for i, line in enumerate(lines) if KEY_LINE.match(line.strip())), len(lines))
    keys = [line.strip() for line in lines[first_key:] if line.strip()]
    assert all(KEY_LINE.match(k) for k in keys), "only key lines may follow the first key line"
    return parse_hex_dump("\n".join(lines[:first_key])), keys


def corpus(name: str) -> bytes:
    return parse_hex_dump((CORPUS / f"{name}.txt").read_text(encoding="utf-8"))


DATA, KEY_LINES = load_example()
KEY = SecurityKeys.from_hex(KEY_LINES[0])
COPY = corpus("m-bus__austria-example-1_copy")
PLAIN = corpus("m-bus__austria-decrypted-1")


def frames_of(data: bytes) -> list[MBusFrame]:
    deframer = MBusDeframer()
    return [e for e in deframer.feed(data) + deframer.flush() if isinstance(e, MBusFrame)]


# -- the corpus sample ------------------------------------------------------------------------


def test_example_holds_two_complete_frames_and_the_key() -> None:
    assert len(DATA) == 282 and KEY_LINES == ["36C66639E48A8CA4D6BC8B282A793BBB"] * 2
    first, second = frames_of(DATA)
    # frame 1: 68 FA FA 68 | C 53 (SND_UD) A FF (broadcast) CI 00 (segment 0, FIN clear) | 01 67
    assert (first.offset, len(first.raw), first.raw[:4]) == (0, 4 + 250 + 2, bytes.fromhex("68FAFA68"))
    assert (first.control, first.address, first.ci) == (0x53, 0xFF, 0x00)
    assert (first.sequence, first.final) == (0, False)
    assert (first.stsap, first.dtsap, len(first.segment)) == (0x01, 0x67, 250 - 5)
    # frame 2: 68 14 14 68 | 53 FF CI 11 (segment 1, FIN set) | 01 67 | 15 bytes | CS 83 16
    assert (second.offset, len(second.raw), second.ci) == (256, 26, 0x11)
    assert (second.sequence, second.final) == (1, True)
    assert (second.stsap, second.dtsap, len(second.segment)) == (0x01, 0x67, 20 - 5)
    # the checksums, summed here over C .. last data byte: 0x17 and 0x83, as sent
    assert (sum(DATA[4:254]) & 0xFF, DATA[254], DATA[255]) == (0x17, 0x17, 0x16)
    assert (sum(DATA[260:280]) & 0xFF, DATA[280], DATA[281]) == (0x83, 0x83, 0x16)


def test_the_copy_is_exactly_the_joined_apdu() -> None:
    apdu = join_mbus_segments(frames_of(DATA))
    assert apdu == COPY and len(COPY) == 245 + 15
    # DB 08 <system title 8> 81 F8 (= 248 bytes follow) 20 (SC) 00000023 (frame counter)
    assert COPY[:2] == bytes.fromhex("DB08") and COPY[10:13] == bytes.fromhex("81F820")
    assert len(COPY) == 2 + 8 + 2 + 0xF8


def test_decryption_with_the_corpus_key_gives_the_decrypted_sample_exactly() -> None:
    ciphered, used = parse_general_glo_ciphering(COPY)
    assert used == len(COPY)
    assert ciphered.system_title == b"KFMgP\x00\x00\x09"  # "KFM": Kaifa's FLAG manufacturer id
    assert (ciphered.security_control, ciphered.frame_counter) == (0x20, 0x23)
    assert ciphered.auth_tag is None and len(ciphered.ciphertext) == 0xF8 - 5 == 243
    # SC 0x20: encrypted only, so no tag; AES-CTR keystream from inc32(J0), J0 = title || FC || 1
    plain = decrypt(ciphered, KEY, policy=TagPolicy.VERIFY_IF_PRESENT)
    assert plain == PLAIN and len(PLAIN) == 243  # the whole sample, byte for byte: not truncated
    assert decrypt(ciphered, KEY, policy=TagPolicy.IGNORE) == PLAIN


def test_require_policy_refuses_the_unauthenticated_frame() -> None:
    """A caller who demands authentication never gets the encrypted-only frame's content."""
    with pytest.raises(DlmsAuthenticationError, match=r"0x20.*not authenticated"):
        decode_push(DATA, KEY)  # default policy REQUIRE
    with pytest.raises(DlmsAuthenticationError):
        decode_push(DATA, SecurityKeys.from_hex(KEY_LINES[0], "00" * 16), policy=TagPolicy.EMPTY_AAD)
    with pytest.raises(DlmsFrameError, match="keys are needed"):
        decode_push(DATA)


def test_the_decoded_reading() -> None:
    message = decode_push(DATA, KEY, policy=TagPolicy.VERIFY_IF_PRESENT)
    assert message.framing is Framing.MBUS and len(message.frames) == 2 and message.crc_valid
    # 0F data-notification | 80 06 87 0E long-invoke-id: bit 31 high priority, invoke id 0x06870E
    assert message.invoke_id == 0x06870E and message.notification.high_priority
    # 0C 07E5 09 1B 01 09 2F 0F 00 FF88 80: 2021-09-27 (day 1 = Monday) 09:47:15.00, deviation
    # 0xFF88 = -120 min (UTC = local + deviation, so local is UTC+2), clock status 0x80 = DST
    cest = timezone(timedelta(hours=2))
    assert message.timestamp == datetime(2021, 9, 27, 9, 47, 15, tzinfo=cest)
    # 02 23: structure of 35 = date-time + 11 x (OBIS, value, scaler_unit) + meter number
    assert message.shape == "obis-triples" and len(message.objects) == 13
    reading = message.to_reading()
    assert reading.variant is P1Variant.DLMS_PUSH
    assert reading.timestamp == datetime(2021, 9, 27, 7, 47, 15, tzinfo=UTC)
    # 09 0C 31 38 31 32 32 30 30 30 30 30 30 39: ASCII "181220000009", the last element
    assert reading.meter_id == "181220000009"
    # 1-0:1.8.0  06 00003289 = 12937, {0F 00, 16 1E}: scaler 0, unit 30 = Wh -> 12.937 kWh
    # 1-0:2.8.0  06 00000000, {0F 00, 16 1E}                                  -> 0 kWh
    assert reading.energy_import_kwh == {0: pytest.approx(12.937)} and reading.energy_export_kwh == {0: 0.0}
    # 1-0:1.7.0 and 1-0:2.7.0  06 00000000, {0F 00, 16 1B}: unit 27 = W     -> 0 W each
    assert reading.power_import_w == 0.0 and reading.power_export_w == 0.0
    # 1-0:32.7.0  12 0921 = 2337, {0F FF, 16 23}: scaler -1, unit 35 = V     -> 233.7 V
    # 1-0:52.7.0, 1-0:72.7.0  12 0000                                         -> 0 V
    # 1-0:31.7.0, 51.7.0, 71.7.0  12 0000, {0F FE, 16 21}: scaler -2, 33 = A  -> 0 A
    assert [(p.phase, p.voltage_v, p.current_a) for p in reading.phases] == [
        (1, pytest.approx(233.7), 0.0), (2, 0.0, 0.0), (3, 0.0, 0.0)]
    # 1-0:13.7.0  12 03E8 = 1000, {0F FD, 16 FF}: scaler -3, 255 = no unit   -> power factor 1.000
    assert reading.power_factor == 1.0
    assert reading.other == ()  # every object was mapped


def test_scalers_and_units_are_the_registers_own() -> None:
    message = decode_apdu(PLAIN)
    by_name = {str(o.obis): o for o in message.objects}
    assert (by_name["1-0:32.7.0"].scaler, by_name["1-0:32.7.0"].unit_text) == (-1, "V")
    assert str(by_name["1-0:32.7.0"].number) == "233.7"  # exact decimal, not a float
    assert (by_name["1-0:31.7.0"].scaler, by_name["1-0:31.7.0"].unit_text) == (-2, "A")
    assert (by_name["1-0:13.7.0"].scaler, by_name["1-0:13.7.0"].unit) == (-3, 255)
    assert by_name["0-0:1.0.0"].class_id == 8
    assert by_name["0-0:96.1.0"].value_text() == "313831323230303030303039"  # octets print as hex


def test_obis_triples_shape_is_not_claimed_for_foreign_bodies() -> None:
    # a structure with bare values after the triples is no longer self-describing
    apdu = bytes.fromhex("0F 00000001 00 0205 0906 0100010700FF 0600000001 0202 0F00 161B 1105 1106")
    message = decode_apdu(apdu)
    assert message.shape == "positional" and all(o.obis is None for o in message.objects)
    ok = decode_apdu(bytes.fromhex("0F 00000001 00 0203 0906 0100010700FF 0600000064 0202 0F00 161B"))
    assert ok.shape == "obis-triples" and ok.to_reading().power_import_w == 100.0


# -- frames ------------------------------------------------------------------------------------


def test_frame_round_trip() -> None:
    raw = mbus_frame(b"\x01\x67hello", ci=0x10)
    assert raw == bytes.fromhex("68 0A 0A 68 53 FF 10 01 67") + b"hello" + bytes(
        [(0x53 + 0xFF + 0x10 + 0x01 + 0x67 + sum(b"hello")) & 0xFF, 0x16])
    frame = parse_mbus_frame(b"xx" + raw, 2)
    assert (frame.offset, frame.ci, frame.final, frame.sequence) == (2, 0x10, True, 0)
    assert frame.segment == b"hello"
    control = parse_mbus_frame(bytes.fromhex("68 03 03 68 53 FE 10 61 16"))  # L = 3: no user data
    assert control.data == b"" and control.stsap is None and control.checksum == 0x61


def test_checksum_error_names_offset_expected_and_found() -> None:
    raw = bytearray(mbus_frame(b"\x01\x67abc"))
    good = raw[-2]
    raw[-2] ^= 0x5A
    with pytest.raises(DlmsFrameError) as info:
        parse_mbus_frame(bytes(raw))
    assert info.value.offset == len(raw) - 2
    assert f"expected 0x{good:02X}" in str(info.value) and f"found 0x{good ^ 0x5A:02X}" in str(info.value)
    assert str(info.value).startswith(f"byte {len(raw) - 2}: checksum")
    raw[-2] = good
    raw[8] ^= 0x01  # a data byte altered in transit
    with pytest.raises(DlmsFrameError, match=f"byte {len(raw) - 2}: checksum"):
        parse_mbus_frame(bytes(raw))


@pytest.mark.parametrize(
    ("data", "offset", "message"),
    [
        (bytes.fromhex("10 5B FE 59 16"), 0, "expected start character 0x68, found 0x10"),
        (bytes.fromhex("68 05 06 68 53 FF 10 01 67 CA 16"), 2, "expected 0x05 (the first L), found 0x06"),
        (bytes.fromhex("68 05 05 16 53 FF 10 01 67 CA 16"), 3, "repeated start character 0x68, found 0x16"),
        (bytes.fromhex("68 02 02 68 53 FF 52 16"), 1, "L = 2"),
        (bytes.fromhex("68 05 05 68 53 FF 10 01 67 CA 17"), 10, "stop character 0x16 after L = 5"),
    ],
)
def test_frame_errors(data: bytes, offset: int, message: str) -> None:
    with pytest.raises(DlmsFrameError, match=re.escape(message)) as info:
        parse_mbus_frame(data)
    assert info.value.offset == offset and not isinstance(info.value, DlmsTruncatedError)


@pytest.mark.parametrize("cut", [1, 3, 4, 9, -1])
def test_truncated_frame_says_how_much_is_needed(cut: int) -> None:
    raw = mbus_frame(b"\x01\x67" + bytes(40))
    with pytest.raises(DlmsTruncatedError) as info:
        parse_mbus_frame(raw[:cut])
    assert info.value.required == (4 if len(raw[:cut]) < 4 else len(raw))


# -- segments ----------------------------------------------------------------------------------


def segments(apdu: bytes, size: int, tsaps: bytes = b"\x01\x67") -> list[bytes]:
    parts = [apdu[i:i + size] for i in range(0, len(apdu), size)]
    return [mbus_frame(tsaps + part, ci=(n & 0x0F) | (0x10 if n == len(parts) - 1 else 0))
            for n, part in enumerate(parts)]


def test_segments_are_joined_in_order() -> None:
    raws = segments(COPY, 100)
    assert [r[6] for r in raws] == [0x00, 0x01, 0x12]
    assert join_mbus_segments(frames_of(b"".join(raws))) == COPY
    message = decode_push(b"".join(raws), KEY, policy=TagPolicy.VERIFY_IF_PRESENT)
    assert len(message.frames) == 3 and message.to_reading().meter_id == "181220000009"
    long = segments(PLAIN, 10)  # 25 segments: the sequence number wraps modulo 16
    assert long[16][6] == 0x00 and decode_push(b"".join(long)).to_reading().meter_id == "181220000009"


def test_segment_errors() -> None:
    one, two, three = frames_of(b"".join(segments(COPY, 100)))
    with pytest.raises(DlmsFrameError, match="segment sequence: expected 1, found 2"):
        join_mbus_segments([one, three])
    with pytest.raises(DlmsTruncatedError, match="final segment"):
        join_mbus_segments([one, two])
    with pytest.raises(DlmsFrameError, match="no segment after the final one"):
        join_mbus_segments([one, two, three, three])
    other = frames_of(b"".join(segments(COPY, 100, tsaps=b"\x01\x66")))
    with pytest.raises(DlmsFrameError, match="STSAP/DTSAP: expected 01 67"):
        join_mbus_segments([one, other[1], other[2]])
    variable_data = parse_mbus_frame(bytes.fromhex("68 05 05 68 08 01 72 01 67 E3 16"))
    with pytest.raises(DlmsFrameError, match="CI 0x72 is not DLMS transport"):
        join_mbus_segments([variable_data])
    with pytest.raises(DlmsTruncatedError, match="final segment"):
        decode_push(b"".join(segments(COPY, 100)[:2]), KEY, policy=TagPolicy.IGNORE)


def test_joiner_drops_incomplete_messages_and_carries_on() -> None:
    a = frames_of(b"".join(segments(COPY, 100)))
    joiner = MBusSegmentJoiner()
    events = [e for f in (a[1], a[0], a[2], a[0], a[1], a[2]) for e in joiner.add(f)] + joiner.flush()
    # a[1] alone: no segment 0; a[0], a[2]: segment 1 missing; then one complete message
    assert [type(e).__name__ for e in events] == ["FrameFault", "FrameFault", "FrameFault", "tuple"]
    assert "without the segments before it" in str(events[0].error)  # type: ignore[union-attr]
    assert isinstance(events[1], FrameFault) and isinstance(events[1].error, DlmsTruncatedError)
    assert "expected segment 1 next, found segment 2" in str(events[1].error)
    assert events[3] == (a[0], a[1], a[2])
    assert joiner.add(a[0]) == [] and len(joiner.flush()) == 1  # cut off by the end of the stream


# -- the streaming deframer --------------------------------------------------------------------


def test_deframer_byte_by_byte_with_garbage_and_false_starts() -> None:
    fake = bytes.fromhex("68 FA FA 68 53 FF 00 01 67") + b"\x16" * 20  # a header whose frame never comes true
    bad = bytearray(mbus_frame(b"\x01\x67xyz"))
    bad[-2] ^= 1  # checksum wrong: dropped
    stream = b"\x00\x68\x68\xe5" + DATA + fake + bytes(bad) + b"noise" + DATA + b"\x68\x05"
    deframer = MBusDeframer()
    events = [e for byte in stream for e in deframer.feed(bytes([byte]))] + deframer.flush()
    frames = [e for e in events if isinstance(e, MBusFrame)]
    faults = [e for e in events if isinstance(e, FrameFault)]
    after = 286 + len(fake) + len(bad) + 5  # where the second copy of DATA starts
    assert [f.offset for f in frames] == [4, 260, after, after + 256]
    assert [f.raw for f in frames] == [fr.raw for fr in frames_of(DATA)] * 2
    assert [f.offset for f in faults] == [0, 286, after + 282]
    assert str(faults[0].error).startswith("byte 0: skipped 4 byte(s): no start character 0x68; false start")
    assert "false start at byte 286" in str(faults[1].error)
    assert len(faults[1].data) == len(fake) + len(bad) + 5  # the fake header, the bad frame, "noise"
    assert isinstance(faults[2].error, DlmsTruncatedError)  # 68 05 at the very end: a frame cut short
    assert sum(len(f.raw) for f in frames) + sum(len(f.data) for f in faults) == len(stream)


def test_bad_checksum_frame_is_reported_with_its_offset() -> None:
    bad = bytearray(DATA[256:])
    bad[-2] ^= 0xFF
    deframer = MBusDeframer()
    events = deframer.feed(b"ab" + bytes(bad) + DATA[256:]) + deframer.flush()
    assert isinstance(events[0], FrameFault) and events[0].offset == 0 and len(events[0].data) == 2 + 26
    # the run: 2 bytes of garbage, then the frame at byte 2 whose checksum (byte 2 + 24) is wrong
    text = str(events[0].error)
    assert "false start at byte 2: checksum: expected 0x83" in text
    assert f"found 0x{0x83 ^ 0xFF:02X} (byte 26)" in text
    assert isinstance(events[1], MBusFrame) and events[1].offset == 2 + 26 and len(events) == 2


def test_a_frame_hidden_inside_a_false_candidate_is_found() -> None:
    inner = mbus_frame(b"\x01\x67" + bytes(10))
    stream = bytes.fromhex("68 30 30 68 53 FF") + inner + bytes(60)  # the outer candidate's checksum fails
    frames = frames_of(stream)
    assert [f.offset for f in frames] == [6] and frames[0].raw == inner


def test_deframer_fuzz_seeded() -> None:
    rng = random.Random(20261206)
    frame_pool = [fr.raw for fr in frames_of(DATA)] + [mbus_frame(b"\x01\x67" + bytes(range(30)), ci=0x10)]
    for _ in range(300):
        parts: list[bytes] = []
        planted: list[bytes] = []
        for _ in range(rng.randint(0, 6)):
            kind = rng.random()
            if kind < 0.3:
                planted.append(rng.choice(frame_pool))
                parts.append(planted[-1])
            elif kind < 0.5:  # start characters and plausible headers in the noise
                header = bytes([0x68, rng.randint(0, 255), rng.randint(0, 255), 0x68])
                parts.append(header[: rng.randint(1, 4)])
            else:
                parts.append(rng.randbytes(rng.randint(0, 80)))
        stream = b"".join(parts)
        deframer = MBusDeframer()
        events: list[MBusFrame | FrameFault] = []
        pos = 0
        while pos < len(stream):
            step = rng.randint(1, 64)
            events += deframer.feed(stream[pos:pos + step])
            pos += step
        events += deframer.flush()
        frames = [e for e in events if isinstance(e, MBusFrame)]
        faults = [e for e in events if isinstance(e, FrameFault)]
        assert all(isinstance(f.error, DlmsError) for f in faults)
        assert sum(len(f.raw) for f in frames) + sum(len(f.data) for f in faults) == len(stream)
        for frame in frames:
            assert stream[frame.offset:frame.offset + len(frame.raw)] == frame.raw
        found = [f.raw for f in frames]
        it = iter(found)
        assert all(any(p == f for f in it) for p in planted), "every planted frame is found, in order"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=64) | st.sampled_from([b"\x68", b"\x68\x05\x05\x68", b"\x16"]),
                max_size=12))
def test_deframer_and_stream_never_raise(chunks: list[bytes]) -> None:
    deframer = MBusDeframer()
    stream = PushStream(KEY, policy=TagPolicy.IGNORE)
    for chunk in chunks:
        deframer.feed(chunk)
        stream.feed(chunk)
    deframer.flush()
    stream.flush()


# -- framing detection and the push stream -----------------------------------------------------


def test_detect_framing() -> None:
    hdlc = corpus("dlms__aidon-example-1")
    assert detect_framing(DATA) is Framing.MBUS and detect_framing(b"\x68junk" + DATA) is Framing.MBUS
    assert detect_framing(hdlc) is Framing.HDLC and detect_framing(b"\x68\x05\x05\x68" + hdlc) is Framing.HDLC
    assert detect_framing(b"\x68\x7e\x68\x7e") is None
    with pytest.raises(DlmsFrameError, match="found none"):
        decode_push(b"\x68\x7e junk")
    with pytest.raises(DlmsTruncatedError):
        decode_push(DATA[:200], KEY, policy=TagPolicy.IGNORE)
    with pytest.raises(DlmsFrameError, match="expected an M-Bus long frame"):
        decode_push(hdlc, framing="mbus")
    assert decode_push(hdlc, framing=Framing.HDLC).framing is Framing.HDLC


def test_push_stream_recognises_mbus_and_reports_what_it_skipped() -> None:
    stream = PushStream(KEY, policy=TagPolicy.VERIFY_IF_PRESENT)
    data = b"\x7e\xa0garbage" + DATA + DATA[:256] + DATA  # the middle copy lacks its segment 1
    events = [e for i in range(0, len(data), 7) for e in stream.feed(data[i:i + 7])] + stream.flush()
    assert stream.framing is Framing.MBUS
    messages = [e for e in events if isinstance(e, PushMessage)]
    faults = [e for e in events if isinstance(e, FrameFault)]
    assert [m.frames[0].offset for m in messages] == [9, 9 + 282 + 256]
    assert all(m.to_reading().energy_import_kwh == {0: pytest.approx(12.937)} for m in messages)
    assert faults[0].offset == 0  # the leading garbage, reported once the framing was known
    # the middle copy's segment 0 is dropped when the next segment 0 arrives instead of segment 1
    cut = [f for f in faults if isinstance(f.error, DlmsTruncatedError)]
    assert [f.offset for f in cut] == [9 + 282]
    assert "expected segment 1 next, found segment 0" in str(cut[0].error)


def test_push_stream_undecodable_message_and_forced_framing() -> None:
    refusing = PushStream(KEY)  # REQUIRE: the encrypted-only message is complete but refused
    events = refusing.feed(DATA) + refusing.flush()
    assert len(events) == 1 and isinstance(events[0], UndecodedMessage)
    assert events[0].offset == 0 and isinstance(events[0].error, DlmsAuthenticationError)
    hdlc_only = PushStream(KEY, framing="hdlc")
    events = hdlc_only.feed(DATA) + hdlc_only.flush()
    assert events and all(isinstance(e, FrameFault) for e in events)
    clear = PushStream()
    events = clear.feed(b"".join(segments(PLAIN, 50)) + corpus("dlms__aidon-example-1")) + clear.flush()
    # locked onto M-Bus by the first frame: the HDLC message that follows is garbage to it
    assert isinstance(events[0], PushMessage) and all(isinstance(e, FrameFault) for e in events[1:])


def test_push_stream_reports_an_mbus_frame_cut_by_the_end_of_the_stream() -> None:
    stream = PushStream(KEY, policy=TagPolicy.IGNORE)
    events = stream.feed(DATA[:200]) + stream.flush()
    assert stream.framing is Framing.AUTO  # no complete frame of either kind
    assert len(events) == 1 and isinstance(events[0], FrameFault) and events[0].offset == 0
    assert isinstance(events[0].error, DlmsTruncatedError) and events[0].error.required == 256
    assert "stream ends inside a frame: L = 250 needs a frame of 256 bytes, found 200" in str(events[0].error)
