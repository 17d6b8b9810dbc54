"""Exact per-cycle figures of a simulated second, straight from its harmonic phasors.

`cycle_table(block)` turns a `CycleBlock` (RMS phasors per run of identical cycles) into the
`CycleTable` that `home.analytics` would compute from the synthesised waveform, without
synthesising it: ground-truth cycle streams for the NILM tests and benchmarks at a fraction of
the cost. For periodic signals with harmonic phasors X_h (RMS):

* active power P = sum_h Re(V_h conj(I_h)) (orthogonality of the harmonics),
* fundamental reactive power Q1 = Im(V_1 conj(I_1)) (IEEE 1459-2010 §3.2.2),
* RMS values by Parseval, X_rms = sqrt(sum_h |X_h|^2),
* THD = sqrt(sum_{h>=2} |X_h|^2) / |X_1| (IEC 61000-4-7, harmonic groups of one line each).

Everything is computed per run of cycles and then repeated (`np.repeat`), so a steady second
costs one row of arithmetic. Harmonic arrays hold orders 1..39 with zeros at the even orders,
which the simulator does not model. `start_index` / `samples` count samples at a nominal rate
(`rate_hz`), as if the stream had been sampled there.

`waveform_chunk(samples, sample_index)` is the other way in: the `WaveformChunk` an S1 reader
would deliver for synthesised samples (`sim.waveform.WaveformSynth`), for tests and benchmarks
that run the whole sample path (`home.analytics.cycles.CycleAnalyser`, the NILM V-I cut).
"""

from __future__ import annotations

import numpy as np

from gridedge.model.cycles import CycleTable
from gridedge.model.waveform import WaveformChunk
from gridedge.sim.electrical import HARMONICS
from gridedge.sim.household import CycleBlock
from gridedge.sim.waveform import Samples

K_ORDERS = int(HARMONICS[-1])
"""Harmonic axis length of the tables made here: orders 1..39."""

_SLOT = HARMONICS - 1
"""Index on the table's harmonic axis of each simulated order."""


def cycle_table(block: CycleBlock, *, rate_hz: float = 4000.0) -> CycleTable:
    """The `CycleTable` of every cycle that starts in `block` (computed from the phasors)."""
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    v = block.voltage
    i = block.current
    n = block.cycles
    if v.ndim != 3 or v.shape != i.shape or v.shape[1:] != (3, HARMONICS.size):
        raise ValueError(
            f"CycleBlock phasors must be (runs, 3, {HARMONICS.size}) for voltage and current, "
            f"got {v.shape} and {i.shape}"
        )
    runs = v.shape[0]
    repeat = block.repeat if runs != n else np.ones(n, dtype=np.int64)
    if n == 0:
        repeat = np.zeros(runs, dtype=np.int64)
    elif int(repeat.sum()) != n:
        raise ValueError(f"CycleBlock repeats sum to {int(repeat.sum())}, expected {n} cycles")

    s = v * i.conj()
    p = s.real.sum(axis=2)
    q = s[:, :, 0].imag
    v_mag = np.abs(v)
    i_mag = np.abs(i)
    v_rms = np.sqrt((v_mag**2).sum(axis=2))
    i_rms = np.sqrt((i_mag**2).sum(axis=2))
    s_va = v_rms * i_rms
    with np.errstate(invalid="ignore", divide="ignore"):
        pf = np.where(s_va > 0, p / np.where(s_va > 0, s_va, 1.0), np.nan)
        v1 = v_mag[:, :, 0]
        i1 = i_mag[:, :, 0]
        ref = np.angle(v[:, 0, 0])  # the V1 (L1) fundamental: the cycle's time reference
        displacement = np.where(i1 > 0, np.cos(np.angle(v[:, :, 0]) - np.angle(i[:, :, 0])), np.nan)
        displacement = np.where(v1 > 0, displacement, np.nan)
        thd_v = np.where(
            v1 > 0, np.sqrt((v_mag[:, :, 1:] ** 2).sum(axis=2)) / np.where(v1 > 0, v1, 1.0), np.nan
        )
        thd_i = np.where(
            i1 > 0, np.sqrt((i_mag[:, :, 1:] ** 2).sum(axis=2)) / np.where(i1 > 0, i1, 1.0), np.nan
        )
    v_phase = np.where(v1 > 0, _wrap(np.angle(v[:, :, 0]) - ref[:, None]), np.nan)
    i_phase = _wrap(np.angle(i) - HARMONICS[None, None, :] * ref[:, None, None])
    i_phase = np.where(i_mag > 0, i_phase, 0.0)
    neutral = i.sum(axis=1)
    in_calc = np.sqrt((np.abs(neutral) ** 2).sum(axis=1))

    v_h = np.zeros((runs, 3, K_ORDERS))
    i_h = np.zeros((runs, 3, K_ORDERS))
    i_ph = np.zeros((runs, 3, K_ORDERS))
    v_h[:, :, _SLOT] = v_mag
    i_h[:, :, _SLOT] = i_mag
    i_ph[:, :, _SLOT] = i_phase

    def rep(x: np.ndarray) -> np.ndarray:
        return np.repeat(x, repeat, axis=0) if runs != n else x

    starts = np.asarray(block.starts, dtype=np.float64)
    period = 1.0 / block.frequency_hz
    start_index = np.round(starts * rate_hz).astype(np.int64)
    end_index = np.round((starts + period) * rate_hz).astype(np.int64)
    return CycleTable(
        start_index=start_index,
        samples=end_index - start_index,
        t_start=starts,
        frequency_hz=np.full(n, block.frequency_hz),
        v_rms=rep(v_rms),
        i_rms=rep(i_rms),
        in_rms=np.full(n, np.nan),
        in_calc_rms=rep(in_calc),
        p_w=rep(p),
        q1_var=rep(q),
        s_va=rep(s_va),
        pf=rep(pf),
        displacement=rep(displacement),
        v_harmonics=rep(v_h),
        i_harmonics=rep(i_h),
        i_harmonic_phase=rep(i_ph),
        v_phase=rep(v_phase),
        thd_v=rep(thd_v),
        thd_i=rep(thd_i),
    )


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles to (-pi, pi]."""
    return np.asarray(np.pi - np.mod(np.pi - angle, 2 * np.pi))


def waveform_chunk(samples: Samples, sample_index: int) -> WaveformChunk:
    """The chunk of synthesised `samples` whose first sample is number `sample_index` of the stream."""
    if sample_index < 0:
        raise ValueError(f"sample_index must be >= 0, got {sample_index}")
    return WaveformChunk(
        sample_index,
        samples.t0,
        1.0 / samples.dt_s,
        samples.voltage_v,
        samples.current_a,
        samples.neutral_a,
        np.full(samples.count, samples.frequency_hz),
    )
