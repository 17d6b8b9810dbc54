"""S1 frames (e-MUCS H Ed. 1.3 §4.2): samples to 45-byte HDLC UI frames, and the field layout back.

One frame carries one simultaneous sample of every channel (§4.2.3, §4.2.4):

    7E | 80 2B | FF | 03 | 37 data bytes | FCS lo | FCS hi | 7E

frame format type 1 with length 43, broadcast address, UI control, no byte stuffing (§4.2.2), FCS
per `ports.s1.fcs`. The data field is big-endian (Table 4): meter ID (14 bytes, DIN 43863-5
ASCII), additional info (bit field), sampling (signed int8), network frequency (uint16, 1 mHz),
frame sequence number (uint8, +1 per frame, wraps), then V1 (int16, 25 mV), I1 (int24, 1 mA),
V2, I2, V3, I3 and the neutral current IN (int24, 1 mA; 0 when not measured). A single-phase
meter sends 0 for L2 and L3.

`S1FrameEncoder` writes thousands of frames per call with numpy only (no per-frame Python): at
2600-4000 frames per second (§4.2.4) the virtual meter cannot afford interpreter time per frame.
`decode_frame_fields` reads one frame's fields for tests and tools; it is the field layout
helper, not a deframer of a byte stream (no resynchronisation, no loss accounting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from gridedge.ports.s1.fcs import AffineFcs16, fcs16

__all__ = [
    "CHANNELS",
    "FRAME_SIZE",
    "S1FrameEncoder",
    "S1FrameError",
    "S1FrameFields",
    "S1FrameInfo",
    "Saturation",
    "decode_frame_fields",
    "sampling_byte_for",
    "to_counts",
]

FRAME_SIZE: Final = 45
FLAG: Final = 0x7E
HEADER: Final = bytes((FLAG, 0x80, 0x2B, 0xFF, 0x03))
"""Opening flag, frame format (type 1, length 43 without flags), broadcast address, UI control."""
METER_ID_SIZE: Final = 14
FCS_START, FCS_END = 1, 42
"""The FCS covers frame[FCS_START:FCS_END]: frame format .. last data byte."""
VARIABLE_START: Final = 21
"""Frame offset of the network frequency: from here to the FCS every byte changes per frame."""

CHANNELS: Final = ("V1", "I1", "V2", "I2", "V3", "I3", "IN")
"""Sample order in a frame and in the columns of a counts array."""
VOLT_LSB: Final = 0.025
AMP_LSB: Final = 0.001
HZ_LSB: Final = 0.001
INT16 = (-(1 << 15), (1 << 15) - 1)
INT24 = (-(1 << 23), (1 << 23) - 1)
_IS_VOLTAGE = np.array([True, False, True, False, True, False, False])
_COUNT_MIN = np.where(_IS_VOLTAGE, INT16[0], INT24[0])
_COUNT_MAX = np.where(_IS_VOLTAGE, INT16[1], INT24[1])
_SAMPLES = ((24, 2), (26, 3), (29, 2), (31, 3), (34, 2), (36, 3), (39, 3))
"""Frame offset and width of V1, I1, V2, I2, V3, I3, IN (data bytes 19..36, Table 4)."""
# numpy has no int24: a current is stored as a big-endian int32 that starts one byte early, its
# sign-extension byte landing on the byte before the field. Writing the samples from the end of
# the frame backwards (`_WRITE_ORDER`) lets the next write overwrite that byte with its own.
_FRAME_DTYPE = np.dtype(
    {
        "names": ["frequency_hi", "frequency_lo", "sequence", *CHANNELS, "fcs"],
        "formats": ["u1", "u1", "u1", *(">i2" if w == 2 else ">i4" for _, w in _SAMPLES), "<u2"],
        "offsets": [21, 22, 23, *(o + w - (2 if w == 2 else 4) for o, w in _SAMPLES), FCS_END],
        "itemsize": FRAME_SIZE,
    }
)
_WRITE_ORDER = tuple(reversed(range(len(CHANNELS))))
# the FCS reads the variable bytes as byte planes (one row per frame byte 21..41, one column per
# frame): frequency hi, lo, sequence, then the sample bytes, each taken from a little-endian int32
_PLANE_CHANNEL = np.array([k for k, (_, w) in enumerate(_SAMPLES) for _ in range(w)])
_PLANE_BYTE = np.array([j for _, w in _SAMPLES for j in reversed(range(w))])

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]


class S1FrameError(ValueError):
    """Bytes that are not one valid S1 frame: wrong size, header, FCS or data format version."""


@dataclass(frozen=True, slots=True)
class S1FrameInfo:
    """What a frame says about the meter: its ID and the additional-info bit field (Table 4)."""

    meter_id: str
    """DIN 43863-5 ID, e.g. "1FLU0012345678" (energy type, manufacturer, device, serial);
    up to 14 ASCII characters, padded with 0x00 on the wire ("" sends 14 zero bytes)."""
    poly_phase: bool = False
    """b0: 0 single-phase, 1 poly-phase meter."""
    per_period: bool = False
    """b1: the sampling byte counts samples per network period (1), or hundreds of Hz (0)."""
    four_wire: bool = False
    """b2: 4-wire (1) or 3-wire (0) network; meaningful for poly-phase meters only."""
    samples_valid: bool = True
    """b3: 1 = all samples OK, 0 = at least one corrupted."""
    neutral_current: bool = False
    """b4: IN carries a measured neutral current."""

    def __post_init__(self) -> None:
        try:
            raw = self.meter_id.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"meter ID must be ASCII, got {self.meter_id!r}") from None
        if len(raw) > METER_ID_SIZE or b"\0" in raw:
            raise ValueError(f"meter ID must be at most {METER_ID_SIZE} ASCII characters: {self.meter_id!r}")

    @property
    def meter_id_bytes(self) -> bytes:
        """The 14 bytes on the wire."""
        return self.meter_id.encode("ascii").ljust(METER_ID_SIZE, b"\0")

    @property
    def additional_info(self) -> int:
        """The bit field byte; b5-b7 (data format version) are 000 (Ed. 1.3)."""
        flags = (self.poly_phase, self.per_period, self.four_wire, self.samples_valid, self.neutral_current)
        return sum(int(f) << bit for bit, f in enumerate(flags))

    @classmethod
    def from_wire(cls, meter_id: bytes, additional_info: int) -> S1FrameInfo:
        """Read back the meter ID bytes and the bit field; a data format version other than 000
        is refused, since its layout is unknown."""
        if additional_info >> 5:
            raise S1FrameError(f"data format version {additional_info >> 5} is not 0 (e-MUCS H Ed. 1.3)")
        try:
            text = meter_id.rstrip(b"\0").decode("ascii")
            return cls(text, *(bool(additional_info >> bit & 1) for bit in range(5)))
        except (UnicodeDecodeError, ValueError):
            raise S1FrameError(f"meter ID {meter_id!r} is not NUL-padded ASCII") from None


def sampling_byte_for(sample_rate_hz: float, *, per_period: bool, network_hz: float = 50.0) -> int:
    """The sampling byte for a sample rate: samples per period, or hundreds of Hz (Table 4).

    Raises ValueError when the rate is not a whole number of the unit, or breaks the limits of
    §4.2.3: below 4200 Hz in per-second mode, below 80 samples per period.
    """
    value = sample_rate_hz / network_hz if per_period else sample_rate_hz / 100.0
    byte = round(value)
    if abs(value - byte) > 1e-9 * max(1.0, abs(value)):
        unit = f"samples per {network_hz:g} Hz period" if per_period else "hundreds of Hz"
        raise ValueError(f"{sample_rate_hz:g} Hz is not a whole number of {unit}")
    _check_sampling(byte, per_period)
    return byte


def _check_sampling(byte: int, per_period: bool) -> None:
    limit = 80 if per_period else 42
    if not 0 < byte < limit:
        mode = "samples per period" if per_period else "x 100 Hz"
        raise ValueError(f"sampling byte {byte} ({mode}) outside 1..{limit - 1} (e-MUCS H §4.2.3)")


@dataclass
class Saturation:
    """Samples clipped by `to_counts` because they exceed the int16 / int24 range, accumulated."""

    voltage: int = 0
    current: int = 0

    @property
    def total(self) -> int:
        return self.voltage + self.current


def to_counts(
    voltage_v: FloatArray,
    current_a: FloatArray,
    neutral_a: FloatArray,
    *,
    saturation: Saturation | None = None,
) -> IntArray:
    """Physical samples to raw counts, columns V1, I1, V2, I2, V3, I3, IN (int32, shape (N, 7)).

    `voltage_v`, `current_a`: shape (3, N) instantaneous volts and amperes of L1..L3; `neutral_a`:
    shape (N,). Rounded to the nearest LSB (25 mV, 1 mA; ties to even) and saturated to int16 for
    voltages and int24 for currents, as a meter's ADC range clips (about ±819 V, ±8388 A).
    Clipped samples are added to `saturation` when given. NaN is refused: a frame has no way to
    carry it (a real meter would clear the valid-samples bit instead).
    """
    v = np.asarray(voltage_v, dtype=np.float64)
    i = np.asarray(current_a, dtype=np.float64)
    n_a = np.asarray(neutral_a, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] != 3 or i.shape != v.shape or n_a.shape != (v.shape[1],):
        raise ValueError(
            f"expected voltage and current (3, N) and neutral (N,), got {v.shape}, {i.shape}, {n_a.shape}"
        )
    # channel-major: every step runs over long contiguous rows
    scaled = np.empty((7, v.shape[1]), dtype=np.float64)
    np.multiply(v, 1.0 / VOLT_LSB, out=scaled[0:6:2])
    np.multiply(i, 1.0 / AMP_LSB, out=scaled[1:6:2])
    np.multiply(n_a, 1.0 / AMP_LSB, out=scaled[6])
    np.rint(scaled, out=scaled)
    low, high = scaled.min(axis=1), scaled.max(axis=1)
    if np.isnan(low).any():
        raise ValueError("samples contain NaN")
    if (low < _COUNT_MIN).any() or (high > _COUNT_MAX).any():
        if saturation is not None:
            out_of_range = (scaled < _COUNT_MIN[:, None]) | (scaled > _COUNT_MAX[:, None])
            clipped = np.count_nonzero(out_of_range, axis=1)
            saturation.voltage += int(clipped[_IS_VOLTAGE].sum())
            saturation.current += int(clipped[~_IS_VOLTAGE].sum())
        np.clip(scaled, _COUNT_MIN[:, None], _COUNT_MAX[:, None], out=scaled)
    counts: IntArray = scaled.T.astype(np.int32)  # (N, 7), column-major
    return counts


class S1FrameEncoder:
    """Frames from raw counts, sequence numbers continuing across calls (mod 256).

    The fixed part of a frame (header, meter ID, additional info, sampling byte) is laid down
    once; each call writes the 21 variable bytes of all frames with a few whole-array copies and
    computes all FCS with `AffineFcs16`. Reuses buffers sized to the largest batch seen.
    """

    def __init__(self, info: S1FrameInfo, sampling_byte: int, first_sequence: int = 0) -> None:
        _check_sampling(sampling_byte, info.per_period)
        if not 0 <= first_sequence <= 0xFF:
            raise ValueError(f"sequence number must be 0..255, got {first_sequence}")
        self.info = info
        self.sampling_byte = sampling_byte
        self._sequence = first_sequence
        self.frames_encoded = 0
        template = bytearray(FRAME_SIZE)
        template[: len(HEADER)] = HEADER
        template[len(HEADER) : len(HEADER) + METER_ID_SIZE] = info.meter_id_bytes
        template[19] = info.additional_info
        template[20] = sampling_byte & 0xFF  # signed int8 on the wire
        template[-1] = FLAG
        self.template = bytes(template)
        self._fcs = AffineFcs16(
            self.template[FCS_START:FCS_END], range(VARIABLE_START - FCS_START, FCS_END - FCS_START)
        )
        self._frames = np.empty(0, dtype=_FRAME_DTYPE)
        self._planes = np.empty((FCS_END - VARIABLE_START, 0), dtype=np.uint8)
        self._sequences = np.empty(0, dtype=np.uint8)

    @property
    def next_sequence(self) -> int:
        """The sequence number the next frame will carry."""
        return self._sequence

    def _grow(self, n: int) -> None:
        # a copy of a structured array may drop the bytes no field covers: view a bytearray
        self._frames = np.frombuffer(bytearray(self.template * n), dtype=_FRAME_DTYPE)
        self._planes = np.empty((FCS_END - VARIABLE_START, n), dtype=np.uint8)
        self._sequences = (np.arange(n + 256) & 0xFF).astype(np.uint8)

    def encode(self, counts: IntArray, frequency_mhz: int | npt.NDArray[np.integer]) -> bytes:
        """N frames (N * 45 bytes) for `counts` (N, 7) in `CHANNELS` order.

        `frequency_mhz`: the network frequency in mHz, one value for all frames or one per frame.
        Counts out of the int16 / int24 ranges raise ValueError (use `to_counts` to saturate).
        Fastest with column-major counts, as `to_counts` returns them.
        """
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[1] != len(CHANNELS) or counts.dtype.kind not in "iu":
            raise ValueError(f"counts must be integers of shape (N, 7), got {counts.dtype} {counts.shape}")
        n = counts.shape[0]
        if n == 0:
            return b""
        _check_range(counts)
        freq = np.asarray(frequency_mhz)
        if freq.ndim not in (0, 1) or (freq.ndim == 1 and freq.shape != (n,)) or freq.dtype.kind not in "iu":
            raise ValueError(f"frequency_mhz must be one integer or {n}, got {freq.dtype} {freq.shape}")
        if freq.min() < 0 or freq.max() > 0xFFFF:
            raise ValueError("network frequency must be 0..65535 mHz")
        if n > len(self._frames):
            self._grow(n)
        planes = self._planes[:, :n]
        np.copyto(planes[0], freq >> 8, casting="unsafe")
        np.copyto(planes[1], freq & 0xFF, casting="unsafe")
        planes[2] = self._sequences[self._sequence : self._sequence + n]
        channel_major = np.ascontiguousarray(counts.T, dtype="<i4")  # no copy for to_counts output
        planes[3:] = channel_major.view(np.uint8).reshape(len(CHANNELS), n, 4)[_PLANE_CHANNEL, :, _PLANE_BYTE]
        frames = self._frames[:n]
        for k in _WRITE_ORDER:
            frames[CHANNELS[k]] = counts[:, k]
        frames["frequency_hi"] = planes[0]
        frames["frequency_lo"] = planes[1]
        frames["sequence"] = planes[2]
        frames["fcs"] = self._fcs.planes(planes)
        self._sequence = (self._sequence + n) & 0xFF
        self.frames_encoded += n
        return frames.tobytes()


def _check_range(counts: npt.NDArray[np.integer]) -> None:
    """Every count fits its field; whole-array extremes first, as per-column ones are slow."""
    low, high = int(counts.min()), int(counts.max())
    if INT16[0] <= low and high <= INT16[1]:
        return
    voltages = counts[:, 0:6:2]
    if INT24[0] <= low and high <= INT24[1] and INT16[0] <= voltages.min() and voltages.max() <= INT16[1]:
        return
    bad = [
        name
        for name, lo, hi, a, b in zip(
            CHANNELS, counts.min(axis=0), counts.max(axis=0), _COUNT_MIN, _COUNT_MAX, strict=True
        )
        if lo < a or hi > b
    ]
    raise ValueError(f"counts out of range (int16 V, int24 I) for {', '.join(bad)}: to_counts saturates")


@dataclass(frozen=True, slots=True)
class S1FrameFields:
    """The fields of one frame, in physical units, with the raw sample counts."""

    info: S1FrameInfo
    sampling: int
    """The signed sampling byte as sent (see `sample_rate_hz`)."""
    frequency_hz: float
    sequence: int
    voltage_v: tuple[float, float, float]
    current_a: tuple[float, float, float]
    neutral_a: float
    counts: tuple[int, int, int, int, int, int, int]
    """V1, I1, V2, I2, V3, I3, IN in LSB units."""

    @property
    def sample_rate_hz(self) -> float:
        """Samples per second: sampling x network frequency (per period) or sampling x 100 Hz."""
        return self.sampling * (self.frequency_hz if self.info.per_period else 100.0)


def decode_frame_fields(frame: bytes) -> S1FrameFields:
    """Read the fields of one complete 45-byte frame; S1FrameError says what is wrong with it."""
    if len(frame) != FRAME_SIZE:
        raise S1FrameError(f"an S1 frame has {FRAME_SIZE} bytes, got {len(frame)}")
    if frame[: len(HEADER)] != HEADER or frame[-1] != FLAG:
        raise S1FrameError(f"not an S1 frame: header {frame[:5].hex(' ')}, closing byte {frame[-1]:02x}")
    carried = int.from_bytes(frame[FCS_END : FCS_END + 2], "little")
    computed = fcs16(frame[FCS_START:FCS_END])
    if carried != computed:
        raise S1FrameError(f"FCS mismatch: frame carries {carried:04X}, bytes give {computed:04X}")
    info = S1FrameInfo.from_wire(frame[5:19], frame[19])
    freq_mhz = int.from_bytes(frame[21:23], "big")
    v1, i1, v2, i2, v3, i3, i_n = (int.from_bytes(frame[o : o + w], "big", signed=True) for o, w in _SAMPLES)
    return S1FrameFields(
        info=info,
        sampling=int.from_bytes(frame[20:21], "big", signed=True),
        frequency_hz=freq_mhz * HZ_LSB,
        sequence=frame[23],
        voltage_v=(v1 * VOLT_LSB, v2 * VOLT_LSB, v3 * VOLT_LSB),
        current_a=(i1 * AMP_LSB, i2 * AMP_LSB, i3 * AMP_LSB),
        neutral_a=i_n * AMP_LSB,
        counts=(v1, i1, v2, i2, v3, i3, i_n),
    )
