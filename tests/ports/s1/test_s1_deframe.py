"""The S1 deframer on the corpus frame and on streams with garbage, flags in payloads, loss and breaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridedge.model.waveform import WaveformChunk
from gridedge.ports.s1.deframe import S1Deframer, S1ErrorKind
from gridedge.ports.s1.frame import FRAME_SIZE, S1FrameEncoder, S1FrameInfo, decode_frame_fields

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "s1"
INFO = S1FrameInfo("1FLU0012345678", poly_phase=True, four_wire=True, neutral_current=True)


def _counts(n: int, seed: int = 1) -> np.ndarray:
    """(n, 7) counts: three-phase sines at 4000 Hz plus noise, V in 25 mV, I in 1 mA."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    theta = 2 * np.pi * 50.0 * k / 4000.0
    out = np.empty((n, 7), dtype=np.int32)
    for p in range(3):
        shift = -2 * np.pi * p / 3
        out[:, 2 * p] = np.round(325.0 * np.sin(theta + shift) / 0.025)
        out[:, 2 * p + 1] = np.round(10_000 * np.sin(theta + shift - 0.3)) + rng.integers(-5, 6, n)
    out[:, 6] = rng.integers(-100, 100, n)
    return out


def _stream(counts: np.ndarray, first_sequence: int = 0, info: S1FrameInfo = INFO) -> bytes:
    return S1FrameEncoder(info, 40, first_sequence).encode(counts, 50_012)


def _join(chunks: list[WaveformChunk]) -> tuple[np.ndarray, np.ndarray]:
    v = np.concatenate([c.voltage_v for c in chunks], axis=1)
    i = np.concatenate([c.current_a for c in chunks], axis=1)
    return v, i


def test_the_spec_example_frame_decodes() -> None:
    data = (CORPUS / "emucs_h_ed1_3_spec_example_single_phase.bin").read_bytes()
    assert CORPUS.is_dir()
    d = S1Deframer()
    (chunk,) = d.feed(data + data[:10])
    assert chunk.samples == 1
    assert chunk.voltage_v[0, 0] == pytest.approx(70.925)  # 0x0B15 x 25 mV
    assert chunk.current_a[0, 0] == pytest.approx(1.530)  # 0x0005FA x 1 mA
    assert chunk.network_hz[0] == pytest.approx(50.107)  # 0xC3BB mHz
    assert chunk.rate_hz == pytest.approx(52 * 50.107)  # per-period mode, 52 samples per period
    assert chunk.phases == 1
    assert chunk.neutral_a is None
    assert not chunk.continuous  # the first chunk of a stream joins nothing
    assert d.info is not None and d.info.per_period and d.info.samples_valid
    assert d.stats.frames == 1 and d.stats.fcs_errors == 0 and d.stats.bytes_skipped == 0


def test_a_clean_stream_in_random_pieces_gives_every_sample_once() -> None:
    counts = _counts(3000)
    data = _stream(counts)
    rng = np.random.default_rng(4)
    cuts = np.sort(rng.choice(len(data), 200, replace=False))
    d = S1Deframer()
    chunks: list[WaveformChunk] = []
    for piece in np.split(np.frombuffer(data, dtype=np.uint8), cuts):
        chunks += d.feed(piece.tobytes())
    v, i = _join(chunks)
    assert v.shape == (3, 3000)
    np.testing.assert_allclose(v, counts[:, 0:6:2].T * 0.025)
    np.testing.assert_allclose(i, counts[:, 1:6:2].T * 0.001)
    assert all(c.continuous for c in chunks[1:])
    assert [c.sample_index for c in chunks] == list(np.cumsum([0] + [c.samples for c in chunks[:-1]]))
    assert chunks[0].rate_hz == 4000.0 and chunks[0].neutral_a is not None
    assert d.stats.frames == 3000 and d.stats.bytes_skipped == 0 and d.stats.sequence_gaps == 0
    assert not d.errors


def test_frames_agree_with_the_single_frame_decoder() -> None:
    counts = _counts(300, seed=9)
    data = _stream(counts, first_sequence=250)
    (chunk,) = S1Deframer().feed(data)
    for k in range(0, 300, 37):
        f = decode_frame_fields(data[k * FRAME_SIZE : (k + 1) * FRAME_SIZE])
        assert tuple(chunk.voltage_v[:, k]) == pytest.approx(f.voltage_v)
        assert tuple(chunk.current_a[:, k]) == pytest.approx(f.current_a)
        assert chunk.neutral_a is not None and chunk.neutral_a[k] == pytest.approx(f.neutral_a)
        assert chunk.network_hz[k] == pytest.approx(f.frequency_hz)


def test_a_header_and_flags_inside_payloads_do_not_fool_it() -> None:
    counts = _counts(600)
    # V1 = 0x7E80 and I1 = 0x2BFF03 put "7E 80 2B FF 03" inside the data field; IN ends in 7E
    counts[::3, 0] = 0x7E80
    counts[::3, 1] = 0x2BFF03
    counts[:, 6] = 0x7E7E
    info = S1FrameInfo("~~~~~~~~~~~~~~", poly_phase=True, neutral_current=True)  # '~' is 0x7E
    data = _stream(counts, first_sequence=0x7E, info=info)
    assert data.count(bytes((0x7E, 0x80, 0x2B, 0xFF, 0x03))) > 600
    d = S1Deframer()
    chunks = d.feed(data)
    v, _ = _join(chunks)
    assert v.shape[1] == 600
    assert d.stats.fcs_errors == 0 and d.stats.bytes_skipped == 0 and d.stats.frames == 600


def test_garbage_between_frames_is_skipped_counted_and_costs_no_sample() -> None:
    counts = _counts(400)
    data = _stream(counts)
    rng = np.random.default_rng(2)
    junk = [bytes(rng.integers(0, 256, int(n), dtype=np.uint8)) + b"\x7e\x80\x2b\xff\x03" for n in (7, 90, 1)]
    spliced = data[: 45 * 10] + junk[0] + data[45 * 10 : 45 * 200] + junk[1] + data[45 * 200 :] + junk[2]
    d = S1Deframer()
    chunks = d.feed(spliced) + d.feed(b"\x00" * 50)
    v, _ = _join(chunks)
    np.testing.assert_allclose(v, counts[:, 0:6:2].T * 0.025)
    assert d.stats.bytes_skipped + d.pending == sum(len(j) for j in junk) + 50
    assert d.pending == 44
    assert d.stats.sequence_gaps == 0
    assert all(c.continuous for c in chunks[1:])  # no sample was lost
    skipped = [e for e in d.errors if e.kind is S1ErrorKind.GARBAGE]
    assert skipped[0].offset == 450 and skipped[0].length == len(junk[0])
    assert "byte 450" in skipped[0].message


def test_a_dropped_byte_loses_that_frame_only_and_the_gap_is_counted() -> None:
    counts = _counts(100)
    data = bytearray(_stream(counts))
    del data[45 * 30 + 17]  # a byte of frame 30
    d = S1Deframer()
    chunks = d.feed(bytes(data))
    assert d.stats.frames == 99
    assert d.stats.fcs_errors == 1
    assert d.stats.sequence_gaps == 1 and d.stats.frames_lost == 1
    assert [c.sample_index for c in chunks] == [0, 31]
    assert chunks[1].continuous is False
    np.testing.assert_allclose(chunks[1].voltage_v[:, 0], counts[31, 0:6:2] * 0.025)
    fcs = next(e for e in d.errors if e.kind is S1ErrorKind.FCS)
    assert fcs.offset == 45 * 30 and "FCS" in fcs.message


def test_a_flipped_bit_is_an_fcs_error_with_its_offset() -> None:
    data = bytearray(_stream(_counts(50)))
    data[45 * 7 + 30] ^= 0x04
    d = S1Deframer()
    d.feed(bytes(data))
    assert d.stats.fcs_errors == 1 and d.stats.frames == 49 and d.stats.frames_lost == 1
    err = next(e for e in d.errors if e.kind is S1ErrorKind.FCS)
    assert err.offset == 315 and "byte 315" in err.message


def test_missing_frames_are_counted_from_sequence_numbers_and_from_bytes_past_a_wrap() -> None:
    counts = _counts(1000)
    data = _stream(counts)
    d = S1Deframer()
    chunks = d.feed(data[: 45 * 100] + data[45 * 110 : 45 * 400])  # 10 frames missing, bytes and all
    assert d.stats.frames_lost == 10 and d.stats.sequence_gaps == 1
    assert chunks[-1].sample_index == 110
    # 300 frames replaced by as many bytes of noise: the sequence wraps, the byte count resolves it
    d2 = S1Deframer()
    noise = bytes(np.random.default_rng(3).integers(0, 256, 45 * 300, dtype=np.uint8))
    chunks = d2.feed(data[: 45 * 100] + noise + data[45 * 400 :])
    assert d2.stats.frames_lost == 300
    assert chunks[-1].sample_index == 400 and not chunks[-1].continuous


def test_noise_alone_never_crashes_and_yields_nothing() -> None:
    rng = np.random.default_rng(11)
    d = S1Deframer()
    out: list[WaveformChunk] = []
    for _ in range(50):
        out += d.feed(bytes(rng.integers(0, 256, int(rng.integers(1, 3000)), dtype=np.uint8)))
    for tricky in (b"\x7e" * 500, b"\x7e\x80\x2b\xff\x03" * 100, b""):
        out += d.feed(tricky)
    assert out == []
    assert d.stats.frames == 0
    assert d.stats.bytes_skipped >= d.stats.bytes - 44


def test_a_stream_break_drops_the_partial_frame_and_the_next_chunk_is_not_continuous() -> None:
    counts = _counts(60)
    data = _stream(counts)
    d = S1Deframer()
    first = d.feed(data[: 45 * 20 + 20])
    d.break_stream()
    second = d.feed(data[45 * 25 :])
    assert sum(c.samples for c in first) == 20
    assert d.stats.breaks == 1 and d.stats.bytes_skipped == 20
    assert second[0].continuous is False
    assert second[0].sample_index == 25  # the 5 frames lost are counted from the sequence
    assert d.stats.frames_lost == 5


def test_a_change_of_sampling_starts_a_new_chunk() -> None:
    a = S1FrameEncoder(INFO, 40, 0).encode(_counts(10), 50_000)
    b = S1FrameEncoder(INFO, 20, 10).encode(_counts(10), 50_000)
    chunks = S1Deframer().feed(a + b)
    assert [(c.rate_hz, c.samples, c.sample_index) for c in chunks] == [(4000.0, 10, 0), (2000.0, 10, 10)]
    assert chunks[1].continuous is False
    assert chunks[1].t0 == pytest.approx(10 / 4000.0)
