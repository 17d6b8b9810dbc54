"""Metrology from per-cycle harmonic phasors (no samples).

For a periodic voltage and current with harmonic phasors V_h and I_h (RMS), the cycle's active
power is sum_h Re(V_h conj(I_h)), its RMS values are sqrt(sum_h |X_h|^2) (Parseval), and the
fundamental reactive power is Im(V_1 conj(I_1)) (IEEE 1459-2010 §3.2). Import and export are
netted over the phases cycle by cycle, like the sample-based metrology.

Weighted sums over the runs are written as elementwise sums, not `@`: a matrix product goes to
BLAS, whose thread pool, in every worker of a street run on a two-core machine, cost a quarter
of the throughput (bench/sim.py).
"""

from __future__ import annotations

from collections.abc import Sequence

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
        return _one_runs((block,))[0]
    v = block.voltage
    i = block.current
    w = block.repeat.astype(np.float64)[:, None]  # weights of the runs; sums, not BLAS (see below)
    period = block.period_s
    s = v * i.conj()
    p = s.real.sum(axis=2)
    q = s[:, :, 0].imag
    v2 = (v.real**2 + v.imag**2).sum(axis=2)
    i2 = (i.real**2 + i.imag**2).sum(axis=2)
    neutral = i.sum(axis=1)
    in2 = float((w[:, 0] * (neutral.real**2 + neutral.imag**2).sum(axis=1)).sum()) / n
    ptot = p.sum(axis=1) * w[:, 0]
    qtot = q.sum(axis=1) * w[:, 0]
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
        voltage_v=np.sqrt((w * v2).sum(axis=0) / n),
        current_a=np.sqrt((w * i2).sum(axis=0) / n),
        power_w=(w * p).sum(axis=0) / n,
        reactive_power_var=(w * q).sum(axis=0) / n,
        energy_import_wh=imp,
        energy_export_wh=exp,
        reactive_import_varh=qimp,
        reactive_export_varh=qexp,
        voltage_min_v=v_cycle.min(axis=0),
        voltage_max_v=v_cycle.max(axis=0),
        current_max_a=np.sqrt(i2.max(axis=0)),
        neutral_current_a=float(np.sqrt(in2)),
    )


def measure_phasors_many(blocks: Sequence[CycleBlock]) -> list[SecondMeasurement]:
    """`measure_phasors` of many blocks; the steady ones (one run of cycles, most of a street's
    seconds) are measured together as (N, 3, H) arrays."""
    out: list[SecondMeasurement | None] = [None] * len(blocks)
    steady = [k for k, b in enumerate(blocks) if b.voltage.shape[0] == 1 and b.cycles > 0]
    for k, b in enumerate(blocks):
        if b.voltage.shape[0] != 1 or b.cycles == 0:
            out[k] = measure_phasors(b)
    if steady:
        for k, m in zip(steady, _one_runs([blocks[k] for k in steady]), strict=True):
            out[k] = m
    return [m for m in out if m is not None]


def _one_runs(blocks: Sequence[CycleBlock]) -> list[SecondMeasurement]:
    """Steady seconds (one run of identical cycles each): plain arithmetic over (N, 3, H)."""
    v = np.stack([b.voltage[0] for b in blocks])
    i = np.stack([b.current[0] for b in blocks])
    s = v * i.conj()
    p = s.real.sum(axis=2)
    q = s[:, :, 0].imag
    vrms = np.sqrt((v.real**2 + v.imag**2).sum(axis=2))
    irms = np.sqrt((i.real**2 + i.imag**2).sum(axis=2))
    neutral = i.sum(axis=1)
    in_rms = np.sqrt((neutral.real**2 + neutral.imag**2).sum(axis=1)).tolist()
    ptot = p.sum(axis=1).tolist()
    qtot = q.sum(axis=1).tolist()
    out: list[SecondMeasurement] = []
    for k, b in enumerate(blocks):
        duration = b.cycles * b.period_s
        to_wh = duration / 3600.0
        pt = ptot[k]
        qt = qtot[k]
        vk = vrms[k]
        ik = irms[k]
        out.append(
            SecondMeasurement(
                t=b.t0,
                duration_s=duration,
                frequency_hz=b.frequency_hz,
                voltage_v=vk,
                current_a=ik,
                power_w=p[k],
                reactive_power_var=q[k],
                energy_import_wh=pt * to_wh if pt > 0 else 0.0,
                energy_export_wh=-pt * to_wh if pt < 0 else 0.0,
                reactive_import_varh=qt * to_wh if qt > 0 else 0.0,
                reactive_export_varh=-qt * to_wh if qt < 0 else 0.0,
                voltage_min_v=vk,
                voltage_max_v=vk,
                current_max_a=ik,
                neutral_current_a=in_rms[k],
            )
        )
    return out
