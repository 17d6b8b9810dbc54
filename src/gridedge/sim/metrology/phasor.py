"""Metrology from per-cycle harmonic phasors (no samples).

For a periodic voltage and current with harmonic phasors V_h and I_h (RMS), the cycle's active
power is sum_h Re(V_h conj(I_h)), its RMS values are sqrt(sum_h |X_h|^2) (Parseval), and the
fundamental reactive power is Im(V_1 conj(I_1)) (IEEE 1459-2010 §3.2). Import and export are
netted over the phases cycle by cycle, like the sample-based metrology.
"""

from __future__ import annotations

import numpy as np

from gridedge.sim.household import CycleBlock
from gridedge.sim.measurement import SecondMeasurement

_ZERO3 = np.zeros(3)


def measure_phasors(block: CycleBlock) -> SecondMeasurement:
    """Summarise the cycles of `block` as one second of metrology."""
    n = block.cycles
    if n == 0:
        return SecondMeasurement(
            block.t0, 0.0, block.frequency_hz, _ZERO3, _ZERO3, _ZERO3, _ZERO3,
            0.0, 0.0, 0.0, 0.0, _ZERO3, _ZERO3, _ZERO3, 0.0,
        )  # fmt: skip
    if block.voltage.shape[0] == 1:
        return _one_run(block, n)
    v = block.voltage
    i = block.current
    w = block.repeat.astype(np.float64)
    period = block.period_s
    s = v * i.conj()
    p = s.real.sum(axis=2)
    q = s[:, :, 0].imag
    v2 = (v.real**2 + v.imag**2).sum(axis=2)
    i2 = (i.real**2 + i.imag**2).sum(axis=2)
    neutral = i.sum(axis=1)
    in2 = float(w @ (neutral.real**2 + neutral.imag**2).sum(axis=1)) / n
    ptot = p.sum(axis=1) * w
    qtot = q.sum(axis=1) * w
    to_wh = period / 3600.0
    imp = float(ptot[ptot > 0].sum()) * to_wh
    exp = float(-ptot[ptot < 0].sum()) * to_wh
    qimp = float(qtot[qtot > 0].sum()) * to_wh
    qexp = float(-qtot[qtot < 0].sum()) * to_wh
    v_cycle = np.sqrt(v2)
    return SecondMeasurement(
        t=block.t0,
        duration_s=n * period,
        frequency_hz=block.frequency_hz,
        voltage_v=np.sqrt(w @ v2 / n),
        current_a=np.sqrt(w @ i2 / n),
        power_w=w @ p / n,
        reactive_power_var=w @ q / n,
        energy_import_wh=imp,
        energy_export_wh=exp,
        reactive_import_varh=qimp,
        reactive_export_varh=qexp,
        voltage_min_v=v_cycle.min(axis=0),
        voltage_max_v=v_cycle.max(axis=0),
        current_max_a=np.sqrt(i2.max(axis=0)),
        neutral_current_a=float(np.sqrt(in2)),
    )


def _one_run(block: CycleBlock, n: int) -> SecondMeasurement:
    """A steady second (one run of identical cycles): (3, H) arithmetic and plain floats."""
    v = block.voltage[0]
    i = block.current[0]
    period = block.period_s
    s = v * i.conj()
    p = s.real.sum(axis=1)
    q = s[:, 0].imag
    vrms = np.abs(v)
    vrms = np.sqrt((vrms * vrms).sum(axis=1))
    irms = np.abs(i)
    irms = np.sqrt((irms * irms).sum(axis=1))
    neutral = np.abs(i.sum(axis=0))
    ptot = float(p.sum())
    qtot = float(q.sum())
    to_wh = n * period / 3600.0
    return SecondMeasurement(
        t=block.t0,
        duration_s=n * period,
        frequency_hz=block.frequency_hz,
        voltage_v=vrms,
        current_a=irms,
        power_w=p,
        reactive_power_var=q,
        energy_import_wh=ptot * to_wh if ptot > 0 else 0.0,
        energy_export_wh=-ptot * to_wh if ptot < 0 else 0.0,
        reactive_import_varh=qtot * to_wh if qtot > 0 else 0.0,
        reactive_export_varh=-qtot * to_wh if qtot < 0 else 0.0,
        voltage_min_v=vrms,
        voltage_max_v=vrms,
        current_max_a=irms,
        neutral_current_a=float(np.sqrt((neutral * neutral).sum())),
    )
