"""Sampled waveforms as they leave a port: contiguous, simultaneous V and I samples of a site.

The S1 deframer (`ports.s1`) yields `WaveformChunk`s; the waveform analytics (`home.analytics`)
and the appliance recognition (`home.nilm`) consume them. A chunk never spans lost samples or a
change of sampling rate: the producer starts a new chunk with `continuous=False` instead, so a
consumer restarts its cycle detection there rather than measuring across a hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WaveformChunk:
    """`n` consecutive samples of every channel, in SI units (V, A), consumer sign."""

    sample_index: int
    """Index of the first sample in the stream (counts samples, lost ones included)."""
    t0: float
    """Stream time of the first sample, s (sample_index / rate for a fixed-rate stream)."""
    rate_hz: float
    """Sampling rate (per-second mode: the rate byte x 100; per-period mode: samples per period x
    the network frequency)."""
    voltage_v: FloatArray
    """(3, n): V1, V2, V3 instantaneous; zeros on phases a single-phase meter lacks."""
    current_a: FloatArray
    """(3, n): I1, I2, I3 instantaneous."""
    neutral_a: FloatArray | None
    """(n,): IN instantaneous, or None when the meter does not measure it."""
    network_hz: FloatArray
    """(n,): the network frequency the meter reported with each sample."""
    phases: int = 3
    """1 for a single-phase meter (only row 0 carries signal), 3 for poly-phase."""
    continuous: bool = True
    """False when samples were lost (or the rate changed) just before this chunk."""

    @property
    def samples(self) -> int:
        return int(self.voltage_v.shape[1])

    @property
    def t1(self) -> float:
        """Stream time just after the last sample."""
        return self.t0 + self.samples / self.rate_hz
