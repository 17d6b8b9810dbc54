"""Voltage dips, swells and interruptions from one-cycle RMS voltages (IEC 61000-4-30 §5.4, §5.5).

IEC 61000-4-30 detects events on Urms(1/2), a one-cycle RMS refreshed every half cycle; here it
is the one-cycle RMS of each `CycleTable` row, so start and end are known to one cycle. The
thresholds are fractions of the declared supply voltage Udin, with a 2 % hysteresis:

- dip (§5.4.2): starts when the voltage of any phase falls below 90 %, ends when every phase is
  at or above 92 %; recorded with its residual voltage (lowest one-cycle RMS of any phase);
- swell (§5.4.3): starts when any phase rises above 110 %, ends when every phase is at or below
  108 %; recorded with its maximum voltage;
- interruption (§5.5.2): starts when every phase is below 5 %, ends when any phase is at or
  above 7 %. An interruption is also a dip (its residual voltage is below 5 %): both are
  reported, as IEC 61000-4-30 evaluates them independently.

The start of an event is the start time of the first cycle past the threshold, its end the start
time of the first cycle that recovered, so the duration counts whole cycles. Phases that are NaN
(single-phase streams) take no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from gridedge.model.cycles import BoolArray, CycleTable, FloatArray


class EventKind(StrEnum):
    DIP = "dip"
    SWELL = "swell"
    INTERRUPTION = "interruption"


@dataclass(frozen=True, slots=True)
class EventStart:
    """An event has just begun (published at once, before its end is known)."""

    kind: EventKind
    t_start: float
    """Stream time of the start of the first cycle past the threshold, s."""
    start_index: int
    """Stream sample index where that cycle starts."""
    phases: tuple[int, ...]
    """Phases (0..2) past the threshold in that cycle."""
    voltage_v: float
    """The lowest (dip, interruption) or highest (swell) one-cycle RMS in that cycle."""


@dataclass(frozen=True, slots=True)
class VoltageEvent:
    """A finished dip, swell or interruption."""

    kind: EventKind
    t_start: float
    t_end: float
    """Stream time of the start of the first cycle that recovered, s."""
    start_index: int
    end_index: int
    cycles: int
    """Cycles in the event."""
    phases: tuple[int, ...]
    """Phases that were past the threshold at some time during the event."""
    extreme_v: float
    """Residual voltage (dip, interruption: lowest one-cycle RMS) or maximum voltage (swell)."""
    extreme_phase: int
    declared_v: float

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start

    @property
    def extreme_pu(self) -> float:
        """`extreme_v` per unit of the declared voltage (residual voltage in % / 100)."""
        return self.extreme_v / self.declared_v


@dataclass(frozen=True, slots=True)
class EventBatch:
    """What one `CycleTable` started and ended."""

    started: tuple[EventStart, ...] = ()
    ended: tuple[VoltageEvent, ...] = ()


@dataclass(slots=True)
class _Open:
    t_start: float
    start_index: int
    cycles: int
    phases: set[int]
    extreme_v: float
    extreme_phase: int


class VoltageEventDetector:
    """Streaming detector: `feed` `CycleTable`s in stream order, get the events they start and end."""

    def __init__(
        self,
        declared_v: float = 230.0,
        *,
        dip: float = 0.90,
        swell: float = 1.10,
        interruption: float = 0.05,
        hysteresis: float = 0.02,
    ) -> None:
        if declared_v <= 0:
            raise ValueError(f"declared_v must be > 0 V, got {declared_v}")
        if not 0 < interruption < dip < 1 < swell:
            raise ValueError(
                f"thresholds must satisfy 0 < interruption < dip < 1 < swell, got "
                f"interruption={interruption}, dip={dip}, swell={swell}"
            )
        if not 0 <= hysteresis < dip - interruption:
            raise ValueError(f"hysteresis must be >= 0 and below dip - interruption, got {hysteresis}")
        self.declared_v = declared_v
        self._dip = dip * declared_v
        self._dip_end = (dip + hysteresis) * declared_v
        self._swell = swell * declared_v
        self._swell_end = (swell - hysteresis) * declared_v
        self._int = interruption * declared_v
        self._int_end = (interruption + hysteresis) * declared_v
        self._open: dict[EventKind, _Open] = {}

    @property
    def ongoing(self) -> tuple[EventKind, ...]:
        """Kinds of the events in progress."""
        return tuple(self._open)

    def feed(self, cycles: CycleTable) -> EventBatch:
        v = cycles.v_rms
        if cycles.cycles == 0:
            return EventBatch()
        nan = np.isnan(v)
        present = ~nan.all(axis=1)
        below_dip = (v < self._dip).any(axis=1)
        above_swell = (v > self._swell).any(axis=1)
        all_below_int = ((v < self._int) | nan).all(axis=1) & present
        if not self._open and not (below_dip.any() or above_swell.any()):
            return EventBatch()  # the common case: nothing happening
        conditions: dict[EventKind, tuple[Any, Any]] = {
            EventKind.DIP: (below_dip, ((v >= self._dip_end) | nan).all(axis=1)),
            EventKind.SWELL: (above_swell, ((v <= self._swell_end) | nan).all(axis=1)),
            EventKind.INTERRUPTION: (all_below_int, (v >= self._int_end).any(axis=1)),
        }
        started: list[tuple[int, EventStart]] = []
        ended: list[tuple[int, VoltageEvent]] = []
        for kind, (begin, end) in conditions.items():
            self._run(kind, begin, end & present, cycles, started, ended)
        started.sort(key=lambda item: item[0])
        ended.sort(key=lambda item: item[0])
        return EventBatch(tuple(s for _, s in started), tuple(e for _, e in ended))

    def _run(
        self,
        kind: EventKind,
        begin: BoolArray,
        end: BoolArray,
        cycles: CycleTable,
        started: list[tuple[int, EventStart]],
        ended: list[tuple[int, VoltageEvent]],
    ) -> None:
        if kind not in self._open and not begin.any():
            return
        low = kind is not EventKind.SWELL
        v = cycles.v_rms
        for c in range(cycles.cycles):  # a loop over cycles, only while something happens
            ev = self._open.get(kind)
            if ev is None:
                if begin[c]:
                    past = self._past(kind, v[c])
                    phase, value = _extreme(v[c], low)
                    self._open[kind] = _Open(
                        float(cycles.t_start[c]), int(cycles.start_index[c]), 1, set(past), value, phase
                    )
                    started.append((c, EventStart(kind, float(cycles.t_start[c]), int(cycles.start_index[c]),
                                                  tuple(past), value)))  # fmt: skip
                continue
            if end[c]:
                ended.append((c, VoltageEvent(
                    kind, ev.t_start, float(cycles.t_start[c]), ev.start_index, int(cycles.start_index[c]),
                    ev.cycles, tuple(sorted(ev.phases)), ev.extreme_v, ev.extreme_phase, self.declared_v,
                )))  # fmt: skip
                del self._open[kind]
                continue
            ev.cycles += 1
            ev.phases.update(self._past(kind, v[c]))
            phase, value = _extreme(v[c], low)
            if (value < ev.extreme_v) if low else (value > ev.extreme_v):
                ev.extreme_v, ev.extreme_phase = value, phase

    def _past(self, kind: EventKind, v: FloatArray) -> list[int]:
        if kind is EventKind.DIP:
            mask = v < self._dip
        elif kind is EventKind.SWELL:
            mask = v > self._swell
        else:
            mask = v < self._int
        return [int(p) for p in np.flatnonzero(mask)]


def _extreme(v: FloatArray, low: bool) -> tuple[int, float]:
    phase = int(np.nanargmin(v) if low else np.nanargmax(v))
    return phase, float(v[phase])
