"""Per-second figures aggregated from one-cycle figures.

A cycle belongs to the second of stream time in which it starts (floor of `t_start`). Values
are weighted by cycle duration, so a mean power is the energy of the second's cycles over their
duration, and RMS values are the square root of the duration-weighted mean of squares (the
aggregation rule of IEC 61000-4-30 §5.2.1, applied to one second instead of 10/12 cycles).
Frequency follows IEC 61000-4-30 §5.1.1 on a 1 s base: the number of whole cycles (delimited
by zero crossings) divided by their cumulative duration; flywheel cycles do not count, and a
second without any is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridedge.home.analytics.cycles import concat_cycle_tables, empty_cycle_table
from gridedge.model.cycles import CycleTable, FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class SecondTable:
    """Figures of `n` seconds of stream time (one row per second that had cycles)."""

    t: FloatArray
    """(n,) start of each second, s of stream time (whole seconds)."""
    cycles: IntArray
    """(n,) cycles that started in the second."""
    duration_s: FloatArray
    """(n,) summed duration of those cycles."""
    frequency_hz: FloatArray
    """(n,) locked cycles / their cumulative duration (IEC 61000-4-30 §5.1.1 on 1 s)."""
    v_rms: FloatArray
    """(n, 3)"""
    i_rms: FloatArray
    """(n, 3)"""
    in_rms: FloatArray
    """(n,) measured neutral current (NaN without IN)."""
    in_calc_rms: FloatArray
    """(n,)"""
    residual_rms: FloatArray
    """(n,) i1 + i2 + i3 - iN (NaN without IN)."""
    p_w: FloatArray
    """(n, 3) mean active power."""
    q1_var: FloatArray
    """(n, 3) mean fundamental reactive power."""
    s_va: FloatArray
    """(n, 3) mean of the one-cycle apparent powers."""
    pf: FloatArray
    """(n, 3) P / S of the second (NaN where S = 0)."""
    thd_v: FloatArray
    """(n, 3) mean one-cycle voltage THD."""
    thd_i: FloatArray
    """(n, 3) mean one-cycle current THD over the cycles that have current."""
    v_min: FloatArray
    """(n, 3) lowest one-cycle RMS voltage."""
    v_max: FloatArray
    """(n, 3) highest one-cycle RMS voltage."""
    i_max: FloatArray
    """(n, 3) highest one-cycle RMS current."""

    @property
    def seconds(self) -> int:
        return int(self.t.shape[0])


def seconds_of(cycles: CycleTable) -> SecondTable:
    """Aggregate every second present in `cycles` (rows in stream order)."""
    sec = np.floor(cycles.t_start + 1e-9)
    if cycles.cycles == 0:
        z1, z3 = np.zeros(0), np.zeros((0, 3))
        zi: IntArray = np.zeros(0, dtype=np.int64)
        return SecondTable(z1, zi, z1, z1, z3, z3, z1, z1, z1, z3, z3, z3, z3, z3, z3, z3, z3, z3)
    starts = np.flatnonzero(np.concatenate(([True], sec[1:] != sec[:-1])))
    count = np.diff(np.append(starts, sec.size))
    if cycles.duration_s is not None:
        dur = cycles.duration_s
    else:  # a table made elsewhere: 1 / f (a flywheel cycle without it counts as nothing)
        dur = np.where(np.isfinite(cycles.frequency_hz), 1.0 / cycles.frequency_hz, 0.0)
    locked = np.isfinite(cycles.frequency_hz)

    def wsum(x: FloatArray) -> FloatArray:
        w = dur.reshape((-1,) + (1,) * (x.ndim - 1))
        return np.add.reduceat(x * w, starts, axis=0)

    total = np.add.reduceat(dur, starts)
    tot3 = total[:, None]
    n_locked = np.add.reduceat(locked.astype(np.float64), starts)
    locked_dur = np.add.reduceat(np.where(locked, dur, 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(n_locked > 0, n_locked / locked_dur, np.nan)
        p = wsum(cycles.p_w) / tot3
        s = wsum(cycles.s_va) / tot3
        pf = np.where(s > 0, p / s, np.nan)
        residual = cycles.residual_rms if cycles.residual_rms is not None else np.full(cycles.cycles, np.nan)
        thd_i_ok = np.isfinite(cycles.thd_i)
        thd_i = np.add.reduceat(np.where(thd_i_ok, cycles.thd_i, 0.0), starts, axis=0) / np.add.reduceat(
            thd_i_ok.astype(np.float64), starts, axis=0
        )
        return SecondTable(
            t=sec[starts],
            cycles=count.astype(np.int64),
            duration_s=total,
            frequency_hz=freq,
            v_rms=np.sqrt(wsum(cycles.v_rms**2) / tot3),
            i_rms=np.sqrt(wsum(cycles.i_rms**2) / tot3),
            in_rms=np.sqrt(wsum(cycles.in_rms**2) / total),
            in_calc_rms=np.sqrt(wsum(cycles.in_calc_rms**2) / total),
            residual_rms=np.sqrt(wsum(residual**2) / total),
            p_w=p,
            q1_var=wsum(cycles.q1_var) / tot3,
            s_va=s,
            pf=pf,
            thd_v=wsum(cycles.thd_v) / tot3,
            thd_i=thd_i,
            v_min=np.minimum.reduceat(cycles.v_rms, starts, axis=0),
            v_max=np.maximum.reduceat(cycles.v_rms, starts, axis=0),
            i_max=np.maximum.reduceat(cycles.i_rms, starts, axis=0),
        )


class SecondAggregator:
    """Streaming `seconds_of`: a second is returned once a cycle of a later second arrives."""

    def __init__(self) -> None:
        self._pending: list[CycleTable] = []
        self._second: int | None = None

    def feed(self, cycles: CycleTable) -> SecondTable:
        """Add cycles (in stream order) and return the seconds they complete."""
        if cycles.cycles == 0:
            return _EMPTY
        first = math.floor(float(cycles.t_start[0]) + 1e-9)
        last = math.floor(float(cycles.t_start[-1]) + 1e-9)
        if self._second is not None and first < self._second:
            raise ValueError(
                f"cycles must arrive in stream order: got a cycle of second {first} "
                f"after second {self._second}"
            )
        if self._second is None or last == self._second:
            self._second = last
            self._pending.append(cycles)
            return _EMPTY  # nothing completed (the common case with short chunks)
        self._pending.append(cycles)
        table = concat_cycle_tables(self._pending)
        done = int(np.searchsorted(np.floor(table.t_start + 1e-9), last, side="left"))
        self._second = last
        self._pending = [_rows(table, done, table.cycles)]
        return seconds_of(_rows(table, 0, done))

    def flush(self, cycles: CycleTable | None = None) -> SecondTable:
        """Add the last `cycles` (if any) and return every second still open (end of stream)."""
        if cycles is not None and cycles.cycles:
            self._pending.append(cycles)
        if not self._pending:
            return seconds_of(empty_cycle_table(1))
        table = concat_cycle_tables(self._pending)
        self._pending = []
        self._second = None
        return seconds_of(table)


def _rows(table: CycleTable, a: int, b: int) -> CycleTable:
    """Rows a..b-1 of `table`."""
    values: dict[str, Any] = {
        name: (None if getattr(table, name) is None else getattr(table, name)[a:b])
        for name in CycleTable.__dataclass_fields__
    }
    return CycleTable(**values)


_EMPTY = seconds_of(empty_cycle_table(1))
