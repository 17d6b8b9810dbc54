"""S1 frames: the spec example byte for byte, an FCS written here from its bit-level definition,
sequence numbers, saturation, two's complement, and a property-based round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.ports.s1 import (
    FRAME_SIZE,
    AffineFcs16,
    S1FrameEncoder,
    S1FrameError,
    S1FrameInfo,
    Saturation,
    decode_frame_fields,
    fcs16,
    fcs16_many,
    sampling_byte_for,
    to_counts,
)

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
EXAMPLE = (CORPUS / "s1" / "emucs_h_ed1_3_spec_example_single_phase.bin").read_bytes()

V_MIN, V_MAX = -(1 << 15), (1 << 15) - 1
I_MIN, I_MAX = -(1 << 23), (1 << 23) - 1
LOW = np.array([V_MIN, I_MIN] * 3 + [I_MIN])
HIGH = np.array([V_MAX, I_MAX] * 3 + [I_MAX])


def fcs_bitwise(data: bytes) -> int:
    """HDLC FCS-16 (ISO/IEC 13239, CRC-16/X-25) straight from its definition: reflected polynomial
    0x8408, register preset 0xFFFF, one bit at a time LSB first, ones' complement at the end."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def _byte_step_table() -> list[int]:
    """The same definition stepped a byte at a time, for checking thousands of frames quickly."""
    table = []
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


STEP = _byte_step_table()


def fcs_bytewise(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ STEP[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def carried_fcs(frame: bytes) -> int:
    return frame[42] | frame[43] << 8


def frames_of(data: bytes) -> list[bytes]:
    assert len(data) % FRAME_SIZE == 0
    return [data[i : i + FRAME_SIZE] for i in range(0, len(data), FRAME_SIZE)]


def random_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(LOW, HIGH, size=(n, 7), endpoint=True).astype(np.int32)


# -- the spec example (e-MUCS H Ed. 1.3 §4.2.5) --------------------------------------------------


def test_the_independent_fcs_matches_the_catalogue_and_the_spec_example() -> None:
    assert fcs_bitwise(b"123456789") == 0x906E  # CRC-16/X-25 check value
    assert fcs_bitwise(EXAMPLE[1:42]) == 0xB2C5 == carried_fcs(EXAMPLE)
    assert fcs_bytewise(EXAMPLE[1:42]) == 0xB2C5
    assert fcs16(EXAMPLE[1:42]) == 0xB2C5


def test_the_encoder_reproduces_the_spec_example_byte_for_byte() -> None:
    info = S1FrameInfo("", per_period=True, samples_valid=True)
    assert info.additional_info == 0x0A
    encoder = S1FrameEncoder(info, sampling_byte=0x34, first_sequence=0x0F)
    counts = np.zeros((1, 7), dtype=np.int32)
    counts[0, 0] = 2837  # V1 0x0B15
    counts[0, 1] = 0x0005FA  # I1
    assert encoder.encode(counts, 50107) == EXAMPLE
    assert encoder.next_sequence == 0x10


def test_the_example_reads_back_in_physical_units() -> None:
    fields = decode_frame_fields(EXAMPLE)
    assert fields.info == S1FrameInfo("", per_period=True, samples_valid=True)
    assert fields.sampling == 52
    assert fields.frequency_hz == pytest.approx(50.107)
    assert fields.sequence == 0x0F
    assert fields.voltage_v == pytest.approx((70.925, 0.0, 0.0))
    assert fields.current_a == pytest.approx((1.530, 0.0, 0.0))
    assert fields.neutral_a == 0.0
    assert fields.counts == (2837, 1530, 0, 0, 0, 0, 0)
    # 52 samples per period of the measured 50.107 Hz
    assert fields.sample_rate_hz == pytest.approx(52 * 50.107)


def test_physical_samples_of_the_example_give_its_counts() -> None:
    v = np.array([[70.925], [0.0], [0.0]])
    i = np.array([[1.530], [0.0], [0.0]])
    counts = to_counts(v, i, np.zeros(1))
    assert counts.dtype == np.int32
    assert counts.tolist() == [[2837, 1530, 0, 0, 0, 0, 0]]


# -- many frames -------------------------------------------------------------------------------


def test_every_frame_of_a_long_random_encode_carries_the_fcs_of_its_bytes() -> None:
    rng = np.random.default_rng(20240601)
    info = S1FrameInfo("1ISK0012345678", poly_phase=True, four_wire=True, neutral_current=True)
    encoder = S1FrameEncoder(info, sampling_byte=40, first_sequence=200)
    n = 3000
    counts = random_counts(rng, n)
    # full-range extremes in the first rows: the bytes most likely to expose a sign error
    counts[0] = LOW
    counts[1] = HIGH
    counts[2] = -1
    freq = rng.integers(0, 0xFFFF, n, endpoint=True)
    # one call for most frames, then small batches: the buffers and the sequence carry over
    data = encoder.encode(counts[:2500], freq[:2500])
    for start in range(2500, n, 97):
        data += encoder.encode(counts[start : start + 97], freq[start : start + 97])
    frames = frames_of(data)
    assert len(frames) == n
    for k, frame in enumerate(frames):
        assert frame[:5] == bytes.fromhex("7e802bff03") and frame[44] == 0x7E
        assert carried_fcs(frame) == fcs_bytewise(frame[1:42]), k
    for k in (0, 1, 2, 1234, n - 1):  # the bit-level definition itself, on a few
        assert carried_fcs(frames[k]) == fcs_bitwise(frames[k][1:42])
    # the fields: counts, frequency and the sequence running on from 200 and wrapping
    decoded = [decode_frame_fields(f) for f in frames]
    assert [d.counts for d in decoded] == [tuple(row) for row in counts.tolist()]
    assert [round(d.frequency_hz * 1000) for d in decoded] == freq.tolist()
    assert [d.sequence for d in decoded] == [(200 + k) % 256 for k in range(n)]
    assert all(d.info == info and d.sampling == 40 for d in decoded)
    assert encoder.next_sequence == (200 + n) % 256
    assert encoder.frames_encoded == n


def test_the_vectorised_fcs_agrees_with_the_definition_on_any_rows() -> None:
    rng = np.random.default_rng(7)
    for length in (1, 2, 41, 300):
        rows = rng.integers(0, 256, (50, length), dtype=np.uint8)
        assert fcs16_many(rows).tolist() == [fcs_bytewise(bytes(r)) for r in rows]
    assert fcs16_many(np.zeros((3, 0), dtype=np.uint8)).tolist() == [fcs_bitwise(b"")] * 3
    # a template with a constant part, variable bytes at scattered positions
    template = bytes(rng.integers(0, 256, 41, dtype=np.uint8))
    positions = [3, 0, 40, 17]
    affine = AffineFcs16(template, positions)
    columns = rng.integers(0, 256, (200, 4), dtype=np.uint8)
    expected = []
    for row in columns:
        msg = bytearray(template)
        for pos, value in zip(positions, row, strict=True):
            msg[pos] = value
        expected.append(fcs_bytewise(bytes(msg)))
    assert affine(columns).tolist() == expected
    assert affine.planes(np.ascontiguousarray(columns.T)).tolist() == expected
    with pytest.raises(ValueError):
        affine(columns[:, :3])
    with pytest.raises(ValueError):
        AffineFcs16(template, [41])


# -- sequence numbers, signs, saturation ----------------------------------------------------------


def test_sequence_numbers_continue_across_calls_and_wrap_at_256() -> None:
    encoder = S1FrameEncoder(S1FrameInfo("1FLU0000000001"), sampling_byte=26, first_sequence=250)
    zeros = np.zeros((4, 7), dtype=np.int32)
    first = frames_of(encoder.encode(zeros, 50000))
    second = frames_of(encoder.encode(np.zeros((5, 7), dtype=np.int32), 50000))
    assert [f[23] for f in first + second] == [250, 251, 252, 253, 254, 255, 0, 1, 2]
    assert encoder.next_sequence == 3
    assert encoder.encode(np.zeros((0, 7), dtype=np.int32), 50000) == b""
    assert encoder.next_sequence == 3
    # a batch longer than the sequence cycle
    long = frames_of(encoder.encode(np.zeros((600, 7), dtype=np.int32), 50000))
    assert [f[23] for f in long] == [(3 + k) % 256 for k in range(600)]


def test_negative_samples_are_twos_complement_big_endian() -> None:
    encoder = S1FrameEncoder(S1FrameInfo(""), sampling_byte=26)
    counts = np.array(
        [
            [-1, -1, -2, -2, -3, -3, -4],
            [V_MIN, I_MIN, V_MAX, I_MAX, -2837, -1530, 0x123456],
        ],
        dtype=np.int32,
    )
    one, two = frames_of(encoder.encode(counts, 49999))
    assert one[24:42].hex(" ") == "ff ff ff ff ff ff fe ff ff fe ff fd ff ff fd ff ff fc"
    assert two[24:26] == b"\x80\x00" and two[26:29] == b"\x80\x00\x00"
    assert two[29:31] == b"\x7f\xff" and two[31:34] == b"\x7f\xff\xff"
    assert two[34:36] == (-2837 & 0xFFFF).to_bytes(2, "big")
    assert two[36:39] == (-1530 & 0xFFFFFF).to_bytes(3, "big")
    assert two[39:42] == b"\x12\x34\x56"
    assert two[21:23] == (49999).to_bytes(2, "big")
    assert decode_frame_fields(two).counts == tuple(counts[1].tolist())


def test_out_of_range_samples_saturate_and_are_counted() -> None:
    v = np.array([[230.0, 900.0, -900.0, 819.175], [0.0, 0.0, 0.0, 0.0], [1e9, 0.0, 0.0, -np.inf]])
    i = np.array([[9000.0, -9000.0, 8388.607, 8388.608], [0.0] * 4, [0.0] * 4])
    neutral = np.array([0.0, 9000.0, -8388.6085, 1.0])
    saturation = Saturation()
    counts = to_counts(v, i, neutral, saturation=saturation)
    assert counts[:, 0].tolist() == [9200, V_MAX, V_MIN, V_MAX]  # 819.175 V is exactly 32767
    assert counts[:, 4].tolist() == [V_MAX, 0, 0, V_MIN]
    assert counts[:, 1].tolist() == [I_MAX, I_MIN, I_MAX, I_MAX]  # 8388.607 A fits, .608 does not
    assert counts[:, 6].tolist() == [0, I_MAX, I_MIN, 1000]  # -8388608.5 mA rounds to even
    assert (saturation.voltage, saturation.current) == (4, 4)
    assert saturation.total == 8
    to_counts(v, i, neutral, saturation=saturation)  # accumulates
    assert saturation.total == 16
    # saturated counts are valid frame content
    frames = S1FrameEncoder(S1FrameInfo(""), sampling_byte=26).encode(counts, 50000)
    assert [decode_frame_fields(f).counts for f in frames_of(frames)] == [tuple(r) for r in counts.tolist()]


def test_to_counts_rounds_to_the_nearest_lsb_in_channel_order() -> None:
    v = np.array([[1.0, -0.0124], [2.0, 0.0126], [3.0, 0.0]])
    i = np.array([[0.0014, -0.0016], [0.5, 0.0], [-0.5, 0.0]])
    counts = to_counts(v, i, np.array([0.25, -0.0004]))
    assert counts.shape == (2, 7)
    assert counts.tolist() == [[40, 1, 80, 500, 120, -500, 250], [0, -2, 1, 0, 0, 0, 0]]
    with pytest.raises(ValueError, match="NaN"):
        to_counts(np.full((3, 2), np.nan), np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="expected"):
        to_counts(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2))


def test_the_encoder_refuses_counts_a_frame_cannot_hold() -> None:
    encoder = S1FrameEncoder(S1FrameInfo(""), sampling_byte=26)
    counts = np.zeros((3, 7), dtype=np.int32)
    counts[1, 2] = V_MAX + 1  # V2 beyond int16 while still a valid current
    with pytest.raises(ValueError, match="V2"):
        encoder.encode(counts, 50000)
    counts[1, 2] = 0
    counts[2, 6] = I_MAX + 1
    with pytest.raises(ValueError, match="IN"):
        encoder.encode(counts, 50000)
    with pytest.raises(ValueError, match="frequency"):
        encoder.encode(np.zeros((1, 7), dtype=np.int32), 70000)
    with pytest.raises(ValueError, match="shape"):
        encoder.encode(np.zeros((2, 6), dtype=np.int32), 50000)
    assert encoder.next_sequence == 0  # nothing was sent


# -- the additional-info byte, sampling byte, field reader errors ---------------------------------


def test_additional_info_bits_follow_table_4() -> None:
    assert S1FrameInfo("", samples_valid=False).additional_info == 0x00
    assert S1FrameInfo("", poly_phase=True, samples_valid=False).additional_info == 0x01
    assert S1FrameInfo("", per_period=True, samples_valid=False).additional_info == 0x02
    assert S1FrameInfo("", four_wire=True, samples_valid=False).additional_info == 0x04
    assert S1FrameInfo("").additional_info == 0x08
    assert S1FrameInfo("", neutral_current=True, samples_valid=False).additional_info == 0x10
    full = S1FrameInfo("1FLU0012345678", True, True, True, True, True)
    assert full.additional_info == 0x1F
    assert full.meter_id_bytes == b"1FLU0012345678"
    assert S1FrameInfo("1FLU").meter_id_bytes == b"1FLU" + bytes(10)
    with pytest.raises(ValueError):
        S1FrameInfo("1FLU00123456789")
    with pytest.raises(ValueError):
        S1FrameInfo("1FLÜ")


def test_sampling_byte_for_the_two_modes() -> None:
    assert sampling_byte_for(2600, per_period=True) == 52
    assert sampling_byte_for(3120, per_period=True, network_hz=60) == 52
    assert sampling_byte_for(4000, per_period=False) == 40
    with pytest.raises(ValueError, match="whole number"):
        sampling_byte_for(2650, per_period=False)
    with pytest.raises(ValueError, match=r"§4\.2\.3"):
        sampling_byte_for(4200, per_period=False)  # must stay below 4200 Hz
    with pytest.raises(ValueError, match=r"§4\.2\.3"):
        S1FrameEncoder(S1FrameInfo("", per_period=True), sampling_byte=80)


def test_the_field_reader_says_what_is_wrong() -> None:
    with pytest.raises(S1FrameError, match="45 bytes"):
        decode_frame_fields(EXAMPLE[:-1])
    broken = bytearray(EXAMPLE)
    broken[25] ^= 0x01
    with pytest.raises(S1FrameError, match="FCS"):
        decode_frame_fields(bytes(broken))
    with pytest.raises(S1FrameError, match="not an S1 frame"):
        decode_frame_fields(b"\x7e\x80\x2c" + EXAMPLE[3:])
    version = bytearray(EXAMPLE)
    version[19] |= 0x20
    fcs = fcs_bitwise(bytes(version[1:42]))
    version[42:44] = fcs.to_bytes(2, "little")
    with pytest.raises(S1FrameError, match="version"):
        decode_frame_fields(bytes(version))


# -- property: encode then read back --------------------------------------------------------------

_meter_ids = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=14)
_infos = st.builds(
    S1FrameInfo, _meter_ids, st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans()
)
_rows = st.tuples(
    *(st.integers(V_MIN, V_MAX) if k in (0, 2, 4) else st.integers(I_MIN, I_MAX) for k in range(7))
)


@settings(max_examples=150, deadline=None)
@given(
    info=_infos,
    sampling=st.integers(1, 41),
    first=st.integers(0, 255),
    rows=st.lists(_rows, min_size=1, max_size=8),
    freq=st.integers(0, 0xFFFF),
)
def test_round_trip_encode_then_read_fields(
    info: S1FrameInfo, sampling: int, first: int, rows: list[tuple[int, ...]], freq: int
) -> None:
    encoder = S1FrameEncoder(info, sampling, first)
    counts = np.array(rows, dtype=np.int32)
    frames = frames_of(encoder.encode(counts, freq))
    for k, (frame, row) in enumerate(zip(frames, rows, strict=True)):
        assert carried_fcs(frame) == fcs_bytewise(frame[1:42])
        fields = decode_frame_fields(frame)
        assert fields.info == info
        assert fields.sampling == sampling
        assert fields.sequence == (first + k) % 256
        assert round(fields.frequency_hz * 1000) == freq
        assert fields.counts == row
        # physical units convert back to the same counts
        v = np.array(fields.voltage_v)[:, None]
        i = np.array(fields.current_a)[:, None]
        assert tuple(to_counts(v, i, np.array([fields.neutral_a]))[0].tolist()) == row
