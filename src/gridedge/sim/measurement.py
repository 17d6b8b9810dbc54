"""What the virtual meter's metrology measured over one second: the input of `sim.meter`.

The metrology (`sim.metrology`, from waveform samples or from per-cycle phasors) summarises the
mains cycles that started within one second of sim time. Arrays are per phase L1..L3; a
single-phase meter leaves L2 and L3 at zero. Power and energy use the consumer sign: import
positive. Import and export energy are netted over the three phases cycle by cycle, as Belgian
and Dutch meters do (sum of phases, DSMR 5.0.2 §7 registers 1.8.x / 2.8.x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(slots=True)
class SecondMeasurement:
    """One second of metrology (consumer sign, SI units, RMS values)."""

    t: float
    """Sim time (s since scenario start) at which the second began."""
    duration_s: float
    """Length of the cycles summarised (about 1 s; 0 during an outage on all phases)."""
    frequency_hz: float
    voltage_v: FloatArray
    """RMS voltage per phase over the second."""
    current_a: FloatArray
    """RMS current per phase over the second."""
    power_w: FloatArray
    """Mean active power per phase (positive import)."""
    reactive_power_var: FloatArray
    """Mean fundamental reactive power per phase (positive inductive)."""
    energy_import_wh: float
    energy_export_wh: float
    reactive_import_varh: float
    reactive_export_varh: float
    voltage_min_v: FloatArray
    """Lowest per-cycle RMS voltage per phase within the second (sag detection)."""
    voltage_max_v: FloatArray
    """Highest per-cycle RMS voltage per phase within the second (swell detection)."""
    current_max_a: FloatArray
    """Highest per-cycle RMS current per phase (fuse supervision)."""
    neutral_current_a: float
    """RMS neutral current over the second."""

    @property
    def net_power_w(self) -> float:
        """Total active power over the phases (import positive)."""
        return float(self.power_w.sum())
