"""How a simulated load draws current: harmonic phasors per phase, switching and inrush.

Every load in the virtual household describes its steady state as a `Signature`: for each phase
L1..L3 and each harmonic order in `HARMONICS`, the RMS current phasor it draws at nominal voltage.
The angle of harmonic h is measured against h times the angle of the load's own phase voltage, so
the same signature is valid on any phase: a lagging motor has a fundamental at -phi, and triplen
harmonics of single-phase electronics on different phases add up in the neutral as they do in a
real house (IEEE 519 / IEC 61000-3-2 background).

A load reports `Change`s: a new signature from a moment on, optionally with an `Inrush`, an extra
current that decays exponentially over the following cycles (motor start, cold filament,
capacitor charging). The household sums signatures per cycle; the metrology turns the sums into
what the meter measures. Two voltage behaviours are modelled (`LoadKind`): resistive loads draw a
current proportional to the voltage; electronic and inverter loads draw constant power, so their
current rises when the voltage sags.

Sign convention: consumer view. P = Re(V conj(I)) > 0 is consumption, a negative fundamental real
part is generation (PV, a discharging battery); Q > 0 is inductive.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from gridedge.physics.weather import Weather

HARMONICS: Final = np.array([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39])
"""Odd harmonic orders modelled; the 39th (1950 Hz at 50 Hz) is the last below the Nyquist limit of
4000 Hz sampling. Index k of a signature array holds order HARMONICS[k]."""
H: Final = len(HARMONICS)
NOMINAL_V: Final = 230.0
PHASE_ANGLE: Final = np.array([0.0, -2 * math.pi / 3, 2 * math.pi / 3])
"""Fundamental voltage angle of L1, L2, L3 (positive sequence)."""

ComplexArray = npt.NDArray[np.complex128]
FloatArray = npt.NDArray[np.float64]


class LoadKind(IntEnum):
    """How a load's current follows the supply voltage."""

    IMPEDANCE = 0
    """Resistive or passive: current proportional to voltage (kettle, oven, heaters, filaments)."""
    POWER = 1
    """Regulated electronics and inverters: constant power, current inversely proportional."""


def _harmonic_row(fundamental: complex, harmonics: Mapping[int, tuple[float, float]] | None) -> ComplexArray:
    row = np.zeros(H, dtype=np.complex128)
    row[0] = fundamental
    if harmonics:
        base = abs(fundamental)
        for order, (ratio, angle_deg) in harmonics.items():
            idx = np.flatnonzero(order == HARMONICS)
            if idx.size == 0:
                raise ValueError(f"harmonic order {order} is not modelled (odd orders 1..39)")
            a = math.radians(angle_deg)
            row[idx[0]] = base * ratio * complex(math.cos(a), math.sin(a))
    return row


@dataclass(frozen=True, slots=True, eq=False)
class Signature:
    """Steady-state current of a load: `currents[phase, k]` RMS amperes at nominal voltage."""

    currents: ComplexArray
    kind: LoadKind = LoadKind.POWER

    @staticmethod
    def from_power(
        power_w: float,
        *,
        phases: Sequence[int] = (1,),
        power_factor: float = 1.0,
        leading: bool = False,
        harmonics: Mapping[int, tuple[float, float]] | None = None,
        kind: LoadKind = LoadKind.POWER,
    ) -> Signature:
        """A load of `power_w` spread evenly over `phases` (1..3) at the given displacement factor.

        `harmonics` maps an order to (magnitude relative to the fundamental, angle in degrees
        relative to h x the phase voltage angle). Negative power is generation.
        """
        if not phases:
            raise ValueError("a signature needs at least one phase")
        if not 0 < power_factor <= 1:
            raise ValueError(f"power factor {power_factor} outside (0, 1]")
        per_phase = power_w / len(phases)
        phi = math.acos(power_factor) * (1 if leading else -1)
        i1 = per_phase / NOMINAL_V / power_factor * complex(math.cos(phi), math.sin(phi))
        row = _harmonic_row(i1, harmonics)
        cur = np.zeros((3, H), dtype=np.complex128)
        for p in phases:
            if p not in (1, 2, 3):
                raise ValueError(f"phase {p} is not 1, 2 or 3")
            cur[p - 1] = row
        cur.setflags(write=False)
        return Signature(cur, kind)

    def scaled(self, factor: float) -> Signature:
        """The same waveform shape at `factor` times the current (and power)."""
        cur = self.currents * factor
        cur.setflags(write=False)
        return Signature(cur, self.kind)

    @property
    def power_w(self) -> float:
        """Active power at nominal, undistorted voltage (only the fundamental carries power)."""
        return float(NOMINAL_V * self.currents[:, 0].real.sum())

    @property
    def reactive_power_var(self) -> float:
        """Fundamental reactive power at nominal voltage (positive inductive)."""
        return float(-NOMINAL_V * self.currents[:, 0].imag.sum())

    @property
    def is_zero(self) -> bool:
        return not self.currents.any()


OFF: Final = Signature(np.zeros((3, H), dtype=np.complex128))
OFF.currents.setflags(write=False)


@dataclass(frozen=True, slots=True, eq=False)
class Inrush:
    """Extra current right after switching: `extra` at the first cycle, decaying as exp(-n / tau)."""

    extra: Signature
    tau_cycles: float

    @staticmethod
    def motor(
        steady: Signature, *, peak: float = 5.0, tau_cycles: float = 8.0, power_factor: float = 0.35
    ) -> Inrush:
        """Induction-motor or compressor start: `peak` x the steady fundamental, mostly reactive."""
        mag = np.abs(steady.currents[:, 0]) * (peak - 1)
        phi = -math.acos(power_factor)
        cur = np.zeros((3, H), dtype=np.complex128)
        cur[:, 0] = mag * complex(math.cos(phi), math.sin(phi))
        cur.setflags(write=False)
        return Inrush(Signature(cur, LoadKind.IMPEDANCE), tau_cycles)

    @staticmethod
    def resistive(steady: Signature, *, peak: float = 1.15, tau_cycles: float = 25.0) -> Inrush:
        """Heating element warming up: a few per cent more current while cold (tungsten: much more)."""
        return Inrush(steady.scaled(peak - 1), tau_cycles)

    @staticmethod
    def capacitive(steady: Signature, *, peak: float = 8.0, tau_cycles: float = 0.7) -> Inrush:
        """Switched-mode supply charging its bulk capacitor: a short, harmonic-rich spike."""
        return Inrush(steady.scaled(peak - 1), tau_cycles)

    def cycles(self, tolerance: float = 1e-3) -> int:
        """How many cycles until the extra current is below `tolerance` of its start."""
        return max(1, math.ceil(-math.log(tolerance) * self.tau_cycles))


@dataclass(frozen=True, slots=True)
class Change:
    """From sim time `at` (s) on, the load draws `signature`; `inrush` adds a decaying start current."""

    at: float
    signature: Signature
    inrush: Inrush | None = None


NO_CHANGES: Final[tuple[Change, ...]] = ()


def material(old_w: float, new_w: float) -> bool:
    """Whether a power change is worth a new signature: at least 2 W and 0.2 %.

    Devices that follow a continuous quantity (PV, battery, EV, heat pump, base load) report a
    change only past this threshold, so a steady second costs the household nothing.
    """
    return abs(new_w - old_w) >= max(2.0, 0.002 * max(abs(old_w), abs(new_w)))


@dataclass(slots=True)
class SiteContext:
    """What loads may look at while they advance: time, weather, and the meter's net power.

    `net_power_w` is the grid import (negative: export) averaged over the last second, the input a
    self-consumption battery or a PV-surplus charger follows. `voltage_v` is the last per-phase
    RMS voltage.
    """

    start: datetime
    zone: ZoneInfo
    weather: Weather | None = None
    net_power_w: float = 0.0
    voltage_v: FloatArray = field(default_factory=lambda: np.full(3, NOMINAL_V))
    supply_ok: bool = True

    def local(self, t: float) -> datetime:
        """Local wall time at sim time `t` (s since start)."""
        return (self.start + timedelta(seconds=t)).astimezone(self.zone)


class Load(ABC):
    """A simulated device connected to the mains.

    `advance(t0, t1, ctx)` moves the device's own physics (temperatures, state of charge,
    programme) from t0 to t1 and returns the signature changes that happen in [t0, t1), in time
    order. A load that does not change returns `NO_CHANGES`; the household then does no work for
    it. `signature` is the steady state after the last change. `relay_closed` is set by the
    household from the meter's load-control output or the breaker; an unpowered load keeps its
    physics running but draws nothing (the household enforces that, loads may also react).
    """

    name: str
    signature: Signature = OFF
    relay_closed: bool = True
    energy_wh: float = 0.0
    """Ground truth: energy the load drew (negative: delivered) since start, at nominal voltage."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def advance(self, t0: float, t1: float, ctx: SiteContext) -> Sequence[Change]:
        """Advance to t1; return the changes in [t0, t1), time-ordered."""

    def command(self, action: str, value: float | None = None) -> None:
        """Scripted events and control interfaces land here; unknown actions raise ValueError."""
        raise ValueError(f"{self.name}: action {action!r} is not supported")
