"""Metrology from samples, the way an electronic meter measures.

Energy is the sum of v * i * dt over every sample (so nothing is lost between seconds); import and
export are netted over the phases cycle by cycle, a cycle running from one upward zero crossing of
the reference voltage to the next. RMS values and mean powers are taken over all samples of the
second. The frequency is measured from the zero crossings (interpolated between samples), the
fundamental reactive power by a single-bin DFT over the whole cycles of the second
(IEEE 1459-2010 §3.2: Q1 = V1 I1 sin(theta1)), and the per-cycle RMS voltage and current feed sag,
swell and fuse supervision (IEC 61000-4-30 §5.4 uses a one-cycle RMS).
"""

from __future__ import annotations

import math

import numpy as np

from gridedge.sim.measurement import SecondMeasurement
from gridedge.sim.waveform import Samples


def _crossings(ref: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices just after each upward zero crossing, and the interpolated crossing times."""
    neg = ref[:-1] < 0
    pos = ref[1:] >= 0
    at = np.flatnonzero(neg & pos) + 1
    a = ref[at - 1]
    b = ref[at]
    frac = -a / (b - a)
    t = times[at - 1] + frac * (times[at] - times[at - 1])
    return at, t


def measure_samples(s: Samples, nominal_frequency_hz: float = 50.0) -> SecondMeasurement:
    """Summarise one second of samples."""
    v = s.voltage_v
    i = s.current_a
    n = s.count
    dt = s.dt_s
    v2 = v * v
    i2 = i * i
    pinst = v * i
    vrms2 = v2.mean(axis=1)
    ref_phase = int(np.argmax(vrms2))
    at, tc = _crossings(v[ref_phase], s.times)
    if tc.size >= 2:
        freq = (tc.size - 1) / float(tc[-1] - tc[0])
    else:  # no voltage to lock on (an outage): report nominal, as a meter's PLL holds it
        freq = nominal_frequency_hz
    # per-cycle segments (partial cycles at both ends count as their own segments)
    edges = np.concatenate(([0], at[(at > 0) & (at < n)]))
    ptot = pinst.sum(axis=0)
    seg_p = np.add.reduceat(ptot, edges) * dt
    imp = float(seg_p[seg_p > 0].sum()) / 3600.0
    exp = float(-seg_p[seg_p < 0].sum()) / 3600.0
    # one-cycle RMS from each upward crossing (IEC 61000-4-30 §5.4.1: Urms(1) over one cycle)
    length = round(1.0 / (freq * dt)) if freq > 0 else n
    begins = at[at + length <= n] if at.size else np.zeros(0, dtype=np.int64)
    if begins.size == 0:
        begins = np.array([0])
        length = n
    cv = np.concatenate((np.zeros((3, 1)), np.cumsum(v2, axis=1)), axis=1)
    ci = np.concatenate((np.zeros((3, 1)), np.cumsum(i2, axis=1)), axis=1)
    cyc_v = np.sqrt(np.maximum(cv[:, begins + length] - cv[:, begins], 0.0) / length)
    cyc_i = np.sqrt(np.maximum(ci[:, begins + length] - ci[:, begins], 0.0) / length)
    vmin = cyc_v.min(axis=1)
    vmax = cyc_v.max(axis=1)
    imax = cyc_i.max(axis=1)
    # fundamental reactive power over the whole cycles: X1 = j sqrt(2) D / N for D = sum x e^{-j theta}
    if at.size >= 2:
        a, b = int(at[0]), int(at[-1])
        ph = np.exp(-2j * math.pi * freq * (s.times[a:b] - tc[0]))
        dv = v[:, a:b] @ ph
        di = i[:, a:b] @ ph
        q = (dv * di.conj()).imag * (2.0 / (b - a) ** 2)
    else:
        q = np.zeros(3)
    duration = n * dt
    qtot = float(q.sum())
    qimp = max(qtot, 0.0) * duration / 3600.0
    qexp = max(-qtot, 0.0) * duration / 3600.0
    return SecondMeasurement(
        t=s.t0,
        duration_s=duration,
        frequency_hz=freq,
        voltage_v=np.sqrt(vrms2),
        current_a=np.sqrt(i2.mean(axis=1)),
        power_w=pinst.mean(axis=1),
        reactive_power_var=q,
        energy_import_wh=imp,
        energy_export_wh=exp,
        reactive_import_varh=qimp,
        reactive_export_varh=qexp,
        voltage_min_v=vmin,
        voltage_max_v=vmax,
        current_max_a=imax,
        neutral_current_a=float(np.sqrt((s.neutral_a * s.neutral_a).mean())),
    )
