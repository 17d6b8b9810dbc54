"""S1 byte stream to samples: synchronise on frames, decode them, account for every lost byte.

e-MUCS H Ed. 1.3 §4.2.2 switches HDLC transparency off, so 0x7E is an ordinary byte inside a
frame and flag scanning alone cannot find frames. A frame is recognised by all of: the opening
flag and the fixed header `7E 80 2B FF 03` (frame format type 1 with length 43, broadcast
address, UI control), the closing flag 45 bytes on, and the FCS-16 (CRC-16/X-25) over bytes
1..41 (§4.2.2, Table 4). A false match needs six fixed bytes and a 16-bit check to agree, about
one chance in 2^64 per position.

The search and the decoding are numpy over the whole chunk: candidate positions come from
comparisons of shifted views, the FCS of every candidate from the vectorised `fcs16_many`, the
fields from byte arithmetic on an (n, 45) array. Python runs per chunk, not per frame or sample
(the greedy choice among overlapping candidates, which only garbage produces, loops over those
candidates alone).

Loss accounting (what a user needs to trust a waveform):
* bytes that belong to no valid frame are skipped and counted; a corrupted frame (header and
  closing flag in place, FCS wrong) is counted as an FCS error;
* the frame sequence number (+1 per frame, wraps at 256, Table 4) gives the frames lost between
  two received ones; when more bytes were skipped than 255 frames hold, the wrap is resolved
  from the byte count. Across a reconnection no byte count exists, so the loss is known only
  modulo 256 and `frames_lost` counts its lower bound (the chunk after it is marked not
  continuous either way);
* samples keep their place in the stream: `WaveformChunk.sample_index` counts lost samples
  too, and a chunk never spans a loss, a change of sampling or meter flags, or a reconnection
  (`break_stream`), so analytics never measure across a hole.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from gridedge.model.waveform import WaveformChunk
from gridedge.ports.s1.fcs import fcs16_many
from gridedge.ports.s1.frame import (
    AMP_LSB,
    FCS_END,
    FCS_START,
    FLAG,
    FRAME_SIZE,
    HEADER,
    HZ_LSB,
    VOLT_LSB,
    S1FrameError,
    S1FrameInfo,
)

__all__ = ["S1Deframer", "S1ErrorKind", "S1Stats", "S1StreamError"]

U8Array = npt.NDArray[np.uint8]
U16Array = npt.NDArray[np.uint16]
I64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_FcsErrorSink = Callable[[npt.NDArray[np.int64], U16Array, U16Array], None]
"""Receives the stream offsets, carried and computed FCS of corrupted frames."""
_OFFSETS = np.arange(FRAME_SIZE)
_MAX_BUFFER = FRAME_SIZE - 1
"""Bytes kept between feeds: the longest prefix of a frame that may still complete."""


class S1ErrorKind(StrEnum):
    GARBAGE = "garbage"
    """Bytes that are part of no valid frame."""
    FCS = "fcs"
    """A frame-shaped run of 45 bytes whose FCS does not match (a corrupted frame)."""
    SEQUENCE_GAP = "sequence-gap"
    """Frames missing by their sequence numbers."""
    FORMAT = "format"
    """A frame with a valid FCS whose content is refused (data format version, meter ID, sampling)."""


@dataclass(frozen=True, slots=True)
class S1StreamError:
    """One problem in the stream, with where it was: the byte offset from the stream's start."""

    kind: S1ErrorKind
    offset: int
    """Byte offset in the stream (all bytes fed since the deframer was made)."""
    length: int
    """Bytes concerned (skipped bytes, 45 for a frame, 0 for a gap)."""
    message: str


@dataclass(slots=True)
class S1Stats:
    """Counters over the deframer's life."""

    bytes: int = 0
    frames: int = 0
    bytes_skipped: int = 0
    fcs_errors: int = 0
    format_errors: int = 0
    sequence_gaps: int = 0
    frames_lost: int = 0
    invalid_sample_frames: int = 0
    """Frames whose additional-info b3 says at least one sample is corrupted (kept, counted)."""
    breaks: int = 0
    """Stream breaks signalled by the reader (reconnection, reopened device)."""


@dataclass(slots=True)
class _Link:
    """What the previous frame left for the next one."""

    sequence: int = -1
    info_byte: int = -1
    sampling: int = 0
    meter_id: bytes = b""
    end_offset: int = 0
    """Stream offset just after the previous frame."""
    sample_index: int = 0
    """Stream sample index of the next sample."""
    t: float = 0.0
    """Stream time of the next sample."""
    continuous: bool = False


@dataclass(slots=True)
class S1Deframer:
    """Feed bytes as they arrive; get `WaveformChunk`s of the samples of complete frames.

    `errors` keeps the latest `max_errors` problems; `stats` counts them all.
    """

    max_errors: int = 100
    stats: S1Stats = field(default_factory=S1Stats)
    errors: deque[S1StreamError] = field(init=False)
    info: S1FrameInfo | None = field(default=None, init=False)
    """What the latest frame said about the meter."""
    _buffer: bytes = field(default=b"", init=False)
    _buffer_offset: int = field(default=0, init=False)
    _link: _Link = field(default_factory=_Link, init=False)

    def __post_init__(self) -> None:
        self.errors = deque(maxlen=self.max_errors)

    @property
    def pending(self) -> int:
        """Bytes held that may start a frame still to complete (at most 44)."""
        return len(self._buffer)

    def break_stream(self) -> None:
        """The source reconnected (a reader yields b""): bytes and timing before do not join the next.

        The partial frame held is dropped (and counted as skipped); the next chunk is not continuous.
        """
        if self._buffer:
            self._skip(self._buffer_offset, len(self._buffer), "stream break inside a frame")
        self._buffer_offset += len(self._buffer)
        self._buffer = b""
        self._link.continuous = False
        self.stats.breaks += 1

    def feed(self, data: bytes) -> list[WaveformChunk]:
        """Add bytes; return the chunks of samples completed by them (often one, empty list if none)."""
        if not data:
            self.break_stream()
            return []
        self.stats.bytes += len(data)
        raw = self._buffer + data
        base = self._buffer_offset
        buf = np.frombuffer(raw, dtype=np.uint8)
        starts = _frames_in(buf, self._on_fcs_error, base)
        end_of_frames = int(starts[-1]) + FRAME_SIZE if starts.size else 0
        # keep what may be the start of a frame that is not complete yet
        keep_from = max(end_of_frames, len(raw) - _MAX_BUFFER)
        chunks = self._decode(buf, starts, base) if starts.size else []
        previous_end = end_of_frames if starts.size else 0
        if keep_from > previous_end and starts.size:
            self._skip(base + previous_end, keep_from - previous_end, "bytes after the last frame")
        elif not starts.size and keep_from > 0:
            self._skip(base, keep_from, "no frame found")
        self._buffer = raw[keep_from:]
        self._buffer_offset = base + keep_from
        return chunks

    # --- errors ------------------------------------------------------------------------------

    def _error(self, kind: S1ErrorKind, offset: int, length: int, message: str) -> None:
        self.errors.append(S1StreamError(kind, offset, length, message))

    def _skip(self, offset: int, length: int, why: str) -> None:
        if length <= 0:
            return
        self.stats.bytes_skipped += length
        self._error(S1ErrorKind.GARBAGE, offset, length, f"{length} bytes skipped at byte {offset}: {why}")

    def _on_fcs_error(self, offsets: I64Array, carried: U16Array, computed: U16Array) -> None:
        self.stats.fcs_errors += int(offsets.size)
        keep = slice(-self.max_errors, None)
        rows = zip(offsets[keep].tolist(), carried[keep].tolist(), computed[keep].tolist(), strict=True)
        for off, c, k in rows:
            self._error(
                S1ErrorKind.FCS,
                off,
                FRAME_SIZE,
                f"frame at byte {off}: FCS {c:04X} carried, {k:04X} computed over bytes 1..41; frame dropped",
            )

    # --- decoding ----------------------------------------------------------------------------

    def _decode(self, buf: U8Array, starts: I64Array, base: int) -> list[WaveformChunk]:
        frames = buf[starts[:, None] + _OFFSETS]
        n = starts.size
        link = self._link
        info_byte = frames[:, 19].astype(np.int64)
        sampling = frames[:, 20].astype(np.int8).astype(np.int64)
        seq = frames[:, 23].astype(np.int64)
        freq_hz = ((frames[:, 21].astype(np.int64) << 8) | frames[:, 22]) * HZ_LSB

        # format checks: data format version 000 and a usable sampling byte; refused frames are dropped
        per_period = (info_byte >> 1) & 1
        limit = np.where(per_period == 1, 80, 42)
        good = ((info_byte >> 5) == 0) & (sampling > 0) & (sampling < limit)
        if not good.all():
            for k in np.flatnonzero(~good).tolist():
                self.stats.format_errors += 1
                off = base + int(starts[k])
                why = (
                    f"data format version {int(info_byte[k]) >> 5} is not 0"
                    if info_byte[k] >> 5
                    else f"sampling byte {int(sampling[k])} outside 1..{int(limit[k]) - 1}"
                )
                self._error(
                    S1ErrorKind.FORMAT, off, FRAME_SIZE, f"frame at byte {off}: {why} (e-MUCS H §4.2.3)"
                )
            keep = np.flatnonzero(good)
            frames, starts = frames[keep], starts[keep]
            info_byte, sampling, seq, freq_hz = info_byte[keep], sampling[keep], seq[keep], freq_hz[keep]
            n = starts.size
            if n == 0:
                return []

        # bytes and frames between consecutive frames (the first against the previous feed's last)
        abs_start = base + starts
        prev_end = np.empty(n, dtype=np.int64)
        prev_end[0] = link.end_offset
        prev_end[1:] = abs_start[:-1] + FRAME_SIZE
        gap_bytes = np.maximum(abs_start - prev_end, 0)  # two frames may share a flag: -1
        # bytes before this feed were accounted for by the feeds that held them
        skipped = gap_bytes.copy()
        skipped[0] = max(0, int(abs_start[0]) - max(int(prev_end[0]), base))
        prev_seq = np.empty(n, dtype=np.int64)
        prev_seq[0] = link.sequence
        prev_seq[1:] = seq[:-1]
        lost = (seq - prev_seq - 1) % 256
        # the sequence wraps every 256 frames: when the bytes between two frames could hold 256 more
        # frames than the sequence says, they did (inserting 11 kB of noise is not what links do)
        by_bytes = gap_bytes // FRAME_SIZE
        lost = lost + 256 * np.maximum((by_bytes - lost) // 256, 0)
        if link.sequence < 0:
            lost[0] = 0
        for k in np.flatnonzero(skipped > 0).tolist():
            at = int(abs_start[k]) - int(skipped[k])
            self._skip(at, int(skipped[k]), f"before the frame at byte {int(abs_start[k])}")
        gaps = np.flatnonzero(lost > 0)
        if gaps.size:
            self.stats.sequence_gaps += int(gaps.size)
            self.stats.frames_lost += int(lost[gaps].sum())
            for k in gaps.tolist()[-self.max_errors :]:
                self._error(
                    S1ErrorKind.SEQUENCE_GAP,
                    int(abs_start[k]),
                    0,
                    f"frame at byte {int(abs_start[k])}: sequence {int(seq[k])} after {int(prev_seq[k])},"
                    f" {int(lost[k])} frame(s) lost",
                )
        invalid = (info_byte >> 3) & 1 == 0
        self.stats.invalid_sample_frames += int(invalid.sum())
        self.stats.frames += n

        # samples
        v = np.empty((3, n))
        i = np.empty((3, n))
        for ph, (vo, io) in enumerate(((24, 26), (29, 31), (34, 36))):
            v[ph] = _int16(frames, vo) * VOLT_LSB
            i[ph] = _int24(frames, io) * AMP_LSB
        neutral = _int24(frames, 39) * AMP_LSB
        # per-period mode with no frequency reported (0 Hz): assume 50 Hz rather than divide by zero
        network = np.where(freq_hz > 0, freq_hz, 50.0)
        rate = np.where(per_period_of(info_byte) == 1, sampling * network, sampling * 100.0)

        # chunk boundaries: a loss, skipped bytes, a change of flags, sampling or meter ID, a break
        ids = frames[:, 5:19]
        changed = np.zeros(n, dtype=bool)
        changed[1:] = (info_byte[1:] != info_byte[:-1]) | (sampling[1:] != sampling[:-1])
        changed[1:] |= (ids[1:] != ids[:-1]).any(axis=1)
        changed[0] = (
            not link.continuous
            or int(info_byte[0]) != link.info_byte
            or int(sampling[0]) != link.sampling
            or bytes(ids[0]) != link.meter_id
        )
        cut = changed | (lost > 0)
        # sample index and time: lost frames keep their place at the rate of the frame after them
        index = link.sample_index + np.cumsum(lost + 1) - 1
        dt = (lost + 1) / rate
        t = link.t + np.cumsum(dt) - 1.0 / rate
        bounds = [*np.flatnonzero(cut).tolist(), n]
        if bounds[0] != 0:
            bounds.insert(0, 0)
        chunks: list[WaveformChunk] = []
        for a, b in itertools.pairwise(bounds):
            if b <= a:
                continue
            info = self._info(bytes(ids[a]), int(info_byte[a]), base + int(starts[a]))
            neutral_part = neutral[a:b] if info is not None and info.neutral_current else None
            chunks.append(
                WaveformChunk(
                    sample_index=int(index[a]),
                    t0=float(t[a]),
                    rate_hz=float(rate[a]),
                    voltage_v=v[:, a:b],
                    current_a=i[:, a:b],
                    neutral_a=neutral_part,
                    network_hz=freq_hz[a:b],
                    phases=3 if (int(info_byte[a]) & 1) else 1,
                    continuous=not bool(cut[a]),
                )
            )
        link.sequence = int(seq[-1])
        link.info_byte = int(info_byte[-1])
        link.sampling = int(sampling[-1])
        link.meter_id = bytes(ids[-1])
        link.end_offset = int(abs_start[-1]) + FRAME_SIZE
        link.sample_index = int(index[-1]) + 1
        link.t = float(t[-1] + 1.0 / rate[-1])
        link.continuous = True
        return chunks

    def _info(self, meter_id: bytes, info_byte: int, offset: int) -> S1FrameInfo | None:
        try:
            self.info = S1FrameInfo.from_wire(meter_id, info_byte)
        except S1FrameError as exc:
            self.stats.format_errors += 1
            self._error(S1ErrorKind.FORMAT, offset, FRAME_SIZE, f"frame at byte {offset}: {exc}")
            return None
        return self.info


def per_period_of(info_byte: I64Array) -> I64Array:
    """Additional-info b1: 1 when the sampling byte counts samples per network period."""
    out: I64Array = (info_byte >> 1) & 1
    return out


def _int16(frames: U8Array, at: int) -> FloatArray:
    x = (frames[:, at].astype(np.int64) << 8) | frames[:, at + 1]
    out: FloatArray = np.where(x >= 1 << 15, x - (1 << 16), x).astype(np.float64)
    return out


def _int24(frames: U8Array, at: int) -> FloatArray:
    x = (frames[:, at].astype(np.int64) << 16) | (frames[:, at + 1].astype(np.int64) << 8) | frames[:, at + 2]
    out: FloatArray = np.where(x >= 1 << 23, x - (1 << 24), x).astype(np.float64)
    return out


def _frames_in(buf: U8Array, on_fcs_error: _FcsErrorSink, base: int) -> I64Array:
    """Start positions of the valid frames in `buf`, ascending and non-overlapping."""
    n = buf.size - FRAME_SIZE + 1
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    head = buf[:n] == FLAG
    for k in range(1, len(HEADER)):
        head &= buf[k : k + n] == HEADER[k]
    head &= buf[FRAME_SIZE - 1 : FRAME_SIZE - 1 + n] == FLAG
    cand = np.flatnonzero(head).astype(np.int64)
    if cand.size == 0:
        return cand
    body = buf[cand[:, None] + np.arange(FCS_START, FCS_END)]
    computed = fcs16_many(np.ascontiguousarray(body))
    carried = buf[cand + FCS_END].astype(np.uint16) | (buf[cand + FCS_END + 1].astype(np.uint16) << 8)
    ok = computed == carried
    valid: I64Array = cand[ok]
    if valid.size > 1 and (np.diff(valid) < FRAME_SIZE - 1).any():
        valid = _greedy(valid)
    bad = ~ok
    if bad.any():
        # a corrupted frame, unless it lies inside a valid one (a header-like run in a payload)
        b = cand[bad]
        real = np.ones(b.size, dtype=bool)
        if valid.size:
            j = np.searchsorted(valid, b, side="right") - 1
            inside = (j >= 0) & (b < valid[np.maximum(j, 0)] + FRAME_SIZE - 1)
            after = np.searchsorted(valid, b, side="left")
            nxt = valid[np.minimum(after, valid.size - 1)]
            overlaps_next = (after < valid.size) & (nxt < b + FRAME_SIZE - 1)
            real = ~(inside | overlaps_next)
        if real.any():
            on_fcs_error(base + b[real], carried[bad][real], computed[bad][real])
    return valid


def _greedy(valid: I64Array) -> I64Array:
    """Non-overlapping frames from the left (two frames may share a flag: 44 bytes apart)."""
    out: list[int] = []
    end = -1
    for s in valid.tolist():
        if s >= end:
            out.append(s)
            end = s + FRAME_SIZE - 1
    return np.array(out, dtype=np.int64)
