"""The low-voltage supply at the connection point: source voltage, frequency and scripted events.

The source is three-phase, positive sequence, with a slow seeded wander of the RMS voltage and of
the frequency (Ornstein-Uhlenbeck processes: the voltage drifts over minutes, the frequency over
tens of seconds, as on the continental European grid where 50 Hz +- 0.02 Hz is normal operation,
ENTSO-E Policy 1). A constant background distortion (mostly 5th and 7th harmonic, the signature of
the neighbourhood's rectifiers) sits on top; EN 50160 allows a voltage THD up to 8 %.

Scripted sags, swells and outages override the magnitude on chosen phases for a time. The voltage
at the meter is the source minus the drop across the source impedance, which the household
computes from its own current (`Household`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gridedge.model.scenario import GridConfig
from gridedge.physics.seeding import rng_for
from gridedge.sim.electrical import HARMONICS, PHASE_ANGLE, ComplexArray, FloatArray, H

_BACKGROUND = {3: (0.35, 10.0), 5: (0.8, 200.0), 7: (0.45, 40.0), 11: (0.15, 150.0), 13: (0.1, 80.0)}
"""Shape of the background voltage distortion: order -> (relative weight, angle in degrees)."""


@dataclass(frozen=True, slots=True)
class VoltageEvent:
    """Magnitude `factor` x nominal on `phases` (0-based) during [start, end) of sim time."""

    start: float
    end: float
    factor: float
    phases: tuple[int, ...]


@lru_cache(maxsize=64)
def _arrays(config: GridConfig) -> tuple[ComplexArray, ComplexArray, ComplexArray]:
    """Per-unit source voltage (3, H) in the absolute frame, the phase rotation (3, H) and the
    source impedance per harmonic order (H,): shared, read-only, by every supply of one config
    (so a street's steady seconds broadcast them instead of stacking copies)."""
    weights = np.zeros(H)
    angles = np.zeros(H)
    for order, (w, a) in _BACKGROUND.items():
        k = int(np.flatnonzero(order == HARMONICS)[0])
        weights[k] = w
        angles[k] = math.radians(a)
    norm = math.sqrt(float((weights**2).sum()))
    shape = np.zeros(H, dtype=np.complex128)
    shape[0] = 1.0
    shape[1:] = config.voltage_thd * weights[1:] / norm * np.exp(1j * angles[1:])
    rotation = np.exp(1j * np.outer(PHASE_ANGLE, HARMONICS))
    unit = shape[None, :] * rotation
    r, x = config.impedance_ohm
    impedance = (r + 1j * x * HARMONICS).astype(np.complex128)
    """Reactance grows with the harmonic order."""
    for arr in (unit, rotation, impedance):
        arr.setflags(write=False)
    return unit, rotation, impedance


class GridSupply:
    """Source voltage phasors per mains cycle, in the absolute frame (L2 at -120°, L3 at +120°)."""

    def __init__(self, config: GridConfig, seed: int) -> None:
        self.config = config
        self.nominal_v = config.voltage_v
        self._rng = rng_for(seed, "grid")
        self._freq_dev = 0.0
        self._volt_dev = np.zeros(3)
        self._f0 = config.frequency_hz
        self._freq_a = math.exp(-1.0 / 30.0)
        """Frequency wander: Ornstein-Uhlenbeck with a 30 s time constant, sampled each second."""
        self._freq_sigma = config.frequency_spread_hz * math.sqrt(1 - self._freq_a**2)
        self._volt_a = math.exp(-1.0 / 300.0)
        """Voltage wander: Ornstein-Uhlenbeck with a 300 s time constant, sampled each second."""
        self._volt_sigma = config.voltage_spread * self.nominal_v * math.sqrt(1 - self._volt_a**2)
        self.events: list[VoltageEvent] = []
        self.unit, self.rotation, self.impedance = _arrays(config)

    def add_event(self, event: VoltageEvent) -> None:
        self.events.append(event)
        self.events.sort(key=lambda e: e.start)

    def frequency(self) -> float:
        """Advance the frequency wander by one second and return this second's frequency (Hz)."""
        self._freq_dev = self._freq_dev * self._freq_a + self._freq_sigma * float(self._rng.standard_normal())
        return self._f0 + self._freq_dev

    def level(self) -> FloatArray:
        """Advance the voltage wander by one second and return this second's RMS magnitude per
        phase (3,), before scripted events (called once per second)."""
        a = self._volt_a
        self._volt_dev = self._volt_dev * a + self._volt_sigma * self._rng.standard_normal(3)
        out: FloatArray = self.nominal_v + self._volt_dev
        return out

    def magnitudes(self, cycle_starts: FloatArray, level: FloatArray) -> FloatArray:
        """RMS magnitude (V) per cycle and phase, shape (n, 3): this second's `level` with any
        scripted event applied."""
        mags = np.empty((cycle_starts.size, 3))
        mags[:] = level
        if self.events and cycle_starts.size:
            t0 = float(cycle_starts[0])
            t1 = float(cycle_starts[-1])
            while self.events and self.events[0].end < t0 - 3600:
                self.events.pop(0)
            for ev in self.events:
                if ev.start > t1:
                    break
                if ev.end <= t0:
                    continue
                inside = (cycle_starts >= ev.start) & (cycle_starts < ev.end)
                for p in ev.phases:
                    mags[inside, p] = self.nominal_v * ev.factor
        return mags

    def source(self, mags: FloatArray) -> ComplexArray:
        """Source voltage phasors (n, 3, H) for per-cycle magnitudes (n, 3)."""
        return mags[:, :, None] * self.unit[None, :, :]
