"""What an appliance switching event looks like, as the recogniser sees it.

An `EventSignature` is made by the event detector (`home.nilm.events`) from the cycles before
and after a detected change, or from a labelled PLAID record, or from 1 Hz P1 data (then only
the power deltas are known). The appliance library (`home.nilm.library`) identifies appliances
from signatures and learns from labelled ones, so every source of signatures must fill the same
fields and leave unknown ones as None.

Features follow the NILM literature: steady-state delta P / delta Q (Hart, "Nonintrusive
appliance load monitoring", Proc. IEEE 80 (1992) 1870), current harmonics, and the V-I
trajectory of one cycle of the event current against the voltage (Lam, Fung & Lee, IEEE Trans.
Consumer Electronics 53 (2007) 653; Hassan, Javed & Arshad, IEEE Trans. Smart Grid 5 (2014) 870).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

WAVEFORM_POINTS = 64
"""Points per cycle of `EventSignature.voltage` / `current`: both are resampled to this many
points from one rising zero crossing of the voltage to the next, whatever the source rate
(PLAID 500 per cycle, S1 52-80 per cycle)."""


@dataclass(frozen=True, slots=True)
class EventSignature:
    """One switching event (on: positive delta P; off: negative) on one phase."""

    t: float
    """Stream time of the event, s (first cycle that shows the change)."""
    phase: int
    """0..2 for L1..L3; -1 when only the site total is known (P1 without per-phase power)."""
    delta_p_w: float
    """Steady active power after minus before."""
    delta_q_var: float | None = None
    """Steady fundamental reactive power after minus before (None: not measured)."""
    harmonics: FloatArray | None = None
    """(K,) RMS magnitude of the event current's harmonics of order 1..K relative to its fundamental
    (index 0 is 1.0), from the difference current after minus before."""
    voltage: FloatArray | None = None
    """(WAVEFORM_POINTS,) one cycle of the voltage, per unit of its peak, from a rising zero crossing."""
    current: FloatArray | None = None
    """(WAVEFORM_POINTS,) one steady cycle of the event current (after minus before, aligned on the same
    voltage zero crossing), in A."""
    transient_ratio: float | None = None
    """Peak one-cycle RMS of the event current in the first cycles over its steady RMS (inrush)."""
    settle_cycles: int | None = None
    """Cycles from the event until the event current stays within 5 % of its steady RMS."""
    delta_p_phase_w: tuple[float, float, float] | None = None
    """Delta P of each phase L1..L3 (0 on phases the event did not touch); None when only the
    site total is known. Tells a three-phase appliance (an EV charger) from a one-phase one of
    similar power (a kettle)."""

    @property
    def phase_count(self) -> int | None:
        """Phases the event stepped on (None: not known)."""
        if self.delta_p_phase_w is None:
            return None
        return sum(1 for d in self.delta_p_phase_w if d != 0.0)

    @property
    def is_on(self) -> bool:
        return self.delta_p_w > 0
