"""Per-cycle and per-second waveform figures, as arrays (one row per mains cycle or second).

`CycleTable` is what `home.analytics` computes from a `WaveformChunk` stream and what
`home.nilm` detects events on. Arrays, not one object per cycle: at 50 cycles per second and
three phases a per-cycle Python object would cost more than the analysis.
Phase axis: 0..2 = L1..L3. Harmonic axis k: order k + 1 (k = 0 is the fundamental).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CycleTable:
    """Figures of `n` complete mains cycles (cycle = between two rising zero crossings of V1)."""

    start_index: IntArray
    """(n,) stream sample index where each cycle starts (see `WaveformChunk.sample_index`)."""
    samples: IntArray
    """(n,) samples in each cycle."""
    t_start: FloatArray
    """(n,) stream time of each cycle's start, s (interpolated zero crossing)."""
    frequency_hz: FloatArray
    """(n,) 1 / cycle length from the interpolated zero crossings."""
    v_rms: FloatArray
    """(n, 3) one-cycle RMS voltage (IEC 61000-4-30 Urms(1/2) over a full cycle)."""
    i_rms: FloatArray
    """(n, 3)"""
    in_rms: FloatArray
    """(n,) measured neutral current RMS (NaN when the meter does not send IN)."""
    in_calc_rms: FloatArray
    """(n,) RMS of i1 + i2 + i3 sample by sample (what IN should be with no leakage)."""
    p_w: FloatArray
    """(n, 3) active power, mean of v i over the cycle."""
    q1_var: FloatArray
    """(n, 3) fundamental reactive power Q1 = V1 I1 sin(phi1) (IEEE 1459-2010 §3.2.2)."""
    s_va: FloatArray
    """(n, 3) apparent power Vrms Irms."""
    pf: FloatArray
    """(n, 3) power factor P / S (NaN where S = 0)."""
    displacement: FloatArray
    """(n, 3) displacement power factor cos(phi1) of the fundamentals (NaN where I1 = 0)."""
    v_harmonics: FloatArray
    """(n, 3, K) RMS magnitude of voltage harmonic orders 1..K (K up to the Nyquist limit)."""
    i_harmonics: FloatArray
    """(n, 3, K) RMS magnitude of current harmonic orders 1..K."""
    i_harmonic_phase: FloatArray
    """(n, 3, K) phase of each current harmonic relative to the V1 fundamental of the cycle, rad."""
    v_phase: FloatArray
    """(n, 3) phase angle of each fundamental voltage relative to V1, rad (L2 near -2pi/3)."""
    thd_v: FloatArray
    """(n, 3) voltage THD (IEC 61000-4-7 subgroup-free: sqrt(sum_{h>=2} V_h^2) / V_1)."""
    thd_i: FloatArray
    """(n, 3) current THD (NaN where I1 = 0)."""

    # Added by `home.analytics` after the first version of the contract. Optional so that tables
    # built elsewhere (tests, other sources) need not fill them; `CycleAnalyser` always does.
    locked: BoolArray | None = None
    """(n,) True for a cycle delimited by two V1 zero crossings; False for a flywheel cycle of
    nominal length, made while V1 has no crossings (interruption, deep dip): its figures are
    measured, its `frequency_hz` is NaN."""
    duration_s: FloatArray | None = None
    """(n,) length of each cycle, s: between its interpolated crossings, or the nominal period for
    a flywheel cycle."""
    residual_rms: FloatArray | None = None
    """(n,) RMS of i1 + i2 + i3 - iN sample by sample: current leaving by another path (earth
    leakage, or a sensor fault); NaN when the meter does not send IN."""
    v_unbalance_neg: FloatArray | None = None
    """(n,) negative-sequence voltage unbalance u2 = |U2| / |U1| of the fundamentals, a ratio
    (IEC 61000-4-30 §5.7.1); NaN on single-phase streams."""
    v_unbalance_zero: FloatArray | None = None
    """(n,) zero-sequence voltage unbalance u0 = |U0| / |U1| (IEC 61000-4-30 §5.7.1); a shifted
    star point (floating neutral) shows here; NaN on single-phase streams."""

    @property
    def cycles(self) -> int:
        return int(self.t_start.shape[0])
