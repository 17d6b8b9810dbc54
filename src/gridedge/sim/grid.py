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

import numpy as np

from gridedge.model.scenario import GridConfig
from gridedge.sim.electrical import HARMONICS, PHASE_ANGLE, ComplexArray, FloatArray, H, rng_for

_BACKGROUND = {3: (0.35, 10.0), 5: (0.8, 200.0), 7: (0.45, 40.0), 11: (0.15, 150.0), 13: (0.1, 80.0)}
"""Shape of the background voltage distortion: order -> (relative weight, angle in degrees)."""


@dataclass(frozen=True, slots=True)
class VoltageEvent:
    """Magnitude `factor` x nominal on `phases` (0-based) during [start, end) of sim time."""

    start: float
    end: float
    factor: float
    phases: tuple[int, ...]


class GridSupply:
    """Source voltage phasors per mains cycle, in the absolute frame (L2 at -120°, L3 at +120°)."""

    def __init__(self, config: GridConfig, seed: int) -> None:
        self.config = config
        self.nominal_v = config.voltage_v
        self._rng = rng_for(seed, "grid")
        self._freq_dev = 0.0
        self._volt_dev = np.zeros(3)
        self.events: list[VoltageEvent] = []
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
        self._unit = shape[None, :] * rotation
        """(3, H): per-unit source voltage of each phase and harmonic, absolute frame."""
        self.rotation: ComplexArray = rotation
        r, x = config.impedance_ohm
        self.impedance: ComplexArray = (r + 1j * x * HARMONICS).astype(np.complex128)
        """Source impedance per harmonic order (reactance grows with frequency)."""

    def add_event(self, event: VoltageEvent) -> None:
        self.events.append(event)
        self.events.sort(key=lambda e: e.start)

    def frequency(self) -> float:
        """Advance the frequency wander by one second and return this second's frequency (Hz)."""
        tau = 30.0
        a = math.exp(-1.0 / tau)
        sigma = self.config.frequency_spread_hz
        noise = float(self._rng.standard_normal())
        self._freq_dev = self._freq_dev * a + sigma * math.sqrt(1 - a * a) * noise
        return self.config.frequency_hz + self._freq_dev

    def magnitudes(self, cycle_starts: FloatArray) -> FloatArray:
        """RMS magnitude (V) per cycle and phase, shape (n, 3): wander plus any scripted event.

        Advances the voltage wander by one step (called once per second).
        """
        tau = 300.0
        a = math.exp(-1.0 / tau)
        sigma = self.config.voltage_spread * self.nominal_v
        self._volt_dev = self._volt_dev * a + sigma * math.sqrt(1 - a * a) * self._rng.standard_normal(3)
        mags = np.broadcast_to(self.nominal_v + self._volt_dev, (cycle_starts.size, 3)).copy()
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

    def source_row(self, mag: FloatArray) -> ComplexArray:
        """Source voltage phasors (3, H) for one set of per-phase magnitudes (3,)."""
        return mag[:, None] * self._unit

    def source(self, mags: FloatArray) -> ComplexArray:
        """Source voltage phasors (n, 3, H) for per-cycle magnitudes (n, 3)."""
        return mags[:, :, None] * self._unit[None, :, :]
